//! Privacy accounting: how spends compose within a budget period.
//!
//! # Amounts
//! All spent amounts are exact integers, so that no sequence of spends can
//! drift past the budget through rounding:
//! - epsilon (pure DP) and rho (zCDP) in nano units (`1e-9`), `u64`;
//! - delta in atto units (`1e-18`), `u64`.
//!
//! Policy numbers are parsed from their decimal text into these units exactly
//! ([`parse_fixed`]); a value that is not a whole number of units is a policy
//! error, not a rounding.
//!
//! # Composition rule
//! A period's spends are kept as exact sums: `E` (pure epsilon: Laplace
//! releases and the epsilon of partition selection), of which `E_L` comes
//! from Laplace releases, `Q` (the sum of `eps_i^2 / 2` over those Laplace
//! releases), `D` (delta of partition selection) and `R` (rho of Gaussian
//! releases). Two bounds on the period's loss are valid at once, and the
//! smaller is used:
//!
//! ```text
//!   route 1:  (E + eps_zcdp(R, delta_B - D),                delta_B)-DP
//!   route 2:  (E - E_L + eps_zcdp(R + Q, delta_B - D),      delta_B)-DP
//! ```
//!
//! where `eps_zcdp(r, d)` converts `r`-zCDP to `(eps, d)`-DP (Canonne, Kamath
//! & Steinke 2020, Cor. 13; at most the classic `r + 2 sqrt(r ln(1/d))` of
//! Bun & Steinke 2016, Prop. 1.3). A spend is admitted only if, with it
//! added, the smaller bound is at most `epsilon_B` (`D <= delta_B` always).
//!
//! Why both are valid: Gaussian releases compose to `R`-zCDP (Bun & Steinke
//! 2016, Lemma 2.3, adaptively); a pure `eps`-DP release is also
//! `eps^2/2`-zCDP (ibid., Prop. 1.4), so all releases together are
//! `(R + Q)`-zCDP; pure and approximate-DP mechanisms compose by basic
//! composition (Dwork et al. 2006; adaptively, Dwork, Rothblum & Vadhan
//! 2010); `r`-zCDP implies `(eps_zcdp(r, d), d)`-DP for every `d > 0`; and
//! the groups, although interleaved in time, compose like sequential
//! mechanisms (concurrent composition: Vadhan & Wang 2021, Lyu 2022). Both
//! bounds grow with every spend, and every admitted spend checks the *whole*
//! period total after it, so the final state of a period satisfies the rule.
//!
//! Which route wins: few, larger Laplace releases compose better linearly
//! (20 x 0.05 at delta 1e-6: 1.0 linearly, 1.014 via zCDP); many small ones
//! via zCDP (100 x 0.05: 5.0 linearly, 2.42 via zCDP). Partition selection is
//! `(eps, delta)`-DP, not zCDP, so it always adds linearly.
//!
//! The float conversion `eps_zcdp` is recomputed from the exact totals at each
//! check (no accumulation of float error) and rounded *up* to the next nano
//! with a relative margin of 1e-12.

use serde::{Deserialize, Serialize};

/// Units per 1.0 of epsilon or rho.
pub const NANO: u64 = 1_000_000_000;
/// Units per 1.0 of delta.
pub const ATTO: u64 = 1_000_000_000_000_000_000;

/// An amount of privacy loss (a cost, or a period's spent total).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivacyCost {
    /// Pure-DP epsilon (Laplace releases and partition selection), in units
    /// of 1e-9.
    pub epsilon_nano: u64,
    /// zCDP rho of Gaussian releases, in units of 1e-9.
    pub rho_nano: u64,
    /// Delta of partition selection, in units of 1e-18.
    pub delta_atto: u64,
    /// The part of `epsilon_nano` spent by Laplace releases (pure DP without
    /// delta), which may alternatively be accounted as zCDP.
    pub laplace_epsilon_nano: u64,
    /// Sum of `eps^2 / 2` over those Laplace releases (their zCDP rho), in
    /// units of 1e-18, each term rounded up; saturates (which only makes the
    /// zCDP route looser).
    pub laplace_rho_atto: u64,
}

impl PrivacyCost {
    /// The cost of a Laplace release with this epsilon.
    pub fn laplace(epsilon_nano: u64) -> PrivacyCost {
        let sq = u128::from(epsilon_nano).saturating_mul(u128::from(epsilon_nano));
        let half_up = sq.saturating_add(1).checked_div(2).unwrap_or(u128::MAX);
        PrivacyCost {
            epsilon_nano,
            laplace_epsilon_nano: epsilon_nano,
            laplace_rho_atto: u64::try_from(half_up).unwrap_or(u64::MAX),
            ..PrivacyCost::default()
        }
    }

    /// The cost of a Gaussian release with this rho.
    pub fn gaussian(rho_nano: u64) -> PrivacyCost {
        PrivacyCost {
            rho_nano,
            ..PrivacyCost::default()
        }
    }

    /// The cost of an `(epsilon, delta)`-DP partition selection.
    pub fn selection(epsilon_nano: u64, delta_atto: u64) -> PrivacyCost {
        PrivacyCost {
            epsilon_nano,
            delta_atto,
            ..PrivacyCost::default()
        }
    }

    pub fn checked_add(&self, other: &PrivacyCost) -> Option<PrivacyCost> {
        Some(PrivacyCost {
            epsilon_nano: self.epsilon_nano.checked_add(other.epsilon_nano)?,
            rho_nano: self.rho_nano.checked_add(other.rho_nano)?,
            delta_atto: self.delta_atto.checked_add(other.delta_atto)?,
            laplace_epsilon_nano: self
                .laplace_epsilon_nano
                .checked_add(other.laplace_epsilon_nano)?,
            laplace_rho_atto: self.laplace_rho_atto.saturating_add(other.laplace_rho_atto),
        })
    }

    pub fn is_zero(&self) -> bool {
        *self == PrivacyCost::default()
    }
}

/// The per-period budget of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PeriodBudget {
    pub epsilon_nano: u64,
    pub delta_atto: u64,
    /// Period length; periods are `[k * period_secs, (k + 1) * period_secs)`
    /// in unix seconds (aligned to UTC epoch multiples).
    pub period_secs: i64,
}

/// What is left of a period's budget after its current spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remaining {
    /// Start of the period these numbers belong to (unix seconds).
    pub period_start: i64,
    /// The period's spent totals.
    pub spent: PrivacyCost,
    /// `epsilon_B` minus the period's composed epsilon, floored to nano.
    pub epsilon_nano: u64,
    /// `delta_B - D`: the delta not used by partition selection.
    pub delta_atto: u64,
}

/// The composed epsilon (nano, rounded up) of a period's totals: the
/// smaller of the two valid bounds (module docs), or `None` if neither is
/// feasible (delta exhausted while some zCDP is in play, or overflow).
pub fn composed_epsilon_nano(budget: &PeriodBudget, spent: &PrivacyCost) -> Option<u64> {
    let delta_left = budget.delta_atto.checked_sub(spent.delta_atto)?;
    // Route 1: Laplace linear, Gaussian via zCDP.
    let linear = spent.epsilon_nano.checked_add(zcdp_epsilon_nano(
        spent.rho_nano as f64 / NANO as f64,
        delta_left,
    )?);
    // Route 2: Laplace and Gaussian both via zCDP; selection linear.
    let rho = spent.rho_nano as f64 / NANO as f64 + spent.laplace_rho_atto as f64 / ATTO as f64;
    let quadratic = spent
        .epsilon_nano
        .checked_sub(spent.laplace_epsilon_nano)
        .and_then(|pure| pure.checked_add(zcdp_epsilon_nano(rho, delta_left)?));
    match (linear, quadratic) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `eps_zcdp(rho, delta)` in nano, rounded up with a relative margin; 0 for
/// `rho = 0`; `None` if infeasible.
fn zcdp_epsilon_nano(rho: f64, delta_atto: u64) -> Option<u64> {
    if rho == 0.0 {
        return Some(0);
    }
    if delta_atto == 0 {
        return None;
    }
    let eps = zcdp_epsilon(rho, delta_atto as f64 / ATTO as f64);
    if !eps.is_finite() || eps < 0.0 {
        return None;
    }
    let nano = (eps * NANO as f64 * (1.0 + 1e-12)).ceil();
    if nano >= u64::MAX as f64 {
        return None;
    }
    (nano as u64).checked_add(1)
}

/// `rho`-zCDP to `(eps, delta)`-DP: the conversion of Canonne, Kamath &
/// Steinke 2020 (Cor. 13), never worse than Bun & Steinke 2016 (Prop. 1.3).
fn zcdp_epsilon(rho: f64, delta: f64) -> f64 {
    crate::dp::noise::zcdp_to_approx_dp_epsilon(rho, delta)
}

/// Whether a period whose totals are `spent` is within `budget`.
pub fn within_budget(budget: &PeriodBudget, spent: &PrivacyCost) -> bool {
    composed_epsilon_nano(budget, spent).is_some_and(|eps| eps <= budget.epsilon_nano)
}

/// The remaining budget of a period with totals `spent`.
pub fn remaining(budget: &PeriodBudget, spent: &PrivacyCost, period_start: i64) -> Remaining {
    let eps = composed_epsilon_nano(budget, spent).unwrap_or(u64::MAX);
    Remaining {
        period_start,
        spent: *spent,
        epsilon_nano: budget.epsilon_nano.saturating_sub(eps),
        delta_atto: budget.delta_atto.saturating_sub(spent.delta_atto),
    }
}

/// Parses a non-negative decimal (`1`, `0.05`, `1e-6`, `2.5E+3`) into an
/// integer number of `1/unit` units, exactly. `unit` must be a power of ten.
/// Returns `None` if the text is not such a decimal, is negative, has more
/// precision than the unit allows, or overflows `u64`.
pub fn parse_fixed(text: &str, unit: u64) -> Option<u64> {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => {
            let (m, e) = text.split_at(i);
            let e = e.get(1..)?;
            let e = e.strip_prefix('+').unwrap_or(e);
            if e.is_empty() || e.len() > 4 {
                return None;
            }
            (m, e.parse::<i32>().ok()?)
        }
        None => (text, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty()
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if mantissa.contains('.') && frac_part.is_empty() {
        return None;
    }
    // digits * 10^(exp - frac_len) * unit, with unit = 10^unit_digits.
    let unit_digits = i32::try_from(unit.checked_ilog10()?).ok()?;
    if 10u64.checked_pow(unit_digits.unsigned_abs())? != unit {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    let frac_len = i32::try_from(frac_part.len()).ok()?;
    let mut shift = exp.checked_sub(frac_len)?.checked_add(unit_digits)?;
    let mut digits = digits.to_owned();
    // Drop trailing zeros while the shift is negative (exactness check).
    while shift < 0 {
        if digits.is_empty() {
            return Some(0);
        }
        if !digits.ends_with('0') {
            return None;
        }
        digits.pop();
        shift = shift.checked_add(1)?;
    }
    if digits.is_empty() {
        return Some(0);
    }
    if digits.len() > 20 || shift > 20 {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    value.checked_mul(10u64.checked_pow(shift.unsigned_abs())?)
}

/// Formats an integer amount of `1/unit` units as a decimal without trailing
/// zeros (`50_000_000` nano -> `0.05`).
pub fn format_fixed(value: u64, unit: u64) -> String {
    let int = value.checked_div(unit).unwrap_or(0);
    let frac = value.checked_rem(unit).unwrap_or(0);
    if frac == 0 {
        return int.to_string();
    }
    let width = usize::try_from(unit.checked_ilog10().unwrap_or(0)).unwrap_or(0);
    let frac = format!("{frac:0width$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_parsing_is_exact() {
        assert_eq!(parse_fixed("1", NANO), Some(NANO));
        assert_eq!(parse_fixed("1.0", NANO), Some(NANO));
        assert_eq!(parse_fixed("0.05", NANO), Some(50_000_000));
        assert_eq!(parse_fixed("0.000000001", NANO), Some(1));
        assert_eq!(parse_fixed("1e-6", ATTO), Some(1_000_000_000_000));
        assert_eq!(parse_fixed("2.5E+3", NANO), Some(2_500 * NANO));
        assert_eq!(parse_fixed("1.5e-9", ATTO), Some(1_500_000_000));
        assert_eq!(parse_fixed("0", NANO), Some(0));
        assert_eq!(parse_fixed("0.0e-30", NANO), Some(0));
        assert_eq!(parse_fixed("10.100", NANO), Some(10_100_000_000));
        for bad in [
            "",
            "-1",
            "0.0000000001",
            "1e-10",
            ".5",
            "5.",
            "1e",
            "abc",
            "1e99999",
            "1.2.3",
            "99999999999999",
        ] {
            assert_eq!(parse_fixed(bad, NANO), None, "{bad}");
        }
    }

    #[test]
    fn fixed_point_formatting() {
        assert_eq!(format_fixed(50_000_000, NANO), "0.05");
        assert_eq!(format_fixed(NANO, NANO), "1");
        assert_eq!(format_fixed(1, NANO), "0.000000001");
        assert_eq!(format_fixed(1_000_000_000_000, ATTO), "0.000001");
        for v in [0, 1, 7, 1_234_567_891, 50_000_000] {
            assert_eq!(parse_fixed(&format_fixed(v, NANO), NANO), Some(v));
        }
    }

    fn budget() -> PeriodBudget {
        PeriodBudget {
            epsilon_nano: NANO,
            delta_atto: 1_000_000_000_000,
            period_secs: 86_400,
        }
    }

    #[test]
    fn pure_epsilon_composes_exactly() {
        let b = budget();
        let spent = PrivacyCost {
            epsilon_nano: NANO,
            ..Default::default()
        };
        assert!(within_budget(&b, &spent));
        let over = PrivacyCost {
            epsilon_nano: NANO + 1,
            ..Default::default()
        };
        assert!(!within_budget(&b, &over));
        let r = remaining(
            &b,
            &PrivacyCost {
                epsilon_nano: 300_000_000,
                ..Default::default()
            },
            0,
        );
        assert_eq!(r.epsilon_nano, 700_000_000);
    }

    /// The CKS conversion minimised by brute force over alpha (independent
    /// of the noise module's minimiser).
    fn cks(rho: f64, delta: f64) -> f64 {
        (1..200_000)
            .map(|i| 1.0 + i as f64 * 1e-3)
            .map(|a: f64| {
                a * rho
                    + ((1.0 / delta).ln() + (a - 1.0) * (1.0 - 1.0 / a).ln() - a.ln()) / (a - 1.0)
            })
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    fn many_small_laplace_releases_use_the_zcdp_route() {
        let b = PeriodBudget {
            epsilon_nano: 3 * NANO,
            ..budget()
        };
        let one = PrivacyCost::laplace(50_000_000);
        assert_eq!(one.laplace_rho_atto, 1_250_000_000_000_000); // 0.05^2 / 2
        let mut spent = PrivacyCost::default();
        for _ in 0..100 {
            spent = spent.checked_add(&one).unwrap();
        }
        // Linearly 5.0; via zCDP rho = 0.125 -> about 2.42.
        let eps = composed_epsilon_nano(&b, &spent).unwrap() as f64 / 1e9;
        assert!((eps - cks(0.125, 1e-6)).abs() < 1e-6, "{eps}");
        assert!(within_budget(&b, &spent));
        assert!(!within_budget(
            &PeriodBudget {
                epsilon_nano: 2 * NANO,
                ..b
            },
            &spent
        ));
        // Partition selection stays linear on top of the zCDP route.
        let with_ps = spent
            .checked_add(&PrivacyCost::selection(100_000_000, 100_000_000_000))
            .unwrap();
        let eps2 = composed_epsilon_nano(&b, &with_ps).unwrap() as f64 / 1e9;
        assert!((eps2 - 0.1 - cks(0.125, 0.9e-6)).abs() < 1e-6, "{eps2}");
        // A single release: linear is tighter, and is what is reported.
        assert_eq!(composed_epsilon_nano(&b, &one), Some(50_000_000));
    }

    #[test]
    fn zcdp_pot_converts_with_remaining_delta() {
        let b = budget();
        // rho = 0.01 at delta 1e-6: the Canonne-Kamath-Steinke conversion,
        // minimised here by brute force over alpha, below the classic
        // 0.01 + 2 sqrt(0.01 ln 1e6) = 0.7532.
        let spent = PrivacyCost {
            rho_nano: 10_000_000,
            ..Default::default()
        };
        let eps = composed_epsilon_nano(&b, &spent).unwrap();
        let (rho, delta) = (0.01f64, 1e-6f64);
        let cks = (1..200_000)
            .map(|i| 1.0 + i as f64 * 1e-3)
            .map(|a: f64| {
                a * rho
                    + ((1.0 / delta).ln() + (a - 1.0) * (1.0 - 1.0 / a).ln() - a.ln()) / (a - 1.0)
            })
            .fold(f64::INFINITY, f64::min);
        let classic = rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt();
        assert!(cks < classic);
        assert!((eps as f64 / 1e9 - cks).abs() < 1e-6, "{eps} vs {cks}");
        assert!(eps as f64 / 1e9 >= cks - 1e-9);
        // Mixed: adding pure epsilon adds linearly.
        let mixed = PrivacyCost {
            epsilon_nano: 200_000_000,
            ..spent
        };
        assert_eq!(
            composed_epsilon_nano(&b, &mixed).unwrap(),
            eps + 200_000_000
        );
        assert!(within_budget(&b, &mixed));
        let too_much = PrivacyCost {
            epsilon_nano: 400_000_000,
            ..spent
        };
        assert!(!within_budget(&b, &too_much));
        // Using delta for partition selection leaves less for the conversion.
        let with_delta = PrivacyCost {
            delta_atto: 900_000_000_000,
            ..spent
        };
        assert!(composed_epsilon_nano(&b, &with_delta).unwrap() > eps);
        // No delta left while rho > 0: infeasible.
        let no_delta = PrivacyCost {
            delta_atto: b.delta_atto,
            ..spent
        };
        assert_eq!(composed_epsilon_nano(&b, &no_delta), None);
        assert!(!within_budget(&b, &no_delta));
        // Pure spends may use all of delta.
        let all_delta = PrivacyCost::selection(5, b.delta_atto);
        assert!(within_budget(&b, &all_delta));
    }
}
