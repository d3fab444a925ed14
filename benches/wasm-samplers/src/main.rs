//! Samples per second of each exact sampler, printed as
//! `<target> <mechanism> <scale> <ns/sample> <samples/s>`.
//! A fixed seed: this is a benchmark, the product seeds from host entropy.
use dp_audit::dp::noise::{sample, Mechanism, Scale};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use std::time::Instant;

fn main() {
    let target = if cfg!(target_arch = "wasm32") {
        "wasm"
    } else {
        "native"
    };
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for (m, name) in [
        (Mechanism::Laplace, "laplace"),
        (Mechanism::Gaussian, "gaussian"),
    ] {
        for s in ["0.5", "1", "10", "1000"] {
            let scale = Scale::parse_decimal(s).expect("valid scale");
            let start = Instant::now();
            let mut acc: i64 = 0;
            for _ in 0..n {
                acc = acc.wrapping_add(sample(m, scale, &mut rng).expect("sample"));
            }
            let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
            // `acc` keeps the loop from being optimised away.
            println!(
                "{target} {name} {s} {ns:.1} {:.0} (checksum {})",
                1e9 / ns,
                acc & 1
            );
        }
    }
}
