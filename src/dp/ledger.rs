//! The privacy-budget ledger: per-period spent totals kept in host state and
//! updated only by compare-and-swap.
//!
//! Spend-then-release: a caller computes a release's cost, calls
//! [`Ledger::try_spend`], and releases only after `Committed`. A crash between
//! the two loses a release but never releases unpaid.
//!
//! Periods: a spend is charged to the period containing its instant `at`
//! (the engine passes the window start, so which period pays for a window
//! does not depend on when it happens to close). Periods are aligned to UTC
//! epoch multiples of `budget.period`; a period's totals start from zero, i.e.
//! the budget refreshes at each period boundary.
//!
//! The stored record keeps the newest [`Ledger::KEPT_PERIODS`] periods, so
//! late windows of the previous period can still be charged to it. When an
//! older period is forgotten, `closed_before` moves past it and any later
//! spend in a forgotten period is refused as exhausted: forgetting a period
//! never gives its budget back. A clock that goes backwards can therefore not
//! mint budget either. A ledger written with another period length is refused
//! (changing `budget.period` needs a new `ledger_key`).
//!
//! Record (JSON, nesting depth 4 so it parses on a small wasm stack):
//! `{"v":1,"period_secs":86400,"closed_before":0,"periods":[{"start":..,
//! "spent":{"epsilon_nano":..,"rho_nano":..,"delta_atto":..,
//! "laplace_epsilon_nano":..,"laplace_rho_atto":..}}]}`.

use serde::{Deserialize, Serialize};

use super::accountant::{self, PeriodBudget, PrivacyCost, Remaining};
use super::state::{HostState, StateError};

/// The result of a spend attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendOutcome {
    /// The cost was recorded; the release may proceed.
    Committed { remaining: Remaining },
    /// The cost does not fit (or the period is closed); nothing was recorded.
    Exhausted { remaining: Remaining },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct PeriodEntry {
    start: i64,
    spent: PrivacyCost,
}

impl PeriodEntry {
    fn spent(&self) -> PrivacyCost {
        self.spent
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct LedgerRecord {
    v: u32,
    period_secs: i64,
    closed_before: i64,
    periods: Vec<PeriodEntry>,
}

/// A budget ledger stored under one key of a [`HostState`].
#[derive(Debug, Clone)]
pub struct Ledger {
    key: String,
    budget: PeriodBudget,
}

impl Ledger {
    /// Compare-and-swap attempts before giving up with `Contended`.
    pub const MAX_RETRIES: u32 = 100;
    /// Periods remembered in the record.
    pub const KEPT_PERIODS: usize = 3;

    pub fn new(key: impl Into<String>, budget: PeriodBudget) -> Self {
        Ledger {
            key: key.into(),
            budget,
        }
    }

    pub fn budget(&self) -> &PeriodBudget {
        &self.budget
    }

    /// Start of the period containing `at`.
    pub fn period_start(&self, at: i64) -> i64 {
        let p = self.budget.period_secs.max(1);
        at.div_euclid(p).saturating_mul(p)
    }

    /// The remaining budget of the period containing `at`, without spending.
    pub fn status<S: HostState + ?Sized>(
        &self,
        state: &S,
        at: i64,
    ) -> Result<Remaining, StateError> {
        let start = self.period_start(at);
        let record = match state.get(&self.key)? {
            Some((bytes, _)) => self.decode(&bytes)?,
            None => {
                return Ok(accountant::remaining(
                    &self.budget,
                    &PrivacyCost::default(),
                    start,
                ))
            }
        };
        if start < record.closed_before {
            return Ok(closed(start));
        }
        let spent = record
            .periods
            .iter()
            .find(|p| p.start == start)
            .map(PeriodEntry::spent)
            .unwrap_or_default();
        Ok(accountant::remaining(&self.budget, &spent, start))
    }

    /// Records `cost` against the period containing `at` if it fits.
    pub fn try_spend<S: HostState + ?Sized>(
        &self,
        state: &S,
        cost: &PrivacyCost,
        at: i64,
    ) -> Result<SpendOutcome, StateError> {
        let start = self.period_start(at);
        for _ in 0..Self::MAX_RETRIES {
            let (mut record, version) = match state.get(&self.key)? {
                Some((bytes, version)) => (self.decode(&bytes)?, Some(version)),
                None => (
                    LedgerRecord {
                        v: 1,
                        period_secs: self.budget.period_secs,
                        closed_before: i64::MIN,
                        periods: vec![],
                    },
                    None,
                ),
            };
            if start < record.closed_before {
                return Ok(SpendOutcome::Exhausted {
                    remaining: closed(start),
                });
            }
            let spent = record
                .periods
                .iter()
                .find(|p| p.start == start)
                .map(PeriodEntry::spent)
                .unwrap_or_default();
            let after = spent
                .checked_add(cost)
                .ok_or(StateError::Corrupt("ledger total overflow"))?;
            if !accountant::within_budget(&self.budget, &after) {
                return Ok(SpendOutcome::Exhausted {
                    remaining: accountant::remaining(&self.budget, &spent, start),
                });
            }
            if !record.set_period(start, after, self.budget.period_secs) {
                return Ok(SpendOutcome::Exhausted {
                    remaining: closed(start),
                });
            }
            let bytes =
                serde_json::to_vec(&record).map_err(|_| StateError::Io("cannot encode ledger"))?;
            match state.set(&self.key, &bytes, version) {
                Ok(()) => {
                    return Ok(SpendOutcome::Committed {
                        remaining: accountant::remaining(&self.budget, &after, start),
                    })
                }
                Err(StateError::CasMismatch) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StateError::Contended)
    }

    fn decode(&self, bytes: &[u8]) -> Result<LedgerRecord, StateError> {
        let record: LedgerRecord = serde_json::from_slice(bytes)
            .map_err(|_| StateError::Corrupt("ledger record is not valid JSON"))?;
        if record.v != 1 {
            return Err(StateError::Corrupt("unknown ledger record version"));
        }
        if record.period_secs != self.budget.period_secs {
            return Err(StateError::Corrupt(
                "ledger was written with another budget.period; use a new budget.ledger_key",
            ));
        }
        if record.periods.len() > Self::KEPT_PERIODS {
            return Err(StateError::Corrupt("ledger record has too many periods"));
        }
        Ok(record)
    }
}

impl LedgerRecord {
    /// Stores the totals of the period at `start`, keeping only the newest
    /// periods. Returns false if `start` itself would be forgotten.
    fn set_period(&mut self, start: i64, spent: PrivacyCost, period_secs: i64) -> bool {
        let entry = PeriodEntry { start, spent };
        match self.periods.iter_mut().find(|p| p.start == start) {
            Some(p) => *p = entry,
            None => self.periods.push(entry),
        }
        self.periods.sort_by_key(|p| p.start);
        while self.periods.len() > Ledger::KEPT_PERIODS {
            let dropped = self.periods.remove(0);
            self.closed_before = self
                .closed_before
                .max(dropped.start.saturating_add(period_secs));
        }
        start >= self.closed_before
    }
}

fn closed(period_start: i64) -> Remaining {
    Remaining {
        period_start,
        spent: PrivacyCost::default(),
        epsilon_nano: 0,
        delta_atto: 0,
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::dp::accountant::NANO;
    use crate::dp::state::{FileState, InMemoryState};
    use std::sync::Arc;

    const DAY: i64 = 86_400;

    fn ledger() -> Ledger {
        Ledger::new(
            "dp-audit/ledger",
            PeriodBudget {
                epsilon_nano: NANO,
                delta_atto: 1_000_000_000_000,
                period_secs: DAY,
            },
        )
    }

    fn eps(nano: u64) -> PrivacyCost {
        PrivacyCost {
            epsilon_nano: nano,
            ..Default::default()
        }
    }

    #[test]
    fn spends_until_exhausted_exactly() {
        let s = InMemoryState::new();
        let l = ledger();
        let t = 1_714_564_800;
        for i in 1..=4 {
            match l.try_spend(&s, &eps(250_000_000), t).unwrap() {
                SpendOutcome::Committed { remaining } => {
                    assert_eq!(remaining.epsilon_nano, NANO - i * 250_000_000)
                }
                other => panic!("{other:?}"),
            }
        }
        match l.try_spend(&s, &eps(1), t).unwrap() {
            SpendOutcome::Exhausted { remaining } => {
                assert_eq!(remaining.epsilon_nano, 0);
                assert_eq!(remaining.spent.epsilon_nano, NANO);
                assert_eq!(remaining.period_start, t - t % DAY);
            }
            other => panic!("{other:?}"),
        }
        // The next UTC day has a fresh budget; the old one stays exhausted.
        let next_day = t - t % DAY + DAY;
        assert!(matches!(
            l.try_spend(&s, &eps(NANO), next_day).unwrap(),
            SpendOutcome::Committed { .. }
        ));
        assert!(matches!(
            l.try_spend(&s, &eps(1), t).unwrap(),
            SpendOutcome::Exhausted { .. }
        ));
        assert_eq!(l.status(&s, next_day + 5).unwrap().epsilon_nano, 0);
        assert_eq!(l.status(&s, next_day + DAY).unwrap().epsilon_nano, NANO);
    }

    #[test]
    fn forgotten_periods_stay_closed() {
        let s = InMemoryState::new();
        let l = ledger();
        for day in 0..5 {
            assert!(matches!(
                l.try_spend(&s, &eps(10), day * DAY).unwrap(),
                SpendOutcome::Committed { .. }
            ));
        }
        // Days 0 and 1 were forgotten: spending there (a clock set back, a very
        // late window) is refused, never granted a fresh budget.
        for day in 0..2 {
            assert!(matches!(
                l.try_spend(&s, &eps(1), day * DAY).unwrap(),
                SpendOutcome::Exhausted { .. }
            ));
        }
        assert!(matches!(
            l.try_spend(&s, &eps(1), 2 * DAY).unwrap(),
            SpendOutcome::Committed { .. }
        ));
        // Days before the ledger ever existed are fine as long as nothing was forgotten.
        let fresh = InMemoryState::new();
        assert!(matches!(
            l.try_spend(&fresh, &eps(1), -10 * DAY).unwrap(),
            SpendOutcome::Committed { .. }
        ));
    }

    #[test]
    fn corrupt_or_mismatched_records_fail_closed() {
        let s = InMemoryState::new();
        let l = ledger();
        s.set("dp-audit/ledger", b"garbage", None).unwrap();
        assert!(matches!(
            l.try_spend(&s, &eps(1), 0),
            Err(StateError::Corrupt(_))
        ));
        let hourly = Ledger::new(
            "h",
            PeriodBudget {
                period_secs: 3_600,
                ..*l.budget()
            },
        );
        assert!(matches!(
            hourly.try_spend(&s, &eps(1), 0).unwrap(),
            SpendOutcome::Committed { .. }
        ));
        let daily_on_hourly = Ledger::new("h", *l.budget());
        assert!(matches!(
            daily_on_hourly.try_spend(&s, &eps(1), 0),
            Err(StateError::Corrupt(_))
        ));
    }

    /// A state whose writes always lose the race.
    struct AlwaysConflicting(InMemoryState);
    impl HostState for AlwaysConflicting {
        fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StateError> {
            self.0.get(key)
        }
        fn set(&self, _: &str, _: &[u8], _: Option<u64>) -> Result<(), StateError> {
            Err(StateError::CasMismatch)
        }
    }

    #[test]
    fn bounded_retries() {
        let s = AlwaysConflicting(InMemoryState::new());
        assert_eq!(
            ledger().try_spend(&s, &eps(1), 0),
            Err(StateError::Contended)
        );
    }

    #[test]
    fn eight_threads_never_overspend() {
        let s = Arc::new(InMemoryState::new());
        let l = ledger();
        // 8 threads x 200 attempts of 0.001 = 1.6 epsilon of demand for a 1.0 budget.
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (s, l) = (Arc::clone(&s), l.clone());
                std::thread::spawn(move || {
                    let (mut committed, mut exhausted) = (0u64, 0u64);
                    let mut attempts = 0;
                    while attempts < 200 {
                        match l.try_spend(&*s, &eps(1_000_000), 1_000) {
                            Ok(SpendOutcome::Committed { .. }) => committed += 1,
                            Ok(SpendOutcome::Exhausted { .. }) => exhausted += 1,
                            Err(StateError::Contended) => continue,
                            Err(e) => panic!("{e}"),
                        }
                        attempts += 1;
                    }
                    (committed, exhausted)
                })
            })
            .collect();
        let (mut committed, mut exhausted) = (0, 0);
        for t in threads {
            let (c, e) = t.join().unwrap();
            committed += c;
            exhausted += e;
        }
        // Exactly the budget was committed: never more, and no spend was lost.
        assert_eq!(committed * 1_000_000, NANO);
        assert_eq!(committed + exhausted, 1_600);
        assert_eq!(l.status(&*s, 0).unwrap().spent.epsilon_nano, NANO);
    }

    #[test]
    fn small_laplace_spends_beyond_the_linear_limit() {
        // Budget (1, 1e-6); spends of epsilon 0.01: 100 linearly, but about
        // 490 via zCDP (rho 5e-5 each).
        let s = InMemoryState::new();
        let l = ledger();
        let cost = PrivacyCost::laplace(10_000_000);
        let mut committed = 0u64;
        while let SpendOutcome::Committed { .. } = l.try_spend(&s, &cost, 0).unwrap() {
            committed += 1;
        }
        let cks = |rho: f64| {
            (1..100_000)
                .map(|i| 1.0 + i as f64 * 1e-3)
                .map(|a: f64| {
                    a * rho
                        + ((1e6f64).ln() + (a - 1.0) * (1.0 - 1.0 / a).ln() - a.ln()) / (a - 1.0)
                })
                .fold(f64::INFINITY, f64::min)
        };
        let max_n = (1..2_000u64)
            .take_while(|n| cks(*n as f64 * 5e-5) <= 1.0)
            .last()
            .unwrap();
        println!("committed {committed} spends of 0.01 (linear limit 100, zCDP limit {max_n})");
        assert!(committed > 100);
        assert!(
            committed + 1 >= max_n && committed <= max_n,
            "{committed} vs {max_n}"
        );
        let status = l.status(&s, 0).unwrap();
        assert_eq!(status.spent.laplace_epsilon_nano, committed * 10_000_000);
    }

    #[test]
    fn file_ledger_survives_restart() {
        let dir = crate::dp::state::tests::temp_dir("ledger");
        {
            let l = ledger();
            let s = FileState::new(&dir);
            assert!(matches!(
                l.try_spend(&s, &eps(600_000_000), 100).unwrap(),
                SpendOutcome::Committed { .. }
            ));
        }
        let l = ledger();
        let s = FileState::new(&dir);
        assert_eq!(l.status(&s, 100).unwrap().epsilon_nano, 400_000_000);
        assert!(matches!(
            l.try_spend(&s, &eps(500_000_000), 100).unwrap(),
            SpendOutcome::Exhausted { .. }
        ));
        assert!(matches!(
            l.try_spend(&s, &eps(400_000_000), 100).unwrap(),
            SpendOutcome::Committed { .. }
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
