//! dp-audit: in-line scrubbing and differentially private aggregation of
//! audit and access logs.
//!
//! The crate is a pure core with thin hosts:
//! - [`policy`] parses the JSON policy (with presets) into a compiled form;
//! - [`path`] matches field selectors against record paths;
//! - [`json`] is the streaming reader/rewriter that applies the policy to a
//!   record without building a DOM and without recursion;
//! - [`scrub`] holds the value transforms (pseudonym, IP truncation, time
//!   generalisation, masking, email) and [`detect`] the free-text detectors;
//! - [`keys`] loads HMAC keys and refuses short ones;
//! - [`memo`] remembers recent transform results (logs repeat themselves);
//! - [`time`] parses and formats RFC 3339 timestamps (no chrono);
//! - [`dp`] is the differential privacy engine: exact samplers, accountant,
//!   budget ledger over host state, windows and releases;
//! - [`hosts`] adapts the core to Fluent Bit, Envoy (proxy-wasm) and JS.
//!
//! Guarantees: a record either comes out scrubbed by the policy or does not
//! come out at all (fail closed); no error, log line or panic message carries
//! a value taken from a record; no release happens before its privacy budget
//! was spent in host state.

pub mod detect;
pub mod dp;
pub mod error;
pub mod hosts;
pub mod json;
pub mod keys;
pub mod memo;
pub mod path;
pub mod policy;
pub mod scrub;
pub mod scrubber;
pub mod time;
