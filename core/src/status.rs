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
}
