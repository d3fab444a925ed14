//! Host state for the JS aggregator: in memory, or a caller-supplied object
//! with the compare-and-swap contract of [`HostState`].
//!
//! ```ts
//! interface DpAuditState {
//!   get(key: string): { value: string; cas: number } | null | undefined;
//!   set(key: string, value: string, cas: number | null): boolean;
//! }
//! ```
//! `set` stores `value` only if the key's current version equals `cas`
//! (`null`: only if the key does not exist), gives it a new version never
//! used before for that key, and returns `true`; otherwise it stores nothing
//! and returns `false` (the engine re-reads and retries). Both are
//! synchronous. A thrown exception counts as unavailable state: nothing is
//! released for that window.

use crate::dp::{HostState, InMemoryState, StateError};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// The caller's state object.
    #[wasm_bindgen(typescript_type = "DpAuditState")]
    pub type JsStateObject;

    #[wasm_bindgen(method, catch, js_name = get)]
    fn js_get(this: &JsStateObject, key: &str) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(method, catch, js_name = set)]
    fn js_set(
        this: &JsStateObject,
        key: &str,
        value: &str,
        cas: JsValue,
    ) -> Result<JsValue, JsValue>;

    /// What `get` returns for an existing key.
    type JsStateEntry;

    #[wasm_bindgen(method, getter, structural)]
    fn value(this: &JsStateEntry) -> JsValue;

    #[wasm_bindgen(method, getter, structural)]
    fn cas(this: &JsStateEntry) -> JsValue;
}

/// Largest integer a JS number holds exactly: versions beyond it could not
/// be compared reliably.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A version from JS: a non-negative safe integer.
fn version_from_js(v: &JsValue) -> Option<u64> {
    let f = v.as_f64()?;
    if !(0.0..=MAX_SAFE_INTEGER).contains(&f) || f.fract() != 0.0 {
        return None;
    }
    // Exact: an integer within 0..=2^53-1.
    Some(f as u64)
}

pub enum State {
    Memory(InMemoryState),
    Js(JsStateObject),
}

impl HostState for State {
    fn get(&self, key: &str) -> Result<Option<(Vec<u8>, u64)>, StateError> {
        let obj = match self {
            State::Memory(m) => return m.get(key),
            State::Js(obj) => obj,
        };
        let found = obj
            .js_get(key)
            .map_err(|_| StateError::Io("the state object's get() threw"))?;
        if found.is_null() || found.is_undefined() {
            return Ok(None);
        }
        let entry: JsStateEntry = found.unchecked_into();
        let value = entry.value().as_string().ok_or(StateError::Corrupt(
            "the state object's get() returned an entry whose value is not a string",
        ))?;
        let cas = version_from_js(&entry.cas()).ok_or(StateError::Corrupt(
            "the state object's get() returned an entry whose cas is not a non-negative safe integer",
        ))?;
        Ok(Some((value.into_bytes(), cas)))
    }

    fn set(&self, key: &str, value: &[u8], expected: Option<u64>) -> Result<(), StateError> {
        let obj = match self {
            State::Memory(m) => return m.set(key, value, expected),
            State::Js(obj) => obj,
        };
        // The engine stores JSON text; JS state holds strings so that it can
        // live in localStorage or a JSON file as is.
        let text = std::str::from_utf8(value)
            .map_err(|_| StateError::Io("state values must be UTF-8 text"))?;
        let cas = match expected {
            None => JsValue::NULL,
            Some(v) if v as f64 <= MAX_SAFE_INTEGER => JsValue::from_f64(v as f64),
            Some(_) => return Err(StateError::Io("state version beyond 2^53")),
        };
        let stored = obj
            .js_set(key, text, cas)
            .map_err(|_| StateError::Io("the state object's set() threw"))?;
        match stored.as_bool() {
            Some(true) => Ok(()),
            Some(false) => Err(StateError::CasMismatch),
            None => Err(StateError::Io(
                "the state object's set() must return true (stored) or false (cas mismatch)",
            )),
        }
    }
}
