//! End-to-end tests of the DP engine: aggregator behaviour, an empirical
//! privacy test and an accuracy (confidence interval coverage) test.

mod accuracy;
mod aggregator;
mod privacy;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::Value;

use super::{AggregateConfig, Aggregator, HostState, InMemoryState};

/// 2024-05-01T12:00:00Z, a multiple of 60.
pub const T0: i64 = 1_714_564_800;
/// 2024-05-01T00:00:00Z.
pub const DAY0: i64 = 1_714_521_600;

pub fn config(v: &Value) -> AggregateConfig {
    AggregateConfig::from_json(v).unwrap_or_else(|e| panic!("{e}"))
}

/// An aggregator with its host state and a seeded RNG.
pub struct Harness<S: HostState = InMemoryState> {
    pub agg: Aggregator,
    pub state: S,
    pub rng: ChaCha20Rng,
}

impl Harness<InMemoryState> {
    pub fn new(v: &Value, seed: u64) -> Self {
        Harness::with_state(v, InMemoryState::new(), seed)
    }
}

impl<S: HostState> Harness<S> {
    pub fn with_state(v: &Value, state: S, seed: u64) -> Self {
        Harness::from_config(config(v), state, seed)
    }

    /// From an already parsed configuration (parsing once saves time in
    /// tests that run thousands of aggregators).
    pub fn from_config(cfg: AggregateConfig, state: S, seed: u64) -> Self {
        Harness {
            agg: Aggregator::new(cfg),
            state,
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// Ingests an event given as (path, value) pairs; returns parsed records.
    pub fn ev(&mut self, host: i64, pairs: &[(&str, &str)]) -> Vec<Value> {
        let fields: Vec<Option<&str>> = self
            .agg
            .config()
            .field_paths()
            .iter()
            .map(|p| pairs.iter().find(|(k, _)| k == p).map(|(_, v)| *v))
            .collect();
        let out = self
            .agg
            .ingest(&fields, host, &self.state, &mut self.rng)
            .unwrap();
        parse(&out)
    }

    pub fn tick(&mut self, now: i64) -> Vec<Value> {
        let out = self.agg.tick(now, &self.state, &mut self.rng).unwrap();
        parse(&out)
    }
}

pub fn parse(records: &[String]) -> Vec<Value> {
    records
        .iter()
        .map(|r| serde_json::from_str(r).unwrap_or_else(|e| panic!("{e}: {r}")))
        .collect()
}

/// Release records of `name`, as (group, value) pairs.
pub fn values(records: &[Value], name: &str) -> Vec<(Value, i64)> {
    records
        .iter()
        .filter(|r| r["dp_release"] == name)
        .map(|r| (r["group"].clone(), r["value"].as_i64().unwrap()))
        .collect()
}
