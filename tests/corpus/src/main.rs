//! `dp-audit-corpus`: writes synthetic corpora, hostile records or normalised
//! real samples to stdout. See `dp-audit-corpus --help`.

use std::io::Write;
use std::process::ExitCode;

use dp_audit_corpus::{envoy_access, hostile, jsonl, k8s_audit, EnvoyConfig, K8sConfig};

const USAGE: &str = "\
usage:
  dp-audit-corpus k8s   [--events N] [--users U] [--seed S] [--pii-rate R]
                        [--start UNIX_SECS] [--rate EPS] [--window SECS] [--truth FILE]
  dp-audit-corpus envoy (same options)
  dp-audit-corpus hostile DIR      write each hostile record to DIR/<class>__<name>.bin
  dp-audit-corpus jsonl FILE...    concatenate the JSON objects of FILEs as compact lines

Corpora go to stdout as JSON lines; --truth writes the ground truth (planted
values with kinds and paths, exact counts per window) as JSON.
Defaults: k8s 10000 events, 40 users; envoy 10000 events, 100 users; seed 1,
pii-rate 0.05, start 1717401600 (2024-06-03T08:00:00Z), rate 40 (k8s) / 60
(envoy) events per second, window 60 s.
";

struct Common {
    events: usize,
    users: Option<usize>,
    seed: u64,
    pii_rate: f64,
    start: i64,
    rate: Option<f64>,
    window: i64,
    truth: Option<String>,
}

fn parse_common(args: &[String]) -> Result<Common, String> {
    let mut c = Common {
        events: 10_000,
        users: None,
        seed: 1,
        pii_rate: 0.05,
        start: 1_717_401_600,
        rate: None,
        window: 60,
        truth: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("{flag}: expected {what}");
        match flag.as_str() {
            "--events" => c.events = value.parse().map_err(|_| bad("a count"))?,
            "--users" => c.users = Some(value.parse().map_err(|_| bad("a count"))?),
            "--seed" => c.seed = value.parse().map_err(|_| bad("an unsigned integer"))?,
            "--pii-rate" => {
                c.pii_rate = value.parse().map_err(|_| bad("a probability"))?;
                if !(0.0..=1.0).contains(&c.pii_rate) {
                    return Err(bad("a probability in [0, 1]"));
                }
            }
            "--start" => c.start = value.parse().map_err(|_| bad("unix seconds"))?,
            "--rate" => {
                let r: f64 = value.parse().map_err(|_| bad("events per second"))?;
                if !(r > 0.0 && r.is_finite()) {
                    return Err(bad("a positive rate"));
                }
                c.rate = Some(r);
            }
            "--window" => {
                c.window = value.parse().map_err(|_| bad("seconds"))?;
                if c.window < 1 {
                    return Err(bad("at least 1 second"));
                }
            }
            "--truth" => c.truth = Some(value.clone()),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(c)
}

/// A closed pipe (`| head`) ends output quietly, like other Unix tools.
fn stdout_err(e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        String::new()
    } else {
        format!("stdout: {e}")
    }
}

fn emit(corpus: &dp_audit_corpus::Corpus, truth: Option<&str>) -> Result<(), String> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for line in &corpus.lines {
        out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n")).map_err(stdout_err)?;
    }
    out.flush().map_err(stdout_err)?;
    if let Some(path) = truth {
        std::fs::write(path, corpus.truth.to_json() + "\n").map_err(|e| format!("{path}: {e}"))?;
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("k8s") => {
            let c = parse_common(&args[1..])?;
            let d = K8sConfig::default();
            let cfg = K8sConfig {
                events: c.events,
                users: c.users.unwrap_or(d.users),
                seed: c.seed,
                pii_rate: c.pii_rate,
                start_unix: c.start,
                rate_per_sec: c.rate.unwrap_or(d.rate_per_sec),
                window_secs: c.window,
            };
            emit(&k8s_audit(&cfg), c.truth.as_deref())
        }
        Some("envoy") => {
            let c = parse_common(&args[1..])?;
            let d = EnvoyConfig::default();
            let cfg = EnvoyConfig {
                events: c.events,
                users: c.users.unwrap_or(d.users),
                seed: c.seed,
                pii_rate: c.pii_rate,
                start_unix: c.start,
                rate_per_sec: c.rate.unwrap_or(d.rate_per_sec),
                window_secs: c.window,
            };
            emit(&envoy_access(&cfg), c.truth.as_deref())
        }
        Some("hostile") => {
            let [_, dir] = args else {
                return Err("hostile takes one directory".into());
            };
            std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))?;
            for (name, bytes) in hostile() {
                let path = format!("{dir}/{}.bin", name.replace('/', "__"));
                std::fs::write(&path, bytes).map_err(|e| format!("{path}: {e}"))?;
            }
            Ok(())
        }
        Some("jsonl") if args.len() > 1 => {
            let mut out = Vec::new();
            for path in &args[1..] {
                let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
                for obj in jsonl::compact_objects(&bytes).map_err(|e| format!("{path}: {e}"))? {
                    out.extend_from_slice(&obj);
                    out.push(b'\n');
                }
            }
            std::io::stdout().write_all(&out).map_err(stdout_err)
        }
        Some("-h" | "--help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_string()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_empty() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dp-audit-corpus: {e}");
            ExitCode::from(2)
        }
    }
}
