//! Host adapters: thin glue between a host ABI and the pure core.
//!
//! Each host module is compiled only with its cargo feature, so an artifact
//! imports and exports exactly what its host provides.

pub mod config_files;
#[cfg(feature = "fluent-bit")]
pub mod fluent_bit;
#[cfg(feature = "js")]
pub mod js;
#[cfg(feature = "envoy")]
pub mod proxy_wasm;
