//! Recent results of value transforms, so a repeated value costs a lookup.
//!
//! Audit logs repeat themselves: the same user agents, annotations, request
//! paths and user names come back record after record. Detection (tens of
//! wasm instructions per byte) and HMAC (thousands per value) then redo the
//! same work. This memo maps (context, raw JSON text of a value) to the exact
//! JSON bytes the transform wrote for it.
//!
//! Direct-mapped: a key has one slot, and a new key overwrites it. A lookup
//! is one hash over the value (a few operations per eight bytes) and one
//! comparison, whatever the input; values chosen to collide only cause misses,
//! that is the work the memo would have saved, so the hash needs no secret.
//! Bounded in entries and value length. It holds values in this process's
//! memory only, as the record itself is; nothing in it is ever output except
//! as the transform's own result for that same value.

/// Values longer than this are not memoised (they rarely repeat, and the
/// memo's memory stays bounded by `SLOTS * (MAX_VALUE + output)`).
pub const MAX_VALUE: usize = 512;
const SLOTS: usize = 1024;

/// Buffers are reused when a slot is overwritten: an allocation and a free
/// cost hundreds of wasm instructions each.
#[derive(Default)]
struct Entry {
    context: u64,
    /// Empty when the slot is unused (an empty value is never recorded).
    value: Vec<u8>,
    output: Vec<u8>,
}

pub struct Memo {
    slots: Vec<Entry>,
}

impl Default for Memo {
    fn default() -> Self {
        Memo::new()
    }
}

impl Memo {
    pub fn new() -> Memo {
        Memo { slots: Vec::new() }
    }

    fn slot(context: u64, value: &[u8]) -> usize {
        (hash(context, value) as usize) & SLOTS.wrapping_sub(1)
    }

    /// The output recorded for `value` in `context`, if still present.
    #[inline]
    pub fn get(&self, context: u64, value: &[u8]) -> Option<&[u8]> {
        if value.is_empty() || value.len() > MAX_VALUE {
            return None;
        }
        match self.slots.get(Self::slot(context, value)) {
            Some(e) if e.context == context && same_bytes(&e.value, value) => Some(&e.output),
            _ => None,
        }
    }

    /// Records `output` for `value` in `context` (empty values and values
    /// over [`MAX_VALUE`] bytes are not recorded).
    pub fn insert(&mut self, context: u64, value: &[u8], output: &[u8]) {
        if value.is_empty() || value.len() > MAX_VALUE {
            return;
        }
        if self.slots.is_empty() {
            // Allocated on first use: policies without transforms never pay.
            self.slots.resize_with(SLOTS, Entry::default);
        }
        if let Some(slot) = self.slots.get_mut(Self::slot(context, value)) {
            slot.context = context;
            slot.value.clear();
            slot.value.extend_from_slice(value);
            slot.output.clear();
            slot.output.extend_from_slice(output);
        }
    }
}

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// A multiplicative hash over eight-byte words (the tail zero-padded, the
/// length mixed in so padding cannot alias).
#[inline]
fn hash(context: u64, value: &[u8]) -> u64 {
    let mut h = (context.rotate_left(32) ^ value.len() as u64).wrapping_mul(MUL);
    let mut rest = value;
    while let Some((w, tail)) = rest.split_first_chunk::<8>() {
        h = (h ^ u64::from_le_bytes(*w)).wrapping_mul(MUL);
        h ^= h >> 29;
        rest = tail;
    }
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        if let Some(dst) = w.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(MUL);
    }
    h ^ (h >> 32)
}

/// Byte equality, eight bytes per step (a byte loop in wasm otherwise).
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a, mut b) = (a, b);
    while let (Some((x, ra)), Some((y, rb))) =
        (a.split_first_chunk::<8>(), b.split_first_chunk::<8>())
    {
        if x != y {
            return false;
        }
        (a, b) = (ra, rb);
    }
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_what_was_recorded_for_that_context_and_value_only() {
        let mut m = Memo::new();
        assert_eq!(m.get(1, b"alice"), None);
        m.insert(1, b"alice", b"\"pk:1\"");
        assert_eq!(m.get(1, b"alice"), Some(&b"\"pk:1\""[..]));
        assert_eq!(m.get(2, b"alice"), None);
        assert_eq!(m.get(1, b"alicf"), None);
        assert_eq!(m.get(1, b"alice\0"), None);
        // A colliding or newer key replaces the slot; the old one then misses.
        for i in 0..(SLOTS * 4) {
            let v = format!("user-{i}");
            m.insert(1, v.as_bytes(), v.to_uppercase().as_bytes());
        }
        let mut hits = 0;
        for i in 0..(SLOTS * 4) {
            let v = format!("user-{i}");
            if let Some(out) = m.get(1, v.as_bytes()) {
                assert_eq!(out, v.to_uppercase().as_bytes());
                hits += 1;
            }
        }
        assert!(hits > SLOTS / 2 && hits <= SLOTS, "{hits}");
        assert!(m.slots.len() == SLOTS);
    }

    #[test]
    fn long_values_are_not_recorded() {
        let mut m = Memo::new();
        let long = vec![b'a'; MAX_VALUE + 1];
        m.insert(0, &long, b"x");
        assert_eq!(m.get(0, &long), None);
        let edge = vec![b'a'; MAX_VALUE];
        m.insert(0, &edge, b"y");
        assert_eq!(m.get(0, &edge), Some(&b"y"[..]));
    }

    #[test]
    fn equality_is_exact() {
        assert!(same_bytes(b"0123456789abcdefXY", b"0123456789abcdefXY"));
        assert!(!same_bytes(b"0123456789abcdefXY", b"0123456789abcdefXZ"));
        assert!(!same_bytes(b"0123456789", b"0123456789a"));
        assert!(same_bytes(b"", b""));
    }
}
