//! Hostile records for robustness tests: a scrubber must reject or pass each of
//! these without panicking, hanging, blowing the stack or leaking values.
//!
//! Names are `<class>/<what>`:
//! - `syntax/…`: not JSON text (RFC 8259) at all;
//! - `utf8/…`: JSON-shaped bytes that are not valid UTF-8;
//! - `unicode/…`: grammatical JSON whose `\u` escapes decode to no valid
//!   Unicode scalar (lone surrogates); strict parsers reject these;
//! - `shape/…`: grammatical, valid UTF-8 JSON that is extreme in size, depth,
//!   width, numbers or key handling, or is not an object.

/// Size of `shape/one-mib-record`, exactly.
pub const ONE_MIB: usize = 1 << 20;
pub const DEEP_NESTING: usize = 10_000;
pub const WIDE_ARRAY: usize = 100_000;
pub const MANY_KEYS: usize = 100_000;
pub const HUGE_STRING: usize = 8 << 20;

const EVENT_HEAD: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"6f0c1a2e-8d8b-4c59-9a4e-2f7d3b1c0e55","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{"username":"alice.kim07@acme.example","groups":["system:authenticated"]},"sourceIPs":["203.0.113.150"]"#;

pub fn hostile() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>| out.push((name.to_string(), bytes));
    let text = |s: &str| s.as_bytes().to_vec();

    add("syntax/empty-line", Vec::new());
    add("syntax/whitespace-only", text(" \t\r\n"));
    add("syntax/truncated", text(&EVENT_HEAD[..EVENT_HEAD.len() - 20]));
    add("syntax/unclosed-string", text(r#"{"user":{"username":"alice.kim07@acme.example"#));
    add("syntax/trailing-comma", text(r#"{"verb":"get","code":200,}"#));
    add("syntax/single-quotes", text("{'verb':'get'}"));
    add("syntax/bare-word", text("{verb:get}"));
    add("syntax/two-objects-one-line", text(r#"{"verb":"get"}{"verb":"list"}"#));
    add("syntax/trailing-garbage", text(r#"{"verb":"get"} x"#));
    add("syntax/raw-nul-in-string", b"{\"username\":\"al\x00ice\"}".to_vec());
    add("syntax/raw-control-in-string", b"{\"username\":\"al\x01ice\nbob\"}".to_vec());
    add("syntax/bad-escape", text(r#"{"username":"\x41"}"#));
    add("syntax/short-unicode-escape", text(r#"{"username":"\u12"}"#));
    add("syntax/nan", text(r#"{"code":NaN}"#));
    add("syntax/leading-zero", text(r#"{"code":0200}"#));
    add("syntax/cri-prefixed", text(r#"2024-06-03T08:00:00.000000001Z stdout F {"verb":"get"}"#));
    // RFC 8259 forbids a byte order mark in JSON text; many readers skip it.
    add("syntax/bom-prefixed", b"\xef\xbb\xbf{\"verb\":\"get\"}".to_vec());
    add("syntax/unclosed-deep", "[".repeat(DEEP_NESTING).into_bytes());

    add("utf8/invalid-byte", b"{\"user\":{\"username\":\"al\xffice\"}}".to_vec());
    add("utf8/truncated-sequence", b"{\"username\":\"caf\xc3\"}".to_vec());
    add("utf8/overlong-slash", b"{\"path\":\"/a\xc0\xafb\"}".to_vec());
    add("utf8/encoded-surrogate", b"{\"username\":\"\xed\xa0\x80\"}".to_vec());
    add("utf8/in-key", b"{\"us\xfeer\":\"bob\"}".to_vec());

    add("unicode/lone-high-surrogate", text(r#"{"username":"\ud800"}"#));
    add("unicode/lone-low-surrogate", text(r#"{"username":"\udc00x"}"#));
    add("unicode/reversed-pair", text(r#"{"username":"\udc00\ud800"}"#));
    add("unicode/high-then-text", text(r#"{"username":"\ud83dabc"}"#));

    add("shape/empty-object", text("{}"));
    add("shape/not-an-object-array", text("[1,2,3]"));
    add("shape/not-an-object-string", text(r#""alice.kim07@acme.example""#));
    add("shape/not-an-object-number", text("42"));
    add("shape/not-an-object-null", text("null"));
    add(
        "shape/escaped-nul-in-string",
        text(r#"{"username":"al\u0000ice","sourceIPs":["203.0.113.1\u0000"]}"#),
    );
    add("shape/escaped-nul-in-key", text(r#"{"user\u0000name":"alice"}"#));
    add(
        "shape/duplicate-keys",
        text(
            r#"{"user":{"username":"system:anonymous"},"user":{"username":"alice.kim07@acme.example"},"verb":"get","verb":"delete"}"#,
        ),
    );
    add(
        "shape/number-edges",
        text(
            r#"{"big":1e400,"negbig":-1e400,"tiny":1e-400,"subnormal":5e-324,"negzero":-0,"negzerof":-0.0,"u64max":18446744073709551615,"u64over":18446744073709551616,"i64under":-9223372036854775809,"hugeint":123456789012345678901234567890123456789012345678901234567890,"exp":1E+2,"frac":0.1000000000000000055511151231257827}"#,
        ),
    );
    add(
        "shape/escaped-everything",
        text(
            r#"{"\u0075\u0073\u0065\u0072":"\u0061\u006c\u0069\u0063\u0065\u0040\u0061\u0063\u006d\u0065\u002e\u0065\u0078\u0061\u006d\u0070\u006c\u0065","s":"\ud83d\ude00 \/ \b\f\n\r\t"}"#,
        ),
    );
    add(
        "shape/deep-arrays",
        format!("{}{}", "[".repeat(DEEP_NESTING), "]".repeat(DEEP_NESTING)).into_bytes(),
    );
    add("shape/deep-objects", {
        let mut s = String::with_capacity(DEEP_NESTING * 7);
        for _ in 0..DEEP_NESTING {
            s.push_str("{\"a\":");
        }
        s.push_str("\"alice.kim07@acme.example\"");
        s.push_str(&"}".repeat(DEEP_NESTING));
        s.into_bytes()
    });
    add("shape/deep-under-request-object", {
        let mut s = String::from(EVENT_HEAD);
        s.push_str(",\"requestObject\":");
        s.push_str(&"[".repeat(DEEP_NESTING));
        s.push_str(&"]".repeat(DEEP_NESTING));
        s.push('}');
        s.into_bytes()
    });
    add("shape/wide-array", {
        let items: Vec<String> =
            (0..WIDE_ARRAY).map(|i| format!("\"198.51.100.{}\"", i % 256)).collect();
        format!("{{\"sourceIPs\":[{}]}}", items.join(",")).into_bytes()
    });
    add("shape/many-keys", {
        let items: Vec<String> = (0..MANY_KEYS).map(|i| format!("\"k{i}\":{i}")).collect();
        format!("{{{}}}", items.join(",")).into_bytes()
    });
    add("shape/huge-string", {
        let mut s = String::from("{\"requestURI\":\"/api/v1/pods?q=");
        s.push_str(&"A".repeat(HUGE_STRING));
        s.push_str("\"}");
        s.into_bytes()
    });
    add("shape/huge-key", format!("{{\"{}\":1}}", "k".repeat(1 << 20)).into_bytes());
    add("shape/one-mib-record", {
        // A plausible event padded with a large ConfigMap value to exactly 1 MiB.
        let head = format!(
            "{EVENT_HEAD},\"requestObject\":{{\"kind\":\"ConfigMap\",\"data\":{{\"blob\":\""
        );
        let tail = "\"}}}";
        let pad = ONE_MIB - head.len() - tail.len();
        let mut s = head;
        s.push_str(&"x".repeat(pad));
        s.push_str(tail);
        s.into_bytes()
    });
    out
}
