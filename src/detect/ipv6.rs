//! IPv6 addresses in free text: full, `::`-compressed, with an embedded IPv4 tail.
//!
//! The scanner triggers on the first `:` of a hex/colon run and looks back at
//! most one group (4 hex digits) for the start of the address.
//!
//! Decisions:
//! - `[2001:db8::1]:443`: the finding is the address; brackets and port stay.
//! - `::` alone is not an address here (it is mostly C++/Rust path syntax);
//!   `::1` is.
//! - Times (`12:34:56`) and MAC addresses (`00:1a:2b:3c:4d:5e`) do not parse
//!   (fewer than 8 groups and no `::`). MACs are personal data too, but they
//!   would need their own kind; they are left alone.
//! - A run glued to a word (`T19:55:05`, `std::vec`) is not tried.

use super::bytes::{at, before, hex_value, is_hex, is_word};
use super::ipv4;

/// The scanner tries the first `:` of a run, so at most one group precedes it;
/// a longer hex run before it is a word, not an address.
const MAX_LOOKBACK: usize = 4;

/// Parses an IPv6 address at `i`. Returns the eight groups and the index after
/// the address. Stops before anything that cannot continue it; no boundary checks.
#[inline(never)]
pub(crate) fn parse_at(b: &[u8], i: usize) -> Option<([u16; 8], usize)> {
    let mut groups = [0u16; 8];
    let mut n = 0usize;
    let mut gap: Option<usize> = None;
    let mut p = i;
    if at(b, p) == b':' {
        if at(b, p.wrapping_add(1)) != b':' {
            return None;
        }
        gap = Some(0);
        p = p.wrapping_add(2);
    }
    while n < 8 {
        if !is_hex(at(b, p)) {
            // Only reachable right after `::` (a single `:` is consumed only
            // when a hex digit follows), so ending here is valid.
            break;
        }
        if n <= 6 && looks_like_quad(b, p) {
            // Not a quad after all (`fd00::3.` ends a sentence): read the
            // digits as a group and let the caller judge what follows.
            if let Some((o, end)) = ipv4::parse_at(b, p) {
                set(&mut groups, n, u16::from_be_bytes([o[0], o[1]]));
                set(
                    &mut groups,
                    n.wrapping_add(1),
                    u16::from_be_bytes([o[2], o[3]]),
                );
                n = n.wrapping_add(2);
                p = end;
                break;
            }
        }
        let (h, end) = h16(b, p)?;
        set(&mut groups, n, h);
        n = n.wrapping_add(1);
        p = end;
        if at(b, p) != b':' {
            break;
        }
        let next = at(b, p.wrapping_add(1));
        if next == b':' {
            if gap.is_some() {
                break; // a second `::` is not part of this address
            }
            gap = Some(n);
            p = p.wrapping_add(2);
        } else if is_hex(next) && n < 8 {
            p = p.wrapping_add(1);
        } else {
            break;
        }
    }
    match gap {
        None if n == 8 => Some((groups, p)),
        None => None,
        // `::` stands for at least one zero group.
        Some(g) if n <= 7 => Some((expand(&groups, g, n), p)),
        Some(_) => None,
    }
}

/// Finds the address around the `:` at `colon`, never starting before
/// `floor`. Returns `(start, end)`.
#[inline(never)]
pub(crate) fn find_around(b: &[u8], colon: usize, floor: usize) -> Option<(usize, usize)> {
    let min = floor.max(colon.saturating_sub(MAX_LOOKBACK));
    let mut s = colon;
    while s > min && is_addr_byte(before(b, s)) {
        s = s.wrapping_sub(1);
    }
    // Glued to a word, a version or a longer hex run: not an address.
    // Later colons of the same run stop here too (their look-back ends on
    // a colon or a hex digit), so each run costs one parse at most.
    let prev = before(b, s);
    if is_word(prev) || prev == b'.' || prev == b':' {
        return None;
    }
    let (_, end) = parse_at(b, s)?;
    if b.get(s..end) == Some(b"::".as_slice()) || !boundary_after(b, end) {
        return None;
    }
    Some((s, end))
}

fn boundary_after(b: &[u8], end: usize) -> bool {
    let next = at(b, end);
    let after = at(b, end.wrapping_add(1));
    !(is_word(next)
        || (next == b'.' && after.is_ascii_digit())
        || (next == b':' && (is_hex(after) || after == b':')))
}

#[inline(always)]
fn is_addr_byte(c: u8) -> bool {
    is_hex(c) || c == b':'
}

/// 1-3 decimal digits then `.`: an IPv4 tail, not a hex group.
fn looks_like_quad(b: &[u8], p: usize) -> bool {
    let mut q = p;
    while q.wrapping_sub(p) < 4 && at(b, q).is_ascii_digit() {
        q = q.wrapping_add(1);
    }
    q != p && q.wrapping_sub(p) <= 3 && at(b, q) == b'.'
}

/// 1-4 hex digits; `None` when a fifth follows.
fn h16(b: &[u8], p: usize) -> Option<(u16, usize)> {
    let mut v: u16 = 0;
    let mut q = p;
    while q.wrapping_sub(p) < 4 {
        let Some(d) = hex_value(at(b, q)) else { break };
        v = (v << 4) | u16::from(d);
        q = q.wrapping_add(1);
    }
    if q == p || is_hex(at(b, q)) {
        return None;
    }
    Some((v, q))
}

fn set(groups: &mut [u16; 8], n: usize, v: u16) {
    if let Some(slot) = groups.get_mut(n) {
        *slot = v;
    }
}

/// Moves the groups written after the `::` (at `gap`) to the end.
fn expand(groups: &[u16; 8], gap: usize, n: usize) -> [u16; 8] {
    let tail = n.saturating_sub(gap);
    let mut out = [0u16; 8];
    for (o, g) in out.iter_mut().zip(groups.iter().take(gap)) {
        *o = *g;
    }
    for (o, g) in out
        .iter_mut()
        .skip(8usize.saturating_sub(tail))
        .zip(groups.iter().skip(gap).take(tail))
    {
        *o = *g;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse_at;
    use crate::detect::tests::spans;
    use crate::detect::Kind::Ipv6;

    fn parse(s: &str) -> Option<[u16; 8]> {
        match parse_at(s.as_bytes(), 0) {
            Some((g, end)) if end == s.len() => Some(g),
            _ => None,
        }
    }

    #[test]
    fn parser() {
        assert_eq!(parse("::1"), Some([0, 0, 0, 0, 0, 0, 0, 1]));
        assert_eq!(parse("::"), Some([0; 8]));
        assert_eq!(
            parse("2001:db8::1"),
            Some([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1])
        );
        assert_eq!(parse("2001:DB8::"), Some([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]));
        assert_eq!(parse("1:2:3:4:5:6:7:8"), Some([1, 2, 3, 4, 5, 6, 7, 8]));
        assert_eq!(parse("1:2:3:4:5:6::8"), Some([1, 2, 3, 4, 5, 6, 0, 8]));
        assert_eq!(
            parse("::ffff:1.2.3.4"),
            Some([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304])
        );
        assert_eq!(
            parse("1:2:3:4:5:6:1.2.3.4"),
            Some([1, 2, 3, 4, 5, 6, 0x0102, 0x0304])
        );
        assert_eq!(parse("1:2:3:4:5:6:7"), None);
        assert_eq!(parse("1:2:3:4:5:6:7:8:9"), None);
        assert_eq!(parse("1:2:3:4::5:6:7:8"), None);
        assert_eq!(parse("12345::1"), None);
        assert_eq!(parse(":1"), None);
        assert_eq!(parse("1::2::3"), None);
        assert_eq!(parse("::ffff:256.1.1.1"), None);
    }

    #[test]
    fn positives() {
        assert_eq!(spans(r#"sourceIPs ["::1"]"#, Ipv6), vec!["::1"]);
        assert_eq!(spans("to [2001:db8::1]:443 now", Ipv6), vec!["2001:db8::1"]);
        assert_eq!(spans("fe80::1%eth0", Ipv6), vec!["fe80::1"]);
        assert_eq!(
            spans("a 2001:0db8:85a3:0000:0000:8a2e:0370:7334 b", Ipv6),
            vec!["2001:0db8:85a3:0000:0000:8a2e:0370:7334"]
        );
        assert_eq!(spans("::ffff:10.0.0.1", Ipv6), vec!["::ffff:10.0.0.1"]);
        assert_eq!(spans("on ::1: ok", Ipv6), vec!["::1"]);
        assert_eq!(
            spans("x=fd00::2, y=fd00::3.", Ipv6),
            vec!["fd00::2", "fd00::3"]
        );
    }

    #[test]
    fn near_misses() {
        for s in [
            "12:34:56",
            "2017-09-11 19:55:05",
            "2017-09-11T19:55:05Z",
            "00:1a:2b:3c:4d:5e",
            "std::vec::Vec",
            "a :: b",
            "::",
            "Foo::bar",
            "system:serviceaccount:ns1:sa1",
            "ab:cd",
            "1:2:3:4:5:6:7:8:9",
            "::1abg",
            "x::1",
            "10:30 to 11:45",
        ] {
            assert!(spans(s, Ipv6).is_empty(), "{s}");
        }
    }
}
