//! Kubernetes principals named in free text: the API server's authorization
//! messages quote them, e.g. `pods is forbidden: User "bob" cannot list ...`,
//! `User "system:serviceaccount:ns1:sa1" cannot ...`, and RBAC messages
//! `... to ServiceAccount "replicaset-controller/kube-system"`.
//!
//! The finding is the text between the quotes after `User ` or
//! `ServiceAccount ` (case-insensitive, a word of its own, one space). All
//! names count, `system:` ones included: a stable pseudonym keeps them
//! countable, and deciding which built-in names are harmless is policy, not
//! detection. A name without its closing quote runs to the next whitespace.
//! Near-misses: `Group "..."`, `ClusterRole "..."`, `username "bob"`, `User bob`.

use super::bytes::{at, before, ends_with_ci, is_word};

const WORDS: [&[u8]; 2] = [b"user", b"serviceaccount"];

/// The quoted name whose opening quote is at `q`. Returns the name's span.
#[inline(never)]
pub(crate) fn find_at(b: &[u8], q: usize) -> Option<(usize, usize)> {
    let space = q.wrapping_sub(1);
    if at(b, space) != b' ' {
        return None;
    }
    // Cheap filter before the word comparisons: both words end in r/t.
    if !matches!(before(b, space).to_ascii_lowercase(), b'r' | b't') {
        return None;
    }
    let word_ok = WORDS
        .iter()
        .any(|w| ends_with_ci(b, space, w) && !is_word(before(b, space.wrapping_sub(w.len()))));
    if !word_ok {
        return None;
    }
    let start = q.wrapping_add(1);
    let mut end = start;
    while end < b.len() && at(b, end) != b'"' {
        end = end.wrapping_add(1);
    }
    if end >= b.len() {
        // Unterminated: stop at whitespace.
        end = start;
        while end < b.len() && !at(b, end).is_ascii_whitespace() {
            end = end.wrapping_add(1);
        }
    }
    (end > start).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use crate::detect::tests::spans;
    use crate::detect::Kind::Principal;

    #[test]
    fn positives() {
        let cases: &[(&str, &[&str])] = &[
            (
                r#"pods is forbidden: User "bob" cannot list pods in the namespace "default""#,
                &["bob"],
            ),
            (
                r#"nodes is forbidden: User "system:serviceaccount:ns1:sa1" cannot list nodes at the cluster scope"#,
                &["system:serviceaccount:ns1:sa1"],
            ),
            (
                r#"RBAC: clusterrole "x" of ClusterRole "y" to ServiceAccount "replicaset-controller/kube-system""#,
                &["replicaset-controller/kube-system"],
            ),
            (r#"user "alice" and User "bob""#, &["alice", "bob"]),
            (r#"serviceaccount "ns/name""#, &["ns/name"]),
            (r#"User "bob is cut"#, &["bob"]),
            (r#"User "Zoë""#, &["Zoë"]),
        ];
        for (text, want) in cases {
            assert_eq!(&spans(text, Principal), want, "{text}");
        }
    }

    #[test]
    fn near_misses() {
        for s in [
            r#"Group "system:masters""#,
            r#"ClusterRole "admin""#,
            r#"username "bob""#,
            r#"superuser "bob""#,
            r#"User bob"#,
            r#"User  "bob""#,
            r#"User """#,
            r#"the namespace "default""#,
        ] {
            assert!(spans(s, Principal).is_empty(), "{s}");
        }
    }
}
