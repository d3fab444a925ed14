//! Whole-second time handling for the DP engine: policy durations and event
//! timestamps (RFC 3339 or unix seconds). RFC 3339 itself is
//! [`crate::time`]'s. Every function is total: bad input gives `None`, never
//! a panic.

use crate::time::{parse_rfc3339, MAX_SECS, MIN_SECS, SECS_PER_DAY};

/// Parses a policy duration such as `30s`, `1m`, `1h30m`, `1d` into seconds.
/// Units: `s`, `m`, `h`, `d`; at least one component; zero is allowed (callers
/// decide whether zero makes sense). At most 100 years.
pub fn parse_duration_secs(text: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut digits: Option<i64> = None;
    let mut any = false;
    for c in text.chars() {
        if let Some(d) = c.to_digit(10) {
            let prev = digits.unwrap_or(0);
            digits = Some(prev.checked_mul(10)?.checked_add(i64::from(d))?);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => SECS_PER_DAY,
            _ => return None,
        };
        let n = digits.take()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        any = true;
    }
    if digits.is_some() || !any || total > 100 * 365 * SECS_PER_DAY {
        return None;
    }
    Some(total)
}

/// Parses an event time: an RFC 3339 timestamp (`2024-05-01T12:00:00Z`,
/// `2024-05-01T12:00:00.123456+02:00`) or unix seconds written as a JSON
/// number (`1714564800`, `1714564800.25`). Fractions are floored to the
/// second.
pub fn parse_event_time(text: &str) -> Option<i64> {
    let t = text.trim();
    let first = t.as_bytes().first()?;
    let secs = if t.len() > 10 && t.as_bytes().get(4) == Some(&b'-') {
        parse_rfc3339(t)?.0
    } else if first.is_ascii_digit() || *first == b'-' {
        parse_unix_seconds(t)?
    } else {
        return None;
    };
    (MIN_SECS..=MAX_SECS).contains(&secs).then_some(secs)
}

/// Unix seconds as a plain decimal (optional sign, optional fraction; no
/// exponent), floored.
fn parse_unix_seconds(t: &str) -> Option<i64> {
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int_part.is_empty() || int_part.len() > 12 || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut secs: i64 = int_part.parse().ok()?;
    let mut has_fraction = false;
    if let Some(f) = frac_part {
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        has_fraction = f.bytes().any(|b| b != b'0');
    }
    if neg {
        secs = secs.checked_neg()?;
        if has_fraction {
            secs = secs.checked_sub(1)?;
        }
    }
    Some(secs)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_secs("30s"), Some(30));
        assert_eq!(parse_duration_secs("1m"), Some(60));
        assert_eq!(parse_duration_secs("1h30m"), Some(5_400));
        assert_eq!(parse_duration_secs("1d"), Some(86_400));
        assert_eq!(parse_duration_secs("0s"), Some(0));
        for bad in [
            "",
            "1",
            "m",
            "1x",
            "1.5m",
            "-1s",
            "1m2",
            "99999999999999999999s",
            "36600d",
        ] {
            assert_eq!(parse_duration_secs(bad), None, "{bad}");
        }
    }

    #[test]
    fn event_times() {
        assert_eq!(parse_event_time("1714564800"), Some(1_714_564_800));
        assert_eq!(parse_event_time("1714564800.75"), Some(1_714_564_800));
        assert_eq!(parse_event_time("-1.5"), Some(-2));
        assert_eq!(
            parse_event_time("2024-05-01T12:00:00Z"),
            Some(1_714_564_800)
        );
        for bad in [
            "",
            "abc",
            "1e9",
            "12.",
            "999999999999999",
            "10000-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_event_time(bad), None, "{bad}");
        }
    }
}
