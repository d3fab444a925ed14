//! Exact tests: run the building blocks on an enumerating coin source that
//! walks every sequence of uniform draws (depth-first, each outcome weighted
//! by its exact probability), so output probabilities are *computed*, not
//! estimated. Runs that need more draws than the depth limit are counted as
//! unresolved mass, which bounds what the truncation can hide.

use std::collections::BTreeMap;

use super::bernoulli::{
    bernoulli_exp, bernoulli_exp_minus_one, bernoulli_exp_unit, bernoulli_ratio,
};
use super::laplace::{discrete_laplace, geometric_exp_minus_one};
use super::natural::U512;
use super::uniform::Coins;
use super::NoiseError;

/// Exact non-negative rational over u128, always reduced. Test-only: any
/// overflow panics, which fails the test loudly instead of hiding it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Q {
    num: u128,
    den: u128,
}

fn gcd(a: u128, b: u128) -> u128 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl Q {
    fn new(num: u128, den: u128) -> Q {
        let g = gcd(num, den).max(1);
        Q {
            num: num / g,
            den: den / g,
        }
    }
    fn zero() -> Q {
        Q::new(0, 1)
    }
    fn add(self, o: Q) -> Q {
        let g = gcd(self.den, o.den);
        let den = self.den / g * o.den;
        let num = self.num * (o.den / g) + o.num * (self.den / g);
        Q::new(num, den)
    }
    fn sub(self, o: Q) -> Q {
        let g = gcd(self.den, o.den);
        let den = self.den / g * o.den;
        let num = self.num * (o.den / g) - o.num * (self.den / g);
        Q::new(num, den)
    }
    fn mul(self, o: Q) -> Q {
        let g1 = gcd(self.num, o.den).max(1);
        let g2 = gcd(o.num, self.den).max(1);
        Q::new(
            (self.num / g1) * (o.num / g2),
            (self.den / g2) * (o.den / g1),
        )
    }
    fn div_int(self, m: u128) -> Q {
        let g = gcd(self.num, m).max(1);
        Q::new(self.num / g, self.den * (m / g))
    }
    fn to_f64(self) -> f64 {
        self.num as f64 / self.den as f64
    }
}

/// Probability weights the enumerator can carry: exact rationals for the
/// small trees, f64 for the deep ones (where only brackets are checked).
trait Weight: Copy {
    fn one() -> Self;
    fn zero() -> Self;
    fn split(self, ways: u128) -> Self;
    fn plus(self, o: Self) -> Self;
}

impl Weight for Q {
    fn one() -> Self {
        Q::new(1, 1)
    }
    fn zero() -> Self {
        Q::zero()
    }
    fn split(self, ways: u128) -> Self {
        self.div_int(ways)
    }
    fn plus(self, o: Self) -> Self {
        self.add(o)
    }
}

impl Weight for f64 {
    fn one() -> Self {
        1.0
    }
    fn zero() -> Self {
        0.0
    }
    fn split(self, ways: u128) -> Self {
        self / ways as f64
    }
    fn plus(self, o: Self) -> Self {
        self + o
    }
}

/// Replays a script of draw results; the first draw past the script records
/// its bound and aborts the run.
struct Scripted {
    script: Vec<u128>,
    pos: usize,
    pending: Option<u128>,
}

impl Scripted {
    fn draw(&mut self, bound: u128) -> Result<u128, NoiseError> {
        assert!(bound >= 1);
        if bound == 1 {
            return Ok(0); // certain: costs no depth (nor bits in BitPool)
        }
        match self.script.get(self.pos) {
            Some(v) => {
                assert!(*v < bound, "script out of range");
                self.pos += 1;
                Ok(*v)
            }
            None => {
                self.pending = Some(bound);
                Err(NoiseError::Entropy)
            }
        }
    }
}

impl Coins for Scripted {
    fn below_u64(&mut self, bound: u64) -> Result<u64, NoiseError> {
        self.draw(bound as u128).map(|v| v as u64)
    }
    fn below_u128(&mut self, bound: u128) -> Result<u128, NoiseError> {
        self.draw(bound)
    }
    fn below_u512(&mut self, bound: U512) -> Result<U512, NoiseError> {
        let small = bound.to_u128().expect("enumerated bounds are small");
        self.draw(small)
            .map(<U512 as super::natural::Natural>::from_u128)
    }
    fn bit(&mut self) -> Result<bool, NoiseError> {
        self.draw(2).map(|v| v == 1)
    }
}

struct Outcome<T, W> {
    probability: BTreeMap<T, W>,
    unresolved: W,
}

/// Every run of `f` with at most `max_draws` draws, with its probability.
fn enumerate<T: Ord, W: Weight>(
    max_draws: usize,
    f: impl Fn(&mut Scripted) -> Result<T, NoiseError>,
) -> Outcome<T, W> {
    let mut probability = BTreeMap::new();
    let mut unresolved = W::zero();
    let mut stack: Vec<(Vec<u128>, W)> = vec![(Vec::new(), W::one())];
    while let Some((script, weight)) = stack.pop() {
        let mut coins = Scripted {
            script: script.clone(),
            pos: 0,
            pending: None,
        };
        match f(&mut coins) {
            Ok(v) => {
                let slot = probability.entry(v).or_insert(W::zero());
                *slot = (*slot).plus(weight);
            }
            Err(NoiseError::Entropy) => {
                let bound = coins.pending.expect("aborted at a draw");
                if script.len() >= max_draws {
                    unresolved = unresolved.plus(weight);
                    continue;
                }
                let child = weight.split(bound);
                for v in 0..bound {
                    let mut next = script.clone();
                    next.push(v);
                    stack.push((next, child));
                }
            }
            Err(e) => panic!("sampler error {e:?}"),
        }
    }
    Outcome {
        probability,
        unresolved,
    }
}

fn p_true<W: Weight>(o: &Outcome<bool, W>) -> W {
    o.probability.get(&true).copied().unwrap_or(W::zero())
}

#[test]
fn bernoulli_ratio_is_exact() {
    for (num, den) in [(0u128, 1u128), (1, 1), (1, 2), (2, 3), (5, 7), (11, 12)] {
        let o = enumerate::<bool, Q>(1, |c| bernoulli_ratio(num, den, c));
        assert_eq!(p_true(&o), Q::new(num, den), "Bernoulli({num}/{den})");
        assert_eq!(o.unresolved, Q::zero());
    }
}

/// `Σ_{k=1..K, k odd} (γ^{k−1}/(k−1)! − γ^k/k!)`: the `e^{−γ}` series cut
/// after `K` terms, which is exactly what Algorithm 1 resolves in `K` draws.
fn truncated_exp_series(g: Q, terms: u32) -> (Q, Q) {
    let mut power = Q::new(1, 1); // γ^{k−1}/(k−1)!
    let mut sum = Q::zero();
    for k in 1..=terms {
        let next = power.mul(g).div_int(k as u128); // γ^k/k!
        if k % 2 == 1 {
            sum = sum.add(power.sub(next));
        }
        power = next;
    }
    (sum, power) // power = γ^K/K!: the mass still running after K draws
}

#[test]
fn bernoulli_exp_unit_resolves_exactly_the_exp_series() {
    for (num, den) in [(0u128, 1u128), (1, 2), (3, 7), (1, 1), (2, 3)] {
        let draws = 7;
        let o = enumerate::<bool, Q>(draws, |c| bernoulli_exp_unit(num, den, c));
        // With den = 1 the k = 1 draw is below 1, certain and free.
        let terms = draws as u32 + u32::from(den == 1);
        let (series, tail) = truncated_exp_series(Q::new(num, den), terms);
        assert_eq!(p_true(&o), series, "γ={num}/{den}");
        if num == 0 {
            assert_eq!(o.unresolved, Q::zero());
        } else {
            assert_eq!(o.unresolved, tail, "γ={num}/{den}: unresolved mass");
        }
        // And the series really converges to e^{-γ}.
        let exact = (-(num as f64) / den as f64).exp();
        assert!((p_true(&o).to_f64() - exact).abs() <= tail.to_f64() + 1e-15);
    }
    // The same coin over U512 arithmetic gives the same exact probabilities.
    use super::natural::Natural;
    let o = enumerate::<bool, Q>(7, |c| {
        bernoulli_exp_unit(U512::from_u128(3), U512::from_u128(7), c)
    });
    assert_eq!(p_true(&o), truncated_exp_series(Q::new(3, 7), 7).0);
}

#[test]
fn bernoulli_exp_minus_one_is_the_unit_coin_at_one() {
    let o = enumerate::<bool, Q>(8, bernoulli_exp_minus_one);
    let (series, tail) = truncated_exp_series(Q::new(1, 1), 9);
    assert_eq!(p_true(&o), series);
    assert_eq!(o.unresolved, tail);
}

/// `[lo, hi]` brackets for `e^{−1}` from alternating partial sums.
fn bracket_contains(lo: f64, hi: f64, exact: f64) -> bool {
    lo <= exact + 1e-15 && exact <= hi + 1e-15
}

#[test]
fn bernoulli_exp_above_one_brackets_exp_minus_gamma() {
    for (num, den) in [(3u128, 2u128), (5, 2), (7, 3), (4, 1)] {
        let o = enumerate::<bool, f64>(14, |c| bernoulli_exp(num, den, c));
        let lo = p_true(&o);
        let hi = lo + o.unresolved;
        let exact = (-(num as f64) / den as f64).exp();
        assert!(
            o.unresolved < 1e-4,
            "γ={num}/{den}: unresolved {}",
            o.unresolved
        );
        assert!(
            bracket_contains(lo, hi, exact),
            "γ={num}/{den}: [{lo}, {hi}] vs {exact}"
        );
    }
}

#[test]
fn geometric_count_has_the_geometric_pmf() {
    let o = enumerate::<u64, f64>(20, geometric_exp_minus_one);
    let q = (-1.0f64).exp();
    assert!(o.unresolved < 3e-4, "unresolved {}", o.unresolved);
    for v in 0..4u64 {
        let lo = o.probability.get(&v).copied().unwrap_or(0.0);
        let exact = q.powi(v as i32) * (1.0 - q);
        assert!(
            bracket_contains(lo, lo + o.unresolved, exact),
            "V={v}: {lo} vs {exact}"
        );
        // The bracket is narrow (< 3e-4), so a wrong PMF cannot hide in it.
    }
}

#[test]
fn discrete_laplace_pmf_is_bracketed_exactly() {
    for (num, den) in [(1u64, 1u64), (1, 2), (2, 1)] {
        let o = enumerate::<i64, f64>(16, |c| discrete_laplace(num, den, c));
        let t = num as f64 / den as f64;
        let q = (-1.0 / t).exp();
        // Draws come in pairs here, so use an even depth; the bracket width
        // (unresolved mass) is 0.007–0.035 at depth 16.
        assert!(
            o.unresolved < 0.04,
            "scale {num}/{den}: unresolved {}",
            o.unresolved
        );
        for k in -3i64..=3 {
            let lo = o.probability.get(&k).copied().unwrap_or(0.0);
            let exact = (1.0 - q) / (1.0 + q) * q.powi(k.unsigned_abs() as i32);
            assert!(
                bracket_contains(lo, lo + o.unresolved, exact),
                "scale {num}/{den} k={k}: {lo} vs {exact}"
            );
        }
        // Symmetry holds exactly, run by run: P(k) and P(−k) get equal mass.
        for k in 1i64..=3 {
            let pos = o.probability.get(&k).copied().unwrap_or(0.0);
            let neg = o.probability.get(&-k).copied().unwrap_or(0.0);
            assert!((pos - neg).abs() <= 1e-15, "scale {num}/{den} k={k}");
        }
    }
}
