//! Accuracy: on a generated workload with known truth, the stated 95%
//! intervals cover the true (bounded) values at the rate the exact noise
//! distribution predicts.
//!
//! Workload (seeded ChaCha20): 30 one-minute windows; per window 120 users,
//! each touching 1..=4 distinct (verb, status class) groups once, with a
//! byte count uniform in 0..1500. The bounds (4 groups, 1 contribution per
//! group) therefore drop nothing, and the truth is computed independently of
//! the engine: per group, the number of users, and the sum of bytes clamped
//! to [0, 1000].
//!
//! Expected coverage per interval: `q = P(|Z| <= h)` for the exact discrete
//! distribution (and `q + (1 - q)/2` when the truth is 0, because intervals
//! are clipped at 0). The test asserts that the observed number of covering
//! intervals is within 4.5 standard deviations (`sqrt(sum q (1 - q))`, the
//! intervals being independent) of the expected number, and that `q` itself
//! is at least 0.95 and not wastefully above it.

use rand_core::{RngCore, SeedableRng};
use serde_json::json;

use super::{config, parse, Harness, T0};
use crate::dp::noise::Mechanism;
use crate::dp::InMemoryState;

const VERBS: [&str; 7] = [
    "get", "list", "watch", "create", "update", "patch", "delete",
];
const CODES: [&str; 5] = ["101", "200", "301", "404", "503"];
const WINDOWS: i64 = 30;
const USERS: u64 = 120;

/// P(|Z| <= h) for the discrete Laplace with scale t.
fn laplace_coverage(t: f64, h: u64) -> f64 {
    let p = (-1.0 / t).exp();
    1.0 - 2.0 * p.powi(h as i32 + 1) / (1.0 + p)
}

/// P(|Z| <= h) for the discrete Gaussian with parameter sigma, by direct
/// summation of the mass function.
fn gaussian_coverage(sigma: f64, h: u64) -> f64 {
    let w = |k: f64| (-k * k / (2.0 * sigma * sigma)).exp();
    let limit = (40.0 * sigma) as i64 + 10;
    let total: f64 = (-limit..=limit).map(|k| w(k as f64)).sum();
    let inside: f64 = (-(h as i64)..=h as i64).map(|k| w(k as f64)).sum();
    inside / total
}

#[test]
fn intervals_cover_the_truth_at_the_stated_rate() {
    let v = json!({
        "window": "1m", "time_field": "ts",
        "privacy_unit": {"type": "user", "field": "user"},
        "bounds": {"max_groups_per_unit": 4, "max_contributions_per_group": 1},
        "budget": {"period": "1d", "epsilon": 1000, "delta": 1e-6, "ledger_key": "k"},
        "releases": [
            {"name": "count", "kind": "count", "mechanism": "laplace", "epsilon": 0.5,
             "group_by": [{"field": "verb"}, {"field": "code", "as": "status_class", "bucket": "status_class"}],
             "domains": {"verb": VERBS, "status_class": ["1xx", "2xx", "3xx", "4xx", "5xx"]}},
            {"name": "bytes", "kind": "sum", "field": "bytes", "clamp": [0, 1000], "mechanism": "gaussian", "rho": 0.5,
             "group_by": [{"field": "verb"}, {"field": "code", "as": "status_class", "bucket": "status_class"}],
             "domains": {"verb": VERBS, "status_class": ["1xx", "2xx", "3xx", "4xx", "5xx"]}}
        ]
    });
    let cfg = config(&v);
    let (count_plan, sum_plan) = (cfg.releases[0].noise, cfg.releases[1].noise);
    assert_eq!(count_plan.mechanism, Mechanism::Laplace);
    // L1 = 2 * 4 * 1, scale = 8 / 0.5 = 16; sigma^2 >= 4 * 2 * 1000^2 / (2 * 0.5).
    assert_eq!(count_plan.scale.to_f64(), 16.0);
    let sigma = sum_plan.scale.to_f64();
    assert!(sigma >= (8e6f64).sqrt() && sigma < (8e6f64).sqrt() * 1.000_001);
    let q_count = laplace_coverage(16.0, count_plan.ci95_halfwidth);
    let q_sum = gaussian_coverage(sigma, sum_plan.ci95_halfwidth);
    for q in [q_count, q_sum] {
        assert!((0.95..0.96).contains(&q), "interval coverage {q}");
    }

    let mut gen = rand_chacha::ChaCha20Rng::seed_from_u64(2024);
    let mut h = Harness::from_config(cfg, InMemoryState::new(), 7);
    h.tick(T0);
    let (mut expected, mut variance, mut covered, mut n) = (0.0, 0.0, 0u32, 0u32);
    for w in 0..WINDOWS {
        let start = T0 + 60 * w;
        let mut count = [[0i64; 5]; 7];
        let mut bytes = [[0i64; 5]; 7];
        let t = (start + 1).to_string();
        for u in 0..USERS {
            let user = format!("u{u}");
            let k = 1 + gen.next_u32() % 4;
            let mut taken: Vec<(usize, usize)> = Vec::new();
            while taken.len() < k as usize {
                let g = ((gen.next_u32() % 7) as usize, (gen.next_u32() % 5) as usize);
                if !taken.contains(&g) {
                    taken.push(g);
                }
            }
            for (vi, ci) in taken {
                let b = gen.next_u32() % 1_500;
                count[vi][ci] += 1;
                bytes[vi][ci] += i64::from(b.min(1_000));
                let b = b.to_string();
                let fields = [
                    ("ts", t.as_str()),
                    ("user", user.as_str()),
                    ("verb", VERBS[vi]),
                    ("code", CODES[ci]),
                    ("bytes", b.as_str()),
                ];
                h.ev(start + 1, &fields);
            }
        }
        let out = parse(&h.agg.tick(start + 60, &h.state, &mut h.rng).unwrap());
        assert_eq!(out.len(), 70, "window {w}");
        for r in &out {
            assert_eq!(r["window_start"], crate::time::format_rfc3339(start));
            let vi = VERBS.iter().position(|x| r["group"]["verb"] == *x).unwrap();
            let ci = ["1xx", "2xx", "3xx", "4xx", "5xx"]
                .iter()
                .position(|x| r["group"]["status_class"] == *x)
                .unwrap();
            let (truth, q) = match r["dp_release"].as_str().unwrap() {
                "count" => (count[vi][ci], q_count),
                "bytes" => (bytes[vi][ci], q_sum),
                other => panic!("{other}"),
            };
            let q = if truth == 0 { q + (1.0 - q) / 2.0 } else { q };
            let (lo, hi) = (
                r["ci95"][0].as_i64().unwrap(),
                r["ci95"][1].as_i64().unwrap(),
            );
            covered += u32::from(lo <= truth && truth <= hi);
            expected += q;
            variance += q * (1.0 - q);
            n += 1;
        }
    }
    let observed = f64::from(covered);
    println!(
        "coverage: {covered}/{n} = {:.4}; expected {:.1} ({:.4}), sd {:.1}; q_count {q_count:.4}, q_sum {q_sum:.4}",
        observed / f64::from(n),
        expected,
        expected / f64::from(n),
        variance.sqrt()
    );
    assert_eq!(n, 2 * 35 * WINDOWS as u32);
    assert!((observed - expected).abs() <= 4.5 * variance.sqrt());
}
