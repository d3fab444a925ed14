//! Makers of sensitive values. Every value is JSON-safe printable ASCII (no
//! `"`, `\`, `<`, `>`, `&`, controls) and has a fixed shape that makes a
//! substring match another value or ordinary log text impossible in practice:
//! - names: first names are never a suffix of one another, domains never a
//!   prefix of one another, and each local part ends in digits right before `@`;
//!   plain usernames are `<first><initial><4 digits>`;
//! - client IPv4s have a fixed length per range (3-digit varying octets) and lie
//!   outside the infrastructure ranges (10/8, 172.16/12, loopback) used for
//!   non-sensitive addresses; client IPv6s are `2001:db8:h:h::h` with 4-digit
//!   groups;
//! - secrets and tokens carry 16 or more random characters.

use crate::rng::{Rng, ALNUM, B64URL, HEX, UPPER_DIGITS, URL_SAFE};

pub const FIRST: &[&str] = &[
    "alice", "bruno", "carol", "dmitri", "erin", "farid", "grace", "heidi", "ivan", "judy",
    "kenji", "lena", "mateo", "nadia", "oskar", "priya", "quentin", "rosa", "sven", "tomas",
    "ursula", "viktor", "wei", "ximena", "yusuf", "zoe", "aiko", "björn", "chloe", "fatima",
];
pub const LAST: &[&str] = &[
    "smith",
    "nguyen",
    "garcia",
    "mueller",
    "kowalski",
    "tanaka",
    "okafor",
    "silva",
    "johansson",
    "rossi",
    "dubois",
    "patel",
    "kim",
    "chen",
    "novak",
    "haddad",
    "oconnor",
    "fischer",
    "costa",
    "ivanova",
    "moreau",
    "lopez",
    "yamamoto",
    "andersen",
    "schmidt",
];
/// Employer domains (usernames) and customer mail domains (emails in data).
pub const CORP_DOMAINS: &[&str] = &["acme.example", "corp.example.com", "payments.example.net"];
pub const MAIL_DOMAINS: &[&str] = &["mail.example.org", "inbox.example", "webmail.example.com"];

/// First and last name, ASCII-folded for use in identifiers.
pub fn person(rng: &mut Rng) -> (String, String) {
    let first = rng.pick(FIRST).replace('ö', "o");
    (first, rng.pick(LAST).to_string())
}

/// `First M. Last` as written in forms (may be non-ASCII); the middle
/// initial keeps short names like `Wei Kim` from being ordinary text.
pub fn full_name(rng: &mut Rng) -> String {
    let cap = |s: &str| {
        let mut c = s.chars();
        c.next().map(|f| f.to_uppercase().chain(c).collect::<String>()).unwrap_or_default()
    };
    let (first, last) = (*rng.pick(FIRST), *rng.pick(LAST));
    let middle = char::from(b'A' + rng.below(26) as u8);
    format!("{} {middle}. {}", cap(first), cap(last))
}

/// `first.last<2 digits>@corp-domain`, used as an OIDC username.
pub fn corp_email(rng: &mut Rng) -> String {
    let (f, l) = person(rng);
    format!("{f}.{l}{:02}@{}", rng.below(100), rng.pick(CORP_DOMAINS))
}

/// `first.last<3 digits>@mail-domain`, a customer's address.
pub fn email(rng: &mut Rng) -> String {
    let (f, l) = person(rng);
    format!("{f}.{l}{:03}@{}", rng.below(1000), rng.pick(MAIL_DOMAINS))
}

/// `<first><last initial><4 digits>`, a plain login name.
pub fn plain_username(rng: &mut Rng) -> String {
    let (f, l) = person(rng);
    format!("{f}{}{}", &l[..1], rng.range(1000, 9999))
}

pub fn client_ipv4(rng: &mut Rng) -> String {
    let o = |rng: &mut Rng| rng.range(100, 254);
    match rng.below(4) {
        0 => format!("203.0.113.{}", o(rng)),
        1 => format!("198.51.100.{}", o(rng)),
        // Carrier-grade NAT space (100.64/10), as seen behind mobile networks.
        _ => format!("100.{}.{}.{}", rng.range(100, 127), o(rng), o(rng)),
    }
}

pub fn client_ipv6(rng: &mut Rng) -> String {
    let g = |rng: &mut Rng| format!("{:x}", rng.range(0x1000, 0xffff));
    format!("2001:db8:{}:{}::{}", g(rng), g(rng), g(rng))
}

pub fn phone(rng: &mut Rng) -> String {
    format!("+1-{}-555-{:04}", rng.range(201, 989), rng.below(10_000))
}

/// Luhn-valid card number grouped by spaces or dashes (Visa, Mastercard, Amex).
pub fn credit_card(rng: &mut Rng) -> String {
    let (prefix, len, groups): (&str, usize, &[usize]) = match rng.below(3) {
        0 => ("4", 16, &[4, 4, 4, 4]),
        1 => (*rng.pick(&["51", "52", "53", "54", "55"]), 16, &[4, 4, 4, 4]),
        _ => (*rng.pick(&["34", "37"]), 15, &[4, 6, 5]),
    };
    let mut digits: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
    while digits.len() < len - 1 {
        digits.push(rng.below(10) as u8);
    }
    digits.push(luhn_check_digit(&digits));
    let sep = if rng.chance(0.5) { ' ' } else { '-' };
    let mut out = String::new();
    let mut at = 0;
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.push(sep);
        }
        out.extend(digits[at..at + g].iter().map(|d| char::from(b'0' + d)));
        at += g;
    }
    out
}

/// The digit that makes `payload` followed by it pass the Luhn check.
pub fn luhn_check_digit(payload: &[u8]) -> u8 {
    let sum: u32 = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

pub fn luhn_valid(number: &str) -> bool {
    let digits: Vec<u8> = number.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    match digits.split_last() {
        Some((&check, payload)) if digits.len() >= 12 => luhn_check_digit(payload) == check,
        _ => false,
    }
}

pub fn aws_access_key_id(rng: &mut Rng) -> String {
    let prefix = if rng.chance(0.5) { "AKIA" } else { "ASIA" };
    format!("{prefix}{}", rng.chars(UPPER_DIGITS, 16))
}

pub fn aws_secret_key(rng: &mut Rng) -> String {
    rng.chars(&format!("{ALNUM}+/"), 40)
}

/// A password as people set them: letters, digits and a few symbols.
pub fn password(rng: &mut Rng) -> String {
    rng.chars(&format!("{ALNUM}!#%*-_.@"), 16)
}

/// A password or token that also survives a URL query string unencoded.
pub fn url_secret(rng: &mut Rng, n: usize) -> String {
    rng.chars(URL_SAFE, n)
}

/// Opaque bearer token (Kubernetes static / OpenShift `sha256~` style or hex API key).
pub fn bearer_token(rng: &mut Rng) -> String {
    if rng.chance(0.5) {
        format!("sha256~{}", rng.chars(B64URL, 43))
    } else {
        rng.chars(HEX, 40)
    }
}

/// Signed-looking JWT (ES256-sized signature) whose payload names `subject`.
pub fn jwt(rng: &mut Rng, issuer: &str, subject: &str, iat: i64) -> String {
    let header =
        format!("{{\"alg\":\"ES256\",\"kid\":\"{}\",\"typ\":\"JWT\"}}", rng.chars(B64URL, 22));
    let payload = format!(
        "{{\"aud\":[\"{issuer}\"],\"exp\":{},\"iat\":{iat},\"iss\":\"{issuer}\",\"jti\":\"{}\",\"sub\":\"{subject}\"}}",
        iat + 3600,
        rng.uuid()
    );
    format!(
        "{}.{}.{}",
        base64(header.as_bytes(), true),
        base64(payload.as_bytes(), true),
        rng.chars(B64URL, 86)
    )
}

/// `user:password` for Basic auth, base64 encoded.
pub fn basic_credentials(user: &str, password: &str) -> String {
    base64(format!("{user}:{password}").as_bytes(), false)
}

/// PEM EC private key; returns the full PEM and its base64 body lines (the
/// parts that appear verbatim in JSON, where the newlines become `\n`).
pub fn private_key_pem(rng: &mut Rng) -> (String, Vec<String>) {
    // 30 77 02 01 01 04 20 is the DER prefix of a P-256 ECPrivateKey.
    let body = format!("MHcCAQEEI{}", rng.chars(&format!("{ALNUM}+/"), 151));
    let lines: Vec<String> =
        body.as_bytes().chunks(64).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let pem = format!(
        "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
        lines.join("\n")
    );
    (pem, lines)
}

/// RFC 4648 base64 (standard alphabet with padding, or URL-safe without).
pub fn base64(data: &[u8], url: bool) -> String {
    let alphabet: &[u8] = if url {
        B64URL.as_bytes()
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[(n >> (18 - 6 * i) & 63) as usize]));
        }
        if !url {
            out.extend(std::iter::repeat_n('=', 3 - chunk.len()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let v = [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")];
        for (i, o) in v {
            assert_eq!(base64(i.as_bytes(), false), o);
        }
        assert_eq!(base64(&[0xfb, 0xff], true), "-_8");
    }

    #[test]
    fn cards_are_luhn_valid_and_grouped() {
        let mut r = Rng::new(5);
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        for _ in 0..200 {
            let c = credit_card(&mut r);
            assert!(luhn_valid(&c), "{c}");
            assert!(c.contains(' ') || c.contains('-'));
        }
    }

    #[test]
    fn name_lists_cannot_make_one_value_contain_another() {
        for a in FIRST {
            for b in FIRST {
                assert!(a == b || !b.ends_with(a), "{a} is a suffix of {b}");
            }
        }
        for a in CORP_DOMAINS.iter().chain(MAIL_DOMAINS) {
            for b in CORP_DOMAINS.iter().chain(MAIL_DOMAINS) {
                assert!(a == b || !b.starts_with(a), "{a} is a prefix of {b}");
            }
        }
    }

    #[test]
    fn jwt_has_three_base64url_parts_and_decodable_shape() {
        let t = jwt(&mut Rng::new(1), "https://issuer.example", "alice", 1_717_401_600);
        let parts: Vec<&str> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert!(t.starts_with("eyJ"));
        assert!(t.bytes().all(|b| b == b'.' || B64URL.as_bytes().contains(&b)));
    }

    #[test]
    fn pem_body_lines_are_64_wide() {
        let (pem, lines) = private_key_pem(&mut Rng::new(2));
        assert_eq!(lines.iter().map(String::len).collect::<Vec<_>>(), vec![64, 64, 32]);
        assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI"));
    }
}
