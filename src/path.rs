//! Field selectors: the `path` of a policy rule.
//!
//! Syntax (documented in the README):
//! - `a.b.c`: nested object keys;
//! - `"a.b/c"` (double quotes, inside a path): one key containing dots or slashes,
//!   e.g. `annotations."authorization.k8s.io/reason"`; `\"` and `\\` escape inside;
//! - `*`: any one object key; `[*]`: any one array element (`items[*].name`);
//! - `**`: any number (zero or more) of keys or elements (`**.password`).
//!
//! Precedence between rules that match the same field is by [`Specificity`]:
//! more literal keys win, then more single wildcards (`*`, `[*]`), then fewer `**`.

use crate::error::ConfigError;
use std::cmp::Ordering;

/// One step of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// A literal object key (compared exactly, or ASCII case-insensitively when the rule asks).
    Key(String),
    /// `*`: any single object key.
    AnyKey,
    /// `[*]`: any single array element.
    AnyIndex,
    /// `**`: zero or more keys or elements.
    Deep,
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub segments: Vec<Segment>,
}

/// How specific a selector is; greater is more specific.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Specificity {
    pub literals: u16,
    pub single_wildcards: u16,
    pub deep_wildcards: u16,
}

impl Ord for Specificity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.literals
            .cmp(&other.literals)
            .then(self.single_wildcards.cmp(&other.single_wildcards))
            // Fewer `**` is more specific.
            .then(other.deep_wildcards.cmp(&self.deep_wildcards))
    }
}

impl PartialOrd for Specificity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Longest selector accepted; deeper records are handled by the `**` wildcard.
const MAX_SEGMENTS: usize = 64;

impl Path {
    /// Parses a selector. `at` names the policy location for error messages.
    pub fn parse(text: &str, at: &str) -> Result<Path, ConfigError> {
        let err = |why: &str| ConfigError::new(at, format!("invalid path {text:?}: {why}"));
        if text.is_empty() {
            return Err(err("empty path"));
        }
        let mut segments = Vec::new();
        let mut chars = text.chars().peekable();
        // True right after a segment ended, when only `.`, `[*]` or the end may follow.
        let mut after_segment = false;
        while let Some(&c) = chars.peek() {
            if after_segment {
                match c {
                    '.' => {
                        chars.next();
                        if chars.peek().is_none() {
                            return Err(err("ends with '.'"));
                        }
                        after_segment = false;
                        continue;
                    }
                    '[' => {}
                    _ => return Err(err("expected '.' or '[*]' between segments")),
                }
            }
            match c {
                '[' => {
                    chars.next();
                    if chars.next() != Some('*') || chars.next() != Some(']') {
                        return Err(err("only '[*]' is supported inside brackets"));
                    }
                    segments.push(Segment::AnyIndex);
                }
                '"' => {
                    chars.next();
                    let mut key = String::new();
                    let mut closed = false;
                    while let Some(q) = chars.next() {
                        match q {
                            '"' => {
                                closed = true;
                                break;
                            }
                            '\\' => match chars.next() {
                                Some(e @ ('"' | '\\')) => key.push(e),
                                _ => {
                                    return Err(err(
                                        "only \\\" and \\\\ escapes are allowed in quoted keys",
                                    ))
                                }
                            },
                            other => key.push(other),
                        }
                    }
                    if !closed {
                        return Err(err("unterminated quoted key"));
                    }
                    segments.push(Segment::Key(key));
                }
                '.' => return Err(err("empty segment")),
                _ => {
                    let mut word = String::new();
                    while let Some(&w) = chars.peek() {
                        if w == '.' || w == '[' {
                            break;
                        }
                        if w == '"' || w == ']' {
                            return Err(err(
                                "quote or bracket inside an unquoted key; quote the whole key",
                            ));
                        }
                        word.push(w);
                        chars.next();
                    }
                    segments.push(match word.as_str() {
                        "*" => Segment::AnyKey,
                        "**" => Segment::Deep,
                        _ if word.contains('*') => {
                            return Err(err("'*' must be a whole segment ('*' or '**'); quote keys that contain '*'"))
                        }
                        _ => Segment::Key(word),
                    });
                }
            }
            after_segment = true;
            if segments.len() > MAX_SEGMENTS {
                return Err(err("more than 64 segments"));
            }
        }
        if !after_segment {
            return Err(err("ends with a separator"));
        }
        Ok(Path { segments })
    }

    /// Parses a selector made of literal keys only (no wildcards), as used to
    /// name the fields an aggregation reads.
    pub fn parse_literal(text: &str, at: &str) -> Result<Vec<String>, ConfigError> {
        let path = Path::parse(text, at)?;
        path.segments
            .into_iter()
            .map(|s| match s {
                Segment::Key(k) => Ok(k),
                _ => Err(ConfigError::new(
                    at,
                    format!("invalid field {text:?}: wildcards are not allowed here"),
                )),
            })
            .collect()
    }

    pub fn specificity(&self) -> Specificity {
        let mut s = Specificity {
            literals: 0,
            single_wildcards: 0,
            deep_wildcards: 0,
        };
        for seg in &self.segments {
            let slot = match seg {
                Segment::Key(_) => &mut s.literals,
                Segment::AnyKey | Segment::AnyIndex => &mut s.single_wildcards,
                Segment::Deep => &mut s.deep_wildcards,
            };
            *slot = slot.saturating_add(1);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(p: &str) -> Vec<Segment> {
        Path::parse(p, "t").unwrap().segments
    }
    fn key(k: &str) -> Segment {
        Segment::Key(k.to_string())
    }

    #[test]
    fn parses_dotted_keys_and_wildcards() {
        assert_eq!(segs("user.username"), vec![key("user"), key("username")]);
        assert_eq!(
            segs("items[*].name"),
            vec![key("items"), Segment::AnyIndex, key("name")]
        );
        assert_eq!(segs("**.password"), vec![Segment::Deep, key("password")]);
        assert_eq!(segs("headers.*"), vec![key("headers"), Segment::AnyKey]);
        assert_eq!(
            segs("sourceIPs[*]"),
            vec![key("sourceIPs"), Segment::AnyIndex]
        );
        assert_eq!(segs("[*]"), vec![Segment::AnyIndex]);
        assert_eq!(
            segs("a[*][*]"),
            vec![key("a"), Segment::AnyIndex, Segment::AnyIndex]
        );
    }

    #[test]
    fn parses_quoted_keys() {
        assert_eq!(
            segs(r#"annotations."authorization.k8s.io/reason""#),
            vec![key("annotations"), key("authorization.k8s.io/reason")]
        );
        assert_eq!(segs(r#""a\"b\\c".d"#), vec![key("a\"b\\c"), key("d")]);
        assert_eq!(segs(r#""*""#), vec![key("*")]);
    }

    #[test]
    fn rejects_malformed_paths_with_reasons() {
        for bad in [
            "", ".a", "a.", "a..b", "a[0]", "a[*", r#"a."b"#, "a*", "a]b", r#"a"b""#, "a.b\"c\"",
        ] {
            let e = Path::parse(bad, "fields[2].path").unwrap_err();
            assert_eq!(e.at, "fields[2].path", "{bad}");
            assert!(e.message.contains("invalid path"), "{bad}: {e}");
        }
        let deep = vec!["a"; 65].join(".");
        assert!(Path::parse(&deep, "t").is_err());
    }

    #[test]
    fn literal_paths_reject_wildcards() {
        assert_eq!(Path::parse_literal("a.b", "t").unwrap(), vec!["a", "b"]);
        assert!(Path::parse_literal("a.*", "t").is_err());
    }

    #[test]
    fn specificity_orders_literals_then_wildcards_then_fewer_deep() {
        let s = |p: &str| Path::parse(p, "t").unwrap().specificity();
        assert!(s("a.b") > s("a.*"));
        assert!(s("a.*") > s("**.b"));
        assert!(s("**.password") > s("**"));
        assert!(s("a.b.c") > s("a.**.c"));
        assert!(s("user.username") > s("user.*"));
        assert!(s("a.*") > s("a.**"));
        assert_eq!(s("a.b").cmp(&s("x.y")), Ordering::Equal);
    }
}
