//! Keyed pseudonyms: `<key_id>:<hex of HMAC-SHA256(key, "dp-audit/v1\0" || value)>`,
//! truncated to `bits`.
//!
//! The same value under the same key always gives the same pseudonym, so
//! records stay joinable and countable; without the key nobody can recompute
//! it, so a dictionary of likely names does not reverse it. The key id in the
//! output says which key made it (keys rotate). The domain prefix
//! `dp-audit/v1\0` keeps these MACs apart from any other use of the same key.
//!
//! The HMAC state after the key and the prefix is computed once in [`Pseudonymizer::new`]
//! and cloned per value: a value then costs the compression of its own blocks
//! and the outer hash, not the key schedule. Recent pseudonyms are cached:
//! user names repeat across records and inside free text, and an HMAC costs
//! thousands of wasm instructions where a cache hit costs a few hundred.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::fmt;

use crate::error::ConfigError;

type HmacSha256 = Hmac<Sha256>;

const DOMAIN: &[u8] = b"dp-audit/v1\0";
pub const MIN_KEY_LEN: usize = 32;
const MAX_KEY_ID: usize = 32;
/// Bounds of the cache: entries, and the longest value cached. It holds
/// values in this process's memory only, as the record itself is.
const CACHE_ENTRIES: usize = 4096;
const CACHE_MAX_VALUE: usize = 256;

#[derive(Clone)]
pub struct Pseudonymizer {
    key_id: String,
    out_bytes: usize,
    /// HMAC state with the key and [`DOMAIN`] absorbed.
    mac: HmacSha256,
    /// Value -> its pseudonym, for values up to [`CACHE_MAX_VALUE`] bytes.
    /// std's SipHash with a random seed: values come from the records, so
    /// a predictable hash would let them collide on purpose.
    cache: HashMap<Box<[u8]>, Box<str>>,
}

impl fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pseudonymizer")
            .field("key_id", &self.key_id)
            .field("bits", &self.out_bytes.saturating_mul(8))
            .finish_non_exhaustive()
    }
}

impl Pseudonymizer {
    /// `key` must have at least 32 bytes, `key_id` match `[A-Za-z0-9_-]{1,32}`,
    /// `bits` be a multiple of 8 in 64..=256 (callers default to 64).
    pub fn new(key_id: &str, key: &[u8], bits: u32) -> Result<Self, ConfigError> {
        if key_id.is_empty()
            || key_id.len() > MAX_KEY_ID
            || !key_id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        {
            return Err(ConfigError::new(
                "pseudonym.key_id",
                "key id must be 1-32 characters of A-Z, a-z, 0-9, '_' or '-'",
            ));
        }
        if key.len() < MIN_KEY_LEN {
            return Err(ConfigError::new(
                "pseudonym.key",
                "HMAC key is too short: at least 32 bytes (256 bits) are required",
            ));
        }
        if !(64..=256).contains(&bits) || bits % 8 != 0 {
            return Err(ConfigError::new(
                "pseudonym.bits",
                "pseudonym length must be a multiple of 8 between 64 and 256 bits",
            ));
        }
        let mut mac = HmacSha256::new_from_slice(key)
            .map_err(|_| ConfigError::new("pseudonym.key", "HMAC key rejected"))?;
        mac.update(DOMAIN);
        Ok(Pseudonymizer {
            key_id: key_id.to_owned(),
            out_bytes: usize::try_from(bits / 8).unwrap_or(8),
            mac,
            cache: HashMap::new(),
        })
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Appends `<key_id>:<lowercase hex of the first bits/8 bytes of the MAC>`.
    pub fn write(&mut self, value: &[u8], out: &mut String) {
        if let Some(hit) = self.cache.get(value) {
            out.push_str(hit);
            return;
        }
        let from = out.len();
        let mut mac = self.mac.clone();
        mac.update(value);
        self.finish(mac, out);
        if value.len() <= CACHE_MAX_VALUE {
            if self.cache.len() >= CACHE_ENTRIES {
                self.cache.clear();
            }
            let pseudonym = out.get(from..).unwrap_or_default();
            self.cache.insert(value.into(), pseudonym.into());
        }
    }

    /// As [`write`](Self::write) over `value` with ASCII letters lowercased.
    pub(crate) fn write_ascii_lowercase(&mut self, value: &[u8], out: &mut String) {
        let mut lower = [0u8; CACHE_MAX_VALUE];
        if let Some(dst) = lower.get_mut(..value.len()) {
            for (d, s) in dst.iter_mut().zip(value) {
                *d = s.to_ascii_lowercase();
            }
            self.write(dst, out);
            return;
        }
        // Too long to cache: lowercase in chunks, without copying the value.
        let mut mac = self.mac.clone();
        let mut buf = [0u8; 64];
        for chunk in value.chunks(buf.len()) {
            let part = buf.get_mut(..chunk.len()).unwrap_or(&mut []);
            for (d, s) in part.iter_mut().zip(chunk) {
                *d = s.to_ascii_lowercase();
            }
            mac.update(part);
        }
        self.finish(mac, out);
    }

    // Inlined: one frame less on the deepest path of a scrub (detection,
    // an e-mail pseudonymized inside it, SHA-256), which WAMR's small wasm
    // stack bounds.
    #[inline(always)]
    fn finish(&self, mac: HmacSha256, out: &mut String) {
        let tag = mac.finalize().into_bytes();
        out.reserve(
            self.key_id
                .len()
                .saturating_add(1)
                .saturating_add(self.out_bytes.saturating_mul(2)),
        );
        out.push_str(&self.key_id);
        out.push(':');
        for byte in tag.iter().take(self.out_bytes) {
            out.push(hex_digit(byte >> 4));
            out.push(hex_digit(byte & 0x0f));
        }
    }
}

fn hex_digit(n: u8) -> char {
    char::from_digit(u32::from(n), 16).unwrap_or('0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    fn key() -> Vec<u8> {
        (0u8..32).collect()
    }

    fn pseudonym(p: &mut Pseudonymizer, v: &[u8]) -> String {
        let mut s = String::new();
        p.write(v, &mut s);
        s
    }

    /// HMAC-SHA256 from its definition (RFC 2104) over plain SHA-256.
    fn reference_hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut k = [0u8; 64];
        if key.len() > 64 {
            k[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            k[..key.len()].copy_from_slice(key);
        }
        let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::new()
            .chain_update(&ipad)
            .chain_update(msg)
            .finalize();
        Sha256::new()
            .chain_update(&opad)
            .chain_update(inner)
            .finalize()
            .into()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn matches_python_hmac_vectors() {
        // python3: hmac.new(bytes(range(32)), b"dp-audit/v1\0" + v, hashlib.sha256).hexdigest()
        let mut p = Pseudonymizer::new("k1", &key(), 256).unwrap();
        assert_eq!(
            pseudonym(&mut p, b"bob"),
            "k1:0222dc1443d3c5c698cd3d30efef79684fb739845e977d586ec13868e2b02edb"
        );
        assert_eq!(
            pseudonym(&mut p, b""),
            "k1:20e539f21f623d44d43a5846868f75dbefa77dc6424537187b46a68e038dfb8b"
        );
        assert_eq!(
            pseudonym(&mut p, b"system:serviceaccount:ns1:sa1"),
            "k1:b776a1bd081d826a3ced565bc1f4d8f428434ae7619fa89b537b36b04472ec28"
        );
        let mut p64 = Pseudonymizer::new("k1", &key(), 64).unwrap();
        assert_eq!(pseudonym(&mut p64, b"bob"), "k1:0222dc1443d3c5c6");
    }

    #[test]
    fn matches_reference_construction() {
        let long_key: Vec<u8> = (0u8..100).map(|b| b.wrapping_mul(7)).collect();
        for key in [key(), long_key] {
            let mut p = Pseudonymizer::new("ref", &key, 256).unwrap();
            for v in [&b"alice"[..], &[0u8; 200][..], "Zoë".as_bytes()] {
                let mut msg = DOMAIN.to_vec();
                msg.extend_from_slice(v);
                let want = format!("ref:{}", hex(&reference_hmac(&key, &msg)));
                assert_eq!(pseudonym(&mut p, v), want);
            }
        }
    }

    #[test]
    fn stable_and_keyed() {
        let mut a = Pseudonymizer::new("a", &key(), 64).unwrap();
        let mut a2 = Pseudonymizer::new("a", &key(), 64).unwrap();
        assert_eq!(pseudonym(&mut a, b"bob"), pseudonym(&mut a, b"bob"));
        assert_eq!(pseudonym(&mut a, b"bob"), pseudonym(&mut a2, b"bob"));
        assert_ne!(pseudonym(&mut a, b"bob"), pseudonym(&mut a, b"Bob"));
        let other_key: Vec<u8> = (1u8..33).collect();
        let mut b = Pseudonymizer::new("a", &other_key, 64).unwrap();
        assert_ne!(pseudonym(&mut a, b"bob"), pseudonym(&mut b, b"bob"));
        let mut c = Pseudonymizer::new("rot-2024_q1", &key(), 64).unwrap();
        let s = pseudonym(&mut c, b"bob");
        assert!(s.starts_with("rot-2024_q1:"));
        assert_eq!(s.len(), "rot-2024_q1:".len() + 16);
        assert_eq!(c.key_id(), "rot-2024_q1");
    }

    #[test]
    fn lowercase_variant_equals_lowercased_input() {
        let mut p = Pseudonymizer::new("k", &key(), 128).unwrap();
        let mut a = String::new();
        let long = "Bob.Smith".repeat(20);
        p.write_ascii_lowercase(long.as_bytes(), &mut a);
        assert_eq!(a, pseudonym(&mut p, long.to_ascii_lowercase().as_bytes()));
    }

    #[test]
    fn cache_gives_the_same_pseudonyms_and_stays_bounded() {
        let mut cached = Pseudonymizer::new("k", &key(), 64).unwrap();
        let fresh = |v: &[u8]| pseudonym(&mut Pseudonymizer::new("k", &key(), 64).unwrap(), v);
        for round in 0..2 {
            for i in 0..(CACHE_ENTRIES + 10) {
                let v = format!("user-{i}");
                if i % 997 == 0 {
                    assert_eq!(
                        pseudonym(&mut cached, v.as_bytes()),
                        fresh(v.as_bytes()),
                        "{round}"
                    );
                } else {
                    pseudonym(&mut cached, v.as_bytes());
                }
                assert!(cached.cache.len() <= CACHE_ENTRIES);
            }
        }
        let long = vec![b'x'; CACHE_MAX_VALUE + 1];
        assert_eq!(pseudonym(&mut cached, &long), fresh(&long));
        assert!(!cached.cache.contains_key(long.as_slice()));
        // The cache never shows in debug output.
        assert!(!format!("{cached:?}").contains("user-"));
    }

    #[test]
    fn appends() {
        let mut p = Pseudonymizer::new("k", &key(), 64).unwrap();
        let mut s = String::from("x=");
        p.write(b"bob", &mut s);
        assert!(s.starts_with("x=k:"));
    }

    #[test]
    fn rejects_bad_configuration() {
        let e = Pseudonymizer::new("k", &[7u8; 31], 64).unwrap_err();
        assert_eq!(e.at, "pseudonym.key");
        assert!(Pseudonymizer::new("k", &[7u8; 32], 64).is_ok());
        for id in ["", "has space", "k:1", &"x".repeat(33), "ü"] {
            assert_eq!(
                Pseudonymizer::new(id, &key(), 64).unwrap_err().at,
                "pseudonym.key_id"
            );
        }
        for bits in [0, 56, 63, 65, 72 + 4, 264] {
            assert_eq!(
                Pseudonymizer::new("k", &key(), bits).unwrap_err().at,
                "pseudonym.bits"
            );
        }
        for bits in [64, 72, 128, 256] {
            let mut p = Pseudonymizer::new("k", &key(), bits).unwrap();
            assert_eq!(pseudonym(&mut p, b"v").len(), 2 + bits as usize / 4);
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let secret = [0xABu8; 32];
        let p = Pseudonymizer::new("kid", &secret, 64).unwrap();
        let d = format!("{p:?}");
        assert!(d.contains("kid"));
        assert!(!d.to_lowercase().contains("abab"), "{d}");
        assert!(!d.contains("171"), "{d}");
        // And the error for a short key carries no key bytes either.
        let e = Pseudonymizer::new("kid", &[0xAB; 8], 64).unwrap_err();
        assert!(!format!("{e:?}{e}").to_lowercase().contains("ab, "));
    }
}
