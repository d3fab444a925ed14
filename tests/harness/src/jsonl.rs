//! Input lines for the CLI and the artifact helpers: one JSON record per line.
//!
//! The real host never hands a module anything but the JSON conversion of a msgpack
//! map, so a line that is not valid UTF-8 or not exactly one JSON object is rejected
//! here without calling the module, and reported by line number only (its content is
//! never echoed: it may hold the very data the module exists to scrub).
//!
//! A valid line is handed over as its own text, trimmed. Fluent Bit would hand over its
//! re-serialisation instead: compact, key order and duplicate keys kept, non-ASCII
//! escaped as `\uXXXX` (`json.escape_unicode` defaults to on) and numbers in its own
//! format. Feed compact lines to stay close to it.

use serde::de::IgnoredAny;

/// Why a line cannot be handed to the module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineError {
    InvalidUtf8,
    NotJsonObject,
}

impl LineError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::InvalidUtf8 => "not valid UTF-8",
            Self::NotJsonObject => "not a single JSON object",
        }
    }
}

/// The record text of a line: `Ok(None)` for a blank line (skipped, as in_tail does).
pub fn record_text(line: &[u8]) -> Result<Option<&str>, LineError> {
    let text = std::str::from_utf8(line).map_err(|_| LineError::InvalidUtf8)?;
    let text = text.trim_matches(|c: char| matches!(c, ' ' | '\t' | '\r' | '\n'));
    if text.is_empty() {
        return Ok(None);
    }
    if !text.starts_with('{') || serde_json::from_str::<IgnoredAny>(text).is_err() {
        return Err(LineError::NotJsonObject);
    }
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_checked() {
        assert_eq!(record_text(b"{\"a\":1}\r"), Ok(Some("{\"a\":1}")));
        assert_eq!(record_text(b"  \r"), Ok(None));
        assert_eq!(record_text(b"[1]"), Err(LineError::NotJsonObject));
        assert_eq!(record_text(b"{\"a\":1} {}"), Err(LineError::NotJsonObject));
        assert_eq!(record_text(b"{\"a\":"), Err(LineError::NotJsonObject));
        assert_eq!(
            record_text(b"{\"a\":\"\xff\"}"),
            Err(LineError::InvalidUtf8)
        );
    }
}
