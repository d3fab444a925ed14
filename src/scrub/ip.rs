//! IP truncation: keep the network prefix, zero the host part.
//!
//! Accepts `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`,
//! `::1`, `fe80::1%eth0`, octets with leading zeros (`075.050.255.67`, read as
//! decimal), and comma-separated `X-Forwarded-For` lists (`a, b,c`), each element
//! truncated and the results joined by `", "`.
//!
//! The output is the network address alone, in canonical form: dotted decimal
//! for IPv4, RFC 5952 (lowercase, no leading zeros, longest zero run as `::`)
//! for IPv6. Ports, brackets and zone ids are dropped: a client's source port
//! picks one connection out of the thousands behind a NAT, so together with the
//! truncated address it would point back at one client, and canonical output
//! keeps equal networks equal for counting.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) carry an IPv4 client, so the
//! IPv4 prefix applies to the embedded address and the result stays mapped
//! (`::ffff:1.2.3.0`). Prefix lengths above 32 / 128 keep the whole address.
//!
//! Any element that is not an address fails the whole value (the caller then
//! redacts it), and nothing is written in that case.

use crate::detect::bytes::at;
use crate::detect::{ipv4, ipv6};

/// The value (or one of its list elements) is not an IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAnIp;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Addr {
    V4([u8; 4]),
    V6([u16; 8]),
}

pub fn truncate_ip(
    value: &str,
    v4_prefix: u8,
    v6_prefix: u8,
    out: &mut String,
) -> Result<(), NotAnIp> {
    let mark = out.len();
    let result = value.split(',').enumerate().try_for_each(|(n, element)| {
        let addr = parse(element.trim_matches(|c| c == ' ' || c == '\t')).ok_or(NotAnIp)?;
        if n > 0 {
            out.push_str(", ");
        }
        write_truncated(addr, v4_prefix, v6_prefix, out);
        Ok(())
    });
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// One address with optional brackets, port or zone; `None` unless all of `s` is used.
fn parse(s: &str) -> Option<Addr> {
    let b = s.as_bytes();
    if at(b, 0) == b'[' {
        let (groups, end) = ipv6::parse_at(b, 1)?;
        let end = zone_end(b, end);
        if at(b, end) != b']' {
            return None;
        }
        return port_only(b, end.wrapping_add(1)).then_some(Addr::V6(groups));
    }
    if let Some((octets, end)) = ipv4::parse_at(b, 0) {
        return port_only(b, end).then_some(Addr::V4(octets));
    }
    let (groups, end) = ipv6::parse_at(b, 0)?;
    (zone_end(b, end) == b.len()).then_some(Addr::V6(groups))
}

/// Nothing, or `:` and a port number 0-65535, up to the end of `b`.
fn port_only(b: &[u8], p: usize) -> bool {
    if p == b.len() {
        return true;
    }
    if at(b, p) != b':' {
        return false;
    }
    let digits = b.get(p.wrapping_add(1)..).unwrap_or(&[]);
    !digits.is_empty()
        && digits.len() <= 5
        && digits.iter().all(u8::is_ascii_digit)
        && digits.iter().fold(0u32, |v, d| {
            v.wrapping_mul(10)
                .wrapping_add(u32::from(d.wrapping_sub(b'0')))
        }) <= 65535
}

/// Skips an IPv6 zone id (`%eth0`) at `p`, if any.
fn zone_end(b: &[u8], p: usize) -> usize {
    if at(b, p) != b'%' {
        return p;
    }
    let mut q = p.wrapping_add(1);
    while at(b, q).is_ascii_alphanumeric() || matches!(at(b, q), b'_' | b'.' | b'-') {
        q = q.wrapping_add(1);
    }
    if q == p.wrapping_add(1) {
        p // a bare `%` is not a zone: leave it to fail the parse
    } else {
        q
    }
}

fn write_truncated(addr: Addr, v4_prefix: u8, v6_prefix: u8, out: &mut String) {
    match addr {
        Addr::V4(o) => write_v4(truncate_v4(o, v4_prefix), out),
        Addr::V6([0, 0, 0, 0, 0, 0xffff, hi, lo]) => {
            let [a, b2] = hi.to_be_bytes();
            let [c, d] = lo.to_be_bytes();
            out.push_str("::ffff:");
            write_v4(truncate_v4([a, b2, c, d], v4_prefix), out);
        }
        Addr::V6(groups) => write_v6(truncate_v6(groups, v6_prefix), out),
    }
}

fn truncate_v4(o: [u8; 4], prefix: u8) -> [u8; 4] {
    let keep = u32::from(prefix.min(32));
    let mask = u32::MAX
        .checked_shl(32u32.saturating_sub(keep))
        .unwrap_or(0);
    (u32::from_be_bytes(o) & mask).to_be_bytes()
}

fn truncate_v6(groups: [u16; 8], prefix: u8) -> [u16; 8] {
    let keep = u32::from(prefix.min(128));
    let mask = u128::MAX
        .checked_shl(128u32.saturating_sub(keep))
        .unwrap_or(0);
    let v = groups
        .iter()
        .fold(0u128, |acc, &g| (acc << 16) | u128::from(g))
        & mask;
    let mut out = [0u16; 8];
    for (k, slot) in out.iter_mut().enumerate() {
        let shift = 112u32.saturating_sub(u32::try_from(k).unwrap_or(0).saturating_mul(16));
        *slot = u16::try_from((v >> shift) & 0xffff).unwrap_or(0);
    }
    out
}

fn write_v4(o: [u8; 4], out: &mut String) {
    for (n, octet) in o.iter().enumerate() {
        if n > 0 {
            out.push('.');
        }
        write_decimal(*octet, out);
    }
}

fn write_decimal(v: u8, out: &mut String) {
    let (h, t, u) = (v / 100, (v / 10) % 10, v % 10);
    if h > 0 {
        out.push(char::from(b'0'.wrapping_add(h)));
    }
    if h > 0 || t > 0 {
        out.push(char::from(b'0'.wrapping_add(t)));
    }
    out.push(char::from(b'0'.wrapping_add(u)));
}

/// RFC 5952 section 4: the longest run of two or more zero groups (the first
/// on a tie) becomes `::`; hex digits are lowercase without leading zeros.
fn write_v6(groups: [u16; 8], out: &mut String) {
    let (mut best_start, mut best_len) = (8usize, 0usize);
    let mut run_start = 0usize;
    let mut run_len = 0usize;
    for (k, &g) in groups.iter().enumerate() {
        if g == 0 {
            if run_len == 0 {
                run_start = k;
            }
            run_len = run_len.wrapping_add(1);
            if run_len > best_len {
                (best_start, best_len) = (run_start, run_len);
            }
        } else {
            run_len = 0;
        }
    }
    if best_len < 2 {
        best_start = 8;
    }
    let best_end = best_start.wrapping_add(best_len);
    for (k, &g) in groups.iter().enumerate() {
        if k == best_start {
            out.push_str("::");
            continue;
        }
        if k > best_start && k < best_end {
            continue;
        }
        if k > 0 && k != best_end {
            out.push(':');
        }
        write_hex16(g, out);
    }
}

fn write_hex16(g: u16, out: &mut String) {
    let mut started = false;
    for shift in [12u16, 8, 4, 0] {
        let nibble = (g >> shift) & 0xf;
        if nibble != 0 || started || shift == 0 {
            started = true;
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(v: &str, p4: u8, p6: u8) -> Result<String, NotAnIp> {
        let mut s = String::new();
        truncate_ip(v, p4, p6, &mut s).map(|()| s)
    }

    fn ok(v: &str) -> String {
        t(v, 24, 48).unwrap()
    }

    #[test]
    fn ipv4() {
        assert_eq!(ok("10.0.0.12"), "10.0.0.0");
        assert_eq!(ok("192.168.1.45:33045"), "192.168.1.0");
        assert_eq!(ok("075.050.255.67"), "75.50.255.0");
        assert_eq!(ok("0.0.0.0"), "0.0.0.0");
        assert_eq!(t("203.0.113.77", 16, 48).unwrap(), "203.0.0.0");
        assert_eq!(t("203.0.113.77", 0, 48).unwrap(), "0.0.0.0");
        assert_eq!(t("203.0.113.77", 32, 48).unwrap(), "203.0.113.77");
        assert_eq!(t("203.0.113.77", 200, 48).unwrap(), "203.0.113.77");
        assert_eq!(t("203.0.113.255", 25, 48).unwrap(), "203.0.113.128");
        assert_eq!(t("203.0.113.255", 31, 48).unwrap(), "203.0.113.254");
    }

    #[test]
    fn ipv6_prefixes() {
        assert_eq!(
            ok("2001:db8:abcd:12:3456:789a:bcde:f012"),
            "2001:db8:abcd::"
        );
        assert_eq!(
            t("2001:db8:abcd:12:3456:789a:bcde:f012", 24, 64).unwrap(),
            "2001:db8:abcd:12::"
        );
        assert_eq!(
            t("2001:db8:abcd:12ff::1", 24, 56).unwrap(),
            "2001:db8:abcd:1200::"
        );
        assert_eq!(ok("[2001:DB8:0:0:1:0:0:1]:443"), "2001:db8::");
        assert_eq!(
            t("2001:db8:0:0:1:0:0:1", 24, 128).unwrap(),
            "2001:db8::1:0:0:1"
        );
        assert_eq!(t("2001:0:0:1:0:0:0:1", 24, 128).unwrap(), "2001:0:0:1::1");
        assert_eq!(
            t("2001:db8:0:1:1:1:1:1", 24, 128).unwrap(),
            "2001:db8:0:1:1:1:1:1"
        );
        assert_eq!(t("0:0:0:0:0:0:0:0", 24, 128).unwrap(), "::");
        assert_eq!(t("1:0:0:0:0:0:0:0", 24, 128).unwrap(), "1::");
        assert_eq!(ok("::1"), "::");
        assert_eq!(t("::1", 24, 128).unwrap(), "::1");
        assert_eq!(ok("fe80::1%eth0"), "fe80::");
        assert_eq!(t("2001:db8::1", 24, 0).unwrap(), "::");
    }

    #[test]
    fn mapped_ipv4_uses_the_ipv4_prefix() {
        assert_eq!(ok("::ffff:192.0.2.77"), "::ffff:192.0.2.0");
        assert_eq!(ok("::FFFF:c000:024d"), "::ffff:192.0.2.0");
        assert_eq!(ok("[::ffff:192.0.2.77]:80"), "::ffff:192.0.2.0");
        // Other embedded forms are plain IPv6.
        assert_eq!(t("64:ff9b::192.0.2.77", 24, 96).unwrap(), "64:ff9b::");
    }

    #[test]
    fn forwarded_for_lists() {
        assert_eq!(
            ok("203.0.113.7, 2001:db8::1,10.0.0.12"),
            "203.0.113.0, 2001:db8::, 10.0.0.0"
        );
        assert_eq!(ok(" 1.2.3.4 ,\t5.6.7.8 "), "1.2.3.0, 5.6.7.0");
    }

    #[test]
    fn refuses_non_addresses_without_writing() {
        for v in [
            "",
            " ",
            "unknown",
            "1.2.3.4, unknown",
            "1.2.3.4,",
            ",1.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.4:",
            "1.2.3.4:65536",
            "1.2.3.4:123456",
            "1.2.3.4:80x",
            "[1.2.3.4]:80",
            "[2001:db8::1",
            "[2001:db8::1]:",
            "2001:db8::1:443x",
            "2001:db8::1%",
            "::ffff:1.2.3",
            "1:2:3:4:5:6:7",
            "example.com",
            "1.2.3.4 5.6.7.8",
        ] {
            let mut s = String::from("keep");
            assert_eq!(truncate_ip(v, 24, 48, &mut s), Err(NotAnIp), "{v}");
            assert_eq!(s, "keep", "{v}");
        }
    }
}
