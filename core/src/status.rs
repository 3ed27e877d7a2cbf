//! Broker statuses and the named errors they map to.
//!
//! The Go client turns a non-OK `Status` into one of its named errors
//! (`ErrJournalNotFound`, ...) only for the statuses each operation expects;
//! every other status becomes a *generic* error that carries the same text
//! but is deliberately not equal to the named one. Some Appender statuses are
//! *wrapped*: an unwrap-aware test (Go's `errors.Is`, here [`StatusError::is`])
//! matches them, plain equality does not. [`StatusError`] keeps all three
//! distinctions so retry rules can be written exactly as in Go.

use gazette_proto::Status;

/// The RPC or client operation whose response carried a status. Each maps a
/// different set of statuses onto named errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// The Read RPC (Reader, RetryReader).
    Read,
    /// The Append RPC (Appender, `append`, AppendService).
    Append,
    /// The ListFragments RPC.
    ListFragments,
    /// The List RPC (ReadListResponse, ListAllJournals, WatchedList).
    List,
    /// The Apply RPC.
    Apply,
    /// The FragmentStoreHealth RPC.
    FragmentStoreHealth,
}

/// A non-OK broker status, classified as Go classifies it for one operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// The operation's named error for this status (Go: `ErrJournalNotFound`, ...).
    /// Plain equality with the named error holds.
    #[error("{}", status_name(*.0 as i32))]
    Named(Status),
    /// A named error wrapped with detail (Append's REGISTER_MISMATCH and
    /// FRAGMENT_STORE_UNHEALTHY). [`StatusError::is`] matches it; plain
    /// equality with `Named` does not.
    #[error("{}: {detail}", status_name(*.status as i32))]
    Wrapped {
        /// The wrapped named status.
        status: Status,
        /// Detail text, such as the response's registers or store health error.
        detail: String,
    },
    /// A status this operation does not name: same text as the named error,
    /// but never equal to it. Unknown status numbers land here too.
    #[error("{}", status_name(*.0))]
    Generic(i32),
}

impl StatusError {
    /// Classifies `status` (a raw enum number) for `op`. Returns `None` for OK.
    /// `detail` is used only by wrapped statuses.
    pub fn classify(op: Operation, status: i32, detail: impl FnOnce() -> String) -> Option<Self> {
        use Status::*;
        let known = Status::try_from(status).ok()?;
        if known == Ok {
            return None;
        }
        let named = match op {
            Operation::Read => matches!(
                known,
                JournalNotFound
                    | NotJournalBroker
                    | InsufficientJournalBrokers
                    | OffsetNotYetAvailable
                    | Suspended
                    | FragmentStoreUnhealthy
            ),
            Operation::Append => {
                if matches!(known, RegisterMismatch | FragmentStoreUnhealthy) {
                    return Some(StatusError::Wrapped {
                        status: known,
                        detail: detail(),
                    });
                }
                matches!(
                    known,
                    InsufficientJournalBrokers
                        | JournalNotFound
                        | NoJournalPrimaryBroker
                        | NotJournalPrimaryBroker
                        | Suspended
                        | WrongAppendOffset
                        | IndexHasGreaterOffset
                        | NotAllowed
                )
            }
            Operation::ListFragments => known == Suspended,
            Operation::List | Operation::Apply | Operation::FragmentStoreHealth => false,
        };
        Some(if named {
            StatusError::Named(known)
        } else {
            StatusError::Generic(status)
        })
    }

    /// Classifies `status` for `op`, also for unknown status numbers (which
    /// become [`StatusError::Generic`]). Returns `None` only for OK.
    pub fn from_status(
        op: Operation,
        status: i32,
        detail: impl FnOnce() -> String,
    ) -> Option<Self> {
        if status == Status::Ok as i32 {
            return None;
        }
        Self::classify(op, status, detail).or(Some(StatusError::Generic(status)))
    }

    /// Unwrap-aware match (Go's `errors.Is`): true for `Named(s)` and
    /// `Wrapped { status: s, .. }`, never for `Generic`.
    pub fn is(&self, status: Status) -> bool {
        match self {
            StatusError::Named(s) | StatusError::Wrapped { status: s, .. } => *s == status,
            StatusError::Generic(_) => false,
        }
    }

    /// The raw status number, whatever the classification.
    pub fn status_code(&self) -> i32 {
        match self {
            StatusError::Named(s) | StatusError::Wrapped { status: s, .. } => *s as i32,
            StatusError::Generic(n) => *n,
        }
    }
}

impl StatusError {
    /// The broker status, when it is one the protocol defines (unknown
    /// numbers give `None`), whatever the classification.
    pub fn status(&self) -> Option<Status> {
        Status::try_from(self.status_code()).ok()
    }
}

/// The one classification of broker statuses for every operation's error
/// (read, append, list, apply, list fragments, get, fragment store health),
/// which both drivers expose unchanged.
pub trait BrokerStatus {
    /// The classified broker status the operation failed with, if any
    /// (through an append's failed dependency too).
    fn status_error(&self) -> Option<&StatusError>;

    /// The broker status the operation failed with, named or generic
    /// (`err.status() == Some(Status::JournalNotFound)`). A GetJournal of
    /// a journal that does not exist reports `JOURNAL_NOT_FOUND` as well.
    fn broker_status(&self) -> Option<Status> {
        self.status_error().and_then(StatusError::status)
    }

    /// Go's `errors.Is(err, ErrStatus)`: true for the operation's named
    /// (or wrapped) error of `status`, false for a generic one.
    fn is_named_or_wrapped(&self, status: Status) -> bool {
        self.status_error().is_some_and(|e| e.is(status))
    }
}

impl BrokerStatus for crate::read::ReadError {
    fn status_error(&self) -> Option<&StatusError> {
        match self {
            crate::read::ReadError::Status(err) => Some(err),
            _ => None,
        }
    }
}

impl BrokerStatus for crate::append::AppendError {
    fn status_error(&self) -> Option<&StatusError> {
        use crate::append::AppendError as A;
        match self {
            A::Status(err) => Some(err),
            A::DependencyFailed(inner) => inner.status_error(),
            _ => None,
        }
    }
}

impl BrokerStatus for crate::list::ListError {
    fn status_error(&self) -> Option<&StatusError> {
        match self {
            crate::list::ListError::Status(err) => Some(err),
            _ => None,
        }
    }

    fn broker_status(&self) -> Option<Status> {
        match self {
            crate::list::ListError::JournalDoesNotExist(_) => Some(Status::JournalNotFound),
            other => other.status_error().and_then(StatusError::status),
        }
    }
}

/// A gRPC status code, as a driver's transport reports it (the numbers of
/// the gRPC specification; unknown numbers read as [`RpcCode::Unknown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RpcCode {
    /// 0: not an error.
    Ok,
    /// 1: the RPC was cancelled, by the caller or by a peer.
    Cancelled,
    /// 2: unknown error (brokers report validation failures this way).
    Unknown,
    /// 3: invalid argument.
    InvalidArgument,
    /// 4: a deadline passed, the caller's or a peer's.
    DeadlineExceeded,
    /// 5: not found.
    NotFound,
    /// 6: already exists.
    AlreadyExists,
    /// 7: permission denied.
    PermissionDenied,
    /// 8: resource exhausted.
    ResourceExhausted,
    /// 9: failed precondition.
    FailedPrecondition,
    /// 10: aborted.
    Aborted,
    /// 11: out of range.
    OutOfRange,
    /// 12: unimplemented.
    Unimplemented,
    /// 13: internal error.
    Internal,
    /// 14: the peer could not be reached or the connection broke.
    Unavailable,
    /// 15: data loss.
    DataLoss,
    /// 16: the call's authorization was refused.
    Unauthenticated,
}

impl RpcCode {
    /// The code of gRPC number `code`; numbers outside the specification
    /// are [`RpcCode::Unknown`], as gRPC itself treats them.
    pub fn from_i32(code: i32) -> Self {
        use RpcCode::*;
        match code {
            0 => Ok,
            1 => Cancelled,
            3 => InvalidArgument,
            4 => DeadlineExceeded,
            5 => NotFound,
            6 => AlreadyExists,
            7 => PermissionDenied,
            8 => ResourceExhausted,
            9 => FailedPrecondition,
            10 => Aborted,
            11 => OutOfRange,
            12 => Unimplemented,
            13 => Internal,
            14 => Unavailable,
            15 => DataLoss,
            16 => Unauthenticated,
            _ => Unknown,
        }
    }

    /// A short name of the code (`Unknown`, `Cancelled`, ...).
    pub fn name(self) -> &'static str {
        use RpcCode::*;
        match self {
            Ok => "Ok",
            Cancelled => "Cancelled",
            Unknown => "Unknown",
            InvalidArgument => "InvalidArgument",
            DeadlineExceeded => "DeadlineExceeded",
            NotFound => "NotFound",
            AlreadyExists => "AlreadyExists",
            PermissionDenied => "PermissionDenied",
            ResourceExhausted => "ResourceExhausted",
            FailedPrecondition => "FailedPrecondition",
            Aborted => "Aborted",
            OutOfRange => "OutOfRange",
            Unimplemented => "Unimplemented",
            Internal => "Internal",
            Unavailable => "Unavailable",
            DataLoss => "DataLoss",
            Unauthenticated => "Unauthenticated",
        }
    }
}

/// Whether the caller's own cancellation or deadline had fired when an RPC
/// failed, as the driver knows it (Go: `ctx.Err()` at that moment). Only
/// these ends are context errors; a CANCELLED or DEADLINE_EXCEEDED code
/// without one is retried as Go retries it
/// (docs/go-differences.md#not-differences-go-parity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LocalEnd {
    /// Neither fired: whatever code the RPC ended with came from elsewhere
    /// (a broker, a proxy, a load balancer).
    #[default]
    None,
    /// The caller cancelled the call.
    Cancelled,
    /// The caller's deadline passed.
    DeadlineExceeded,
}

/// The facts a driver reports about a failed RPC: its gRPC code and
/// message, and whether the caller's own cancellation or deadline fired.
/// [`RpcFailure::class`] decides what the failure means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcFailure {
    /// The gRPC code the RPC ended with.
    pub code: RpcCode,
    /// The status message.
    pub message: String,
    /// Whether the caller's cancellation or deadline had fired.
    pub local: LocalEnd,
}

/// What a failed RPC means for the caller and for retry policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpcFailureClass {
    /// The caller cancelled the call: surfaced, never retried.
    Cancelled,
    /// The caller's deadline passed: surfaced, never retried.
    DeadlineExceeded,
    /// The broker could not be reached or the connection broke.
    Unavailable,
    /// Any other failure, including a `CANCELLED` or `DEADLINE_EXCEEDED`
    /// sent by a broker or a proxy while the caller's own context was
    /// still live.
    Other,
}

impl RpcFailure {
    /// A failure with `code` and `message` that the caller did not cause.
    pub fn remote(code: RpcCode, message: impl Into<String>) -> Self {
        RpcFailure {
            code,
            message: message.into(),
            local: LocalEnd::None,
        }
    }

    /// Go's `mapGRPCCtxErr`: a `CANCELLED` code is the caller's
    /// cancellation only when the caller did cancel, and a
    /// `DEADLINE_EXCEEDED` code is the caller's deadline only when that
    /// deadline passed. The same codes sent by a peer are ordinary
    /// failures, which retry policies treat as transient.
    pub fn class(&self) -> RpcFailureClass {
        match (self.code, self.local) {
            (RpcCode::Cancelled, LocalEnd::Cancelled) => RpcFailureClass::Cancelled,
            (RpcCode::DeadlineExceeded, LocalEnd::DeadlineExceeded) => {
                RpcFailureClass::DeadlineExceeded
            }
            (RpcCode::Unavailable, _) => RpcFailureClass::Unavailable,
            _ => RpcFailureClass::Other,
        }
    }

    /// The failure as text: `<code name>: <message>`.
    pub fn describe(&self) -> String {
        format!("{}: {}", self.code.name(), self.message)
    }
}

impl From<RpcFailure> for crate::TransportError {
    fn from(failure: RpcFailure) -> Self {
        use crate::TransportError as T;
        match failure.class() {
            RpcFailureClass::Cancelled => T::Cancelled,
            RpcFailureClass::DeadlineExceeded => T::DeadlineExceeded,
            RpcFailureClass::Unavailable => T::Unavailable(failure.message),
            RpcFailureClass::Other => T::Other(failure.describe()),
        }
    }
}

/// The protobuf name of a status number (`JOURNAL_NOT_FOUND`), or
/// `invalid status (<n>)` for a number the protocol does not define.
pub fn status_name(status: i32) -> String {
    match Status::try_from(status) {
        Ok(s) => s.as_str_name().to_string(),
        Err(_) => format!("invalid status ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_maps_named_and_generic() {
        let e =
            StatusError::from_status(Operation::Read, Status::JournalNotFound as i32, String::new)
                .unwrap();
        assert_eq!(e, StatusError::Named(Status::JournalNotFound));
        assert_eq!(e.to_string(), "JOURNAL_NOT_FOUND");

        let e = StatusError::from_status(Operation::Read, Status::NotAllowed as i32, String::new)
            .unwrap();
        assert_eq!(e, StatusError::Generic(Status::NotAllowed as i32));
        assert_eq!(e.to_string(), "NOT_ALLOWED");
        assert!(!e.is(Status::NotAllowed));
        assert!(StatusError::from_status(Operation::Read, 0, String::new).is_none());
    }

    #[test]
    fn append_wraps_register_mismatch() {
        let e =
            StatusError::from_status(Operation::Append, Status::RegisterMismatch as i32, || {
                "registers".into()
            })
            .unwrap();
        assert!(e.is(Status::RegisterMismatch));
        assert_ne!(e, StatusError::Named(Status::RegisterMismatch));
        assert_eq!(e.to_string(), "REGISTER_MISMATCH: registers");
    }

    #[test]
    fn unknown_status_is_generic() {
        let e = StatusError::from_status(Operation::Append, 99, String::new).unwrap();
        assert_eq!(e, StatusError::Generic(99));
        assert_eq!(e.to_string(), "invalid status (99)");
    }

    #[test]
    fn only_the_callers_own_cancellation_or_deadline_is_a_context_error() {
        use RpcFailureClass as C;
        let class = |code, local| {
            RpcFailure {
                code,
                message: "m".into(),
                local,
            }
            .class()
        };
        for local in [
            LocalEnd::None,
            LocalEnd::Cancelled,
            LocalEnd::DeadlineExceeded,
        ] {
            assert_eq!(class(RpcCode::Unavailable, local), C::Unavailable);
            assert_eq!(class(RpcCode::Unknown, local), C::Other);
        }
        assert_eq!(class(RpcCode::Cancelled, LocalEnd::Cancelled), C::Cancelled);
        assert_eq!(class(RpcCode::Cancelled, LocalEnd::None), C::Other);
        assert_eq!(
            class(RpcCode::Cancelled, LocalEnd::DeadlineExceeded),
            C::Other
        );
        assert_eq!(
            class(RpcCode::DeadlineExceeded, LocalEnd::DeadlineExceeded),
            C::DeadlineExceeded
        );
        assert_eq!(class(RpcCode::DeadlineExceeded, LocalEnd::None), C::Other);
        assert_eq!(
            class(RpcCode::DeadlineExceeded, LocalEnd::Cancelled),
            C::Other
        );
        assert_eq!(RpcCode::from_i32(1), RpcCode::Cancelled);
        assert_eq!(RpcCode::from_i32(99), RpcCode::Unknown);
    }

    #[test]
    fn a_remote_cancelled_append_attempt_is_retried_by_the_append_service() {
        use crate::append::{AppendError, BatchDecision, BatchRetryPolicy, TransportError};
        let request = gazette_proto::AppendRequest {
            journal: "a/journal".into(),
            ..Default::default()
        };
        for policy in [BatchRetryPolicy::default(), BatchRetryPolicy::go()] {
            for code in [RpcCode::Cancelled, RpcCode::DeadlineExceeded] {
                let remote = AppendError::Transport(RpcFailure::remote(code, "proxy").into());
                assert!(!remote.is_context_error(), "{remote}");
                assert_eq!(policy.classify(&request, &remote), BatchDecision::Retry);
            }
            let ours = AppendError::Transport(TransportError::from(RpcFailure {
                code: RpcCode::Cancelled,
                message: "context canceled".into(),
                local: LocalEnd::Cancelled,
            }));
            assert_eq!(policy.classify(&request, &ours), BatchDecision::Fail);
        }
    }

    #[test]
    fn a_remote_cancelled_read_is_retried_by_the_retry_reader() {
        use crate::read::{
            ReadAction, ReadError, ReadInput, RetryOutput, RetryReader, TransportError,
        };
        let starts = |reader: &mut RetryReader| {
            let mut starts = 0;
            let mut backoffs = 0;
            let mut stopped = None;
            while let Some(output) = reader.poll_output() {
                match output {
                    RetryOutput::Action(ReadAction::StartRpc { .. }) => starts += 1,
                    RetryOutput::Backoff { .. } => backoffs += 1,
                    RetryOutput::Stopped(err) => stopped = Some(err),
                    _ => {}
                }
            }
            (starts, backoffs, stopped)
        };
        for code in [RpcCode::Cancelled, RpcCode::DeadlineExceeded] {
            let request = gazette_proto::ReadRequest {
                journal: "a/journal".into(),
                block: true,
                ..Default::default()
            };
            let mut reader = RetryReader::new(request.clone());
            assert_eq!(starts(&mut reader), (1, 0, None));
            reader.handle(ReadInput::RpcStarted);
            reader.handle(ReadInput::RpcFailed(
                RpcFailure::remote(code, "proxy").into(),
            ));
            let (_, backoffs, stopped) = starts(&mut reader);
            assert_eq!((backoffs, stopped), (1, None), "{code:?} is retried");

            // The caller's own cancellation still stops the reader.
            let mut reader = RetryReader::new(request);
            starts(&mut reader);
            reader.handle(ReadInput::RpcStarted);
            let local = if code == RpcCode::Cancelled {
                LocalEnd::Cancelled
            } else {
                LocalEnd::DeadlineExceeded
            };
            reader.handle(ReadInput::RpcFailed(TransportError::from(RpcFailure {
                code,
                message: String::new(),
                local,
            })));
            let (_, backoffs, stopped) = starts(&mut reader);
            assert_eq!(backoffs, 0);
            assert!(
                matches!(
                    stopped,
                    Some(ReadError::Cancelled | ReadError::DeadlineExceeded)
                ),
                "{stopped:?}"
            );
        }
    }

    #[test]
    fn every_operations_error_reports_its_broker_status() {
        use crate::append::AppendError;
        use crate::list::ListError;
        use crate::read::ReadError;
        let named = |op, s: Status| StatusError::from_status(op, s as i32, String::new).unwrap();
        let read = ReadError::Status(named(Operation::Read, Status::JournalNotFound));
        assert_eq!(read.broker_status(), Some(Status::JournalNotFound));
        assert!(read.is_named_or_wrapped(Status::JournalNotFound));

        let append = AppendError::DependencyFailed(Box::new(AppendError::Status(named(
            Operation::Append,
            Status::JournalNotFound,
        ))));
        assert_eq!(append.broker_status(), Some(Status::JournalNotFound));
        assert!(append.is_named_or_wrapped(Status::JournalNotFound));

        let list = ListError::Status(named(Operation::List, Status::JournalNotFound));
        assert_eq!(list.broker_status(), Some(Status::JournalNotFound));
        assert!(
            !list.is_named_or_wrapped(Status::JournalNotFound),
            "generic for List"
        );

        let fragments = ListError::Status(named(Operation::ListFragments, Status::Suspended));
        assert!(fragments.is_named_or_wrapped(Status::Suspended));

        let get = ListError::JournalDoesNotExist("a/journal".into());
        assert_eq!(get.broker_status(), Some(Status::JournalNotFound));
        assert!(
            !get.is_named_or_wrapped(Status::JournalNotFound),
            "Go: a plain error"
        );

        let unknown = ListError::Status(StatusError::Generic(99));
        assert_eq!(unknown.broker_status(), None);
        assert_eq!(ListError::Eof.broker_status(), None);
        assert_eq!(ReadError::Cancelled.broker_status(), None);
    }
}
