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

/// Recorded outputs of whole containers (objects and arrays), found
/// without knowing where the container ends.
///
/// [`Memo`] is keyed by a value's exact text, which for a container means
/// scanning it first to find its end: for a repeated subtree that scan costs
/// more than its output. Here the set is chosen by a hash of the first bytes
/// at the container's start, and every recorded text in the set is compared
/// with the record from that position (the number of bytes hashed is the
/// shortest container length seen in the context, between 32 and 64). A
/// recorded text is a complete,
/// valid container (it was scanned in full when recorded), so if the record
/// continues with exactly that text, that is where the container ends.
/// Sets have [`WAYS`] entries because containers in one context often share
/// their first bytes, so that they land in one set: `{"username":"system:...`,
/// and K8s annotations, whose first 64 bytes are the same in every event
/// while the RBAC reason after them varies (with 8 ways half of those
/// lookups missed on the generated corpus; 32 ways cost fewer instructions
/// overall despite the longer scan).
pub struct PrefixMemo {
    slots: Vec<Entry>,
    /// Bytes hashed per context, learnt from its first recorded container.
    hashed: Vec<(u64, usize)>,
    /// Round-robin replacement within a set.
    victim: usize,
}

const WAYS: usize = 32;
const SETS: usize = 64;
/// Bytes hashed at a container's start: few enough to stay cheap, enough to
/// tell apart containers that share a leading key.
const MIN_HASHED: usize = 32;
const MAX_HASHED: usize = 64;
/// Contexts with a learnt hash length (a policy has a handful).
const MAX_CONTEXTS: usize = 64;

impl Default for PrefixMemo {
    fn default() -> Self {
        PrefixMemo::new()
    }
}

impl PrefixMemo {
    pub fn new() -> PrefixMemo {
        PrefixMemo {
            slots: Vec::new(),
            hashed: Vec::new(),
            victim: 0,
        }
    }

    fn hashed_len(&self, context: u64) -> Option<usize> {
        self.hashed
            .iter()
            .find(|(c, _)| *c == context)
            .map(|(_, n)| *n)
    }

    /// First slot of the set for the container starting at `rest`.
    fn set(context: u64, rest: &[u8], hashed: usize) -> usize {
        let n = hashed.min(rest.len());
        let word = |at: usize| {
            rest.get(..n)
                .and_then(|r| r.get(at..))
                .and_then(<[u8]>::first_chunk::<8>)
                .map_or(0, |w| u64::from_le_bytes(*w))
        };
        let mut h = (context.rotate_left(32) ^ n as u64).wrapping_mul(MUL);
        for at in [
            n.saturating_sub(8),
            n.saturating_sub(16),
            n.saturating_sub(24),
        ] {
            h = (h ^ word(at)).wrapping_mul(MUL);
            h ^= h >> 29;
        }
        ((h ^ (h >> 32)) as usize & SETS.wrapping_sub(1)).wrapping_mul(WAYS)
    }

    /// The length and output of a recorded container that `rest` (the
    /// record from a container's first byte) begins with.
    #[inline]
    pub fn find(&self, context: u64, rest: &[u8]) -> Option<(usize, &[u8])> {
        if self.slots.is_empty() {
            return None;
        }
        let hashed = self.hashed_len(context)?;
        let first = Self::set(context, rest, hashed);
        let set = self.slots.get(first..first.wrapping_add(WAYS))?;
        set.iter().find_map(|e| {
            let n = e.value.len();
            let r = rest.get(..n)?;
            // Containers of a context share their first bytes: the middle
            // and last words reject most other entries before the full
            // comparison.
            let probe = |at: usize| {
                let w = |s: &[u8]| s.get(at..).and_then(<[u8]>::first_chunk::<8>).copied();
                w(&e.value) == w(r)
            };
            (e.context == context
                && n > 0
                && probe(n / 2)
                && probe(n.saturating_sub(8))
                && same_bytes(&e.value, r))
            .then_some((n, e.output.as_slice()))
        })
    }

    /// Records `output` for the container `rest[..len]` (`rest` continues
    /// with the rest of the record, as [`PrefixMemo::find`] will see it).
    pub fn insert(&mut self, context: u64, rest: &[u8], len: usize, output: &[u8]) {
        let Some(value) = rest.get(..len) else {
            return;
        };
        if value.is_empty() || value.len() > MAX_VALUE {
            return;
        }
        // Hash no more than the shortest container seen in this context: a
        // container shorter than the hashed length would hash the bytes that
        // follow it too, and miss wherever they differ. (Entries placed under
        // a longer length just stop being found and are replaced in turn.)
        let want = len.clamp(MIN_HASHED, MAX_HASHED);
        let known = self.hashed.len();
        let hashed = match self.hashed.iter_mut().find(|(c, _)| *c == context) {
            Some((_, n)) => {
                *n = (*n).min(want);
                *n
            }
            None if known < MAX_CONTEXTS => {
                self.hashed.push((context, want));
                want
            }
            None => return,
        };
        if self.slots.is_empty() {
            self.slots
                .resize_with(SETS.wrapping_mul(WAYS), Entry::default);
        }
        let first = Self::set(context, rest, hashed);
        self.victim = self.victim.wrapping_add(1);
        let Some(set) = self.slots.get_mut(first..first.wrapping_add(WAYS)) else {
            return;
        };
        // An empty way if there is one, else the next in turn.
        let way = set
            .iter()
            .position(|e| e.value.is_empty())
            .unwrap_or(self.victim % WAYS);
        if let Some(e) = set.get_mut(way) {
            e.context = context;
            e.value.clear();
            e.value.extend_from_slice(value);
            e.output.clear();
            e.output.extend_from_slice(output);
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

/// Byte equality, eight bytes per step, the last step overlapping; texts
/// under eight bytes (most keys) in two overlapping four-byte words, or
/// three bytes that cover them. No `memcmp` call: in wasm that is a byte
/// loop behind a call, for every key looked up.
#[inline]
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        if n >= 4 {
            let word = |s: &[u8], i: usize| s.get(i..).and_then(<[u8]>::first_chunk::<4>).copied();
            let last = n.wrapping_sub(4);
            return word(a, 0) == word(b, 0) && word(a, last) == word(b, last);
        }
        // Positions 0, n/2 and n-1 cover every byte of a text under four.
        let at = |s: &[u8], i: usize| s.get(i).copied();
        let (mid, last) = (n / 2, n.saturating_sub(1));
        return at(a, 0) == at(b, 0) && at(a, mid) == at(b, mid) && at(a, last) == at(b, last);
    }
    let word = |s: &[u8], i: usize| {
        s.get(i..)
            .and_then(<[u8]>::first_chunk::<8>)
            .map(|w| u64::from_le_bytes(*w))
    };
    let mut i: usize = 0;
    while i.wrapping_add(8) < n {
        if word(a, i) != word(b, i) {
            return false;
        }
        i = i.wrapping_add(8);
    }
    let last = n.wrapping_sub(8);
    word(a, last) == word(b, last)
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
    fn prefix_memo_finds_recorded_containers_where_the_record_continues_with_them() {
        let mut m = PrefixMemo::new();
        let a = br#"{"username":"system:serviceaccount:kube-system:a","groups":["x"]}"#;
        let b = br#"{"username":"system:serviceaccount:kube-system:b","groups":["x"]}"#;
        let with_tail = |c: &[u8], tail: &[u8]| [c, tail].concat();
        assert_eq!(m.find(7, &with_tail(a, b",\"k\":1}")), None);
        m.insert(7, &with_tail(a, b",\"k\":1}"), a.len(), b"A");
        m.insert(7, &with_tail(b, b"}"), b.len(), b"B");
        // Found whatever follows the container.
        assert_eq!(m.find(7, &with_tail(a, b"]]")), Some((a.len(), &b"A"[..])));
        assert_eq!(m.find(7, &with_tail(b, b"")), Some((b.len(), &b"B"[..])));
        // Another context, a differing byte, a truncated record: not found.
        assert_eq!(m.find(8, &with_tail(a, b"}")), None);
        let mut c = a.to_vec();
        c[a.len() - 3] = b'y';
        assert_eq!(m.find(7, &c), None);
        assert_eq!(m.find(7, &a[..a.len() - 1]), None);
        // Many containers sharing a prefix: the latest ones are found, and a
        // hit is always the exact one.
        for i in 0..2000 {
            let v = format!(r#"{{"username":"system:serviceaccount:kube-system:{i}"}}"#);
            m.insert(7, v.as_bytes(), v.len(), i.to_string().as_bytes());
        }
        let mut hits = 0;
        for i in 0..2000 {
            let v = format!(r#"{{"username":"system:serviceaccount:kube-system:{i}"}},"x":1"#);
            if let Some((n, out)) = m.find(7, v.as_bytes()) {
                assert_eq!(out, i.to_string().as_bytes());
                assert_eq!(n, v.len() - 6);
                hits += 1;
            }
        }
        assert!(hits >= 600, "{hits}");
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
        let base: Vec<u8> = (0u8..40).collect();
        for n in 0..base.len() {
            assert!(same_bytes(&base[..n], &base[..n]));
            for at in 0..n {
                let mut other = base[..n].to_vec();
                other[at] ^= 1;
                assert!(!same_bytes(&base[..n], &other), "{n} {at}");
            }
        }
        assert!(same_bytes(b"0123456789abcdefXY", b"0123456789abcdefXY"));
        assert!(!same_bytes(b"0123456789abcdefXY", b"0123456789abcdefXZ"));
        assert!(!same_bytes(b"0123456789", b"0123456789a"));
        assert!(same_bytes(b"", b""));
    }
}
