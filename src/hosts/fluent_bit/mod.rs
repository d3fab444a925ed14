//! Fluent Bit `wasm` filter host (JSON event format).
//!
//! The filter calls an export per record with the record's JSON text and
//! copies the NUL-terminated JSON object we return (`strdup`), so one output
//! buffer owned by the module and reused on the next call is correct. An
//! empty string drops the record. See `abi` for the exports and the facts
//! of the calling convention they rely on.
//!
//! State: Fluent Bit >= 4.1 keeps one instance per `[FILTER]` section for
//! the process lifetime. A trap leaves whatever state it interrupted, so the
//! state is *taken* out of its slot for the duration of a call and put back
//! after: a trap mid-call leaves the slot empty and the next call starts
//! afresh from the files, instead of finding a poisoned lock.

mod abi;
mod aggregate;
mod preopens;

pub use aggregate::AggregateFilter;

use super::config_files::{load_from_dirs, Loaded};
use crate::scrubber::{write_error_record, ScrubError, Scrubber};
use std::cell::Cell;
use std::path::PathBuf;

/// Errors are logged for the first records and then sparsely, so a stream
/// of bad records cannot flood the host's log.
const LOG_FIRST: u64 = 20;
const LOG_EVERY: u64 = 10_000;

/// A record the scrubber could not handle is not lost silently: its code
/// goes to stderr, never its content.
fn should_log(count: u64) -> bool {
    count <= LOG_FIRST || count % LOG_EVERY == 0
}

/// After this many calls in a row that trapped, a filter stops working and
/// fails closed at once.
const TRAP_LIMIT: u32 = 3;

/// Notices calls that never returned. A trap (stack overflow at a small
/// `wasm_stack_size`, out of memory) leaves Rust's shadow-stack pointer
/// lowered; a filter that traps on every record would walk it out of its
/// region and corrupt memory. After [`TRAP_LIMIT`] consecutive traps the
/// filter does no more work: every record fails closed, with one message.
pub struct TrapGuard {
    in_call: Cell<bool>,
    consecutive: Cell<u32>,
    reported: Cell<bool>,
}

impl TrapGuard {
    pub const fn new() -> TrapGuard {
        TrapGuard {
            in_call: Cell::new(false),
            consecutive: Cell::new(0),
            reported: Cell::new(false),
        }
    }

    /// Starts a call; `false` means: fail closed without doing any work.
    pub fn enter(&self) -> bool {
        if self.in_call.get() {
            self.consecutive
                .set(self.consecutive.get().saturating_add(1));
        }
        if self.consecutive.get() >= TRAP_LIMIT {
            self.in_call.set(false);
            if !self.reported.replace(true) {
                eprintln!(
                    "dp-audit: {TRAP_LIMIT} calls in a row trapped (is wasm_stack_size too small? \
                     the examples use 256K); every record now fails closed"
                );
            }
            return false;
        }
        self.in_call.set(true);
        true
    }

    /// Ends a call that returned normally.
    pub fn leave(&self) {
        self.in_call.set(false);
        self.consecutive.set(0);
    }
}

impl Default for TrapGuard {
    fn default() -> Self {
        TrapGuard::new()
    }
}

/// Per-instance state of the scrub filter.
pub struct ScrubFilter {
    scrubber: Result<Scrubber, String>,
    /// The output of the last call, NUL-terminated; valid until the next call.
    out: Vec<u8>,
    errors: u64,
}

impl ScrubFilter {
    /// Loads `dp-audit.json` and `dp-audit.key` from the first of `dirs`
    /// that holds each. A configuration error is kept (and reported once):
    /// every record then fails closed.
    pub fn from_dirs(dirs: &[PathBuf]) -> ScrubFilter {
        let scrubber = load_from_dirs(dirs)
            .and_then(|Loaded { policy, keys, .. }| Scrubber::new(&policy, keys.as_ref()))
            .map_err(|e| e.to_string());
        if let Err(msg) = &scrubber {
            eprintln!("dp-audit: configuration error, every record fails closed: {msg}");
        }
        ScrubFilter {
            scrubber,
            out: Vec::new(),
            errors: 0,
        }
    }

    /// Scrubs one record. `record` is `None` when the host could not copy it
    /// (Fluent Bit passes a null pointer for records larger than its app heap).
    /// Returns the NUL-terminated result; an empty string drops the record.
    pub fn scrub(&mut self, record: Option<&[u8]>) -> &[u8] {
        let emitted = match &mut self.scrubber {
            Ok(scrubber) => {
                let (emit, err) = match record {
                    Some(bytes) => scrubber.scrub_or_fail_closed(bytes, &mut self.out),
                    None => {
                        let e = ScrubError::RecordTooLarge;
                        (scrubber.fail_closed(e, &mut self.out), Some(e))
                    }
                };
                if let Some(e) = err {
                    self.errors = self.errors.saturating_add(1);
                    if should_log(self.errors) {
                        let hint = if record.is_none() {
                            " (larger than the filter's wasm_heap_size allows)"
                        } else {
                            ""
                        };
                        eprintln!(
                            "dp-audit: {e}{hint}; records failed so far: {}",
                            self.errors
                        );
                    }
                }
                emit
            }
            Err(_) => {
                write_error_record("config_error", &mut self.out);
                true
            }
        };
        if !emitted {
            self.out.clear();
        }
        self.out.push(0);
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_guard_gives_up_after_consecutive_traps_only() {
        let g = TrapGuard::new();
        // Normal calls.
        for _ in 0..10 {
            assert!(g.enter());
            g.leave();
        }
        // Two traps (enter without leave), then a good call resets the count.
        assert!(g.enter());
        assert!(g.enter());
        assert!(g.enter());
        g.leave();
        // Three traps in a row: the fourth call fails closed, and stays so.
        assert!(g.enter());
        assert!(g.enter());
        assert!(g.enter());
        assert!(!g.enter());
        assert!(!g.enter());
    }
}
