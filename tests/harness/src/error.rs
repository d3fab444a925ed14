//! The harness's error type.
//!
//! Messages carry static reasons, file paths and configuration values only: never a
//! record or anything a module returned (privacy rule of the project).

use std::fmt;

/// Why the harness could not set up or drive a host.
#[derive(Debug)]
pub enum HarnessError {
    /// A configuration value is invalid; `key` names the Fluent Bit property or CLI flag.
    Config { key: String, message: String },
    /// Reading or writing a file failed.
    Io { path: String, message: String },
    /// wasmtime refused to compile, link or instantiate the module.
    Wasm {
        stage: &'static str,
        message: String,
    },
    /// The module's shape does not allow this host to run it.
    Module { message: String },
}

impl HarnessError {
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            key: key.into(),
            message: message.into(),
        }
    }

    pub fn io(path: impl AsRef<std::path::Path>, err: &std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().display().to_string(),
            message: err.to_string(),
        }
    }

    pub fn wasm(stage: &'static str, err: &wasmtime::Error) -> Self {
        Self::Wasm {
            stage,
            message: format!("{err:#}"),
        }
    }

    pub fn module(message: impl Into<String>) -> Self {
        Self::Module {
            message: message.into(),
        }
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config { key, message } => write!(f, "configuration `{key}`: {message}"),
            Self::Io { path, message } => write!(f, "{path}: {message}"),
            Self::Wasm { stage, message } => write!(f, "wasmtime {stage} failed: {message}"),
            Self::Module { message } => write!(f, "module: {message}"),
        }
    }
}

impl std::error::Error for HarnessError {}
