//! Differential privacy engine.
