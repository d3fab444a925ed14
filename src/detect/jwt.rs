//! JSON Web Tokens: base64url segments joined by `.`, the first starting `eyJ`
//! (base64 of `{"`).
//!
//! Three segments (JWS; the signature may be empty for `alg: none`) up to five
//! (JWE). The scanner triggers on the rare `J` and checks the `ey` before it.
//! Near-misses: two segments only, a header that does not start `eyJ`, a
//! header shorter than 10 characters, a token glued to a word.

use super::bytes::{at, before, is_b64url};

const MIN_HEADER: usize = 10;

/// A token whose header starts at `e` (`b[e..]` starts `eyJ`). Returns its end.
#[inline(never)]
pub(crate) fn find_at(b: &[u8], e: usize) -> Option<usize> {
    if at(b, e) != b'e' || at(b, e.wrapping_add(1)) != b'y' || at(b, e.wrapping_add(2)) != b'J' {
        return None;
    }
    let prev = before(b, e);
    if is_b64url(prev) || prev == b'.' {
        return None;
    }
    let mut p = segment_end(b, e);
    if p.wrapping_sub(e) < MIN_HEADER {
        return None;
    }
    let mut segments = 1u32;
    while segments < 5 && at(b, p) == b'.' {
        let next = segment_end(b, p.wrapping_add(1));
        let empty = next == p.wrapping_add(1);
        // Only the third segment (the JWS signature) may be empty.
        if empty && segments != 2 {
            break;
        }
        p = next;
        segments = segments.wrapping_add(1);
        if empty {
            break;
        }
    }
    (segments >= 3).then_some(p)
}

fn segment_end(b: &[u8], mut p: usize) -> usize {
    while is_b64url(at(b, p)) {
        p = p.wrapping_add(1);
    }
    p
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::spans;
    use crate::detect::Kind::Jwt;

    // jwt.io's example token (HS256, secret "your-256-bit-secret").
    const JWS: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

    #[test]
    fn positives() {
        assert_eq!(spans(&format!("token {JWS} end"), Jwt), vec![JWS]);
        assert_eq!(spans(&format!("\"{JWS}\""), Jwt), vec![JWS]);
        assert_eq!(spans(&format!("{JWS}."), Jwt), vec![JWS]);
        let unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.";
        assert_eq!(spans(unsigned, Jwt), vec![unsigned]);
        let jwe = "eyJhbGciOiJSU0EtT0FFUCJ9.a2V5.aXY.Y2lwaGVy.dGFn";
        assert_eq!(spans(&format!("({jwe})"), Jwt), vec![jwe]);
    }

    #[test]
    fn near_misses() {
        for s in [
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",      // two segments
            "eyJhbGciOiJIUzI1NiJ9..sig",                 // empty payload
            "abJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",  // header not eyJ
            "eyJhbG.eyJzdWIiOiIxIn0.sig",                // header too short
            "xeyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", // glued to a word
            "the key is eyJ",
            "JSON and eyJust text",
        ] {
            assert!(spans(s, Jwt).is_empty(), "{s}");
        }
    }
}
