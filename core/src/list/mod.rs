//! Listing and administrative calls (docs/behaviour.md#listing-and-administration;
//! docs/protocol.md#list, #apply, #listfragments, #fragmentstorehealth) as sans-IO machines:
//!
//! * [`SnapshotAssembler`]: List stream messages → complete snapshots
//!   (unary and watch mode, the end-of-snapshot marker, resume checks).
//! * [`WatchedList`]: the long-running watch (latest snapshot, update
//!   signals, reconnects with [`crate::backoff`]).
//! * [`FragmentPager`]: ListFragments paging until the token is 0.
//! * [`ApplyBatches`]: Apply in batches, reporting what was applied when a
//!   later batch fails.
//! * Helpers for GetJournal ([`get_journal_request`], [`get_journal_spec`])
//!   and FragmentStoreHealth ([`fragment_store_health_request`],
//!   [`fragment_store_health_result`]).
//!
//! Go quirks (docs/behaviour.md#go-quirks-and-our-decisions), as decided here
//! (every difference from Go, in all areas: docs/go-differences.md):
//! * 22 — only the first message of a snapshot is validated: changed; the
//!   journals of continuation messages are validated too
//!   (docs/go-differences.md#d29).
//! * 23 — a server-sent `CANCELLED` surfaces as local cancellation: kept;
//!   drivers report it as [`ListError::Canceled`].
//! * 24 — listing caches routes under spec names, readers under the full
//!   `;meta` journal string: kept ([`snapshot_route_updates`] uses spec names).
//! * 25 — WatchedList signals errors only after the backoff and never on
//!   stop: changed; errors are signalled at once, [`WatchedList::stop`]
//!   lets the driver close its channel (docs/go-differences.md#d30).
//! * 26 — Apply errors are not context-mapped and an empty change list
//!   still sends one Apply: kept.
//! * 27 — ListAllFragments returns a partial result with a later error:
//!   kept ([`PagerStep::Failed::partial`]).
//!
//! Every non-OK broker status becomes its error through
//! [`StatusError::from_status`] with the operation's
//! [`Operation`](crate::status::Operation).

mod apply;
mod fragments;
mod health;
mod snapshot;
mod watch;

pub use apply::{ApplyBatches, ApplyFailure, ApplyStep};
pub use fragments::{FragmentPager, PagerStep};
pub use health::{fragment_store_health_request, fragment_store_health_result};
pub use snapshot::{SnapshotAssembler, snapshot_route_updates};
pub use watch::{WatchAction, WatchedList};

use gazette_proto::{JournalSpec, Label, LabelSelector, LabelSet, ListRequest, ListResponse};

use crate::status::StatusError;
use crate::validate::{ValidationError, strip_meta};

/// Why a listing or administrative call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    /// The stream ended cleanly before the first message of a snapshot
    /// (Go's `io.EOF`). A watcher treats it as a clean close.
    #[error("EOF")]
    Eof,
    /// A watch stream ended cleanly in the middle of a snapshot, or between
    /// snapshots (Go's `io.ErrUnexpectedEOF`).
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// A response failed validation.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// A non-OK status, classified for the operation.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// A resumed watch returned a snapshot not newer than the resumed one.
    #[error("server sent unexpected ListResponse revision ({got}; expected > {resume})")]
    RevisionNotAfterResume {
        /// Revision of the received snapshot.
        got: i64,
        /// Revision the watch resumed from.
        resume: i64,
    },
    /// A unary listing received a continuation message without journals.
    #[error("unexpected empty ListResponse.Journals in unary listing")]
    EmptyUnaryContinuation,
    /// GetJournal found no journal of that name.
    #[error("named journal does not exist ({0})")]
    JournalDoesNotExist(String),
    /// The call was cancelled (locally, or by a server-sent `CANCELLED`
    /// status on a List stream, which Go reports the same way: quirk 23).
    #[error("context canceled")]
    Canceled,
    /// A transport or gRPC error, as the driver reports it.
    #[error("{0}")]
    Rpc(String),
    /// The request is invalid (selector, journal name); it was refused
    /// client-side and no RPC was made.
    #[error(transparent)]
    InvalidRequest(ValidationError),
    /// The call did not finish within the client's deadline (Go's
    /// `context.DeadlineExceeded`; docs/go-differences.md#d31).
    #[error("context deadline exceeded")]
    DeadlineExceeded,
    /// A one-shot listing was asked to watch (start a watch instead); no
    /// RPC was made.
    #[error("a one-shot listing cannot watch (use a watch)")]
    WatchInOneShot,
}

/// Checks a List request client-side before the RPC (see
/// [`crate::validate::validate_list_request`]).
pub fn check_list_request(request: &ListRequest) -> Result<(), ListError> {
    crate::validate::validate_list_request(request).map_err(ListError::InvalidRequest)
}

/// The request GetJournal sends (Go's `GetJournal`): a unary List whose
/// selector includes exactly `name=<journal without ;meta>`, which brokers
/// serve from a cheap key-range scan. An invalid journal name (or `;meta`
/// segment) is refused with [`ListError::InvalidRequest`]; Go panics there.
pub fn get_journal_request(journal: &str) -> Result<ListRequest, ListError> {
    crate::validate::validate_get_journal(journal).map_err(ListError::InvalidRequest)?;
    Ok(ListRequest {
        selector: Some(LabelSelector {
            include: Some(LabelSet {
                labels: vec![Label {
                    name: "name".to_string(),
                    value: strip_meta(journal).to_string(),
                    prefix: false,
                }],
            }),
            exclude: None,
        }),
        watch: false,
        watch_resume: None,
    })
}

/// The spec GetJournal returns from its snapshot: the first journal, or
/// `named journal does not exist (<journal as given>)`.
pub fn get_journal_spec(journal: &str, snapshot: &ListResponse) -> Result<JournalSpec, ListError> {
    snapshot
        .journals
        .first()
        .map(|j| j.spec.clone().unwrap_or_default())
        .ok_or_else(|| ListError::JournalDoesNotExist(journal.to_string()))
}
