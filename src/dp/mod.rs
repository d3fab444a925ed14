//! Differential privacy engine: windows, contribution bounds, exact noise and
//! a privacy-budget ledger kept in host state.
//!
//! Hosts supply only state ([`HostState`]), time and entropy; everything else
//! is pure Rust, tested natively. A host builds an [`Aggregator`] from the
//! policy's `aggregate` section ([`AggregateConfig::from_json`]), extracts
//! [`AggregateConfig::field_paths`] from each *scrubbed* record, and calls
//! [`Aggregator::ingest`] per record and [`Aggregator::tick`] on a timer; both
//! return JSON release records for the windows they closed.
//!
//! Modules: [`config`] (policy section, derived parameters), [`window`]
//! (bounding, caps, partition selection), [`aggregator`] (windows over time,
//! spend-then-release), [`release`] (record format), [`accountant`]
//! (composition), [`ledger`] (per-period budget over [`state`]), [`timefmt`]
//! (durations and timestamps), `noise` (exact samplers).
//!
//! # What the guarantee covers
//! Let a *unit* be a user (all events with one value of
//! `privacy_unit.field`) or, with `{"type": "event"}`, a single event. Let a
//! *period* be one aligned interval of `budget.period` (e.g. one UTC day).
//! Consider all release records of all windows whose start lies in the
//! period, produced by every aggregator instance sharing the ledger key. For
//! any two input streams that differ in all events of one unit, the
//! distributions of those records are `(epsilon, delta)`-indistinguishable
//! with the `budget.epsilon` and `budget.delta` of the policy. This rests on:
//! - per-window contribution bounds (`bounds`, sum `clamp`) enforced before
//!   any aggregation, with sensitivities derived from them, doubled where a
//!   first-come memory cap could let one unit displace another
//!   ([`config::sensitivities`]);
//! - exact discrete Laplace / Gaussian noise (no floating-point sampling);
//! - data-independent release schedule and costs: every window is released
//!   (empty ones as noisy zeros), declared domains are released in full,
//!   undeclared groups pass DP partition selection, and a window's cost
//!   depends only on the configuration;
//! - spend-then-release against one shared ledger with compare-and-swap, and
//!   the composition rule of [`accountant`] (the tighter of: Laplace epsilon
//!   added linearly, or Laplace and Gaussian releases together in zCDP;
//!   partition selection always linear; zCDP converted to `(epsilon, delta)`
//!   with the delta that partition selection left).
//!
//! # What it does not cover
//! - Composition across periods: each period has its own budget, so a unit
//!   active for `n` periods loses up to `n * epsilon` in total.
//! - Group keys and unit values are *scrubbed* record values; partition
//!   selection protects which keys appear, not what the scrubber let through.
//!   If a group key identifies a person (e.g. grouping by a pseudonym), the
//!   guarantee is about the counts, and the key itself is released as is for
//!   selected groups.
//! - Timing: records are emitted when windows close, which happens at host
//!   times or event times; the emission time, the record order across hosts,
//!   and sampler running time are not protected.
//! - Counters ([`Counters`]) and snapshots ([`Aggregator::snapshot`]) describe
//!   raw input exactly; they are for operators, not data consumers.
//! - The hosts are trusted: they provide correct time (a host clock set far
//!   forward would open new periods early), honest state (a host that rolls
//!   back or drops the ledger file refunds budget), and entropy.
//! - Data that never reaches the engine (dropped as late, out of domain,
//!   beyond bounds or caps) biases results but costs no privacy.
//! - Several engine instances sharing a ledger each release every window and
//!   each pay for it: the guarantee holds, but the budget goes `n` times as
//!   fast. Aggregate in one instance per ledger where possible (in Envoy, the
//!   singleton service), and forward events to it.

pub mod accountant;
pub mod aggregator;
pub mod config;
pub mod ledger;
pub mod noise;
pub mod release;
mod snapshot;
pub mod state;
pub mod timefmt;
pub mod window;

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests;

pub use accountant::{PeriodBudget, PrivacyCost, Remaining};
pub use aggregator::{Aggregator, Counters, DpError};
pub use config::AggregateConfig;
pub use ledger::{Ledger, SpendOutcome};
pub use state::{FileState, HostState, InMemoryState, StateError};
