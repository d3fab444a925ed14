//! WASI preview 1 contexts for the host emulations.
//!
//! What a module sees, as under WAMR's libc-wasi in Fluent Bit: no arguments, no
//! environment variables, the listed preopened directories as fds 3, 4, ... in order,
//! each readable and writable (rename works), `random_get` and the clocks. Guest stdout
//! and stderr are captured (Fluent Bit passes its own stdout/stderr through) so tests
//! can assert on what a module prints; stdin is empty.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use wasmtime_wasi::cli::OutputFile;
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use crate::HarnessError;

/// A host directory made visible to the guest under `guest` (the name returned by
/// `fd_prestat_dir_name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preopen {
    pub host: PathBuf,
    pub guest: String,
}

/// One captured guest output stream, backed by an anonymous temporary file so that a
/// chatty module cannot grow the harness's memory.
#[derive(Debug)]
pub struct CapturedStream {
    file: File,
    read_to: u64,
}

impl CapturedStream {
    fn new() -> Result<(Self, OutputFile), HarnessError> {
        let file = tempfile::tempfile().map_err(|e| HarnessError::io("<temp file>", &e))?;
        let writer = file
            .try_clone()
            .map_err(|e| HarnessError::io("<temp file>", &e))?;
        Ok((Self { file, read_to: 0 }, OutputFile::new(writer)))
    }

    /// Everything written since the previous call.
    pub fn take(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        // Positional reads leave the writer's file offset alone.
        while let Ok(n) = self.file.read_at(&mut buf, self.read_to) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(buf.get(..n).unwrap_or_default());
            self.read_to = self.read_to.saturating_add(n as u64);
        }
        out
    }
}

/// The guest's captured stdout and stderr.
#[derive(Debug)]
pub struct GuestOutput {
    pub stdout: CapturedStream,
    pub stderr: CapturedStream,
}

impl GuestOutput {
    /// Guest stdout written since the last take, lossily decoded.
    pub fn take_stdout(&mut self) -> String {
        String::from_utf8_lossy(&self.stdout.take()).into_owned()
    }

    /// Guest stderr written since the last take, lossily decoded.
    pub fn take_stderr(&mut self) -> String {
        String::from_utf8_lossy(&self.stderr.take()).into_owned()
    }
}

/// Builds a WASI preview 1 context with `preopens` and captured stdout/stderr.
pub fn build_p1_ctx(preopens: &[Preopen]) -> Result<(WasiP1Ctx, GuestOutput), HarnessError> {
    let (stdout, stdout_writer) = CapturedStream::new()?;
    let (stderr, stderr_writer) = CapturedStream::new()?;
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(stdout_writer)
        .stderr(stderr_writer)
        // The harness drives one store from one thread; blocking file I/O in place
        // avoids a thread hop per WASI call.
        .allow_blocking_current_thread(true);
    for preopen in preopens {
        builder
            .preopened_dir(&preopen.host, &preopen.guest, FsPerms::ReadWrite)
            .map_err(|e| HarnessError::Io {
                path: preopen.host.display().to_string(),
                message: format!("error while pre-opening directory: {e:#}"),
            })?;
    }
    Ok((builder.build_p1(), GuestOutput { stdout, stderr }))
}
