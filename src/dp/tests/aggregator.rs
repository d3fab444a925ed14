//! Functional tests of windows, bounding, domains, partition selection,
//! budget and persistence. Most use a huge epsilon (noise scale ~1e-3, so the
//! discrete noise is 0 with probability 1 - 1e-400) to check exact values.

use serde_json::{json, Value};

use super::{config, values, Harness, DAY0, T0};
use crate::dp::state::tests::temp_dir;
use crate::dp::{Aggregator, DpError, FileState, HostState, InMemoryState, StateError};

fn exact() -> Value {
    json!({
        "window": "1m", "allowed_lateness": "30s", "time_field": "ts",
        "privacy_unit": {"type": "user", "field": "user"},
        "bounds": {"max_groups_per_unit": 2, "max_contributions_per_group": 1},
        "budget": {"period": "1d", "epsilon": 1000000, "delta": 1e-6, "ledger_key": "dp/ledger"},
        "releases": [{"name": "by_verb", "kind": "count", "mechanism": "laplace", "epsilon": 1000,
                      "group_by": [{"field": "verb"}], "domains": {"verb": ["get", "list", "watch"]}}]
    })
}

fn ts(t: i64) -> String {
    t.to_string()
}

/// The value of `verb` in the last window of `records` that has it.
fn get(records: &[Value], name: &str, verb: &str) -> i64 {
    values(records, name)
        .into_iter()
        .rev()
        .find(|(g, _)| g["verb"] == verb)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {verb} in {records:?}"))
}

#[test]
fn windows_close_by_record_and_by_tick() {
    let mut h = Harness::new(&exact(), 1);
    // Start-up at T0: the first window is [T0-60, T0), still open (lateness).
    assert!(h.tick(T0).is_empty());
    assert_eq!(h.agg.next_close_at(), Some(T0 + 30));
    let a = ts(T0 + 5);
    assert!(h
        .ev(T0 + 5, &[("ts", &a), ("user", "u1"), ("verb", "get")])
        .is_empty());
    // An event at T0+40 (host time too) closes [T0-60, T0): empty, released as zeros.
    let b = ts(T0 + 40);
    let out = h.ev(T0 + 40, &[("ts", &b), ("user", "u2"), ("verb", "get")]);
    assert_eq!(out.len(), 3);
    assert!(out
        .iter()
        .all(|r| r["window_start"] == "2024-05-01T11:59:00Z" && r["value"] == 0));
    assert_eq!(out[0]["window_end"], "2024-05-01T12:00:00Z");
    // An event whose *event time* is past [T0, T0+60) + 30s closes it, even
    // though host time lags (clock skew within max_clock_skew).
    let c = ts(T0 + 95);
    let out = h.ev(T0 + 80, &[("ts", &c), ("user", "u3"), ("verb", "list")]);
    assert_eq!(out.len(), 3);
    assert_eq!(out[0]["window_start"], "2024-05-01T12:00:00Z");
    assert_eq!(
        (get(&out, "by_verb", "get"), get(&out, "by_verb", "list")),
        (2, 0)
    );
    // The timer closes [T0+60, T0+120) at T0+150, not before.
    assert!(h.tick(T0 + 149).is_empty());
    let out = h.tick(T0 + 150);
    assert_eq!(out.len(), 3);
    assert_eq!(get(&out, "by_verb", "list"), 1);
    let c = h.agg.counters();
    assert_eq!(
        (
            c.events_ingested,
            c.events_accepted,
            c.windows_closed,
            c.releases
        ),
        (3, 3, 3, 9)
    );
}

#[test]
fn late_future_and_malformed_events_are_dropped_and_counted() {
    let mut h = Harness::new(&exact(), 2);
    h.tick(T0);
    let t = |d: i64| ts(T0 + d);
    // Host time T0+70 closes [T0-60, T0); [T0, T0+60) stays open until T0+90.
    h.ev(T0 + 70, &[("ts", &t(70)), ("user", "u"), ("verb", "get")]);
    // [T0-60, T0) is closed: an event from T0-1 is late.
    h.ev(T0 + 70, &[("ts", &t(-1)), ("user", "u"), ("verb", "get")]);
    // Within the lateness of [T0, T0+60): accepted.
    h.ev(T0 + 70, &[("ts", &t(59)), ("user", "v"), ("verb", "get")]);
    // More than max_clock_skew (60 s) ahead of host time: dropped.
    h.ev(T0 + 70, &[("ts", &t(131)), ("user", "w"), ("verb", "get")]);
    h.ev(
        T0 + 70,
        &[("ts", "yesterday"), ("user", "w"), ("verb", "get")],
    );
    h.ev(T0 + 70, &[("ts", &t(71)), ("verb", "get")]);
    // No time field: host time is used.
    h.ev(T0 + 71, &[("user", "x"), ("verb", "get")]);
    let c = h.agg.counters();
    assert_eq!(c.events_ingested, 7);
    assert_eq!(
        (
            c.events_late,
            c.events_future,
            c.events_bad_time,
            c.events_no_unit
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(c.events_accepted, 3);
    let out = h.tick(T0 + 300);
    assert_eq!(out.len(), 12);
    assert_eq!(get(&out[0..3], "by_verb", "get"), 1); // [T0, T0+60): v
    assert_eq!(get(&out[3..6], "by_verb", "get"), 2); // [T0+60, T0+120): u, x
                                                      // Wrong arity is an API error, not a silent drop.
    let err = h.agg.ingest(&[None], T0, &h.state, &mut h.rng).unwrap_err();
    assert_eq!(
        err,
        DpError::FieldCount {
            expected: 3,
            got: 1
        }
    );
}

#[test]
fn contribution_bounds_per_unit() {
    // g = 2 groups per unit, c = 1 contribution per group.
    let mut h = Harness::new(&exact(), 3);
    h.tick(T0);
    let t = ts(T0 + 1);
    for verb in ["get", "get", "list", "watch"] {
        h.ev(T0 + 1, &[("ts", &t), ("user", "alice"), ("verb", verb)]);
    }
    h.ev(T0 + 1, &[("ts", &t), ("user", "bob"), ("verb", "watch")]);
    h.ev(T0 + 1, &[("ts", &t), ("user", "bob"), ("verb", "delete")]);
    let out = h.tick(T0 + 90);
    assert_eq!(get(&out, "by_verb", "get"), 1);
    assert_eq!(get(&out, "by_verb", "list"), 1);
    assert_eq!(get(&out, "by_verb", "watch"), 1);
    let c = h.agg.counters();
    assert_eq!(c.contributions_over_contribution_bound, 1);
    assert_eq!(c.contributions_over_group_bound, 1);
    assert_eq!(c.contributions_out_of_domain, 1);
    // Bounds are per window: alice's later window counts again.
    let t = ts(T0 + 61);
    h.ev(T0 + 61, &[("ts", &t), ("user", "alice"), ("verb", "get")]);
    assert_eq!(get(&h.tick(T0 + 150), "by_verb", "get"), 1);
}

#[test]
fn sums_are_clamped_and_bounded_per_unit_and_group() {
    let mut v = exact();
    v["bounds"]["max_contributions_per_group"] = json!(2);
    v["releases"] = json!([{"name": "bytes", "kind": "sum", "field": "bytes", "clamp": [0, 100],
        "mechanism": "laplace", "epsilon": 100000, "group_by": [{"field": "verb"}],
        "domains": {"verb": ["get", "list"]}}]);
    let mut h = Harness::new(&v, 4);
    h.tick(T0);
    let t = ts(T0 + 1);
    for (user, verb, bytes) in [
        ("a", "get", "150"),  // clamped to 100
        ("a", "get", "49.5"), // rounded to 50
        ("a", "get", "70"),   // third contribution: over the bound
        ("b", "get", "-5"),   // clamped to 0
        ("b", "list", "oops"),
        ("c", "list", "1e1"),
    ] {
        h.ev(
            T0 + 1,
            &[("ts", &t), ("user", user), ("verb", verb), ("bytes", bytes)],
        );
    }
    h.ev(T0 + 1, &[("ts", &t), ("user", "d"), ("verb", "list")]);
    let out = h.tick(T0 + 90);
    assert_eq!(get(&out, "bytes", "get"), 150);
    assert_eq!(get(&out, "bytes", "list"), 10);
    let c = h.agg.counters();
    assert_eq!(
        (
            c.contributions_over_contribution_bound,
            c.contributions_bad_value
        ),
        (1, 2)
    );
}

#[test]
fn declared_domains_are_released_in_full_with_zeros() {
    let mut v = exact();
    v["releases"] = json!([{"name": "vs", "kind": "count", "mechanism": "laplace", "epsilon": 1000,
        "group_by": [{"field": "verb"}, {"field": "code", "as": "status_class", "bucket": "status_class"}],
        "domains": {"verb": ["get", "list"], "status_class": ["2xx", "4xx", "5xx", "other"]}}]);
    let mut h = Harness::new(&v, 5);
    h.tick(T0);
    let t = ts(T0 + 1);
    for (user, verb, code) in [
        ("a", "get", "200"),
        ("b", "get", "204"),
        ("a", "list", "404"),
        ("c", "list", "999"),
    ] {
        h.ev(
            T0 + 1,
            &[("ts", &t), ("user", user), ("verb", verb), ("code", code)],
        );
    }
    let out = h.tick(T0 + 90);
    // The empty window before it, then this one: 8 combinations each.
    assert_eq!(out.len(), 16);
    let this: Vec<(Value, i64)> = values(&out[8..], "vs");
    let expected = [
        (json!({"verb": "get", "status_class": "2xx"}), 2),
        (json!({"verb": "get", "status_class": "4xx"}), 0),
        (json!({"verb": "get", "status_class": "5xx"}), 0),
        (json!({"verb": "get", "status_class": "other"}), 0),
        (json!({"verb": "list", "status_class": "2xx"}), 0),
        (json!({"verb": "list", "status_class": "4xx"}), 1),
        (json!({"verb": "list", "status_class": "5xx"}), 0),
        (json!({"verb": "list", "status_class": "other"}), 1),
    ];
    assert_eq!(this, expected);
    let r = &out[8];
    assert_eq!(r["mechanism"], "laplace");
    assert_eq!(r["epsilon"], "1000");
    assert_eq!(r["privacy_unit"], "user");
    assert_eq!(r["ci95"], json!([2, 2]));
    assert_eq!(r["budget_period_start"], "2024-05-01T00:00:00Z");
    assert_eq!(r["budget_spent"]["epsilon"], "2000");
}

fn selection_config(ps_epsilon: f64, ps_delta: f64) -> Value {
    let mut v = exact();
    v["bounds"]["max_groups_per_unit"] = json!(1);
    v["budget"]["delta"] = json!(0.9);
    v["releases"] = json!([{"name": "paths", "kind": "count", "mechanism": "laplace", "epsilon": 1000,
        "group_by": [{"field": "path"}], "partition_selection": {"epsilon": ps_epsilon, "delta": ps_delta}}]);
    v
}

#[test]
fn partition_selection_drops_rare_groups_and_sorts_the_rest() {
    // eps 1, delta 1e-6, K = 2 * 1: b = 2, m = 29, threshold 30 units.
    let v = selection_config(1.0, 1e-6);
    assert_eq!(
        config(&v).releases[0]
            .partition_selection
            .unwrap()
            .threshold,
        30
    );
    let mut h = Harness::new(&v, 6);
    h.tick(T0);
    let t = ts(T0 + 1);
    // Arrival order: zeta, alpha, rare; zeta and alpha have 100 users each.
    for i in 0..100 {
        h.ev(
            T0 + 1,
            &[("ts", &t), ("user", &format!("z{i}")), ("path", "/zeta")],
        );
    }
    for i in 0..100 {
        h.ev(
            T0 + 1,
            &[("ts", &t), ("user", &format!("a{i}")), ("path", "/alpha")],
        );
        h.ev(
            T0 + 1,
            &[("ts", &t), ("user", &format!("a{i}")), ("path", "/alpha")],
        );
    }
    h.ev(
        T0 + 1,
        &[("ts", &t), ("user", "loner"), ("path", "/secret")],
    );
    let out = h.tick(T0 + 90);
    let got = values(&out, "paths");
    assert_eq!(
        got,
        vec![
            (json!({"path": "/alpha"}), 100),
            (json!({"path": "/zeta"}), 100)
        ]
    );
    assert_eq!(
        out[0]["partition_selection"],
        json!({"epsilon": "1", "delta": "0.000001", "threshold": 30})
    );
    assert_eq!(
        out[0]["budget_spent"],
        json!({"epsilon": "2002", "rho": "0", "delta": "0.000002"})
    );
}

#[test]
fn partition_selection_release_frequency_matches_the_threshold_analysis() {
    // A large delta makes the rare events measurable: eps 1, delta 0.2, K = 2:
    // b = 2, delta/K = 0.1, m = smallest with p^m/(1+p) <= 0.1 (p = e^-1/2).
    let v = selection_config(1.0, 0.2);
    let cfg = config(&v);
    let ps = cfg.releases[0].partition_selection.unwrap();
    let p = (-0.5f64).exp();
    let tail = |m: i64| p.powi(m as i32) / (1.0 + p);
    let m = ps.threshold - 1;
    assert!(tail(m) <= 0.1 && tail(m - 1) > 0.1);
    let runs = 3_000;
    let (mut single, mut at_threshold) = (0u32, 0u32);
    for run in 0..runs {
        let mut h = Harness::from_config(cfg.clone(), InMemoryState::new(), 1_000 + run);
        h.tick(T0);
        let t = ts(T0 + 1);
        h.ev(T0 + 1, &[("ts", &t), ("user", "u"), ("path", "/one")]);
        for i in 0..ps.threshold {
            h.ev(
                T0 + 1,
                &[("ts", &t), ("user", &format!("v{i}")), ("path", "/many")],
            );
        }
        let out = h.tick(T0 + 90);
        single += u32::from(out.iter().any(|r| r["group"]["path"] == "/one"));
        at_threshold += u32::from(out.iter().any(|r| r["group"]["path"] == "/many"));
    }
    // One unit: released with probability P(Z >= m) = tail(m) <= delta/K.
    // threshold units: with probability P(Z >= 0) = 1/(1+p).
    for (count, prob) in [(single, tail(m)), (at_threshold, 1.0 / (1.0 + p))] {
        let f = f64::from(count) / runs as f64;
        let sd = (prob * (1.0 - prob) / runs as f64).sqrt();
        assert!(
            (f - prob).abs() < 4.5 * sd,
            "frequency {f} vs {prob} (sd {sd})"
        );
    }
}

fn budget_config(epsilon: &str, period: &str) -> Value {
    let mut v = exact();
    v["budget"]["epsilon"] = json!(epsilon);
    v["budget"]["period"] = json!(period);
    v["releases"][0]["epsilon"] = json!("1");
    v
}

#[test]
fn exhausted_budget_suppresses_releases_and_the_period_refreshes() {
    // 5-minute periods, budget 2.5, each window costs 1: two windows per period.
    let mut h = Harness::new(&budget_config("2.5", "5m"), 7);
    let p0 = T0; // T0 is a multiple of 300
    h.tick(p0 + 30); // first window: [p0, p0+60)
    let out = h.tick(p0 + 630); // closes windows p0 .. p0+540: two periods
    let kinds: Vec<String> = out
        .iter()
        .map(|r| {
            if r.get("dp_release").is_some() {
                format!(
                    "R{}",
                    r["window_start"].as_str().unwrap().get(11..16).unwrap()
                )
            } else {
                format!(
                    "X{}x{}",
                    r["window_start"].as_str().unwrap().get(11..16).unwrap(),
                    r["windows"]
                )
            }
        })
        .collect();
    let mut expected = vec![];
    for (released, exhausted) in [
        (["12:00", "12:01"], "12:02x3"),
        (["12:05", "12:06"], "12:07x3"),
    ] {
        for w in released {
            expected.extend(std::iter::repeat_n(format!("R{w}"), 3));
        }
        expected.push(format!("X{exhausted}"));
    }
    assert_eq!(kinds, expected);
    let x = out
        .iter()
        .find(|r| r.get("dp_budget_exhausted").is_some())
        .unwrap();
    assert_eq!(x["dp_budget_exhausted"], "by_verb");
    assert_eq!(x["window_end"], "2024-05-01T12:05:00Z");
    assert_eq!(
        x["needed"],
        json!({"epsilon": "1", "rho": "0", "delta": "0"})
    );
    assert_eq!(x["remaining"]["epsilon"], "0.5");
    let c = h.agg.counters();
    assert_eq!(
        (c.windows_closed, c.releases_suppressed_budget, c.releases),
        (10, 6, 12)
    );
    // Released records report the remaining budget after their own spend.
    assert_eq!(out[0]["budget_remaining"]["epsilon"], "1.5");
    assert_eq!(out[3]["budget_remaining"]["epsilon"], "0.5");
}

#[test]
fn restart_with_file_state_keeps_the_spent_budget() {
    let dir = temp_dir("agg-restart");
    let v = budget_config("2", "1d");
    {
        let mut h = Harness::with_state(&v, FileState::new(&dir), 8);
        h.tick(T0 + 30);
        let out = h.tick(T0 + 90);
        assert_eq!(values(&out, "by_verb").len(), 3);
    }
    // A new process: new aggregator, new FileState over the same directory.
    let mut h = Harness::with_state(&v, FileState::new(&dir), 9);
    h.tick(T0 + 90);
    let out = h.tick(T0 + 210); // two more windows; only one fits
    assert_eq!(values(&out, "by_verb").len(), 3);
    assert_eq!(out[0]["budget_remaining"]["epsilon"], "0");
    assert_eq!(out[3]["dp_budget_exhausted"], "by_verb");
    let ledger = config(&v);
    let status = Aggregator::new(ledger)
        .ledger()
        .status(&FileState::new(&dir), T0)
        .unwrap();
    assert_eq!(status.spent.epsilon_nano, 2_000_000_000);
    assert_eq!(status.period_start, DAY0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn snapshot_and_restore_continue_identically() {
    let mut v = exact();
    v["releases"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "paths", "kind": "count",
        "mechanism": "laplace", "epsilon": 1000, "group_by": [{"field": "path"}],
        "partition_selection": {"epsilon": 1, "delta": 1e-9}}));
    let mut h = Harness::new(&v, 10);
    h.tick(T0);
    let t = ts(T0 + 1);
    for (u, verb, path) in [
        ("a", "get", "/x"),
        ("b", "get", "/y z"),
        ("a", "list", "/x"),
        ("a", "watch", "/\"q\"\n"),
    ] {
        h.ev(
            T0 + 1,
            &[("ts", &t), ("user", u), ("verb", verb), ("path", path)],
        );
    }
    let t2 = ts(T0 + 61);
    h.ev(T0 + 61, &[("ts", &t2), ("user", "c d"), ("verb", "get")]);
    let snap = h.agg.snapshot();
    let restored = Aggregator::restore(config(&v), &snap).unwrap();
    assert_eq!(restored.counters(), h.agg.counters());
    // Same ledger contents (a restart keeps host state), same RNG stream.
    let state = InMemoryState::new();
    let (ledger, _) = h.state.get("dp/ledger").unwrap().unwrap();
    state.set("dp/ledger", &ledger, None).unwrap();
    let mut h2 = Harness {
        agg: restored,
        state,
        rng: h.rng.clone(),
    };
    assert_eq!(h2.agg.snapshot(), snap);
    let (a, b) = (h.tick(T0 + 200), h2.tick(T0 + 200));
    assert_eq!(a, b);
    assert_eq!(a.len(), 6); // two windows; no path group passes selection
    assert_eq!(get(&a[0..3], "by_verb", "get"), 2);
    assert_eq!(get(&a[3..6], "by_verb", "get"), 1);
    // After restore, bounding state is intact: alice's third group is still refused.
    let mut h3 = Harness {
        agg: Aggregator::restore(config(&v), &snap).unwrap(),
        state: InMemoryState::new(),
        rng: h.rng.clone(),
    };
    h3.ev(T0 + 2, &[("ts", &t), ("user", "a"), ("verb", "watch")]);
    // (both releases: alice already has two verbs and two paths)
    assert_eq!(h3.agg.counters().contributions_over_group_bound, 3);

    // Another configuration, or a tampered snapshot, is refused.
    let mut other = v.clone();
    other["window"] = json!("2m");
    assert!(matches!(
        Aggregator::restore(config(&other), &snap),
        Err(DpError::Snapshot(_))
    ));
    let tampered = snap.replacen("0/1,1/1", "0/1,1/1,2/1", 1);
    assert_ne!(tampered, snap);
    assert!(matches!(
        Aggregator::restore(config(&v), &tampered),
        Err(DpError::Snapshot(_))
    ));
    assert!(matches!(
        Aggregator::restore(config(&v), "{"),
        Err(DpError::Snapshot(_))
    ));
}

/// Host state that is down.
struct Broken;
impl HostState for Broken {
    fn get(&self, _: &str) -> Result<Option<(Vec<u8>, u64)>, StateError> {
        Err(StateError::Io("host state down"))
    }
    fn set(&self, _: &str, _: &[u8], _: Option<u64>) -> Result<(), StateError> {
        Err(StateError::Io("host state down"))
    }
}

#[test]
fn ledger_failures_fail_closed() {
    let mut h = Harness::with_state(&exact(), Broken, 11);
    h.tick(T0);
    let out = h.tick(T0 + 90);
    assert_eq!(out.len(), 2); // two windows closed, neither released
    assert_eq!(out[1]["dp_release_error"], "by_verb");
    assert_eq!(out[1]["window_start"], "2024-05-01T12:00:00Z");
    assert_eq!(
        out[1]["reason"],
        "ledger state unavailable; nothing released"
    );
    assert_eq!(h.agg.counters().release_errors, 2);
    assert_eq!(h.agg.counters().releases, 0);
}

#[test]
fn unit_cap_drops_new_units_and_counts_them() {
    let mut v = exact();
    v["limits"] = json!({"max_units_per_window": 2});
    let mut h = Harness::new(&v, 12);
    h.tick(T0);
    let t = ts(T0 + 1);
    for u in ["a", "b", "c", "a"] {
        h.ev(T0 + 1, &[("ts", &t), ("user", u), ("verb", "get")]);
    }
    assert_eq!(h.agg.counters().events_over_unit_cap, 1);
    assert_eq!(get(&h.tick(T0 + 90), "by_verb", "get"), 2);
}

#[test]
fn gaussian_and_event_level_releases() {
    let v = json!({
        "window": "1m",
        "privacy_unit": {"type": "event"},
        "budget": {"period": "1d", "epsilon": 1000000, "delta": 1e-6, "ledger_key": "k"},
        "releases": [
            {"name": "n", "kind": "count", "mechanism": "gaussian", "rho": 1000,
             "group_by": [{"field": "m", "bucket": "lowercase"}], "domains": {"m": ["get", "post", null]}}
        ]
    });
    let mut h = Harness::new(&v, 13);
    h.tick(T0);
    for m in [Some("GET"), Some("get"), Some("Post"), None, Some("put")] {
        let pairs: Vec<(&str, &str)> = m.map(|m| ("m", m)).into_iter().collect();
        h.ev(T0 + 1, &pairs);
    }
    let out = h.tick(T0 + 60);
    assert_eq!(out.len(), 3);
    let got = values(&out, "n");
    assert_eq!(
        got,
        vec![
            (json!({"m": "get"}), 2),
            (json!({"m": "post"}), 1),
            (json!({"m": null}), 1)
        ]
    );
    assert_eq!(out[0]["mechanism"], "gaussian");
    assert_eq!(out[0]["rho"], "1000");
    assert_eq!(out[0]["privacy_unit"], "event");
    assert_eq!(out[0]["budget_spent"]["rho"], "1000");
    assert!(out[0].get("epsilon").is_none());
    assert_eq!(h.agg.counters().contributions_out_of_domain, 1);
}

#[test]
fn records_never_carry_unit_values() {
    let mut h = Harness::new(&exact(), 14);
    h.tick(T0);
    let t = ts(T0 + 1);
    h.ev(
        T0 + 1,
        &[("ts", &t), ("user", "alice@example.com"), ("verb", "get")],
    );
    let out = h.tick(T0 + 90);
    let text: String = out.iter().map(Value::to_string).collect();
    assert!(!text.contains("alice"));
    assert!(!format!("{:?}", h.agg.counters()).contains("alice"));
    h.ev(
        T0 + 91,
        &[
            ("ts", &ts(T0 + 91)),
            ("user", "alice@example.com"),
            ("verb", "get"),
        ],
    );
    let debug = format!("{:?}", h.agg);
    assert!(
        debug.contains("open_windows: 1") && !debug.contains("alice"),
        "{debug}"
    );
    // The snapshot does hold it (documented: protect it like scrubbed logs).
    let mut h = Harness::new(&exact(), 14);
    h.tick(T0);
    h.ev(
        T0 + 1,
        &[("ts", &t), ("user", "alice@example.com"), ("verb", "get")],
    );
    assert!(h.agg.snapshot().contains("alice"));
}
