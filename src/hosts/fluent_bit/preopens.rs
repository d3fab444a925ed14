//! The directories the host preopened for us (Fluent Bit's `accessible_paths`).

use std::path::PathBuf;

/// Preopened directory names, in descriptor order (fd 3 upward).
#[cfg(target_os = "wasi")]
#[allow(unsafe_code)]
pub fn dirs() -> Vec<PathBuf> {
    #[repr(C)]
    struct Prestat {
        tag: u8,
        name_len: usize,
    }
    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        fn fd_prestat_get(fd: u32, buf: *mut Prestat) -> u16;
        fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: usize) -> u16;
    }
    const ERRNO_SUCCESS: u16 = 0;
    // Preopens are numbered densely from 3; the first failure ends the list.
    // The bound only guards against a host that never fails.
    let mut out = Vec::new();
    for fd in 3u32..1024 {
        let mut stat = Prestat {
            tag: u8::MAX,
            name_len: 0,
        };
        // SAFETY: `stat` is a valid, writable `Prestat` with the layout the
        // WASI preview 1 ABI defines (u8 tag, then a u32 length on wasm32).
        if unsafe { fd_prestat_get(fd, &mut stat) } != ERRNO_SUCCESS {
            break;
        }
        if stat.tag != 0 || stat.name_len > 4096 {
            continue;
        }
        let mut name = vec![0u8; stat.name_len];
        // SAFETY: `name` has exactly `name_len` writable bytes, the length
        // the host reported for this descriptor's name.
        if unsafe { fd_prestat_dir_name(fd, name.as_mut_ptr(), name.len()) } != ERRNO_SUCCESS {
            continue;
        }
        // Some hosts count a trailing NUL in the length.
        while name.last() == Some(&0) {
            name.pop();
        }
        if let Ok(s) = String::from_utf8(name) {
            out.push(PathBuf::from(s));
        }
    }
    out
}

/// Outside WASI (native builds, tests): the current directory.
#[cfg(not(target_os = "wasi"))]
pub fn dirs() -> Vec<PathBuf> {
    vec![PathBuf::from(".")]
}
