//! Email addresses: `local@domain.tld`, the practical subset of RFC 5321.
//!
//! - Local part: ASCII letters, digits and `. _ % + -`, 1-64 characters
//!   (leading dots are trimmed: `...bob@x.io` finds `bob@x.io`). Quoted local
//!   parts and the rarer RFC 5322 symbols are left out on purpose: in free text
//!   they glue addresses to neighbouring punctuation (`x=bob@...`).
//! - Domain: at least two dot-separated labels of letters, digits and inner
//!   `-`, the last (the TLD) letters only and at least two of them. So
//!   `user@localhost` and `a@b` are not email addresses here: without a public
//!   domain they name an account on one host, which the policy handles by field.
//! - `git@github.com:org/repo.git` (scp-style remote: `:` then a path) is not an
//!   address: `git` is a service account. `bob@example.com: hi` and
//!   `bob@example.com:8080` are.
//! - Non-ASCII (internationalised) addresses are not recognised.
//! - Known over-match: SSH algorithm names (`chacha20-poly1305@openssh.com`)
//!   have the same shape, and real people have addresses at those domains.

use super::bytes::{at, before};

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;
const MAX_LABEL: usize = 63;

/// The address around the `@` at `at_pos`, not starting before `floor`.
#[inline(never)]
pub(crate) fn find_around(b: &[u8], at_pos: usize, floor: usize) -> Option<(usize, usize)> {
    let min = floor.max(at_pos.saturating_sub(MAX_LOCAL));
    let mut s = at_pos;
    while s > min && is_local(before(b, s)) {
        s = s.wrapping_sub(1);
    }
    if s == min && s > floor && is_local(before(b, s)) {
        return None; // local part longer than 64
    }
    while at(b, s) == b'.' && s < at_pos {
        s = s.wrapping_add(1);
    }
    if s == at_pos {
        return None;
    }
    let end = domain_end(b, at_pos.wrapping_add(1))?;
    // `y@bob.smith@example.org`: what would be this address's domain is
    // the local part of the next one. Taking it as a domain would keep it
    // (domains stay) and so let that mailbox through; the next `@` finds
    // the real address instead.
    if at(b, end) == b'@' {
        return None;
    }
    if at(b, end) == b':' {
        let next = at(b, end.wrapping_add(1));
        if next != 0 && !next.is_ascii_whitespace() && !next.is_ascii_digit() {
            return None;
        }
    }
    Some((s, end))
}

/// Whether all of `s` is one address.
pub(crate) fn is_email(s: &[u8]) -> bool {
    let Some(at_pos) = s.iter().position(|&c| c == b'@') else {
        return false;
    };
    let local_ok = at_pos > 0
        && at_pos <= MAX_LOCAL
        && s.get(..at_pos)
            .is_some_and(|l| l.iter().all(|&c| is_local(c)));
    local_ok && domain_end(s, at_pos.wrapping_add(1)) == Some(s.len())
}

fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_label(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-'
}

/// End of a domain name starting at `d`, if it is one (see module docs).
fn domain_end(b: &[u8], d: usize) -> Option<usize> {
    let mut p = d;
    let mut labels = 0u32;
    let mut tld_ok;
    loop {
        let ls = p;
        while is_label(at(b, p)) {
            p = p.wrapping_add(1);
        }
        let label = b.get(ls..p)?;
        if label.is_empty()
            || label.len() > MAX_LABEL
            || label.first() == Some(&b'-')
            || label.last() == Some(&b'-')
        {
            return None;
        }
        labels = labels.saturating_add(1);
        tld_ok = label.len() >= 2 && label.iter().all(|c| c.is_ascii_alphabetic());
        if at(b, p) == b'.' && is_label(at(b, p.wrapping_add(1))) && p.wrapping_sub(d) < MAX_DOMAIN
        {
            p = p.wrapping_add(1);
        } else {
            break;
        }
    }
    (labels >= 2 && tld_ok && p.wrapping_sub(d) <= MAX_DOMAIN).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::is_email;
    use crate::detect::tests::spans;
    use crate::detect::Kind::Email;

    #[test]
    fn positives() {
        let cases: &[(&str, &[&str])] = &[
            ("mail bob@example.com now", &["bob@example.com"]),
            (
                "<Bob.Smith+tag@Mail.Example.co.uk>",
                &["Bob.Smith+tag@Mail.Example.co.uk"],
            ),
            ("to: a_b-c%d@x-y.io.", &["a_b-c%d@x-y.io"]),
            ("...bob@x.io", &["bob@x.io"]),
            ("bob@example.com: hi", &["bob@example.com"]),
            ("ssh://bob@host.example.com:22", &["bob@host.example.com"]),
            ("https://user:pass@example.com/", &["pass@example.com"]),
            ("a@b.cd,c@d.ef", &["a@b.cd", "c@d.ef"]),
            (r#"User "bob@example.com""#, &["bob@example.com"]),
            // Fuzzing regression: the first `@` would make `y@zeLda.fuzz`
            // an address whose kept domain is the next one's mailbox.
            ("y@zeLda.fuzz@example.org", &["zeLda.fuzz@example.org"]),
            ("a@b@example.org", &["b@example.org"]),
        ];
        for (text, want) in cases {
            assert_eq!(&spans(text, Email), want, "{text}");
        }
    }

    #[test]
    fn near_misses() {
        for s in [
            "user@localhost",
            "a@b",
            "git@github.com:org/repo.git",
            "@example.com",
            "bob@",
            "bob@.com",
            "bob@example.c",
            "bob@example.123",
            "bob@-example.com",
            "bob@example-.com",
            "bob@exa_mple.com",
            "@@",
            "b@d@",
            "déjà@vu",
        ] {
            assert!(spans(s, Email).is_empty(), "{s}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert!(spans(&long_local, Email).is_empty());
    }

    #[test]
    fn whole_value() {
        assert!(is_email(b"bob@example.com"));
        assert!(!is_email(b"bob@example.com "));
        assert!(!is_email(b"bob@localhost"));
        assert!(!is_email(b"b@b@example.com"));
        assert!(!is_email(b"@example.com"));
    }
}
