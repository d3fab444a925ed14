//! `dp-audit-harness`: see `dp_audit_harness::cli::USAGE`.

use std::io::Write;
use std::process::ExitCode;

use dp_audit_harness::cli::{keygen, parse_args, run_fluent_bit, Command, USAGE};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(command) => command,
        Err(err) => {
            eprintln!("dp-audit-harness: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Command::Reserved(name) => {
            eprintln!("dp-audit-harness: `{name}` is reserved and not implemented yet");
            ExitCode::from(2)
        }
        Command::Sample(args) => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            finish(dp_audit_harness::dp_cli::run_sample(&args, &mut stdout))
        }
        Command::Calibrate(args) => finish(dp_audit_harness::dp_cli::run_calibrate(
            &args,
            &mut std::io::stdout().lock(),
        )),
        Command::RunWasi(args) => match dp_audit_harness::run_wasi::run(&args) {
            Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            Err(err) => {
                eprintln!("dp-audit-harness: {err}");
                ExitCode::FAILURE
            }
        },
        Command::Keygen => match keygen() {
            Ok(hex) => {
                println!("{hex}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("dp-audit-harness: {err}");
                ExitCode::FAILURE
            }
        },
        Command::FluentBit(fb) => {
            let stdin = std::io::stdin().lock();
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let mut stderr = std::io::stderr().lock();
            match run_fluent_bit(&fb, stdin, &mut stdout, &mut stderr) {
                Ok(_) => ExitCode::SUCCESS,
                Err(err) => {
                    let _ = stdout.flush();
                    eprintln!("dp-audit-harness: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn finish(result: Result<(), dp_audit_harness::HarnessError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("dp-audit-harness: {err}");
            ExitCode::FAILURE
        }
    }
}
