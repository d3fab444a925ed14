//! Values of secret-bearing parameters in query strings, `key=value` text,
//! headers and JSON-ish text: `?access_token=...&`, `password = x`,
//! `"client_secret": "..."`, `X-Amz-Signature=...`.
//!
//! The scanner triggers on `=` and `:` and reads the key name backwards.
//! Names match case-insensitively, whole or, for most of them, as the last part
//! of a longer name after `_`, `-`, `.` or a camelCase hump (`db_password`,
//! `X-Auth-Token`, `clientSecret`).
//!
//! Separators: `=` (spaces around allowed); `:` only when followed by a space or
//! a quote, or after a quoted key (`"token":"..."`), so `token:abc` in an
//! identifier is left alone. `key` alone counts only as a URL query parameter
//! (`?key=`, `&key=`): `"key": "app"` is everywhere in Kubernetes objects and
//! auditd tags every record with `key="rule-name"`.
//!
//! The value: a quoted value runs to its closing quote (or the end of the text);
//! an unquoted one to `&`, whitespace, `"`, `,`, `;` or the end. Values starting
//! `{` or `[` are structure, not secrets. A value counts when it has >= 6
//! characters, or any length for password / passwd / pwd / secret names.
//!
//! Other parameters that carry personal data rather than secrets: `user=`
//! (with `=` only), `username`, `login`, `user_id` values are reported as
//! `principal` (so a policy can pseudonymize them like user names), `phone`,
//! `mobile`, `msisdn` values as `phone`. `code` (OAuth authorization codes)
//! counts only as a URL query parameter. `command=` / `arg=` (Kubernetes exec
//! URLs) count only for a glued `-p<password>` flag (mysql), the finding
//! being the password.
//!
//! A `secret_access_key` / `SecretAccessKey` value of exactly 40 key characters
//! is reported as `aws_secret_key`; any other value after those names as
//! `secret_param`.

use super::aws;
use super::bytes::{at, before, is_blank};
use super::{DetectorSet, Kind};

const ANY_LEN: u8 = 1;
const SUFFIX: u8 = 2;
const EQ_ONLY: u8 = 4;
const AWS: u8 = 8;
/// An identity (user name, login): reported as a `principal`.
const IDENT: u8 = 16;
/// A phone number: reported as `phone`.
const PHONE: u8 = 32;
/// A command-line argument (`command=-p<password>` of an exec URL): only a
/// glued `-p` password flag counts.
const ARG: u8 = 64;
/// Only with `=` (anywhere, unlike [`EQ_ONLY`]).
const EQ: u8 = 128;

const MIN_LEN: usize = 6;
/// Key names longer than this are only matched by their ending.
const MAX_KEY: usize = 64;

/// Lowercase names and how they match.
const NAMES: &[(&[u8], u8)] = &[
    (b"password", ANY_LEN | SUFFIX),
    (b"passwd", ANY_LEN | SUFFIX),
    (b"pwd", ANY_LEN | SUFFIX),
    (b"secret", ANY_LEN | SUFFIX),
    (b"passphrase", ANY_LEN | SUFFIX),
    (b"secret_access_key", ANY_LEN | SUFFIX | AWS),
    (b"secretaccesskey", ANY_LEN | SUFFIX | AWS),
    (b"token", SUFFIX),
    (b"api_key", SUFFIX),
    (b"apikey", SUFFIX),
    (b"api-key", SUFFIX),
    (b"private_key", SUFFIX),
    (b"key", EQ_ONLY),
    (b"auth", 0),
    (b"session", SUFFIX),
    (b"sessionid", SUFFIX),
    (b"session_id", SUFFIX),
    (b"jsessionid", 0),
    (b"phpsessid", 0),
    (b"sig", 0),
    (b"signature", SUFFIX),
    (b"credential", SUFFIX),
    (b"credentials", SUFFIX),
    (b"csrftoken", SUFFIX),
    (b"xsrftoken", SUFFIX),
    (b"code", EQ_ONLY),
    (b"user", IDENT | ANY_LEN | SUFFIX | EQ),
    (b"username", IDENT | ANY_LEN | SUFFIX),
    (b"user_name", IDENT | ANY_LEN | SUFFIX),
    (b"userid", IDENT | ANY_LEN | SUFFIX),
    (b"user_id", IDENT | ANY_LEN | SUFFIX),
    (b"user-id", IDENT | ANY_LEN | SUFFIX),
    (b"login", IDENT | ANY_LEN | SUFFIX),
    (b"phone", PHONE | ANY_LEN | SUFFIX),
    (b"phone_number", PHONE | ANY_LEN | SUFFIX),
    (b"phonenumber", PHONE | ANY_LEN | SUFFIX),
    (b"mobile", PHONE | ANY_LEN | SUFFIX),
    (b"msisdn", PHONE | ANY_LEN | SUFFIX),
    (b"command", ARG | EQ_ONLY),
    (b"arg", ARG | EQ_ONLY),
];

/// The value after the key/separator at `sep` (a `=` or `:`).
#[inline(never)]
pub(crate) fn find_at(b: &[u8], sep: usize, set: DetectorSet) -> Option<(usize, usize, Kind)> {
    // Key: optional blanks and closing quote before the separator.
    let mut k_end = sep;
    while is_blank(before(b, k_end)) && sep.wrapping_sub(k_end) < 4 {
        k_end = k_end.wrapping_sub(1);
    }
    let quoted_key = matches!(before(b, k_end), b'"' | b'\'');
    if quoted_key {
        k_end = k_end.wrapping_sub(1);
    }
    let mut k_start = k_end;
    while is_key_byte(before(b, k_start)) && k_end.wrapping_sub(k_start) < MAX_KEY {
        k_start = k_start.wrapping_sub(1);
    }
    if k_start == k_end {
        return None;
    }
    let flags = lookup(b, k_start, k_end)?;

    let sep_byte = at(b, sep);
    let after = at(b, sep.wrapping_add(1));
    if sep_byte == b':' && !(quoted_key || is_blank(after) || after == b'"' || after == b'\'') {
        return None;
    }
    if flags & EQ_ONLY != 0 && !(sep_byte == b'=' && matches!(before(b, k_start), b'?' | b'&')) {
        return None;
    }
    if flags & EQ != 0 && sep_byte != b'=' {
        return None;
    }
    let kind = if flags & IDENT != 0 {
        Kind::Principal
    } else if flags & PHONE != 0 {
        Kind::Phone
    } else {
        Kind::SecretParam
    };

    let mut v = sep.wrapping_add(1);
    while is_blank(at(b, v)) {
        v = v.wrapping_add(1);
    }
    let open = at(b, v);
    let end = if open == b'"' || open == b'\'' {
        v = v.wrapping_add(1);
        let mut p = v;
        while p < b.len() && at(b, p) != open {
            p = p.wrapping_add(1);
        }
        p
    } else {
        if open == b'{' || open == b'[' {
            return None;
        }
        let mut p = v;
        while p < b.len() && !is_value_end(at(b, p)) {
            p = p.wrapping_add(1);
        }
        p
    };
    if flags & ARG != 0 {
        // `-p<password>`: the finding is what follows the flag.
        if !(at(b, v) == b'-' && at(b, v.wrapping_add(1)) == b'p') {
            return None;
        }
        v = v.wrapping_add(2);
    }
    if end <= v {
        return None;
    }
    if flags & AWS != 0 && set.contains(Kind::AwsSecretKey) && aws::secret_at(b, v, end) {
        return Some((v, end, Kind::AwsSecretKey));
    }
    if !set.contains(kind) {
        return None;
    }
    if flags & ANY_LEN == 0 && char_count(b, v, end) < MIN_LEN {
        return None;
    }
    Some((v, end, kind))
}

/// A value in parentheses right after a secret's name and a space, as in
/// `env DB_PASSWORD holds a literal credential (qs5wP3KvW20mqjn8)`; `open` is
/// the `(`. The value runs to `)` without whitespace, has >= 6 characters and
/// is not one plain lowercase word (`password (optional)` stays).
#[inline(never)]
pub(crate) fn find_in_parens(b: &[u8], open: usize, set: DetectorSet) -> Option<(usize, usize)> {
    if !set.contains(Kind::SecretParam) {
        return None;
    }
    let k_end = open.checked_sub(1)?;
    let mut k_start = k_end;
    while is_key_byte(before(b, k_start)) && k_end.wrapping_sub(k_start) < MAX_KEY {
        k_start = k_start.wrapping_sub(1);
    }
    if k_start == k_end || !may_follow_key(b, k_end.wrapping_add(1)) {
        return None;
    }
    let flags = lookup(b, k_start, k_end)?;
    if flags & (IDENT | PHONE | ARG | EQ | EQ_ONLY) != 0 {
        return None;
    }
    let v = open.wrapping_add(1);
    let mut end = v;
    while end < b.len() && at(b, end) != b')' {
        if at(b, end).is_ascii_whitespace() || end.wrapping_sub(v) > 256 {
            return None;
        }
        end = end.wrapping_add(1);
    }
    let value = b.get(v..end)?;
    let plain = value.iter().all(|c| c.is_ascii_lowercase());
    (end < b.len() && value.len() >= MIN_LEN && !plain).then_some((v, end))
}

/// Cheap pre-test for [`find_at`]: the three bytes before the separator
/// (after at most one blank and one quote) end some name, as far as a
/// 2048-bit hash set of name endings can tell (`pid=`, `uid=`, `exe=` of
/// auditd lines and the `system:` of Kubernetes names stop here).
#[inline(always)]
pub(crate) fn may_follow_key(b: &[u8], sep: usize) -> bool {
    let mut p = sep;
    if is_blank(before(b, p)) {
        p = p.wrapping_sub(1);
    }
    if matches!(before(b, p), b'"' | b'\'') {
        p = p.wrapping_sub(1);
    }
    let c1 = before(b, p);
    let c2 = before(b, p.wrapping_sub(1));
    let c3 = before(b, p.wrapping_sub(2));
    // Every name ends with two letters.
    c1.is_ascii_alphabetic()
        && c2.is_ascii_alphabetic()
        && ENDINGS
            .get(ending_hash(c3, c2, c1) / 32)
            .is_some_and(|m| m & (1u32 << (ending_hash(c3, c2, c1) % 32)) != 0)
}

/// Hash of the last three bytes of a key, ASCII case folded; in 0..2048.
#[inline(always)]
const fn ending_hash(c3: u8, c2: u8, c1: u8) -> usize {
    let h = ((c3 | 0x20) as u32)
        .wrapping_mul(961)
        .wrapping_add(((c2 | 0x20) as u32).wrapping_mul(31))
        .wrapping_add((c1 | 0x20) as u32);
    (h % 2048) as usize
}

/// Whether some detector here could use a separator: saves the lookback.
pub(crate) fn wanted(set: DetectorSet) -> bool {
    set.contains(Kind::SecretParam)
        || set.contains(Kind::AwsSecretKey)
        || set.contains(Kind::Principal)
        || set.contains(Kind::Phone)
}

/// Bit set of [`ending_hash`]es of the names' last three bytes. Every name
/// ends with two lowercase letters (checked at build time).
#[expect(
    clippy::indexing_slicing,
    reason = "constant evaluation: an out-of-range index fails the build, it cannot panic at run time"
)]
static ENDINGS: [u32; 64] = {
    let mut t = [0u32; 64];
    let mut k = 0;
    while k < NAMES.len() {
        let name = NAMES[k].0;
        let n = name.len();
        assert!(n >= 3 && name[n - 1].is_ascii_lowercase() && name[n - 2].is_ascii_lowercase());
        let h = ending_hash(name[n - 3], name[n - 2], name[n - 1]);
        t[h / 32] |= 1 << (h % 32);
        k += 1;
    }
    t
};

/// Flags of the name that `b[k_start..k_end]` is or ends with. Inlined:
/// one frame less at the bottom of the deepest call path of a scrub (WAMR's
/// default stack is 8 KiB).
#[inline(always)]
fn lookup(b: &[u8], k_start: usize, k_end: usize) -> Option<u8> {
    let last = before(b, k_end).to_ascii_lowercase();
    for &(name, flags) in NAMES {
        if name.last() != Some(&last) || !super::bytes::ends_with_ci(b, k_end, name) {
            continue;
        }
        let n_start = k_end.wrapping_sub(name.len());
        if n_start < k_start {
            continue;
        }
        if n_start == k_start {
            return Some(flags);
        }
        if flags & SUFFIX == 0 {
            continue;
        }
        let prev = before(b, n_start);
        let camel = at(b, n_start).is_ascii_uppercase()
            && (prev.is_ascii_lowercase() || prev.is_ascii_digit());
        if matches!(prev, b'_' | b'-' | b'.') || camel {
            return Some(flags);
        }
    }
    None
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

fn is_value_end(c: u8) -> bool {
    matches!(c, b'&' | b'"' | b',' | b';') || c.is_ascii_whitespace()
}

fn char_count(b: &[u8], v: usize, end: usize) -> usize {
    b.get(v..end)
        .map_or(0, |s| s.iter().filter(|&&c| (c & 0xC0) != 0x80).count())
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::spans;
    use crate::detect::Kind::SecretParam;

    #[test]
    fn positives() {
        let cases: &[(&str, &[&str])] = &[
            ("/cb?code=1&access_token=abcdef123&x=1", &["abcdef123"]),
            ("?refresh_token=r3fr3sh-t0ken", &["r3fr3sh-t0ken"]),
            ("id_token=eyJhbGciOiJub25l", &["eyJhbGciOiJub25l"]),
            ("password=x", &["x"]),
            ("PASSWORD = hunter2\n", &["hunter2"]),
            ("pwd=ab;user=bob", &["ab"]),
            ("passwd: s3", &["s3"]),
            (r#"{"password":"p w d","user":"bob"}"#, &["p w d"]),
            (r#"{'client_secret': 'abcdefgh'}"#, &["abcdefgh"]),
            ("db_password=pw", &["pw"]),
            ("spring.datasource.password=pw", &["pw"]),
            ("clientSecret=zz", &["zz"]),
            ("X-Auth-Token: 0123456789", &["0123456789"]),
            ("x-api-key: ak_live_123456", &["ak_live_123456"]),
            ("apiKey=AIzaSyD-abc", &["AIzaSyD-abc"]),
            ("?key=AIzaSyD-abcdef&q=1", &["AIzaSyD-abcdef"]),
            ("auth=dXNlcjpwYXNz", &["dXNlcjpwYXNz"]),
            (
                "Cookie: JSESSIONID=ABCDEF012345; theme=dark",
                &["ABCDEF012345"],
            ),
            ("session_id=0123456789abcdef", &["0123456789abcdef"]),
            (
                "sv=2021&sig=ZmFrZXNpZ25hdHVyZQ%3D&se=1",
                &["ZmFrZXNpZ25hdHVyZQ%3D"],
            ),
            (
                "X-Amz-Credential=AKIAEXAMPLE%2F20240101%2Fus-east-1&X-Amz-Signature=abcdef0123",
                &["AKIAEXAMPLE%2F20240101%2Fus-east-1", "abcdef0123"],
            ),
            ("credential=c-123456 ok", &["c-123456"]),
            ("passphrase = MY-ID\n", &["MY-ID"]),
            ("/maps?q=x&key=AIzaSyD-abcdef", &["AIzaSyD-abcdef"]),
            ("secret: \"unterminated value", &["unterminated value"]),
            ("token=ÄÖÜäöü", &["ÄÖÜäöü"]),
            (
                "/oauth2/callback?code=Ab3-_xYz09QwErTy&state=1",
                &["Ab3-_xYz09QwErTy"],
            ),
            (
                "sessionid=s1; csrftoken=6Vd1PKzT3yXUG2bV; theme=dark",
                &["6Vd1PKzT3yXUG2bV"],
            ),
            (
                "exec?command=mysql&command=-uroot&command=-pS3cr3tPw&command=orders",
                &["S3cr3tPw"],
            ),
            ("?arg=-pa1b2c3", &["a1b2c3"]),
        ];
        for (text, want) in cases {
            assert_eq!(&spans(text, SecretParam), want, "{text}");
        }
    }

    #[test]
    fn near_misses() {
        for s in [
            "token=abc",                             // too short for a token
            "password=",                             // empty
            r#"{"password": ""}"#,                   // empty
            "token:abcdefgh",                        // `:` without space or quotes
            r#"{"key": "kubernetes.io/hostname"}"#,  // `key` only in URLs
            "key=user_commands",                     // auditd rule key
            r#"op="remove_rule" key="time-change""#, // auditd rule key
            "monkey=bananas",                        // `key` is not a suffix name
            "tokens=abcdefgh",                       // different name
            "mytoken=abcdefgh",                      // no separator before the name
            "secretName=abcdefgh",                   // different name
            r#"{"secret":{"secretName":"default-token-g2sp7"}}"#,
            r#""serviceAccountToken":{"expirationSeconds":3607}"#,
            "signatures are checked",
            "2017-09-11T19:55:05Z",
            "a=b&c=d",
            "rpc error: code = Unknown desc = failed", // `code` only in URLs
            "?code=200&x=1",                           // too short for a code
            "exec?command=%2Fbin%2Fsh&command=-it&command=-p", // no password after -p
            "?command=-P3306",                         // `-P` is mysql's port
            "?command=ps&command=-pid",                // too short for a password
            "user=bob",                                // an identity, not a secret
        ] {
            assert!(spans(s, SecretParam).is_empty(), "{s}");
        }
    }

    #[test]
    fn values_in_parentheses() {
        let cases: &[(&str, &[&str])] = &[
            (
                "env DB_PASSWORD holds a literal credential (IX.vl0y8!wW.T@a5); use a secretKeyRef",
                &["IX.vl0y8!wW.T@a5"],
            ),
            ("bad token (abc123XYZ)", &["abc123XYZ"]),
            ("password (hunter2)", &["hunter2"]),
        ];
        for (text, want) in cases {
            assert_eq!(&spans(text, SecretParam), want, "{text}");
        }
        for s in [
            "password (optional)",    // a plain word
            "token (see docs above)", // prose
            "credential(abcdef123)",  // no space: a call
            "the user (abc123XYZ)",   // not a secret name
            "password (abc",          // unclosed
            "secret (ab1)",           // too short
        ] {
            assert!(spans(s, SecretParam).is_empty(), "{s}");
        }
    }

    #[test]
    fn identities_and_phones() {
        use crate::detect::Kind::{Phone, Principal};
        let cases: &[(&str, &[&str])] = &[
            ("login?user=jdoe4821&password=x", &["jdoe4821"]),
            ("?username=alice&x=1", &["alice"]),
            ("login=bob.smith", &["bob.smith"]),
            ("x-user-id: usr_8sk2", &["usr_8sk2"]),
            ("spring.datasource.username=orders_app\n", &["orders_app"]),
            ("host=db user=postgres sslmode=require", &["postgres"]),
            (r#"{"userId":"u-123"}"#, &["u-123"]),
        ];
        for (text, want) in cases {
            assert_eq!(&spans(text, Principal), want, "{text}");
        }
        assert_eq!(
            spans("otp/send?phone=%2B1-906-555-0182&c=sms", Phone),
            ["%2B1-906-555-0182"]
        );
        assert_eq!(spans("mobile: 0612345678", Phone), ["0612345678"]);
        for s in [
            "users=bob",                // different name
            "user: bob",                // `user` alone only as `=`
            "superuser=bob",            // no separator before the name
            r#""user": {"name": "x"}"#, // structure
            "telephone_count=3",        // different name
            "microphone=on",            // no separator before the name
        ] {
            assert!(
                spans(s, Principal).is_empty() && spans(s, Phone).is_empty(),
                "{s}"
            );
        }
    }
}
