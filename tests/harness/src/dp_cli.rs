//! `dp-audit-harness sample` and `calibrate`: the DP engine's samplers and
//! calibration, natively, for external checking and for choosing epsilon.

use std::io::Write;

use dp_audit::dp::noise::{
    ci_halfwidth, epsilon_for_halfwidth, gaussian_sigma_for_rho, laplace_scale_for,
    rho_for_epsilon, sample, zcdp_to_approx_dp_epsilon, Mechanism, NoiseRng, Scale,
};

use crate::HarnessError;

#[derive(Clone, Debug, PartialEq)]
pub struct SampleArgs {
    pub mechanism: Mechanism,
    pub scale: Scale,
    pub count: u64,
}

/// What `calibrate` solves for.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Privacy given: report the noise scale and the CI half-width.
    Epsilon(String),
    /// zCDP rho given (Gaussian).
    Rho(String),
    /// Accuracy given: report the epsilon that achieves it.
    Halfwidth(u64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct CalibrateArgs {
    pub mechanism: Mechanism,
    pub target: Target,
    pub sensitivity: u64,
    pub confidence: f64,
    pub delta: Option<f64>,
}

fn mechanism(v: &str) -> Result<Mechanism, HarnessError> {
    match v {
        "laplace" => Ok(Mechanism::Laplace),
        "gaussian" => Ok(Mechanism::Gaussian),
        _ => Err(HarnessError::config(
            "--mechanism",
            "expected laplace or gaussian",
        )),
    }
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, HarnessError> {
    v.parse()
        .map_err(|_| HarnessError::config(flag, "is not a valid number"))
}

fn noise_err(flag: &str, e: impl std::fmt::Display) -> HarnessError {
    HarnessError::config(flag, e.to_string())
}

/// Reads `--flag value` pairs; every flag must be in `known`.
fn pairs<'a>(args: &'a [String], known: &[&str]) -> Result<Vec<(&'a str, &'a str)>, HarnessError> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        if !known.contains(&flag.as_str()) {
            return Err(HarnessError::config(flag.as_str(), "unknown flag"));
        }
        let value = iter
            .next()
            .ok_or_else(|| HarnessError::config(flag.as_str(), "needs a value"))?;
        out.push((flag.as_str(), value.as_str()));
    }
    Ok(out)
}

pub fn parse_sample(args: &[String]) -> Result<SampleArgs, HarnessError> {
    let (mut m, mut scale, mut count) = (None, None, None);
    for (flag, v) in pairs(args, &["--mechanism", "--scale", "-n"])? {
        match flag {
            "--mechanism" => m = Some(mechanism(v)?),
            "--scale" => {
                scale = Some(Scale::parse_decimal(v).map_err(|e| noise_err("--scale", e))?)
            }
            _ => count = Some(number::<u64>("-n", v)?),
        }
    }
    Ok(SampleArgs {
        mechanism: m.ok_or_else(|| HarnessError::config("--mechanism", "is required"))?,
        scale: scale.ok_or_else(|| HarnessError::config("--scale", "is required"))?,
        count: count.ok_or_else(|| HarnessError::config("-n", "is required"))?,
    })
}

pub fn parse_calibrate(args: &[String]) -> Result<CalibrateArgs, HarnessError> {
    let known = [
        "--mechanism",
        "--epsilon",
        "--rho",
        "--halfwidth",
        "--sensitivity",
        "--confidence",
        "--delta",
    ];
    let (mut m, mut target, mut sensitivity, mut confidence, mut delta) =
        (None, None, None, 0.95, None);
    for (flag, v) in pairs(args, &known)? {
        let set = |t: Target, target: &mut Option<Target>| {
            if target.is_some() {
                return Err(HarnessError::config(
                    flag,
                    "give one of --epsilon, --rho, --halfwidth",
                ));
            }
            *target = Some(t);
            Ok(())
        };
        match flag {
            "--mechanism" => m = Some(mechanism(v)?),
            "--epsilon" => set(Target::Epsilon(v.to_owned()), &mut target)?,
            "--rho" => set(Target::Rho(v.to_owned()), &mut target)?,
            "--halfwidth" => set(Target::Halfwidth(number(flag, v)?), &mut target)?,
            "--sensitivity" => sensitivity = Some(number::<u64>(flag, v)?),
            "--confidence" => confidence = number(flag, v)?,
            _ => delta = Some(number(flag, v)?),
        }
    }
    Ok(CalibrateArgs {
        mechanism: m.ok_or_else(|| HarnessError::config("--mechanism", "is required"))?,
        target: target.ok_or_else(|| {
            HarnessError::config(
                "--epsilon",
                "one of --epsilon, --rho, --halfwidth is required",
            )
        })?,
        sensitivity: sensitivity
            .ok_or_else(|| HarnessError::config("--sensitivity", "is required"))?,
        confidence,
        delta,
    })
}

/// Prints `count` samples, one per line, from the CSPRNG seeded by the OS.
pub fn run_sample(args: &SampleArgs, out: &mut impl Write) -> Result<(), HarnessError> {
    let mut rng = NoiseRng::from_entropy().map_err(|e| noise_err("entropy", e))?;
    let io = |e: std::io::Error| HarnessError::io("<stdout>", &e);
    for _ in 0..args.count {
        let x =
            sample(args.mechanism, args.scale, &mut rng).map_err(|e| noise_err("--scale", e))?;
        writeln!(out, "{x}").map_err(io)?;
    }
    out.flush().map_err(io)
}

/// Prints `key value` lines: the scale and CI half-width for a privacy
/// target, or the epsilon for an accuracy target.
pub fn run_calibrate(args: &CalibrateArgs, out: &mut impl Write) -> Result<(), HarnessError> {
    let io = |e: std::io::Error| HarnessError::io("<stdout>", &e);
    let m = args.mechanism;
    let name = if m == Mechanism::Laplace {
        "laplace"
    } else {
        "gaussian"
    };
    let pct = args.confidence * 100.0;
    writeln!(out, "mechanism {name}").map_err(io)?;
    writeln!(out, "sensitivity {}", args.sensitivity).map_err(io)?;
    writeln!(out, "confidence {}", args.confidence).map_err(io)?;
    let scale_for_rho = |rho: Scale| {
        let sq = args
            .sensitivity
            .checked_mul(args.sensitivity)
            .ok_or_else(|| HarnessError::config("--sensitivity", "too large"))?;
        gaussian_sigma_for_rho(rho, sq).map_err(|e| noise_err("--rho", e))
    };
    let (scale, rho) = match (&args.target, m) {
        (Target::Halfwidth(h), _) => {
            let eps = epsilon_for_halfwidth(m, args.sensitivity, *h, args.confidence, args.delta)
                .map_err(|e| noise_err("--halfwidth", e))?;
            writeln!(out, "halfwidth {h}").map_err(io)?;
            if let Some(d) = args.delta {
                writeln!(out, "delta {d}").map_err(io)?;
            }
            writeln!(out, "epsilon {eps:.6}").map_err(io)?;
            return Ok(());
        }
        (Target::Epsilon(e), Mechanism::Laplace) => {
            let eps = Scale::parse_decimal(e).map_err(|err| noise_err("--epsilon", err))?;
            writeln!(out, "epsilon {e}").map_err(io)?;
            (
                laplace_scale_for(eps, args.sensitivity)
                    .map_err(|err| noise_err("--epsilon", err))?,
                None,
            )
        }
        (Target::Epsilon(e), Mechanism::Gaussian) => {
            let delta = args.delta.ok_or_else(|| {
                HarnessError::config("--delta", "is required for the Gaussian with --epsilon")
            })?;
            let eps: f64 = number("--epsilon", e)?;
            let rho = rho_for_epsilon(eps, delta);
            let rho_scale = Scale::parse_decimal(&format!("{rho:.9}"))
                .map_err(|err| noise_err("--epsilon", err))?;
            writeln!(out, "epsilon {e}").map_err(io)?;
            writeln!(out, "delta {delta}").map_err(io)?;
            (scale_for_rho(rho_scale)?, Some(rho))
        }
        (Target::Rho(r), Mechanism::Gaussian) => {
            let rho = Scale::parse_decimal(r).map_err(|err| noise_err("--rho", err))?;
            (scale_for_rho(rho)?, Some(rho.to_f64()))
        }
        (Target::Rho(_), Mechanism::Laplace) => {
            return Err(HarnessError::config(
                "--rho",
                "applies to the Gaussian; use --epsilon for the Laplace",
            ))
        }
    };
    if let Some(rho) = rho {
        writeln!(out, "rho {rho}").map_err(io)?;
        if let Some(d) = args.delta {
            writeln!(
                out,
                "epsilon_at_delta {:.6}",
                zcdp_to_approx_dp_epsilon(rho, d)
            )
            .map_err(io)?;
        }
    }
    let h = ci_halfwidth(m, scale, args.confidence).map_err(|e| noise_err("--confidence", e))?;
    writeln!(out, "scale {} ({})", scale.to_f64(), scale).map_err(io)?;
    writeln!(
        out,
        "ci_halfwidth {h} (the noisy value is within ±{h} of the truth with probability {pct}%)"
    )
    .map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn calibrate(s: &str) -> String {
        let mut out = Vec::new();
        run_calibrate(&parse_calibrate(&args(s)).unwrap(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn laplace_calibration_is_sensitivity_over_epsilon() {
        let out = calibrate("--mechanism laplace --epsilon 0.5 --sensitivity 1");
        assert!(out.contains("scale 2 "), "{out}");
        // P(|X| > h) = 2 e^{-(h+1)/2} / (1 + e^{-1/2}): 0.062 at h = 5, 0.038 at h = 6.
        assert!(out.contains("ci_halfwidth 6 "), "{out}");
    }

    #[test]
    fn reverse_calibration_round_trips() {
        let out = calibrate("--mechanism laplace --halfwidth 5 --sensitivity 1");
        let eps: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("epsilon "))
            .unwrap()
            .parse()
            .unwrap();
        let fwd = calibrate(&format!(
            "--mechanism laplace --epsilon {eps:.6} --sensitivity 1"
        ));
        assert!(
            fwd.contains("ci_halfwidth 5 ") || fwd.contains("ci_halfwidth 4 "),
            "{fwd}"
        );
        let g = calibrate("--mechanism gaussian --epsilon 1 --delta 1e-6 --sensitivity 1");
        assert!(g.contains("rho ") && g.contains("ci_halfwidth"), "{g}");
        let rho: f64 = g
            .lines()
            .find_map(|l| l.strip_prefix("rho "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(zcdp_to_approx_dp_epsilon(rho, 1e-6) <= 1.0);
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse_sample(&args("--mechanism cauchy --scale 1 -n 3")).is_err());
        assert!(parse_sample(&args("--mechanism laplace --scale -1 -n 3")).is_err());
        assert!(parse_sample(&args("--mechanism laplace -n 3")).is_err());
        assert!(parse_calibrate(&args(
            "--mechanism laplace --epsilon 1 --rho 1 --sensitivity 1"
        ))
        .is_err());
        assert!(parse_calibrate(&args("--mechanism laplace --sensitivity 1")).is_err());
    }

    #[test]
    fn sample_prints_n_integers() {
        let mut out = Vec::new();
        run_sample(
            &parse_sample(&args("--mechanism gaussian --scale 2.5 -n 50")).unwrap(),
            &mut out,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 50);
        assert!(text.lines().all(|l| l.parse::<i64>().is_ok()));
    }
}
