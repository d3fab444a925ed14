//! Exact noise for differential privacy: samplers, randomness, accuracy
//! reporting and calibration.
//!
//! # What is sampled
//!
//! - [`sample_discrete_laplace`]`(t)` returns `k ∈ ℤ` with
//!   `P(k) = (1 − e^{−1/t}) / (1 + e^{−1/t}) · e^{−|k|/t}` (the discrete
//!   Laplace, a.k.a. two-sided geometric, distribution with scale `t`).
//!   With `t = Δ/ε` it is ε-DP for L1 sensitivity `Δ` ([`laplace_scale_for`]).
//! - [`sample_discrete_gaussian`]`(σ)` returns `k ∈ ℤ` with
//!   `P(k) = e^{−k²/(2σ²)} / Σ_{j∈ℤ} e^{−j²/(2σ²)}` (the discrete Gaussian
//!   `N_ℤ(0, σ²)`; its variance is slightly *below* `σ²`). It is
//!   `Δ₂²/(2σ²)`-zCDP ([`gaussian_sigma_for_rho`]).
//!
//! Scales are exact positive rationals ([`Scale`], e.g. parsed from `"2.5"`),
//! up to [`MAX_SAMPLER_SCALE`].
//!
//! Both samplers follow Canonne, Kamath and Steinke, "The Discrete Gaussian
//! for Differential Privacy" (NeurIPS 2020), Algorithms 1–3:
//!
//! - Algorithm 1, `Bernoulli(e^{−γ})` for rational `γ = a/b` (`bernoulli.rs`):
//!   only `Bernoulli(a/(b·k))` coins, each one exact uniform integer compared
//!   with `a`.
//! - Algorithm 2, the discrete Laplace with rational scale (`laplace.rs`).
//! - Algorithm 3, the discrete Gaussian with rational `σ = n/d`
//!   (`gaussian.rs`): proposals from the discrete Laplace with integer scale
//!   `t = ⌊σ⌋ + 1`, accepted with probability `exp(−(|y| − σ²/t)² / (2σ²))`
//!   computed exactly as a ratio of integers.
//!
//! Each file states why its output has exactly the stated distribution.
//!
//! # Why the output is exact
//!
//! The only source of randomness is the generator's words, read as uniform
//! bits. Every random decision is a uniform integer below a bound, drawn by
//! rejection (`uniform.rs`: masked bits from a pooled word for bounds up to
//! `2^32`, Lemire's multiply-and-reject or masked words above), never by a
//! biased modulo, or a comparison of such an integer with an exact
//! numerator. All arithmetic is on `u64`, `u128` or a fixed-width 512-bit
//! integer (`natural.rs`) that holds every intermediate for `u64`
//! numerators and denominators; every operation is checked, and a value that
//! would not fit returns [`NoiseError::Overflow`] instead of rounding.
//!
//! The sampling path (this file, `uniform.rs`, `natural.rs`, `bernoulli.rs`,
//! `laplace.rs`, `gaussian.rs`) contains no floating-point type, method or
//! literal at all, tests included; a test scans those sources to keep it that
//! way. Floating point, which Mironov (CCS 2012) showed leaks the secret
//! through the low bits of textbook Laplace noise, appears only in
//! [`ci_halfwidth`] and the calibration helpers, which report accuracy and
//! suggest parameters and never touch a sample.
//!
//! # Bounded loops
//!
//! Rejection sampling can in principle loop forever. Every loop here has a
//! cap chosen so that reaching it has probability below `2^-250` per sample
//! (the bound is stated at each cap). Reaching a cap returns
//! [`NoiseError::IterationLimit`]: the caller fails closed and releases
//! nothing. Conditioned on success the output distribution differs from the
//! exact one by at most that probability in total variation.
//!
//! # Randomness
//!
//! Production noise comes from [`NoiseRng`]: ChaCha20 seeded from the host
//! (`getrandom`, WASI `random_get` on `wasm32-wasip1`) and rekeyed every
//! [`RESEED_INTERVAL_BYTES`]. The samplers are generic over
//! `rand_core::RngCore`, so tests use seeded generators.
//!
//! # Timing
//!
//! The samplers are not constant-time: the number of random words consumed
//! depends on the sample. Releases happen once per window, not per record, so
//! the host does not expose per-sample timing to an observer.

mod bernoulli;
mod calibrate;
mod ci;
mod gaussian;
mod laplace;
mod natural;
mod rng;
mod scale;
mod uniform;

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod exact_tests;
#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod stat_tests;

use std::fmt;

pub use calibrate::{
    epsilon_for_halfwidth, gaussian_sigma_for_rho, laplace_scale_for, rho_for_epsilon,
    zcdp_to_approx_dp_epsilon,
};
pub use ci::ci_halfwidth;
pub use gaussian::sample_discrete_gaussian;
pub use laplace::sample_discrete_laplace;
pub use rng::{NoiseRng, RESEED_INTERVAL_BYTES};
pub use scale::{Scale, MAX_SAMPLER_SCALE};

/// Which noise distribution a release uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mechanism {
    /// Discrete Laplace, `P(k) ∝ exp(−|k|/scale)`; pure ε-DP.
    Laplace,
    /// Discrete Gaussian, `P(k) ∝ exp(−k²/(2σ²))`; ρ-zCDP.
    Gaussian,
}

/// Why noise could not be drawn or a parameter could not be computed.
///
/// Variants carry only static reasons, never a sample, a seed or a value
/// derived from data, so they may be printed by any host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoiseError {
    /// A scale needs a positive numerator and denominator.
    InvalidScale,
    /// Text given as a decimal scale is not a plain positive decimal number.
    InvalidDecimal,
    /// The scale exceeds [`MAX_SAMPLER_SCALE`]; samples could leave `i64`.
    ScaleTooLarge,
    /// An exact intermediate value did not fit its integer type.
    Overflow,
    /// A rejection loop reached its cap (probability below `2^-250`).
    IterationLimit,
    /// The operating system (or WASI host) did not provide entropy.
    Entropy,
    /// A confidence level must lie strictly between 0 and 1.
    InvalidConfidence,
    /// A calibration argument is out of range; the text names which one.
    InvalidArgument(&'static str),
}

impl fmt::Display for NoiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoiseError::InvalidScale => {
                f.write_str("noise scale must have a positive numerator and denominator")
            }
            NoiseError::InvalidDecimal => {
                f.write_str("expected a positive decimal number such as \"2.5\"")
            }
            NoiseError::ScaleTooLarge => f.write_str("noise scale exceeds 2^48"),
            NoiseError::Overflow => f.write_str("exact noise arithmetic overflowed"),
            NoiseError::IterationLimit => {
                f.write_str("noise sampler reached its iteration cap; nothing released")
            }
            NoiseError::Entropy => f.write_str("no entropy available from the host"),
            NoiseError::InvalidConfidence => {
                f.write_str("confidence must be strictly between 0 and 1")
            }
            NoiseError::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
        }
    }
}

impl std::error::Error for NoiseError {}

/// Draws one sample of mechanism `m` with the given scale (the Laplace scale
/// `t`, or the Gaussian `σ`).
pub fn sample<R: rand_core::RngCore + ?Sized>(
    m: Mechanism,
    scale: Scale,
    rng: &mut R,
) -> Result<i64, NoiseError> {
    match m {
        Mechanism::Laplace => sample_discrete_laplace(scale, rng),
        Mechanism::Gaussian => sample_discrete_gaussian(scale, rng),
    }
}
