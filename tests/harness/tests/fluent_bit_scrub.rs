//! The real Fluent Bit artifact (`dist/dp_audit_fluent_bit.wasm`, from `make dist`)
//! driven through the emulated filter: real samples and generated corpora with
//! planted PII, stability of pseudonyms, bad input, bad configuration, and the
//! `dp_aggregate` export with its ledger in the accessible directory.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use dp_audit::keys::KeyRing;
use dp_audit::policy::Policy;
use dp_audit::scrubber::Scrubber;
use dp_audit_corpus::{envoy_access, hostile, k8s_audit, EnvoyConfig, K8sConfig};
use dp_audit_harness::artifact::{
    fluent_bit_artifact, load_fluent_bit_artifact, process_line_timed, repo_root, run_lines,
    ArtifactHost, LineOutcome, DEFAULT_TAG,
};
use dp_audit_harness::fluent_bit::{FluentBitConfig, FluentBitHost, Outcome, RecordTime};
use serde_json::Value;

const KEY: &[u8] = b"4f1c2a9be03d57f6a8c1d2e3f40516273849aabbccddeeff0011223344556677\n";
const OTHER_KEY: &[u8] = b"ff1c2a9be03d57f6a8c1d2e3f40516273849aabbccddeeff0011223344556677\n";
const K8S: &[u8] = br#"{"preset":"k8s-audit"}"#;

fn load(policy: &[u8], key: &[u8]) -> ArtifactHost {
    load_fluent_bit_artifact(policy, key, |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

fn scrub_lines(art: &mut ArtifactHost, lines: &[String]) -> Vec<String> {
    run_lines(&mut art.host, DEFAULT_TAG, lines)
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let text = o
                .emitted()
                .unwrap_or_else(|| panic!("line {}: no record: {o:?}", i + 1));
            let v: Value =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
            assert!(
                v.is_object() && v.get("dp_audit_error").is_none(),
                "line {}: {text}",
                i + 1
            );
            text.to_owned()
        })
        .collect()
}

fn sample_lines() -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join("tests/data/k8s/sample.jsonl")).unwrap();
    text.lines().map(String::from).collect()
}

#[test]
fn wasm_output_equals_native_output_on_real_samples() {
    let lines = sample_lines();
    let mut art = load(K8S, KEY);
    let wasm = scrub_lines(&mut art, &lines);
    assert_native_output(K8S, &lines, &wasm);
}

/// `wasm` is, line for line, what the native scrubber makes of `lines`.
fn assert_native_output(policy: &[u8], lines: &[String], wasm: &[String]) {
    let policy = Policy::from_json(std::str::from_utf8(policy).unwrap()).unwrap();
    let ring = KeyRing::parse(std::str::from_utf8(KEY).unwrap(), "test").unwrap();
    let mut native = Scrubber::new(&policy, Some(&ring)).unwrap();
    assert_eq!(lines.len(), wasm.len());
    for (i, (line, w)) in lines.iter().zip(wasm).enumerate() {
        let mut out = Vec::new();
        native.scrub(line.as_bytes(), &mut out).unwrap();
        assert_eq!(w.as_bytes(), out.as_slice(), "line {}", i + 1);
    }
}

#[test]
fn generated_corpus_through_wasm_leaks_no_planted_value() {
    // At 64K: a high PII rate takes the deepest path (an e-mail
    // pseudonymized inside detected free text) often. The emulation's
    // 8192 is more pessimistic than WAMR for this module (README of the
    // harness): that case is the next test's.
    let corpus = k8s_audit(&K8sConfig {
        events: 3000,
        pii_rate: 0.5,
        seed: 23,
        ..K8sConfig::default()
    });
    let mut art = load_fluent_bit_artifact(K8S, KEY, |c| c.wasm_stack_size = 64_000)
        .unwrap_or_else(|e| panic!("{e}"));
    let out = scrub_lines(&mut art, &corpus.lines);
    assert_eq!(
        out.len(),
        corpus.lines.len(),
        "one record out per record in"
    );
    let all = out.join("\n");
    let leaked: Vec<_> = corpus
        .truth
        .planted
        .iter()
        .filter(|p| all.contains(&p.value))
        .map(|p| p.kind)
        .collect();
    assert!(
        leaked.is_empty(),
        "{} planted values survived: {leaked:?}",
        leaked.len()
    );
}

/// Records whose scrub goes deepest: detection in percent-encoded text
/// (here a digit run before an escape, scanned as a card number, and an
/// encoded e-mail pseudonymized inside a path), the allocator below. The
/// first is an ordinary kubelet watch request.
const DEEP_K8S: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0c9a2a9f-a6fb-40e2-9c37-0a7138768fc3","stage":"ResponseStarted","requestURI":"/api/v1/pods?fieldSelector=spec.nodeName%3Daks-nodepool1-97514212-vmss000000\u0026allowWatchBookmarks=true\u0026resourceVersion=62230169\u0026timeout=7m16s\u0026timeoutSeconds=494\u0026watch=true","verb":"watch","user":{"username":"system:node:aks-nodepool1-97514212-vmss000000","groups":["system:nodes","system:authenticated"]},"sourceIPs":["10.0.45.205"],"userAgent":"kubelet/v1.28.7 (linux/amd64) kubernetes/c8dcb00","objectRef":{"resource":"pods","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2024-06-03T08:00:01.976385Z","stageTimestamp":"2024-06-03T08:00:01.977358Z"}"#;
const DEEP_ACCESS: &[&str] = &[
    r#"{"method":"GET","path":"/oauth2/authorize?client_id=745350c7&response_type=code&scope=openid%20email","response_code":200}"#,
    r#"{"method":"GET","path":"/a?e=bob%40example.org","response_code":200}"#,
];

#[test]
fn deep_records_fail_closed_where_the_emulated_stack_is_too_small() {
    let mut access: Vec<String> = DEEP_ACCESS.iter().map(|s| s.to_string()).collect();
    let corpus = envoy_access(&EnvoyConfig {
        events: 4000,
        pii_rate: 0.3,
        seed: 5,
        ..EnvoyConfig::default()
    });
    access.extend(corpus.lines.iter().cloned());
    let cases: [(&[u8], Vec<String>); 2] = [
        (K8S, vec![DEEP_K8S.to_string()]),
        (br#"{"preset":"envoy-access"}"#, access),
    ];
    for (policy, lines) in &cases {
        // At 64K every record comes out, byte for byte the native
        // scrubber's.
        let mut roomy = load_fluent_bit_artifact(policy, KEY, |c| c.wasm_stack_size = 64_000)
            .unwrap_or_else(|e| panic!("{e}"));
        let out = scrub_lines(&mut roomy, lines);
        assert_native_output(policy, lines, &out);
        let all = out.join("\n");
        assert!(corpus.truth.planted.iter().all(|p| !all.contains(&p.value)));

        // At 8192 the emulation overflows on the deepest (WAMR 2.4.1 did
        // not; which ones depends on the build): each such record is
        // dropped, and one that comes out is exactly what the larger stack
        // gave (or the fail-closed error once three calls in a row trapped).
        let mut tight = load(policy, KEY);
        let outcomes = run_lines(&mut tight.host, DEFAULT_TAG, lines);
        let mut dropped = 0usize;
        for (i, (o, want)) in outcomes.iter().zip(&out).enumerate() {
            match o.emitted() {
                Some(text) => assert!(
                    text == want || text == r#"{"dp_audit_error":"trapped"}"#,
                    "line {}: {text}",
                    i + 1
                ),
                None => dropped += 1,
            }
        }
        eprintln!(
            "emulated 8192 stack: {dropped} of {} records dropped",
            lines.len()
        );
    }
}

#[test]
fn pseudonyms_are_stable_across_restarts_and_differ_across_keys() {
    let line = vec![r#"{"user":{"username":"alice@example.com"},"kind":"Event"}"#.to_string()];
    let name = |art: &mut ArtifactHost| -> String {
        let out = scrub_lines(art, &line);
        let v: Value = serde_json::from_str(&out[0]).unwrap();
        v["user"]["username"].as_str().unwrap().to_owned()
    };
    let first = name(&mut load(K8S, KEY));
    let again = name(&mut load(K8S, KEY));
    let other = name(&mut load(K8S, OTHER_KEY));
    assert!(
        first.starts_with("pk1:") && first.len() == 4 + 16,
        "{first}"
    );
    assert_eq!(first, again, "a restart with the same key changes nothing");
    assert_ne!(first, other, "different keys are unlinkable");
}

#[test]
fn hostile_records_fail_closed_and_the_filter_keeps_working() {
    let mut art = load(K8S, KEY);
    let good = r#"{"kind":"Event","verb":"get","user":{"username":"bob"}}"#;
    for (name, bytes) in hostile() {
        // The real host hands over JSON text it serialised itself; text that is
        // not UTF-8 cannot reach the module at all.
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let report = art.host.process(DEFAULT_TAG, RecordTime::now(), text);
        match &report.outcome {
            Outcome::Emitted(out) => {
                let v: Value = serde_json::from_str(out)
                    .unwrap_or_else(|e| panic!("{name}: invalid output: {e}"));
                assert!(v.is_object(), "{name}");
                if let Some(code) = v.get("dp_audit_error") {
                    assert!(code.is_string(), "{name}");
                }
            }
            // A record too large for the app heap arrives as a null pointer and
            // is answered with an error record; dropping is acceptable too.
            Outcome::Dropped(reason) => {
                assert!(!format!("{reason:?}").contains("Trap"), "{name}: trapped")
            }
            Outcome::Corrupted { .. } => panic!("{name}: corrupted output"),
        }
        let after = art.host.process(DEFAULT_TAG, RecordTime::now(), good);
        let Outcome::Emitted(text) = after.outcome else {
            panic!("{name}: filter stopped answering")
        };
        assert!(
            text.contains("\"verb\":\"get\"") && !text.contains("bob"),
            "{name}: {text}"
        );
    }
    let stderr = art.host.guest_output().take_stderr();
    assert!(
        stderr.contains("record rejected (invalid_json)"),
        "{stderr}"
    );
}

#[test]
fn error_records_carry_codes_for_bad_input() {
    let mut art = load_fluent_bit_artifact(K8S, KEY, |c: &mut FluentBitConfig| {
        c.wasm_heap_size = 4_000_000
    })
    .unwrap();
    let deep = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
    let big = format!("{{\"user\":\"zed\",\"pad\":\"{}\"}}", "x".repeat(1 << 20));
    for (record, code) in [
        (deep.as_str(), "too_deep"),
        (big.as_str(), "record_too_large"),
    ] {
        let report = art.host.process(DEFAULT_TAG, RecordTime::now(), record);
        let Outcome::Emitted(text) = report.outcome else {
            panic!("{code}: {:?}", report.outcome)
        };
        assert_eq!(text, format!("{{\"dp_audit_error\":\"{code}\"}}"));
    }
    let stderr = art.host.guest_output().take_stderr();
    assert!(
        stderr.contains("too_deep") && stderr.contains("record_too_large"),
        "{stderr}"
    );
    assert!(!stderr.contains("zed"));
}

/// Runs one record through a host whose accessible directory holds exactly `files`.
fn run_with_files(files: &[(&str, &[u8])]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let mut config = FluentBitConfig::new(fluent_bit_artifact().unwrap(), "dp_scrub");
    config.accessible_paths = vec![dir.path().display().to_string()];
    let mut host = FluentBitHost::new(config).unwrap();
    let report = host.process(
        DEFAULT_TAG,
        RecordTime::now(),
        r#"{"user":{"username":"carol-secret"}}"#,
    );
    let Outcome::Emitted(text) = report.outcome else {
        panic!("{:?}", report.outcome)
    };
    (text, host.guest_output().take_stderr())
}

#[test]
fn missing_short_or_malformed_configuration_fails_closed_with_a_clear_message() {
    type Files<'a> = &'a [(&'a str, &'a [u8])];
    let cases: [(Files, &str); 4] = [
        (&[("dp-audit.json", K8S)], "dp-audit.key: not found"),
        (
            &[
                ("dp-audit.json", K8S),
                ("dp-audit.key", b"00112233445566778899aabbccddeeff\n"),
            ],
            "16 bytes; at least 32",
        ),
        (
            &[
                ("dp-audit.json", b"{\"preset\": \"k8s\"}"),
                ("dp-audit.key", KEY),
            ],
            "unknown preset",
        ),
        (&[("dp-audit.key", KEY)], "dp-audit.json: not found"),
    ];
    for (files, message) in cases {
        let (out, stderr) = run_with_files(files);
        assert_eq!(out, r#"{"dp_audit_error":"config_error"}"#);
        assert!(
            stderr.contains(message),
            "expected {message:?} in {stderr:?}"
        );
        assert!(
            !stderr.contains("carol-secret") && !stderr.contains("00112233"),
            "{stderr}"
        );
    }
}

const AGG_POLICY: &str = r#"{
  "preset": "k8s-audit",
  "aggregate": {
    "window": "1m",
    "time_field": "requestReceivedTimestamp",
    "privacy_unit": {"type": "user", "field": "user.username"},
    "bounds": {"max_groups_per_unit": 2, "max_contributions_per_group": 5},
    "budget": {"period": "1d", "epsilon": 1.0, "delta": 1e-6, "ledger_key": "dp-audit/ledger"},
    "releases": [
      {"name": "by_verb", "kind": "count", "mechanism": "laplace", "epsilon": 0.3,
       "group_by": [{"field": "verb"}], "domains": {"verb": ["get", "list", "create", "delete"]}}
    ]
  }
}"#;

fn aggregate_host(staged_dir: &std::path::Path) -> FluentBitHost {
    let mut config = FluentBitConfig::new(fluent_bit_artifact().unwrap(), "dp_aggregate");
    config.accessible_paths = vec![staged_dir.display().to_string()];
    // The aggregation path parses its configuration and ledger with more
    // stack than WAMR's default: the examples set 256K.
    config.wasm_stack_size = 256_000;
    FluentBitHost::new(config).unwrap()
}

fn releases(host: &mut FluentBitHost, lines: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for line in lines {
        if let LineOutcome::Processed(r) = process_line_timed(
            host,
            DEFAULT_TAG,
            line.as_bytes(),
            Some("requestReceivedTimestamp"),
        ) {
            match r.outcome {
                Outcome::Emitted(text) => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    out.extend(v["dp_audit_releases"].as_array().unwrap().iter().cloned());
                }
                Outcome::Dropped(reason) => {
                    assert!(!format!("{reason:?}").contains("Trap"), "{reason:?}")
                }
                Outcome::Corrupted { .. } => panic!("corrupted"),
            }
        }
    }
    out
}

#[test]
fn dp_aggregate_releases_spends_budget_keeps_it_across_restarts_and_stops_when_spent() {
    let corpus = k8s_audit(&K8sConfig {
        events: 4000,
        rate_per_sec: 10.0,
        seed: 5,
        ..K8sConfig::default()
    });
    let staged = dp_audit_harness::artifact::StagedConfig::new(AGG_POLICY.as_bytes(), KEY).unwrap();
    let (first, second) = corpus.lines.split_at(1500);
    let mut host = aggregate_host(staged.path());
    let before = releases(&mut host, first);
    drop(host);
    // A restart: a new instance over the same directory (state files persist).
    let mut host = aggregate_host(staged.path());
    let after = releases(&mut host, second);
    let all: Vec<&Value> = before.iter().chain(&after).collect();
    let released: Vec<&&Value> = all
        .iter()
        .filter(|r| r.get("dp_release").is_some())
        .collect();
    let exhausted: Vec<&&Value> = all
        .iter()
        .filter(|r| r.get("dp_budget_exhausted").is_some())
        .collect();
    // 1.0 per day at 0.3 per window: exactly three windows are released (4 groups each), then nothing.
    let windows: std::collections::BTreeSet<&str> = released
        .iter()
        .map(|r| r["window_start"].as_str().unwrap())
        .collect();
    assert_eq!(windows.len(), 3, "{windows:?}");
    assert_eq!(released.len(), 12);
    for r in &released {
        assert_eq!(r["privacy_unit"], "user");
        assert_eq!(r["mechanism"], "laplace");
        assert!(r["ci95"].as_array().unwrap().len() == 2);
        assert!(r["group"]["verb"].is_string());
    }
    let remaining: Vec<&str> = released
        .iter()
        .map(|r| r["budget_remaining"]["epsilon"].as_str().unwrap())
        .collect();
    assert!(
        remaining.iter().all(|e| ["0.7", "0.4", "0.1"].contains(e)),
        "{remaining:?}"
    );
    assert!(!exhausted.is_empty(), "an exhausted budget says so");
    // The restart did not refill the budget: windows after it were refused too.
    assert!(after.iter().any(|r| r.get("dp_budget_exhausted").is_some()));
    let text = serde_json::to_string(&all).unwrap();
    assert!(!corpus.truth.planted.iter().any(|p| text.contains(&p.value)));
}
