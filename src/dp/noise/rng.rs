//! The generator behind released noise: ChaCha20 keyed from the host's
//! entropy source and rekeyed as it is used.
//!
//! Seeding uses `getrandom` (the OS on native targets, WASI `random_get` on
//! `wasm32-wasip1`, `crypto.getRandomValues` under the `js` feature). After
//! every [`RESEED_INTERVAL_BYTES`] bytes of output the key is replaced by
//! `fresh entropy XOR 32 bytes of the generator's own output`: the new key is
//! unpredictable if either part is, and the old key cannot be recovered from
//! the new state (forward secrecy for earlier noise). If the host cannot
//! supply entropy at a rekey, the generator still ratchets to its own output
//! (ChaCha20 stays secure for far more than 2^64 blocks under one key) and
//! counts the failure in [`NoiseRng::reseed_failures`].
//!
//! There is deliberately no constructor from a fixed seed: tests seed
//! `rand_chacha::ChaCha20Rng` themselves, since the samplers are generic.

use std::fmt;

use rand_chacha::ChaCha20Rng;
use rand_core::{CryptoRng, RngCore, SeedableRng};

use super::NoiseError;

/// Output bytes between rekeys: 1 MiB, i.e. a rekey every few tens of
/// thousands of samples. A rekey costs one `getrandom` call (a host call on
/// WASI) and one ChaCha20 block.
pub const RESEED_INTERVAL_BYTES: u64 = 1 << 20;

/// ChaCha20 seeded and periodically rekeyed from the host's entropy.
pub struct NoiseRng {
    inner: ChaCha20Rng,
    bytes_since_reseed: u64,
    reseed_failures: u64,
}

impl NoiseRng {
    /// A generator keyed with 32 fresh bytes from the host.
    pub fn from_entropy() -> Result<NoiseRng, NoiseError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| NoiseError::Entropy)?;
        let inner = ChaCha20Rng::from_seed(seed);
        seed.fill(0);
        Ok(NoiseRng {
            inner,
            bytes_since_reseed: 0,
            reseed_failures: 0,
        })
    }

    /// Rekeys now from fresh host entropy mixed with the current stream.
    /// On failure the generator is unchanged and still usable.
    pub fn reseed(&mut self) -> Result<(), NoiseError> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh).map_err(|_| NoiseError::Entropy)?;
        self.rekey(&fresh);
        fresh.fill(0);
        Ok(())
    }

    /// How many scheduled rekeys found no host entropy and ratcheted on the
    /// generator's own output instead. Non-zero means the host's entropy
    /// source is failing; the output is still unpredictable.
    pub fn reseed_failures(&self) -> u64 {
        self.reseed_failures
    }

    fn rekey(&mut self, fresh: &[u8; 32]) {
        let mut key = [0u8; 32];
        self.inner.fill_bytes(&mut key);
        for (k, f) in key.iter_mut().zip(fresh.iter()) {
            *k ^= *f;
        }
        self.inner = ChaCha20Rng::from_seed(key);
        key.fill(0);
        self.bytes_since_reseed = 0;
    }

    /// Counts `n` bytes about to be produced and rekeys first when due.
    fn account(&mut self, n: usize) {
        if self.bytes_since_reseed >= RESEED_INTERVAL_BYTES && self.reseed().is_err() {
            self.reseed_failures = self.reseed_failures.saturating_add(1);
            self.rekey(&[0u8; 32]);
        }
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        self.bytes_since_reseed = self.bytes_since_reseed.saturating_add(n);
    }
}

impl RngCore for NoiseRng {
    fn next_u32(&mut self) -> u32 {
        self.account(4);
        self.inner.next_u32()
    }

    fn next_u64(&mut self) -> u64 {
        self.account(8);
        self.inner.next_u64()
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.account(dst.len());
        self.inner.fill_bytes(dst);
    }
}

impl CryptoRng for NoiseRng {}

/// Never prints key or stream state.
impl fmt::Debug for NoiseRng {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoiseRng")
            .field("bytes_since_reseed", &self.bytes_since_reseed)
            .field("reseed_failures", &self.reseed_failures)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn two_generators_from_entropy_differ() {
        let mut a = NoiseRng::from_entropy().unwrap();
        let mut b = NoiseRng::from_entropy().unwrap();
        let xa: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_ne!(xa, xb);
    }

    #[test]
    fn rekeys_after_the_interval_and_changes_the_stream() {
        let mut rng = NoiseRng::from_entropy().unwrap();
        // Clone the inner stream to know what it would have produced without a rekey.
        let mut shadow = rng.inner.clone();
        let mut buf = vec![0u8; RESEED_INTERVAL_BYTES as usize];
        rng.fill_bytes(&mut buf);
        let mut expected = vec![0u8; buf.len()];
        shadow.fill_bytes(&mut expected);
        assert_eq!(buf, expected, "no rekey inside the interval");
        assert_eq!(rng.bytes_since_reseed, RESEED_INTERVAL_BYTES);
        let after = rng.next_u64();
        assert_eq!(rng.bytes_since_reseed, 8, "rekeyed before this output");
        assert_ne!(after, shadow.next_u64());
        assert_eq!(rng.reseed_failures(), 0);
    }

    #[test]
    fn rekey_mixes_stream_and_entropy() {
        // Same stream, different fresh bytes -> different keys; same fresh
        // bytes, same stream -> same key (the mix is deterministic).
        let base = ChaCha20Rng::seed_from_u64(1);
        let mk = |fresh: [u8; 32]| {
            let mut r = NoiseRng {
                inner: base.clone(),
                bytes_since_reseed: 0,
                reseed_failures: 0,
            };
            r.rekey(&fresh);
            r.next_u64()
        };
        assert_eq!(mk([1; 32]), mk([1; 32]));
        assert_ne!(mk([1; 32]), mk([2; 32]));
        // Ratchet with zero entropy still moves away from the old stream.
        let mut plain = base.clone();
        assert_ne!(mk([0; 32]), plain.next_u64());
    }

    #[test]
    fn debug_output_has_no_state() {
        let rng = NoiseRng::from_entropy().unwrap();
        let text = format!("{rng:?}");
        assert!(
            text.starts_with("NoiseRng {") && text.contains(".."),
            "{text}"
        );
        assert!(!text.contains("ChaCha"), "{text}");
    }
}
