//! JS host (Node and browsers): a `wasm-bindgen` surface over the pure core,
//! built for `wasm32-unknown-unknown` with `--features js` (`make js`).
//!
//! - `Scrubber`: a policy (and key) compiled once; `scrub` one record,
//!   `scrubMany` JSON lines, `explain` which rule decides a path.
//! - `Aggregator`: scrubs records and feeds the DP engine, over an in-memory
//!   ledger or a caller-supplied state object with compare-and-swap
//!   ([`state`]); returns release records as objects.
//! - `calibrate`: epsilon to CI half-width and back.
//!
//! Behaviour mirrors the Fluent Bit host: the same policy and key give the
//! same bytes (a record that cannot be scrubbed gives the policy's
//! fail-closed result), and the aggregator is fed exactly as `dp_aggregate`
//! feeds it. Errors are thrown as JS `Error`s with the messages of the other
//! hosts; none carries record content or key material. Noise entropy comes
//! from `crypto.getRandomValues` (getrandom's `wasm_js` backend).

mod calibrate;
mod explain;
mod state;

pub use calibrate::{calibrate as calibrate_request, Calibration, Request as CalibrateRequest};
pub use explain::{decide, Decision, Step};

use crate::dp::noise::NoiseRng;
use crate::dp::timefmt::parse_event_time;
use crate::dp::{AggregateConfig, Aggregator as DpAggregator, InMemoryState};
use crate::error::ConfigError;
use crate::json::lookup::lookup;
use crate::keys::KeyRing;
use crate::path::Path;
use crate::policy::matcher::Matcher;
use crate::policy::Policy;
use crate::scrubber::Scrubber as CoreScrubber;
use state::{JsStateObject, State};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Host state with compare-and-swap, e.g. over localStorage or a shared store.
 *  `set` stores only if the key's current version equals `cas` (`null`: only
 *  if the key does not exist yet), gives the key a new version, and returns
 *  true; otherwise it stores nothing and returns false. Synchronous. */
export interface DpAuditState {
  get(key: string): { value: string; cas: number } | null | undefined;
  set(key: string, value: string, cas: number | null): boolean;
}

/** Which rule's action applies at a record path. */
export interface RuleInfo {
  /** The selector as written in the policy or preset; null for default_action. */
  rule: string | null;
  /** Index into the compiled rules (preset rules first); null for default_action. */
  index: number | null;
  action: "keep" | "drop" | "redact" | "pseudonymize" | "truncate_ip" | "generalize_time" | "mask" | "email" | "detect";
  origin: "preset" | "user" | "default";
}

/** One released group of one window (see the README, "Release records"). */
export interface ReleaseRecord {
  dp_release: string;
  window_start: string;
  window_end: string;
  group: Record<string, string | null>;
  value: number;
  ci95: [number, number];
  mechanism: "laplace" | "gaussian";
  scale: string;
  epsilon?: string;
  rho?: string;
  privacy_unit: string;
  partition_selection?: { epsilon: string; delta: string; threshold: number };
  budget_period_start: string;
  budget_spent: { epsilon: string; rho: string; delta: string };
  budget_remaining: { epsilon: string; delta: string };
}

/** Windows of one release not released because the period's budget is spent. */
export interface BudgetExhaustedRecord {
  dp_budget_exhausted: string;
  window_start: string;
  window_end: string;
  windows: number;
  /** What one window of this release costs. */
  needed: { epsilon: string; rho: string; delta: string };
  budget_period_start: string;
  remaining: { epsilon: string; delta: string };
}

/** A window of one release not released because of a ledger or noise error. */
export interface ReleaseErrorRecord {
  dp_release_error: string;
  window_start: string;
  window_end: string;
  reason: string;
}

export type DpRecord = ReleaseRecord | BudgetExhaustedRecord | ReleaseErrorRecord;

/** A configured release and its noise, derived from the policy. */
export interface ReleaseInfo {
  name: string;
  kind: "count" | "sum";
  mechanism: "laplace" | "gaussian";
  /** Laplace: epsilon per window; Gaussian: rho per window. */
  epsilon?: number;
  rho?: number;
  /** L1 sensitivity (Laplace) or L2 sensitivity (Gaussian, rounded up). */
  sensitivity: number;
  scale: number;
  ci95_halfwidth: number;
}

export interface CalibrateOptions {
  mechanism: "laplace" | "gaussian";
  /** Exactly one of epsilon, rho, halfwidth. */
  epsilon?: number | string;
  rho?: number | string;
  halfwidth?: number;
  sensitivity: number;
  /** Default 0.95. */
  confidence?: number;
  /** Needed for the Gaussian with epsilon; reported for rho. */
  delta?: number;
}

export interface Calibration {
  mechanism: "laplace" | "gaussian";
  sensitivity: number;
  confidence: number;
  epsilon?: number;
  rho?: number;
  delta?: number;
  scale?: number;
  halfwidth: number;
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    fn json_parse(text: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn date_now() -> f64;

    /// The options object of `calibrate`, read field by field.
    #[wasm_bindgen(typescript_type = "CalibrateOptions")]
    pub type CalibrateOptions;
    #[wasm_bindgen(method, getter, structural)]
    fn mechanism(this: &CalibrateOptions) -> JsValue;
    #[wasm_bindgen(method, getter, structural)]
    fn epsilon(this: &CalibrateOptions) -> JsValue;
    #[wasm_bindgen(method, getter, structural)]
    fn rho(this: &CalibrateOptions) -> JsValue;
    #[wasm_bindgen(method, getter, structural)]
    fn halfwidth(this: &CalibrateOptions) -> JsValue;
    #[wasm_bindgen(method, getter, structural)]
    fn sensitivity(this: &CalibrateOptions) -> JsValue;
    #[wasm_bindgen(method, getter, structural)]
    fn confidence(this: &CalibrateOptions) -> JsValue;
    #[wasm_bindgen(method, getter, structural)]
    fn delta(this: &CalibrateOptions) -> JsValue;
}

fn js_error(msg: impl std::fmt::Display) -> JsError {
    JsError::new(&msg.to_string())
}

/// JSON text we produced, as a JS value.
fn to_js(json: &str) -> Result<JsValue, JsError> {
    json_parse(json).map_err(|_| js_error("internal error: produced invalid JSON"))
}

/// Parses the policy and key as the Envoy host does (`key` names the key
/// text in messages, as `DP_AUDIT_KEY` does there).
fn load(policy_json: &str, key_text: Option<&str>) -> Result<(Policy, CoreScrubber), ConfigError> {
    let policy = Policy::from_json(policy_json)?;
    let keys = match key_text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(KeyRing::parse(t, "key")?),
        None if policy.needs_key() => {
            return Err(ConfigError::new(
                "key",
                "missing; the policy pseudonymizes and needs an HMAC key \
                 (at least 32 bytes as hex or base64)",
            ))
        }
        None => None,
    };
    let scrubber = CoreScrubber::new(&policy, keys.as_ref())?;
    Ok((policy, scrubber))
}

/// Host time from JS: unix seconds, floored; non-finite means "now".
fn seconds(now: Option<f64>) -> i64 {
    let t = match now {
        Some(t) if t.is_finite() => t,
        _ => date_now() / 1000.0,
    };
    // `as` saturates; the engine clamps to its supported range anyway.
    t.floor() as i64
}

/// A policy and key compiled once.
#[wasm_bindgen(js_name = Scrubber)]
pub struct JsScrubber {
    policy: Policy,
    matcher: Matcher,
    scrubber: CoreScrubber,
    out: Vec<u8>,
}

#[wasm_bindgen(js_class = Scrubber)]
impl JsScrubber {
    /// Compiles `policyJson` with the HMAC key text (the format of
    /// `dp-audit.key`); throws an `Error` naming the policy location or the
    /// key entry at fault.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = policyJson)] policy_json: &str,
        #[wasm_bindgen(js_name = keyText)] key_text: Option<String>,
    ) -> Result<JsScrubber, JsError> {
        let (policy, scrubber) = load(policy_json, key_text.as_deref()).map_err(js_error)?;
        Ok(JsScrubber {
            matcher: Matcher::new(&policy),
            policy,
            scrubber,
            out: Vec::new(),
        })
    }

    /// Scrubs one JSON record. A record that cannot be processed gives the
    /// policy's fail-closed result (`{"dp_audit_error":"<code>"}`), or
    /// `undefined` with `"on_error": "drop"`.
    pub fn scrub(&mut self, record: &str) -> Option<String> {
        let (emit, _) = self
            .scrubber
            .scrub_or_fail_closed(record.as_bytes(), &mut self.out);
        emit.then(|| String::from_utf8_lossy(&self.out).into_owned())
    }

    /// Scrubs JSON lines: each line trimmed, blank lines skipped, one output
    /// line (with `\n`) per emitted record, as the harness's `fluent-bit`
    /// command writes them.
    #[wasm_bindgen(js_name = scrubMany)]
    pub fn scrub_many(&mut self, lines: &str) -> String {
        let mut all = String::with_capacity(lines.len());
        for line in lines.split('\n') {
            let record = line.trim_matches([' ', '\t', '\r']);
            if record.is_empty() {
                continue;
            }
            if let Some(out) = self.scrub(record) {
                all.push_str(&out);
                all.push('\n');
            }
        }
        all
    }

    /// Which rule decides the value at `path` (object keys as strings, array
    /// positions as numbers), for labelling what changed.
    #[wasm_bindgen(unchecked_return_type = "RuleInfo")]
    pub fn explain(
        &self,
        #[wasm_bindgen(unchecked_param_type = "(string | number)[]")] path: Vec<JsValue>,
    ) -> Result<JsValue, JsError> {
        let steps: Vec<Step> = path
            .iter()
            .map(|v| match v.as_string() {
                Some(k) => Step::Key(k),
                None => Step::Index,
            })
            .collect();
        let d = decide(&self.policy, &self.matcher, &steps);
        let info = serde_json::json!({
            "rule": d.path_text,
            "index": d.rule,
            "action": d.action.name(),
            "origin": d.origin,
        });
        to_js(&info.to_string())
    }

    /// Whether the policy pseudonymizes (and so needed a key).
    #[wasm_bindgen(getter, js_name = needsKey)]
    pub fn needs_key(&self) -> bool {
        self.policy.needs_key()
    }
}

/// The DP aggregation of one stream: scrub, extract, aggregate, release.
#[wasm_bindgen(js_name = Aggregator)]
pub struct JsAggregator {
    scrubber: CoreScrubber,
    aggregator: DpAggregator,
    state: State,
    rng: NoiseRng,
    paths: Vec<Vec<String>>,
    time_index: Option<usize>,
    max_depth: usize,
    scrubbed: Vec<u8>,
    /// Latest host or event time seen, for `flush`.
    latest: Option<i64>,
}

#[wasm_bindgen(js_class = Aggregator)]
impl JsAggregator {
    /// Compiles the policy (which needs an `aggregate` section). Without
    /// `state`, the budget ledger lives in this object's memory.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(js_name = policyJson)] policy_json: &str,
        #[wasm_bindgen(js_name = keyText)] key_text: Option<String>,
        state: Option<JsStateObject>,
    ) -> Result<JsAggregator, JsError> {
        JsAggregator::build(policy_json, key_text.as_deref(), state, None)
    }

    /// Resumes from `snapshot()` output taken under the same `aggregate`
    /// configuration (otherwise throws). The budget is in the state, not in
    /// the snapshot: pass the same `state` object.
    pub fn restore(
        #[wasm_bindgen(js_name = policyJson)] policy_json: &str,
        #[wasm_bindgen(js_name = keyText)] key_text: Option<String>,
        snapshot: &str,
        state: Option<JsStateObject>,
    ) -> Result<JsAggregator, JsError> {
        JsAggregator::build(policy_json, key_text.as_deref(), state, Some(snapshot))
    }

    /// The open windows and counters as text, to persist across page loads or
    /// restarts. It holds scrubbed values (unit pseudonyms, group keys) and
    /// exact per-window totals: protect it like the scrubbed logs themselves.
    pub fn snapshot(&self) -> String {
        self.aggregator.snapshot()
    }

    /// Feeds one JSON record at host time `nowSeconds` (unix seconds;
    /// default: the platform clock). Returns the records of the windows this
    /// call closed. Throws for a record that cannot be scrubbed (by its
    /// error code; nothing was aggregated).
    #[wasm_bindgen(unchecked_return_type = "DpRecord[]")]
    pub fn ingest(
        &mut self,
        record: &str,
        #[wasm_bindgen(js_name = nowSeconds)] now_seconds: Option<f64>,
    ) -> Result<Vec<JsValue>, JsError> {
        let now = seconds(now_seconds);
        self.scrubber
            .scrub(record.as_bytes(), &mut self.scrubbed)
            .map_err(js_error)?;
        let values = lookup(&self.scrubbed, &self.paths, self.max_depth).map_err(js_error)?;
        let fields: Vec<Option<&str>> = values.iter().map(|v| v.as_deref()).collect();
        let event = self
            .time_index
            .and_then(|i| fields.get(i).copied().flatten())
            .and_then(parse_event_time);
        // Accepted events may run ahead of host time by the allowed skew.
        let skew = self.aggregator.config().max_clock_skew_secs;
        let latest = event
            .filter(|t| *t <= now.saturating_add(skew))
            .map_or(now, |t| t.max(now));
        self.latest = Some(self.latest.map_or(latest, |l| l.max(latest)));
        let released = self
            .aggregator
            .ingest(&fields, now, &self.state, &mut self.rng)
            .map_err(|e| js_error(format!("aggregation failed: {e}")))?;
        released.iter().map(|r| to_js(r)).collect()
    }

    /// Advances host time (a timer): closes every window due at `nowSeconds`
    /// and returns their records.
    #[wasm_bindgen(js_name = closeWindows, unchecked_return_type = "DpRecord[]")]
    pub fn close_windows(
        &mut self,
        #[wasm_bindgen(js_name = nowSeconds)] now_seconds: Option<f64>,
    ) -> Result<Vec<JsValue>, JsError> {
        let now = seconds(now_seconds);
        self.see(now);
        self.tick(now)
    }

    /// Closes every window up to the latest time seen (the end of a replayed
    /// sample): as if host time had passed that window's end plus the
    /// allowed lateness.
    #[wasm_bindgen(unchecked_return_type = "DpRecord[]")]
    pub fn flush(&mut self) -> Result<Vec<JsValue>, JsError> {
        let Some(latest) = self.latest else {
            return Ok(Vec::new());
        };
        let cfg = self.aggregator.config();
        let due = latest
            .div_euclid(cfg.window_secs)
            .checked_add(1)
            .and_then(|k| k.checked_mul(cfg.window_secs))
            .and_then(|end| end.checked_add(cfg.allowed_lateness_secs))
            .ok_or_else(|| js_error("flush: time out of range"))?;
        self.tick(due)
    }

    /// Unix seconds at which the oldest open window closes, if any.
    #[wasm_bindgen(getter, js_name = nextCloseAt)]
    pub fn next_close_at(&self) -> Option<f64> {
        self.aggregator.next_close_at().map(|t| t as f64)
    }

    /// Operational counters (exact, NOT differentially private: for
    /// operators only).
    #[wasm_bindgen(unchecked_return_type = "Record<string, number>")]
    pub fn counters(&self) -> Result<JsValue, JsError> {
        let text = serde_json::to_string(&self.aggregator.counters()).map_err(js_error)?;
        to_js(&text)
    }

    /// The configured releases with their derived sensitivity and noise.
    #[wasm_bindgen(unchecked_return_type = "ReleaseInfo[]")]
    pub fn releases(&self) -> Result<Vec<JsValue>, JsError> {
        use crate::dp::config::ReleaseKind;
        use crate::dp::noise::Mechanism;
        let nano = |n: u64| n as f64 / 1e9;
        self.aggregator
            .config()
            .releases
            .iter()
            .map(|r| {
                let p = &r.noise;
                let (mechanism, budget_key, sensitivity) = match p.mechanism {
                    Mechanism::Laplace => ("laplace", "epsilon", p.l1_sensitivity as f64),
                    Mechanism::Gaussian => (
                        "gaussian",
                        "rho",
                        (p.l2_sensitivity_squared as f64).sqrt().ceil(),
                    ),
                };
                let mut info = serde_json::json!({
                    "name": r.name,
                    "kind": match r.kind { ReleaseKind::Count => "count", ReleaseKind::Sum { .. } => "sum" },
                    "mechanism": mechanism,
                    "sensitivity": sensitivity,
                    "scale": p.scale.to_f64(),
                    "ci95_halfwidth": p.ci95_halfwidth,
                });
                if let Some(obj) = info.as_object_mut() {
                    obj.insert(budget_key.into(), serde_json::json!(nano(p.budget_nano)));
                }
                to_js(&info.to_string())
            })
            .collect()
    }
}

impl JsAggregator {
    fn build(
        policy_json: &str,
        key_text: Option<&str>,
        state: Option<JsStateObject>,
        snapshot: Option<&str>,
    ) -> Result<JsAggregator, JsError> {
        let (policy, scrubber) = load(policy_json, key_text).map_err(js_error)?;
        let section = policy.aggregate.as_ref().ok_or_else(|| {
            js_error("aggregate: missing; the policy has no \"aggregate\" section")
        })?;
        // Its locations already start with `aggregate.`.
        let cfg = AggregateConfig::from_json(section).map_err(js_error)?;
        let paths = cfg
            .field_paths()
            .iter()
            .map(|p| Path::parse_literal(p, "aggregate"))
            .collect::<Result<Vec<_>, _>>()
            .map_err(js_error)?;
        let time_index = cfg
            .time_field
            .as_ref()
            .and_then(|t| cfg.field_paths().iter().position(|p| p == t));
        let rng =
            NoiseRng::from_entropy().map_err(|e| js_error(format!("no entropy for noise: {e}")))?;
        let lateness = cfg.allowed_lateness_secs;
        let aggregator = match snapshot {
            None => DpAggregator::new(cfg),
            Some(text) => DpAggregator::restore(cfg, text).map_err(js_error)?,
        };
        // A restored aggregator's oldest open window is where `flush` starts.
        let latest = aggregator
            .next_close_at()
            .and_then(|t| t.checked_sub(lateness)?.checked_sub(1));
        Ok(JsAggregator {
            scrubber,
            aggregator,
            state: match state {
                Some(obj) => State::Js(obj),
                None => State::Memory(InMemoryState::new()),
            },
            rng,
            paths,
            time_index,
            max_depth: policy.limits.max_depth,
            scrubbed: Vec::new(),
            latest,
        })
    }

    fn see(&mut self, t: i64) {
        self.latest = Some(self.latest.map_or(t, |l| l.max(t)));
    }

    fn tick(&mut self, now: i64) -> Result<Vec<JsValue>, JsError> {
        let released = self
            .aggregator
            .tick(now, &self.state, &mut self.rng)
            .map_err(|e| js_error(format!("aggregation failed: {e}")))?;
        released.iter().map(|r| to_js(r)).collect()
    }
}

/// Privacy to accuracy and back: `{mechanism, epsilon | rho | halfwidth,
/// sensitivity, confidence?, delta?}`. Throws an `Error` naming the argument
/// at fault.
#[wasm_bindgen(unchecked_return_type = "Calibration")]
pub fn calibrate(options: CalibrateOptions) -> Result<JsValue, JsError> {
    let decimal = |v: JsValue, name: &str| -> Result<Option<String>, JsError> {
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        if let Some(s) = v.as_string() {
            return Ok(Some(s));
        }
        match v.as_f64() {
            // Rust prints f64 without an exponent, which parse_decimal needs.
            Some(f) if f.is_finite() => Ok(Some(format!("{f}"))),
            _ => Err(js_error(format!("{name}: expected a number"))),
        }
    };
    let integer = |v: JsValue, name: &str| -> Result<Option<u64>, JsError> {
        if v.is_undefined() || v.is_null() {
            return Ok(None);
        }
        match v.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= 9.007e15 => {
                Ok(Some(f as u64))
            }
            _ => Err(js_error(format!("{name}: expected a non-negative integer"))),
        }
    };
    let req = CalibrateRequest {
        mechanism: options
            .mechanism()
            .as_string()
            .ok_or_else(|| js_error("mechanism: expected \"laplace\" or \"gaussian\""))?,
        epsilon: decimal(options.epsilon(), "epsilon")?,
        rho: decimal(options.rho(), "rho")?,
        halfwidth: integer(options.halfwidth(), "halfwidth")?,
        sensitivity: integer(options.sensitivity(), "sensitivity")?
            .ok_or_else(|| js_error("sensitivity: required"))?,
        confidence: match options.confidence().as_f64() {
            Some(c) => c,
            None if options.confidence().is_undefined() => 0.95,
            None => return Err(js_error("confidence: expected a number")),
        },
        delta: options.delta().as_f64(),
    };
    let out = calibrate_request(&req).map_err(js_error)?;
    to_js(&serde_json::to_string(&out).map_err(js_error)?)
}

/// The event time the aggregator would read from a time field's text
/// (RFC 3339 or unix seconds), in unix seconds.
#[wasm_bindgen(js_name = eventTime)]
pub fn event_time(text: &str) -> Option<f64> {
    parse_event_time(text).map(|t| t as f64)
}

/// Names of the presets (`"preset": ...` in a policy).
#[wasm_bindgen(js_name = presetNames)]
pub fn preset_names() -> Vec<String> {
    crate::policy::preset_names()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The policy text of a preset.
#[wasm_bindgen(js_name = presetText)]
pub fn preset_text(name: &str) -> Option<String> {
    crate::policy::preset_text(name).map(str::to_owned)
}

/// The crate version.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
