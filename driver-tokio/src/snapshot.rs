//! Adapter from List stream messages to snapshots (client-behaviour.md §8.2).
//!
//! Interim: mirrors the rules of the core's snapshot assembler until
//! `gazette_core::list` provides it; then this module only adapts types.

use gazette_core::status::{Operation, StatusError};
use gazette_proto::{ListRequest, ListResponse};

use crate::Error;
use crate::discovery::CLEAN_END;

/// What one more List message produced.
pub(crate) enum SnapshotStep {
    /// Keep receiving.
    More,
    /// A complete snapshot.
    Done(ListResponse),
}

/// Accumulates one snapshot of a List stream.
pub(crate) struct SnapshotAssembler {
    watch: bool,
    resume_revision: Option<i64>,
    snapshot: Option<ListResponse>,
}

impl SnapshotAssembler {
    pub(crate) fn new(request: &ListRequest) -> Self {
        SnapshotAssembler {
            watch: request.watch,
            resume_revision: request
                .watch_resume
                .as_ref()
                .and_then(|h| h.etcd.as_ref())
                .map(|e| e.revision),
            snapshot: None,
        }
    }

    /// Feeds the next message, or None for a clean end of stream.
    pub(crate) fn next(&mut self, message: Option<ListResponse>) -> Result<SnapshotStep, Error> {
        let protocol = |reason: String| Error::Protocol {
            op: Operation::List,
            reason,
        };
        let Some(mut message) = message else {
            return match self.snapshot.take() {
                Some(snapshot) if !self.watch => Ok(SnapshotStep::Done(snapshot)),
                _ => Err(protocol(CLEAN_END.into())),
            };
        };
        let Some(snapshot) = &mut self.snapshot else {
            if let Some(source) =
                StatusError::from_status(Operation::List, message.status, String::new)
            {
                return Err(Error::Status {
                    op: Operation::List,
                    source,
                });
            }
            let revision = message
                .header
                .as_ref()
                .and_then(|h| h.etcd.as_ref())
                .map(|e| e.revision)
                .unwrap_or_default();
            if let Some(resume) = self.resume_revision
                && resume >= revision
            {
                return Err(protocol(format!(
                    "server sent unexpected ListResponse revision ({revision}; expected > {resume})"
                )));
            }
            self.snapshot = Some(message);
            return Ok(SnapshotStep::More);
        };
        if message.journals.is_empty() {
            return if self.watch {
                Ok(SnapshotStep::Done(
                    self.snapshot.take().expect("accumulating"),
                ))
            } else {
                Err(protocol(
                    "unexpected empty ListResponse.Journals in unary listing".into(),
                ))
            };
        }
        snapshot.journals.append(&mut message.journals);
        Ok(SnapshotStep::More)
    }
}
