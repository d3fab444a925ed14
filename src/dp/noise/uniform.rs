//! Exact uniform integers from uniform random words.
//!
//! Every function returns each value in `[0, bound)` with probability exactly
//! `1/bound` given independent uniform words from the generator: rejection
//! sampling, never a bare modulo.
//!
//! Each rejection step accepts with probability above 1/2, so capping at
//! [`MAX_DRAWS`] attempts fails with probability below `2^-256`.

use rand_core::RngCore;

use super::natural::{Natural, U512};
use super::NoiseError;

/// Attempts before a rejection loop gives up (`2^-256` failure probability).
pub(crate) const MAX_DRAWS: u32 = 256;

/// The random decisions the samplers are built from. Every generator is a
/// `Coins` through the blanket impl below; tests add an enumerating
/// implementation that walks every outcome with its exact probability.
pub(crate) trait Coins {
    /// Uniform in `[0, bound)`, `bound >= 1`.
    fn below_u64(&mut self, bound: u64) -> Result<u64, NoiseError>;
    /// Uniform in `[0, bound)`, `bound >= 1`.
    fn below_u128(&mut self, bound: u128) -> Result<u128, NoiseError>;
    /// Uniform in `[0, bound)`, `bound >= 1`.
    fn below_u512(&mut self, bound: U512) -> Result<U512, NoiseError>;
    /// One fair bit.
    fn bit(&mut self) -> Result<bool, NoiseError>;
}

impl<R: RngCore + ?Sized> Coins for R {
    fn below_u64(&mut self, bound: u64) -> Result<u64, NoiseError> {
        uniform_below_u64(bound, self)
    }
    fn below_u128(&mut self, bound: u128) -> Result<u128, NoiseError> {
        uniform_below_u128(bound, self)
    }
    fn below_u512(&mut self, bound: U512) -> Result<U512, NoiseError> {
        uniform_below_u512(bound, self)
    }
    fn bit(&mut self) -> Result<bool, NoiseError> {
        Ok(random_bit(self))
    }
}

/// Bounds up to this are drawn from the bit pool; larger ones take whole
/// words (Lemire).
const POOL_MAX_BOUND: u64 = 1 << 32;

/// The coins used by the public samplers: a draw below a small bound `n`
/// takes only `⌈log2 n⌉` bits from a buffered 64-bit word (masked rejection:
/// the bits are a uniform value below `2^b`, kept if below `n`, so each try
/// succeeds with probability above 1/2), instead of a whole word per draw.
/// Most draws in the samplers are `Bernoulli(1/k)` for small `k` or a fair
/// sign, so one ChaCha20 word serves several of them. Bits left in a word too
/// short for the next draw are dropped, as is the pool at the end of a
/// sample; dropping is decided by counts, never by bit values, so it does not
/// bias anything.
pub(crate) struct BitPool<'a, R: RngCore + ?Sized> {
    rng: &'a mut R,
    word: u64,
    left: u32,
}

impl<'a, R: RngCore + ?Sized> BitPool<'a, R> {
    pub(crate) fn new(rng: &'a mut R) -> Self {
        BitPool {
            rng,
            word: 0,
            left: 0,
        }
    }

    /// `bits` (1..=32) fresh uniform bits as an integer.
    fn take_bits(&mut self, bits: u32) -> u64 {
        if self.left < bits {
            self.word = self.rng.next_u64();
            self.left = 64;
        }
        let mask = u64::MAX
            .checked_shr(64u32.saturating_sub(bits))
            .unwrap_or(0);
        let value = self.word & mask;
        self.word = self.word.checked_shr(bits).unwrap_or(0);
        self.left = self.left.saturating_sub(bits);
        value
    }

    /// Uniform in `[0, n)` for `1 <= n <= 2^32`, by masked rejection on
    /// `b = bitlen(n − 1)` pool bits; each try keeps a value with probability
    /// `n/2^b > 1/2`, so [`MAX_DRAWS`] failures have probability `< 2^-256`.
    fn below_small(&mut self, n: u64) -> Result<u64, NoiseError> {
        let max = n.checked_sub(1).ok_or(NoiseError::Overflow)?;
        if max == 0 {
            return Ok(0);
        }
        let bits = 64u32.saturating_sub(max.leading_zeros());
        for _ in 0..MAX_DRAWS {
            let candidate = self.take_bits(bits);
            if candidate <= max {
                return Ok(candidate);
            }
        }
        Err(NoiseError::IterationLimit)
    }
}

impl<R: RngCore + ?Sized> Coins for BitPool<'_, R> {
    fn below_u64(&mut self, bound: u64) -> Result<u64, NoiseError> {
        if bound == 0 {
            return Err(NoiseError::Overflow);
        }
        if bound <= POOL_MAX_BOUND {
            self.below_small(bound)
        } else {
            uniform_below_u64(bound, self.rng)
        }
    }
    fn below_u128(&mut self, bound: u128) -> Result<u128, NoiseError> {
        match u64::try_from(bound) {
            Ok(small) => self.below_u64(small).map(u128::from),
            Err(_) => uniform_below_u128(bound, self.rng),
        }
    }
    fn below_u512(&mut self, bound: U512) -> Result<U512, NoiseError> {
        match bound.to_u128() {
            Some(small) => self.below_u128(small).map(U512::from_u128),
            None => uniform_below_u512(bound, self.rng),
        }
    }
    fn bit(&mut self) -> Result<bool, NoiseError> {
        Ok(self.take_bits(1) == 1)
    }
}

/// One fair bit.
pub(crate) fn random_bit<R: RngCore + ?Sized>(rng: &mut R) -> bool {
    rng.next_u32() & 1 == 1
}

/// Uniform in `[0, bound)` for `bound >= 1`.
///
/// Lemire's multiply-and-reject ("Fast Random Integer Generation in an
/// Interval", 2019): `x·bound / 2^64` is uniform once the low half of the
/// product is kept out of the `2^64 mod bound` values that would bias it.
/// The rejected share is `(2^64 mod bound)/2^64 < 1/2`.
pub(crate) fn uniform_below_u64<R: RngCore + ?Sized>(
    bound: u64,
    rng: &mut R,
) -> Result<u64, NoiseError> {
    if bound == 0 {
        return Err(NoiseError::Overflow);
    }
    // 2^64 mod bound, computed in u64 as (2^64 − bound) mod bound.
    let threshold = bound.wrapping_neg().checked_rem(bound).unwrap_or(0);
    for _ in 0..MAX_DRAWS {
        let product = u128::from(rng.next_u64()).wrapping_mul(u128::from(bound));
        let (low, high) = split(product);
        if low >= threshold {
            return Ok(high);
        }
    }
    Err(NoiseError::IterationLimit)
}

/// Uniform in `[0, bound)` for `bound >= 1`; `u64` path when it fits.
pub(crate) fn uniform_below_u128<R: RngCore + ?Sized>(
    bound: u128,
    rng: &mut R,
) -> Result<u128, NoiseError> {
    if let Ok(small) = u64::try_from(bound) {
        return uniform_below_u64(small, rng).map(u128::from);
    }
    // bound > 2^64: mask to the bit length of bound − 1, reject values >= bound.
    let max = bound.checked_sub(1).ok_or(NoiseError::Overflow)?;
    let mask = u128::MAX.checked_shr(max.leading_zeros()).unwrap_or(0);
    for _ in 0..MAX_DRAWS {
        let lo = u128::from(rng.next_u64());
        let hi = u128::from(rng.next_u64()).checked_shl(64).unwrap_or(0);
        let candidate = (hi | lo) & mask;
        if candidate < bound {
            return Ok(candidate);
        }
    }
    Err(NoiseError::IterationLimit)
}

/// Uniform in `[0, bound)` for `bound >= 1`, by masked rejection.
pub(crate) fn uniform_below_u512<R: RngCore + ?Sized>(
    bound: U512,
    rng: &mut R,
) -> Result<U512, NoiseError> {
    if let Some(small) = bound.to_u128() {
        return uniform_below_u128(small, rng).map(U512::from_u128);
    }
    let max = bound
        .checked_sub(U512::from_u128(1))
        .ok_or(NoiseError::Overflow)?;
    let bits = max.bit_len();
    for _ in 0..MAX_DRAWS {
        let mut candidate = U512::ZERO;
        let mut remaining = bits;
        for limb in candidate.limbs.iter_mut() {
            if remaining == 0 {
                break;
            }
            let word = rng.next_u64();
            *limb = if remaining >= 64 {
                word
            } else {
                word & u64::MAX
                    .checked_shr(64u32.saturating_sub(remaining))
                    .unwrap_or(0)
            };
            remaining = remaining.saturating_sub(64);
        }
        if candidate < bound {
            return Ok(candidate);
        }
    }
    Err(NoiseError::IterationLimit)
}

/// (low, high) halves of a u128.
fn split(v: u128) -> (u64, u64) {
    let low = u64::try_from(v & u128::from(u64::MAX)).unwrap_or(0);
    let high = u64::try_from(v.checked_shr(64).unwrap_or(0)).unwrap_or(0);
    (low, high)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    /// Replays a fixed list of words, so rejection decisions can be checked
    /// exactly rather than statistically.
    struct Words(Vec<u64>);

    impl RngCore for Words {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0.remove(0)
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for chunk in dst.chunks_mut(8) {
                let w = self.next_u64().to_le_bytes();
                chunk.copy_from_slice(&w[..chunk.len()]);
            }
        }
    }

    #[test]
    fn lemire_maps_words_exactly_and_rejects_the_biased_ones() {
        // bound 3: 2^64 mod 3 = 1, so only a product with low half 0 is rejected.
        // x = 0 gives low 0 (rejected); then x = 2^63 gives 3·2^63 = 2^64 + 2^63 -> 1.
        let mut w = Words(vec![0, 1 << 63]);
        assert_eq!(uniform_below_u64(3, &mut w).unwrap(), 1);
        // x = u64::MAX: 3·(2^64 − 1) has high part 2.
        let mut w = Words(vec![u64::MAX]);
        assert_eq!(uniform_below_u64(3, &mut w).unwrap(), 2);
        // Power of two bound: threshold 0, never rejects; result is the top bits.
        let mut w = Words(vec![0xC000_0000_0000_0000]);
        assert_eq!(uniform_below_u64(4, &mut w).unwrap(), 3);
        assert_eq!(
            uniform_below_u64(0, &mut Words(vec![])),
            Err(NoiseError::Overflow)
        );
        assert_eq!(uniform_below_u64(1, &mut Words(vec![12345])).unwrap(), 0);
    }

    #[test]
    fn lemire_is_exactly_uniform_over_all_words_of_a_small_generator() {
        // Enumerate the map x -> result over a scaled-down word space: with
        // bound 6 and words spread evenly, each accepted result must appear
        // equally often. Count results over 2^16 evenly spaced words.
        let bound = 6u64;
        let mut counts = [0u64; 6];
        let mut rejected = 0u64;
        for i in 0..(1u64 << 16) {
            let x = i << 48 | i; // spread over the whole word range
            let mut w = Words(vec![x, u64::MAX]);
            let v = uniform_below_u64(bound, &mut w).unwrap();
            if w.0.is_empty() {
                rejected += 1; // x itself was rejected, the fallback word used
                continue;
            }
            counts[v as usize] += 1;
        }
        let min = *counts.iter().min().unwrap();
        let max = *counts.iter().max().unwrap();
        assert!(max - min <= 1, "{counts:?} rejected {rejected}");
    }

    #[test]
    fn wide_bounds_reject_out_of_range_candidates() {
        // bound = 2^64 + 1: mask is 65 bits. First candidate (lo = 5, hi bit set
        // and more) = 2^64 + 5 >= bound is rejected; second is 2^64 exactly.
        let bound = (1u128 << 64) + 1;
        let mut w = Words(vec![5, 1, 0, 1]);
        assert_eq!(uniform_below_u128(bound, &mut w).unwrap(), 1u128 << 64);
        // High bits above the mask are discarded.
        let mut w = Words(vec![7, u64::MAX]);
        assert_eq!(
            uniform_below_u128(1u128 << 66, &mut w).unwrap(),
            (3u128 << 64) | 7
        );
    }

    #[test]
    fn u512_bounds_use_exactly_the_needed_words() {
        // bound = 2^130: 130 bits -> three words, the third masked to 2 bits.
        let bound = U512::from_u128(1 << 127).checked_mul_u64(8).unwrap();
        let mut w = Words(vec![1, 2, u64::MAX, 99]);
        let v = uniform_below_u512(bound, &mut w).unwrap();
        assert_eq!(v.limbs[..4], [1, 2, 3, 0]);
        assert_eq!(w.0, vec![99], "exactly three words consumed");
    }

    /// Exhaustive: over all 2^16 bit strings of length 16, the runs that
    /// finish within those bits give every value exactly the same count
    /// (each try splits its mass evenly among `[0, n)`).
    #[test]
    fn pool_draws_are_exactly_uniform_over_all_bit_strings() {
        for n in [1u64, 2, 3, 5, 6, 7, 10, 12, 100, 1000] {
            let mut counts = vec![0u64; n as usize];
            let mut unfinished = 0u64;
            for w in 0..(1u64 << 16) {
                let mut words = Words(vec![w, 0]);
                let mut pool = BitPool::new(&mut words);
                let v = pool.below_small(n).unwrap();
                let used = 64 - pool.left;
                if pool.rng.0.len() == 1 && used <= 16 && used > 0 || n == 1 {
                    counts[v as usize] += 1;
                } else {
                    unfinished += 1;
                }
            }
            let first = counts[0];
            assert!(
                first > 0 && counts.iter().all(|c| *c == first),
                "n={n}: {counts:?}"
            );
            // Unfinished mass is the leftover that no check resolved.
            assert_eq!(first * n + unfinished, 1 << 16);
            assert!(unfinished * 2 < 1 << 16, "n={n}: {unfinished}");
        }
    }

    #[test]
    fn bit_pool_uses_every_bit_of_a_word_in_order() {
        let mut words = Words(vec![0b1011, 1]);
        let mut pool = BitPool::new(&mut words);
        let bits: Vec<bool> = (0..65).map(|_| pool.bit().unwrap()).collect();
        assert_eq!(&bits[..5], &[true, true, false, true, false]);
        assert!(bits[5..64].iter().all(|b| !b));
        assert!(bits[64], "65th bit comes from the next word");
        // Large bounds bypass the pool and take whole words.
        let mut words = Words(vec![u64::MAX]);
        let mut pool = BitPool::new(&mut words);
        assert_eq!(pool.below_u64(1 << 40).unwrap(), (1 << 40) - 1);
        assert_eq!(pool.below_u64(0), Err(NoiseError::Overflow));
    }

    #[test]
    fn uniform_small_bounds_are_uniform_over_many_draws() {
        use rand_chacha::rand_core::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        // Every value of a bound-5 draw must appear; none outside.
        let mut seen = [0u32; 5];
        for _ in 0..1000 {
            seen[uniform_below_u64(5, &mut rng).unwrap() as usize] += 1;
        }
        assert!(seen.iter().all(|c| *c > 100), "{seen:?}");
        for _ in 0..1000 {
            let big = U512::from_u128(u128::MAX).checked_mul_u64(3).unwrap();
            assert!(uniform_below_u512(big, &mut rng).unwrap() < big);
        }
    }
}
