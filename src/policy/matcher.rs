//! Compiled selectors: a trie of path segments walked with small state sets.
//!
//! The rewriter keeps, for every open container, the set of trie nodes its
//! path reached. Stepping to a child costs one lookup per node in the set
//! (usually one or two), so matching is independent of the number of rules.

use super::{Action, Policy};
use crate::memo::same_bytes;
use crate::path::Segment;

/// A child label: an object key or an array position.
#[derive(Debug, Clone, Copy)]
pub enum Label<'a> {
    /// The key's bytes (unescaped).
    Key(&'a [u8]),
    Index,
}

#[derive(Debug, Default)]
struct Node {
    /// Exact keys and their child nodes, in a hash table built once the
    /// trie is complete.
    literal: LiteralTable,
    /// Keys compared ASCII-case-insensitively (few: HTTP headers).
    /// Keys compared ASCII-case-insensitively (HTTP headers), lowercased.
    literal_ci: LiteralTable,
    any_key: Option<u32>,
    any_index: Option<u32>,
    /// The `**` node reached from here without consuming a label.
    deep: Option<u32>,
    /// This node is a `**`: it stays active for every label below.
    is_deep: bool,
    /// Some `**` lies on the path from the root to this node.
    under_deep: bool,
    /// Index (into `Matcher::rules`) of the best rule ending here.
    rule: Option<u32>,
}

impl Node {
    fn has_below(&self) -> bool {
        self.is_deep
            || self.deep.is_some()
            || self.any_key.is_some()
            || self.any_index.is_some()
            || !self.literal.is_empty()
            || !self.literal_ci.is_empty()
    }

    fn has_fixed_below(&self) -> bool {
        !self.under_deep
            && (self.any_key.is_some()
                || self.any_index.is_some()
                || !self.literal.is_empty()
                || !self.literal_ci.is_empty())
    }
}

/// The last key met at each (parent state, member position) and the state
/// it led to. Records of one stream have the same keys in the same order, so
/// a step is usually a comparison with the key met there in the previous
/// record instead of a table lookup and a state-set build. A step depends
/// only on the parent state and the key, so a hit is exact; the position
/// only picks the slot.
pub struct StepCache {
    slots: Vec<StepSlot>,
}

#[derive(Default)]
struct StepSlot {
    parent: u32,
    key: Vec<u8>,
    /// The single state the step led to, or [`NO_STATE`].
    child: u32,
    valid: bool,
}

const STEP_SLOTS: usize = 256;
/// Keys longer than this are not cached (no header or field name is).
const STEP_MAX_KEY: usize = 128;
const NO_STATE: u32 = u32::MAX;

/// What the step cache predicts for a member: the rule that applies to it
/// and the state set it leads to (one state or none: sets of more are never
/// cached), exactly what [`Matcher::step`] and [`Matcher::best_rule`] would
/// give.
#[derive(Clone, Copy)]
pub struct Prediction {
    pub rule: u32,
    child: u32,
}

impl Prediction {
    /// Appends the member's state set to `states`.
    pub fn push_states(self, states: &mut Vec<u32>) {
        if self.child != NO_STATE {
            states.push(self.child);
        }
    }
}

/// The slot of (parent state, member position).
#[inline(always)]
fn slot_index(parent: u32, position: u32) -> usize {
    (parent.wrapping_mul(0x9E37_79B1) ^ position.wrapping_mul(0x85EB_CA77)) as usize
        & STEP_SLOTS.wrapping_sub(1)
}

impl Default for StepCache {
    fn default() -> Self {
        StepCache::new()
    }
}

impl StepCache {
    pub fn new() -> StepCache {
        StepCache { slots: Vec::new() }
    }
}

/// Index of the virtual rule that stands for `default_action`.
pub const DEFAULT_RULE: u32 = u32::MAX;

pub struct Matcher {
    nodes: Vec<Node>,
    /// Precedence and action of each policy rule, by index.
    ranks: Vec<Rank>,
    actions: Vec<Action>,
    default_action: Action,
}

/// Precedence key of a rule: see [`super::Rule::precedence`].
type Rank = (crate::path::Specificity, super::Origin, usize);

enum Edge<'a> {
    Literal(&'a str),
    LiteralCi(String),
    AnyKey,
    AnyIndex,
    Deep,
}

/// The exact-key children of a node: open addressing over a hash of the
/// key's length and three of its bytes. Stepping a record key then costs a
/// few arithmetic operations and one comparison, not a binary search of
/// byte-wise compares (each a `memcmp` call in wasm). The keys are the
/// policy's, so the table is small and at most half full; a record key can
/// only land on a cluster of policy keys, so a probe is short whatever the
/// record holds.
#[derive(Debug, Default)]
struct LiteralTable {
    entries: Vec<(Box<[u8]>, u32)>,
    /// `1 + index` into `entries`, 0 for an empty slot; length a power of two.
    slots: Box<[u32]>,
}

/// Hash of a key's length and first, middle and last bytes (no loop over
/// the key: an interpreter charges per byte).
#[inline(always)]
fn shape_hash(k: &[u8]) -> u32 {
    shape_hash_with(k, |b| b)
}

/// [`shape_hash`] of the key with its sampled bytes mapped by `map` (ASCII
/// lowercasing for case-insensitive tables: no copy of the key).
#[inline(always)]
fn shape_hash_with(k: &[u8], map: impl Fn(u8) -> u8) -> u32 {
    let n = k.len();
    let byte = |i: usize| u32::from(map(k.get(i).copied().unwrap_or(0)));
    let mut h = (n as u32).wrapping_mul(0x9E37_79B1)
        ^ byte(0)
        ^ byte(n / 2).wrapping_shl(8)
        ^ byte(n.wrapping_sub(1)).wrapping_shl(16);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^ (h >> 12)
}

impl LiteralTable {
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Build-time lookup (the table is not built yet).
    fn find_linear(&self, k: &str) -> Option<u32> {
        self.entries
            .iter()
            .find(|(key, _)| **key == *k.as_bytes())
            .map(|(_, id)| *id)
    }

    fn push(&mut self, k: &str, id: u32) {
        self.entries.push((k.as_bytes().into(), id));
    }

    /// Builds the slots: at least twice as many as entries.
    fn seal(&mut self) {
        let size = self
            .entries
            .len()
            .saturating_mul(2)
            .max(1)
            .next_power_of_two();
        let mut slots = vec![0u32; size];
        let mask = size.wrapping_sub(1);
        for (index, (key, _)) in self.entries.iter().enumerate() {
            let mut at = shape_hash(key) as usize & mask;
            while slots.get(at).is_some_and(|&s| s != 0) {
                at = at.wrapping_add(1) & mask;
            }
            if let (Some(slot), Ok(v)) = (slots.get_mut(at), u32::try_from(index)) {
                *slot = v.wrapping_add(1);
            }
        }
        self.slots = slots.into_boxed_slice();
    }

    /// Lookup of a key in a table of lowercased keys: the hash lowercases
    /// the bytes it samples, the comparison ignores ASCII case.
    fn get_ignore_case(&self, k: &[u8]) -> Option<u32> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = shape_hash_with(k, |b| b.to_ascii_lowercase()) as usize & mask;
        loop {
            let slot = *self.slots.get(at)?;
            let (key, id) = self.entries.get(slot.checked_sub(1)? as usize)?;
            if key.eq_ignore_ascii_case(k) {
                return Some(*id);
            }
            at = at.wrapping_add(1) & mask;
        }
    }

    #[inline(always)]
    fn get(&self, k: &[u8]) -> Option<u32> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = shape_hash(k) as usize & mask;
        loop {
            let slot = *self.slots.get(at)?;
            let (key, id) = self.entries.get(slot.checked_sub(1)? as usize)?;
            if same_bytes(key, k) {
                return Some(*id);
            }
            at = at.wrapping_add(1) & mask;
        }
    }
}

fn lookup_edge(node: &Node, edge: &Edge<'_>) -> Option<u32> {
    match edge {
        Edge::Literal(k) => node.literal.find_linear(k),
        Edge::LiteralCi(k) => node.literal_ci.find_linear(k),
        Edge::AnyKey => node.any_key,
        Edge::AnyIndex => node.any_index,
        Edge::Deep => node.deep,
    }
}

/// Finds or creates the child of `at` along `edge`.
fn child(nodes: &mut Vec<Node>, at: u32, edge: Edge<'_>, under_deep: bool) -> u32 {
    let Some(node) = nodes.get(at as usize) else {
        return at;
    };
    if let Some(id) = lookup_edge(node, &edge) {
        return id;
    }
    let Ok(id) = u32::try_from(nodes.len()) else {
        return at;
    };
    nodes.push(Node {
        is_deep: matches!(edge, Edge::Deep),
        under_deep,
        ..Node::default()
    });
    if let Some(node) = nodes.get_mut(at as usize) {
        match edge {
            Edge::Literal(k) => node.literal.push(k, id),
            Edge::LiteralCi(k) => node.literal_ci.push(&k, id),
            Edge::AnyKey => node.any_key = Some(id),
            Edge::AnyIndex => node.any_index = Some(id),
            Edge::Deep => node.deep = Some(id),
        }
    }
    id
}

impl Matcher {
    pub fn new(policy: &Policy) -> Matcher {
        let mut nodes = vec![Node::default()];
        let mut best: Vec<Option<(Rank, u32)>> = Vec::new();
        for (index, rule) in policy.rules.iter().enumerate() {
            let mut at = 0u32;
            let mut under_deep = false;
            for seg in &rule.path.segments {
                under_deep |= matches!(seg, Segment::Deep);
                let edge = match seg {
                    Segment::Key(k) if rule.ignore_case => Edge::LiteralCi(k.to_ascii_lowercase()),
                    Segment::Key(k) => Edge::Literal(k),
                    Segment::AnyKey => Edge::AnyKey,
                    Segment::AnyIndex => Edge::AnyIndex,
                    Segment::Deep => Edge::Deep,
                };
                at = child(&mut nodes, at, edge, under_deep);
            }
            best.resize(nodes.len(), None);
            let rank = rule.precedence(index);
            let Ok(rule_id) = u32::try_from(index) else {
                continue;
            };
            if let Some(slot) = best.get_mut(at as usize) {
                if slot.is_none_or(|(r, _)| rank > r) {
                    *slot = Some((rank, rule_id));
                }
            }
        }
        for (node, b) in nodes.iter_mut().zip(&best) {
            node.rule = b.map(|(_, id)| id);
        }
        for node in &mut nodes {
            node.literal.seal();
            node.literal_ci.seal();
        }
        let ranks = policy
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| r.precedence(i))
            .collect();
        Matcher {
            nodes,
            ranks,
            actions: policy.rules.iter().map(|r| r.action.clone()).collect(),
            default_action: policy.default_action.clone(),
        }
    }

    fn node(&self, id: u32) -> Option<&Node> {
        self.nodes.get(id as usize)
    }

    /// Appends `id`, and the `**` nodes reachable from it without consuming
    /// a label, to `states` unless already present after `from`.
    fn add(&self, mut id: u32, states: &mut Vec<u32>, from: usize) {
        loop {
            // Sets hold a node or two: a plain scan (`contains` unrolls
            // sixteen-fold with a setup that costs more than the search).
            let set = states.get(from..).unwrap_or_default();
            let mut present = false;
            for &s in set {
                present |= s == id;
            }
            if present {
                return;
            }
            states.push(id);
            match self.node(id).and_then(|n| n.deep) {
                Some(d) => id = d,
                None => return,
            }
        }
    }

    /// Appends the state set of the record root to `states`.
    pub fn root(&self, states: &mut Vec<u32>) {
        let from = states.len();
        self.add(0, states, from);
    }

    /// Appends to `states` the set reached by one label from the set
    /// `states[from]` (the arena holds every open container's set).
    pub fn step(&self, states: &mut Vec<u32>, from: std::ops::Range<usize>, label: Label<'_>) {
        let base = states.len();
        for i in from {
            let Some(node) = states.get(i).and_then(|&id| self.node(id)) else {
                continue;
            };
            if node.is_deep {
                if let Some(&id) = states.get(i) {
                    self.add(id, states, base);
                }
            }
            match label {
                Label::Key(k) => {
                    if let Some(next) = node.literal.get(k) {
                        self.add(next, states, base);
                    }
                    if !node.literal_ci.is_empty() {
                        if let Some(next) = node.literal_ci.get_ignore_case(k) {
                            self.add(next, states, base);
                        }
                    }
                    if let Some(next) = node.any_key {
                        self.add(next, states, base);
                    }
                }
                Label::Index => {
                    if let Some(next) = node.any_index {
                        self.add(next, states, base);
                    }
                }
            }
        }
    }

    /// [`Matcher::step`] through `cache` for a key under a single parent
    /// state (the common case); `position` is the member's index in its
    /// object. Results of more than one state are not cached.
    // Out of line: inlined, its locals would enlarge the scrubber's frame,
    // which sits under the deepest call path (WAMR's default stack is 8 KiB).
    #[inline(never)]
    pub fn step_cached(
        &self,
        cache: &mut StepCache,
        states: &mut Vec<u32>,
        from: std::ops::Range<usize>,
        label: Label<'_>,
        position: u32,
    ) {
        let (Label::Key(key), Some(&parent), 1) = (label, states.get(from.start), from.len())
        else {
            return self.step(states, from, label);
        };
        if key.len() > STEP_MAX_KEY {
            return self.step(states, from, label);
        }
        let at = slot_index(parent, position);
        if let Some(slot) = cache.slots.get(at) {
            if slot.valid && slot.parent == parent && same_bytes(&slot.key, key) {
                if slot.child != NO_STATE {
                    states.push(slot.child);
                }
                return;
            }
        }
        let base = states.len();
        self.step(states, from, label);
        let child = match states.get(base..) {
            Some([]) => NO_STATE,
            Some([one]) => *one,
            _ => return,
        };
        if cache.slots.is_empty() {
            cache.slots.resize_with(STEP_SLOTS, StepSlot::default);
        }
        if let Some(slot) = cache.slots.get_mut(at) {
            slot.parent = parent;
            slot.key.clear();
            slot.key.extend_from_slice(key);
            slot.child = child;
            slot.valid = true;
        }
    }

    /// The step cache's answer for `key` at `position` under the single
    /// state `parent`, without stepping on a miss: `Some(None)` when the key
    /// leads to no state, `Some(Some(rule))`/`Some(None)` by the child's own
    /// rule. The outer `None` is a miss.
    #[inline]
    pub fn cached_rule(
        &self,
        cache: &StepCache,
        parent: u32,
        position: u32,
        key: &[u8],
    ) -> Option<Option<u32>> {
        let slot = cache.slots.get(slot_index(parent, position))?;
        if !(slot.valid && slot.parent == parent && same_bytes(&slot.key, key)) {
            return None;
        }
        if slot.child == NO_STATE {
            return Some(None);
        }
        Some(self.node(slot.child).and_then(|n| n.rule))
    }

    /// The key the member at `position` under the single state `parent`
    /// had when last met, and its rule (`inherited` where no rule of its own
    /// names it), if the step cache holds one and the rule does not drop
    /// the member: a member with that key there is handled the same way
    /// again.
    #[inline]
    pub fn predicted_key<'c>(
        &self,
        cache: &'c StepCache,
        parent: u32,
        position: u32,
        inherited: u32,
    ) -> Option<(&'c [u8], Prediction)> {
        let slot = cache.slots.get(slot_index(parent, position))?;
        if !slot.valid || slot.parent != parent {
            return None;
        }
        let own = match slot.child {
            NO_STATE => None,
            child => self.node(child).and_then(|n| n.rule),
        };
        let rule = own.unwrap_or(inherited);
        let prediction = Prediction {
            rule,
            child: slot.child,
        };
        (!matches!(self.action(rule), Action::Drop)).then_some((slot.key.as_slice(), prediction))
    }

    /// The best rule matching a node whose state set is `states`, if any.
    pub fn best_rule(&self, states: &[u32]) -> Option<u32> {
        let mut best: Option<u32> = None;
        for &id in states {
            let Some(r) = self.node(id).and_then(|n| n.rule) else {
                continue;
            };
            best = match best {
                Some(b) if self.rank(b) >= self.rank(r) => Some(b),
                _ => Some(r),
            };
        }
        best
    }

    fn rank(&self, rule: u32) -> Option<&Rank> {
        self.ranks.get(rule as usize)
    }

    /// Whether some rule could match a strict descendant.
    pub fn live(&self, states: &[u32]) -> bool {
        states
            .iter()
            .any(|&id| self.node(id).is_some_and(Node::has_below))
    }

    /// Whether a rule without `**` could match a strict descendant: only
    /// those reopen a container that is dropped or redacted as a whole.
    pub fn fixed_live(&self, states: &[u32]) -> bool {
        states
            .iter()
            .any(|&id| self.node(id).is_some_and(Node::has_fixed_below))
    }

    /// The action of a rule index, or of the default for [`DEFAULT_RULE`].
    pub fn action(&self, rule: u32) -> &Action {
        self.actions
            .get(rule as usize)
            .unwrap_or(&self.default_action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_table_finds_exactly_its_keys() {
        let mut t = LiteralTable::default();
        let keys: Vec<String> = (0..300)
            .map(|i| match i % 3 {
                0 => format!("k{i}"),
                1 => format!("{i}-same-shape-{}", i % 7),
                _ => "x".repeat(i % 40),
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for (id, k) in keys.iter().enumerate() {
            t.push(k, id as u32);
        }
        t.seal();
        for (id, k) in keys.iter().enumerate() {
            assert_eq!(t.get(k.as_bytes()), Some(id as u32), "{k:?}");
        }
        for miss in [
            "",
            "k",
            "k1x",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            "x-same-shape-1",
        ] {
            assert_eq!(
                t.get(miss.as_bytes()).is_some(),
                keys.iter().any(|k| k == miss)
            );
        }
        let mut ci = LiteralTable::default();
        let long = "x-".repeat(100);
        for (id, k) in ["x-user-id", "authorization", long.as_str()]
            .iter()
            .enumerate()
        {
            ci.push(k, id as u32);
        }
        ci.seal();
        assert_eq!(ci.get_ignore_case(b"X-User-ID"), Some(0));
        assert_eq!(ci.get_ignore_case(b"AUTHORIZATION"), Some(1));
        assert_eq!(ci.get_ignore_case(long.to_uppercase().as_bytes()), Some(2));
        assert_eq!(ci.get_ignore_case(b"x-user-idx"), None);
        let empty = {
            let mut e = LiteralTable::default();
            e.seal();
            e
        };
        assert_eq!(empty.get(b"a"), None);
    }

    /// A cached step gives exactly the states a fresh step gives, for keys
    /// met at the same and at other positions, under one and several rules.
    #[test]
    fn cached_steps_equal_fresh_steps() {
        let policy = Policy::from_json(
            r#"{"default_action": "drop", "fields": [
                {"path": "a", "action": "keep"}, {"path": "a.b", "action": "keep"},
                {"path": "m.*", "action": "keep"}, {"path": "m.k", "action": "redact"},
                {"path": "h", "action": "keep", "ignore_case": true},
                {"path": "**.secret", "action": "redact"}]}"#,
        )
        .unwrap();
        let m = Matcher::new(&policy);
        let mut cache = StepCache::new();
        let keys: [&[u8]; 8] = [b"a", b"b", b"m", b"k", b"H", b"secret", b"zz", b"a"];
        for round in 0..3 {
            for parent in 0..m.nodes.len() as u32 {
                for (pos, k) in keys.iter().enumerate() {
                    let pos = (pos as u32 + round) % 5;
                    let mut fresh = vec![parent];
                    m.step(&mut fresh, 0..1, Label::Key(k));
                    let mut cached = vec![parent];
                    m.step_cached(&mut cache, &mut cached, 0..1, Label::Key(k), pos);
                    assert_eq!(cached, fresh, "parent {parent} key {k:?}");
                }
            }
        }
    }
}
