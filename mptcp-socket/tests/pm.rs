//! Path-manager tests (being written).
