//! What one tumbling window holds: per-release group aggregates, built under
//! contribution bounds and memory caps, and the partition-selection rule.
//!
//! # Contribution bounding (per window, per release)
//! User level: each unit (the value of `privacy_unit.field`) contributes to at
//! most `max_groups_per_unit` groups and at most `max_contributions_per_group`
//! times to each; a sum contribution is first clamped to `[lo, hi]`. Bounding
//! is deterministic first-come in arrival order: a unit's first groups are the
//! ones it keeps, later contributions beyond a bound are dropped (and
//! counted). Only the unit's own events decide what it keeps, so removing a
//! unit changes nothing else — except through the memory cap below.
//!
//! Event level: every event contributes exactly once to one group per release.
//!
//! # Memory caps
//! User level: at most `limits.max_units_per_window` distinct units per window
//! (first-come); events of further units are dropped (and counted). The
//! groups of a partition-selection release are then at most
//! `units * max_groups_per_unit`. Event level: a partition-selection release
//! accepts at most `limits.max_units_per_window` events per window; declared
//! domains need no per-event state. Because a first-come cap lets one added
//! unit push out one other, capped releases are calibrated for two changed
//! units (see [`super::config::sensitivities`]).
//!
//! # Partition selection
//! For groups not fixed in advance, the set of released groups itself must be
//! private. We use Laplace thresholding on the number of distinct units per
//! group (Korolova, Kenthapadi, Mishra & Ntoulas, WWW 2009; Wilson et al.,
//! "Differentially Private SQL with Bounded User Contribution", PoPETs 2020;
//! Desfontaines, Voss, Gipson & Mandayam, "Differentially private partition
//! selection", PoPETs 2022), with *discrete* Laplace noise so that the
//! threshold analysis is exact:
//!
//! Let `K` be the number of groups whose unit count one neighbour can change
//! (`K = max_groups_per_unit`, doubled for capped releases), each by at most
//! one. A group with `n` units is released iff `n + Z >= tau`, with
//! `Z ~ DLap(b)`, `P(Z = k) = (1-p)/(1+p) p^|k|`, `p = exp(-1/b)`, `b = K / eps`.
//! Per group, counts `n` and `n + 1` with `n >= 1` are `1/b`-indistinguishable.
//! A group present on one side only (`n = 1` vs absent) is released with
//! probability `P(Z >= tau - 1) = p^m / (1 + p)` for `m = tau - 1 >= 1`; we
//! take the smallest `m` with `p^m / (1+p) <= delta / K`, so each group is
//! `(1/b, delta/K)`-DP and the `K` affected groups together `(eps, delta)`-DP
//! by basic composition. The released values of selected groups are a second
//! mechanism (the release's own epsilon or rho); both costs are charged.
//! Selected groups are output sorted by key, never in arrival order.

use std::collections::BTreeMap;

use super::accountant::{ATTO, NANO};
use super::config::{
    AggregateConfig, Bucket, PartitionSelection, PrivacyUnit, ReleaseConfig, ReleaseKind,
};
use super::noise::{self, Scale};

/// Derives the partition-selection scale and threshold for a per-window
/// budget `(epsilon, delta)` and `affected` changed groups (see module docs).
pub fn partition_selection(
    epsilon_nano: u64,
    delta_atto: u64,
    affected: u64,
) -> Result<PartitionSelection, String> {
    let eps = Scale::new(epsilon_nano, NANO).map_err(|e| e.to_string())?;
    let scale = noise::laplace_scale_for(eps, affected.max(1))
        .map_err(|e| format!("cannot calibrate noise: {e}"))?;
    let b = scale.to_f64();
    let delta_per_group = delta_atto as f64 / ATTO as f64 / affected.max(1) as f64;
    if !(b.is_finite() && b > 0.0 && delta_per_group > 0.0 && delta_per_group < 0.5) {
        return Err("partition selection parameters out of range".into());
    }
    let p = (-1.0 / b).exp();
    let ln_tail = |m: f64| -m / b - (1.0 + p).ln();
    let target = delta_per_group.ln();
    let mut m = (b * (-target - (1.0 + p).ln())).ceil().max(1.0);
    // Guard against float error: demand the bound with a 1e-9 margin in log space.
    let mut steps = 0u32;
    while ln_tail(m) > target - 1e-9 {
        m += 1.0;
        steps = steps.saturating_add(1);
        if steps > 1_000 {
            return Err("partition selection threshold did not converge".into());
        }
    }
    if !(1.0..9.0e15).contains(&m) {
        return Err("partition selection threshold out of range".into());
    }
    let threshold = (m as i64)
        .checked_add(1)
        .ok_or_else(|| "threshold overflow".to_string())?;
    Ok(PartitionSelection {
        epsilon_nano,
        delta_atto,
        scale,
        threshold,
    })
}

/// Why a contribution was not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejected {
    OutOfDomain,
    BadValue,
    OverGroupBound,
    OverContributionBound,
    OverMemoryCap,
}

/// One observed group of a partition-selection release.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ObservedGroup {
    pub key: Vec<Option<String>>,
    pub value: i128,
    pub units: u64,
}

/// The aggregates of one release in one window.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum ReleaseData {
    /// Declared domains: per-combination totals (row-major index).
    Declared { values: Vec<i128> },
    /// Partition selection: observed groups in first-seen order (output is
    /// sorted separately), and the events accepted (event-level cap).
    Observed {
        groups: Vec<ObservedGroup>,
        accepted: u64,
        index: BTreeMap<Vec<Option<String>>, u32>,
    },
}

/// Everything one open window holds.
/// No `Debug`: holds unit values and group keys taken from records.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct WindowData {
    /// User level: unit -> per release, the (group id, contributions) kept.
    pub units: BTreeMap<String, Vec<Vec<(u32, u32)>>>,
    pub releases: Vec<ReleaseData>,
}

impl WindowData {
    pub fn new(cfg: &AggregateConfig) -> Self {
        let releases = cfg
            .releases
            .iter()
            .map(|r| match r.partition_selection {
                None => ReleaseData::Declared {
                    values: vec![0; r.domain_size],
                },
                Some(_) => ReleaseData::Observed {
                    groups: Vec::new(),
                    accepted: 0,
                    index: BTreeMap::new(),
                },
            })
            .collect();
        WindowData {
            units: BTreeMap::new(),
            releases,
        }
    }

    /// Whether the unit could be admitted (always true at event level).
    pub fn admit_unit(&mut self, cfg: &AggregateConfig, unit: Option<&str>) -> bool {
        let Some(unit) = unit else { return true };
        if self.units.contains_key(unit) {
            return true;
        }
        if self.units.len() >= cfg.limits.max_units_per_window as usize {
            return false;
        }
        self.units
            .insert(unit.to_owned(), vec![Vec::new(); cfg.releases.len()]);
        true
    }

    /// Adds one event's contribution to release `ri`. `unit` is `None` at
    /// event level; at user level the unit must have been admitted.
    pub fn add(
        &mut self,
        cfg: &AggregateConfig,
        ri: usize,
        unit: Option<&str>,
        fields: &[Option<&str>],
    ) -> Result<(), Rejected> {
        let r = cfg.releases.get(ri).ok_or(Rejected::OverMemoryCap)?;
        let value = contribution(r, fields)?;
        let data = self.releases.get_mut(ri).ok_or(Rejected::OverMemoryCap)?;
        let bounds = cfg.bounds;
        match data {
            ReleaseData::Declared { values } => {
                let idx = declared_index(r, fields).ok_or(Rejected::OutOfDomain)?;
                let gid = u32::try_from(idx).map_err(|_| Rejected::OverMemoryCap)?;
                if let Some(u) = unit {
                    let kept = self
                        .units
                        .get_mut(u)
                        .and_then(|l| l.get_mut(ri))
                        .ok_or(Rejected::OverMemoryCap)?;
                    keep(
                        kept,
                        gid,
                        bounds.max_groups_per_unit,
                        bounds.max_contributions_per_group,
                    )?;
                }
                let slot = values.get_mut(idx).ok_or(Rejected::OutOfDomain)?;
                *slot = slot.saturating_add(value);
                Ok(())
            }
            ReleaseData::Observed {
                groups,
                accepted,
                index,
            } => {
                let key: Vec<Option<String>> = r
                    .group_by
                    .iter()
                    .map(|g| group_value(g.bucket, fields.get(g.field_index).copied().flatten()))
                    .collect();
                if !r.in_domains(&key) {
                    return Err(Rejected::OutOfDomain);
                }
                let existing = index.get(&key).copied();
                let new_unit_in_group = match unit {
                    None => {
                        if *accepted >= u64::from(cfg.limits.max_units_per_window) {
                            return Err(Rejected::OverMemoryCap);
                        }
                        true
                    }
                    Some(u) => {
                        let kept = self
                            .units
                            .get_mut(u)
                            .and_then(|l| l.get_mut(ri))
                            .ok_or(Rejected::OverMemoryCap)?;
                        // A group not seen yet gets the next id; it is only
                        // created below if the unit may take it.
                        let gid = match existing {
                            Some(g) => g,
                            None => {
                                u32::try_from(groups.len()).map_err(|_| Rejected::OverMemoryCap)?
                            }
                        };
                        keep(
                            kept,
                            gid,
                            bounds.max_groups_per_unit,
                            bounds.max_contributions_per_group,
                        )?
                    }
                };
                let gid = match existing {
                    Some(g) => g,
                    None => {
                        let g = u32::try_from(groups.len()).map_err(|_| Rejected::OverMemoryCap)?;
                        index.insert(key.clone(), g);
                        groups.push(ObservedGroup {
                            key,
                            value: 0,
                            units: 0,
                        });
                        g
                    }
                };
                let group = groups
                    .get_mut(gid as usize)
                    .ok_or(Rejected::OverMemoryCap)?;
                group.value = group.value.saturating_add(value);
                if new_unit_in_group {
                    group.units = group.units.saturating_add(1);
                }
                *accepted = accepted.saturating_add(1);
                Ok(())
            }
        }
    }

    /// Rebuilds derived indexes and checks the shape against `cfg` (after a
    /// snapshot restore).
    pub fn validate(&mut self, cfg: &AggregateConfig) -> Result<(), &'static str> {
        if self.releases.len() != cfg.releases.len() {
            return Err("window has a different number of releases");
        }
        if self.units.len() > cfg.limits.max_units_per_window as usize {
            return Err("window holds more units than the cap");
        }
        if matches!(cfg.privacy_unit, PrivacyUnit::Event) && !self.units.is_empty() {
            return Err("event-level window holds units");
        }
        for (r, data) in cfg.releases.iter().zip(self.releases.iter_mut()) {
            match (data, r.partition_selection.is_some()) {
                (ReleaseData::Declared { values }, false) => {
                    if values.len() != r.domain_size {
                        return Err("window domain size differs from the configuration");
                    }
                }
                (ReleaseData::Observed { groups, index, .. }, true) => {
                    index.clear();
                    for (i, g) in groups.iter().enumerate() {
                        let id = u32::try_from(i).map_err(|_| "too many groups")?;
                        if g.key.len() != r.group_by.len()
                            || index.insert(g.key.clone(), id).is_some()
                        {
                            return Err("window has a malformed group");
                        }
                    }
                }
                _ => return Err("window release kind differs from the configuration"),
            }
        }
        for lists in self.units.values() {
            if lists.len() != cfg.releases.len() {
                return Err("unit state has a different number of releases");
            }
            for (list, data) in lists.iter().zip(&self.releases) {
                let groups = match data {
                    ReleaseData::Declared { values } => values.len(),
                    ReleaseData::Observed { groups, .. } => groups.len(),
                };
                if list.len() > cfg.bounds.max_groups_per_unit as usize
                    || list.iter().any(|(g, c)| {
                        *g as usize >= groups || *c > cfg.bounds.max_contributions_per_group
                    })
                {
                    return Err("unit state exceeds the bounds");
                }
            }
        }
        Ok(())
    }
}

/// Applies the per-unit bounds to a contribution to group `gid`; returns
/// whether this is the unit's first contribution to that group.
fn keep(
    kept: &mut Vec<(u32, u32)>,
    gid: u32,
    max_groups: u32,
    max_per_group: u32,
) -> Result<bool, Rejected> {
    if let Some((_, n)) = kept.iter_mut().find(|(g, _)| *g == gid) {
        if *n >= max_per_group {
            return Err(Rejected::OverContributionBound);
        }
        *n = n.saturating_add(1);
        return Ok(false);
    }
    if kept.len() >= max_groups as usize {
        return Err(Rejected::OverGroupBound);
    }
    kept.push((gid, 1));
    Ok(true)
}

/// The value one event contributes to a release: 1 for counts; for sums the
/// field read as a JSON number, rounded half away from zero, clamped.
fn contribution(r: &ReleaseConfig, fields: &[Option<&str>]) -> Result<i128, Rejected> {
    match &r.kind {
        ReleaseKind::Count => Ok(1),
        ReleaseKind::Sum {
            field_index,
            lo,
            hi,
            ..
        } => {
            let text = fields
                .get(*field_index)
                .copied()
                .flatten()
                .ok_or(Rejected::BadValue)?;
            clamp_number(text, *lo, *hi)
                .map(i128::from)
                .ok_or(Rejected::BadValue)
        }
    }
}

/// Reads `text` as a JSON number and clamps it to `[lo, hi]` after rounding.
pub(crate) fn clamp_number(text: &str, lo: i64, hi: i64) -> Option<i64> {
    if !is_json_number(text) {
        return None;
    }
    let x: f64 = text.parse().ok()?;
    if x.is_nan() {
        return None;
    }
    // lo and hi are at most 2^40 in magnitude, so they are exact in f64.
    let clamped = x.round().clamp(lo as f64, hi as f64);
    Some(clamped as i64)
}

fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0usize;
    let at = |i: usize| b.get(i).copied();
    let digits = |mut i: usize| {
        let start = i;
        while at(i).is_some_and(|c| c.is_ascii_digit()) {
            i = i.saturating_add(1);
        }
        (i, i > start)
    };
    if at(i) == Some(b'-') {
        i = 1;
    }
    let (j, ok) = digits(i);
    if !ok {
        return false;
    }
    i = j;
    if at(i) == Some(b'.') {
        let (j, ok) = digits(i.saturating_add(1));
        if !ok {
            return false;
        }
        i = j;
    }
    if matches!(at(i), Some(b'e' | b'E')) {
        i = i.saturating_add(1);
        if matches!(at(i), Some(b'+' | b'-')) {
            i = i.saturating_add(1);
        }
        let (j, ok) = digits(i);
        if !ok {
            return false;
        }
        i = j;
    }
    i == b.len()
}

/// The group value of a field after its bucket transform.
pub(crate) fn group_value(bucket: Option<Bucket>, text: Option<&str>) -> Option<String> {
    let text = text?;
    Some(match bucket {
        None => text.to_owned(),
        Some(Bucket::Lowercase) => text.to_ascii_lowercase(),
        Some(Bucket::StatusClass) => status_class(text).to_owned(),
    })
}

fn status_class(text: &str) -> &'static str {
    match text.parse::<u16>() {
        Ok(100..=199) => "1xx",
        Ok(200..=299) => "2xx",
        Ok(300..=399) => "3xx",
        Ok(400..=499) => "4xx",
        Ok(500..=599) => "5xx",
        _ => "other",
    }
}

/// Whether a field's text, after its bucket, equals a domain value (the
/// per-record path for declared domains: no allocation).
fn bucket_matches(bucket: Option<Bucket>, text: Option<&str>, want: Option<&str>) -> bool {
    match (text, want) {
        (None, None) => true,
        (Some(t), Some(w)) => match bucket {
            None => t == w,
            Some(Bucket::Lowercase) => {
                t.len() == w.len()
                    && t.bytes()
                        .zip(w.bytes())
                        .all(|(a, b)| a.to_ascii_lowercase() == b)
            }
            Some(Bucket::StatusClass) => status_class(t) == w,
        },
        _ => false,
    }
}

/// The declared-domain combination index of an event (row-major in
/// declaration order), or `None` if a value is outside its domain.
fn declared_index(r: &ReleaseConfig, fields: &[Option<&str>]) -> Option<usize> {
    let mut index: usize = 0;
    for g in &r.group_by {
        let domain = g.domain.as_ref()?;
        let text = fields.get(g.field_index).copied().flatten();
        let pos = domain
            .iter()
            .position(|d| bucket_matches(g.bucket, text, d.as_deref()))?;
        index = index.checked_mul(domain.len())?.checked_add(pos)?;
    }
    Some(index)
}

#[cfg(test)]
#[allow(clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    #[test]
    fn allocation_free_matching_agrees_with_group_values() {
        for bucket in [None, Some(Bucket::Lowercase), Some(Bucket::StatusClass)] {
            for text in [
                None,
                Some("GET"),
                Some("get"),
                Some("404"),
                Some("4xx"),
                Some("other"),
                Some("GeT "),
                Some("Ä"),
            ] {
                for want in [
                    None,
                    Some("get"),
                    Some("GET"),
                    Some("4xx"),
                    Some("other"),
                    Some("404"),
                    Some("ä"),
                ] {
                    let expected = group_value(bucket, text).as_deref() == want;
                    assert_eq!(
                        bucket_matches(bucket, text, want),
                        expected,
                        "{bucket:?} {text:?} {want:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn buckets_and_numbers() {
        assert_eq!(
            group_value(Some(Bucket::StatusClass), Some("404")).as_deref(),
            Some("4xx")
        );
        assert_eq!(
            group_value(Some(Bucket::StatusClass), Some("100")).as_deref(),
            Some("1xx")
        );
        assert_eq!(
            group_value(Some(Bucket::StatusClass), Some("599")).as_deref(),
            Some("5xx")
        );
        for other in ["600", "99", "abc", "", "4044", "-404"] {
            assert_eq!(
                group_value(Some(Bucket::StatusClass), Some(other)).as_deref(),
                Some("other"),
                "{other}"
            );
        }
        assert_eq!(
            group_value(Some(Bucket::Lowercase), Some("GET")).as_deref(),
            Some("get")
        );
        assert_eq!(group_value(None, None), None);
        assert_eq!(clamp_number("12", 0, 10), Some(10));
        assert_eq!(clamp_number("-3.5", -10, 10), Some(-4));
        assert_eq!(clamp_number("2.5", 0, 10), Some(3));
        assert_eq!(clamp_number("1e3", 0, 65_536), Some(1_000));
        assert_eq!(clamp_number("1e999", 0, 7), Some(7));
        for bad in ["", "-", "1.", ".5", "inf", "NaN", "0x10", "1e", "+1", " 1"] {
            assert_eq!(clamp_number(bad, 0, 10), None, "{bad}");
        }
    }

    /// P(Z >= m) for discrete Laplace with scale b.
    fn tail(b: f64, m: i64) -> f64 {
        let p = (-1.0 / b).exp();
        p.powi(m as i32) / (1.0 + p)
    }

    #[test]
    fn partition_selection_threshold_is_the_smallest_safe_one() {
        for (eps_nano, delta_atto, k) in [
            (1_000_000_000u64, 1_000_000_000_000u64, 1u64),
            (50_000_000, 1_000_000_000, 8),
            (500_000_000, 100_000_000_000_000, 2),
            (10_000_000, 1_000, 2_000),
        ] {
            let ps = partition_selection(eps_nano, delta_atto, k).unwrap();
            let b = k as f64 / (eps_nano as f64 / 1e9);
            assert!((ps.scale.to_f64() - b).abs() < 1e-9 * b);
            let delta_per_group = delta_atto as f64 / 1e18 / k as f64;
            let m = ps.threshold - 1;
            assert!(m >= 1);
            assert!(tail(b, m) <= delta_per_group, "threshold too low");
            assert!(
                m == 1 || tail(b, m - 1) > delta_per_group * (1.0 - 1e-6),
                "threshold not minimal"
            );
        }
        // eps = 1, delta = 1e-6, K = 1: p = e^-1, m = ceil(ln(1e6 / (1 + e^-1))) = 14.
        assert_eq!(
            partition_selection(1_000_000_000, 1_000_000_000_000, 1)
                .unwrap()
                .threshold,
            15
        );
        assert!(partition_selection(1_000_000_000, 600_000_000_000_000_000, 1).is_err());
    }
}
