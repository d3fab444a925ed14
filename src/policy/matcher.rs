//! Compiled selectors: a trie of path segments walked with small state sets.
//!
//! The rewriter keeps, for every open container, the set of trie nodes its
//! path reached. Stepping to a child costs one lookup per node in the set
//! (usually one or two), so matching is independent of the number of rules.

use super::{Action, Policy};
use crate::path::Segment;

/// A child label: an object key or an array position.
#[derive(Debug, Clone, Copy)]
pub enum Label<'a> {
    Key(&'a str),
    Index,
}

#[derive(Debug, Default)]
struct Node {
    /// Exact keys, sorted by [`key_order`] for binary search.
    literal: Vec<(Box<str>, u32)>,
    /// Keys compared ASCII-case-insensitively (few: HTTP headers).
    literal_ci: Vec<(Box<str>, u32)>,
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

/// Length first, then bytes: most probes then end on one integer compare
/// (a byte-wise `memcmp` is costly in wasm), and only the final candidate
/// of equal length is compared in full.
fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

fn lookup_edge(node: &Node, edge: &Edge<'_>) -> Option<u32> {
    match edge {
        Edge::Literal(k) => node
            .literal
            .binary_search_by(|(key, _)| key_order(key, k))
            .ok()
            .and_then(|pos| node.literal.get(pos))
            .map(|(_, id)| *id),
        Edge::LiteralCi(k) => node
            .literal_ci
            .iter()
            .find(|(key, _)| **key == **k)
            .map(|(_, id)| *id),
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
            Edge::Literal(k) => {
                let pos = node
                    .literal
                    .partition_point(|(key, _)| key_order(key, k).is_lt());
                node.literal.insert(pos, (k.into(), id));
            }
            Edge::LiteralCi(k) => node.literal_ci.push((k.into(), id)),
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
            if states.get(from..).is_some_and(|s| s.contains(&id)) {
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
                    if let Some(next) = lookup_edge(node, &Edge::Literal(k)) {
                        self.add(next, states, base);
                    }
                    for (key, next) in &node.literal_ci {
                        if key.eq_ignore_ascii_case(k) {
                            self.add(*next, states, base);
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
