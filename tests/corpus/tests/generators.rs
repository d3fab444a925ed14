//! Properties of the generated corpora: determinism, valid JSON objects,
//! planted values present at their recorded paths, truth counts equal to a
//! recount from the emitted lines, and the shapes the generators promise.

use std::collections::{BTreeSet, HashMap};

use dp_audit_corpus::time::parse_rfc3339;
use dp_audit_corpus::{envoy_access, k8s_audit, Corpus, Counts, EnvoyConfig, K8sConfig};
use serde_json::Value;

fn k8s(events: usize, seed: u64, pii_rate: f64) -> Corpus {
    k8s_audit(&K8sConfig { events, seed, pii_rate, ..K8sConfig::default() })
}

fn envoy(events: usize, seed: u64, pii_rate: f64) -> Corpus {
    envoy_access(&EnvoyConfig { events, seed, pii_rate, ..EnvoyConfig::default() })
}

fn parse(c: &Corpus) -> Vec<Value> {
    c.lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("line {i} is not JSON: {e}"));
            assert!(v.is_object(), "line {i} is not an object");
            v
        })
        .collect()
}

/// Segments of a field selector: `a.b."c.d"[*].e`.
fn selector(path: &str) -> Vec<Option<String>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if let Some(r) = rest.strip_prefix("[*]") {
            out.push(None);
            rest = r;
        } else if let Some(r) = rest.strip_prefix('"') {
            let end = r.find('"').unwrap();
            out.push(Some(r[..end].to_string()));
            rest = &r[end + 1..];
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Some(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    out
}

/// Every string reached by the selector in `v`.
fn strings_at<'a>(v: &'a Value, sel: &[Option<String>], out: &mut Vec<&'a str>) {
    match (sel.split_first(), v) {
        (None, Value::String(s)) => out.push(s),
        (Some((None, rest)), Value::Array(items)) => {
            items.iter().for_each(|i| strings_at(i, rest, out))
        }
        (Some((Some(k), rest)), Value::Object(m)) => {
            if let Some(child) = m.get(k) {
                strings_at(child, rest, out);
            }
        }
        _ => {}
    }
}

/// Asserts every planted value occurs, inside a string, at every path recorded for it.
fn assert_planted_at_paths(c: &Corpus) {
    let values = parse(c);
    let mut by_path: HashMap<&str, Vec<&str>> = HashMap::new();
    for p in &c.truth.planted {
        assert!(!p.paths.is_empty(), "{} has no path", p.kind);
        for path in &p.paths {
            by_path.entry(path).or_default().push(&p.value);
        }
    }
    let mut found: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (path, wanted) in &by_path {
        let sel = selector(path);
        let mut strings = Vec::new();
        for v in &values {
            strings_at(v, &sel, &mut strings);
        }
        for w in wanted {
            if strings.iter().any(|s| s.contains(w)) {
                found.insert((w, path));
            }
        }
    }
    for p in &c.truth.planted {
        for path in &p.paths {
            assert!(
                found.contains(&(p.value.as_str(), path.as_str())),
                "{} ({}) not found at {path}",
                p.value,
                p.kind
            );
        }
    }
}

/// Calls `f(path, string)` for every string leaf, with paths written the way
/// the generators write them (`[*]` for array items, keys quoted unless plain).
fn leaves(v: &Value, path: &str, f: &mut impl FnMut(&str, &str)) {
    match v {
        Value::String(s) => f(path, s),
        Value::Array(items) => items.iter().for_each(|i| leaves(i, &format!("{path}[*]"), f)),
        Value::Object(m) => {
            for (k, child) in m {
                let key = if k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    k.clone()
                } else {
                    format!("\"{k}\"")
                };
                let p = if path.is_empty() { key } else { format!("{path}.{key}") };
                leaves(child, &p, f);
            }
        }
        _ => {}
    }
}

/// Asserts that planted values occur nowhere but at their recorded paths
/// (so the truth is complete and no ordinary text contains a planted value).
fn assert_no_unrecorded_occurrence(c: &Corpus) {
    // Every planted value has >= 8 bytes: index them by their first 8.
    let mut by_prefix: HashMap<&[u8], Vec<&dp_audit_corpus::Planted>> = HashMap::new();
    for p in &c.truth.planted {
        by_prefix.entry(&p.value.as_bytes()[..8]).or_default().push(p);
    }
    let mut occurrences = 0;
    for v in parse(c) {
        leaves(&v, "", &mut |path, s| {
            let b = s.as_bytes();
            for i in 0..b.len().saturating_sub(7) {
                for p in by_prefix.get(&b[i..i + 8]).into_iter().flatten() {
                    if b[i..].starts_with(p.value.as_bytes()) {
                        occurrences += 1;
                        assert!(
                            p.paths.iter().any(|q| q == path),
                            "{} ({}) also occurs at {path}",
                            p.value,
                            p.kind
                        );
                    }
                }
            }
        });
    }
    assert!(occurrences >= c.truth.planted.len());
}

#[test]
fn planted_values_occur_only_at_recorded_paths() {
    assert_no_unrecorded_occurrence(&k8s(1500, 11, 0.3));
    assert_no_unrecorded_occurrence(&envoy(2000, 11, 0.3));
}

fn k8s_recount(c: &Corpus, window: i64) -> Counts {
    let mut counts = Counts::new(window);
    for v in parse(c) {
        let ts = parse_rfc3339(v["requestReceivedTimestamp"].as_str().unwrap()).unwrap();
        let code = v.get("responseStatus").map(|s| s["code"].as_i64().unwrap());
        let user = v["user"].get("username").and_then(Value::as_str).unwrap_or("");
        counts.add(ts, v["verb"].as_str().unwrap(), code, user);
    }
    counts
}

fn envoy_recount(c: &Corpus, window: i64) -> Counts {
    let mut counts = Counts::new(window);
    for v in parse(c) {
        let ts = parse_rfc3339(v["start_time"].as_str().unwrap()).unwrap();
        let user = v["x-user-id"].as_str().unwrap_or("");
        counts.add(ts, v["method"].as_str().unwrap(), v["response_code"].as_i64(), user);
    }
    counts
}

fn kinds(c: &Corpus) -> BTreeSet<&'static str> {
    c.truth.planted.iter().map(|p| p.kind).collect()
}

#[test]
fn identical_configs_give_identical_corpora_and_seeds_matter() {
    assert_eq!(k8s(500, 9, 0.2), k8s(500, 9, 0.2));
    assert_eq!(envoy(500, 9, 0.2), envoy(500, 9, 0.2));
    assert_ne!(k8s(500, 9, 0.2).lines, k8s(500, 10, 0.2).lines);
    assert_ne!(envoy(500, 9, 0.2).lines, envoy(500, 10, 0.2).lines);
}

#[test]
fn exact_line_counts_including_edge_sizes() {
    for n in [0, 1, 2, 3, 777] {
        assert_eq!(k8s(n, 1, 0.5).lines.len(), n);
        assert_eq!(envoy(n, 1, 0.5).lines.len(), n);
        assert_eq!(k8s(n, 1, 0.5).truth.counts.all.total, n as u64);
    }
    // Principals are distinct and never more than asked for.
    for users in [5, 60, 400] {
        let c = k8s_audit(&K8sConfig { events: 3000, users, ..K8sConfig::default() });
        let named = c.truth.counts.all.by_user.keys().filter(|u| !u.is_empty()).count();
        assert!(named <= users && named > users / 3, "{named} of {users}");
    }
    // A single principal and no users at all still work.
    let one = k8s_audit(&K8sConfig { events: 50, users: 1, ..K8sConfig::default() });
    assert_eq!(
        one.truth.counts.all.by_user.len(),
        1 + usize::from(one.truth.counts.all.by_user.contains_key(""))
    );
    assert_eq!(
        envoy_access(&EnvoyConfig { events: 50, users: 0, ..EnvoyConfig::default() })
            .truth
            .counts
            .all
            .by_user
            .keys()
            .collect::<Vec<_>>(),
        vec![""]
    );
}

#[test]
fn k8s_planted_values_are_at_their_paths() {
    let c = k8s(1500, 4, 0.3);
    assert_planted_at_paths(&c);
    let out = c.to_jsonl();
    assert!(c.truth.planted.iter().all(|p| out.contains(&p.value)));
}

#[test]
fn envoy_planted_values_are_at_their_paths() {
    let c = envoy(2000, 4, 0.3);
    assert_planted_at_paths(&c);
}

#[test]
fn truth_counts_equal_a_recount_of_the_lines() {
    let c = k8s(3000, 5, 0.1);
    assert_eq!(k8s_recount(&c, 60), c.truth.counts);
    let e = envoy(3000, 5, 0.1);
    assert_eq!(envoy_recount(&e, 60), e.truth.counts);
    // A different window width is honoured and still matches.
    let c10 = k8s_audit(&K8sConfig {
        events: 3000,
        seed: 5,
        pii_rate: 0.1,
        window_secs: 10,
        ..K8sConfig::default()
    });
    assert_eq!(c10.lines, c.lines);
    assert_eq!(k8s_recount(&c10, 10), c10.truth.counts);
    assert!(c10.truth.counts.windows.len() > c.truth.counts.windows.len());
    // Windows partition the totals.
    for counts in [&c.truth.counts, &e.truth.counts] {
        assert_eq!(counts.windows.values().map(|w| w.total).sum::<u64>(), counts.all.total);
        assert_eq!(counts.all.by_user.values().sum::<u64>(), counts.all.total);
        assert_eq!(counts.all.by_op_status.values().sum::<u64>(), counts.all.total);
    }
}

#[test]
fn planted_values_are_json_safe_distinct_and_never_inside_one_another() {
    for c in [k8s(2000, 6, 0.3), envoy(2000, 6, 0.3)] {
        let planted = &c.truth.planted;
        let mut seen = BTreeSet::new();
        for p in planted {
            assert!(seen.insert(&p.value), "duplicate entry {}", p.value);
            assert!(
                p.value.chars().count() >= 8,
                "too short to search for: {} ({})",
                p.value,
                p.kind
            );
            assert!(
                !p.value
                    .chars()
                    .any(|ch| matches!(ch, '"' | '\\' | '<' | '>' | '&' | '\u{2028}' | '\u{2029}')
                        || ch.is_control()),
                "not JSON-safe: {}",
                p.value
            );
        }
        for a in planted {
            for b in planted {
                assert!(
                    a.value == b.value || !b.value.contains(&a.value),
                    "{} ({}) is inside {} ({})",
                    a.value,
                    a.kind,
                    b.value,
                    b.kind
                );
            }
        }
    }
}

#[test]
fn pii_rate_zero_plants_identities_only_and_high_rate_covers_every_kind() {
    let k0 = kinds(&k8s(2000, 7, 0.0));
    let identity: BTreeSet<&str> =
        ["username", "ipv4", "ipv6", "aws_access_key_id", "credential_id"].into();
    assert!(k0.is_subset(&identity), "{k0:?}");
    let k = kinds(&k8s(3000, 7, 0.5));
    for kind in [
        "username",
        "email",
        "ipv4",
        "ipv6",
        "jwt",
        "bearer",
        "aws_access_key_id",
        "aws_secret_key",
        "private_key",
        "credit_card",
        "secret_param",
        "password",
        "secret_b64",
        "phone",
        "person_name",
        "credential_id",
    ] {
        assert!(k.contains(kind), "k8s corpus lacks {kind}: {k:?}");
    }
    let e0 = kinds(&envoy(2000, 7, 0.0));
    assert!(e0.is_subset(&["email", "user_id", "ipv4", "ipv6"].into()), "{e0:?}");
    let e = kinds(&envoy(3000, 7, 0.5));
    for kind in [
        "email",
        "user_id",
        "ipv4",
        "ipv6",
        "jwt",
        "basic",
        "session_token",
        "secret_param",
        "password",
        "credit_card",
    ] {
        assert!(e.contains(kind), "envoy corpus lacks {kind}: {e:?}");
    }
}

#[test]
fn k8s_lines_look_like_kube_apiserver_output() {
    let c = k8s(4000, 8, 0.2);
    let mut stages = BTreeSet::new();
    let mut codes = BTreeSet::new();
    let (mut impersonated, mut v6, mut forbidden_named, mut last_applied, mut pairs) =
        (0, 0, 0, 0, 0);
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut prev = i64::MIN;
    for (line, v) in c.lines.iter().zip(parse(&c)) {
        assert!(
            line.starts_with(r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":""#),
            "{line}"
        );
        // Go's encoder writes &, <, > as \u0026, \u003c, \u003e.
        assert!(!line.contains(['&', '<', '>']), "{line}");
        stages.insert(v["stage"].as_str().unwrap().to_string());
        if let Some(code) = v.pointer("/responseStatus/code") {
            codes.insert(code.as_i64().unwrap());
        }
        impersonated += usize::from(v.get("impersonatedUser").is_some());
        v6 += usize::from(
            v["sourceIPs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|ip| ip.as_str().unwrap().contains("2001:db8:")),
        );
        let msg = v.pointer("/responseStatus/message").and_then(Value::as_str).unwrap_or("");
        forbidden_named += usize::from(msg.contains("is forbidden: User \""));
        for side in ["requestObject", "responseObject"] {
            if let Some(la) = v.pointer(&format!(
                "/{side}/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration"
            )) {
                let inner: Value =
                    serde_json::from_str(la.as_str().unwrap()).expect("last-applied holds JSON");
                assert!(inner["kind"].is_string());
                last_applied += 1;
            }
        }
        *ids.entry(v["auditID"].as_str().unwrap().to_string()).or_default() += 1;
        let ts = parse_rfc3339(v["requestReceivedTimestamp"].as_str().unwrap()).unwrap();
        assert!(ts >= prev, "requestReceivedTimestamp goes backwards");
        prev = ts;
    }
    pairs += ids.values().filter(|&&n| n == 2).count();
    assert!(ids.values().all(|&n| n <= 2));
    assert_eq!(
        stages,
        ["RequestReceived", "ResponseComplete", "ResponseStarted"].map(String::from).into()
    );
    for code in [101, 200, 201, 400, 401, 403, 404, 409] {
        assert!(codes.contains(&code), "no {code} in {codes:?}");
    }
    assert!(impersonated > 0 && v6 > 0 && forbidden_named > 0 && last_applied > 0 && pairs > 0);
}

#[test]
fn envoy_lines_have_sorted_keys_typed_numbers_and_nulls() {
    let c = envoy(3000, 9, 0.2);
    let mut bracketed_v6 = 0;
    let mut chains = 0;
    for (line, v) in c.lines.iter().zip(parse(&c)) {
        // serde_json's default map is sorted, so this round trip is the identity
        // exactly when keys are sorted and values are written the way Envoy does.
        assert_eq!(&serde_json::to_string(&v).unwrap(), line);
        assert!(v["response_code"].is_u64() && v["duration"].is_u64() && v["bytes_sent"].is_u64());
        assert!(v["authorization"].is_null() || v["authorization"].is_string());
        let remote = v["downstream_remote_address"].as_str().unwrap();
        bracketed_v6 += usize::from(remote.starts_with("[2001:db8:") && remote.contains("]:"));
        chains += usize::from(v["x_forwarded_for"].as_str().unwrap().contains(", "));
    }
    assert!(bracketed_v6 > 0 && chains > 0);
}

#[test]
fn truth_json_is_valid_and_complete() {
    let c = k8s(800, 3, 0.3);
    let t: Value = serde_json::from_str(&c.truth.to_json()).unwrap();
    assert_eq!(t["planted"].as_array().unwrap().len(), c.truth.planted.len());
    assert_eq!(t["counts"]["total"].as_u64().unwrap(), 800);
    assert_eq!(t["counts"]["window_secs"].as_i64().unwrap(), 60);
    let windows = t["counts"]["windows"].as_array().unwrap();
    assert_eq!(windows.len(), c.truth.counts.windows.len());
    assert_eq!(windows.iter().map(|w| w["total"].as_u64().unwrap()).sum::<u64>(), 800);
    let first = &windows[0];
    assert_eq!(
        parse_rfc3339(first["start"].as_str().unwrap()).unwrap(),
        first["start_unix"].as_i64().unwrap() * 1_000_000
    );
}
