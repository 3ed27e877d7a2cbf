//! One coarse classification of every failure: what a caller usually
//! branches on ("the journal does not exist", "try again later", "my
//! request is wrong"), without matching the error's nesting.
//!
//! ```
//! use gazette_core::kind::{ErrorKind, HasErrorKind};
//! use gazette_core::proto::Status;
//! use gazette_core::read::ReadError;
//! use gazette_core::status::{Operation, StatusError};
//!
//! let missing = StatusError::classify(Operation::Read, Status::JournalNotFound as i32, String::new)
//!     .map(ReadError::Status)
//!     .unwrap();
//! assert_eq!(missing.kind(), ErrorKind::NotFound);
//! assert!(!missing.kind().is_transient());
//! ```
//!
//! The drivers' `Error::kind()` delegate here, so both drivers classify
//! every operation alike. How this differs from Go's sentinel errors:
//! docs/go-differences.md#d40.

use crate::append::AppendError;
use crate::list::ListError;
use crate::proto::Status;
use crate::read::{DirectError, ReadError};
use crate::status::{BrokerStatus, RpcCode};
use crate::transport::TransportError;

/// What kind of failure an error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The journal does not exist (JOURNAL_NOT_FOUND, a GetJournal of a
    /// missing journal).
    NotFound,
    /// Brokers or their network cannot serve the call now (gRPC
    /// Unavailable, a route in flux: NO_JOURNAL_PRIMARY_BROKER,
    /// NOT_JOURNAL_PRIMARY_BROKER, NOT_JOURNAL_BROKER,
    /// INSUFFICIENT_JOURNAL_BROKERS, WRONG_ROUTE; a fragment store that
    /// failed to answer). Transient.
    Unavailable,
    /// The request broke the protocol's rules, caught before it was sent or
    /// refused by the broker.
    InvalidRequest,
    /// The client's own configuration is unusable (endpoint, TLS, keys).
    InvalidConfig,
    /// The broker refused the call's authorization.
    Unauthorized,
    /// The journal's flags do not allow the operation (NOT_ALLOWED).
    NotAllowed,
    /// The caller cancelled the call.
    Cancelled,
    /// The caller's deadline passed.
    TimedOut,
    /// The journal is suspended (SUSPENDED).
    Suspended,
    /// A precondition of the call no longer holds: REGISTER_MISMATCH,
    /// WRONG_APPEND_OFFSET, INDEX_HAS_GREATER_OFFSET, PROPOSAL_MISMATCH,
    /// ETCD_TRANSACTION_FAILED (e.g. an Apply's expected revision).
    Conflict,
    /// The requested offset is not written yet (OFFSET_NOT_YET_AVAILABLE,
    /// a non-blocking read at the write head). Transient.
    NotYetAvailable,
    /// The journal's fragment store is unhealthy
    /// (FRAGMENT_STORE_UNHEALTHY). Transient.
    StoreUnhealthy,
    /// A response or fragment broke the protocol: malformed frames, a
    /// fragment whose content is shorter or longer than it claims, a
    /// failed checksum.
    Corrupt,
    /// Content was skipped: reading continues at a later offset.
    OffsetJump,
    /// The AppendService was closed or cancelled.
    Closed,
    /// Local IO failed (spool files, fragment files, append sources).
    Io,
    /// Anything else (the error's text says what).
    Other,
}

impl ErrorKind {
    /// The kind of a non-OK broker `status`.
    pub fn of_status(status: Status) -> Self {
        use Status::*;
        match status {
            JournalNotFound => ErrorKind::NotFound,
            NoJournalPrimaryBroker
            | NotJournalPrimaryBroker
            | NotJournalBroker
            | InsufficientJournalBrokers
            | WrongRoute => ErrorKind::Unavailable,
            OffsetNotYetAvailable => ErrorKind::NotYetAvailable,
            ProposalMismatch
            | EtcdTransactionFailed
            | WrongAppendOffset
            | IndexHasGreaterOffset
            | RegisterMismatch => ErrorKind::Conflict,
            NotAllowed => ErrorKind::NotAllowed,
            Suspended => ErrorKind::Suspended,
            FragmentStoreUnhealthy => ErrorKind::StoreUnhealthy,
            Ok => ErrorKind::Other,
        }
    }

    /// The kind of a failed RPC's gRPC `code`, when nothing more specific is
    /// known about it.
    pub fn of_rpc_code(code: RpcCode) -> Self {
        match code {
            RpcCode::Cancelled => ErrorKind::Cancelled,
            RpcCode::DeadlineExceeded => ErrorKind::TimedOut,
            RpcCode::Unavailable | RpcCode::ResourceExhausted | RpcCode::Aborted => {
                ErrorKind::Unavailable
            }
            RpcCode::Unauthenticated | RpcCode::PermissionDenied => ErrorKind::Unauthorized,
            RpcCode::NotFound => ErrorKind::NotFound,
            RpcCode::InvalidArgument | RpcCode::FailedPrecondition | RpcCode::OutOfRange => {
                ErrorKind::InvalidRequest
            }
            RpcCode::DataLoss => ErrorKind::Corrupt,
            _ => ErrorKind::Other,
        }
    }

    /// The kind of a fragment store's non-200 HTTP answer (`"404 Not
    /// Found"`, ...).
    pub fn of_http_status(status: &str) -> Self {
        match status.split_whitespace().next() {
            Some("404") => ErrorKind::NotFound,
            Some("401" | "403") => ErrorKind::Unauthorized,
            Some("408" | "429") => ErrorKind::Unavailable,
            Some(code) if code.starts_with('5') => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        }
    }

    /// True when the same call may succeed if tried again later, with no
    /// change by the caller: [`Unavailable`](Self::Unavailable),
    /// [`NotYetAvailable`](Self::NotYetAvailable) and
    /// [`StoreUnhealthy`](Self::StoreUnhealthy).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::Unavailable | ErrorKind::NotYetAvailable | ErrorKind::StoreUnhealthy
        )
    }
}

/// Errors that have an [`ErrorKind`].
pub trait HasErrorKind {
    /// The kind of this failure.
    fn kind(&self) -> ErrorKind;
}

fn of_broker_status(err: &impl BrokerStatus) -> Option<ErrorKind> {
    err.broker_status().map(ErrorKind::of_status)
}

impl HasErrorKind for TransportError {
    fn kind(&self) -> ErrorKind {
        match self {
            TransportError::Cancelled => ErrorKind::Cancelled,
            TransportError::DeadlineExceeded => ErrorKind::TimedOut,
            TransportError::Unavailable(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Other,
        }
    }
}

impl HasErrorKind for ReadError {
    fn kind(&self) -> ErrorKind {
        if let Some(kind) = of_broker_status(self) {
            return kind;
        }
        match self {
            ReadError::Cancelled => ErrorKind::Cancelled,
            ReadError::DeadlineExceeded => ErrorKind::TimedOut,
            ReadError::Transport(t) => t.kind(),
            ReadError::InvalidFrame(_) => ErrorKind::Corrupt,
            ReadError::Direct(direct) => match direct {
                DirectError::Eof
                | DirectError::UnexpectedEof
                | DirectError::DidNotReadExpectedEof => ErrorKind::Corrupt,
                DirectError::HttpStatus { status, .. } => ErrorKind::of_http_status(status),
                _ => ErrorKind::Io,
            },
            ReadError::InvalidRequest(_) => ErrorKind::InvalidRequest,
            _ => ErrorKind::Other,
        }
    }
}

impl HasErrorKind for AppendError {
    fn kind(&self) -> ErrorKind {
        if let AppendError::DependencyFailed(cause) = self {
            return cause.kind();
        }
        if let Some(kind) = of_broker_status(self) {
            return kind;
        }
        match self {
            AppendError::InvalidRequest(_) => ErrorKind::InvalidRequest,
            AppendError::InvalidResponse(_) | AppendError::PrematureCommit => ErrorKind::Corrupt,
            AppendError::Transport(t) => t.kind(),
            AppendError::Source(_) | AppendError::Spool(_) => ErrorKind::Io,
            AppendError::ServiceClosed => ErrorKind::Closed,
            _ => ErrorKind::Other,
        }
    }
}

impl HasErrorKind for ListError {
    fn kind(&self) -> ErrorKind {
        if let Some(kind) = of_broker_status(self) {
            return kind;
        }
        match self {
            ListError::Eof | ListError::UnexpectedEof => ErrorKind::Unavailable,
            ListError::Validation(_)
            | ListError::RevisionNotAfterResume { .. }
            | ListError::EmptyUnaryContinuation => ErrorKind::Corrupt,
            ListError::Canceled => ErrorKind::Cancelled,
            ListError::DeadlineExceeded => ErrorKind::TimedOut,
            ListError::InvalidRequest(_) | ListError::WatchInOneShot => ErrorKind::InvalidRequest,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Operation, StatusError};

    fn status(op: Operation, s: Status) -> StatusError {
        StatusError::classify(op, s as i32, || "detail".to_owned()).unwrap()
    }

    #[test]
    fn every_status_has_a_kind_and_only_three_are_transient() {
        let all = [
            (Status::JournalNotFound, ErrorKind::NotFound),
            (Status::NoJournalPrimaryBroker, ErrorKind::Unavailable),
            (Status::NotJournalPrimaryBroker, ErrorKind::Unavailable),
            (Status::NotJournalBroker, ErrorKind::Unavailable),
            (Status::InsufficientJournalBrokers, ErrorKind::Unavailable),
            (Status::OffsetNotYetAvailable, ErrorKind::NotYetAvailable),
            (Status::WrongRoute, ErrorKind::Unavailable),
            (Status::ProposalMismatch, ErrorKind::Conflict),
            (Status::EtcdTransactionFailed, ErrorKind::Conflict),
            (Status::NotAllowed, ErrorKind::NotAllowed),
            (Status::WrongAppendOffset, ErrorKind::Conflict),
            (Status::IndexHasGreaterOffset, ErrorKind::Conflict),
            (Status::RegisterMismatch, ErrorKind::Conflict),
            (Status::Suspended, ErrorKind::Suspended),
            (Status::FragmentStoreUnhealthy, ErrorKind::StoreUnhealthy),
        ];
        for (s, kind) in all {
            assert_eq!(ErrorKind::of_status(s), kind, "{s:?}");
            // Named, wrapped and generic classifications give one kind.
            for op in [Operation::Read, Operation::Append, Operation::List] {
                let err = status(op, s);
                assert_eq!(ReadError::Status(err.clone()).kind(), kind, "{op:?} {s:?}");
                assert_eq!(
                    AppendError::Status(err.clone()).kind(),
                    kind,
                    "{op:?} {s:?}"
                );
                assert_eq!(ListError::Status(err).kind(), kind, "{op:?} {s:?}");
            }
        }
        let transient: Vec<_> = all
            .iter()
            .map(|(_, k)| *k)
            .filter(|k| k.is_transient())
            .collect();
        assert!(transient.iter().all(|k| matches!(
            k,
            ErrorKind::Unavailable | ErrorKind::NotYetAvailable | ErrorKind::StoreUnhealthy
        )));
    }

    #[test]
    fn transport_cancellation_and_deadlines_are_told_apart() {
        assert_eq!(ReadError::Cancelled.kind(), ErrorKind::Cancelled);
        assert_eq!(ReadError::DeadlineExceeded.kind(), ErrorKind::TimedOut);
        assert_eq!(
            ReadError::Transport(TransportError::Unavailable("gone".into())).kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            AppendError::Transport(TransportError::Cancelled).kind(),
            ErrorKind::Cancelled
        );
        assert_eq!(
            AppendError::Transport(TransportError::DeadlineExceeded).kind(),
            ErrorKind::TimedOut
        );
        assert!(
            AppendError::Transport(TransportError::Unavailable("x".into()))
                .kind()
                .is_transient()
        );
        assert_eq!(ListError::Canceled.kind(), ErrorKind::Cancelled);
        assert_eq!(ListError::DeadlineExceeded.kind(), ErrorKind::TimedOut);
    }

    #[test]
    fn a_failed_dependency_has_the_kind_of_its_cause() {
        let cause = AppendError::Status(status(Operation::Append, Status::JournalNotFound));
        assert_eq!(
            AppendError::DependencyFailed(Box::new(cause)).kind(),
            ErrorKind::NotFound
        );
        assert_eq!(AppendError::ServiceClosed.kind(), ErrorKind::Closed);
        assert_eq!(AppendError::PrematureCommit.kind(), ErrorKind::Corrupt);
    }

    #[test]
    fn fragment_store_answers_and_rpc_codes_map_to_kinds() {
        assert_eq!(
            ErrorKind::of_http_status("404 Not Found"),
            ErrorKind::NotFound
        );
        assert_eq!(
            ErrorKind::of_http_status("403 Forbidden"),
            ErrorKind::Unauthorized
        );
        assert_eq!(
            ErrorKind::of_http_status("503 Slow Down"),
            ErrorKind::Unavailable
        );
        assert_eq!(ErrorKind::of_http_status("418 Teapot"), ErrorKind::Other);
        assert_eq!(
            ReadError::Direct(DirectError::UnexpectedEof).kind(),
            ErrorKind::Corrupt
        );
        assert_eq!(
            ErrorKind::of_rpc_code(RpcCode::Unauthenticated),
            ErrorKind::Unauthorized
        );
        assert_eq!(
            ErrorKind::of_rpc_code(RpcCode::Unavailable),
            ErrorKind::Unavailable
        );
        assert_eq!(
            ErrorKind::of_rpc_code(RpcCode::DeadlineExceeded),
            ErrorKind::TimedOut
        );
        assert_eq!(ErrorKind::of_rpc_code(RpcCode::Unknown), ErrorKind::Other);
    }

    #[test]
    fn a_get_of_a_missing_journal_is_not_found() {
        assert_eq!(
            ListError::JournalDoesNotExist("a/b".into()).kind(),
            ErrorKind::NotFound
        );
    }
}
