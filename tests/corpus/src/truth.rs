//! Ground truth of a generated corpus: every sensitive string planted (with the
//! field paths it was written to) and exact counts for DP accuracy tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::json::{quote, Style};
use crate::time::rfc3339_secs;

/// One sensitive string exactly as it appears in the output.
///
/// Values are JSON-safe printable ASCII without `"`, `\`, `<`, `>`, `&` (so
/// neither JSON nor Go's HTML escaping changes them) and carry enough random
/// or structured content that a raw substring search of a scrubbed output
/// finds them only if they survived; see the crate docs for the rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planted {
    pub value: String,
    pub kind: &'static str,
    /// Field selectors (`a.b[*]."dotted.key"`) of every place the value was written to,
    /// sorted; a value inside a larger string (free text, URL, JSON-in-a-string)
    /// names the field holding that string.
    pub paths: Vec<String>,
}

/// (operation, status class): operation is the K8s verb or HTTP method; the
/// class is `1xx`..`5xx`, `none` when the line has no status (RequestReceived).
pub type OpStatus = (String, String);

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowCounts {
    pub total: u64,
    pub by_op_status: BTreeMap<OpStatus, u64>,
    pub by_user: BTreeMap<String, u64>,
}

impl WindowCounts {
    fn add(&mut self, op: &str, class: &str, user: &str) {
        self.total += 1;
        *self.by_op_status.entry((op.to_string(), class.to_string())).or_default() += 1;
        *self.by_user.entry(user.to_string()).or_default() += 1;
    }
}

/// Exact counts over all lines, and per tumbling window `[start, start + window_secs)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    pub window_secs: i64,
    pub all: WindowCounts,
    /// Keyed by window start (unix seconds).
    pub windows: BTreeMap<i64, WindowCounts>,
}

pub fn status_class(code: Option<i64>) -> &'static str {
    match code {
        None => "none",
        Some(100..=199) => "1xx",
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) => "other",
    }
}

impl Counts {
    /// `window_secs` below 1 is treated as 1.
    pub fn new(window_secs: i64) -> Self {
        Counts {
            window_secs: window_secs.max(1),
            all: WindowCounts::default(),
            windows: BTreeMap::new(),
        }
    }

    /// Counts one line: its timestamp, operation, status code (None when the
    /// line has none) and user ("" when it has none).
    pub fn add(&mut self, unix_micros: i64, op: &str, code: Option<i64>, user: &str) {
        let class = status_class(code);
        let start =
            unix_micros.div_euclid(1_000_000).div_euclid(self.window_secs) * self.window_secs;
        self.all.add(op, class, user);
        self.windows.entry(start).or_default().add(op, class, user);
    }

    pub fn to_json(&self) -> String {
        let windows: Vec<String> = self
            .windows
            .iter()
            .map(|(start, w)| {
                let mut o = String::from("{\"start\":");
                o.push_str(&quote(&rfc3339_secs(start * 1_000_000), Style::Plain));
                o.push_str(&format!(",\"start_unix\":{start},"));
                o.push_str(&window_json(w));
                o.push('}');
                o
            })
            .collect();
        format!(
            "{{\"window_secs\":{},{},\"windows\":[{}]}}",
            self.window_secs,
            window_json(&self.all),
            windows.join(",")
        )
    }
}

fn map_json<K, F: Fn(&K) -> String>(m: &BTreeMap<K, u64>, key: F) -> String {
    let items: Vec<String> =
        m.iter().map(|(k, v)| format!("{}:{v}", quote(&key(k), Style::Plain))).collect();
    format!("{{{}}}", items.join(","))
}

fn window_json(w: &WindowCounts) -> String {
    format!(
        "\"total\":{},\"by_op_status\":{},\"by_user\":{}",
        w.total,
        map_json(&w.by_op_status, |(op, class)| format!("{op}|{class}")),
        map_json(&w.by_user, |u| u.clone())
    )
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Truth {
    pub planted: Vec<Planted>,
    pub counts: Counts,
}

impl Truth {
    /// `{"planted":[{"value","kind","paths"}...],"counts":{...}}` (one line).
    pub fn to_json(&self) -> String {
        let planted: Vec<String> = self
            .planted
            .iter()
            .map(|p| {
                crate::json::Obj::plain()
                    .str("value", &p.value)
                    .str("kind", p.kind)
                    .strs("paths", &p.paths)
                    .end()
            })
            .collect();
        format!("{{\"planted\":[{}],\"counts\":{}}}", planted.join(","), self.counts.to_json())
    }
}

/// Collects planted values in first-emission order while a corpus is built.
#[derive(Default)]
pub struct Planter {
    index: HashMap<String, usize>,
    items: Vec<(String, &'static str, BTreeSet<String>)>,
}

impl Planter {
    /// Records that `value` (of `kind`) was written at `path`; returns it for inline use.
    /// A value planted twice keeps its first kind and gains the new path.
    pub fn at(&mut self, value: &str, kind: &'static str, path: &str) -> String {
        let i = match self.index.get(value) {
            Some(&i) => i,
            None => {
                self.items.push((value.to_string(), kind, BTreeSet::new()));
                self.index.insert(value.to_string(), self.items.len() - 1);
                self.items.len() - 1
            }
        };
        self.items[i].2.insert(path.to_string());
        value.to_string()
    }

    pub fn finish(self) -> Vec<Planted> {
        self.items
            .into_iter()
            .map(|(value, kind, paths)| Planted { value, kind, paths: paths.into_iter().collect() })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_floor_and_classes() {
        let mut c = Counts::new(60);
        c.add(59_999_999, "get", Some(200), "a");
        c.add(60_000_000, "get", Some(404), "a");
        c.add(61_000_000, "list", None, "");
        c.add(-1, "get", Some(200), "b");
        assert_eq!(c.all.total, 4);
        assert_eq!(c.windows.keys().copied().collect::<Vec<_>>(), vec![-60, 0, 60]);
        assert_eq!(c.windows[&60].by_op_status[&("list".into(), "none".into())], 1);
        assert_eq!(c.all.by_op_status[&("get".into(), "2xx".into())], 2);
        assert_eq!(c.all.by_user[""], 1);
        assert!(c
            .to_json()
            .contains(r#""start":"1970-01-01T00:01:00Z","start_unix":60,"total":2"#));
    }

    #[test]
    fn planter_merges_paths_of_the_same_value() {
        let mut p = Planter::default();
        p.at("v1", "email", "b");
        p.at("v2", "jwt", "x");
        p.at("v1", "username", "a");
        let out = p.finish();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].kind, "email");
        assert_eq!(out[0].paths, vec!["a", "b"]);
    }
}
