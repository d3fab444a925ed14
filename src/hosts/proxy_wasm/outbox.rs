//! The `http` sink's buffer: NDJSON records batched into POSTs, bounded in
//! memory, one POST in flight per VM, failed POSTs retried with doubling
//! backoff. It never blocks or fails the request being logged: a record
//! that does not fit is dropped and counted. Pure state machine; the glue
//! sends what [`Outbox::take_batch`] returns and reports the answer.

use super::settings::HttpSinkConfig;
use std::collections::VecDeque;

/// A batch of NDJSON lines.
pub struct Batch {
    pub body: Vec<u8>,
    pub records: usize,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OutboxCounters {
    pub records_sent: u64,
    pub records_dropped: u64,
    pub posts_failed: u64,
}

pub struct Outbox {
    cfg: HttpSinkConfig,
    queue: VecDeque<Vec<u8>>,
    queued_bytes: usize,
    /// A batch whose POST failed, sent again before anything newer.
    retry: Option<Batch>,
    in_flight: Option<(u32, Batch)>,
    last_flush_ms: u64,
    backoff_ms: u64,
    retry_at_ms: u64,
    pub counters: OutboxCounters,
}

const MIN_BACKOFF_MS: u64 = 100;

impl Outbox {
    pub fn new(cfg: HttpSinkConfig, now_ms: u64) -> Outbox {
        Outbox {
            cfg,
            queue: VecDeque::new(),
            queued_bytes: 0,
            retry: None,
            in_flight: None,
            last_flush_ms: now_ms,
            backoff_ms: 0,
            retry_at_ms: 0,
            counters: OutboxCounters::default(),
        }
    }

    pub fn config(&self) -> &HttpSinkConfig {
        &self.cfg
    }

    /// Queues one record; `false` when the buffer is full (the record is dropped).
    pub fn push(&mut self, record: &[u8]) -> bool {
        let size = record.len().saturating_add(1);
        if self.queued_bytes.saturating_add(size) > self.cfg.max_buffer_bytes
            || size > self.cfg.max_batch_bytes
        {
            self.counters.records_dropped = self.counters.records_dropped.saturating_add(1);
            return false;
        }
        let mut line = Vec::with_capacity(size);
        line.extend_from_slice(record);
        line.push(b'\n');
        self.queue.push_back(line);
        self.queued_bytes = self.queued_bytes.saturating_add(size);
        true
    }

    pub fn queued_records(&self) -> usize {
        self.queue.len()
    }

    /// Whether a POST should start now.
    pub fn due(&self, now_ms: u64) -> bool {
        if self.in_flight.is_some() || now_ms < self.retry_at_ms {
            return false;
        }
        if self.retry.is_some() {
            return true;
        }
        !self.queue.is_empty()
            && (self.queue.len() >= self.cfg.max_batch_records
                || self.queued_bytes >= self.cfg.max_batch_bytes
                || now_ms.saturating_sub(self.last_flush_ms) >= self.cfg.flush_interval_ms)
    }

    /// The next batch to POST, if one is due.
    pub fn take_batch(&mut self, now_ms: u64) -> Option<Batch> {
        if !self.due(now_ms) {
            return None;
        }
        self.last_flush_ms = now_ms;
        if let Some(b) = self.retry.take() {
            return Some(b);
        }
        let mut body = Vec::new();
        let mut records = 0usize;
        while let Some(line) = self.queue.front() {
            if records >= self.cfg.max_batch_records
                || (records > 0 && body.len().saturating_add(line.len()) > self.cfg.max_batch_bytes)
            {
                break;
            }
            if let Some(line) = self.queue.pop_front() {
                self.queued_bytes = self.queued_bytes.saturating_sub(line.len());
                body.extend_from_slice(&line);
                records = records.saturating_add(1);
            }
        }
        (records > 0).then_some(Batch { body, records })
    }

    /// The glue started the POST of `batch` under `token`.
    pub fn started(&mut self, token: u32, batch: Batch) {
        self.in_flight = Some((token, batch));
    }

    /// The POST of `batch` could not even start (or its answer was a
    /// failure): keep it for a retry after the backoff.
    pub fn failed(&mut self, batch: Batch, now_ms: u64) {
        self.counters.posts_failed = self.counters.posts_failed.saturating_add(1);
        self.backoff_ms = self
            .backoff_ms
            .saturating_mul(2)
            .clamp(MIN_BACKOFF_MS, self.cfg.max_backoff_ms.max(MIN_BACKOFF_MS));
        self.retry_at_ms = now_ms.saturating_add(self.backoff_ms);
        self.retry = Some(batch);
    }

    /// The answer to the POST with `token`: `ok` for a 2xx status.
    pub fn completed(&mut self, token: u32, ok: bool, now_ms: u64) {
        let Some((t, batch)) = self.in_flight.take() else {
            return;
        };
        if t != token {
            self.in_flight = Some((t, batch));
            return;
        }
        if ok {
            self.counters.records_sent = self
                .counters
                .records_sent
                .saturating_add(batch.records as u64);
            self.backoff_ms = 0;
            self.retry_at_ms = 0;
        } else {
            self.failed(batch, now_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HttpSinkConfig {
        HttpSinkConfig {
            cluster: "c".into(),
            path: "/".into(),
            authority: "c".into(),
            timeout_ms: 1000,
            max_batch_records: 3,
            max_batch_bytes: 1024,
            max_buffer_bytes: 2048,
            flush_interval_ms: 1000,
            max_backoff_ms: 1000,
        }
    }

    #[test]
    fn flushes_on_count_or_interval() {
        let mut o = Outbox::new(cfg(), 0);
        o.push(b"{\"a\":1}");
        o.push(b"{\"a\":2}");
        assert!(o.take_batch(10).is_none(), "neither full nor old");
        o.push(b"{\"a\":3}");
        o.push(b"{\"a\":4}");
        let b = o.take_batch(20).unwrap();
        assert_eq!(b.records, 3);
        assert_eq!(b.body, b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
        o.started(7, b);
        assert!(o.take_batch(5000).is_none(), "one POST in flight");
        o.completed(7, true, 30);
        assert_eq!(o.counters.records_sent, 3);
        assert!(o.take_batch(500).is_none());
        assert_eq!(o.take_batch(1020).unwrap().records, 1);
    }

    #[test]
    fn failed_posts_are_retried_first_with_doubling_backoff() {
        let mut o = Outbox::new(cfg(), 0);
        for i in 0..4 {
            o.push(format!("{{\"i\":{i}}}").as_bytes());
        }
        let b = o.take_batch(0).unwrap();
        o.started(1, b);
        o.completed(2, true, 0); // another token: ignored
        o.completed(1, false, 0);
        assert_eq!(o.counters.posts_failed, 1);
        assert!(o.take_batch(99).is_none(), "backoff 100 ms");
        let b = o.take_batch(100).unwrap();
        assert!(
            b.body.starts_with(b"{\"i\":0}"),
            "the failed batch goes first"
        );
        o.failed(b, 100);
        assert!(o.take_batch(299).is_none(), "backoff doubled to 200 ms");
        let b = o.take_batch(300).unwrap();
        o.started(3, b);
        o.completed(3, true, 300);
        assert_eq!(o.counters.records_sent, 3);
        for _ in 0..10 {
            let b = Batch {
                body: vec![],
                records: 0,
            };
            o.failed(b, 0);
        }
        assert!(
            o.take_batch(999).is_none() && o.backoff_ms == 1000,
            "capped"
        );
    }

    #[test]
    fn full_buffer_drops_and_counts() {
        let mut o = Outbox::new(cfg(), 0);
        let rec = vec![b'x'; 999];
        assert!(o.push(&rec));
        assert!(o.push(&rec));
        assert!(!o.push(&rec));
        assert!(!o.push(&vec![b'y'; 5000]), "larger than a batch");
        assert_eq!(o.counters.records_dropped, 2);
        assert_eq!(o.queued_records(), 2);
        // Each oversized-for-two record still goes out, one per batch.
        assert_eq!(o.take_batch(0).unwrap().records, 1);
    }
}
