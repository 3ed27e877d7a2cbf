//! The one classification of a failed RPC's transport, shared by every
//! machine that runs an RPC (Read, Append).

/// A failure of an RPC itself (stream start, send or receive), as
/// classified by the driver.
///
/// Drivers build it from the facts of the failure with
/// [`RpcFailure`](crate::status::RpcFailure) (`.into()`), which decides the
/// variant. `Cancelled` and `DeadlineExceeded` mean the *caller's own*
/// cancellation or deadline caused the failure (Go's `mapGRPCCtxErr`,
/// docs/behaviour.md#context-errors); a gRPC `CANCELLED` or
/// `DEADLINE_EXCEEDED` sent by a broker or a proxy is
/// [`TransportError::Other`], which retry policies treat as transient.
///
/// The same type is re-exported as `read::TransportError` and
/// `append::TransportError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The caller cancelled the RPC (Go: `context.Canceled`).
    #[error("context canceled")]
    Cancelled,
    /// The caller's deadline passed (Go: `context.DeadlineExceeded`).
    #[error("context deadline exceeded")]
    DeadlineExceeded,
    /// gRPC `UNAVAILABLE`: the broker could not be reached or the
    /// connection broke. Retried, and the journal's cached route should be
    /// invalidated.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Any other RPC failure, with the transport's message (for example a
    /// broker's gRPC `UNKNOWN` error naming a failed fragment download, or
    /// its `append stream: ...` text).
    #[error("{0}")]
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::TransportError;

    #[test]
    fn read_and_append_name_the_same_transport_error() {
        let from_append: crate::append::TransportError = TransportError::Unavailable("down".into());
        let as_read: crate::read::TransportError = from_append.clone();
        assert_eq!(
            crate::read::ReadError::from(as_read).to_string(),
            crate::append::AppendError::Transport(from_append).to_string()
        );
    }
}
