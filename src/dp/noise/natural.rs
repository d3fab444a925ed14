//! Exact natural numbers for the samplers: `u128` for the fast path and a
//! fixed-width 512-bit [`U512`] for the rare inputs whose intermediates do not
//! fit 128 bits. Only what Algorithm 1 needs: compare, subtract, multiply,
//! and draw uniformly below a bound. Every operation is checked.

use std::cmp::Ordering;

use super::uniform::Coins;
use super::NoiseError;

/// The operations the Bernoulli samplers need from an exact integer type.
pub(crate) trait Natural: Copy + Ord {
    fn from_u128(v: u128) -> Self;
    fn is_zero(&self) -> bool;
    fn checked_sub(self, rhs: Self) -> Option<Self>;
    fn checked_mul(self, rhs: Self) -> Option<Self>;
    fn checked_mul_u64(self, rhs: u64) -> Option<Self>;
    /// `a·b`, or `None` if it does not fit (never `None` for [`U512`]).
    fn product(a: u128, b: u128) -> Option<Self>;
    /// A uniform value in `[0, self)`; `self` must be positive.
    fn uniform_below<C: Coins + ?Sized>(self, coins: &mut C) -> Result<Self, NoiseError>;
}

impl Natural for u128 {
    fn from_u128(v: u128) -> Self {
        v
    }
    fn is_zero(&self) -> bool {
        *self == 0
    }
    fn checked_sub(self, rhs: Self) -> Option<Self> {
        u128::checked_sub(self, rhs)
    }
    fn checked_mul(self, rhs: Self) -> Option<Self> {
        u128::checked_mul(self, rhs)
    }
    fn checked_mul_u64(self, rhs: u64) -> Option<Self> {
        u128::checked_mul(self, u128::from(rhs))
    }
    fn product(a: u128, b: u128) -> Option<Self> {
        a.checked_mul(b)
    }
    fn uniform_below<C: Coins + ?Sized>(self, coins: &mut C) -> Result<Self, NoiseError> {
        coins.below_u128(self)
    }
}

/// Number of 64-bit limbs in a [`U512`].
pub(crate) const LIMBS: usize = 8;

/// A 512-bit unsigned integer, little-endian limbs. Enough for every
/// intermediate of the discrete Gaussian with `u64` numerator and denominator
/// (the largest is `(|y|·t·d² − n²)² < 2^380`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct U512 {
    pub(crate) limbs: [u64; LIMBS],
}

impl U512 {
    pub(crate) const ZERO: U512 = U512 { limbs: [0; LIMBS] };

    /// Number of significant bits (0 for zero).
    pub(crate) fn bit_len(&self) -> u32 {
        let mut bits: u32 = 0;
        for (i, limb) in self.limbs.iter().enumerate() {
            if *limb != 0 {
                // i < 8, so i*64 + 64 <= 512: no overflow.
                let base = u32::try_from(i).unwrap_or(0).saturating_mul(64);
                bits = base.saturating_add(64u32.saturating_sub(limb.leading_zeros()));
            }
        }
        bits
    }

    /// Number of limbs up to and including the highest non-zero one.
    fn used_limbs(&self) -> usize {
        self.limbs
            .iter()
            .rposition(|l| *l != 0)
            .map_or(0, |top| top.saturating_add(1))
    }

    /// The value if it fits `u128`.
    pub(crate) fn to_u128(self) -> Option<u128> {
        let mut it = self.limbs.iter();
        let lo = u128::from(*it.next()?);
        let hi = u128::from(*it.next()?);
        if it.any(|l| *l != 0) {
            return None;
        }
        Some(lo | hi.checked_shl(64)?)
    }
}

/// Splits a u128 into (low, high) 64-bit halves without arithmetic.
fn halves(v: u128) -> (u64, u64) {
    let bytes = v.to_le_bytes();
    let mut lo = [0u8; 8];
    let mut hi = [0u8; 8];
    for (i, b) in bytes.iter().enumerate() {
        if let Some(slot) = lo.get_mut(i) {
            *slot = *b;
        } else if let Some(slot) = hi.get_mut(i.saturating_sub(8)) {
            *slot = *b;
        }
    }
    (u64::from_le_bytes(lo), u64::from_le_bytes(hi))
}

/// `a·b + c + d` as (low, high); cannot overflow 128 bits since
/// `(2^64−1)² + 2·(2^64−1) = 2^128 − 1`.
fn mul_add2(a: u64, b: u64, c: u64, d: u64) -> (u64, u64) {
    let wide = u128::from(a)
        .wrapping_mul(u128::from(b))
        .wrapping_add(u128::from(c))
        .wrapping_add(u128::from(d));
    halves(wide)
}

impl Ord for U512 {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.limbs.iter().rev().zip(other.limbs.iter().rev()) {
            match a.cmp(b) {
                Ordering::Equal => continue,
                unequal => return unequal,
            }
        }
        Ordering::Equal
    }
}

impl PartialOrd for U512 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Natural for U512 {
    fn from_u128(v: u128) -> Self {
        let (lo, hi) = halves(v);
        let mut out = U512::ZERO;
        let mut it = out.limbs.iter_mut();
        if let Some(l) = it.next() {
            *l = lo;
        }
        if let Some(l) = it.next() {
            *l = hi;
        }
        out
    }

    fn is_zero(&self) -> bool {
        self.limbs.iter().all(|l| *l == 0)
    }

    fn checked_sub(self, rhs: Self) -> Option<Self> {
        let mut out = U512::ZERO;
        let mut borrow = false;
        for ((o, a), b) in out.limbs.iter_mut().zip(self.limbs).zip(rhs.limbs) {
            let (d1, b1) = a.overflowing_sub(b);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            *o = d2;
            borrow = b1 || b2;
        }
        if borrow {
            None
        } else {
            Some(out)
        }
    }

    fn checked_mul(self, rhs: Self) -> Option<Self> {
        // Schoolbook over the significant limbs only; row i's final carry
        // lands in limb i + b_len, which no earlier row has written.
        let (a_len, b_len) = (self.used_limbs(), rhs.used_limbs());
        let mut out = U512::ZERO;
        for (i, a) in self.limbs.iter().take(a_len).enumerate() {
            let mut carry: u64 = 0;
            for (j, b) in rhs.limbs.iter().take(b_len).enumerate() {
                match out.limbs.get_mut(i.checked_add(j)?) {
                    Some(slot) => {
                        let (lo, hi) = mul_add2(*a, *b, *slot, carry);
                        *slot = lo;
                        carry = hi;
                    }
                    // Past the top limb: any non-zero contribution overflows.
                    None if carry == 0 && (*a == 0 || *b == 0) => {}
                    None => return None,
                }
            }
            if carry != 0 {
                *out.limbs.get_mut(i.checked_add(b_len)?)? = carry;
            }
        }
        Some(out)
    }

    fn checked_mul_u64(self, rhs: u64) -> Option<Self> {
        let mut out = U512::ZERO;
        let mut carry: u64 = 0;
        for (o, a) in out.limbs.iter_mut().zip(self.limbs) {
            let (lo, hi) = mul_add2(a, rhs, 0, carry);
            *o = lo;
            carry = hi;
        }
        if carry != 0 {
            None
        } else {
            Some(out)
        }
    }

    fn product(a: u128, b: u128) -> Option<Self> {
        // 2×2-limb schoolbook: a·b < 2^256 always fits.
        let (a0, a1) = halves(a);
        let (b0, b1) = halves(b);
        let (r0, c) = mul_add2(a0, b0, 0, 0);
        let (r1, r2) = mul_add2(a0, b1, c, 0);
        let (r1, c) = mul_add2(a1, b0, r1, 0);
        let (r2, r3) = mul_add2(a1, b1, r2, c);
        Some(U512 {
            limbs: [r0, r1, r2, r3, 0, 0, 0, 0],
        })
    }

    fn uniform_below<C: Coins + ?Sized>(self, coins: &mut C) -> Result<Self, NoiseError> {
        coins.below_u512(self)
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn big(v: u128) -> U512 {
        U512::from_u128(v)
    }

    #[test]
    fn from_and_to_u128_round_trip() {
        for v in [
            0u128,
            1,
            u64::MAX as u128,
            1 << 64,
            u128::MAX,
            0x1234_5678_9abc_def0_1122,
        ] {
            assert_eq!(big(v).to_u128(), Some(v));
        }
        let wide = big(1 << 127).checked_mul_u64(4).unwrap();
        assert_eq!(wide.to_u128(), None);
        assert_eq!(wide.bit_len(), 130);
    }

    #[test]
    fn arithmetic_matches_u128_where_it_fits() {
        let vals = [
            0u128,
            1,
            2,
            3,
            977,
            u64::MAX as u128,
            (1 << 64) + 5,
            1 << 100,
            (1 << 120) - 1,
        ];
        for &a in &vals {
            for &b in &vals {
                assert_eq!(
                    big(a).checked_sub(big(b)).map(|v| v.to_u128().unwrap()),
                    a.checked_sub(b)
                );
                assert_eq!(big(a).cmp(&big(b)), a.cmp(&b));
                if let Some(p) = a.checked_mul(b) {
                    assert_eq!(big(a).checked_mul(big(b)).unwrap().to_u128(), Some(p));
                }
                if let Ok(b64) = u64::try_from(b) {
                    if let Some(p) = a.checked_mul(b) {
                        assert_eq!(big(a).checked_mul_u64(b64).unwrap().to_u128(), Some(p));
                    }
                }
            }
            assert_eq!(big(a).bit_len(), 128 - a.leading_zeros());
        }
    }

    #[test]
    fn widening_product_matches_general_multiplication() {
        let vals = [
            0u128,
            1,
            3,
            u64::MAX as u128,
            1 << 64,
            (1 << 64) + 7,
            u128::MAX,
            u128::MAX - 12345,
            0xdead_beef_cafe_babe_0123_4567_89ab_cdef,
        ];
        for &a in &vals {
            for &b in &vals {
                let general = big(a).checked_mul(big(b)).unwrap();
                assert_eq!(U512::product(a, b), Some(general), "{a} * {b}");
                assert_eq!(<u128 as Natural>::product(a, b), a.checked_mul(b));
            }
        }
        // (a·b)·c = a·(b·c) and a·(b − c) = a·b − a·c across limb boundaries.
        let (a, b, c) = (
            u128::MAX - 5,
            (1u128 << 100) + 3,
            0xffff_0000_ffff_0000_1234u128,
        );
        let ab = U512::product(a, b).unwrap();
        let bc = U512::product(b, c).unwrap();
        assert_eq!(ab.checked_mul(big(c)), big(a).checked_mul(bc));
        let lhs = big(a).checked_mul(big(b - c)).unwrap();
        let rhs = ab.checked_sub(U512::product(a, c).unwrap()).unwrap();
        assert_eq!(lhs, rhs);
    }

    #[test]
    fn wide_products_are_exact() {
        // (2^64 - 1)^2 computed limb-wise against the identity 2^128 - 2^65 + 1.
        let m = big(u64::MAX as u128);
        assert_eq!(
            m.checked_mul(m).unwrap().to_u128(),
            Some(u128::MAX - (1u128 << 65) + 2)
        );
        // (2^128 - 1)^2 = 2^256 - 2^129 + 1: limbs [1, 0, 2^64 - 2, 2^64 - 1, 0...].
        let sq = big(u128::MAX).checked_mul(big(u128::MAX)).unwrap();
        assert_eq!(sq.limbs, [1, 0, u64::MAX - 1, u64::MAX, 0, 0, 0, 0]);
        // (2^256)^2 overflows 512 bits by exactly one bit; 2^255 squared fits.
        let p255 = big(1 << 127)
            .checked_mul(big(1 << 127))
            .unwrap()
            .checked_mul_u64(2)
            .unwrap();
        assert_eq!(p255.bit_len(), 256);
        assert_eq!(p255.checked_mul(p255).unwrap().bit_len(), 511);
        let p256 = p255.checked_mul_u64(2).unwrap();
        assert_eq!(p256.checked_mul(p256), None);
        // Subtraction with borrow across limbs: 2^256 - 1 = four all-ones limbs.
        let all_ones = p256.checked_sub(big(1)).unwrap();
        assert_eq!(
            all_ones.limbs,
            [u64::MAX, u64::MAX, u64::MAX, u64::MAX, 0, 0, 0, 0]
        );
        assert_eq!(big(1).checked_sub(p256), None);
        let top = U512 {
            limbs: [0, 0, 0, 0, 0, 0, 0, 1 << 63],
        };
        assert_eq!(top.checked_mul_u64(2), None);
        assert_eq!(top.bit_len(), 512);
    }
}
