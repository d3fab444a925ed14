//! Builds a `serde_json::Value` without recursion.
//!
//! serde_json's parser recurses once per nesting level with large frames;
//! under WAMR's default 8 KiB stack even a policy three levels deep came
//! close to overflowing. This builder keeps open containers on a heap stack.

use super::scan::{Kind, Scanner};
use super::text::unescape;
use super::JsonError;
use serde_json::{Map, Number, Value};

enum Open {
    Array(Vec<Value>),
    Object(Map<String, Value>, Option<String>),
}

fn number(raw: &str) -> Result<Value, JsonError> {
    if let Ok(u) = raw.parse::<u64>() {
        return Ok(Value::Number(Number::from(u)));
    }
    if let Ok(i) = raw.parse::<i64>() {
        return Ok(Value::Number(Number::from(i)));
    }
    raw.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or(JsonError::Syntax)
}

/// Parses one JSON document (whitespace around it allowed).
pub fn parse(text: &str, max_depth: usize) -> Result<Value, JsonError> {
    let src = text.as_bytes();
    let mut sc = Scanner::new(src, max_depth);
    let mut stack: Vec<Open> = Vec::new();
    let mut done: Option<Value> = None;
    while let Some(tok) = sc.next_token()? {
        let raw = src.get(tok.start..tok.end).unwrap_or_default();
        let value = match tok.kind {
            Kind::ObjectStart => {
                stack.push(Open::Object(Map::new(), None));
                continue;
            }
            Kind::ArrayStart => {
                stack.push(Open::Array(Vec::new()));
                continue;
            }
            Kind::Key => {
                if let Some(Open::Object(_, key)) = stack.last_mut() {
                    *key = Some(unescape(raw)?.into_owned());
                }
                continue;
            }
            Kind::ObjectEnd | Kind::ArrayEnd => match stack.pop() {
                Some(Open::Object(m, _)) => Value::Object(m),
                Some(Open::Array(a)) => Value::Array(a),
                None => return Err(JsonError::Syntax),
            },
            Kind::String => Value::String(unescape(raw)?.into_owned()),
            Kind::Number => number(std::str::from_utf8(raw).map_err(|_| JsonError::Syntax)?)?,
            Kind::True => Value::Bool(true),
            Kind::False => Value::Bool(false),
            Kind::Null => Value::Null,
        };
        match stack.last_mut() {
            Some(Open::Array(a)) => a.push(value),
            Some(Open::Object(m, key)) => {
                let k = key.take().ok_or(JsonError::Syntax)?;
                m.insert(k, value);
            }
            None => done = Some(value),
        }
    }
    done.ok_or(JsonError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_serde_json() {
        for doc in [
            r#"{"a":[1,-2,3.5,1e3,true,false,null,"x\u0026y"],"b":{"c":{}},"d":[]}"#,
            "[]",
            "\"s\"",
            "18446744073709551615",
            "-9223372036854775808",
            r#"{"dup":1,"dup":2}"#,
        ] {
            let want: Value = serde_json::from_str(doc).unwrap();
            assert_eq!(parse(doc, 32).unwrap(), want, "{doc}");
        }
    }

    #[test]
    fn rejects_what_the_scanner_rejects() {
        assert!(parse("{", 32).is_err());
        assert!(parse("", 32).is_err());
        assert_eq!(
            parse(&("[".repeat(40) + &"]".repeat(40)), 32),
            Err(JsonError::TooDeep)
        );
    }
}
