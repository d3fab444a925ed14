//! The wasmtime engine shared by the host emulations.
//!
//! One `Engine` per stack limit: `max_wasm_stack` is an engine-wide setting in wasmtime,
//! while each Fluent Bit filter has its own `wasm_stack_size`. Proxy-wasm VMs of one
//! plugin will share one engine (and compiled module) across their stores.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use wasmtime::{Config, Engine, Module, Store};

use crate::HarnessError;

/// Engine settings a host emulation chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EngineOptions {
    /// Count wasm instructions with wasmtime fuel.
    pub fuel: bool,
    /// Native stack bytes wasm code may use (wasmtime `max_wasm_stack`).
    pub max_wasm_stack: usize,
}

/// A wasmtime engine configured for the harness.
///
/// Engines and compiled modules are cached per process: tests create many hosts for
/// the same artifact, and compiling a few hundred KiB of wasm with a debug build of
/// Cranelift takes seconds.
#[derive(Clone)]
pub struct HarnessEngine {
    engine: Engine,
    options: EngineOptions,
    modules: Arc<Mutex<Vec<CompiledModule>>>,
}

/// A module's bytes and its compiled form.
type CompiledModule = (Vec<u8>, Module);

type EngineCache = Mutex<HashMap<EngineOptions, HarnessEngine>>;

fn engine_cache() -> &'static EngineCache {
    static CACHE: OnceLock<EngineCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

impl HarnessEngine {
    /// The process-wide engine for `options`, created on first use.
    pub fn new(options: EngineOptions) -> Result<Self, HarnessError> {
        let mut cache = engine_cache()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(engine) = cache.get(&options) {
            return Ok(engine.clone());
        }
        let mut config = Config::new();
        config.consume_fuel(options.fuel);
        config.max_wasm_stack(options.max_wasm_stack);
        let engine = Engine::new(&config).map_err(|e| HarnessError::wasm("engine setup", &e))?;
        let engine = Self {
            engine,
            options,
            modules: Arc::new(Mutex::new(Vec::new())),
        };
        cache.insert(options, engine.clone());
        Ok(engine)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn options(&self) -> EngineOptions {
        self.options
    }

    /// Compiles a module from `.wasm` bytes or WAT text (cached by content).
    pub fn compile(&self, bytes: &[u8]) -> Result<Module, HarnessError> {
        let mut modules = self
            .modules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, module)) = modules.iter().find(|(b, _)| b.as_slice() == bytes) {
            return Ok(module.clone());
        }
        let module =
            Module::new(&self.engine, bytes).map_err(|e| HarnessError::wasm("compile", &e))?;
        modules.push((bytes.to_vec(), module.clone()));
        Ok(module)
    }

    pub fn compile_file(&self, path: &Path) -> Result<Module, HarnessError> {
        let bytes = std::fs::read(path).map_err(|e| HarnessError::io(path, &e))?;
        self.compile(&bytes)
    }
}

/// Fuel bookkeeping around one call into wasm.
///
/// wasmtime charges one unit per executed wasm operator (a few structural ones such as
/// `nop`, `drop`, `block`, `loop` are free), so the difference is "wasm instructions
/// executed", deterministic for the same module, state and input. Host (WASI) work is
/// not counted.
pub struct FuelMeter {
    enabled: bool,
    /// Fuel for the next calls instead of an unlimited budget: a call that
    /// needs more traps where the fuel ran out (instruction profiles).
    limit: Option<u64>,
}

/// Fuel given before each call: effectively unlimited, metering only.
const FUEL_BUDGET: u64 = u64::MAX / 2;

impl FuelMeter {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            limit: None,
        }
    }

    /// See [`FuelMeter::limit`]; `None` restores the unlimited budget.
    pub fn set_limit(&mut self, limit: Option<u64>) {
        self.limit = limit;
    }

    /// Refills the store before a call (a store with fuel enabled and no fuel traps at
    /// the first instruction).
    pub fn arm<T>(&self, store: &mut Store<T>) -> Result<(), HarnessError> {
        if self.enabled {
            store
                .set_fuel(self.limit.unwrap_or(FUEL_BUDGET))
                .map_err(|e| HarnessError::wasm("set fuel", &e))?;
        }
        Ok(())
    }

    /// Instructions executed since the last `arm`, if metering is on.
    pub fn consumed<T>(&self, store: &Store<T>) -> Option<u64> {
        if !self.enabled {
            return None;
        }
        store
            .get_fuel()
            .ok()
            .map(|left| self.limit.unwrap_or(FUEL_BUDGET).saturating_sub(left))
    }
}
