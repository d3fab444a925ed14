//! Throughput of the exact samplers, side by side with OpenDP's exact
//! samplers for the same distributions.
//!
//! `cargo bench -p dp-audit-benches --bench samplers`. Each benchmark draws one sample per
//! iteration; divan reports time per sample and samples/s ("item/s").
//! dp-audit draws from its production generator ([`NoiseRng`], ChaCha20 with
//! rekeying); OpenDP (built without its OpenSSL feature) draws from
//! `rand::thread_rng`, a ChaCha12 generator, so the comparison favours it
//! slightly on randomness cost.
//!
//! On a shared machine wall-clock medians swing with load; instruction
//! counts do not. Per-sample instructions of one benchmark are the difference
//! of two runs under callgrind divided by the extra iterations, e.g.
//! `DIVAN_SAMPLE_COUNT=10 DIVAN_SAMPLE_SIZE=1200 valgrind --tool=callgrind
//! <bench binary> --bench --exact samplers::laplace_dp_audit::10` minus the
//! same with `DIVAN_SAMPLE_SIZE=200`, divided by 10 000.

// A benchmark aborting on a broken setup is the right outcome.
#![allow(clippy::expect_used)]

use dashu::integer::{IBig, UBig};
use dashu::rational::RBig;
use divan::counter::ItemsCount;
use divan::Bencher;
use dp_audit::dp::noise::{sample_discrete_gaussian, sample_discrete_laplace, NoiseRng, Scale};

fn main() {
    divan::main();
}

/// Scales as decimal text: small, unit, typical, large, and a fractional
/// one with a non-trivial denominator.
const SCALES: &[&str] = &["0.5", "1", "3.7", "10", "1000", "123456.789"];

fn scale(text: &str) -> Scale {
    Scale::parse_decimal(text).expect("bench scales are valid decimals")
}

fn opendp_scale(s: Scale) -> RBig {
    RBig::from_parts(IBig::from(s.num()), UBig::from(s.den()))
}

#[divan::bench(args = SCALES)]
fn laplace_dp_audit(bencher: Bencher, text: &str) {
    let s = scale(text);
    let mut rng = NoiseRng::from_entropy().expect("host entropy");
    bencher
        .counter(ItemsCount::new(1usize))
        .bench_local(|| sample_discrete_laplace(s, &mut rng));
}

#[divan::bench(args = SCALES)]
fn laplace_opendp(bencher: Bencher, text: &str) {
    let s = opendp_scale(scale(text));
    bencher
        .counter(ItemsCount::new(1usize))
        .bench_local(|| opendp::traits::samplers::sample_discrete_laplace(s.clone()));
}

#[divan::bench(args = SCALES)]
fn gaussian_dp_audit(bencher: Bencher, text: &str) {
    let s = scale(text);
    let mut rng = NoiseRng::from_entropy().expect("host entropy");
    bencher
        .counter(ItemsCount::new(1usize))
        .bench_local(|| sample_discrete_gaussian(s, &mut rng));
}

#[divan::bench(args = SCALES)]
fn gaussian_opendp(bencher: Bencher, text: &str) {
    let s = opendp_scale(scale(text));
    bencher
        .counter(ItemsCount::new(1usize))
        .bench_local(|| opendp::traits::samplers::sample_discrete_gaussian(s.clone()));
}

/// A σ with a 12-digit decimal: the acceptance test leaves `u128` and runs
/// on the 512-bit fallback. OpenDP handles all sizes the same way.
#[divan::bench]
fn gaussian_dp_audit_wide_fallback(bencher: Bencher) {
    let s = scale("3.141592653589");
    let mut rng = NoiseRng::from_entropy().expect("host entropy");
    bencher
        .counter(ItemsCount::new(1usize))
        .bench_local(|| sample_discrete_gaussian(s, &mut rng));
}

#[divan::bench]
fn gaussian_opendp_wide_fallback(bencher: Bencher) {
    let s = opendp_scale(scale("3.141592653589"));
    bencher
        .counter(ItemsCount::new(1usize))
        .bench_local(|| opendp::traits::samplers::sample_discrete_gaussian(s.clone()));
}
