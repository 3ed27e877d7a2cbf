//! Benchmarks of the Gazette client (criterion).
