//! The Envoy artifact (`dist/dp_audit_envoy.wasm`, `make dist`) in the harness's
//! proxy-wasm host: several worker VMs and the singleton in one emulated Envoy
//! process, on a virtual clock (windows close in microseconds, not minutes).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use dp_audit_harness::proxy_wasm::host::{PluginConfig, ProxyWasmEnv, RequestInfo, VmId};
use dp_audit_harness::proxy_wasm::real_envoy::{envoy_artifact, TEST_KEY_HEX};
use serde_json::Value;
use std::time::Duration;

/// 2026-01-01T00:00:00Z plus 5 s.
const START_NS: i64 = 1_767_225_605_000_000_000;

fn env(fuel: bool) -> ProxyWasmEnv {
    let path = envoy_artifact().unwrap_or_else(|e| panic!("{e}"));
    ProxyWasmEnv::new(&std::fs::read(path).unwrap(), START_NS, fuel).unwrap()
}

fn plugin(root_id: &str, policy: &str) -> PluginConfig {
    PluginConfig {
        name: root_id.into(),
        root_id: root_id.into(),
        vm_id: "dp_audit".into(),
        configuration: policy.into(),
        env: vec![("DP_AUDIT_KEY".into(), TEST_KEY_HEX.into())],
    }
}

fn start(env: &mut ProxyWasmEnv, root_id: &str, policy: &str) -> VmId {
    let (id, ok) = env.start_vm(plugin(root_id, policy)).unwrap();
    assert!(ok, "configure failed: {:?}", env.logs());
    id
}

fn request(method: &str, user: &str, status: i64) -> RequestInfo {
    RequestInfo::default()
        .header(":method", method)
        .header(":path", "/items?email=alice.smith@example.com")
        .header(":authority", "svc")
        .header("x-user-id", user)
        .int_property("response.code", status)
        .int_property("request.duration", 1_000_000)
        .str_property("source.address", "198.51.100.23:4242")
}

/// Records (JSON lines) a plugin logged.
fn records(env: &ProxyWasmEnv, plugin: &str) -> Vec<Value> {
    env.logs()
        .iter()
        .filter(|l| l.plugin == plugin)
        .flat_map(|l| {
            // A batch of records is one log call: a line each.
            l.message
                .lines()
                .filter(|x| x.starts_with('{'))
                .map(|x| serde_json::from_str(x).unwrap())
                .collect::<Vec<Value>>()
        })
        .collect()
}

/// Event-level counts with a huge epsilon: the noise is zero with
/// probability 1 - 2e^-300, so released values are exact counts.
const EXACT_POLICY: &str = r#"{
  "preset": "envoy-access",
  "sink": {"aggregator": {"batch_events": 4}},
  "aggregate": {
    "window": "10s", "allowed_lateness": "2s",
    "privacy_unit": {"type": "event"},
    "budget": {"period": "1d", "epsilon": 1000, "delta": 0, "ledger_key": "h/ledger"},
    "releases": [{"name": "by_method_status", "kind": "count", "mechanism": "laplace", "epsilon": 300,
      "group_by": [{"field": "method"}, {"field": "response_code", "as": "status_class", "bucket": "status_class"}],
      "domains": {"method": ["GET", "POST"], "status_class": ["2xx", "4xx"]}}]
  }
}"#;

fn value(releases: &[Value], window_start: &str, method: &str, class: &str) -> i64 {
    releases
        .iter()
        .find(|r| {
            r["window_start"] == window_start
                && r["group"]["method"] == method
                && r["group"]["status_class"] == class
        })
        .unwrap_or_else(|| panic!("no release for {window_start} {method} {class}: {releases:?}"))
        ["value"]
        .as_i64()
        .unwrap()
}

#[test]
fn workers_feed_the_singleton_and_counts_are_exact_across_workers() {
    let mut env = env(false);
    let agg = start(&mut env, "dp_audit_aggregator", EXACT_POLICY);
    let w1 = start(&mut env, "dp_audit", EXACT_POLICY);
    let w2 = start(&mut env, "dp_audit", EXACT_POLICY);
    // Window [00:00:00, 00:00:10): 7 GET 2xx on w1, 3 POST 4xx on w2, 5 GET 4xx split.
    for i in 0..7 {
        env.log_request(w1, request("GET", &format!("u{i}"), 200))
            .unwrap();
    }
    for i in 0..3 {
        env.log_request(w2, request("POST", &format!("v{i}"), 404))
            .unwrap();
    }
    for i in 0..5 {
        env.log_request(if i % 2 == 0 { w1 } else { w2 }, request("GET", "w", 403))
            .unwrap();
    }
    // Events go out in batches of 4 and on each 1 s tick; the window closes
    // at 00:00:12 (end + lateness) on the singleton's tick.
    env.advance(Duration::from_secs(8)).unwrap();
    let releases: Vec<Value> = records(&env, "dp_audit_aggregator")
        .into_iter()
        .filter(|r| r.get("dp_release").is_some())
        .collect();
    let w = "2026-01-01T00:00:00Z";
    assert_eq!(value(&releases, w, "GET", "2xx"), 7);
    assert_eq!(value(&releases, w, "GET", "4xx"), 5);
    assert_eq!(value(&releases, w, "POST", "4xx"), 3);
    assert_eq!(value(&releases, w, "POST", "2xx"), 0);
    assert_eq!(env.metric("dp_audit_events_sent"), Some(15));
    assert_eq!(env.metric("dp_audit_events_ingested"), Some(15));
    assert_eq!(env.metric("dp_audit_records_scrubbed"), Some(15));
    assert_eq!(
        env.metric("dp_audit_release.by_method_status.method.GET.status_class.2xx"),
        Some(7)
    );
    // Scrubbed records: nothing planted survives.
    let logged = records(&env, "dp_audit");
    assert_eq!(logged.len(), 15);
    let text = serde_json::to_string(&logged).unwrap();
    for planted in ["alice.smith@example.com", "198.51.100.23", "4242", "\"u3\""] {
        assert!(!text.contains(planted), "{planted}");
    }
    assert!(!env.failed(agg) && !env.failed(w1) && !env.failed(w2));
}

#[test]
fn ledger_and_open_windows_survive_a_plugin_reload() {
    let policy = EXACT_POLICY.replace("\"epsilon\": 1000", "\"epsilon\": 1000.5");
    let mut env = env(false);
    let agg = start(&mut env, "dp_audit_aggregator", &policy);
    let w1 = start(&mut env, "dp_audit", &policy);
    for i in 0..4 {
        env.log_request(w1, request("GET", &format!("u{i}"), 200))
            .unwrap();
    }
    env.advance(Duration::from_secs(8)).unwrap(); // window 0 closes: 300 spent
    for i in 0..6 {
        env.log_request(w1, request("POST", &format!("u{i}"), 200))
            .unwrap();
    }
    env.advance(Duration::from_secs(1)).unwrap(); // events reach the singleton
                                                  // A configuration update: the old VM ends, a new one takes over the same vm_id.
    env.stop_vm(agg).unwrap();
    let agg2 = start(&mut env, "dp_audit_aggregator", &policy);
    env.advance(Duration::from_secs(10)).unwrap(); // window 1 closes in the new VM
    let recs = records(&env, "dp_audit_aggregator");
    let releases: Vec<Value> = recs
        .iter()
        .filter(|r| r.get("dp_release").is_some())
        .cloned()
        .collect();
    assert_eq!(value(&releases, "2026-01-01T00:00:00Z", "GET", "2xx"), 4);
    // The events of the open window, ingested by the old VM, were restored.
    assert_eq!(value(&releases, "2026-01-01T00:00:10Z", "POST", "2xx"), 6);
    // The ledger carried over: 1000.5 - 2 x 300, not a fresh budget.
    let last = releases.last().unwrap();
    assert_eq!(last["budget_remaining"]["epsilon"], "400.5", "{last}");
    env.advance(Duration::from_secs(20)).unwrap(); // windows 2 and 3: one paid, one refused
    assert_eq!(
        env.metric("dp_audit_budget_remaining_nano_epsilon"),
        Some(100_500_000_000)
    );
    assert!(env.metric("dp_audit_releases_suppressed_budget").unwrap() >= 1);
    let exhausted = records(&env, "dp_audit_aggregator")
        .into_iter()
        .filter(|r| r.get("dp_budget_exhausted").is_some())
        .count();
    assert!(exhausted >= 1);
    assert!(env.shared_data("dp_audit", "h/ledger").is_some());
    assert!(!env.failed(agg2));
}

#[test]
fn hostile_header_bytes_and_missing_properties_never_trap() {
    let mut env = env(false);
    let w = start(
        &mut env,
        "dp_audit",
        r#"{"preset": "envoy-access", "sink": {"record": {"request_headers": ["x-note"]}}}"#,
    );
    let req = RequestInfo::default()
        .header(":method", b"G\xffT")
        .header(
            ":path",
            b"/\xfe\xff?token=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
        )
        .header("x-note", vec![b'x'; 100_000])
        .header("x-user-id", b"\xc3(");
    env.log_request(w, req).unwrap();
    env.log_request(w, RequestInfo::default()).unwrap();
    env.advance(Duration::from_secs(1)).unwrap();
    assert!(!env.failed(w), "{:?}", env.logs());
    let recs = records(&env, "dp_audit");
    assert_eq!(recs.len(), 2);
    assert!(!serde_json::to_string(&recs)
        .unwrap()
        .contains("ghp_0123456789"));
}

/// A record of seven or more attributes reads them through one CEL list
/// evaluation when the host has Envoy's CEL functions, else through one
/// `get_property` each: the records are the same, and a request without one
/// of the attributes (the list then fails as a whole) still gets the others.
#[test]
fn attributes_read_through_cel_or_one_by_one_give_the_same_records() {
    let policy = r#"{"preset": "envoy-access", "sink": {"record": {"properties": ["response_code", "duration", "downstream_remote_address", "upstream_host", "protocol", "bytes_sent", "bytes_received"]}}}"#;
    let run = |cel: bool| {
        let mut env = env(false);
        env.set_cel(cel);
        let w = start(&mut env, "dp_audit", policy);
        let reads = env.property_reads(w);
        env.log_request(
            w,
            request("GET", "alice", 503).str_property("upstream.address", "10.1.2.3:8080"),
        )
        .unwrap();
        env.log_request(w, request("POST", "bob", 201)).unwrap();
        assert!(!env.failed(w), "{:?}", env.logs());
        // Records wait in the log batch for at most a tick.
        assert!(records(&env, "dp_audit").is_empty());
        env.advance(Duration::from_secs(1)).unwrap();
        // One expr_evaluate per request, or one get_property per attribute.
        let per_request = if cel { 0 } else { 7 * 2 };
        assert_eq!(env.property_reads(w) - reads, per_request);
        let cel_note = env
            .logs()
            .iter()
            .any(|l| l.message.contains("cannot evaluate CEL"));
        assert_eq!(cel_note, !cel, "{:?}", env.logs());
        records(&env, "dp_audit")
    };
    let (with_cel, without) = (run(true), run(false));
    assert_eq!(with_cel.len(), 2);
    let strip_time = |r: &Value| {
        let mut r = r.clone();
        r.as_object_mut().unwrap().remove("start_time");
        r
    };
    for (a, b) in with_cel.iter().zip(&without) {
        assert_eq!(strip_time(a), strip_time(b));
    }
    assert_eq!(with_cel[0]["response_code"], 503);
    assert_eq!(with_cel[0]["duration"], 1);
    assert!(with_cel[0]["upstream_host"].is_string(), "{}", with_cel[0]);
    assert_eq!(with_cel[1]["response_code"], 201);
    assert!(
        with_cel[1].get("upstream_host").is_none(),
        "{}",
        with_cel[1]
    );
    assert!(with_cel[1]["downstream_remote_address"].is_string());
}

/// The default record (three attributes) reads them with one `get_property`
/// each even where CEL is available: below seven attributes that is cheaper
/// on Envoy than one list evaluation.
#[test]
fn few_attributes_are_read_one_by_one_even_with_cel() {
    let mut env = env(false);
    env.set_cel(true);
    let w = start(&mut env, "dp_audit", r#"{"preset": "envoy-access"}"#);
    let reads = env.property_reads(w);
    env.log_request(w, request("GET", "alice", 200)).unwrap();
    assert!(!env.failed(w), "{:?}", env.logs());
    assert_eq!(env.property_reads(w) - reads, 3);
    env.advance(Duration::from_secs(1)).unwrap();
    let recs = records(&env, "dp_audit");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["response_code"], 200);
}

#[test]
fn bad_configuration_is_refused_with_a_clear_line() {
    let mut env = env(false);
    let mut p = plugin("dp_audit", r#"{"preset": "envoy-access"}"#);
    p.env.clear();
    let (_, ok) = env.start_vm(p).unwrap();
    assert!(!ok);
    let (_, ok) = env
        .start_vm(plugin(
            "dp_audit_aggregator",
            r#"{"preset": "envoy-access"}"#,
        ))
        .unwrap();
    assert!(!ok);
    let lines: Vec<String> = env.logs().into_iter().map(|l| l.message).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("configuration rejected: DP_AUDIT_KEY: not set")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("configuration rejected") && l.contains("aggregate")),
        "{lines:?}"
    );
}

/// The request `envoy/bench.sh` sends, as the logger sees it.
fn bench_request(path: &str, i: u32) -> RequestInfo {
    RequestInfo::default()
        .header(":authority", "127.0.0.1:18080")
        .header(":path", path)
        .header(":method", "GET")
        .header("x-user-id", "alice@example.com")
        .header("x-forwarded-for", "203.0.113.77")
        .header("user-agent", "bench/1.0")
        .header(
            "x-request-id",
            format!("6ff7ae47-8b9b-4d2b-a2a5-6b4a3b1e{i:04}"),
        )
        .int_property("response.code", 200)
        .int_property("request.duration", 1_000_000)
        .str_property("source.address", "127.0.0.1:5555")
}

/// Wasm instructions per request (the part of the cost that is the module's
/// own work; host calls are not counted). Printed for the bench notes.
#[test]
fn instructions_per_request() {
    let policies = [
        ("envoy-access", r#"{"preset": "envoy-access"}"#),
        ("keep-all", r#"{"default_action": "keep"}"#),
    ];
    for (name, policy) in policies {
        for path in [
            "/api/v1/items?id=42&email=bob@example.org",
            "/api/v1/items?id=42",
        ] {
            let mut env = env(true);
            let w = start(&mut env, "dp_audit", policy);
            let mut fuel = Vec::new();
            for i in 0..21 {
                env.log_request(w, bench_request(path, i)).unwrap();
                fuel.push(env.last_call_fuel().unwrap());
            }
            fuel.sort_unstable();
            let median = fuel[fuel.len() / 2];
            eprintln!("on_log, policy {name}, path {path}: median {median} wasm instructions");
            assert!(median > 1_000 && median < 5_000_000, "{median}");
        }
    }
}

/// Where `on_log`'s instructions go, for the bench notes: run with
/// `cargo test -p dp-audit-harness --test proxy_wasm_host -- --ignored --nocapture profile`.
/// Fuel is deterministic: a fresh VM warmed up the same way and stopped after
/// k/(N+1) of a request's instructions traps at the instruction executing
/// then; N such stops give each function's share.
#[test]
#[ignore]
fn on_log_instruction_profile() {
    let policy = r#"{"preset": "envoy-access"}"#;
    let req = |i: u32| bench_request("/api/v1/items?id=42&email=bob@example.org", i);
    let mut env = env(true);
    let warm = |env: &mut ProxyWasmEnv| {
        let w = start(env, "dp_audit", policy);
        for i in 0..20 {
            env.log_request(w, req(i)).unwrap();
        }
        w
    };
    let w = warm(&mut env);
    env.log_request(w, req(20)).unwrap();
    let total = env.last_call_fuel().unwrap();
    let samples = 150u64;
    let mut own = std::collections::BTreeMap::<String, u32>::new();
    for k in 1..=samples {
        let w = warm(&mut env);
        env.set_fuel_limit(Some(total * k / (samples + 1)));
        env.log_request(w, req(20)).unwrap();
        env.set_fuel_limit(None);
        if let Some(top) = env.last_trap().and_then(|f| f.first()) {
            *own.entry(top.clone()).or_default() += 1;
        }
    }
    let mut rows: Vec<_> = own.into_iter().collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.1));
    eprintln!("on_log: {total} wasm instructions; self share over {samples} stops:");
    for (name, n) in rows {
        eprintln!("{:5.1}%  {name}", f64::from(n) * 100.0 / samples as f64);
    }
}
