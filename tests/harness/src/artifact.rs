//! The real dp-audit artifact and the helpers that drive a host with it.
//!
//! `dist/dp_audit_fluent_bit.wasm` is built by `make dist` at the repository root
//! (`cargo build --release --target wasm32-wasip1 --no-default-features --features
//! fluent-bit -p dp-audit`, then copied). The module finds its policy and key by
//! walking its WASI preopens for [`POLICY_FILE_NAME`] and [`KEY_FILE_NAME`], so the
//! helpers stage both in a temporary directory and preopen it, as Fluent Bit would be
//! configured with `accessible_paths <that directory>`. The directory is preopened under
//! its own absolute host path (Fluent Bit has no renaming of preopens).

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::fluent_bit::{CallReport, FluentBitConfig, FluentBitHost, RecordTime};
use crate::jsonl::{record_text, LineError};
use crate::HarnessError;

/// Artifact path relative to the repository root.
pub const FLUENT_BIT_ARTIFACT: &str = "dist/dp_audit_fluent_bit.wasm";
/// The filter function the artifact exports.
pub const SCRUB_FUNCTION: &str = "dp_scrub";
/// Default tag of the CLI and helpers.
pub const DEFAULT_TAG: &str = "dp.audit";
/// File name the module looks for in its preopens: the JSON policy.
pub const POLICY_FILE_NAME: &str = "dp-audit.json";
/// File name the module looks for in its preopens: the HMAC key (64 hex chars).
pub const KEY_FILE_NAME: &str = "dp-audit.key";

/// The repository root: two levels above this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Path of the built Fluent Bit artifact, or an error telling how to build it.
pub fn fluent_bit_artifact() -> Result<PathBuf, HarnessError> {
    let path = repo_root().join(FLUENT_BIT_ARTIFACT);
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::Io {
            path: path.display().to_string(),
            message: "artifact missing: run `make dist` at the repository root (cargo build \
                      --release --target wasm32-wasip1 --no-default-features --features \
                      fluent-bit -p dp-audit, then copy to dist/)"
                .to_owned(),
        })
    }
}

/// A temporary directory holding the policy and key, removed on drop.
#[derive(Debug)]
pub struct StagedConfig {
    dir: TempDir,
}

impl StagedConfig {
    /// Writes `policy` as [`POLICY_FILE_NAME`] and `key` as [`KEY_FILE_NAME`].
    pub fn new(policy: &[u8], key: &[u8]) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("dp-audit-harness-")
            .tempdir()
            .map_err(|e| HarnessError::io("<temp dir>", &e))?;
        for (name, bytes) in [(POLICY_FILE_NAME, policy), (KEY_FILE_NAME, key)] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).map_err(|e| HarnessError::io(&path, &e))?;
        }
        Ok(Self { dir })
    }

    /// Copies a policy file and a key file into a fresh staging directory.
    pub fn from_files(policy: &Path, key: &Path) -> Result<Self, HarnessError> {
        let policy_bytes = std::fs::read(policy).map_err(|e| HarnessError::io(policy, &e))?;
        let key_bytes = std::fs::read(key).map_err(|e| HarnessError::io(key, &e))?;
        Self::new(&policy_bytes, &key_bytes)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `accessible_paths` entry preopening this directory.
    pub fn accessible_path(&self) -> String {
        self.dir.path().display().to_string()
    }
}

/// A host running the real artifact with a staged policy and key. The staging
/// directory lives as long as the host.
pub struct ArtifactHost {
    pub host: FluentBitHost,
    pub staged: StagedConfig,
}

/// Loads the Fluent Bit artifact with `policy` and `key`; `adjust` may change the
/// filter configuration (heap, stack, fuel) before instantiation.
pub fn load_fluent_bit_artifact(
    policy: &[u8],
    key: &[u8],
    adjust: impl FnOnce(&mut FluentBitConfig),
) -> Result<ArtifactHost, HarnessError> {
    let wasm = fluent_bit_artifact()?;
    let staged = StagedConfig::new(policy, key)?;
    let mut config = FluentBitConfig::new(wasm, SCRUB_FUNCTION);
    config.accessible_paths = vec![staged.accessible_path()];
    adjust(&mut config);
    let host = FluentBitHost::new(config)?;
    Ok(ArtifactHost { host, staged })
}

/// What became of one input line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineOutcome {
    /// Blank line, skipped.
    Blank,
    /// Not handed to the module.
    Rejected(LineError),
    /// Handed to the module.
    Processed(CallReport),
}

impl LineOutcome {
    /// The emitted record body, if the module produced one.
    pub fn emitted(&self) -> Option<&str> {
        match self {
            Self::Processed(CallReport {
                outcome: crate::fluent_bit::Outcome::Emitted(text),
                ..
            }) => Some(text),
            _ => None,
        }
    }
}

/// Feeds one JSON line through `host` with `tag` and the current time.
pub fn process_line(host: &mut FluentBitHost, tag: &str, line: &[u8]) -> LineOutcome {
    process_line_timed(host, tag, line, None)
}

/// Like [`process_line`], with the record's timestamp read from the top-level
/// field `time_key` (RFC 3339 text or unix seconds), as a Fluent Bit parser
/// with `Time_Key` sets it; the current time when absent or unreadable.
pub fn process_line_timed(
    host: &mut FluentBitHost,
    tag: &str,
    line: &[u8],
    time_key: Option<&str>,
) -> LineOutcome {
    match record_text(line) {
        Ok(None) => LineOutcome::Blank,
        Err(err) => LineOutcome::Rejected(err),
        Ok(Some(text)) => {
            let time = time_key
                .and_then(|k| record_time(text, k))
                .unwrap_or_else(RecordTime::now);
            LineOutcome::Processed(host.process(tag, time, text))
        }
    }
}

fn record_time(text: &str, key: &str) -> Option<RecordTime> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let (sec, nsec) = match v.get(key)? {
        serde_json::Value::String(s) => dp_audit::time::parse_rfc3339(s)?,
        serde_json::Value::Number(n) => (n.as_i64()?, 0),
        _ => return None,
    };
    Some(RecordTime {
        sec: u32::try_from(sec).ok()?,
        nsec,
    })
}

/// Feeds `lines` (JSON lines) through `host` with `tag` and the current time.
pub fn run_lines<L: AsRef<[u8]>>(
    host: &mut FluentBitHost,
    tag: &str,
    lines: impl IntoIterator<Item = L>,
) -> Vec<LineOutcome> {
    lines
        .into_iter()
        .map(|line| process_line(host, tag, line.as_ref()))
        .collect()
}
