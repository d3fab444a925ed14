//! The policy parser and compiler never panic, whatever the text; every
//! error names a location and a reason.
#![no_main]
use dp_audit::keys::KeyRing;
use dp_audit::policy::Policy;
use dp_audit::scrubber::Scrubber;
use libfuzzer_sys::fuzz_target;

const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Policy::from_json(text) {
        Ok(policy) => {
            let ring = KeyRing::parse(KEY, "fuzz").expect("valid test key");
            if let Ok(mut s) = Scrubber::new(&policy, Some(&ring)) {
                let mut out = Vec::new();
                let rec = br#"{"user":{"username":"alice"},"a":[1,{"b":"c"}],"n":null}"#;
                if s.scrub(rec, &mut out).is_ok() {
                    serde_json::from_slice::<serde_json::Value>(&out).expect("scrubbed output is JSON");
                }
            }
        }
        Err(e) => assert!(!e.message.is_empty()),
    }
    // Key text never panics either, and errors never echo it.
    if let Err(e) = KeyRing::parse(text, "fuzz") {
        if text.len() >= 8 && !text.contains(char::is_whitespace) && !text.contains(';') {
            assert!(!e.to_string().contains(text), "key text echoed in an error");
        }
    }
});
