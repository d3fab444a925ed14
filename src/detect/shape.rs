//! Whole values that no detector can match, recognised in one cheap pass so
//! the scanner can skip them: RFC 3339 timestamps and UUIDs, which make up a
//! good share of the string values of audit records.
//!
//! Why they are inert (checked against every detector, and by the test below
//! that runs the full scanner on them): neither holds `@`, `=`, `"`, `J`, a
//! dotted quad, a 13-digit run or a 4-digit group followed by more digit
//! groups, a hex/colon run that parses as IPv6, or a word starting with a
//! key id prefix or a scheme name.

use super::bytes::at;

pub(crate) fn is_inert(b: &[u8]) -> bool {
    match b.len() {
        36 => is_uuid(b),
        20..=35 => is_timestamp(b),
        _ => false,
    }
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits of either case.
fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(k, &c)| match k {
            8 | 13 | 18 | 23 => c == b'-',
            _ => super::bytes::is_hex(c),
        })
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)` (`T`/`t`, `Z`/`z`). Field values
/// are not checked: the shape alone rules findings out.
fn is_timestamp(b: &[u8]) -> bool {
    const HEAD: &[u8; 19] = b"0000-00-00T00:00:00";
    let head_ok = HEAD.iter().enumerate().all(|(k, &p)| {
        let c = at(b, k);
        match p {
            b'0' => c.is_ascii_digit(),
            b'T' => c == b'T' || c == b't',
            _ => c == p,
        }
    });
    if !head_ok {
        return false;
    }
    let mut p = 19usize;
    if at(b, p) == b'.' {
        let start = p.wrapping_add(1);
        p = start;
        while at(b, p).is_ascii_digit() {
            p = p.wrapping_add(1);
        }
        let digits = p.wrapping_sub(start);
        if digits == 0 || digits > 9 {
            return false;
        }
    }
    let rest = b.get(p..).unwrap_or(&[]);
    match rest {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_inert;
    use crate::detect::{findings, DetectorSet};

    #[test]
    fn recognises_timestamps_and_uuids() {
        for s in [
            "2017-09-11T19:55:05Z",
            "2025-12-31T16:37:40.479Z",
            "2025-12-31T17:37:40.493035218+01:00",
            "2020-01-01t00:00:00z",
            "9999-99-99T99:99:99-99:99",
            "033d17af-082d-4b24-aa22-627752e83d71",
            "12345678-1234-1234-1234-123456789012",
            "ABCDEF00-0000-4000-8000-00000000ABCD",
        ] {
            assert!(is_inert(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn other_values_are_scanned() {
        for s in [
            "2017-09-11T19:55:05",
            "2017-09-11 19:55:05Z",
            "2017-09-11T19:55:05.1234567890Z",
            "2017-09-11T19:55:05.Z",
            "2017-09-11T19:55:05Z ",
            "2017-09-11T19:55:05+0100",
            "033d17af-082d-4b24-aa22-627752e83d7g",
            "033d17af_082d-4b24-aa22-627752e83d71",
            "033d17af-082d-4b24-aa22-627752e83d711",
            "",
        ] {
            assert!(!is_inert(s.as_bytes()), "{s}");
        }
    }

    /// The shortcut is only sound if the full scan finds nothing in these
    /// shapes either: check that on adversarial members of both.
    #[test]
    fn inert_shapes_have_no_findings() {
        for s in [
            "2017-09-11T19:55:05.411111111+01:00",
            "4111-11-11T11:11:11.111111111Z",
            "1111-11-11T11:11:11+11:11",
            "12345678-4111-1111-1111-111111111111",
            "41111111-1111-1111-1111-411111111111",
            "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa",
            "beeeeeee-aaaa-bbbb-cccc-dddddddddddd",
        ] {
            let mut all = findings(s, DetectorSet::all());
            // Bypass the shortcut: scan from the start.
            all.pos = 0;
            assert_eq!(all.count(), 0, "{s}");
        }
    }
}
