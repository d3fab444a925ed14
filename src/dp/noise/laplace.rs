//! Exact discrete Laplace sampling (Canonne–Kamath–Steinke 2020, Algorithm 2).
//!
//! Target: `P(k) = (1 − e^{−1/t})/(1 + e^{−1/t}) · e^{−|k|/t}` for `k ∈ ℤ`,
//! scale `t = num/den`.
//!
//! Why it is exact, step by step:
//! 1. `U` uniform in `[0, num)`, kept with probability `e^{−U/num}`
//!    (Algorithm 1): the kept `U` has `P(U = u) ∝ e^{−u/num}`.
//! 2. `V` = number of `Bernoulli(e^{−1})` successes before the first failure:
//!    `P(V = v) = e^{−v}(1 − e^{−1})`.
//! 3. `X = U + num·V` then has `P(X = x) ∝ e^{−x/num}` on `ℕ` (every `x` has
//!    one `(u, v)` decomposition), i.e. `Geometric(1 − e^{−1/num})`.
//! 4. `Y = ⌊X/den⌋` sums `den` consecutive geometric masses, so
//!    `P(Y = y) ∝ e^{−y·den/num} = e^{−y/t}`.
//! 5. A fair sign `B`; `(B = negative, Y = 0)` is rejected so that zero is
//!    not counted twice. The result `±Y` has `P(k) ∝ e^{−|k|/t}`.
//!
//! Integer-only: `U < 2^64`, `X < 2^64·(V+1) < 2^72` in `u128`, and `|k|`
//! stays below `2^57` for scales up to [`MAX_SAMPLER_SCALE`].

use rand_core::RngCore;

use super::bernoulli::{bernoulli_exp_minus_one, bernoulli_exp_unit};
use super::scale::{Scale, MAX_SAMPLER_SCALE};
use super::uniform::{BitPool, Coins};
use super::NoiseError;

/// Cap on the geometric count `V`: `P(V >= 192) = e^{−192} < 2^-276`.
const MAX_GEOMETRIC: u64 = 192;

/// Cap on proposal rounds. Step 1 keeps `U` with probability
/// `(1 − e^{−1}) / (num·(1 − e^{−1/num})) >= 1 − e^{−1}`, and step 5 rejects
/// at most half of the rest, so a round succeeds with probability above
/// 0.31 (checked in `stat_tests`) and 1000 rounds all fail with probability
/// below `0.69^1000 < 2^-530`.
const MAX_ROUNDS: u32 = 1000;

/// Draws `k` with `P(k) ∝ exp(−|k|/scale)`; see the module docs for why the
/// distribution is exact. Scales above [`MAX_SAMPLER_SCALE`] are refused.
pub fn sample_discrete_laplace<R: RngCore + ?Sized>(
    scale: Scale,
    rng: &mut R,
) -> Result<i64, NoiseError> {
    if scale.exceeds(MAX_SAMPLER_SCALE) {
        return Err(NoiseError::ScaleTooLarge);
    }
    discrete_laplace(scale.num(), scale.den(), &mut BitPool::new(rng))
}

/// Discrete Laplace with scale `num/den` over any source of exact coins.
pub(crate) fn discrete_laplace<C: Coins + ?Sized>(
    num: u64,
    den: u64,
    coins: &mut C,
) -> Result<i64, NoiseError> {
    if num == 0 || den == 0 {
        return Err(NoiseError::InvalidScale);
    }
    for _ in 0..MAX_ROUNDS {
        let u = coins.below_u64(num)?;
        if !bernoulli_exp_unit(u128::from(u), u128::from(num), coins)? {
            continue;
        }
        let v = geometric_exp_minus_one(coins)?;
        let x = u128::from(num)
            .checked_mul(u128::from(v))
            .and_then(|tv| tv.checked_add(u128::from(u)))
            .ok_or(NoiseError::Overflow)?;
        let y = floor_div(x, den)?;
        let negative = coins.bit()?;
        if negative && y == 0 {
            continue;
        }
        let magnitude = i64::try_from(y).map_err(|_| NoiseError::Overflow)?;
        return if negative {
            magnitude.checked_neg().ok_or(NoiseError::Overflow)
        } else {
            Ok(magnitude)
        };
    }
    Err(NoiseError::IterationLimit)
}

/// `V ~ Geometric(1 − e^{−1})` on `{0, 1, …}`: count successes of
/// `Bernoulli(e^{−1})` before the first failure.
pub(crate) fn geometric_exp_minus_one<C: Coins + ?Sized>(coins: &mut C) -> Result<u64, NoiseError> {
    let mut v: u64 = 0;
    while bernoulli_exp_minus_one(coins)? {
        v = v.checked_add(1).ok_or(NoiseError::Overflow)?;
        if v >= MAX_GEOMETRIC {
            return Err(NoiseError::IterationLimit);
        }
    }
    Ok(v)
}

/// `⌊x/den⌋` as `u64`, with the cheaper 64-bit division when `x` fits.
fn floor_div(x: u128, den: u64) -> Result<u64, NoiseError> {
    match u64::try_from(x) {
        Ok(small) => small.checked_div(den).ok_or(NoiseError::InvalidScale),
        Err(_) => x
            .checked_div(u128::from(den))
            .and_then(|q| u64::try_from(q).ok())
            .ok_or(NoiseError::Overflow),
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn refuses_scales_it_cannot_represent() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let too_big = Scale::new(MAX_SAMPLER_SCALE + 1, 1).unwrap();
        assert_eq!(
            sample_discrete_laplace(too_big, &mut rng),
            Err(NoiseError::ScaleTooLarge)
        );
        let at_limit = Scale::new(MAX_SAMPLER_SCALE, 1).unwrap();
        for _ in 0..100 {
            // Magnitudes near 2^48 are typical here; they must come out intact.
            let k = sample_discrete_laplace(at_limit, &mut rng).unwrap();
            assert!(k.unsigned_abs() < (1u64 << 56));
        }
        assert_eq!(
            discrete_laplace(0, 1, &mut rng),
            Err(NoiseError::InvalidScale)
        );
    }

    #[test]
    fn tiny_scale_is_almost_always_zero_and_extreme_fractions_work() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
        // scale 1/10^18: P(k != 0) = 2e^{-10^18}/(1+e^{-10^18}), i.e. zero.
        let tiny = Scale::new(1, 1_000_000_000_000_000_000).unwrap();
        for _ in 0..1000 {
            assert_eq!(sample_discrete_laplace(tiny, &mut rng).unwrap(), 0);
        }
        // u64::MAX / (u64::MAX - 1): numerators near 2^64 take the u128 paths.
        let odd = Scale::new(u64::MAX, u64::MAX - 1).unwrap();
        let mut nonzero = 0;
        for _ in 0..1000 {
            let k = sample_discrete_laplace(odd, &mut rng).unwrap();
            assert!(k.abs() < 200);
            nonzero += (k != 0) as u32;
        }
        // P(k != 0) at scale ~1 is 2e^{-1}/(1+e^{-1}) = 0.538; 1000 draws.
        assert!((430..650).contains(&nonzero), "{nonzero}");
    }

    #[test]
    fn same_seed_same_samples() {
        let s = Scale::parse_decimal("3.5").unwrap();
        let mut a = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let mut b = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let xs: Vec<i64> = (0..50)
            .map(|_| sample_discrete_laplace(s, &mut a).unwrap())
            .collect();
        let ys: Vec<i64> = (0..50)
            .map(|_| sample_discrete_laplace(s, &mut b).unwrap())
            .collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().any(|x| *x != xs[0]));
    }
}
