//! One journal's FIFO chain of batches (docs/behaviour.md#batch-chains, #starting-an-append): the data
//! the [`super::AppendService`] schedules, and the join-or-chain decision.

use std::collections::VecDeque;
use std::time::Instant;

use gazette_proto::AppendRequest;

use super::error::AppendError;
use super::future::{AsyncOperation, OpFuture, OpFutures};
use super::spool::SpoolBuffer;

/// Identifies one batch (one AppendRequest sent, possibly several times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchId(pub u64);

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchState {
    /// The journal's tail: writers may still join.
    Open,
    /// Sealed; waiting for its dependencies.
    Sealed,
    /// An Append RPC attempt is running (attempt number from 0).
    InFlight {
        /// The attempt number.
        attempt: u32,
    },
    /// The last attempt failed; the next one may start at `until`.
    Backoff {
        /// The attempt number of the next attempt.
        attempt: u32,
        /// When the next attempt may start.
        until: Instant,
    },
}

/// A batch: appends with identical requests, sent as one Append RPC.
#[derive(Debug)]
pub(crate) struct Batch<F> {
    pub id: BatchId,
    pub request: AppendRequest,
    pub deps: OpFutures,
    pub spool: SpoolBuffer<F>,
    /// Bytes released by writers; only `[0, checkpoint)` is ever sent.
    pub checkpoint: u64,
    /// Releases that committed into this batch.
    pub released: u32,
    pub op: AsyncOperation,
    pub state: BatchState,
}

/// The open writer of a journal (at most one at a time).
#[derive(Debug)]
pub(crate) struct Writer {
    pub batch: BatchId,
    /// The batch's length when the writer started: its rollback point.
    pub start: u64,
    /// The first `require` error or spool write error.
    pub error: Option<AppendError>,
}

/// A journal's chain, oldest batch first.
#[derive(Debug)]
pub(crate) struct JournalQueue<F> {
    pub name: String,
    pub batches: VecDeque<Batch<F>>,
    pub writer: Option<Writer>,
    /// The journal's terminal error, with one stable finished future for it.
    pub poison: Option<(AppendError, OpFuture)>,
}

impl<F> JournalQueue<F> {
    pub(crate) fn new(name: String) -> Self {
        JournalQueue {
            name,
            batches: VecDeque::new(),
            writer: None,
            poison: None,
        }
    }
}

/// True when an append of `request` with `deps` may join the open `tail`
/// (docs/behaviour.md#starting-an-append, step 5): the tail is not past the cutoff (strictly greater), the
/// dependencies are implied by the tail's, and the request is
/// field-for-field equal.
pub fn may_join(
    tail_request: &AppendRequest,
    tail_deps: &OpFutures,
    tail_checkpoint: u64,
    cutoff: u64,
    request: &AppendRequest,
    deps: &OpFutures,
) -> bool {
    tail_checkpoint <= cutoff && deps.is_subset_of(tail_deps) && request == tail_request
}
