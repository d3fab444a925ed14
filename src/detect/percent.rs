//! Percent-encoded text (URLs, query strings, cookies): `email=bob%40x.org`,
//! `Authorization%3A%20Bearer%20<token>` in a Kubernetes exec `requestURI`,
//! `phone=%2B1-906-555-0182`. The detectors read raw bytes, so an encoded
//! `@`, `:` or space hides a finding from them.
//!
//! When the scan passes a `%` followed by two hex digits outside a finding,
//! the text is decoded (up to three times, for double encoding) into a copy
//! that remembers where each decoded byte came from, the copy is scanned
//! again, and every finding there is mapped back onto the encoded span it was
//! decoded from. Text without escapes never reaches this module; text with
//! them pays one allocation and a second scan.
//!
//! `+` is left alone (it stays a `+` in paths and in phone numbers).

use super::bytes::{at, hex_value};

/// A decoded copy of a text and, for each decoded byte, the offset of its
/// first source byte; `origin` has one more entry, the source length.
pub(crate) struct Decoded {
    pub bytes: Vec<u8>,
    origin: Vec<usize>,
}

impl Decoded {
    /// The source span that decoded bytes `start..end` came from.
    pub fn source_span(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        Some((*self.origin.get(start)?, *self.origin.get(end)?))
    }
}

/// The byte that `b[i..i + 3]` encodes, if it is an escape.
#[inline(always)]
fn escape_at(b: &[u8], i: usize) -> Option<u8> {
    if at(b, i) != b'%' {
        return None;
    }
    let hi = hex_value(at(b, i.wrapping_add(1)))?;
    let lo = hex_value(at(b, i.wrapping_add(2)))?;
    Some(hi.wrapping_shl(4) | lo)
}

/// Whether `b` holds an escape at `i` (the scanner calls this at a `%`).
#[inline(always)]
pub(crate) fn is_escape(b: &[u8], i: usize) -> bool {
    escape_at(b, i).is_some()
}

fn has_escape(b: &[u8]) -> bool {
    b.iter()
        .enumerate()
        .any(|(i, &c)| c == b'%' && is_escape(b, i))
}

/// One level of decoding of `b`, whose bytes came from `origin` (`None`:
/// from themselves).
fn decode_once(b: &[u8], origin: Option<&[usize]>) -> Decoded {
    let src = |i: usize| origin.map_or(Some(i), |o| o.get(i).copied());
    let mut bytes = Vec::with_capacity(b.len());
    let mut from = Vec::with_capacity(b.len().saturating_add(1));
    let mut i = 0usize;
    while i < b.len() {
        let o = src(i).unwrap_or(usize::MAX);
        match escape_at(b, i) {
            Some(c) => {
                bytes.push(c);
                i = i.saturating_add(3);
            }
            None => {
                bytes.push(at(b, i));
                i = i.saturating_add(1);
            }
        }
        from.push(o);
    }
    from.push(src(b.len()).unwrap_or(usize::MAX));
    Decoded {
        bytes,
        origin: from,
    }
}

/// The text decoded until no escape is left (at most three levels), or None
/// when `b` holds no escape.
pub(crate) fn decode(b: &[u8]) -> Option<Decoded> {
    if !has_escape(b) {
        return None;
    }
    let mut d = decode_once(b, None);
    for _ in 0..2 {
        if !has_escape(&d.bytes) {
            break;
        }
        d = decode_once(&d.bytes, Some(&d.origin));
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(s: &str) -> (String, Vec<usize>) {
        let d = decode(s.as_bytes()).unwrap();
        (String::from_utf8(d.bytes).unwrap(), d.origin)
    }

    #[test]
    fn decodes_and_maps_back() {
        let (t, o) = round("e=bob%40x.org&z");
        assert_eq!(t, "e=bob@x.org&z");
        let at = t.find('@').unwrap();
        assert_eq!(o[at], 5);
        assert_eq!(o[at + 1], 8);
        assert_eq!(*o.last().unwrap(), 15);
        // Double encoding: `%2540` is `%40` is `@`.
        let (t, o) = round("a%2540b");
        assert_eq!(t, "a@b");
        assert_eq!(o, vec![0, 1, 6, 7]);
        // Multi-byte characters decode to their bytes.
        assert_eq!(round("%C3%A4x").0, "äx");
        assert_eq!(round("%2b1").0, "+1");
    }

    #[test]
    fn leaves_non_escapes() {
        for s in ["100%", "50% off", "%zz", "%4", "a+b", ""] {
            assert!(decode(s.as_bytes()).is_none(), "{s}");
        }
        assert_eq!(round("100% %41").0, "100% A");
    }
}
