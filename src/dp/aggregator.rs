//! The object hosts drive: events in, release records out.
//!
//! # Windows and time
//! Windows are tumbling, `[k w, (k+1) w)` in unix seconds of *event time*
//! (the record's `time_field`, else host time). The watermark is the largest
//! time seen: host times passed to [`Aggregator::ingest`] and
//! [`Aggregator::tick`], and accepted event times. Window `k` closes once the
//! watermark reaches its end plus `allowed_lateness`, whichever call brings
//! it there. Events are dropped (and counted) when their time is unreadable,
//! more than `max_clock_skew` ahead of host time, or inside a window that has
//! already closed (late).
//!
//! The first call fixes the first window: the oldest one still open at that
//! host time (hosts should call [`Aggregator::tick`] at start-up, so that this
//! does not depend on when the first event arrives). A host without a timer
//! (Fluent Bit's filter is only called per record) releases a window with
//! the first record after it closed; [`Aggregator::next_close_at`] says when
//! that is due.
//!
//! # Every window is released
//! From the first window on, every window is closed and released in order,
//! including windows that saw no event (their declared groups are released as
//! noisy zeros). Which windows produce a release therefore does not depend on
//! the data. After a long pause (more than [`Aggregator::MAX_CATCH_UP`]
//! windows at once) the oldest windows are skipped, by time alone.
//!
//! # Spend, then release
//! For each closing window and release, the release's fixed cost is charged
//! to the ledger (for the period containing the window start) first; only on
//! `Committed` is noise drawn and the records emitted. Otherwise a
//! `dp_budget_exhausted` record is emitted (consecutive windows of one release
//! are merged into one record per call), or a `dp_release_error` record when
//! the ledger cannot be used; nothing is released unpaid.

use std::collections::BTreeMap;
use std::fmt;

use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};

use super::accountant::Remaining;
use super::config::AggregateConfig;
use super::ledger::{Ledger, SpendOutcome};
use super::release;
use super::snapshot;
use super::state::{HostState, StateError};
use super::timefmt::parse_event_time;
use super::window::{Rejected, WindowData};
use crate::time::{MAX_SECS, MIN_SECS};

/// Errors of the aggregator API (static reasons only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpError {
    /// `fields` did not have one entry per [`AggregateConfig::field_paths`].
    FieldCount { expected: usize, got: usize },
    /// A snapshot could not be restored.
    Snapshot(&'static str),
}

impl fmt::Display for DpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DpError::FieldCount { expected, got } => {
                write!(f, "expected {expected} extracted fields (one per aggregate field path), got {got}")
            }
            DpError::Snapshot(why) => write!(f, "cannot restore aggregator snapshot: {why}"),
        }
    }
}

impl std::error::Error for DpError {}

/// Operational counters. They describe the raw input and are NOT
/// differentially private: show them to operators, not to data consumers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Calls of `ingest` with well-formed input.
    pub events_ingested: u64,
    /// Events placed in a window.
    pub events_accepted: u64,
    /// Events whose window had already closed.
    pub events_late: u64,
    /// Events more than `max_clock_skew` ahead of host time.
    pub events_future: u64,
    /// Events whose time field could not be read.
    pub events_bad_time: u64,
    /// User-level events without a privacy-unit value.
    pub events_no_unit: u64,
    /// Events of units beyond `limits.max_units_per_window`.
    pub events_over_unit_cap: u64,
    /// Contributions dropped by `max_groups_per_unit`.
    pub contributions_over_group_bound: u64,
    /// Contributions dropped by `max_contributions_per_group`.
    pub contributions_over_contribution_bound: u64,
    /// Contributions whose group value is outside a declared domain.
    pub contributions_out_of_domain: u64,
    /// Sum contributions whose field is absent or not a number.
    pub contributions_bad_value: u64,
    /// Event-level contributions beyond the per-window cap.
    pub contributions_over_memory_cap: u64,
    /// Windows closed (released or not).
    pub windows_closed: u64,
    /// Windows skipped after a pause longer than `MAX_CATCH_UP` windows.
    pub windows_skipped: u64,
    /// Release records emitted (one per released group).
    pub releases: u64,
    /// (window, release) pairs not released because the budget was exhausted.
    pub releases_suppressed_budget: u64,
    /// (window, release) pairs not released because of a ledger or noise error.
    pub release_errors: u64,
}

/// Everything an aggregator holds besides its configuration. No `Debug`:
/// it holds unit values and group keys taken from records.
#[derive(Clone)]
pub(crate) struct AggState {
    /// Configuration fingerprint the state was built under.
    pub fingerprint: String,
    /// Index of the oldest window not yet closed.
    pub next_window: Option<i64>,
    pub watermark: i64,
    pub windows: BTreeMap<i64, WindowData>,
    pub counters: Counters,
}

/// The DP aggregation engine of one host instance.
#[derive(Clone)]
pub struct Aggregator {
    cfg: AggregateConfig,
    ledger: Ledger,
    st: AggState,
}

/// Shows positions and counters only: window contents are record values.
impl fmt::Debug for Aggregator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aggregator")
            .field("next_window", &self.st.next_window)
            .field("watermark", &self.st.watermark)
            .field("open_windows", &self.st.windows.len())
            .field("counters", &self.st.counters)
            .finish_non_exhaustive()
    }
}

/// Output of one call, with consecutive budget-exhausted windows merged.
enum Pending {
    Record(String),
    Exhausted {
        release: usize,
        last_window: i64,
        first_start: i64,
        last_end: i64,
        windows: u64,
        remaining: Remaining,
    },
}

impl Aggregator {
    /// Most windows closed by one call; older ones are skipped.
    pub const MAX_CATCH_UP: i64 = 10_000;

    pub fn new(cfg: AggregateConfig) -> Aggregator {
        let ledger = Ledger::new(cfg.budget.ledger_key.clone(), cfg.budget.budget);
        let st = AggState {
            fingerprint: cfg.fingerprint().to_owned(),
            next_window: None,
            watermark: i64::MIN,
            windows: BTreeMap::new(),
            counters: Counters::default(),
        };
        Aggregator { cfg, ledger, st }
    }

    pub fn config(&self) -> &AggregateConfig {
        &self.cfg
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Host time at which the oldest open window closes (for host timers).
    pub fn next_close_at(&self) -> Option<i64> {
        let k = self.st.next_window?;
        k.checked_add(1)?
            .checked_mul(self.cfg.window_secs)?
            .checked_add(self.cfg.allowed_lateness_secs)
    }

    /// Feeds one event. `fields` holds the values extracted from the scrubbed
    /// record, in the order of `cfg.field_paths()`: each the JSON scalar as
    /// text (strings unescaped, numbers as their literal), `None` when absent.
    /// Returns the records of windows closed by this call.
    pub fn ingest<S: HostState + ?Sized, R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        fields: &[Option<&str>],
        host_time_secs: i64,
        state: &S,
        rng: &mut R,
    ) -> Result<Vec<String>, DpError> {
        let expected = self.cfg.field_paths().len();
        if fields.len() != expected {
            return Err(DpError::FieldCount {
                expected,
                got: fields.len(),
            });
        }
        let now = host_time_secs.clamp(MIN_SECS, MAX_SECS);
        let mut out = Vec::new();
        self.advance(now, state, rng, &mut out);
        bump(&mut self.st.counters.events_ingested);
        if let Some(t) = self.place(fields, now) {
            self.advance(t, state, rng, &mut out);
        }
        Ok(self.finish(out))
    }

    /// Advances host time: closes and releases every window whose end plus
    /// the allowed lateness is at or before `now_secs`.
    pub fn tick<S: HostState + ?Sized, R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        now_secs: i64,
        state: &S,
        rng: &mut R,
    ) -> Result<Vec<String>, DpError> {
        let mut out = Vec::new();
        self.advance(now_secs.clamp(MIN_SECS, MAX_SECS), state, rng, &mut out);
        Ok(self.finish(out))
    }

    pub fn counters(&self) -> Counters {
        self.st.counters.clone()
    }

    /// The open windows and counters as JSON, to persist across restarts.
    /// It holds scrubbed values (unit pseudonyms, group keys) and exact
    /// per-window totals: protect it like the scrubbed logs themselves.
    /// The format is flat text (see `dp/snapshot.rs`) so that restoring needs
    /// no deep recursion on a small wasm stack.
    pub fn snapshot(&self) -> String {
        snapshot::encode(&self.st)
    }

    /// Rebuilds an aggregator from [`Aggregator::snapshot`] output taken under
    /// the same configuration.
    pub fn restore(cfg: AggregateConfig, s: &str) -> Result<Aggregator, DpError> {
        let mut st = snapshot::decode(s).map_err(DpError::Snapshot)?;
        if st.fingerprint != cfg.fingerprint() {
            return Err(DpError::Snapshot(
                "taken under a different aggregate configuration",
            ));
        }
        if st.windows.len() > usize::try_from(cfg.max_open_windows).unwrap_or(0) {
            return Err(DpError::Snapshot(
                "more open windows than the configuration allows",
            ));
        }
        if let (Some(next), Some((&first, _))) = (st.next_window, st.windows.first_key_value()) {
            if first < next {
                return Err(DpError::Snapshot("holds a window that was already closed"));
            }
        } else if st.next_window.is_none() && !st.windows.is_empty() {
            return Err(DpError::Snapshot("holds windows but no window position"));
        }
        for w in st.windows.values_mut() {
            w.validate(&cfg).map_err(DpError::Snapshot)?;
        }
        let mut agg = Aggregator::new(cfg);
        agg.st = st;
        Ok(agg)
    }

    /// Validates an event and adds it to its window; returns its event time
    /// if it was accepted.
    fn place(&mut self, fields: &[Option<&str>], now: i64) -> Option<i64> {
        let cfg = &self.cfg;
        let c = &mut self.st.counters;
        let t = match cfg.time_index().map(|i| fields.get(i).copied().flatten()) {
            None | Some(None) => now,
            Some(Some(text)) => match parse_event_time(text) {
                Some(t) => t,
                None => {
                    bump(&mut c.events_bad_time);
                    return None;
                }
            },
        };
        if t > now.saturating_add(cfg.max_clock_skew_secs) {
            bump(&mut c.events_future);
            return None;
        }
        let k = t.div_euclid(cfg.window_secs);
        if self.st.next_window.is_none_or(|next| k < next) {
            bump(&mut c.events_late);
            return None;
        }
        let unit = match cfg.unit_index() {
            None => None,
            Some(i) => match fields.get(i).copied().flatten() {
                Some(u) => Some(u),
                None => {
                    bump(&mut c.events_no_unit);
                    return None;
                }
            },
        };
        let max_open = usize::try_from(cfg.max_open_windows).unwrap_or(0);
        if !self.st.windows.contains_key(&k) && self.st.windows.len() >= max_open {
            bump(&mut c.events_over_unit_cap);
            return None;
        }
        let window = self
            .st
            .windows
            .entry(k)
            .or_insert_with(|| WindowData::new(cfg));
        if !window.admit_unit(cfg, unit) {
            bump(&mut c.events_over_unit_cap);
            return None;
        }
        bump(&mut c.events_accepted);
        for ri in 0..cfg.releases.len() {
            if let Err(why) = window.add(cfg, ri, unit, fields) {
                bump(match why {
                    Rejected::OutOfDomain => &mut c.contributions_out_of_domain,
                    Rejected::BadValue => &mut c.contributions_bad_value,
                    Rejected::OverGroupBound => &mut c.contributions_over_group_bound,
                    Rejected::OverContributionBound => &mut c.contributions_over_contribution_bound,
                    Rejected::OverMemoryCap => &mut c.contributions_over_memory_cap,
                });
            }
        }
        Some(t)
    }

    /// Moves the watermark to `to` (if later) and closes every window due.
    fn advance<S: HostState + ?Sized, R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        to: i64,
        state: &S,
        rng: &mut R,
        out: &mut Vec<Pending>,
    ) {
        let w = self.cfg.window_secs;
        let lateness = self.cfg.allowed_lateness_secs;
        let next = *self
            .st
            .next_window
            .get_or_insert_with(|| to.saturating_sub(lateness).div_euclid(w));
        self.st.watermark = self.st.watermark.max(to);
        // Window k is due when (k + 1) w + lateness <= watermark.
        let Some(last) = self
            .st
            .watermark
            .saturating_sub(lateness)
            .div_euclid(w)
            .checked_sub(1)
        else {
            return;
        };
        if last < next {
            return;
        }
        let mut first = next;
        let backlog = last.saturating_sub(next).saturating_add(1);
        if backlog > Self::MAX_CATCH_UP {
            first = last.saturating_sub(Self::MAX_CATCH_UP).saturating_add(1);
            let skipped = first.saturating_sub(next);
            let c = &mut self.st.counters;
            c.windows_skipped = c.windows_skipped.saturating_add(skipped.unsigned_abs());
            self.st.windows.retain(|k, _| *k >= first);
        }
        let mut k = first;
        while k <= last {
            self.close_window(k, state, rng, out);
            k = k.saturating_add(1);
        }
        self.st.next_window = Some(last.saturating_add(1));
    }

    fn close_window<S: HostState + ?Sized, R: RngCore + CryptoRng + ?Sized>(
        &mut self,
        k: i64,
        state: &S,
        rng: &mut R,
        out: &mut Vec<Pending>,
    ) {
        let data = self.st.windows.remove(&k);
        let start = k.saturating_mul(self.cfg.window_secs);
        let end = start.saturating_add(self.cfg.window_secs);
        let c = &mut self.st.counters;
        bump(&mut c.windows_closed);
        for (ri, r) in self.cfg.releases.iter().enumerate() {
            match self.ledger.try_spend(state, &r.cost, start) {
                Ok(SpendOutcome::Committed { remaining }) => {
                    let rdata = data.as_ref().and_then(|d| d.releases.get(ri));
                    match release::release_records(&self.cfg, r, rdata, start, &remaining, rng) {
                        Ok(records) => {
                            c.releases = c.releases.saturating_add(records.len() as u64);
                            out.extend(records.into_iter().map(Pending::Record));
                        }
                        Err(_) => {
                            bump(&mut c.release_errors);
                            out.push(Pending::Record(release::error_record(
                                r,
                                start,
                                end,
                                "noise sampling failed after the budget was spent; nothing released",
                            )));
                        }
                    }
                }
                Ok(SpendOutcome::Exhausted { remaining }) => {
                    bump(&mut c.releases_suppressed_budget);
                    let merged = out.iter_mut().rev().find_map(|p| match p {
                        Pending::Exhausted {
                            release,
                            last_window,
                            last_end,
                            windows,
                            remaining: rem,
                            ..
                        } if *release == ri
                            && *last_window == k.saturating_sub(1)
                            && rem.period_start == remaining.period_start =>
                        {
                            *last_window = k;
                            *last_end = end;
                            *windows = windows.saturating_add(1);
                            *rem = remaining;
                            Some(())
                        }
                        _ => None,
                    });
                    if merged.is_none() {
                        out.push(Pending::Exhausted {
                            release: ri,
                            last_window: k,
                            first_start: start,
                            last_end: end,
                            windows: 1,
                            remaining,
                        });
                    }
                }
                Err(e) => {
                    bump(&mut c.release_errors);
                    let reason = match e {
                        StateError::CasMismatch | StateError::Contended => {
                            "ledger too contended; nothing released"
                        }
                        StateError::Io(_) => "ledger state unavailable; nothing released",
                        StateError::Corrupt(_) => {
                            "ledger state corrupt or of another configuration; nothing released"
                        }
                    };
                    out.push(Pending::Record(release::error_record(
                        r, start, end, reason,
                    )));
                }
            }
        }
    }

    fn finish(&self, out: Vec<Pending>) -> Vec<String> {
        out.into_iter()
            .filter_map(|p| match p {
                Pending::Record(s) => Some(s),
                Pending::Exhausted {
                    release,
                    first_start,
                    last_end,
                    windows,
                    remaining,
                    ..
                } => {
                    let r = self.cfg.releases.get(release)?;
                    Some(release::exhausted_record(
                        r,
                        first_start,
                        last_end,
                        windows,
                        &remaining,
                    ))
                }
            })
            .collect()
    }
}

fn bump(n: &mut u64) {
    *n = n.saturating_add(1);
}
