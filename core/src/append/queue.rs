//! One journal's FIFO chain of batches (docs/behaviour.md#batch-chains, #starting-an-append): the data
//! the [`super::AppendService`] schedules, and the join-or-chain decision.

use std::collections::VecDeque;
use std::time::Instant;

use gazette_proto::AppendRequest;

use super::error::AppendError;
use super::spool::SpoolBuffer;

/// Identifies one batch of appends (one AppendRequest sent, possibly
/// several times) or an external dependency
/// ([`super::AppendService::external_dependency`]). Identifiers count up
/// from 1 and are never reused; what every append released into the batch
/// resolves with ([`super::AppendService::poll_resolved`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppendId(pub u64);

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
pub(crate) struct Batch {
    pub id: AppendId,
    pub request: AppendRequest,
    /// Dependencies, sorted and without repeats.
    pub deps: Vec<AppendId>,
    pub spool: SpoolBuffer,
    /// A spool write holding released bytes failed: the batch fails.
    pub broken: Option<AppendError>,
    /// Bytes released by writers; only `[0, checkpoint)` is ever sent.
    pub checkpoint: u64,
    /// Releases that committed into this batch.
    pub released: u32,
    pub state: BatchState,
    /// Set once the batch, as its journal's sealed head, counted its
    /// pending dependencies and registered to hear of them.
    pub registered: bool,
    /// Dependencies still pending (valid once `registered`).
    pub waiting: usize,
    /// The first dependency failure heard of.
    pub dep_failure: Option<AppendError>,
}

/// The open writer of a journal (at most one at a time).
#[derive(Debug)]
pub(crate) struct Writer {
    pub batch: AppendId,
    /// The batch's length when the writer started: its rollback point.
    pub start: u64,
    /// The first `require` error or spool write error.
    pub error: Option<AppendError>,
}

/// A journal's chain, oldest batch first.
#[derive(Debug)]
pub(crate) struct JournalQueue {
    pub name: String,
    pub batches: VecDeque<Batch>,
    pub writer: Option<Writer>,
    /// The journal's terminal error, and the failed append that stands
    /// for it in `pending_except`.
    pub poison: Option<(AppendError, AppendId)>,
    /// Whether the journal is in the scheduler's ready queue.
    pub queued: bool,
}

impl JournalQueue {
    pub(crate) fn new(name: String) -> Self {
        JournalQueue {
            name,
            batches: VecDeque::new(),
            writer: None,
            poison: None,
            queued: false,
        }
    }
}

/// True when an append of `request` with `deps` may join the open `tail`
/// (docs/behaviour.md#starting-an-append, step 5): the tail is not past the cutoff (strictly greater), the
/// dependencies are implied by the tail's, and the request is
/// field-for-field equal.
///
/// Both dependency lists are sorted without repeats, so the subset test is
/// one merge, linear in their lengths.
pub fn may_join(
    tail_request: &AppendRequest,
    tail_deps: &[AppendId],
    tail_checkpoint: u64,
    cutoff: u64,
    request: &AppendRequest,
    deps: &[AppendId],
) -> bool {
    tail_checkpoint <= cutoff && is_sorted_subset(deps, tail_deps) && request == tail_request
}

/// Whether every member of sorted `small` is in sorted `big`.
fn is_sorted_subset(small: &[AppendId], big: &[AppendId]) -> bool {
    if small.len() > big.len() {
        return false;
    }
    let mut big = big.iter();
    small.iter().all(|s| big.by_ref().any(|b| b == s))
}
