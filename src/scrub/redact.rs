//! Placeholders for removed values.

/// Appends `[REDACTED:<label>]`, or `[REDACTED]` when `label` is empty.
/// The label says what was there (a detector kind or a policy-chosen word),
/// never anything taken from the value.
pub fn write_placeholder(label: &str, out: &mut String) {
    if label.is_empty() {
        out.push_str("[REDACTED]");
    } else {
        out.push_str("[REDACTED:");
        out.push_str(label);
        out.push(']');
    }
}

#[cfg(test)]
mod tests {
    use super::write_placeholder;

    #[test]
    fn placeholders() {
        let mut s = String::from("a=");
        write_placeholder("email", &mut s);
        assert_eq!(s, "a=[REDACTED:email]");
        s.clear();
        write_placeholder("", &mut s);
        assert_eq!(s, "[REDACTED]");
    }
}
