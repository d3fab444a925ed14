//! Fluent Bit filter that parses each record into a `serde_json::Value` (recursive
//! descent) and answers `{"ok":true}` or `{"ok":false}`: the workload whose nesting
//! limit was measured under WAMR (hosts document), used to calibrate the harness's
//! `max_wasm_stack_for`.

static OK: &[u8] = b"{\"ok\":true}\0";
static FAILED: &[u8] = b"{\"ok\":false}\0";

/// # Safety
/// `record` points at `record_len` readable bytes (the host's copy) or is null.
#[no_mangle]
pub unsafe extern "C" fn f(
    _tag: *const u8,
    _tag_len: u32,
    _sec: u32,
    _nsec: u32,
    record: *const u8,
    record_len: u32,
) -> *const u8 {
    if record.is_null() {
        return FAILED.as_ptr();
    }
    let bytes = core::slice::from_raw_parts(record, record_len as usize);
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) => {
            // Keep the parse from being optimised away.
            if value.is_object() {
                OK.as_ptr()
            } else {
                FAILED.as_ptr()
            }
        }
        Err(_) => FAILED.as_ptr(),
    }
}
