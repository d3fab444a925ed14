//! AWS credentials: access key ids (and other unique ids with the same shape)
//! and secret access keys.
//!
//! Key ids: a 4-letter type prefix (`AKIA` long-term key, `ASIA` session key,
//! `AIDA` user, `AROA` role, `AGPA` group, ... as listed in the IAM docs'
//! "unique identifiers" table) + 16 uppercase letters or digits, standing alone
//! as a word. CloudTrail's `principalId` `AROA...:session` matches the id part.
//!
//! Secret keys are 40 characters of base64 with no marker of their own, so they
//! are only recognised after a key name (see `secret_param`); this file holds
//! the value check.

use super::bytes::{at, before, is_word};

const ID_PREFIXES: [&[u8; 4]; 12] = [
    b"ABIA", b"ACCA", b"AGPA", b"AIDA", b"AIPA", b"AKIA", b"ANPA", b"ANVA", b"APKA", b"AROA",
    b"ASCA", b"ASIA",
];
const ID_LEN: usize = 20;
pub(crate) const SECRET_LEN: usize = 40;

/// An access key id starting at `i` (the `A`). Returns its end.
#[inline(never)]
pub(crate) fn key_id_at(b: &[u8], i: usize) -> Option<usize> {
    if is_word(before(b, i)) {
        return None;
    }
    let end = i.checked_add(ID_LEN)?;
    let id = b.get(i..end)?;
    let (prefix, rest) = id.split_at_checked(4)?;
    if !ID_PREFIXES.iter().any(|p| p.as_slice() == prefix)
        || !rest
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        || is_word(at(b, end))
    {
        return None;
    }
    Some(end)
}

/// `b[v..]` holds exactly 40 secret-key characters then a boundary.
pub(crate) fn secret_at(b: &[u8], v: usize, end: usize) -> bool {
    end.checked_sub(v) == Some(SECRET_LEN)
        && b.get(v..end)
            .is_some_and(|s| s.iter().all(|&c| is_secret_char(c)))
        && !is_secret_char(at(b, end))
        && !is_word(at(b, end))
}

fn is_secret_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'/' || c == b'+' || c == b'='
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::spans;
    use crate::detect::Kind::{AwsAccessKeyId, AwsSecretKey, SecretParam};

    // AWS documentation's example credentials.
    const ID: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn key_id_positives() {
        assert_eq!(spans(&format!("key {ID} used"), AwsAccessKeyId), vec![ID]);
        assert_eq!(
            spans(r#""accessKeyId": "ASIAZ3EXAMPLE4ABCDEF""#, AwsAccessKeyId),
            vec!["ASIAZ3EXAMPLE4ABCDEF"]
        );
        assert_eq!(
            spans("AROAEXAMPLE123456789:session-name", AwsAccessKeyId),
            vec!["AROAEXAMPLE123456789"]
        );
    }

    #[test]
    fn key_id_near_misses() {
        for s in [
            "AKIAIOSFODNN7EXAMPL",   // 19
            "AKIAIOSFODNN7EXAMPLE1", // 21
            "XAKIAIOSFODNN7EXAMPLE", // glued
            "AKIAiosfodnn7example",  // lowercase
            "ABCDIOSFODNN7EXAMPLE",  // unknown prefix
            "AssumeRole ASIA AKIA",
        ] {
            assert!(spans(s, AwsAccessKeyId).is_empty(), "{s}");
        }
    }

    #[test]
    fn secret_positives() {
        for text in [
            format!("aws_secret_access_key={SECRET}"),
            format!("aws_secret_access_key = {SECRET}\n"),
            format!("secret_access_key: {SECRET}"),
            format!(r#"{{"SecretAccessKey": "{SECRET}", "x": 1}}"#),
            format!(r#""secretAccessKey":"{SECRET}""#),
        ] {
            assert_eq!(spans(&text, AwsSecretKey), vec![SECRET], "{text}");
        }
    }

    #[test]
    fn secret_near_misses() {
        for text in [
            SECRET.to_string(), // no key name: indistinguishable from any base64
            format!("aws_secret_access_key={SECRET}A"),
            format!("aws_secret_access_key={}", &SECRET[1..]),
            format!("other_key={SECRET}"),
        ] {
            assert!(spans(&text, AwsSecretKey).is_empty(), "{text}");
        }
        // A short value after the name is still a secret, of the generic kind.
        assert_eq!(
            spans(
                "password = MY-ID\naws_secret_access_key = MY-KEY\n",
                SecretParam
            ),
            vec!["MY-ID", "MY-KEY"]
        );
    }
}
