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
//! The scanner calls [`extent`] at the first digit of a run it meets (the
//! run is looked up backwards, not before `floor`, and forwards), then
//! [`is_random`] on runs long enough.

use super::bytes::{at, before, is_hex};

pub(crate) const MIN_LEN: usize = 12;

// Byte classes, one table load per byte: the low two bits are the run class
// (digit, upper, lower, `_-`), then flags.
const DIGIT: u8 = 0;
const UPPER: u8 = 1;
const LOWER: u8 = 2;
const JOINER: u8 = 3;
const RUN: u8 = 3;
const HEX: u8 = 4;
const TOKEN: u8 = 8;
const HAS_DIGIT: u8 = 16;
const HAS_UPPER: u8 = 32;
const HAS_LOWER: u8 = 64;
const MIXED: u8 = HAS_DIGIT | HAS_UPPER | HAS_LOWER;

#[expect(
    clippy::indexing_slicing,
    reason = "constant evaluation: an out-of-range index fails the build, it cannot panic at run time"
)]
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_digit() {
            DIGIT | TOKEN | HAS_DIGIT
        } else if b.is_ascii_uppercase() {
            UPPER | TOKEN | HAS_UPPER
        } else if b.is_ascii_lowercase() {
            LOWER | TOKEN | HAS_LOWER
        } else if b == b'_' || b == b'-' {
            JOINER | TOKEN
        } else {
            0
        };
        if b.is_ascii_hexdigit() {
            t[c] |= HEX;
        }
        c += 1;
    }
    t
};

#[inline(always)]
fn class(c: u8) -> u8 {
    CLASS.get(usize::from(c)).copied().unwrap_or(0)
}

/// The token run around `i` (not reaching before `floor`), whether or not it
/// is random: the scan tries each run once. A run too short or not mixing
/// all three classes comes back empty at its end.
#[inline(never)]
pub(crate) fn extent(b: &[u8], i: usize, floor: usize) -> (usize, usize) {
    let mut seen = 0u8;
    let mut is_token = |j: usize| {
        let k = b.get(j).map_or(0, |&c| class(c));
        seen |= k;
        k & TOKEN != 0
    };
    let mut start = i;
    while start > floor && is_token(start.wrapping_sub(1)) {
        start = start.wrapping_sub(1);
    }
    let mut end = i;
    while is_token(end) {
        end = end.wrapping_add(1);
    }
    if end.wrapping_sub(start) < MIN_LEN || seen & MIXED != MIXED {
        return (end, end);
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
    let Some(t) = b.get(start..end).filter(|t| t.len() >= MIN_LEN) else {
        return false;
    };
    // Counts per run class, hex digits, runs, digit runs.
    let mut count = [0u32; 4];
    let (mut hex, mut runs, mut digit_runs) = (0u32, 0u32, 0u32);
    let mut last = u8::MAX;
    for &c in t {
        let k = class(c);
        let run = k & RUN;
        if let Some(n) = count.get_mut(usize::from(run)) {
            *n = n.wrapping_add(1);
        }
        hex = hex.wrapping_add(u32::from(k & HEX != 0));
        if run != last {
            runs = runs.wrapping_add(1);
            digit_runs = digit_runs.wrapping_add(u32::from(run == DIGIT));
            last = run;
        }
    }
    let [digit, upper, lower, _] = count;
    let alnum = digit.wrapping_add(upper).wrapping_add(lower);
    let len = u32::try_from(t.len()).unwrap_or(u32::MAX);
    alnum >= MIN_LEN as u32
        && upper > 0
        && lower > 0
        && digit > 0
        && hex < alnum
        && (runs.saturating_mul(2) >= len || (digit_runs >= 2 && runs.saturating_mul(3) >= len))
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
