//! Builds the audit record of one request (JSON text, before scrubbing)
//! from the request headers and the properties the configuration lists.
//!
//! Field names are those of the `envoy-access` preset. Values are copied as
//! they are (invalid UTF-8 replaced by U+FFFD so the record is valid JSON):
//! the scrubber decides what leaves, this module never filters.

use super::map::{first, Pair};
use super::settings::{Prop, RecordConfig};
use crate::dp::timefmt::format_rfc3339;
use crate::json::text::write_string;
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

struct Obj<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl Obj<'_> {
    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_string(k, self.out);
        self.out.push(b':');
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        write_string(v, self.out);
    }
    fn bytes(&mut self, k: &str, v: &[u8]) {
        self.str(k, &String::from_utf8_lossy(v));
    }
    fn int(&mut self, k: &str, v: i64) {
        self.key(k);
        self.out.extend_from_slice(v.to_string().as_bytes());
    }
}

fn le_i64(v: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(v.try_into().ok()?))
}

/// RFC 3339 with milliseconds, UTC.
fn format_time_ms(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let ms = ns.rem_euclid(1_000_000_000) / 1_000_000;
    let s = format_rfc3339(secs);
    match s.strip_suffix('Z') {
        Some(base) => format!("{base}.{ms:03}Z"),
        None => s,
    }
}

fn prop<'a>(cfg: &RecordConfig, req: &'a Request<'_>, p: Prop) -> Option<&'a [u8]> {
    let i = cfg.properties.iter().position(|q| *q == p)?;
    req.props.get(i)?.as_deref()
}

fn int_prop(cfg: &RecordConfig, req: &Request<'_>, p: Prop) -> Option<i64> {
    prop(cfg, req, p).and_then(le_i64)
}

/// Writes the record into `out` (cleared first).
pub fn build(cfg: &RecordConfig, req: &Request<'_>, out: &mut Vec<u8>) {
    out.clear();
    out.push(b'{');
    let mut o = Obj { out, first: true };
    let h = |name: &str| first(req.headers, name);
    let duration_ns = int_prop(cfg, req, Prop::Duration);
    let start_ns = int_prop(cfg, req, Prop::StartTime)
        .unwrap_or_else(|| req.now_ns.saturating_sub(duration_ns.unwrap_or(0)));
    o.str("start_time", &format_time_ms(start_ns));
    for (field, header) in [("method", ":method"), ("path", ":path")] {
        if let Some(v) = h(header) {
            o.bytes(field, v);
        }
    }
    if let Some(v) = h(":authority").or_else(|| h("host")) {
        o.bytes("authority", v);
    }
    for p in &cfg.properties {
        match p {
            Prop::StartTime => {}
            Prop::Duration => {
                if let Some(ns) = duration_ns {
                    o.int("duration", ns / 1_000_000);
                }
            }
            p if p.is_integer() => {
                if let Some(v) = int_prop(cfg, req, *p) {
                    o.int(p.field(), v);
                }
            }
            p => {
                if let Some(v) = prop(cfg, req, *p) {
                    o.bytes(p.field(), v);
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
            o.bytes(field, v);
        }
    }
    let user = cfg
        .user_headers
        .iter()
        .find_map(|name| {
            h(name)
                .filter(|v| !v.is_empty())
                .map(String::from_utf8_lossy)
        })
        .or_else(|| {
            let claim = cfg.user_jwt_claim.as_deref()?;
            jwt_claim(h("authorization")?, claim).map(Cow::Owned)
        });
    if let Some(u) = user {
        o.str("user", &u);
    }
    let mut wrote_headers = false;
    for name in &cfg.request_headers {
        if let Some(v) = h(name) {
            if !wrote_headers {
                o.key("request_headers");
                o.out.push(b'{');
                o.first = true;
                wrote_headers = true;
            }
            o.bytes(name, v);
        }
    }
    if wrote_headers {
        o.out.push(b'}');
    }
    o.out.push(b'}');
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
        build(&cfg, &req, &mut out);
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
        build(&cfg, &req, &mut out);
        assert_eq!(out, b"{\"start_time\":\"1970-01-01T00:00:00.000Z\"}");
        // Fewer values than properties (a host error) is no panic either.
        let req = Request {
            headers: &[],
            props: &[],
            now_ns: 0,
        };
        build(&cfg, &req, &mut out);
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
        build(&cfg, &req, &mut out);
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
        build(&cfg, &req, &mut out);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("\"user\":\"bob@example.com\""));
    }

    #[test]
    fn base64url() {
        assert_eq!(base64url_decode(b"aGVsbG8").unwrap(), b"hello");
        assert_eq!(base64url_decode(b"aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64url_decode(b"-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(base64url_decode(b"a+b").is_none());
    }
}
