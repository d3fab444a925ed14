//! Value transforms applied by policy actions.
