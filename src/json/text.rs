//! JSON string escaping and unescaping.

use super::JsonError;
use std::borrow::Cow;

/// High bit set in each byte of `w` that a JSON string must escape (`"`,
/// `\\`, below 0x20); the lowest set byte is always exact. Flipping bit 1
/// maps `"` (0x22) to 0x20 and keeps control bytes below 0x20, while no other
/// byte lands below 0x21, so one "below 0x21" test finds both.
#[inline(always)]
pub(crate) fn must_escape(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let flipped = w ^ 0x0202_0202_0202_0202;
    let below = flipped.wrapping_sub(0x2121_2121_2121_2121) & !flipped;
    let backslash = w ^ 0x5c5c_5c5c_5c5c_5c5c;
    let zero_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below | zero_backslash) & HIGHS
}

/// Offset of the first byte at or after `i` that must be escaped, or the
/// length: eight bytes per step (header values and free text rarely need
/// any escape).
#[inline]
fn next_escape(bytes: &[u8], i: usize) -> usize {
    let Some(rest) = bytes.get(i..) else {
        return bytes.len();
    };
    let mut at = i;
    let mut chunks = rest.chunks_exact(8);
    for chunk in &mut chunks {
        let w = chunk
            .first_chunk::<8>()
            .map_or(0, |w| u64::from_le_bytes(*w));
        let hits = must_escape(w);
        if hits != 0 {
            return at.wrapping_add((hits.trailing_zeros() / 8) as usize);
        }
        at = at.wrapping_add(8);
    }
    for &b in chunks.remainder() {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return at;
        }
        at = at.wrapping_add(1);
    }
    at
}

/// Appends `s` as the inside of a JSON string literal (without quotes).
pub fn escape_into(s: &str, out: &mut Vec<u8>) {
    let bytes = s.as_bytes();
    let mut copied = 0;
    loop {
        let i = next_escape(bytes, copied);
        let Some(&b) = bytes.get(i) else {
            break;
        };
        out.extend_from_slice(bytes.get(copied..i).unwrap_or_default());
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => b"",
        };
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
            out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
        } else {
            out.extend_from_slice(esc);
        }
        copied = i.wrapping_add(1);
    }
    out.extend_from_slice(bytes.get(copied..).unwrap_or_default());
}

/// Appends `s` as a complete JSON string literal, quotes included.
pub fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    escape_into(s, out);
    out.push(b'"');
}

fn hex4(raw: &[u8]) -> Result<u32, JsonError> {
    let mut v: u32 = 0;
    for &h in raw {
        let d = char::from(h).to_digit(16).ok_or(JsonError::BadEscape)?;
        v = (v << 4) | d;
    }
    Ok(v)
}

/// Decodes the inside of a JSON string literal that the scanner validated.
///
/// Lone surrogates (`\ud800` without its pair) become U+FFFD: the text is
/// only inspected and transformed, never echoed, so a lossy decode is safe,
/// and rejecting it would let one odd byte fail a whole record.
pub fn unescape(raw: &[u8]) -> Result<Cow<'_, str>, JsonError> {
    let s = std::str::from_utf8(raw).map_err(|_| JsonError::Syntax)?;
    if !raw.contains(&b'\\') {
        return Ok(Cow::Borrowed(s));
    }
    unescape_str(s)
}

/// [`unescape`] for text already known to be UTF-8 (a span of a validated
/// record): no second validation. Borrows when there is no escape.
pub fn unescape_str(s: &str) -> Result<Cow<'_, str>, JsonError> {
    if !s.as_bytes().contains(&b'\\') {
        return Ok(Cow::Borrowed(s));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(rest.get(..i).unwrap_or_default());
        let tail = rest.get(i..).unwrap_or_default().as_bytes();
        let (ch, used) = match tail.get(1) {
            Some(b'"') => ('"', 2),
            Some(b'\\') => ('\\', 2),
            Some(b'/') => ('/', 2),
            Some(b'b') => ('\u{8}', 2),
            Some(b'f') => ('\u{c}', 2),
            Some(b'n') => ('\n', 2),
            Some(b'r') => ('\r', 2),
            Some(b't') => ('\t', 2),
            Some(b'u') => {
                let hi = hex4(tail.get(2..6).ok_or(JsonError::BadEscape)?)?;
                if (0xD800..0xDC00).contains(&hi) && tail.get(6..8) == Some(b"\\u") {
                    let lo = hex4(tail.get(8..12).ok_or(JsonError::BadEscape)?)?;
                    if (0xDC00..0xE000).contains(&lo) {
                        // In range by the checks above: no wrap can occur.
                        let c = 0x10000u32
                            .wrapping_add(hi.wrapping_sub(0xD800) << 10)
                            .wrapping_add(lo.wrapping_sub(0xDC00));
                        (char::from_u32(c).unwrap_or('\u{FFFD}'), 12)
                    } else {
                        ('\u{FFFD}', 6)
                    }
                } else {
                    (char::from_u32(hi).unwrap_or('\u{FFFD}'), 6)
                }
            }
            _ => return Err(JsonError::BadEscape),
        };
        out.push(ch);
        rest = rest
            .get(i.saturating_add(used)..)
            .ok_or(JsonError::BadEscape)?;
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trips_through_serde() {
        for s in [
            "plain",
            "q\"uote",
            "back\\slash",
            "nl\nx\r\t",
            "\u{1}\u{1f}",
            "é ✓ 😀",
            "",
        ] {
            let mut out = Vec::new();
            write_string(s, &mut out);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn unescape_matches_serde() {
        for lit in [
            r#""a\u0026b""#,
            r#""\"\\\/\b\f\n\r\t""#,
            r#""\ud83d\ude00""#,
            r#""x\u00e9y""#,
            r#""no escapes""#,
        ] {
            let inner = &lit.as_bytes()[1..lit.len() - 1];
            let want: String = serde_json::from_str(lit).unwrap();
            assert_eq!(unescape(inner).unwrap(), want);
        }
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        assert_eq!(unescape(br"a\ud800b").unwrap(), "a\u{FFFD}b");
        assert_eq!(unescape(br"\udc00").unwrap(), "\u{FFFD}");
        assert_eq!(unescape(br"\ud800\u0041").unwrap(), "\u{FFFD}A");
    }
}
