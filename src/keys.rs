//! HMAC keys: parsed from a key file (Fluent Bit) or an environment variable
//! (Envoy), never from the policy.
//!
//! Format (the same text works in both places): one or more entries separated
//! by newlines or `;`, each `<key>` or `<id> <key>`, where the key is hex or
//! base64 (standard or URL-safe, padding optional) of at least 32 bytes and the
//! id is 1-32 characters of `A-Za-z0-9_-`. Without an id the first entry is
//! `pk1`, the second `pk2`, ... Lines starting with `#` are comments. The
//! active key is the policy's `keys.active`, else the first entry. Listing
//! retired keys lets an operator switch back by editing only the policy.

use crate::error::ConfigError;
use std::fmt;

/// Shortest key accepted: HMAC-SHA256's security rests on a 256-bit key.
pub const MIN_KEY_BYTES: usize = 32;

pub struct Key {
    pub id: String,
    bytes: Vec<u8>,
}

impl Key {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Key {{ id: {:?}, bytes: <{} bytes hidden> }}",
            self.id,
            self.bytes.len()
        )
    }
}

#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    /// Parses key text. `source` names where it came from (a file path or an
    /// environment variable) for error messages; key material never appears in them.
    pub fn parse(text: &str, source: &str) -> Result<KeyRing, ConfigError> {
        let mut keys: Vec<Key> = Vec::new();
        let entries = text
            .split(['\n', ';'])
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.starts_with('#'));
        for (n, entry) in entries.enumerate() {
            let ordinal = n.saturating_add(1);
            let (id, material) = match entry.split_once(char::is_whitespace) {
                Some((id, rest)) => (id.to_string(), rest.trim()),
                None => (format!("pk{ordinal}"), entry),
            };
            let at = format!("{source}: key {ordinal}");
            if id.is_empty()
                || id.len() > 32
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(ConfigError::new(
                    at,
                    "key id must be 1-32 characters of A-Z, a-z, 0-9, '_' or '-'",
                ));
            }
            let bytes = decode_key(material)
                .ok_or_else(|| ConfigError::new(&at, "neither hex nor base64"))?;
            if bytes.len() < MIN_KEY_BYTES {
                return Err(ConfigError::new(
                    &at,
                    format!(
                        "{} bytes; at least {MIN_KEY_BYTES} are required \
                         (generate one with `dp-audit-harness keygen`)",
                        bytes.len()
                    ),
                ));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(ConfigError::new(at, format!("key id {id:?} appears twice")));
            }
            keys.push(Key { id, bytes });
        }
        if keys.is_empty() {
            return Err(ConfigError::new(
                source,
                "no key found (expected hex or base64 of at least 32 bytes)",
            ));
        }
        Ok(KeyRing { keys })
    }

    /// The key to pseudonymize with.
    pub fn active(&self, wanted: Option<&str>) -> Result<&Key, ConfigError> {
        match wanted {
            None => self
                .keys
                .first()
                .ok_or_else(|| ConfigError::new("keys", "no key")),
            Some(id) => self.keys.iter().find(|k| k.id == id).ok_or_else(|| {
                let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
                ConfigError::new(
                    "keys.active",
                    format!("no key with id {id:?} (have: {})", ids.join(", ")),
                )
            }),
        }
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }
}

fn decode_key(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 == 0 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return s
            .as_bytes()
            .chunks(2)
            .map(|pair| {
                let hi = char::from(*pair.first()?).to_digit(16)?;
                let lo = char::from(*pair.get(1)?).to_digit(16)?;
                u8::try_from(hi.checked_mul(16)?.checked_add(lo)?).ok()
            })
            .collect();
    }
    decode_base64(s)
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len().saturating_mul(3) / 4);
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for b in s.bytes() {
        let v = match b {
            b'A'..=b'Z' => b.checked_sub(b'A')?,
            b'a'..=b'z' => b.checked_sub(b'a')?.checked_add(26)?,
            b'0'..=b'9' => b.checked_sub(b'0')?.checked_add(52)?,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc.checked_shl(6)? | u32::from(v)) & 0xff_ffff;
        bits = bits.checked_add(6)?;
        if bits >= 8 {
            bits = bits.checked_sub(8)?;
            out.push(u8::try_from((acc.checked_shr(bits)?) & 0xff).ok()?);
        }
    }
    // Leftover bits must be zero padding (at most 4 of them).
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn parses_bare_hex_and_base64_keys() {
        let ring = KeyRing::parse(&format!("{HEX}\n"), "dp-audit.key").unwrap();
        let k = ring.active(None).unwrap();
        assert_eq!(k.id, "pk1");
        assert_eq!(k.bytes(), (0u8..32).collect::<Vec<_>>());
        let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        assert_eq!(
            KeyRing::parse(b64, "env")
                .unwrap()
                .active(None)
                .unwrap()
                .bytes(),
            k.bytes()
        );
        let url = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        assert_eq!(
            KeyRing::parse(url, "env")
                .unwrap()
                .active(None)
                .unwrap()
                .bytes(),
            k.bytes()
        );
    }

    #[test]
    fn several_keys_with_ids_and_active_selection() {
        let text = format!("# rotated 2026-11\npk2 {}\npk1 {HEX}\n", "ff".repeat(32));
        let ring = KeyRing::parse(&text, "f").unwrap();
        assert_eq!(ring.active(None).unwrap().id, "pk2");
        assert_eq!(ring.active(Some("pk1")).unwrap().bytes()[1], 1);
        assert_eq!(ring.ids().collect::<Vec<_>>(), vec!["pk2", "pk1"]);
        let e = ring.active(Some("pk9")).unwrap_err();
        assert!(e.message.contains("pk2, pk1"), "{e}");
        // Semicolons separate entries in environment variables.
        let env = format!("a {HEX}; b {}", "ee".repeat(32));
        assert_eq!(
            KeyRing::parse(&env, "DP_AUDIT_KEY").unwrap().ids().count(),
            2
        );
    }

    #[test]
    fn refuses_short_missing_and_malformed_keys_without_echoing_them() {
        let short = "abcdef0123456789abcdef0123456789";
        let e = KeyRing::parse(short, "dp-audit.key").unwrap_err();
        assert!(e.message.contains("16 bytes; at least 32"), "{e}");
        assert!(!e.to_string().contains(short));
        assert!(KeyRing::parse("", "f")
            .unwrap_err()
            .message
            .contains("no key"));
        assert!(KeyRing::parse("  \n# only a comment\n", "f").is_err());
        let bad = "not a key at all!";
        let e = KeyRing::parse(bad, "f").unwrap_err();
        assert!(!e.to_string().contains("at all!"), "{e}");
        assert!(KeyRing::parse(&format!("a {HEX}\na {HEX}"), "f")
            .unwrap_err()
            .message
            .contains("twice"));
        assert!(KeyRing::parse(&format!("bad/id {HEX}"), "f").is_err());
    }

    #[test]
    fn debug_hides_key_material() {
        let ring = KeyRing::parse(HEX, "f").unwrap();
        let dbg = format!("{ring:?}");
        assert!(dbg.contains("32 bytes hidden"));
        assert!(!dbg.contains("0, 1, 2"));
    }
}
