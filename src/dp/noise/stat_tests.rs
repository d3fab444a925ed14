//! Statistical tests of the samplers against their exact PMFs, and the
//! structural check that the sampling path has no floating point.

/// The sampling path: every file a sample's value passes through.
const SAMPLING_SOURCES: [(&str, &str); 6] = [
    ("mod.rs", include_str!("mod.rs")),
    ("uniform.rs", include_str!("uniform.rs")),
    ("natural.rs", include_str!("natural.rs")),
    ("bernoulli.rs", include_str!("bernoulli.rs")),
    ("laplace.rs", include_str!("laplace.rs")),
    ("gaussian.rs", include_str!("gaussian.rs")),
];

/// Code with comments and string literals removed, so that documentation
/// may talk about floats while the code may not use them.
fn code_only(src: &str) -> String {
    let mut out = String::new();
    for line in src.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut in_str = false;
        let mut escaped = false;
        for ch in code.chars() {
            if in_str {
                match (escaped, ch) {
                    (false, '\\') => escaped = true,
                    (false, '"') => in_str = false,
                    _ => escaped = false,
                }
                continue;
            }
            if ch == '"' {
                in_str = true;
            } else {
                out.push(ch);
            }
        }
        out.push('\n');
    }
    out
}

#[test]
fn sampling_path_has_no_floating_point() {
    for (name, src) in SAMPLING_SOURCES {
        let code = code_only(src);
        for banned in [
            "f32", "f64", "as_f", "powf", ".sqrt(", ".exp(", ".ln(", "ln_1p", "exp_m1",
        ] {
            assert!(
                !code.contains(banned),
                "{name} uses `{banned}` on the sampling path"
            );
        }
        // Float literals: a digit, a dot, a digit (ranges `0..n` have two dots).
        let bytes = code.as_bytes();
        for i in 1..bytes.len().saturating_sub(1) {
            let is_float_literal = bytes[i] == b'.'
                && bytes[i - 1].is_ascii_digit()
                && bytes[i + 1].is_ascii_digit()
                && bytes.get(i + 2) != Some(&b'.');
            assert!(
                !is_float_literal,
                "{name} has a float literal near byte {i}"
            );
            // `1e-3`-style literals.
            let is_exp_literal = bytes[i - 1].is_ascii_digit()
                && (bytes[i] == b'e' || bytes[i] == b'E')
                && (bytes[i + 1] == b'-' || bytes[i + 1].is_ascii_digit())
                && !bytes[..i]
                    .iter()
                    .rev()
                    .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                    .any(|b| b.is_ascii_alphabetic() || *b == b'_');
            assert!(
                !is_exp_literal,
                "{name} has an exponent literal near byte {i}"
            );
        }
    }
    // The check itself must be able to fail.
    assert!(code_only("let x = 1.5;").contains("1.5"));
    assert!(code_only("let x: f64 = 2;").contains("f64"));
    assert!(!code_only("// f64 in a comment").contains("f64"));
    assert!(!code_only(r#"let s = "say \"2.5\" f64";"#).contains("2.5"));
    assert!(code_only(r#"let s = "\\"; let x = 2.5;"#).contains("2.5"));
}

// ---------------------------------------------------------------------------
// Goodness of fit of the public samplers.
//
// Every check below has a false-failure probability of at most ALPHA = 1e-6
// (per check, computed, not guessed): the chi-squared critical value is the
// exact quantile of the chi-squared distribution with the bin count's degrees
// of freedom (asymptotic in n, with every expected count >= 5); the mean and
// variance bands are z·sd with z the normal quantile at 1 − ALPHA/2 (central
// limit approximation; both distributions have all moments); tail counts use
// the Chernoff–KL bound, which holds for every n. Seeds are fixed, so CI is
// deterministic, but a correct sampler would pass any seed at these rates.
// ---------------------------------------------------------------------------

use rand_core::SeedableRng;

use super::ci::erfc;
use super::{ci_halfwidth, sample, Mechanism, Scale};

const ALPHA: f64 = 1e-6;
const SAMPLES: usize = 100_000;

/// ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; ~1e-15 relative).
fn ln_gamma(x: f64) -> f64 {
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised upper incomplete gamma Q(a, x) (series / Lentz continued
/// fraction, Numerical Recipes §6.2).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let log_prefix = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        let (mut sum, mut term, mut ap) = (1.0 / a, 1.0 / a, a);
        for _ in 0..100_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * log_prefix.exp()
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..100_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        log_prefix.exp() * h
    }
}

/// x with P(χ²_df > x) = alpha, by bisection on the survival function.
fn chi_squared_critical(df: usize, alpha: f64) -> f64 {
    let k = df as f64 / 2.0;
    let (mut lo, mut hi) = (0.0, df as f64 + 100.0 * (df as f64).sqrt() + 200.0);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if gamma_q(k, mid / 2.0) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// z with P(|N(0,1)| > z) = alpha.
fn normal_two_sided_critical(alpha: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, 40.0);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if erfc(mid / std::f64::consts::SQRT_2) > alpha {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Kullback–Leibler divergence between Bernoulli(q) and Bernoulli(p).
fn kl(q: f64, p: f64) -> f64 {
    let term = |a: f64, b: f64| if a == 0.0 { 0.0 } else { a * (a / b).ln() };
    term(q, p) + term(1.0 - q, 1.0 - p)
}

/// Counts outside [lo, hi] have probability at most alpha/2 on each side
/// for Binomial(n, p), by the Chernoff bound P(p̂ >= q) <= exp(−n·KL(q‖p)).
fn binomial_band(n: usize, p: f64, alpha: f64) -> (f64, f64) {
    let target = (2.0 / alpha).ln() / n as f64;
    let solve = |mut a: f64, mut b: f64| {
        // KL(·‖p) grows monotonically away from p: `a` stays inside the
        // band (starting at p), `b` outside; bisect for KL = target.
        for _ in 0..200 {
            let mid = (a + b) / 2.0;
            if kl(mid, p) < target {
                a = mid;
            } else {
                b = mid;
            }
        }
        (a + b) / 2.0
    };
    let hi = solve(p, 1.0);
    let lo = if kl(0.0, p) < target {
        0.0
    } else {
        solve(p, 0.0)
    };
    (lo * n as f64, hi * n as f64)
}

#[test]
fn critical_values_match_published_tables() {
    // Standard tables: χ²(10) upper 0.001 = 29.588, χ²(100) = 149.449,
    // χ²(1) upper 1e-6 = 23.928; normal two-sided 1e-6: z = 4.8916.
    assert!((chi_squared_critical(10, 1e-3) - 29.588).abs() < 1e-3);
    assert!((chi_squared_critical(100, 1e-3) - 149.449).abs() < 1e-3);
    assert!((chi_squared_critical(1, 1e-6) - 23.928).abs() < 1e-3);
    assert!((normal_two_sided_critical(1e-6) - 4.8916).abs() < 1e-4);
    assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-12);
    // Chernoff band contains the mean and is wider than a 4.89-sigma band.
    let (lo, hi) = binomial_band(100_000, 0.01, 1e-6);
    let sd = (1000.0f64 * 0.99).sqrt();
    assert!(
        lo < 1000.0 - 4.89 * sd && hi > 1000.0 + 4.89 * sd,
        "[{lo}, {hi}]"
    );
    assert!(
        lo > 1000.0 - 7.0 * sd && hi < 1000.0 + 7.0 * sd,
        "[{lo}, {hi}]"
    );
}

/// Exact PMF on [-range, range] (mass outside is below 1e-15 for the ranges
/// used) with the moments the checks need.
struct Pmf {
    range: i64,
    p: Vec<f64>,
}

impl Pmf {
    fn laplace(t: f64) -> Pmf {
        let range = (40.0 * t).ceil() as i64 + 5;
        let q = (-1.0 / t).exp();
        let c = -(-1.0 / t).exp_m1() / (1.0 + q);
        let p = (-range..=range)
            .map(|k| c * (-(k.unsigned_abs() as f64) / t).exp())
            .collect();
        Pmf { range, p }
    }

    fn gaussian(sigma: f64) -> Pmf {
        let range = (40.0 * sigma).ceil() as i64 + 5;
        let w: Vec<f64> = (-range..=range)
            .map(|k| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp())
            .collect();
        let z: f64 = w.iter().sum();
        Pmf {
            range,
            p: w.into_iter().map(|x| x / z).collect(),
        }
    }

    fn at(&self, k: i64) -> f64 {
        if k.abs() > self.range {
            0.0
        } else {
            self.p[(k + self.range) as usize]
        }
    }

    fn moment(&self, power: i32) -> f64 {
        (-self.range..=self.range)
            .map(|k| (k as f64).powi(power) * self.at(k))
            .sum()
    }

    fn tail_beyond(&self, h: u64) -> f64 {
        (-self.range..=self.range)
            .filter(|k| k.unsigned_abs() > h)
            .map(|k| self.at(k))
            .sum()
    }
}

/// Bins over [-range, range], left to right, each with expected count
/// >= max(5, n/200); the tails beyond the range go to the end bins.
fn bins(pmf: &Pmf, n: usize) -> Vec<(i64, i64, f64)> {
    let min_mass = (5.0 / n as f64).max(1.0 / 200.0);
    let mut out: Vec<(i64, i64, f64)> = Vec::new();
    let mut start = -pmf.range;
    let mut mass = 0.0;
    for k in -pmf.range..=pmf.range {
        mass += pmf.at(k);
        if mass >= min_mass {
            out.push((start, k, mass));
            start = k + 1;
            mass = 0.0;
        }
    }
    if let Some(last) = out.last_mut() {
        last.1 = pmf.range;
        last.2 += mass;
    }
    let first = out.first_mut().unwrap();
    first.0 = i64::MIN;
    out.last_mut().unwrap().1 = i64::MAX;
    out
}

/// Pearson's statistic over [`bins`] and the number of bins.
fn chi_squared_statistic(pmf: &Pmf, samples: &[i64]) -> (f64, usize) {
    let n = samples.len() as f64;
    let bins = bins(pmf, samples.len());
    let mut observed = vec![0u64; bins.len()];
    for x in samples {
        observed[bins.partition_point(|b| b.1 < *x)] += 1;
    }
    let stat = bins
        .iter()
        .zip(&observed)
        .map(|(b, o)| {
            let e = b.2 * n;
            assert!(e >= 5.0);
            (*o as f64 - e).powi(2) / e
        })
        .sum();
    (stat, bins.len())
}

fn check_distribution(m: Mechanism, scale_text: &str, seed: u64) {
    let scale = Scale::parse_decimal(scale_text).unwrap();
    let s = scale.to_f64();
    let pmf = match m {
        Mechanism::Laplace => Pmf::laplace(s),
        Mechanism::Gaussian => Pmf::gaussian(s),
    };
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let samples: Vec<i64> = (0..SAMPLES)
        .map(|_| sample(m, scale, &mut rng).unwrap())
        .collect();
    let n = SAMPLES as f64;
    let what = format!("{m:?} scale {scale_text}");

    // Chi-squared goodness of fit.
    let (stat, bin_count) = chi_squared_statistic(&pmf, &samples);
    let critical = chi_squared_critical(bin_count - 1, ALPHA);
    assert!(
        stat < critical,
        "{what}: χ² = {stat:.1} >= {critical:.1} ({bin_count} bins)"
    );
    eprintln!("{what}: χ² = {stat:.1} < {critical:.1} with {bin_count} bins");

    // Mean and variance (mean is 0 by symmetry).
    let z = normal_two_sided_critical(ALPHA);
    let var = pmf.moment(2);
    let m4 = pmf.moment(4);
    let mean = samples.iter().map(|x| *x as f64).sum::<f64>() / n;
    assert!(pmf.moment(1).abs() < 1e-9 * var.sqrt().max(1.0));
    assert!(
        mean.abs() <= z * (var / n).sqrt(),
        "{what}: mean {mean} (var {var})"
    );
    let second = samples.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / n;
    let band = z * ((m4 - var * var) / n).sqrt();
    assert!(
        (second - var).abs() <= band,
        "{what}: E[X²] {second} vs {var} ± {band}"
    );
    eprintln!(
        "{what}: mean {mean:.4} (band ±{:.4}), E[X²] {second:.3} vs {var:.3} ± {band:.3}",
        z * (var / n).sqrt()
    );

    // Tail mass beyond ci_halfwidth, and that halfwidth's exactness.
    for c in [0.9, 0.99] {
        let h = ci_halfwidth(m, scale, c).unwrap();
        let p_out = pmf.tail_beyond(h);
        assert!(
            p_out <= 1.0 - c + 1e-12,
            "{what}: P(|X|>{h}) = {p_out} > {}",
            1.0 - c
        );
        assert!(
            h == 0 || pmf.tail_beyond(h - 1) > 1.0 - c,
            "{what}: h={h} not minimal"
        );
        let out = samples.iter().filter(|x| x.unsigned_abs() > h).count() as f64;
        let (lo, hi) = binomial_band(SAMPLES, p_out, ALPHA);
        assert!(
            lo <= out && out <= hi,
            "{what}: {out} beyond {h}, expected [{lo:.0}, {hi:.0}]"
        );
        eprintln!("{what}: {c} halfwidth {h}: {out} of {SAMPLES} beyond (band [{lo:.0}, {hi:.0}])");
    }
}

#[test]
fn laplace_scale_0_5() {
    check_distribution(Mechanism::Laplace, "0.5", 101);
}

#[test]
fn laplace_scale_1() {
    check_distribution(Mechanism::Laplace, "1", 102);
}

#[test]
fn laplace_scale_3() {
    check_distribution(Mechanism::Laplace, "3", 103);
}

#[test]
fn laplace_scale_10() {
    check_distribution(Mechanism::Laplace, "10", 104);
}

#[test]
fn laplace_scale_1000() {
    check_distribution(Mechanism::Laplace, "1000", 105);
}

#[test]
fn gaussian_sigma_0_5() {
    check_distribution(Mechanism::Gaussian, "0.5", 201);
}

#[test]
fn gaussian_sigma_1() {
    check_distribution(Mechanism::Gaussian, "1", 202);
}

#[test]
fn gaussian_sigma_3() {
    check_distribution(Mechanism::Gaussian, "3", 203);
}

#[test]
fn gaussian_sigma_10() {
    check_distribution(Mechanism::Gaussian, "10", 204);
}

#[test]
fn gaussian_sigma_1000() {
    check_distribution(Mechanism::Gaussian, "1000", 205);
}

/// A σ whose acceptance test runs on the 512-bit path.
#[test]
fn gaussian_sigma_with_wide_arithmetic() {
    check_distribution(Mechanism::Gaussian, "3.141592653589", 206);
}

/// The checks have power: samples at scale 10.5 fail the scale-10 test.
#[test]
fn chi_squared_rejects_a_five_percent_scale_error() {
    let scale = Scale::parse_decimal("10.5").unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let samples: Vec<i64> = (0..SAMPLES)
        .map(|_| sample(Mechanism::Laplace, scale, &mut rng).unwrap())
        .collect();
    let (wrong, bins) = chi_squared_statistic(&Pmf::laplace(10.0), &samples);
    assert!(
        wrong > chi_squared_critical(bins - 1, ALPHA),
        "χ² = {wrong}"
    );
    let (right, bins) = chi_squared_statistic(&Pmf::laplace(10.5), &samples);
    assert!(
        right < chi_squared_critical(bins - 1, ALPHA),
        "χ² = {right}"
    );
}

/// The round caps rest on these acceptance bounds (see `laplace.rs` and
/// `gaussian.rs`); check them from the exact formulas over a wide grid of
/// scales, including values just below and at integers where `t` jumps.
#[test]
fn rejection_rounds_accept_often_enough_for_their_caps() {
    let mut scales: Vec<f64> = (-60..=80).map(|i| 10f64.powf(i as f64 / 20.0)).collect();
    for k in 1..=20 {
        scales.extend([k as f64 - 1e-9, k as f64, k as f64 + 1e-9]);
    }
    let mut worst_gauss = f64::INFINITY;
    let mut worst_lap = f64::INFINITY;
    for &s in &scales {
        // Gaussian: Z(σ)·e^{−σ²/(2t²)}·(1 − q)/(1 + q), q = e^{−1/t}, t = ⌊σ⌋ + 1.
        let t = s.floor() + 1.0;
        let q = (-1.0 / t).exp();
        let z = if s <= super::ci::DIRECT_SIGMA_MAX {
            1.0 + 2.0
                * (1..=(40.0 * s).ceil() as i64 + 2)
                    .map(|k| (-((k * k) as f64) / (2.0 * s * s)).exp())
                    .sum::<f64>()
        } else {
            super::ci::poisson_normaliser(s)
        };
        let gauss = z * (-s * s / (2.0 * t * t)).exp() * (1.0 - q) / (1.0 + q);
        worst_gauss = worst_gauss.min(gauss);
        // Laplace with integer numerator `num` (any den): E[e^{−U/num}] for U
        // uniform below num, times P(not (negative and Y = 0)) >= 1/2.
        for num in [1.0f64, 2.0, 3.0, 10.0, 1e6, 1e12] {
            let keep_u = (-(-1.0f64).exp_m1()) / (num * -(-1.0 / num).exp_m1());
            worst_lap = worst_lap.min(keep_u * 0.5);
        }
    }
    assert!(worst_gauss > 0.44, "Gaussian acceptance {worst_gauss}");
    assert!(worst_lap > 0.31, "Laplace round acceptance {worst_lap}");
    eprintln!("worst acceptance: Gaussian {worst_gauss:.4}, Laplace round {worst_lap:.4}");
}
