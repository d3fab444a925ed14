//! From privacy parameters to noise scales and back.
//!
//! Scales returned here are exact rationals rounded in the conservative
//! direction: never less noise than the privacy target needs. Accuracy-driven
//! suggestions ([`epsilon_for_halfwidth`]) are advisory `f64`s; whatever
//! privacy parameter is finally used is the one the accountant charges.

use super::ci::{check_confidence, gaussian_halfwidth, laplace_halfwidth};
use super::natural::{Natural, U512};
use super::scale::{Scale, MAX_SAMPLER_SCALE};
use super::{Mechanism, NoiseError};

/// Gaussian σ numerators are kept below this so that the sampler's exact
/// acceptance test fits its `u128` fast path (see `gaussian.rs`).
const FAST_NUMERATOR_LIMIT: u64 = 1 << 28;

/// Largest decimal denominator tried for σ: `10^8`.
const MAX_DECIMAL_DIGITS: u32 = 8;

/// Discrete Laplace scale for `epsilon`-DP at L1 sensitivity `Δ`: exactly
/// `Δ/ε`. (`P(k)/P(k+Δ') = e^{(|k+Δ'|−|k|)/t} <= e^{Δ/t}` for `|Δ'| <= Δ`.)
pub fn laplace_scale_for(epsilon: Scale, l1_sensitivity: u64) -> Result<Scale, NoiseError> {
    if l1_sensitivity == 0 {
        return Err(NoiseError::InvalidArgument("sensitivity must be positive"));
    }
    let num = l1_sensitivity
        .checked_mul(epsilon.den())
        .ok_or(NoiseError::Overflow)?;
    let scale = Scale::new(num, epsilon.num())?;
    if scale.exceeds(MAX_SAMPLER_SCALE) {
        return Err(NoiseError::ScaleTooLarge);
    }
    Ok(scale)
}

/// Smallest decimal `σ = a/10^k` with `σ² >= Δ₂²/(2ρ)`, so that the discrete
/// Gaussian is `ρ`-zCDP (Canonne–Kamath–Steinke 2020 show the discrete
/// Gaussian is `Δ₂²/(2σ²)`-zCDP, exactly like the continuous one). The comparison is exact integer
/// arithmetic; `k <= 8` is as large as keeps `a < 2^28`, giving 8–9
/// significant digits while keeping the sampler on its fast path.
pub fn gaussian_sigma_for_rho(
    rho: Scale,
    l2_sensitivity_squared: u64,
) -> Result<Scale, NoiseError> {
    if l2_sensitivity_squared == 0 {
        return Err(NoiseError::InvalidArgument("sensitivity must be positive"));
    }
    let mut digits = MAX_DECIMAL_DIGITS;
    loop {
        let den = 10u64.checked_pow(digits).ok_or(NoiseError::Overflow)?;
        let num = smallest_sigma_numerator(rho, l2_sensitivity_squared, den)?;
        if num < FAST_NUMERATOR_LIMIT || digits == 0 {
            let sigma = Scale::new(num, den)?;
            if sigma.exceeds(MAX_SAMPLER_SCALE) {
                return Err(NoiseError::ScaleTooLarge);
            }
            return Ok(sigma);
        }
        digits = digits.saturating_sub(1);
    }
}

/// Smallest `a` with `(a/den)² · 2ρ >= S`, i.e. `a²·2·ρn >= S·ρd·den²`.
fn smallest_sigma_numerator(rho: Scale, s: u64, den: u64) -> Result<u64, NoiseError> {
    let wide = |v: u64| U512::from_u128(u128::from(v));
    let rhs = wide(s)
        .checked_mul(wide(rho.den()))
        .and_then(|v| v.checked_mul(wide(den)))
        .and_then(|v| v.checked_mul(wide(den)))
        .ok_or(NoiseError::Overflow)?;
    let two_rho_num = wide(rho.num())
        .checked_mul_u64(2)
        .ok_or(NoiseError::Overflow)?;
    let enough = |a: u64| -> Result<bool, NoiseError> {
        let lhs = wide(a)
            .checked_mul(wide(a))
            .and_then(|v| v.checked_mul(two_rho_num))
            .ok_or(NoiseError::Overflow)?;
        Ok(lhs >= rhs)
    };
    if !enough(u64::MAX)? {
        return Err(NoiseError::ScaleTooLarge);
    }
    // Invariant: enough(hi), !enough(lo) (or lo == 0, where a = 0 is never enough).
    let (mut lo, mut hi) = (0u64, u64::MAX);
    while hi.saturating_sub(lo) > 1 {
        let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
        if enough(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// The largest zCDP `ρ` (to 1e-9, rounded down: never less noise) whose
/// `(ε, δ)` conversion by [`zcdp_to_approx_dp_epsilon`] stays within
/// `epsilon`: calibrating a Gaussian mechanism from an `(ε, δ)` target.
pub fn rho_for_epsilon(epsilon: f64, delta: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, epsilon.max(1e-12));
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if zcdp_to_approx_dp_epsilon(mid, delta) <= epsilon {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo * 1e9).floor() / 1e9
}

/// `ε` such that `ρ`-zCDP implies `(ε, δ)`-DP, by the conversion of
/// Canonne, Kamath and Steinke (2020, §2.3, applied to the Rényi bound
/// `D_α <= αρ` that defines zCDP):
/// `ε = inf_{α>1} αρ + (ln(1/δ) + (α−1)·ln(1−1/α) − ln α)/(α−1)`,
/// which is never worse than the classic `ρ + 2√(ρ·ln(1/δ))` (Bun–Steinke
/// 2016); the smaller of the two is returned. Every `α` gives a valid bound,
/// so an inexact minimisation only costs tightness, never privacy; the result
/// is nudged up by `1e-12` relative to absorb `f64` rounding.
///
/// Degenerate inputs: `ρ = 0` gives 0; `δ >= 1` gives 0; a negative or NaN
/// `ρ`, or `δ <= 0`/NaN, gives `+∞` (no finite guarantee).
pub fn zcdp_to_approx_dp_epsilon(rho: f64, delta: f64) -> f64 {
    if rho.is_nan() || rho < 0.0 || delta.is_nan() || delta <= 0.0 || rho.is_infinite() {
        return f64::INFINITY;
    }
    if rho == 0.0 || delta >= 1.0 {
        return 0.0;
    }
    let log_inv_delta = -delta.ln();
    let classic = rho + 2.0 * (rho * log_inv_delta).sqrt();
    let cks = |alpha: f64| -> f64 {
        let am1 = alpha - 1.0;
        alpha * rho + (log_inv_delta + am1 * (-1.0 / alpha).ln_1p() - alpha.ln()) / am1
    };
    // Coarse log-spaced scan of α − 1 over [1e-8, 1e8], then golden-section
    // refinement between the neighbours of the best grid point.
    let grid = |i: i32| 1.0 + 10f64.powf(-8.0 + f64::from(i) * 0.05);
    let mut best_i = 0;
    let mut best = f64::INFINITY;
    for i in 0..=320 {
        let v = cks(grid(i));
        if v < best {
            best = v;
            best_i = i;
        }
    }
    let (mut a, mut b) = (
        grid(best_i.saturating_sub(1)).max(1.0 + 1e-12),
        grid(best_i.saturating_add(1)),
    );
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..100 {
        let x1 = b - phi * (b - a);
        let x2 = a + phi * (b - a);
        let (f1, f2) = (cks(x1), cks(x2));
        best = best.min(f1).min(f2);
        if f1 < f2 {
            b = x2;
        } else {
            a = x1;
        }
    }
    let eps = if best.is_finite() {
        best.min(classic)
    } else {
        classic
    };
    eps * (1.0 + 1e-12)
}

/// The privacy parameter that buys a target accuracy: the smallest `ε` for
/// which the mechanism calibrated at `ε` (Laplace: scale `Δ/ε`; Gaussian:
/// `σ = Δ₂/√(2ρ)` converted to `(ε, δ)` by [`zcdp_to_approx_dp_epsilon`])
/// has [`ci_halfwidth`](super::ci_halfwidth) `<= target_halfwidth` at
/// `confidence`. The scale is backed off by `1e-6` relative before
/// converting, so that a later conservative rounding of the scale (such as
/// [`gaussian_sigma_for_rho`]'s) cannot push the halfwidth over the target;
/// round the returned `ε` up, not down, when turning it into a [`Scale`].
///
/// `delta` is required for the Gaussian and ignored for the Laplace.
pub fn epsilon_for_halfwidth(
    m: Mechanism,
    l1_or_l2_sensitivity: u64,
    target_halfwidth: u64,
    confidence: f64,
    delta: Option<f64>,
) -> Result<f64, NoiseError> {
    check_confidence(confidence)?;
    if l1_or_l2_sensitivity == 0 {
        return Err(NoiseError::InvalidArgument("sensitivity must be positive"));
    }
    let sensitivity = l1_or_l2_sensitivity as f64;
    match m {
        Mechanism::Laplace => {
            let fits = |t: f64| laplace_halfwidth(t, confidence) <= target_halfwidth;
            let t = largest_fitting_scale(fits) * (1.0 - 1e-6);
            Ok(sensitivity / t)
        }
        Mechanism::Gaussian => {
            let delta = match delta {
                Some(d) if d > 0.0 && d < 1.0 => d,
                _ => {
                    return Err(NoiseError::InvalidArgument(
                        "the Gaussian needs delta strictly between 0 and 1",
                    ))
                }
            };
            let fits = |sigma: f64| gaussian_halfwidth(sigma, confidence) <= target_halfwidth;
            let sigma = largest_fitting_scale(fits) * (1.0 - 1e-6);
            let rho = sensitivity * sensitivity / (2.0 * sigma * sigma);
            Ok(zcdp_to_approx_dp_epsilon(rho, delta))
        }
    }
}

/// Largest scale in `[2^-30, 2^48]` (to ~1e-12 relative) for which `fits`
/// holds, assuming `fits` is monotone (true for small scales); both
/// halfwidths are nondecreasing in the scale (the families are ordered by
/// likelihood ratio in `|k|`).
fn largest_fitting_scale(fits: impl Fn(f64) -> bool) -> f64 {
    let (mut lo, mut hi) = (-30.0f64, 48.0f64);
    if fits(hi.exp2()) {
        return hi.exp2();
    }
    for _ in 0..64 {
        let mid = (lo + hi) / 2.0;
        if fits(mid.exp2()) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo.exp2()
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::dp::noise::ci_halfwidth;

    #[test]
    fn laplace_scale_is_sensitivity_over_epsilon_exactly() {
        let eps = Scale::parse_decimal("0.3").unwrap();
        assert_eq!(
            laplace_scale_for(eps, 2).unwrap(),
            Scale::new(20, 3).unwrap()
        );
        assert_eq!(
            laplace_scale_for(Scale::new(1, 1).unwrap(), 1).unwrap(),
            Scale::new(1, 1).unwrap()
        );
        assert!(laplace_scale_for(eps, 0).is_err());
        let huge = Scale::new(1, u64::MAX).unwrap();
        assert_eq!(laplace_scale_for(huge, 2), Err(NoiseError::Overflow));
        let tiny_eps = Scale::new(1, 1 << 40).unwrap();
        assert_eq!(
            laplace_scale_for(tiny_eps, 1 << 10),
            Err(NoiseError::ScaleTooLarge)
        );
        assert!(laplace_scale_for(tiny_eps, 1 << 8).is_ok());
    }

    #[test]
    fn gaussian_sigma_is_the_smallest_decimal_that_is_private_enough() {
        for (rho, s) in [
            ("0.5", 1u64),
            ("0.1", 4),
            ("0.001", 1),
            ("2", 9),
            ("0.0000001", 100),
            ("1000", 1),
        ] {
            let rho_s = Scale::parse_decimal(rho).unwrap();
            let sigma = gaussian_sigma_for_rho(rho_s, s).unwrap();
            let (a, d) = (sigma.num() as u128, sigma.den() as u128);
            let (rn, rd) = (rho_s.num() as u128, rho_s.den() as u128);
            // σ² · 2ρ >= S, exactly: a²·2·rn >= S·rd·d²
            let lhs = a * a * 2 * rn;
            let rhs = s as u128 * rd * d * d;
            assert!(lhs >= rhs, "ρ={rho} S={s}: σ={sigma}");
            // and one unit less in the last decimal is not enough.
            let digits_den = {
                let mut k = 1u128;
                while k < d || (k * a / d) * d != k * a {
                    k *= 10;
                }
                k
            };
            let a10 = a * digits_den / d;
            let less = a10 - 1;
            assert!(
                less * less * 2 * rn < s as u128 * rd * digits_den * digits_den,
                "ρ={rho}: not minimal"
            );
            assert!(sigma.num() < FAST_NUMERATOR_LIMIT || sigma.den() == 1);
            let float = (s as f64 / (2.0 * rho_s.to_f64())).sqrt();
            assert!(
                (sigma.to_f64() - float).abs() <= float * 1e-6 + 1e-8,
                "{sigma} vs {float}"
            );
        }
        assert!(gaussian_sigma_for_rho(Scale::new(1, 1).unwrap(), 0).is_err());
        // ρ so small that σ would exceed the sampler's limit.
        assert_eq!(
            gaussian_sigma_for_rho(Scale::new(1, u64::MAX).unwrap(), u64::MAX),
            Err(NoiseError::ScaleTooLarge)
        );
    }

    #[test]
    fn zcdp_conversion_is_tighter_than_classic_and_matches_known_values() {
        for (rho, delta) in [(0.5, 1e-6), (0.01, 1e-9), (1.0, 1e-5), (5.0, 1e-10)] {
            let classic = rho + 2.0 * (rho * (1.0f64 / delta).ln()).sqrt();
            let eps = zcdp_to_approx_dp_epsilon(rho, delta);
            assert!(eps <= classic * (1.0 + 1e-12) && eps > 0.0);
            assert!(eps > rho, "ε must exceed ρ");
            // Check the defining property at the returned ε: the CKS δ(ε) is <= δ.
            // δ(ε) = inf_α exp((α−1)(αρ − ε)) / (α−1) · (1 − 1/α)^α, scanned.
            let mut best = f64::INFINITY;
            for i in 1..200_000 {
                let alpha = 1.0 + i as f64 * 1e-3;
                let d = ((alpha - 1.0) * (alpha * rho - eps)).exp() / (alpha - 1.0)
                    * (1.0 - 1.0 / alpha).powf(alpha);
                best = best.min(d);
            }
            assert!(
                best <= delta * (1.0 + 1e-6),
                "ρ={rho} δ={delta}: δ(ε)={best}"
            );
            // and it is tight: a 1% smaller ε no longer achieves δ.
            let eps_small = eps * 0.99;
            let mut best_small = f64::INFINITY;
            for i in 1..200_000 {
                let alpha = 1.0 + i as f64 * 1e-3;
                let d = ((alpha - 1.0) * (alpha * rho - eps_small)).exp() / (alpha - 1.0)
                    * (1.0 - 1.0 / alpha).powf(alpha);
                best_small = best_small.min(d);
            }
            assert!(best_small > delta, "ρ={rho} δ={delta}: not tight");
        }
        assert_eq!(zcdp_to_approx_dp_epsilon(0.0, 1e-6), 0.0);
        assert_eq!(zcdp_to_approx_dp_epsilon(1.0, 1.0), 0.0);
        assert_eq!(zcdp_to_approx_dp_epsilon(-1.0, 1e-6), f64::INFINITY);
        assert_eq!(zcdp_to_approx_dp_epsilon(f64::NAN, 1e-6), f64::INFINITY);
        assert_eq!(zcdp_to_approx_dp_epsilon(1.0, 0.0), f64::INFINITY);
    }

    #[test]
    fn epsilon_for_halfwidth_round_trips_through_calibration() {
        // Laplace: the scale Δ/ε, rounded up in ε, meets the halfwidth; 1%
        // less ε does not.
        for (sens, h, c) in [
            (1u64, 10u64, 0.95),
            (5, 100, 0.99),
            (1, 0, 0.5),
            (3, 1000, 0.999),
        ] {
            let eps = epsilon_for_halfwidth(Mechanism::Laplace, sens, h, c, None).unwrap();
            let eps_up = Scale::new((eps * 1e9).ceil() as u64, 1_000_000_000).unwrap();
            let scale = laplace_scale_for(eps_up, sens).unwrap();
            assert!(
                ci_halfwidth(Mechanism::Laplace, scale, c).unwrap() <= h,
                "Δ={sens} h={h}"
            );
            let t_less = sens as f64 / (eps * 0.99);
            assert!(
                laplace_halfwidth(t_less, c) > h,
                "Δ={sens} h={h}: not the smallest ε"
            );
        }
        // Gaussian: through ρ and the exact σ calibration.
        for (sens, h, c, delta) in [
            (1u64, 10u64, 0.95, 1e-6),
            (2, 50, 0.99, 1e-9),
            (1, 3000, 0.9, 1e-5),
        ] {
            let eps = epsilon_for_halfwidth(Mechanism::Gaussian, sens, h, c, Some(delta)).unwrap();
            // Recover σ the way the engine would: find ρ from ε by bisection on the
            // conversion, then calibrate σ exactly.
            let (mut lo, mut hi) = (1e-12f64, 1e6f64);
            for _ in 0..200 {
                let mid = (lo * hi).sqrt();
                if zcdp_to_approx_dp_epsilon(mid, delta) <= eps {
                    lo = mid
                } else {
                    hi = mid
                }
            }
            let rho = Scale::new((lo * 1e12).floor() as u64, 1_000_000_000_000).unwrap();
            let rho = Scale::new(rho.num() + 1, rho.den()).unwrap(); // a hair above: rounding slack
            let sigma = gaussian_sigma_for_rho(rho, sens * sens).unwrap();
            assert!(
                ci_halfwidth(Mechanism::Gaussian, sigma, c).unwrap() <= h,
                "Δ={sens} h={h} σ={sigma}"
            );
        }
        assert!(epsilon_for_halfwidth(Mechanism::Gaussian, 1, 10, 0.95, None).is_err());
        assert!(epsilon_for_halfwidth(Mechanism::Laplace, 0, 10, 0.95, None).is_err());
        assert!(epsilon_for_halfwidth(Mechanism::Laplace, 1, 10, 1.0, None).is_err());
    }
}
