//! The blocking driver's typed error.

use gazette_core::status::StatusError;

/// Everything a blocking call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The call was made from a thread inside a tokio runtime's context (a
    /// task, `block_on`, or a `spawn_blocking` thread, which tokio cannot
    /// tell apart). Blocking there could stall the runtime, so the call is
    /// refused: use `gazette-tokio` from async code, or call this crate
    /// from a plain `std::thread`.
    #[error(
        "gazette-blocking was called from inside a tokio runtime context; use gazette-tokio \
         there, or call it from a plain std::thread"
    )]
    InsideAsyncRuntime,
    /// The private runtime's threads could not be started.
    #[error("starting the gazette-blocking runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The call was cancelled through a [`crate::CancelHandle`].
    #[error("cancelled")]
    Cancelled,
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

    /// The broker status error, when the broker answered with one.
    pub fn status(&self) -> Option<&StatusError> {
        self.driver().and_then(gazette_tokio::Error::status)
    }

    /// True for transport failures (gRPC `Unavailable`, e.g. a broker down).
    pub fn is_unavailable(&self) -> bool {
        self.driver()
            .is_some_and(gazette_tokio::Error::is_unavailable)
    }

    /// True when the broker answered with `status` (unwrap-aware, Go's
    /// `errors.Is`), including statuses surfaced by reads.
    pub fn is_status(&self, status: gazette_proto::Status) -> bool {
        match self.driver() {
            Some(gazette_tokio::Error::Read(err)) => err.is_named(status),
            Some(err) => err.is_status(status),
            None => false,
        }
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
            other => std::io::Error::other(other),
        }
    }
}

/// The result of this crate's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
