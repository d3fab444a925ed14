//! UTC timestamp formatting and parsing (RFC 3339, `Z` only), enough for the
//! generators and for tests that recount truth from the emitted lines.

/// Days since 1970-01-01 -> (year, month, day) (H. Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2024-06-03T08:00:00` for a unix second.
fn date_time(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Seconds precision: `2024-06-03T08:00:00Z`.
pub fn rfc3339_secs(unix_micros: i64) -> String {
    format!("{}Z", date_time(unix_micros.div_euclid(1_000_000)))
}

/// Millisecond precision: `2024-06-03T08:00:00.123Z` (Envoy).
pub fn rfc3339_millis(unix_micros: i64) -> String {
    let ms = unix_micros.rem_euclid(1_000_000) / 1000;
    format!("{}.{ms:03}Z", date_time(unix_micros.div_euclid(1_000_000)))
}

/// Microsecond precision: `2024-06-03T08:00:00.123456Z` (kube-apiserver).
pub fn rfc3339_micros(unix_micros: i64) -> String {
    let us = unix_micros.rem_euclid(1_000_000);
    format!("{}.{us:06}Z", date_time(unix_micros.div_euclid(1_000_000)))
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` into unix microseconds
/// (fraction digits past the sixth are ignored).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b.last() != Some(&b'Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut micros = 0i64;
    match b.get(19) {
        Some(b'Z') if b.len() == 20 => {}
        Some(b'.') => {
            let frac = s.get(20..s.len() - 1)?;
            if frac.is_empty() || !frac.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            for (i, c) in frac.bytes().take(6).enumerate() {
                micros += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
            }
        }
        _ => return None,
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000) + micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instant_round_trips() {
        // 2024-06-03T08:00:00Z == 1717401600 (checked with `date -u -d @1717401600`).
        let t = 1_717_401_600_000_000 + 181_468;
        assert_eq!(rfc3339_micros(t), "2024-06-03T08:00:00.181468Z");
        assert_eq!(rfc3339_millis(t), "2024-06-03T08:00:00.181Z");
        assert_eq!(rfc3339_secs(t), "2024-06-03T08:00:00Z");
        assert_eq!(parse_rfc3339("2024-06-03T08:00:00.181468Z"), Some(t));
        assert_eq!(parse_rfc3339("2024-06-03T08:00:00Z"), Some(t - 181_468));
    }

    #[test]
    fn leap_day_and_epoch() {
        assert_eq!(rfc3339_secs(0), "1970-01-01T00:00:00Z");
        let t = parse_rfc3339("2024-02-29T23:59:59.5Z").unwrap();
        assert_eq!(rfc3339_millis(t), "2024-02-29T23:59:59.500Z");
        assert_eq!(rfc3339_secs(t + 500_000), "2024-03-01T00:00:00Z");
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "2024-06-03 08:00:00Z",
            "2024-06-03T08:00:00+01:00",
            "2024-13-03T08:00:00Z",
            "2024-06-03T08:00:00.Z",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }
}
