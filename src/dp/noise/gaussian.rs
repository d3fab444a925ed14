//! Exact discrete Gaussian sampling (Canonne–Kamath–Steinke 2020,
//! Algorithm 3).
//!
//! Target: `P(k) = e^{−k²/(2σ²)} / Σ_{j∈ℤ} e^{−j²/(2σ²)}`, `σ = n/d`.
//!
//! Why it is exact: propose `Y` from the discrete Laplace with integer scale
//! `t = ⌊σ⌋ + 1` and accept with probability `e^{−γ(Y)}`,
//! `γ(y) = (|y| − σ²/t)² / (2σ²)`. Expanding the square,
//! `e^{−|y|/t} · e^{−γ(y)} = e^{−y²/(2σ²)} · e^{−σ²/(2t²)}`, and the last
//! factor does not depend on `y`, so accepted values have exactly the target
//! distribution. (Any `t > 0` is correct; `⌊σ⌋ + 1` keeps acceptance high.)
//!
//! `γ(y)` is the exact ratio of integers
//! `(|y|·t·d² − n²)² / (2·n²·t²·d²)`, computed in `u128` when it fits with
//! room for Algorithm 1's `den·k` (the common case) and otherwise in
//! [`U512`], which holds every case with `n, d < 2^64` and `σ <= 2^48`. Which
//! width is used depends only on `y` and `σ`, never changes the coin, and so
//! does not affect the distribution.

use rand_core::RngCore;

use super::bernoulli::bernoulli_exp;
use super::laplace::discrete_laplace;
use super::natural::{Natural, U512};
use super::scale::{Scale, MAX_SAMPLER_SCALE};
use super::uniform::{BitPool, Coins};
use super::NoiseError;

/// Cap on proposal rounds. Each round accepts with probability
/// `Z(σ)·e^{−σ²/(2t²)}·(1 − e^{−1/t})/(1 + e^{−1/t})` (`Z` the normaliser),
/// which stays above 0.44 for every `σ`: its minimum, about 0.445, is near
/// `σ = 0.3`; it tends to 0.46 as `σ → 0` and to 0.76 as `σ → ∞` (checked
/// over a grid in `stat_tests`). 1000 rounds all fail with probability below
/// `0.56^1000 < 2^-830`.
const MAX_ROUNDS: u32 = 1000;

/// Largest `γ` denominator used on the `u128` path: Algorithm 1 multiplies it
/// by up to 64, which must still fit.
const U128_DEN_LIMIT: u128 = 1 << 120;

/// Draws `k` with `P(k) ∝ exp(−k²/(2σ²))`; see the module docs for why the
/// distribution is exact. `σ` above [`MAX_SAMPLER_SCALE`] is refused.
pub fn sample_discrete_gaussian<R: RngCore + ?Sized>(
    sigma: Scale,
    rng: &mut R,
) -> Result<i64, NoiseError> {
    if sigma.exceeds(MAX_SAMPLER_SCALE) {
        return Err(NoiseError::ScaleTooLarge);
    }
    discrete_gaussian(sigma.num(), sigma.den(), &mut BitPool::new(rng))
}

/// Discrete Gaussian with `σ = n/d` over any source of exact coins.
pub(crate) fn discrete_gaussian<C: Coins + ?Sized>(
    n: u64,
    d: u64,
    coins: &mut C,
) -> Result<i64, NoiseError> {
    if n == 0 || d == 0 {
        return Err(NoiseError::InvalidScale);
    }
    let t = n
        .checked_div(d)
        .and_then(|f| f.checked_add(1))
        .ok_or(NoiseError::Overflow)?;
    // The parts of γ that do not depend on y, once per sample. The u128
    // version exists only when its denominator leaves room for Algorithm 1.
    let narrow = Exponent::<u128>::new(n, d, t).filter(|e| e.den <= U128_DEN_LIMIT);
    let mut wide: Option<Exponent<U512>> = None;
    for _ in 0..MAX_ROUNDS {
        let y = discrete_laplace(t, 1, coins)?;
        let y_abs = y.unsigned_abs();
        let accept = match narrow.as_ref().and_then(|e| e.numerator(y_abs)) {
            Some(num) => bernoulli_exp(num, narrow.map_or(0, |e| e.den), coins)?,
            None => {
                let e = match wide {
                    Some(e) => e,
                    None => Exponent::<U512>::new(n, d, t).ok_or(NoiseError::Overflow)?,
                };
                wide = Some(e);
                let num = e.numerator(y_abs).ok_or(NoiseError::Overflow)?;
                bernoulli_exp(num, e.den, coins)?
            }
        };
        if accept {
            return Ok(y);
        }
    }
    Err(NoiseError::IterationLimit)
}

/// `γ(y) = (|y|·t·d² − n²)² / (2·n²·t²·d²)` with the `y`-free parts
/// precomputed. `n² < 2^128` and `d² < 2^128` always fit `u128`; the rest is
/// kept in `u128` where it fits and in `N` otherwise, so that the wide type
/// is only used for the products that need it.
#[derive(Clone, Copy)]
pub(crate) struct Exponent<N> {
    n2: u128,
    /// `t·d²` when it fits `u128` (the usual case; `t·d <= n + d < 2^65`).
    td2_narrow: Option<u128>,
    td2: N,
    pub(crate) den: N,
}

impl<N: Natural> Exponent<N> {
    /// `None` if `t·d²` or the denominator does not fit `N`.
    pub(crate) fn new(n: u64, d: u64, t: u64) -> Option<Self> {
        let n2 = u128::from(n).checked_mul(u128::from(n))?;
        let d2 = u128::from(d).checked_mul(u128::from(d))?;
        let td2_narrow = u128::from(t).checked_mul(d2);
        let td2 = N::product(u128::from(t), d2)?;
        // 2t² < 2^99 since t <= 2^48 + 1.
        let two_t2 = u128::from(t).checked_mul(u128::from(t))?.checked_mul(2)?;
        let den = N::product(n2, d2)?.checked_mul(N::from_u128(two_t2))?;
        Some(Exponent {
            n2,
            td2_narrow,
            td2,
            den,
        })
    }

    /// `(|y|·t·d² − n²)²`, or `None` if it does not fit `N`.
    pub(crate) fn numerator(&self, y_abs: u64) -> Option<N> {
        let narrow_diff = self
            .td2_narrow
            .and_then(|td2| td2.checked_mul(u128::from(y_abs)))
            .map(|ytd2| ytd2.abs_diff(self.n2));
        if let Some(diff) = narrow_diff {
            return N::product(diff, diff);
        }
        let ytd2 = N::from_u128(u128::from(y_abs)).checked_mul(self.td2)?;
        let n2 = N::from_u128(self.n2);
        let diff = if ytd2 >= n2 {
            ytd2.checked_sub(n2)?
        } else {
            n2.checked_sub(ytd2)?
        };
        diff.checked_mul(diff)
    }
}

/// `γ(y)` as (numerator, denominator), or `None` if it does not fit `N`.
#[cfg(test)]
pub(crate) fn acceptance_exponent<N: Natural>(
    y_abs: u64,
    n: u64,
    d: u64,
    t: u64,
) -> Option<(N, N)> {
    let e = Exponent::<N>::new(n, d, t)?;
    Some((e.numerator(y_abs)?, e.den))
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn exponent_is_exact_for_small_values() {
        // σ = 3/2, t = 2: γ(y) = (|y|·2·4 − 9)² / (2·9·4·4) = (8|y| − 9)² / 288.
        for y in 0..10u64 {
            let (num, den) = acceptance_exponent::<u128>(y, 3, 2, 2).unwrap();
            let expected = (8 * y as i128 - 9).pow(2) as u128;
            assert_eq!((num, den), (expected, 288), "y={y}");
            let (bn, bd) = acceptance_exponent::<U512>(y, 3, 2, 2).unwrap();
            assert_eq!((bn.to_u128(), bd.to_u128()), (Some(expected), Some(288)));
        }
    }

    /// Both branches of `numerator` (narrow `t·d²`, and `t·d² >= 2^128`)
    /// against a direct evaluation with general 512-bit products.
    #[test]
    fn exponent_matches_direct_wide_evaluation() {
        let direct = |y: u64, n: u64, d: u64, t: u64| {
            let w = |v: u64| U512::from_u128(v as u128);
            let n2 = w(n).checked_mul(w(n)).unwrap();
            let d2 = w(d).checked_mul(w(d)).unwrap();
            let ytd2 = w(y).checked_mul(w(t)).unwrap().checked_mul(d2).unwrap();
            let diff = if ytd2 >= n2 {
                ytd2.checked_sub(n2)
            } else {
                n2.checked_sub(ytd2)
            }
            .unwrap();
            let den = n2
                .checked_mul(w(t))
                .unwrap()
                .checked_mul(w(t))
                .unwrap()
                .checked_mul(d2)
                .unwrap()
                .checked_mul_u64(2)
                .unwrap();
            (diff.checked_mul(diff).unwrap(), den)
        };
        let cases = [
            (3u64, 2u64),
            (3_141_592_653_589, 1_000_000_000_000),
            (u64::MAX, u64::MAX - 1), // t·d² ≈ 2^129: generic branch
            (u64::MAX, 1 << 16),
            (1, u64::MAX),
        ];
        for (n, d) in cases {
            let t = n / d + 1;
            let e = Exponent::<U512>::new(n, d, t).unwrap();
            for y in [0u64, 1, 2, t, 3 * t + 1, 1000 * t] {
                assert_eq!(
                    (e.numerator(y).unwrap(), e.den),
                    direct(y, n, d, t),
                    "n={n} d={d} y={y}"
                );
            }
        }
        assert!(Exponent::<U512>::new(u64::MAX, u64::MAX - 1, 2)
            .unwrap()
            .td2_narrow
            .is_none());
    }

    #[test]
    fn wide_path_handles_full_width_inputs() {
        // n, d near 2^64 overflow u128 and must go through U512.
        let n = u64::MAX;
        let d = u64::MAX / 3;
        let t = n / d + 1;
        assert!(acceptance_exponent::<u128>(5, n, d, t).is_none());
        let (num, den) = acceptance_exponent::<U512>(5, n, d, t).unwrap();
        assert!(num.bit_len() <= 400 && den.bit_len() <= 270);
        // The widest case allowed by the sampler: σ just under 2^48 with the
        // numerator at u64::MAX (so d = 2^16), |y| at the geometric cap.
        let d = 1u64 << 16;
        let n = u64::MAX;
        let t = n / d + 1;
        let y_max = t * 193;
        assert!(acceptance_exponent::<U512>(y_max, n, d, t).is_some());
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let s = Scale::new(n, d).unwrap();
        for _ in 0..20 {
            sample_discrete_gaussian(s, &mut rng).unwrap();
        }
        // A decimal σ with many digits takes the U512 path for γ.
        let s = Scale::parse_decimal("0.123456789012").unwrap();
        let mut zeros = 0;
        for _ in 0..200 {
            let k = sample_discrete_gaussian(s, &mut rng).unwrap();
            assert!(k.abs() <= 2, "{k}");
            zeros += (k == 0) as u32;
        }
        // P(0) = 1/(1 + 2e^{-1/(2σ²)} + ...) = 1 − 2·e^{-32.8}: essentially 1.
        assert_eq!(zeros, 200);
    }

    #[test]
    fn refuses_scales_it_cannot_represent() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let too_big = Scale::new(MAX_SAMPLER_SCALE + 1, 1).unwrap();
        assert_eq!(
            sample_discrete_gaussian(too_big, &mut rng),
            Err(NoiseError::ScaleTooLarge)
        );
        let at_limit = Scale::new(MAX_SAMPLER_SCALE, 1).unwrap();
        for _ in 0..50 {
            let k = sample_discrete_gaussian(at_limit, &mut rng).unwrap();
            assert!(k.unsigned_abs() < 1u64 << 56);
        }
    }
}
