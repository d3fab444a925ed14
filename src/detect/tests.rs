//! Tests of the scanner as a whole; each detector's own cases sit in its file.

use super::*;
use crate::scrub::pseudonym::Pseudonymizer;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The texts of `kind`'s findings when only `kind` runs.
pub(crate) fn spans(text: &str, kind: Kind) -> Vec<&str> {
    let mut found = Vec::new();
    find_all(text, DetectorSet::empty().with(kind), &mut found);
    found
        .iter()
        .map(|f| {
            assert_eq!(f.kind, kind);
            &text[f.start..f.end]
        })
        .collect()
}

fn all(text: &str) -> Vec<(Kind, &str)> {
    findings(text, DetectorSet::all())
        .map(|f| (f.kind, &text[f.start..f.end]))
        .collect()
}

fn scrub(text: &str, ids: Option<&mut Pseudonymizer>) -> (String, usize) {
    let mut out = String::new();
    let n = scrub_text(text, DetectorSet::all(), ids, &mut out);
    (out, n)
}

fn pseudonymizer() -> Pseudonymizer {
    Pseudonymizer::new("k1", &(0u8..32).collect::<Vec<_>>(), 64).unwrap()
}

#[test]
fn kind_names_round_trip() {
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(
        names,
        [
            "email",
            "ipv4",
            "ipv6",
            "jwt",
            "bearer",
            "basic",
            "aws_access_key_id",
            "aws_secret_key",
            "private_key",
            "credit_card",
            "secret_param",
            "principal",
            "phone",
            "random_token"
        ]
    );
    for k in Kind::ALL {
        assert_eq!(Kind::from_name(k.name()), Some(k));
    }
    assert_eq!(Kind::from_name("Email"), None);
    assert_eq!(Kind::from_name(""), None);
}

#[test]
fn detector_sets() {
    let s = DetectorSet::empty().with(Kind::Email).with(Kind::Jwt);
    assert!(s.contains(Kind::Email) && s.contains(Kind::Jwt));
    assert!(!s.contains(Kind::Ipv4));
    assert!(Kind::ALL.iter().all(|&k| DetectorSet::all().contains(k)));
    assert!(Kind::ALL.iter().all(|&k| !DetectorSet::empty().contains(k)));
    let mut out = Vec::new();
    find_all("bob@example.com 1.2.3.4", DetectorSet::empty(), &mut out);
    assert!(out.is_empty());
}

// Real message shapes, quoted from the public samples in the team's data set:
// liggitt/audit2rbac testdata/demo.log (Apache-2.0), falcosecurity/falco
// test/trace_files/k8s_audit (Apache-2.0), crowdsecurity/hub .tests/envoy (MIT).
const K8S_FORBIDDEN: &str = r#"pods is forbidden: User "system:serviceaccount:ns1:sa1" cannot list pods in the namespace "default""#;
const K8S_RBAC: &str = r#"clusterrole.rbac.authorization.k8s.io "system:controller:replicaset-controller" of ClusterRole "system:controller:replicaset-controller" to ServiceAccount "replicaset-controller/kube-system""#;
const FALCO_CONFIGMAP: &str = "password = MY-ID\naws_secret_access_key = MY-KEY\n";

#[test]
fn real_message_shapes() {
    assert_eq!(
        all(K8S_FORBIDDEN),
        vec![(Kind::Principal, "system:serviceaccount:ns1:sa1")]
    );
    assert_eq!(
        all(K8S_RBAC),
        vec![(Kind::Principal, "replicaset-controller/kube-system")]
    );
    assert_eq!(
        all(FALCO_CONFIGMAP),
        vec![(Kind::SecretParam, "MY-ID"), (Kind::SecretParam, "MY-KEY")]
    );
    // Clean strings from the same samples: no findings.
    for clean in [
        "/api/v1/namespaces/default/pods?includeUninitialized=true",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Anode-problem-detector",
        "2017-09-11T19:55:05Z",
        "2025-12-31T17:37:40.493035218+01:00",
        "033d17af-082d-4b24-aa22-627752e83d71",
        "Mozilla/4.0 (Windows NT 9.0; Win64; x64; rv:136.0) Gecko/20101 Firefox/136.0",
        "httproute/app/app-www-example-com/rule/0/match/0/www_example_com",
        "RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\" to Group \"system:masters\"",
        "containers with unready status: [nginx]",
        "/var/run/secrets/kubernetes.io/serviceaccount",
        "default-token-g2sp7",
        "arn:aws:iam::123456789012:role/stratus-red-team",
    ] {
        assert_eq!(all(clean), vec![], "{clean}");
    }
}

#[test]
fn mixed_text_is_ordered_and_complete() {
    let text = "GET /cb?access_token=tok123456&x=1 from 10.0.0.12:5555 via [2001:db8::1]:443 \
                by bob@example.com; Authorization: Bearer abc.def; key AKIAIOSFODNN7EXAMPLE \
                card 4111 1111 1111 1111 msg User \"alice\" cannot";
    assert_eq!(
        all(text),
        vec![
            (Kind::SecretParam, "tok123456"),
            (Kind::Ipv4, "10.0.0.12"),
            (Kind::Ipv6, "2001:db8::1"),
            (Kind::Email, "bob@example.com"),
            (Kind::Bearer, "abc.def"),
            (Kind::AwsAccessKeyId, "AKIAIOSFODNN7EXAMPLE"),
            (Kind::CreditCard, "4111 1111 1111 1111"),
            (Kind::Principal, "alice"),
        ]
    );
}

#[test]
fn earlier_finding_wins_on_overlap() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
    // The parameter starts at the same byte and is at least as long.
    assert_eq!(
        all(&format!("id_token={jwt}")),
        vec![(Kind::SecretParam, jwt)]
    );
    assert_eq!(all(&format!("Bearer {jwt}")), vec![(Kind::Bearer, jwt)]);
    assert_eq!(all(&format!("x {jwt}")), vec![(Kind::Jwt, jwt)]);
    // A quoted principal that is an address is reported as an email.
    assert_eq!(
        all(r#"User "bob@example.com""#),
        vec![(Kind::Email, "bob@example.com")]
    );
    // Only JWT enabled: it is found inside the parameter value.
    assert_eq!(spans(&format!("id_token={jwt}"), Kind::Jwt), vec![jwt]);
}

#[test]
fn find_all_appends() {
    let mut out = vec![Finding {
        start: 0,
        end: 1,
        kind: Kind::Jwt,
    }];
    find_all("a 1.2.3.4", DetectorSet::all(), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[1],
        Finding {
            start: 2,
            end: 9,
            kind: Kind::Ipv4
        }
    );
}

#[test]
fn scrub_text_redacts() {
    let (out, n) = scrub("from 10.0.0.12:5555 token=abcdefgh", None);
    assert_eq!(
        out,
        "from [REDACTED:ipv4]:5555 token=[REDACTED:secret_param]"
    );
    assert_eq!(n, 2);
    let (out, n) = scrub(K8S_FORBIDDEN, None);
    assert_eq!(
        out,
        r#"pods is forbidden: User "[REDACTED:principal]" cannot list pods in the namespace "default""#
    );
    assert_eq!(n, 1);
}

#[test]
fn scrub_text_passes_clean_text_through() {
    for text in ["", "plain words", "2017-09-11T19:55:05Z ünïcödé ✓", "a=b"] {
        let mut out = String::from(">");
        assert_eq!(scrub_text(text, DetectorSet::all(), None, &mut out), 0);
        assert_eq!(out, format!(">{text}"));
    }
}

#[test]
fn scrub_text_pseudonymizes_identities() {
    let mut p = pseudonymizer();
    let mut bob = String::new();
    p.write(b"bob", &mut bob);
    let (out, n) = scrub(
        r#"User "bob" cannot, mail Bob.Smith@Example.COM; ip 1.2.3.4"#,
        Some(&mut p),
    );
    assert_eq!(
        out,
        format!(r#"User "{bob}" cannot, mail k1:1e53e8fc2ea57367@example.com; ip [REDACTED:ipv4]"#)
    );
    assert_eq!(n, 3);
    // Without identities the same findings are redacted.
    let (out, _) = scrub(r#"User "bob" mail bob@example.com"#, None);
    assert_eq!(out, r#"User "[REDACTED:principal]" mail [REDACTED:email]"#);
}

#[test]
fn random_text_is_safe() {
    // Alphabet weighted towards trigger bytes and multibyte characters, so the
    // detectors' edges (text ends, char boundaries, look-backs) get exercised.
    const PIECES: &[&str] = &[
        "a",
        "e",
        "y",
        "J",
        "A",
        "K",
        "I",
        "B",
        "b",
        "earer ",
        "asic ",
        "0",
        "1",
        "4",
        "9",
        ".",
        ":",
        "::",
        "=",
        "\"",
        "'",
        "-",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "-----END ",
        "@",
        "ex.com",
        " ",
        "\t",
        "\n",
        "&",
        ",",
        ";",
        "[",
        "]",
        "é",
        "日",
        "😀",
        "User \"",
        "ServiceAccount \"",
        "token",
        "password",
        "eyJ",
        "AKIA",
        "ffff",
        "x.",
        "_",
        "%",
        "+",
        "/",
        "%40",
        "%2",
        "%3A%20",
        "(",
        ")",
        "credential (",
        "Qz7x",
        "user=",
        "phone=",
        "+1-906-555-0182",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut p = pseudonymizer();
    for _ in 0..20_000 {
        let len = rng.next_u32() % 40;
        let text: String = (0..len)
            .map(|_| PIECES[(rng.next_u32() as usize) % PIECES.len()])
            .collect();
        let mut found = Vec::new();
        find_all(&text, DetectorSet::all(), &mut found);
        let mut prev_end = 0;
        for f in &found {
            assert!(
                f.start >= prev_end && f.start < f.end && f.end <= text.len(),
                "{text:?} {f:?}"
            );
            assert!(
                text.is_char_boundary(f.start) && text.is_char_boundary(f.end),
                "{text:?} {f:?}"
            );
            prev_end = f.end;
        }
        let mut out = String::new();
        let n = scrub_text(&text, DetectorSet::all(), Some(&mut p), &mut out);
        assert_eq!(n, found.len());
        // Each detector alone finds a superset of what it reports in company
        // (company only takes away overlapping text).
        for k in Kind::ALL {
            let alone = spans(&text, k).len();
            let together = found.iter().filter(|f| f.kind == k).count();
            if k != Kind::Email && k != Kind::Principal {
                assert!(alone >= together, "{k:?} {text:?}");
            }
        }
    }
}

/// Microbenchmark (native, wall clock, best of 9):
/// `cargo test --release --lib detect::tests::bench -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_find_all_ns_per_byte() {
    use std::time::Instant;
    // String values shaped like those of a Kubernetes audit record (no findings).
    const CLEAN_VALUES: &[&str] = &[
        "Event",
        "audit.k8s.io/v1",
        "Metadata",
        "033d17af-082d-4b24-aa22-627752e83d71",
        "ResponseComplete",
        "/api/v1/namespaces/kube-system/pods?limit=500",
        "list",
        "system:serviceaccount:kube-system:default",
        "system:serviceaccounts",
        "system:authenticated",
        "kubectl/v1.24.0 (linux/amd64) kubernetes/4ce5a89",
        "pods",
        "kube-system",
        "v1",
        "2017-09-11T19:55:05.493035Z",
        "allow",
        "RBAC: allowed by ClusterRoleBinding",
        "rbac.authorization.k8s.io",
        "coredns-78fcd69978-abcde",
        "audit2rbac:bob",
    ];
    const DIRTY_VALUES: &[&str] = &[
        "10.0.0.12",
        "::1",
        "bob@example.com",
        r#"pods is forbidden: User "bob" cannot list pods"#,
        "/cb?access_token=tok123456&x=1",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        "AKIAIOSFODNN7EXAMPLE",
        "[2001:db8::1]:443",
    ];
    let prose = "The quick brown fox jumps over the lazy dog while the audit log keeps growing. "
        .repeat(2000);
    let cases: [(&str, Vec<&str>); 3] = [
        ("clean prose", vec![prose.as_str()]),
        ("clean values", CLEAN_VALUES.repeat(2000)),
        ("values w/ finds", DIRTY_VALUES.repeat(2000)),
    ];
    // `DP_AUDIT_BENCH_ONLY=<name>` runs one case (for instruction counts
    // under `valgrind --tool=callgrind`, steadier than wall clock on a
    // shared machine).
    let only = std::env::var("DP_AUDIT_BENCH_ONLY").ok();
    for (name, values) in cases {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let bytes: usize = values.iter().map(|v| v.len()).sum();
        let mut found = Vec::new();
        let mut best = f64::MAX;
        for _ in 0..9 {
            let t = Instant::now();
            for v in &values {
                found.clear();
                find_all(std::hint::black_box(v), DetectorSet::all(), &mut found);
            }
            best = best.min(t.elapsed().as_nanos() as f64 / bytes as f64);
        }
        let mut out = String::new();
        let mut best_scrub = f64::MAX;
        for _ in 0..9 {
            let t = Instant::now();
            for v in &values {
                out.clear();
                scrub_text(std::hint::black_box(v), DetectorSet::all(), None, &mut out);
            }
            best_scrub = best_scrub.min(t.elapsed().as_nanos() as f64 / bytes as f64);
        }
        println!(
            "{name:>15}: find_all {best:.2} ns/byte, scrub_text {best_scrub:.2} ns/byte ({} values, {bytes} bytes)",
            values.len()
        );
    }
}

#[test]
fn swar_candidates_cover_every_trigger_byte() {
    // Every trigger byte is a candidate at every position of a word, the
    // lowest candidate bit is exact, and non-candidates (almost all text)
    // raise no bit.
    let filler = u64::from_le_bytes([b'x'; 8]);
    assert_eq!(candidates(filler), 0);
    for v in 0u8..=255 {
        let is_candidate = matches!(v, b'"'..=b'(' | b'0'..=b'B' | b'J' | b'b');
        if class(v) & 0x3F != 0 {
            assert!(is_candidate, "trigger {v:#x} not a candidate");
        }
        for p in 0..8 {
            let x = (filler & !(0xFFu64 << (8 * p))) | (u64::from(v) << (8 * p));
            let hits = candidates(x);
            if is_candidate {
                assert_eq!(hits.trailing_zeros(), 8 * p + 7, "{v:#x} at {p}");
            } else {
                assert_eq!(hits, 0, "{v:#x} at {p}");
            }
        }
    }
}

#[test]
fn scanner_agrees_with_a_plain_byte_loop() {
    // Reference: try every byte position with the table, no SWAR, no
    // shortcuts; the real scanner must report exactly the same findings.
    fn reference(text: &str, set: DetectorSet) -> Vec<Finding> {
        let b = text.as_bytes();
        let mut f = findings(text, set);
        f.pos = 0;
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let prev = before(b, i);
            let mut hit = None;
            if is_trigger(class(c), prev, f.mask) && f.worth_trying(b, i, c, prev) {
                hit = f.try_at(b, i);
            }
            if hit.is_none() && class(c) & f.mask & T_DIGIT != 0 {
                hit = f.token(b, i);
            }
            if hit.is_none() && c == b'(' && prev == b' ' {
                hit = secret_param::find_in_parens(b, i, f.set).map(|(start, end)| Finding {
                    start,
                    end,
                    kind: Kind::SecretParam,
                });
            }
            if let Some(found) = hit {
                f.floor = found.end;
                i = found.end;
                out.push(found);
                continue;
            }
            i += 1;
        }
        out
    }
    const PIECES: &[&str] = &[
        "a",
        "x",
        "y",
        "J",
        "A",
        "AKIA",
        "IOSFODNN7EXAMPLE",
        "B",
        "b",
        "earer ",
        "Bearer ",
        "0",
        "4",
        "1111",
        ".",
        ":",
        "::",
        "=",
        "\"",
        "-",
        " ",
        "@",
        "ex.com",
        "User \"",
        "token",
        "=",
        "é",
        "😀",
        "eyJ",
        "hbGciOiJIUzI1NiJ9",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "10.0.0.1",
        "2001:db8::1",
        "4111 1111 ",
        "Zx8Kq2Lm",
        "7Hq2",
        "-",
        "credential (",
        ")",
        "%40",
        "user=",
        "+44 20 7946 0958",
        "(906) 555-0182",
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for _ in 0..20_000 {
        let len = rng.next_u32() % 24;
        let text: String = (0..len)
            .map(|_| PIECES[(rng.next_u32() as usize) % PIECES.len()])
            .collect();
        let got: Vec<Finding> = findings(&text, DetectorSet::all()).collect();
        assert_eq!(got, reference(&text, DetectorSet::all()), "{text:?}");
    }
}

#[test]
fn percent_encoded_findings_map_back_to_the_encoded_text() {
    let uri = "/api/v1/namespaces/n/pods/p/exec?command=curl&command=-H&command=Authorization%3A%20Bearer%20ghp_AbCdEf0123456789&command=x&container=c";
    let mut found = Vec::new();
    find_all(uri, DetectorSet::all(), &mut found);
    let texts: Vec<(Kind, &str)> = found
        .iter()
        .map(|f| (f.kind, &uri[f.start..f.end]))
        .collect();
    assert_eq!(texts, vec![(Kind::Bearer, "ghp_AbCdEf0123456789")]);

    let (out, n) = scrub(
        "/subscribe?email=bob.smith%40example.org&source=footer",
        None,
    );
    assert_eq!(n, 1);
    assert_eq!(out, "/subscribe?email=[REDACTED:email]&source=footer");
    // Encoded `@` and the bytes around it: the span covers the escapes.
    let (out, _) = scrub("q=where%20email%3D%27ann%40x.io%27", None);
    assert_eq!(out, "q=where%20email%3D%27[REDACTED:email]%27");
    // Double encoding.
    let (out, _) = scrub("e=ann%2540x.io", None);
    assert_eq!(out, "e=[REDACTED:email]");
    // Identities are pseudonymized from the decoded text, like raw ones.
    let mut p = pseudonymizer();
    let (raw, _) = scrub("e=ann@x.io", Some(&mut p));
    let (enc, _) = scrub("e=ann%40x.io", Some(&mut p));
    assert_eq!(raw, enc);
    assert!(!enc.contains("ann"), "{enc}");
    // A raw finding and a decoded one over the same bytes merge into one.
    let (out, n) = scrub("?token=abc%2Fdef0123&x=1", None);
    assert_eq!((out.as_str(), n), ("?token=[REDACTED:secret_param]&x=1", 1));
}

#[test]
fn percent_escapes_without_findings_leave_text_alone() {
    for clean in [
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/system%3Anode-problem-detector",
        "/api/v1/namespaces/default/pods/p/exec?command=%2Fbin%2Fsh&container=app&stdin=true",
        "100% done, 50%% left",
        "select%20*%20from%20orders",
    ] {
        let mut found = Vec::new();
        find_all(clean, DetectorSet::all(), &mut found);
        assert!(found.is_empty(), "{clean}: {found:?}");
        assert_eq!(scrub(clean, None), (clean.to_string(), 0));
    }
}

#[test]
fn exec_uris_and_credential_messages() {
    let (out, _) = scrub(
        "/exec?command=mysql&command=-uroot&command=-pQ8fLm2Xz7Rk4Wp9T&command=orders",
        None,
    );
    assert!(!out.contains("Q8fLm2Xz7Rk4Wp9T"), "{out}");
    let (out, _) = scrub(
        "container \"api\" env DB_PASSWORD holds a literal credential (qs5wP3KvW20mqjn8); use a secretKeyRef",
        None,
    );
    assert_eq!(
        out,
        "container \"api\" env DB_PASSWORD holds a literal credential ([REDACTED:secret_param]); use a secretKeyRef"
    );
    let (out, _) = scrub("mysql -uroot -pqs5wP3KvW20mqjn8 orders", None);
    assert_eq!(out, "mysql -uroot -[REDACTED:random_token] orders");
    let mut p = pseudonymizer();
    let (out, _) = scrub("proxy/login?user=jdoe4821&password=pw", Some(&mut p));
    assert!(!out.contains("jdoe4821") && !out.contains("pw"), "{out}");
}
