//! The `dp-audit-harness` binary end to end, with a WAT module standing in for dp-audit.

// Test code: the crate's panic-free rules apply to the library, not to test helpers.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_dp-audit-harness");

/// Finds a preopen holding both dp-audit.json and dp-audit.key; without one it answers
/// `{"error":"no config"}`. With one it echoes the record, except `{}` which it drops.
const MODULE: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 2000) "dp-audit.json")
  (data (i32.const 2020) "dp-audit.key")
  (data (i32.const 2100) "{\"error\":\"no config\"}\00")
  (data (i32.const 2200) "\00")
  (func $has (param $dir i32) (param $name i32) (param $len i32) (result i32)
    (if (call $path_open (local.get $dir) (i32.const 0) (local.get $name) (local.get $len)
          (i32.const 0) (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 1012))
      (then (return (i32.const 0))))
    (drop (call $fd_close (i32.load (i32.const 1012))))
    i32.const 1)
  (func (export "dp_scrub") (param $tag i32) (param $tag_len i32) (param $sec i32)
        (param $nsec i32) (param $rec i32) (param $rec_len i32) (result i32)
    (local $fd i32) (local $found i32)
    (local.set $fd (i32.const 3))
    (block $done
      (loop $next
        (br_if $done (call $prestat_get (local.get $fd) (i32.const 1000)))
        (if (i32.and (call $has (local.get $fd) (i32.const 2000) (i32.const 13))
                     (call $has (local.get $fd) (i32.const 2020) (i32.const 12)))
          (then (local.set $found (i32.const 1)) (br $done)))
        (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
        (br $next)))
    (if (i32.eqz (local.get $found)) (then (return (i32.const 2100))))
    (if (i32.eq (local.get $rec_len) (i32.const 2)) (then (return (i32.const 2200))))
    local.get $rec))"#;

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("module.wat"), MODULE).unwrap();
        std::fs::write(dir.path().join("policy.json"), r#"{"version":1}"#).unwrap();
        std::fs::write(dir.path().join("k.key"), "00".repeat(32) + "\n").unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn fluent_bit(fx: &Fixture, extra: &[&str], stdin: &[u8]) -> Output {
    let wasm = fx.path("module.wat");
    let policy = fx.path("policy.json");
    let key = fx.path("k.key");
    let mut args = vec![
        "fluent-bit",
        "--wasm",
        &wasm,
        "--policy",
        &policy,
        "--key-file",
        &key,
    ];
    args.extend_from_slice(extra);
    run(&args, stdin)
}

#[test]
fn records_flow_through_and_bad_lines_are_reported_not_echoed() {
    let fx = Fixture::new();
    let input: &[u8] =
        b"{\"a\":1}\nsecret-not-json\n{}\n\n{\"b\":\"\xff-secret\"}\r\n{\"c\":[1,2]}\r\n";
    let out = fluent_bit(&fx, &[], input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"a\":1}\n{\"c\":[1,2]}\n"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 2: not a single JSON object; not passed to the module"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5: not valid UTF-8; not passed to the module"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "line content leaked: {stderr}");
    assert!(
        stderr
            .contains("records: 3 processed, 2 emitted, 1 dropped, 0 corrupted; 2 lines rejected"),
        "{stderr}"
    );
    // No fuel line unless asked.
    assert!(!stderr.contains("fuel/record"));
}

#[test]
fn fuel_prints_the_average_per_record() {
    let fx = Fixture::new();
    let out = fluent_bit(&fx, &["--fuel"], b"{\"a\":1}\n{\"a\":2}\n");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("fuel/record "))
        .unwrap_or_else(|| panic!("no fuel line: {stderr}"));
    let n: u64 = line["fuel/record ".len()..].parse().unwrap();
    assert!(n > 10, "{line}");
    // Deterministic: the same input gives the same count.
    let again = fluent_bit(&fx, &["--fuel"], b"{\"a\":1}\n{\"a\":2}\n");
    assert!(String::from_utf8_lossy(&again.stderr).contains(line));
}

#[test]
fn unknown_function_is_refused_up_front() {
    let fx = Fixture::new();
    let out = fluent_bit(&fx, &["--function", "nope"], b"{\"a\":1}\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("export `nope` not found"));
}

#[test]
fn missing_policy_file_is_an_error_naming_the_file() {
    let fx = Fixture::new();
    let wasm = fx.path("module.wat");
    let key = fx.path("k.key");
    let missing = fx.path("absent.json");
    let out = run(
        &[
            "fluent-bit",
            "--wasm",
            &wasm,
            "--policy",
            &missing,
            "--key-file",
            &key,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("absent.json"));
}

#[test]
fn keygen_prints_64_hex_chars() {
    let out = run(&["keygen"], b"");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.len(), 65);
    assert!(text.ends_with('\n'));
    assert!(text[..64].bytes().all(|b| b.is_ascii_hexdigit()));
    let other = String::from_utf8(run(&["keygen"], b"").stdout).unwrap();
    assert_ne!(text, other);
}

#[test]
fn reserved_subcommands_say_so() {
    for sub in ["sample", "calibrate", "envoy"] {
        let out = run(&[sub], b"");
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("reserved"));
    }
    assert!(Path::new(BIN).exists());
}
