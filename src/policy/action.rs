//! Policy actions and their options.

use crate::detect::{DetectorSet, Kind};
use crate::error::ConfigError;
use crate::scrub::time::TimeUnit;
use serde_json::{Map, Value};

/// What happens to a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Keep,
    Drop,
    /// Replace by `[REDACTED:<label>]` (`[REDACTED]` when the label is empty).
    Redact {
        label: String,
    },
    /// HMAC-SHA256 pseudonym under the active key: `<key id>:<hex>`.
    Pseudonymize,
    TruncateIp {
        ipv4_prefix: u8,
        ipv6_prefix: u8,
    },
    GeneralizeTime {
        unit: TimeUnit,
    },
    /// Keep the last `keep_last` characters.
    Mask {
        keep_last: usize,
    },
    /// Pseudonymize the local part, keep the domain.
    Email,
    /// Find secrets and PII inside free text and replace them.
    Detect {
        detectors: DetectorSet,
        pseudonymize_identities: bool,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::Redact { .. } => "redact",
            Action::Pseudonymize => "pseudonymize",
            Action::TruncateIp { .. } => "truncate_ip",
            Action::GeneralizeTime { .. } => "generalize_time",
            Action::Mask { .. } => "mask",
            Action::Email => "email",
            Action::Detect { .. } => "detect",
        }
    }

    /// Whether the action needs an HMAC key.
    pub fn needs_key(&self) -> bool {
        matches!(
            self,
            Action::Pseudonymize
                | Action::Email
                | Action::Detect {
                    pseudonymize_identities: true,
                    ..
                }
        )
    }

    /// Parses `action` plus its options from a rule object (or a bare
    /// action name for `default_action`). `consumed` lists the keys of the
    /// object that are not action options (e.g. `path`), so that any other
    /// unknown key is reported: a typo must not silently weaken a policy.
    pub fn parse(
        rule: &Map<String, Value>,
        at: &str,
        consumed: &[&str],
    ) -> Result<Action, ConfigError> {
        let name = match rule.get("action") {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => {
                return Err(ConfigError::new(
                    format!("{at}.action"),
                    "expected a string",
                ))
            }
            None => return Err(ConfigError::new(at, "missing \"action\"")),
        };
        let options: &[&str] = match name {
            "keep" | "drop" | "pseudonymize" | "email" => &[],
            "redact" => &["label"],
            "truncate_ip" => &["ipv4_prefix", "ipv6_prefix"],
            "generalize_time" => &["unit"],
            "mask" => &["keep_last"],
            "detect" => &["detectors", "identities"],
            other => {
                return Err(ConfigError::new(
                    format!("{at}.action"),
                    format!(
                    "unknown action {other:?}; expected one of keep, drop, redact, pseudonymize, \
                         truncate_ip, generalize_time, mask, email, detect"
                ),
                ))
            }
        };
        for key in rule.keys() {
            if key != "action"
                && !consumed.contains(&key.as_str())
                && !options.contains(&key.as_str())
            {
                return Err(ConfigError::new(
                    format!("{at}.{key}"),
                    format!(
                        "unknown option for action {name:?} (allowed: {})",
                        allowed(options)
                    ),
                ));
            }
        }
        let opt = |k: &str| rule.get(k);
        let opt_at = |k: &str| format!("{at}.{k}");
        Ok(match name {
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "pseudonymize" => Action::Pseudonymize,
            "email" => Action::Email,
            "redact" => {
                let label = match opt("label") {
                    None => String::new(),
                    Some(Value::String(s)) if valid_label(s) => s.clone(),
                    Some(_) => {
                        return Err(ConfigError::new(
                            opt_at("label"),
                            "expected up to 32 characters of a-z, 0-9, '_' or '-'",
                        ))
                    }
                };
                Action::Redact { label }
            }
            "truncate_ip" => Action::TruncateIp {
                ipv4_prefix: int_option(opt("ipv4_prefix"), at, "ipv4_prefix", 24, 32)?,
                ipv6_prefix: int_option(opt("ipv6_prefix"), at, "ipv6_prefix", 48, 128)?,
            },
            "generalize_time" => Action::GeneralizeTime {
                unit: match opt("unit") {
                    None => TimeUnit::Hour,
                    Some(Value::String(s)) => match s.as_str() {
                        "second" => TimeUnit::Second,
                        "minute" => TimeUnit::Minute,
                        "hour" => TimeUnit::Hour,
                        "day" => TimeUnit::Day,
                        _ => return Err(bad_unit(&opt_at("unit"))),
                    },
                    Some(_) => return Err(bad_unit(&opt_at("unit"))),
                },
            },
            "mask" => Action::Mask {
                keep_last: usize::from(int_option(opt("keep_last"), at, "keep_last", 4, 16)?),
            },
            _ => Action::Detect {
                detectors: match opt("detectors") {
                    None => DetectorSet::all(),
                    Some(v) => parse_detectors(v, &opt_at("detectors"))?,
                },
                pseudonymize_identities: match opt("identities") {
                    None => true,
                    Some(Value::String(s)) if s == "pseudonymize" => true,
                    Some(Value::String(s)) if s == "redact" => false,
                    Some(_) => {
                        return Err(ConfigError::new(
                            opt_at("identities"),
                            "expected \"pseudonymize\" or \"redact\"",
                        ))
                    }
                },
            },
        })
    }

    /// Parses a bare action name (as in `default_action`), which may not
    /// carry options except through the object form.
    pub fn parse_value(v: &Value, at: &str) -> Result<Action, ConfigError> {
        match v {
            Value::String(s) => {
                let mut m = Map::new();
                m.insert("action".to_string(), Value::String(s.clone()));
                Action::parse(&m, at, &[]).map_err(|e| ConfigError::new(at, e.message))
            }
            Value::Object(m) => Action::parse(m, at, &[]),
            _ => Err(ConfigError::new(
                at,
                "expected an action name or {\"action\": ..., options}",
            )),
        }
    }
}

fn allowed(options: &[&str]) -> String {
    if options.is_empty() {
        "none".to_string()
    } else {
        options.join(", ")
    }
}

fn valid_label(s: &str) -> bool {
    s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn bad_unit(at: &str) -> ConfigError {
    ConfigError::new(
        at,
        "expected one of \"second\", \"minute\", \"hour\", \"day\"",
    )
}

/// Reads an optional small integer option; the location is formatted only
/// on error (formatting deepens the call stack, and init runs on WAMR's small one).
fn int_option(
    v: Option<&Value>,
    at: &str,
    key: &str,
    default: u8,
    max: u8,
) -> Result<u8, ConfigError> {
    match v {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= u64::from(max))
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| {
                ConfigError::new(
                    format!("{at}.{key}"),
                    format!("expected an integer from 0 to {max}"),
                )
            }),
    }
}

fn detector_names() -> String {
    Kind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_detectors(v: &Value, at: &str) -> Result<DetectorSet, ConfigError> {
    let Value::Array(items) = v else {
        return Err(ConfigError::new(
            at,
            format!("expected a list of detector names ({})", detector_names()),
        ));
    };
    let mut set = DetectorSet::empty();
    for (i, item) in items.iter().enumerate() {
        let kind = item.as_str().and_then(Kind::from_name).ok_or_else(|| {
            ConfigError::new(
                format!("{at}[{i}]"),
                format!("unknown detector; expected one of {}", detector_names()),
            )
        })?;
        set = set.with(kind);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Action, ConfigError> {
        Action::parse(v.as_object().unwrap(), "fields[0]", &["path"])
    }

    #[test]
    fn parses_every_action_with_defaults() {
        assert_eq!(
            parse(json!({"path": "a", "action": "keep"})).unwrap(),
            Action::Keep
        );
        assert_eq!(parse(json!({"action": "drop"})).unwrap(), Action::Drop);
        assert_eq!(
            parse(json!({"action": "redact"})).unwrap(),
            Action::Redact {
                label: String::new()
            }
        );
        assert_eq!(
            parse(json!({"action": "redact", "label": "email"})).unwrap(),
            Action::Redact {
                label: "email".into()
            }
        );
        assert_eq!(
            parse(json!({"action": "truncate_ip"})).unwrap(),
            Action::TruncateIp {
                ipv4_prefix: 24,
                ipv6_prefix: 48
            }
        );
        assert_eq!(
            parse(json!({"action": "truncate_ip", "ipv4_prefix": 16, "ipv6_prefix": 64})).unwrap(),
            Action::TruncateIp {
                ipv4_prefix: 16,
                ipv6_prefix: 64
            }
        );
        assert_eq!(
            parse(json!({"action": "generalize_time", "unit": "minute"})).unwrap(),
            Action::GeneralizeTime {
                unit: TimeUnit::Minute
            }
        );
        assert_eq!(
            parse(json!({"action": "mask"})).unwrap(),
            Action::Mask { keep_last: 4 }
        );
        assert_eq!(parse(json!({"action": "email"})).unwrap(), Action::Email);
        assert_eq!(
            parse(json!({"action": "pseudonymize"})).unwrap(),
            Action::Pseudonymize
        );
        let Action::Detect {
            detectors,
            pseudonymize_identities,
        } = parse(
            json!({"action": "detect", "detectors": ["email", "jwt"], "identities": "redact"}),
        )
        .unwrap()
        else {
            panic!()
        };
        assert!(detectors.contains(Kind::Email) && detectors.contains(Kind::Jwt));
        assert!(!detectors.contains(Kind::Ipv4));
        assert!(!pseudonymize_identities);
    }

    #[test]
    fn errors_name_the_key_and_the_reason() {
        let cases = [
            (
                json!({"action": "hash"}),
                "fields[0].action",
                "unknown action",
            ),
            (
                json!({"action": 3}),
                "fields[0].action",
                "expected a string",
            ),
            (json!({"path": "a"}), "fields[0]", "missing \"action\""),
            (
                json!({"action": "keep", "label": "x"}),
                "fields[0].label",
                "unknown option",
            ),
            (
                json!({"action": "redact", "lable": "x"}),
                "fields[0].lable",
                "unknown option",
            ),
            (
                json!({"action": "redact", "label": "Has Space"}),
                "fields[0].label",
                "expected",
            ),
            (
                json!({"action": "truncate_ip", "ipv4_prefix": 33}),
                "fields[0].ipv4_prefix",
                "0 to 32",
            ),
            (
                json!({"action": "truncate_ip", "ipv6_prefix": -1}),
                "fields[0].ipv6_prefix",
                "0 to 128",
            ),
            (
                json!({"action": "generalize_time", "unit": "week"}),
                "fields[0].unit",
                "\"hour\"",
            ),
            (
                json!({"action": "mask", "keep_last": 99}),
                "fields[0].keep_last",
                "0 to 16",
            ),
            (
                json!({"action": "detect", "detectors": ["ssn"]}),
                "fields[0].detectors[0]",
                "unknown detector",
            ),
            (
                json!({"action": "detect", "detectors": "email"}),
                "fields[0].detectors",
                "list",
            ),
            (
                json!({"action": "detect", "identities": "hash"}),
                "fields[0].identities",
                "pseudonymize",
            ),
        ];
        for (v, at, msg) in cases {
            let e = parse(v.clone()).unwrap_err();
            assert_eq!(e.at, at, "{v}");
            assert!(e.message.contains(msg), "{v}: {e}");
        }
    }

    #[test]
    fn default_action_accepts_name_or_object() {
        assert_eq!(
            Action::parse_value(&json!("drop"), "default_action").unwrap(),
            Action::Drop
        );
        assert_eq!(
            Action::parse_value(
                &json!({"action": "redact", "label": "unknown"}),
                "default_action"
            )
            .unwrap(),
            Action::Redact {
                label: "unknown".into()
            }
        );
        assert_eq!(
            Action::parse_value(&json!(1), "default_action")
                .unwrap_err()
                .at,
            "default_action"
        );
        assert_eq!(
            Action::parse_value(&json!("nope"), "default_action")
                .unwrap_err()
                .at,
            "default_action"
        );
    }

    #[test]
    fn key_requirements() {
        assert!(Action::Pseudonymize.needs_key());
        assert!(Action::Email.needs_key());
        assert!(!Action::Keep.needs_key());
        assert!(!Action::Detect {
            detectors: DetectorSet::all(),
            pseudonymize_identities: false
        }
        .needs_key());
    }
}
