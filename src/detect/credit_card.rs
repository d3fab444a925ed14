//! Payment card numbers: 13-19 digits, Luhn-valid, with a card-network prefix.
//!
//! Accepted layouts: one run of 13-19 digits, or groups joined by one kind of
//! single separator (all spaces or all dashes) whose first group has exactly 4
//! digits and the others 3-6, the last one 1-6 (`4111 1111 1111 1111`,
//! `3782-822463-10005`, `4222 2222 2222 2`).
//! The number must start at a word boundary and end at one (a separator
//! followed by more digits also ends it: `4111 1111 1111 1111 2024`).
//!
//! Near-misses kept out by design: Luhn-invalid numbers; lengths outside 13-19;
//! millisecond/nanosecond Unix timestamps and `YYYYMMDDhhmmss` stamps (first digit
//! must be a network prefix: 3, 4, 5, 6, or 2221-2720 for 16 digits);
//! phone numbers (too few digits); decimals (`4111111111111111.5`).

use super::bytes::{at, is_word};

/// Groups examined per scan; a card has at most 19 one-digit groups.
const MAX_GROUPS: usize = 24;

/// Scans the digit groups starting at `i` (a digit at a word start).
/// Returns the first card found and the end of the scanned text, so the caller
/// does not rescan groups that were already examined.
#[inline(never)]
pub(crate) fn scan(b: &[u8], i: usize) -> (Option<(usize, usize)>, usize) {
    // First pass without storing anything: most digit runs (times, ids,
    // counters) have fewer than 13 digits in all and stop here.
    let (digits, scanned_end) = walk(b, i, |_, _| {});
    if digits < 13 {
        return (None, scanned_end);
    }
    let mut groups = [(0usize, 0usize); MAX_GROUPS];
    let mut m = 0usize;
    walk(b, i, |start, end| {
        if let Some(slot) = groups.get_mut(m) {
            *slot = (start, end);
        }
        m = m.wrapping_add(1);
    });
    let m = m.min(MAX_GROUPS);
    let last = m.wrapping_sub(1);
    let last_ends_word = {
        let next = at(b, scanned_end);
        !(is_word(next) || (next == b'.' && at(b, scanned_end.wrapping_add(1)).is_ascii_digit()))
    };
    let groups = groups.get(..m).unwrap_or(&[]);
    for (a, &(start, end)) in groups.iter().enumerate() {
        let len = end.wrapping_sub(start);
        let ends_ok = |k: usize| k != last || last_ends_word;
        if (13..=19).contains(&len) && ends_ok(a) && is_card(b, start, end) {
            return (Some((start, end)), scanned_end);
        }
        if len != 4 {
            continue;
        }
        let mut digits = len;
        let mut best = None;
        for (k, &(gs, ge)) in groups.iter().enumerate().skip(a.wrapping_add(1)) {
            let glen = ge.wrapping_sub(gs);
            if glen > 6 {
                break;
            }
            digits = digits.wrapping_add(glen);
            if digits > 19 {
                break;
            }
            if digits >= 13 && ends_ok(k) && is_card(b, start, ge) {
                best = Some((start, ge));
            }
            if glen < 3 {
                break; // only the last group may be this short
            }
        }
        if best.is_some() {
            return (best, scanned_end);
        }
    }
    (None, scanned_end)
}

/// Walks the digit groups from `i` (joined by one kind of single separator,
/// at most [`MAX_GROUPS`]), calling `group(start, end)` for each. Returns
/// the number of digits and the end of the last group.
fn walk(b: &[u8], i: usize, mut group: impl FnMut(usize, usize)) -> (usize, usize) {
    let mut sep = 0u8;
    let mut p = i;
    let mut digits = 0usize;
    let mut n = 0usize;
    loop {
        let start = p;
        while at(b, p).is_ascii_digit() {
            p = p.wrapping_add(1);
        }
        group(start, p);
        digits = digits.wrapping_add(p.wrapping_sub(start));
        n = n.wrapping_add(1);
        let c = at(b, p);
        let joins = (c == b' ' || c == b'-')
            && (sep == 0 || sep == c)
            && at(b, p.wrapping_add(1)).is_ascii_digit()
            && n < MAX_GROUPS;
        if !joins {
            return (digits, p);
        }
        sep = c;
        p = p.wrapping_add(1);
    }
}

/// Network prefix and Luhn check over the digits of `b[start..end]`.
fn is_card(b: &[u8], start: usize, end: usize) -> bool {
    let Some(s) = b.get(start..end) else {
        return false;
    };
    let mut digits = s
        .iter()
        .filter(|c| c.is_ascii_digit())
        .map(|c| c.wrapping_sub(b'0'));
    let count = digits.clone().count();
    let prefix = digits.by_ref().take(4).fold(0u32, |acc, d| {
        acc.wrapping_mul(10).wrapping_add(u32::from(d))
    });
    let network = match prefix / 1000 {
        3..=6 => true,
        2 => count == 16 && (2221..=2720).contains(&prefix),
        _ => false,
    };
    network && luhn(s)
}

fn luhn(s: &[u8]) -> bool {
    let mut sum = 0u32;
    let mut double = false;
    for d in s.iter().rev().filter(|c| c.is_ascii_digit()) {
        let mut v = u32::from(d.wrapping_sub(b'0'));
        if double {
            v = v.wrapping_mul(2);
            if v > 9 {
                v = v.wrapping_sub(9);
            }
        }
        sum = sum.wrapping_add(v);
        double = !double;
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::luhn;
    use crate::detect::tests::spans;
    use crate::detect::Kind::CreditCard;

    #[test]
    fn luhn_reference_numbers() {
        assert!(luhn(b"79927398713"));
        assert!(!luhn(b"79927398710"));
        assert!(luhn(b"4111111111111111"));
    }

    #[test]
    fn positives() {
        // Published test numbers of the card networks.
        for card in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555555555554444",
            "2223003122003222",
            "378282246310005",
            "3782-822463-10005",
            "6011111111111117",
            "30569309025904",
            "4222222222222",
            "4222 2222 2222 2",
            "6759649826438453",
        ] {
            let text = format!("card {card}, ok");
            assert_eq!(spans(&text, CreditCard), vec![card], "{card}");
        }
        assert_eq!(
            spans("n=4111111111111111;", CreditCard),
            vec!["4111111111111111"]
        );
        assert_eq!(
            spans("2024 4111 1111 1111 1111 2025", CreditCard),
            vec!["4111 1111 1111 1111"]
        );
        assert_eq!(
            spans("a 4111111111111111 b 5555555555554444", CreditCard),
            vec!["4111111111111111", "5555555555554444"]
        );
    }

    #[test]
    fn near_misses() {
        for s in [
            "4111111111111112",         // Luhn-invalid
            "4111 1111 1111 1112",      // Luhn-invalid, grouped
            "411111111111",             // 12 digits
            "41111111111111111111",     // 20 digits
            "1504986905123",            // ms timestamp (Luhn-valid, prefix 1)
            "1700000000000000007",      // ns timestamp
            "20170911195505",           // YYYYMMDDhhmmss
            "2017-09-11T19:55:05.123Z", // ISO time
            "+1 555-123-4567",          // phone
            "+44 20 7946 0958",         // phone
            "4111-1111 1111-1111",      // mixed separators
            "4111  1111  1111  1111",   // double spaces
            "id4111111111111111",       // glued to a word
            "4111111111111111x",        // glued to a word
            "4111111111111111.5",       // decimal
            "033d17af-082d-4b24-aa22-627752e83d71",
            "3 7 8 2 8 2 2 4 6 3 1 0 0 0 5", // first group is not 4 digits
            "3782 82 2463 10005",            // inner group of 2
        ] {
            assert!(spans(s, CreditCard).is_empty(), "{s}");
        }
    }
}
