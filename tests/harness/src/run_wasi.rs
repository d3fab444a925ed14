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
    /// Sample this many points spread evenly over the command's fuel and
    /// print where they fall (a deterministic instruction profile).
    pub fuel_profile: Option<u32>,
}

pub fn parse(args: &[String]) -> Result<RunWasiArgs, HarnessError> {
    let mut iter = args.iter();
    let mut wasm = None;
    let mut rest = Vec::new();
    let mut fuel = false;
    let mut fuel_profile = None;
    while let Some(a) = iter.next() {
        match a.as_str() {
            "--wasm" => wasm = iter.next().map(PathBuf::from),
            "--fuel" => fuel = true,
            "--fuel-profile" => {
                let n = iter
                    .next()
                    .and_then(|v| v.parse::<u32>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        HarnessError::config("--fuel-profile", "needs a sample count")
                    })?;
                fuel_profile = Some(n);
            }
            "--" => {
                rest = iter.by_ref().cloned().collect();
            }
            other => return Err(HarnessError::config(other, "unknown flag")),
        }
    }
    Ok(RunWasiArgs {
        wasm: wasm.ok_or_else(|| HarnessError::config("--wasm", "is required"))?,
        args: rest,
        fuel: fuel || fuel_profile.is_some(),
        fuel_profile,
    })
}

/// Runs the command; returns its exit code.
pub fn run(args: &RunWasiArgs) -> Result<i32, HarnessError> {
    if let Some(samples) = args.fuel_profile {
        return profile(args, samples).map(|()| 0);
    }
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

/// One run of `_start` with `fuel` units (stdout discarded); the wasm
/// backtrace where the fuel ran out, innermost frame first, or `None` when
/// the command finished first.
fn run_until(
    engine: &HarnessEngine,
    module: &wasmtime::Module,
    args: &RunWasiArgs,
    fuel: u64,
) -> Result<Option<Vec<String>>, HarnessError> {
    let mut linker: Linker<WasiP1Ctx> = Linker::new(engine.engine());
    p1::add_to_linker_sync(&mut linker, |ctx| ctx)
        .map_err(|e| HarnessError::wasm("link WASI", &e))?;
    let mut argv = vec!["module".to_owned()];
    argv.extend(args.args.iter().cloned());
    let ctx = WasiCtxBuilder::new().args(&argv).build_p1();
    let mut store = Store::new(engine.engine(), ctx);
    store
        .set_fuel(fuel)
        .map_err(|e| HarnessError::wasm("set fuel", &e))?;
    let instance = linker
        .instantiate(&mut store, module)
        .map_err(|e| HarnessError::wasm("instantiate", &e))?;
    let start = instance
        .get_typed_func::<(), ()>(&mut store, "_start")
        .map_err(|e| HarnessError::wasm("find _start", &e))?;
    match start.call(&mut store, ()) {
        Ok(()) => Ok(None),
        Err(e) => {
            if e.downcast_ref::<I32Exit>().is_some() {
                return Ok(None);
            }
            Ok(e.downcast_ref::<wasmtime::WasmBacktrace>().map(|bt| {
                bt.frames()
                    .iter()
                    .map(|f| f.func_name().unwrap_or("?").to_owned())
                    .collect()
            }))
        }
    }
}

/// `--fuel-profile N`: where the command's instructions go. Fuel is
/// deterministic, so stopping the same run after k/(N+1) of its total fuel
/// lands on the instruction executing at that point; N such points give
/// each function's share of instructions (self: innermost frame; total:
/// anywhere on the stack).
fn profile(args: &RunWasiArgs, samples: u32) -> Result<(), HarnessError> {
    let engine = HarnessEngine::new(EngineOptions {
        fuel: true,
        max_wasm_stack: 1 << 20,
    })?;
    let module = engine.compile_file(&args.wasm)?;
    let total = {
        let mut hi: u64 = 1 << 20;
        while run_until(&engine, &module, args, hi)?.is_some() {
            hi = hi.saturating_mul(2);
        }
        let mut lo = hi / 2;
        // Binary search to within 0.1% of the total.
        while hi.saturating_sub(lo) > hi / 1000 {
            let mid = lo + (hi - lo) / 2;
            if run_until(&engine, &module, args, mid)?.is_some() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        hi
    };
    let mut own: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let mut inclusive: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let mut taken = 0u32;
    for k in 1..=u64::from(samples) {
        let at = total / (u64::from(samples) + 1) * k;
        let Some(frames) = run_until(&engine, &module, args, at)? else {
            continue;
        };
        taken += 1;
        if let Some(top) = frames.first() {
            *own.entry(top.clone()).or_default() += 1;
        }
        let mut seen = std::collections::HashSet::new();
        for f in frames {
            if seen.insert(f.clone()) {
                *inclusive.entry(f).or_default() += 1;
            }
        }
    }
    println!("fuel {total}, {taken} samples");
    for (title, table) in [("self", own), ("total", inclusive)] {
        let mut rows: Vec<_> = table.into_iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1));
        println!("-- {title}");
        for (name, n) in rows.into_iter().take(40) {
            println!(
                "{:5.1}%  {name}",
                f64::from(n) * 100.0 / f64::from(taken.max(1))
            );
        }
    }
    Ok(())
}
