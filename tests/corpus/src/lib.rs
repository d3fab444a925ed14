//! Synthetic audit-log corpora with planted PII and ground truth.
