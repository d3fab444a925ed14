//! Streaming JSON: a validating tokenizer ([`scan`]), string escaping and
//! unescaping ([`text`]), and literal-path lookups ([`lookup`]).
//!
//! Nothing here builds a DOM or recurses on input depth.

pub mod lookup;
pub mod scan;
pub mod text;
pub mod value;

use std::fmt;

/// Why a JSON text was rejected. Carries no content from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonError {
    Syntax,
    Truncated,
    TrailingData,
    BadEscape,
    ControlCharacter,
    TooDeep,
    InvalidUtf8,
}

impl JsonError {
    pub fn reason(self) -> &'static str {
        match self {
            JsonError::Syntax => "syntax error",
            JsonError::Truncated => "unexpected end of input",
            JsonError::TrailingData => "data after the JSON value",
            JsonError::BadEscape => "invalid escape sequence in a string",
            JsonError::ControlCharacter => "unescaped control character in a string",
            JsonError::TooDeep => "nesting deeper than the configured limit",
            JsonError::InvalidUtf8 => "invalid UTF-8",
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for JsonError {}
