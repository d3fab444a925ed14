//! Finding the policy and key files in the directories a host grants.
//!
//! Fluent Bit can hand a module nothing but preopened directories
//! (`accessible_paths`), so the module looks for `dp-audit.json` and
//! `dp-audit.key` in each of them, in order, and takes the first of each.

use crate::error::ConfigError;
use crate::keys::KeyRing;
use crate::policy::Policy;
use std::path::{Path, PathBuf};

pub const POLICY_FILE: &str = "dp-audit.json";
pub const KEY_FILE: &str = "dp-audit.key";

/// Policy (and key, if found) loaded from the first directory holding each.
pub struct Loaded {
    pub policy: Policy,
    pub policy_path: PathBuf,
    pub keys: Option<KeyRing>,
    pub key_path: Option<PathBuf>,
}

fn first_existing(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            path.display().to_string(),
            format!("cannot read: {}", io_reason(&e)),
        )
    })
}

/// The kind of an I/O error, without the OS text (which may quote paths of
/// the record's making in other contexts; here we keep to the kind).
fn io_reason(e: &std::io::Error) -> String {
    format!("{:?}", e.kind())
}

/// Loads the policy and key from `dirs`. The key is required only when the
/// policy needs one.
pub fn load_from_dirs(dirs: &[PathBuf]) -> Result<Loaded, ConfigError> {
    let searched = || {
        dirs.iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let policy_path = first_existing(dirs, POLICY_FILE).ok_or_else(|| {
        ConfigError::new(
            POLICY_FILE,
            format!("not found in the accessible paths ({})", searched()),
        )
    })?;
    let policy = Policy::from_json(&read(&policy_path)?)
        .map_err(|e| ConfigError::new(format!("{}: {}", policy_path.display(), e.at), e.message))?;
    let key_path = first_existing(dirs, KEY_FILE);
    let keys = match &key_path {
        Some(p) => Some(KeyRing::parse(&read(p)?, &p.display().to_string())?),
        None if policy.needs_key() => {
            return Err(ConfigError::new(
                KEY_FILE,
                format!(
                "not found in the accessible paths ({}); the policy pseudonymizes and needs a key \
                     (generate one with `dp-audit-harness keygen > {KEY_FILE}`)",
                searched()
            ),
            ))
        }
        None => None,
    };
    Ok(Loaded {
        policy,
        policy_path,
        keys,
        key_path,
    })
}
