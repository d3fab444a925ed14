//! The hostile records are what their names say. Grammar is checked with a
//! small non-recursive RFC 8259 validator (serde_json stops at depth 128 and
//! at numbers beyond f64, so it cannot judge the extreme-but-valid records).

use dp_audit_corpus::hostile::{
    hostile, DEEP_NESTING, HUGE_STRING, MANY_KEYS, ONE_MIB, WIDE_ARRAY,
};
use serde_json::Value;

fn ws(b: &[u8], i: &mut usize) {
    while matches!(b.get(*i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        *i += 1;
    }
}

fn string(b: &[u8], i: &mut usize) -> bool {
    if b.get(*i) != Some(&b'"') {
        return false;
    }
    *i += 1;
    loop {
        match b.get(*i) {
            Some(b'"') => {
                *i += 1;
                return true;
            }
            Some(b'\\') => match b.get(*i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => *i += 2,
                Some(b'u')
                    if b.get(*i + 2..*i + 6)
                        .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                {
                    *i += 6
                }
                _ => return false,
            },
            Some(&c) if c >= 0x20 => *i += 1,
            _ => return false,
        }
    }
}

fn number(b: &[u8], i: &mut usize) -> bool {
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > s
    };
    if b.get(*i) == Some(&b'-') {
        *i += 1;
    }
    match b.get(*i) {
        Some(b'0') => *i += 1,
        Some(b'1'..=b'9') => {
            digits(i);
        }
        _ => return false,
    }
    if b.get(*i) == Some(&b'.') {
        *i += 1;
        if !digits(i) {
            return false;
        }
    }
    if matches!(b.get(*i), Some(b'e' | b'E')) {
        *i += 1;
        if matches!(b.get(*i), Some(b'+' | b'-')) {
            *i += 1;
        }
        if !digits(i) {
            return false;
        }
    }
    true
}

/// RFC 8259 grammar over bytes (UTF-8 is checked separately). Returns the maximum depth.
fn grammar(b: &[u8]) -> Option<usize> {
    let mut stack: Vec<u8> = Vec::new(); // b'[' or b'{'
    let mut max_depth = 0;
    let mut i = 0;
    let key = |i: &mut usize| {
        ws(b, i);
        let ok = string(b, i);
        ws(b, i);
        let colon = b.get(*i) == Some(&b':');
        *i += 1;
        ok && colon
    };
    loop {
        ws(b, &mut i);
        match b.get(i)? {
            b'{' | b'[' => {
                let open = b[i];
                max_depth = max_depth.max(stack.len() + 1);
                i += 1;
                ws(b, &mut i);
                let close = if open == b'{' { b'}' } else { b']' };
                if b.get(i) == Some(&close) {
                    i += 1;
                } else {
                    stack.push(open);
                    if open == b'{' && !key(&mut i) {
                        return None;
                    }
                    continue;
                }
            }
            b'"' => {
                if !string(b, &mut i) {
                    return None;
                }
            }
            b't' | b'f' | b'n' => {
                let lit: &[u8] = match b[i] {
                    b't' => b"true",
                    b'f' => b"false",
                    _ => b"null",
                };
                if !b[i..].starts_with(lit) {
                    return None;
                }
                i += lit.len();
            }
            _ => {
                if !number(b, &mut i) {
                    return None;
                }
            }
        }
        // After a value: close finished containers, then expect the next member.
        loop {
            ws(b, &mut i);
            match (stack.last(), b.get(i)) {
                (None, None) => return Some(max_depth),
                (None, Some(_)) => return None,
                (Some(b'['), Some(b']')) | (Some(b'{'), Some(b'}')) => {
                    stack.pop();
                    i += 1;
                }
                (Some(b'['), Some(b',')) => {
                    i += 1;
                    break;
                }
                (Some(b'{'), Some(b',')) => {
                    i += 1;
                    if !key(&mut i) {
                        return None;
                    }
                    break;
                }
                _ => return None,
            }
        }
    }
}

#[test]
fn validator_sanity() {
    for ok in [&b"{}"[..], b" [1, -0.5e+3, \"a\\u00e9\", true, null, {\"k\": []}] ", b"\"s\"", b"0"]
    {
        assert!(grammar(ok).is_some(), "{}", String::from_utf8_lossy(ok));
    }
    for bad in [
        &b""[..],
        b"{",
        b"[1,]",
        b"{\"a\"}",
        b"01",
        b"1.",
        b"[1] 2",
        b"{\"a\":1,}",
        b"nul",
        b"\"\\x\"",
    ] {
        assert!(grammar(bad).is_none(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn names_are_unique_and_classified() {
    let records = hostile();
    let mut names: Vec<&str> = records.iter().map(|(n, _)| n.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), records.len());
    assert!(records.len() >= 40);
    for (name, _) in &records {
        let class = name.split('/').next().unwrap();
        assert!(["syntax", "utf8", "unicode", "shape"].contains(&class), "{name}");
    }
}

#[test]
fn each_class_is_what_it_claims() {
    for (name, bytes) in hostile() {
        let utf8 = std::str::from_utf8(&bytes).is_ok();
        let grammatical = grammar(&bytes).is_some();
        let serde_ok = serde_json::from_slice::<Value>(&bytes).is_ok();
        match name.split('/').next().unwrap() {
            "syntax" => assert!(!grammatical && !serde_ok, "{name} parses"),
            "utf8" => assert!(!utf8 && !serde_ok, "{name} is valid UTF-8 or parses"),
            "unicode" => assert!(
                utf8 && grammatical && !serde_ok,
                "{name}: utf8={utf8} grammar={grammatical} serde={serde_ok}"
            ),
            _ => assert!(utf8 && grammatical, "{name} is not valid JSON text"),
        }
    }
}

fn get(name: &str) -> Vec<u8> {
    hostile().into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("{name} missing")).1
}

#[test]
fn extreme_records_have_the_promised_sizes() {
    let mib = get("shape/one-mib-record");
    assert_eq!(mib.len(), ONE_MIB);
    let v: Value = serde_json::from_slice(&mib).unwrap();
    assert_eq!(v["kind"], "Event");

    assert_eq!(grammar(&get("shape/deep-arrays")), Some(DEEP_NESTING));
    assert_eq!(grammar(&get("shape/deep-objects")), Some(DEEP_NESTING));
    assert_eq!(grammar(&get("shape/deep-under-request-object")), Some(DEEP_NESTING + 1));

    let wide: Value = serde_json::from_slice(&get("shape/wide-array")).unwrap();
    assert_eq!(wide["sourceIPs"].as_array().unwrap().len(), WIDE_ARRAY);
    let many: Value = serde_json::from_slice(&get("shape/many-keys")).unwrap();
    assert_eq!(many.as_object().unwrap().len(), MANY_KEYS);
    let huge: Value = serde_json::from_slice(&get("shape/huge-string")).unwrap();
    assert!(huge["requestURI"].as_str().unwrap().len() > HUGE_STRING);

    let dup = String::from_utf8(get("shape/duplicate-keys")).unwrap();
    assert_eq!(dup.matches("\"user\":").count(), 2);
    let nul: Value = serde_json::from_slice(&get("shape/escaped-nul-in-string")).unwrap();
    assert!(nul["username"].as_str().unwrap().contains('\0'));
    assert!(get("syntax/raw-nul-in-string").contains(&0));
    let edges = String::from_utf8(get("shape/number-edges")).unwrap();
    for n in ["1e400", "-0,", "18446744073709551616", "-9223372036854775809"] {
        assert!(edges.contains(n), "{n}");
    }
    assert!(get("syntax/empty-line").is_empty());
}
