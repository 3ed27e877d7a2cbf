//! Errors of the append path: transport failures reported by drivers, broker
//! statuses, validation failures, spool failures and dependency failures.

use crate::status::StatusError;
use gazette_proto::Status;

pub use crate::transport::TransportError;

/// Why an append (one Appender stream, one `append` call, or one
/// AppendService batch) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    /// The AppendRequest preamble is unusable.
    #[error(transparent)]
    InvalidRequest(#[from] RequestError),
    /// The broker's response failed validation (no route update happened).
    #[error("validating broker response: {0}")]
    InvalidResponse(String),
    /// The broker answered with a non-OK status. Wrapped statuses render as
    /// Go renders them: `<detail>: <STATUS_NAME>`.
    #[error("{}", render_status(.0))]
    Status(StatusError),
    /// The RPC itself failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A content source of a one-shot append failed while being read; the
    /// stream was aborted, nothing was committed.
    #[error("{0}")]
    Source(String),
    /// The spool (the driver's temporary storage of batched content) failed.
    #[error("spool: {0}")]
    Spool(String),
    /// A caller rolled back its own writes with this reason (`require`).
    #[error("{0}")]
    Rejected(String),
    /// A dependency of the batch failed, so the batch was never sent.
    #[error("dependency failed: {0}")]
    DependencyFailed(Box<AppendError>),
    /// The broker answered with status OK before the commit marker was sent.
    /// Go's `Write` reports `(0, nil)` here (quirk 11); the port treats it as
    /// a protocol violation because the content was not all delivered
    /// (docs/go-differences.md#d16).
    #[error("broker answered OK before the append was committed")]
    PrematureCommit,
    /// The AppendService was closed and takes no new appends.
    #[error("append service is closed")]
    ServiceClosed,
}

// The text renders the status itself, so the status is not also the
// error's `source()` (no `#[from]`).
impl From<StatusError> for AppendError {
    fn from(err: StatusError) -> Self {
        AppendError::Status(err)
    }
}

impl AppendError {
    /// Unwrap-aware status test (Go's `errors.Is(err, ErrX)`): true for the
    /// named or wrapped status error, also through `DependencyFailed`.
    pub fn is_status(&self, status: Status) -> bool {
        match self {
            AppendError::Status(s) => s.is(status),
            AppendError::DependencyFailed(inner) => inner.is_status(status),
            _ => false,
        }
    }

    /// Plain-equality status test (Go's `err == ErrX`): true only for the
    /// *named*, unwrapped status error.
    pub fn is_named_status(&self, status: Status) -> bool {
        matches!(self, AppendError::Status(StatusError::Named(s)) if *s == status)
    }

    /// True when the local context was cancelled or its deadline passed.
    pub fn is_context_error(&self) -> bool {
        matches!(
            self,
            AppendError::Transport(TransportError::Cancelled | TransportError::DeadlineExceeded)
        )
    }
}

fn render_status(err: &StatusError) -> String {
    match err {
        StatusError::Wrapped { status, detail } => format!("{detail}: {}", status.as_str_name()),
        other => other.to_string(),
    }
}

/// Why an AppendRequest preamble was refused before any RPC started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The request has no journal.
    #[error("expected Request.Journal")]
    MissingJournal,
    /// The preamble carries content, which only chunks may carry.
    #[error("Request.Content: expected empty content in the append preamble")]
    ContentInPreamble,
    /// The explicit offset is negative.
    #[error("Request.Offset: invalid offset ({0}; expected >= 0)")]
    NegativeOffset(i64),
    /// `suspend` is not a defined `AppendRequest.Suspend` value.
    #[error("Request.Suspend: invalid suspend value ({0})")]
    InvalidSuspend(i32),
    /// Another rule of Go's `AppendRequest.Validate` is broken: the journal
    /// name or its `;meta` segment, the header, the register selector or
    /// label sets. The path of the offending field starts at `Request`.
    #[error(transparent)]
    Invalid(crate::validate::ValidationError),
}
