//! Release records: one JSON object per released group, plus the records that
//! say a release did not happen (budget exhausted, or an error).
//!
//! A release record holds only configuration, noisy numbers and group keys;
//! group keys are values of the *scrubbed* record (e.g. a verb, a status
//! class, a pseudonym if the policy groups by one) or declared domain values.
//!
//! ```json
//! {"dp_release":"requests_by_verb_status",
//!  "window_start":"2024-05-01T12:00:00Z","window_end":"2024-05-01T12:01:00Z",
//!  "group":{"verb":"get","status_class":"2xx"},
//!  "value":118,"ci95":[0,855],
//!  "mechanism":"laplace","scale":"160","epsilon":"0.05",
//!  "privacy_unit":"user",
//!  "budget_period_start":"2024-05-01T00:00:00Z",
//!  "budget_spent":{"epsilon":"0.05","rho":"0","delta":"0"},
//!  "budget_remaining":{"epsilon":"0.95","delta":"0.000001"}}
//! ```
//! Gaussian releases carry `"rho"` instead of `"epsilon"`; partition-selection
//! releases add `"partition_selection":{"epsilon","delta","threshold"}`.
//!
//! Post-processing (free under DP): for counts, and sums whose clamp has
//! `lo >= 0`, negative noisy values are reported as 0 and the interval is
//! clipped at 0. `ci95` is `[raw - h, raw + h]` (clipped) where `h` is the
//! smallest integer with `P(|noise| <= h) >= 0.95` for the exact discrete
//! distribution; it covers the bounded true value (after contribution
//! bounding) with probability at least 95%.

use rand_core::{CryptoRng, RngCore};

use super::accountant::{format_fixed, PrivacyCost, Remaining, ATTO, NANO};
use super::config::{AggregateConfig, PrivacyUnit, ReleaseConfig, ReleaseKind};
use super::noise::{self, Mechanism, NoiseError};
use super::window::ReleaseData;
use crate::time::format_rfc3339;

/// A minimal ordered JSON object writer (keys in insertion order).
struct Obj {
    buf: String,
}

impl Obj {
    fn new() -> Self {
        Obj {
            buf: String::from("{"),
        }
    }

    fn raw(mut self, key: &str, json: &str) -> Self {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        self.buf.push_str(&quote(key));
        self.buf.push(':');
        self.buf.push_str(json);
        self
    }

    fn str(self, key: &str, value: &str) -> Self {
        let q = quote(value);
        self.raw(key, &q)
    }

    /// Appends fields produced by [`Obj::fields`] of another object.
    fn extend(mut self, fields: &str) -> Self {
        if !fields.is_empty() {
            if self.buf.len() > 1 {
                self.buf.push(',');
            }
            self.buf.push_str(fields);
        }
        self
    }

    /// The fields written so far, without braces (to share between records).
    fn fields(self) -> String {
        self.buf.get(1..).unwrap_or_default().to_owned()
    }

    fn done(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

fn nano(v: u64) -> String {
    quote(&format_fixed(v, NANO))
}

fn atto(v: u64) -> String {
    quote(&format_fixed(v, ATTO))
}

fn group_json(r: &ReleaseConfig, key: &[Option<String>]) -> String {
    let mut o = Obj::new();
    for (g, v) in r.group_by.iter().zip(key) {
        o = match v {
            Some(text) => o.str(&g.name, text),
            None => o.raw(&g.name, "null"),
        };
    }
    o.done()
}

fn cost_json(c: &PrivacyCost) -> String {
    Obj::new()
        .raw("epsilon", &nano(c.epsilon_nano))
        .raw("rho", &nano(c.rho_nano))
        .raw("delta", &atto(c.delta_atto))
        .done()
}

fn remaining_json(r: &Remaining) -> String {
    Obj::new()
        .raw("epsilon", &nano(r.epsilon_nano))
        .raw("delta", &atto(r.delta_atto))
        .done()
}

/// A group key and its true (bounded) total.
type GroupTotal = (Vec<Option<String>>, i128);

/// The window's released groups with their true (bounded) values.
fn released_groups<R: RngCore + ?Sized>(
    r: &ReleaseConfig,
    data: Option<&ReleaseData>,
    rng: &mut R,
) -> Result<Vec<GroupTotal>, NoiseError> {
    match (&r.partition_selection, data) {
        (None, data) => {
            let values = match data {
                Some(ReleaseData::Declared { values }) => Some(values),
                _ => None,
            };
            let mut out = Vec::with_capacity(r.domain_size);
            for idx in 0..r.domain_size {
                let key = r
                    .domain_values(idx)
                    .ok_or(NoiseError::InvalidArgument("domain index"))?;
                let truth = values.and_then(|v| v.get(idx)).copied().unwrap_or(0);
                out.push((key, truth));
            }
            Ok(out)
        }
        (Some(ps), Some(ReleaseData::Observed { groups, .. })) => {
            let mut selected = Vec::new();
            for g in groups {
                let z = noise::sample(Mechanism::Laplace, ps.scale, rng)?;
                let noisy_units = i128::from(g.units).saturating_add(i128::from(z));
                if noisy_units >= i128::from(ps.threshold) {
                    selected.push((g.key.clone(), g.value));
                }
            }
            // Never reveal arrival order.
            selected.sort();
            Ok(selected)
        }
        (Some(_), _) => Ok(Vec::new()),
    }
}

/// The release records of one release for one closed window, after its cost
/// was committed. `remaining` is the ledger state after the commit.
pub(crate) fn release_records<R: RngCore + CryptoRng + ?Sized>(
    cfg: &AggregateConfig,
    r: &ReleaseConfig,
    data: Option<&ReleaseData>,
    window_start: i64,
    remaining: &Remaining,
    rng: &mut R,
) -> Result<Vec<String>, NoiseError> {
    let groups = released_groups(r, data, rng)?;
    let start = quote(&format_rfc3339(window_start));
    let end = quote(&format_rfc3339(
        window_start.saturating_add(cfg.window_secs),
    ));
    let plan = &r.noise;
    let (mechanism, budget_key) = match plan.mechanism {
        Mechanism::Laplace => ("laplace", "epsilon"),
        Mechanism::Gaussian => ("gaussian", "rho"),
    };
    let nonnegative = match r.kind {
        ReleaseKind::Count => true,
        ReleaseKind::Sum { lo, .. } => lo >= 0,
    };
    let unit = match cfg.privacy_unit {
        PrivacyUnit::Event => "event",
        PrivacyUnit::User { .. } => "user",
    };
    let ps = r.partition_selection.map(|ps| {
        Obj::new()
            .raw("epsilon", &nano(ps.epsilon_nano))
            .raw("delta", &atto(ps.delta_atto))
            .raw("threshold", &ps.threshold.to_string())
            .done()
    });
    let scale = quote(&plan.scale.to_string());
    let tail = {
        let mut o = Obj::new()
            .str("mechanism", mechanism)
            .raw("scale", &scale)
            .raw(budget_key, &nano(plan.budget_nano))
            .str("privacy_unit", unit);
        if let Some(ps) = &ps {
            o = o.raw("partition_selection", ps);
        }
        o.str(
            "budget_period_start",
            &format_rfc3339(remaining.period_start),
        )
        .raw("budget_spent", &cost_json(&remaining.spent))
        .raw("budget_remaining", &remaining_json(remaining))
        .fields()
    };
    let h = i128::from(plan.ci95_halfwidth);
    let mut out = Vec::with_capacity(groups.len());
    for (key, truth) in groups {
        let z = noise::sample(plan.mechanism, plan.scale, rng)?;
        let raw = truth.saturating_add(i128::from(z));
        let (mut value, mut lo, mut hi) = (raw, raw.saturating_sub(h), raw.saturating_add(h));
        if nonnegative {
            value = value.max(0);
            lo = lo.max(0);
            hi = hi.max(0);
        }
        let record = Obj::new()
            .str("dp_release", &r.name)
            .raw("window_start", &start)
            .raw("window_end", &end)
            .raw("group", &group_json(r, &key))
            .raw("value", &value.to_string())
            .raw("ci95", &format!("[{lo},{hi}]"))
            .extend(&tail)
            .done();
        out.push(record);
    }
    Ok(out)
}

/// The record for one or more consecutive windows of a release that were not
/// released because the period budget could not pay for them.
pub(crate) fn exhausted_record(
    r: &ReleaseConfig,
    first_start: i64,
    last_end: i64,
    windows: u64,
    remaining: &Remaining,
) -> String {
    Obj::new()
        .str("dp_budget_exhausted", &r.name)
        .str("window_start", &format_rfc3339(first_start))
        .str("window_end", &format_rfc3339(last_end))
        .raw("windows", &windows.to_string())
        .raw("needed", &cost_json(&r.cost))
        .str(
            "budget_period_start",
            &format_rfc3339(remaining.period_start),
        )
        .raw("remaining", &remaining_json(remaining))
        .done()
}

/// The record for a window of a release that failed closed (nothing was
/// released; `reason` is static text).
pub(crate) fn error_record(
    r: &ReleaseConfig,
    window_start: i64,
    window_end: i64,
    reason: &str,
) -> String {
    Obj::new()
        .str("dp_release_error", &r.name)
        .str("window_start", &format_rfc3339(window_start))
        .str("window_end", &format_rfc3339(window_end))
        .str("reason", reason)
        .done()
}
