//! The real artifact `dist/dp_audit_fluent_bit.wasm` (built by `make dist` at the
//! repository root) in the emulated Fluent Bit filter. These tests fail with a message
//! naming the missing file until the artifact is built.
//!
//! Contract of the export `dp_scrub`: the scrubbed record as a JSON object, or
//! `{"dp_audit_error":"<code>"}` on failure. The tests below hold whatever the policy
//! format turns out to be; policy-specific tests go on top of the helpers.

// Test code: the crate's panic-free rules apply to the library, not to test helpers.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use dp_audit_harness::artifact::{
    load_fluent_bit_artifact, run_lines, ArtifactHost, LineOutcome, DEFAULT_TAG,
};
use dp_audit_harness::fluent_bit::{FluentBitConfig, LogLevel, Outcome, RecordTime};

/// A fixed test key (64 hex characters and a newline, as `dp-audit-harness keygen`).
pub const TEST_KEY: &[u8] = b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

/// Loads the artifact with `policy` and [`TEST_KEY`]; panics with the build hint when
/// the artifact is missing.
pub fn load(policy: &[u8]) -> ArtifactHost {
    load_with(policy, |_| {})
}

pub fn load_with(policy: &[u8], adjust: impl FnOnce(&mut FluentBitConfig)) -> ArtifactHost {
    match load_fluent_bit_artifact(policy, TEST_KEY, adjust) {
        Ok(host) => host,
        Err(err) => panic!("{err}"),
    }
}

/// The `dp_audit_error` code of an emitted record, if it is an error object.
pub fn error_code(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let object = value.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.get("dp_audit_error")?.as_str().map(str::to_owned)
}

/// Emitted record texts of a run, `None` for lines that produced no record.
pub fn emitted(outcomes: &[LineOutcome]) -> Vec<Option<String>> {
    outcomes
        .iter()
        .map(|o| o.emitted().map(str::to_owned))
        .collect()
}

const SECRET: &str = "s3cr3t-4f9a1c";

fn secret_lines() -> Vec<String> {
    vec![
        format!(r#"{{"user":"{SECRET}","msg":"login"}}"#),
        format!(r#"{{"nested":{{"token":"{SECRET}"}},"n":1}}"#),
    ]
}

#[test]
fn artifact_instantiates_like_under_fluent_bit() {
    let mut art = load(b"{}");
    assert!(art.host.has_function(), "dp_scrub must be exported");
    // A Rust cdylib draws WAMR's reactor warning; nothing worse is acceptable.
    let log = art.host.take_log();
    assert!(log.iter().all(|l| l.level == LogLevel::Warn), "{log:?}");
    assert!(
        log.iter().all(|l| !l.message.contains("failed to link")),
        "the Fluent Bit build must not import what WAMR lacks: {log:?}"
    );
}

#[test]
fn unreadable_policy_fails_closed_on_every_record() {
    let mut art = load(b"this is not a policy");
    let outcomes = run_lines(&mut art.host, DEFAULT_TAG, secret_lines());
    for (i, out) in emitted(&outcomes).into_iter().enumerate() {
        // Dropping is acceptable; passing anything but an error object is not.
        if let Some(text) = out {
            assert!(error_code(&text).is_some(), "line {i}: not an error object");
            assert!(!text.contains(SECRET), "line {i}: record value leaked");
        }
    }
    let stderr = art.host.guest_output().take_stderr();
    assert!(
        !stderr.contains(SECRET),
        "guest stderr leaked a record value"
    );
}

#[test]
fn oversize_record_gets_a_null_pointer_and_fails_closed() {
    let mut art = load(b"{}");
    let limit = art.host.max_record_len(DEFAULT_TAG.len()).unwrap();
    let filler = "x".repeat(limit + 1 - format!(r#"{{"user":"{SECRET}","pad":""}}"#).len());
    let record = format!(r#"{{"user":"{SECRET}","pad":"{filler}"}}"#);
    assert_eq!(record.len(), limit + 1);
    let report = art.host.process(DEFAULT_TAG, RecordTime::now(), &record);
    assert_eq!(report.record_ptr, 0, "must not fit the default app heap");
    match report.outcome {
        Outcome::Emitted(text) => {
            assert!(error_code(&text).is_some(), "not an error object");
            assert!(!text.contains(SECRET));
        }
        Outcome::Dropped(_) => {}
        Outcome::Corrupted { values } => panic!("corrupting result ({values} values)"),
    }
}

#[test]
fn a_trap_does_not_take_the_filter_down() {
    // Whatever a record does to the module, later records are still answered.
    let mut art = load(b"{}");
    let mut lines = secret_lines();
    lines.push("{\"deep\":".repeat(200) + "1" + &"}".repeat(200));
    lines.extend(secret_lines());
    let outcomes = run_lines(&mut art.host, DEFAULT_TAG, &lines);
    let last = outcomes.last().unwrap();
    assert!(
        matches!(last, LineOutcome::Processed(r) if !matches!(r.outcome, Outcome::Corrupted { .. })),
        "{last:?}"
    );
}
