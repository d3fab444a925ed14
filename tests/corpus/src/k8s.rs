//! Kubernetes audit log generator: `audit.k8s.io/v1` Event JSON lines as
//! kube-apiserver's log backend writes them (Go struct field order, sorted map
//! keys, `\u0026`-style escaping, RequestReceived/ResponseStarted/ResponseComplete
//! stages, RBAC and pod-security annotations, failure Status objects).
//!
//! Identities are always present: email-like and plain usernames, client
//! source IPs (v4 and v6), EKS-style `user.extra` (access key id, session
//! name) and service-account credential ids, impersonation. With probability
//! `pii_rate` an event also carries planted secrets: ConfigMap/Secret bodies
//! (Secret `data` base64), pod env vars and args, kubectl's
//! last-applied-configuration (JSON inside a JSON string), service-proxy and
//! exec query strings, TokenRequest/TokenReview tokens, customer records with
//! card numbers, and free-text messages.

use crate::json::{array, quote, Obj, Style};
use crate::pii;
use crate::rng::{Rng, HEX, LOWER_DIGITS};
use crate::time::{rfc3339_micros, rfc3339_secs};
use crate::truth::{Counts, Planter, Truth};
use crate::Corpus;

/// Upper bound on principals: keeps unique-name generation far from exhausting its space.
pub const MAX_USERS: usize = 100_000;

#[derive(Clone, Debug)]
pub struct K8sConfig {
    /// Lines to write (a request may take two lines: RequestReceived + final stage).
    pub events: usize,
    /// Distinct principals (humans, service accounts, nodes, controllers,
    /// anonymous), clamped to `1..=MAX_USERS`.
    pub users: usize,
    pub seed: u64,
    /// Probability that an event carries planted secrets beyond identity data.
    pub pii_rate: f64,
    /// First requestReceivedTimestamp (unix seconds).
    pub start_unix: i64,
    /// Mean requests per second; arrivals are bursty around it.
    pub rate_per_sec: f64,
    /// Width of the truth count windows (seconds).
    pub window_secs: i64,
}

impl Default for K8sConfig {
    fn default() -> Self {
        K8sConfig {
            events: 10_000,
            users: 40,
            seed: 1,
            pii_rate: 0.05,
            start_unix: 1_717_401_600, // 2024-06-03T08:00:00Z
            rate_per_sec: 40.0,
            window_secs: 60,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Human,
    ServiceAccount,
    Node,
    Controller,
    Anonymous,
}

struct Principal {
    role: Role,
    username: String,
    uid: Option<String>,
    groups: Vec<String>,
    /// `user.extra`, keys sorted as Go writes maps.
    extra: Vec<(String, String)>,
    /// Whether `username` is personal data (humans only).
    personal: bool,
    ip: String,
    /// Planted kind of `ip` when it is a client address.
    ip_kind: Option<&'static str>,
    proxy_ip: Option<String>,
    agent: String,
    namespace: String,
    weight: f64,
}

const NAMESPACES: &[&str] =
    &["payments", "checkout", "web", "data", "ml-training", "team-a", "team-b", "default"];
const SYSTEM_NS: &[&str] =
    &["kube-system", "monitoring", "ingress-nginx", "cert-manager", "argocd"];
const APPS: &[&str] = &[
    "api",
    "checkout",
    "payments-api",
    "cart",
    "frontend",
    "worker",
    "search",
    "auth",
    "billing",
    "orders",
    "gateway",
];
const CONTROLLERS: &[&str] = &[
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:apiserver",
    "system:serviceaccount:kube-system:replicaset-controller",
    "system:serviceaccount:kube-system:deployment-controller",
    "system:serviceaccount:kube-system:endpointslice-controller",
];
const SA_NAMES: &[&str] = &[
    "argocd-application-controller",
    "cert-manager",
    "prometheus",
    "ingress-nginx",
    "external-secrets",
    "fluent-bit",
    "metrics-server",
    "default",
    "builder",
];
const VERSIONS: &[&str] = &["v1.29.3", "v1.30.1", "v1.28.7"];
const HUMAN_AGENTS: &[&str] = &[
    "kubectl/v1.29.3 (darwin/arm64) kubernetes/6813625",
    "kubectl/v1.30.1 (linux/amd64) kubernetes/6911225",
    "kubectl/v1.28.7 (windows/amd64) kubernetes/c8dcb00",
    "k9s/v0.32.4 (linux/amd64) kubernetes/$Format",
    "Lens/2024.5.2",
    "Helm/3.14.4",
    "terraform-provider-kubernetes/2.30.0",
];

struct Target {
    resource: &'static str,
    group: &'static str,
    version: &'static str,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<&'static str>,
    query: String,
}

impl Target {
    fn new(
        resource: &'static str,
        group: &'static str,
        ns: Option<&str>,
        name: Option<&str>,
    ) -> Self {
        Target {
            resource,
            group,
            version: "v1",
            namespace: ns.map(str::to_string),
            name: name.map(str::to_string),
            sub: None,
            query: String::new(),
        }
    }

    fn sub(mut self, sub: &'static str) -> Self {
        self.sub = Some(sub);
        self
    }

    fn query(mut self, q: &str) -> Self {
        self.query = q.to_string();
        self
    }

    fn uri(&self) -> String {
        let mut u = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        if let Some(ns) = &self.namespace {
            u.push_str(&format!("/namespaces/{ns}"));
        }
        u.push('/');
        u.push_str(self.resource);
        if let Some(n) = &self.name {
            u.push('/');
            u.push_str(n);
        }
        if let Some(s) = self.sub {
            u.push('/');
            u.push_str(s);
        }
        if !self.query.is_empty() {
            u.push('?');
            u.push_str(&self.query);
        }
        u
    }

    fn object_ref(&self) -> String {
        let mut o = Obj::go()
            .str("resource", self.resource)
            .some_str("namespace", self.namespace.as_deref())
            .some_str("name", self.name.as_deref());
        if !self.group.is_empty() {
            o = o.str("apiGroup", self.group);
        }
        o.str("apiVersion", self.version).some_str("subresource", self.sub).end()
    }
}

/// What one request did, before it is rendered into one or two lines.
struct Request {
    verb: &'static str,
    /// objectRef; None for non-resource requests (`/healthz`).
    target: Option<Target>,
    /// requestURI when it is not the target's own URI (non-resource, service proxy).
    uri: Option<String>,
    /// Principal being impersonated (`impersonatedUser`).
    impersonate: Option<usize>,
    level: &'static str,
    code: i64,
    failure: Option<Failure>,
    request_object: Option<String>,
    response_object: Option<String>,
    extra_annotations: Vec<(String, String)>,
    watch: bool,
    /// Planted values in the URI, bodies or status message, with their paths.
    plants: Vec<(String, &'static str, String)>,
}

struct Failure {
    message: String,
    reason: &'static str,
    details: Option<String>,
    /// The message names the acting user (planted when personal).
    names_user: bool,
}

/// Values a request body or URI will carry, recorded once the line that
/// actually writes them is rendered (a failed request has no responseObject).
#[derive(Default)]
struct Pending(Vec<(String, &'static str, String)>);

impl Pending {
    fn at(&mut self, value: &str, kind: &'static str, path: &str) -> String {
        self.0.push((value.to_string(), kind, path.to_string()));
        value.to_string()
    }
}

struct Gen<'a> {
    cfg: &'a K8sConfig,
    rng: Rng,
    planter: Planter,
    pending: Pending,
    principals: Vec<Principal>,
    cumulative: Vec<f64>,
    now_us: i64,
    burst: bool,
}

/// Quotes a key for a field selector when it is not a plain identifier.
fn sel(key: &str) -> String {
    if key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        key.to_string()
    } else {
        format!("\"{key}\"")
    }
}

/// A ConfigMap/Secret entry: key, value, and the secrets inside the value with their kinds.
type DataEntry = (String, String, Vec<(String, &'static str)>);

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

pub fn k8s_audit(cfg: &K8sConfig) -> Corpus {
    let mut rng = Rng::new(cfg.seed);
    let principals = population(&mut rng, cfg.users.clamp(1, MAX_USERS));
    let mut cumulative = Vec::with_capacity(principals.len());
    let mut acc = 0.0;
    for p in &principals {
        acc += p.weight;
        cumulative.push(acc);
    }
    let mut g = Gen {
        cfg,
        rng,
        planter: Planter::default(),
        pending: Pending::default(),
        principals,
        cumulative,
        now_us: cfg.start_unix.saturating_mul(1_000_000),
        burst: false,
    };
    let mut lines = Vec::with_capacity(cfg.events);
    let mut counts = Counts::new(cfg.window_secs);
    while lines.len() < cfg.events {
        g.advance_clock();
        let who = g.pick_principal();
        let pii = g.rng.chance(cfg.pii_rate);
        let req = g.request(who, pii);
        let audit_id = g.rng.uuid();
        let received = g.now_us;
        let latency = 300 + g.rng.exp(if req.watch { 2000.0 } else { 4000.0 }) as i64;
        let room = cfg.events - lines.len();
        // Some policies keep the RequestReceived stage: a second line, same auditID.
        // Authentication failures (401) are logged once, without it.
        if room >= 2 && !req.watch && req.code != 401 && g.rng.chance(0.08) {
            let line = g.render(who, &req, &audit_id, "RequestReceived", received, received);
            counts.add(received, req.verb, None, g.counted_user(who, &req));
            lines.push(line);
        }
        let stage = if req.watch { "ResponseStarted" } else { "ResponseComplete" };
        let line = g.render(who, &req, &audit_id, stage, received, received + latency);
        counts.add(received, req.verb, Some(req.code), g.counted_user(who, &req));
        lines.push(line);
    }
    Corpus { lines, truth: Truth { planted: g.planter.finish(), counts } }
}

fn population(rng: &mut Rng, n: usize) -> Vec<Principal> {
    let anonymous = usize::from(n >= 5);
    let controllers = (n / 10).min(CONTROLLERS.len());
    let nodes = (n * 15 / 100).min(2_000);
    let sas = n / 4;
    let humans = n - anonymous - controllers - nodes - sas;
    let mut used = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    for i in 0..humans {
        let email_like = i % 10 < 7;
        let username = loop {
            let u = if email_like { pii::corp_email(rng) } else { pii::plain_username(rng) };
            if used.insert(u.clone()) {
                break u;
            }
        };
        let v6 = rng.chance(0.3);
        let ip = if v6 { pii::client_ipv6(rng) } else { pii::client_ipv4(rng) };
        let team = rng.pick(&["sre", "dev", "data", "payments"]);
        let mut extra = Vec::new();
        let mut groups = vec![format!("oidc:{team}"), "system:authenticated".to_string()];
        if email_like && rng.chance(0.4) {
            // EKS IAM authenticator identities carry the AWS credential in user.extra.
            groups = vec!["system:authenticated".to_string()];
            extra.push(("accessKeyId".to_string(), pii::aws_access_key_id(rng)));
            extra.push((
                "arn".to_string(),
                format!(
                    "arn:aws:sts::{}:assumed-role/EKSDeveloper/{username}",
                    rng.range(100_000_000_000, 999_999_999_999)
                ),
            ));
            extra.push(("sessionName".to_string(), username.clone()));
        }
        out.push(Principal {
            role: Role::Human,
            personal: true,
            uid: None,
            groups,
            extra,
            ip_kind: Some(if v6 { "ipv6" } else { "ipv4" }),
            proxy_ip: rng
                .chance(0.3)
                .then(|| format!("10.0.{}.{}", rng.below(64), rng.range(2, 250))),
            ip,
            agent: rng.pick(HUMAN_AGENTS).to_string(),
            namespace: rng.pick(NAMESPACES).to_string(),
            weight: 3.0 / ((i + 1) as f64).sqrt(),
            username,
        });
    }
    for i in 0..sas {
        let ns = if i % 2 == 0 { *rng.pick(SYSTEM_NS) } else { *rng.pick(NAMESPACES) };
        let mut name = SA_NAMES[i % SA_NAMES.len()].to_string();
        if !used.insert(format!("system:serviceaccount:{ns}:{name}")) {
            name = format!("{name}-{i}"); // unique: i is
            used.insert(format!("system:serviceaccount:{ns}:{name}"));
        }
        let username = format!("system:serviceaccount:{ns}:{name}");
        let node = format!("ip-10-0-{}-{}.ec2.internal", rng.below(64), rng.range(2, 250));
        let pod = format!("{name}-{}-{}", rng.chars(LOWER_DIGITS, 9), rng.chars(LOWER_DIGITS, 5));
        let extra = vec![
            (
                "authentication.kubernetes.io/credential-id".to_string(),
                format!("JTI={}", rng.uuid()),
            ),
            ("authentication.kubernetes.io/node-name".to_string(), node),
            ("authentication.kubernetes.io/pod-name".to_string(), pod),
            ("authentication.kubernetes.io/pod-uid".to_string(), rng.uuid()),
        ];
        out.push(Principal {
            role: Role::ServiceAccount,
            personal: false,
            uid: Some(rng.uuid()),
            groups: vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".to_string(),
            ],
            extra,
            ip: format!("10.244.{}.{}", rng.below(256), rng.range(2, 250)),
            ip_kind: None,
            proxy_ip: None,
            agent: format!("{name}/v2.10.6 (linux/amd64) kubernetes/$Format"),
            namespace: ns.to_string(),
            weight: 4.0,
            username,
        });
    }
    let version = *rng.pick(VERSIONS);
    for _ in 0..nodes {
        let (a, b) = loop {
            let (a, b) = (rng.below(64), rng.range(2, 250));
            if used.insert(format!("node/{a}/{b}")) {
                break (a, b);
            }
        };
        out.push(Principal {
            role: Role::Node,
            personal: false,
            username: format!("system:node:ip-10-0-{a}-{b}.ec2.internal"),
            uid: None,
            groups: vec!["system:nodes".to_string(), "system:authenticated".to_string()],
            extra: Vec::new(),
            ip: format!("10.0.{a}.{b}"),
            ip_kind: None,
            proxy_ip: None,
            agent: format!("kubelet/{version} (linux/amd64) kubernetes/6813625"),
            namespace: "kube-node-lease".to_string(),
            weight: 6.0,
        });
    }
    for name in CONTROLLERS.iter().take(controllers) {
        // Controllers inside kube-controller-manager use their own service accounts.
        let (groups, agent) = match name.strip_prefix("system:serviceaccount:kube-system:") {
            Some(_) => (
                vec![
                    "system:serviceaccounts",
                    "system:serviceaccounts:kube-system",
                    "system:authenticated",
                ],
                format!(
                    "kube-controller-manager/{version} (linux/amd64) kubernetes/6813625/{name}"
                ),
            ),
            None => {
                let component = name.trim_start_matches("system:");
                (
                    vec!["system:authenticated"],
                    format!("{component}/{version} (linux/amd64) kubernetes/6813625"),
                )
            }
        };
        out.push(Principal {
            role: Role::Controller,
            personal: false,
            username: name.to_string(),
            uid: None,
            groups: groups.into_iter().map(String::from).collect(),
            extra: Vec::new(),
            ip: if rng.chance(0.5) {
                "::1".to_string()
            } else {
                format!("172.31.{}.{}", rng.below(64), rng.range(2, 250))
            },
            ip_kind: None,
            proxy_ip: None,
            agent,
            namespace: "kube-system".to_string(),
            weight: 10.0,
        });
    }
    if anonymous == 1 {
        out.push(Principal {
            role: Role::Anonymous,
            personal: false,
            username: "system:anonymous".to_string(),
            uid: None,
            groups: vec!["system:unauthenticated".to_string()],
            extra: Vec::new(),
            ip: pii::client_ipv4(rng),
            ip_kind: Some("ipv4"),
            proxy_ip: None,
            agent: "Mozilla/5.0 zgrab/0.x".to_string(),
            namespace: "default".to_string(),
            weight: 1.0,
        });
    }
    out
}

impl Gen<'_> {
    /// Bursty arrivals: a two-state process alternating between the base rate and 6x.
    fn advance_clock(&mut self) {
        if self.rng.chance(if self.burst { 0.01 } else { 0.002 }) {
            self.burst = !self.burst;
        }
        let rate = self.cfg.rate_per_sec.max(1e-6) * if self.burst { 6.0 } else { 1.0 };
        self.now_us += self.rng.exp(1e6 / rate) as i64;
    }

    fn pick_principal(&mut self) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = self.rng.unit() * total;
        self.cumulative.partition_point(|&c| c <= x).min(self.principals.len() - 1)
    }

    /// The user an event is counted under: `user.username`, or "" for 401s (empty user).
    fn counted_user<'p>(&'p self, who: usize, req: &Request) -> &'p str {
        if req.code == 401 {
            ""
        } else {
            &self.principals[who].username
        }
    }

    fn app_name(&mut self) -> String {
        let app = *self.rng.pick(APPS);
        format!("{app}-{}-{}", self.rng.chars(LOWER_DIGITS, 9), self.rng.chars(LOWER_DIGITS, 5))
    }

    fn request(&mut self, who: usize, pii: bool) -> Request {
        let role = self.principals[who].role;
        // Nodes and controllers act cluster-wide; people mostly in their team's namespace.
        let ns = match role {
            Role::Node | Role::Controller => self.rng.pick(NAMESPACES).to_string(),
            _ if self.rng.chance(0.3) => self.rng.pick(NAMESPACES).to_string(),
            _ => self.principals[who].namespace.clone(),
        };
        let act = match (role, pii) {
            (Role::Human, true) => *self.rng.weighted(&[
                ("cm", 4),
                ("secret", 4),
                ("get-secret", 2),
                ("deploy", 3),
                ("exec", 2),
                ("proxy", 3),
                ("customer", 3),
                ("token", 1),
                ("webhook", 2),
            ]),
            (Role::Human, false) => *self.rng.weighted(&[
                ("get-pod", 10),
                ("list-pods", 15),
                ("logs", 8),
                ("exec", 5),
                ("get-secret", 5),
                ("cm", 5),
                ("secret", 3),
                ("deploy", 4),
                ("delete-pod", 4),
                ("list-ns", 6),
                ("proxy", 2),
                ("nonresource", 2),
            ]),
            (Role::ServiceAccount, true) => *self.rng.weighted(&[
                ("get-secret", 4),
                ("secret", 2),
                ("cm", 2),
                ("tokenreview", 2),
                ("event", 1),
            ]),
            (Role::ServiceAccount, false) => *self.rng.weighted(&[
                ("get-cm", 15),
                ("get-secret", 15),
                ("list-pods", 15),
                ("watch-pods", 10),
                ("lease", 15),
                ("event", 10),
            ]),
            (Role::Node, true) => {
                *self.rng.weighted(&[("get-secret", 2), ("token", 2), ("event", 1)])
            }
            (Role::Node, false) => *self.rng.weighted(&[
                ("node-status", 30),
                ("node-lease", 40),
                ("watch-pods", 5),
                ("get-secret", 5),
                ("get-cm", 5),
                ("event", 10),
            ]),
            (Role::Controller, true) => *self.rng.weighted(&[("tokenreview", 1), ("event", 1)]),
            (Role::Controller, false) => *self.rng.weighted(&[
                ("lease", 50),
                ("list-pods", 10),
                ("patch-deploy", 10),
                ("create-pod", 5),
                ("delete-pod", 5),
                ("event", 10),
                ("watch-pods", 10),
            ]),
            (Role::Anonymous, true) => "proxy",
            (Role::Anonymous, false) => {
                *self.rng.weighted(&[("nonresource", 8), ("list-pods", 1), ("get-secret", 1)])
            }
        };
        let mut r = match act {
            "cm" => self.configmap(&ns, pii),
            "secret" => self.create_secret(&ns, pii),
            "get-secret" => self.get_secret(&ns, pii),
            "deploy" => self.deployment(&ns, pii),
            "exec" => self.exec(&ns, pii),
            "proxy" => self.service_proxy(&ns, pii, role == Role::Anonymous),
            "customer" => self.customer(&ns),
            "token" => self.token_request(who),
            "tokenreview" => self.token_review(),
            "webhook" => self.webhook_denial(&ns),
            "event" => self.event(&ns, pii),
            "get-pod" | "logs" | "delete-pod" | "create-pod" => {
                let pod = self.app_name();
                let (verb, sub) = match act {
                    "get-pod" => ("get", None),
                    "logs" => ("get", Some("log")),
                    "delete-pod" => ("delete", None),
                    _ => ("create", None),
                };
                let name = (verb != "create").then_some(pod.as_str());
                let mut t = Target::new("pods", "", Some(&ns), name);
                if let Some(s) = sub {
                    t = t.sub(s).query("container=app&follow=true&tailLines=100");
                }
                simple(verb, t)
            }
            "list-pods" => {
                simple("list", Target::new("pods", "", Some(&ns), None).query("limit=500"))
            }
            "watch-pods" => {
                let q = format!(
                    "allowWatchBookmarks=true&resourceVersion={}&timeout=7m{}s&timeoutSeconds={}&watch=true",
                    self.rng.range(10_000_000, 99_999_999),
                    self.rng.below(60),
                    self.rng.range(300, 600)
                );
                let mut r = simple("watch", Target::new("pods", "", Some(&ns), None).query(&q));
                r.watch = true;
                r
            }
            "get-cm" => {
                let name = format!("{}-config", self.rng.pick(APPS));
                simple("get", Target::new("configmaps", "", Some(&ns), Some(&name)))
            }
            "list-ns" => {
                simple("list", Target::new("namespaces", "", None, None).query("limit=500"))
            }
            "lease" | "node-lease" => {
                let name = if act == "node-lease" {
                    self.principals[who].username.trim_start_matches("system:node:").to_string()
                } else {
                    self.rng
                        .pick(&[
                            "kube-controller-manager",
                            "kube-scheduler",
                            "cert-manager-controller",
                            "cluster-autoscaler",
                        ])
                        .to_string()
                };
                let lease_ns = if act == "node-lease" { "kube-node-lease" } else { "kube-system" };
                let verb = if self.rng.chance(0.5) { "update" } else { "get" };
                simple(
                    verb,
                    Target::new("leases", "coordination.k8s.io", Some(lease_ns), Some(&name))
                        .query("timeout=10s"),
                )
            }
            "node-status" => {
                let name =
                    self.principals[who].username.trim_start_matches("system:node:").to_string();
                simple("patch", Target::new("nodes", "", None, Some(&name)).sub("status"))
            }
            "patch-deploy" => {
                let name = *self.rng.pick(APPS);
                simple(
                    "patch",
                    Target::new("deployments", "apps", Some(&ns), Some(name)).sub("status"),
                )
            }
            _ => {
                let path = *self.rng.pick(&[
                    "/",
                    "/.env",
                    "/version",
                    "/healthz",
                    "/api",
                    "/metrics",
                    "/.git/config",
                ]);
                Request {
                    target: None,
                    uri: Some(path.to_string()),
                    ..simple("get", Target::new("", "", None, None))
                }
            }
        };
        // Admins sometimes act as another principal (`kubectl --as`).
        if role == Role::Human && self.principals.len() > 1 && self.rng.chance(0.04) {
            let other =
                (who + 1 + self.rng.index(self.principals.len() - 1)) % self.principals.len();
            r.impersonate = Some(other);
        }
        self.outcome(who, &mut r);
        if r.code == 401 {
            r.impersonate = None;
        }
        r.plants = std::mem::take(&mut self.pending.0);
        r
    }

    /// Sets the status: mostly success, sometimes the failures real clusters show.
    fn outcome(&mut self, who: usize, r: &mut Request) {
        if r.failure.is_some() {
            return;
        }
        let role = self.principals[who].role;
        let ok = match (r.verb, r.target.as_ref().and_then(|t| t.sub)) {
            ("create", Some("exec")) => 101,
            ("create", _) => 201,
            _ => 200,
        };
        let x = self.rng.unit();
        let (code, reason) = match role {
            Role::Anonymous => match (&r.target, r.uri.as_deref()) {
                (None, Some("/version" | "/healthz")) => (200, ""),
                _ => (403, "Forbidden"),
            },
            Role::Human if x < 0.01 => (401, "Unauthorized"),
            Role::Human if x < 0.05 => (403, "Forbidden"),
            Role::Human if x < 0.08 && r.name().is_some() && r.verb != "create" => {
                (404, "NotFound")
            }
            Role::Human if x < 0.10 && (r.verb == "update" || r.verb == "patch") => {
                (409, "Conflict")
            }
            Role::Human if x < 0.105 => (500, "InternalError"),
            _ if x < 0.01 && r.verb == "update" => (409, "Conflict"),
            _ if x < 0.002 => (504, "Timeout"),
            _ => (ok, ""),
        };
        r.code = code;
        if reason.is_empty() {
            return;
        }
        let user = self.principals[r.impersonate.unwrap_or(who)].username.clone();
        let (resource, name, ns, group) = match &r.target {
            Some(t) => {
                (t.resource, t.name.clone().unwrap_or_default(), t.namespace.clone(), t.group)
            }
            None => ("", String::new(), None, ""),
        };
        let scope = match &ns {
            Some(ns) => format!("in the namespace \"{ns}\""),
            None => "at the cluster scope".to_string(),
        };
        let (message, details, names_user) = match code {
            401 => ("Unauthorized".to_string(), None, false),
            403 if r.target.is_none() => (
                format!("forbidden: User \"{user}\" cannot get path \"{}\"", r.uri.as_deref().unwrap_or("/")),
                None,
                true,
            ),
            403 => {
                let what = if name.is_empty() { resource.to_string() } else { format!("{resource} \"{name}\"") };
                (
                    format!("{what} is forbidden: User \"{user}\" cannot {} resource \"{resource}\" in API group \"{group}\" {scope}", r.verb),
                    Some(Obj::go().some_str("name", (!name.is_empty()).then_some(name.as_str())).str("kind", resource).end()),
                    true,
                )
            }
            404 => (
                format!("{resource} \"{name}\" not found"),
                Some(Obj::go().str("name", &name).str("kind", resource).end()),
                false,
            ),
            409 => (
                format!("Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"),
                Some(Obj::go().str("name", &name).str("kind", resource).end()),
                false,
            ),
            504 => ("Timeout: request did not complete within requested timeout - context deadline exceeded".to_string(), None, false),
            _ => ("Internal error occurred: etcdserver: request timed out".to_string(), None, false),
        };
        r.failure = Some(Failure { message, reason, details, names_user });
        if code >= 400 {
            r.response_object = None;
        }
    }

    /// Renders one stage of a request as an audit Event line.
    fn render(
        &mut self,
        who: usize,
        r: &Request,
        audit_id: &str,
        stage: &str,
        received: i64,
        stage_ts: i64,
    ) -> String {
        let received_stage = stage == "RequestReceived";
        let p = &self.principals[who];
        let personal = p.personal;
        let username = p.username.clone();
        let user = if r.code == 401 {
            "{}".to_string()
        } else {
            let mut u = Obj::go()
                .str("username", &p.username)
                .some_str("uid", p.uid.as_deref())
                .strs("groups", &p.groups);
            if !p.extra.is_empty() {
                let mut e = Obj::go();
                for (k, v) in &p.extra {
                    e = e.strs(k, &[v]);
                }
                u = u.raw("extra", &e.end());
            }
            u.end()
        };
        let mut ips = vec![p.ip.clone()];
        ips.extend(p.proxy_ip.clone());
        let (ip_kind, agent, extra) = (p.ip_kind, p.agent.clone(), p.extra.clone());
        let shown_user = r.code != 401;
        if shown_user && personal {
            self.planter.at(&username, "username", "user.username");
        }
        if shown_user {
            for (k, v) in &extra {
                let path = format!("user.extra.{}[*]", sel(k));
                match k.as_str() {
                    "accessKeyId" => self.planter.at(v, "aws_access_key_id", &path),
                    "authentication.kubernetes.io/credential-id" => {
                        self.planter.at(v, "credential_id", &path)
                    }
                    "arn" | "sessionName" => self.planter.at(&username, "username", &path),
                    _ => String::new(),
                };
            }
        }
        if let Some(kind) = ip_kind {
            self.planter.at(&ips[0], kind, "sourceIPs[*]");
        }
        let mut ev = Obj::go()
            .str("kind", "Event")
            .str("apiVersion", "audit.k8s.io/v1")
            .str("level", r.level)
            .str("auditID", audit_id)
            .str("stage", stage)
            .str("requestURI", &r.uri())
            .str("verb", r.verb)
            .raw("user", &user);
        let mut acting = username.clone();
        let mut acting_personal = personal;
        if let Some(other) = r.impersonate {
            let o = &self.principals[other];
            acting = o.username.clone();
            acting_personal = o.personal;
            let groups = o.groups.clone();
            ev = ev.raw(
                "impersonatedUser",
                &Obj::go().str("username", &acting).strs("groups", &groups).end(),
            );
            if acting_personal {
                self.planter.at(&acting, "username", "impersonatedUser.username");
            }
        }
        ev = ev.strs("sourceIPs", &ips).str("userAgent", &agent);
        if let Some(t) = &r.target {
            ev = ev.raw("objectRef", &t.object_ref());
        }
        if !received_stage {
            let mut st = Obj::go().raw("metadata", "{}");
            if let Some(f) = &r.failure {
                if f.names_user && acting_personal {
                    self.planter.at(&acting, "username", "responseStatus.message");
                }
                st = st.str("status", "Failure").str("message", &f.message).str("reason", f.reason);
                if let Some(d) = &f.details {
                    st = st.raw("details", d);
                }
            }
            ev = ev.raw("responseStatus", &st.num("code", r.code).end());
            if let Some(o) = &r.request_object {
                ev = ev.raw("requestObject", o);
            }
            if let Some(o) = &r.response_object {
                ev = ev.raw("responseObject", o);
            }
        }
        for (value, kind, path) in &r.plants {
            let written = match path.split('.').next().unwrap_or("") {
                "requestURI" => true,
                "requestObject" => !received_stage && r.request_object.is_some(),
                "responseObject" => !received_stage && r.response_object.is_some(),
                _ => !received_stage && r.failure.is_some(),
            };
            if written {
                self.planter.at(value, kind, path);
            }
        }
        ev = ev
            .str("requestReceivedTimestamp", &rfc3339_micros(received))
            .str("stageTimestamp", &rfc3339_micros(stage_ts));
        if received_stage {
            return ev.end();
        }
        let mut ann: Vec<(String, String)> = r.extra_annotations.clone();
        if r.code != 401 {
            let forbid = r.code == 403;
            ann.push((
                "authorization.k8s.io/decision".into(),
                if forbid { "forbid" } else { "allow" }.into(),
            ));
            let reason = if forbid {
                String::new()
            } else {
                self.rbac_reason(who, &acting, acting_personal)
            };
            ann.push(("authorization.k8s.io/reason".into(), reason));
        }
        if stage_ts - received > 1_000_000 {
            ann.push((
                "apiserver.latency.k8s.io/total".into(),
                format!("{:.6}s", (stage_ts - received) as f64 / 1e6),
            ));
        }
        if ann.is_empty() {
            return ev.end(); // Go's `omitempty` drops an empty annotations map.
        }
        ann.sort();
        let mut a = Obj::go();
        for (k, v) in &ann {
            a = a.str(k, v);
        }
        ev.raw("annotations", &a.end()).end()
    }

    fn rbac_reason(&mut self, who: usize, acting: &str, acting_personal: bool) -> String {
        let p = &self.principals[who];
        match p.role {
            Role::Node => String::new(),
            Role::Human if acting_personal && self.rng.chance(0.5) => {
                let ns = p.namespace.clone();
                self.planter.at(acting, "username", "annotations.\"authorization.k8s.io/reason\"");
                format!("RBAC: allowed by RoleBinding \"dev-edit/{ns}\" of ClusterRole \"edit\" to User \"{acting}\"")
            }
            Role::Human => {
                let group = p.groups.first().cloned().unwrap_or_default();
                format!("RBAC: allowed by ClusterRoleBinding \"oidc-admins\" of ClusterRole \"cluster-admin\" to Group \"{group}\"")
            }
            Role::ServiceAccount => {
                let mut parts = p.username.rsplit(':');
                let (name, ns) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                format!("RBAC: allowed by ClusterRoleBinding \"{name}\" of ClusterRole \"{name}\" to ServiceAccount \"{name}/{ns}\"")
            }
            Role::Controller if p.username.starts_with("system:serviceaccount:") => {
                let name = p.username.rsplit(':').next().unwrap_or("");
                format!("RBAC: allowed by ClusterRoleBinding \"system:controller:{name}\" of ClusterRole \"system:controller:{name}\" to ServiceAccount \"{name}/kube-system\"")
            }
            Role::Controller | Role::Anonymous => {
                let u = &p.username;
                format!("RBAC: allowed by ClusterRoleBinding \"{u}\" of ClusterRole \"{u}\" to User \"{u}\"")
            }
        }
    }

    /// `metadata` of a stored object (response side).
    fn stored_meta(&mut self, name: &str, ns: &str, annotations: Option<&str>) -> String {
        let created = rfc3339_secs(self.now_us);
        let mut m = Obj::go().str("name", name).str("namespace", ns);
        if let Some(a) = annotations {
            m = m.raw("annotations", a);
        }
        m.str("uid", &self.rng.uuid())
            .str("resourceVersion", &self.rng.range(10_000_000, 99_999_999).to_string())
            .str("creationTimestamp", &created)
            .end()
    }

    /// ConfigMap created by `kubectl apply`: data plus the last-applied annotation.
    fn configmap(&mut self, ns: &str, pii: bool) -> Request {
        let name = format!("{}-config", self.rng.pick(APPS));
        let mut data: Vec<DataEntry> = Vec::new();
        if pii {
            let pw = pii::password(&mut self.rng);
            data.push((
                "application.properties".into(),
                format!("spring.datasource.url=jdbc:postgresql://10.96.{}.{}:5432/orders\nspring.datasource.username=orders_app\nspring.datasource.password={pw}\n", self.rng.below(256), self.rng.range(2, 250)),
                vec![(pw, "password")],
            ));
            if self.rng.chance(0.6) {
                let (id, key) =
                    (pii::aws_access_key_id(&mut self.rng), pii::aws_secret_key(&mut self.rng));
                data.push((
                    "aws.credentials".into(),
                    format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {key}\n"),
                    vec![(id, "aws_access_key_id"), (key, "aws_secret_key")],
                ));
            }
            if self.rng.chance(0.5) {
                let pw = pii::url_secret(&mut self.rng, 20);
                data.push((
                    "DATABASE_URL".into(),
                    format!("postgres://app:{pw}@db.{ns}.svc:5432/app?sslmode=require"),
                    vec![(pw, "password")],
                ));
            }
        } else {
            data.push(("LOG_LEVEL".into(), "info".into(), vec![]));
            data.push(("FEATURE_FLAGS".into(), "checkout-v2,fast-search".into(), vec![]));
        }
        data.sort_by(|a, b| a.0.cmp(&b.0));
        let mut data_json = Obj::go();
        let mut inner_data = Obj::go();
        for (k, v, _) in &data {
            data_json = data_json.str(k, v);
            inner_data = inner_data.str(k, v);
        }
        let (data_json, inner_data) = (data_json.end(), inner_data.end());
        let inner = format!(
            "{{\"apiVersion\":\"v1\",\"data\":{inner_data},\"kind\":\"ConfigMap\",\"metadata\":{{\"annotations\":{{}},\"name\":{},\"namespace\":{}}}}}\n",
            quote(&name, Style::Go),
            quote(ns, Style::Go)
        );
        let annotations = Obj::go().str(LAST_APPLIED, &inner).end();
        let request = Obj::go()
            .str("kind", "ConfigMap")
            .str("apiVersion", "v1")
            .raw(
                "metadata",
                &Obj::go()
                    .str("name", &name)
                    .str("namespace", ns)
                    .raw("creationTimestamp", "null")
                    .raw("annotations", &annotations)
                    .end(),
            )
            .raw("data", &data_json)
            .end();
        let meta = self.stored_meta(&name, ns, Some(&annotations));
        let response = Obj::go()
            .str("kind", "ConfigMap")
            .str("apiVersion", "v1")
            .raw("metadata", &meta)
            .raw("data", &data_json)
            .end();
        for side in ["requestObject", "responseObject"] {
            for (k, _, secrets) in &data {
                for (v, kind) in secrets {
                    self.pending.at(v, kind, &format!("{side}.data.{}", sel(k)));
                    self.pending.at(
                        v,
                        kind,
                        &format!("{side}.metadata.annotations.{}", sel(LAST_APPLIED)),
                    );
                }
            }
        }
        let create = self.rng.chance(0.7);
        let t = Target::new("configmaps", "", Some(ns), (!create).then_some(name.as_str()))
            .query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict");
        Request {
            level: "RequestResponse",
            request_object: Some(request),
            response_object: Some(response),
            ..simple(if create { "create" } else { "update" }, t)
        }
    }

    /// Secret from `kubectl apply` with stringData; the stored object answers with base64 data.
    fn create_secret(&mut self, ns: &str, pii: bool) -> Request {
        let name = format!("{}-credentials", self.rng.pick(APPS));
        let t = Target::new("secrets", "", Some(ns), None)
            .query("fieldManager=kubectl-client-side-apply&fieldValidation=Strict");
        if !pii {
            return simple("create", t);
        }
        let mut fields: Vec<DataEntry> = Vec::new();
        let user = pii::email(&mut self.rng);
        fields.push(("username".into(), user.clone(), vec![(user, "email")]));
        let pw = pii::password(&mut self.rng);
        fields.push(("password".into(), pw.clone(), vec![(pw, "password")]));
        let tok = pii::bearer_token(&mut self.rng);
        fields.push(("api-token".into(), tok.clone(), vec![(tok, "bearer")]));
        if self.rng.chance(0.4) {
            let (pem, lines) = pii::private_key_pem(&mut self.rng);
            fields.push((
                "tls.key".into(),
                pem,
                lines.into_iter().map(|l| (l, "private_key")).collect(),
            ));
        }
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        let mut plain = Obj::go();
        let mut encoded = Obj::go();
        let mut encoded_values = Vec::new();
        for (k, v, _) in &fields {
            plain = plain.str(k, v);
            let b = pii::base64(v.as_bytes(), false);
            encoded = encoded.str(k, &b);
            encoded_values.push((k.clone(), b));
        }
        let plain = plain.end();
        let inner = format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{{\"annotations\":{{}},\"name\":{},\"namespace\":{}}},\"stringData\":{plain},\"type\":\"Opaque\"}}\n",
            quote(&name, Style::Go),
            quote(ns, Style::Go)
        );
        let annotations = Obj::go().str(LAST_APPLIED, &inner).end();
        let request = Obj::go()
            .str("kind", "Secret")
            .str("apiVersion", "v1")
            .raw(
                "metadata",
                &Obj::go()
                    .str("name", &name)
                    .str("namespace", ns)
                    .raw("creationTimestamp", "null")
                    .raw("annotations", &annotations)
                    .end(),
            )
            .raw("stringData", &plain)
            .str("type", "Opaque")
            .end();
        let meta = self.stored_meta(&name, ns, Some(&annotations));
        let response = Obj::go()
            .str("kind", "Secret")
            .str("apiVersion", "v1")
            .raw("metadata", &meta)
            .raw("data", &encoded.end())
            .str("type", "Opaque")
            .end();
        for (k, _, secrets) in &fields {
            for (v, kind) in secrets {
                self.pending.at(v, kind, &format!("requestObject.stringData.{}", sel(k)));
                for side in ["requestObject", "responseObject"] {
                    self.pending.at(
                        v,
                        kind,
                        &format!("{side}.metadata.annotations.{}", sel(LAST_APPLIED)),
                    );
                }
            }
        }
        for (k, b) in &encoded_values {
            self.pending.at(b, "secret_b64", &format!("responseObject.data.{}", sel(k)));
        }
        Request {
            level: "RequestResponse",
            request_object: Some(request),
            response_object: Some(response),
            ..simple("create", t)
        }
    }

    fn get_secret(&mut self, ns: &str, pii: bool) -> Request {
        let name = format!(
            "{}-{}",
            self.rng.pick(APPS),
            self.rng.pick(&["db", "api-keys", "token", "tls"])
        );
        let t = Target::new("secrets", "", Some(ns), Some(&name)).query("timeout=10s");
        if !pii {
            return simple("get", t);
        }
        let mut data: Vec<(&str, String, &'static str)> =
            vec![("password", pii::password(&mut self.rng), "password")];
        if self.rng.chance(0.5) {
            data.push((
                "aws_access_key_id",
                pii::aws_access_key_id(&mut self.rng),
                "aws_access_key_id",
            ));
            data.push((
                "aws_secret_access_key",
                pii::aws_secret_key(&mut self.rng),
                "aws_secret_key",
            ));
        } else {
            let sub = format!("system:serviceaccount:{ns}:{name}");
            data.push((
                "token",
                pii::jwt(
                    &mut self.rng,
                    "https://kubernetes.default.svc.cluster.local",
                    &sub,
                    self.now_us / 1_000_000,
                ),
                "jwt",
            ));
        }
        data.sort_by(|a, b| a.0.cmp(b.0));
        let mut enc = Obj::go();
        for (k, v, _) in &data {
            let b = pii::base64(v.as_bytes(), false);
            self.pending.at(&b, "secret_b64", &format!("responseObject.data.{}", sel(k)));
            enc = enc.str(k, &b);
        }
        let meta = self.stored_meta(&name, ns, None);
        let response = Obj::go()
            .str("kind", "Secret")
            .str("apiVersion", "v1")
            .raw("metadata", &meta)
            .raw("data", &enc.end())
            .str("type", "Opaque")
            .end();
        Request { level: "RequestResponse", response_object: Some(response), ..simple("get", t) }
    }

    /// Deployment created with secrets in env vars and container args.
    fn deployment(&mut self, ns: &str, pii: bool) -> Request {
        let app = *self.rng.pick(APPS);
        let t = Target::new("deployments", "apps", Some(ns), None)
            .query("fieldManager=kubectl-create&fieldValidation=Strict");
        if !pii {
            return simple("create", t);
        }
        let base = "requestObject.spec.template.spec.containers[*]";
        let id = self.pending.at(
            &pii::aws_access_key_id(&mut self.rng),
            "aws_access_key_id",
            &format!("{base}.env[*].value"),
        );
        let key = self.pending.at(
            &pii::aws_secret_key(&mut self.rng),
            "aws_secret_key",
            &format!("{base}.env[*].value"),
        );
        let pw = self.pending.at(
            &pii::url_secret(&mut self.rng, 20),
            "password",
            &format!("{base}.env[*].value"),
        );
        let tok = self.pending.at(
            &pii::bearer_token(&mut self.rng),
            "bearer",
            &format!("{base}.args[*]"),
        );
        let sub = format!("system:serviceaccount:{ns}:{app}");
        let jwt = pii::jwt(
            &mut self.rng,
            "https://kubernetes.default.svc.cluster.local",
            &sub,
            self.now_us / 1_000_000,
        );
        let jwt = self.pending.at(&jwt, "jwt", &format!("{base}.command[*]"));
        let env = |n: &str, v: &str| Obj::go().str("name", n).str("value", v).end();
        let main = Obj::go()
            .str("name", app)
            .str(
                "image",
                &format!(
                    "registry.acme.example/{ns}/{app}:2.{}.{}",
                    self.rng.below(30),
                    self.rng.below(10)
                ),
            )
            .strs("args", &["--port=8080".to_string(), format!("--upstream-token={tok}")])
            .raw(
                "env",
                &array(&[
                    env("AWS_ACCESS_KEY_ID", &id),
                    env("AWS_SECRET_ACCESS_KEY", &key),
                    env(
                        "DATABASE_URL",
                        &format!(
                            "postgres://{app}:{pw}@10.99.{}.{}:5432/{app}",
                            self.rng.below(256),
                            self.rng.range(2, 250)
                        ),
                    ),
                    env("LOG_LEVEL", "debug"),
                ]),
            )
            .end();
        let warm = Obj::go()
            .str("name", "warmup")
            .str("image", "curlimages/curl:8.7.1")
            .strs(
                "command",
                &[
                    "sh".to_string(),
                    "-c".to_string(),
                    format!(
                        "curl -sf -H 'Authorization: Bearer {jwt}' http://{app}.{ns}.svc:8080/warm"
                    ),
                ],
            )
            .end();
        let labels = Obj::go().str("app", app).end();
        let body = Obj::go()
            .str("kind", "Deployment")
            .str("apiVersion", "apps/v1")
            .raw(
                "metadata",
                &Obj::go()
                    .str("name", app)
                    .str("namespace", ns)
                    .raw("creationTimestamp", "null")
                    .raw("labels", &labels)
                    .end(),
            )
            .raw(
                "spec",
                &Obj::go()
                    .num("replicas", 2)
                    .raw("selector", &Obj::go().raw("matchLabels", &labels).end())
                    .raw(
                        "template",
                        &Obj::go()
                            .raw(
                                "metadata",
                                &Obj::go()
                                    .raw("creationTimestamp", "null")
                                    .raw("labels", &labels)
                                    .end(),
                            )
                            .raw(
                                "spec",
                                &Obj::go()
                                    .raw("containers", &array(&[main, warm]))
                                    .str("serviceAccountName", app)
                                    .end(),
                            )
                            .end(),
                    )
                    .end(),
            )
            .end();
        Request { level: "Request", request_object: Some(body), ..simple("create", t) }
    }

    fn exec(&mut self, ns: &str, pii: bool) -> Request {
        let pod = self.app_name();
        let q = if pii {
            let pw = self.pending.at(&pii::url_secret(&mut self.rng, 18), "password", "requestURI");
            format!("command=mysql&command=-uroot&command=-p{pw}&command=orders&container=db&stdin=true&stdout=true&tty=true")
        } else {
            "command=%2Fbin%2Fsh&container=app&stdin=true&stdout=true&tty=true".to_string()
        };
        Request {
            level: "Request",
            ..simple("create", Target::new("pods", "", Some(ns), Some(&pod)).sub("exec").query(&q))
        }
    }

    /// Service proxy calls carry the proxied URL's query string into requestURI.
    fn service_proxy(&mut self, ns: &str, pii: bool, anonymous: bool) -> Request {
        let svc = *self.rng.pick(APPS);
        let q = if pii {
            match self.rng.below(4) {
                0 => {
                    let t = self.pending.at(
                        &pii::url_secret(&mut self.rng, 32),
                        "secret_param",
                        "requestURI",
                    );
                    format!("oauth/callback?code={t}&state={}", self.rng.chars(HEX, 16))
                }
                1 => format!(
                    "api/v1/me?access_token={}",
                    self.pending.at(
                        &pii::url_secret(&mut self.rng, 40),
                        "secret_param",
                        "requestURI"
                    )
                ),
                2 => {
                    let e = self.pending.at(&pii::email(&mut self.rng), "email", "requestURI");
                    let t = self.pending.at(
                        &pii::url_secret(&mut self.rng, 24),
                        "secret_param",
                        "requestURI",
                    );
                    format!("unsubscribe?email={e}&token={t}")
                }
                _ => {
                    let u = self.pending.at(
                        &pii::plain_username(&mut self.rng),
                        "username",
                        "requestURI",
                    );
                    let p = self.pending.at(
                        &pii::url_secret(&mut self.rng, 16),
                        "password",
                        "requestURI",
                    );
                    format!("login?user={u}&password={p}")
                }
            }
        } else {
            "metrics".to_string()
        };
        let verb = if anonymous { "get" } else { *self.rng.pick(&["get", "create"]) };
        let t =
            Target::new("services", "", Some(ns), Some(&format!("http:{svc}:8080"))).sub("proxy");
        let uri = format!("{}/{q}", t.uri());
        Request { uri: Some(uri), ..simple(verb, t) }
    }

    /// A custom resource holding customer data, the way CRM operators store it.
    fn customer(&mut self, ns: &str) -> Request {
        let id = format!("cust-{}", self.rng.range(100_000, 999_999));
        let p = "requestObject.spec";
        let name = self.pending.at(
            &pii::full_name(&mut self.rng),
            "person_name",
            &format!("{p}.customer.fullName"),
        );
        let email =
            self.pending.at(&pii::email(&mut self.rng), "email", &format!("{p}.customer.email"));
        let phone =
            self.pending.at(&pii::phone(&mut self.rng), "phone", &format!("{p}.customer.phone"));
        let card = self.pending.at(
            &pii::credit_card(&mut self.rng),
            "credit_card",
            &format!("{p}.payment.cardNumber"),
        );
        let holder = self.pending.at(
            &name.to_uppercase(),
            "person_name",
            &format!("{p}.payment.cardholder"),
        );
        let ip = self.pending.at(&pii::client_ipv6(&mut self.rng), "ipv6", &format!("{p}.notes"));
        let card2 =
            self.pending.at(&pii::credit_card(&mut self.rng), "credit_card", &format!("{p}.notes"));
        let email2 = self.pending.at(&pii::email(&mut self.rng), "email", &format!("{p}.notes"));
        let notes = format!("Customer called support from {ip}; asked to move the subscription to card {card2}. Copy receipts to {email2}. Handled by José (billing).");
        let body = Obj::go()
            .str("apiVersion", "crm.acme.example/v1")
            .str("kind", "CustomerProfile")
            .raw("metadata", &Obj::go().str("name", &id).str("namespace", ns).end())
            .raw(
                "spec",
                &Obj::go()
                    .raw(
                        "customer",
                        &Obj::go()
                            .str("id", &id)
                            .str("fullName", &name)
                            .str("email", &email)
                            .str("phone", &phone)
                            .end(),
                    )
                    .raw(
                        "payment",
                        &Obj::go()
                            .str("cardNumber", &card)
                            .str(
                                "expiry",
                                &format!("{:02}/{}", self.rng.range(1, 12), self.rng.range(25, 31)),
                            )
                            .str("cardholder", &holder)
                            .end(),
                    )
                    .str("notes", &notes)
                    .end(),
            )
            .end();
        Request {
            level: "Request",
            request_object: Some(body),
            ..simple("create", Target::new("customerprofiles", "crm.acme.example", Some(ns), None))
        }
    }

    /// `serviceaccounts/token` (kubelet or `kubectl create token`): the response holds a JWT.
    fn token_request(&mut self, who: usize) -> Request {
        let ns = self.principals[who].namespace.clone();
        let sa = *self.rng.pick(SA_NAMES);
        let now = self.now_us / 1_000_000;
        let jwt = pii::jwt(
            &mut self.rng,
            "https://kubernetes.default.svc.cluster.local",
            &format!("system:serviceaccount:{ns}:{sa}"),
            now,
        );
        self.pending.at(&jwt, "jwt", "responseObject.status.token");
        let spec = Obj::go()
            .strs("audiences", &["https://kubernetes.default.svc.cluster.local"])
            .num("expirationSeconds", 3607)
            .raw("boundObjectRef", "null")
            .end();
        let response = Obj::go()
            .str("kind", "TokenRequest")
            .str("apiVersion", "authentication.k8s.io/v1")
            .raw(
                "metadata",
                &Obj::go()
                    .str("name", sa)
                    .str("namespace", &ns)
                    .str("creationTimestamp", &rfc3339_secs(self.now_us))
                    .end(),
            )
            .raw("spec", &spec)
            .raw(
                "status",
                &Obj::go()
                    .str("token", &jwt)
                    .str("expirationTimestamp", &rfc3339_secs(self.now_us + 3_607_000_000))
                    .end(),
            )
            .end();
        let request = Obj::go()
            .str("kind", "TokenRequest")
            .str("apiVersion", "authentication.k8s.io/v1")
            .raw("metadata", &Obj::go().raw("creationTimestamp", "null").end())
            .raw("spec", &spec)
            .raw("status", &Obj::go().str("token", "").str("expirationTimestamp", "null").end())
            .end();
        Request {
            level: "RequestResponse",
            request_object: Some(request),
            response_object: Some(response),
            ..simple("create", Target::new("serviceaccounts", "", Some(&ns), Some(sa)).sub("token"))
        }
    }

    /// TokenReview by an authenticating proxy: the bearer token in the request,
    /// the resolved (human) user in the response.
    fn token_review(&mut self) -> Request {
        let (token, kind) = if self.rng.chance(0.5) {
            (pii::bearer_token(&mut self.rng), "bearer")
        } else {
            let now = self.now_us / 1_000_000;
            let jwt = pii::jwt(&mut self.rng, "https://oidc.acme.example", "auth0|7f3c2a91", now);
            (jwt, "jwt")
        };
        // The API server echoes the reviewed token back in the response.
        for side in ["requestObject", "responseObject"] {
            self.pending.at(&token, kind, &format!("{side}.spec.token"));
        }
        let user = self.pending.at(
            &pii::corp_email(&mut self.rng),
            "username",
            "responseObject.status.user.username",
        );
        let request = Obj::go()
            .str("kind", "TokenReview")
            .str("apiVersion", "authentication.k8s.io/v1")
            .raw("metadata", &Obj::go().raw("creationTimestamp", "null").end())
            .raw("spec", &Obj::go().str("token", &token).end())
            .raw("status", &Obj::go().raw("user", "{}").end())
            .end();
        let status = Obj::go()
            .bool("authenticated", true)
            .raw(
                "user",
                &Obj::go()
                    .str("username", &user)
                    .strs("groups", &["oidc:dev", "system:authenticated"])
                    .end(),
            )
            .strs("audiences", &["https://kubernetes.default.svc.cluster.local"])
            .end();
        let response = Obj::go()
            .str("kind", "TokenReview")
            .str("apiVersion", "authentication.k8s.io/v1")
            .raw("metadata", &Obj::go().raw("creationTimestamp", "null").end())
            .raw("spec", &Obj::go().str("token", &token).end())
            .raw("status", &status)
            .end();
        Request {
            level: "RequestResponse",
            request_object: Some(request),
            response_object: Some(response),
            ..simple("create", Target::new("tokenreviews", "authentication.k8s.io", None, None))
        }
    }

    /// An admission webhook that echoes the offending value in its denial (free text).
    fn webhook_denial(&mut self, ns: &str) -> Request {
        let app = *self.rng.pick(APPS);
        let pw =
            self.pending.at(&pii::password(&mut self.rng), "password", "responseStatus.message");
        let mut r = simple(
            "patch",
            Target::new("deployments", "apps", Some(ns), Some(app))
                .query("fieldManager=kubectl-edit&fieldValidation=Strict"),
        );
        r.code = 400;
        r.failure = Some(Failure {
            message: format!("admission webhook \"secrets-guard.acme.example\" denied the request: container \"{app}\" env DB_PASSWORD holds a literal credential ({pw}); use a secretKeyRef"),
            reason: "BadRequest",
            details: None,
            names_user: false,
        });
        r
    }

    /// Core Event objects written by kubelets and controllers; failures quote registry logins.
    fn event(&mut self, ns: &str, pii: bool) -> Request {
        let pod = self.app_name();
        let t = Target::new("events", "", Some(ns), None);
        let (reason, kind, message) = if pii {
            let email =
                self.pending.at(&pii::email(&mut self.rng), "email", "requestObject.message");
            (
                "Failed",
                "Warning",
                format!("Failed to pull image \"registry.acme.example/{ns}/app:2.3.1\": pulling from host registry.acme.example failed with status code 401 Unauthorized (basic auth as {email})"),
            )
        } else {
            ("Started", "Normal", "Started container app".to_string())
        };
        let body = Obj::go()
            .str("kind", "Event")
            .str("apiVersion", "v1")
            .raw(
                "metadata",
                &Obj::go()
                    .str("name", &format!("{pod}.{}", self.rng.chars(HEX, 16)))
                    .str("namespace", ns)
                    .raw("creationTimestamp", "null")
                    .end(),
            )
            .raw(
                "involvedObject",
                &Obj::go()
                    .str("kind", "Pod")
                    .str("namespace", ns)
                    .str("name", &pod)
                    .str("apiVersion", "v1")
                    .end(),
            )
            .str("reason", reason)
            .str("message", &message)
            .raw("source", &Obj::go().str("component", "kubelet").end())
            .str("type", kind)
            .end();
        Request {
            level: if pii { "Request" } else { "Metadata" },
            request_object: pii.then_some(body),
            ..simple("create", t)
        }
    }
}

fn simple(verb: &'static str, target: Target) -> Request {
    Request {
        verb,
        target: Some(target),
        uri: None,
        impersonate: None,
        level: "Metadata",
        code: 200,
        failure: None,
        request_object: None,
        response_object: None,
        extra_annotations: Vec::new(),
        watch: false,
        plants: Vec::new(),
    }
}

impl Request {
    fn uri(&self) -> String {
        match (&self.uri, &self.target) {
            (Some(u), _) => u.clone(),
            (None, Some(t)) => t.uri(),
            (None, None) => "/".to_string(),
        }
    }

    fn name(&self) -> Option<&str> {
        self.target.as_ref().and_then(|t| t.name.as_deref())
    }
}
