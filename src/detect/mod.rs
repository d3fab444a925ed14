//! Free-text detectors for secrets and personal data inside string values.
//!
//! One pass over the bytes, built for an interpreter that charges every wasm
//! instruction (Fluent Bit runs the module in WAMR's interpreter):
//!
//! 1. Eight bytes at a time, a few 64-bit operations flag the candidate bytes
//!    (`0-9 : ; < = > ? @ A B " J b`); text without them costs one load and
//!    about ten operations per word.
//! 2. A candidate is a trigger if its class (a 256-byte table) belongs to an
//!    enabled detector; digits and `A`/`B`/`b` only at the start of a word.
//! 3. Inline necessary conditions reject most triggers without a call (a
//!    digit followed by neither a `.` nor enough digits, a `:` not after a hex
//!    digit or the end of a known parameter name, ...), and the rest of a word
//!    starting with a digit is skipped whole.
//! 4. Only then a detector runs, forward from the trigger or with a short,
//!    bounded look back:
//!
//! | trigger | detectors |
//! |---|---|
//! | digit after a non-word byte | [`ipv4`], [`phone`], [`credit_card`], [`token`] |
//! | digit inside a word | [`token`] (once per token run) |
//! | `@` | [`email`] (local part looked up backwards) |
//! | `:` | [`ipv6`] (first colon of an address), [`secret_param`] (key looked up backwards) |
//! | `=` | [`secret_param`] (also `user=` as `principal`, `phone=` as `phone`), AWS secret keys ([`aws`]) |
//! | `"` after `User ` / `ServiceAccount ` | [`principal`] |
//! | `B` of `-----BEGIN` | [`private_key`] |
//! | `A` | [`aws`] access key ids |
//! | `J` after `ey` | [`jwt`] |
//! | `B`/`b` | [`auth_header`] (`Bearer`, `Basic`) |
//!
//! Whole values shaped like RFC 3339 timestamps or UUIDs, which cannot hold
//! a finding, are skipped before the scan.
//!
//! A `(` after a space is tried as a [`secret_param`] value in parentheses
//! (`literal credential (<value>)`). A `%` is no trigger, but the scan notes a percent escape outside any
//! finding; then [`find_all`] and [`scrub_text`] also scan the decoded text
//! and map its findings back onto the encoded spans ([`percent`]).
//!
//! Findings come out left to right. Once a finding is reported, scanning
//! resumes after its end and look-backs never reach before it, so findings are
//! sorted and never overlap: on a conflict the one that starts earlier wins
//! (`token=eyJ...` is a `secret_param`, not a `jwt`). Nothing allocates unless
//! the caller collects findings. No regular expressions, no recursion.
//!
//! Each detector file documents what it matches, what it deliberately does
//! not, and carries its positive and near-miss tests.

pub(crate) mod bytes;
mod percent;
mod shape;

pub mod auth_header;
pub mod aws;
pub mod credit_card;
pub mod email;
pub mod ipv4;
pub mod ipv6;
pub mod jwt;
pub mod phone;
pub mod principal;
pub mod private_key;
pub mod secret_param;
pub mod token;

use crate::scrub::pseudonym::Pseudonymizer;
use crate::scrub::redact::write_placeholder;
use bytes::{at, before, is_word};

/// What a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Email,
    Ipv4,
    Ipv6,
    Jwt,
    Bearer,
    Basic,
    AwsAccessKeyId,
    AwsSecretKey,
    PrivateKey,
    CreditCard,
    SecretParam,
    Principal,
    Phone,
    RandomToken,
}

impl Kind {
    pub const ALL: [Kind; 14] = [
        Kind::Email,
        Kind::Ipv4,
        Kind::Ipv6,
        Kind::Jwt,
        Kind::Bearer,
        Kind::Basic,
        Kind::AwsAccessKeyId,
        Kind::AwsSecretKey,
        Kind::PrivateKey,
        Kind::CreditCard,
        Kind::SecretParam,
        Kind::Principal,
        Kind::Phone,
        Kind::RandomToken,
    ];

    /// The name used in policies and in `[REDACTED:<name>]` placeholders.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Ipv4 => "ipv4",
            Kind::Ipv6 => "ipv6",
            Kind::Jwt => "jwt",
            Kind::Bearer => "bearer",
            Kind::Basic => "basic",
            Kind::AwsAccessKeyId => "aws_access_key_id",
            Kind::AwsSecretKey => "aws_secret_key",
            Kind::PrivateKey => "private_key",
            Kind::CreditCard => "credit_card",
            Kind::SecretParam => "secret_param",
            Kind::Principal => "principal",
            Kind::Phone => "phone",
            Kind::RandomToken => "random_token",
        }
    }

    pub fn from_name(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }

    fn bit(self) -> u16 {
        1u16 << (self as u16)
    }
}

/// A set of detectors to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetectorSet(u16);

impl DetectorSet {
    pub fn all() -> Self {
        Kind::ALL.into_iter().fold(Self::empty(), Self::with)
    }

    pub fn empty() -> Self {
        DetectorSet(0)
    }

    #[must_use]
    pub fn with(self, k: Kind) -> Self {
        DetectorSet(self.0 | k.bit())
    }

    pub fn contains(self, k: Kind) -> bool {
        self.0 & k.bit() != 0
    }

    /// Trigger classes that some detector in the set reacts to.
    fn trigger_mask(self) -> u8 {
        let has = |kinds: u16| self.0 & kinds != 0;
        let mut m = 0;
        if has(bits(&[
            Kind::Ipv4,
            Kind::CreditCard,
            Kind::Phone,
            Kind::RandomToken,
        ])) {
            m |= T_DIGIT;
        }
        if has(bits(&[Kind::Email])) {
            m |= T_AT;
        }
        // `user=`, `phone=` parameters are found by the parameter scan.
        let params = bits(&[
            Kind::SecretParam,
            Kind::AwsSecretKey,
            Kind::Principal,
            Kind::Phone,
        ]);
        if has(params | Kind::Ipv6.bit()) {
            m |= T_COLON;
        }
        if has(params) {
            m |= T_EQ;
        }
        if has(bits(&[Kind::Principal])) {
            m |= T_QUOTE;
        }
        if has(bits(&[
            Kind::AwsAccessKeyId,
            Kind::Jwt,
            Kind::Bearer,
            Kind::Basic,
            Kind::PrivateKey,
        ])) {
            m |= T_LETTER;
        }
        m
    }
}

/// The set bits of `kinds` (folded to a constant at each call site).
#[inline(always)]
fn bits(kinds: &[Kind]) -> u16 {
    kinds.iter().fold(0, |acc, &k| acc | k.bit())
}

/// The byte span (on char boundaries) of exactly the sensitive part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

const T_DIGIT: u8 = 1;
const T_AT: u8 = 2;
const T_COLON: u8 = 4;
const T_EQ: u8 = 8;
const T_QUOTE: u8 = 16;
const T_LETTER: u8 = 32;
/// Not a trigger class: digits and `A`/`B`/`b` fire only at a word start.
const T_START: u8 = 64;
/// Not a trigger: marks `[A-Za-z0-9_]` for skipping the rest of a word.
const T_WORD: u8 = 128;

/// Trigger class of every byte.
#[expect(
    clippy::indexing_slicing,
    reason = "constant evaluation: an out-of-range index fails the build, it cannot panic at run time"
)]
static TRIGGERS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        if (c as u8).is_ascii_alphanumeric() || c == b'_' as usize {
            t[c] = T_WORD;
        }
        if (c as u8).is_ascii_digit() {
            t[c] |= T_DIGIT | T_START;
        }
        c += 1;
    }
    t[b'@' as usize] = T_AT;
    t[b':' as usize] = T_COLON;
    t[b'=' as usize] = T_EQ;
    t[b'"' as usize] = T_QUOTE;
    t[b'A' as usize] |= T_LETTER | T_START;
    t[b'J' as usize] |= T_LETTER;
    t[b'B' as usize] |= T_LETTER | T_START;
    t[b'b' as usize] |= T_LETTER | T_START;
    t
};

#[inline(always)]
fn class(c: u8) -> u8 {
    // A u8 index is always in range: the bounds check folds away.
    TRIGGERS.get(usize::from(c)).copied().unwrap_or(0)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;

/// High bit set in each byte of `x` equal to `v`. Only the lowest set bit is
/// exact (a borrow can mark a byte above a match), which is all we use.
#[inline(always)]
fn bytes_eq(x: u64, v: u8) -> u64 {
    let y = x ^ ONES.wrapping_mul(u64::from(v));
    y.wrapping_sub(ONES) & !y & HIGH
}

/// High bit set in each ASCII byte of `x` in `lo..=hi` (exact per byte: no
/// carry or borrow crosses bytes for `0 < lo <= hi < 127`).
#[inline(always)]
fn bytes_between(x: u64, lo: u8, hi: u8) -> u64 {
    let x7 = x & LOW7;
    let below_hi = ONES
        .wrapping_mul(128u64.wrapping_add(u64::from(hi)))
        .wrapping_sub(x7);
    let above_lo = x7.wrapping_add(ONES.wrapping_mul(128u64.wrapping_sub(u64::from(lo))));
    below_hi & above_lo & !x & HIGH
}

/// Bytes that may be triggers: `0-9 : ; < = > ? @ A B`, `"`, `J`, `b`, `%`
/// of percent escapes and `(` of `credential (<value>)` (a superset of
/// [`TRIGGERS`]; `;<>?#$&'` are weeded out by the table).
#[inline(always)]
fn candidates(x: u64) -> u64 {
    bytes_between(x, b'0', b'B')
        | bytes_between(x, b'"', b'(')
        | bytes_eq(x, b'J')
        | bytes_eq(x, b'b')
}

/// Whether a byte of class `cls` after the byte `prev` is a trigger for
/// `mask`. Digits and `A`/`B`/`b` only start findings at the start of a word,
/// so inside a word they are no triggers.
#[inline(always)]
fn is_trigger(cls: u8, prev: u8, mask: u8) -> bool {
    cls & mask != 0 && (cls & T_START == 0 || class(prev) & T_WORD == 0)
}

/// First index at or after `i` that is not a word byte `[A-Za-z0-9_]`.
#[inline(always)]
fn word_end(b: &[u8], mut i: usize) -> usize {
    while class(at(b, i)) & T_WORD != 0 {
        i = i.wrapping_add(1);
    }
    i
}

/// `b[i..i + 8]` as a little-endian `u64`.
#[inline(always)]
fn word_at(b: &[u8], i: usize) -> Option<u64> {
    let w = b.get(i..i.checked_add(8)?)?;
    <[u8; 8]>::try_from(w).ok().map(u64::from_le_bytes)
}

/// A text shorter than 8 bytes, zero-padded to a word (zero is no trigger).
#[inline(always)]
fn padded_word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    if let Some(dst) = w.get_mut(..b.len()) {
        dst.copy_from_slice(b);
    }
    u64::from_le_bytes(w)
}

/// Iterator over the findings of `set` in `text`, left to right.
pub fn findings(text: &str, set: DetectorSet) -> Findings<'_> {
    scan(text.as_bytes(), set)
}

/// [`findings`] over bytes (a percent-decoded copy need not be UTF-8).
fn scan(b: &[u8], set: DetectorSet) -> Findings<'_> {
    Findings {
        text: b,
        set,
        mask: set.trigger_mask(),
        // Timestamps and UUIDs are a good share of all values and can hold
        // no finding: skip them whole.
        pos: if shape::is_inert(b) { b.len() } else { 0 },
        floor: 0,
        card_done: 0,
        token_done: 0,
        saw_escape: false,
    }
}

/// See [`findings`].
pub struct Findings<'a> {
    text: &'a [u8],
    set: DetectorSet,
    mask: u8,
    /// Next byte to look at.
    pos: usize,
    /// End of the last finding: no later finding starts before it.
    floor: usize,
    /// Digit groups before this were already tried as card numbers.
    card_done: usize,
    /// Token runs before this were already tried as random tokens.
    token_done: usize,
    /// A percent escape was passed outside any finding.
    saw_escape: bool,
}

impl Iterator for Findings<'_> {
    type Item = Finding;

    /// Eight bytes per step: one load and a handful of 64-bit operations pick
    /// the candidate bytes of a word, and only those are looked at (the Fluent
    /// Bit host interprets every wasm instruction). The last partial word is
    /// read overlapping the previous one, or zero-padded when the whole text
    /// is shorter than a word, so there is no byte-at-a-time tail.
    fn next(&mut self) -> Option<Finding> {
        let b = self.text;
        let len = b.len();
        let mask = self.mask;
        let mut i = self.pos;
        while i < len {
            let (base, x) = match word_at(b, i) {
                Some(x) => (i, x),
                None if len >= 8 => {
                    let base = len.wrapping_sub(8);
                    (base, word_at(b, base).unwrap_or(0))
                }
                None => (0, padded_word(b)),
            };
            // Bytes before `i` in an overlapping word are done already.
            let skip = i.wrapping_sub(base).min(7) as u32;
            let mut hits = candidates(x) & u64::MAX.wrapping_shl(skip.wrapping_mul(8));
            let mut next = base.wrapping_add(8);
            while hits != 0 {
                let bit = hits.trailing_zeros() & !7;
                hits &= hits.wrapping_sub(1);
                let k = base.wrapping_add((bit / 8) as usize);
                // The byte and its predecessor come from the word in hand.
                let c = x.wrapping_shr(bit) as u8;
                let prev = if bit == 0 {
                    before(b, k)
                } else {
                    x.wrapping_shr(bit.wrapping_sub(8)) as u8
                };
                let cls = class(c);
                if !is_trigger(cls, prev, mask) {
                    if cls & T_DIGIT != 0 && cls & mask != 0 {
                        // A digit inside a word: only a random token can
                        // start here (tried once per token run).
                        if let Some(f) = self.token(b, k) {
                            return self.report(f);
                        }
                        continue;
                    }
                    match c {
                        b'%' if !self.saw_escape => self.saw_escape = percent::is_escape(b, k),
                        b'(' if prev == b' ' && secret_param::may_follow_key(b, k) => {
                            if let Some((start, end)) = secret_param::find_in_parens(b, k, self.set)
                            {
                                return self.report(Finding {
                                    start,
                                    end,
                                    kind: Kind::SecretParam,
                                });
                            }
                        }
                        _ => {}
                    }
                    continue;
                }
                if self.worth_trying(b, k, c, prev) {
                    if let Some(f) = self.try_at(b, k) {
                        return self.report(f);
                    }
                }
                if cls & T_DIGIT != 0 {
                    if let Some(f) = self.token(b, k) {
                        return self.report(f);
                    }
                    // Nothing in the rest of a word that starts with a digit
                    // (numbers, ids, versions) can start a finding: skip it
                    // rather than rejecting its digits one by one.
                    next = word_end(b, k.wrapping_add(1));
                    break;
                }
            }
            i = next;
        }
        self.pos = len;
        None
    }
}

impl Findings<'_> {
    /// Hands out `f`: scanning resumes after it and look-backs stop there.
    #[inline(always)]
    fn report(&mut self, f: Finding) -> Option<Finding> {
        self.pos = f.end;
        self.floor = f.end;
        Some(f)
    }

    /// The cheapest necessary conditions of the detectors that `c = b[i]`
    /// triggers, tested inline in the scan loop: most trigger bytes in clean
    /// text (digits of times and ids, colons of `system:...` names) stop here
    /// without a call.
    #[inline(always)]
    fn worth_trying(&self, b: &[u8], i: usize, c: u8, prev: u8) -> bool {
        let set = self.set;
        match c {
            b'0'..=b'9' => {
                if is_word(prev) || prev == b'.' {
                    return false;
                }
                let c1 = at(b, i.wrapping_add(1));
                let c3 = at(b, i.wrapping_add(3));
                if set.contains(Kind::Phone)
                    && (prev == b'+' || c3 == b'-' || c3 == b'.' || (prev == b'(' && c3 == b')'))
                {
                    return true;
                }
                // IPv4: a `.` among the next three bytes.
                if set.contains(Kind::Ipv4)
                    && (c1 == b'.'
                        || at(b, i.wrapping_add(2)) == b'.'
                        || at(b, i.wrapping_add(3)) == b'.')
                {
                    return true;
                }
                // Card: 4 digits, then a fifth digit or a separator and a
                // second group of 3+ digits.
                let digit = |k: usize| at(b, i.wrapping_add(k)).is_ascii_digit();
                let c4 = at(b, i.wrapping_add(4));
                set.contains(Kind::CreditCard)
                    && i >= self.card_done
                    && c1.is_ascii_digit()
                    && digit(2)
                    && digit(3)
                    && (c4.is_ascii_digit()
                        || ((c4 == b' ' || c4 == b'-') && digit(5) && digit(6) && digit(7)))
            }
            b':' => {
                (set.contains(Kind::Ipv6)
                    && (bytes::is_hex(prev) || at(b, i.wrapping_add(1)) == b':'))
                    || (secret_param::wanted(set) && secret_param::may_follow_key(b, i))
            }
            b'=' => secret_param::wanted(set) && secret_param::may_follow_key(b, i),
            b'"' => prev == b' ',
            // Key ids are 20 bytes and every prefix ends in `A`.
            b'A' => {
                !is_word(prev) && i.wrapping_add(20) <= b.len() && at(b, i.wrapping_add(3)) == b'A'
            }
            // `bearer`, `basic`, `BEGIN` after `-----`.
            b'B' | b'b' => {
                !is_word(prev)
                    && (prev == b'-' || matches!(at(b, i.wrapping_add(1)) | 0x20, b'e' | b'a'))
            }
            _ => true,
        }
    }

    /// Runs the detectors that `b[i]` triggers (after [`Self::worth_trying`]).
    /// Out of line, like the detectors, so the scan loop stays small.
    #[inline(never)]
    fn try_at(&mut self, b: &[u8], i: usize) -> Option<Finding> {
        let set = self.set;
        let c = at(b, i);
        let prev = before(b, i);
        let found = |(start, end): (usize, usize), kind: Kind| Finding { start, end, kind };
        match c {
            b'0'..=b'9' => {
                if is_word(prev) || prev == b'.' {
                    return None;
                }
                if set.contains(Kind::Ipv4) && ipv4::may_start(b, i) {
                    if let Some(end) = ipv4::find_at(b, i) {
                        return Some(found((i, end), Kind::Ipv4));
                    }
                }
                if set.contains(Kind::Phone) {
                    let s = i.wrapping_sub(1);
                    let phone = match prev {
                        b'+' if s >= self.floor => phone::find_international(b, s),
                        b'(' if s >= self.floor => {
                            phone::find_national(b, s).or_else(|| phone::find_national(b, i))
                        }
                        _ => phone::find_national(b, i),
                    };
                    if let Some(span) = phone {
                        return Some(found(span, Kind::Phone));
                    }
                }
                if set.contains(Kind::CreditCard) && i >= self.card_done {
                    let (hit, scanned) = credit_card::scan(b, i);
                    self.card_done = scanned;
                    return hit.map(|span| found(span, Kind::CreditCard));
                }
                None
            }
            b'@' if set.contains(Kind::Email) => {
                email::find_around(b, i, self.floor).map(|s| found(s, Kind::Email))
            }
            b':' => {
                // An address is tried at its first colon, which has a hex
                // digit before it or a second colon after it.
                if set.contains(Kind::Ipv6)
                    && (bytes::is_hex(prev) || at(b, i.wrapping_add(1)) == b':')
                {
                    if let Some(span) = ipv6::find_around(b, i, self.floor) {
                        return Some(found(span, Kind::Ipv6));
                    }
                }
                self.param(b, i)
            }
            b'=' => self.param(b, i),
            b'"' if set.contains(Kind::Principal) && prev == b' ' => {
                let (start, end) = principal::find_at(b, i)?;
                let is_mail =
                    set.contains(Kind::Email) && b.get(start..end).is_some_and(email::is_email);
                let kind = if is_mail {
                    Kind::Email
                } else {
                    Kind::Principal
                };
                Some(found((start, end), kind))
            }
            // Every key id prefix ends in `A` (AKIA, ASIA, AROA, ...).
            b'A' if set.contains(Kind::AwsAccessKeyId)
                && !is_word(prev)
                && at(b, i.wrapping_add(3)) == b'A' =>
            {
                aws::key_id_at(b, i).map(|end| found((i, end), Kind::AwsAccessKeyId))
            }
            b'J' if set.contains(Kind::Jwt)
                && prev == b'y'
                && before(b, i.wrapping_sub(1)) == b'e' =>
            {
                let e = i.checked_sub(2).filter(|&e| e >= self.floor)?;
                jwt::find_at(b, e).map(|end| found((e, end), Kind::Jwt))
            }
            b'B' | b'b' if !is_word(prev) => {
                // `-----BEGIN`: the dashes are not triggers (they are all over
                // names and ids), the `B` after them is.
                if prev == b'-' && set.contains(Kind::PrivateKey) {
                    let start = i.checked_sub(5).filter(|&s| s >= self.floor)?;
                    let end = private_key::find_at(b, start)?;
                    return Some(found((start, end), Kind::PrivateKey));
                }
                let bearer = set.contains(Kind::Bearer);
                let basic = set.contains(Kind::Basic);
                let next = at(b, i.wrapping_add(1)) | 0x20;
                if !((bearer && next == b'e') || (basic && next == b'a')) {
                    return None;
                }
                let (start, end, kind) = auth_header::find_at(b, i, bearer, basic)?;
                Some(found((start, end), kind))
            }
            _ => None,
        }
    }

    /// The random token around the digit at `k`, once per token run.
    #[inline(always)]
    fn token(&mut self, b: &[u8], k: usize) -> Option<Finding> {
        if !self.set.contains(Kind::RandomToken) || k < self.token_done {
            return None;
        }
        let (start, end) = token::extent(b, k, self.floor);
        self.token_done = end;
        if end.saturating_sub(start) < token::MIN_LEN {
            return None;
        }
        token::is_random(b, start, end).then_some(Finding {
            start,
            end,
            kind: Kind::RandomToken,
        })
    }

    #[inline(always)]
    fn param(&self, b: &[u8], i: usize) -> Option<Finding> {
        if !secret_param::wanted(self.set) || !secret_param::may_follow_key(b, i) {
            return None;
        }
        let (start, end, kind) = secret_param::find_at(b, i, self.set)?;
        Some(Finding { start, end, kind })
    }
}

/// A finding, and for one made in the percent-decoded copy, its span there.
#[derive(Clone, Copy)]
struct Hit {
    f: Finding,
    decoded: Option<(usize, usize)>,
}

/// All findings of `text`, including those in its percent-decoded copy
/// (mapped back onto the encoded text; see [`percent`]), sorted and
/// non-overlapping, plus the decoded copy when one was made.
fn collect(text: &str, set: DetectorSet, hits: &mut Vec<Hit>) -> Option<percent::Decoded> {
    let mut it = scan(text.as_bytes(), set);
    hits.extend(it.by_ref().map(|f| Hit { f, decoded: None }));
    if !it.saw_escape {
        return None;
    }
    let d = percent::decode(text.as_bytes())?;
    let raw = hits.len();
    for f in scan(&d.bytes, set) {
        if let Some((start, end)) = d.source_span(f.start, f.end) {
            hits.push(Hit {
                f: Finding {
                    start,
                    end,
                    kind: f.kind,
                },
                decoded: Some((f.start, f.end)),
            });
        }
    }
    if hits.len() > raw {
        merge(hits);
    }
    Some(d)
}

/// Sorts by start and folds overlapping hits into the earlier one, which
/// grows to cover both (and then is replaced by its placeholder as a whole).
fn merge(hits: &mut Vec<Hit>) {
    // On equal spans the decoded finding comes first: it saw the real text.
    hits.sort_by_key(|h| (h.f.start, std::cmp::Reverse(h.f.end), h.decoded.is_none()));
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits.drain(..) {
        match kept.last_mut() {
            Some(last) if h.f.start < last.f.end => {
                if h.f.end > last.f.end {
                    last.f.end = h.f.end;
                    last.decoded = None;
                    // A grown span is no longer one address or name.
                    if matches!(last.f.kind, Kind::Email | Kind::Principal) {
                        last.f.kind = h.f.kind;
                    }
                }
            }
            _ => kept.push(h),
        }
    }
    *hits = kept;
}

/// Appends findings sorted by start, non-overlapping (on overlap the earlier
/// one wins, see the module docs). Findings in the percent-decoded text are
/// reported on the encoded span they came from.
pub fn find_all(text: &str, set: DetectorSet, out: &mut Vec<Finding>) {
    let mut it = findings(text, set);
    let first = out.len();
    out.extend(it.by_ref());
    if !it.saw_escape {
        return;
    }
    out.truncate(first);
    let mut hits = Vec::new();
    collect(text, set, &mut hits);
    out.extend(hits.iter().map(|h| h.f));
}

/// Rewrites `text` into `out` with each finding replaced: `[REDACTED:<kind
/// name>]`, except that when `identities` is Some, Email findings become
/// [`crate::scrub::email::pseudonymize_email`] output and Principal findings
/// become a pseudonym of the whole name (the same pseudonym a policy gives the
/// `user.username` field holding that name). A finding in percent-encoded
/// text replaces the encoded span, and its pseudonym is that of the decoded
/// name. Returns the number of replacements. With no findings, `out`
/// receives `text` unchanged.
pub fn scrub_text(
    text: &str,
    set: DetectorSet,
    mut identities: Option<&mut Pseudonymizer>,
    out: &mut String,
) -> usize {
    // Common case without allocation: the raw findings, streamed. Should the
    // scan pass a percent escape, that output is taken back and the text is
    // rewritten from the merged raw and decoded findings.
    let rollback = out.len();
    let mut it = findings(text, set);
    let count = rewrite(
        text,
        it.by_ref().map(|f| Hit { f, decoded: None }),
        None,
        identities.as_deref_mut(),
        out,
    );
    if !it.saw_escape {
        return count;
    }
    out.truncate(rollback);
    let mut hits = Vec::new();
    let decoded = collect(text, set, &mut hits);
    rewrite(text, hits.into_iter(), decoded.as_ref(), identities, out)
}

/// Writes `text` with each hit replaced (see [`scrub_text`]).
fn rewrite(
    text: &str,
    hits: impl Iterator<Item = Hit>,
    decoded: Option<&percent::Decoded>,
    mut identities: Option<&mut Pseudonymizer>,
    out: &mut String,
) -> usize {
    let mut count = 0usize;
    let mut pos = 0usize;
    for h in hits {
        let f = h.f;
        // Spans are on char boundaries by construction (they begin and end
        // next to ASCII bytes or at the ends of the text); should one not be,
        // dropping text is the failure that leaks nothing.
        out.push_str(text.get(pos..f.start).unwrap_or(""));
        let span = match (h.decoded, decoded) {
            (Some((s, e)), Some(d)) => d
                .bytes
                .get(s..e)
                .and_then(|v| std::str::from_utf8(v).ok())
                .unwrap_or(""),
            _ => text.get(f.start..f.end).unwrap_or(""),
        };
        match (f.kind, identities.as_deref_mut()) {
            (Kind::Email, Some(p)) if !span.is_empty() => {
                if crate::scrub::email::pseudonymize_email(span, p, out).is_err() {
                    write_placeholder(f.kind.name(), out);
                }
            }
            (Kind::Principal, Some(p)) if !span.is_empty() => p.write(span.as_bytes(), out),
            _ => write_placeholder(f.kind.name(), out),
        }
        pos = f.end;
        count = count.saturating_add(1);
    }
    out.push_str(text.get(pos..).unwrap_or(""));
    count
}

#[cfg(test)]
pub(crate) mod tests;
