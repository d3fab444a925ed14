//! The access logger's work for one request, independent of the host ABI:
//! build the record, scrub it, and extract the aggregation fields from the
//! scrubbed text. The wasm glue (`vm.rs`) only fetches inputs and ships
//! outputs.

use super::record::{self, Request};
use super::settings::Settings;
use crate::dp::AggregateConfig;
use crate::error::ConfigError;
use crate::json::lookup::lookup;
use crate::keys::KeyRing;
use crate::path::Path;
use crate::policy::Policy;
use crate::scrubber::{Effect, MemberPlan, ScrubError, Scrubber};
use std::borrow::Cow;

/// The environment variable holding the HMAC key text (`vm_config.environment_variables`).
pub const KEY_ENV: &str = "DP_AUDIT_KEY";

/// Everything a VM needs from its plugin configuration.
pub struct Loaded {
    pub policy: Policy,
    pub settings: Settings,
    pub keys: Option<KeyRing>,
    pub aggregate: Option<AggregateConfig>,
}

/// Parses the plugin configuration (the JSON policy) and the key text.
/// Every problem is a `ConfigError` naming where it is; no key material or
/// configuration value is echoed.
pub fn load(policy_text: &str, key_text: Option<&str>) -> Result<Loaded, ConfigError> {
    let policy = Policy::from_json(policy_text)?;
    let settings = Settings::from_sink(policy.sink.as_ref())?;
    let keys = match key_text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(KeyRing::parse(t, KEY_ENV)?),
        None if policy.needs_key() => {
            return Err(ConfigError::new(
                KEY_ENV,
                "not set; the policy pseudonymizes and needs an HMAC key: put the text \
                 `dp-audit-harness keygen` prints into vm_config.environment_variables \
                 (key_values or host_env_keys)",
            ))
        }
        None => None,
    };
    let aggregate = match &policy.aggregate {
        // The engine's errors already name their place from `aggregate`.
        Some(section) => Some(
            AggregateConfig::from_json(section).map_err(|e| ConfigError::new(e.at, e.message))?,
        ),
        None => None,
    };
    Ok(Loaded {
        policy,
        settings,
        keys,
        aggregate,
    })
}

/// The plans of every field the record can have, or `None` when the
/// direct path cannot stand in for build-then-scrub: `request_headers` (an
/// object) is configured, the policy scans keys (a `detect` default), or
/// its depth limit refuses even the root object.
fn direct_plans(
    scrubber: &Scrubber,
    record_cfg: &super::settings::RecordConfig,
    limits: crate::policy::Limits,
) -> Option<Vec<(&'static str, MemberPlan)>> {
    if !record_cfg.request_headers.is_empty() || limits.max_depth < 1 {
        return None;
    }
    record::field_order(record_cfg)
        .into_iter()
        .map(|k| Some((k, scrubber.top_level_plan(k)?)))
        .collect()
}

/// Per-VM counters of the logger (exported as Envoy metrics by the glue).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoggerCounters {
    pub records_scrubbed: u64,
    pub records_failed: u64,
}

pub struct AccessLogger {
    scrubber: Scrubber,
    settings: Settings,
    agg_paths: Vec<Vec<String>>,
    max_depth: usize,
    raw: Vec<u8>,
    scrubbed: Vec<u8>,
    time: record::TimeCache,
    /// The policy's decision for each field the record can have, when
    /// every one depends on the field's name alone: the record is then
    /// scrubbed field by field as it is built (no JSON written and scanned
    /// again; byte-identical output, see the tests). `None`: build, then
    /// scrub the whole record.
    direct: Option<Vec<(&'static str, MemberPlan)>>,
    pub counters: LoggerCounters,
}

/// The direct path's receiver of record members: each value goes through
/// the scrubber as the member comes.
struct Direct<'a> {
    scrubber: &'a mut Scrubber,
    /// In record order; `next` is where the next member's search starts.
    plans: &'a [(&'static str, MemberPlan)],
    next: usize,
    out: &'a mut Vec<u8>,
    literal: &'a mut Vec<u8>,
    /// Length of the record as `record::build` would write it (the size
    /// limit applies to it, as for any record).
    raw_len: usize,
    wrote: bool,
    failed: Option<DirectFailure>,
}

enum DirectFailure {
    Scrub(ScrubError),
    /// A field without a plan (none by construction): the record takes
    /// the general path.
    Unplanned,
}

impl record::Members for Direct<'_> {
    fn member(&mut self, key: &'static str, literal: impl FnOnce(&mut Vec<u8>)) {
        self.literal.clear();
        literal(self.literal);
        // `"key":` before the value, and a comma unless it is the first.
        let comma = usize::from(self.raw_len > 2);
        self.raw_len = self
            .raw_len
            .saturating_add(key.len().saturating_add(3).saturating_add(comma))
            .saturating_add(self.literal.len());
        if self.failed.is_some() {
            return;
        }
        // Plans are in record order: the next member's plan is usually
        // the next one (optional members may be skipped).
        let rest = self.plans.get(self.next..).unwrap_or_default();
        let Some((i, &(_, plan))) = rest.iter().enumerate().find(|(_, (k, _))| *k == key) else {
            self.failed = Some(DirectFailure::Unplanned);
            return;
        };
        self.next = self.next.saturating_add(i).saturating_add(1);
        if plan.effect == Effect::Drop {
            return;
        }
        if self.wrote {
            self.out.push(b',');
        }
        self.wrote = true;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        if plan.effect == Effect::Keep {
            self.out.extend_from_slice(self.literal);
        } else if let Err(e) = self.scrubber.write_planned(plan, self.literal, self.out) {
            self.failed = Some(DirectFailure::Scrub(e));
        }
    }
}

/// What `AccessLogger::log` produced.
pub struct Logged<'a> {
    /// The record to emit (scrubbed, or the fail-closed error record), if any.
    pub record: Option<&'a [u8]>,
    /// The scrub failure, reported by its code only.
    pub error: Option<ScrubError>,
}

impl AccessLogger {
    pub fn new(loaded: &Loaded) -> Result<AccessLogger, ConfigError> {
        let scrubber = Scrubber::new(&loaded.policy, loaded.keys.as_ref())?;
        let direct = direct_plans(&scrubber, &loaded.settings.record, loaded.policy.limits);
        let agg_paths = match &loaded.aggregate {
            Some(cfg) => cfg
                .field_paths()
                .iter()
                .map(|p| Path::parse_literal(p, "aggregate"))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        Ok(AccessLogger {
            scrubber,
            settings: loaded.settings.clone(),
            agg_paths,
            max_depth: loaded.policy.limits.max_depth,
            raw: Vec::with_capacity(1024),
            scrubbed: Vec::with_capacity(1024),
            time: record::TimeCache::default(),
            direct,
            counters: LoggerCounters::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Builds and scrubs the record of one request.
    pub fn log(&mut self, req: &Request<'_>) -> Logged<'_> {
        let result = match self.log_direct(req) {
            Some(result) => result,
            None => {
                record::build(&self.settings.record, req, &mut self.time, &mut self.raw);
                let result = self.scrubber.scrub(&self.raw, &mut self.scrubbed);
                // The raw record is not kept past this call.
                self.raw.clear();
                result
            }
        };
        let error = result.err();
        let emit = match error {
            Some(e) => self.scrubber.fail_closed(e, &mut self.scrubbed),
            None => true,
        };
        if error.is_some() {
            self.counters.records_failed = self.counters.records_failed.saturating_add(1);
        } else {
            self.counters.records_scrubbed = self.counters.records_scrubbed.saturating_add(1);
        }
        Logged {
            record: emit.then_some(self.scrubbed.as_slice()),
            error,
        }
    }

    /// The direct path ([`AccessLogger::direct`]); `None` when it does not
    /// apply. On error `scrubbed` is left empty, as `Scrubber::scrub` does.
    fn log_direct(&mut self, req: &Request<'_>) -> Option<Result<(), ScrubError>> {
        let plans = self.direct.as_deref()?;
        self.scrubbed.clear();
        self.scrubbed.push(b'{');
        let mut d = Direct {
            scrubber: &mut self.scrubber,
            plans,
            next: 0,
            out: &mut self.scrubbed,
            literal: &mut self.raw,
            // The braces.
            raw_len: 2,
            wrote: false,
            failed: None,
        };
        record::members(&self.settings.record, req, &mut self.time, &mut d);
        let (raw_len, failed) = (d.raw_len, d.failed);
        // The last value is not kept past this call.
        self.raw.clear();
        let result = match failed {
            Some(DirectFailure::Unplanned) => return None,
            Some(DirectFailure::Scrub(e)) => Err(e),
            None if raw_len > self.scrubber.limits().max_record_bytes => {
                Err(ScrubError::RecordTooLarge)
            }
            None => {
                self.scrubbed.push(b'}');
                Ok(())
            }
        };
        if result.is_err() {
            self.scrubbed.clear();
        }
        Some(result)
    }

    /// The aggregation fields of the last record `log` scrubbed successfully,
    /// read from the scrubbed text; `None` without an `aggregate` section or
    /// when the last record failed.
    pub fn event_fields(&self) -> Option<Vec<Option<Cow<'_, str>>>> {
        if self.agg_paths.is_empty() || self.scrubbed.is_empty() {
            return None;
        }
        lookup(&self.scrubbed, &self.agg_paths, self.max_depth).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::proxy_wasm::settings::Prop;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn missing_short_or_bad_keys_are_configuration_errors() {
        let policy = r#"{"preset": "envoy-access"}"#;
        let e = load(policy, None).err().unwrap();
        assert_eq!(e.at, KEY_ENV);
        assert!(e.message.contains("environment_variables"));
        let e = load(policy, Some("  \n")).err().unwrap();
        assert_eq!(e.at, KEY_ENV);
        let e = load(policy, Some("abcd")).err().unwrap();
        assert!(e.to_string().contains("at least"), "{e}");
        assert!(!e.to_string().contains("abcd"));
        assert!(load(policy, Some(KEY)).is_ok());
        // A policy that never pseudonymizes needs no key.
        assert!(load(
            r#"{"default_action": "drop", "fields": [{"path": "method", "action": "keep"}]}"#,
            None
        )
        .is_ok());
    }

    #[test]
    fn invalid_policy_and_sink_are_reported_by_location() {
        assert_eq!(load("{", Some(KEY)).err().unwrap().at, "policy");
        let e = load(
            r#"{"preset": "envoy-access", "sink": {"type": "nope"}}"#,
            Some(KEY),
        )
        .err()
        .unwrap();
        assert_eq!(e.at, "sink.type");
        let e = load(
            r#"{"preset": "envoy-access", "aggregate": {"window": "x"}}"#,
            Some(KEY),
        )
        .err()
        .unwrap();
        assert!(
            e.at.starts_with("aggregate.") && !e.at.starts_with("aggregate.aggregate"),
            "{}",
            e.at
        );
    }

    #[test]
    fn scrubs_planted_values_and_extracts_event_fields() {
        let policy = r#"{"preset": "envoy-access", "aggregate": {
            "window": "1m", "privacy_unit": {"type": "event"},
            "budget": {"period": "1d", "epsilon": 1.0, "delta": 0, "ledger_key": "l"},
            "releases": [{"name": "by_method_status", "kind": "count", "mechanism": "laplace", "epsilon": 0.1,
              "group_by": [{"field": "method"}, {"field": "response_code", "as": "status_class", "bucket": "status_class"}],
              "domains": {"method": ["GET", "POST"], "status_class": ["2xx", "4xx", "5xx", "other"]}}]}}"#;
        let loaded = load(policy, Some(KEY)).unwrap();
        let mut logger = AccessLogger::new(&loaded).unwrap();
        let headers: Vec<(&[u8], &[u8])> = vec![
            (b":method", b"GET"),
            (
                b":path",
                b"/u?email=alice@example.com&token=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB",
            ),
            (b":authority", b"svc"),
            (b"x-user-id", b"alice"),
            (b"x-forwarded-for", b"203.0.113.77"),
        ];
        let props = vec![
            Some(404i64.to_le_bytes().to_vec()),
            None,
            Some(b"198.51.100.23:4242".to_vec()),
        ];
        let req = Request {
            headers: &headers,
            props: &props,
            now_ns: 1_700_000_000_000_000_000,
        };
        let logged = logger.log(&req);
        assert!(logged.error.is_none());
        let text = String::from_utf8(logged.record.unwrap().to_vec()).unwrap();
        for planted in [
            "alice",
            "ghp_0123456789",
            "203.0.113.77",
            "198.51.100.23",
            "4242",
        ] {
            assert!(!text.contains(planted), "{planted} leaked: {text}");
        }
        assert!(text.contains("\"method\":\"GET\""), "{text}");
        assert!(text.contains("\"response_code\":404"), "{text}");
        let fields = logger.event_fields().unwrap();
        let fields: Vec<Option<&str>> = fields.iter().map(|f| f.as_deref()).collect();
        assert_eq!(
            loaded.aggregate.as_ref().unwrap().field_paths(),
            ["method", "response_code"]
        );
        assert_eq!(fields, vec![Some("GET"), Some("404")]);
        assert_eq!(logger.counters.records_scrubbed, 1);
    }

    /// A small deterministic generator for the differential test.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[(self.next() as usize) % items.len()]
        }
    }

    /// Header and property values with what the scrubber reacts to: PII,
    /// secrets, JSON escapes, control characters, invalid UTF-8, lengths.
    fn value(g: &mut Lcg) -> Vec<u8> {
        const POOL: &[&[u8]] = &[
            b"",
            b"GET",
            b"alice@example.com",
            b"Bob.Smith@Example.org",
            b"/api/v1/items?id=42&email=bob@example.org",
            b"/login?token=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB&x=1",
            b"/p?q=\"quoted\"\\back\\slash",
            b"203.0.113.77",
            b"203.0.113.77, 10.1.2.3",
            b"[2001:db8::1]:443",
            b"198.51.100.23:4242",
            b"not an ip",
            b"2026-11-28T17:38:21.425Z",
            b"Mozilla/5.0 (X11; Linux x86_64) call 555-867-5309",
            b"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZUBleGFtcGxlLmNvbSJ9.c2ln",
            b"tab\there\nnewline\x01ctl",
            b"caf\xc3\xa9 \xe2\x82\xac",
            b"bad \xff\xfe utf8",
            b"4111 1111 1111 1111",
            b"AKIAIOSFODNN7EXAMPLE",
            b"12345",
        ];
        let mut v = g.pick(POOL).to_vec();
        if g.next() % 8 == 0 {
            // Long values, for the size limit.
            let n = (g.next() % 400) as usize;
            v.extend(std::iter::repeat_n(b'x', n));
        }
        v
    }

    fn prop_value(g: &mut Lcg, p: Prop) -> Option<Vec<u8>> {
        match g.next() % 6 {
            0 => None,
            1 => Some(value(g)),
            _ if p.is_integer() => Some((g.next() as i64 - (1 << 30)).to_le_bytes().to_vec()),
            _ => Some(value(g)),
        }
    }

    /// The direct path (each field through the scrubber as the record is
    /// built) writes exactly what building the JSON and scrubbing it does,
    /// errors included, for every kind of action, the size limit and
    /// hostile values; policies it cannot stand in for take the general
    /// path.
    #[test]
    fn direct_path_writes_exactly_what_build_then_scrub_does() {
        let all_props: Vec<&str> = Prop::ALL.iter().map(|p| p.field()).collect();
        let sink = |props: &[&str]| {
            serde_json::json!({"type": "log", "record": {
                "properties": props, "user_headers": ["x-user-id"], "user_jwt_claim": "sub"}})
        };
        let every_action = serde_json::json!({
            "default_action": "keep",
            "fields": [
                {"path": "start_time", "action": "generalize_time", "unit": "minute"},
                {"path": "method", "action": "mask", "keep_last": 4},
                {"path": "path", "action": "detect"},
                {"path": "authority", "action": "email"},
                {"path": "response_code", "action": "redact", "label": "code"},
                {"path": "duration", "action": "pseudonymize"},
                {"path": "downstream_remote_address", "action": "truncate_ip"},
                {"path": "upstream_host", "action": "truncate_ip", "ipv4_prefix": 16},
                {"path": "user", "action": "email"},
                {"path": "user_agent", "action": "drop"},
                {"path": "x_forwarded_for", "action": "truncate_ip"},
                {"path": "bytes_sent", "action": "detect"},
                {"path": "protocol", "action": "pseudonymize"}
            ]
        });
        let mut drop_first = every_action.clone();
        drop_first["fields"][0] = serde_json::json!({"path": "start_time", "action": "drop"});
        let policies = vec![
            serde_json::json!({"preset": "envoy-access"}),
            serde_json::json!({"default_action": "keep"}),
            serde_json::json!({"default_action": "drop"}),
            serde_json::json!({"default_action": "drop", "fields": [{"path": "user", "action": "keep"}]}),
            every_action,
            drop_first,
            serde_json::json!({"preset": "envoy-access", "limits": {"max_record_bytes": 300, "max_depth": 1}}),
        ];
        let headers_pool: [&[u8]; 9] = [
            b":method",
            b":path",
            b":authority",
            b"host",
            b"x-forwarded-for",
            b"user-agent",
            b"x-request-id",
            b"x-user-id",
            b"authorization",
        ];
        let mut g = Lcg(7);
        for policy in &policies {
            for props in [
                &["response_code", "duration", "downstream_remote_address"][..],
                &all_props[..],
                &[],
            ] {
                let mut p = policy.clone();
                p["sink"] = sink(props);
                let loaded = load(&p.to_string(), Some(KEY)).unwrap();
                let mut direct = AccessLogger::new(&loaded).unwrap();
                assert!(direct.direct.is_some(), "{p}");
                let mut general = AccessLogger::new(&loaded).unwrap();
                general.direct = None;
                let (mut errors, mut records) = (0, 0);
                for _ in 0..400 {
                    let values: Vec<Vec<u8>> = headers_pool.iter().map(|_| value(&mut g)).collect();
                    let headers: Vec<(&[u8], &[u8])> = headers_pool
                        .iter()
                        .zip(&values)
                        .filter(|_| g.next() % 4 != 0)
                        .map(|(n, v)| (*n, v.as_slice()))
                        .collect();
                    let prop_values: Vec<Option<Vec<u8>>> = loaded
                        .settings
                        .record
                        .properties
                        .iter()
                        .map(|p| prop_value(&mut g, *p))
                        .collect();
                    let req = Request {
                        headers: &headers,
                        props: &prop_values,
                        now_ns: 1_700_000_000_000_000_000 + (g.next() as i64) * 1_000_000,
                    };
                    let a = direct.log(&req);
                    let (a_rec, a_err) = (a.record.map(<[u8]>::to_vec), a.error);
                    let b = general.log(&req);
                    assert_eq!(
                        a_rec.as_deref().map(String::from_utf8_lossy),
                        b.record.map(String::from_utf8_lossy),
                        "policy {p}"
                    );
                    assert_eq!(a_err, b.error, "policy {p}");
                    assert_eq!(direct.event_fields(), general.event_fields());
                    errors += usize::from(a_err.is_some());
                    records += 1;
                }
                assert_eq!(direct.counters, general.counters);
                // The limit policy must exercise both outcomes.
                if p.get("limits").is_some() && !props.is_empty() {
                    assert!(errors > 0 && errors < records, "{errors} of {records}");
                }
            }
        }
        // Policies the direct path does not stand in for.
        for p in [
            serde_json::json!({"default_action": "detect"}),
            serde_json::json!({"preset": "envoy-access", "sink": {"record": {"request_headers": ["referer"]}}}),
        ] {
            let loaded = load(&p.to_string(), Some(KEY)).unwrap();
            assert!(AccessLogger::new(&loaded).unwrap().direct.is_none(), "{p}");
        }
    }
}
