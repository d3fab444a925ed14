//! HTTP `Bearer` and `Basic` credentials: `Authorization: Bearer <token>`,
//! `bearer <token>`, `Proxy-Authorization: Basic <base64>`. The finding is the
//! credential, not the scheme word.
//!
//! The scheme is case-insensitive and must be a word of its own, followed by
//! spaces or tabs and a token68 credential (`A-Z a-z 0-9 - . _ ~ + /`, then `=`
//! padding). After an `Authorization:`/`=` key any credential counts. Without
//! that key, prose such as "bearer tokens are used" or "Basic authentication
//! failed" must not match, so the credential must look like one:
//! - Bearer: >= 16 characters with a digit, a symbol, or mixed case after the
//!   first character;
//! - Basic: padded standard base64 that decodes to `user:password` (has a `:`).

use super::bytes::{at, before, ends_with_ci, is_blank, is_word, starts_with_ci};
use super::Kind;

const MIN_BARE_BEARER: usize = 16;

/// A credential after the scheme word starting at `i` (a `b`/`B`).
#[inline(never)]
pub(crate) fn find_at(
    b: &[u8],
    i: usize,
    bearer: bool,
    basic: bool,
) -> Option<(usize, usize, Kind)> {
    if is_word(before(b, i)) {
        return None;
    }
    let (kind, word_len) = if bearer && starts_with_ci(b, i, b"bearer") {
        (Kind::Bearer, 6)
    } else if basic && starts_with_ci(b, i, b"basic") {
        (Kind::Basic, 5)
    } else {
        return None;
    };
    let mut v = i.wrapping_add(word_len);
    if !is_blank(at(b, v)) {
        return None;
    }
    while is_blank(at(b, v)) {
        v = v.wrapping_add(1);
    }
    let mut end = v;
    while is_token68(at(b, end)) {
        end = end.wrapping_add(1);
    }
    while at(b, end) == b'=' {
        end = end.wrapping_add(1);
    }
    let token = b.get(v..end)?;
    if token.is_empty() || token.first() == Some(&b'=') {
        return None;
    }
    let credible = after_authorization_key(b, i)
        || match kind {
            Kind::Bearer => looks_random(token),
            _ => is_basic_credential(token),
        };
    credible.then_some((v, end, kind))
}

fn is_token68(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
}

/// `Authorization:`, `"authorization": "`, `authorization=` right before `i`.
fn after_authorization_key(b: &[u8], i: usize) -> bool {
    let mut p = i;
    let mut steps = 0u8;
    // Blanks and quotes between the key, its separator and the value.
    let mut seen_sep = false;
    while steps < 8 {
        let c = before(b, p);
        if is_blank(c) || c == b'"' || c == b'\'' {
            p = p.wrapping_sub(1);
        } else if (c == b':' || c == b'=') && !seen_sep {
            seen_sep = true;
            p = p.wrapping_sub(1);
        } else {
            break;
        }
        steps = steps.wrapping_add(1);
    }
    seen_sep && ends_with_ci(b, p, b"authorization")
}

fn looks_random(token: &[u8]) -> bool {
    if token.len() < MIN_BARE_BEARER {
        return false;
    }
    let tail = token.get(1..).unwrap_or(&[]);
    token.iter().any(|c| !c.is_ascii_alphabetic())
        || (tail.iter().any(u8::is_ascii_uppercase) && tail.iter().any(u8::is_ascii_lowercase))
}

/// Padded base64 of something containing `:`.
fn is_basic_credential(token: &[u8]) -> bool {
    if token.len() < 8 || token.len() % 4 != 0 {
        return false;
    }
    let mut colon = false;
    for chunk in token.chunks_exact(4) {
        let mut acc = 0u32;
        let mut pad = 0u32;
        for &c in chunk {
            let v = match c {
                b'A'..=b'Z' => c.wrapping_sub(b'A'),
                b'a'..=b'z' => c.wrapping_sub(b'a').wrapping_add(26),
                b'0'..=b'9' => c.wrapping_sub(b'0').wrapping_add(52),
                b'+' => 62,
                b'/' => 63,
                b'=' => {
                    pad = pad.wrapping_add(1);
                    0
                }
                _ => return false,
            };
            acc = (acc << 6) | u32::from(v);
        }
        let [_, x, y, z] = acc.to_be_bytes();
        let decoded = [x, y, z];
        let used = 3usize.saturating_sub(pad as usize);
        colon |= decoded.iter().take(used).any(|&d| d == b':');
    }
    colon
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::spans;
    use crate::detect::Kind::{Basic, Bearer};

    #[test]
    fn bearer_positives() {
        let cases: &[(&str, &[&str])] = &[
            ("Authorization: Bearer abc", &["abc"]),
            (
                r#"{"authorization": "bearer x.y-z_1~+/=="}"#,
                &["x.y-z_1~+/=="],
            ),
            ("authorization=Bearer\tshort", &["short"]),
            ("curl -H 'Authorization: Bearer tok'", &["tok"]),
            (
                "sent bearer 0123456789abcdefXYZ now",
                &["0123456789abcdefXYZ"],
            ),
            ("BEARER aBcDeFgHiJkLmNoPqR", &["aBcDeFgHiJkLmNoPqR"]),
        ];
        for (text, want) in cases {
            assert_eq!(&spans(text, Bearer), want, "{text}");
        }
    }

    #[test]
    fn bearer_near_misses() {
        for s in [
            "bearer tokens are used",
            "Bearer authenticationfailure",
            "Bearer Authenticationfailure",
            "Authorization: Bearer",
            "Authorization: Bearer ",
            "WWW-Authenticate: Bearer realm=\"example\"",
            "the_bearer 0123456789abcdefXYZ",
            "Bearerx 0123456789abcdefXYZ",
        ] {
            assert!(spans(s, Bearer).is_empty(), "{s}");
        }
    }

    #[test]
    fn basic_positives() {
        let cases: &[(&str, &[&str])] = &[
            // base64("Aladdin:open sesame"), RFC 7617's example.
            (
                "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
                &["QWxhZGRpbjpvcGVuIHNlc2FtZQ=="],
            ),
            (
                "basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== sent",
                &["QWxhZGRpbjpvcGVuIHNlc2FtZQ=="],
            ),
            ("Proxy-Authorization: Basic anything", &["anything"]),
        ];
        for (text, want) in cases {
            assert_eq!(&spans(text, Basic), want, "{text}");
        }
    }

    #[test]
    fn basic_near_misses() {
        for s in [
            "Basic authentication failed",
            "basic auth",
            "basic dXNlcm5hbWU=", // base64("username"): no colon
            "WWW-Authenticate: Basic realm=\"x\"",
        ] {
            assert!(spans(s, Basic).is_empty(), "{s}");
        }
    }
}
