//! Compact aggregation events, sent by worker VMs to the singleton through
//! a shared queue, many per queue message.
//!
//! Batch: `b"DPE1"`, `u16` length and bytes of the aggregate configuration
//! fingerprint (the singleton drops batches built under another
//! configuration: their fields would mean something else), then events.
//! Event: `i64` host time in seconds, `u8` field count, then per field a
//! `u32` length (`u32::MAX`: absent) and the UTF-8 bytes. Little-endian.
//! Fields are values of the *scrubbed* record, in the order of
//! `AggregateConfig::field_paths`.

const MAGIC: &[u8; 4] = b"DPE1";
const ABSENT: u32 = u32::MAX;

/// The batch could not be read (static reasons only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadBatch {
    Malformed,
    OtherConfiguration,
}

impl BadBatch {
    pub fn reason(self) -> &'static str {
        match self {
            BadBatch::Malformed => "malformed event batch",
            BadBatch::OtherConfiguration => {
                "event batch built under another aggregate configuration"
            }
        }
    }
}

/// Accumulates events into one queue message.
pub struct BatchWriter {
    buf: Vec<u8>,
    header_len: usize,
    events: usize,
}

impl BatchWriter {
    /// Fingerprints longer than `u16::MAX` are cut (they are 64 hex chars).
    pub fn new(fingerprint: &str) -> BatchWriter {
        let fp = fingerprint.as_bytes();
        let fp = fp.get(..usize::from(u16::MAX)).unwrap_or(fp);
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&u16::try_from(fp.len()).unwrap_or(0).to_le_bytes());
        buf.extend_from_slice(fp);
        let header_len = buf.len();
        BatchWriter {
            buf,
            header_len,
            events: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Appends one event; `false` (nothing appended) when a field is longer
    /// than the format allows or there are more than 255 fields.
    pub fn push<S: AsRef<str>>(&mut self, time_secs: i64, fields: &[Option<S>]) -> bool {
        let Ok(n) = u8::try_from(fields.len()) else {
            return false;
        };
        let lens: Option<Vec<u32>> = fields
            .iter()
            .map(|f| match f {
                None => Some(ABSENT),
                Some(s) => u32::try_from(s.as_ref().len())
                    .ok()
                    .filter(|l| *l != ABSENT),
            })
            .collect();
        let Some(lens) = lens else { return false };
        self.buf.extend_from_slice(&time_secs.to_le_bytes());
        self.buf.push(n);
        for (f, len) in fields.iter().zip(lens) {
            self.buf.extend_from_slice(&len.to_le_bytes());
            if let Some(s) = f {
                self.buf.extend_from_slice(s.as_ref().as_bytes());
            }
        }
        self.events = self.events.saturating_add(1);
        true
    }

    /// The message to enqueue; the writer is empty afterwards.
    pub fn take(&mut self) -> Vec<u8> {
        let header = self.buf.get(..self.header_len).unwrap_or_default().to_vec();
        self.events = 0;
        std::mem::replace(&mut self.buf, header)
    }

    /// Drops the pending events, keeping the header.
    pub fn clear(&mut self) {
        self.buf.truncate(self.header_len);
        self.events = 0;
    }
}

/// One decoded event; fields borrow from the message.
#[derive(Debug, PartialEq, Eq)]
pub struct Event<'a> {
    pub time_secs: i64,
    pub fields: Vec<Option<&'a str>>,
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], BadBatch> {
        let end = self.at.checked_add(n).ok_or(BadBatch::Malformed)?;
        let b = self.data.get(self.at..end).ok_or(BadBatch::Malformed)?;
        self.at = end;
        Ok(b)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], BadBatch> {
        self.bytes(N)?.try_into().map_err(|_| BadBatch::Malformed)
    }
    fn done(&self) -> bool {
        self.at >= self.data.len()
    }
}

/// Decodes a whole batch (all or nothing).
pub fn decode_batch<'a>(data: &'a [u8], fingerprint: &str) -> Result<Vec<Event<'a>>, BadBatch> {
    let mut r = Reader { data, at: 0 };
    if &r.array::<4>()? != MAGIC {
        return Err(BadBatch::Malformed);
    }
    let fp_len = usize::from(u16::from_le_bytes(r.array()?));
    let fp = r.bytes(fp_len)?;
    let want = fingerprint.as_bytes();
    if fp != want.get(..usize::from(u16::MAX)).unwrap_or(want) {
        return Err(BadBatch::OtherConfiguration);
    }
    let mut events = Vec::new();
    while !r.done() {
        let time_secs = i64::from_le_bytes(r.array()?);
        let [n] = r.array::<1>()?;
        let mut fields = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let len = u32::from_le_bytes(r.array()?);
            if len == ABSENT {
                fields.push(None);
            } else {
                let len = usize::try_from(len).map_err(|_| BadBatch::Malformed)?;
                let s = std::str::from_utf8(r.bytes(len)?).map_err(|_| BadBatch::Malformed)?;
                fields.push(Some(s));
            }
        }
        events.push(Event { time_secs, fields });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut w = BatchWriter::new("fp1");
        assert!(w.is_empty());
        assert!(w.push(1_700_000_000, &[Some("GET"), None, Some("")]));
        assert!(w.push(-5, &[Some("é")]));
        assert_eq!(w.len(), 2);
        let msg = w.take();
        assert!(w.is_empty());
        let ev = decode_batch(&msg, "fp1").unwrap();
        assert_eq!(
            ev,
            vec![
                Event {
                    time_secs: 1_700_000_000,
                    fields: vec![Some("GET"), None, Some("")]
                },
                Event {
                    time_secs: -5,
                    fields: vec![Some("é")]
                },
            ]
        );
        // The writer is reusable after take.
        assert!(w.push(1, &[Some("x")]));
        assert_eq!(decode_batch(&w.take(), "fp1").unwrap().len(), 1);
        assert_eq!(decode_batch(&w.take(), "fp1").unwrap().len(), 0);
    }

    #[test]
    fn other_configuration_is_refused() {
        let mut w = BatchWriter::new("fp1");
        w.push(1, &[Some("a")]);
        assert_eq!(
            decode_batch(&w.take(), "fp2"),
            Err(BadBatch::OtherConfiguration)
        );
    }

    #[test]
    fn truncations_and_garbage_are_errors() {
        let mut w = BatchWriter::new("fp");
        w.push(7, &[Some("abc"), None]);
        let msg = w.take();
        for cut in 0..msg.len() {
            if cut == 4 + 2 + 2 {
                continue; // a header alone is a valid empty batch
            }
            assert!(decode_batch(&msg[..cut], "fp").is_err(), "cut {cut}");
        }
        let mut bad = msg.clone();
        bad[8 + 8 + 1 + 4] = 0xff; // first byte of "abc"

        assert!(decode_batch(&bad, "fp").is_err());
        assert_eq!(decode_batch(b"XXXX", "fp"), Err(BadBatch::Malformed));
    }

    #[test]
    fn too_many_fields_is_refused() {
        let mut w = BatchWriter::new("fp");
        let fields: Vec<Option<&str>> = vec![None; 256];
        assert!(!w.push(0, &fields));
        assert!(w.is_empty());
    }
}
