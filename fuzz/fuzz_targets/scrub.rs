//! The scrubber never panics, always emits valid JSON, and never lets a
//! planted value through, whatever surrounds it.
#![no_main]
use dp_audit::keys::KeyRing;
use dp_audit::policy::Policy;
use dp_audit::scrubber::Scrubber;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// Values planted in fields the k8s-audit preset protects.
const PLANTED: [&str; 5] = [
    "zelda.fuzz@example.org",
    "AKIAFUZZFUZZFUZZ7777",
    "203.0.113.199",
    "planted-user-zq7",
    "hunter2-fuzz-secret",
];

thread_local! {
    static SCRUBBER: RefCell<Scrubber> = RefCell::new({
        let policy = Policy::from_json(r#"{"preset":"k8s-audit"}"#).expect("preset parses");
        let ring = KeyRing::parse(KEY, "fuzz").expect("valid key");
        Scrubber::new(&policy, Some(&ring)).expect("scrubber")
    });
}

/// Every string of `v` (keys included), as a reader of the JSON gets it.
/// Planted values are looked for there, not in the escaped text: the escape
/// of a control character next to digits (`\u0012` + `03.0.113.199`) can
/// spell a planted value that no reader ever sees.
fn strings(v: &serde_json::Value, acc: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => acc.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|i| strings(i, acc)),
        serde_json::Value::Object(m) => {
            for (k, i) in m {
                acc.push(k.clone());
                strings(i, acc);
            }
        }
        other => acc.push(other.to_string()),
    }
}

fn check(s: &mut Scrubber, record: &[u8], out: &mut Vec<u8>) {
    if s.scrub(record, out).is_ok() {
        let v: serde_json::Value =
            serde_json::from_slice(out).expect("scrubbed output is valid JSON");
        let mut texts = Vec::new();
        strings(&v, &mut texts);
        for p in PLANTED {
            assert!(!texts.iter().any(|t| t.contains(p)), "planted value {p} survived");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    SCRUBBER.with(|cell| {
        let mut s = cell.borrow_mut();
        let mut out = Vec::new();
        // 1. The raw bytes as a record (no planted values in play, but the
        //    output must be valid JSON and nothing may panic).
        if s.scrub(data, &mut out).is_ok() {
            serde_json::from_slice::<serde_json::Value>(&out).expect("valid JSON out");
        }
        // 2. The bytes as free text and as an arbitrary body around planted values.
        let text = String::from_utf8_lossy(data);
        if PLANTED.iter().any(|p| text.contains(p)) {
            // The input itself carries a planted value in some kept place.
            return;
        }
        let quoted = serde_json::to_string(&format!("{text} {} {text} {}", PLANTED[0], PLANTED[1])).expect("string");
        let record = format!(
            r#"{{"kind":"Event","user":{{"username":"{u}","extra":{{"x":["{pw}"]}}}},"sourceIPs":["{ip}"],"responseStatus":{{"message":{quoted}}},"requestObject":{body},"annotations":{{"a":{quoted}}}}}"#,
            u = PLANTED[3],
            pw = PLANTED[4],
            ip = PLANTED[2],
            body = if text.trim_start().starts_with('{') { text.as_ref() } else { "{}" },
        );
        check(&mut s, record.as_bytes(), &mut out);
    });
});
