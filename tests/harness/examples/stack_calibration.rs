//! Measures how deep a recursive `serde_json::Value` parse gets before the stack runs
//! out, per `wasm_stack_size`, to compare with the depths measured under WAMR.
//!
//! Build the module first (see `calibration/README.md`), then:
//! `cargo run -p dp-audit-harness --example stack_calibration -- MODULE.wasm [raw]`
//! With `raw`, the sizes are used directly as wasmtime `max_wasm_stack` bytes.

use dp_audit_harness::fluent_bit::{FluentBitConfig, FluentBitHost, Outcome, RecordTime};

fn nested(depth: usize) -> String {
    // depth 1 = {"a":1}, depth 2 = {"a":{"a":1}}, ...
    let mut text = String::new();
    for _ in 0..depth {
        text.push_str("{\"a\":");
    }
    text.push('1');
    for _ in 0..depth {
        text.push('}');
    }
    text
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(wasm) = args.first() else {
        eprintln!("usage: stack_calibration MODULE.wasm [raw]");
        std::process::exit(2);
    };
    let raw = args.get(1).is_some_and(|a| a == "raw");
    let sizes: &[u64] = if raw {
        &[4096, 8192, 16_384, 32_768, 65_536, 131_072, 262_144]
    } else {
        &[8192, 16_000, 16_384, 64_000, 65_536, 256_000]
    };
    for &size in sizes {
        let mut config = FluentBitConfig::new(wasm, "f");
        config.accessible_paths = Vec::new();
        config.wasm_heap_size = 1_000_000;
        if raw {
            config.max_wasm_stack_override = Some(size as usize);
        } else {
            config.wasm_stack_size = size;
        }
        let max_stack = config.max_wasm_stack();
        let mut host = match FluentBitHost::new(config) {
            Ok(host) => host,
            Err(err) => {
                eprintln!("{err}");
                std::process::exit(1);
            }
        };
        let mut reached = 0;
        let mut failure = String::from("none up to 200");
        for depth in 1..=200 {
            match host.process("t", RecordTime::now(), &nested(depth)).outcome {
                Outcome::Emitted(text) if text == r#"{"ok":true}"# => reached = depth,
                other => {
                    failure = format!("{other:?} at depth {depth}");
                    break;
                }
            }
        }
        println!("size {size:>7} max_wasm_stack {max_stack:>8}: reached {reached:>3}; first failure: {failure}");
    }
}
