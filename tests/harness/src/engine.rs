//! The wasmtime engine shared by the host emulations.
//!
//! One `Engine` per stack limit: `max_wasm_stack` is an engine-wide setting in wasmtime,
//! while each Fluent Bit filter has its own `wasm_stack_size`. Proxy-wasm VMs of one
//! plugin will share one engine (and compiled module) across their stores.

use std::path::Path;

use wasmtime::{Config, Engine, Module, Store};

use crate::HarnessError;

/// Engine settings a host emulation chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineOptions {
    /// Count wasm instructions with wasmtime fuel.
    pub fuel: bool,
    /// Native stack bytes wasm code may use (wasmtime `max_wasm_stack`).
    pub max_wasm_stack: usize,
}

/// A wasmtime engine configured for the harness.
#[derive(Clone)]
pub struct HarnessEngine {
    engine: Engine,
    options: EngineOptions,
}

impl HarnessEngine {
    pub fn new(options: EngineOptions) -> Result<Self, HarnessError> {
        let mut config = Config::new();
        config.consume_fuel(options.fuel);
        config.max_wasm_stack(options.max_wasm_stack);
        let engine = Engine::new(&config).map_err(|e| HarnessError::wasm("engine setup", &e))?;
        Ok(Self { engine, options })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub fn options(&self) -> EngineOptions {
        self.options
    }

    /// Compiles a module from `.wasm` bytes or WAT text.
    pub fn compile(&self, bytes: &[u8]) -> Result<Module, HarnessError> {
        Module::new(&self.engine, bytes).map_err(|e| HarnessError::wasm("compile", &e))
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
}

/// Fuel given before each call: effectively unlimited, metering only.
const FUEL_BUDGET: u64 = u64::MAX / 2;

impl FuelMeter {
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }

    /// Refills the store before a call (a store with fuel enabled and no fuel traps at
    /// the first instruction).
    pub fn arm<T>(&self, store: &mut Store<T>) -> Result<(), HarnessError> {
        if self.enabled {
            store
                .set_fuel(FUEL_BUDGET)
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
            .map(|left| FUEL_BUDGET.saturating_sub(left))
    }
}
