//! The binary: byte-identical output for identical arguments, equal to the library's.

use std::process::Command;

use dp_audit_corpus::{envoy_access, k8s_audit, EnvoyConfig, K8sConfig};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dp-audit-corpus")).args(args).output().unwrap()
}

#[test]
fn k8s_cli_is_deterministic_and_matches_the_library() {
    let dir = std::env::temp_dir().join(format!("dp-audit-corpus-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let truth = dir.join("truth.json");
    let args = [
        "k8s",
        "--events",
        "400",
        "--users",
        "12",
        "--seed",
        "42",
        "--pii-rate",
        "0.2",
        "--truth",
        truth.to_str().unwrap(),
    ];
    let a = run(&args);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let truth_a = std::fs::read(&truth).unwrap();
    let b = run(&args);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(truth_a, std::fs::read(&truth).unwrap());
    let lib = k8s_audit(&K8sConfig {
        events: 400,
        users: 12,
        seed: 42,
        pii_rate: 0.2,
        ..K8sConfig::default()
    });
    assert_eq!(String::from_utf8(a.stdout).unwrap(), lib.to_jsonl());
    assert_eq!(String::from_utf8(truth_a).unwrap(), lib.truth.to_json() + "\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn envoy_cli_honours_every_option() {
    let out = run(&[
        "envoy",
        "--events",
        "300",
        "--users",
        "7",
        "--seed",
        "3",
        "--pii-rate",
        "0.5",
        "--start",
        "1700000000",
        "--rate",
        "5",
        "--window",
        "30",
    ]);
    assert!(out.status.success());
    let lib = envoy_access(&EnvoyConfig {
        events: 300,
        users: 7,
        seed: 3,
        pii_rate: 0.5,
        start_unix: 1_700_000_000,
        rate_per_sec: 5.0,
        window_secs: 30,
    });
    assert_eq!(String::from_utf8(out.stdout).unwrap(), lib.to_jsonl());
    assert!(lib.lines[0].contains("\"start_time\":\"2023-11-14T22:13:"));
}

#[test]
fn bad_arguments_fail_with_usage() {
    for args in [
        &["k8s", "--events"][..],
        &["k8s", "--pii-rate", "2"],
        &["envoy", "--bogus", "1"],
        &["nope"],
        &[],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn hostile_subcommand_writes_every_record() {
    let dir = std::env::temp_dir().join(format!("dp-audit-corpus-hostile-{}", std::process::id()));
    let out = run(&["hostile", dir.to_str().unwrap()]);
    assert!(out.status.success());
    for (name, bytes) in dp_audit_corpus::hostile() {
        assert_eq!(
            std::fs::read(dir.join(format!("{}.bin", name.replace('/', "__")))).unwrap(),
            bytes
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
