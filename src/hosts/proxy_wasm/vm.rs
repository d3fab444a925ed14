//! The proxy-wasm exports: context bookkeeping and the per-role glue.
//!
//! Each root context's state is *taken out* of the table for the duration of
//! a callback and put back after (as in the Fluent Bit host): no `RefCell`
//! borrow is held while host calls run, so nothing can panic on re-entry.
#![allow(unsafe_code)]

use super::abi::{self, LogLevel, MapType, MetricType, Status};
use super::events::BatchWriter;
use super::logger::{self, AccessLogger, KEY_ENV};
use super::map;
use super::outbox::Outbox;
use super::record::Request;
use super::service::Aggregator;
use super::settings::{HttpSinkConfig, Prop, SinkKind};
use super::AGGREGATOR_ROOT_ID;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Logger VMs flush metrics, events and the HTTP sink this often.
const TICK_MS: u32 = 1000;

/// Errors are logged for the first occurrences and then sparsely.
pub(super) fn should_log(count: u64) -> bool {
    count <= 10 || count % 10_000 == 0
}

pub(super) fn log_line(level: LogLevel, msg: &str) {
    // Nothing to do if logging itself fails: there is nowhere else to say it.
    let _ = abi::log(level, msg.as_bytes());
}

pub(super) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_nanos()).ok())
        .unwrap_or(0)
}

pub(super) fn now_ms() -> u64 {
    u64::try_from(now_ns() / 1_000_000).unwrap_or(0)
}

/// A counter kept in the VM and added to an Envoy metric on each tick
/// (one host call per tick instead of one per request).
pub(super) struct Counter {
    id: Option<u32>,
    pending: i64,
}

impl Counter {
    pub(super) fn define(name: &str) -> Counter {
        Counter {
            id: abi::define_metric(MetricType::Counter, name).ok(),
            pending: 0,
        }
    }
    pub(super) fn add(&mut self, n: u64) {
        self.pending = self
            .pending
            .saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
    }
    pub(super) fn flush(&mut self) {
        if let (Some(id), true) = (self.id, self.pending != 0) {
            if abi::increment_metric(id, self.pending).is_ok() {
                self.pending = 0;
            }
        }
    }
}

pub(super) struct Gauge {
    id: Option<u32>,
}

impl Gauge {
    pub(super) fn define(name: &str) -> Gauge {
        Gauge {
            id: abi::define_metric(MetricType::Gauge, name).ok(),
        }
    }
    pub(super) fn set(&self, v: u64) {
        if let Some(id) = self.id {
            let _ = abi::record_metric(id, v);
        }
    }
}

enum Sink {
    Log(LogBatch),
    Http(Box<HttpSink>),
}

/// Records waiting for one `proxy_log` call: Envoy writes each log call
/// with its own syscall, which costs more than building the record. A call
/// starts with a newline, so that Envoy's prefix (`... wasm log <root_id>
/// <vm_id>: `) stands on a line of its own and every record is one line
/// that starts with `{`. Flushed when full and on every tick (1 s).
struct LogBatch {
    text: Vec<u8>,
    records: usize,
    max: usize,
}

impl LogBatch {
    /// Adds a record; returns how many records a refused flush dropped.
    fn push(&mut self, record: &[u8]) -> usize {
        self.text.push(b'\n');
        self.text.extend_from_slice(record);
        self.records = self.records.saturating_add(1);
        if self.records >= self.max {
            return self.flush();
        }
        0
    }

    /// Hands the waiting records to Envoy; returns how many it refused.
    fn flush(&mut self) -> usize {
        if self.records == 0 {
            return 0;
        }
        let dropped = if abi::log(LogLevel::Info, &self.text).is_ok() {
            0
        } else {
            self.records
        };
        self.text.clear();
        self.records = 0;
        dropped
    }
}

pub(super) struct HttpSink {
    outbox: Outbox,
    headers: Vec<u8>,
}

impl HttpSink {
    pub(super) fn new(cfg: HttpSinkConfig) -> Result<HttpSink, &'static str> {
        let headers = map::serialize_pairs(&[
            (":method", "POST"),
            (":path", &cfg.path),
            (":authority", &cfg.authority),
            ("content-type", "application/x-ndjson"),
        ])
        .map_err(|_| "sink.http: header values too long")?;
        Ok(HttpSink {
            outbox: Outbox::new(cfg, now_ms()),
            headers,
        })
    }

    pub(super) fn push(&mut self, record: &[u8]) -> bool {
        self.outbox.push(record)
    }

    pub(super) fn pump(&mut self) {
        let now = now_ms();
        let Some(batch) = self.outbox.take_batch(now) else {
            return;
        };
        let cfg = self.outbox.config();
        match abi::http_call(&cfg.cluster, &self.headers, &batch.body, cfg.timeout_ms) {
            Ok(token) => self.outbox.started(token, batch),
            Err(status) => {
                if should_log(self.outbox.counters.posts_failed.saturating_add(1)) {
                    log_line(
                        LogLevel::Warn,
                        &format!(
                            "dp-audit: http sink: cannot start a POST ({}); will retry",
                            status.name()
                        ),
                    );
                }
                self.outbox.failed(batch, now);
            }
        }
    }

    pub(super) fn answer(&mut self, token: u32, num_headers: usize) {
        // No headers: the call failed (timeout, reset, no healthy host).
        let ok = num_headers > 0
            && matches!(abi::header_map_pairs(MapType::HttpCallResponseHeaders), Ok(Some(buf))
                if map::parse_pairs(&buf).ok().and_then(|p| map::first(&p, ":status").map(|s| s.first() == Some(&b'2'))).unwrap_or(false));
        self.outbox.completed(token, ok, now_ms());
        if !ok && should_log(self.outbox.counters.posts_failed) {
            log_line(
                LogLevel::Warn,
                "dp-audit: http sink: POST failed; will retry with backoff",
            );
        }
        self.pump();
    }
}

/// Worker side of the aggregation: batches events for the singleton.
struct EventLink {
    writer: BatchWriter,
    batch_events: usize,
    vm_id: String,
    queue_name: String,
    queue: Option<u32>,
    dropped: Counter,
    sent: Counter,
}

impl EventLink {
    fn flush(&mut self) {
        if self.writer.is_empty() {
            return;
        }
        let n = self.writer.len() as u64;
        if self.queue.is_none() {
            // Resolved lazily: VMs created before the singleton registered
            // the queue would otherwise never find it.
            self.queue = abi::resolve_shared_queue(&self.vm_id, &self.queue_name)
                .ok()
                .flatten();
        }
        let Some(q) = self.queue else {
            self.writer.clear();
            self.dropped.add(n);
            return;
        };
        match abi::enqueue_shared_queue(q, &self.writer.take()) {
            Ok(()) => self.sent.add(n),
            Err(_) => {
                self.queue = None;
                self.dropped.add(n);
            }
        }
    }
}

struct LoggerVm {
    logger: AccessLogger,
    sink: Sink,
    events: Option<EventLink>,
    scrubbed: Counter,
    failed: Counter,
    sink_dropped: Counter,
    host_errors: Counter,
    errors: u64,
    /// Envoy's token for the CEL list of the record's attributes, when the
    /// record has enough of them ([`CEL_MIN_ATTRIBUTES`]) and Envoy compiled
    /// it: then one `expr_evaluate` replaces a `get_property` per attribute.
    attributes: Option<u32>,
}

impl LoggerVm {
    fn on_log(&mut self) {
        let headers = match abi::header_map_pairs(MapType::HttpRequestHeaders) {
            Ok(b) => b.unwrap_or_default(),
            Err(s) => {
                self.host_error("request headers", s);
                Vec::new()
            }
        };
        let pairs = map::parse_pairs(&headers).unwrap_or_else(|_| {
            self.host_errors.add(1);
            Vec::new()
        });
        let props = self.properties();
        let now = now_ns();
        let logged = self.logger.log(&Request {
            headers: &pairs,
            props: &props,
            now_ns: now,
        });
        let mut sink_dropped = 0;
        if let Some(record) = logged.record {
            match &mut self.sink {
                Sink::Log(batch) => sink_dropped = batch.push(record),
                Sink::Http(h) => {
                    sink_dropped = usize::from(!h.outbox.push(record));
                    h.pump();
                }
            }
        }
        if let Some(e) = logged.error {
            self.failed.add(1);
            self.errors = self.errors.saturating_add(1);
            if should_log(self.errors) {
                log_line(
                    LogLevel::Warn,
                    &format!(
                        "dp-audit: {e}; records failed so far in this VM: {}",
                        self.errors
                    ),
                );
            }
        } else {
            self.scrubbed.add(1);
        }
        if sink_dropped > 0 {
            self.sink_dropped.add(sink_dropped as u64);
        }
        if let Some(link) = &mut self.events {
            if let Some(fields) = self.logger.event_fields() {
                if !link.writer.push(now.div_euclid(1_000_000_000), &fields) {
                    link.dropped.add(1);
                }
            }
            if link.writer.len() >= link.batch_events {
                link.flush();
            }
        }
    }

    /// The record's attributes: all at once through the CEL list when Envoy
    /// compiled it, else one `get_property` each. Missing and empty
    /// attributes are `None` either way (the list has empty bytes for them).
    /// A list that does not evaluate is given up for this VM, with one line.
    fn properties(&mut self) -> Vec<Option<Vec<u8>>> {
        let wanted = &self.logger.settings().record.properties;
        if let Some(token) = self.attributes {
            let evaluated = abi::call_foreign_function("expr_evaluate", &token.to_le_bytes());
            // Each element is serialized as `get_property` returns it, in
            // the proxy-wasm pair layout (element, empty).
            let list = match &evaluated {
                Ok(Some(list)) => map::parse_pairs(list)
                    .ok()
                    .filter(|pairs| pairs.len() == wanted.len()),
                _ => None,
            };
            if let Some(pairs) = list {
                return pairs
                    .iter()
                    .map(|(v, _)| (!v.is_empty()).then(|| v.to_vec()))
                    .collect();
            }
            self.attributes = None;
            let why = match evaluated {
                Err(s) => s.name(),
                Ok(_) => "an unexpected result",
            };
            log_line(
                LogLevel::Warn,
                &format!("dp-audit: the CEL attribute list failed ({why}): request attributes are read one call each from now on"),
            );
        }
        wanted
            .iter()
            .map(|p| {
                abi::property(p.path())
                    .ok()
                    .flatten()
                    .filter(|v| !v.is_empty())
            })
            .collect()
    }

    fn host_error(&mut self, what: &str, s: Status) {
        self.host_errors.add(1);
        self.errors = self.errors.saturating_add(1);
        if should_log(self.errors) {
            log_line(
                LogLevel::Warn,
                &format!("dp-audit: cannot read {what}: {}", s.name()),
            );
        }
    }

    fn on_tick(&mut self) {
        if let Some(link) = &mut self.events {
            link.flush();
            link.dropped.flush();
            link.sent.flush();
        }
        match &mut self.sink {
            Sink::Log(batch) => self.sink_dropped.add(batch.flush() as u64),
            Sink::Http(h) => {
                h.pump();
                self.sink_dropped
                    .add(std::mem::take(&mut h.outbox.counters.records_dropped));
            }
        }
        for c in [
            &mut self.scrubbed,
            &mut self.failed,
            &mut self.sink_dropped,
            &mut self.host_errors,
        ] {
            c.flush();
        }
    }
}

enum Root {
    New,
    Logger(Box<LoggerVm>),
    Aggregator(Box<Aggregator>),
    Failed,
}

thread_local! {
    static ROOTS: RefCell<BTreeMap<u32, Root>> = const { RefCell::new(BTreeMap::new()) };
    /// HTTP stream contexts and their root, when the module runs as an HTTP
    /// filter (e.g. an Istio `WasmPlugin`): Envoy then calls `proxy_on_log`
    /// per stream context instead of on the root.
    static STREAMS: RefCell<BTreeMap<u32, u32>> = const { RefCell::new(BTreeMap::new()) };
}

fn with_root(ctx: u32, f: impl FnOnce(&mut Root)) {
    let Some(mut root) = ROOTS.with(|r| r.try_borrow_mut().ok().and_then(|mut m| m.remove(&ctx)))
    else {
        return;
    };
    f(&mut root);
    ROOTS.with(|r| {
        if let Ok(mut m) = r.try_borrow_mut() {
            m.insert(ctx, root);
        }
    });
}

/// Records with at least this many attributes read them through one CEL
/// list per request; fewer are read with one `get_property` each. Measured on
/// Envoy 1.40 (envoy/README.md): an `expr_evaluate` costs about 14 us plus
/// 3 to 4 us per attribute, a `get_property` about 5 us, so the list pays
/// from about seven attributes on (the default record has three).
const CEL_MIN_ATTRIBUTES: usize = 7;

/// Asks Envoy to compile the CEL list of `props` (Envoy builds with a CEL
/// parser register `expr_create`); `None` without properties or when the
/// host cannot, and the record then reads them one by one.
fn attribute_expression(props: &[Prop]) -> Option<u32> {
    if props.is_empty() {
        return None;
    }
    let expr = Prop::list_expression(props);
    let token = abi::call_foreign_function("expr_create", expr.as_bytes())
        .ok()
        .flatten()
        .and_then(|b| b.first_chunk::<4>().map(|t| u32::from_le_bytes(*t)));
    if token.is_none() {
        log_line(
            LogLevel::Info,
            "dp-audit: the host cannot evaluate CEL: request attributes are read one call each",
        );
    }
    token
}

fn configure(size: usize) -> Result<Root, String> {
    let text = match abi::plugin_configuration(size) {
        Ok(Some(b)) => String::from_utf8(b).map_err(|_| "plugin configuration is not UTF-8 text (wrap the JSON policy as google.protobuf.StringValue)".to_string())?,
        Ok(None) => return Err("no plugin configuration (expected the JSON policy as google.protobuf.StringValue)".into()),
        Err(s) => return Err(format!("cannot read the plugin configuration: {}", s.name())),
    };
    let key = std::env::var(KEY_ENV).ok();
    let loaded = logger::load(&text, key.as_deref()).map_err(|e| e.to_string())?;
    let root_id = abi::property(b"plugin_root_id")
        .ok()
        .flatten()
        .unwrap_or_default();
    if root_id == AGGREGATOR_ROOT_ID.as_bytes() {
        return Aggregator::configure(&loaded).map(|a| Root::Aggregator(Box::new(a)));
    }
    let logger = AccessLogger::new(&loaded).map_err(|e| e.to_string())?;
    let sink = match &loaded.settings.sink {
        SinkKind::Log { batch_records } => Sink::Log(LogBatch {
            text: Vec::new(),
            records: 0,
            max: *batch_records,
        }),
        SinkKind::Http(cfg) => Sink::Http(Box::new(
            HttpSink::new(cfg.clone()).map_err(str::to_string)?,
        )),
    };
    let events = match &loaded.aggregate {
        None => None,
        Some(cfg) => {
            let link = &loaded.settings.aggregator;
            let vm_id = match &link.vm_id {
                Some(v) => v.clone(),
                None => abi::property(b"plugin_vm_id")
                    .ok()
                    .flatten()
                    .and_then(|b| String::from_utf8(b).ok())
                    .unwrap_or_default(),
            };
            Some(EventLink {
                writer: BatchWriter::new(cfg.fingerprint()),
                batch_events: link.batch_events,
                vm_id,
                queue_name: link.queue.clone(),
                queue: None,
                dropped: Counter::define("dp_audit_events_dropped"),
                sent: Counter::define("dp_audit_events_sent"),
            })
        }
    };
    if abi::set_tick_period_ms(TICK_MS).is_err() {
        log_line(LogLevel::Warn, "dp-audit: no timer: metrics, events and the http sink flush only while requests arrive");
    }
    let props = &loaded.settings.record.properties;
    let attributes = if props.len() >= CEL_MIN_ATTRIBUTES {
        attribute_expression(props)
    } else {
        None
    };
    Ok(Root::Logger(Box::new(LoggerVm {
        attributes,
        logger,
        sink,
        events,
        scrubbed: Counter::define("dp_audit_records_scrubbed"),
        failed: Counter::define("dp_audit_records_failed"),
        sink_dropped: Counter::define("dp_audit_sink_records_dropped"),
        host_errors: Counter::define("dp_audit_host_errors"),
        errors: 0,
    })))
}

#[cfg(target_os = "wasi")]
extern "C" {
    fn __wasm_call_ctors();
}

/// Reactor initialisation (Envoy calls it once, before anything else).
#[no_mangle]
pub extern "C" fn _initialize() {
    #[cfg(target_os = "wasi")]
    // SAFETY: the linker-generated constructor runner, called once at start
    // as the WASI reactor model requires.
    unsafe {
        __wasm_call_ctors();
    }
}

#[no_mangle]
pub extern "C" fn proxy_abi_version_0_2_1() {}

#[no_mangle]
pub extern "C" fn proxy_on_context_create(ctx: u32, parent: u32) {
    // Only root contexts carry state; a stream context (HTTP filter use)
    // just remembers its root.
    if parent == 0 {
        ROOTS.with(|r| {
            if let Ok(mut m) = r.try_borrow_mut() {
                m.insert(ctx, Root::New);
            }
        });
    } else {
        STREAMS.with(|s| {
            if let Ok(mut m) = s.try_borrow_mut() {
                m.insert(ctx, parent);
            }
        });
    }
}

#[no_mangle]
pub extern "C" fn proxy_on_vm_start(_ctx: u32, _vm_configuration_size: usize) -> u32 {
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_configure(ctx: u32, size: usize) -> u32 {
    let mut ok = false;
    with_root(ctx, |root| {
        *root = match configure(size) {
            Ok(r) => {
                ok = true;
                r
            }
            Err(msg) => {
                log_line(
                    LogLevel::Error,
                    &format!("dp-audit: configuration rejected: {msg}"),
                );
                Root::Failed
            }
        };
    });
    u32::from(ok)
}

#[no_mangle]
pub extern "C" fn proxy_on_log(ctx: u32) {
    let root_ctx = STREAMS
        .with(|s| s.try_borrow().ok().and_then(|m| m.get(&ctx).copied()))
        .unwrap_or(ctx);
    with_root(root_ctx, |root| {
        if let Root::Logger(l) = root {
            l.on_log();
        }
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_tick(ctx: u32) {
    with_root(ctx, |root| match root {
        Root::Logger(l) => l.on_tick(),
        Root::Aggregator(a) => a.on_tick(),
        Root::New | Root::Failed => {}
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_queue_ready(ctx: u32, queue_id: u32) {
    with_root(ctx, |root| {
        if let Root::Aggregator(a) = root {
            a.on_queue_ready(queue_id);
        }
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_http_call_response(
    ctx: u32,
    token: u32,
    num_headers: usize,
    _body_size: usize,
    _num_trailers: usize,
) {
    with_root(ctx, |root| match root {
        Root::Logger(l) => {
            if let Sink::Http(h) = &mut l.sink {
                h.answer(token, num_headers);
            }
        }
        Root::Aggregator(a) => a.on_http_call_response(token, num_headers),
        Root::New | Root::Failed => {}
    });
}

#[no_mangle]
pub extern "C" fn proxy_on_done(ctx: u32) -> u32 {
    // Last chance to hand over what is buffered.
    with_root(ctx, |root| match root {
        Root::Logger(l) => l.on_tick(),
        Root::Aggregator(a) => a.on_done(),
        Root::New | Root::Failed => {}
    });
    1
}

#[no_mangle]
pub extern "C" fn proxy_on_delete(ctx: u32) {
    STREAMS.with(|s| {
        if let Ok(mut m) = s.try_borrow_mut() {
            m.remove(&ctx);
        }
    });
    ROOTS.with(|r| {
        if let Ok(mut m) = r.try_borrow_mut() {
            m.remove(&ctx);
        }
    });
}
