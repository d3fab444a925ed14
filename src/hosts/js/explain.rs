//! Which policy rule decides a field: the labels of the playground.
//!
//! The scrubber does not report what it changed (it streams and copies
//! untouched spans), so the playground diffs input and output itself and asks
//! here, for each changed path, which rule's action applies. The walk is the
//! scrubber's own: the matcher's state sets from the root, the best rule
//! matching a node, else the rule inherited from the nearest ancestor, and
//! `default_action` at the root.

use crate::policy::matcher::{Label, Matcher, DEFAULT_RULE};
use crate::policy::{Action, Origin, Policy};

/// One step of a record path: an object key or an array position (the
/// position does not matter to selectors, only that it is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index,
}

/// The rule whose action applies at a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<'p> {
    /// Index into `policy.rules`; `None` for `default_action`.
    pub rule: Option<usize>,
    /// The selector as written (`None` for `default_action`).
    pub path_text: Option<&'p str>,
    pub action: &'p Action,
    /// `"preset"`, `"user"` or `"default"`.
    pub origin: &'static str,
}

/// The decision at `path` (from the record root) under `policy`, whose
/// compiled matcher is `matcher` (`Matcher::new(policy)`).
pub fn decide<'p>(policy: &'p Policy, matcher: &Matcher, path: &[Step]) -> Decision<'p> {
    let mut states = Vec::new();
    matcher.root(&mut states);
    let mut from = 0..states.len();
    // The root frame takes `default_action`, as in the scrubber.
    let mut rule = DEFAULT_RULE;
    for step in path {
        let base = states.len();
        let label = match step {
            // `as_ref`: the matcher takes the key as text or as bytes
            // (main's scanner optimisation moved it to bytes).
            Step::Key(k) => Label::Key(k.as_ref()),
            Step::Index => Label::Index,
        };
        matcher.step(&mut states, from, label);
        let child = states.get(base..).unwrap_or_default();
        rule = matcher.best_rule(child).unwrap_or(rule);
        from = base..states.len();
    }
    let index = usize::try_from(rule).ok();
    match index.and_then(|i| policy.rules.get(i).map(|r| (i, r))) {
        Some((i, r)) => Decision {
            rule: Some(i),
            path_text: Some(&r.path_text),
            action: &r.action,
            origin: match r.origin {
                Origin::Preset => "preset",
                Origin::User => "user",
            },
        },
        None => Decision {
            rule: None,
            path_text: None,
            action: &policy.default_action,
            origin: "default",
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn path(text: &[&str]) -> Vec<Step> {
        text.iter()
            .map(|s| match *s {
                "[]" => Step::Index,
                k => Step::Key(k.to_owned()),
            })
            .collect()
    }

    fn at(policy: &Policy, p: &[&str]) -> (Option<String>, &'static str, &'static str) {
        let m = Matcher::new(policy);
        let d = decide(policy, &m, &path(p));
        (d.path_text.map(str::to_owned), d.action.name(), d.origin)
    }

    #[test]
    fn names_the_rule_the_scrubber_applies() {
        let policy = Policy::from_json(
            r#"{"preset":"k8s-audit","fields":[
                {"path":"user","action":"keep"},
                {"path":"user.username","action":"redact","label":"who"},
                {"path":"**.password","action":"redact","label":"password"},
                {"path":"request_headers.authorization","action":"redact","ignore_case":true}]}"#,
        )
        .unwrap();
        let s = |x: &str| Some(x.to_owned());
        // A user rule beats the preset's on a tie.
        assert_eq!(
            at(&policy, &["user", "username"]),
            (s("user.username"), "redact", "user")
        );
        // Preset rules, with wildcards and arrays.
        assert_eq!(
            at(&policy, &["sourceIPs", "[]"]),
            (s("sourceIPs"), "truncate_ip", "preset")
        );
        assert_eq!(
            at(&policy, &["annotations", "authorization.k8s.io/reason"]),
            (s("annotations.*"), "detect", "preset")
        );
        // Inherited from the nearest ancestor with a rule.
        assert_eq!(
            at(
                &policy,
                &["requestObject", "spec", "containers", "[]", "image"]
            ),
            (s("requestObject"), "redact", "preset")
        );
        assert_eq!(
            at(&policy, &["user", "groups", "[]"]),
            (s("user.groups"), "detect", "preset")
        );
        // `**` reaches into a kept subtree.
        assert_eq!(
            at(&policy, &["user", "extra", "password"]),
            (s("**.password"), "redact", "user")
        );
        // Case-insensitive literal keys.
        assert_eq!(
            at(&policy, &["request_headers", "Authorization"]),
            (s("request_headers.authorization"), "redact", "user")
        );
        // No rule anywhere on the path: the default action.
        assert_eq!(at(&policy, &["brandNew"]), (None, "redact", "default"));
        assert_eq!(at(&policy, &[]), (None, "redact", "default"));
    }

    #[test]
    fn default_only_policy() {
        let policy = Policy::from_json(r#"{"default_action":"keep"}"#).unwrap();
        assert_eq!(at(&policy, &["a", "[]", "b"]), (None, "keep", "default"));
    }
}
