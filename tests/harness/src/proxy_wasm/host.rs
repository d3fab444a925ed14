//! A proxy-wasm 0.2.1 host in wasmtime: several VMs of one "Envoy process"
//! (worker loggers and a singleton) sharing data, queues and metrics, on a
//! virtual clock, so cross-worker behaviour is testable without Envoy, fast
//! and deterministically.
//!
//! Implemented faithfully (after Envoy 1.40 / proxy-wasm-cpp-host), for the
//! imports the dp-audit module declares: `proxy_log`, `proxy_get_buffer_bytes`
//! (plugin configuration), `proxy_get_header_map_pairs` (the 0.2.1 map
//! serialization), `proxy_get_property` (NUL-separated paths),
//! `proxy_get_shared_data` / `proxy_set_shared_data` (per `vm_id`, CAS tokens
//! from one process-wide counter starting at 1 and skipping 0, CAS 0 =
//! unconditional, a missing key is created whatever the CAS),
//! `proxy_register_shared_queue` / `resolve` / `enqueue` / `dequeue` (queues
//! per `(vm_id, name)`; each enqueue posts one `proxy_on_queue_ready` to the
//! registering VM, delivered after the current call, as Envoy posts it to the
//! main thread), `proxy_set_tick_period_milliseconds`, `proxy_define_metric`
//! (one metric per name, shared by all VMs, as Envoy's stats are),
//! `proxy_increment_metric`, `proxy_record_metric`,
//! `proxy_call_foreign_function` with Envoy's CEL functions `expr_create` and
//! `expr_evaluate` for the list of attributes the module asks for, each
//! guarded with `has()` (the elements resolved and serialized as
//! `proxy_get_property` returns them, in the map layout with empty values; a
//! missing one is empty bytes). Data returned to the
//! module goes through its `proxy_on_memory_allocate`, re-entrantly.
//!
//! Not reproduced: threads (VMs run one call at a time, in the order the test
//! chooses; Envoy's workers run in parallel but each VM is single-threaded
//! and shared data is locked per call, so the interleavings are the same
//! kind), `proxy_http_call` (the harness has no clusters: it answers
//! `BadArgument`, what Envoy answers for an unknown cluster), V8's speed.
//! A trap marks the VM failed for good (Envoy's default failure policy).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use wasmtime::{Caller, Linker, Memory, Store, TypedFunc};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::{HostWallClock, WasiCtxBuilder};

use crate::engine::{EngineOptions, FuelMeter, HarnessEngine};
use crate::HarnessError;

const OK: i32 = 0;
const NOT_FOUND: i32 = 1;
const BAD_ARGUMENT: i32 = 2;
const EMPTY: i32 = 7;
const CAS_MISMATCH: i32 = 8;
const INVALID_MEMORY_ACCESS: i32 = 6;

/// One plugin configuration (`name`, `root_id`, `vm_config.vm_id`, the
/// plugin configuration bytes and `vm_config.environment_variables`).
#[derive(Debug, Clone)]
pub struct PluginConfig {
    pub name: String,
    pub root_id: String,
    pub vm_id: String,
    pub configuration: String,
    pub env: Vec<(String, String)>,
}

/// What Envoy knows about one request when it calls `proxy_on_log`.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// Properties by dotted path (`response.code`), raw values (integers as
    /// 8 little-endian bytes, as Envoy serializes them).
    pub properties: Vec<(String, Vec<u8>)>,
}

impl RequestInfo {
    pub fn header(mut self, k: &str, v: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((k.as_bytes().to_vec(), v.as_ref().to_vec()));
        self
    }
    pub fn int_property(mut self, path: &str, v: i64) -> Self {
        self.properties
            .push((path.to_string(), v.to_le_bytes().to_vec()));
        self
    }
    pub fn str_property(mut self, path: &str, v: &str) -> Self {
        self.properties
            .push((path.to_string(), v.as_bytes().to_vec()));
        self
    }
}

/// A line a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginLog {
    pub plugin: String,
    pub level: i32,
    pub message: String,
}

struct Queue {
    vm_id: String,
    name: String,
    owner: usize,
    owner_ctx: u32,
    items: VecDeque<Vec<u8>>,
}

#[derive(Default)]
struct Shared {
    data: HashMap<(String, String), (Vec<u8>, u32)>,
    cas: u32,
    queues: Vec<Queue>,
    /// (VM index, root context, queue token) of `proxy_on_queue_ready` calls due.
    notifications: VecDeque<(usize, u32, u32)>,
    metrics: Vec<(String, i64)>,
    logs: Vec<PluginLog>,
}

impl Shared {
    fn next_cas(&mut self) -> u32 {
        if self.cas == 0 {
            self.cas = 1;
        }
        let c = self.cas;
        self.cas = self.cas.wrapping_add(1);
        if self.cas == 0 {
            self.cas = 1;
        }
        c
    }
}

fn lock(s: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

struct VirtualClock(Arc<AtomicI64>);

impl HostWallClock for VirtualClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }
    fn now(&self) -> Duration {
        Duration::from_nanos(u64::try_from(self.0.load(Ordering::SeqCst)).unwrap_or(0))
    }
}

struct VmState {
    wasi: WasiP1Ctx,
    shared: Arc<Mutex<Shared>>,
    plugin: PluginConfig,
    index: usize,
    root_ctx: u32,
    request: Option<RequestInfo>,
    tick_ms: u32,
    /// Whether `expr_create` / `expr_evaluate` are registered (Envoy builds
    /// with a CEL parser, such as the official Linux ones).
    cel: bool,
    /// Compiled expressions by token: the attributes of a CEL list.
    expressions: Vec<Vec<String>>,
    /// `proxy_get_property` calls so far (each is a host call in Envoy).
    property_reads: u64,
}

/// One VM: a store, its instance's exports, and its tick schedule.
struct Vm {
    store: Store<VmState>,
    on_context_create: TypedFunc<(i32, i32), ()>,
    on_vm_start: TypedFunc<(i32, i32), i32>,
    on_configure: TypedFunc<(i32, i32), i32>,
    on_log: TypedFunc<i32, ()>,
    on_tick: TypedFunc<i32, ()>,
    on_queue_ready: TypedFunc<(i32, i32), ()>,
    on_done: TypedFunc<i32, i32>,
    next_tick_ns: Option<i64>,
    failed: bool,
}

/// An Envoy process's worth of proxy-wasm state: VMs, shared data, queues,
/// metrics, logs and the clock.
pub struct ProxyWasmEnv {
    engine: HarnessEngine,
    module: wasmtime::Module,
    shared: Arc<Mutex<Shared>>,
    clock: Arc<AtomicI64>,
    vms: Vec<Vm>,
    fuel: FuelMeter,
    last_fuel: Option<u64>,
    /// Wasm frames (innermost first) of the last trap.
    last_trap: Option<Vec<String>>,
    cel: bool,
}

/// A VM handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VmId(usize);

fn memory(caller: &mut Caller<'_, VmState>) -> Option<Memory> {
    caller.get_export("memory")?.into_memory()
}

fn read(caller: &mut Caller<'_, VmState>, ptr: i32, len: i32) -> Option<Vec<u8>> {
    let m = memory(caller)?;
    let start = usize::try_from(u32::from_ne_bytes(ptr.to_ne_bytes())).ok()?;
    let len = usize::try_from(u32::from_ne_bytes(len.to_ne_bytes())).ok()?;
    m.data(&*caller)
        .get(start..start.checked_add(len)?)
        .map(<[u8]>::to_vec)
}

fn write(caller: &mut Caller<'_, VmState>, ptr: i32, bytes: &[u8]) -> bool {
    let Some(m) = memory(caller) else {
        return false;
    };
    let Ok(start) = usize::try_from(u32::from_ne_bytes(ptr.to_ne_bytes())) else {
        return false;
    };
    m.write(&mut *caller, start, bytes).is_ok()
}

/// Hands `bytes` to the module: allocates through `proxy_on_memory_allocate`,
/// copies, and stores the address and size at the two out-pointers.
fn give(
    caller: &mut Caller<'_, VmState>,
    bytes: &[u8],
    ptr_out: i32,
    size_out: i32,
) -> wasmtime::Result<i32> {
    let alloc = caller
        .get_export("proxy_on_memory_allocate")
        .and_then(|e| e.into_func())
        .ok_or_else(|| wasmtime::Error::msg("module exports no proxy_on_memory_allocate"))?
        .typed::<i32, i32>(&*caller)?;
    let len = i32::try_from(bytes.len()).map_err(|_| wasmtime::Error::msg("value too large"))?;
    let addr = alloc.call(&mut *caller, len)?;
    if !write(caller, addr, bytes)
        || !write(caller, ptr_out, &addr.to_le_bytes())
        || !write(caller, size_out, &len.to_le_bytes())
    {
        return Ok(INVALID_MEMORY_ACCESS);
    }
    Ok(OK)
}

/// The CEL this host evaluates: a list of attributes, each guarded
/// (`[has(response.code) ? response.code : b"", ...]`), which is what the
/// module asks for. Envoy evaluates any CEL; anything else here is a parse
/// error.
fn parse_attribute_list(expr: &[u8]) -> Option<Vec<String>> {
    let text = std::str::from_utf8(expr).ok()?.trim();
    let inner = text.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .split(',')
        .map(|item| {
            let rest = item.trim().strip_prefix("has(")?;
            let (a, rest) = rest.split_once(')')?;
            let (b, c) = rest.trim().strip_prefix('?')?.split_once(':')?;
            let ok = !a.is_empty()
                && a.split('.').all(|seg| {
                    !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                })
                && b.trim() == a
                && c.trim() == "b\"\"";
            ok.then(|| a.to_string())
        })
        .collect()
}

impl VmState {
    /// An attribute by dotted path, as Envoy resolves it for
    /// `proxy_get_property` and for CEL alike.
    fn attribute(&self, path: &str) -> Option<Vec<u8>> {
        match path {
            "plugin_root_id" => Some(self.plugin.root_id.clone().into_bytes()),
            "plugin_vm_id" => Some(self.plugin.vm_id.clone().into_bytes()),
            "plugin_name" => Some(self.plugin.name.clone().into_bytes()),
            p => self.request.as_ref().and_then(|r| {
                r.properties
                    .iter()
                    .find(|(k, _)| k == p)
                    .map(|(_, v)| v.clone())
            }),
        }
    }
}

/// The proxy-wasm 0.2.1 map serialization.
pub fn serialize_map(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let n = |x: usize| u32::try_from(x).unwrap_or(u32::MAX).to_le_bytes();
    let mut out = Vec::new();
    out.extend_from_slice(&n(pairs.len()));
    for (k, v) in pairs {
        out.extend_from_slice(&n(k.len()));
        out.extend_from_slice(&n(v.len()));
    }
    for (k, v) in pairs {
        out.extend_from_slice(k);
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

fn link(linker: &mut Linker<VmState>) -> wasmtime::Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut c: Caller<'_, VmState>, level: i32, p: i32, l: i32| -> i32 {
            let Some(msg) = read(&mut c, p, l) else {
                return INVALID_MEMORY_ACCESS;
            };
            let plugin = c.data().plugin.name.clone();
            lock(&c.data().shared).logs.push(PluginLog {
                plugin,
                level,
                message: String::from_utf8_lossy(&msg).into_owned(),
            });
            OK
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Caller<'_, VmState>,
         kind: i32,
         start: i32,
         max: i32,
         po: i32,
         so: i32|
         -> wasmtime::Result<i32> {
            if kind != 7 {
                return Ok(NOT_FOUND);
            }
            let cfg = c.data().plugin.configuration.clone().into_bytes();
            let start = usize::try_from(start).unwrap_or(0);
            let end = start
                .saturating_add(usize::try_from(max).unwrap_or(0))
                .min(cfg.len());
            let slice = cfg.get(start..end).unwrap_or_default().to_vec();
            give(&mut c, &slice, po, so)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Caller<'_, VmState>, kind: i32, po: i32, so: i32| -> wasmtime::Result<i32> {
            let Some(req) = c.data().request.clone() else {
                return Ok(NOT_FOUND);
            };
            match kind {
                0 => give(&mut c, &serialize_map(&req.headers), po, so),
                2 => give(&mut c, &serialize_map(&[]), po, so),
                _ => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Caller<'_, VmState>, pp: i32, pl: i32, po: i32, so: i32| -> wasmtime::Result<i32> {
            let Some(path) = read(&mut c, pp, pl) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let path = String::from_utf8_lossy(&path).replace('\0', ".");
            c.data_mut().property_reads += 1;
            match c.data().attribute(&path) {
                Some(v) => give(&mut c, &v, po, so),
                None => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_call_foreign_function",
        |mut c: Caller<'_, VmState>,
         np: i32,
         nl: i32,
         ap: i32,
         al: i32,
         po: i32,
         so: i32|
         -> wasmtime::Result<i32> {
            let (Some(name), Some(args)) = (read(&mut c, np, nl), read(&mut c, ap, al)) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            if !c.data().cel {
                return Ok(NOT_FOUND);
            }
            match name.as_slice() {
                b"expr_create" => match parse_attribute_list(&args) {
                    Some(names) => {
                        let d = c.data_mut();
                        let token = u32::try_from(d.expressions.len()).unwrap_or(u32::MAX);
                        d.expressions.push(names);
                        give(&mut c, &token.to_le_bytes(), po, so)
                    }
                    None => Ok(BAD_ARGUMENT),
                },
                b"expr_evaluate" => {
                    let Some(token) = args.first_chunk::<4>().map(|t| u32::from_le_bytes(*t))
                    else {
                        return Ok(BAD_ARGUMENT);
                    };
                    let d = c.data();
                    let Some(names) = d.expressions.get(token as usize) else {
                        return Ok(NOT_FOUND);
                    };
                    let values: Vec<(Vec<u8>, Vec<u8>)> = names
                        .iter()
                        .map(|n| (d.attribute(n).unwrap_or_default(), Vec::new()))
                        .collect();
                    give(&mut c, &serialize_map(&values), po, so)
                }
                _ => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: Caller<'_, VmState>,
         kp: i32,
         kl: i32,
         po: i32,
         so: i32,
         cas_out: i32|
         -> wasmtime::Result<i32> {
            let Some(key) = read(&mut c, kp, kl) else {
                return Ok(INVALID_MEMORY_ACCESS);
            };
            let k = (
                c.data().plugin.vm_id.clone(),
                String::from_utf8_lossy(&key).into_owned(),
            );
            let found = lock(&c.data().shared).data.get(&k).cloned();
            let Some((value, cas)) = found else {
                return Ok(NOT_FOUND);
            };
            if !write(&mut c, cas_out, &cas.to_le_bytes()) {
                return Ok(INVALID_MEMORY_ACCESS);
            }
            give(&mut c, &value, po, so)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: Caller<'_, VmState>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| -> i32 {
            let (Some(key), Some(value)) = (read(&mut c, kp, kl), read(&mut c, vp, vl)) else {
                return INVALID_MEMORY_ACCESS;
            };
            let cas = u32::from_ne_bytes(cas.to_ne_bytes());
            let k = (
                c.data().plugin.vm_id.clone(),
                String::from_utf8_lossy(&key).into_owned(),
            );
            let mut s = lock(&c.data().shared);
            if let Some((_, current)) = s.data.get(&k) {
                if cas != 0 && cas != *current {
                    return CAS_MISMATCH;
                }
            }
            let next = s.next_cas();
            s.data.insert(k, (value, next));
            OK
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: Caller<'_, VmState>, np: i32, nl: i32, id_out: i32| -> i32 {
            let Some(name) = read(&mut c, np, nl) else {
                return INVALID_MEMORY_ACCESS;
            };
            let name = String::from_utf8_lossy(&name).into_owned();
            let (vm_id, owner, owner_ctx) = (
                c.data().plugin.vm_id.clone(),
                c.data().index,
                c.data().root_ctx,
            );
            let token = {
                let mut s = lock(&c.data().shared);
                match s
                    .queues
                    .iter()
                    .position(|q| q.vm_id == vm_id && q.name == name)
                {
                    Some(i) => {
                        if let Some(q) = s.queues.get_mut(i) {
                            q.owner = owner;
                            q.owner_ctx = owner_ctx;
                        }
                        i
                    }
                    None => {
                        s.queues.push(Queue {
                            vm_id,
                            name,
                            owner,
                            owner_ctx,
                            items: VecDeque::new(),
                        });
                        s.queues.len().saturating_sub(1)
                    }
                }
            };
            let token = u32::try_from(token).unwrap_or(u32::MAX).saturating_add(1);
            if write(&mut c, id_out, &token.to_le_bytes()) {
                OK
            } else {
                INVALID_MEMORY_ACCESS
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: Caller<'_, VmState>, vp: i32, vl: i32, np: i32, nl: i32, id_out: i32| -> i32 {
            let (Some(vm), Some(name)) = (read(&mut c, vp, vl), read(&mut c, np, nl)) else {
                return INVALID_MEMORY_ACCESS;
            };
            let found = lock(&c.data().shared).queues.iter().position(|q| {
                q.vm_id.as_bytes() == vm.as_slice() && q.name.as_bytes() == name.as_slice()
            });
            let Some(i) = found else { return NOT_FOUND };
            let token = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
            if write(&mut c, id_out, &token.to_le_bytes()) {
                OK
            } else {
                INVALID_MEMORY_ACCESS
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: Caller<'_, VmState>, id: i32, vp: i32, vl: i32| -> i32 {
            let Some(value) = read(&mut c, vp, vl) else {
                return INVALID_MEMORY_ACCESS;
            };
            let token = u32::from_ne_bytes(id.to_ne_bytes());
            let mut s = lock(&c.data().shared);
            let idx = usize::try_from(token.wrapping_sub(1)).unwrap_or(usize::MAX);
            let Some(q) = s.queues.get_mut(idx) else {
                return NOT_FOUND;
            };
            q.items.push_back(value);
            let (owner, ctx) = (q.owner, q.owner_ctx);
            s.notifications.push_back((owner, ctx, token));
            OK
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: Caller<'_, VmState>, id: i32, po: i32, so: i32| -> wasmtime::Result<i32> {
            let token = u32::from_ne_bytes(id.to_ne_bytes());
            let idx = usize::try_from(token.wrapping_sub(1)).unwrap_or(usize::MAX);
            let item = {
                let mut s = lock(&c.data().shared);
                let Some(q) = s.queues.get_mut(idx) else {
                    return Ok(NOT_FOUND);
                };
                q.items.pop_front()
            };
            match item {
                Some(v) => give(&mut c, &v, po, so),
                None => Ok(EMPTY),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: Caller<'_, VmState>, ms: i32| -> i32 {
            c.data_mut().tick_ms = u32::from_ne_bytes(ms.to_ne_bytes());
            OK
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Caller<'_, VmState>, _kind: i32, np: i32, nl: i32, id_out: i32| -> i32 {
            let Some(name) = read(&mut c, np, nl) else {
                return INVALID_MEMORY_ACCESS;
            };
            let name = String::from_utf8_lossy(&name).into_owned();
            let idx = {
                let mut s = lock(&c.data().shared);
                match s.metrics.iter().position(|(n, _)| *n == name) {
                    Some(i) => i,
                    None => {
                        s.metrics.push((name, 0));
                        s.metrics.len().saturating_sub(1)
                    }
                }
            };
            let id = u32::try_from(idx).unwrap_or(u32::MAX).saturating_add(1);
            if write(&mut c, id_out, &id.to_le_bytes()) {
                OK
            } else {
                INVALID_MEMORY_ACCESS
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |c: Caller<'_, VmState>, id: i32, offset: i64| -> i32 {
            let idx = usize::try_from(u32::from_ne_bytes(id.to_ne_bytes()).wrapping_sub(1))
                .unwrap_or(usize::MAX);
            match lock(&c.data().shared).metrics.get_mut(idx) {
                Some((_, v)) => {
                    *v = v.saturating_add(offset);
                    OK
                }
                None => NOT_FOUND,
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |c: Caller<'_, VmState>, id: i32, value: i64| -> i32 {
            let idx = usize::try_from(u32::from_ne_bytes(id.to_ne_bytes()).wrapping_sub(1))
                .unwrap_or(usize::MAX);
            match lock(&c.data().shared).metrics.get_mut(idx) {
                Some((_, v)) => {
                    *v = value;
                    OK
                }
                None => NOT_FOUND,
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |_c: Caller<'_, VmState>,
         _a: i32,
         _b: i32,
         _d: i32,
         _e: i32,
         _f: i32,
         _g: i32,
         _h: i32,
         _i: i32,
         _t: i32,
         _o: i32|
         -> i32 { BAD_ARGUMENT },
    )?;
    Ok(())
}

fn func<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    instance: &wasmtime::Instance,
    store: &mut Store<VmState>,
    name: &str,
) -> Result<TypedFunc<P, R>, HarnessError> {
    instance
        .get_typed_func::<P, R>(&mut *store, name)
        .map_err(|e| HarnessError::module(format!("export {name}: {e:#}")))
}

/// The root context id the host gives each VM's plugin (Envoy numbers
/// contexts per VM; the value itself is opaque to the module).
const ROOT_CTX: u32 = 1;

impl ProxyWasmEnv {
    /// An environment for `wasm` (the Envoy artifact), its clock at `start_ns`.
    pub fn new(wasm: &[u8], start_ns: i64, fuel: bool) -> Result<ProxyWasmEnv, HarnessError> {
        let engine = HarnessEngine::new(EngineOptions {
            fuel,
            max_wasm_stack: 1 << 20,
        })?;
        let module = engine.compile(wasm)?;
        Ok(ProxyWasmEnv {
            engine,
            module,
            shared: Arc::new(Mutex::new(Shared::default())),
            clock: Arc::new(AtomicI64::new(start_ns)),
            vms: Vec::new(),
            fuel: FuelMeter::new(fuel),
            last_fuel: None,
            last_trap: None,
            cel: true,
        })
    }

    /// Whether VMs started from now on find Envoy's CEL foreign functions
    /// (`expr_create`, `expr_evaluate`); on by default, as in Envoy 1.40.
    pub fn set_cel(&mut self, on: bool) {
        self.cel = on;
    }

    pub fn now_ns(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    /// Creates a VM for `plugin` and runs `_initialize`, the root context,
    /// `proxy_on_vm_start` and `proxy_on_configure`. Returns the VM and what
    /// `proxy_on_configure` answered (false: Envoy rejects the configuration).
    pub fn start_vm(&mut self, plugin: PluginConfig) -> Result<(VmId, bool), HarnessError> {
        let mut builder = WasiCtxBuilder::new();
        builder.wall_clock(VirtualClock(self.clock.clone()));
        for (k, v) in &plugin.env {
            builder.env(k, v);
        }
        let index = self.vms.len();
        let size = i32::try_from(plugin.configuration.len()).unwrap_or(i32::MAX);
        let state = VmState {
            wasi: builder.build_p1(),
            shared: self.shared.clone(),
            plugin,
            index,
            root_ctx: ROOT_CTX,
            request: None,
            tick_ms: 0,
            cel: self.cel,
            expressions: Vec::new(),
            property_reads: 0,
        };
        let mut store = Store::new(self.engine.engine(), state);
        let mut linker: Linker<VmState> = Linker::new(self.engine.engine());
        p1::add_to_linker_sync(&mut linker, |s: &mut VmState| &mut s.wasi)
            .map_err(|e| HarnessError::wasm("link WASI", &e))?;
        link(&mut linker).map_err(|e| HarnessError::wasm("link proxy-wasm", &e))?;
        self.fuel.arm(&mut store)?;
        let instance = linker
            .instantiate(&mut store, &self.module)
            .map_err(|e| HarnessError::wasm("instantiate", &e))?;
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ())
                .map_err(|e| HarnessError::wasm("_initialize", &e))?;
        }
        let vm = Vm {
            on_context_create: func(&instance, &mut store, "proxy_on_context_create")?,
            on_vm_start: func(&instance, &mut store, "proxy_on_vm_start")?,
            on_configure: func(&instance, &mut store, "proxy_on_configure")?,
            on_log: func(&instance, &mut store, "proxy_on_log")?,
            on_tick: func(&instance, &mut store, "proxy_on_tick")?,
            on_queue_ready: func(&instance, &mut store, "proxy_on_queue_ready")?,
            on_done: func(&instance, &mut store, "proxy_on_done")?,
            store,
            next_tick_ns: None,
            failed: false,
        };
        self.vms.push(vm);
        let id = VmId(index);
        let ctx = i32::try_from(ROOT_CTX).unwrap_or(1);
        self.call(id, |vm| {
            let f = vm.on_context_create.clone();
            f.call(&mut vm.store, (ctx, 0))
        })?;
        let started = self.call(id, |vm| {
            let f = vm.on_vm_start.clone();
            f.call(&mut vm.store, (ctx, 0))
        })?;
        let configured = self.call(id, |vm| {
            let f = vm.on_configure.clone();
            f.call(&mut vm.store, (ctx, size))
        })?;
        let ok = started == Some(1) && configured == Some(1);
        if let Some(vm) = self.vms.get_mut(index) {
            if ok {
                let period = i64::from(vm.store.data().tick_ms).saturating_mul(1_000_000);
                vm.next_tick_ns =
                    (period > 0).then(|| self.clock.load(Ordering::SeqCst).saturating_add(period));
            } else {
                vm.failed = true;
            }
        }
        self.deliver()?;
        Ok((id, ok))
    }

    /// Runs one call into a VM; a trap marks the VM failed and is logged.
    fn call<R>(
        &mut self,
        id: VmId,
        f: impl FnOnce(&mut Vm) -> wasmtime::Result<R>,
    ) -> Result<Option<R>, HarnessError> {
        let Some(vm) = self.vms.get_mut(id.0) else {
            return Err(HarnessError::config("vm", "no such VM"));
        };
        if vm.failed {
            return Ok(None);
        }
        self.fuel.arm(&mut vm.store)?;
        let result = f(vm);
        self.last_fuel = self.fuel.consumed(&vm.store);
        match result {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                vm.failed = true;
                self.last_trap = e.downcast_ref::<wasmtime::WasmBacktrace>().map(|bt| {
                    bt.frames()
                        .iter()
                        .map(|f| f.func_name().unwrap_or("?").to_owned())
                        .collect()
                });
                let plugin = vm.store.data().plugin.name.clone();
                lock(&self.shared).logs.push(PluginLog {
                    plugin,
                    level: 4,
                    message: format!("VM failed (trap): {e:#}"),
                });
                Ok(None)
            }
        }
    }

    /// `proxy_on_log` for one request on `vm` (its root context, as Envoy
    /// does for access loggers), then due queue notifications.
    pub fn log_request(&mut self, id: VmId, request: RequestInfo) -> Result<(), HarnessError> {
        if let Some(vm) = self.vms.get_mut(id.0) {
            vm.store.data_mut().request = Some(request);
        }
        let ctx = i32::try_from(ROOT_CTX).unwrap_or(1);
        self.call(id, |vm| {
            let f = vm.on_log.clone();
            f.call(&mut vm.store, ctx)
        })?;
        if let Some(vm) = self.vms.get_mut(id.0) {
            vm.store.data_mut().request = None;
        }
        self.deliver()
    }

    /// Wasm instructions the last call executed (engine with fuel only).
    pub fn last_call_fuel(&self) -> Option<u64> {
        self.last_fuel
    }

    /// Fuel for the following calls (engine with fuel only): a call that
    /// needs more traps there, its VM fails, and [`ProxyWasmEnv::last_trap`]
    /// tells where it stopped. For instruction profiles; `None` lifts it.
    pub fn set_fuel_limit(&mut self, limit: Option<u64>) {
        self.fuel.set_limit(limit);
    }

    /// Function names of the wasm frames of the last trap, innermost first.
    pub fn last_trap(&self) -> Option<&[String]> {
        self.last_trap.as_deref()
    }

    /// Delivers pending `proxy_on_queue_ready` calls (one per enqueue).
    pub fn deliver(&mut self) -> Result<(), HarnessError> {
        // Bounded: a module that enqueues from on_queue_ready must not loop forever.
        for _ in 0..1_000_000 {
            let next = lock(&self.shared).notifications.pop_front();
            let Some((owner, ctx, token)) = next else {
                return Ok(());
            };
            let (ctx, token) = (
                i32::try_from(ctx).unwrap_or(1),
                i32::try_from(token).unwrap_or(0),
            );
            self.call(VmId(owner), |vm| {
                let f = vm.on_queue_ready.clone();
                f.call(&mut vm.store, (ctx, token))
            })?;
        }
        Ok(())
    }

    /// Advances the clock by `by`, firing every tick that falls due on the
    /// way (in time order, VMs in creation order) and delivering queue
    /// notifications after each call.
    pub fn advance(&mut self, by: Duration) -> Result<(), HarnessError> {
        let target = self
            .now_ns()
            .saturating_add(i64::try_from(by.as_nanos()).unwrap_or(i64::MAX));
        loop {
            let due = self
                .vms
                .iter()
                .enumerate()
                .filter(|(_, vm)| !vm.failed)
                .filter_map(|(i, vm)| vm.next_tick_ns.map(|t| (t, i)))
                .filter(|(t, _)| *t <= target)
                .min();
            let Some((t, i)) = due else { break };
            self.clock.store(t, Ordering::SeqCst);
            let ctx = i32::try_from(ROOT_CTX).unwrap_or(1);
            self.call(VmId(i), |vm| {
                let f = vm.on_tick.clone();
                f.call(&mut vm.store, ctx)
            })?;
            if let Some(vm) = self.vms.get_mut(i) {
                let period = i64::from(vm.store.data().tick_ms).saturating_mul(1_000_000);
                vm.next_tick_ns = (period > 0).then(|| t.saturating_add(period));
            }
            self.deliver()?;
        }
        self.clock.store(target, Ordering::SeqCst);
        Ok(())
    }

    /// Ends a VM as Envoy does on a configuration update or shutdown
    /// (`proxy_on_done`); its shared data and queue registrations stay.
    pub fn stop_vm(&mut self, id: VmId) -> Result<(), HarnessError> {
        let ctx = i32::try_from(ROOT_CTX).unwrap_or(1);
        self.call(id, |vm| {
            let f = vm.on_done.clone();
            f.call(&mut vm.store, ctx)
        })?;
        if let Some(vm) = self.vms.get_mut(id.0) {
            vm.failed = true;
        }
        self.deliver()
    }

    /// How many `proxy_get_property` calls the VM made so far.
    pub fn property_reads(&self, id: VmId) -> u64 {
        self.vms
            .get(id.0)
            .map_or(0, |vm| vm.store.data().property_reads)
    }

    pub fn failed(&self, id: VmId) -> bool {
        self.vms.get(id.0).is_none_or(|vm| vm.failed)
    }

    /// Everything plugins logged so far (and VM failures).
    pub fn logs(&self) -> Vec<PluginLog> {
        lock(&self.shared).logs.clone()
    }

    /// A metric by name (summed over VMs, as Envoy's stats are).
    pub fn metric(&self, name: &str) -> Option<i64> {
        lock(&self.shared)
            .metrics
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }

    /// Shared data of `vm_id` (value and CAS token).
    pub fn shared_data(&self, vm_id: &str, key: &str) -> Option<(Vec<u8>, u32)> {
        lock(&self.shared)
            .data
            .get(&(vm_id.to_string(), key.to_string()))
            .cloned()
    }
}
