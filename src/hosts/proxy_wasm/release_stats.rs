//! What a release record shows in Envoy stats: one gauge per released
//! group value, named after the release and the group keys.
//!
//! Gauges are unsigned: a noisy value below zero (possible only for sums
//! whose clamp allows negatives; counts are already floored at 0) is shown
//! as 0 in stats; the sink keeps the exact released number.

use serde_json::Value;

/// A stat name part: ASCII letters, digits and `_` only, at most 64 bytes
/// (Envoy's Prometheus output would rewrite other characters anyway).
fn sanitize(part: &str, out: &mut String) {
    for c in part.chars().take(64) {
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
}

/// `(gauge name, value)` for a `dp_release` record; `None` for other records
/// (budget exhausted, errors) or text that is not a release.
pub fn release_gauge(record: &str) -> Option<(String, u64)> {
    let v: Value = serde_json::from_str(record).ok()?;
    let name = v.get("dp_release")?.as_str()?;
    let value = v.get("value")?;
    let value = value.as_u64().or_else(|| value.as_i64().map(|_| 0))?;
    let mut gauge = String::from("dp_audit_release.");
    sanitize(name, &mut gauge);
    if let Some(Value::Object(group)) = v.get("group") {
        for (k, g) in group {
            gauge.push('.');
            sanitize(k, &mut gauge);
            gauge.push('.');
            match g {
                Value::String(s) => sanitize(s, &mut gauge),
                Value::Null => gauge.push_str("null"),
                other => sanitize(&other.to_string(), &mut gauge),
            }
        }
    }
    Some((gauge, value))
}

/// Whether a record says releases were suppressed for lack of budget.
pub fn is_budget_exhausted(record: &str) -> bool {
    record.starts_with("{\"dp_budget_exhausted\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_names_and_values() {
        let r = r#"{"dp_release":"by_method","window_start":"x","group":{"method":"GET","status_class":"2xx"},"value":118,"ci95":[0,855]}"#;
        assert_eq!(
            release_gauge(r),
            Some((
                "dp_audit_release.by_method.method.GET.status_class.2xx".into(),
                118
            ))
        );
        let r = r#"{"dp_release":"s u/m","group":{"k":null,"n":3,"x":"a.b"},"value":-4}"#;
        assert_eq!(
            release_gauge(r),
            Some(("dp_audit_release.s_u_m.k.null.n.3.x.a_b".into(), 0))
        );
        assert_eq!(
            release_gauge(r#"{"dp_budget_exhausted":"by_method"}"#),
            None
        );
        assert_eq!(release_gauge("not json"), None);
        assert!(is_budget_exhausted(
            r#"{"dp_budget_exhausted":"by_method","windows":2}"#
        ));
        assert!(!is_budget_exhausted(r#"{"dp_release":"x"}"#));
    }
}
