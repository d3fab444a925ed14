//! The `aggregate` section of the policy: parsing, validation, and the
//! privacy parameters derived from it once at load time.
//!
//! # Shape
//! ```json
//! "aggregate": {
//!   "window": "1m",                          // tumbling window width (s, m, h, d; e.g. "1h30m")
//!   "allowed_lateness": "30s",               // optional, default "0s"
//!   "max_clock_skew": "1m",                  // optional, default "1m": events further ahead of host time are dropped
//!   "time_field": "requestReceivedTimestamp",// optional; RFC 3339 string or unix seconds; absent: host time
//!   "privacy_unit": {"type": "user", "field": "user.username"},   // or {"type": "event"}
//!   "bounds": {"max_groups_per_unit": 4, "max_contributions_per_group": 1},  // required for "user", refused for "event"
//!   "budget": {"period": "1d", "epsilon": 1.0, "delta": 1e-6, "ledger_key": "dp-audit/ledger"},
//!   "limits": {"max_units_per_window": 10000, "max_groups_per_release": 10000},  // optional, these defaults
//!   "releases": [
//!     {"name": "requests_by_verb_status", "kind": "count", "mechanism": "laplace", "epsilon": 0.05,
//!      "group_by": [{"field": "verb"},
//!                   {"field": "responseStatus.code", "as": "status_class", "bucket": "status_class"}],
//!      "domains": {"verb": ["get","list","watch","create","update","patch","delete"],
//!                  "status_class": ["1xx","2xx","3xx","4xx","5xx"]}},
//!     {"name": "bytes_by_method", "kind": "sum", "field": "bytes_sent", "clamp": [0, 65536],
//!      "mechanism": "gaussian", "rho": 0.01,
//!      "group_by": [{"field": "method"}],
//!      "partition_selection": {"epsilon": 0.05, "delta": 1e-9}}
//!   ]
//! }
//! ```
//!
//! Rules (each violation is a [`ConfigError`] naming its location):
//! - Unknown keys are errors (a typo must not silently weaken a policy).
//! - Numbers for `epsilon`, `rho`, `delta` may be JSON numbers or decimal
//!   strings; they are read exactly (epsilon and rho to 1e-9, delta to 1e-18).
//! - Field paths are kept as written (dotted, with `"quoted.keys"`), and read
//!   from the *scrubbed* record by the host; see
//!   [`AggregateConfig::field_paths`].
//! - `mechanism: "laplace"` takes `epsilon` (pure DP); `"gaussian"` takes
//!   `rho` (zCDP) and needs `budget.delta > 0`.
//! - `kind: "count"` counts events; `kind: "sum"` sums `field`, read as a
//!   number, rounded to the nearest integer, clamped to `clamp: [lo, hi]`
//!   (integers, `|lo|, |hi| <= 2^40`); records where it is absent or not a
//!   number do not contribute to that release.
//! - `group_by` keys are named by `as` (default: the field path). `bucket`:
//!   `"status_class"` (100..=599 -> `"1xx"`..`"5xx"`, anything else
//!   `"other"`) or `"lowercase"`. An absent field is the group value `null`.
//! - Every key needs a declared domain (`domains`, values compared as text;
//!   `null` allowed) unless `partition_selection` is set. With domains for all
//!   keys and no partition selection, every combination is released, zeros
//!   included. With `partition_selection: {"epsilon", "delta"}` only observed
//!   groups are candidates, and a group is released when its noisy number of
//!   distinct units passes a threshold (see `window.rs`); keys that also have
//!   a domain only admit values from it. Values outside a declared domain do
//!   not contribute to that release.
//! - Each release's per-window cost must fit in the period budget on its own.

use serde_json::{Map, Value};

use super::accountant::{self, PeriodBudget, PrivacyCost, ATTO, NANO};
use super::noise::{self, Mechanism, Scale};
use super::timefmt::parse_duration_secs;
use crate::error::ConfigError;

/// Largest `max_groups_per_unit` and `max_contributions_per_group`.
pub const MAX_BOUND: u32 = 1_000;
/// Largest `|lo|` / `|hi|` of a sum clamp.
pub const MAX_CLAMP: i64 = 1 << 40;
/// Largest number of simultaneously open windows a configuration may imply.
pub const MAX_OPEN_WINDOWS: i64 = 256;
/// Largest `max_units_per_window * open windows` (the memory budget for
/// per-unit bounding state, roughly 100 bytes per unit).
pub const MAX_TRACKED_UNITS: u64 = 1_000_000;

/// Whose privacy a release protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivacyUnit {
    /// Each event is its own unit (event-level DP).
    Event,
    /// All events with the same value of `field` (e.g. a pseudonymised user
    /// name) form one unit (user-level DP).
    User { field: String },
}

/// Contribution bounds of one privacy unit within one window and release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub max_groups_per_unit: u32,
    pub max_contributions_per_group: u32,
}

/// Memory caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Distinct units tracked per window (user level), or events accepted per
    /// window into a release with partition selection (event level).
    pub max_units_per_window: u32,
    /// Largest product of declared domain sizes of one release.
    pub max_groups_per_release: u32,
}

/// The per-period budget and where its ledger lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetConfig {
    pub budget: PeriodBudget,
    pub ledger_key: String,
}

/// A transform applied to a group value before grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    StatusClass,
    Lowercase,
}

/// One `group_by` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey {
    pub field: String,
    pub name: String,
    pub bucket: Option<Bucket>,
    /// Declared domain (in declaration order), if any.
    pub domain: Option<Vec<Option<String>>>,
    /// Index of `field` in [`AggregateConfig::field_paths`].
    pub field_index: usize,
}

/// What a release computes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseKind {
    Count,
    Sum {
        field: String,
        field_index: usize,
        lo: i64,
        hi: i64,
    },
}

/// Partition selection parameters, as configured and as derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionSelection {
    pub epsilon_nano: u64,
    pub delta_atto: u64,
    /// Discrete Laplace scale for the noisy distinct-unit count.
    pub scale: Scale,
    /// A group is released iff `units + noise >= threshold`.
    pub threshold: i64,
}

/// The noise of a release's values, derived from its budget and bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoisePlan {
    pub mechanism: Mechanism,
    /// Laplace: epsilon in nano; Gaussian: rho in nano.
    pub budget_nano: u64,
    pub l1_sensitivity: u64,
    pub l2_sensitivity_squared: u64,
    pub scale: Scale,
    /// Half-width of the 95% confidence interval of one noisy value.
    pub ci95_halfwidth: u64,
}

/// One configured release, with everything derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseConfig {
    pub name: String,
    pub kind: ReleaseKind,
    pub group_by: Vec<GroupKey>,
    pub noise: NoisePlan,
    pub partition_selection: Option<PartitionSelection>,
    /// Whether per-unit state is capped for this release (see
    /// [`AggregateConfig`] docs on stability); doubles the sensitivity.
    pub capped: bool,
    /// Per-window cost charged to the ledger before any release.
    pub cost: PrivacyCost,
    /// Product of the declared domain sizes (declared-domain releases).
    pub domain_size: usize,
}

/// The parsed and validated `aggregate` section.
///
/// Stability of the memory caps: per-unit state is bounded by
/// `limits.max_units_per_window`, admitted first-come. Adding one unit to a
/// window can then push out at most one other unit, so a neighbouring dataset
/// may differ in *two* units' bounded contributions. Every release that uses
/// such a cap (all user-level releases; event-level releases with partition
/// selection) is calibrated for that: its sensitivities and its partition
/// selection are computed for `2 * max_groups_per_unit` affected groups.
/// Event-level releases over declared domains need no per-unit state and use
/// the plain sensitivities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateConfig {
    pub window_secs: i64,
    pub allowed_lateness_secs: i64,
    pub max_clock_skew_secs: i64,
    pub time_field: Option<String>,
    pub privacy_unit: PrivacyUnit,
    /// For event-level units this is `1/1` (each event contributes once).
    pub bounds: Bounds,
    pub budget: BudgetConfig,
    pub limits: Limits,
    pub releases: Vec<ReleaseConfig>,
    /// Windows that can be open at once (from width, lateness and skew).
    pub max_open_windows: i64,
    field_paths: Vec<String>,
    time_index: Option<usize>,
    unit_index: Option<usize>,
    fingerprint: String,
}

impl AggregateConfig {
    /// Distinct record paths the host must extract from the scrubbed record,
    /// in a fixed order: `time_field`, the privacy unit field, then for each
    /// release its `group_by` fields and its sum field (first occurrence
    /// wins). Paths are the raw policy strings.
    pub fn field_paths(&self) -> &[String] {
        &self.field_paths
    }

    pub(crate) fn time_index(&self) -> Option<usize> {
        self.time_index
    }

    pub(crate) fn unit_index(&self) -> Option<usize> {
        self.unit_index
    }

    /// A digest of the section (canonical JSON, SHA-256, hex): snapshots taken
    /// under another configuration are refused.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Parses the `aggregate` section (the value of the `aggregate` key).
    pub fn from_json(v: &Value) -> Result<AggregateConfig, ConfigError> {
        parse(v)
    }
}

const ROOT: &str = "aggregate";

fn at(parent: &str, key: &str) -> String {
    format!("{parent}.{key}")
}

fn object<'a>(
    v: &'a Value,
    loc: &str,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, ConfigError> {
    let map = v
        .as_object()
        .ok_or_else(|| ConfigError::new(loc, format!("expected an object, got {}", kind(v))))?;
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(ConfigError::new(
                at(loc, key),
                format!("unknown key; expected one of: {}", allowed.join(", ")),
            ));
        }
    }
    Ok(map)
}

fn kind(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) if s.chars().count() <= 40 => format!("{s:?}"),
        Value::String(_) => "a long string".into(),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn required<'a>(
    map: &'a Map<String, Value>,
    loc: &str,
    key: &str,
) -> Result<&'a Value, ConfigError> {
    map.get(key)
        .ok_or_else(|| ConfigError::new(at(loc, key), "is required"))
}

fn string<'a>(v: &'a Value, loc: &str) -> Result<&'a str, ConfigError> {
    v.as_str()
        .ok_or_else(|| ConfigError::new(loc, format!("expected a string, got {}", kind(v))))
}

fn path(v: &Value, loc: &str) -> Result<String, ConfigError> {
    let p = string(v, loc)?;
    if p.is_empty() || p.matches('"').count() % 2 != 0 || p.starts_with('.') || p.ends_with('.') {
        return Err(ConfigError::new(
            loc,
            format!(
                "expected a field path like a.b or a.\"c.d\", got {}",
                kind(v)
            ),
        ));
    }
    Ok(p.to_owned())
}

fn duration(v: &Value, loc: &str) -> Result<i64, ConfigError> {
    let s = string(v, loc)?;
    parse_duration_secs(s).ok_or_else(|| {
        ConfigError::new(
            loc,
            format!(
                "expected a duration like \"30s\", \"1m\", \"1h30m\", \"1d\", got {}",
                kind(v)
            ),
        )
    })
}

fn fixed(v: &Value, loc: &str, unit: u64, what: &str) -> Result<u64, ConfigError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => {
            return Err(ConfigError::new(
                loc,
                format!("expected {what}, got {}", kind(v)),
            ))
        }
    };
    accountant::parse_fixed(&text, unit)
        .ok_or_else(|| ConfigError::new(loc, format!("expected {what}, got {}", kind(v))))
}

fn integer(v: &Value, loc: &str, lo: u64, hi: u64) -> Result<u64, ConfigError> {
    v.as_u64().filter(|n| (lo..=hi).contains(n)).ok_or_else(|| {
        ConfigError::new(
            loc,
            format!("expected an integer in {lo}..={hi}, got {}", kind(v)),
        )
    })
}

fn parse(v: &Value) -> Result<AggregateConfig, ConfigError> {
    let map = object(
        v,
        ROOT,
        &[
            "window",
            "allowed_lateness",
            "max_clock_skew",
            "time_field",
            "privacy_unit",
            "bounds",
            "budget",
            "limits",
            "releases",
        ],
    )?;
    let window_secs = duration(required(map, ROOT, "window")?, &at(ROOT, "window"))?;
    if window_secs == 0 {
        return Err(ConfigError::new(at(ROOT, "window"), "must be at least 1s"));
    }
    let allowed_lateness_secs = match map.get("allowed_lateness") {
        Some(v) => duration(v, &at(ROOT, "allowed_lateness"))?,
        None => 0,
    };
    let max_clock_skew_secs = match map.get("max_clock_skew") {
        Some(v) => duration(v, &at(ROOT, "max_clock_skew"))?,
        None => 60,
    };
    let mut fields = FieldTable::default();
    let time_field = map
        .get("time_field")
        .map(|v| path(v, &at(ROOT, "time_field")))
        .transpose()?;
    let time_index = time_field.as_ref().map(|p| fields.index(p));

    let unit_loc = at(ROOT, "privacy_unit");
    let unit_map = object(
        required(map, ROOT, "privacy_unit")?,
        &unit_loc,
        &["type", "field"],
    )?;
    let privacy_unit = match string(
        required(unit_map, &unit_loc, "type")?,
        &at(&unit_loc, "type"),
    )? {
        "event" => {
            if unit_map.contains_key("field") {
                return Err(ConfigError::new(
                    at(&unit_loc, "field"),
                    "not allowed for type \"event\"",
                ));
            }
            PrivacyUnit::Event
        }
        "user" => PrivacyUnit::User {
            field: path(
                required(unit_map, &unit_loc, "field")?,
                &at(&unit_loc, "field"),
            )?,
        },
        other => {
            return Err(ConfigError::new(
                at(&unit_loc, "type"),
                format!(
                    "expected \"user\" or \"event\", got {}",
                    kind(&Value::String(other.into()))
                ),
            ))
        }
    };
    let unit_index = match &privacy_unit {
        PrivacyUnit::User { field } => Some(fields.index(field)),
        PrivacyUnit::Event => None,
    };

    let bounds = parse_bounds(map.get("bounds"), &privacy_unit)?;
    let budget = parse_budget(required(map, ROOT, "budget")?, window_secs)?;
    let limits = parse_limits(map.get("limits"))?;

    // Windows [k w, (k+1) w) stay open until watermark >= end + lateness, and
    // accepted events are at most `skew` ahead of host time.
    let span = allowed_lateness_secs
        .checked_add(max_clock_skew_secs)
        .and_then(|s| s.checked_add(window_secs.saturating_sub(1)))
        .and_then(|s| s.checked_div(window_secs))
        .and_then(|n| n.checked_add(2))
        .unwrap_or(i64::MAX);
    if span > MAX_OPEN_WINDOWS {
        return Err(ConfigError::new(
            at(ROOT, "window"),
            format!(
                "allowed_lateness + max_clock_skew span {span} windows of this width; at most {MAX_OPEN_WINDOWS} may be open"
            ),
        ));
    }
    let tracked = u64::from(limits.max_units_per_window).saturating_mul(span.unsigned_abs());
    if tracked > MAX_TRACKED_UNITS {
        return Err(ConfigError::new(
            at(ROOT, "limits.max_units_per_window"),
            format!("{span} open windows x this many units exceeds the memory budget of {MAX_TRACKED_UNITS} tracked units"),
        ));
    }

    let releases_loc = at(ROOT, "releases");
    let list = required(map, ROOT, "releases")?
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ConfigError::new(&releases_loc, "expected a non-empty array of releases"))?;
    if list.len() > 64 {
        return Err(ConfigError::new(&releases_loc, "at most 64 releases"));
    }
    let mut releases: Vec<ReleaseConfig> = Vec::with_capacity(list.len());
    for (i, rv) in list.iter().enumerate() {
        let loc = format!("{releases_loc}[{i}]");
        let r = parse_release(
            rv,
            &loc,
            &privacy_unit,
            &bounds,
            &budget,
            &limits,
            &mut fields,
        )?;
        if releases.iter().any(|o| o.name == r.name) {
            return Err(ConfigError::new(at(&loc, "name"), "duplicate release name"));
        }
        releases.push(r);
    }

    let canonical =
        serde_json::to_string(v).map_err(|_| ConfigError::new(ROOT, "cannot serialise section"))?;
    let fingerprint = hex(&sha256(canonical.as_bytes()));
    Ok(AggregateConfig {
        window_secs,
        allowed_lateness_secs,
        max_clock_skew_secs,
        time_field,
        privacy_unit,
        bounds,
        budget,
        limits,
        releases,
        max_open_windows: span,
        field_paths: fields.paths,
        time_index,
        unit_index,
        fingerprint,
    })
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Default)]
struct FieldTable {
    paths: Vec<String>,
}

impl FieldTable {
    fn index(&mut self, p: &str) -> usize {
        if let Some(i) = self.paths.iter().position(|q| q == p) {
            return i;
        }
        self.paths.push(p.to_owned());
        self.paths.len().saturating_sub(1)
    }
}

fn parse_bounds(v: Option<&Value>, unit: &PrivacyUnit) -> Result<Bounds, ConfigError> {
    let loc = at(ROOT, "bounds");
    match (unit, v) {
        (PrivacyUnit::Event, None) => Ok(Bounds { max_groups_per_unit: 1, max_contributions_per_group: 1 }),
        (PrivacyUnit::Event, Some(_)) => Err(ConfigError::new(
            loc,
            "not allowed with privacy_unit \"event\" (each event contributes once to one group)",
        )),
        (PrivacyUnit::User { .. }, None) => Err(ConfigError::new(
            loc,
            "is required with privacy_unit \"user\": {\"max_groups_per_unit\": n, \"max_contributions_per_group\": n}",
        )),
        (PrivacyUnit::User { .. }, Some(v)) => {
            let m = object(v, &loc, &["max_groups_per_unit", "max_contributions_per_group"])?;
            let bound = |key: &str| -> Result<u32, ConfigError> {
                let n = integer(required(m, &loc, key)?, &at(&loc, key), 1, u64::from(MAX_BOUND))?;
                u32::try_from(n).map_err(|_| ConfigError::new(at(&loc, key), "out of range"))
            };
            Ok(Bounds {
                max_groups_per_unit: bound("max_groups_per_unit")?,
                max_contributions_per_group: bound("max_contributions_per_group")?,
            })
        }
    }
}

fn parse_budget(v: &Value, window_secs: i64) -> Result<BudgetConfig, ConfigError> {
    let loc = at(ROOT, "budget");
    let m = object(v, &loc, &["period", "epsilon", "delta", "ledger_key"])?;
    let period_secs = duration(required(m, &loc, "period")?, &at(&loc, "period"))?;
    if period_secs < window_secs {
        return Err(ConfigError::new(
            at(&loc, "period"),
            "must be at least one window long",
        ));
    }
    let epsilon_nano = fixed(
        required(m, &loc, "epsilon")?,
        &at(&loc, "epsilon"),
        NANO,
        "a positive number with at most 9 decimals",
    )?;
    if epsilon_nano == 0 {
        return Err(ConfigError::new(at(&loc, "epsilon"), "must be positive"));
    }
    let delta_atto = match m.get("delta") {
        Some(v) => fixed(
            v,
            &at(&loc, "delta"),
            ATTO,
            "a number in [0, 1) with at most 18 decimals",
        )?,
        None => 0,
    };
    if delta_atto >= ATTO {
        return Err(ConfigError::new(at(&loc, "delta"), "must be below 1"));
    }
    let ledger_key = string(required(m, &loc, "ledger_key")?, &at(&loc, "ledger_key"))?;
    if ledger_key.is_empty() || ledger_key.len() > 200 {
        return Err(ConfigError::new(
            at(&loc, "ledger_key"),
            "expected 1..=200 bytes",
        ));
    }
    Ok(BudgetConfig {
        budget: PeriodBudget {
            epsilon_nano,
            delta_atto,
            period_secs,
        },
        ledger_key: ledger_key.to_owned(),
    })
}

fn parse_limits(v: Option<&Value>) -> Result<Limits, ConfigError> {
    let loc = at(ROOT, "limits");
    let mut limits = Limits {
        max_units_per_window: 10_000,
        max_groups_per_release: 10_000,
    };
    if let Some(v) = v {
        let m = object(v, &loc, &["max_units_per_window", "max_groups_per_release"])?;
        if let Some(n) = m.get("max_units_per_window") {
            let n = integer(n, &at(&loc, "max_units_per_window"), 1, MAX_TRACKED_UNITS)?;
            limits.max_units_per_window = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = m.get("max_groups_per_release") {
            let n = integer(n, &at(&loc, "max_groups_per_release"), 1, 100_000)?;
            limits.max_groups_per_release = u32::try_from(n).unwrap_or(u32::MAX);
        }
    }
    Ok(limits)
}

fn parse_release(
    v: &Value,
    loc: &str,
    unit: &PrivacyUnit,
    bounds: &Bounds,
    budget: &BudgetConfig,
    limits: &Limits,
    fields: &mut FieldTable,
) -> Result<ReleaseConfig, ConfigError> {
    let m = object(
        v,
        loc,
        &[
            "name",
            "kind",
            "field",
            "clamp",
            "mechanism",
            "epsilon",
            "rho",
            "group_by",
            "domains",
            "partition_selection",
        ],
    )?;
    let name = string(required(m, loc, "name")?, &at(loc, "name"))?;
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    {
        return Err(ConfigError::new(
            at(loc, "name"),
            "expected 1..=64 characters from [A-Za-z0-9_.-]",
        ));
    }

    // Group keys first, so field indexes follow the documented order.
    let mut group_by = Vec::new();
    if let Some(g) = m.get("group_by") {
        let gloc = at(loc, "group_by");
        let list = g.as_array().ok_or_else(|| {
            ConfigError::new(&gloc, format!("expected an array, got {}", kind(g)))
        })?;
        if list.len() > 8 {
            return Err(ConfigError::new(&gloc, "at most 8 group keys"));
        }
        for (j, e) in list.iter().enumerate() {
            let eloc = format!("{gloc}[{j}]");
            let em = object(e, &eloc, &["field", "as", "bucket"])?;
            let field = path(required(em, &eloc, "field")?, &at(&eloc, "field"))?;
            let name = match em.get("as") {
                Some(a) => {
                    let s = string(a, &at(&eloc, "as"))?;
                    if s.is_empty() || s.len() > 64 {
                        return Err(ConfigError::new(at(&eloc, "as"), "expected 1..=64 bytes"));
                    }
                    s.to_owned()
                }
                None => field.clone(),
            };
            let bucket = match em.get("bucket") {
                None => None,
                Some(b) => Some(match string(b, &at(&eloc, "bucket"))? {
                    "status_class" => Bucket::StatusClass,
                    "lowercase" => Bucket::Lowercase,
                    _ => {
                        return Err(ConfigError::new(
                            at(&eloc, "bucket"),
                            format!(
                                "expected \"status_class\" or \"lowercase\", got {}",
                                kind(b)
                            ),
                        ))
                    }
                }),
            };
            if group_by.iter().any(|k: &GroupKey| k.name == name) {
                return Err(ConfigError::new(
                    &eloc,
                    "duplicate group key name (use \"as\" to rename)",
                ));
            }
            let field_index = fields.index(&field);
            group_by.push(GroupKey {
                field,
                name,
                bucket,
                domain: None,
                field_index,
            });
        }
    }

    let kind_loc = at(loc, "kind");
    let release_kind = match string(required(m, loc, "kind")?, &kind_loc)? {
        "count" => {
            for key in ["field", "clamp"] {
                if m.contains_key(key) {
                    return Err(ConfigError::new(
                        at(loc, key),
                        "only allowed with kind \"sum\"",
                    ));
                }
            }
            ReleaseKind::Count
        }
        "sum" => {
            let field = path(required(m, loc, "field")?, &at(loc, "field"))?;
            let (lo, hi) = parse_clamp(required(m, loc, "clamp")?, &at(loc, "clamp"))?;
            let field_index = fields.index(&field);
            ReleaseKind::Sum {
                field,
                field_index,
                lo,
                hi,
            }
        }
        other => {
            return Err(ConfigError::new(
                kind_loc,
                format!(
                    "expected \"count\" or \"sum\", got {}",
                    kind(&Value::String(other.into()))
                ),
            ))
        }
    };

    let mech_loc = at(loc, "mechanism");
    let (mechanism, budget_nano) = match string(required(m, loc, "mechanism")?, &mech_loc)? {
        "laplace" => {
            if m.contains_key("rho") {
                return Err(ConfigError::new(
                    at(loc, "rho"),
                    "mechanism \"laplace\" takes \"epsilon\", not \"rho\"",
                ));
            }
            let e = fixed(
                required(m, loc, "epsilon")?,
                &at(loc, "epsilon"),
                NANO,
                "a positive number with at most 9 decimals",
            )?;
            (Mechanism::Laplace, e)
        }
        "gaussian" => {
            if m.contains_key("epsilon") {
                return Err(ConfigError::new(
                    at(loc, "epsilon"),
                    "mechanism \"gaussian\" takes \"rho\" (zCDP), not \"epsilon\"",
                ));
            }
            if budget.budget.delta_atto == 0 {
                return Err(ConfigError::new(
                    mech_loc,
                    "\"gaussian\" needs budget.delta > 0 to convert zCDP to (epsilon, delta)",
                ));
            }
            let r = fixed(
                required(m, loc, "rho")?,
                &at(loc, "rho"),
                NANO,
                "a positive number with at most 9 decimals",
            )?;
            (Mechanism::Gaussian, r)
        }
        _ => {
            let got = m.get("mechanism").map(kind).unwrap_or_default();
            return Err(ConfigError::new(
                mech_loc,
                format!("expected \"laplace\" or \"gaussian\", got {got}"),
            ));
        }
    };
    if budget_nano == 0 {
        let key = if mechanism == Mechanism::Laplace {
            "epsilon"
        } else {
            "rho"
        };
        return Err(ConfigError::new(at(loc, key), "must be positive"));
    }

    // Domains.
    if let Some(d) = m.get("domains") {
        let dloc = at(loc, "domains");
        let dm = d.as_object().ok_or_else(|| {
            ConfigError::new(&dloc, format!("expected an object, got {}", kind(d)))
        })?;
        for (key, values) in dm {
            let vloc = at(&dloc, key);
            let gk = group_by
                .iter_mut()
                .find(|g| &g.name == key)
                .ok_or_else(|| {
                    ConfigError::new(&vloc, "not a group_by key name of this release")
                })?;
            let list = values
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| ConfigError::new(&vloc, "expected a non-empty array of values"))?;
            let mut domain: Vec<Option<String>> = Vec::with_capacity(list.len());
            for (j, x) in list.iter().enumerate() {
                let text = match x {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => {
                        return Err(ConfigError::new(
                            format!("{vloc}[{j}]"),
                            format!(
                                "expected a string, number, boolean or null, got {}",
                                kind(x)
                            ),
                        ))
                    }
                };
                if domain.contains(&text) {
                    return Err(ConfigError::new(
                        format!("{vloc}[{j}]"),
                        "duplicate domain value",
                    ));
                }
                domain.push(text);
            }
            gk.domain = Some(domain);
        }
    }

    let ps_loc = at(loc, "partition_selection");
    let ps_budget = match m.get("partition_selection") {
        None | Some(Value::Bool(false)) => None,
        Some(p @ Value::Object(_)) => {
            let pm = object(p, &ps_loc, &["epsilon", "delta"])?;
            let e = fixed(required(pm, &ps_loc, "epsilon")?, &at(&ps_loc, "epsilon"), NANO, "a positive number with at most 9 decimals")?;
            let d = fixed(required(pm, &ps_loc, "delta")?, &at(&ps_loc, "delta"), ATTO, "a number in (0, 1) with at most 18 decimals")?;
            if e == 0 {
                return Err(ConfigError::new(at(&ps_loc, "epsilon"), "must be positive"));
            }
            if d == 0 || d >= ATTO {
                return Err(ConfigError::new(at(&ps_loc, "delta"), "must be in (0, 1)"));
            }
            if group_by.is_empty() {
                return Err(ConfigError::new(&ps_loc, "needs at least one group_by key"));
            }
            Some((e, d))
        }
        Some(other) => {
            return Err(ConfigError::new(
                &ps_loc,
                format!("expected {{\"epsilon\": e, \"delta\": d}} (its cost is charged per window), got {}", kind(other)),
            ))
        }
    };
    let mut domain_size: usize = 1;
    if ps_budget.is_none() {
        for (j, g) in group_by.iter().enumerate() {
            let Some(d) = &g.domain else {
                return Err(ConfigError::new(
                    format!("{loc}.group_by[{j}]"),
                    format!("key {:?} has no declared domain: declare it in \"domains\" or set \"partition_selection\"", g.name),
                ));
            };
            domain_size = domain_size.saturating_mul(d.len());
        }
        if domain_size > limits.max_groups_per_release as usize {
            return Err(ConfigError::new(
                at(loc, "domains"),
                format!(
                    "{domain_size} combinations exceed limits.max_groups_per_release ({})",
                    limits.max_groups_per_release
                ),
            ));
        }
    }

    let capped = matches!(unit, PrivacyUnit::User { .. }) || ps_budget.is_some();
    let stability: u64 = if capped { 2 } else { 1 };
    let (l1, l2sq) = sensitivities(&release_kind, bounds, stability).ok_or_else(|| {
        ConfigError::new(
            at(loc, "clamp"),
            "sensitivity too large: narrow the clamp or the bounds",
        )
    })?;
    let noise_err =
        |e: noise::NoiseError| ConfigError::new(loc, format!("cannot calibrate noise: {e}"));
    let budget_scale = Scale::new(budget_nano, NANO).map_err(noise_err)?;
    let scale = match mechanism {
        Mechanism::Laplace => noise::laplace_scale_for(budget_scale, l1),
        Mechanism::Gaussian => noise::gaussian_sigma_for_rho(budget_scale, l2sq),
    }
    .map_err(noise_err)?;
    let ci95_halfwidth = noise::ci_halfwidth(mechanism, scale, 0.95).map_err(noise_err)?;
    let noise_plan = NoisePlan {
        mechanism,
        budget_nano,
        l1_sensitivity: l1,
        l2_sensitivity_squared: l2sq,
        scale,
        ci95_halfwidth,
    };

    let partition_selection = match ps_budget {
        None => None,
        Some((e, d)) => {
            let affected = stability.saturating_mul(u64::from(bounds.max_groups_per_unit));
            let ps = super::window::partition_selection(e, d, affected)
                .map_err(|msg| ConfigError::new(&ps_loc, msg))?;
            Some(ps)
        }
    };

    let mut cost = match mechanism {
        Mechanism::Laplace => PrivacyCost::laplace(budget_nano),
        Mechanism::Gaussian => PrivacyCost::gaussian(budget_nano),
    };
    if let Some(ps) = &partition_selection {
        cost = cost
            .checked_add(&PrivacyCost::selection(ps.epsilon_nano, ps.delta_atto))
            .ok_or_else(|| ConfigError::new(loc, "cost overflows"))?;
    }
    if !accountant::within_budget(&budget.budget, &cost) {
        return Err(ConfigError::new(
            loc,
            "one window of this release costs more than the whole period budget (aggregate.budget)",
        ));
    }

    Ok(ReleaseConfig {
        name: name.to_owned(),
        kind: release_kind,
        group_by,
        noise: noise_plan,
        partition_selection,
        capped,
        cost,
        domain_size,
    })
}

fn parse_clamp(v: &Value, loc: &str) -> Result<(i64, i64), ConfigError> {
    let bad = || {
        ConfigError::new(
            loc,
            format!(
                "expected [lo, hi] with integers lo <= hi and |lo|, |hi| <= 2^40, got {}",
                short(v)
            ),
        )
    };
    let a = v.as_array().filter(|a| a.len() == 2).ok_or_else(bad)?;
    let lo = a.first().and_then(Value::as_i64).ok_or_else(bad)?;
    let hi = a.get(1).and_then(Value::as_i64).ok_or_else(bad)?;
    if lo > hi || lo < -MAX_CLAMP || hi > MAX_CLAMP {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// Compact text of a small policy value for error messages.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 40 {
        s
    } else {
        kind(v)
    }
}

/// L1 and squared L2 sensitivity of one window of a release, over all its
/// groups, for neighbouring datasets that differ in one unit.
///
/// A unit adds to at most `g` groups a per-group total in `[a, b]`:
/// counts `[0, c]`; sums `[min(0, c lo), max(0, c hi)]` (with `c` contributions
/// each clamped to `[lo, hi]`). Let `m = max(|a|, |b|)`, `w = b - a`.
/// - stability 1 (adding a unit changes only its own groups):
///   `L1 = g m`, `L2^2 = g m^2`;
/// - stability 2 (it may also push out one other unit, see
///   [`AggregateConfig`]): a group touched by both changes by at most `w`,
///   one touched by one of them by at most `m`, so
///   `L1 = max(2 g m, g w) = 2 g m` and `L2^2 = g max(2 m^2, w^2)`.
pub fn sensitivities(kind: &ReleaseKind, bounds: &Bounds, stability: u64) -> Option<(u64, u64)> {
    let g = i128::from(bounds.max_groups_per_unit);
    let c = i128::from(bounds.max_contributions_per_group);
    let (a, b) = match kind {
        ReleaseKind::Count => (0, c),
        ReleaseKind::Sum { lo, hi, .. } => (
            c.checked_mul(i128::from(*lo))?.min(0),
            c.checked_mul(i128::from(*hi))?.max(0),
        ),
    };
    let m = a.checked_abs()?.max(b.checked_abs()?);
    let w = b.checked_sub(a)?;
    let (l1, l2sq) = if stability >= 2 {
        let two_m2 = m.checked_mul(m)?.checked_mul(2)?;
        (
            g.checked_mul(m)?.checked_mul(2)?,
            g.checked_mul(two_m2.max(w.checked_mul(w)?))?,
        )
    } else {
        (g.checked_mul(m)?, g.checked_mul(m.checked_mul(m)?)?)
    };
    // A sum clamped to [0, 0] has no sensitivity; noise still needs a scale.
    Some((
        u64::try_from(l1.max(1)).ok()?,
        u64::try_from(l2sq.max(1)).ok()?,
    ))
}

impl ReleaseConfig {
    /// The declared-domain combination index of a group tuple, if every value
    /// is in its key's domain (row-major in declaration order). The ingest
    /// path uses the allocation-free equivalent in `window.rs`.
    #[cfg(test)]
    pub(crate) fn domain_index(&self, values: &[Option<String>]) -> Option<usize> {
        let mut index: usize = 0;
        for (g, v) in self.group_by.iter().zip(values) {
            let d = g.domain.as_ref()?;
            let pos = d.iter().position(|x| x == v)?;
            index = index.checked_mul(d.len())?.checked_add(pos)?;
        }
        Some(index)
    }

    /// The group tuple of a declared-domain combination index.
    pub(crate) fn domain_values(&self, mut index: usize) -> Option<Vec<Option<String>>> {
        let mut out = vec![None; self.group_by.len()];
        for (g, slot) in self.group_by.iter().zip(out.iter_mut()).rev() {
            let d = g.domain.as_ref()?;
            let pos = index.checked_rem(d.len())?;
            index = index.checked_div(d.len())?;
            *slot = d.get(pos)?.clone();
        }
        Some(out)
    }

    /// Whether every group key's value passes its declared domain (keys
    /// without a domain accept anything).
    pub(crate) fn in_domains(&self, values: &[Option<String>]) -> bool {
        self.group_by
            .iter()
            .zip(values)
            .all(|(g, v)| g.domain.as_ref().is_none_or(|d| d.contains(v)))
    }
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn example() -> Value {
        json!({
            "window": "1m", "allowed_lateness": "30s",
            "time_field": "requestReceivedTimestamp",
            "privacy_unit": {"type": "user", "field": "user.username"},
            "bounds": {"max_groups_per_unit": 4, "max_contributions_per_group": 1},
            "budget": {"period": "1d", "epsilon": 1.0, "delta": 1e-6, "ledger_key": "dp-audit/ledger"},
            "releases": [
                {"name": "requests_by_verb_status", "kind": "count", "mechanism": "laplace", "epsilon": 0.05,
                 "group_by": [{"field": "verb"}, {"field": "responseStatus.code", "as": "status_class", "bucket": "status_class"}],
                 "domains": {"verb": ["get","list","watch","create","update","patch","delete"],
                             "status_class": ["1xx","2xx","3xx","4xx","5xx"]}},
                {"name": "bytes_by_method", "kind": "sum", "field": "bytes_sent", "clamp": [0, 65536],
                 "mechanism": "gaussian", "rho": 0.01,
                 "group_by": [{"field": "method"}, {"field": "annotations.\"authorization.k8s.io/reason\"", "as": "reason"}],
                 "partition_selection": {"epsilon": 0.05, "delta": 1e-9}}
            ]
        })
    }

    fn err(v: Value) -> ConfigError {
        AggregateConfig::from_json(&v).unwrap_err()
    }

    /// Applies `f` to a copy of the example and returns the parse error.
    fn err_with(f: impl FnOnce(&mut Value)) -> ConfigError {
        let mut v = example();
        f(&mut v);
        err(v)
    }

    #[test]
    fn example_parses_with_derived_parameters() {
        let c = AggregateConfig::from_json(&example()).unwrap();
        assert_eq!(c.window_secs, 60);
        assert_eq!(c.allowed_lateness_secs, 30);
        assert_eq!(c.max_clock_skew_secs, 60);
        assert_eq!(c.max_open_windows, 4);
        assert_eq!(
            c.field_paths(),
            [
                "requestReceivedTimestamp",
                "user.username",
                "verb",
                "responseStatus.code",
                "method",
                "annotations.\"authorization.k8s.io/reason\"",
                "bytes_sent"
            ]
        );
        assert_eq!(
            c.budget.budget,
            PeriodBudget {
                epsilon_nano: NANO,
                delta_atto: 1_000_000_000_000,
                period_secs: 86_400
            }
        );
        let r0 = &c.releases[0];
        assert_eq!(r0.domain_size, 35);
        assert!(r0.capped);
        // User level, g = 4, c = 1, stability 2: L1 = 2 * 4 * 1 = 8; scale = 8 / 0.05 = 160.
        assert_eq!(
            (r0.noise.l1_sensitivity, r0.noise.l2_sensitivity_squared),
            (8, 8)
        );
        assert_eq!(r0.noise.scale, Scale::new(160, 1).unwrap());
        assert_eq!(
            r0.cost,
            PrivacyCost {
                epsilon_nano: 50_000_000,
                laplace_epsilon_nano: 50_000_000,
                laplace_rho_atto: 1_250_000_000_000_000,
                ..Default::default()
            }
        );
        let r1 = &c.releases[1];
        // Sum in [0, 65536]: m = w = 65536, L2^2 = 4 * 2 * 65536^2.
        assert_eq!(r1.noise.l2_sensitivity_squared, 8 * 65_536 * 65_536);
        assert_eq!(
            r1.cost,
            PrivacyCost {
                epsilon_nano: 50_000_000,
                rho_nano: 10_000_000,
                delta_atto: 1_000_000_000,
                ..Default::default()
            }
        );
        assert!(r1.partition_selection.is_some());
        assert_eq!(
            r0.domain_values(
                r0.domain_index(&[Some("list".into()), Some("4xx".into())])
                    .unwrap()
            )
            .unwrap(),
            [Some("list".to_string()), Some("4xx".to_string())]
        );
        // Same section, same fingerprint; any change, another.
        let again = AggregateConfig::from_json(&example()).unwrap();
        assert_eq!(c.fingerprint(), again.fingerprint());
        let mut v = example();
        v["window"] = json!("2m");
        assert_ne!(
            c.fingerprint(),
            AggregateConfig::from_json(&v).unwrap().fingerprint()
        );
    }

    #[test]
    fn sensitivity_derivation() {
        let b = Bounds {
            max_groups_per_unit: 3,
            max_contributions_per_group: 2,
        };
        assert_eq!(sensitivities(&ReleaseKind::Count, &b, 1), Some((6, 12)));
        assert_eq!(sensitivities(&ReleaseKind::Count, &b, 2), Some((12, 24)));
        let sum = |lo, hi| ReleaseKind::Sum {
            field: "x".into(),
            field_index: 0,
            lo,
            hi,
        };
        // [a, b] = [-20, 10]: m = 20, w = 30.
        assert_eq!(sensitivities(&sum(-10, 5), &b, 1), Some((60, 1_200)));
        assert_eq!(sensitivities(&sum(-10, 5), &b, 2), Some((120, 3 * 900)));
        // [a, b] = [0, 20]: m = w = 20.
        assert_eq!(sensitivities(&sum(3, 10), &b, 2), Some((120, 3 * 800)));
        let event = Bounds {
            max_groups_per_unit: 1,
            max_contributions_per_group: 1,
        };
        assert_eq!(sensitivities(&ReleaseKind::Count, &event, 1), Some((1, 1)));
    }

    #[test]
    fn event_level_declared_domains_use_plain_sensitivity() {
        let mut v = example();
        v["privacy_unit"] = json!({"type": "event"});
        v.as_object_mut().unwrap().remove("bounds");
        let c = AggregateConfig::from_json(&v).unwrap();
        assert!(!c.releases[0].capped);
        assert_eq!(c.releases[0].noise.l1_sensitivity, 1);
        assert_eq!(c.releases[0].noise.scale, Scale::new(20, 1).unwrap());
        assert!(c.releases[1].capped);
        assert_eq!(c.field_paths()[1], "verb");
    }

    #[test]
    fn precise_errors() {
        let cases: Vec<(ConfigError, &str, &str)> = vec![
            (
                err_with(|v| v["window"] = json!("1 minute")),
                "aggregate.window",
                "expected a duration",
            ),
            (
                err_with(|v| v["window"] = json!("0s")),
                "aggregate.window",
                "at least 1s",
            ),
            (
                err_with(|v| v["windw"] = json!("1m")),
                "aggregate.windw",
                "unknown key",
            ),
            (
                err_with(|v| v["privacy_unit"]["type"] = json!("group")),
                "aggregate.privacy_unit.type",
                "\"user\" or \"event\"",
            ),
            (
                err_with(|v| {
                    v.as_object_mut().unwrap().remove("bounds");
                }),
                "aggregate.bounds",
                "is required",
            ),
            (
                err_with(|v| v["bounds"]["max_groups_per_unit"] = json!(0)),
                "aggregate.bounds.max_groups_per_unit",
                "1..=1000",
            ),
            (
                err_with(|v| v["budget"]["epsilon"] = json!(0.0000000001)),
                "aggregate.budget.epsilon",
                "at most 9 decimals",
            ),
            (
                err_with(|v| v["budget"]["epsilon"] = json!(-1)),
                "aggregate.budget.epsilon",
                "positive number",
            ),
            (
                err_with(|v| v["budget"]["delta"] = json!(1)),
                "aggregate.budget.delta",
                "below 1",
            ),
            (
                err_with(|v| v["budget"]["period"] = json!("30s")),
                "aggregate.budget.period",
                "at least one window",
            ),
            (
                err_with(|v| v["releases"] = json!([])),
                "aggregate.releases",
                "non-empty",
            ),
            (
                err_with(|v| v["releases"][1]["clamp"] = json!([5, 1])),
                "aggregate.releases[1].clamp",
                "lo <= hi",
            ),
            (
                err_with(|v| v["releases"][1]["clamp"] = json!([0.5, 1])),
                "aggregate.releases[1].clamp",
                "got [0.5,1]",
            ),
            (
                err_with(|v| v["releases"][0]["clamp"] = json!([0, 1])),
                "aggregate.releases[0].clamp",
                "only allowed with kind \"sum\"",
            ),
            (
                err_with(|v| {
                    v["releases"][1].as_object_mut().unwrap().remove("clamp");
                }),
                "aggregate.releases[1].clamp",
                "is required",
            ),
            (
                err_with(|v| v["releases"][0]["mechanism"] = json!("exponential")),
                "aggregate.releases[0].mechanism",
                "\"laplace\" or \"gaussian\"",
            ),
            (
                err_with(|v| v["releases"][0]["rho"] = json!(0.1)),
                "aggregate.releases[0].rho",
                "takes \"epsilon\"",
            ),
            (
                err_with(|v| v["releases"][1]["name"] = json!("requests_by_verb_status")),
                "aggregate.releases[1].name",
                "duplicate",
            ),
            (
                err_with(|v| v["releases"][0]["name"] = json!("has space")),
                "aggregate.releases[0].name",
                "[A-Za-z0-9_.-]",
            ),
            (
                err_with(|v| v["releases"][0]["domains"]["nope"] = json!(["x"])),
                "aggregate.releases[0].domains.nope",
                "not a group_by key",
            ),
            (
                err_with(|v| v["releases"][0]["domains"]["verb"] = json!(["get", "get"])),
                "aggregate.releases[0].domains.verb[1]",
                "duplicate",
            ),
            (
                err_with(|v| {
                    v["releases"][0]["domains"]
                        .as_object_mut()
                        .unwrap()
                        .remove("verb");
                }),
                "aggregate.releases[0].group_by[0]",
                "no declared domain",
            ),
            (
                err_with(|v| v["releases"][0]["group_by"][1]["bucket"] = json!("decade")),
                "aggregate.releases[0].group_by[1].bucket",
                "status_class",
            ),
            (
                err_with(|v| v["releases"][0]["group_by"][1]["as"] = json!("verb")),
                "aggregate.releases[0].group_by[1]",
                "duplicate group key",
            ),
            (
                err_with(|v| v["releases"][1]["partition_selection"] = json!(true)),
                "aggregate.releases[1].partition_selection",
                "{\"epsilon\": e, \"delta\": d}",
            ),
            (
                err_with(|v| v["releases"][1]["partition_selection"]["delta"] = json!(0)),
                "aggregate.releases[1].partition_selection.delta",
                "(0, 1)",
            ),
            (
                err_with(|v| v["releases"][0]["epsilon"] = json!(2)),
                "aggregate.releases[0]",
                "costs more than the whole period budget",
            ),
            (
                err_with(|v| v["budget"]["delta"] = json!(0)),
                "aggregate.releases[1].mechanism",
                "needs budget.delta > 0",
            ),
            (
                err_with(|v| v["allowed_lateness"] = json!("1d")),
                "aggregate.window",
                "at most 256 may be open",
            ),
            (
                err_with(|v| v["limits"] = json!({"max_units_per_window": 400000})),
                "aggregate.limits.max_units_per_window",
                "memory budget",
            ),
            (
                err_with(|v| v["limits"] = json!({"max_groups_per_release": 20})),
                "aggregate.releases[0].domains",
                "35 combinations",
            ),
            (
                err_with(|v| v["time_field"] = json!("a.\"b")),
                "aggregate.time_field",
                "field path",
            ),
            (err(json!([])), "aggregate", "expected an object"),
        ];
        for (e, at, needle) in cases {
            assert_eq!(e.at, at, "{e}");
            assert!(e.message.contains(needle), "{e} (wanted {needle:?})");
        }
    }
}
