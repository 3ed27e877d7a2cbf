//! The driver's typed error.

use gazette_core::kind::{ErrorKind, HasErrorKind};
use gazette_core::read::redact_url;
use gazette_core::status::{BrokerStatus, Operation, RpcCode, StatusError};

/// Everything a call of this crate can fail with.
///
/// Broker statuses come inside the operation's own variant ([`Error::Read`],
/// [`Error::Append`], [`Error::List`]); [`Error::status`] and
/// [`Error::is_status`] find them for every operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    #[error("configuring TLS for {endpoint}")]
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
    /// An append failed, as the core's append machines classify it
    /// (broker statuses, invalid requests or responses, spool failures).
    #[error("append: {0}")]
    Append(gazette_core::append::AppendError),
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
    /// Texts print the URL without its query (signed URLs carry
    /// credentials there), as do the two variants below.
    #[error("fragment {}: {reason}", redact_url(url))]
    Fragment {
        /// The fragment URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A fragment store answered with an HTTP status other than 200.
    #[error("!OK fetching ({status}, {:?})", redact_url(url))]
    FragmentStatus {
        /// The fragment URL.
        url: String,
        /// Status code and reason, such as `404 Not Found`.
        status: String,
    },
    /// A fragment body failed the core's decoding or end checks (the
    /// classification is the error's `source()`).
    #[error("fragment {}", redact_url(url))]
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
    List(gazette_core::list::ListError),
    /// A request failed the protocol's validation rules before it was sent.
    #[error("invalid request: {0}")]
    InvalidRequest(gazette_core::validate::ValidationError),
    /// A read failed, as the core's read machines classify it.
    #[error("read: {0}")]
    Read(gazette_core::read::ReadError),
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
    /// The bytes `begin..end` began a newline-delimited record whose rest
    /// never came (an offset jump, a seek elsewhere, or the read's end
    /// intervened): [`Records`](crate::Records) discarded them and goes on
    /// with the next record.
    #[error("record bytes {begin}..{end} dropped: the rest of the record is missing")]
    RecordDropped {
        /// Journal offset of the first byte dropped.
        begin: i64,
        /// Journal offset just past the last.
        end: i64,
    },
    /// The record `begin..end` is longer than the limit set with
    /// [`Records::with_max_len`](crate::Records::with_max_len):
    /// [`Records`](crate::Records) discarded it and goes on with the next.
    #[error("record {begin}..{end} is longer than the limit and was skipped")]
    RecordTooLong {
        /// Journal offset of the record's first byte.
        begin: i64,
        /// Journal offset just past its newline.
        end: i64,
    },
    /// Reading one journal of a [`MultiReader`](crate::MultiReader)
    /// failed (reading it goes on).
    #[error("reading journal {journal}")]
    Journal {
        /// The journal.
        journal: String,
        /// What failed.
        #[source]
        source: Box<Error>,
    },
    /// Authorization could not be prepared (bad keys, token not ASCII).
    #[error("authorization: {0}")]
    Auth(String),
    /// A local IO error (spool files, fragment files).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A client setting (an environment variable, a TLS file) cannot be
    /// used.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The [`TokenSource`](crate::auth::TokenSource) of the client's
    /// [`Auth`](crate::Auth) failed to provide a token.
    #[error("authorization token source failed")]
    TokenSource(#[source] crate::auth::TokenSourceError),
}

// The wrapping variants print the core's error in their text, so it is not
// also their `source()` (a chain printer such as anyhow's would print it
// twice): conversions by hand rather than `#[from]`.
macro_rules! from_core {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Error {
            fn from(err: $ty) -> Self {
                Error::$variant(err)
            }
        }
    )*};
}

from_core!(
    Append(gazette_core::append::AppendError),
    List(gazette_core::list::ListError),
    InvalidRequest(gazette_core::validate::ValidationError),
    Read(gazette_core::read::ReadError),
);

/// The driver's error for a failed operation of the core client.
pub(crate) fn op_error(err: gazette_core::client::OpError) -> Error {
    use gazette_core::client::OpError;
    match err {
        OpError::Read(err) => Error::Read(err),
        OpError::Append(err) => Error::Append(err),
        OpError::List(err) => Error::List(err),
        OpError::Apply(failure) => Error::List(failure.error),
        OpError::Fragments { error, .. } => Error::List(error),
        OpError::Rpc { operation, failure } => Error::rpc(
            operation,
            tonic::Status::new(tonic::Code::from_i32(failure.code as i32), failure.message),
        ),
        other => Error::Validation {
            what: "operation",
            reason: other.to_string(),
        },
    }
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

    /// The classified broker status the call failed with, for every
    /// operation (read, append, list, get, apply, list fragments, fragment
    /// store health), through an append's failed dependency too.
    pub fn status_error(&self) -> Option<&StatusError> {
        match self {
            Error::Read(err) => err.status_error(),
            Error::Append(err) => err.status_error(),
            Error::List(err) => err.status_error(),
            Error::Journal { source, .. } => source.status_error(),
            _ => None,
        }
    }

    /// The broker status the call failed with, whether the operation names
    /// it or not: `err.status() == Some(Status::JournalNotFound)` tells a
    /// missing journal for every operation (a GetJournal of a journal that
    /// does not exist included). None for failures that carry no status.
    pub fn status(&self) -> Option<gazette_proto::Status> {
        match self {
            Error::Read(err) => err.broker_status(),
            Error::Append(err) => err.broker_status(),
            Error::List(err) => err.broker_status(),
            Error::Journal { source, .. } => source.status(),
            _ => None,
        }
    }

    /// True for transport failures that Go's client retries (gRPC
    /// `Unavailable`, e.g. a broker restarting), for every operation.
    pub fn is_unavailable(&self) -> bool {
        use gazette_core::TransportError;
        use gazette_core::append::AppendError;
        use gazette_core::read::ReadError;
        match self {
            Error::Read(ReadError::Transport(TransportError::Unavailable(_)))
            | Error::Append(AppendError::Transport(TransportError::Unavailable(_))) => true,
            other => other.grpc_code() == Some(tonic::Code::Unavailable),
        }
    }

    /// What kind of failure this is, classified alike for every operation
    /// and in both drivers (see [`ErrorKind`]): e.g.
    /// `err.kind() == ErrorKind::NotFound` for a missing journal.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidEndpoint { .. }
            | Error::Tls { .. }
            | Error::Auth(_)
            | Error::Config(_) => ErrorKind::InvalidConfig,
            Error::TokenSource(_) => ErrorKind::Unauthorized,
            Error::Rpc { status, .. } => {
                ErrorKind::of_rpc_code(RpcCode::from_i32(status.code() as i32))
            }
            Error::Append(err) => err.kind(),
            Error::Read(err) => err.kind(),
            Error::List(err) => err.kind(),
            Error::Validation { .. } | Error::InvalidRequest(_) | Error::Seek(_) => {
                ErrorKind::InvalidRequest
            }
            Error::Protocol { .. } | Error::FragmentContent { .. } => ErrorKind::Corrupt,
            Error::Fragment { .. } => ErrorKind::Unavailable,
            Error::FragmentStatus { status, .. } => ErrorKind::of_http_status(status),
            Error::OffsetJump { .. } | Error::RecordDropped { .. } => ErrorKind::OffsetJump,
            Error::RecordTooLong { .. } => ErrorKind::Corrupt,
            Error::Io(_) => ErrorKind::Io,
            Error::Journal { source, .. } => source.kind(),
        }
    }

    /// True when the same call may succeed if tried again later
    /// ([`ErrorKind::is_transient`]).
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }

    /// True when the broker refused the call's authorization.
    pub fn is_unauthenticated(&self) -> bool {
        self.grpc_code() == Some(tonic::Code::Unauthenticated)
    }

    /// Go's `errors.Is(err, ErrStatus)` for every operation: true when the
    /// broker answered with `status` and the operation names it (Read's
    /// JOURNAL_NOT_FOUND, ListFragments' SUSPENDED, Append's wrapped
    /// REGISTER_MISMATCH, ...). A status the operation does not name is
    /// generic and gives false; use [`Error::status`] to match any status.
    pub fn is_status(&self, status: gazette_proto::Status) -> bool {
        self.status_error().is_some_and(|s| s.is(status))
    }
}

impl From<Error> for std::io::Error {
    /// The error inside an `io::Error` whose kind follows [`Error::kind`]
    /// (not found, timed out, permission denied, invalid input, ...), so
    /// `std::io` callers can branch on it; the error itself is its source.
    fn from(err: Error) -> Self {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            _ if matches!(err, Error::Io(_)) => {
                let Error::Io(io) = err else { unreachable!() };
                return io;
            }
            ErrorKind::NotFound => Io::NotFound,
            ErrorKind::Unavailable => Io::ConnectionAborted,
            ErrorKind::InvalidRequest | ErrorKind::InvalidConfig => Io::InvalidInput,
            ErrorKind::Unauthorized | ErrorKind::NotAllowed => Io::PermissionDenied,
            ErrorKind::TimedOut => Io::TimedOut,
            ErrorKind::Corrupt => Io::InvalidData,
            ErrorKind::Closed => Io::BrokenPipe,
            ErrorKind::Conflict => Io::AlreadyExists,
            _ => Io::Other,
        };
        std::io::Error::new(kind, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each error of `err`'s source chain, as text.
    fn chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
        let mut texts = vec![err.to_string()];
        let mut next = err.source();
        while let Some(source) = next {
            texts.push(source.to_string());
            next = source.source();
        }
        texts
    }

    /// Fails when an error's text already contains its source's: a chain
    /// printer (anyhow's `{:#}`, eyre) would print it twice.
    pub(crate) fn assert_no_text_twice(err: &(dyn std::error::Error + 'static)) {
        let texts = chain(err);
        for pair in texts.windows(2) {
            assert!(
                pair[1].is_empty() || !pair[0].contains(&pair[1]),
                "{:?} prints its source {:?} again (chain {texts:?})",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn no_error_prints_its_source_twice() {
        use gazette_core::append::AppendError;
        use gazette_core::list::ListError;
        use gazette_core::read::ReadError;
        let validation = || gazette_core::validate::validate_journal_name("").unwrap_err();
        let request_error =
            gazette_core::append::validate_preamble(&gazette_proto::AppendRequest::default())
                .unwrap_err();
        let errors: Vec<Error> = vec![
            Error::Read(ReadError::Status(StatusError::Named(
                gazette_proto::Status::JournalNotFound,
            ))),
            Error::Append(AppendError::Status(StatusError::Named(
                gazette_proto::Status::RegisterMismatch,
            ))),
            Error::Append(AppendError::InvalidRequest(request_error.clone())),
            Error::Append(AppendError::DependencyFailed(Box::new(
                AppendError::InvalidRequest(request_error),
            ))),
            Error::List(ListError::DeadlineExceeded),
            Error::List(ListError::InvalidRequest(validation())),
            Error::InvalidRequest(validation()),
            Error::FragmentContent {
                url: "file:///a/0-1-abc".into(),
                source: gazette_core::fragment::FragmentError::DidNotReadExpectedEof { end: 1 },
            },
            Error::Journal {
                journal: "a/journal".into(),
                source: Box::new(Error::Read(ReadError::Status(StatusError::Named(
                    gazette_proto::Status::Suspended,
                )))),
            },
            Error::TokenSource(crate::auth::TokenSourceError::from("no token")),
            Error::Io(std::io::Error::other("disk full")),
            Error::Config(crate::config::ConfigError::ReadFile {
                what: "CA certificate",
                path: "/no/such/ca.pem".into(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            }),
        ];
        for err in &errors {
            assert_no_text_twice(err);
            // Inside an io::Error too.
            let io = std::io::Error::other(Error::Journal {
                journal: "j".into(),
                source: Box::new(Error::List(ListError::DeadlineExceeded)),
            });
            assert_no_text_twice(&io);
        }
    }

    #[test]
    fn io_errors_carry_the_kind_of_the_error_inside() {
        let not_found = Error::Read(gazette_core::read::ReadError::Status(StatusError::Named(
            gazette_proto::Status::JournalNotFound,
        )));
        let io: std::io::Error = not_found.into();
        assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
        assert!(io.get_ref().unwrap().downcast_ref::<Error>().is_some());
        let timed_out: std::io::Error =
            Error::List(gazette_core::list::ListError::DeadlineExceeded).into();
        assert_eq!(timed_out.kind(), std::io::ErrorKind::TimedOut);
        let own = std::io::Error::from(std::io::ErrorKind::UnexpectedEof);
        assert_eq!(
            std::io::Error::from(Error::Io(own)).kind(),
            std::io::ErrorKind::UnexpectedEof
        );
    }

    const SIGNED: &str = "https://bucket.s3.amazonaws.com/a/journal/0-1-abc.gz?X-Amz-Signature=5ecre7&X-Amz-Credential=AKIA";

    #[test]
    fn fragment_errors_print_signed_urls_without_their_query() {
        let errors = [
            Error::Fragment {
                url: SIGNED.into(),
                reason: "connection reset".into(),
            },
            Error::FragmentStatus {
                url: SIGNED.into(),
                status: "403 Forbidden".into(),
            },
            Error::FragmentContent {
                url: SIGNED.into(),
                source: gazette_core::fragment::FragmentError::DidNotReadExpectedEof { end: 1 },
            },
            Error::Read(gazette_core::read::ReadError::Direct(
                gazette_core::read::DirectError::HttpStatus {
                    status: "403 Forbidden".into(),
                    url: SIGNED.into(),
                },
            )),
        ];
        for err in errors {
            // Debug output shows fields as constructed; the driver builds
            // its fragment errors with redacted URLs (see below).
            let debug = matches!(err, Error::Read(_)).then(|| format!("{err:?}"));
            for text in [Some(err.to_string()), debug].into_iter().flatten() {
                assert!(!text.contains("5ecre7"), "{text}");
                assert!(!text.contains("AKIA"), "{text}");
                assert!(
                    text.contains("bucket.s3.amazonaws.com/a/journal/0-1-abc.gz"),
                    "{text}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_failed_fetch_of_a_signed_url_shows_no_query_in_text_or_debug() {
        let opener = crate::fragment::FragmentOpener::new(None);
        // Port 1 on loopback refuses the connection at once.
        let url = "http://127.0.0.1:1/a/journal/0-1-abc.gz?X-Amz-Signature=5ecre7";
        let Err(err) = opener
            .open(url, gazette_proto::CompressionCodec::None)
            .await
        else {
            panic!("the fetch cannot succeed");
        };
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains("5ecre7"), "{text}");
            assert!(text.contains("127.0.0.1:1/a/journal/0-1-abc.gz"), "{text}");
        }
    }
}
