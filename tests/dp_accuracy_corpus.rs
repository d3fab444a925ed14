//! DP releases over a generated audit log with ground truth: released counts
//! fall inside their stated 95% intervals at about the stated rate, the
//! declared domain is released in full, and the ledger accounts every window.

use dp_audit::dp::{AggregateConfig, Aggregator, InMemoryState};
use dp_audit::json::lookup::lookup;
use dp_audit::keys::KeyRing;
use dp_audit::path::Path;
use dp_audit::policy::Policy;
use dp_audit::scrubber::Scrubber;
use dp_audit_corpus::{k8s_audit, K8sConfig};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;

const POLICY: &str = r#"{
  "preset": "k8s-audit",
  "aggregate": {
    "window": "1m",
    "time_field": "requestReceivedTimestamp",
    "privacy_unit": {"type": "event"},
    "budget": {"period": "1d", "epsilon": 1000, "delta": 1e-6, "ledger_key": "acc"},
    "releases": [
      {"name": "by_verb_status", "kind": "count", "mechanism": "laplace", "epsilon": 0.5,
       "group_by": [{"field": "verb"}, {"field": "responseStatus.code", "as": "status_class", "bucket": "status_class"}],
       "domains": {"verb": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"],
                   "status_class": ["1xx", "2xx", "3xx", "4xx", "5xx", null]}}
    ]
  }
}"#;

#[test]
fn released_counts_fall_in_their_95_percent_intervals_at_the_stated_rate() {
    let corpus = k8s_audit(&K8sConfig {
        events: 12_000,
        rate_per_sec: 20.0,
        seed: 99,
        ..K8sConfig::default()
    });
    let policy = Policy::from_json(POLICY).unwrap();
    let ring = KeyRing::parse(
        "4f1c2a9be03d57f6a8c1d2e3f40516273849aabbccddeeff0011223344556677",
        "t",
    )
    .unwrap();
    let mut scrubber = Scrubber::new(&policy, Some(&ring)).unwrap();
    let cfg = AggregateConfig::from_json(policy.aggregate.as_ref().unwrap()).unwrap();
    let paths: Vec<Vec<String>> = cfg
        .field_paths()
        .iter()
        .map(|p| Path::parse_literal(p, "t").unwrap())
        .collect();
    let mut agg = Aggregator::new(cfg);
    let state = InMemoryState::new();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut records: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    let mut last_time = 0;
    for line in &corpus.lines {
        scrubber.scrub(line.as_bytes(), &mut out).unwrap();
        let values = lookup(&out, &paths, 64).unwrap();
        let fields: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
        let t = serde_json::from_str::<Value>(line).unwrap()["requestReceivedTimestamp"]
            .as_str()
            .map(|s| dp_audit::time::parse_rfc3339(s).unwrap().0);
        last_time = t.unwrap_or(last_time).max(last_time);
        for r in agg.ingest(&fields, last_time, &state, &mut rng).unwrap() {
            records.push(serde_json::from_str(&r).unwrap());
        }
    }
    // Close the last window with the host timer.
    for r in agg.tick(last_time + 120, &state, &mut rng).unwrap() {
        records.push(serde_json::from_str(&r).unwrap());
    }
    let truth = &corpus.truth.counts;
    let (mut inside, mut total) = (0u64, 0u64);
    let mut windows = std::collections::BTreeSet::new();
    for r in records.iter().filter(|r| r.get("dp_release").is_some()) {
        let start = dp_audit::time::parse_rfc3339(r["window_start"].as_str().unwrap())
            .unwrap()
            .0;
        windows.insert(start);
        let verb = r["group"]["verb"].as_str().unwrap().to_string();
        let class = r["group"]["status_class"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        let want = truth
            .windows
            .get(&start)
            .and_then(|w| w.by_op_status.get(&(verb, class)))
            .copied()
            .unwrap_or(0);
        let ci = r["ci95"].as_array().unwrap();
        let (lo, hi) = (ci[0].as_i64().unwrap(), ci[1].as_i64().unwrap());
        total += 1;
        if (lo..=hi).contains(&(want as i64)) {
            inside += 1;
        }
    }
    // Every window of the corpus was released (and empty ones in between or
    // after, as noisy zeros) with the full declared domain (8 x 6 groups).
    for w in truth.windows.keys() {
        assert!(windows.contains(w), "window {w} not released");
    }
    assert_eq!(total as usize, windows.len() * 48);
    // Discrete intervals cover at least 95%; clamping at zero only widens coverage.
    // Binomial sd at n = total: sqrt(0.95 * 0.05 / n); allow 4.5 sd below.
    let rate = inside as f64 / total as f64;
    let sd = (0.95f64 * 0.05 / total as f64).sqrt();
    assert!(
        rate >= 0.95 - 4.5 * sd,
        "coverage {rate:.4} over {total} intervals (sd {sd:.4})"
    );
    assert!(rate <= 0.995, "intervals far too wide: coverage {rate:.4}");
    eprintln!(
        "coverage {rate:.4} over {total} intervals in {} windows",
        windows.len()
    );
}
