//! Builds the audit record of one request (JSON text, before scrubbing)
//! from the request headers and the properties the configuration lists.
//!
//! Field names are those of the `envoy-access` preset. Values are copied as
//! they are (invalid UTF-8 replaced by U+FFFD so the record is valid JSON):
//! the scrubber decides what leaves, this module never filters.

use super::map::{first, Pair};
use super::settings::{Prop, RecordConfig};
use crate::json::text::write_string;
use crate::time::format_rfc3339_utc;
use serde_json::Value;
use std::borrow::Cow;

/// What Envoy gave us for one request.
pub struct Request<'a> {
    pub headers: &'a [Pair<'a>],
    /// Raw property values, one per `RecordConfig::properties` entry, in order.
    pub props: &'a [Option<Vec<u8>>],
    /// Host clock, nanoseconds since the epoch (start time fallback).
    pub now_ns: i64,
}

/// Largest JWT read for a user claim; larger tokens yield no user.
const MAX_JWT_BYTES: usize = 16 * 1024;

/// Where the record's top-level members go: JSON text that is scrubbed
/// afterwards ([`build`]), or each value straight through the scrubber
/// (the logger's direct path, which skips writing and scanning the JSON).
pub trait Members {
    /// One member: `literal` writes the value's JSON text (a string with
    /// its quotes, or a number). `key` needs no escaping: it is one of this
    /// module's field names.
    fn member(&mut self, key: &'static str, literal: impl FnOnce(&mut Vec<u8>));
}

/// The record as JSON text.
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl Obj<'_> {
    /// Keys are this module's field names or header names, which the
    /// settings restrict to HTTP token characters: nothing in them needs
    /// escaping (and the scrubber's scanner would reject the record if it
    /// did).
    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }
}

impl Members for Obj<'_> {
    fn member(&mut self, key: &'static str, literal: impl FnOnce(&mut Vec<u8>)) {
        self.key(key);
        literal(self.out);
    }
}

/// A header or property value as a JSON string (invalid UTF-8 replaced by
/// U+FFFD).
fn bytes_literal(v: &[u8], out: &mut Vec<u8>) {
    // `from_utf8` first: its ASCII fast path is several times cheaper in
    // wasm than the lossy decoder's chunk iterator, and header values
    // are nearly always valid.
    match std::str::from_utf8(v) {
        Ok(text) => write_string(text, out),
        Err(_) => write_string(&String::from_utf8_lossy(v), out),
    }
}

/// Decimal digits without `core::fmt` (which costs thousands of wasm
/// instructions per call).
fn push_int(v: i64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut len = 0usize;
    for d in digits.iter_mut() {
        // n % 10 < 10: the cast and the addition cannot overflow.
        *d = b'0'.saturating_add(u8::try_from(n % 10).unwrap_or(0));
        n /= 10;
        len = len.saturating_add(1);
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend(digits.iter().take(len).rev());
}

/// The formatted second of the last record: records of one second share it,
/// so only the milliseconds are written per record.
#[derive(Default)]
pub struct TimeCache {
    secs: Option<i64>,
    /// `YYYY-MM-DDTHH:MM:SS` (no zone).
    text: String,
}

impl TimeCache {
    /// RFC 3339 with milliseconds, UTC, as a JSON string.
    fn write(&mut self, ns: i64, out: &mut Vec<u8>) {
        let secs = ns.div_euclid(1_000_000_000);
        if self.secs != Some(secs) {
            self.text.clear();
            format_rfc3339_utc(secs, &mut self.text);
            // The zone letter goes after the milliseconds.
            self.text.pop();
            self.secs = Some(secs);
        }
        let ms = ns.rem_euclid(1_000_000_000) / 1_000_000;
        out.push(b'"');
        out.extend_from_slice(self.text.as_bytes());
        out.push(b'.');
        let mut digits = Vec::with_capacity(3);
        push_int(ms, &mut digits);
        for _ in digits.len()..3 {
            out.push(b'0');
        }
        out.extend_from_slice(&digits);
        out.extend_from_slice(b"Z\"");
    }
}

fn le_i64(v: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(v.try_into().ok()?))
}

fn prop<'a>(cfg: &RecordConfig, req: &'a Request<'_>, p: Prop) -> Option<&'a [u8]> {
    let i = cfg.properties.iter().position(|q| *q == p)?;
    req.props.get(i)?.as_deref()
}

fn int_prop(cfg: &RecordConfig, req: &Request<'_>, p: Prop) -> Option<i64> {
    prop(cfg, req, p).and_then(le_i64)
}

/// Writes the record into `out` (cleared first).
pub fn build(cfg: &RecordConfig, req: &Request<'_>, time: &mut TimeCache, out: &mut Vec<u8>) {
    out.clear();
    out.push(b'{');
    let mut o = Obj { out, first: true };
    members(cfg, req, time, &mut o);
    let h = |name: &str| first(req.headers, name);
    let mut wrote_headers = false;
    for name in &cfg.request_headers {
        if let Some(v) = h(name) {
            if !wrote_headers {
                o.key("request_headers");
                o.out.push(b'{');
                o.first = true;
                wrote_headers = true;
            }
            o.key(name);
            bytes_literal(v, o.out);
        }
    }
    if wrote_headers {
        o.out.push(b'}');
    }
    o.out.push(b'}');
}

/// Every field name [`members`] can write under `cfg`, in the order it
/// writes them (optional ones may be missing from a record).
pub fn field_order(cfg: &RecordConfig) -> Vec<&'static str> {
    let props = cfg
        .properties
        .iter()
        .filter(|p| **p != Prop::StartTime)
        .map(|p| p.field());
    ["start_time", "method", "path", "authority"]
        .into_iter()
        .chain(props)
        .chain(["x_forwarded_for", "user_agent", "request_id", "user"])
        .collect()
}

/// The record's top-level scalar members, in record order (all but
/// `request_headers`, which [`build`] adds as an object).
pub fn members(cfg: &RecordConfig, req: &Request<'_>, time: &mut TimeCache, m: &mut impl Members) {
    let h = |name: &str| first(req.headers, name);
    let duration_ns = int_prop(cfg, req, Prop::Duration);
    let start_ns = int_prop(cfg, req, Prop::StartTime)
        .unwrap_or_else(|| req.now_ns.saturating_sub(duration_ns.unwrap_or(0)));
    m.member("start_time", |out| time.write(start_ns, out));
    for (field, header) in [("method", ":method"), ("path", ":path")] {
        if let Some(v) = h(header) {
            m.member(field, |out| bytes_literal(v, out));
        }
    }
    if let Some(v) = h(":authority").or_else(|| h("host")) {
        m.member("authority", |out| bytes_literal(v, out));
    }
    for p in &cfg.properties {
        match p {
            Prop::StartTime => {}
            Prop::Duration => {
                if let Some(ns) = duration_ns {
                    m.member("duration", |out| push_int(ns / 1_000_000, out));
                }
            }
            p if p.is_integer() => {
                if let Some(v) = int_prop(cfg, req, *p) {
                    m.member(p.field(), |out| push_int(v, out));
                }
            }
            p => {
                if let Some(v) = prop(cfg, req, *p) {
                    m.member(p.field(), |out| bytes_literal(v, out));
                }
            }
        }
    }
    for (field, header) in [
        ("x_forwarded_for", "x-forwarded-for"),
        ("user_agent", "user-agent"),
        ("request_id", "x-request-id"),
    ] {
        if let Some(v) = h(header) {
            m.member(field, |out| bytes_literal(v, out));
        }
    }
    let user = cfg
        .user_headers
        .iter()
        .find_map(|name| h(name).filter(|v| !v.is_empty()))
        .map(Cow::Borrowed)
        .or_else(|| {
            let claim = cfg.user_jwt_claim.as_deref()?;
            jwt_claim(h("authorization")?, claim).map(|c| Cow::Owned(c.into_bytes()))
        });
    if let Some(u) = user {
        m.member("user", |out| bytes_literal(&u, out));
    }
}

/// A claim of the JWT in an `Authorization: Bearer` value. The signature is
/// not verified (put Envoy's `jwt_authn` filter in front for that): the claim
/// only names who the request claims to be, and is pseudonymized anyway.
pub fn jwt_claim(authorization: &[u8], claim: &str) -> Option<String> {
    let token = authorization
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case(b"bearer "))
        .and_then(|_| authorization.get(7..))?;
    if token.len() > MAX_JWT_BYTES {
        return None;
    }
    let mut parts = token.split(|&b| b == b'.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let json = base64url_decode(payload)?;
    let doc: Value = serde_json::from_slice(&json).ok()?;
    match doc.get(claim)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Unpadded (or padded) base64url.
fn base64url_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut acc: u32 = 0;
    let mut bits: u32 = 0;
    for &c in s.iter().take_while(|&&c| c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c.wrapping_sub(b'A'),
            b'a'..=b'z' => c.wrapping_sub(b'a').wrapping_add(26),
            b'0'..=b'9' => c.wrapping_sub(b'0').wrapping_add(52),
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits = bits.saturating_add(6);
        if bits >= 8 {
            bits = bits.saturating_sub(8);
            out.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::proxy_wasm::settings::DEFAULT_PROPS;

    fn headers() -> Vec<(&'static [u8], &'static [u8])> {
        vec![
            (b":method", b"GET"),
            (b":path", b"/a?email=x@example.com"),
            (b":authority", b"svc"),
            (b"user-agent", b"curl/8"),
            (b"x-forwarded-for", b"203.0.113.9"),
            (b"x-request-id", b"r-1"),
            (b"x-user-id", b"alice"),
            (b"referer", b"\xffbad"),
        ]
    }

    #[test]
    fn builds_the_preset_fields_in_order() {
        let cfg = RecordConfig {
            request_headers: vec!["referer".into(), "absent".into()],
            ..RecordConfig::default()
        };
        assert_eq!(cfg.properties, DEFAULT_PROPS.to_vec());
        let props = vec![
            Some(200i64.to_le_bytes().to_vec()),
            Some(1_500_000i64.to_le_bytes().to_vec()),
            Some(b"198.51.100.7:5555".to_vec()),
        ];
        let h = headers();
        let req = Request {
            headers: &h,
            props: &props,
            now_ns: 1_700_000_000_123_000_000,
        };
        let mut out = Vec::new();
        build(&cfg, &req, &mut TimeCache::default(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"start_time\":\"2023-11-14T22:13:20.121Z\",\"method\":\"GET\",\"path\":\"/a?email=x@example.com\",\
             \"authority\":\"svc\",\"response_code\":200,\"duration\":1,\"downstream_remote_address\":\"198.51.100.7:5555\",\
             \"x_forwarded_for\":\"203.0.113.9\",\"user_agent\":\"curl/8\",\"request_id\":\"r-1\",\"user\":\"alice\",\
             \"request_headers\":{\"referer\":\"\u{fffd}bad\"}}"
        );
        serde_json::from_str::<Value>(&text).unwrap();
    }

    #[test]
    fn missing_and_malformed_properties_are_left_out() {
        let cfg = RecordConfig {
            properties: vec![Prop::StartTime, Prop::ResponseCode, Prop::UpstreamHost],
            ..RecordConfig::default()
        };
        let props = vec![Some(vec![1, 2, 3]), None, None];
        let req = Request {
            headers: &[],
            props: &props,
            now_ns: 0,
        };
        let mut out = Vec::new();
        build(&cfg, &req, &mut TimeCache::default(), &mut out);
        assert_eq!(out, b"{\"start_time\":\"1970-01-01T00:00:00.000Z\"}");
        // Fewer values than properties (a host error) is no panic either.
        let req = Request {
            headers: &[],
            props: &[],
            now_ns: 0,
        };
        build(&cfg, &req, &mut TimeCache::default(), &mut out);
        assert_eq!(out, b"{\"start_time\":\"1970-01-01T00:00:00.000Z\"}");
    }

    #[test]
    fn start_time_property_wins() {
        let cfg = RecordConfig {
            properties: vec![Prop::StartTime],
            ..RecordConfig::default()
        };
        let props = vec![Some(86_400_000_000_000i64.to_le_bytes().to_vec())];
        let req = Request {
            headers: &[],
            props: &props,
            now_ns: 0,
        };
        let mut out = Vec::new();
        build(&cfg, &req, &mut TimeCache::default(), &mut out);
        assert_eq!(out, b"{\"start_time\":\"1970-01-02T00:00:00.000Z\"}");
    }

    #[test]
    fn user_from_jwt_claim() {
        // {"alg":"none"} . {"sub":"bob@example.com","n":1} . sig
        let jwt = b"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2JAZXhhbXBsZS5jb20iLCJuIjoxfQ.c2ln";
        assert_eq!(jwt_claim(jwt, "sub").as_deref(), Some("bob@example.com"));
        assert_eq!(jwt_claim(jwt, "n").as_deref(), Some("1"));
        assert_eq!(jwt_claim(jwt, "missing"), None);
        assert_eq!(jwt_claim(b"Basic eyJ.eyJ.x", "sub"), None);
        assert_eq!(jwt_claim(b"Bearer a.b", "sub"), None);
        assert_eq!(jwt_claim(b"Bearer a.!!.c", "sub"), None);
        assert_eq!(jwt_claim(b"Bearer ", "sub"), None);
        let cfg = RecordConfig {
            properties: vec![],
            user_headers: vec!["x-user".into()],
            user_jwt_claim: Some("sub".into()),
            request_headers: vec![],
        };
        let h: Vec<(&[u8], &[u8])> = vec![(b"authorization", jwt), (b"x-user", b"")];
        let req = Request {
            headers: &h,
            props: &[],
            now_ns: 0,
        };
        let mut out = Vec::new();
        build(&cfg, &req, &mut TimeCache::default(), &mut out);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("\"user\":\"bob@example.com\""));
    }

    #[test]
    fn integers_and_times() {
        for v in [0i64, 7, -7, 10, 1234567890, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_int(v, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
        let mut cache = TimeCache::default();
        let mut out = Vec::new();
        for (ns, want) in [
            (1_700_000_000_005_000_000i64, "\"2023-11-14T22:13:20.005Z\""),
            (1_700_000_000_999_000_000, "\"2023-11-14T22:13:20.999Z\""),
            (1_700_000_001_050_000_000, "\"2023-11-14T22:13:21.050Z\""),
            (-1, "\"1969-12-31T23:59:59.999Z\""),
        ] {
            out.clear();
            cache.write(ns, &mut out);
            assert_eq!(String::from_utf8(out.clone()).unwrap(), want);
        }
    }

    #[test]
    fn base64url() {
        assert_eq!(base64url_decode(b"aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64url_decode(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64url_decode(b"-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(base64url_decode(b"a+b").is_none());
    }
}
