//! The driver's typed error.

use gazette_core::status::{LocalEnd, Operation, RpcCode, RpcFailure, StatusError};

/// Everything a call of this crate can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A broker endpoint URL that cannot be dialled.
    #[error("invalid broker endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// Why it was refused.
        reason: String,
    },
    /// TLS configuration could not be applied to a channel.
    #[error("configuring TLS for {endpoint}: {source}")]
    Tls {
        /// The endpoint being configured.
        endpoint: String,
        /// The transport's error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The RPC failed with a gRPC status: transport failures (`Unavailable`),
    /// validation by the broker (`Unknown`), authorization
    /// (`Unauthenticated`), deadlines and cancellation.
    #[error("{op:?} RPC: {status}")]
    Rpc {
        /// The RPC that failed.
        op: Operation,
        /// The gRPC status.
        status: Box<tonic::Status>,
    },
    /// The broker answered with a non-OK `Status`, classified as Go does.
    #[error("{op:?}: {source}")]
    Status {
        /// The RPC whose response carried the status.
        op: Operation,
        /// The classified status.
        #[source]
        source: StatusError,
    },
    /// An append failed, as the core's append machines classify it
    /// (broker statuses, invalid requests or responses, spool failures).
    #[error("append: {0}")]
    Append(#[from] gazette_core::append::AppendError),
    /// A request or response failed the protocol's validation rules.
    #[error("invalid {what}: {reason}")]
    Validation {
        /// What was validated (`ReadRequest`, `journal name`, ...).
        what: &'static str,
        /// The rule that failed.
        reason: String,
    },
    /// A broker response broke the RPC's framing (a message where none was
    /// expected, or a missing one).
    #[error("{op:?} protocol: {reason}")]
    Protocol {
        /// The RPC whose framing broke.
        op: Operation,
        /// What was wrong.
        reason: String,
    },
    /// Fetching or decoding a fragment directly from its store failed.
    #[error("fragment {url}: {reason}")]
    Fragment {
        /// The fragment URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A fragment store answered with an HTTP status other than 200.
    #[error("!OK fetching ({status}, {url:?})")]
    FragmentStatus {
        /// The fragment URL.
        url: String,
        /// Status code and reason, such as `404 Not Found`.
        status: String,
    },
    /// A fragment body failed the core's decoding or end checks.
    #[error("fragment {url}: {source}")]
    FragmentContent {
        /// The fragment URL.
        url: String,
        /// The decoder's classification.
        #[source]
        source: gazette_core::fragment::FragmentError,
    },
    /// A listing or administrative call failed, as the core's list machines
    /// classify it (statuses, validation, framing, missing journal).
    #[error("{0}")]
    List(#[from] gazette_core::list::ListError),
    /// A request failed the protocol's validation rules before it was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(#[from] gazette_core::validate::ValidationError),
    /// A read failed, as the core's read machines classify it.
    #[error("read: {0}")]
    Read(#[from] gazette_core::read::ReadError),
    /// A `Reader` cannot seek there without a new Read RPC (Go's
    /// `ErrSeekRequiresNewReader`).
    #[error(transparent)]
    Seek(#[from] gazette_core::read::SeekError),
    /// The broker skipped content: reading was at `from` and continues at
    /// `to` (Go's `ErrOffsetJump`). Reading may continue after it.
    #[error("offset jump from {from} to {to}")]
    OffsetJump {
        /// The offset reading was at.
        from: i64,
        /// The offset reading continues at.
        to: i64,
    },
    /// Authorization could not be prepared (bad keys, token not ASCII).
    #[error("authorization: {0}")]
    Auth(String),
    /// A local IO error (spool files, fragment files).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Wraps a gRPC status from `op`.
    pub fn rpc(op: Operation, status: tonic::Status) -> Self {
        Error::Rpc {
            op,
            status: Box::new(status),
        }
    }

    /// The gRPC code, when this is an RPC failure.
    pub fn grpc_code(&self) -> Option<tonic::Code> {
        match self {
            Error::Rpc { status, .. } => Some(status.code()),
            _ => None,
        }
    }

    /// The broker status error, when the broker answered with one.
    pub fn status(&self) -> Option<&StatusError> {
        match self {
            Error::Status { source, .. } => Some(source),
            _ => None,
        }
    }

    /// True for transport failures that Go's client retries (gRPC
    /// `Unavailable`, e.g. a broker restarting).
    pub fn is_unavailable(&self) -> bool {
        self.grpc_code() == Some(tonic::Code::Unavailable)
    }

    /// True when the broker refused the call's authorization.
    pub fn is_unauthenticated(&self) -> bool {
        self.grpc_code() == Some(tonic::Code::Unauthenticated)
    }

    /// True when the broker answered with `status` (unwrap-aware, Go's
    /// `errors.Is`).
    pub fn is_status(&self, status: gazette_proto::Status) -> bool {
        match self {
            Error::Append(err) => err.is_status(status),
            other => other.status().is_some_and(|s| s.is(status)),
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Io(io) => io,
            other => std::io::Error::other(other),
        }
    }
}

/// The facts of a failed RPC for the core's classification
/// ([`gazette_core::status::RpcFailure::class`]).
///
/// This driver cancels a call by dropping its future and sets no local
/// deadline on Read or Append streams, so a status it receives never stems
/// from the caller's own cancellation or deadline: a `CANCELLED` or
/// `DEADLINE_EXCEEDED` came from a broker or a proxy.
pub(crate) fn rpc_failure(status: &tonic::Status) -> RpcFailure {
    RpcFailure {
        code: RpcCode::from_i32(status.code() as i32),
        message: status.message().to_string(),
        local: LocalEnd::None,
    }
}
