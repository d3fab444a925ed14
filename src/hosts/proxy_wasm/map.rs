//! The proxy-wasm 0.2.1 serialization of header maps, read without panics.
//!
//! Layout: `u32 count`, then `count` pairs of `u32 key_len, u32 value_len`,
//! then for each pair the key bytes, a NUL, the value bytes, a NUL (all
//! integers little-endian). Envoy hands over header bytes as they came off
//! the wire, so keys and values are bytes, not `str`: the SDK's `get_map`
//! unwraps `String::from_utf8` and would trap the VM on one invalid byte.

/// One header: name and value, as bytes.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// The serialized map does not have the layout above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedMap;

fn read_u32(data: &[u8], at: usize) -> Result<usize, MalformedMap> {
    let end = at.checked_add(4).ok_or(MalformedMap)?;
    let b: [u8; 4] = data
        .get(at..end)
        .ok_or(MalformedMap)?
        .try_into()
        .map_err(|_| MalformedMap)?;
    usize::try_from(u32::from_le_bytes(b)).map_err(|_| MalformedMap)
}

/// Parses a serialized map into borrowed `(key, value)` pairs, in order.
/// An empty buffer is an empty map (Envoy returns no data for no headers).
pub fn parse_pairs(data: &[u8]) -> Result<Vec<Pair<'_>>, MalformedMap> {
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let count = read_u32(data, 0)?;
    // Each pair needs at least 8 bytes of sizes and 2 NULs: bound the
    // allocation by what the buffer can hold.
    if count > data.len() / 10 {
        return Err(MalformedMap);
    }
    let mut pairs = Vec::with_capacity(count);
    let mut p = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .ok_or(MalformedMap)?;
    for n in 0..count {
        let s = n
            .checked_mul(8)
            .and_then(|x| x.checked_add(4))
            .ok_or(MalformedMap)?;
        let key_len = read_u32(data, s)?;
        let value_len = read_u32(data, s.checked_add(4).ok_or(MalformedMap)?)?;
        let key = take(data, &mut p, key_len)?;
        let value = take(data, &mut p, value_len)?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Takes `len` bytes at `*p` followed by a NUL, and advances past both.
fn take<'a>(data: &'a [u8], p: &mut usize, len: usize) -> Result<&'a [u8], MalformedMap> {
    let end = p.checked_add(len).ok_or(MalformedMap)?;
    let bytes = data.get(*p..end).ok_or(MalformedMap)?;
    if data.get(end) != Some(&0) {
        return Err(MalformedMap);
    }
    *p = end.checked_add(1).ok_or(MalformedMap)?;
    Ok(bytes)
}

/// Serializes pairs in the same layout (for `proxy_http_call` headers).
/// Pairs longer than `u32::MAX` cannot be expressed and are an error.
pub fn serialize_pairs(pairs: &[(&str, &str)]) -> Result<Vec<u8>, MalformedMap> {
    let to_u32 = |n: usize| u32::try_from(n).map_err(|_| MalformedMap);
    let mut out = Vec::new();
    out.extend_from_slice(&to_u32(pairs.len())?.to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&to_u32(k.len())?.to_le_bytes());
        out.extend_from_slice(&to_u32(v.len())?.to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v.as_bytes());
        out.push(0);
    }
    Ok(out)
}

/// The first value of `name` (header names from Envoy are lowercase).
pub fn first<'a>(pairs: &[Pair<'a>], name: &str) -> Option<&'a [u8]> {
    pairs
        .iter()
        .find(|(k, _)| *k == name.as_bytes())
        .map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let data = serialize_pairs(&[(":method", "GET"), ("x-a", ""), ("", "v")]).unwrap();
        let pairs = parse_pairs(&data).unwrap();
        assert_eq!(
            pairs,
            vec![
                (&b":method"[..], &b"GET"[..]),
                (&b"x-a"[..], &b""[..]),
                (&b""[..], &b"v"[..])
            ]
        );
        assert_eq!(first(&pairs, "x-a"), Some(&b""[..]));
        assert_eq!(first(&pairs, "x-b"), None);
    }

    #[test]
    fn empty_buffer_is_empty_map() {
        assert!(parse_pairs(&[]).unwrap().is_empty());
        assert!(parse_pairs(&0u32.to_le_bytes()).unwrap().is_empty());
    }

    #[test]
    fn invalid_utf8_is_kept_as_bytes() {
        let mut data = Vec::new();
        data.extend_from_slice(&1u32.to_le_bytes());
        data.extend_from_slice(&1u32.to_le_bytes());
        data.extend_from_slice(&2u32.to_le_bytes());
        data.extend_from_slice(b"k\0\xff\xfe\0");
        assert_eq!(
            parse_pairs(&data).unwrap(),
            vec![(&b"k"[..], &b"\xff\xfe"[..])]
        );
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let data = serialize_pairs(&[("user-agent", "curl"), ("x", "y")]).unwrap();
        for cut in 1..data.len() {
            assert_eq!(parse_pairs(&data[..cut]), Err(MalformedMap), "cut at {cut}");
        }
        for i in 0..data.len() {
            for b in [0u8, 0x7f, 0xff] {
                let mut d = data.clone();
                d[i] = b;
                let _ = parse_pairs(&d); // must not panic
            }
        }
        // A count far beyond the buffer is refused before allocating.
        let mut huge = u32::MAX.to_le_bytes().to_vec();
        huge.extend_from_slice(&[0; 16]);
        assert_eq!(parse_pairs(&huge), Err(MalformedMap));
        // Missing NUL terminator.
        let mut d = data.clone();
        let last = d.len() - 1;
        d[last] = b'!';
        assert_eq!(parse_pairs(&d), Err(MalformedMap));
    }
}
