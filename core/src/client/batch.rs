//! The AppendService inside the client: the core scheduler
//! ([`AppendService`]) whose dispatched batches the client streams itself,
//! as streamed appends of its own, from the spool (through
//! [`SpoolCommand::Read`]) to the primary.
//!
//! Each dispatched batch becomes an internal append operation. Its events
//! (writable again, refused, finished) never reach the user: they feed the
//! batch's attempt, whose outcome goes back to the scheduler, and every
//! append the scheduler resolves becomes one [`Event::AppendResolved`].

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use gazette_proto::AppendResponse;

use super::rpc::OpId;
use super::{Event, OpError, Outcome};
use crate::append::{
    AppendConfig, AppendError, AppendId, AppendService, Dispatch, SpoolCommand, SpoolContent,
    SpoolError, SpoolRead, TransportError,
};

/// One running attempt of a dispatched batch.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) batch: AppendId,
    len: u64,
    /// Content bytes handed to the append so far.
    offset: u64,
    /// A spool read is outstanding.
    reading: bool,
    /// The append holds as much as it takes: wait for it to be writable.
    blocked: bool,
    committed: bool,
    /// The broker's refusal, when the attempt failed with a status.
    refused: Option<AppendResponse>,
    /// Why the client aborted the attempt (a spool failure).
    failure: Option<AppendError>,
}

/// What the client should do next for an attempt ([`Batches::next_step`]).
#[derive(Debug)]
pub(crate) enum Step {
    /// Write these bytes to the attempt's append.
    Write(Bytes),
    /// Commit the attempt's append.
    Commit,
    /// Nothing until a read, a writable signal or the outcome.
    Wait,
}

/// The scheduler and the attempts the client runs for it.
#[derive(Debug)]
pub(crate) struct Batches {
    pub(crate) scheduler: AppendService,
    pub(crate) attempts: BTreeMap<OpId, Attempt>,
    reads: BTreeMap<SpoolRead, OpId>,
    last_read: u64,
    /// Spool commands for the driver: the scheduler's and the reads.
    commands: VecDeque<SpoolCommand>,
}

impl Batches {
    pub(crate) fn new(config: AppendConfig) -> Self {
        Batches {
            scheduler: AppendService::new(config),
            attempts: BTreeMap::new(),
            reads: BTreeMap::new(),
            last_read: 0,
            commands: VecDeque::new(),
        }
    }

    /// The next spool command: the scheduler's first (writes a writer
    /// produced), then the client's reads.
    pub(crate) fn poll_spool(&mut self) -> Option<SpoolCommand> {
        self.scheduler
            .poll_spool()
            .or_else(|| self.commands.pop_front())
    }

    pub(crate) fn attempt(&mut self, op: OpId, dispatch: &Dispatch) {
        self.attempts.insert(
            op,
            Attempt {
                batch: dispatch.batch,
                len: dispatch.len,
                offset: 0,
                reading: false,
                blocked: false,
                committed: false,
                refused: None,
                failure: None,
            },
        );
    }

    /// What attempt `op` needs next: content from the front buffer, a spool
    /// read (queued here), the commit, or nothing yet.
    pub(crate) fn next_step(&mut self, op: OpId) -> Result<Step, AppendError> {
        let Some(attempt) = self.attempts.get_mut(&op) else {
            return Ok(Step::Wait);
        };
        if attempt.reading || attempt.blocked || attempt.committed {
            return Ok(Step::Wait);
        }
        if attempt.offset >= attempt.len {
            attempt.committed = true;
            return Ok(Step::Commit);
        }
        let chunk = self.scheduler.config().chunk_size;
        match self
            .scheduler
            .read_content(attempt.batch, attempt.offset, chunk)?
        {
            SpoolContent::Bytes(bytes) => {
                attempt.offset += bytes.len() as u64;
                Ok(Step::Write(bytes))
            }
            SpoolContent::File { file, offset, len } => {
                self.last_read += 1;
                let read = SpoolRead(self.last_read);
                self.reads.insert(read, op);
                attempt.reading = true;
                self.commands.push_back(SpoolCommand::Read {
                    read,
                    file,
                    offset,
                    len,
                });
                Ok(Step::Wait)
            }
        }
    }

    /// A spool read came back: the bytes to write to its attempt's append,
    /// or the failure that ends the attempt.
    pub(crate) fn on_read(
        &mut self,
        read: SpoolRead,
        result: Result<Bytes, SpoolError>,
    ) -> Option<(OpId, Result<Bytes, AppendError>)> {
        let op = self.reads.remove(&read)?;
        let attempt = self.attempts.get_mut(&op)?;
        attempt.reading = false;
        Some((
            op,
            result
                .inspect(|bytes| attempt.offset += bytes.len() as u64)
                .map_err(|err| AppendError::Spool(err.to_string())),
        ))
    }

    /// Content handed out by `next_step` that the append refused: it is
    /// handed out again.
    pub(crate) fn unread(&mut self, op: OpId, len: u64) {
        if let Some(attempt) = self.attempts.get_mut(&op) {
            attempt.offset -= len;
        }
    }

    /// Records why the client ends attempt `op`.
    pub(crate) fn fail(&mut self, op: OpId, err: AppendError) {
        if let Some(attempt) = self.attempts.get_mut(&op) {
            attempt.failure.get_or_insert(err);
        }
    }

    pub(crate) fn set_blocked(&mut self, op: OpId, blocked: bool) {
        if let Some(attempt) = self.attempts.get_mut(&op) {
            attempt.blocked = blocked;
        }
    }

    /// Takes an event of an attempt's append. Returns true when it was
    /// one (and so is not the user's).
    pub(crate) fn on_event(&mut self, event: &Event, now: std::time::Instant) -> bool {
        let op = match event {
            Event::Writable { op }
            | Event::AppendRefused { op, .. }
            | Event::Finished { op, .. }
            | Event::Retrying { op, .. }
            | Event::OutcomeUnknown { op } => *op,
            _ => return false,
        };
        let Some(attempt) = self.attempts.get_mut(&op) else {
            return false;
        };
        match event {
            Event::Writable { .. } => attempt.blocked = false,
            Event::AppendRefused { response, .. } => attempt.refused = Some((**response).clone()),
            Event::Finished { result, .. } => {
                let attempt = self.attempts.remove(&op).expect("present");
                self.reads.retain(|_, o| *o != op);
                let result = match result {
                    _ if attempt.failure.is_some() => Err(attempt.failure.clone().expect("set")),
                    Ok(Outcome::Appended(response)) => Ok(response.clone()),
                    Ok(other) => Err(AppendError::Transport(TransportError::Other(format!(
                        "append ended without a commit: {other:?}"
                    )))),
                    Err(err) => Err(attempt_error(err.clone())),
                };
                let refused = result.is_err().then_some(attempt.refused).flatten();
                self.scheduler.on_append_finished_with_response(
                    attempt.batch,
                    result,
                    refused,
                    now,
                );
            }
            _ => {}
        }
        true
    }
}

/// An attempt's failure as the scheduler classifies it.
fn attempt_error(err: OpError) -> AppendError {
    match err {
        OpError::Append(err) => err,
        OpError::Rpc { failure, .. } => AppendError::Transport(failure.into()),
        other => AppendError::Transport(TransportError::Other(other.to_string())),
    }
}
