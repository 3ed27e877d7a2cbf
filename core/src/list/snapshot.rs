//! Assembling List snapshots from streamed responses (docs/behaviour.md#list-snapshots).

use gazette_proto::{ListRequest, ListResponse};

use super::ListError;
use crate::route::{RouteUpdate, route_update_from_header};
use crate::status::{Operation, StatusError};
use crate::validate::{Validate, ValidationError};

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// Waiting for the first message of a snapshot.
    First,
    /// Collecting continuation messages.
    Continuation(ListResponse),
    /// A unary snapshot was completed, or an error ended the stream.
    Finished,
}

/// Go's `ReadListResponse` as a machine: feed it the messages of a List
/// stream and its end; it returns each complete snapshot.
///
/// * The first message of a snapshot (by position) must validate and carry
///   status OK; a resumed watch also requires its header revision to be
///   greater than the resumed one.
/// * Continuation messages add journals. In watch mode a message without
///   journals ends the snapshot; in unary mode it is an error, and the clean
///   end of the stream ends the snapshot.
/// * In watch mode, each snapshot becomes the resume point of the next one
///   on the same stream (as Go's WatchedList does through `watch_resume`),
///   so revisions must keep increasing.
///
/// Quirk 22: Go validates only the first message; this machine also
/// validates the journals of continuation messages (their header is empty,
/// so it checks each `Journals[i]` entry; docs/go-differences.md#d29).
///
/// After an error the assembler is finished: the stream must be dropped.
#[derive(Debug, Clone)]
pub struct SnapshotAssembler {
    watch: bool,
    resume_revision: Option<i64>,
    phase: Phase,
}

impl SnapshotAssembler {
    /// An assembler for the stream opened with `request`.
    pub fn new(request: &ListRequest) -> Self {
        SnapshotAssembler {
            watch: request.watch,
            resume_revision: request
                .watch_resume
                .as_ref()
                .map(|h| h.etcd.map_or(0, |e| e.revision)),
            phase: Phase::First,
        }
    }

    /// Whether the stream is in watch mode.
    pub fn is_watch(&self) -> bool {
        self.watch
    }

    /// Whether the assembler finished (unary snapshot done, or failed).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// Feeds one stream message. Returns a snapshot when this message
    /// completes one (watch mode: the end-of-snapshot marker).
    pub fn on_message(&mut self, msg: ListResponse) -> Result<Option<ListResponse>, ListError> {
        let result = self.step(msg);
        if result.is_err() {
            self.phase = Phase::Finished;
        }
        result
    }

    fn step(&mut self, msg: ListResponse) -> Result<Option<ListResponse>, ListError> {
        match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::Finished => Err(ListError::UnexpectedEof),
            Phase::First => {
                msg.validate()?;
                if let Some(err) =
                    StatusError::from_status(Operation::List, msg.status, String::new)
                {
                    return Err(err.into());
                }
                let got = msg
                    .header
                    .as_ref()
                    .and_then(|h| h.etcd)
                    .map_or(0, |e| e.revision);
                if let Some(resume) = self.resume_revision.filter(|r| *r >= got) {
                    return Err(ListError::RevisionNotAfterResume { got, resume });
                }
                self.phase = Phase::Continuation(msg);
                Ok(None)
            }
            Phase::Continuation(mut snapshot) => {
                if msg.journals.is_empty() {
                    if !self.watch {
                        return Err(ListError::EmptyUnaryContinuation);
                    }
                    self.resume_revision = snapshot
                        .header
                        .as_ref()
                        .and_then(|h| h.etcd)
                        .map(|e| e.revision);
                    self.phase = Phase::First;
                    return Ok(Some(snapshot));
                }
                for (i, journal) in msg.journals.iter().enumerate() {
                    journal
                        .validate()
                        .map_err(|e: ValidationError| e.in_field(format!("Journals[{i}]")))?;
                }
                snapshot.journals.extend(msg.journals);
                self.phase = Phase::Continuation(snapshot);
                Ok(None)
            }
        }
    }

    /// Feeds the clean end of the stream. A unary listing returns its
    /// snapshot; otherwise the end is an error: [`ListError::Eof`] before
    /// the first message of a snapshot (a clean close), and
    /// [`ListError::UnexpectedEof`] in the middle of a snapshot or for a
    /// watch (whose stream should never end).
    pub fn on_end(&mut self) -> Result<ListResponse, ListError> {
        match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::First => Err(ListError::Eof),
            Phase::Continuation(snapshot) if !self.watch => Ok(snapshot),
            Phase::Continuation(_) | Phase::Finished => Err(ListError::UnexpectedEof),
        }
    }

    /// Feeds a stream error other than a clean end; the assembler finishes
    /// and returns the error to report. A server-sent `CANCELLED` should be
    /// passed as [`ListError::Canceled`] (quirk 23).
    pub fn on_error(&mut self, err: ListError) -> ListError {
        self.phase = Phase::Finished;
        err
    }
}

/// Go's `ListAllJournals` route updates: for every journal of a snapshot,
/// its spec name and what to do with its cached route (an empty route
/// invalidates). Keys are spec names (never `;meta`: quirk 24).
pub fn snapshot_route_updates(snapshot: &ListResponse) -> Vec<(String, RouteUpdate)> {
    snapshot
        .journals
        .iter()
        .map(|j| {
            let name = j.spec.as_ref().map(|s| s.name.clone()).unwrap_or_default();
            let header = gazette_proto::Header {
                route: j.route.clone(),
                ..Default::default()
            };
            let update = route_update_from_header(Some(&header)).unwrap_or(RouteUpdate::Invalidate);
            (name, update)
        })
        .collect()
}
