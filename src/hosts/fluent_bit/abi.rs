//! The exports Fluent Bit's `wasm` filter calls (JSON event format).
//!
//! Signature, per hosts.md: `(tag, tag_len, time_sec, time_nsec, record,
//! record_len) -> i32`. The host copies tag and record into the module's
//! memory (each followed by a NUL the lengths do not count); a record too
//! large for the app heap arrives as pointer 0 with its real length. The
//! result is a pointer to a NUL-terminated JSON object that the host copies
//! right after the call.
#![allow(unsafe_code)]

use super::{preopens, AggregateFilter, ScrubFilter, TrapGuard};
use std::cell::Cell;

thread_local! {
    /// Taken out for the duration of a call (see the module docs of `fluent_bit`).
    static SCRUB: Cell<Option<Box<ScrubFilter>>> = const { Cell::new(None) };
    static AGGREGATE: Cell<Option<Box<AggregateFilter>>> = const { Cell::new(None) };
    static SCRUB_GUARD: TrapGuard = const { TrapGuard::new() };
    static AGGREGATE_GUARD: TrapGuard = const { TrapGuard::new() };
}

/// Returned without any work once calls keep trapping (see `TrapGuard`).
static SCRUB_TRAPPED: &[u8] = b"{\"dp_audit_error\":\"trapped\"}\0";
static DROP: &[u8] = b"\0";

/// Views the record the host passed, or `None` for the null pointer the host
/// uses for records that did not fit its app heap.
///
/// # Safety
/// `ptr` must be null or point to `len` readable bytes that stay unchanged
/// for the duration of the call.
unsafe fn record_slice<'a>(ptr: *const u8, len: i32) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok()?;
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `len` readable bytes at `ptr`.
    Some(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Scrubs one record by the policy in `dp-audit.json`.
///
/// # Safety
/// Called by the host with `record` null or pointing to `record_len` bytes
/// it copied into this module's memory, as Fluent Bit's filter does.
#[no_mangle]
pub unsafe extern "C" fn dp_scrub(
    _tag: *const u8,
    _tag_len: i32,
    _time_sec: i32,
    _time_nsec: i32,
    record: *const u8,
    record_len: i32,
) -> *const u8 {
    if !SCRUB_GUARD.with(TrapGuard::enter) {
        return SCRUB_TRAPPED.as_ptr();
    }
    let mut state = SCRUB
        .with(Cell::take)
        .unwrap_or_else(|| Box::new(ScrubFilter::from_dirs(&preopens::dirs())));
    // SAFETY: the host's contract, stated on this function.
    let bytes = unsafe { record_slice(record, record_len) };
    let ptr = state.scrub(bytes).as_ptr();
    // The pointer stays valid: the buffer lives in the boxed state, which is
    // put back (not moved or dropped) until the next call.
    SCRUB.with(|slot| slot.set(Some(state)));
    SCRUB_GUARD.with(TrapGuard::leave);
    ptr
}

/// Feeds one record to the DP aggregation configured in the policy's
/// `aggregate` section; returns the releases of the windows it closed, or an
/// empty string (the record is dropped).
///
/// # Safety
/// As for [`dp_scrub`].
#[no_mangle]
pub unsafe extern "C" fn dp_aggregate(
    _tag: *const u8,
    _tag_len: i32,
    time_sec: i32,
    _time_nsec: i32,
    record: *const u8,
    record_len: i32,
) -> *const u8 {
    if !AGGREGATE_GUARD.with(TrapGuard::enter) {
        return DROP.as_ptr();
    }
    let mut state = AGGREGATE
        .with(Cell::take)
        .unwrap_or_else(|| Box::new(AggregateFilter::from_dirs(&preopens::dirs())));
    // SAFETY: the host's contract, stated on `dp_scrub`.
    let bytes = unsafe { record_slice(record, record_len) };
    // Fluent Bit truncates seconds to 32 bits; read them unsigned so that
    // timestamps after 2038 stay correct until 2106.
    let secs = i64::from(u32::from_ne_bytes(time_sec.to_ne_bytes()));
    let ptr = state.aggregate(bytes, secs).as_ptr();
    AGGREGATE.with(|slot| slot.set(Some(state)));
    AGGREGATE_GUARD.with(TrapGuard::leave);
    ptr
}
