//! Whole-second time handling for the DP engine: policy durations, event
//! timestamps (RFC 3339 or unix seconds) and RFC 3339 formatting of window
//! bounds.
//!
//! These are the engine's own small parsers so that it does not depend on the
//! scrubber's time module; the lead may swap them for
//! `crate::scrub::time::{parse_rfc3339, parse_duration_secs}` once merged.
//! Every function is total: bad input gives `None`, never a panic.
//!
//! Timestamps are limited to years 0000..=9999 (what RFC 3339 can write), so
//! all arithmetic below stays far from `i64` limits; it is still written with
//! checked operations because the crate denies unchecked arithmetic.

/// First second of year 0000 (proleptic Gregorian, UTC).
pub const MIN_SECS: i64 = -62_167_219_200;
/// Last second of year 9999.
pub const MAX_SECS: i64 = 253_402_300_799;

const SECS_PER_DAY: i64 = 86_400;

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
        parse_rfc3339(t)?
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

/// Parses an RFC 3339 date-time (`T` or space separator, `Z` or `±hh:mm`
/// offset, optional fraction) into unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = b.get(from..from.checked_add(len)?)?;
        if !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let sep = |at: usize, want: &[u8]| b.get(at).is_some_and(|c| want.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)?
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // A leap second is read as the last second of its minute.
    let second = second.min(59);
    let mut rest = b.get(19..)?;
    if rest.first() == Some(&b'.') {
        let digits = rest
            .iter()
            .skip(1)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        rest = rest.get(digits.checked_add(1)?..)?;
    }
    let offset_secs = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digit = |c: &u8| c.is_ascii_digit().then(|| i64::from(c.wrapping_sub(b'0')));
            let oh = digit(h1)?.checked_mul(10)?.checked_add(digit(h2)?)?;
            let om = digit(m1)?.checked_mul(10)?.checked_add(digit(m2)?)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh.checked_mul(3_600)?.checked_add(om.checked_mul(60)?)?;
            if *sign == b'-' {
                off.checked_neg()?
            } else {
                off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day)?;
    let local = days
        .checked_mul(SECS_PER_DAY)?
        .checked_add(hour.checked_mul(3_600)?)?
        .checked_add(minute.checked_mul(60)?)?
        .checked_add(second)?;
    local.checked_sub(offset_secs)
}

/// Formats unix seconds as `YYYY-MM-DDTHH:MM:SSZ`. Values outside years
/// 0000..=9999 are clamped to that range (they cannot arise from validated
/// input; clamping keeps the function total).
pub fn format_rfc3339(secs: i64) -> String {
    let secs = secs.clamp(MIN_SECS, MAX_SECS);
    let days = secs.div_euclid(SECS_PER_DAY);
    let sod = secs.rem_euclid(SECS_PER_DAY);
    let (y, m, d) = civil_from_days(days).unwrap_or((0, 1, 1));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        y,
        m,
        d,
        sod / 3_600,
        (sod % 3_600) / 60,
        sod % 60
    )
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> Option<i64> {
    Some(match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => return None,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`), for years 0..=9999.
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y
        .checked_sub(if y >= 0 { 0 } else { 399 })?
        .checked_div(400)?;
    let yoe = y.checked_sub(era.checked_mul(400)?)?;
    let mp = if month > 2 {
        month.checked_sub(3)?
    } else {
        month.checked_add(9)?
    };
    let doy = mp
        .checked_mul(153)?
        .checked_add(2)?
        .checked_div(5)?
        .checked_add(day)?
        .checked_sub(1)?;
    let doe = yoe
        .checked_mul(365)?
        .checked_add(yoe.checked_div(4)?)?
        .checked_sub(yoe.checked_div(100)?)?
        .checked_add(doy)?;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

/// Inverse of [`days_from_civil`] (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> Option<(i64, i64, i64)> {
    let z = days.checked_add(719_468)?;
    let era = z
        .checked_sub(if z >= 0 { 0 } else { 146_096 })?
        .checked_div(146_097)?;
    let doe = z.checked_sub(era.checked_mul(146_097)?)?;
    let yoe = doe
        .checked_sub(doe.checked_div(1_460)?)?
        .checked_add(doe.checked_div(36_524)?)?
        .checked_sub(doe.checked_div(146_096)?)?
        .checked_div(365)?;
    let doy = doe.checked_sub(
        yoe.checked_mul(365)?
            .checked_add(yoe.checked_div(4)?)?
            .checked_sub(yoe.checked_div(100)?)?,
    )?;
    let mp = doy.checked_mul(5)?.checked_add(2)?.checked_div(153)?;
    let d = doy
        .checked_sub(mp.checked_mul(153)?.checked_add(2)?.checked_div(5)?)?
        .checked_add(1)?;
    let m = if mp < 10 {
        mp.checked_add(3)?
    } else {
        mp.checked_sub(9)?
    };
    let y = yoe.checked_add(era.checked_mul(400)?)?;
    let y = if m <= 2 { y.checked_add(1)? } else { y };
    Some((y, m, d))
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
    fn rfc3339_round_trip_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        assert_eq!(
            parse_rfc3339("2024-05-01T14:00:00+02:00"),
            Some(1_714_564_800)
        );
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00.999999Z"),
            Some(1_714_564_800)
        );
        assert_eq!(parse_rfc3339("2024-05-01 12:00:00z"), Some(1_714_564_800));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+2:00",
            "2024-05-01",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        for secs in [
            0,
            1,
            59,
            86_399,
            951_782_400,
            1_714_564_800,
            -1,
            -86_401,
            MIN_SECS,
            MAX_SECS,
        ] {
            let text = format_rfc3339(secs);
            assert_eq!(parse_rfc3339(&text), Some(secs), "{text}");
        }
        assert_eq!(format_rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
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
