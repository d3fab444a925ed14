//! The policy: one JSON format for every host.
//!
//! ```json
//! {
//!   "preset": "k8s-audit",
//!   "default_action": "redact",
//!   "fields": [ {"path": "user.username", "action": "pseudonymize"} ],
//!   "keys": {"active": "pk2"},
//!   "pseudonym_bits": 64,
//!   "limits": {"max_record_bytes": 262144, "max_depth": 64},
//!   "on_error": "error_record",
//!   "aggregate": { ... }
//! }
//! ```
//! A preset is a policy shipped in the crate; the user's `fields` come after
//! the preset's and win ties, and the user's `default_action` replaces it.

pub mod action;
pub mod matcher;
mod presets;

pub use action::Action;
pub use presets::{preset_names, preset_text};

use crate::error::ConfigError;
use crate::path::{Path, Specificity};
use serde_json::Value;

/// Where a rule came from; user rules win ties against preset rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Origin {
    Preset,
    User,
}

#[derive(Debug, Clone)]
pub struct Rule {
    /// The selector as written, for messages and playground labels.
    pub path_text: String,
    pub path: Path,
    pub action: Action,
    /// Compare literal keys ASCII-case-insensitively (HTTP header names).
    pub ignore_case: bool,
    pub origin: Origin,
}

impl Rule {
    /// Total order used when several rules match one field: the greatest wins.
    pub fn precedence(&self, index: usize) -> (Specificity, Origin, usize) {
        (self.path.specificity(), self.origin, index)
    }
}

/// What a host emits for a record that cannot be processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// `{"dp_audit_error":"<code>"}`: every value gone, the failure visible downstream.
    ErrorRecord,
    /// Nothing.
    Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_record_bytes: usize,
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 256 * 1024,
            max_depth: 64,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub preset: Option<String>,
    pub rules: Vec<Rule>,
    pub default_action: Action,
    pub limits: Limits,
    pub on_error: OnError,
    pub pseudonym_bits: u32,
    /// Key id to pseudonymize with; `None` = the first key of the key file.
    pub active_key: Option<String>,
    /// The `aggregate` section, parsed by the DP engine.
    pub aggregate: Option<Value>,
    /// The `sink` section, read by hosts that ship records themselves (Envoy).
    pub sink: Option<Value>,
}

/// Policies are operator files; bound them anyway.
const MAX_POLICY_DEPTH: usize = 32;
const MAX_POLICY_BYTES: usize = 4 * 1024 * 1024;

const TOP_LEVEL_KEYS: &[&str] = &[
    "$schema",
    "description",
    "preset",
    "default_action",
    "fields",
    "keys",
    "pseudonym_bits",
    "limits",
    "on_error",
    "aggregate",
    "sink",
];

impl Policy {
    /// Parses a policy document (and its preset, if any).
    pub fn from_json(text: &str) -> Result<Policy, ConfigError> {
        let doc = parse_document(text, "policy")?;
        let Value::Object(top) = doc else {
            return Err(ConfigError::new("policy", "expected a JSON object"));
        };
        for key in top.keys() {
            if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
                return Err(ConfigError::new(
                    key.clone(),
                    format!(
                        "unknown policy key (allowed: {})",
                        TOP_LEVEL_KEYS.join(", ")
                    ),
                ));
            }
        }
        let mut rules = Vec::new();
        let mut default_action = Action::Drop;
        let preset = match top.get("preset") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => {
                let text = preset_text(name).ok_or_else(|| {
                    ConfigError::new(
                        "preset",
                        format!(
                            "unknown preset {name:?}; expected one of {}",
                            preset_names().join(", ")
                        ),
                    )
                })?;
                let Value::Object(p) = parse_document(text, "preset")? else {
                    return Err(ConfigError::new("preset", "preset is not an object"));
                };
                let at = format!("preset {name}");
                parse_fields(
                    p.get("fields"),
                    &format!("{at}: fields"),
                    Origin::Preset,
                    &mut rules,
                )?;
                if let Some(d) = p.get("default_action") {
                    default_action = Action::parse_value(d, &format!("{at}: default_action"))?;
                }
                Some(name.clone())
            }
            Some(_) => return Err(ConfigError::new("preset", "expected a preset name")),
        };
        parse_fields(top.get("fields"), "fields", Origin::User, &mut rules)?;
        if let Some(d) = top.get("default_action") {
            default_action = Action::parse_value(d, "default_action")?;
        }
        if preset.is_none() && rules.is_empty() && !top.contains_key("default_action") {
            return Err(ConfigError::new(
                "policy",
                "a policy needs a preset, fields or a default_action (it would drop everything)",
            ));
        }
        let policy = Policy {
            preset,
            rules,
            default_action,
            limits: parse_limits(top.get("limits"))?,
            on_error: match top.get("on_error") {
                None => OnError::ErrorRecord,
                Some(Value::String(s)) if s == "error_record" => OnError::ErrorRecord,
                Some(Value::String(s)) if s == "drop" => OnError::Drop,
                Some(_) => {
                    return Err(ConfigError::new(
                        "on_error",
                        "expected \"error_record\" or \"drop\"",
                    ))
                }
            },
            pseudonym_bits: match top.get("pseudonym_bits") {
                None => 64,
                Some(v) => v
                    .as_u64()
                    .filter(|b| (64..=256).contains(b) && b % 8 == 0)
                    .and_then(|b| u32::try_from(b).ok())
                    .ok_or_else(|| {
                        ConfigError::new(
                            "pseudonym_bits",
                            "expected a multiple of 8 from 64 to 256",
                        )
                    })?,
            },
            active_key: parse_keys(top.get("keys"))?,
            aggregate: top.get("aggregate").cloned(),
            sink: top.get("sink").cloned(),
        };
        Ok(policy)
    }

    /// Whether any rule (or the default) needs an HMAC key.
    pub fn needs_key(&self) -> bool {
        self.default_action.needs_key() || self.rules.iter().any(|r| r.action.needs_key())
    }
}

/// Parses JSON text without recursion (see `json::value`).
pub(crate) fn parse_document(text: &str, what: &str) -> Result<Value, ConfigError> {
    if text.len() > MAX_POLICY_BYTES {
        return Err(ConfigError::new(what, "larger than 4 MiB"));
    }
    crate::json::value::parse(text, MAX_POLICY_DEPTH).map_err(|e| {
        // For the message only: serde_json says where (line and column).
        // The depth was bounded above, so its recursion stays shallow.
        let detail = match e {
            crate::json::JsonError::TooDeep => {
                format!("nested deeper than {MAX_POLICY_DEPTH} levels")
            }
            _ => serde_json::from_str::<serde::de::IgnoredAny>(text)
                .err()
                .map_or_else(|| e.to_string(), |se| se.to_string()),
        };
        ConfigError::new(what, format!("not valid JSON ({detail})"))
    })
}

fn parse_fields(
    v: Option<&Value>,
    at: &str,
    origin: Origin,
    rules: &mut Vec<Rule>,
) -> Result<(), ConfigError> {
    let items = match v {
        None => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ConfigError::new(at, "expected a list of rules")),
    };
    for (i, item) in items.iter().enumerate() {
        // Locations are built only on error: formatting on the success path
        // deepened the call stack past WAMR's default 8 KiB at start-up.
        let rule = parse_rule(item, origin)
            .map_err(|e| ConfigError::new(format!("{at}[{i}]{}", e.at), e.message))?;
        rules.push(rule);
    }
    Ok(())
}

/// Parses one rule; error locations are relative to the rule (`.path`, `.label`, or empty).
fn parse_rule(item: &Value, origin: Origin) -> Result<Rule, ConfigError> {
    let Value::Object(rule) = item else {
        return Err(ConfigError::new(
            "",
            "expected {\"path\": ..., \"action\": ...}",
        ));
    };
    let path_text = match rule.get("path") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ConfigError::new(".path", "expected a string")),
        None => return Err(ConfigError::new("", "missing \"path\"")),
    };
    let path = Path::parse(&path_text, ".path")?;
    let ignore_case = match rule.get("ignore_case") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ConfigError::new(".ignore_case", "expected true or false")),
    };
    let action = Action::parse(rule, "", &["path", "ignore_case", "note"])?;
    Ok(Rule {
        path_text,
        path,
        action,
        ignore_case,
        origin,
    })
}

fn parse_limits(v: Option<&Value>) -> Result<Limits, ConfigError> {
    let mut limits = Limits::default();
    let Some(v) = v else { return Ok(limits) };
    let Value::Object(m) = v else {
        return Err(ConfigError::new("limits", "expected an object"));
    };
    for (k, val) in m {
        let at = format!("limits.{k}");
        let n = |lo: u64, hi: u64| {
            val.as_u64()
                .filter(|n| (lo..=hi).contains(n))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    ConfigError::new(at.clone(), format!("expected an integer from {lo} to {hi}"))
                })
        };
        match k.as_str() {
            "max_record_bytes" => limits.max_record_bytes = n(2, 16 * 1024 * 1024)?,
            "max_depth" => limits.max_depth = n(1, 1024)?,
            _ => {
                return Err(ConfigError::new(
                    at,
                    "unknown limit (allowed: max_record_bytes, max_depth)",
                ))
            }
        }
    }
    Ok(limits)
}

fn parse_keys(v: Option<&Value>) -> Result<Option<String>, ConfigError> {
    let Some(v) = v else { return Ok(None) };
    let Value::Object(m) = v else {
        return Err(ConfigError::new(
            "keys",
            "expected {\"active\": \"<key id>\"}",
        ));
    };
    let mut active = None;
    for (k, val) in m {
        match (k.as_str(), val) {
            ("active", Value::String(s)) => active = Some(s.clone()),
            ("active", _) => {
                return Err(ConfigError::new("keys.active", "expected a key id string"))
            }
            _ => {
                return Err(ConfigError::new(
                    format!("keys.{k}"),
                    "unknown key option (allowed: active); key material never goes in the policy: \
                     use the key file or environment variable",
                ))
            }
        }
    }
    Ok(active)
}
