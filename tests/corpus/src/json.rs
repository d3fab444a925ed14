//! Minimal ordered JSON writer. Key order is the caller's (Go struct order for
//! Kubernetes, sorted for Envoy), which a map-based serializer would not keep.

use std::fmt::Write;

/// How strings are escaped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Style {
    /// Go `encoding/json`: also `<`, `>`, `&`, U+2028, U+2029 as `\u00XX` (kube-apiserver).
    Go,
    /// Only what JSON requires (Envoy, inner last-applied documents are Go too).
    Plain,
}

pub fn escape_into(out: &mut String, s: &str, style: Style) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' if style == Style::Go => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

pub fn quote(s: &str, style: Style) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    escape_into(&mut out, s, style);
    out
}

/// An object under construction; each method appends one member.
pub struct Obj {
    buf: String,
    style: Style,
    empty: bool,
}

impl Obj {
    pub fn new(style: Style) -> Self {
        Obj { buf: String::from("{"), style, empty: true }
    }

    pub fn go() -> Self {
        Obj::new(Style::Go)
    }

    pub fn plain() -> Self {
        Obj::new(Style::Plain)
    }

    fn key(&mut self, k: &str) {
        if !self.empty {
            self.buf.push(',');
        }
        self.empty = false;
        escape_into(&mut self.buf, k, self.style);
        self.buf.push(':');
    }

    pub fn str(mut self, k: &str, v: &str) -> Self {
        self.key(k);
        escape_into(&mut self.buf, v, self.style);
        self
    }

    /// A string member, or `null` when absent.
    pub fn opt_str(self, k: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.str(k, v),
            None => self.raw(k, "null"),
        }
    }

    /// A string member only when present (Go `omitempty`).
    pub fn some_str(self, k: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.str(k, v),
            None => self,
        }
    }

    pub fn num(mut self, k: &str, v: impl std::fmt::Display) -> Self {
        self.key(k);
        let _ = write!(self.buf, "{v}");
        self
    }

    pub fn bool(self, k: &str, v: bool) -> Self {
        self.raw(k, if v { "true" } else { "false" })
    }

    /// Member whose value is already serialized JSON.
    pub fn raw(mut self, k: &str, json: &str) -> Self {
        self.key(k);
        self.buf.push_str(json);
        self
    }

    pub fn strs<S: AsRef<str>>(mut self, k: &str, vs: &[S]) -> Self {
        self.key(k);
        let style = self.style;
        self.buf.push('[');
        for (i, v) in vs.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            escape_into(&mut self.buf, v.as_ref(), style);
        }
        self.buf.push(']');
        self
    }

    pub fn end(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// `[a,b,c]` from already serialized values.
pub fn array<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::from("[");
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(v.as_ref());
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_escapes_html_characters() {
        assert_eq!(quote("a&b<c>\"\\\n\u{1}", Style::Go), r#""a\u0026b\u003cc\u003e\"\\\n\u0001""#);
        assert_eq!(quote("a&b<c>", Style::Plain), r#""a&b<c>""#);
    }

    #[test]
    fn object_keeps_insertion_order() {
        let o = Obj::plain()
            .str("z", "1")
            .num("a", 2)
            .opt_str("n", None)
            .some_str("skip", None)
            .strs("l", &["x", "y"])
            .bool("b", true)
            .end();
        assert_eq!(o, r#"{"z":"1","a":2,"n":null,"l":["x","y"],"b":true}"#);
    }
}
