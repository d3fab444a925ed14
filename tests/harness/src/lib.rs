//! wasmtime emulation of the hosts dp-audit runs in.
//!
//! The emulations follow the facts in the team's hosts document (observed on real
//! Fluent Bit 5.1.1 / WAMR 2.4.1 binaries) and the upstream sources, not a friendlier
//! version of them. Layout:
//! - [`engine`]: the wasmtime `Engine` shared by every host emulation (fuel, stack limit).
//! - [`wasi`]: WASI preview 1 contexts: preopens and captured guest stdout/stderr.
//! - [`app_heap`]: WAMR's host-managed "app heap" inside linear memory.
//! - [`fluent_bit`]: the Fluent Bit `wasm` filter host (JSON event format).
//! - [`jsonl`]: checking JSON-lines input before it reaches a module.
//! - [`size`]: Fluent Bit's size syntax (`4M`, `256K`).
//! - [`artifact`]: locating the real dp-audit artifact and driving it line by line.
//! - [`cli`]: the `dp-audit-harness` command line.
//!
//! - [`proxy_wasm`]: the Envoy artifact's hosts: a wasmtime proxy-wasm host (worker VMs
//!   plus a singleton sharing data, queues and metrics, on a virtual clock) and the real
//!   Envoy from `.venv` (launcher, config builder, collector).

pub mod app_heap;
pub mod artifact;
pub mod cli;
pub mod dp_cli;
pub mod engine;
pub mod error;
pub mod fluent_bit;
pub mod jsonl;
pub mod proxy_wasm;
pub mod run_wasi;
pub mod size;
pub mod wasi;

pub use error::HarnessError;
