//! The blocking driver's typed error.

use gazette_core::status::StatusError;

/// Everything a blocking call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client's runtime thread could not be started, or stopped.
    #[error("gazette-blocking runtime failed")]
    Runtime(#[source] std::io::Error),
    /// The call was cancelled through a [`crate::CancelHandle`]
    /// ([`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled)).
    #[error("cancelled")]
    Cancelled,
    /// The call blocked longer than its timeout
    /// ([`CallOptions::timeout`](crate::CallOptions::timeout) or the
    /// client's [`call_timeout`](crate::ClientBuilder::call_timeout);
    /// [`ErrorKind::TimedOut`](crate::ErrorKind::TimedOut)). Its work was
    /// dropped; an append or apply may or may not have taken effect.
    #[error("timed out after {after:?}")]
    TimedOut {
        /// The timeout that passed.
        after: std::time::Duration,
    },
    /// The call failed in the tokio driver it wraps (RPC, broker status,
    /// validation, read, append, listing, ...), with its typed cause.
    #[error(transparent)]
    Driver(#[from] gazette_tokio::Error),
}

impl Error {
    /// The driver's error, when the call got as far as the driver.
    pub fn driver(&self) -> Option<&gazette_tokio::Error> {
        match self {
            Error::Driver(err) => Some(err),
            _ => None,
        }
    }

    /// The gRPC code, when this is an RPC failure.
    pub fn grpc_code(&self) -> Option<gazette_tokio::tonic::Code> {
        self.driver().and_then(gazette_tokio::Error::grpc_code)
    }

    /// The classified broker status the call failed with, for every
    /// operation (as [`gazette_tokio::Error::status_error`]).
    pub fn status_error(&self) -> Option<&StatusError> {
        self.driver().and_then(gazette_tokio::Error::status_error)
    }

    /// The broker status the call failed with, named or generic, for every
    /// operation: `err.status() == Some(Status::JournalNotFound)` (as
    /// [`gazette_tokio::Error::status`]).
    pub fn status(&self) -> Option<gazette_proto::Status> {
        self.driver().and_then(gazette_tokio::Error::status)
    }

    /// What kind of failure this is, classified as the tokio driver does
    /// ([`gazette_tokio::Error::kind`]).
    pub fn kind(&self) -> gazette_tokio::ErrorKind {
        use gazette_tokio::ErrorKind;
        match self {
            Error::Runtime(_) => ErrorKind::Io,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::TimedOut { .. } => ErrorKind::TimedOut,
            Error::Driver(err) => err.kind(),
        }
    }

    /// True when the same call may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }

    /// True for transport failures (gRPC `Unavailable`, e.g. a broker down).
    pub fn is_unavailable(&self) -> bool {
        self.driver()
            .is_some_and(gazette_tokio::Error::is_unavailable)
    }

    /// True when the broker refused the call's authorization.
    pub fn is_unauthenticated(&self) -> bool {
        self.driver()
            .is_some_and(gazette_tokio::Error::is_unauthenticated)
    }

    /// Go's `errors.Is(err, ErrStatus)` for every operation, exactly as
    /// [`gazette_tokio::Error::is_status`].
    pub fn is_status(&self, status: gazette_proto::Status) -> bool {
        self.driver().is_some_and(|err| err.is_status(status))
    }

    /// Recovers the typed error carried by an `io::Error` from a `Read`,
    /// `BufRead` or `Write` call of this crate, if it carries one.
    pub fn from_io(err: &std::io::Error) -> Option<&Error> {
        err.get_ref()?.downcast_ref::<Error>()
    }

    /// Recovers the tokio driver's error carried by an `io::Error` (reads
    /// surface offset jumps and read failures this way).
    pub fn driver_from_io(err: &std::io::Error) -> Option<&gazette_tokio::Error> {
        let inner = err.get_ref()?;
        if let Some(ours) = inner.downcast_ref::<Error>() {
            return ours.driver();
        }
        inner.downcast_ref::<gazette_tokio::Error>()
    }
}

impl From<gazette_core::list::ListError> for Error {
    fn from(err: gazette_core::list::ListError) -> Self {
        Error::Driver(gazette_tokio::Error::List(err))
    }
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Driver(gazette_tokio::Error::Io(io)) => io,
            Error::Driver(driver) => std::io::Error::from(driver),
            // Not `Interrupted`: std's read loops retry those.
            timed_out @ Error::TimedOut { .. } => {
                std::io::Error::new(std::io::ErrorKind::TimedOut, timed_out)
            }
            other => std::io::Error::other(other),
        }
    }
}

/// The result of this crate's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use gazette_core::append::AppendError;
    use gazette_core::list::ListError;
    use gazette_core::read::ReadError;

    #[test]
    fn no_error_prints_its_source_twice() {
        let errors = [
            Error::Runtime(std::io::Error::other("thread spawn failed")),
            Error::Driver(gazette_tokio::Error::Read(ReadError::Status(
                StatusError::Named(gazette_proto::Status::JournalNotFound),
            ))),
            Error::Driver(gazette_tokio::Error::Append(AppendError::Status(
                StatusError::Named(gazette_proto::Status::RegisterMismatch),
            ))),
            Error::Driver(gazette_tokio::Error::Journal {
                journal: "a/journal".into(),
                source: Box::new(gazette_tokio::Error::List(ListError::DeadlineExceeded)),
            }),
        ];
        for err in &errors {
            let mut texts = vec![err.to_string()];
            let mut next = std::error::Error::source(err);
            while let Some(source) = next {
                texts.push(source.to_string());
                next = source.source();
            }
            for pair in texts.windows(2) {
                assert!(
                    pair[1].is_empty() || !pair[0].contains(&pair[1]),
                    "{:?} prints its source {:?} again ({texts:?})",
                    pair[0],
                    pair[1]
                );
            }
        }
    }
    use gazette_core::status::{Operation, StatusError};
    use gazette_proto::Status;

    fn status(op: Operation, s: Status) -> StatusError {
        StatusError::from_status(op, s as i32, || "detail".into()).unwrap()
    }

    /// One error per operation, with the status it carries.
    fn errors() -> Vec<(&'static str, gazette_tokio::Error, Option<Status>, bool)> {
        use gazette_tokio::Error as E;
        let jnf = Status::JournalNotFound;
        vec![
            (
                "read",
                E::Read(ReadError::Status(status(Operation::Read, jnf))),
                Some(jnf),
                true,
            ),
            (
                "read generic",
                E::Read(ReadError::Status(status(
                    Operation::Read,
                    Status::NotAllowed,
                ))),
                Some(Status::NotAllowed),
                false,
            ),
            (
                "append",
                E::Append(AppendError::Status(status(Operation::Append, jnf))),
                Some(jnf),
                true,
            ),
            (
                "list",
                E::List(ListError::Status(status(Operation::List, jnf))),
                Some(jnf),
                false,
            ),
            (
                "apply",
                E::List(ListError::Status(status(Operation::Apply, jnf))),
                Some(jnf),
                false,
            ),
            (
                "list fragments",
                E::List(ListError::Status(status(
                    Operation::ListFragments,
                    Status::Suspended,
                ))),
                Some(Status::Suspended),
                true,
            ),
            (
                "get",
                E::List(ListError::JournalDoesNotExist("j".into())),
                Some(jnf),
                false,
            ),
            ("eof", E::List(ListError::Eof), None, false),
        ]
    }

    #[test]
    fn both_drivers_classify_every_operations_status_alike() {
        for (what, tokio_err, expected, named) in errors() {
            let named_status = expected.unwrap_or(Status::Ok);
            assert_eq!(tokio_err.status(), expected, "tokio {what}");
            assert_eq!(tokio_err.is_status(named_status), named, "tokio {what}");
            let tokio_kind = tokio_err.kind();
            if let Some(status) = expected {
                assert_eq!(
                    tokio_kind,
                    gazette_tokio::ErrorKind::of_status(status),
                    "tokio {what}"
                );
            }
            let blocking = Error::Driver(tokio_err);
            assert_eq!(blocking.kind(), tokio_kind, "blocking {what}");
            assert_eq!(blocking.status(), expected, "blocking {what}");
            assert_eq!(blocking.is_status(named_status), named, "blocking {what}");
            assert_eq!(
                blocking.status_error().map(StatusError::status_code),
                blocking
                    .driver()
                    .and_then(|e| e.status_error())
                    .map(StatusError::status_code),
                "{what}"
            );
        }
        assert_eq!(Error::Cancelled.status(), None);
        assert_eq!(Error::Cancelled.kind(), gazette_tokio::ErrorKind::Cancelled);
        let timed_out = Error::TimedOut {
            after: std::time::Duration::from_millis(5),
        };
        assert_eq!(timed_out.kind(), gazette_tokio::ErrorKind::TimedOut);
        let io = std::io::Error::from(timed_out);
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        assert!(matches!(Error::from_io(&io), Some(Error::TimedOut { .. })));
        let io = std::io::Error::from(Error::Cancelled);
        assert_ne!(io.kind(), std::io::ErrorKind::Interrupted);
        assert!(matches!(Error::from_io(&io), Some(Error::Cancelled)));
    }
}
