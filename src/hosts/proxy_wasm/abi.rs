//! The proxy-wasm 0.2.1 host calls this module makes, each returning a
//! `Result` for every status (the SDK's wrappers `panic!` on statuses they
//! do not expect, and a panic is a trap that kills the VM), plus the
//! memory-allocation export the host uses to hand data back.
//!
//! Data the host returns is written into a buffer it obtained from
//! [`proxy_on_memory_allocate`]; [`take`] turns it back into a `Vec` with the
//! same layout, so it is freed normally.
#![allow(unsafe_code)]

use std::ptr::null_mut;

/// A proxy-wasm status other than `Ok` (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u32);

impl Status {
    pub const CAS_MISMATCH: Status = Status(8);

    pub fn name(self) -> &'static str {
        match self.0 {
            1 => "NotFound",
            2 => "BadArgument",
            3 => "SerializationFailure",
            4 => "ParseFailure",
            5 => "BadExpression",
            6 => "InvalidMemoryAccess",
            7 => "Empty",
            8 => "CasMismatch",
            9 => "ResultMismatch",
            10 => "InternalFailure",
            11 => "BrokenConnection",
            12 => "Unimplemented",
            _ => "unknown status",
        }
    }
}

pub type HostResult<T> = Result<T, Status>;

fn check(status: u32) -> HostResult<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(Status(status))
    }
}

#[derive(Clone, Copy)]
#[repr(u32)]
pub enum LogLevel {
    Info = 2,
    Warn = 3,
    Error = 4,
}

#[derive(Clone, Copy)]
#[repr(u32)]
pub enum MapType {
    HttpRequestHeaders = 0,
    HttpCallResponseHeaders = 6,
}

#[derive(Clone, Copy)]
#[repr(u32)]
pub enum BufferType {
    PluginConfiguration = 7,
}

#[derive(Clone, Copy)]
#[repr(u32)]
pub enum MetricType {
    Counter = 0,
    Gauge = 1,
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message: *const u8, size: usize) -> u32;
    fn proxy_get_buffer_bytes(
        kind: u32,
        start: usize,
        max: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(kind: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_get_property(
        path: *const u8,
        path_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
    ) -> u32;
    fn proxy_get_shared_data(
        key: *const u8,
        key_size: usize,
        data: *mut *mut u8,
        size: *mut usize,
        cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
    fn proxy_register_shared_queue(name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_resolve_shared_queue(
        vm_id: *const u8,
        vm_id_size: usize,
        name: *const u8,
        name_size: usize,
        id: *mut u32,
    ) -> u32;
    fn proxy_enqueue_shared_queue(id: u32, value: *const u8, value_size: usize) -> u32;
    fn proxy_dequeue_shared_queue(id: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_call_foreign_function(
        name: *const u8,
        name_size: usize,
        args: *const u8,
        args_size: usize,
        results: *mut *mut u8,
        results_size: *mut usize,
    ) -> u32;
    fn proxy_define_metric(kind: u32, name: *const u8, name_size: usize, id: *mut u32) -> u32;
    fn proxy_increment_metric(id: u32, offset: i64) -> u32;
    fn proxy_record_metric(id: u32, value: u64) -> u32;
    #[allow(clippy::too_many_arguments)]
    fn proxy_http_call(
        upstream: *const u8,
        upstream_size: usize,
        headers: *const u8,
        headers_size: usize,
        body: *const u8,
        body_size: usize,
        trailers: *const u8,
        trailers_size: usize,
        timeout_ms: u32,
        token: *mut u32,
    ) -> u32;
}

/// The host allocates the buffers it returns through this export.
#[no_mangle]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    let buf: Box<[u8]> = vec![0u8; size].into_boxed_slice();
    Box::into_raw(buf).cast::<u8>()
}

/// Reclaims a buffer the host filled.
///
/// # Safety
/// `data` is null or was returned by [`proxy_on_memory_allocate`] for exactly
/// `size` bytes and not reclaimed before.
unsafe fn take(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    // SAFETY: per the contract above, `data` is a boxed slice of `size` bytes
    // (layout: size bytes, align 1), which is the layout of a Vec with
    // length and capacity `size`.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

pub fn log(level: LogLevel, message: &[u8]) -> HostResult<()> {
    // SAFETY: pointer and length of a live slice.
    check(unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) })
}

pub fn plugin_configuration(size: usize) -> HostResult<Option<Vec<u8>>> {
    let (mut data, mut len) = (null_mut(), 0usize);
    // SAFETY: out-pointers to locals; the host fills them with a buffer from
    // proxy_on_memory_allocate, reclaimed by `take`.
    let status = unsafe {
        proxy_get_buffer_bytes(
            BufferType::PluginConfiguration as u32,
            0,
            size,
            &mut data,
            &mut len,
        )
    };
    match status {
        0 => Ok(unsafe { take(data, len) }),
        1 => Ok(None),
        s => Err(Status(s)),
    }
}

/// The serialized header map (parse with `map::parse_pairs`).
pub fn header_map_pairs(kind: MapType) -> HostResult<Option<Vec<u8>>> {
    let (mut data, mut len) = (null_mut(), 0usize);
    // SAFETY: as in `plugin_configuration`.
    let status = unsafe { proxy_get_header_map_pairs(kind as u32, &mut data, &mut len) };
    check(status)?;
    // SAFETY: as in `plugin_configuration`.
    Ok(unsafe { take(data, len) })
}

/// A property by its NUL-separated path; `Ok(None)` when Envoy has none.
pub fn property(path: &[u8]) -> HostResult<Option<Vec<u8>>> {
    let (mut data, mut len) = (null_mut(), 0usize);
    // SAFETY: as in `plugin_configuration`.
    let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut len) };
    match status {
        // SAFETY: as in `plugin_configuration`.
        0 => Ok(unsafe { take(data, len) }),
        1 => Ok(None),
        s => Err(Status(s)),
    }
}

/// Calls a function the host registered by name (Envoy: `expr_create`,
/// `expr_evaluate`, ...); `Ok(None)` when it returned no data.
pub fn call_foreign_function(name: &str, args: &[u8]) -> HostResult<Option<Vec<u8>>> {
    let (mut data, mut len) = (null_mut(), 0usize);
    // SAFETY: live slices and out-pointers to locals; the host fills them
    // with a buffer from proxy_on_memory_allocate, reclaimed by `take`.
    let status = unsafe {
        proxy_call_foreign_function(
            name.as_ptr(),
            name.len(),
            args.as_ptr(),
            args.len(),
            &mut data,
            &mut len,
        )
    };
    check(status)?;
    // SAFETY: as in `plugin_configuration`.
    Ok(unsafe { take(data, len) })
}

/// The value and its CAS token; `Ok(None)` when the key does not exist.
pub fn get_shared_data(key: &str) -> HostResult<Option<(Vec<u8>, u32)>> {
    let (mut data, mut len, mut cas) = (null_mut(), 0usize, 0u32);
    // SAFETY: as in `plugin_configuration`.
    let status =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut len, &mut cas) };
    match status {
        // SAFETY: as in `plugin_configuration`.
        0 => Ok(Some((unsafe { take(data, len) }.unwrap_or_default(), cas))),
        1 => Ok(None),
        s => Err(Status(s)),
    }
}

/// Writes if the stored CAS token equals `cas` (0: unconditionally).
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> HostResult<()> {
    // SAFETY: pointers and lengths of live slices.
    check(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

pub fn register_shared_queue(name: &str) -> HostResult<u32> {
    let mut id = 0u32;
    // SAFETY: a live slice and an out-pointer to a local.
    check(unsafe { proxy_register_shared_queue(name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

/// `Ok(None)` while no VM registered the queue.
pub fn resolve_shared_queue(vm_id: &str, name: &str) -> HostResult<Option<u32>> {
    let mut id = 0u32;
    // SAFETY: live slices and an out-pointer to a local.
    match unsafe {
        proxy_resolve_shared_queue(
            vm_id.as_ptr(),
            vm_id.len(),
            name.as_ptr(),
            name.len(),
            &mut id,
        )
    } {
        0 => Ok(Some(id)),
        1 => Ok(None),
        s => Err(Status(s)),
    }
}

pub fn enqueue_shared_queue(id: u32, value: &[u8]) -> HostResult<()> {
    // SAFETY: a live slice.
    check(unsafe { proxy_enqueue_shared_queue(id, value.as_ptr(), value.len()) })
}

/// `Ok(None)` when the queue is empty.
pub fn dequeue_shared_queue(id: u32) -> HostResult<Option<Vec<u8>>> {
    let (mut data, mut len) = (null_mut(), 0usize);
    // SAFETY: as in `plugin_configuration`.
    match unsafe { proxy_dequeue_shared_queue(id, &mut data, &mut len) } {
        // SAFETY: as in `plugin_configuration`.
        0 => Ok(Some(unsafe { take(data, len) }.unwrap_or_default())),
        7 => Ok(None),
        s => Err(Status(s)),
    }
}

pub fn set_tick_period_ms(ms: u32) -> HostResult<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_set_tick_period_milliseconds(ms) })
}

pub fn define_metric(kind: MetricType, name: &str) -> HostResult<u32> {
    let mut id = 0u32;
    // SAFETY: a live slice and an out-pointer to a local.
    check(unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, offset: i64) -> HostResult<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_increment_metric(id, offset) })
}

pub fn record_metric(id: u32, value: u64) -> HostResult<()> {
    // SAFETY: no pointers.
    check(unsafe { proxy_record_metric(id, value) })
}

/// Starts an HTTP call to `cluster`; the answer arrives in
/// `proxy_on_http_call_response` with the returned token.
pub fn http_call(cluster: &str, headers: &[u8], body: &[u8], timeout_ms: u32) -> HostResult<u32> {
    let trailers = 0u32.to_le_bytes();
    let mut token = 0u32;
    // SAFETY: live slices and an out-pointer to a local.
    check(unsafe {
        proxy_http_call(
            cluster.as_ptr(),
            cluster.len(),
            headers.as_ptr(),
            headers.len(),
            body.as_ptr(),
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            timeout_ms,
            &mut token,
        )
    })?;
    Ok(token)
}
