//! Random-looking tokens in free text: generated passwords, API keys and
//! session ids that appear without a telling key name, e.g. `env DB_PASSWORD
//! holds a literal credential (qs5wP3KvW20mqjn8)` or `mysql -uroot
//! -pN7fKq2Lx9Wm4Tz8B`.
//!
//! A token is a run of `[A-Za-z0-9_-]` (not starting after a `-` of its own
//! run, see below) that has at least 12 letters and digits, and mixes upper
//! case, lower case and digits the way random strings do: each class
//! present, not all hex digits, and short class runs (runs of upper / lower /
//! digit / `_-` at most two bytes long on average, or three with digits in
//! two places or more), which leaves out CamelCase words with a version
//! number (`ClusterRoleBinding2`).
//!
//! Deliberately not matched: pod and node names (`web-7d9f8b6c4-x2k9p`,
//! `ip-10-0-1-23`: no upper case), image digests and resource versions (hex
//! or digits), UUIDs and audit ids (hex), timestamps (`2024-06-03T08`: no
//! lower case), user agents (`Win64`, `iPhone14`, `X11`: too short), and
//! tokens without a digit (the scan finds tokens at their digits).
//!
//! The scanner calls [`find_around`] at a digit; the token is looked up
//! backwards (not before `floor`) and forwards from there.

use super::bytes::{at, before, is_hex};

const MIN_LEN: usize = 12;

fn is_token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Class of a token byte for run counting: 0 digit, 1 upper, 2 lower, 3 `_-`.
fn run_class(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => 0,
        b'A'..=b'Z' => 1,
        b'a'..=b'z' => 2,
        _ => 3,
    }
}

/// The end of the token around `i` (when some token byte there is at or
/// after `floor`), whether or not it is random: the scan skips to it.
#[inline(never)]
pub(crate) fn extent(b: &[u8], i: usize, floor: usize) -> (usize, usize) {
    let mut start = i;
    while start > floor && is_token_byte(before(b, start)) {
        start = start.wrapping_sub(1);
    }
    let mut end = i;
    while end < b.len() && is_token_byte(at(b, end)) {
        end = end.wrapping_add(1);
    }
    // The hex digits of a percent escape (`%20Bearer`) are not the token's.
    if before(b, start) == b'%' && is_hex(at(b, start)) && is_hex(at(b, start.wrapping_add(1))) {
        start = start.wrapping_add(2);
    }
    // Leading and trailing `-`/`_` belong to the surrounding text (`--x`,
    // `name_`).
    while start < end && matches!(at(b, start), b'-' | b'_') {
        start = start.wrapping_add(1);
    }
    while end > start && matches!(before(b, end), b'-' | b'_') {
        end = end.wrapping_sub(1);
    }
    (start, end)
}

/// Whether `b[start..end]` looks random (see the module docs).
#[inline(never)]
pub(crate) fn is_random(b: &[u8], start: usize, end: usize) -> bool {
    let Some(t) = b.get(start..end) else {
        return false;
    };
    let (mut upper, mut lower, mut digit, mut hex) = (0usize, 0usize, 0usize, 0usize);
    let (mut runs, mut digit_runs) = (0usize, 0usize);
    let mut last = u8::MAX;
    for &c in t {
        match c {
            b'0'..=b'9' => digit = digit.saturating_add(1),
            b'A'..=b'Z' => upper = upper.saturating_add(1),
            b'a'..=b'z' => lower = lower.saturating_add(1),
            _ => {}
        }
        if c.is_ascii_hexdigit() {
            hex = hex.saturating_add(1);
        }
        let k = run_class(c);
        if k != last {
            runs = runs.saturating_add(1);
            if k == 0 {
                digit_runs = digit_runs.saturating_add(1);
            }
            last = k;
        }
    }
    let alnum = upper.saturating_add(lower).saturating_add(digit);
    alnum >= MIN_LEN
        && upper > 0
        && lower > 0
        && digit > 0
        && hex < alnum
        && (runs.saturating_mul(2) >= t.len()
            || (digit_runs >= 2 && runs.saturating_mul(3) >= t.len()))
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::spans;
    use crate::detect::Kind::RandomToken;

    #[test]
    fn positives() {
        let cases: &[(&str, &[&str])] = &[
            (
                "env DB_PASSWORD holds a literal credential (qs5wP3KvW20mqjn8); use a secretKeyRef",
                &["qs5wP3KvW20mqjn8"],
            ),
            (
                "mysql -uroot -pN7fKq2Lx9Wm4Tz8B -e x",
                &["pN7fKq2Lx9Wm4Tz8B"],
            ),
            (
                "token ghp_a8Kd93LmQz7XpR2vN4tY6wB1cE5fG0hJ3kL9",
                &["ghp_a8Kd93LmQz7XpR2vN4tY6wB1cE5fG0hJ3kL9"],
            ),
            (
                "glpat-x9Yb3Kq7LmN2pR5sT8vW",
                &["glpat-x9Yb3Kq7LmN2pR5sT8vW"],
            ),
            ("7Hq2mK9xLp4RtW3z", &["7Hq2mK9xLp4RtW3z"]),
            ("a=1 b=Zx8Kq2Lm7Np4Rt9W, c", &["Zx8Kq2Lm7Np4Rt9W"]),
            ("--Zx8Kq2Lm7Np4Rt9W_", &["Zx8Kq2Lm7Np4Rt9W"]),
            ("a%20Zx8Kq2Lm7Np4Rt9W%20b", &["Zx8Kq2Lm7Np4Rt9W"]),
        ];
        for (text, want) in cases {
            assert_eq!(&spans(text, RandomToken), want, "{text}");
        }
    }

    #[test]
    fn near_misses() {
        for s in [
            "web-7d9f8b6c4-x2k9p",
            "coredns-78fcd69978-abcde",
            "ip-10-0-1-23.ec2.internal",
            "sha256:9b2a5c0e4f7d1a8b3c6e9f2a5d8b1c4e7f0a3d6b9c2e5f8a1b4c7d0e3f6a9b2c",
            "033d17af-082d-4b24-aa22-627752e83d71",
            "A1B2C3D4E5F6a7b8c9d0",
            "2024-06-03T08:00:00.002Z",
            "resourceVersion 123456789012",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
            "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP1A.240405.002)",
            "iPhone14,2 CFNetwork/1494.0.7 Darwin/23.4.0",
            "ClusterRoleBinding2 HTTP2ServerConfiguration",
            "x2Kq9",
            "io.k8s.api.core.v1.PodSpec",
            "outbound|8080||api-gateway.api.svc.cluster.local",
            "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625",
            "abcdefghijklmnopQRSTUV",
        ] {
            assert!(spans(s, RandomToken).is_empty(), "{s}");
        }
    }
}
