//! Masking: a fixed `****` followed by the last `keep_last` characters.
//!
//! The prefix has the same width whatever the value's length, so the output
//! does not leak the length (a 4-digit PIN and a 19-digit card look alike up
//! to their kept tail). When `keep_last` reaches the value's length nothing is
//! kept: the value would otherwise come out whole. Characters are Unicode
//! scalar values (a combining accent counts as one); the cut never splits a
//! UTF-8 sequence.

pub const MASK: &str = "****";

pub fn mask(value: &str, keep_last: usize, out: &mut String) {
    out.push_str(MASK);
    let Some(skip_back) = keep_last.checked_sub(1) else {
        return;
    };
    // Byte index of the keep_last-th character from the end, if the value
    // has more than keep_last characters.
    let mut from_end = value.char_indices().rev();
    let Some((start, _)) = from_end.nth(skip_back) else {
        return;
    };
    if from_end.next().is_none() {
        return; // exactly keep_last characters: keeping them keeps everything
    }
    out.push_str(value.get(start..).unwrap_or(""));
}

#[cfg(test)]
mod tests {
    use super::mask;

    fn m(v: &str, keep: usize) -> String {
        let mut s = String::new();
        mask(v, keep, &mut s);
        s
    }

    #[test]
    fn keeps_the_tail_behind_a_fixed_prefix() {
        assert_eq!(m("4111111111111111", 4), "****1111");
        assert_eq!(m("12345", 4), "****2345");
        assert_eq!(m("abc", 0), "****");
        assert_eq!(m("", 0), "****");
        assert_eq!(m("", 3), "****");
    }

    #[test]
    fn masks_all_when_keep_covers_the_value() {
        assert_eq!(m("1234", 4), "****");
        assert_eq!(m("12", 4), "****");
        assert_eq!(m("x", 1), "****");
        assert_eq!(m("xy", usize::MAX), "****");
    }

    #[test]
    fn length_does_not_leak() {
        assert_eq!(m("1234", 0).len(), m("1234567890123456789", 0).len());
        assert_eq!(m("99991234", 4), m("1234561234", 4));
    }

    #[test]
    fn multibyte() {
        assert_eq!(m("Zoë Brontë", 2), "****të");
        assert_eq!(m("日本語テキスト", 3), "****キスト");
        assert_eq!(m("😀😀😀", 1), "****😀");
        assert_eq!(m("😀😀", 2), "****");
        assert_eq!(m("e\u{301}e\u{301}", 1), "****\u{301}");
    }
}
