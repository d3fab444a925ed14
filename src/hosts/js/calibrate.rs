//! `calibrate`: privacy to accuracy and back, as `dp-audit-harness calibrate`
//! does it, for choosing epsilon in a page. Pure (no JS types), so it is
//! tested natively.

use crate::dp::noise::{
    ci_halfwidth, epsilon_for_halfwidth, gaussian_sigma_for_rho, laplace_scale_for,
    rho_for_epsilon, zcdp_to_approx_dp_epsilon, Mechanism, Scale,
};
use serde::Serialize;

/// What the caller gave: exactly one of `epsilon`, `rho`, `halfwidth`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Request {
    pub mechanism: String,
    /// Decimal text, e.g. `"0.5"` (JS numbers are formatted by the caller).
    pub epsilon: Option<String>,
    pub rho: Option<String>,
    pub halfwidth: Option<u64>,
    pub sensitivity: u64,
    pub confidence: f64,
    pub delta: Option<f64>,
}

/// The answer; absent fields are omitted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub mechanism: &'static str,
    pub sensitivity: u64,
    pub confidence: f64,
    /// Laplace: the epsilon; Gaussian: the epsilon at `delta`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rho: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<f64>,
    /// Noise scale (Laplace `t`, Gaussian `sigma`), for a privacy target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Half-width of the exact interval at `confidence` (the target, for an
    /// accuracy target).
    pub halfwidth: u64,
}

fn err(field: &str, e: impl std::fmt::Display) -> String {
    format!("{field}: {e}")
}

pub fn calibrate(req: &Request) -> Result<Calibration, String> {
    let (m, name) = match req.mechanism.as_str() {
        "laplace" => (Mechanism::Laplace, "laplace"),
        "gaussian" => (Mechanism::Gaussian, "gaussian"),
        _ => return Err(err("mechanism", "expected \"laplace\" or \"gaussian\"")),
    };
    if req.sensitivity == 0 {
        return Err(err("sensitivity", "expected a positive integer"));
    }
    let given = [
        req.epsilon.is_some(),
        req.rho.is_some(),
        req.halfwidth.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(err(
            "epsilon",
            "give exactly one of epsilon, rho, halfwidth",
        ));
    }
    let mut out = Calibration {
        mechanism: name,
        sensitivity: req.sensitivity,
        confidence: req.confidence,
        epsilon: None,
        rho: None,
        delta: req.delta,
        scale: None,
        halfwidth: 0,
    };
    if let Some(h) = req.halfwidth {
        let eps = epsilon_for_halfwidth(m, req.sensitivity, h, req.confidence, req.delta)
            .map_err(|e| err("halfwidth", e))?;
        out.epsilon = Some(eps);
        out.halfwidth = h;
        return Ok(out);
    }
    let sigma_for_rho = |rho: Scale| {
        let sq = req
            .sensitivity
            .checked_mul(req.sensitivity)
            .ok_or_else(|| err("sensitivity", "too large"))?;
        gaussian_sigma_for_rho(rho, sq).map_err(|e| err("rho", e))
    };
    let scale = match (m, &req.epsilon, &req.rho) {
        (Mechanism::Laplace, Some(e), _) => {
            let eps = Scale::parse_decimal(e).map_err(|x| err("epsilon", x))?;
            out.epsilon = Some(eps.to_f64());
            laplace_scale_for(eps, req.sensitivity).map_err(|x| err("epsilon", x))?
        }
        (Mechanism::Laplace, None, _) => {
            return Err(err(
                "rho",
                "applies to the Gaussian; use epsilon for the Laplace",
            ))
        }
        (Mechanism::Gaussian, Some(e), _) => {
            let delta = req
                .delta
                .filter(|d| *d > 0.0 && *d < 1.0)
                .ok_or_else(|| err("delta", "the Gaussian with epsilon needs delta in (0, 1)"))?;
            let eps = Scale::parse_decimal(e).map_err(|x| err("epsilon", x))?;
            let rho = rho_for_epsilon(eps.to_f64(), delta);
            let rho_scale =
                Scale::parse_decimal(&format!("{rho:.9}")).map_err(|x| err("epsilon", x))?;
            out.epsilon = Some(eps.to_f64());
            out.rho = Some(rho);
            sigma_for_rho(rho_scale)?
        }
        (Mechanism::Gaussian, None, Some(r)) => {
            let rho = Scale::parse_decimal(r).map_err(|x| err("rho", x))?;
            out.rho = Some(rho.to_f64());
            if let Some(d) = req.delta {
                out.epsilon = Some(zcdp_to_approx_dp_epsilon(rho.to_f64(), d));
            }
            sigma_for_rho(rho)?
        }
        (Mechanism::Gaussian, None, None) => {
            return Err(err("rho", "give epsilon (with delta) or rho"))
        }
    };
    out.scale = Some(scale.to_f64());
    out.halfwidth = ci_halfwidth(m, scale, req.confidence).map_err(|e| err("confidence", e))?;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn req(m: &str) -> Request {
        Request {
            mechanism: m.into(),
            sensitivity: 1,
            confidence: 0.95,
            ..Request::default()
        }
    }

    #[test]
    fn laplace_both_directions() {
        // As in the README: epsilon 0.5 at sensitivity 1 gives scale 2, half-width 6.
        let c = calibrate(&Request {
            epsilon: Some("0.5".into()),
            ..req("laplace")
        })
        .unwrap();
        assert_eq!((c.scale, c.halfwidth, c.epsilon), (Some(2.0), 6, Some(0.5)));
        let back = calibrate(&Request {
            halfwidth: Some(6),
            ..req("laplace")
        })
        .unwrap();
        let eps = back.epsilon.unwrap();
        assert!(eps <= 0.5 + 1e-6 && eps > 0.4, "{eps}");
        // The epsilon found does give the half-width asked for.
        let again = calibrate(&Request {
            epsilon: Some(format!("{:.6}", eps + 1e-6)),
            ..req("laplace")
        })
        .unwrap();
        assert!(again.halfwidth <= 6);
    }

    #[test]
    fn gaussian_rho_and_epsilon() {
        let c = calibrate(&Request {
            rho: Some("0.5".into()),
            delta: Some(1e-6),
            ..req("gaussian")
        })
        .unwrap();
        assert_eq!(c.scale, Some(1.0));
        assert!(c.halfwidth >= 1 && c.epsilon.unwrap() > 0.5);
        let e = calibrate(&Request {
            epsilon: Some("1".into()),
            delta: Some(1e-6),
            ..req("gaussian")
        })
        .unwrap();
        assert!(e.rho.unwrap() > 0.0 && e.scale.unwrap() > 1.0);
    }

    #[test]
    fn errors_name_the_argument() {
        let e = calibrate(&req("laplace")).unwrap_err();
        assert!(e.starts_with("epsilon: give exactly one"), "{e}");
        let e = calibrate(&Request {
            epsilon: Some("-1".into()),
            ..req("laplace")
        })
        .unwrap_err();
        assert!(e.starts_with("epsilon: "), "{e}");
        let e = calibrate(&Request {
            epsilon: Some("1".into()),
            ..req("gaussian")
        })
        .unwrap_err();
        assert!(e.starts_with("delta: "), "{e}");
        let e = calibrate(&Request {
            epsilon: Some("1".into()),
            ..req("cauchy")
        })
        .unwrap_err();
        assert!(e.starts_with("mechanism: "), "{e}");
    }
}
