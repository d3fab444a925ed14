//! Error types shared by every module.
//!
//! Errors never carry record content: only policy locations (which the operator
//! wrote), static reasons and error codes. That is what lets hosts print them.

use std::fmt;

/// A problem with the policy or the keys, found at load time.
///
/// `at` names the place in the policy (`fields[3].path`, `aggregate.window`),
/// `message` says what is wrong and what was expected. Policy text is operator
/// configuration, not log data, so quoting it back is allowed; key material
/// never appears here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub at: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(at: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            at: at.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.at, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}
