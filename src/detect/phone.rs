//! Telephone numbers in free text: international form `+<country code>`
//! followed by digit groups (`+1-906-555-0182`, `+44 20 7946 0958`,
//! `+4915112345678`), and the North American form `906-555-0182` /
//! `(906) 555-0182`.
//!
//! International numbers: `+`, then 8 to 15 digits in groups separated by
//! single `-`, `.` or spaces, with no digit, `.` or `:` right after (that
//! would be a version, a time zone like `+01:00`, or an amount). North
//! American: exactly 3-3-4 digits with `-` or `.` (or `(3) 3-4`), not inside
//! a longer digit run.
//!
//! Near-misses: `+01:00`, `+5`, `+1.5`, dates (`2024-06-03`), IPv4 addresses,
//! version numbers, `1-800` fragments, 10-digit ids without separators.

use super::bytes::{at, before};

/// The span of an international number whose `+` is at `plus`.
#[inline(never)]
pub(crate) fn find_international(b: &[u8], plus: usize) -> Option<(usize, usize)> {
    if at(b, plus) != b'+' || before(b, plus).is_ascii_alphanumeric() {
        return None;
    }
    let mut p = plus.wrapping_add(1);
    let mut digits = 0usize;
    let mut end = p;
    loop {
        let c = at(b, p);
        if c.is_ascii_digit() {
            digits = digits.saturating_add(1);
            p = p.wrapping_add(1);
            end = p;
        } else if matches!(c, b'-' | b'.' | b' ') && at(b, p.wrapping_add(1)).is_ascii_digit() {
            p = p.wrapping_add(1);
        } else {
            break;
        }
    }
    let next = at(b, end);
    if !(8..=15).contains(&digits) || next == b':' || next.is_ascii_alphanumeric() {
        return None;
    }
    Some((plus, end))
}

/// The span of a North American number whose first digit (or `(`) is at `i`.
#[inline(never)]
pub(crate) fn find_national(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let digits =
        |from: usize, n: usize| (0..n).all(|k| at(b, from.wrapping_add(k)).is_ascii_digit());
    let prev = before(b, i);
    if prev.is_ascii_alphanumeric() || matches!(prev, b'.' | b'-' | b'+') {
        return None;
    }
    let (first_end, sep) = if at(b, i) == b'(' {
        if !(digits(i.wrapping_add(1), 3) && at(b, i.wrapping_add(4)) == b')') {
            return None;
        }
        let s = at(b, i.wrapping_add(5));
        let p = if s == b' ' {
            i.wrapping_add(6)
        } else {
            i.wrapping_add(5)
        };
        (p, b'-')
    } else {
        let s = at(b, i.wrapping_add(3));
        if !(digits(i, 3) && matches!(s, b'-' | b'.')) {
            return None;
        }
        (i.wrapping_add(4), s)
    };
    let p = first_end;
    if !(digits(p, 3) && at(b, p.wrapping_add(3)) == sep && digits(p.wrapping_add(4), 4)) {
        return None;
    }
    let end = p.wrapping_add(8);
    let next = at(b, end);
    if next.is_ascii_alphanumeric()
        || (matches!(next, b'.' | b'-') && at(b, end.wrapping_add(1)).is_ascii_digit())
    {
        return None;
    }
    Some((i, end))
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::spans;
    use crate::detect::Kind::Phone;

    #[test]
    fn positives() {
        let cases: &[(&str, &[&str])] = &[
            ("call +1-906-555-0182 now", &["+1-906-555-0182"]),
            ("+44 20 7946 0958", &["+44 20 7946 0958"]),
            ("tel:+4915112345678;x", &["+4915112345678"]),
            ("phone 906-555-0182.", &["906-555-0182"]),
            ("(906) 555-0182", &["(906) 555-0182"]),
            ("a 906.555.0182 b", &["906.555.0182"]),
            (r#"{"phone":"+33 1 23 45 67 89"}"#, &["+33 1 23 45 67 89"]),
        ];
        for (text, want) in cases {
            assert_eq!(&spans(text, Phone), want, "{text}");
        }
    }

    #[test]
    fn near_misses() {
        for s in [
            "2025-12-31T17:37:40.493035218+01:00",
            "+5",
            "+1.5",
            "x+1234567890",
            "2024-06-03",
            "10.0.42.115:18305",
            "v1.29.3",
            "1-800",
            "9065550182",
            "906-555-01823",
            "1906-555-0182",
            "+12345678901234567",
            "+1-906-555-0182abc",
            "rv:125.0) Gecko/20100101 Firefox/125.0",
        ] {
            assert!(spans(s, Phone).is_empty(), "{s}");
        }
    }
}
