//! The Envoy artifact (`dist/dp_audit_envoy.wasm`, `make dist`) in the real Envoy
//! (`.venv/bin/envoy`, `make setup-envoy`) on loopback. Every Envoy started here is
//! a child of the test process, killed and reaped when its guard drops.
//!
//! Run: `cargo test -p dp-audit-harness --test envoy_real` (about a minute).

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use dp_audit_harness::artifact::repo_root;
use dp_audit_harness::proxy_wasm::real_envoy::{
    http_get, http_raw, http_request, validate, Cluster, Collector, Envoy, EnvoyOptions, Started,
    AGGREGATOR_ROOT_ID, LOGGER_ROOT_ID, TEST_KEY_HEX,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

fn running(opts: &EnvoyOptions) -> Envoy {
    Envoy::running(opts).unwrap_or_else(|e| panic!("{e}"))
}

/// Record fields: every property the logger can read, and several headers.
const LOGGER_POLICY: &str = r#"{
  "preset": "envoy-access",
  "sink": {"type": "log", "record": {
    "properties": ["start_time", "response_code", "response_flags", "protocol", "bytes_received",
                   "bytes_sent", "duration", "upstream_host", "downstream_remote_address"],
    "user_headers": ["x-user-id"], "user_jwt_claim": "sub",
    "request_headers": ["referer", "cookie", "x-api-key", "authorization", "x-note"]}}
}"#;

// {"alg":"none"} . {"sub":"dave.doe@example.com"} . sig
const JWT: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJkYXZlLmRvZUBleGFtcGxlLmNvbSJ9.c2ln";
const GITHUB_TOKEN: &str = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";

/// Values planted in requests that must never appear in Envoy's log.
const PLANTED: &[&str] = &[
    "alice.smith@example.com",
    "bob.jones@example.org",
    GITHUB_TOKEN,
    "carol-7731",
    "dave.doe@example.com",
    "s3cr3tcookie",
    "erin@example.net",
    "203.0.113.77",
    "198.51.100.23",
    "AKIAIOSFODNN7EXAMPLE",
];

fn assert_nothing_planted(log: &str) {
    for p in PLANTED {
        assert!(!log.contains(p), "planted value {p:?} reached Envoy's log");
    }
}

#[test]
fn scrubs_planted_pii_and_keeps_serving_hostile_requests() {
    let mut opts = EnvoyOptions::new(LOGGER_POLICY);
    opts.concurrency = 2;
    let mut envoy = running(&opts);
    let port = envoy.listener;
    let path = format!(
        "/users/alice.smith@example.com/profile?token={GITHUB_TOKEN}&email=bob.jones@example.org"
    );
    let bearer = format!("Bearer {JWT}");
    let requests: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "GET",
            vec![
                ("x-user-id", "carol-7731"),
                ("x-forwarded-for", "203.0.113.77"),
            ],
        ),
        (
            "POST",
            vec![
                ("authorization", &bearer),
                ("cookie", "session=s3cr3tcookie"),
            ],
        ),
        (
            "PUT",
            vec![("referer", "https://shop.example/?email=erin@example.net")],
        ),
        (
            "DELETE",
            vec![
                ("x-api-key", "AKIAIOSFODNN7EXAMPLE"),
                ("host", "198.51.100.23:8080"),
            ],
        ),
    ];
    for (method, headers) in &requests {
        assert_eq!(http_request(port, method, &path, headers).unwrap(), 200);
    }
    // Hostile input: invalid UTF-8 in a header value and in the path, a header
    // line without a colon, a huge header (below and above Envoy's 60 KiB
    // limit), a garbage request line, many headers.
    let big = "x".repeat(50 * 1024);
    let too_big = "y".repeat(70 * 1024);
    let many: String = (0..90).map(|i| format!("x-h{i}: v{i}\r\n")).collect();
    let hostile: Vec<Vec<u8>> = vec![
        b"GET /ok HTTP/1.1\r\nhost: a\r\nx-note: \xff\xfe\xc3(alice.smith@example.com\r\nconnection: close\r\n\r\n".to_vec(),
        b"GET /p\xff\xfe?e=alice.smith@example.com HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nhost: a\r\nthis line has no colon\r\nconnection: close\r\n\r\n".to_vec(),
        format!("GET / HTTP/1.1\r\nhost: a\r\nx-note: {big}\r\nconnection: close\r\n\r\n").into_bytes(),
        format!("GET / HTTP/1.1\r\nhost: a\r\nx-note: {too_big}\r\nconnection: close\r\n\r\n").into_bytes(),
        b"\x00\x01garbage \xff\r\n\r\n".to_vec(),
        format!("GET / HTTP/1.1\r\nhost: a\r\n{many}connection: close\r\n\r\n").into_bytes(),
    ];
    for raw in &hostile {
        // Envoy may answer 400/431 or close: either way it must go on serving.
        let _ = http_raw(port, raw);
    }
    assert_eq!(http_get(port, "/still-serving").unwrap().0, 200);
    assert!(envoy.alive());

    let expected_min = requests.len() + 2; // the well-formed ones at least
    assert!(
        envoy.wait_for(Duration::from_secs(10), |e| e
            .plugin_records(LOGGER_ROOT_ID)
            .len()
            >= expected_min),
        "records missing; log:\n{}",
        envoy.log()
    );
    // Let the hostile requests' records (if Envoy logs them) arrive too.
    std::thread::sleep(Duration::from_millis(1500));
    let lines = envoy.plugin_records(LOGGER_ROOT_ID);
    let log = envoy.log();
    assert_nothing_planted(&log);
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    for r in &records {
        assert!(r.get("dp_audit_error").is_none(), "a record failed: {r}");
        assert!(r["start_time"].is_string());
    }
    let by_method: BTreeMap<&str, &Value> = records
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/users/")))
        .filter_map(|r| Some((r["method"].as_str()?, r)))
        .collect();
    assert_eq!(by_method.len(), 4, "{records:?}");
    let get = by_method["GET"];
    assert_eq!(get["response_code"], 200);
    assert_eq!(get["x_forwarded_for"], "203.0.113.0");
    assert!(get["user"].as_str().unwrap().starts_with("pk1:"), "{get}");
    assert!(
        get["path"]
            .as_str()
            .unwrap()
            .contains("[REDACTED:secret_param]"),
        "{get}"
    );
    assert_eq!(get["protocol"], "HTTP/1.1");
    assert!(get["bytes_sent"].as_i64().is_some_and(|n| n > 0), "{get}");
    assert!(get["downstream_remote_address"].is_string(), "{get}");
    // A direct response has no upstream: no field, and the attributes still
    // came in one CEL evaluation per request (Envoy 1.40 registers the CEL
    // foreign functions), never given up for one property read each.
    assert!(get.get("upstream_host").is_none(), "{get}");
    assert!(
        !log.contains("cannot evaluate CEL") && !log.contains("CEL attribute list failed"),
        "{log}"
    );
    let post = by_method["POST"];
    assert!(
        post["user"].as_str().unwrap().starts_with("pk1:"),
        "user from the JWT claim: {post}"
    );
    assert_eq!(
        post["request_headers"]["authorization"],
        "[REDACTED:credential]"
    );
    assert_eq!(post["request_headers"]["cookie"], "[REDACTED:cookie]");
    assert_eq!(
        by_method["DELETE"]["request_headers"]["x-api-key"],
        "[REDACTED:credential]"
    );
    // Counters reach Envoy's stats on the next tick.
    assert!(envoy.wait_for(Duration::from_secs(5), |e| e
        .stat("wasmcustom.dp_audit_records_scrubbed")
        == Some(records.len() as u64)));
    assert_eq!(envoy.stat("wasmcustom.dp_audit_records_failed"), Some(0));
    assert!(
        !log.contains("Function: proxy_on_log failed"),
        "a VM trapped:\n{log}"
    );
    assert!(!log.contains("panicked"), "a VM panicked:\n{log}");
}

const DP_POLICY: &str = r#"{
  "preset": "envoy-access",
  "aggregate": {
    "window": "1s", "allowed_lateness": "3s",
    "privacy_unit": {"type": "user", "field": "user"},
    "bounds": {"max_groups_per_unit": 2, "max_contributions_per_group": 5},
    "budget": {"period": "1d", "epsilon": 1.0, "delta": 0, "ledger_key": "test/ledger"},
    "releases": [{"name": "by_method_status", "kind": "count", "mechanism": "laplace", "epsilon": 0.3,
      "group_by": [{"field": "method"}, {"field": "response_code", "as": "status_class", "bucket": "status_class"}],
      "domains": {"method": ["GET", "POST"], "status_class": ["2xx", "4xx", "5xx", "other"]}}]
  }
}"#;

#[test]
fn dp_releases_across_workers_spend_the_shared_ledger_exactly() {
    let mut opts = EnvoyOptions::new(DP_POLICY);
    opts.concurrency = 2;
    opts.singleton = true;
    let envoy = running(&opts);
    let port = envoy.listener;
    // Several clients at once, so both workers log and send events concurrently.
    let sent: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                s.spawn(move || {
                    let mut n = 0;
                    let start = std::time::Instant::now();
                    while start.elapsed() < Duration::from_secs(5) {
                        let user = format!("user-{t}-{}", n % 7);
                        let method = if n % 3 == 0 { "POST" } else { "GET" };
                        if http_request(port, method, "/x", &[("x-user-id", &user)]) == Ok(200) {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(sent > 20, "only {sent} requests went through");
    // 1.0 / 0.3: three windows are paid for, the fourth is refused.
    assert!(
        envoy.wait_for(Duration::from_secs(20), |e| e
            .stat("wasmcustom.dp_audit_releases_suppressed_budget")
            .is_some_and(|n| n > 0)),
        "no budget exhaustion; log:\n{}",
        envoy.log()
    );
    let lines = envoy.plugin_records(AGGREGATOR_ROOT_ID);
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let releases: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("dp_release").is_some())
        .collect();
    let mut windows: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &releases {
        assert_eq!(r["dp_release"], "by_method_status");
        assert_eq!(r["mechanism"], "laplace");
        assert_eq!(r["epsilon"], "0.3");
        assert_eq!(r["privacy_unit"], "user");
        let start = dp_audit::time::parse_rfc3339(r["window_start"].as_str().unwrap())
            .unwrap()
            .0;
        let end = dp_audit::time::parse_rfc3339(r["window_end"].as_str().unwrap())
            .unwrap()
            .0;
        assert_eq!(end - start, 1, "{r}");
        assert!(["GET", "POST"].contains(&r["group"]["method"].as_str().unwrap()));
        assert!(r["value"].as_i64().unwrap() >= 0);
        windows
            .entry(r["window_start"].as_str().unwrap().to_string())
            .or_default()
            .push(r);
    }
    // Every paid window is released in full (2 methods x 4 classes), and no
    // more windows than the budget pays for.
    assert_eq!(windows.len(), 3, "windows released: {:?}", windows.keys());
    for (w, rs) in &windows {
        assert_eq!(rs.len(), 8, "window {w}");
    }
    let remaining: Vec<f64> = releases
        .iter()
        .map(|r| {
            r["budget_remaining"]["epsilon"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(remaining.iter().all(|e| *e >= 0.0));
    assert!(
        (remaining.last().unwrap() - 0.1).abs() < 1e-9,
        "{remaining:?}"
    );
    let exhausted: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("dp_budget_exhausted").is_some())
        .collect();
    assert!(!exhausted.is_empty());
    assert_eq!(exhausted[0]["dp_budget_exhausted"], "by_method_status");
    // The ledger in shared data holds exactly three spends: 0.1 left.
    assert_eq!(
        envoy.stat("wasmcustom.dp_audit_budget_remaining_nano_epsilon"),
        Some(100_000_000)
    );
    assert!(envoy.log().contains("privacy budget exhausted"));
    // Stats: the released gauges, and events from both workers all arrived.
    let (_, prom) = http_get(envoy.admin, "/stats/prometheus").unwrap();
    assert!(
        prom.contains("dp_audit_release_by_method_status_method_GET_status_class_2xx"),
        "{prom}"
    );
    // Every request was scrubbed once, and each one's event reached the singleton.
    assert!(
        envoy.wait_for(Duration::from_secs(5), |e| {
            let scrubbed = e.stat("wasmcustom.dp_audit_records_scrubbed");
            scrubbed.is_some_and(|n| n >= sent as u64)
                && e.stat("wasmcustom.dp_audit_events_sent") == scrubbed
                && e.stat("wasmcustom.dp_audit_events_ingested") == scrubbed
        }),
        "scrubbed {:?}, sent {:?}, ingested {:?}",
        envoy.stat("wasmcustom.dp_audit_records_scrubbed"),
        envoy.stat("wasmcustom.dp_audit_events_sent"),
        envoy.stat("wasmcustom.dp_audit_events_ingested")
    );
    assert_eq!(envoy.stat("wasmcustom.dp_audit_events_dropped"), Some(0));
    assert_nothing_planted(&envoy.log());
}

fn expect_rejected(opts: &EnvoyOptions, expected: &[&str]) {
    match Envoy::start(opts).unwrap() {
        Started::Running(e) => panic!("Envoy accepted the configuration; log:\n{}", e.log()),
        Started::Exited { code, log } => {
            assert_eq!(code, Some(1), "{log}");
            let line = log
                .lines()
                .find(|l| l.contains("dp-audit: configuration rejected: "))
                .unwrap_or_else(|| panic!("no rejection line:\n{log}"));
            for e in expected {
                assert!(line.contains(e), "{e:?} not in {line:?}");
            }
            assert!(!log.contains("\"method\""), "a record was logged:\n{log}");
        }
    }
}

#[test]
fn invalid_policy_or_key_makes_envoy_refuse_the_configuration() {
    let mut opts = EnvoyOptions::new(r#"{"preset": "no-such-preset"}"#);
    expect_rejected(&opts, &["preset", "unknown preset"]);
    opts.policy = r#"{"preset": "envoy-access", "sink": {"type": "kafka"}}"#.into();
    expect_rejected(&opts, &["sink.type"]);
    opts.policy = LOGGER_POLICY.into();
    opts.key = None;
    expect_rejected(&opts, &["DP_AUDIT_KEY", "not set"]);
    opts.key = Some("c0ffee".into());
    expect_rejected(&opts, &["DP_AUDIT_KEY", "at least"]);
    // The singleton refuses a policy without an aggregate section.
    opts.key = Some(TEST_KEY_HEX.into());
    opts.singleton = true;
    expect_rejected(&opts, &["aggregate"]);
}

#[test]
fn example_configs_validate() {
    for cfg in ["envoy/envoy.yaml", "envoy/envoy-http-sink.yaml"] {
        let path = repo_root().join(cfg);
        let (ok, out) = validate(&path, Some(TEST_KEY_HEX)).unwrap();
        assert!(ok, "{cfg} rejected:\n{out}");
        // Validation runs the plugin's configure: without the key it fails.
        let (ok, out) = validate(&path, None).unwrap();
        assert!(!ok, "{cfg} accepted without DP_AUDIT_KEY:\n{out}");
        assert!(out.contains("DP_AUDIT_KEY"), "{out}");
    }
}

#[test]
fn http_sink_batches_to_a_collector_and_retries_failures() {
    let collector = Collector::start(1).unwrap();
    let policy = r#"{"preset": "envoy-access",
      "sink": {"type": "http", "http": {"cluster": "collector", "path": "/ingest",
               "max_batch_records": 5, "flush_interval_ms": 200, "max_backoff_ms": 500}}}"#;
    let mut opts = EnvoyOptions::new(policy);
    opts.clusters = vec![Cluster {
        name: "collector".into(),
        port: collector.port,
    }];
    let envoy = running(&opts);
    let path = format!("/u/alice.smith@example.com?token={GITHUB_TOKEN}");
    for i in 0..12 {
        let ip = format!("203.0.113.{}", 70 + i % 8);
        assert_eq!(
            http_request(envoy.listener, "GET", &path, &[("x-forwarded-for", &ip)]).unwrap(),
            200
        );
    }
    let arrived = |c: &Collector| c.bodies().iter().map(|b| b.lines().count()).sum::<usize>();
    assert!(
        envoy.wait_for(Duration::from_secs(15), |_| arrived(&collector) >= 12),
        "{} of 12 records arrived after {} requests; log:\n{}",
        arrived(&collector),
        collector.answered(),
        envoy.log()
    );
    assert!(
        collector.answered() >= 4,
        "the failed batch was retried, in batches of at most 5"
    );
    let all: Vec<String> = collector
        .bodies()
        .iter()
        .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert_eq!(all.len(), 12, "each record exactly once");
    for line in &all {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["method"], "GET");
        assert_nothing_planted(line);
    }
    for b in collector.bodies() {
        assert!(b.lines().count() <= 5);
    }
    assert!(
        envoy.plugin_records(LOGGER_ROOT_ID).is_empty(),
        "the http sink does not also log records"
    );
    assert_nothing_planted(&envoy.log());
}

#[test]
fn runs_as_an_http_filter_as_istio_wasmplugin_does() {
    let mut opts = EnvoyOptions::new(LOGGER_POLICY);
    opts.access_log = dp_audit_harness::proxy_wasm::real_envoy::AccessLog::DpAuditHttpFilter;
    let envoy = running(&opts);
    let path = format!("/a/alice.smith@example.com?token={GITHUB_TOKEN}");
    assert_eq!(
        http_request(
            envoy.listener,
            "POST",
            &path,
            &[("x-user-id", "carol-7731")]
        )
        .unwrap(),
        200
    );
    assert!(
        envoy.wait_for(Duration::from_secs(10), |e| !e
            .plugin_records(LOGGER_ROOT_ID)
            .is_empty()),
        "{}",
        envoy.log()
    );
    let lines = envoy.plugin_records(LOGGER_ROOT_ID);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let r: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(r["method"], "POST");
    assert_eq!(r["response_code"], 200);
    assert!(r["user"].as_str().unwrap().starts_with("pk1:"));
    assert_nothing_planted(&envoy.log());
}
