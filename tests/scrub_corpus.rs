//! Native end-to-end checks of the scrubber on generated corpora with planted
//! PII and on the bundled real samples: nothing planted survives, every line
//! is valid JSON, no record is lost.

use dp_audit::keys::KeyRing;
use dp_audit::policy::Policy;
use dp_audit::scrubber::Scrubber;
use dp_audit_corpus::{envoy_access, k8s_audit, Corpus, EnvoyConfig, K8sConfig};
use serde_json::Value;

const KEY: &str = "4f1c2a9be03d57f6a8c1d2e3f40516273849aabbccddeeff0011223344556677";

fn scrubber(policy: &str) -> Scrubber {
    let policy = Policy::from_json(policy).unwrap();
    Scrubber::new(&policy, Some(&KeyRing::parse(KEY, "test").unwrap())).unwrap()
}

/// Scrubs every line; returns the outputs and asserts they are JSON objects.
fn scrub_all(s: &mut Scrubber, lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let mut out = Vec::new();
            s.scrub(line.as_bytes(), &mut out)
                .unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
            let v: Value = serde_json::from_slice(&out)
                .unwrap_or_else(|e| panic!("line {}: output not JSON: {e}", i + 1));
            assert!(v.is_object());
            String::from_utf8(out).unwrap()
        })
        .collect()
}

fn assert_nothing_planted_survives(corpus: &Corpus, outputs: &[String]) {
    assert_eq!(outputs.len(), corpus.lines.len());
    let all = outputs.join("\n");
    let mut leaked = Vec::new();
    for p in &corpus.truth.planted {
        if let Some(at) = all.find(&p.value) {
            let from = all[..at].char_indices().rev().nth(60).map_or(0, |(i, _)| i);
            let ctx: String = all[from..].chars().take(140).collect();
            if std::env::var_os("DP_AUDIT_SHOW_LEAKS").is_some() {
                eprintln!("LEAK {}: {ctx}", p.kind);
            }
            leaked.push(format!("{} ({}) at {:?}", p.kind, p.value.len(), p.paths));
        }
    }
    assert!(
        leaked.is_empty(),
        "{} planted values survived: {leaked:#?}",
        leaked.len()
    );
}

#[test]
fn generated_k8s_audit_corpus_leaks_no_planted_value() {
    let corpus = k8s_audit(&K8sConfig {
        events: 3000,
        pii_rate: 0.3,
        seed: 11,
        ..K8sConfig::default()
    });
    assert!(corpus.truth.planted.len() > 100);
    let mut s = scrubber(r#"{"preset":"k8s-audit"}"#);
    let outputs = scrub_all(&mut s, &corpus.lines);
    assert_nothing_planted_survives(&corpus, &outputs);
}

#[test]
fn generated_envoy_access_corpus_leaks_no_planted_value() {
    let corpus = envoy_access(&EnvoyConfig {
        events: 3000,
        pii_rate: 0.3,
        seed: 5,
        ..EnvoyConfig::default()
    });
    let mut s = scrubber(r#"{"preset":"envoy-access"}"#);
    let outputs = scrub_all(&mut s, &corpus.lines);
    assert_nothing_planted_survives(&corpus, &outputs);
}

#[test]
fn bundled_real_k8s_samples_lose_their_identities() {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/tests/data/k8s/sample.jsonl")).unwrap();
    let lines: Vec<String> = text.lines().map(String::from).collect();
    let mut s = scrubber(r#"{"preset":"k8s-audit"}"#);
    let outputs = scrub_all(&mut s, &lines);
    // Identities the inputs carry, read with an independent parser.
    let mut identities = std::collections::BTreeSet::new();
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap();
        for p in ["/user/username", "/impersonatedUser/username"] {
            if let Some(u) = v.pointer(p).and_then(Value::as_str) {
                identities.insert(u.to_string());
            }
        }
        for ip in v["sourceIPs"].as_array().into_iter().flatten() {
            let ip = ip.as_str().unwrap();
            if ip != "::1" && ip != "127.0.0.1" {
                identities.insert(ip.to_string());
            }
        }
    }
    assert!(identities.len() >= 5, "{identities:?}");
    for (i, out) in outputs.iter().enumerate() {
        for id in &identities {
            // Quoted: short names like "bob" may occur inside unrelated words.
            assert!(
                !out.contains(&format!("\"{id}\"")),
                "line {}: identity {id:?} survived: {out}",
                i + 1
            );
            assert!(
                !out.contains(&format!("User \\\"{id}\\\"")),
                "line {}: {id:?} in a message",
                i + 1
            );
        }
    }
}

/// The memo and the pseudonym cache only save work: a scrubber that has seen
/// thousands of records writes exactly what a fresh one writes for each.
#[test]
fn warm_caches_give_the_same_output_as_fresh_scrubbers() {
    for (preset, lines) in [
        (
            "k8s-audit",
            k8s_audit(&K8sConfig {
                events: 1500,
                pii_rate: 0.3,
                seed: 3,
                ..K8sConfig::default()
            })
            .lines,
        ),
        (
            "envoy-access",
            envoy_access(&EnvoyConfig {
                events: 1500,
                pii_rate: 0.3,
                seed: 4,
                ..EnvoyConfig::default()
            })
            .lines,
        ),
    ] {
        let policy = format!(r#"{{"preset":"{preset}"}}"#);
        let mut warm = scrubber(&policy);
        let warm_out = scrub_all(&mut warm, &lines);
        // Twice through the same scrubber: every value now hits.
        assert_eq!(scrub_all(&mut warm, &lines), warm_out, "{preset}");
        for (i, line) in lines.iter().enumerate().step_by(7) {
            let fresh = scrub_all(&mut scrubber(&policy), std::slice::from_ref(line));
            assert_eq!(fresh[0], warm_out[i], "{preset} line {}", i + 1);
        }
    }
}
