//! The `dp_aggregate` filter: scrubs each record, feeds its aggregation
//! fields to the DP engine, and emits the releases of the windows a record
//! closes in place of that record; every other record is dropped (a
//! `rewrite_tag` copy of the stream feeds this filter while `dp_scrub`
//! handles the original).
//!
//! Fluent Bit has no timer for filters: a window closes when a record with
//! a later timestamp arrives. The budget ledger and the open windows live in
//! files next to the policy (`FileState`), so a restart neither refills the
//! budget nor loses open windows beyond the last snapshot.

use super::should_log;
use crate::dp::noise::NoiseRng;
use crate::dp::{AggregateConfig, Aggregator, FileState, HostState};
use crate::hosts::config_files::{load_from_dirs, Loaded};
use crate::json::lookup::lookup;
use crate::path::Path;
use crate::scrubber::Scrubber;
use std::path::PathBuf;

/// Open windows are written to the state file at least this often (and
/// whenever a window closes); a crash loses at most this many records'
/// contributions, never budget.
const SNAPSHOT_EVERY: u32 = 1000;

struct Engine {
    scrubber: Scrubber,
    aggregator: Aggregator,
    state: FileState,
    rng: NoiseRng,
    paths: Vec<Vec<String>>,
    max_depth: usize,
    snapshot_key: String,
    since_snapshot: u32,
    scrubbed: Vec<u8>,
}

pub struct AggregateFilter {
    engine: Result<Engine, String>,
    out: Vec<u8>,
    errors: u64,
}

impl Engine {
    fn load(dirs: &[PathBuf]) -> Result<Engine, String> {
        let Loaded {
            policy,
            policy_path,
            keys,
            ..
        } = load_from_dirs(dirs).map_err(|e| e.to_string())?;
        let scrubber = Scrubber::new(&policy, keys.as_ref()).map_err(|e| e.to_string())?;
        let section = policy
            .aggregate
            .as_ref()
            .ok_or("the policy has no \"aggregate\" section (dp_aggregate needs one)")?;
        let cfg = AggregateConfig::from_json(section).map_err(|e| format!("aggregate: {e}"))?;
        let paths = cfg
            .field_paths()
            .iter()
            .map(|p| Path::parse_literal(p, "aggregate"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let dir = policy_path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let state = FileState::new(dir);
        let snapshot_key = format!("{}/windows", cfg.budget.ledger_key);
        let aggregator = match state.get(&snapshot_key) {
            Ok(Some((bytes, _))) => match std::str::from_utf8(&bytes)
                .map_err(|_| "not UTF-8")
                .and_then(|s| {
                    Aggregator::restore(cfg.clone(), s)
                        .map_err(|_| "unreadable or from another configuration")
                }) {
                Ok(a) => a,
                Err(why) => {
                    eprintln!("dp-audit: open windows from the last run discarded ({why}); the budget ledger is kept");
                    Aggregator::new(cfg)
                }
            },
            Ok(None) => Aggregator::new(cfg),
            Err(e) => return Err(format!("cannot read the aggregation state: {e}")),
        };
        let rng = NoiseRng::from_entropy().map_err(|e| format!("no entropy for noise: {e}"))?;
        Ok(Engine {
            scrubber,
            aggregator,
            state,
            rng,
            paths,
            max_depth: policy.limits.max_depth,
            snapshot_key,
            since_snapshot: 0,
            scrubbed: Vec::new(),
        })
    }

    /// Returns the release records this record's arrival produced.
    fn ingest(&mut self, record: &[u8], time_sec: i64) -> Result<Vec<String>, String> {
        self.scrubber
            .scrub(record, &mut self.scrubbed)
            .map_err(|e| e.to_string())?;
        let values =
            lookup(&self.scrubbed, &self.paths, self.max_depth).map_err(|e| e.to_string())?;
        let fields: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
        let releases = self
            .aggregator
            .ingest(&fields, time_sec, &self.state, &mut self.rng)
            .map_err(|e| format!("aggregation failed: {e}"))?;
        self.since_snapshot = self.since_snapshot.saturating_add(1);
        if !releases.is_empty() || self.since_snapshot >= SNAPSHOT_EVERY {
            self.save_snapshot();
        }
        Ok(releases)
    }

    fn save_snapshot(&mut self) {
        let text = self.aggregator.snapshot();
        // One writer per filter instance: read the version, write at it, and
        // retry once if something else wrote in between.
        for _ in 0..2 {
            let version = match self.state.get(&self.snapshot_key) {
                Ok(v) => v.map(|(_, ver)| ver),
                Err(e) => {
                    eprintln!("dp-audit: cannot read the window snapshot: {e}");
                    return;
                }
            };
            match self.state.set(&self.snapshot_key, text.as_bytes(), version) {
                Ok(()) => {
                    self.since_snapshot = 0;
                    return;
                }
                Err(crate::dp::StateError::CasMismatch) => continue,
                Err(e) => {
                    eprintln!("dp-audit: cannot write the window snapshot: {e}");
                    return;
                }
            }
        }
    }
}

impl AggregateFilter {
    pub fn from_dirs(dirs: &[PathBuf]) -> AggregateFilter {
        let engine = Engine::load(dirs);
        if let Err(msg) = &engine {
            eprintln!(
                "dp-audit: dp_aggregate configuration error, nothing will be released: {msg}"
            );
        }
        AggregateFilter {
            engine,
            out: Vec::new(),
            errors: 0,
        }
    }

    /// Consumes one record; returns the NUL-terminated releases record, or
    /// an empty string (drop) when no window closed.
    pub fn aggregate(&mut self, record: Option<&[u8]>, time_sec: i64) -> &[u8] {
        self.out.clear();
        if let Ok(engine) = &mut self.engine {
            let result = match record {
                Some(bytes) => engine.ingest(bytes, time_sec),
                None => Err("record rejected (record_too_large): larger than the filter's wasm_heap_size allows".into()),
            };
            match result {
                Ok(releases) if !releases.is_empty() => {
                    // One record per call is all the filter can return, so
                    // the releases of every window this record closed travel together.
                    self.out.extend_from_slice(b"{\"dp_audit_releases\":[");
                    for (i, r) in releases.iter().enumerate() {
                        if i > 0 {
                            self.out.push(b',');
                        }
                        self.out.extend_from_slice(r.as_bytes());
                    }
                    self.out.extend_from_slice(b"]}");
                }
                Ok(_) => {}
                Err(msg) => {
                    self.errors = self.errors.saturating_add(1);
                    if should_log(self.errors) {
                        eprintln!(
                            "dp-audit: dp_aggregate: {msg}; records failed so far: {}",
                            self.errors
                        );
                    }
                }
            }
        }
        self.out.push(0);
        &self.out
    }
}
