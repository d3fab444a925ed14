//! The example Fluent Bit configurations under `fluent-bit/`: every `wasm`
//! filter section carries only keys the real filter knows, with values the
//! emulation accepts, naming an export the artifact has; the example policy
//! loads, aggregation section included.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use dp_audit_harness::artifact::{fluent_bit_artifact, repo_root};
use dp_audit_harness::fluent_bit::{FluentBitConfig, FluentBitHost};

/// `[FILTER]` sections of a classic config whose `name` is `wasm`, as key/value lists.
fn classic_wasm_filters(text: &str) -> Vec<Vec<(String, String)>> {
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            sections.push((line.to_ascii_uppercase(), Vec::new()));
        } else if let Some((_, kv)) = sections.last_mut() {
            let (k, v) = line.split_once(char::is_whitespace).unwrap();
            kv.push((k.to_string(), v.trim().to_string()));
        }
    }
    sections
        .into_iter()
        .filter(|(h, kv)| h == "[FILTER]" && kv.iter().any(|(k, v)| k == "name" && v == "wasm"))
        .map(|(_, kv)| kv)
        .collect()
}

/// `- name: wasm` filter items of a YAML config (flat `key: value` lines).
fn yaml_wasm_filters(text: &str) -> Vec<Vec<(String, String)>> {
    let mut items: Vec<Vec<(String, String)>> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') || t.is_empty() {
            continue;
        }
        let (is_item, body) = match t.strip_prefix("- ") {
            Some(b) => (true, b),
            None => (false, t),
        };
        if is_item {
            items.push(Vec::new());
        }
        if let (Some((k, v)), Some(item)) = (body.split_once(": "), items.last_mut()) {
            item.push((k.to_string(), v.trim().to_string()));
        }
    }
    items
        .into_iter()
        .filter(|kv| kv.iter().any(|(k, v)| k == "name" && v == "wasm"))
        .collect()
}

const FILTER_KEYS: &[&str] = &[
    "name",
    "match",
    "wasm_path",
    "function_name",
    "accessible_paths",
    "event_format",
    "wasm_heap_size",
    "wasm_stack_size",
];

#[test]
fn example_configurations_use_only_real_filter_keys_and_known_exports() {
    let dir = repo_root().join("fluent-bit");
    let mut checked = 0;
    for (file, yaml) in [
        ("fluent-bit.conf", false),
        ("fluent-bit.yaml", true),
        ("dp-pipeline.conf", false),
        ("dp-pipeline.yaml", true),
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let filters = if yaml {
            yaml_wasm_filters(&text)
        } else {
            classic_wasm_filters(&text)
        };
        assert!(!filters.is_empty(), "{file}: no wasm filter");
        for kv in filters {
            for (k, _) in &kv {
                assert!(
                    FILTER_KEYS.contains(&k.as_str()),
                    "{file}: unknown wasm filter key {k}"
                );
            }
            let props = kv
                .iter()
                .filter(|(k, _)| k != "name" && k != "match")
                .map(|(k, v)| (k.as_str(), v.as_str()));
            let mut config =
                FluentBitConfig::from_properties(props).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(config.effective_stack_size() >= 256_000, "{file}: stack");
            // Load the real artifact with the configured function (paths point
            // to /etc/dp-audit, which this machine need not have).
            config.wasm_path = fluent_bit_artifact().unwrap();
            config.accessible_paths = vec![repo_root().join("fluent-bit").display().to_string()];
            let host = FluentBitHost::new(config).unwrap();
            assert!(host.has_function(), "{file}: export missing");
            checked += 1;
        }
    }
    assert_eq!(checked, 6);
}

#[test]
fn example_policy_loads_with_its_aggregation_section() {
    let text = std::fs::read_to_string(repo_root().join("fluent-bit/dp-audit.json")).unwrap();
    let policy = dp_audit::policy::Policy::from_json(&text).unwrap();
    let section = policy
        .aggregate
        .as_ref()
        .expect("the example policy aggregates");
    dp_audit::dp::AggregateConfig::from_json(section).unwrap();
}
