//! Presets shipped in the crate: ordinary policies, compiled in.

const PRESETS: &[(&str, &str)] = &[
    ("k8s-audit", include_str!("presets/k8s-audit.json")),
    ("envoy-access", include_str!("presets/envoy-access.json")),
];

/// The policy text of a preset.
pub fn preset_text(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}

pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}
