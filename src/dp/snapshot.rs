//! A flat, line-oriented text format for aggregator snapshots.
//!
//! Why not serde JSON of the state: the state nests about seven levels deep,
//! and a recursive parse that deep overflows the 8 KiB default wasm stack of
//! Fluent Bit (hosts.md: `serde_json` overflowed at depth 8). Here every line
//! is parsed on its own; the only JSON read is a single string or a flat
//! array of strings.
//!
//! ```text
//! dp-audit-aggregator-snapshot 1
//! fingerprint <hex>
//! next_window <i64>|none
//! watermark <i64>
//! counters <n> <n> ...                 (in the order of COUNTER_FIELDS)
//! window <k>                           (ascending)
//! release <ri> declared <v0> <v1> ...  (one line per release, in order)
//! release <ri> observed <accepted>
//! group <value> <units> <JSON array of keys>   (follows its observed release)
//! unit <JSON string> <kept for release 0> <kept for release 1> ...
//!                                      (kept: g/c,g/c or -)
//! end
//! ```
//! Decoding checks the structure here and the bounds in
//! [`WindowData::validate`]; anything unexpected is refused.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::aggregator::{AggState, Counters};
use super::window::{ObservedGroup, ReleaseData, WindowData};

const MAGIC: &str = "dp-audit-aggregator-snapshot 1";

/// Counter fields, in snapshot order.
fn counter_fields(c: &mut Counters) -> [&mut u64; 17] {
    [
        &mut c.events_ingested,
        &mut c.events_accepted,
        &mut c.events_late,
        &mut c.events_future,
        &mut c.events_bad_time,
        &mut c.events_no_unit,
        &mut c.events_over_unit_cap,
        &mut c.contributions_over_group_bound,
        &mut c.contributions_over_contribution_bound,
        &mut c.contributions_out_of_domain,
        &mut c.contributions_bad_value,
        &mut c.contributions_over_memory_cap,
        &mut c.windows_closed,
        &mut c.windows_skipped,
        &mut c.releases,
        &mut c.releases_suppressed_budget,
        &mut c.release_errors,
    ]
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

pub(crate) fn encode(st: &AggState) -> String {
    let mut out = String::new();
    let mut counters = st.counters.clone();
    let counters: Vec<String> = counter_fields(&mut counters)
        .iter()
        .map(|n| n.to_string())
        .collect();
    let next = st
        .next_window
        .map_or_else(|| "none".to_owned(), |n| n.to_string());
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{MAGIC}");
    let _ = writeln!(out, "fingerprint {}", st.fingerprint);
    let _ = writeln!(out, "next_window {next}");
    let _ = writeln!(out, "watermark {}", st.watermark);
    let _ = writeln!(out, "counters {}", counters.join(" "));
    for (k, w) in &st.windows {
        let _ = writeln!(out, "window {k}");
        for (ri, r) in w.releases.iter().enumerate() {
            match r {
                ReleaseData::Declared { values } => {
                    let _ = write!(out, "release {ri} declared");
                    for v in values {
                        let _ = write!(out, " {v}");
                    }
                    out.push('\n');
                }
                ReleaseData::Observed {
                    groups, accepted, ..
                } => {
                    let _ = writeln!(out, "release {ri} observed {accepted}");
                    for g in groups {
                        let key =
                            serde_json::to_string(&g.key).unwrap_or_else(|_| String::from("[]"));
                        let _ = writeln!(out, "group {} {} {key}", g.value, g.units);
                    }
                }
            }
        }
        for (unit, lists) in &w.units {
            let _ = write!(out, "unit {}", json_str(unit));
            for list in lists {
                if list.is_empty() {
                    out.push_str(" -");
                } else {
                    let parts: Vec<String> = list.iter().map(|(g, c)| format!("{g}/{c}")).collect();
                    let _ = write!(out, " {}", parts.join(","));
                }
            }
            out.push('\n');
        }
    }
    out.push_str("end\n");
    out
}

fn num<T: std::str::FromStr>(s: Option<&str>) -> Result<T, &'static str> {
    s.and_then(|s| s.parse().ok()).ok_or("malformed number")
}

/// Parses a snapshot; the caller checks the fingerprint and validates the
/// windows against the configuration.
pub(crate) fn decode(text: &str) -> Result<AggState, &'static str> {
    let mut lines = text.lines();
    if lines.next() != Some(MAGIC) {
        return Err("not an aggregator snapshot (or another version)");
    }
    let mut field = |name: &str| -> Result<String, &'static str> {
        let line = lines.next().ok_or("snapshot truncated")?;
        let rest = line
            .strip_prefix(name)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or("unexpected snapshot line")?;
        Ok(rest.to_owned())
    };
    let fingerprint = field("fingerprint")?;
    let next_window = match field("next_window")?.as_str() {
        "none" => None,
        n => Some(num(Some(n))?),
    };
    let watermark: i64 = num(Some(field("watermark")?.as_str()))?;
    let mut counters = Counters::default();
    {
        let text = field("counters")?;
        let mut parts = text.split(' ');
        for slot in counter_fields(&mut counters) {
            *slot = num(parts.next())?;
        }
        if parts.next().is_some() {
            return Err("too many counters");
        }
    }
    let mut windows: BTreeMap<i64, WindowData> = BTreeMap::new();
    let mut current: Option<(i64, WindowData)> = None;
    let mut ended = false;
    for line in lines {
        if ended {
            return Err("data after end of snapshot");
        }
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "end" => {
                ended = true;
            }
            "window" => {
                if let Some((k, w)) = current.take() {
                    windows.insert(k, w);
                }
                let k: i64 = num(Some(rest))?;
                if windows.last_key_value().is_some_and(|(last, _)| *last >= k) {
                    return Err("windows out of order");
                }
                current = Some((
                    k,
                    WindowData {
                        units: BTreeMap::new(),
                        releases: Vec::new(),
                    },
                ));
            }
            "release" => {
                let (_, w) = current.as_mut().ok_or("release outside a window")?;
                let mut parts = rest.split(' ');
                let ri: usize = num(parts.next())?;
                if ri != w.releases.len() || !w.units.is_empty() {
                    return Err("releases out of order");
                }
                match parts.next() {
                    Some("declared") => {
                        let values = parts
                            .map(|p| num::<i128>(Some(p)))
                            .collect::<Result<Vec<_>, _>>()?;
                        w.releases.push(ReleaseData::Declared { values });
                    }
                    Some("observed") => {
                        let accepted: u64 = num(parts.next())?;
                        if parts.next().is_some() {
                            return Err("malformed release line");
                        }
                        w.releases.push(ReleaseData::Observed {
                            groups: Vec::new(),
                            accepted,
                            index: BTreeMap::new(),
                        });
                    }
                    _ => return Err("unknown release kind"),
                }
            }
            "group" => {
                let (_, w) = current.as_mut().ok_or("group outside a window")?;
                let mut parts = rest.splitn(3, ' ');
                let value: i128 = num(parts.next())?;
                let units: u64 = num(parts.next())?;
                let key: Vec<Option<String>> =
                    serde_json::from_str(parts.next().ok_or("group without key")?)
                        .map_err(|_| "malformed group key")?;
                match (w.releases.last_mut(), w.units.is_empty()) {
                    (Some(ReleaseData::Observed { groups, .. }), true) => {
                        groups.push(ObservedGroup { key, value, units });
                    }
                    _ => return Err("group outside an observed release"),
                }
            }
            "unit" => {
                let (_, w) = current.as_mut().ok_or("unit outside a window")?;
                let mut stream = serde_json::Deserializer::from_str(rest).into_iter::<String>();
                let unit = stream
                    .next()
                    .ok_or("unit without name")?
                    .map_err(|_| "malformed unit name")?;
                let lists_text = rest
                    .get(stream.byte_offset()..)
                    .ok_or("malformed unit line")?;
                let mut lists = Vec::new();
                for part in lists_text.split(' ').skip(1) {
                    let mut list = Vec::new();
                    if part != "-" {
                        for pair in part.split(',') {
                            let (g, c) =
                                pair.split_once('/').ok_or("malformed unit contribution")?;
                            list.push((num::<u32>(Some(g))?, num::<u32>(Some(c))?));
                        }
                    }
                    lists.push(list);
                }
                if !lists_text.starts_with(' ') || w.units.insert(unit, lists).is_some() {
                    return Err("malformed or duplicate unit");
                }
            }
            _ => return Err("unexpected snapshot line"),
        }
    }
    if !ended {
        return Err("snapshot truncated");
    }
    if let Some((k, w)) = current.take() {
        windows.insert(k, w);
    }
    Ok(AggState {
        fingerprint,
        next_window,
        watermark,
        windows,
        counters,
    })
}
