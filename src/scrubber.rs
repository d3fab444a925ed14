//! The record scrubber: applies a compiled policy to one JSON record in a
//! single streaming pass.
//!
//! Untouched spans (kept values, whole kept subtrees) are copied as slices;
//! only values an action changes are decoded and re-encoded. Nesting lives in
//! a heap stack bounded by `limits.max_depth`, never in the call stack.

use crate::detect::{self, Finding};
use crate::error::ConfigError;
use crate::json::scan::{Kind, Predicted, Scanner, Token};
use crate::json::text::{unescape_str, write_string};
use crate::json::JsonError;
use crate::keys::KeyRing;
use crate::memo::{Memo, PrefixMemo};
use crate::policy::matcher::{Label, Matcher, Prediction, StepCache, DEFAULT_RULE};
use crate::policy::{Action, Limits, OnError, Policy};
use crate::scrub::{email, ip, mask, pseudonym::Pseudonymizer, redact, time};
use std::borrow::Cow;
use std::fmt;

/// Why a record was not scrubbed. The code is stable and documented; it is
/// all that is reported: never any part of the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrubError {
    RecordTooLarge,
    InvalidUtf8,
    InvalidJson(JsonError),
    NotAnObject,
}

impl ScrubError {
    pub fn code(self) -> &'static str {
        match self {
            ScrubError::RecordTooLarge => "record_too_large",
            ScrubError::InvalidUtf8 => "invalid_utf8",
            ScrubError::InvalidJson(JsonError::TooDeep) => "too_deep",
            ScrubError::InvalidJson(_) => "invalid_json",
            ScrubError::NotAnObject => "not_an_object",
        }
    }
}

impl fmt::Display for ScrubError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScrubError::InvalidJson(e) => write!(f, "record rejected ({}): {e}", self.code()),
            _ => write!(f, "record rejected ({})", self.code()),
        }
    }
}

impl std::error::Error for ScrubError {}

impl From<JsonError> for ScrubError {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::InvalidUtf8 => ScrubError::InvalidUtf8,
            e => ScrubError::InvalidJson(e),
        }
    }
}

/// Writes the documented fail-closed record for an error code:
/// `{"dp_audit_error":"<code>"}`.
pub fn write_error_record(code: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(b"{\"dp_audit_error\":");
    write_string(code, out);
    out.push(b'}');
}

struct Frame {
    /// This container's state set: `states[states_start..states_end]`.
    states_start: usize,
    states_end: usize,
    /// Rule whose action applies to children no rule names.
    rule: u32,
    /// A member was met (so the next one follows a comma).
    /// Members met so far (their position, for the step cache).
    members: u32,
    /// A member was kept.
    wrote_member: bool,
    /// Every member so far was dropped: the next kept one loses its comma.
    skip_comma: bool,
    /// Record this container's output in the memo when it closes.
    memo: Option<SubtreeMemo>,
}

/// A container whose output goes into the memo when it closes.
#[derive(Clone, Copy)]
struct SubtreeMemo {
    context: u64,
    /// Where the container's raw text starts (its `[` or `{`).
    raw_start: usize,
    /// Where its output starts in `out`.
    out_from: usize,
}

/// A root member's fate, by its name alone ([`Scrubber::top_level_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberPlan {
    rule: u32,
    pub effect: Effect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Written as it is.
    Keep,
    /// Left out, with its comma.
    Drop,
    /// Written through [`Scrubber::write_planned`].
    Transform,
}

pub struct Scrubber {
    matcher: Matcher,
    limits: Limits,
    on_error: OnError,
    work: Work,
    // Reused across records so the hot path allocates little.
    states: Vec<u32>,
    frames: Vec<Frame>,
    splice: Splice,
    step_cache: StepCache,
    scan_stack: Vec<bool>,
}

/// Value-level state and scratch space, apart from the walk's own state so
/// both can be borrowed at once.
struct Work {
    pseudonymizer: Option<Pseudonymizer>,
    /// Recent outputs of transforms by (rule, token kind) and raw value.
    memo: Memo,
    /// Recent outputs of whole containers.
    subtrees: PrefixMemo,
    findings: Vec<Finding>,
    text: String,
}

impl Scrubber {
    /// Compiles a policy. Keys are required when any action pseudonymizes.
    pub fn new(policy: &Policy, keys: Option<&KeyRing>) -> Result<Scrubber, ConfigError> {
        let pseudonymizer = match keys {
            Some(ring) => {
                let key = ring.active(policy.active_key.as_deref())?;
                Some(Pseudonymizer::new(
                    &key.id,
                    key.bytes(),
                    policy.pseudonym_bits,
                )?)
            }
            None if policy.needs_key() => {
                return Err(ConfigError::new(
                    "keys",
                    "this policy pseudonymizes but no HMAC key was provided",
                ))
            }
            None => None,
        };
        Ok(Scrubber {
            matcher: Matcher::new(policy),
            limits: policy.limits,
            on_error: policy.on_error,
            work: Work {
                pseudonymizer,
                memo: Memo::new(),
                subtrees: PrefixMemo::new(),
                findings: Vec::new(),
                text: String::new(),
            },
            states: Vec::with_capacity(64),
            frames: Vec::with_capacity(16),
            splice: Splice::default(),
            step_cache: StepCache::new(),
            scan_stack: Vec::with_capacity(16),
        })
    }

    pub fn on_error(&self) -> OnError {
        self.on_error
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Scrubs one record into `out` (cleared first). On error `out` is left
    /// empty: nothing partial ever escapes.
    pub fn scrub(&mut self, record: &[u8], out: &mut Vec<u8>) -> Result<(), ScrubError> {
        out.clear();
        let result = self.scrub_inner(record, out);
        if result.is_err() {
            out.clear();
        }
        result
    }

    /// Scrubs a record, or writes the policy's fail-closed result. Returns
    /// whether `out` holds a record to emit, and the error (if any) for the
    /// host to report by its code.
    pub fn scrub_or_fail_closed(
        &mut self,
        record: &[u8],
        out: &mut Vec<u8>,
    ) -> (bool, Option<ScrubError>) {
        match self.scrub(record, out) {
            Ok(()) => (true, None),
            Err(e) => (self.fail_closed(e, out), Some(e)),
        }
    }

    /// Writes the policy's fail-closed result for `e` into `out`; returns
    /// whether `out` holds a record to emit (`on_error: drop` emits nothing).
    pub fn fail_closed(&self, e: ScrubError, out: &mut Vec<u8>) -> bool {
        match self.on_error {
            OnError::ErrorRecord => {
                write_error_record(e.code(), out);
                true
            }
            OnError::Drop => {
                out.clear();
                false
            }
        }
    }

    /// What the walk does with a scalar member named `key` of the root
    /// object, decided once for hosts that build their records themselves
    /// (the Envoy logger writes its fields straight through
    /// [`Scrubber::write_planned`] instead of writing JSON and scanning it
    /// again). `None` when the decision is not the name's alone: under a
    /// `detect` default the walk scans keys as free text too.
    pub fn top_level_plan(&self, key: &str) -> Option<MemberPlan> {
        if matches!(self.matcher.action(DEFAULT_RULE), Action::Detect { .. }) {
            return None;
        }
        let mut states = Vec::new();
        self.matcher.root(&mut states);
        let base = states.len();
        self.matcher
            .step(&mut states, 0..base, Label::Key(key.as_bytes()));
        let rule = self
            .matcher
            .best_rule(states.get(base..).unwrap_or_default())
            .unwrap_or(DEFAULT_RULE);
        let effect = match self.matcher.action(rule) {
            Action::Keep => Effect::Keep,
            Action::Drop => Effect::Drop,
            _ => Effect::Transform,
        };
        Some(MemberPlan { rule, effect })
    }

    /// Writes the scrubbed form of one planned member's value into `out`
    /// exactly as the walk would: `literal` is the value's JSON text (a
    /// string with its quotes, escaped as `write_string` does, or a
    /// number). Same memo, same transforms.
    pub fn write_planned(
        &mut self,
        plan: MemberPlan,
        literal: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        let tok = match literal {
            [b'"', inner @ .., b'"'] => Token {
                kind: Kind::String,
                start: 1,
                end: literal.len().saturating_sub(1),
                escaped: inner.contains(&b'\\'),
            },
            _ => Token {
                kind: Kind::Number,
                start: 0,
                end: literal.len(),
                escaped: false,
            },
        };
        let Scrubber { matcher, work, .. } = self;
        let mut splice = Splice { copy_from: 0 };
        work.scalar(
            literal,
            tok,
            matcher.action(plan.rule),
            plan.rule,
            &mut splice,
            out,
        )
    }

    fn scrub_inner(&mut self, record: &[u8], out: &mut Vec<u8>) -> Result<(), ScrubError> {
        if record.len() > self.limits.max_record_bytes {
            return Err(ScrubError::RecordTooLarge);
        }
        // The scanner's stack is reused: an allocation and a free per record
        // cost more than scanning an empty one.
        let stack = std::mem::take(&mut self.scan_stack);
        let mut sc = Scanner::with_stack(record, self.limits.max_depth, stack);
        let result = self.walk(&mut sc, record, out);
        self.scan_stack = sc.into_stack();
        result
    }

    // Inlined: its frame would sit under the deepest call path (WAMR's
    // default stack is 8 KiB).
    #[inline(always)]
    fn walk(
        &mut self,
        sc: &mut Scanner<'_>,
        record: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        // UTF-8 is validated by the scanner inside strings (the only place
        // JSON allows non-ASCII): spans are turned into `str` only where a
        // transform needs text.
        let root = match sc.next_token()? {
            Some(
                t @ Token {
                    kind: Kind::ObjectStart,
                    ..
                },
            ) => t,
            _ => return Err(ScrubError::NotAnObject),
        };
        out.reserve(record.len());
        self.splice = Splice {
            copy_from: root.start,
        };
        self.states.clear();
        self.frames.clear();
        self.matcher.root(&mut self.states);
        self.frames.push(Frame {
            states_start: 0,
            states_end: self.states.len(),
            rule: DEFAULT_RULE,
            members: 0,
            wrote_member: false,
            skip_comma: false,
            memo: None,
        });
        let mut key: Option<Token> = None;
        let mut predicted: Option<Prediction> = None;
        loop {
            // A member the run consumed without settling comes back as the
            // tokens the scanner would have given.
            let mut pending = None;
            if key.is_none() {
                if let Some(p) = self.pass_predicted_members(sc) {
                    key = Some(p.key);
                    predicted = Some(p.tag);
                    pending = p.value;
                }
            }
            let tok = match pending {
                Some(tok) => tok,
                None => match sc.next_token()? {
                    Some(tok) => tok,
                    None => break,
                },
            };
            match tok.kind {
                Kind::Key => key = Some(tok),
                Kind::ObjectEnd | Kind::ArrayEnd => {
                    let Some(frame) = self.frames.pop() else {
                        continue;
                    };
                    self.states.truncate(frame.states_start);
                    if let Some(m) = frame.memo {
                        self.splice.flush(record, tok.end, out);
                        let rest = record.get(m.raw_start..).unwrap_or_default();
                        let output = out.get(m.out_from..).unwrap_or_default();
                        let len = tok.end.saturating_sub(m.raw_start);
                        self.work.subtrees.insert(m.context, rest, len, output);
                    }
                    if self.frames.is_empty() {
                        // The root closed: what follows is whitespace.
                        self.splice.flush(record, tok.end, out);
                    }
                }
                Kind::ObjectStart | Kind::ArrayStart => {
                    self.value(sc, record, tok, key.take(), predicted.take(), out)?
                }
                _ => match (key.take(), predicted.take()) {
                    // Handed back by the run: a predicted member to transform.
                    (Some(_), Some(p)) => self.settle_predicted_scalar(record, tok, p, out)?,
                    (Some(k), None) if self.settle_scalar(sc, record, &k, tok, out)? => {}
                    (k, p) => self.value(sc, record, tok, k, p, out)?,
                },
            }
        }
        Ok(())
    }

    /// Passes over the kept scalar members that come next in the innermost
    /// object exactly as the step cache predicts them (same key at the same
    /// position under the same state as in an earlier record): they stay in
    /// the splice, so nothing is written, and the scanner validates them
    /// without tokens. The first predicted member that is not a kept scalar
    /// comes back consumed, with its prediction (see
    /// [`Scanner::skip_expected_members`]). Members of a parent whose keys
    /// are scanned, dropped members (their commas need the walk) and
    /// anything unpredicted are left to the walk.
    #[inline]
    fn pass_predicted_members(&mut self, sc: &mut Scanner<'_>) -> Option<Predicted<Prediction>> {
        let Scrubber {
            matcher,
            states,
            frames,
            step_cache,
            ..
        } = self;
        let frame = frames.last_mut()?;
        if frame.skip_comma || frame.states_end.wrapping_sub(frame.states_start) != 1 {
            return None;
        }
        let parent = *states.get(frame.states_start)?;
        let inherited = frame.rule;
        if matches!(matcher.action(inherited), Action::Detect { .. }) {
            return None;
        }
        let (passed, stopped) = sc.skip_expected_members(
            frame.members,
            |position| matcher.predicted_key(step_cache, parent, position, inherited),
            |p: Prediction| matches!(matcher.action(p.rule), Action::Keep),
        );
        if passed > 0 {
            frame.members = frame.members.saturating_add(passed);
            frame.wrote_member = true;
        }
        stopped
    }

    /// A scalar member the predicted run consumed and handed back (its
    /// action transforms it): the run checked everything `settle_scalar`
    /// would, so only the action remains.
    #[inline]
    fn settle_predicted_scalar(
        &mut self,
        record: &[u8],
        tok: Token,
        predicted: Prediction,
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        let Scrubber {
            matcher,
            work,
            frames,
            splice,
            ..
        } = self;
        if let Some(frame) = frames.last_mut() {
            frame.members = frame.members.saturating_add(1);
            frame.wrote_member = true;
        }
        match matcher.action(predicted.rule) {
            Action::Keep => Ok(()),
            action => work.scalar(record, tok, action, predicted.rule, splice, out),
        }
    }

    /// A scalar member settled from the step cache alone, without
    /// [`Scrubber::value`]'s general walk (about a fifth of its
    /// instructions for a kept member): the key was met at this position
    /// under this parent state before, the parent's keys are not scanned and
    /// no comma is pending. Returns false, having done nothing, when any of
    /// that does not hold: `value` then decides.
    #[inline]
    fn settle_scalar(
        &mut self,
        sc: &Scanner<'_>,
        record: &[u8],
        key: &Token,
        tok: Token,
        out: &mut Vec<u8>,
    ) -> Result<bool, ScrubError> {
        let Scrubber {
            matcher,
            work,
            states,
            frames,
            splice,
            step_cache,
            ..
        } = self;
        let Some(frame) = frames.last_mut() else {
            return Ok(false);
        };
        if frame.skip_comma || key.escaped || frame.states_end.wrapping_sub(frame.states_start) != 1
        {
            return Ok(false);
        }
        let (Some(&parent), Some(name)) = (
            states.get(frame.states_start),
            record.get(key.start..key.end),
        ) else {
            return Ok(false);
        };
        let Some(own) = matcher.cached_rule(step_cache, parent, frame.members, name) else {
            return Ok(false);
        };
        if matches!(matcher.action(frame.rule), Action::Detect { .. }) {
            return Ok(false);
        }
        let rule = own.unwrap_or(frame.rule);
        let action = matcher.action(rule);
        let first = frame.members == 0;
        frame.members = frame.members.saturating_add(1);
        match action {
            Action::Keep => {}
            Action::Drop => {
                let comma = (!first).then(|| sc.last_comma());
                let (_, value_end) = tok.raw_span();
                // The member starts at its key's opening quote.
                let member_start = key.start.wrapping_sub(1);
                drop_member(frames, splice, comma, member_start, value_end, record, out);
                return Ok(true);
            }
            _ => work.scalar(record, tok, action, rule, splice, out)?,
        }
        frame.wrote_member = true;
        Ok(true)
    }

    /// Handles one value (scalar or container start) inside the innermost
    /// frame. Output is the record with edits ([`Splice`]): a kept member
    /// costs no write at all.
    // Inlined: a frame of its own would sit on the deepest call path
    // (detection down to SHA-256), which WAMR's small wasm stack bounds.
    #[inline(always)]
    fn value(
        &mut self,
        sc: &mut Scanner<'_>,
        record: &[u8],
        tok: Token,
        key: Option<Token>,
        predicted: Option<Prediction>,
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        let Scrubber {
            matcher,
            work,
            states,
            frames,
            splice,
            step_cache,
            ..
        } = self;
        let Some(parent) = frames.last_mut() else {
            return Err(ScrubError::InvalidJson(JsonError::Syntax));
        };
        let (parent_rule, parent_states) = (parent.rule, parent.states_start..parent.states_end);
        // The comma before this member, unless it is the first one.
        let comma = (parent.members > 0).then(|| sc.last_comma());
        let position = parent.members;
        parent.members = parent.members.saturating_add(1);
        // The key's bytes, unescaped (rarely needed) without a copy.
        let key_name: Option<Cow<'_, [u8]>> = match key {
            Some(k) if !k.escaped => Some(Cow::Borrowed(
                record.get(k.start..k.end).ok_or(JsonError::Syntax)?,
            )),
            Some(k) => Some(Cow::Owned(
                decode(span(record, &k)?, &k)?.into_owned().into_bytes(),
            )),
            None => None,
        };
        let base = states.len();
        let rule = match predicted {
            // The key was matched against the step cache's prediction.
            Some(p) => {
                p.push_states(states);
                p.rule
            }
            None => {
                let label = match &key_name {
                    Some(k) => Label::Key(k),
                    None => Label::Index,
                };
                // Only keys taken as they are go into the step cache: a
                // prediction is matched against raw record bytes.
                match key {
                    Some(k) if k.escaped => matcher.step(states, parent_states, label),
                    _ => matcher.step_cached(step_cache, states, parent_states, label, position),
                }
                let child_states = states.get(base..).unwrap_or_default();
                matcher.best_rule(child_states).unwrap_or(parent_rule)
            }
        };
        let child_states = states.get(base..).unwrap_or_default();
        let action = matcher.action(rule);
        // Keys of a container under `detect` are free text too (ConfigMap
        // data keys, annotation names).
        let key_edit = match (matcher.action(parent_rule), key, &key_name) {
            (
                &Action::Detect {
                    detectors,
                    pseudonymize_identities,
                },
                Some(k),
                Some(name),
            ) => Some(KeyEdit {
                tok: k,
                text: std::str::from_utf8(name).map_err(|_| ScrubError::InvalidUtf8)?,
                detectors,
                identities: pseudonymize_identities,
                rule: parent_rule,
            }),
            _ => None,
        };
        // Raw extent of the value (strings with their quotes) and of the
        // whole member (from its key's opening quote).
        let (value_start, _) = tok.raw_span();
        let member_start = key.map_or(value_start, |k| k.start.wrapping_sub(1));

        if matches!(tok.kind, Kind::ObjectStart | Kind::ArrayStart) {
            let descend = match action {
                Action::Keep => matcher.live(child_states),
                Action::Drop | Action::Redact { .. } => matcher.fixed_live(child_states),
                _ => true,
            };
            if descend {
                keep_member(frames, splice, comma, key_edit.as_ref(), work, record, out);
                // Repeated subtrees (the same user, object reference or
                // annotations record after record) come from the memo: a
                // hash of their first bytes and a comparison instead of a
                // walk. The output depends on the raw text, the state set,
                // the inherited rule and (for the depth limit) the depth
                // only; sets of more than one state are not memoised.
                let mut memo = None;
                if child_states.len() <= 1 {
                    let context = subtree_context(rule, child_states.first().copied(), sc.depth());
                    let rest = record.get(tok.start..).unwrap_or_default();
                    if let Some(context) = context {
                        if let Some((len, hit)) = work.subtrees.find(context, rest) {
                            let end = tok.start.wrapping_add(len);
                            sc.skip_verified(end);
                            splice.flush(record, tok.start, out);
                            out.extend_from_slice(hit);
                            splice.copy_from = end;
                            states.truncate(base);
                            return Ok(());
                        }
                        splice.flush(record, tok.start, out);
                        memo = Some(SubtreeMemo {
                            context,
                            raw_start: tok.start,
                            out_from: out.len(),
                        });
                    }
                }
                frames.push(Frame {
                    states_start: base,
                    states_end: states.len(),
                    rule,
                    members: 0,
                    wrote_member: false,
                    skip_comma: false,
                    memo,
                });
                return Ok(());
            }
            states.truncate(base);
            let end = sc.skip_container()?;
            match action {
                Action::Drop => drop_member(frames, splice, comma, member_start, end, record, out),
                Action::Redact { label } => {
                    keep_member(frames, splice, comma, key_edit.as_ref(), work, record, out);
                    splice.flush(record, tok.start, out);
                    work.text.clear();
                    redact::write_placeholder(label, &mut work.text);
                    write_string(&work.text, out);
                    splice.copy_from = end;
                }
                // The subtree stays as it is.
                _ => keep_member(frames, splice, comma, key_edit.as_ref(), work, record, out),
            }
            return Ok(());
        }

        states.truncate(base);
        let (_, value_end) = tok.raw_span();
        if matches!(action, Action::Drop) {
            drop_member(frames, splice, comma, member_start, value_end, record, out);
            return Ok(());
        }
        keep_member(frames, splice, comma, key_edit.as_ref(), work, record, out);
        if !matches!(action, Action::Keep) {
            work.scalar(record, tok, action, rule, splice, out)?;
        }
        Ok(())
    }
}

/// The output under construction is the record with edits: record bytes
/// before `copy_from` are settled (copied to the output or cut), those after
/// are copied when the next edit (or the end) needs them. Untouched members,
/// subtrees and brackets are thus copied in long runs, never token by token.
/// Edits come in record order.
#[derive(Default)]
struct Splice {
    copy_from: usize,
}

impl Splice {
    /// Copies the record up to `upto` into `out`.
    #[inline]
    fn flush(&mut self, record: &[u8], upto: usize, out: &mut Vec<u8>) {
        if upto > self.copy_from {
            out.extend_from_slice(record.get(self.copy_from..upto).unwrap_or_default());
            self.copy_from = upto;
        }
    }

    /// Cuts the record's `from..to` (after copying what precedes it).
    #[inline]
    fn cut(&mut self, record: &[u8], from: usize, to: usize, out: &mut Vec<u8>) {
        self.flush(record, from, out);
        self.copy_from = self.copy_from.max(to);
    }
}

/// A member key under a `detect` parent: scanned as free text.
struct KeyEdit<'a> {
    tok: Token,
    text: &'a str,
    detectors: detect::DetectorSet,
    identities: bool,
    /// The parent's rule (the memo's context).
    rule: u32,
}

/// A member (or element) stays: drop the comma before it if every member
/// before it was dropped, and rewrite its key if detection finds something.
fn keep_member(
    frames: &mut [Frame],
    splice: &mut Splice,
    comma: Option<usize>,
    key: Option<&KeyEdit<'_>>,
    work: &mut Work,
    record: &[u8],
    out: &mut Vec<u8>,
) {
    if let Some(frame) = frames.last_mut() {
        if frame.skip_comma {
            if let Some(c) = comma {
                splice.cut(record, c, c.wrapping_add(1), out);
            }
            frame.skip_comma = false;
        }
        frame.wrote_member = true;
    }
    if let Some(k) = key {
        k.rewrite(work, splice, record, out);
    }
}

/// A member (or element) goes, with the comma before it; if none was kept
/// before it, the next kept one loses its comma instead.
fn drop_member(
    frames: &mut [Frame],
    splice: &mut Splice,
    comma: Option<usize>,
    member_start: usize,
    end: usize,
    record: &[u8],
    out: &mut Vec<u8>,
) {
    splice.cut(record, comma.unwrap_or(member_start), end, out);
    if let Some(frame) = frames.last_mut() {
        if !frame.wrote_member {
            frame.skip_comma = true;
        }
    }
}

impl KeyEdit<'_> {
    fn rewrite(&self, work: &mut Work, splice: &mut Splice, record: &[u8], out: &mut Vec<u8>) {
        let raw = record.get(self.tok.start..self.tok.end).unwrap_or_default();
        let context = memo_context(self.rule, MEMO_KEY);
        // The key's extent with its quotes.
        let (from, to) = (self.tok.start.wrapping_sub(1), self.tok.end.wrapping_add(1));
        if let Some(hit) = work.memo.get(context, raw) {
            splice.flush(record, from, out);
            out.extend_from_slice(hit);
            splice.copy_from = to;
            return;
        }
        splice.flush(record, from, out);
        let start = out.len();
        work.text.clear();
        let ids = if self.identities {
            work.pseudonymizer.as_mut()
        } else {
            None
        };
        // One pass: the rewrite counts its findings; with none the raw key
        // (escapes as they were) stays.
        if detect::scrub_text(self.text, self.detectors, ids, &mut work.text) > 0 {
            write_string(&work.text, out);
        } else {
            out.extend_from_slice(record.get(from..to).unwrap_or_default());
        }
        splice.copy_from = to;
        work.memo
            .insert(context, raw, out.get(start..).unwrap_or_default());
    }
}

/// The text of a token (the scanner checked its UTF-8; this check only
/// turns the bytes into a `str`, for the few values a transform reads).
fn span<'a>(record: &'a [u8], tok: &Token) -> Result<&'a str, JsonError> {
    let bytes = record.get(tok.start..tok.end).ok_or(JsonError::Syntax)?;
    std::str::from_utf8(bytes).map_err(|_| JsonError::InvalidUtf8)
}

/// The value of a string or key token, unescaped only when the scanner saw
/// an escape.
fn decode<'a>(raw: &'a str, tok: &Token) -> Result<Cow<'a, str>, JsonError> {
    if tok.escaped {
        unescape_str(raw)
    } else {
        Ok(Cow::Borrowed(raw))
    }
}

/// Memo contexts: the rule, and what the raw text was (a string's raw text
/// and a number's can be equal and are transformed differently).
const MEMO_STRING: u64 = 0;
const MEMO_OTHER: u64 = 1;
const MEMO_KEY: u64 = 2;

fn memo_context(rule: u32, what: u64) -> u64 {
    u64::from(rule) << 2 | what
}

/// Memo context of a container: its inherited rule, its single trie state
/// (or none) and its depth, packed without overlap (`None` past the packing
/// limits: such containers are simply not memoised).
fn subtree_context(rule: u32, state: Option<u32>, depth: usize) -> Option<u64> {
    const BITS: u32 = 21;
    const MAX: u64 = (1 << BITS) - 1;
    let rule = u64::from(rule).wrapping_add(1) & 0xffff_ffff; // DEFAULT_RULE -> 0
    let state = state.map_or(0, |s| u64::from(s).wrapping_add(1));
    let depth = u64::try_from(depth).ok()?;
    if rule > MAX || state > MAX || depth > MAX {
        return None;
    }
    Some(rule << (2 * BITS) | state << BITS | depth)
}

impl Work {
    /// Applies a scalar action to one string/number/bool/null token, in
    /// place of its raw text (which `splice` has not copied yet). The
    /// transforms (all but keep, drop and redact) go through the memo: the
    /// same rule on the same raw text always writes the same bytes.
    // Inlined into its two callers: one frame less on the deepest path
    // (down to SHA-256; WAMR's default stack is 8 KiB).
    #[inline(always)]
    fn scalar(
        &mut self,
        record: &[u8],
        tok: Token,
        action: &Action,
        rule: u32,
        splice: &mut Splice,
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        // In place of the raw value, strings with their quotes.
        let (value_start, value_end) = tok.raw_span();
        splice.flush(record, value_start, out);
        splice.copy_from = value_end;
        if matches!(action, Action::Keep | Action::Drop | Action::Redact { .. })
            || tok.kind == Kind::Null
        {
            return self.transform(record, tok, action, out);
        }
        let raw = record.get(tok.start..tok.end).ok_or(JsonError::Syntax)?;
        let what = if tok.kind == Kind::String {
            MEMO_STRING
        } else {
            MEMO_OTHER
        };
        let context = memo_context(rule, what);
        if let Some(hit) = self.memo.get(context, raw) {
            out.extend_from_slice(hit);
            return Ok(());
        }
        let from = out.len();
        self.transform(record, tok, action, out)?;
        self.memo
            .insert(context, raw, out.get(from..).unwrap_or_default());
        Ok(())
    }

    // Inlined: one frame less on the path to SHA-256, whose frame is the
    // largest (WAMR's default stack is 8 KiB).
    #[inline(always)]
    fn transform(
        &mut self,
        record: &[u8],
        tok: Token,
        action: &Action,
        out: &mut Vec<u8>,
    ) -> Result<(), ScrubError> {
        let raw_text = span(record, &tok)?;
        let raw = raw_text.as_bytes();
        let is_string = tok.kind == Kind::String;
        let copy_raw = |out: &mut Vec<u8>| {
            if is_string {
                out.push(b'"');
                out.extend_from_slice(raw);
                out.push(b'"');
            } else {
                out.extend_from_slice(raw);
            }
        };
        if matches!(action, Action::Keep | Action::Drop) {
            copy_raw(out);
            return Ok(());
        }
        if tok.kind == Kind::Null {
            // null carries no value to protect.
            out.extend_from_slice(b"null");
            return Ok(());
        }
        let value = if is_string {
            decode(raw_text, &tok)?
        } else {
            Cow::Borrowed(raw_text)
        };
        self.text.clear();
        match action {
            Action::Keep | Action::Drop => {}
            Action::Redact { label } => redact::write_placeholder(label, &mut self.text),
            Action::Pseudonymize => self.pseudonym(value.as_bytes()),
            Action::TruncateIp {
                ipv4_prefix,
                ipv6_prefix,
            } => {
                if !is_string
                    || ip::truncate_ip(&value, *ipv4_prefix, *ipv6_prefix, &mut self.text).is_err()
                {
                    self.text.clear();
                    redact::write_placeholder("ip", &mut self.text);
                }
            }
            Action::GeneralizeTime { unit } => {
                if !is_string || time::generalize_time(&value, *unit, &mut self.text).is_err() {
                    self.text.clear();
                    redact::write_placeholder("time", &mut self.text);
                }
            }
            Action::Mask { keep_last } => mask::mask(&value, *keep_last, &mut self.text),
            Action::Email => {
                let done = match &mut self.pseudonymizer {
                    Some(p) if is_string => {
                        email::pseudonymize_email(&value, p, &mut self.text).is_ok()
                    }
                    _ => false,
                };
                if !done {
                    self.text.clear();
                    self.pseudonym(value.as_bytes());
                }
            }
            Action::Detect {
                detectors,
                pseudonymize_identities,
            } => {
                if is_string {
                    let ids = if *pseudonymize_identities {
                        self.pseudonymizer.as_mut()
                    } else {
                        None
                    };
                    // One pass: with no finding the raw value (escapes as
                    // they were) is copied instead of the rewrite.
                    if detect::scrub_text(&value, *detectors, ids, &mut self.text) == 0 {
                        copy_raw(out);
                        return Ok(());
                    }
                } else {
                    self.findings.clear();
                    detect::find_all(&value, *detectors, &mut self.findings);
                    if self.findings.is_empty() {
                        copy_raw(out);
                        return Ok(());
                    }
                    // A number that looks like a card number: the whole number goes.
                    let label = self.findings.first().map_or("", |f| f.kind.name());
                    redact::write_placeholder(label, &mut self.text);
                }
            }
        }
        write_string(&self.text, out);
        Ok(())
    }

    /// Appends the pseudonym of `value` to `self.text` (the pseudonymizer
    /// caches recent ones).
    fn pseudonym(&mut self, value: &[u8]) {
        match &mut self.pseudonymizer {
            Some(p) => p.write(value, &mut self.text),
            // Unreachable by construction (`new` requires a key for these
            // actions); fail closed rather than trap.
            None => redact::write_placeholder("", &mut self.text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const KEY2: &str = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn scrubber_with(policy: Value, key: &str) -> Scrubber {
        let policy = Policy::from_json(&policy.to_string()).unwrap();
        let ring = KeyRing::parse(key, "test").unwrap();
        Scrubber::new(&policy, Some(&ring)).unwrap()
    }

    fn scrubber(policy: Value) -> Scrubber {
        scrubber_with(policy, KEY)
    }

    fn run(s: &mut Scrubber, record: &str) -> Value {
        let mut out = Vec::new();
        s.scrub(record.as_bytes(), &mut out).unwrap();
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("invalid output {e}: {}", String::from_utf8_lossy(&out)))
    }

    #[test]
    fn keep_drop_redact_and_default() {
        let mut s = scrubber(json!({
            "default_action": "drop",
            "fields": [
                {"path": "a", "action": "keep"},
                {"path": "b", "action": "redact", "label": "secret"},
                {"path": "c", "action": "drop"},
                {"path": "n", "action": "redact"}
            ]
        }));
        let out = run(
            &mut s,
            r#"{"a":{"x":[1,2]},"b":"pw","c":1,"d":"unknown","n":null,"a2":3}"#,
        );
        assert_eq!(
            out,
            json!({"a": {"x": [1, 2]}, "b": "[REDACTED:secret]", "n": null})
        );
    }

    #[test]
    fn most_specific_rule_wins() {
        let mut s = scrubber(json!({
            "default_action": "drop",
            "fields": [
                {"path": "user", "action": "keep"},
                {"path": "user.username", "action": "redact", "label": "u"},
                {"path": "**.password", "action": "redact", "label": "pw"},
                {"path": "items[*]", "action": "keep"},
                {"path": "items[*].token", "action": "drop"},
                {"path": "m.*", "action": "redact", "label": "star"},
                {"path": "m.k", "action": "keep"}
            ]
        }));
        let out = run(
            &mut s,
            r#"{"user":{"username":"alice","uid":"7","deep":{"password":"p"}},"items":[{"token":"t","v":1},{"v":2}],"m":{"k":"v","j":"w"}}"#,
        );
        assert_eq!(
            out,
            json!({
                "user": {"username": "[REDACTED:u]", "uid": "7", "deep": {"password": "[REDACTED:pw]"}},
                "items": [{"v": 1}, {"v": 2}],
                "m": {"k": "v", "j": "[REDACTED:star]"}
            })
        );
    }

    #[test]
    fn ties_go_to_user_rules_over_presets_then_to_later_rules() {
        // The preset keeps `verb`; a user rule with the same path overrides it.
        let mut s = scrubber(
            json!({"preset": "k8s-audit", "fields": [{"path": "verb", "action": "redact"}]}),
        );
        assert_eq!(
            run(&mut s, r#"{"verb":"get"}"#),
            json!({"verb": "[REDACTED]"})
        );
        let mut s = scrubber(json!({"default_action": "drop", "fields": [
            {"path": "a", "action": "redact", "label": "first"},
            {"path": "a", "action": "redact", "label": "second"}
        ]}));
        assert_eq!(run(&mut s, r#"{"a":1}"#), json!({"a": "[REDACTED:second]"}));
    }

    #[test]
    fn redacted_containers_are_replaced_whole_unless_a_fixed_rule_reaches_inside() {
        let mut s = scrubber(json!({"default_action": "drop", "fields": [
            {"path": "obj", "action": "redact", "label": "object"},
            {"path": "**.password", "action": "keep"}
        ]}));
        assert_eq!(
            run(&mut s, r#"{"obj":{"password":"p","k":[1]}}"#),
            json!({"obj": "[REDACTED:object]"})
        );
        let mut s = scrubber(json!({"default_action": "drop", "fields": [
            {"path": "obj", "action": "redact", "label": "object"},
            {"path": "obj.kind", "action": "keep"}
        ]}));
        assert_eq!(
            run(
                &mut s,
                r#"{"obj":{"kind":"Pod","spec":{"x":1},"name":"n"}}"#
            ),
            json!({"obj": {"kind": "Pod", "spec": "[REDACTED:object]", "name": "[REDACTED:object]"}})
        );
    }

    #[test]
    fn preset_fails_closed_on_unknown_fields() {
        let mut s = scrubber(json!({"preset": "k8s-audit"}));
        let out = run(
            &mut s,
            r#"{"kind":"Event","newField":{"secret":"s3cr3t"},"user":{"username":"bob","extra":{"k":["v"]},"future":"x"},"requestObject":{"data":{"password":"hunter2"}}}"#,
        );
        let text = out.to_string();
        for raw in ["s3cr3t", "bob", "hunter2", "\"v\"", "\"x\""] {
            assert!(!text.contains(raw), "{raw} leaked: {text}");
        }
        assert_eq!(out["newField"], "[REDACTED:unknown]");
        assert_eq!(out["user"]["future"], "[REDACTED:unknown]");
        assert_eq!(out["user"]["extra"], "[REDACTED:credential]");
        assert_eq!(out["requestObject"], "[REDACTED:object]");
        assert!(out["user"]["username"]
            .as_str()
            .unwrap()
            .starts_with("pk1:"));
    }

    #[test]
    fn quoted_keys_and_case_insensitive_headers() {
        let mut s = scrubber(json!({"default_action": "drop", "fields": [
            {"path": "annotations.\"authorization.k8s.io/decision\"", "action": "keep"},
            {"path": "headers.Authorization", "action": "redact", "ignore_case": true},
            {"path": "headers.x-keep", "action": "keep"}
        ]}));
        let out = run(
            &mut s,
            r#"{"annotations":{"authorization.k8s.io/decision":"allow","other":"x"},"headers":{"AUTHORIZATION":"Bearer x","X-Keep":"no","x-keep":"yes"}}"#,
        );
        assert_eq!(
            out,
            json!({"annotations": {"authorization.k8s.io/decision": "allow"}, "headers": {"AUTHORIZATION": "[REDACTED]", "x-keep": "yes"}})
        );
    }

    #[test]
    fn value_actions_apply_to_every_leaf_below() {
        let mut s = scrubber(json!({"default_action": "drop", "fields": [
            {"path": "sourceIPs", "action": "truncate_ip"},
            {"path": "t", "action": "generalize_time", "unit": "hour"},
            {"path": "card", "action": "mask", "keep_last": 4},
            {"path": "mail", "action": "email"},
            {"path": "bad_ip", "action": "truncate_ip"},
            {"path": "bad_t", "action": "generalize_time"}
        ]}));
        let out = run(
            &mut s,
            r#"{"sourceIPs":["203.0.113.77","2001:db8:1:2::9"],"t":"2024-06-03T08:05:09.123Z","card":"4111111111111111","mail":"Alice@Example.com","bad_ip":"not-an-ip","bad_t":"yesterday"}"#,
        );
        assert_eq!(out["sourceIPs"][0], "203.0.113.0");
        assert_eq!(out["sourceIPs"][1], "2001:db8:1::");
        assert_eq!(out["t"], "2024-06-03T08:00:00Z");
        assert!(out["card"].as_str().unwrap().ends_with("1111"));
        assert!(!out["card"].as_str().unwrap().contains("4111111"));
        let mail = out["mail"].as_str().unwrap();
        assert!(
            mail.starts_with("pk1:") && mail.ends_with("@example.com"),
            "{mail}"
        );
        assert_eq!(out["bad_ip"], "[REDACTED:ip]");
        assert_eq!(out["bad_t"], "[REDACTED:time]");
    }

    #[test]
    fn pseudonyms_are_stable_cached_and_key_dependent() {
        let policy =
            json!({"default_action": "drop", "fields": [{"path": "u", "action": "pseudonymize"}]});
        let mut a = scrubber(policy.clone());
        let first = run(&mut a, r#"{"u":"alice"}"#)["u"].clone();
        let second = run(&mut a, r#"{"u":"alice"}"#)["u"].clone();
        assert_eq!(first, second);
        let fresh = run(&mut scrubber(policy.clone()), r#"{"u":"alice"}"#)["u"].clone();
        assert_eq!(
            first, fresh,
            "a restart with the same key gives the same pseudonym"
        );
        let other = run(&mut scrubber_with(policy, KEY2), r#"{"u":"alice"}"#)["u"].clone();
        assert_ne!(first, other);
        assert_ne!(first, run(&mut a, r#"{"u":"bob"}"#)["u"]);
        assert_eq!(first.as_str().unwrap().len(), "pk1:".len() + 16);
        // The escaped and unescaped forms of one string are one value.
        assert_eq!(run(&mut a, r#"{"u":"al\u0069ce"}"#)["u"], first);
    }

    #[test]
    fn detect_scans_values_and_keys() {
        let mut s = scrubber(json!({"default_action": "drop", "fields": [
            {"path": "msg", "action": "detect"},
            {"path": "data", "action": "detect", "identities": "redact"},
            {"path": "n", "action": "detect"}
        ]}));
        let out = run(
            &mut s,
            r#"{"msg":"login by alice@example.com from 198.51.100.7","data":{"carol@example.org":"x"},"n":4111111111111111}"#,
        );
        let text = out.to_string();
        for raw in [
            "alice@example.com",
            "198.51.100.7",
            "carol@example.org",
            "4111111111111111",
        ] {
            assert!(!text.contains(raw), "{raw} leaked: {text}");
        }
        assert!(
            out["data"]
                .as_object()
                .unwrap()
                .contains_key("[REDACTED:email]"),
            "{text}"
        );
        assert_eq!(out["n"], "[REDACTED:credit_card]");
    }

    #[test]
    fn errors_fail_closed_with_codes_and_leave_nothing_behind() {
        let mut s = scrubber(json!({"default_action": "keep"}));
        let deep = "{\"a\":".repeat(10_000) + "1" + &"}".repeat(10_000);
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(300 * 1024));
        let cases: Vec<(&[u8], &str)> = vec![
            (b"{\"a\":", "invalid_json"),
            (b"not json", "invalid_json"),
            (b"{\"a\":\"\xff\"}", "invalid_utf8"),
            (deep.as_bytes(), "too_deep"),
            (big.as_bytes(), "record_too_large"),
            (b"[1,2]", "not_an_object"),
            (b"", "invalid_json"),
            (b"\"str\"", "not_an_object"),
            (b"{} {}", "invalid_json"),
        ];
        for (input, code) in cases {
            let mut out = b"stale".to_vec();
            let e = s.scrub(input, &mut out).unwrap_err();
            assert_eq!(e.code(), code);
            assert!(out.is_empty());
            let (emit, err) = s.scrub_or_fail_closed(input, &mut out);
            assert!(emit && err.is_some());
            assert_eq!(
                serde_json::from_slice::<Value>(&out).unwrap(),
                json!({"dp_audit_error": code})
            );
        }
        // Good records still work after bad ones.
        assert_eq!(run(&mut s, r#"{"a":1}"#), json!({"a": 1}));
        let mut d = scrubber(json!({"default_action": "keep", "on_error": "drop"}));
        let mut out = Vec::new();
        assert!(!d.scrub_or_fail_closed(b"{", &mut out).0);
    }

    #[test]
    fn large_arrays_and_empty_records() {
        let mut s = scrubber(
            json!({"default_action": "drop", "fields": [{"path": "xs[*]", "action": "truncate_ip"}]}),
        );
        let xs: Vec<String> = (0..100_000)
            .map(|i| format!("\"10.0.{}.{}\"", (i / 256) % 256, i % 256))
            .collect();
        let rec = format!("{{\"xs\":[{}]}}", xs.join(","));
        let mut s2 = scrubber(
            json!({"default_action": "drop", "limits": {"max_record_bytes": 4194304}, "fields": [{"path": "xs[*]", "action": "truncate_ip"}]}),
        );
        let out = run(&mut s2, &rec);
        assert_eq!(out["xs"].as_array().unwrap().len(), 100_000);
        assert_eq!(out["xs"][300], "10.0.1.0");
        assert_eq!(run(&mut s, "{}"), json!({}));
        assert_eq!(run(&mut s, " { } "), json!({}));
    }

    #[test]
    fn policy_without_key_is_refused_when_it_pseudonymizes() {
        let p = Policy::from_json(r#"{"preset":"k8s-audit"}"#).unwrap();
        let e = Scrubber::new(&p, None).err().unwrap();
        assert_eq!(e.at, "keys");
        let p = Policy::from_json(r#"{"default_action":"keep"}"#).unwrap();
        assert!(Scrubber::new(&p, None).is_ok());
    }

    /// The output is the record with edits: commas around dropped members
    /// and elements (first, last, all, in a row), whitespace anywhere, and
    /// redacted keys must still give exactly the expected document.
    #[test]
    fn edits_keep_commas_and_structure_right() {
        use rand_chacha::rand_core::{RngCore, SeedableRng};
        use rand_chacha::ChaCha8Rng;

        fn gen(rng: &mut ChaCha8Rng, depth: u32) -> Value {
            let pick = rng.next_u32() % if depth > 3 { 3 } else { 6 };
            match pick {
                0 => json!(rng.next_u32() % 100),
                1 => json!(["x", "y", "z"][(rng.next_u32() % 3) as usize]),
                2 => Value::Null,
                3 | 4 => {
                    let mut m = serde_json::Map::new();
                    for _ in 0..rng.next_u32() % 5 {
                        let k = ["a", "b", "c", "d", "e"][(rng.next_u32() % 5) as usize];
                        m.insert(k.to_owned(), gen(rng, depth + 1));
                    }
                    Value::Object(m)
                }
                _ => Value::Array(
                    (0..rng.next_u32() % 5)
                        .map(|_| gen(rng, depth + 1))
                        .collect(),
                ),
            }
        }
        /// Reference: drop members named in `drop`, and elements of arrays
        /// under a key named in `drop_elems`; redact values under `redact`.
        fn reference(v: &Value, drop: &[&str], redact: &[&str], drop_elems: &[&str]) -> Value {
            match v {
                Value::Object(m) => Value::Object(
                    m.iter()
                        .filter(|(k, _)| !drop.contains(&k.as_str()))
                        .map(|(k, x)| {
                            // null carries nothing and stays null.
                            let x = if redact.contains(&k.as_str()) && !x.is_null() {
                                json!("[REDACTED]")
                            } else if drop_elems.contains(&k.as_str()) && x.is_array() {
                                json!([])
                            } else {
                                reference(x, drop, redact, drop_elems)
                            };
                            (k.clone(), x)
                        })
                        .collect(),
                ),
                Value::Array(a) => Value::Array(
                    a.iter()
                        .map(|x| reference(x, drop, redact, drop_elems))
                        .collect(),
                ),
                other => other.clone(),
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let mut checked = 0;
        for round in 0..3000 {
            let doc = match gen(&mut rng, 0) {
                Value::Object(m) => Value::Object(m),
                other => json!({ "a": other, "e": [1, other, 2] }),
            };
            let names = ["a", "b", "c", "d", "e"];
            let mut drop = Vec::new();
            let mut redact = Vec::new();
            let mut drop_elems = Vec::new();
            for n in names {
                match rng.next_u32() % 5 {
                    0 => drop.push(n),
                    1 => redact.push(n),
                    2 => drop_elems.push(n),
                    _ => {}
                }
            }
            let mut fields: Vec<Value> = Vec::new();
            for n in &drop {
                fields.push(json!({"path": format!("**.{n}"), "action": "drop"}));
            }
            for n in &redact {
                fields.push(json!({"path": format!("**.{n}"), "action": "redact"}));
            }
            for n in &drop_elems {
                fields.push(json!({"path": format!("**.{n}[*]"), "action": "drop"}));
            }
            let policy = json!({"default_action": "keep", "fields": fields});
            let mut s = scrubber(policy);
            let want = reference(&doc, &drop, &redact, &drop_elems);
            let compact = doc.to_string();
            let pretty = serde_json::to_string_pretty(&doc).unwrap();
            for text in [compact, pretty, format!("  {}\n", doc)] {
                let got = run(&mut s, &text);
                assert_eq!(got, want, "round {round}: {text}");
                checked += 1;
            }
        }
        assert_eq!(checked, 9000);
    }
    /// The caches' predictions (kept members passed over, scalars settled
    /// from the step cache, subtrees from the memo) never change what is
    /// accepted or what is written: after warm-up records, every byte-level
    /// mutation of one is accepted, and scrubbed, exactly as by a scrubber
    /// that has seen nothing before it.
    #[test]
    fn warm_caches_accept_and_write_exactly_what_cold_ones_do() {
        let policy = json!({"default_action": "keep", "fields": [
            {"path": "secret", "action": "redact"},
            {"path": "note", "action": "detect"},
            {"path": "gone", "action": "drop"},
            {"path": "who", "action": "pseudonymize"},
            {"path": "obj.inner", "action": "keep"},
        ]});
        let base = "{\"a\":\"x\",\"b\":12,\"c\":true,\"d\":null,\"e\":\"caf\\u00e9 \u{e9}\",\"gone\":1,\
                    \"k\\\"q\":2,\"note\":\"mail bob@example.org\",\"who\":\"ann\",\
                    \"obj\":{\"inner\":\"v\",\"n\":-1.5e3},\"secret\":\"s\",\"z\":[1,\"2\"],\"y\":false}";
        serde_json::from_str::<Value>(base).unwrap();
        let mut warm = scrubber(policy.clone());
        let mut out = Vec::new();
        let mut cold_out = Vec::new();
        let mut accepted = 0;
        let bytes = [
            b'"', b'\\', 0x01, 0xff, 0xc3, b'}', b'{', b']', b',', b':', b' ', b'x', b'0', b'-',
            b'e', b'.',
        ];
        for i in 0..base.len() {
            for &b in &bytes {
                let mut mutated = base.as_bytes().to_vec();
                mutated[i] = b;
                for _ in 0..2 {
                    warm.scrub(base.as_bytes(), &mut out).unwrap();
                }
                let got = warm.scrub(&mutated, &mut out);
                let want = scrubber(policy.clone()).scrub(&mutated, &mut cold_out);
                let text = String::from_utf8_lossy(&mutated);
                assert_eq!(got.is_ok(), want.is_ok(), "{text}");
                if got.is_ok() {
                    assert_eq!(out, cold_out, "{text}");
                    accepted += 1;
                }
            }
        }
        assert!(accepted > 300, "{accepted}");
        // A key seen escaped is never predicted against raw bytes: its
        // unescaped text is not valid JSON there.
        let mut s = scrubber(json!({"default_action": "keep"}));
        s.scrub(br#"{"a\"b":1}"#, &mut out).unwrap();
        s.scrub(br#"{"a\"b":1}"#, &mut out).unwrap();
        assert!(s.scrub(br#"{"a"b":1}"#, &mut out).is_err());
    }
    /// Fuzzing regression (`fuzz/fuzz_targets/scrub.rs`, input
    /// `%b\x1203.0.113.1990`): free text with a control character before
    /// digits. The IP-like run `03.0.113.1990` is no address, so it stays;
    /// its escaped form `\u001203.0.113.1990` merely spells the planted
    /// `203.0.113.199`, which no reader of the JSON sees. What must hold:
    /// no decoded string of the output carries the planted values.
    #[test]
    fn fuzz_regression_escape_next_to_digits_is_not_a_planted_value() {
        let text = "%b\u{12}03.0.113.1990";
        let quoted = serde_json::to_string(&format!(
            "{text} zelda.fuzz@example.org {text} AKIAFUZZFUZZFUZZ7777"
        ))
        .unwrap();
        let record = format!(
            r#"{{"kind":"Event","user":{{"username":"planted-user-zq7","extra":{{"x":["hunter2-fuzz-secret"]}}}},"sourceIPs":["203.0.113.199"],"responseStatus":{{"message":{quoted}}},"requestObject":{{}},"annotations":{{"a":{quoted}}}}}"#
        );
        let mut s = scrubber(json!({"preset": "k8s-audit"}));
        let out = run(&mut s, &record);
        let mut texts = Vec::new();
        let mut stack = vec![&out];
        while let Some(v) = stack.pop() {
            match v {
                Value::String(t) => texts.push(t.clone()),
                Value::Array(items) => stack.extend(items),
                Value::Object(m) => {
                    texts.extend(m.keys().cloned());
                    stack.extend(m.values());
                }
                other => texts.push(other.to_string()),
            }
        }
        for planted in [
            "zelda.fuzz@example.org",
            "AKIAFUZZFUZZFUZZ7777",
            "203.0.113.199",
            "planted-user-zq7",
            "hunter2-fuzz-secret",
        ] {
            assert!(
                !texts.iter().any(|t| t.contains(planted)),
                "{planted}: {out}"
            );
        }
        // The free text itself is kept as it was (nothing in it to find).
        assert!(texts.iter().any(|t| t.contains("03.0.113.1990")), "{out}");
        // Second finding: `y@zeLda.fuzz@example.org` kept the mailbox
        // `zelda.fuzz` as the domain of `y@zeLda.fuzz`.
        let quoted =
            serde_json::to_string("y@zeLda.fuzz@example.org zelda.fuzz@example.org").unwrap();
        let record = format!(r#"{{"kind":"Event","responseStatus":{{"message":{quoted}}}}}"#);
        let out = run(&mut s, &record).to_string().to_ascii_lowercase();
        assert!(!out.contains("zelda.fuzz"), "{out}");
    }
}
