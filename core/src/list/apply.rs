//! Apply in batches (docs/behaviour.md#apply-in-batches).

use std::ops::Range;

use gazette_proto::{ApplyRequest, ApplyResponse, apply_request::Change};

use super::ListError;
use crate::status::{Operation, StatusError};
use crate::validate::{Validate, ValidationError};

/// A failed batch and what had been applied before it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyFailure {
    /// Why the batch failed.
    pub error: ListError,
    /// The failing batch's response, when one arrived.
    pub response: Option<ApplyResponse>,
    /// Indexes (into the original changes) that earlier batches applied.
    /// They stay applied: batches are separate Etcd transactions.
    pub applied: Range<usize>,
    /// Indexes of the failed batch (not applied).
    pub failed: Range<usize>,
}

/// What to do after an Apply batch.
#[derive(Debug, Clone, PartialEq)]
pub enum ApplyStep {
    /// Send this request (the next batch).
    Next(ApplyRequest),
    /// All batches applied; the last response.
    Done(ApplyResponse),
    /// A batch failed.
    Failed(Box<ApplyFailure>),
}

/// Go's `ApplyJournalsInBatches` as a machine. Batches are consecutive
/// slices of at most `size` changes (`0` = all in one); a request with no
/// changes still sends one empty Apply (quirk 26, kept: it returns the
/// broker's current header).
///
/// Unlike Go, every change is validated before the first batch is sent, so
/// an invalid change late in the list cannot leave earlier batches applied.
#[derive(Debug, Clone)]
pub struct ApplyBatches {
    changes: Vec<Change>,
    size: usize,
    next: usize,
    in_flight: Range<usize>,
    finished: bool,
}

impl ApplyBatches {
    /// Batches of `request` of at most `size` changes.
    pub fn new(request: ApplyRequest, size: usize) -> Result<Self, ValidationError> {
        request.validate()?;
        let size = if size == 0 {
            request.changes.len().max(1)
        } else {
            size
        };
        Ok(ApplyBatches {
            changes: request.changes,
            size,
            next: 0,
            in_flight: 0..0,
            finished: false,
        })
    }

    /// The first request to send.
    pub fn first_request(&mut self) -> ApplyRequest {
        self.next_batch()
    }

    fn next_batch(&mut self) -> ApplyRequest {
        let end = (self.next + self.size).min(self.changes.len());
        self.in_flight = self.next..end;
        ApplyRequest {
            changes: self.changes[self.in_flight.clone()].to_vec(),
        }
    }

    /// Whether the machine is done or failed.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Feeds the response to the batch in flight.
    pub fn on_response(&mut self, response: ApplyResponse) -> ApplyStep {
        if let Err(e) = response.validate() {
            return self.fail(e.into(), Some(response));
        }
        if let Some(e) = StatusError::from_status(Operation::Apply, response.status, String::new) {
            return self.fail(e.into(), Some(response));
        }
        self.next = self.in_flight.end;
        if self.next >= self.changes.len() {
            self.finished = true;
            return ApplyStep::Done(response);
        }
        ApplyStep::Next(self.next_batch())
    }

    /// Feeds an RPC error for the batch in flight (passed through unmapped,
    /// as Go does).
    pub fn on_error(&mut self, error: ListError) -> ApplyStep {
        self.fail(error, None)
    }

    fn fail(&mut self, error: ListError, response: Option<ApplyResponse>) -> ApplyStep {
        self.finished = true;
        ApplyStep::Failed(Box::new(ApplyFailure {
            error,
            response,
            applied: 0..self.in_flight.start,
            failed: self.in_flight.clone(),
        }))
    }
}
