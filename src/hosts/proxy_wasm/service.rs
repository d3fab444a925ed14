//! The singleton aggregator (bootstrap `envoy.bootstrap.wasm`, `singleton:
//! true`, root id `dp_audit_aggregator`): drains the event queue the worker
//! VMs fill, runs the DP engine, spends budget in the shared-data ledger and
//! releases to the sink and to Envoy stats.
//!
//! The open windows are saved to shared data (key `<ledger_key>/windows`)
//! whenever a window closes and every `SNAPSHOT_EVERY` events, and restored
//! on configure: a VM reload or configuration update loses at most the
//! events since the last save, never budget.

use super::abi::{self, LogLevel};
use super::events::decode_batch;
use super::logger::Loaded;
use super::release_stats::{is_budget_exhausted, release_gauge};
use super::settings::SinkKind;
use super::shared_state::SharedData;
use super::vm::{log_line, now_ns, should_log, Counter, Gauge, HttpSink};
use crate::dp::noise::NoiseRng;
use crate::dp::{Aggregator as Engine, Counters, HostState, StateError};
use std::collections::BTreeMap;

const TICK_MS: u32 = 1000;
const SNAPSHOT_EVERY: u32 = 1000;
/// Most queue messages drained per callback (the queue is refilled by
/// workers meanwhile; the rest waits for the next notification or tick).
const MAX_DEQUEUE: usize = 10_000;
/// Most per-group gauges defined (stats are not the place for unbounded keys).
const MAX_GAUGES: usize = 1000;

pub struct Aggregator {
    engine: Engine,
    state: SharedData,
    rng: NoiseRng,
    fingerprint: String,
    queue: u32,
    http: Option<Box<HttpSink>>,
    snapshot_key: String,
    since_snapshot: u32,
    last_counters: Counters,
    gauges: BTreeMap<String, Gauge>,
    budget_gauge: Gauge,
    releases: Counter,
    suppressed: Counter,
    release_errors: Counter,
    events_ingested: Counter,
    events_dropped: Counter,
    errors: u64,
}

fn secs() -> i64 {
    now_ns().div_euclid(1_000_000_000)
}

impl Aggregator {
    pub fn configure(loaded: &Loaded) -> Result<Aggregator, String> {
        let cfg = loaded.aggregate.clone().ok_or(
            "the aggregator (root id dp_audit_aggregator) needs the policy's \"aggregate\" section",
        )?;
        let queue = abi::register_shared_queue(&loaded.settings.aggregator.queue)
            .map_err(|s| format!("cannot register the event queue: {}", s.name()))?;
        let state = SharedData;
        let snapshot_key = format!("{}/windows", cfg.budget.ledger_key);
        let fingerprint = cfg.fingerprint().to_string();
        let engine = match state.get(&snapshot_key) {
            Ok(Some((bytes, _))) => match std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| Engine::restore(cfg.clone(), s).ok())
            {
                Some(e) => e,
                None => {
                    log_line(LogLevel::Warn, "dp-audit: saved open windows unreadable or from another configuration: discarded (the budget ledger is kept)");
                    Engine::new(cfg)
                }
            },
            Ok(None) => Engine::new(cfg),
            Err(e) => return Err(format!("cannot read the aggregation state: {e}")),
        };
        let rng = NoiseRng::from_entropy().map_err(|e| format!("no entropy for noise: {e}"))?;
        let http = match &loaded.settings.sink {
            SinkKind::Log { .. } => None,
            SinkKind::Http(c) => Some(Box::new(HttpSink::new(c.clone()).map_err(str::to_string)?)),
        };
        if abi::set_tick_period_ms(TICK_MS).is_err() {
            return Err("cannot set a tick period: windows would never close".into());
        }
        let mut a = Aggregator {
            last_counters: engine.counters(),
            engine,
            state,
            rng,
            fingerprint,
            queue,
            http,
            snapshot_key,
            since_snapshot: 0,
            gauges: BTreeMap::new(),
            budget_gauge: Gauge::define("dp_audit_budget_remaining_nano_epsilon"),
            releases: Counter::define("dp_audit_releases"),
            suppressed: Counter::define("dp_audit_releases_suppressed_budget"),
            release_errors: Counter::define("dp_audit_release_errors"),
            events_ingested: Counter::define("dp_audit_events_ingested"),
            events_dropped: Counter::define("dp_audit_events_dropped"),
            errors: 0,
        };
        // Fix the first window by host time, not by when events arrive.
        a.on_tick();
        Ok(a)
    }

    pub fn on_queue_ready(&mut self, queue_id: u32) {
        if queue_id != self.queue {
            return;
        }
        for _ in 0..MAX_DEQUEUE {
            let msg = match abi::dequeue_shared_queue(self.queue) {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(s) => {
                    self.error(&format!("cannot dequeue events: {}", s.name()));
                    break;
                }
            };
            match decode_batch(&msg, &self.fingerprint) {
                Ok(events) => {
                    for ev in events {
                        match self.engine.ingest(
                            &ev.fields,
                            ev.time_secs,
                            &self.state,
                            &mut self.rng,
                        ) {
                            Ok(records) => self.emit(records),
                            Err(e) => self.error(&e.to_string()),
                        }
                        self.since_snapshot = self.since_snapshot.saturating_add(1);
                    }
                }
                Err(bad) => {
                    self.events_dropped.add(1);
                    self.error(bad.reason());
                }
            }
        }
        if self.since_snapshot >= SNAPSHOT_EVERY {
            self.save_snapshot();
        }
        self.sync_counters();
    }

    pub fn on_tick(&mut self) {
        let now = secs();
        match self.engine.tick(now, &self.state, &mut self.rng) {
            Ok(records) => self.emit(records),
            Err(e) => self.error(&e.to_string()),
        }
        if let Ok(r) = self.engine.ledger().status(&self.state, now) {
            self.budget_gauge.set(r.epsilon_nano);
        }
        if let Some(h) = &mut self.http {
            h.pump();
        }
        self.sync_counters();
        for c in [
            &mut self.releases,
            &mut self.suppressed,
            &mut self.release_errors,
            &mut self.events_ingested,
            &mut self.events_dropped,
        ] {
            c.flush();
        }
    }

    pub fn on_http_call_response(&mut self, token: u32, num_headers: usize) {
        if let Some(h) = &mut self.http {
            h.answer(token, num_headers);
        }
    }

    pub fn on_done(&mut self) {
        self.save_snapshot();
        self.on_tick();
    }

    fn emit(&mut self, records: Vec<String>) {
        if records.is_empty() {
            return;
        }
        for r in &records {
            match &mut self.http {
                None => {
                    let _ = abi::log(LogLevel::Info, r.as_bytes());
                }
                Some(h) => {
                    h.push(r.as_bytes());
                }
            }
            if let Some((name, value)) = release_gauge(r) {
                if !self.gauges.contains_key(&name) && self.gauges.len() < MAX_GAUGES {
                    let g = Gauge::define(&name);
                    self.gauges.insert(name.clone(), g);
                }
                if let Some(g) = self.gauges.get(&name) {
                    g.set(value);
                }
            } else if is_budget_exhausted(r)
                && should_log(self.engine.counters().releases_suppressed_budget)
            {
                log_line(
                    LogLevel::Warn,
                    "dp-audit: privacy budget exhausted for this period: releases suppressed",
                );
            }
        }
        if let Some(h) = &mut self.http {
            h.pump();
        }
        // A window closed: keep its effects across a reload.
        self.save_snapshot();
    }

    /// Adds the engine's counter increments to the Envoy counters.
    fn sync_counters(&mut self) {
        let c = self.engine.counters();
        let l = &self.last_counters;
        let d = |now: u64, before: u64| now.saturating_sub(before);
        self.releases.add(d(c.releases, l.releases));
        self.suppressed.add(d(
            c.releases_suppressed_budget,
            l.releases_suppressed_budget,
        ));
        self.release_errors
            .add(d(c.release_errors, l.release_errors));
        self.events_ingested
            .add(d(c.events_ingested, l.events_ingested));
        let dropped = |c: &Counters| {
            c.events_late
                .saturating_add(c.events_future)
                .saturating_add(c.events_bad_time)
                .saturating_add(c.events_no_unit)
                .saturating_add(c.events_over_unit_cap)
        };
        self.events_dropped.add(d(dropped(&c), dropped(l)));
        self.last_counters = c;
    }

    fn save_snapshot(&mut self) {
        let text = self.engine.snapshot();
        for _ in 0..2 {
            let version = match self.state.get(&self.snapshot_key) {
                Ok(v) => v.map(|(_, ver)| ver),
                Err(_) => break,
            };
            match self.state.set(&self.snapshot_key, text.as_bytes(), version) {
                Ok(()) => {
                    self.since_snapshot = 0;
                    return;
                }
                Err(StateError::CasMismatch) => continue,
                Err(_) => break,
            }
        }
        self.error("cannot save the open windows to shared data");
    }

    fn error(&mut self, msg: &str) {
        self.errors = self.errors.saturating_add(1);
        if should_log(self.errors) {
            log_line(
                LogLevel::Warn,
                &format!("dp-audit aggregator: {msg}; errors so far: {}", self.errors),
            );
        }
    }
}
