//! The policy's `sink` section: what the Envoy host does besides scrubbing.
//!
//! ```json
//! "sink": {
//!   "type": "log",                       // "log" (default): Envoy's log, one JSON document per line
//!   "log_batch_records": 32,             // "log" only: records per proxy_log call, at most 1 s
//!                                        // late; Envoy's prefix gets a line of its own, each
//!                                        // record is one line starting with `{`
//!                                        // "http": batched NDJSON POSTs to an Envoy cluster
//!   "http": {                            // required for "http", refused otherwise
//!     "cluster": "collector",            // Envoy cluster name
//!     "path": "/",                       // request path, default "/"
//!     "authority": "collector",          // :authority, default the cluster name
//!     "timeout_ms": 5000,                // per POST
//!     "max_batch_records": 500,          // flush when this many records wait
//!     "max_batch_bytes": 262144,         // ... or this many bytes
//!     "max_buffer_bytes": 4194304,       // beyond this, records are dropped (and counted)
//!     "flush_interval_ms": 1000,         // flush at least this often when records wait
//!     "max_backoff_ms": 30000            // failed POSTs are retried with doubling backoff up to this
//!   },
//!   "record": {
//!     "properties": ["response_code", "duration", "downstream_remote_address"],
//!     "user_headers": ["x-user-id"],     // the first present becomes "user"
//!     "user_jwt_claim": "sub",           // else this claim of an `Authorization: Bearer` JWT (signature NOT checked)
//!     "request_headers": ["referer"]     // copied as "request_headers.<name>"
//!   },
//!   "aggregator": {"vm_id": "dp_audit", "queue": "dp_audit_events", "batch_events": 64}
//! }
//! ```
//! Each property costs a host call per request (about 5 us in Envoy), so
//! the record holds only the properties listed; seven or more come in one
//! call where Envoy can evaluate CEL (`expr_evaluate` of one list
//! expression, which costs more than a few single reads); headers come in
//! one call.
//! `record.properties` names (and Envoy attributes): `start_time`
//! (`request.time`; without it the start is derived from the clock and
//! the duration), `response_code`, `response_flags`, `protocol`,
//! `bytes_received` (`request.total_size`), `bytes_sent`
//! (`response.total_size`), `duration` (`request.duration`, in ms),
//! `upstream_host` (`upstream.address`), `downstream_remote_address`
//! (`source.address`).

use crate::error::ConfigError;
use serde_json::{Map, Value};

/// An Envoy attribute the record can hold, fetched with one `get_property`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prop {
    StartTime,
    ResponseCode,
    ResponseFlags,
    Protocol,
    BytesReceived,
    BytesSent,
    Duration,
    UpstreamHost,
    DownstreamRemoteAddress,
}

impl Prop {
    pub const ALL: [Prop; 9] = [
        Prop::StartTime,
        Prop::ResponseCode,
        Prop::ResponseFlags,
        Prop::Protocol,
        Prop::BytesReceived,
        Prop::BytesSent,
        Prop::Duration,
        Prop::UpstreamHost,
        Prop::DownstreamRemoteAddress,
    ];

    /// The record field name (also the name in `record.properties`).
    pub fn field(self) -> &'static str {
        match self {
            Prop::StartTime => "start_time",
            Prop::ResponseCode => "response_code",
            Prop::ResponseFlags => "response_flags",
            Prop::Protocol => "protocol",
            Prop::BytesReceived => "bytes_received",
            Prop::BytesSent => "bytes_sent",
            Prop::Duration => "duration",
            Prop::UpstreamHost => "upstream_host",
            Prop::DownstreamRemoteAddress => "downstream_remote_address",
        }
    }

    /// The attribute path, serialized as proxy-wasm wants it (segments
    /// separated by NUL).
    pub fn path(self) -> &'static [u8] {
        match self {
            Prop::StartTime => b"request\0time",
            Prop::ResponseCode => b"response\0code",
            Prop::ResponseFlags => b"response\0flags",
            Prop::Protocol => b"request\0protocol",
            Prop::BytesReceived => b"request\0total_size",
            Prop::BytesSent => b"response\0total_size",
            Prop::Duration => b"request\0duration",
            Prop::UpstreamHost => b"upstream\0address",
            Prop::DownstreamRemoteAddress => b"source\0address",
        }
    }

    /// Whether Envoy returns the value as an 8-byte little-endian integer.
    pub fn is_integer(self) -> bool {
        !matches!(
            self,
            Prop::Protocol | Prop::UpstreamHost | Prop::DownstreamRemoteAddress
        )
    }

    /// One CEL expression listing the attributes of `props`, in order:
    /// Envoy evaluates it in one host call (`expr_evaluate`) and returns
    /// each element serialized exactly as `get_property` would. Each is
    /// guarded with `has()`, so that a missing attribute (no upstream, no
    /// response yet) becomes empty bytes instead of failing the whole list
    /// (`null` does not serialize).
    pub fn list_expression(props: &[Prop]) -> String {
        let items: Vec<String> = props
            .iter()
            .map(|p| {
                // The CEL name is the attribute path with dots.
                let a = String::from_utf8_lossy(p.path()).replace('\0', ".");
                format!("has({a}) ? {a} : b\"\"")
            })
            .collect();
        format!("[{}]", items.join(", "))
    }

    fn parse(name: &str) -> Option<Prop> {
        Prop::ALL.into_iter().find(|p| p.field() == name)
    }
}

/// Records per `proxy_log` call by default: one write by Envoy per batch
/// instead of per request; a batch waits at most one tick (1 s), as Envoy's
/// own file access log buffers for up to 1 s.
pub const DEFAULT_LOG_BATCH: usize = 32;

pub const DEFAULT_PROPS: [Prop; 3] = [
    Prop::ResponseCode,
    Prop::Duration,
    Prop::DownstreamRemoteAddress,
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordConfig {
    pub properties: Vec<Prop>,
    /// Lowercase header names.
    pub user_headers: Vec<String>,
    pub user_jwt_claim: Option<String>,
    /// Lowercase header names.
    pub request_headers: Vec<String>,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            properties: DEFAULT_PROPS.to_vec(),
            user_headers: vec!["x-user-id".to_string()],
            user_jwt_claim: None,
            request_headers: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSinkConfig {
    pub cluster: String,
    pub path: String,
    pub authority: String,
    pub timeout_ms: u32,
    pub max_batch_records: usize,
    pub max_batch_bytes: usize,
    pub max_buffer_bytes: usize,
    pub flush_interval_ms: u64,
    pub max_backoff_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// Envoy's log; `batch_records` records per `proxy_log` call (one per
    /// line; only the first line of a call carries Envoy's prefix).
    Log {
        batch_records: usize,
    },
    Http(HttpSinkConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorLink {
    /// `None`: the VM id of the plugin itself.
    pub vm_id: Option<String>,
    pub queue: String,
    pub batch_events: usize,
}

impl Default for AggregatorLink {
    fn default() -> Self {
        AggregatorLink {
            vm_id: None,
            queue: "dp_audit_events".to_string(),
            batch_events: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub sink: SinkKind,
    pub record: RecordConfig,
    pub aggregator: AggregatorLink,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            sink: SinkKind::Log {
                batch_records: DEFAULT_LOG_BATCH,
            },
            record: RecordConfig::default(),
            aggregator: AggregatorLink::default(),
        }
    }
}

fn object<'a>(
    v: &'a Value,
    at: &str,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, ConfigError> {
    let Value::Object(m) = v else {
        return Err(ConfigError::new(at, "expected an object"));
    };
    for k in m.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(ConfigError::new(
                format!("{at}.{k}"),
                format!("unknown key (allowed: {})", allowed.join(", ")),
            ));
        }
    }
    Ok(m)
}

fn string(m: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, ConfigError> {
    match m.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(_) => Err(ConfigError::new(
            format!("{at}.{key}"),
            "expected a non-empty string",
        )),
    }
}

fn number(
    m: &Map<String, Value>,
    key: &str,
    at: &str,
    range: (u64, u64),
    default: u64,
) -> Result<u64, ConfigError> {
    match m.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| (range.0..=range.1).contains(n))
            .ok_or_else(|| {
                ConfigError::new(
                    format!("{at}.{key}"),
                    format!("expected an integer from {} to {}", range.0, range.1),
                )
            }),
    }
}

fn header_names(
    m: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(v) = m.get(key) else { return Ok(None) };
    let err = || ConfigError::new(format!("{at}.{key}"), "expected a list of header names");
    let Value::Array(items) = v else {
        return Err(err());
    };
    items
        .iter()
        .map(|i| match i {
            // HTTP field names are tokens (RFC 9110 5.1, 5.6.2): which
            // also lets the record write them as JSON keys unescaped.
            Value::String(s) if !s.is_empty() && s.bytes().all(is_token_char) => {
                Ok(s.to_ascii_lowercase())
            }
            _ => Err(err()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// `tchar` of RFC 9110: letters, digits and ``!#$%&'*+-.^_`|~``.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn to_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Settings {
    /// Parses the `sink` section (absent: every default).
    pub fn from_sink(section: Option<&Value>) -> Result<Settings, ConfigError> {
        let Some(section) = section else {
            return Ok(Settings::default());
        };
        let top = object(
            section,
            "sink",
            &["type", "http", "log_batch_records", "record", "aggregator"],
        )?;
        let log_batch = to_usize(number(
            top,
            "log_batch_records",
            "sink",
            (1, 1000),
            DEFAULT_LOG_BATCH as u64,
        )?);
        if kind_is_not_log(top) && top.contains_key("log_batch_records") {
            return Err(ConfigError::new(
                "sink.log_batch_records",
                "only allowed with \"type\": \"log\"",
            ));
        }
        let kind = string(top, "type", "sink")?.unwrap_or_else(|| "log".to_string());
        let sink = match (kind.as_str(), top.get("http")) {
            ("log", None) => SinkKind::Log {
                batch_records: log_batch,
            },
            ("log", Some(_)) => {
                return Err(ConfigError::new(
                    "sink.http",
                    "only allowed with \"type\": \"http\"",
                ))
            }
            ("http", Some(h)) => SinkKind::Http(parse_http(h)?),
            ("http", None) => {
                return Err(ConfigError::new(
                    "sink.http",
                    "required with \"type\": \"http\"",
                ))
            }
            _ => {
                return Err(ConfigError::new(
                    "sink.type",
                    "expected \"log\" or \"http\"",
                ))
            }
        };
        let record = match top.get("record") {
            None => RecordConfig::default(),
            Some(r) => parse_record(r)?,
        };
        let aggregator = match top.get("aggregator") {
            None => AggregatorLink::default(),
            Some(a) => {
                let at = "sink.aggregator";
                let m = object(a, at, &["vm_id", "queue", "batch_events"])?;
                let d = AggregatorLink::default();
                AggregatorLink {
                    vm_id: string(m, "vm_id", at)?,
                    queue: string(m, "queue", at)?.unwrap_or(d.queue),
                    batch_events: to_usize(number(m, "batch_events", at, (1, 10_000), 64)?),
                }
            }
        };
        Ok(Settings {
            sink,
            record,
            aggregator,
        })
    }
}

fn kind_is_not_log(top: &Map<String, Value>) -> bool {
    top.get("type").is_some_and(|t| t != "log")
}

fn parse_http(v: &Value) -> Result<HttpSinkConfig, ConfigError> {
    let at = "sink.http";
    let m = object(
        v,
        at,
        &[
            "cluster",
            "path",
            "authority",
            "timeout_ms",
            "max_batch_records",
            "max_batch_bytes",
            "max_buffer_bytes",
            "flush_interval_ms",
            "max_backoff_ms",
        ],
    )?;
    let cluster = string(m, "cluster", at)?
        .ok_or_else(|| ConfigError::new("sink.http.cluster", "required"))?;
    let path = string(m, "path", at)?.unwrap_or_else(|| "/".to_string());
    if !path.starts_with('/') {
        return Err(ConfigError::new(
            "sink.http.path",
            "expected a path starting with '/'",
        ));
    }
    let max_batch_bytes = to_usize(number(
        m,
        "max_batch_bytes",
        at,
        (1024, 64 << 20),
        256 << 10,
    )?);
    let max_buffer_bytes = to_usize(number(m, "max_buffer_bytes", at, (1024, 1 << 30), 4 << 20)?);
    if max_buffer_bytes < max_batch_bytes {
        return Err(ConfigError::new(
            "sink.http.max_buffer_bytes",
            "must be at least max_batch_bytes",
        ));
    }
    Ok(HttpSinkConfig {
        authority: string(m, "authority", at)?.unwrap_or_else(|| cluster.clone()),
        cluster,
        path,
        timeout_ms: to_u32(number(m, "timeout_ms", at, (1, 600_000), 5_000)?),
        max_batch_records: to_usize(number(m, "max_batch_records", at, (1, 1_000_000), 500)?),
        max_batch_bytes,
        max_buffer_bytes,
        flush_interval_ms: number(m, "flush_interval_ms", at, (10, 3_600_000), 1_000)?,
        max_backoff_ms: number(m, "max_backoff_ms", at, (10, 3_600_000), 30_000)?,
    })
}

fn parse_record(v: &Value) -> Result<RecordConfig, ConfigError> {
    let at = "sink.record";
    let m = object(
        v,
        at,
        &[
            "properties",
            "user_headers",
            "user_jwt_claim",
            "request_headers",
        ],
    )?;
    let d = RecordConfig::default();
    let properties = match m.get("properties") {
        None => d.properties,
        Some(Value::Array(items)) => {
            let mut props = Vec::new();
            for i in items {
                let p = i.as_str().and_then(Prop::parse).ok_or_else(|| {
                    let names: Vec<&str> = Prop::ALL.iter().map(|p| p.field()).collect();
                    ConfigError::new(
                        "sink.record.properties",
                        format!("expected names from: {}", names.join(", ")),
                    )
                })?;
                if !props.contains(&p) {
                    props.push(p);
                }
            }
            props
        }
        Some(_) => {
            return Err(ConfigError::new(
                "sink.record.properties",
                "expected a list of names",
            ))
        }
    };
    Ok(RecordConfig {
        properties,
        user_headers: header_names(m, "user_headers", at)?.unwrap_or(d.user_headers),
        user_jwt_claim: string(m, "user_jwt_claim", at)?,
        request_headers: header_names(m, "request_headers", at)?.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_without_a_section() {
        assert_eq!(Settings::from_sink(None).unwrap(), Settings::default());
        assert_eq!(
            Settings::from_sink(Some(&json!({}))).unwrap().sink,
            SinkKind::Log {
                batch_records: DEFAULT_LOG_BATCH
            }
        );
        assert_eq!(
            Settings::from_sink(Some(&json!({"log_batch_records": 32})))
                .unwrap()
                .sink,
            SinkKind::Log { batch_records: 32 }
        );
    }

    #[test]
    fn http_sink_with_defaults() {
        let s =
            Settings::from_sink(Some(&json!({"type": "http", "http": {"cluster": "fb"}}))).unwrap();
        let SinkKind::Http(h) = s.sink else {
            panic!("not http")
        };
        assert_eq!(
            (h.cluster.as_str(), h.authority.as_str(), h.path.as_str()),
            ("fb", "fb", "/")
        );
        assert_eq!(h.max_batch_records, 500);
    }

    #[test]
    fn record_section() {
        let s = Settings::from_sink(Some(&json!({"record": {
            "properties": ["start_time", "bytes_sent", "bytes_sent"],
            "user_headers": ["X-User"], "user_jwt_claim": "sub", "request_headers": ["Referer"]}})))
        .unwrap();
        assert_eq!(s.record.properties, vec![Prop::StartTime, Prop::BytesSent]);
        assert_eq!(s.record.user_headers, vec!["x-user"]);
        assert_eq!(s.record.request_headers, vec!["referer"]);
        assert_eq!(s.record.user_jwt_claim.as_deref(), Some("sub"));
    }

    #[test]
    fn errors_name_their_location() {
        let cases = [
            (json!({"type": "kafka"}), "sink.type"),
            (json!({"log_batch_records": 0}), "sink.log_batch_records"),
            (
                json!({"type": "http", "http": {"cluster": "c"}, "log_batch_records": 2}),
                "sink.log_batch_records",
            ),
            (json!({"typo": 1}), "sink.typo"),
            (json!({"type": "http"}), "sink.http"),
            (json!({"http": {"cluster": "c"}}), "sink.http"),
            (json!({"type": "http", "http": {}}), "sink.http.cluster"),
            (
                json!({"type": "http", "http": {"cluster": "c", "path": "x"}}),
                "sink.http.path",
            ),
            (
                json!({"type": "http", "http": {"cluster": "c", "timeout_ms": 0}}),
                "sink.http.timeout_ms",
            ),
            (
                json!({"record": {"properties": ["nope"]}}),
                "sink.record.properties",
            ),
            (
                json!({"record": {"user_headers": [":path"]}}),
                "sink.record.user_headers",
            ),
            (
                json!({"record": {"request_headers": ["x\"y"]}}),
                "sink.record.request_headers",
            ),
            (
                json!({"record": {"request_headers": ["a b"]}}),
                "sink.record.request_headers",
            ),
            (
                json!({"aggregator": {"batch_events": 0}}),
                "sink.aggregator.batch_events",
            ),
        ];
        for (v, at) in cases {
            let e = Settings::from_sink(Some(&v)).unwrap_err();
            assert_eq!(e.at, at, "{v}");
        }
    }

    #[test]
    fn property_paths_are_nul_separated_envoy_attributes() {
        for p in Prop::ALL {
            let path = std::str::from_utf8(p.path()).unwrap();
            assert_eq!(path.split('\0').count(), 2, "{path}");
            assert_eq!(Prop::parse(p.field()), Some(p));
        }
        assert_eq!(
            Prop::list_expression(&DEFAULT_PROPS[..2]),
            r#"[has(response.code) ? response.code : b"", has(request.duration) ? request.duration : b""]"#
        );
    }
}
