//! Fluent Bit's size syntax (`flb_utils_size_to_bytes`), used by `wasm_heap_size` and
//! `wasm_stack_size`.
//!
//! Units are decimal as upstream: `K` = 1000, `M` = 1000^2, `G` = 1000^3, optionally
//! followed by `B` (`256K` = `256KB` = 256000 bytes). Fractions such as `1.5M` are
//! accepted. Upstream parses with `atof` and silently accepts some garbage; the harness
//! rejects anything that is not `<number>[K|M|G][B]` instead of guessing.

use crate::HarnessError;

/// Parses a Fluent Bit size; `key` names the property for the error message.
pub fn parse_size(key: &str, text: &str) -> Result<u64, HarnessError> {
    let trimmed = text.trim();
    let bad = || {
        HarnessError::config(
            key,
            format!("`{trimmed}` is not a size (expected e.g. 8192, 256K, 4M; K=1000)"),
        )
    };
    let number_end = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_end);
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let multiplier: u64 = match unit.to_ascii_uppercase().as_str() {
        "" => 1,
        "K" | "KB" => 1_000,
        "M" | "MB" => 1_000_000,
        "G" | "GB" => 1_000_000_000,
        _ => return Err(bad()),
    };
    if let Some((int_part, frac_part)) = number.split_once('.') {
        if frac_part.contains('.') {
            return Err(bad());
        }
        // Upstream computes `(int64_t)(atof(text) * unit)`; decimal arithmetic on the
        // digits gives the same truncated result without float rounding surprises.
        let int: u64 = int_part.parse().map_err(|_| bad())?;
        let frac_digits = u32::try_from(frac_part.len()).map_err(|_| bad())?;
        let frac: u64 = frac_part.parse().map_err(|_| bad())?;
        let scale = 10u64.checked_pow(frac_digits).ok_or_else(bad)?;
        let whole = int.checked_mul(multiplier).ok_or_else(bad)?;
        let part = frac
            .checked_mul(multiplier)
            .and_then(|v| v.checked_div(scale))
            .ok_or_else(bad)?;
        whole.checked_add(part).ok_or_else(bad)
    } else {
        let int: u64 = number.parse().map_err(|_| bad())?;
        int.checked_mul(multiplier).ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_decimal_like_fluent_bit() {
        assert_eq!(parse_size("k", "8192").unwrap(), 8192);
        assert_eq!(parse_size("k", "256K").unwrap(), 256_000);
        assert_eq!(parse_size("k", "256kb").unwrap(), 256_000);
        assert_eq!(parse_size("k", "4M").unwrap(), 4_000_000);
        assert_eq!(parse_size("k", "1.5M").unwrap(), 1_500_000);
        assert_eq!(parse_size("k", "2G").unwrap(), 2_000_000_000);
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["", "K", "4X", "4MiB", "1.2.3K", ".5M", "-4K", "4 M B"] {
            assert!(parse_size("wasm_heap_size", bad).is_err(), "{bad:?}");
        }
    }
}
