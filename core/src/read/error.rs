//! Errors of the read path, and the error inputs a driver reports.

use crate::status::StatusError;
use crate::validate::ValidationError;

use super::frame::InvalidFrame;
pub use crate::transport::TransportError;

/// `url` without its query and fragment parts, for error texts and logs:
/// signed fragment URLs carry their credentials (signature, key id, token)
/// in the query, which must not end up in logs (Go quotes the whole URL:
/// docs/go-differences.md#d37).
pub fn redact_url(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// A failure to open or read a fragment directly (from its signed URL),
/// reported by the driver's fragment source.
///
/// The three end-of-data classes are kept apart because they decide what
/// happens next: [`DirectError::Eof`] restarts a [`RetryReader`] at once,
/// the two others are ordinary retried failures.
///
/// [`RetryReader`]: super::RetryReader
///
/// Its `Display` and `Debug` print the URL of [`DirectError::HttpStatus`]
/// without its query ([`redact_url`]).
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectError {
    /// The fragment body ended before the requested offset was reached while
    /// opening (Go's plain `EOF` from the pre-seek, or from an empty gzip body).
    #[error("EOF")]
    Eof,
    /// The decoded body ended before `fragment.end` (Go: `io.ErrUnexpectedEOF`).
    #[error("unexpected EOF")]
    UnexpectedEof,
    /// The decoded body is longer than the fragment (Go: `ErrDidNotReadExpectedEOF`).
    #[error("did not read EOF at expected Fragment.End")]
    DidNotReadExpectedEof,
    /// The store answered with an HTTP status other than 200.
    /// `status` is the code and reason, such as `404 Not Found`.
    #[error("!OK fetching ({status}, {:?})", redact_url(url))]
    HttpStatus {
        /// Status code and reason phrase.
        status: String,
        /// The fragment URL that was fetched.
        url: String,
    },
    /// Any other open, transport or decompression failure, as text.
    #[error("{0}")]
    Other(String),
}

impl std::fmt::Debug for DirectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirectError::Eof => f.write_str("Eof"),
            DirectError::UnexpectedEof => f.write_str("UnexpectedEof"),
            DirectError::DidNotReadExpectedEof => f.write_str("DidNotReadExpectedEof"),
            DirectError::HttpStatus { status, url } => f
                .debug_struct("HttpStatus")
                .field("status", status)
                .field("url", &redact_url(url))
                .finish(),
            DirectError::Other(text) => f.debug_tuple("Other").field(text).finish(),
        }
    }
}

/// Why a read ended unsuccessfully.
///
/// A clean end (Go's `io.EOF`) is not an error: readers report it as
/// `Finished(Ok(()))`. Offset jumps are not errors either: they are reported
/// as their own output and reading continues.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The caller cancelled the read (Go: `context.Canceled`).
    #[error("context canceled")]
    Cancelled,
    /// The caller's deadline passed (Go: `context.DeadlineExceeded`).
    #[error("context deadline exceeded")]
    DeadlineExceeded,
    /// The broker answered with a non-OK status; the Reader's statuses are
    /// named, every other one is generic (docs/behaviour.md#named-errors).
    #[error(transparent)]
    Status(#[from] StatusError),
    /// The RPC failed to start or broke while streaming.
    #[error(transparent)]
    Transport(TransportError),
    /// A response frame broke the Read protocol; the stream was cancelled.
    #[error(transparent)]
    InvalidFrame(#[from] InvalidFrame),
    /// Opening or reading the fragment directly failed.
    #[error(transparent)]
    Direct(#[from] DirectError),
    /// The request is invalid (journal name, `;meta` segment, header,
    /// offsets); no RPC was started, and a RetryReader does not retry it.
    #[error(transparent)]
    InvalidRequest(ValidationError),
}

impl From<TransportError> for ReadError {
    fn from(err: TransportError) -> Self {
        match err {
            TransportError::Cancelled => ReadError::Cancelled,
            TransportError::DeadlineExceeded => ReadError::DeadlineExceeded,
            other => ReadError::Transport(other),
        }
    }
}

impl ReadError {
    /// True when the broker answered with `status` and the Reader names it
    /// (Go's plain equality with the named error).
    pub fn is_named(&self, status: gazette_proto::Status) -> bool {
        matches!(self, ReadError::Status(StatusError::Named(s)) if *s == status)
    }
}

/// Why a seek cannot be served by the open reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeekError {
    /// The target is not ahead within the fragment being read directly, so
    /// a new Read RPC at the target is needed (Go: `ErrSeekRequiresNewReader`).
    #[error("seek offset requires new Reader")]
    RequiresNewReader,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls_are_printed_without_their_query() {
        let url = "https://b.example/j/0-1-a.gz?X-Goog-Signature=5ecre7&X-Goog-Credential=k#f";
        assert_eq!(redact_url(url), "https://b.example/j/0-1-a.gz");
        assert_eq!(redact_url("file:///j/0-1-a.gz"), "file:///j/0-1-a.gz");
        let err = ReadError::Direct(DirectError::HttpStatus {
            status: "403 Forbidden".into(),
            url: url.into(),
        });
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains("5ecre7"), "{text}");
            assert!(text.contains("https://b.example/j/0-1-a.gz"), "{text}");
        }
        assert_eq!(
            err.to_string(),
            "!OK fetching (403 Forbidden, \"https://b.example/j/0-1-a.gz\")"
        );
    }
}
