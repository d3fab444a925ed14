//! IPv4 addresses in free text: dotted quads, octets 0-255.
//!
//! Decisions:
//! - Leading zeros (`075.050.255.67`) count, read as decimal: anonymised CloudTrail
//!   samples are written that way, and an octal reading would be a surprise.
//! - A following `:port` is not part of the finding (the rewriter keeps the text
//!   around a finding, and a port alone identifies nobody).
//! - Version-like strings are not addresses: `1.2.3` (three parts), `1.2.3.4.5`
//!   (five), `v1.2.3.4` (glued to a word) and `1.2.3.4.5` read from the middle.
//!   The scanner only tries a quad at a digit whose previous byte is neither a
//!   word byte nor a `.`.
//! - Known over-match, accepted because the other way leaks: a four-part
//!   version after a `/`, as in the user agent `Linux/5.10.102.1-microsoft`,
//!   reads as an address (node names and URL paths hold real ones the same way).

use super::bytes::{at, is_word};

/// Parses a dotted quad at `i` (1-3 decimal digits per octet, value <= 255).
/// Returns the octets and the index after the last digit. No boundary checks.
pub(crate) fn parse_at(b: &[u8], i: usize) -> Option<([u8; 4], usize)> {
    let mut octets = [0u8; 4];
    let mut p = i;
    for (n, slot) in octets.iter_mut().enumerate() {
        if n > 0 {
            if at(b, p) != b'.' {
                return None;
            }
            p = p.wrapping_add(1);
        }
        let mut value: u16 = 0;
        let start = p;
        while p.wrapping_sub(start) < 3 && at(b, p).is_ascii_digit() {
            // At most three digits: value <= 999 fits u16.
            value = value
                .wrapping_mul(10)
                .wrapping_add(u16::from(at(b, p).wrapping_sub(b'0')));
            p = p.wrapping_add(1);
        }
        if p == start || at(b, p).is_ascii_digit() {
            return None;
        }
        *slot = u8::try_from(value).ok()?;
    }
    Some((octets, p))
}

/// Cheap pre-test for [`find_at`]: most digits start numbers, not
/// addresses; an address has a `.` within its first 4 bytes.
#[inline(always)]
pub(crate) fn may_start(b: &[u8], i: usize) -> bool {
    at(b, i.wrapping_add(1)) == b'.'
        || at(b, i.wrapping_add(2)) == b'.'
        || at(b, i.wrapping_add(3)) == b'.'
}

/// A dotted quad starting at `i` and ending at a boundary: returns its end.
/// The caller has checked the boundary before `i` and [`may_start`].
#[inline(never)]
pub(crate) fn find_at(b: &[u8], i: usize) -> Option<usize> {
    let (_, end) = parse_at(b, i)?;
    let next = at(b, end);
    if is_word(next) || (next == b'.' && at(b, end.wrapping_add(1)).is_ascii_digit()) {
        return None;
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::spans;
    use crate::detect::Kind::Ipv4;

    #[test]
    fn positives() {
        assert_eq!(spans("from 10.0.0.12 ok", Ipv4), vec!["10.0.0.12"]);
        assert_eq!(spans("10.42.0.77:10443", Ipv4), vec!["10.42.0.77"]);
        assert_eq!(spans("075.050.255.67", Ipv4), vec!["075.050.255.67"]);
        assert_eq!(
            spans("0.0.0.0 255.255.255.255", Ipv4),
            vec!["0.0.0.0", "255.255.255.255"]
        );
        assert_eq!(
            spans("ip=1.2.3.4,5.6.7.8", Ipv4),
            vec!["1.2.3.4", "5.6.7.8"]
        );
        assert_eq!(spans("at 1.2.3.4.", Ipv4), vec!["1.2.3.4"]);
        assert_eq!(spans("[192.168.1.45]", Ipv4), vec!["192.168.1.45"]);
        assert_eq!(spans("é1.2.3.4", Ipv4), vec!["1.2.3.4"]);
    }

    #[test]
    fn near_misses() {
        for s in [
            "1.2.3",
            "1.2.3.4.5",
            "v1.2.3.4",
            "256.1.1.1",
            "1.2.3.256",
            "1.2.3.0400",
            "0001.2.3.4",
            "1.2.3.4a",
            "a1.2.3.4",
            "1..2.3",
            "3.14 and 2.71",
            "2017-09-11T19:55:05Z",
            "1.2.3.4_5",
        ] {
            assert!(spans(s, Ipv4).is_empty(), "{s}");
        }
    }
}
