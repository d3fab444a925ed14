//! Email pseudonyms: `<pseudonym of the lowercased local part>@<lowercased domain>`.
//!
//! The domain stays (which organisation, useful for aggregates; it names no
//! person on its own), the mailbox becomes a keyed pseudonym. Case is folded
//! because mail systems treat `Bob@Example.com` and `bob@example.com` as one
//! mailbox in practice. Sub-addresses (`bob+tag`) are kept in the pseudonymised
//! part: the tag can identify as well. A value that is not exactly one address
//! (after trimming surrounding whitespace) is refused, and the caller redacts it:
//! see `crate::detect::email` for what counts as an address.

use super::pseudonym::Pseudonymizer;
use crate::detect::email::is_email;

/// The value is not an email address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAnEmail;

pub fn pseudonymize_email(
    value: &str,
    p: &mut Pseudonymizer,
    out: &mut String,
) -> Result<(), NotAnEmail> {
    let v = value.trim_matches(|c: char| c.is_ascii_whitespace());
    if !is_email(v.as_bytes()) {
        return Err(NotAnEmail);
    }
    let (local, domain) = v.split_once('@').ok_or(NotAnEmail)?;
    p.write_ascii_lowercase(local.as_bytes(), out);
    out.push('@');
    out.extend(domain.chars().map(|c| c.to_ascii_lowercase()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> Pseudonymizer {
        Pseudonymizer::new("k1", &(0u8..32).collect::<Vec<_>>(), 64).unwrap()
    }

    fn pe(v: &str) -> Result<String, NotAnEmail> {
        let mut s = String::new();
        pseudonymize_email(v, &mut p(), &mut s).map(|()| s)
    }

    #[test]
    fn pseudonymizes_the_local_part_only() {
        // python3: hmac.new(bytes(range(32)), b"dp-audit/v1\0bob.smith", sha256).hexdigest()[:16]
        assert_eq!(
            pe("Bob.Smith@Example.COM").unwrap(),
            "k1:1e53e8fc2ea57367@example.com"
        );
        assert_eq!(
            pe("bob.smith@example.com").unwrap(),
            pe("BOB.SMITH@EXAMPLE.COM").unwrap()
        );
        assert_eq!(
            pe(" bob.smith@example.com\n").unwrap(),
            pe("bob.smith@example.com").unwrap()
        );
        assert_ne!(
            pe("bob@example.com").unwrap(),
            pe("bob+x@example.com").unwrap()
        );
        // Same mailbox name at another domain: same pseudonym, other domain.
        let a = pe("bob@a.io").unwrap();
        let b = pe("bob@b.io").unwrap();
        assert_eq!(a.split('@').next(), b.split('@').next());
        assert_ne!(a, b);
    }

    #[test]
    fn refuses_non_addresses_without_writing() {
        for v in [
            "",
            "bob",
            "bob@localhost",
            "a@b",
            "Bob <bob@example.com>",
            "a@b@c.io",
            "déjà@vu.fr",
        ] {
            let mut s = String::from("keep");
            assert_eq!(
                pseudonymize_email(v, &mut p(), &mut s),
                Err(NotAnEmail),
                "{v}"
            );
            assert_eq!(s, "keep");
        }
    }
}
