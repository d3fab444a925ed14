//! `dp-audit-harness run-wasi --wasm PATH [-- ARGS...]`: runs a WASI preview 1
//! command module (`_start`) in the harness's wasmtime, stdout and stderr
//! inherited. For benchmarks (benches/wasm_samplers.sh): no filesystem access.

use std::path::PathBuf;

use wasmtime::{Linker, Store};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use crate::engine::{EngineOptions, HarnessEngine};
use crate::HarnessError;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunWasiArgs {
    pub wasm: PathBuf,
    pub args: Vec<String>,
    /// Print the wasm instructions the command executed (wasmtime fuel).
    pub fuel: bool,
}

pub fn parse(args: &[String]) -> Result<RunWasiArgs, HarnessError> {
    let mut iter = args.iter();
    let mut wasm = None;
    let mut rest = Vec::new();
    let mut fuel = false;
    while let Some(a) = iter.next() {
        match a.as_str() {
            "--wasm" => wasm = iter.next().map(PathBuf::from),
            "--fuel" => fuel = true,
            "--" => {
                rest = iter.by_ref().cloned().collect();
            }
            other => return Err(HarnessError::config(other, "unknown flag")),
        }
    }
    Ok(RunWasiArgs {
        wasm: wasm.ok_or_else(|| HarnessError::config("--wasm", "is required"))?,
        args: rest,
        fuel,
    })
}

/// Runs the command; returns its exit code.
pub fn run(args: &RunWasiArgs) -> Result<i32, HarnessError> {
    let engine = HarnessEngine::new(EngineOptions {
        fuel: args.fuel,
        max_wasm_stack: 1 << 20,
    })?;
    let module = engine.compile_file(&args.wasm)?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine.engine());
    p1::add_to_linker_sync(&mut linker, |ctx| ctx)
        .map_err(|e| HarnessError::wasm("link WASI", &e))?;
    let mut argv = vec!["module".to_owned()];
    argv.extend(args.args.iter().cloned());
    let ctx = WasiCtxBuilder::new()
        .inherit_stdout()
        .inherit_stderr()
        .args(&argv)
        .build_p1();
    let mut store = Store::new(engine.engine(), ctx);
    if args.fuel {
        store
            .set_fuel(u64::MAX)
            .map_err(|e| HarnessError::wasm("set fuel", &e))?;
    }
    let instance = linker
        .instantiate(&mut store, &module)
        .map_err(|e| HarnessError::wasm("instantiate", &e))?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| HarnessError::wasm("find _start", &e))?;
    let code = match start.call(&mut store, ()) {
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(exit) => exit.0,
            None => return Err(HarnessError::wasm("run", &e)),
        },
    };
    if args.fuel {
        let left = store
            .get_fuel()
            .map_err(|e| HarnessError::wasm("read fuel", &e))?;
        eprintln!("fuel {}", u64::MAX.saturating_sub(left));
    }
    Ok(code)
}
