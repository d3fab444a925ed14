//! Reads a few scalar fields out of a JSON object by literal key paths,
//! without a DOM and without recursion (the aggregation reads its group keys
//! and values this way from scrubbed records).

use super::scan::{Kind, Scanner};
use super::text::unescape;
use super::JsonError;
use std::borrow::Cow;

/// For each path (a list of object keys from the root), the scalar found
/// there: strings unescaped, numbers and booleans as their literal text.
/// Absent fields, `null`, containers and anything under an array give `None`.
pub fn lookup<'a>(
    src: &'a [u8],
    paths: &[Vec<String>],
    max_depth: usize,
) -> Result<Vec<Option<Cow<'a, str>>>, JsonError> {
    let mut found: Vec<Option<Cow<'a, str>>> = vec![None; paths.len()];
    let mut sc = Scanner::new(src, max_depth);
    // Keys naming the open containers below the root.
    let mut keys: Vec<Option<Cow<'a, str>>> = Vec::new();
    let mut pending_key: Option<Cow<'a, str>> = None;
    while let Some(tok) = sc.next_token()? {
        let raw = src.get(tok.start..tok.end).unwrap_or_default();
        match tok.kind {
            Kind::Key => pending_key = Some(unescape(raw)?),
            Kind::ObjectStart | Kind::ArrayStart => {
                // Below the root, each container is named by its key; array
                // elements have none, so a `None` blocks every path below it.
                if sc.depth() > 1 {
                    keys.push(pending_key.take());
                }
            }
            Kind::ObjectEnd | Kind::ArrayEnd => {
                if sc.depth() > 0 {
                    keys.pop();
                }
            }
            Kind::String | Kind::Number | Kind::True | Kind::False | Kind::Null => {
                let Some(key) = pending_key.take() else {
                    continue;
                };
                let value = match tok.kind {
                    Kind::Null => continue,
                    Kind::String => unescape(raw)?,
                    _ => Cow::Borrowed(std::str::from_utf8(raw).map_err(|_| JsonError::Syntax)?),
                };
                for (slot, path) in found.iter_mut().zip(paths) {
                    if slot.is_none() && matches_path(&keys, &key, path) {
                        *slot = Some(value.clone());
                    }
                }
            }
        }
    }
    Ok(found)
}

fn matches_path(parents: &[Option<Cow<'_, str>>], key: &str, path: &[String]) -> bool {
    let Some((last, prefix)) = path.split_last() else {
        return false;
    };
    last == key
        && parents.len() == prefix.len()
        && parents
            .iter()
            .zip(prefix)
            .all(|(p, want)| p.as_deref() == Some(want.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(String::from).collect()
    }

    #[test]
    fn finds_nested_scalars() {
        let src = br#"{"verb":"get","user":{"username":"pk1:ab","groups":["a"]},"responseStatus":{"code":403},"x":null,"s":"a\u0026b"}"#;
        let got = lookup(
            src,
            &[
                p("verb"),
                p("user.username"),
                p("responseStatus.code"),
                p("x"),
                p("missing"),
                p("user.groups"),
                p("s"),
            ],
            64,
        )
        .unwrap();
        let got: Vec<Option<&str>> = got.iter().map(|o| o.as_deref()).collect();
        assert_eq!(
            got,
            vec![
                Some("get"),
                Some("pk1:ab"),
                Some("403"),
                None,
                None,
                None,
                Some("a&b")
            ]
        );
    }

    #[test]
    fn ignores_fields_inside_arrays_and_wrong_depths() {
        let src = br#"{"items":[{"verb":"x"}],"a":{"verb":"y"},"verb":"z"}"#;
        let got = lookup(src, &[p("verb"), p("a.verb"), p("items.verb")], 64).unwrap();
        assert_eq!(got[0].as_deref(), Some("z"));
        assert_eq!(got[1].as_deref(), Some("y"));
        assert_eq!(got[2], None);
    }

    #[test]
    fn keys_with_dots_are_single_segments() {
        let src = br#"{"annotations":{"authorization.k8s.io/decision":"allow"}}"#;
        let path = vec![
            "annotations".to_string(),
            "authorization.k8s.io/decision".to_string(),
        ];
        assert_eq!(
            lookup(src, &[path], 64).unwrap()[0].as_deref(),
            Some("allow")
        );
    }

    #[test]
    fn rejects_bad_json() {
        assert!(lookup(b"{\"a\":", &[p("a")], 64).is_err());
        let deep = "{\"a\":".repeat(100) + "1" + &"}".repeat(100);
        assert_eq!(
            lookup(deep.as_bytes(), &[p("a")], 64),
            Err(JsonError::TooDeep)
        );
    }
}
