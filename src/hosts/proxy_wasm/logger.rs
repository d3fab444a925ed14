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
use crate::scrubber::{ScrubError, Scrubber};
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
    pub counters: LoggerCounters,
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
            counters: LoggerCounters::default(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Builds and scrubs the record of one request.
    pub fn log(&mut self, req: &Request<'_>) -> Logged<'_> {
        record::build(&self.settings.record, req, &mut self.time, &mut self.raw);
        let (emit, error) = self
            .scrubber
            .scrub_or_fail_closed(&self.raw, &mut self.scrubbed);
        // The raw record is not kept past this call.
        self.raw.clear();
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
}
