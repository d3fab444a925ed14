//! A validating pull tokenizer over JSON text.
//!
//! It never recurses (nesting lives in a heap stack bounded by `max_depth`,
//! because WAMR's default 8 KiB stack overflows at a handful of recursive
//! frames) and never allocates per token: tokens are byte spans into the input,
//! so the rewriter can copy untouched spans as slices.
//!
//! Offsets never exceed `src.len()` (at most `isize::MAX`) by more than a
//! small constant, so they advance with `wrapping_add`: one wasm instruction
//! where `saturating_add` costs three, on every byte and token.

use super::JsonError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ObjectStart,
    ObjectEnd,
    ArrayStart,
    ArrayEnd,
    /// An object key; the span is the text between the quotes.
    Key,
    /// A string value; the span is the text between the quotes.
    String,
    Number,
    True,
    False,
    Null,
}

/// A member [`Scanner::skip_expected_members`] consumed but did not pass
/// over: its key, its value's token (`None` for a container, whose start is
/// the next token) and the tag of its prediction.
#[derive(Debug, Clone, Copy)]
pub struct Predicted<T> {
    pub key: Token,
    pub value: Option<Token>,
    pub tag: T,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    /// Byte offsets of the token in the input (strings: without the quotes).
    pub start: usize,
    pub end: usize,
    /// For strings and keys: the raw text contains at least one escape.
    pub escaped: bool,
}

impl Token {
    /// The token's extent in the input as written: a string value with its
    /// quotes (the span of the token itself excludes them).
    #[inline]
    pub fn raw_span(&self) -> (usize, usize) {
        if self.kind == Kind::String {
            (self.start.wrapping_sub(1), self.end.wrapping_add(1))
        } else {
            (self.start, self.end)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A value (top level, after ':' or after ',' in an array).
    Value,
    /// After '[': a value or ']'.
    ValueOrEnd,
    /// After '{': a key or '}'.
    KeyOrEnd,
    /// After ',' in an object.
    Key,
    /// After a value inside a container.
    CommaOrEnd,
    /// The top-level value is complete; only whitespace may follow.
    Done,
}

pub struct Scanner<'a> {
    src: &'a [u8],
    pos: usize,
    expect: Expect,
    /// One entry per open container: true for objects.
    stack: Vec<bool>,
    max_depth: usize,
    /// Offset of the last comma [`Scanner::next_token`] passed: the one
    /// before the member or element it returns next (when not the first).
    last_comma: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(src: &'a [u8], max_depth: usize) -> Self {
        Scanner::with_stack(src, max_depth, Vec::with_capacity(16))
    }

    /// A scanner whose container stack reuses `stack`'s allocation (its
    /// contents are discarded); [`Scanner::into_stack`] gives it back.
    pub fn with_stack(src: &'a [u8], max_depth: usize, mut stack: Vec<bool>) -> Self {
        stack.clear();
        Scanner {
            src,
            pos: 0,
            expect: Expect::Value,
            stack,
            max_depth,
            last_comma: 0,
        }
    }

    pub fn into_stack(self) -> Vec<bool> {
        self.stack
    }

    /// Offset of the comma before the member or element last returned (if
    /// it was not the first of its container: the caller knows).
    pub fn last_comma(&self) -> usize {
        self.last_comma
    }

    /// Number of containers currently open.
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    pub fn src(&self) -> &'a [u8] {
        self.src
    }

    /// Returns the next token, or `None` after the complete top-level value
    /// (trailing non-whitespace is an error).
    ///
    /// One loop with the position and state in locals, written back once:
    /// in wasm every field access is a memory operation, and the interpreter
    /// charges each one.
    pub fn next_token(&mut self) -> Result<Option<Token>, JsonError> {
        let src = self.src;
        let mut pos = skip_ws(src, self.pos);
        let mut expect = self.expect;
        let result = loop {
            let Some(&b) = src.get(pos) else {
                break if expect == Expect::Done {
                    Ok(None)
                } else {
                    Err(JsonError::Truncated)
                };
            };
            let start = pos;
            // Positions stay below `src.len()`, so `+ 1` cannot overflow.
            let next = pos.wrapping_add(1);
            let (kind, end, escaped) = match expect {
                Expect::Done => break Err(JsonError::TrailingData),
                Expect::CommaOrEnd => match b {
                    b',' => {
                        expect = if self.in_object() {
                            Expect::Key
                        } else {
                            Expect::Value
                        };
                        self.last_comma = pos;
                        pos = skip_ws(src, next);
                        continue;
                    }
                    b'}' | b']' => match self.pop(b) {
                        Ok(()) => (close_kind(b), next, false),
                        Err(e) => break Err(e),
                    },
                    _ => break Err(JsonError::Syntax),
                },
                Expect::KeyOrEnd | Expect::Key => match b {
                    b'"' => {
                        let (close, escaped) = match scan_string(src, next) {
                            Ok(v) => v,
                            Err(e) => break Err(e),
                        };
                        let colon = skip_ws(src, close.wrapping_add(1));
                        if src.get(colon) != Some(&b':') {
                            break Err(JsonError::Syntax);
                        }
                        self.pos = colon.wrapping_add(1);
                        self.expect = Expect::Value;
                        return Ok(Some(Token {
                            kind: Kind::Key,
                            start: next,
                            end: close,
                            escaped,
                        }));
                    }
                    b'}' if expect == Expect::KeyOrEnd => match self.pop(b) {
                        Ok(()) => (Kind::ObjectEnd, next, false),
                        Err(e) => break Err(e),
                    },
                    _ => break Err(JsonError::Syntax),
                },
                Expect::ValueOrEnd if b == b']' => match self.pop(b) {
                    Ok(()) => (Kind::ArrayEnd, next, false),
                    Err(e) => break Err(e),
                },
                Expect::Value | Expect::ValueOrEnd => match b {
                    b'"' => match scan_string(src, next) {
                        Ok((close, escaped)) => {
                            self.pos = close.wrapping_add(1);
                            self.after_value();
                            return Ok(Some(Token {
                                kind: Kind::String,
                                start: next,
                                end: close,
                                escaped,
                            }));
                        }
                        Err(e) => break Err(e),
                    },
                    b'{' | b'[' => {
                        if self.stack.len() >= self.max_depth {
                            break Err(JsonError::TooDeep);
                        }
                        let is_object = b == b'{';
                        self.stack.push(is_object);
                        self.pos = next;
                        self.expect = if is_object {
                            Expect::KeyOrEnd
                        } else {
                            Expect::ValueOrEnd
                        };
                        return Ok(Some(Token {
                            kind: if is_object {
                                Kind::ObjectStart
                            } else {
                                Kind::ArrayStart
                            },
                            start,
                            end: next,
                            escaped: false,
                        }));
                    }
                    b't' => match scan_literal(src, pos, b"true") {
                        Ok(end) => (Kind::True, end, false),
                        Err(e) => break Err(e),
                    },
                    b'f' => match scan_literal(src, pos, b"false") {
                        Ok(end) => (Kind::False, end, false),
                        Err(e) => break Err(e),
                    },
                    b'n' => match scan_literal(src, pos, b"null") {
                        Ok(end) => (Kind::Null, end, false),
                        Err(e) => break Err(e),
                    },
                    b'-' | b'0'..=b'9' => match scan_number(src, pos) {
                        Ok(end) => (Kind::Number, end, false),
                        Err(e) => break Err(e),
                    },
                    _ => break Err(JsonError::Syntax),
                },
            };
            // A scalar or a closing bracket: a value is complete.
            self.pos = end;
            self.after_value();
            return Ok(Some(Token {
                kind,
                start,
                end,
                escaped,
            }));
        };
        self.pos = pos;
        self.expect = expect;
        result
    }

    fn in_object(&self) -> bool {
        self.stack.last().copied().unwrap_or(false)
    }

    fn after_value(&mut self) {
        self.expect = if self.stack.is_empty() {
            Expect::Done
        } else {
            Expect::CommaOrEnd
        };
    }

    /// Consumes the members of the innermost object, from the next one on,
    /// for as long as each is exactly what `expected` predicts: a scalar
    /// member under the key `expected(position)` names (`position` counts
    /// members from `first_position`) whose tag `passes`. Each is validated
    /// exactly as [`Scanner::next_token`] would. A predicted key's bytes must
    /// have been accepted by this scanner before as an unescaped key, so an
    /// exact match followed by a quote is itself a valid key. Returns how
    /// many members were passed over.
    ///
    /// A predicted member whose tag does not pass, or whose value is a
    /// container, is consumed up to its value and returned with its tag:
    /// the key token and the value's token as [`Scanner::next_token`] would
    /// have given them (for a container, its start token is the next one
    /// and only the key is returned). Otherwise the run stops before the
    /// first member that differs (another key, no prediction, invalid text,
    /// the object's end), leaving the scanner exactly where that member
    /// begins for `next_token` to report. Position and state stay in locals:
    /// a predicted member costs no key token, no call and no key scan.
    pub fn skip_expected_members<'k, T: Copy>(
        &mut self,
        first_position: u32,
        mut expected: impl FnMut(u32) -> Option<(&'k [u8], T)>,
        passes: impl Fn(T) -> bool,
    ) -> (u32, Option<Predicted<T>>) {
        let mut expect = self.expect;
        if !matches!(expect, Expect::CommaOrEnd | Expect::KeyOrEnd) || !self.in_object() {
            return (0, None);
        }
        let src = self.src;
        let mut pos = self.pos;
        let mut position = first_position;
        let mut passed: u32 = 0;
        let mut stopped = None;
        while let Some((key, tag)) = expected(position) {
            let mut at = skip_ws(src, pos);
            let comma = at;
            if expect == Expect::CommaOrEnd {
                if src.get(at) != Some(&b',') {
                    break;
                }
                at = skip_ws(src, at.wrapping_add(1));
            }
            let key_start = at.wrapping_add(1);
            let key_end = key_start.wrapping_add(key.len());
            if src.get(at) != Some(&b'"')
                || src.get(key_end) != Some(&b'"')
                || !src
                    .get(key_start..key_end)
                    .is_some_and(|k| crate::memo::same_bytes(k, key))
            {
                break;
            }
            let colon = skip_ws(src, key_end.wrapping_add(1));
            if src.get(colon) != Some(&b':') {
                break;
            }
            let start = skip_ws(src, colon.wrapping_add(1));
            let token = match src.get(start) {
                Some(b'"') => scan_string(src, start.wrapping_add(1)).map(|(end, escaped)| {
                    Some(Token {
                        kind: Kind::String,
                        start: start.wrapping_add(1),
                        end,
                        escaped,
                    })
                }),
                Some(b't') => {
                    scan_literal(src, start, b"true").map(|end| scalar(Kind::True, start, end))
                }
                Some(b'f') => {
                    scan_literal(src, start, b"false").map(|end| scalar(Kind::False, start, end))
                }
                Some(b'n') => {
                    scan_literal(src, start, b"null").map(|end| scalar(Kind::Null, start, end))
                }
                Some(b'-' | b'0'..=b'9') => {
                    scan_number(src, start).map(|end| scalar(Kind::Number, start, end))
                }
                // A container: its start is the next token.
                Some(b'{' | b'[') => Ok(None),
                _ => break,
            };
            let Ok(token) = token else {
                break;
            };
            if expect == Expect::CommaOrEnd {
                self.last_comma = comma;
            }
            let key = Token {
                kind: Kind::Key,
                start: key_start,
                end: key_end,
                escaped: false,
            };
            match token {
                None => {
                    pos = start;
                    expect = Expect::Value;
                    stopped = Some(Predicted {
                        key,
                        value: None,
                        tag,
                    });
                    break;
                }
                Some(value) => {
                    pos = match value.kind {
                        Kind::String => value.end.wrapping_add(1),
                        _ => value.end,
                    };
                    expect = Expect::CommaOrEnd;
                    if !passes(tag) {
                        stopped = Some(Predicted {
                            key,
                            value: Some(value),
                            tag,
                        });
                        break;
                    }
                    position = position.wrapping_add(1);
                    passed = passed.wrapping_add(1);
                }
            }
        }
        self.pos = pos;
        self.expect = expect;
        (passed, stopped)
    }

    /// Moves past the container whose start token was just returned, to
    /// `end`, without looking at it: the caller has checked that the input
    /// up to `end` is byte for byte a container text this scanner accepted
    /// before (a valid container ends where its own text says).
    pub fn skip_verified(&mut self, end: usize) {
        self.stack.pop();
        self.pos = end;
        self.after_value();
    }

    /// Consumes the rest of the container whose start token was just
    /// returned, validating it exactly as [`Scanner::next_token`] would;
    /// returns the offset just past its closing bracket.
    ///
    /// A loop of its own rather than a loop over tokens: position and state
    /// stay in locals and no token is built (about a third of the cost per
    /// element in wasm).
    pub fn skip_container(&mut self) -> Result<usize, JsonError> {
        let src = self.src;
        let target = self.stack.len().saturating_sub(1);
        let mut pos = self.pos;
        let mut expect = self.expect;
        let result = loop {
            pos = skip_ws(src, pos);
            let Some(&b) = src.get(pos) else {
                break Err(JsonError::Truncated);
            };
            // The next position, and whether it completes a value.
            let step = match expect {
                Expect::Done => Err(JsonError::TrailingData),
                Expect::CommaOrEnd => match b {
                    b',' => {
                        expect = if self.in_object() {
                            Expect::Key
                        } else {
                            Expect::Value
                        };
                        Ok((pos.wrapping_add(1), false))
                    }
                    b'}' | b']' => self.pop(b).map(|()| (pos.wrapping_add(1), true)),
                    _ => Err(JsonError::Syntax),
                },
                Expect::KeyOrEnd | Expect::Key => match b {
                    b'"' => scan_string(src, pos.wrapping_add(1)).and_then(|(end, _)| {
                        let colon = skip_ws(src, end.wrapping_add(1));
                        expect = Expect::Value;
                        match src.get(colon) {
                            Some(b':') => Ok((colon.wrapping_add(1), false)),
                            _ => Err(JsonError::Syntax),
                        }
                    }),
                    b'}' if expect == Expect::KeyOrEnd => {
                        self.pop(b).map(|()| (pos.wrapping_add(1), true))
                    }
                    _ => Err(JsonError::Syntax),
                },
                Expect::ValueOrEnd if b == b']' => {
                    self.pop(b).map(|()| (pos.wrapping_add(1), true))
                }
                Expect::Value | Expect::ValueOrEnd => match b {
                    b'{' | b'[' => {
                        if self.stack.len() >= self.max_depth {
                            break Err(JsonError::TooDeep);
                        }
                        let is_object = b == b'{';
                        self.stack.push(is_object);
                        expect = if is_object {
                            Expect::KeyOrEnd
                        } else {
                            Expect::ValueOrEnd
                        };
                        Ok((pos.wrapping_add(1), false))
                    }
                    b'"' => scan_string(src, pos.wrapping_add(1))
                        .map(|(end, _)| (end.wrapping_add(1), true)),
                    b't' => scan_literal(src, pos, b"true").map(|end| (end, true)),
                    b'f' => scan_literal(src, pos, b"false").map(|end| (end, true)),
                    b'n' => scan_literal(src, pos, b"null").map(|end| (end, true)),
                    b'-' | b'0'..=b'9' => scan_number(src, pos).map(|end| (end, true)),
                    _ => Err(JsonError::Syntax),
                },
            };
            match step {
                Err(e) => break Err(e),
                Ok((next, completes_value)) => {
                    pos = next;
                    if completes_value {
                        if self.stack.len() == target {
                            self.pos = pos;
                            self.after_value();
                            return Ok(pos);
                        }
                        expect = Expect::CommaOrEnd;
                    }
                }
            }
        };
        self.pos = pos;
        result
    }

    /// Pops the innermost container, which `b` closes.
    fn pop(&mut self, b: u8) -> Result<(), JsonError> {
        if self.stack.pop() == Some(b == b'}') {
            Ok(())
        } else {
            Err(JsonError::Syntax)
        }
    }
}

/// A scalar token other than a string (no quotes, never escaped).
#[inline(always)]
fn scalar(kind: Kind, start: usize, end: usize) -> Option<Token> {
    Some(Token {
        kind,
        start,
        end,
        escaped: false,
    })
}

fn close_kind(b: u8) -> Kind {
    if b == b'}' {
        Kind::ObjectEnd
    } else {
        Kind::ArrayEnd
    }
}

/// Offset of the first non-whitespace byte at or after `i`. Compact JSON
/// (what log hosts emit) has none: one comparison settles that case.
#[inline(always)]
fn skip_ws(src: &[u8], i: usize) -> usize {
    match src.get(i) {
        Some(&b) if b > b' ' => i,
        _ => skip_ws_slow(src, i),
    }
}

#[inline(never)]
fn skip_ws_slow(src: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = src.get(i) {
        i = i.wrapping_add(1);
    }
    i
}

/// End of the literal `word` expected at `start`.
#[inline(always)]
fn scan_literal(src: &[u8], start: usize, word: &[u8]) -> Result<usize, JsonError> {
    let end = start.checked_add(word.len()).ok_or(JsonError::Syntax)?;
    if src.get(start..end) != Some(word) {
        return Err(JsonError::Syntax);
    }
    Ok(end)
}

#[inline(always)]
fn skip_digits(src: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = src.get(i) {
        i = i.wrapping_add(1);
    }
    i
}

/// End of the number starting at `start`.
#[inline(always)]
fn scan_number(src: &[u8], start: usize) -> Result<usize, JsonError> {
    let mut i = start;
    if src.get(i) == Some(&b'-') {
        i = i.wrapping_add(1);
    }
    match src.get(i) {
        Some(b'0') => i = i.wrapping_add(1),
        Some(b'1'..=b'9') => i = skip_digits(src, i.wrapping_add(1)),
        _ => return Err(JsonError::Syntax),
    }
    if src.get(i) == Some(&b'.') {
        let from = i.wrapping_add(1);
        i = skip_digits(src, from);
        if i == from {
            return Err(JsonError::Syntax);
        }
    }
    if let Some(b'e' | b'E') = src.get(i) {
        i = i.wrapping_add(1);
        if let Some(b'+' | b'-') = src.get(i) {
            i = i.wrapping_add(1);
        }
        let from = i;
        i = skip_digits(src, from);
        if i == from {
            return Err(JsonError::Syntax);
        }
    }
    Ok(i)
}

/// Scans the text of a string from `start` (just past the opening quote):
/// returns the offset of the closing quote and whether an escape occurred.
/// Escapes are validated here so that copying the raw span always yields
/// valid JSON.
#[inline(always)]
fn scan_string(src: &[u8], start: usize) -> Result<(usize, bool), JsonError> {
    let mut i = start;
    let mut escaped = false;
    loop {
        i = skip_plain(src, i);
        let Some(&b) = src.get(i) else {
            return Err(JsonError::Truncated);
        };
        match b {
            b'"' => return Ok((i, escaped)),
            b'\\' => {
                escaped = true;
                match src.get(i.wrapping_add(1)) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                        i = i.wrapping_add(2);
                    }
                    Some(b'u') => {
                        let hex = src
                            .get(i.wrapping_add(2)..i.wrapping_add(6))
                            .ok_or(JsonError::Truncated)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return Err(JsonError::BadEscape);
                        }
                        i = i.wrapping_add(6);
                    }
                    _ => return Err(JsonError::BadEscape),
                }
            }
            0..=0x1f => return Err(JsonError::ControlCharacter),
            0x80..=0xff => i = utf8_char_end(src, i)?,
            _ => i = i.wrapping_add(1),
        }
    }
}

/// End of the UTF-8 sequence starting at `i` (a byte >= 0x80), which must
/// be one valid character: UTF-8 is checked here, inside strings, the only
/// place JSON allows non-ASCII bytes (anywhere else they are a syntax
/// error). A separate validation pass over the record would cost about
/// three wasm instructions per byte.
#[inline(never)]
fn utf8_char_end(src: &[u8], i: usize) -> Result<usize, JsonError> {
    let len = match src.get(i) {
        Some(0xc2..=0xdf) => 2,
        Some(0xe0..=0xef) => 3,
        Some(0xf0..=0xf4) => 4,
        _ => return Err(JsonError::InvalidUtf8),
    };
    let end = i.wrapping_add(len);
    // `from_utf8` rejects overlong forms, surrogates and code points above
    // U+10FFFF in the sequence.
    match src.get(i..end).map(std::str::from_utf8) {
        Some(Ok(_)) => Ok(end),
        _ => Err(JsonError::InvalidUtf8),
    }
}

/// The high bit of every byte of a word.
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Bytes of `w` equal to `'"'`, `'\\'`, below 0x20 or above 0x7f, as high bits. The
/// lowest flagged byte is always a real match (borrows only run upwards), so
/// `trailing_zeros() / 8` is the offset of the first one.
///
/// The bytes a string must escape ([`super::text::must_escape`]), and the
/// high bit itself for non-ASCII bytes, whose UTF-8 is checked here.
#[inline(always)]
fn specials(w: u64) -> u64 {
    super::text::must_escape(w) | (w & HIGHS)
}

/// Offset of the first byte at or after `i` that ends a run of plain string
/// text (a quote, a backslash, a control character), or of the last few
/// bytes when none is found before them. Eight bytes per step: a byte loop
/// costs about ten wasm instructions per byte, this about four. An
/// exact-chunks iterator: no bounds check per step.
#[inline(always)]
fn skip_plain(src: &[u8], i: usize) -> usize {
    let Some(rest) = src.get(i..) else {
        return i;
    };
    let mut at = i;
    for chunk in rest.chunks_exact(8) {
        let word = chunk
            .first_chunk::<8>()
            .map_or(0, |w| u64::from_le_bytes(*w));
        let hits = specials(word);
        if hits != 0 {
            // At most 7: the offset of a byte in the chunk.
            return at.wrapping_add((hits.trailing_zeros() / 8) as usize);
        }
        at = at.wrapping_add(8);
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Result<Vec<Kind>, JsonError> {
        let mut sc = Scanner::new(s.as_bytes(), 64);
        let mut v = Vec::new();
        while let Some(t) = sc.next_token()? {
            v.push(t.kind);
        }
        Ok(v)
    }

    #[test]
    fn tokenizes_nested_documents() {
        use Kind::*;
        assert_eq!(
            kinds(r#" {"a": [1, -2.5e3, "x\n", true, false, null], "b": {}} "#).unwrap(),
            vec![
                ObjectStart,
                Key,
                ArrayStart,
                Number,
                Number,
                String,
                True,
                False,
                Null,
                ArrayEnd,
                Key,
                ObjectStart,
                ObjectEnd,
                ObjectEnd
            ]
        );
        assert_eq!(kinds("[]").unwrap(), vec![ArrayStart, ArrayEnd]);
        assert_eq!(kinds("0").unwrap(), vec![Number]);
    }

    #[test]
    fn spans_exclude_quotes_and_flag_escapes() {
        let src = r#"{"k\"ey":"v"}"#;
        let mut sc = Scanner::new(src.as_bytes(), 8);
        sc.next_token().unwrap();
        let k = sc.next_token().unwrap().unwrap();
        assert_eq!(&src[k.start..k.end], r#"k\"ey"#);
        assert!(k.escaped);
        let v = sc.next_token().unwrap().unwrap();
        assert_eq!(&src[v.start..v.end], "v");
        assert!(!v.escaped);
    }

    #[test]
    fn rejects_invalid_json() {
        for bad in [
            "",
            "{",
            "}",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:2}",
            "[1 2]",
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "\"abc",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"a\u{1}b\"",
            "{} {}",
            "[}",
            "{]",
            "nul",
            "{\"a\":}",
            "[,1]",
        ] {
            assert!(kinds(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert_eq!(kinds(&deep), Err(JsonError::TooDeep));
        let ok = "[".repeat(64) + &"]".repeat(64);
        assert!(kinds(&ok).is_ok());
    }

    #[test]
    fn skip_container_returns_end_offset() {
        let src = r#"{"a":{"b":[1,{"c":2}]},"d":3}"#;
        let mut sc = Scanner::new(src.as_bytes(), 8);
        sc.next_token().unwrap();
        sc.next_token().unwrap();
        let start = sc.next_token().unwrap().unwrap();
        let end = sc.skip_container().unwrap();
        assert_eq!(&src[start.start..end], r#"{"b":[1,{"c":2}]}"#);
        assert_eq!(sc.next_token().unwrap().unwrap().kind, Kind::Key);
    }

    #[test]
    fn word_search_flags_exactly_the_special_bytes() {
        for special in 0..=255u8 {
            let is_special =
                special == b'"' || special == b'\\' || !(0x20..0x80).contains(&special);
            for at in 0..8 {
                // Surround with bytes that stress the borrow trick (plain
                // ASCII: bytes above 0x7f are special themselves).
                for fill in [b'a', b' ', 0x21, 0x23, 0x5b, 0x5d, 0x7e, 0x7f] {
                    let mut chunk = [fill; 8];
                    chunk[at] = special;
                    let hits = specials(u64::from_le_bytes(chunk));
                    if is_special {
                        assert_eq!(
                            hits.trailing_zeros() / 8,
                            at as u32,
                            "{special:#x} at {at} in {fill:#x}"
                        );
                    } else {
                        assert_eq!(hits, 0, "{special:#x} at {at} in {fill:#x}");
                    }
                }
            }
        }
        let text = b"0123456789abcdef\\0123456789\"tail-tail";
        assert_eq!(skip_plain(text, 0), 16);
        assert_eq!(skip_plain(text, 17), 27);
        assert_eq!(skip_plain(b"short", 0), 0);
    }

    /// UTF-8 is validated inside strings: a document is accepted exactly
    /// when it is UTF-8 and serde accepts it, over byte-level mutations
    /// with every kind of lead, continuation and invalid byte, in strings
    /// and out.
    #[test]
    fn accepts_exactly_valid_utf8_documents() {
        let doc = "{\"k\\u00e9\":\"caf\\u00e9 \u{e9}\u{20ac}\u{1f600} x\",\"n\":[1,\"\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}\"]}";
        let bytes = doc.as_bytes();
        let edits: [u8; 16] = [
            0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0,
            0x90, b'a',
        ];
        let mut checked = 0;
        for at in 0..=bytes.len() {
            for &e in &edits {
                for replace in [false, true] {
                    let mut m = bytes[..at].to_vec();
                    m.push(e);
                    let skip = usize::from(replace && at < bytes.len());
                    m.extend_from_slice(&bytes[at + skip..]);
                    let want = std::str::from_utf8(&m).is_ok()
                        && serde_json::from_slice::<serde::de::IgnoredAny>(&m).is_ok();
                    let mut sc = Scanner::new(&m, 64);
                    let got = loop {
                        match sc.next_token() {
                            Ok(Some(_)) => {}
                            Ok(None) => break true,
                            Err(_) => break false,
                        }
                    };
                    assert_eq!(got, want, "{m:x?}");
                    let mut sc = Scanner::new(&m, 64);
                    if let Ok(Some(_)) = sc.next_token() {
                        let skipped = sc.skip_container().and_then(|_| sc.next_token());
                        assert_eq!(skipped.is_ok(), want, "{m:x?}");
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 2000);
    }

    /// Accepts exactly what serde_json accepts, on single-byte mutations of
    /// realistic documents (lone-surrogate escapes aside, which serde
    /// rejects and the scanner passes on to a lossy decode).
    #[test]
    fn agrees_with_serde_on_mutated_documents() {
        let docs = [
            r#"{"kind":"Event","user":{"username":"system:kube-scheduler","groups":["a","b\n"]},"code":200,"x":[1.5e-3,-0,true,false,null],"s":"caf\u00e9 é 😀 \"q\""}"#,
            r#"[{"a":{}},[],"",0,{"b":[{"c":"0123456789abcdefghij\\klmnop"}]}]"#,
        ];
        let edits: &[&[u8]] = &[
            b"", b"\"", b"\\", b"{", b"}", b"[", b"]", b",", b":", b"0", b"-", b"e", b".", b" ",
            b"\n", b"\x01", b"t", b"\xc3", b"\x80",
        ];
        let mut checked = 0;
        for doc in docs {
            for at in 0..=doc.len() {
                for edit in edits {
                    for replace in [false, true] {
                        let mut bytes = doc.as_bytes()[..at].to_vec();
                        bytes.extend_from_slice(edit);
                        let skip = usize::from(replace && at < doc.len());
                        bytes.extend_from_slice(&doc.as_bytes()[at + skip..]);
                        let Ok(text) = std::str::from_utf8(&bytes) else {
                            continue;
                        };
                        if text.contains("\\u") && text.contains("\\ud") {
                            continue;
                        }
                        let ours = kinds(text).is_ok();
                        let serde = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
                        assert_eq!(ours, serde, "{text}");
                        // skip_container agrees with the token loop.
                        let mut sc = Scanner::new(text.as_bytes(), 64);
                        if let Ok(Some(t)) = sc.next_token() {
                            if matches!(t.kind, Kind::ObjectStart | Kind::ArrayStart) {
                                let skipped = sc.skip_container().and_then(|_| sc.next_token());
                                assert_eq!(skipped.is_ok(), ours, "{text}");
                            }
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 5000);
    }
}
