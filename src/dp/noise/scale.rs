//! Positive rational scales: the exact parameter every sampler takes.

use std::fmt;

use super::NoiseError;

/// Largest scale (Laplace `t` or Gaussian `σ`) the samplers accept: `2^48`.
///
/// With it every intermediate of the samplers fits the fixed-width integers
/// they use, and a sample leaves `i64` only with probability below `2^-300`.
/// Useful scales are many orders of magnitude smaller.
pub const MAX_SAMPLER_SCALE: u64 = 1 << 48;

/// A positive rational scale `num/den` (e.g. `"2.5"` = 5/2), kept in lowest
/// terms so that equal values compare equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    num: u64,
    den: u64,
}

impl Scale {
    /// `num/den`, reduced; both must be positive.
    pub fn new(num: u64, den: u64) -> Result<Scale, NoiseError> {
        if num == 0 || den == 0 {
            return Err(NoiseError::InvalidScale);
        }
        let g = gcd(num, den);
        // g >= 1 divides both, so the divisions are exact and cannot fail.
        let num = num.checked_div(g).ok_or(NoiseError::InvalidScale)?;
        let den = den.checked_div(g).ok_or(NoiseError::InvalidScale)?;
        Ok(Scale { num, den })
    }

    /// Parses a plain positive decimal (`"3"`, `"2.5"`, `"0.001"`) exactly.
    ///
    /// No sign, exponent, whitespace or separators; at most 19 fractional
    /// digits (so that the denominator `10^k` fits `u64`).
    pub fn parse_decimal(s: &str) -> Result<Scale, NoiseError> {
        let (int_part, frac_part) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(NoiseError::InvalidDecimal);
        }
        if s.ends_with('.') || frac_part.len() > 19 {
            return Err(NoiseError::InvalidDecimal);
        }
        let mut num: u64 = 0;
        let mut den: u64 = 1;
        for b in int_part.bytes() {
            num = push_digit(num, b)?;
        }
        for b in frac_part.bytes() {
            num = push_digit(num, b)?;
            den = den.checked_mul(10).ok_or(NoiseError::InvalidDecimal)?;
        }
        Scale::new(num, den).map_err(|_| NoiseError::InvalidDecimal)
    }

    /// Numerator in lowest terms.
    pub fn num(&self) -> u64 {
        self.num
    }

    /// Denominator in lowest terms.
    pub fn den(&self) -> u64 {
        self.den
    }

    /// Nearest `f64`, for reports only; never used to draw noise.
    pub fn to_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// Whether `num/den > limit`, decided exactly.
    pub(crate) fn exceeds(&self, limit: u64) -> bool {
        u128::from(self.num) > u128::from(limit).saturating_mul(u128::from(self.den))
    }
}

impl fmt::Display for Scale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

fn push_digit(acc: u64, b: u8) -> Result<u64, NoiseError> {
    if !b.is_ascii_digit() {
        return Err(NoiseError::InvalidDecimal);
    }
    acc.checked_mul(10)
        .and_then(|v| v.checked_add(u64::from(b.wrapping_sub(b'0'))))
        .ok_or(NoiseError::InvalidDecimal)
}

pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let r = a.checked_rem(b).unwrap_or(0);
        a = b;
        b = r;
    }
    a
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn new_reduces_and_rejects_zero() {
        let s = Scale::new(10, 4).unwrap();
        assert_eq!((s.num(), s.den()), (5, 2));
        assert_eq!(Scale::new(0, 3), Err(NoiseError::InvalidScale));
        assert_eq!(Scale::new(3, 0), Err(NoiseError::InvalidScale));
        assert_eq!(Scale::new(7, 7).unwrap(), Scale::new(1, 1).unwrap());
    }

    #[test]
    fn parse_decimal_is_exact() {
        let cases = [
            ("2.5", 5, 2),
            ("10", 10, 1),
            ("0.001", 1, 1000),
            (".5", 1, 2),
            ("003.750", 15, 4),
            (
                "0.1234567890123456789",
                1234567890123456789,
                10_000_000_000_000_000_000,
            ),
            ("18446744073709551615", u64::MAX, 1),
        ];
        for (text, num, den) in cases {
            let s = Scale::parse_decimal(text).unwrap();
            assert_eq!((s.num(), s.den()), (num, den), "{text}");
        }
    }

    #[test]
    fn parse_decimal_rejects_non_decimals() {
        for bad in [
            "",
            ".",
            "5.",
            "-1",
            "+1",
            "1e3",
            " 1",
            "1 ",
            "1,5",
            "0",
            "0.000",
            "1.2.3",
            "18446744073709551616",
            "0.12345678901234567890",
            "nan",
            "inf",
        ] {
            assert_eq!(
                Scale::parse_decimal(bad),
                Err(NoiseError::InvalidDecimal),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn exceeds_is_exact_at_the_boundary() {
        let at = Scale::new(MAX_SAMPLER_SCALE * 3, 3).unwrap();
        assert!(!at.exceeds(MAX_SAMPLER_SCALE));
        let above = Scale::new(MAX_SAMPLER_SCALE * 3 + 1, 3).unwrap();
        assert!(above.exceeds(MAX_SAMPLER_SCALE));
        assert!(Scale::new(u64::MAX, 1).unwrap().exceeds(MAX_SAMPLER_SCALE));
    }

    #[test]
    fn display_and_to_f64() {
        assert_eq!(Scale::new(5, 2).unwrap().to_string(), "5/2");
        assert_eq!(Scale::new(4, 1).unwrap().to_string(), "4");
        assert_eq!(Scale::new(5, 2).unwrap().to_f64(), 2.5);
    }
}
