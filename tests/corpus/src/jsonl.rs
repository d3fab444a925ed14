//! Normalises files holding one or more JSON objects (pretty-printed,
//! concatenated or one per line) into compact JSON lines without changing any
//! value: only whitespace outside strings is dropped, every other byte
//! (escapes, number spellings, key order) is kept as it was.

#[derive(Debug, PartialEq, Eq)]
pub enum SplitError {
    /// A top-level value that is not an object starts at this byte offset.
    NotAnObject(usize),
    /// The input ends inside an object or string.
    Unterminated,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::NotAnObject(at) => {
                write!(f, "top-level value at byte {at} is not an object")
            }
            SplitError::Unterminated => write!(f, "input ends inside an object or string"),
        }
    }
}

/// Splits `input` into its top-level objects, each compacted to one line (no
/// newline). Brackets are only counted, not validated: parse the result.
pub fn compact_objects(input: &[u8]) -> Result<Vec<Vec<u8>>, SplitError> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in input.iter().enumerate() {
        if in_string {
            cur.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            continue;
        }
        if depth == 0 && b != b'{' {
            return Err(SplitError::NotAnObject(i));
        }
        cur.push(b);
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                // depth > 0 here: at depth 0 only `{` gets this far.
                depth -= 1;
                if depth == 0 {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => {}
        }
    }
    if depth != 0 || in_string {
        return Err(SplitError::Unterminated);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_and_concatenated_objects_become_lines_with_bytes_kept() {
        let input = b"{\n  \"a\": \"x \\\" {y}\",\n  \"n\": 1.50E+2, \"u\": \"\\u0026\"\n}\n\n{\"b\":[1, 2]}{\"c\":{}}";
        let got = compact_objects(input).unwrap();
        assert_eq!(
            got,
            vec![
                br#"{"a":"x \" {y}","n":1.50E+2,"u":"\u0026"}"#.to_vec(),
                br#"{"b":[1,2]}"#.to_vec(),
                br#"{"c":{}}"#.to_vec()
            ]
        );
    }

    #[test]
    fn rejects_non_objects_and_unterminated_input() {
        assert_eq!(compact_objects(b"[1]"), Err(SplitError::NotAnObject(0)));
        assert_eq!(compact_objects(b"{\"a\":\"b}"), Err(SplitError::Unterminated));
        assert_eq!(compact_objects(b"{\"a\":1}}"), Err(SplitError::NotAnObject(7)));
    }
}
