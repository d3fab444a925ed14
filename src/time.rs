//! RFC 3339 timestamps in UTC, without chrono: parsing to unix seconds and
//! nanoseconds, formatting whole seconds. Shared by the scrubber's time
//! generalisation, the DP engine's event times and window bounds, and the
//! Envoy record's start time.
//!
//! Parsing: `YYYY-MM-DD` `T`/`t`/space `HH:MM:SS`, an optional fraction of any
//! length (nanoseconds kept, the rest truncated), then `Z`/`z` or `±HH:MM`.
//! Dates are validated (month lengths, leap years). A leap second (`:60`) is
//! read as `:59`: Unix time has no leap seconds. Years are 0000..=9999 (what
//! RFC 3339 can write). Calendar arithmetic is the proleptic Gregorian day
//! count of H. Hinnant's `days_from_civil`. Every function is total: bad input
//! gives `None`, never a panic.

use crate::detect::bytes::at;

pub const SECS_PER_DAY: i64 = 86_400;
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the four-digit years.
pub const MIN_SECS: i64 = -62_167_219_200;
pub const MAX_SECS: i64 = 253_402_300_799;

/// Unix seconds and nanoseconds of an RFC 3339 timestamp.
pub fn parse_rfc3339(s: &str) -> Option<(i64, u32)> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if at(b, 4) != b'-'
        || at(b, 7) != b'-'
        || !matches!(at(b, 10), b'T' | b't' | b' ')
        || at(b, 13) != b':'
        || at(b, 16) != b':'
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut p = 19usize;
    let mut nanos = 0u32;
    if at(b, p) == b'.' {
        p = p.wrapping_add(1);
        let start = p;
        while at(b, p).is_ascii_digit() {
            if p.wrapping_sub(start) < 9 {
                nanos = nanos
                    .wrapping_mul(10)
                    .wrapping_add(u32::from(at(b, p).wrapping_sub(b'0')));
            }
            p = p.wrapping_add(1);
        }
        let len = p.wrapping_sub(start);
        if len == 0 {
            return None;
        }
        for _ in len..9 {
            nanos = nanos.wrapping_mul(10);
        }
    }
    let offset: i64 = match at(b, p) {
        b'Z' | b'z' => {
            p = p.wrapping_add(1);
            0
        }
        sign @ (b'+' | b'-') => {
            let oh = digits(b, p.wrapping_add(1), 2)?;
            let om = digits(b, p.wrapping_add(4), 2)?;
            if at(b, p.wrapping_add(3)) != b':' || oh > 23 || om > 59 {
                return None;
            }
            p = p.wrapping_add(6);
            let o = i64::from(clock_secs(oh, om, 0));
            if sign == b'-' {
                o.wrapping_neg()
            } else {
                o
            }
        }
        _ => return None,
    };
    if p != b.len() {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day)?;
    let secs = days
        .checked_mul(SECS_PER_DAY)?
        .checked_add(i64::from(clock_secs(hour, minute, second.min(59))))?
        .checked_sub(offset)?;
    Some((secs, nanos))
}

/// [`format_rfc3339_utc`] into a new string.
pub fn format_rfc3339(unix_secs: i64) -> String {
    let mut s = String::with_capacity(20);
    format_rfc3339_utc(unix_secs, &mut s);
    s
}

/// `YYYY-MM-DDTHH:MM:SSZ`. Times outside years 0000-9999 are clamped to the
/// nearest representable one (a four-digit year is what RFC 3339 allows).
pub fn format_rfc3339_utc(unix_secs: i64, out: &mut String) {
    let secs = unix_secs.clamp(MIN_SECS, MAX_SECS);
    let days = secs.div_euclid(SECS_PER_DAY);
    let in_day = u32::try_from(secs.rem_euclid(SECS_PER_DAY)).unwrap_or(0);
    let (y, m, d) = civil_from_days(days).unwrap_or((1970, 1, 1));
    push_digits(out, u32::try_from(y).unwrap_or(0), 4);
    out.push('-');
    push_digits(out, m, 2);
    out.push('-');
    push_digits(out, d, 2);
    out.push('T');
    push_digits(out, in_day / 3_600, 2);
    out.push(':');
    push_digits(out, (in_day / 60) % 60, 2);
    out.push(':');
    push_digits(out, in_day % 60, 2);
    out.push('Z');
}

/// Seconds since midnight; callers pass validated fields (h <= 23, m, s <= 59).
fn clock_secs(h: u32, m: u32, s: u32) -> u32 {
    h.wrapping_mul(3_600)
        .wrapping_add(m.wrapping_mul(60))
        .wrapping_add(s)
}

/// `n` decimal digits at `i`.
fn digits(b: &[u8], i: usize, n: usize) -> Option<u32> {
    let s = b.get(i..i.checked_add(n)?)?;
    s.iter().try_fold(0u32, |v, &c| {
        c.is_ascii_digit().then(|| {
            v.wrapping_mul(10)
                .wrapping_add(u32::from(c.wrapping_sub(b'0')))
        })
    })
}

fn is_leap(year: u32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y.checked_div_euclid(400)?;
    let yoe = y.checked_sub(era.checked_mul(400)?)?; // [0, 399]
    let m = i64::from(month);
    let mp = if month > 2 {
        m.checked_sub(3)?
    } else {
        m.checked_add(9)?
    }; // [0, 11]
    let doy = mp
        .checked_mul(153)?
        .checked_add(2)?
        .checked_div(5)?
        .checked_add(i64::from(day))?
        .checked_sub(1)?; // [0, 365]
    let doe = yoe
        .checked_mul(365)?
        .checked_add(yoe.checked_div(4)?)?
        .checked_sub(yoe.checked_div(100)?)?
        .checked_add(doy)?; // [0, 146096]
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> Option<(i64, u32, u32)> {
    let z = days.checked_add(719_468)?;
    let era = z.checked_div_euclid(146_097)?;
    let doe = z.checked_sub(era.checked_mul(146_097)?)?; // [0, 146096]
    let yoe = doe
        .checked_sub(doe.checked_div(1_460)?)?
        .checked_add(doe.checked_div(36_524)?)?
        .checked_sub(doe.checked_div(146_096)?)?
        .checked_div(365)?; // [0, 399]
    let doy = doe.checked_sub(
        yoe.checked_mul(365)?
            .checked_add(yoe.checked_div(4)?)?
            .checked_sub(yoe.checked_div(100)?)?,
    )?; // [0, 365]
    let mp = doy.checked_mul(5)?.checked_add(2)?.checked_div(153)?; // [0, 11]
    let day = doy
        .checked_sub(mp.checked_mul(153)?.checked_add(2)?.checked_div(5)?)?
        .checked_add(1)?;
    let month = if mp < 10 {
        mp.checked_add(3)?
    } else {
        mp.checked_sub(9)?
    };
    let year = yoe
        .checked_add(era.checked_mul(400)?)?
        .checked_add(i64::from(month <= 2))?;
    Some((year, u32::try_from(month).ok()?, u32::try_from(day).ok()?))
}

fn push_digits(out: &mut String, v: u32, width: u32) {
    for k in (0..width).rev() {
        let d = v.checked_div(10u32.saturating_pow(k)).unwrap_or(0) % 10;
        out.push(char::from_digit(d, 10).unwrap_or('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(secs: i64) -> String {
        let mut s = String::new();
        format_rfc3339_utc(secs, &mut s);
        s
    }

    #[test]
    fn parses_against_python_datetime() {
        // python3: int(datetime(..., tzinfo=timezone.utc).timestamp())
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some((0, 0)));
        assert_eq!(
            parse_rfc3339("2017-09-11T19:55:05Z"),
            Some((1_505_159_705, 0))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T23:59:59Z"),
            Some((1_709_251_199, 0))
        );
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), Some((MAX_SECS, 0)));
        assert_eq!(
            parse_rfc3339("0001-01-01T00:00:00Z"),
            Some((-62_135_596_800, 0))
        );
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00Z"), Some((MIN_SECS, 0)));
        assert_eq!(
            parse_rfc3339("1900-03-01T00:00:00Z"),
            Some((-2_203_891_200, 0))
        );
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), Some((-1, 0)));
    }

    #[test]
    fn fractions_and_offsets() {
        assert_eq!(
            parse_rfc3339("2017-09-11T19:55:05.5Z"),
            Some((1_505_159_705, 500_000_000))
        );
        assert_eq!(
            parse_rfc3339("2025-12-31T17:37:40.493035218+01:00"),
            parse_rfc3339("2025-12-31T16:37:40.493035218Z")
        );
        assert_eq!(
            parse_rfc3339("2025-12-31T16:37:40.1234567891234Z").map(|t| t.1),
            Some(123_456_789)
        );
        assert_eq!(
            parse_rfc3339("2020-01-01t00:00:00z"),
            Some((1_577_836_800, 0))
        );
        assert_eq!(
            parse_rfc3339("2020-01-01 00:00:00-00:00"),
            Some((1_577_836_800, 0))
        );
        assert_eq!(
            parse_rfc3339("2020-01-01T00:00:00-05:30"),
            Some((1_577_836_800 + 19_800, 0))
        );
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2016-12-31T23:59:59Z")
        );
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2017-09-11",
            "2017-09-11T19:55:05",
            "2017-09-11T19:55Z",
            "2017-9-11T19:55:05Z",
            "2017-09-11T19:55:05.Z",
            "2017-09-11T19:55:05ZZ",
            "2017-09-11T19:55:05+0100",
            "2017-09-11T19:55:05+24:00",
            "2017-09-11T24:00:00Z",
            "2017-09-11T23:60:00Z",
            "2017-09-11T23:59:61Z",
            "2017-13-01T00:00:00Z",
            "2017-00-01T00:00:00Z",
            "2017-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2017-04-31T00:00:00Z",
            "2017-04-00T00:00:00Z",
            "+2017-09-11T19:55:05Z",
            "2017-09-11X19:55:05Z",
            "２017-09-11T19:55:05Z",
            "1505159705",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
        assert!(parse_rfc3339("2000-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn format_round_trips_and_clamps() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2000-02-29T12:34:56Z",
            "2100-02-28T23:59:59Z",
            "2100-03-01T00:00:00Z",
            "1600-02-29T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "0000-02-29T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            let (secs, _) = parse_rfc3339(s).unwrap();
            assert_eq!(fmt(secs), s);
        }
        // Every day of a 400-year cycle formats to a date that parses back.
        for day in -146_097i64..146_097 {
            let secs = day * 86_400 + 3_661;
            assert_eq!(parse_rfc3339(&fmt(secs)), Some((secs, 0)), "{day}");
        }
        assert_eq!(fmt(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(fmt(i64::MIN), "0000-01-01T00:00:00Z");
    }

    #[test]
    fn format_allocating_matches_writer() {
        assert_eq!(format_rfc3339(1_714_564_800), "2024-05-01T12:00:00Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(
            parse_rfc3339("2024-05-01T14:00:00+02:00"),
            Some((1_714_564_800, 0))
        );
    }
}
