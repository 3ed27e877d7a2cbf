//! Plain counters of the append path, for a driver to export (e.g. as
//! Prometheus counters; gazette/core issue 318 asks for them).

/// Counters of an [`super::AppendService`]. Monotonic except
/// `spooled_bytes`, a gauge of the bytes currently held for unresolved
/// batches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendMetrics {
    /// `start_append` calls that opened a writer.
    pub appends_started: u64,
    /// Releases that committed their writes to a batch.
    pub appends_released: u64,
    /// Releases that rolled their writes back.
    pub appends_rolled_back: u64,
    /// Content bytes committed to batches by releases.
    pub bytes_released: u64,
    /// Content bytes discarded by rollbacks.
    pub bytes_rolled_back: u64,
    /// Bytes currently spooled for batches not yet resolved (gauge).
    pub spooled_bytes: u64,
    /// Batches created.
    pub batches_created: u64,
    /// Append RPC attempts started (first tries and retries).
    pub rpc_attempts: u64,
    /// Attempts that failed and were scheduled for retry.
    pub retries: u64,
    /// Content bytes read from the spool for sending, over all attempts
    /// (Go's `gazette_append_bytes_total`, which counts retries again; the
    /// tokio driver's counter of that name differs: docs/go-differences.md#d19).
    pub bytes_sent: u64,
    /// Batches that committed.
    pub batches_committed: u64,
    /// Batches that failed (broker, transport, dependency or poison).
    pub batches_failed: u64,
}
