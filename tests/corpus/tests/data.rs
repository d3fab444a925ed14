//! The bundled real samples: present, as documented, and `k8s/sample.jsonl`
//! is exactly the normalisation of its sources.

use std::path::{Path, PathBuf};

use dp_audit_corpus::jsonl::compact_objects;
use serde_json::Value;

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data")
}

fn sorted_files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(data().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

fn sample_sources() -> Vec<PathBuf> {
    let mut v = sorted_files("falco_k8s_audit", "json");
    v.extend(sorted_files("crowdsec_hub/k8s_audit", "log"));
    v
}

#[test]
fn sample_jsonl_is_the_normalised_falco_and_crowdsec_events() {
    let mut expected = Vec::new();
    let mut source_values = Vec::new();
    for f in sample_sources() {
        let bytes = std::fs::read(&f).unwrap();
        for obj in compact_objects(&bytes).unwrap() {
            expected.extend_from_slice(&obj);
            expected.push(b'\n');
        }
        // Values, independently of the splitter: the sources hold one event per non-blank line.
        for line in String::from_utf8(bytes).unwrap().lines().filter(|l| !l.trim().is_empty()) {
            source_values.push(serde_json::from_str::<Value>(line).unwrap());
        }
    }
    let sample = std::fs::read(data().join("k8s/sample.jsonl")).unwrap();
    assert_eq!(sample, expected);
    let lines: Vec<Value> = String::from_utf8(sample)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 53, "SOURCES.md documents 51 falco + 2 crowdsec events");
    assert_eq!(lines, source_values);
    assert!(lines.iter().all(|v| v["kind"] == "Event"));
}

#[test]
fn documented_record_counts_hold() {
    let count_lines = |p: &str| {
        std::fs::read_to_string(data().join(p))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
    };
    assert_eq!(sorted_files("falco_k8s_audit", "json").len(), 46);
    assert_eq!(count_lines("audit2rbac_k8s_audit/demo.log"), 37);
    assert_eq!(count_lines("audit2rbac_k8s_audit/demo-2017-v1beta1.log"), 757);
    let envoy: usize =
        ["envoy.log", "envoy-http-crawl-non_statics.log", "envoy-http-bad-user-agent.log"]
            .iter()
            .map(|f| count_lines(&format!("crowdsec_hub/envoy/{f}")))
            .sum();
    assert_eq!(envoy, 53);
    let cloudtrail: usize = sorted_files("stratus_red_team_cloudtrail", "json")
        .iter()
        .map(|f| {
            serde_json::from_slice::<Value>(&std::fs::read(f).unwrap())
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(cloudtrail, 28);
    for f in [
        "SOURCES.md",
        "NOTICE",
        "LICENSES/falcosecurity-falco.COPYING",
        "LICENSES/crowdsecurity-hub.LICENSE",
        "LICENSES/liggitt-audit2rbac.LICENSE",
        "LICENSES/DataDog-stratus-red-team.LICENSE",
        "LICENSES/DataDog-stratus-red-team.NOTICE",
    ] {
        assert!(data().join(f).is_file(), "{f} missing");
    }
}
