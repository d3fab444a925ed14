//! Byte helpers shared by the detectors.
//!
//! Detectors look at neighbours of a trigger byte (`text[i - 1]`, `text[i + 3]`).
//! [`at`] reads out of range as 0, which every detector treats as a boundary,
//! so index arithmetic can use `wrapping_*`: an index that wrapped below 0 is
//! simply out of range and reads as 0. That keeps the scanners panic-free
//! without a bounds branch at every call site.

/// The byte at `i`, or 0 when `i` is out of range.
#[inline(always)]
pub(crate) fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

/// The byte before `i` (0 at the start of the text).
#[inline(always)]
pub(crate) fn before(b: &[u8], i: usize) -> u8 {
    at(b, i.wrapping_sub(1))
}

/// ASCII letter, digit or `_`: what glues a token to its neighbours.
#[inline(always)]
pub(crate) fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Base64url alphabet (JWT segments).
#[inline(always)]
pub(crate) fn is_b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

#[inline(always)]
pub(crate) fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Hex digit values, 0xFF for other bytes: one load instead of three range
/// tests (this runs in an interpreter).
#[expect(
    clippy::indexing_slicing,
    reason = "constant evaluation: an out-of-range index fails the build, it cannot panic at run time"
)]
static HEX: [u8; 256] = {
    let mut t = [0xFFu8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        t[c] = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => 0xFF,
        };
        c += 1;
    }
    t
};

/// The value of a hex digit.
#[inline(always)]
pub(crate) fn hex_value(c: u8) -> Option<u8> {
    let v = HEX.get(usize::from(c)).copied().unwrap_or(0xFF);
    (v != 0xFF).then_some(v)
}

#[inline(always)]
pub(crate) fn is_hex(c: u8) -> bool {
    HEX.get(usize::from(c)).is_some_and(|&v| v != 0xFF)
}

/// `b[i..]` starts with `lower` (ASCII case-insensitive; `lower` is lowercase).
#[inline]
pub(crate) fn starts_with_ci(b: &[u8], i: usize, lower: &[u8]) -> bool {
    match i.checked_add(lower.len()).and_then(|end| b.get(i..end)) {
        Some(s) => s.eq_ignore_ascii_case(lower),
        None => false,
    }
}

/// `b[..end]` ends with `lower` (ASCII case-insensitive; `lower` is lowercase).
#[inline]
pub(crate) fn ends_with_ci(b: &[u8], end: usize, lower: &[u8]) -> bool {
    match end
        .checked_sub(lower.len())
        .and_then(|start| b.get(start..end))
    {
        Some(s) => s.eq_ignore_ascii_case(lower),
        None => false,
    }
}

/// First index `>= from` where `pat` occurs.
pub(crate) fn find_sub(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    let hay = b.get(from..)?;
    if pat.is_empty() {
        return Some(from);
    }
    hay.windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p.wrapping_add(from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_reads_zero() {
        let b = b"ab";
        assert_eq!(at(b, 0), b'a');
        assert_eq!(at(b, 2), 0);
        assert_eq!(before(b, 0), 0);
        assert_eq!(before(b, 1), b'a');
    }

    #[test]
    fn case_insensitive_affixes() {
        let b = b"Bearer xyz";
        assert!(starts_with_ci(b, 0, b"bearer"));
        assert!(!starts_with_ci(b, 5, b"bearer"));
        assert!(ends_with_ci(b, 6, b"bearer"));
        assert!(!ends_with_ci(b, 3, b"bearer"));
    }

    #[test]
    fn substring_search() {
        assert_eq!(find_sub(b"xx-----END ", 0, b"-----END"), Some(2));
        assert_eq!(find_sub(b"xx-----END ", 3, b"-----END"), None);
        assert_eq!(find_sub(b"ab", 9, b"a"), None);
    }
}
