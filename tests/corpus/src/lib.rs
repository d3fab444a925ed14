//! Synthetic audit-log corpora with planted PII and ground truth.
//!
//! - [`k8s_audit`]: Kubernetes `audit.k8s.io/v1` Event JSON lines;
//! - [`envoy_access`]: Envoy JSON access-log lines;
//! - [`hostile()`]: malformed and extreme records for robustness tests;
//! - [`jsonl::compact_objects`]: turns real sample files into JSON lines.
//!
//! Output is a pure function of the configuration (own PRNG, no clock, no
//! hash-map iteration order), so identical arguments give identical bytes.
//!
//! Every sensitive string written is listed in [`Truth::planted`] with its
//! kind and every field path where it occurs (tests check both directions:
//! each value is at each recorded path, and occurs nowhere else). Planted values are chosen so that a raw substring
//! search of a scrubbed output finds one only if it survived: they contain no
//! character that JSON or Go's HTML-safe escaping rewrites (`"`, `\`, `<`,
//! `>`, `&`, control characters), they are never part of the non-sensitive
//! text the generators write, and their shapes keep one planted value from
//! containing another (see [`pii`]). Multi-line PEM keys are planted as their
//! base64 body lines, the parts that appear verbatim once newlines are
//! escaped. What is *not* planted: infrastructure names and addresses (nodes,
//! pods, service accounts, 10/8 and 172.16/12 IPs, `::1`), ids (auditID,
//! request_id, uids).

pub mod envoy;
pub mod hostile;
pub mod json;
pub mod jsonl;
pub mod k8s;
pub mod pii;
pub mod rng;
pub mod time;
pub mod truth;

pub use envoy::{envoy_access, EnvoyConfig};
pub use hostile::hostile;
pub use k8s::{k8s_audit, K8sConfig};
pub use truth::{Counts, OpStatus, Planted, Truth, WindowCounts};

/// A generated corpus: the lines (no trailing newlines) and their ground truth.
///
/// Counts are per line. Kubernetes: operation = `verb`, status =
/// `responseStatus.code` (none on RequestReceived lines), user =
/// `user.username` (the authenticated user, also when impersonating; "" for
/// 401s, whose `user` is empty), time = `requestReceivedTimestamp`. Envoy:
/// `method`, `response_code`, `x-user-id` ("" when null), `start_time`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corpus {
    pub lines: Vec<String>,
    pub truth: Truth,
}

impl Corpus {
    /// The lines joined as a JSON-lines document (each line `\n`-terminated).
    pub fn to_jsonl(&self) -> String {
        let mut s = String::with_capacity(self.lines.iter().map(|l| l.len() + 1).sum());
        for l in &self.lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}
