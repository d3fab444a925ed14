//! Exact Bernoulli coins: `Bernoulli(a/b)` and `Bernoulli(exp(−a/b))`
//! (Canonne–Kamath–Steinke 2020, Algorithm 1).
//!
//! `Bernoulli(exp(−γ))` for `γ ∈ [0, 1]`: draw `A_k ~ Bernoulli(γ/k)` for
//! `k = 1, 2, …` until the first `A_k = 0`, and return whether that `k` is odd.
//! `P(first zero at k) = γ^{k−1}/(k−1)! − γ^k/k!`, and summing over odd `k`
//! gives `Σ_j (−γ)^j / j! = e^{−γ}` exactly. For `γ > 1`, `e^{−γ}` is the
//! product of `⌊γ⌋` coins `Bernoulli(e^{−1})` and one `Bernoulli(e^{−(γ−⌊γ⌋)})`,
//! drawn lazily (stop at the first 0), so no division is needed: the loop
//! subtracts `b` from `a` while `a > b`.

use super::natural::Natural;
use super::uniform::Coins;
use super::NoiseError;

/// Cap on `k` in the `γ ∈ [0,1]` loop: reaching it needs `k−1` consecutive
/// ones, probability `≤ 1/(k−1)! = 1/63! < 2^-290`.
const MAX_TERMS: u64 = 64;

/// Cap on whole units peeled off `γ > 1`: each continues with probability
/// `e^{−1}`, so reaching it has probability `e^{−192} < 2^-276`.
const MAX_WHOLE_UNITS: u32 = 192;

/// `Bernoulli(num/den)` for `num <= den`, `den > 0`: a uniform draw below
/// `den` is below `num` with probability exactly `num/den`.
pub(crate) fn bernoulli_ratio<N: Natural, C: Coins + ?Sized>(
    num: N,
    den: N,
    coins: &mut C,
) -> Result<bool, NoiseError> {
    Ok(den.uniform_below(coins)? < num)
}

/// `Bernoulli(exp(−num/den))` for `0 <= num <= den`, `den > 0`.
pub(crate) fn bernoulli_exp_unit<N: Natural, C: Coins + ?Sized>(
    num: N,
    den: N,
    coins: &mut C,
) -> Result<bool, NoiseError> {
    if num.is_zero() {
        return Ok(true);
    }
    let mut k: u64 = 1;
    while k <= MAX_TERMS {
        let den_k = den.checked_mul_u64(k).ok_or(NoiseError::Overflow)?;
        if !bernoulli_ratio(num, den_k, coins)? {
            return Ok(k & 1 == 1);
        }
        k = k.saturating_add(1);
    }
    Err(NoiseError::IterationLimit)
}

/// `Bernoulli(exp(−1))`, the `γ = 1` case of [`bernoulli_exp_unit`] with
/// `Bernoulli(1/k)` drawn as "a uniform value below `k` is 0".
pub(crate) fn bernoulli_exp_minus_one<C: Coins + ?Sized>(
    coins: &mut C,
) -> Result<bool, NoiseError> {
    let mut k: u64 = 1;
    while k <= MAX_TERMS {
        if coins.below_u64(k)? != 0 {
            return Ok(k & 1 == 1);
        }
        k = k.saturating_add(1);
    }
    Err(NoiseError::IterationLimit)
}

/// `Bernoulli(exp(−num/den))` for any `num >= 0`, `den > 0`.
pub(crate) fn bernoulli_exp<N: Natural, C: Coins + ?Sized>(
    num: N,
    den: N,
    coins: &mut C,
) -> Result<bool, NoiseError> {
    let mut rest = num;
    let mut units: u32 = 0;
    while rest > den {
        if units >= MAX_WHOLE_UNITS {
            return Err(NoiseError::IterationLimit);
        }
        if !bernoulli_exp_minus_one(coins)? {
            return Ok(false);
        }
        rest = rest.checked_sub(den).ok_or(NoiseError::Overflow)?;
        units = units.saturating_add(1);
    }
    bernoulli_exp_unit(rest, den, coins)
}
