//! proxy-wasm hosts for the Envoy artifact: the real Envoy ([`real_envoy`]).
pub mod real_envoy;
