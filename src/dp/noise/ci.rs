//! Exact-distribution confidence intervals for the noise: the smallest `h`
//! with `P(|X| <= h) >= confidence`, computed from the *discrete* PMFs.
//!
//! Floating point is used here (reporting only; no sample passes through this
//! file):
//! - discrete Laplace: closed form `P(|X| > h) = 2q^{h+1}/(1+q)`,
//!   `q = e^{−1/t}`, evaluated in logarithms;
//! - discrete Gaussian, `σ <= 256`: direct summation of `e^{−k²/(2σ²)}` over
//!   every term that is not zero in `f64` (`|k| < 39σ`);
//! - discrete Gaussian, `σ > 256`: the normaliser by Poisson summation
//!   (`Σ_k e^{−k²/(2σ²)} = σ√(2π)·(1 + 2Σ_m e^{−2π²σ²m²})`, the correction
//!   being 0 in `f64`), and tail sums `Σ_{k>=a}` by Euler–Maclaurin with
//!   Bernoulli terms up to `B_6`; the remainder is below
//!   `3.3e-5·∫|f^{(6)}| < 3e-4·σ^{-5}`, i.e. under `1e-15` of the total mass
//!   at `σ = 256` (tests compare both methods on `64 <= σ <= 256`).
//!
//! Each result is the exact smallest `h` up to `f64` rounding of the tail
//! probabilities (relative error around `1e-13`), so it can be off by one
//! only when the confidence sits within that margin of a PMF boundary.

use super::{Mechanism, NoiseError, Scale};

/// Up to this σ the Gaussian tails are summed term by term.
pub(crate) const DIRECT_SIGMA_MAX: f64 = 256.0;

/// Smallest integer `h` with `P(|X| <= h) >= confidence` for the discrete
/// distribution of mechanism `m` at `scale` (Laplace `t`, Gaussian `σ`).
pub fn ci_halfwidth(m: Mechanism, scale: Scale, confidence: f64) -> Result<u64, NoiseError> {
    check_confidence(confidence)?;
    match m {
        Mechanism::Laplace => Ok(laplace_halfwidth(scale.to_f64(), confidence)),
        Mechanism::Gaussian => Ok(gaussian_halfwidth(scale.to_f64(), confidence)),
    }
}

pub(crate) fn check_confidence(confidence: f64) -> Result<(), NoiseError> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(NoiseError::InvalidConfidence)
    }
}

/// `ln P(|X| > h)` for the discrete Laplace with scale `t`.
pub(crate) fn laplace_log_tail(t: f64, h: u64) -> f64 {
    let inv_t = 1.0 / t;
    // ln(2/(1+q)) = −ln(1 + (q−1)/2), with q − 1 = expm1(−1/t) kept precise.
    let log_two_over_one_plus_q = -((-inv_t).exp_m1() / 2.0).ln_1p();
    log_two_over_one_plus_q - ((h as f64) + 1.0) * inv_t
}

/// Smallest `h` with `P(|X| > h) <= 1 − confidence`, discrete Laplace.
pub(crate) fn laplace_halfwidth(t: f64, confidence: f64) -> u64 {
    let log_target = (-confidence).ln_1p();
    let inv_t = 1.0 / t;
    let a = -((-inv_t).exp_m1() / 2.0).ln_1p();
    // ln tail(h) = a − (h+1)/t <= log_target  <=>  h + 1 >= t·(a − log_target)
    let guess = (t * (a - log_target)).ceil() - 1.0;
    let mut h = if guess.is_finite() && guess > 0.0 {
        guess as u64
    } else {
        0
    };
    let holds = |h: u64| laplace_log_tail(t, h) <= log_target;
    // Settle the float guess onto the exact boundary. The guess is off by at
    // most a step or two; the caps only matter beyond 2^52, where f64 no
    // longer resolves single steps and the guess is as good as it gets.
    for _ in 0..64 {
        if holds(h) {
            break;
        }
        h = h.saturating_add(1);
    }
    for _ in 0..64 {
        if h == 0 || !holds(h.saturating_sub(1)) {
            break;
        }
        h = h.saturating_sub(1);
    }
    h
}

/// `P(|X| > h)` for the discrete Gaussian with parameter `σ`.
pub(crate) fn gaussian_tail(sigma: f64, h: u64) -> f64 {
    let first = (h as f64) + 1.0;
    if sigma <= DIRECT_SIGMA_MAX {
        let z = 1.0 + 2.0 * direct_tail_sum(sigma, 1.0);
        2.0 * direct_tail_sum(sigma, first) / z
    } else {
        2.0 * euler_maclaurin_tail_sum(sigma, first) / poisson_normaliser(sigma)
    }
}

/// Smallest `h` with `P(|X| > h) <= 1 − confidence`, discrete Gaussian.
pub(crate) fn gaussian_halfwidth(sigma: f64, confidence: f64) -> u64 {
    let target = 1.0 - confidence;
    if sigma <= DIRECT_SIGMA_MAX {
        return direct_halfwidth(sigma, target);
    }
    // Tails are monotone in h; beyond 39σ every term is 0 in f64.
    let mut lo: u64 = 0;
    let mut hi: u64 = (39.0 * sigma).ceil() as u64;
    if gaussian_tail(sigma, lo) <= target {
        return 0;
    }
    while hi.saturating_sub(lo) > 1 {
        let mid = lo.saturating_add(hi.saturating_sub(lo) / 2);
        if gaussian_tail(sigma, mid) <= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// `f(k) = e^{−k²/(2σ²)}`.
fn weight(sigma: f64, k: f64) -> f64 {
    (-(k * k) / (2.0 * sigma * sigma)).exp()
}

/// Last `k` whose weight is not 0 in `f64` (`k²/(2σ²) < 745`).
fn last_nonzero(sigma: f64) -> f64 {
    (39.0 * sigma).ceil()
}

/// `Σ_{k >= first} f(k)`, summed from the smallest terms up.
fn direct_tail_sum(sigma: f64, first: f64) -> f64 {
    let last = last_nonzero(sigma);
    let mut sum = 0.0;
    let mut k = last;
    while k >= first {
        sum += weight(sigma, k);
        k -= 1.0;
    }
    sum
}

/// One downward pass: the smallest `h` with `2Σ_{k>h} f(k) <= target·Z`.
fn direct_halfwidth(sigma: f64, target: f64) -> u64 {
    let z = 1.0 + 2.0 * direct_tail_sum(sigma, 1.0);
    let allowed = target * z;
    let last = last_nonzero(sigma);
    // tail = Σ_{k>h} f(k), growing as h decreases.
    let mut tail = 0.0;
    let mut h = last;
    while h >= 1.0 {
        let next_tail = tail + weight(sigma, h);
        // next_tail = Σ_{k>h−1} f(k): if it is too large, h is the answer.
        if 2.0 * next_tail > allowed {
            return h as u64;
        }
        tail = next_tail;
        h -= 1.0;
    }
    0
}

/// `Σ_{k∈ℤ} e^{−k²/(2σ²)}` for large σ via Poisson summation.
pub(crate) fn poisson_normaliser(sigma: f64) -> f64 {
    let mut correction = 0.0;
    for m in 1..4 {
        let m = f64::from(m);
        correction += (-2.0 * std::f64::consts::PI.powi(2) * sigma * sigma * m * m).exp();
    }
    sigma * (2.0 * std::f64::consts::PI).sqrt() * (1.0 + 2.0 * correction)
}

/// `Σ_{k >= a} f(k)` by Euler–Maclaurin (see the module docs for the error).
pub(crate) fn euler_maclaurin_tail_sum(sigma: f64, a: f64) -> f64 {
    let u = a / sigma;
    let fa = weight(sigma, a);
    let integral = sigma * (std::f64::consts::PI / 2.0).sqrt() * erfc(u / std::f64::consts::SQRT_2);
    let he1 = u;
    let he3 = u * u * u - 3.0 * u;
    let he5 = u.powi(5) - 10.0 * u.powi(3) + 15.0 * u;
    let corrections =
        he1 / (12.0 * sigma) - he3 / (720.0 * sigma.powi(3)) + he5 / (30240.0 * sigma.powi(5));
    integral + fa * (0.5 + corrections)
}

/// Complementary error function, relative error about `1e-15` for `x >= 0`
/// (series for `erf` below 2, Lentz's continued fraction above).
pub(crate) fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        // erf(x) = (2/√π) e^{−x²} Σ_n 2^n x^{2n+1} / (1·3·…·(2n+1)); all
        // terms positive, so no cancellation inside the sum.
        let mut term = x;
        let mut sum = x;
        let mut n = 0.0;
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * x * x / (2.0 * n + 1.0);
            sum += term;
        }
        return 1.0 - 2.0 / std::f64::consts::PI.sqrt() * (-x * x).exp() * sum;
    }
    // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))).
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for n in 1..500 {
        let a = f64::from(n) / 2.0;
        d = x + a * d;
        if d.abs() < tiny {
            d = tiny;
        }
        c = x + a / c;
        if c.abs() < tiny {
            c = tiny;
        }
        d = 1.0 / d;
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn laplace_pmf(t: f64, k: i64) -> f64 {
        let q = (-1.0 / t).exp();
        (1.0 - q) / (1.0 + q) * q.powi(k.unsigned_abs() as i32)
    }

    /// Brute force: accumulate P(|X| <= h) term by term (from the PMF) until
    /// it reaches the confidence.
    fn brute_laplace(t: f64, c: f64) -> u64 {
        let mut mass = laplace_pmf(t, 0);
        let mut h = 0;
        while mass < c {
            h += 1;
            mass += 2.0 * laplace_pmf(t, h);
        }
        h as u64
    }

    fn brute_gaussian(sigma: f64, c: f64) -> u64 {
        let z: f64 = (-40_000..=40_000).map(|k| weight(sigma, k as f64)).sum();
        let mut mass = 1.0 / z;
        let mut h = 0;
        while mass < c {
            h += 1;
            mass += 2.0 * weight(sigma, h as f64) / z;
        }
        h
    }

    #[test]
    fn erfc_matches_reference_values() {
        // Reference values to 16 digits (A&S / mpmath).
        let refs = [
            (0.0, 1.0),
            (0.1, 0.887_537_083_981_715),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_1),
            (1.9, 0.007_209_570_764_742_083),
            (2.0, 0.004_677_734_981_047_266),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_035e-12),
            (10.0, 2.088_487_583_762_545e-45),
            (26.0, 5.663_192_408_856_143e-296),
        ];
        for (x, want) in refs {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1e-13,
                "erfc({x}) = {got}, want {want}"
            );
        }
        assert!((erfc(-1.0) - (2.0 - 0.157_299_207_050_285_1)).abs() < 1e-15);
    }

    #[test]
    fn euler_maclaurin_agrees_with_direct_sums() {
        for sigma in [64.0, 100.0, 200.0, 256.0] {
            let z_direct = 1.0 + 2.0 * direct_tail_sum(sigma, 1.0);
            let z_poisson = poisson_normaliser(sigma);
            assert!(
                ((z_direct - z_poisson) / z_poisson).abs() < 1e-13,
                "Z at σ={sigma}"
            );
            for a in [
                1.0,
                0.5 * sigma,
                sigma,
                2.0 * sigma,
                5.0 * sigma,
                8.0 * sigma,
            ] {
                let a = a.ceil();
                let direct = direct_tail_sum(sigma, a);
                let em = euler_maclaurin_tail_sum(sigma, a);
                // Compare as probability mass: absolute error relative to Z.
                assert!(
                    (direct - em).abs() / z_direct < 1e-14,
                    "σ={sigma} a={a}: {direct} vs {em}"
                );
            }
        }
    }

    #[test]
    fn laplace_halfwidth_matches_brute_force() {
        for t in [0.3, 0.5, 1.0, 3.0, 10.0, 1000.0, 12345.678] {
            for c in [0.5, 0.9, 0.95, 0.99, 0.999_999] {
                assert_eq!(laplace_halfwidth(t, c), brute_laplace(t, c), "t={t} c={c}");
            }
        }
        // A smallest interval is [0,0] when P(0) alone suffices.
        assert_eq!(laplace_halfwidth(0.1, 0.99), 0);
    }

    #[test]
    fn gaussian_halfwidth_matches_brute_force() {
        for sigma in [0.2, 0.5, 1.0, 3.0, 10.0, 255.0, 300.0, 1000.0, 3333.3] {
            for c in [0.5, 0.9, 0.95, 0.99, 0.999_999] {
                assert_eq!(
                    gaussian_halfwidth(sigma, c),
                    brute_gaussian(sigma, c),
                    "σ={sigma} c={c}"
                );
            }
        }
    }

    #[test]
    fn halfwidths_are_consistent_with_tail_functions() {
        let c = 0.95;
        for sigma in [1.5, 40.0, 500.0, 1e6, 2f64.powi(48)] {
            let h = gaussian_halfwidth(sigma, c);
            assert!(gaussian_tail(sigma, h) <= 1.0 - c);
            assert!(h == 0 || gaussian_tail(sigma, h - 1) > 1.0 - c, "σ={sigma}");
            // The continuous approximation 1.96σ is close but not the answer.
            assert!((h as f64 - 1.96 * sigma).abs() < 0.01 * sigma + 2.0);
        }
        for t in [1.5, 40.0, 1e6, 2f64.powi(48)] {
            let h = laplace_halfwidth(t, c);
            assert!(laplace_log_tail(t, h) <= (-c).ln_1p());
            assert!(h == 0 || laplace_log_tail(t, h - 1) > (-c).ln_1p(), "t={t}");
        }
    }

    #[test]
    fn extreme_scales_and_confidences_terminate_with_sane_values() {
        let big = 2f64.powi(48);
        let c = 1.0 - 1e-15;
        // ln(1/(1−c)) ≈ 34.5: Laplace h ≈ 34.5·t; P(|N(0,1)| > 8.03) ≈ 1e-15.
        let h = laplace_halfwidth(big, c) as f64;
        assert!((h / big - 34.54).abs() < 0.05, "{h}");
        let h = gaussian_halfwidth(big, c) as f64;
        assert!((h / big - 8.03).abs() < 0.02, "{h}");
        assert_eq!(laplace_halfwidth(2f64.powi(-30), c), 0);
        assert_eq!(gaussian_halfwidth(2f64.powi(-30), c), 0);
    }

    #[test]
    fn public_api_validates_confidence() {
        let s = Scale::new(3, 1).unwrap();
        for bad in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            assert_eq!(
                ci_halfwidth(Mechanism::Laplace, s, bad),
                Err(NoiseError::InvalidConfidence)
            );
        }
        assert_eq!(
            ci_halfwidth(Mechanism::Laplace, s, 0.95),
            Ok(brute_laplace(3.0, 0.95))
        );
        assert_eq!(
            ci_halfwidth(Mechanism::Gaussian, s, 0.95),
            Ok(brute_gaussian(3.0, 0.95))
        );
    }
}
