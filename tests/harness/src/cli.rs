//! The `dp-audit-harness` command line (hand-rolled: a few flags do not need a parser
//! crate on this build-constrained machine).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use crate::artifact::{process_line_timed, LineOutcome, StagedConfig, DEFAULT_TAG, SCRUB_FUNCTION};
use crate::fluent_bit::{
    CallReport, FluentBitConfig, FluentBitHost, HostLogLine, LogLevel, Outcome,
};
use crate::size::parse_size;
use crate::HarnessError;

pub const USAGE: &str = "\
usage:
  dp-audit-harness fluent-bit --wasm PATH --policy POLICY.json --key-file KEY
                              [--function NAME] [--tag TAG] [--fuel]
                              [--heap-size SIZE] [--stack-size SIZE]
                              < in.jsonl > out.jsonl
      Emulates the Fluent Bit wasm filter (JSON mode, one persistent instance).
      One JSON record per line in; one line per record the module keeps out.
      Policy and key are copied as dp-audit.json / dp-audit.key into a temporary
      directory that is preopened, as `accessible_paths` would be.
      Defaults: --function dp_scrub, --tag dp.audit, sizes 8192 (Fluent Bit units:
      K=1000, M=1000^2; 8192 or less is ignored). --fuel prints `fuel/record N`.
      --time-key FIELD sets each record's timestamp from that top-level field
      (RFC 3339 or unix seconds), as a Fluent Bit parser's Time_Key does; without
      it records are stamped with the current time.
  dp-audit-harness keygen > dp-audit.key
      32 random bytes from the OS as 64 hex characters and a newline.
  dp-audit-harness sample --mechanism laplace|gaussian --scale S -n N
      N exact samples, one per line: laplace P(k) ~ exp(-|k|/S),
      gaussian P(k) ~ exp(-k^2/(2 S^2)); S may be a decimal such as 2.5.
  dp-audit-harness calibrate --mechanism M --sensitivity D
                             (--epsilon E | --rho R | --halfwidth H)
                             [--confidence 0.95] [--delta DELTA]
      Privacy -> noise scale and confidence-interval half-width, or the
      reverse (half-width -> epsilon). The Gaussian with --epsilon needs --delta.
  dp-audit-harness run-wasi --wasm PATH [--fuel] [--fuel-profile N] [-- ARGS...]
      Runs a WASI command module (benchmarks: benches/wasm_samplers.sh);
      --fuel prints `fuel N`, the wasm instructions it executed;
      --fuel-profile N stops the run at N evenly spaced instruction counts and
      prints each function's share of them (self and total).
  (reserved: envoy)";

/// A parsed command line.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    FluentBit(FluentBitArgs),
    Keygen,
    Sample(crate::dp_cli::SampleArgs),
    Calibrate(crate::dp_cli::CalibrateArgs),
    RunWasi(crate::run_wasi::RunWasiArgs),
    Help,
    /// Subcommands other issues will implement.
    Reserved(&'static str),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FluentBitArgs {
    pub wasm: PathBuf,
    pub policy: PathBuf,
    pub key_file: PathBuf,
    pub function: String,
    pub tag: String,
    pub fuel: bool,
    pub heap_size: Option<u64>,
    pub stack_size: Option<u64>,
    pub time_key: Option<String>,
}

pub fn parse_args(args: &[String]) -> Result<Command, HarnessError> {
    let Some((sub, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    match sub.as_str() {
        "fluent-bit" => parse_fluent_bit(rest).map(Command::FluentBit),
        "keygen" => {
            if let Some(extra) = rest.first() {
                return Err(HarnessError::config(
                    extra.as_str(),
                    "keygen takes no arguments",
                ));
            }
            Ok(Command::Keygen)
        }
        "sample" => crate::dp_cli::parse_sample(rest).map(Command::Sample),
        "calibrate" => crate::dp_cli::parse_calibrate(rest).map(Command::Calibrate),
        "run-wasi" => crate::run_wasi::parse(rest).map(Command::RunWasi),
        "envoy" => Ok(Command::Reserved("envoy")),
        "-h" | "--help" | "help" => Ok(Command::Help),
        other => Err(HarnessError::config(other, "unknown subcommand")),
    }
}

fn parse_fluent_bit(args: &[String]) -> Result<FluentBitArgs, HarnessError> {
    let mut wasm = None;
    let mut policy = None;
    let mut key_file = None;
    let mut function = SCRUB_FUNCTION.to_owned();
    let mut tag = DEFAULT_TAG.to_owned();
    let mut fuel = false;
    let mut heap_size = None;
    let mut stack_size = None;
    let mut time_key = None;
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let mut value = || {
            iter.next()
                .cloned()
                .ok_or_else(|| HarnessError::config(flag.as_str(), "needs a value"))
        };
        match flag.as_str() {
            "--wasm" => wasm = Some(PathBuf::from(value()?)),
            "--policy" => policy = Some(PathBuf::from(value()?)),
            "--key-file" => key_file = Some(PathBuf::from(value()?)),
            "--function" => function = value()?,
            "--tag" => tag = value()?,
            "--fuel" => fuel = true,
            "--heap-size" => heap_size = Some(parse_size("--heap-size", &value()?)?),
            "--stack-size" => stack_size = Some(parse_size("--stack-size", &value()?)?),
            "--time-key" => time_key = Some(value()?),
            other => return Err(HarnessError::config(other, "unknown flag")),
        }
    }
    let need =
        |v: Option<PathBuf>, flag: &str| v.ok_or_else(|| HarnessError::config(flag, "is required"));
    Ok(FluentBitArgs {
        wasm: need(wasm, "--wasm")?,
        policy: need(policy, "--policy")?,
        key_file: need(key_file, "--key-file")?,
        function,
        tag,
        fuel,
        heap_size,
        stack_size,
        time_key,
    })
}

/// Counts printed at the end of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub processed: u64,
    pub emitted: u64,
    pub dropped: u64,
    pub corrupted: u64,
    pub rejected_lines: u64,
}

/// Runs the `fluent-bit` subcommand over `input`, writing kept records to `out` and
/// diagnostics to `diag`.
pub fn run_fluent_bit(
    args: &FluentBitArgs,
    input: impl BufRead,
    out: &mut impl Write,
    diag: &mut impl Write,
) -> Result<RunSummary, HarnessError> {
    let staged = StagedConfig::from_files(&args.policy, &args.key_file)?;
    let mut config = FluentBitConfig::new(&args.wasm, &args.function);
    config.accessible_paths = vec![staged.accessible_path()];
    config.fuel = args.fuel;
    if let Some(size) = args.heap_size {
        config.wasm_heap_size = size;
    }
    if let Some(size) = args.stack_size {
        config.wasm_stack_size = size;
    }
    let mut host = FluentBitHost::new(config)?;
    write_log(diag, None, &host.take_log());
    forward_guest_output(&mut host, diag, None);
    if !host.has_function() {
        // Fluent Bit would start and drop every record; refusing is more useful here.
        return Err(HarnessError::module(format!(
            "export `{}` not found (Fluent Bit would drop every record)",
            args.function
        )));
    }

    let io_err = |e: std::io::Error| HarnessError::io("<stdio>", &e);
    let mut summary = RunSummary::default();
    for (index, line) in input.split(b'\n').enumerate() {
        let line_no = index.saturating_add(1);
        let line = line.map_err(io_err)?;
        match process_line_timed(&mut host, &args.tag, &line, args.time_key.as_deref()) {
            LineOutcome::Blank => {}
            LineOutcome::Rejected(err) => {
                summary.rejected_lines = summary.rejected_lines.saturating_add(1);
                writeln!(
                    diag,
                    "line {line_no}: {}; not passed to the module",
                    err.reason()
                )
                .map_err(io_err)?;
            }
            LineOutcome::Processed(CallReport { outcome, .. }) => {
                summary.processed = summary.processed.saturating_add(1);
                match outcome {
                    Outcome::Emitted(text) => {
                        summary.emitted = summary.emitted.saturating_add(1);
                        writeln!(out, "{text}").map_err(io_err)?;
                    }
                    Outcome::Dropped(_) => summary.dropped = summary.dropped.saturating_add(1),
                    Outcome::Corrupted { values } => {
                        summary.corrupted = summary.corrupted.saturating_add(1);
                        writeln!(
                            diag,
                            "line {line_no}: module returned {values} JSON values; Fluent Bit \
                             would corrupt the record body (no output line)"
                        )
                        .map_err(io_err)?;
                    }
                }
            }
        }
        write_log(diag, Some(line_no), &host.take_log());
        forward_guest_output(&mut host, diag, Some(line_no));
    }
    out.flush().map_err(io_err)?;
    writeln!(
        diag,
        "records: {} processed, {} emitted, {} dropped, {} corrupted; {} lines rejected",
        summary.processed,
        summary.emitted,
        summary.dropped,
        summary.corrupted,
        summary.rejected_lines
    )
    .map_err(io_err)?;
    if let Some(total) = host.fuel_total() {
        let average = total.checked_div(summary.processed).unwrap_or(0);
        writeln!(diag, "fuel/record {average}").map_err(io_err)?;
    }
    drop(staged);
    Ok(summary)
}

fn level_name(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Error => "error",
        LogLevel::Warn => "warn",
        LogLevel::Info => "info",
        LogLevel::Debug => "debug",
    }
}

fn write_log(diag: &mut impl Write, line_no: Option<usize>, lines: &[HostLogLine]) {
    for line in lines {
        let level = level_name(line.level);
        // Diagnostics are best effort: a closed stderr must not stop the run.
        let _ = match line_no {
            Some(n) => writeln!(diag, "line {n}: [{level}] {}", line.message),
            None => writeln!(diag, "[{level}] {}", line.message),
        };
    }
}

/// The module's own stdout/stderr go to the harness's stderr (stdout carries records).
fn forward_guest_output(host: &mut FluentBitHost, diag: &mut impl Write, line_no: Option<usize>) {
    let output = host.guest_output();
    for (stream, text) in [
        ("stdout", output.take_stdout()),
        ("stderr", output.take_stderr()),
    ] {
        for guest_line in text.lines() {
            let _ = match line_no {
                Some(n) => writeln!(diag, "line {n}: guest {stream}: {guest_line}"),
                None => writeln!(diag, "guest {stream}: {guest_line}"),
            };
        }
    }
}

/// 32 random bytes from the OS as 64 lowercase hex characters.
pub fn keygen() -> Result<String, HarnessError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key)
        .map_err(|e| HarnessError::config("keygen", format!("OS random source failed: {e}")))?;
    let mut hex = String::with_capacity(64);
    for byte in key {
        hex.push_str(&format!("{byte:02x}"));
    }
    Ok(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn fluent_bit_flags() {
        let cmd = parse_args(&args(&[
            "fluent-bit",
            "--wasm",
            "m.wasm",
            "--policy",
            "p.json",
            "--key-file",
            "k",
            "--fuel",
            "--heap-size",
            "256K",
        ]))
        .unwrap();
        let Command::FluentBit(fb) = cmd else {
            panic!("not fluent-bit: {cmd:?}")
        };
        assert_eq!(fb.function, "dp_scrub");
        assert_eq!(fb.tag, "dp.audit");
        assert!(fb.fuel);
        assert_eq!(fb.heap_size, Some(256_000));
        assert_eq!(fb.stack_size, None);
    }

    #[test]
    fn missing_and_unknown_flags_are_errors() {
        assert!(parse_args(&args(&["fluent-bit", "--wasm", "m.wasm"])).is_err());
        assert!(parse_args(&args(&["fluent-bit", "--bogus"])).is_err());
        assert!(parse_args(&args(&["fluent-bit", "--wasm"])).is_err());
        assert!(parse_args(&args(&["nope"])).is_err());
        assert!(parse_args(&args(&["calibrate"])).is_err());
        assert_eq!(
            parse_args(&args(&["envoy"])).unwrap(),
            Command::Reserved("envoy")
        );
    }

    #[test]
    fn keys_are_64_hex_chars_and_differ() {
        let a = keygen().unwrap();
        let b = keygen().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }
}
