//! Envoy access-log generator: one JSON object per request with the fields of
//! Envoy's default format plus the headers edge proxies commonly log. As
//! Envoy's JSON formatter does, keys are sorted, numbers typed and absent
//! values `null` (`response_flags` uses `-`).
//!
//! Identities are always present: client IPs in `downstream_remote_address`
//! (`ip:port`, `[v6]:port`) and `x_forwarded_for` chains, and `x-user-id`
//! (emails, `usr_` ids, UUIDs). With probability `pii_rate` a request also
//! carries planted secrets: `authorization` (Bearer JWT / opaque, Basic),
//! session cookies, tokens, passwords, emails and card numbers in the query
//! string or referer, and contact emails in the user agent.

use crate::json::{quote, Style};
use crate::pii;
use crate::rng::{Rng, ALNUM, HEX};
use crate::time::rfc3339_millis;
use crate::truth::{Counts, Planter, Truth};
use crate::Corpus;

/// Upper bound on users: keeps unique-id generation far from exhausting its space.
pub const MAX_USERS: usize = 1_000_000;

#[derive(Clone, Debug)]
pub struct EnvoyConfig {
    pub events: usize,
    /// Distinct signed-in end users (anonymous traffic comes on top), at most `MAX_USERS`.
    pub users: usize,
    pub seed: u64,
    /// Probability that a request carries planted secrets beyond identity data.
    pub pii_rate: f64,
    pub start_unix: i64,
    pub rate_per_sec: f64,
    pub window_secs: i64,
}

impl Default for EnvoyConfig {
    fn default() -> Self {
        EnvoyConfig {
            events: 10_000,
            users: 100,
            seed: 1,
            pii_rate: 0.05,
            start_unix: 1_717_401_600, // 2024-06-03T08:00:00Z
            rate_per_sec: 60.0,
            window_secs: 60,
        }
    }
}

struct User {
    id: String,
    id_kind: &'static str,
    ip: String,
    v6: bool,
    agent: String,
}

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "AcmeShop/5.2.0 (Android 14; Pixel 8)",
    "okhttp/4.12.0",
];
const ANON_AGENTS: &[&str] = &[
    "curl/8.7.1",
    "python-requests/2.31.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 zgrab/0.x",
];

/// (method, authority, path template, upstream service, weight); `{id}` is replaced.
const ROUTES: &[(&str, &str, &str, &str, u32)] = &[
    ("GET", "www.acme.example", "/static/js/app.{hex}.js", "frontend", 20),
    ("GET", "www.acme.example", "/", "frontend", 8),
    ("GET", "shop.acme.example", "/products/{id}", "frontend", 12),
    ("GET", "api.acme.example", "/api/v1/products?page={n}&limit=24", "catalog", 14),
    ("GET", "api.acme.example", "/api/v1/cart", "cart", 8),
    ("POST", "api.acme.example", "/api/v1/cart/items", "cart", 6),
    ("POST", "api.acme.example", "/api/v1/orders", "orders", 4),
    ("GET", "api.acme.example", "/api/v1/orders/{id}", "orders", 5),
    ("PUT", "api.acme.example", "/api/v1/users/me/preferences", "accounts", 2),
    ("DELETE", "api.acme.example", "/api/v1/cart/items/{id}", "cart", 2),
    ("POST", "auth.acme.example", "/oauth/token", "auth", 3),
    ("OPTIONS", "api.acme.example", "/api/v1/cart", "cart", 2),
    ("HEAD", "www.acme.example", "/healthz", "frontend", 1),
];

pub fn envoy_access(cfg: &EnvoyConfig) -> Corpus {
    let mut rng = Rng::new(cfg.seed);
    let mut used = std::collections::HashSet::new();
    let users: Vec<User> = (0..cfg.users.min(MAX_USERS))
        .map(|i| {
            let (id, id_kind) = loop {
                let (id, kind) = match i % 3 {
                    0 => (pii::email(&mut rng), "email"),
                    1 => (format!("usr_{}", rng.chars(ALNUM, 14)), "user_id"),
                    _ => (rng.uuid(), "user_id"),
                };
                if used.insert(id.clone()) {
                    break (id, kind);
                }
            };
            let v6 = rng.chance(0.25);
            User {
                id,
                id_kind,
                ip: if v6 { pii::client_ipv6(&mut rng) } else { pii::client_ipv4(&mut rng) },
                v6,
                agent: rng.pick(AGENTS).to_string(),
            }
        })
        .collect();
    let mut g = Planter::default();
    let mut counts = Counts::new(cfg.window_secs);
    let mut lines = Vec::with_capacity(cfg.events);
    let mut now = cfg.start_unix.saturating_mul(1_000_000);
    let mut burst = false;
    for _ in 0..cfg.events {
        if rng.chance(if burst { 0.01 } else { 0.002 }) {
            burst = !burst;
        }
        now += rng.exp(1e6 / (cfg.rate_per_sec.max(1e-6) * if burst { 6.0 } else { 1.0 })) as i64;
        // Zipf-like activity: low-numbered users are the busy ones; 30% anonymous.
        let who = if users.is_empty() || rng.chance(0.3) {
            None
        } else {
            let x = rng.unit();
            Some(((x * x * x) * users.len() as f64) as usize % users.len())
        };
        let pii = rng.chance(cfg.pii_rate);
        let (line, method, code, user) =
            request(&mut rng, &mut g, who.map(|i| &users[i]), pii, now);
        counts.add(now, method, Some(code), &user);
        lines.push(line);
    }
    Corpus { lines, truth: Truth { planted: g.finish(), counts } }
}

/// Builds one access-log line; returns it with the method, code and counted user.
fn request(
    rng: &mut Rng,
    g: &mut Planter,
    user: Option<&User>,
    pii: bool,
    now: i64,
) -> (String, &'static str, i64, String) {
    let &(method, authority, template, service, _) =
        rng.weighted(&ROUTES.iter().map(|r| (*r, r.4)).collect::<Vec<_>>());
    let mut path = template
        .replace("{hex}", &rng.chars(HEX, 8))
        .replace("{id}", &rng.range(10_000, 999_999).to_string())
        .replace("{n}", &rng.range(1, 40).to_string());

    // Identity: the client address, direct or behind the load balancer.
    let (client_ip, v6, agent) = match user {
        Some(u) => (u.ip.clone(), u.v6, u.agent.clone()),
        None => {
            let v6 = rng.chance(0.2);
            let ip = if v6 { pii::client_ipv6(rng) } else { pii::client_ipv4(rng) };
            (ip, v6, rng.pick(ANON_AGENTS).to_string())
        }
    };
    g.at(&client_ip, if v6 { "ipv6" } else { "ipv4" }, "x_forwarded_for");
    let lb = format!("10.0.{}.{}", rng.below(64), rng.range(2, 250));
    let port = rng.range(1024, 65535);
    let (remote, xff) = if rng.chance(0.7) {
        (format!("{lb}:{port}"), format!("{client_ip}, {lb}"))
    } else {
        g.at(&client_ip, if v6 { "ipv6" } else { "ipv4" }, "downstream_remote_address");
        let remote =
            if v6 { format!("[{client_ip}]:{port}") } else { format!("{client_ip}:{port}") };
        (remote, client_ip.clone())
    };
    let user_id = user.map(|u| g.at(&u.id, u.id_kind, "x-user-id"));

    let mut authorization = None;
    let mut cookie = None;
    let mut referer = None;
    let mut agent = agent;
    if pii {
        match rng.below(8) {
            0 | 1 => {
                let sub = user.map_or("anonymous", |u| u.id.as_str());
                let jwt = g.at(
                    &pii::jwt(rng, "https://auth.acme.example/", sub, now / 1_000_000),
                    "jwt",
                    "authorization",
                );
                authorization = Some(format!("Bearer {jwt}"));
            }
            2 => {
                let login = user.map_or_else(|| pii::plain_username(rng), |u| u.id.clone());
                let pw = pii::password(rng);
                let b = g.at(&pii::basic_credentials(&login, &pw), "basic", "authorization");
                authorization = Some(format!("Basic {b}"));
            }
            3 => {
                let s = g.at(&rng.chars(ALNUM, 40), "session_token", "cookie");
                let c = g.at(&rng.chars(ALNUM, 32), "session_token", "cookie");
                cookie = Some(format!("sessionid={s}; csrftoken={c}; theme=dark"));
            }
            4 => {
                let (k, v, kind) = match rng.below(4) {
                    0 => ("access_token", pii::url_secret(rng, 40), "secret_param"),
                    1 => ("api_key", format!("sk_live_{}", rng.chars(ALNUM, 24)), "secret_param"),
                    2 => ("password", pii::url_secret(rng, 16), "password"),
                    _ => ("code", pii::url_secret(rng, 32), "secret_param"),
                };
                let v = g.at(&v, kind, "path");
                path.push(if path.contains('?') { '&' } else { '?' });
                path.push_str(&format!("{k}={v}"));
            }
            5 => {
                let e = pii::email(rng);
                let e = if rng.chance(0.5) { e.replace('@', "%40") } else { e };
                let e = g.at(&e, "email", "path");
                path = format!("/api/v1/newsletter/subscribe?email={e}&source=footer");
            }
            6 => {
                let card = g.at(&pii::credit_card(rng).replace(' ', "-"), "credit_card", "path");
                path = format!(
                    "/api/v1/payments/charges?card_number={card}&amount={}",
                    rng.range(100, 99_999)
                );
            }
            _ => {
                if rng.chance(0.5) {
                    let e = g.at(&pii::email(rng), "email", "user_agent");
                    agent = format!("Mozilla/5.0 (compatible; AcmeMonitor/1.4; +mailto:{e})");
                } else {
                    let t = g.at(&pii::url_secret(rng, 32), "secret_param", "referer");
                    referer = Some(format!("https://www.acme.example/reset-password?token={t}"));
                }
            }
        }
    }

    let (code, flags, details, upstream) = match rng.below(1000) {
        0..=9 => (503, "UF", "upstream_reset_before_response_started{connection_failure}", false),
        10..=14 => (504, "UT", "response_timeout", true),
        15..=29 => (404, "NR", "route_not_found", false),
        30..=44 => (429, "-", "via_upstream", true),
        45..=89 => (
            if authorization.is_none() && authority == "api.acme.example" { 401 } else { 400 },
            "-",
            "via_upstream",
            true,
        ),
        90..=119 => (if method == "GET" { 304 } else { 403 }, "-", "via_upstream", true),
        _ => (
            match method {
                "POST" => 201,
                "DELETE" => 204,
                _ => 200,
            },
            "-",
            "via_upstream",
            true,
        ),
    };
    let duration = 1 + rng.exp(if upstream { 25.0 } else { 2.0 }) as u64;
    let bytes_sent = match code {
        200 if path.starts_with("/static") => rng.range(20_000, 400_000),
        200..=299 => rng.range(200, 12_000),
        304 => 0,
        _ => rng.range(19, 400),
    };
    let bytes_received = if matches!(method, "POST" | "PUT") { rng.range(60, 4_000) } else { 0 };
    let cluster = format!("outbound|8080||{service}.shop.svc.cluster.local");
    let upstream_host = format!("10.244.{}.{}:8080", rng.below(256), rng.range(2, 250));

    let s = |v: &str| quote(v, Style::Plain);
    let opt = |v: Option<&str>| v.map_or("null".to_string(), |v| quote(v, Style::Plain));
    let mut fields: Vec<(&str, String)> = vec![
        ("authority", s(authority)),
        ("authorization", opt(authorization.as_deref())),
        ("bytes_received", bytes_received.to_string()),
        ("bytes_sent", bytes_sent.to_string()),
        ("cookie", opt(cookie.as_deref())),
        ("downstream_remote_address", s(&remote)),
        ("duration", duration.to_string()),
        ("method", s(method)),
        ("path", s(&path)),
        ("protocol", s(if rng.chance(0.6) { "HTTP/2" } else { "HTTP/1.1" })),
        ("referer", opt(referer.as_deref())),
        ("request_id", s(&rng.uuid())),
        ("response_code", code.to_string()),
        ("response_code_details", s(details)),
        ("response_flags", s(flags)),
        ("route_name", s("default")),
        ("start_time", s(&rfc3339_millis(now))),
        (
            "upstream_cluster",
            if code == 404 && flags == "NR" { "null".to_string() } else { s(&cluster) },
        ),
        ("upstream_host", if upstream { s(&upstream_host) } else { "null".to_string() }),
        (
            "upstream_service_time",
            if upstream { s(&duration.saturating_sub(1).to_string()) } else { "null".to_string() },
        ),
        ("user_agent", s(&agent)),
        ("x-user-id", opt(user_id.as_deref())),
        ("x_forwarded_for", s(&xff)),
    ];
    fields.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = fields.iter().map(|(k, v)| format!("{}:{v}", s(k))).collect();
    let line = format!("{{{}}}", body.join(","));
    (line, method, code, user_id.unwrap_or_default())
}
