//! Envoy host (proxy-wasm ABI 0.2.1): the access logger and the singleton
//! aggregator, from one module.
//!
//! Roles, chosen by the plugin's root id (`plugin_root_id`):
//! - any root id but [`AGGREGATOR_ROOT_ID`]: the access logger
//!   (`envoy.access_loggers.wasm`, one VM per worker). Envoy calls
//!   `proxy_on_log` on the root context; the logger reads all request
//!   headers with one host call and only the properties the policy's
//!   `sink.record.properties` lists, builds the record ([`record`]), scrubs
//!   it by the policy and ships it to the sink (Envoy's log, or batched HTTP
//!   POSTs, [`outbox`]). With an `aggregate` section it also reads the
//!   aggregation fields from the *scrubbed* record and sends them, batched,
//!   to the singleton through a shared queue ([`events`]).
//! - [`AGGREGATOR_ROOT_ID`]: the singleton service (`envoy.bootstrap.wasm`,
//!   `singleton: true`) on the main thread. It drains the queue, runs the DP
//!   engine, spends budget in a ledger kept in proxy-wasm shared data with
//!   compare-and-swap, and releases to the sink and to Envoy stats.
//!
//! Configuration: the plugin configuration is the JSON policy (a
//! `google.protobuf.StringValue`); its `sink` section is read by
//! [`settings`]. The HMAC key text comes from the environment variable
//! `DP_AUDIT_KEY` (`vm_config.environment_variables`). Any problem makes
//! `proxy_on_configure` return false with one log line naming it: Envoy
//! then refuses the configuration (static bootstrap: exit 1; LDS/ECDS: the
//! update is rejected) instead of logging unscrubbed data.
//!
//! Failure: nothing here panics on purpose (a trap kills the VM and, under
//! the default failure policy, logging stops for good). Host calls are made
//! through our own imports ([`abi`], wasm only), whose every status becomes
//! a `Result`; the `proxy-wasm` SDK's wrappers and dispatcher `panic!` on
//! statuses they do not expect and `unwrap` header bytes as UTF-8, so this
//! module implements the exports itself and does not link the SDK.
//!
//! Only [`abi`] and [`vm`] touch the host; everything else is pure and
//! tested natively.

pub mod events;
pub mod logger;
pub mod map;
pub mod outbox;
pub mod record;
pub mod release_stats;
pub mod settings;

#[cfg(target_arch = "wasm32")]
mod abi;
#[cfg(target_arch = "wasm32")]
mod service;
#[cfg(target_arch = "wasm32")]
mod shared_state;
#[cfg(target_arch = "wasm32")]
mod vm;

/// The root id that makes a plugin the singleton aggregator.
pub const AGGREGATOR_ROOT_ID: &str = "dp_audit_aggregator";
