//! Emulation of the Fluent Bit `wasm` filter host (Fluent Bit >= 4.1, WAMR 2.4.1,
//! `event_format json`), after `plugins/filter_wasm/filter_wasm.c` and
//! `src/wasm/flb_wasm.c`.
//!
//! Per record, as `flb_wasm_call_function_format_json` does:
//! 1. look the function up (missing: "The <name> wasm function is not found.", the
//!    record is dropped; Fluent Bit does not check this at start-up);
//! 2. copy the tag and the record JSON text, each followed by a NUL the lengths do not
//!    count, into the app heap ([`crate::app_heap`]); a copy that does not fit becomes
//!    pointer 0 and the real length is still passed;
//! 3. call `(tag, tag_len, time_sec, time_nsec, record, record_len) -> i32`;
//! 4. a trap drops the record ("Got exception running wasm code: Exception: ..."), the
//!    same instance serves later records with whatever state the trap left;
//! 5. the result must point at a NUL-terminated string inside linear memory, else
//!    "[wasm] returned value is invalid" and the record is dropped; WAMR also leaves an
//!    "out of bounds memory access" exception set on the instance that Fluent Bit never
//!    clears, so the *next* call fails too (after its first host call returns, or when
//!    it returns) and clears it: reproduced here with a wasmtime call hook;
//! 6. the string is copied (`strdup`) and the app-heap copies are freed;
//! 7. an empty string drops the record; otherwise it is parsed like `flb_pack_json`
//!    (yyjson): the first JSON value must be an object, trailing bytes that do not parse
//!    are ignored, further JSON values are packed into the record body too (corrupting
//!    it); anything else logs "invalid JSON format" and drops the record.
//!
//! The instance is created once and is persistent (Fluent Bit >= 4.1).
//!
//! Stack: WAMR's fast interpreter counts `wasm_stack_size` bytes of interpreter frames;
//! wasmtime runs native code whose frames have other sizes. The harness maps the stack
//! size onto wasmtime's `max_wasm_stack` with [`max_wasm_stack_for`], calibrated on a
//! recursive serde_json parse; see there for how far that can be trusted.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::IgnoredAny;
use wasmtime::{
    CallHook, ExternType, Instance, Linker, Memory, Store, Trap, TypedFunc, UnknownImportError,
    ValType,
};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::I32Exit;

use crate::app_heap::{AppHeap, AppHeapLayout, WASM_PAGE_SIZE};
use crate::engine::{EngineOptions, FuelMeter, HarnessEngine};
use crate::size::parse_size;
use crate::wasi::{build_p1_ctx, GuestOutput, Preopen};
use crate::HarnessError;

/// `FLB_WASM_DEFAULT_HEAP_SIZE`.
pub const DEFAULT_HEAP_SIZE: u64 = 8192;
/// `FLB_WASM_DEFAULT_STACK_SIZE`.
pub const DEFAULT_STACK_SIZE: u64 = 8192;
/// The filter's default `accessible_paths`.
pub const DEFAULT_ACCESSIBLE_PATH: &str = ".";

const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// `event_format` of the filter. Only JSON is emulated: in msgpack mode the host reads
/// the result with `strlen`, which corrupts batches (hosts document).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventFormat {
    Json,
}

/// The `[FILTER] Name wasm` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FluentBitConfig {
    pub wasm_path: PathBuf,
    pub function_name: String,
    /// Host directories, each preopened under the very same string as its guest name
    /// (Fluent Bit has no host-to-guest mapping): `/etc/dp-audit` is `/etc/dp-audit`
    /// inside the module, `.` is `.` (relative paths then resolve against the host
    /// process's working directory).
    pub accessible_paths: Vec<String>,
    pub event_format: EventFormat,
    /// Configured `wasm_heap_size` in bytes; 8192 or less means the default.
    pub wasm_heap_size: u64,
    /// Configured `wasm_stack_size` in bytes; 8192 or less means the default.
    pub wasm_stack_size: u64,
    /// Harness only: meter wasm instructions per call with wasmtime fuel.
    pub fuel: bool,
    /// Harness only: native stack for wasm in bytes instead of
    /// [`max_wasm_stack_for`]`(effective_stack_size())` (for calibration runs).
    pub max_wasm_stack_override: Option<usize>,
}

impl FluentBitConfig {
    pub fn new(wasm_path: impl Into<PathBuf>, function_name: impl Into<String>) -> Self {
        Self {
            wasm_path: wasm_path.into(),
            function_name: function_name.into(),
            accessible_paths: vec![DEFAULT_ACCESSIBLE_PATH.to_owned()],
            event_format: EventFormat::Json,
            wasm_heap_size: DEFAULT_HEAP_SIZE,
            wasm_stack_size: DEFAULT_STACK_SIZE,
            fuel: false,
            max_wasm_stack_override: None,
        }
    }

    /// Builds the configuration from the filter's properties as written in a Fluent Bit
    /// configuration (`wasm_path`, `function_name`, `accessible_paths`, `event_format`,
    /// `wasm_heap_size`, `wasm_stack_size`; keys are case-insensitive as upstream).
    pub fn from_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, HarnessError> {
        let mut config = Self::new(PathBuf::new(), String::new());
        let mut have_path = false;
        let mut have_function = false;
        for (key, value) in properties {
            let value = value.trim();
            match key.trim().to_ascii_lowercase().as_str() {
                "wasm_path" => {
                    config.wasm_path = PathBuf::from(value);
                    have_path = true;
                }
                "function_name" => {
                    config.function_name = value.to_owned();
                    have_function = true;
                }
                "accessible_paths" => config.accessible_paths = split_clist(value),
                "event_format" => {
                    config.event_format = if value.eq_ignore_ascii_case("json") {
                        EventFormat::Json
                    } else if value.eq_ignore_ascii_case("msgpack") {
                        return Err(HarnessError::config(
                            "event_format",
                            "msgpack is not emulated: Fluent Bit reads the result with strlen, \
                             so it is not safe; use json",
                        ));
                    } else {
                        return Err(HarnessError::config(
                            "event_format",
                            format!("unknown format: {value}"),
                        ));
                    };
                }
                "wasm_heap_size" => config.wasm_heap_size = parse_size("wasm_heap_size", value)?,
                "wasm_stack_size" => config.wasm_stack_size = parse_size("wasm_stack_size", value)?,
                "name" | "match" | "match_regex" | "alias" | "log_level" => {}
                other => {
                    return Err(HarnessError::config(
                        other,
                        "unknown property of the wasm filter",
                    ))
                }
            }
        }
        if !have_path {
            return Err(HarnessError::config(
                "wasm_path",
                "no WASM 'program path' was given",
            ));
        }
        if !have_function {
            return Err(HarnessError::config(
                "function_name",
                "no WASM 'function name' was given",
            ));
        }
        Ok(config)
    }

    /// Heap size WAMR is given: values of 8192 or less are ignored.
    pub fn effective_heap_size(&self) -> u64 {
        if self.wasm_heap_size > DEFAULT_HEAP_SIZE {
            self.wasm_heap_size
        } else {
            DEFAULT_HEAP_SIZE
        }
    }

    /// Stack size WAMR is given: values of 8192 or less are ignored.
    pub fn effective_stack_size(&self) -> u64 {
        if self.wasm_stack_size > DEFAULT_STACK_SIZE {
            self.wasm_stack_size
        } else {
            DEFAULT_STACK_SIZE
        }
    }

    /// wasmtime `max_wasm_stack` used for this filter.
    pub fn max_wasm_stack(&self) -> usize {
        self.max_wasm_stack_override.unwrap_or_else(|| {
            let limit = max_wasm_stack_for(self.effective_stack_size());
            // Fuel metering enlarges compiled frames (about +25% on dp-audit's
            // start-up path): allow 50% more so that measuring does not change
            // which calls overflow.
            if self.fuel {
                limit.saturating_add(limit / 2)
            } else {
                limit
            }
        })
    }
}

/// `FLB_CONFIG_MAP_CLIST`: comma separated, entries trimmed, empty entries dropped.
fn split_clist(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// wasmtime native stack granted for a WAMR `wasm_stack_size`.
///
/// WAMR's fast interpreter counts `wasm_stack_size` bytes of interpreter frames;
/// wasmtime runs native code with its own frame sizes, so no mapping is exact. This one
/// is calibrated on the workload measured under WAMR (hosts document): a recursive
/// `serde_json::Value` parse of nested objects, which reached depth 7 with the 8192
/// default (overflow at 8), 15 with 16K, 60 with 64K and serde_json's own limit (127)
/// with 256K (Fluent Bit units, K = 1000), i.e. about 1067 WAMR stack bytes per level.
/// Under wasmtime 48 the same module (`calibration/`, release build) needs about 190
/// native bytes per level plus a fixed part (raw max_wasm_stack 8192 -> 35 levels,
/// 16384 -> 78). With this mapping the harness reaches 7, 14, 59 and 127 levels for
/// 8192, 16K, 64K and 256K: equal to WAMR or one level earlier
/// (`examples/stack_calibration.rs` re-measures it). Other code may have another
/// native/interpreter frame ratio: treat overflows near the limit as indicative only.
pub fn max_wasm_stack_for(wasm_stack_size: u64) -> usize {
    let scaled = wasm_stack_size
        .saturating_mul(NATIVE_BYTES_PER_LEVEL)
        .checked_div(WAMR_BYTES_PER_LEVEL)
        .unwrap_or(wasm_stack_size)
        .saturating_add(NATIVE_FIXED_BYTES);
    usize::try_from(scaled).unwrap_or(usize::MAX)
}

const NATIVE_BYTES_PER_LEVEL: u64 = 190;
const WAMR_BYTES_PER_LEVEL: u64 = 1067;
const NATIVE_FIXED_BYTES: u64 = 1344;

/// Record time as the host passes it (`tv_sec` truncated to 32 bits, `tv_nsec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordTime {
    pub sec: u32,
    pub nsec: u32,
}

impl RecordTime {
    pub fn now() -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            // The host stores the seconds in a uint32_t argument slot.
            sec: since.as_secs() as u32,
            nsec: since.subsec_nanos(),
        }
    }
}

/// Severity of a host log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
}

/// One line Fluent Bit / WAMR would print. Texts follow upstream; where upstream would
/// print record contents (the "invalid JSON format" line prints the module's output)
/// the harness prints only its length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLogLine {
    pub level: LogLevel,
    pub message: String,
}

/// Why the host dropped a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The export named by `function_name` does not exist.
    FunctionNotFound,
    /// The call trapped; the WAMR exception text (without the "Exception: " prefix).
    Trap(String),
    /// The returned pointer does not lead to a NUL-terminated string in linear memory.
    InvalidPointer,
    /// The module returned an empty string.
    Empty,
    /// The returned text is not JSON whose first value is an object.
    NotJsonObject,
}

/// What became of one record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The record goes on with this body: the text of the first JSON value of the
    /// module's result (an object), lossily UTF-8 decoded as yyjson's replace mode does.
    Emitted(String),
    /// The record is dropped.
    Dropped(DropReason),
    /// The result held `values` JSON values one after another: Fluent Bit packs all of
    /// them into the record body, which corrupts the event stream.
    Corrupted { values: usize },
}

/// One record's outcome with the details tests assert on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallReport {
    pub outcome: Outcome,
    /// Pointer handed over for the record (0 when it did not fit the app heap).
    pub record_ptr: u32,
    /// Pointer handed over for the tag.
    pub tag_ptr: u32,
    /// Wasm instructions executed for this record (with fuel metering on).
    pub fuel: Option<u64>,
    /// Wall-clock time of the module call alone (without the host's copies
    /// and its parse of the result): what benchmarks compare with native.
    pub call_time: std::time::Duration,
}

/// Host data of the store.
struct HostState {
    wasi: WasiP1Ctx,
    /// WAMR exception left set on the instance (see module docs, step 5).
    stale_exception: Option<&'static str>,
}

/// Marker error the call hook raises for a stale WAMR exception.
#[derive(Debug)]
struct StaleException(&'static str);

impl std::fmt::Display for StaleException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for StaleException {}

/// Where the host's copies of tag and record go.
enum CopyAllocator {
    /// WAMR's app heap (the normal case for Rust modules).
    AppHeap(AppHeap),
    /// The module exports `malloc` and `free`: WAMR disables the app heap and calls them.
    Module {
        malloc: TypedFunc<i32, i32>,
        free: TypedFunc<i32, ()>,
    },
}

type FilterFunc = TypedFunc<(i32, i32, i32, i32, i32, i32), i32>;

/// A persistent Fluent Bit `wasm` filter instance.
pub struct FluentBitHost {
    config: FluentBitConfig,
    engine: HarnessEngine,
    store: Store<HostState>,
    memory: Memory,
    function: Option<FilterFunc>,
    allocator: CopyAllocator,
    fuel: FuelMeter,
    output: GuestOutput,
    log: Vec<HostLogLine>,
    records: u64,
    fuel_total: u64,
}

impl FluentBitHost {
    /// Loads and instantiates the module as `cb_wasm_init` does.
    pub fn new(config: FluentBitConfig) -> Result<Self, HarnessError> {
        let engine = HarnessEngine::new(EngineOptions {
            fuel: config.fuel,
            max_wasm_stack: config.max_wasm_stack(),
        })?;
        let bytes = std::fs::read(&config.wasm_path)
            .map_err(|e| HarnessError::io(&config.wasm_path, &e))?;
        Self::with_engine(config, engine, &bytes)
    }

    /// Like [`FluentBitHost::new`] but with the module's bytes (`.wasm` or WAT text)
    /// given directly; `config.wasm_path` is then only a label.
    pub fn from_bytes(config: FluentBitConfig, bytes: &[u8]) -> Result<Self, HarnessError> {
        let engine = HarnessEngine::new(EngineOptions {
            fuel: config.fuel,
            max_wasm_stack: config.max_wasm_stack(),
        })?;
        Self::with_engine(config, engine, bytes)
    }

    fn with_engine(
        config: FluentBitConfig,
        engine: HarnessEngine,
        bytes: &[u8],
    ) -> Result<Self, HarnessError> {
        let module = engine.compile(bytes)?;
        let preopens = resolve_preopens(&config.accessible_paths)?;
        let (wasi, output) = build_p1_ctx(&preopens)?;
        let mut log = Vec::new();

        let mut store = Store::new(
            engine.engine(),
            HostState {
                wasi,
                stale_exception: None,
            },
        );
        store.call_hook(|store, hook| match (hook, store.data().stale_exception) {
            (CallHook::ReturningFromHost | CallHook::ReturningFromWasm, Some(text)) => {
                Err(wasmtime::Error::new(StaleException(text)))
            }
            _ => Ok(()),
        });

        let mut linker: Linker<HostState> = Linker::new(engine.engine());
        p1::add_to_linker_sync(&mut linker, |state: &mut HostState| &mut state.wasi)
            .map_err(|e| HarnessError::wasm("link WASI", &e))?;
        let mut imports_wasi = false;
        for import in module.imports() {
            if import.module() == WASI_MODULE {
                imports_wasi = true;
            }
            if linker.get_by_import(&mut store, &import).is_none() {
                match import.ty() {
                    // WAMR links what it can and traps only if the import is called.
                    ExternType::Func(_) => log.push(HostLogLine {
                        level: LogLevel::Warn,
                        message: format!(
                            "warning: failed to link import function ({}, {})",
                            import.module(),
                            import.name()
                        ),
                    }),
                    _ => {
                        return Err(HarnessError::module(format!(
                            "import ({}, {}) is not a function and no host provides it",
                            import.module(),
                            import.name()
                        )))
                    }
                }
            }
        }
        linker
            .define_unknown_imports_as_traps(&module)
            .map_err(|e| HarnessError::wasm("link", &e))?;

        let has_export = |name: &str| module.exports().any(|e| e.name() == name);
        if imports_wasi && !has_export("_start") && !has_export("_initialize") {
            log.push(HostLogLine {
                level: LogLevel::Warn,
                message: "warning: a module with WASI apis should be either a command or a reactor"
                    .to_owned(),
            });
        }
        let exports_malloc_free = module.exports().any(|e| {
            e.name() == "malloc" && func_sig_is(&e.ty(), &[ValType::I32], &[ValType::I32])
        }) && module
            .exports()
            .any(|e| e.name() == "free" && func_sig_is(&e.ty(), &[ValType::I32], &[]));

        let fuel = FuelMeter::new(config.fuel);
        fuel.arm(&mut store)?;
        let instance = linker
            .instantiate(&mut store, &module)
            .map_err(|e| HarnessError::wasm("instantiate", &e))?;
        let memory = instance.get_memory(&mut store, "memory").ok_or_else(|| {
            HarnessError::module("no exported memory named `memory` (the harness needs it)")
        })?;

        let allocator = if exports_malloc_free {
            let malloc = instance
                .get_typed_func::<i32, i32>(&mut store, "malloc")
                .map_err(|e| HarnessError::wasm("look up malloc", &e))?;
            let free = instance
                .get_typed_func::<i32, ()>(&mut store, "free")
                .map_err(|e| HarnessError::wasm("look up free", &e))?;
            CopyAllocator::Module { malloc, free }
        } else {
            let layout =
                app_heap_layout(&instance, &mut store, memory, config.effective_heap_size())?;
            let old_pages = memory
                .grow(&mut store, u64::from(layout.pages_added))
                .map_err(|e| HarnessError::wasm("insert app heap", &e))?;
            if old_pages.checked_mul(WASM_PAGE_SIZE) != Some(u64::from(layout.offset)) {
                return Err(HarnessError::module(
                    "linear memory grew during instantiation (start function): the app heap \
                     would not sit where WAMR puts it",
                ));
            }
            CopyAllocator::AppHeap(AppHeap::new(layout))
        };

        // WAMR runs `_initialize` of WASI reactors after inserting the app heap.
        if imports_wasi {
            if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
                init.call(&mut store, ())
                    .map_err(|e| HarnessError::wasm("_initialize", &e))?;
            }
        }

        let function = match instance.get_func(&mut store, &config.function_name) {
            None => None,
            Some(func) => Some(func.typed(&store).map_err(|_| {
                HarnessError::module(format!(
                    "export `{}` is not (i32, i32, i32, i32, i32, i32) -> i32",
                    config.function_name
                ))
            })?),
        };

        Ok(Self {
            config,
            engine,
            store,
            memory,
            function,
            allocator,
            fuel,
            output,
            log,
            records: 0,
            fuel_total: 0,
        })
    }

    pub fn config(&self) -> &FluentBitConfig {
        &self.config
    }

    pub fn engine(&self) -> &HarnessEngine {
        &self.engine
    }

    /// True when the configured function is exported (Fluent Bit would otherwise drop
    /// every record with "The <name> wasm function is not found.").
    pub fn has_function(&self) -> bool {
        self.function.is_some()
    }

    /// Usable bytes of the app heap (`None` when the module's own malloc is used).
    pub fn app_heap_capacity(&self) -> Option<u32> {
        match &self.allocator {
            CopyAllocator::AppHeap(heap) => Some(heap.capacity()),
            CopyAllocator::Module { .. } => None,
        }
    }

    /// Longest record text that still gets a non-null pointer next to a tag of
    /// `tag_len` bytes, with the heap as it is between records.
    pub fn max_record_len(&self, tag_len: usize) -> Option<usize> {
        let heap = match &self.allocator {
            CopyAllocator::AppHeap(heap) => heap,
            CopyAllocator::Module { .. } => return None,
        };
        let tag_block = AppHeap::block_size_for(u32::try_from(tag_len.checked_add(1)?).ok()?)?;
        let rest = heap.capacity().checked_sub(tag_block)?;
        // Largest n with align8(n + 4) <= rest, minus the NUL.
        let n = (rest & !7).checked_sub(4)?;
        usize::try_from(n.checked_sub(1)?).ok()
    }

    /// Current linear memory size in bytes.
    pub fn memory_size(&self) -> usize {
        self.memory.data_size(&self.store)
    }

    /// Host log lines since the last call.
    pub fn take_log(&mut self) -> Vec<HostLogLine> {
        std::mem::take(&mut self.log)
    }

    /// The guest's captured stdout/stderr.
    pub fn guest_output(&mut self) -> &mut GuestOutput {
        &mut self.output
    }

    /// Records processed so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Wasm instructions summed over all records (with fuel metering on).
    pub fn fuel_total(&self) -> Option<u64> {
        self.config.fuel.then_some(self.fuel_total)
    }

    /// Runs the filter on one record: `record_json` is the record body as the host's
    /// JSON conversion produces it.
    pub fn process(&mut self, tag: &str, time: RecordTime, record_json: &str) -> CallReport {
        self.records = self.records.saturating_add(1);
        let Some(function) = self.function.clone() else {
            self.push_log(
                LogLevel::Error,
                format!(
                    "The {} wasm function is not found.",
                    self.config.function_name
                ),
            );
            return CallReport {
                outcome: Outcome::Dropped(DropReason::FunctionNotFound),
                record_ptr: 0,
                tag_ptr: 0,
                fuel: None,
                call_time: std::time::Duration::ZERO,
            };
        };
        if self.fuel.arm(&mut self.store).is_err() {
            self.push_log(LogLevel::Error, "harness: could not set fuel".to_owned());
        }
        let tag_ptr = self.dup_data(tag.as_bytes());
        let record_ptr = self.dup_data(record_json.as_bytes());
        let args = (
            tag_ptr as i32,
            len_arg(tag.len()),
            time.sec as i32,
            time.nsec as i32,
            record_ptr as i32,
            len_arg(record_json.len()),
        );
        let started = std::time::Instant::now();
        let result = function.call(&mut self.store, args);
        let call_time = started.elapsed();
        let outcome = match result {
            Err(err) => {
                let text = wamr_exception_text(&err);
                // Function names only (no data): for locating traps.
                if std::env::var_os("DP_AUDIT_HARNESS_BACKTRACE").is_some() {
                    eprintln!("harness: trap backtrace: {err:?}");
                }
                self.push_log(
                    LogLevel::Error,
                    format!("Got exception running wasm code: Exception: {text}"),
                );
                // wasm_runtime_clear_exception
                self.store.data_mut().stale_exception = None;
                Outcome::Dropped(DropReason::Trap(text))
            }
            Ok(ptr) => match self.read_c_string(ptr as u32) {
                None => {
                    self.push_log(
                        LogLevel::Warn,
                        "[wasm] returned value is invalid".to_owned(),
                    );
                    self.store.data_mut().stale_exception = Some("out of bounds memory access");
                    Outcome::Dropped(DropReason::InvalidPointer)
                }
                Some(bytes) => self.interpret(&bytes),
            },
        };
        self.module_free(tag_ptr);
        self.module_free(record_ptr);
        let fuel = self.fuel.consumed(&self.store);
        if let Some(used) = fuel {
            self.fuel_total = self.fuel_total.saturating_add(used);
        }
        CallReport {
            outcome,
            record_ptr,
            tag_ptr,
            fuel,
            call_time,
        }
    }

    fn push_log(&mut self, level: LogLevel, message: String) {
        self.log.push(HostLogLine { level, message });
    }

    /// `wasm_runtime_module_dup_data(data + NUL)`: 0 when it does not fit.
    fn dup_data(&mut self, data: &[u8]) -> u32 {
        let Some(size) = data
            .len()
            .checked_add(1)
            .and_then(|n| u32::try_from(n).ok())
        else {
            return 0;
        };
        let addr = match &mut self.allocator {
            CopyAllocator::AppHeap(heap) => heap.alloc(size),
            CopyAllocator::Module { malloc, .. } => {
                let malloc = malloc.clone();
                match malloc.call(&mut self.store, size as i32) {
                    Ok(0) => None,
                    Ok(ptr) => Some(ptr as u32),
                    Err(err) => {
                        // The failed call leaves its exception on the instance.
                        let text = wamr_exception_static(&err);
                        self.store.data_mut().stale_exception = Some(text);
                        None
                    }
                }
            }
        };
        let Some(addr) = addr else {
            self.push_log(
                LogLevel::Warn,
                format!("warning: allocate {size} bytes memory failed"),
            );
            return 0;
        };
        let mut bytes = Vec::with_capacity(data.len().saturating_add(1));
        bytes.extend_from_slice(data);
        bytes.push(0);
        if self
            .memory
            .write(&mut self.store, addr as usize, &bytes)
            .is_err()
        {
            self.push_log(
                LogLevel::Error,
                "harness: module malloc returned memory outside linear memory".to_owned(),
            );
            return 0;
        }
        addr
    }

    /// `wasm_runtime_module_free`.
    fn module_free(&mut self, addr: u32) {
        if addr == 0 {
            return;
        }
        match &mut self.allocator {
            CopyAllocator::AppHeap(heap) => {
                if heap.contains(addr) {
                    heap.free(addr);
                }
            }
            CopyAllocator::Module { free, .. } => {
                let free = free.clone();
                if (addr as usize) < self.memory.data_size(&self.store) {
                    // A trap in the module's free leaves an exception, as in WAMR.
                    if let Err(err) = free.call(&mut self.store, addr as i32) {
                        self.store.data_mut().stale_exception = Some(wamr_exception_static(&err));
                    }
                }
            }
        }
    }

    /// `wasm_runtime_validate_app_str_addr` + `strdup`: the bytes up to the NUL, or
    /// `None` when `ptr` is outside memory or no NUL follows before its end.
    fn read_c_string(&self, ptr: u32) -> Option<Vec<u8>> {
        let data = self.memory.data(&self.store);
        let tail = data.get(ptr as usize..)?;
        let end = tail.iter().position(|&b| b == 0)?;
        tail.get(..end).map(<[u8]>::to_vec)
    }

    /// Step 7 of the module docs.
    fn interpret(&mut self, bytes: &[u8]) -> Outcome {
        if bytes.is_empty() {
            self.push_log(
                LogLevel::Debug,
                "WASM function returned empty string. Skip.".to_owned(),
            );
            return Outcome::Dropped(DropReason::Empty);
        }
        match parse_like_flb_pack_json(bytes) {
            PackResult::Object {
                start,
                end,
                values: 1,
            } => Outcome::Emitted(
                String::from_utf8_lossy(bytes.get(start..end).unwrap_or_default()).into_owned(),
            ),
            PackResult::Object { values, .. } => Outcome::Corrupted { values },
            other => {
                let ret = if other == PackResult::Invalid { -1 } else { 0 };
                self.push_log(
                    LogLevel::Error,
                    format!(
                        "invalid JSON format. ret: {ret}, buf: <{} bytes not shown>",
                        bytes.len()
                    ),
                );
                Outcome::Dropped(DropReason::NotJsonObject)
            }
        }
    }
}

/// Record and tag lengths go into uint32_t argument slots.
fn len_arg(len: usize) -> i32 {
    u32::try_from(len).unwrap_or(u32::MAX) as i32
}

fn func_sig_is(ty: &ExternType, params: &[ValType], results: &[ValType]) -> bool {
    let ExternType::Func(f) = ty else {
        return false;
    };
    let same = |a: &mut dyn ExactSizeIterator<Item = ValType>, b: &[ValType]| {
        a.len() == b.len() && a.zip(b).all(|(x, y)| ValType::eq(&x, y))
    };
    same(&mut f.params(), params) && same(&mut f.results(), results)
}

/// Canonicalises each accessible path (WAMR `realpath`s it and refuses missing ones)
/// and keeps the configured string as the guest name.
fn resolve_preopens(paths: &[String]) -> Result<Vec<Preopen>, HarnessError> {
    paths
        .iter()
        .map(|path| {
            let host = Path::new(path)
                .canonicalize()
                .map_err(|e| HarnessError::Io {
                    path: path.clone(),
                    message: format!("error while pre-opening directory: {e}"),
                })?;
            Ok(Preopen {
                host,
                guest: path.clone(),
            })
        })
        .collect()
}

/// Where WAMR would put the app heap, or an error for layouts wasmtime cannot copy.
fn app_heap_layout(
    instance: &Instance,
    store: &mut Store<HostState>,
    memory: Memory,
    heap_size: u64,
) -> Result<AppHeapLayout, HarnessError> {
    let ty = memory.ty(&mut *store);
    if ty.is_64() || ty.is_shared() {
        return Err(HarnessError::module(
            "64-bit or shared memory: not emulated",
        ));
    }
    let initial = ty.minimum();
    if ty.maximum() == Some(initial) && initial <= 1 {
        return Err(HarnessError::module(
            "memory of at most one page with a fixed size: WAMR appends the app heap inside \
             the page, which the harness cannot reproduce",
        ));
    }
    let heap_base = exported_i32_const(instance, store, "__heap_base");
    let data_end = exported_i32_const(instance, store, "__data_end");
    if let (Some(heap_base), Some(data_end)) = (heap_base, data_end) {
        if data_end <= heap_base && u64::from(heap_base) < initial.saturating_mul(WASM_PAGE_SIZE) {
            return Err(HarnessError::module(
                "module exports __heap_base and __data_end: WAMR inserts the app heap at \
                 __heap_base and moves that global, which the harness cannot reproduce",
            ));
        }
    }
    let layout = AppHeapLayout::after_initial_memory(initial, heap_size)?;
    if let Some(max) = ty.maximum() {
        if initial.saturating_add(u64::from(layout.pages_added)) > max {
            return Err(HarnessError::module(
                "memory maximum leaves no room for the app heap (WAMR raises the maximum; \
                 wasmtime cannot)",
            ));
        }
    }
    Ok(layout)
}

fn exported_i32_const(
    instance: &Instance,
    store: &mut Store<HostState>,
    name: &str,
) -> Option<u32> {
    let global = instance.get_global(&mut *store, name)?;
    if global.ty(&*store).mutability() == wasmtime::Mutability::Var {
        return None;
    }
    global.get(&mut *store).i32().map(|v| v as u32)
}

/// The WAMR exception text for a failed call.
fn wamr_exception_text(err: &wasmtime::Error) -> String {
    if let Some(stale) = err.downcast_ref::<StaleException>() {
        return stale.0.to_owned();
    }
    if let Some(unlinked) = err.downcast_ref::<UnknownImportError>() {
        return format!(
            "failed to call unlinked import function ({}, {})",
            unlinked.module(),
            unlinked.name()
        );
    }
    let text = wamr_exception_static(err);
    if err.downcast_ref::<Trap>().is_none() && err.downcast_ref::<I32Exit>().is_none() {
        // A WASI host function failed (wasmtime-wasi traps where WAMR may return an
        // errno, e.g. on unaligned pointers). Its root cause names the check, never
        // guest memory contents.
        return format!("{text}: {}", err.root_cause());
    }
    text.to_owned()
}

fn wamr_exception_static(err: &wasmtime::Error) -> &'static str {
    if let Some(stale) = err.downcast_ref::<StaleException>() {
        return stale.0;
    }
    if err.downcast_ref::<I32Exit>().is_some() {
        return "wasi proc exit";
    }
    if err.downcast_ref::<UnknownImportError>().is_some() {
        return "failed to call unlinked import function";
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => "wasm operand stack overflow",
        Some(Trap::MemoryOutOfBounds) => "out of bounds memory access",
        Some(Trap::HeapMisaligned) => "unaligned atomic",
        Some(Trap::TableOutOfBounds) => "undefined element",
        Some(Trap::IndirectCallToNull) => "uninitialized element",
        Some(Trap::BadSignature) => "indirect call type mismatch",
        Some(Trap::IntegerOverflow) => "integer overflow",
        Some(Trap::IntegerDivisionByZero) => "integer divide by zero",
        Some(Trap::BadConversionToInteger) => "invalid conversion to integer",
        Some(Trap::UnreachableCodeReached) => "unreachable",
        Some(Trap::OutOfFuel) => "harness: out of fuel",
        Some(_) => "harness: other wasm trap",
        None => "harness: host function failed",
    }
}

/// How `flb_pack_json` (yyjson backend) sees a result text.
#[derive(Debug, PartialEq, Eq)]
enum PackResult {
    /// First value is an object at `start..end`; `values` JSON values were read.
    Object {
        start: usize,
        end: usize,
        values: usize,
    },
    /// First value parsed but is not an object.
    NotObject,
    /// Nothing parsed.
    Invalid,
}

fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn parse_like_flb_pack_json(bytes: &[u8]) -> PackResult {
    let mut start = 0usize;
    let mut values = 0usize;
    let mut first: Option<(usize, usize, bool)> = None;
    loop {
        while bytes.get(start).copied().is_some_and(is_json_space) {
            start = start.saturating_add(1);
        }
        let Some(rest) = bytes.get(start..).filter(|r| !r.is_empty()) else {
            break;
        };
        let mut stream = serde_json::Deserializer::from_slice(rest).into_iter::<IgnoredAny>();
        match stream.next() {
            Some(Ok(_)) => {
                let end = start.saturating_add(stream.byte_offset());
                if first.is_none() {
                    first = Some((start, end, rest.first() == Some(&b'{')));
                }
                values = values.saturating_add(1);
                if end <= start {
                    break;
                }
                start = end;
            }
            // Trailing bytes after a parsed value are ignored, as upstream does.
            _ => break,
        }
    }
    match first {
        None => PackResult::Invalid,
        Some((_, _, false)) => PackResult::NotObject,
        Some((start, end, true)) => PackResult::Object { start, end, values },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_json_emulation() {
        assert_eq!(
            parse_like_flb_pack_json(br#"{"a":1}"#),
            PackResult::Object {
                start: 0,
                end: 7,
                values: 1
            }
        );
        assert_eq!(
            parse_like_flb_pack_json(b"  {\"a\":1}  trailing junk"),
            PackResult::Object {
                start: 2,
                end: 9,
                values: 1
            }
        );
        assert_eq!(
            parse_like_flb_pack_json(br#"{"a":1}{"b":2}"#),
            PackResult::Object {
                start: 0,
                end: 7,
                values: 2
            }
        );
        assert_eq!(parse_like_flb_pack_json(b"[1,2]"), PackResult::NotObject);
        assert_eq!(parse_like_flb_pack_json(b"42"), PackResult::NotObject);
        assert_eq!(parse_like_flb_pack_json(b"{\"a\":"), PackResult::Invalid);
        assert_eq!(parse_like_flb_pack_json(b"nope"), PackResult::Invalid);
    }

    #[test]
    fn properties_like_a_filter_section() {
        let config = FluentBitConfig::from_properties([
            ("Name", "wasm"),
            ("Match", "*"),
            ("WASM_Path", "/opt/dp_audit.wasm"),
            ("Function_Name", "dp_scrub"),
            ("accessible_paths", " /etc/dp-audit , /var/lib/dp-audit ,"),
            ("wasm_heap_size", "4M"),
            ("wasm_stack_size", "8000"),
        ])
        .unwrap();
        assert_eq!(
            config.accessible_paths,
            ["/etc/dp-audit", "/var/lib/dp-audit"]
        );
        assert_eq!(config.effective_heap_size(), 4_000_000);
        // 8192 or less is ignored.
        assert_eq!(config.effective_stack_size(), 8192);
        assert!(FluentBitConfig::from_properties([("function_name", "f")]).is_err());
        assert!(FluentBitConfig::from_properties([
            ("wasm_path", "x"),
            ("function_name", "f"),
            ("event_format", "msgpack")
        ])
        .is_err());
    }

    #[test]
    fn defaults_are_upstream_defaults() {
        let config = FluentBitConfig::new("x.wasm", "f");
        assert_eq!(config.accessible_paths, ["."]);
        assert_eq!(config.effective_heap_size(), 8192);
        assert_eq!(config.effective_stack_size(), 8192);
    }
}
