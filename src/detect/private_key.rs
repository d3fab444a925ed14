//! PEM private keys: from `-----BEGIN <label>-----` where the label contains
//! `PRIVATE KEY` (`RSA PRIVATE KEY`, `EC PRIVATE KEY`, `OPENSSH PRIVATE KEY`,
//! `ENCRYPTED PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`) through the end of the next
//! `-----END ...-----` line, or to the end of the text when that line is missing
//! (a key cut off by a log line limit is still a key).
//! Near-misses: certificates and public keys (`BEGIN CERTIFICATE`,
//! `BEGIN PUBLIC KEY`), a BEGIN line without its closing dashes.

use super::bytes::{find_sub, starts_with_ci};

const BEGIN: &[u8] = b"-----begin ";
const DASHES: &[u8] = b"-----";
const MAX_LABEL: usize = 40;

/// A key block starting at `i` (the first `-`). Returns its end.
#[inline(never)]
pub(crate) fn find_at(b: &[u8], i: usize) -> Option<usize> {
    if !starts_with_ci(b, i, BEGIN) {
        return None;
    }
    let label_start = i.checked_add(BEGIN.len())?;
    let label_end = find_sub(b, label_start, DASHES)?;
    let label = b.get(label_start..label_end)?;
    if label.len() > MAX_LABEL
        || !label
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b' ')
        || !label
            .windows(11)
            .any(|w| w.eq_ignore_ascii_case(b"private key"))
    {
        return None;
    }
    let body = label_end.checked_add(DASHES.len())?;
    let end = find_sub(b, body, b"-----END ")
        .and_then(|e| find_sub(b, e.checked_add(9)?, DASHES))
        .and_then(|d| d.checked_add(DASHES.len()))
        .unwrap_or(b.len());
    Some(end)
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::spans;
    use crate::detect::Kind::PrivateKey;

    const KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ==\n-----END RSA PRIVATE KEY-----";

    #[test]
    fn positives() {
        assert_eq!(spans(&format!("key:\n{KEY}\nafter"), PrivateKey), vec![KEY]);
        let openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
        assert_eq!(spans(openssh, PrivateKey), vec![openssh]);
        let cut = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
        assert_eq!(spans(&format!("x {cut}"), PrivateKey), vec![cut]);
        let pgp =
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----";
        assert_eq!(spans(pgp, PrivateKey), vec![pgp]);
    }

    #[test]
    fn near_misses() {
        for s in [
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
            "-----BEGIN RSA PRIVATE KEY",
            "---- BEGIN PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY.\n-----",
            "------",
        ] {
            assert!(spans(s, PrivateKey).is_empty(), "{s}");
        }
    }
}
