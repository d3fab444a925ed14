//! proxy-wasm hosts for the Envoy artifact: the real Envoy ([`real_envoy`])
//! and a wasmtime emulation of its proxy-wasm host ([`host`]).
pub mod host;
pub mod real_envoy;
