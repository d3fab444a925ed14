//! Scrubbing cost of Kubernetes audit events (~1 KB each, the generator in
//! `dp-audit-corpus`), natively and through wasmtime in the same run.
//!
//! `make dist` first (the wasm side runs `dist/dp_audit_fluent_bit.wasm`),
//! then `cargo bench -p dp-audit-benches --bench scrub`. It prints a table
//! (events/s native, events/s wasm, ratio, wasm instructions per event as
//! wasmtime fuel) for three policies: keep everything, drop everything
//! (the tokenizer alone) and the `k8s-audit` preset with free-text
//! detection; then divan times one event per iteration for each.
//!
//! The wasm side goes through the harness's Fluent Bit host
//! ([`FluentBitHost::process`]): copying the record into the module's app
//! heap, the call, reading the NUL-terminated result and checking it is one
//! JSON object, as Fluent Bit does. Fuel counts only the module's own
//! instructions and is deterministic; wall-clock rates swing with machine
//! load. The first call of a module loads the policy (about 750k fuel): it
//! is made before measuring.
//!
//! Not measured here: the DP samplers in wasm. The product artifact exports
//! only the filter functions, and `dp_aggregate` per record is dominated by
//! record parsing and window bookkeeping, not sampling; `samplers.rs`
//! measures them natively.

// A benchmark aborting on a broken setup is the right outcome.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use divan::counter::{BytesCount, ItemsCount};
use divan::Bencher;
use dp_audit::keys::KeyRing;
use dp_audit::policy::Policy;
use dp_audit::scrubber::Scrubber;
use dp_audit_corpus::{k8s_audit, K8sConfig};
use dp_audit_harness::artifact::{load_fluent_bit_artifact, ArtifactHost, DEFAULT_TAG};
use dp_audit_harness::fluent_bit::{Outcome, RecordTime};

/// A fixed test key (HMAC pseudonyms need one; its value does not matter here).
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Policies measured, by name.
const POLICIES: &[&str] = &["keep", "drop", "k8s-audit"];

fn policy_json(name: &str) -> &'static str {
    match name {
        "keep" => r#"{"default_action":"keep"}"#,
        "drop" => r#"{"default_action":"drop"}"#,
        "k8s-audit" => r#"{"preset":"k8s-audit"}"#,
        other => panic!("unknown bench policy {other}"),
    }
}

/// Events measured per pass of the table.
const EVENTS: usize = 2000;

fn events() -> Vec<String> {
    let cfg = K8sConfig {
        events: EVENTS,
        pii_rate: 0.05,
        seed: 1,
        ..K8sConfig::default()
    };
    k8s_audit(&cfg).lines
}

fn native_scrubber(policy: &str) -> Scrubber {
    let policy = Policy::from_json(policy_json(policy)).expect("bench policy");
    let ring = KeyRing::parse(KEY, "bench").expect("bench key");
    Scrubber::new(&policy, Some(&ring)).expect("scrubber")
}

fn wasm_host(policy: &str, fuel: bool) -> ArtifactHost {
    let mut host = load_fluent_bit_artifact(policy_json(policy).as_bytes(), KEY.as_bytes(), |c| {
        c.fuel = fuel;
        // Large enough for every generated event.
        c.wasm_heap_size = 4 << 20;
    })
    .expect("load dist/dp_audit_fluent_bit.wasm (run `make dist`)");
    // The first call loads the policy and key: keep it out of the numbers.
    let report = host.host.process(DEFAULT_TAG, RecordTime::now(), "{}");
    assert!(
        matches!(report.outcome, Outcome::Emitted(_)),
        "warm-up record: {:?}",
        report.outcome
    );
    host
}

/// Events per second of `run` over all events, best of `passes` passes.
fn rate(events: &[String], passes: usize, mut run: impl FnMut(&str)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..passes {
        let t = Instant::now();
        for e in events {
            run(e);
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    events.len() as f64 / best
}

fn print_table(events: &[String]) {
    let bytes: usize = events.iter().map(String::len).sum();
    println!(
        "\nK8s audit events: {} events, {:.0} bytes each on average",
        events.len(),
        bytes as f64 / events.len() as f64
    );
    println!(
        "| policy | events/s native | events/s wasm (module call) | native/wasm | \
         events/s wasm (whole filter call) | fuel/event | fuel/byte |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &name in POLICIES {
        let mut scrubber = native_scrubber(name);
        let mut out = Vec::new();
        let native = rate(events, 5, |e| {
            scrubber
                .scrub(e.as_bytes(), &mut out)
                .expect("native scrub");
        });
        let mut host = wasm_host(name, false);
        // Two rates from the same passes (best of 3): the module call alone
        // (what the native scrubber does), and the whole emulated filter call
        // (the host's copy into the app heap and its parse of the result too).
        let (mut best_call, mut best_whole) = (f64::MAX, f64::MAX);
        for _ in 0..3 {
            let mut in_calls = Duration::ZERO;
            let t = Instant::now();
            for e in events {
                let report = host.host.process(DEFAULT_TAG, RecordTime::now(), e);
                match &report.outcome {
                    Outcome::Emitted(_) => {}
                    other => panic!("{name}: unexpected outcome {other:?}"),
                }
                in_calls += report.call_time;
            }
            best_whole = best_whole.min(t.elapsed().as_secs_f64());
            best_call = best_call.min(in_calls.as_secs_f64());
        }
        let wasm = events.len() as f64 / best_call;
        let whole = events.len() as f64 / best_whole;
        let mut metered = wasm_host(name, true);
        let mut fuel: u64 = 0;
        for e in events {
            fuel += metered
                .host
                .process(DEFAULT_TAG, RecordTime::now(), e)
                .fuel
                .expect("fuel on");
        }
        let per_event = fuel as f64 / events.len() as f64;
        println!(
            "| {name} | {native:.0} | {wasm:.0} | {:.2} | {whole:.0} | {per_event:.0} | {:.1} |",
            native / wasm,
            fuel as f64 / bytes as f64
        );
    }
    println!();
}

fn main() {
    let events = events();
    print_table(&events);
    divan::main();
}

#[divan::bench(args = POLICIES)]
fn native(bencher: Bencher, policy: &str) {
    let events = events();
    let mut scrubber = native_scrubber(policy);
    let mut out = Vec::new();
    let mut next = events.iter().cycle();
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        let e = next.next().expect("cycle");
        scrubber
            .scrub(e.as_bytes(), &mut out)
            .expect("native scrub");
        out.len()
    });
}

#[divan::bench(args = POLICIES)]
fn wasm(bencher: Bencher, policy: &str) {
    let events = events();
    let mut host = wasm_host(policy, false);
    let mut next = events.iter().cycle();
    bencher.counter(ItemsCount::new(1usize)).bench_local(|| {
        let e = next.next().expect("cycle");
        host.host
            .process(DEFAULT_TAG, RecordTime::now(), e)
            .record_ptr
    });
}

/// Throughput in bytes, for comparison with the host's own JSON costs.
#[divan::bench]
fn native_bytes_k8s_audit(bencher: Bencher) {
    let events = events();
    let mut scrubber = native_scrubber("k8s-audit");
    let mut out = Vec::new();
    let mut next = events.iter().cycle();
    bencher
        .with_inputs(|| next.next().expect("cycle").clone())
        .input_counter(|e: &String| BytesCount::new(e.len()))
        .bench_local_refs(|e| {
            scrubber
                .scrub(e.as_bytes(), &mut out)
                .expect("native scrub");
        });
}
