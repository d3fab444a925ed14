//! Value transforms applied by policy actions, one file per transform.
//!
//! Each transform appends plain (unescaped) text to an output `String`; the
//! JSON rewriter escapes it. A transform that cannot apply to a value (an IP
//! action on something that is not an IP) returns a unit error carrying
//! nothing from the value, and the caller redacts the value instead.

pub mod email;
pub mod ip;
pub mod mask;
pub mod pseudonym;
pub mod redact;
pub mod time;
