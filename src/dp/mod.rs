//! Differential privacy engine.

pub mod noise;
