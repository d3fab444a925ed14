//! Free-text detectors (owned by the detect work package; see module docs there).
