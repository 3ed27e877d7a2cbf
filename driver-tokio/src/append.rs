//! Appending: the [`Appender`] (one Append RPC, written as an `AsyncWrite`)
//! and [`append`] (one append of re-readable content, with retries).
//!
//! Both are handles of an append operation of the core client: it decides
//! the message sequence, routing to the primary, response checks, route
//! updates, retries and errors; a handle feeds it content and waits for
//! its result.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use gazette_core::append::{AppendError, strip_append_meta};
use gazette_core::client::{Event, OpError, OpId, Outcome, WriteError};
use gazette_proto::{AppendRequest, AppendResponse};

use crate::client::Client;
use crate::error::op_error;
use crate::{Error, Result};

/// One Append RPC, written through `tokio::io::AsyncWrite` (or
/// [`Appender::write_bytes`] without copying) and committed with
/// [`Appender::commit`].
///
/// Content is visible to readers only after a successful commit. Dropping
/// an Appender, or [`Appender::abort`], rolls the append back. Brokers time
/// out appends whose content stalls, so write content that is at hand.
///
/// ```no_run
/// # async fn demo(client: &gazette_tokio::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use gazette_tokio::Appender;
/// use gazette_tokio::proto::AppendRequest;
/// use tokio::io::AsyncWriteExt;
///
/// let mut appender = Appender::new(client, AppendRequest::new("examples/hello"))?;
/// appender.write_all(b"one\n").await?;
/// appender.write_all(b"two\n").await?;
/// let response = appender.commit().await?; // both lines, or neither
/// println!("committed {:?}", response.commit);
/// # Ok(())
/// # }
/// ```
pub struct Appender {
    client: Client,
    request: AppendRequest,
    op: Option<OpId>,
    result: Option<std::result::Result<AppendResponse, OpError>>,
    /// The broker's response that refused the append (a status).
    refused: Option<AppendResponse>,
    span: tracing::Span,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("journal", &self.request.journal)
            .finish_non_exhaustive()
    }
}

impl Appender {
    /// An Appender of `request` (the preamble: journal, optional offset,
    /// registers, suspend). The request is validated here; nothing is sent
    /// until the first write or the commit.
    pub fn new(client: &Client, mut request: AppendRequest) -> Result<Self> {
        let span = tracing::debug_span!("gazette.append", journal = %request.journal);
        let sent = request.clone();
        let op = client
            .engine()
            .start_op(|core, now| core.start_append(sent, now))
            .map_err(AppendError::from)?;
        strip_append_meta(&mut request);
        Ok(Appender {
            client: client.clone(),
            request,
            op: Some(op),
            result: None,
            refused: None,
            span,
        })
    }

    /// The preamble this Appender sends.
    pub fn request(&self) -> &AppendRequest {
        &self.request
    }

    /// The broker's response: once committed, or after the broker refused
    /// the append with a status (REGISTER_MISMATCH, WRONG_APPEND_OFFSET,
    /// ...), the response that refused it, with its header and the
    /// journal's current registers (Go's `Appender.Response`). None before
    /// the append finished and after failures without a response
    /// (transport, cancellation).
    pub fn response(&self) -> Option<&AppendResponse> {
        match &self.result {
            Some(Ok(response)) => Some(response),
            _ => self.refused.as_ref(),
        }
    }

    /// Takes the operation's result from `event`, if it is its end.
    fn on_event(&mut self, event: Event) {
        if let Event::AppendRefused { response, .. } = event {
            self.refused = Some(*response);
            return;
        }
        if let Event::Finished { op, result } = event {
            self.client.engine().close(op);
            self.op = None;
            let result = match result {
                Ok(Outcome::Appended(response)) => {
                    let commit = response.commit.as_ref();
                    let bytes = commit.map_or(0, |c| (c.end - c.begin).max(0) as u64);
                    crate::telemetry::append_finished(true, bytes);
                    Ok(response)
                }
                Ok(_) => Err(OpError::Append(AppendError::Rejected(
                    "append aborted".into(),
                ))),
                Err(err) => {
                    crate::telemetry::append_finished(false, 0);
                    Err(err)
                }
            };
            self.result = Some(result);
        }
    }

    /// The error of an append that finished before the caller was done.
    fn finished_error(&self) -> OpError {
        match &self.result {
            Some(Err(err)) => err.clone(),
            _ => OpError::Append(AppendError::Transport(gazette_core::TransportError::Other(
                "append already committed".into(),
            ))),
        }
    }

    /// Queues `content` (without copying) or waits while the write buffer
    /// is full.
    fn poll_write_bytes(
        &mut self,
        cx: &mut Context<'_>,
        content: &Bytes,
    ) -> Poll<std::result::Result<(), OpError>> {
        let _enter = self.span.clone().entered();
        loop {
            let Some(op) = self.op else {
                return Poll::Ready(Err(self.finished_error()));
            };
            let chunk = content.clone();
            match self
                .client
                .engine()
                .call(|core, now| core.write_append(op, chunk, now))
            {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(WriteError::Blocked | WriteError::Closed) => {}
                Err(other) => {
                    return Poll::Ready(Err(OpError::Append(AppendError::Rejected(
                        other.to_string(),
                    ))));
                }
            }
            // Blocked (wait for Writable) or closed (its Finished is queued).
            match ready!(self.client.engine().poll_event(op, cx)) {
                Some(event) => self.on_event(event),
                None => self.op = None,
            }
        }
    }

    /// Queues `content` without copying it (split into chunks as needed).
    /// Buffering is bounded: this waits while the stream is backed up.
    pub async fn write_bytes(&mut self, content: Bytes) -> Result<()> {
        self.write_op(content).await.map_err(op_error)
    }

    /// [`Appender::write_bytes`] with the core's error.
    pub(crate) async fn write_op(&mut self, content: Bytes) -> std::result::Result<(), OpError> {
        std::future::poll_fn(|cx| self.poll_write_bytes(cx, &content)).await
    }

    fn poll_commit(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<std::result::Result<AppendResponse, OpError>> {
        loop {
            if let Some(result) = &self.result {
                return Poll::Ready(result.clone());
            }
            let Some(op) = self.op else {
                return Poll::Ready(Err(self.finished_error()));
            };
            self.client
                .engine()
                .call(|core, now| core.commit_append(op, now));
            match ready!(self.client.engine().poll_event(op, cx)) {
                Some(event) => self.on_event(event),
                None => self.op = None,
            }
        }
    }

    /// Commits the append and returns the broker's response.
    pub async fn commit(&mut self) -> Result<AppendResponse> {
        self.commit_op().await.map_err(op_error)
    }

    /// [`Appender::commit`] with the core's error.
    pub(crate) async fn commit_op(&mut self) -> std::result::Result<AppendResponse, OpError> {
        std::future::poll_fn(|cx| self.poll_commit(cx)).await
    }

    /// Rolls the append back (a stream, if any, is half-closed without the
    /// commit marker and dropped).
    pub async fn abort(mut self) {
        if let Some(op) = self.op {
            self.client
                .engine()
                .call(|core, now| core.abort_append(op, now));
            while self.op.is_some() {
                match self.client.engine().next_event(op).await {
                    Some(event) => self.on_event(event),
                    None => self.op = None,
                }
            }
        }
    }
}

impl Drop for Appender {
    fn drop(&mut self) {
        if let Some(op) = self.op.take() {
            self.client.engine().close(op);
        }
    }
}

impl tokio::io::AsyncWrite for Appender {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = buf.len().min(gazette_core::append::DEFAULT_CHUNK_SIZE);
        let chunk = Bytes::copy_from_slice(&buf[..n]);
        ready!(this.poll_write_bytes(cx, &chunk)).map_err(op_error)?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match (&this.result, this.op) {
            (Some(Err(err)), _) => Poll::Ready(Err(op_error(err.clone()).into())),
            (_, None) => Poll::Ready(Err(op_error(this.finished_error()).into())),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// Commits the append (the response is then [`Appender::response`]).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut()
            .poll_commit(cx)
            .map(|r| r.map(|_| ()).map_err(|err| op_error(err).into()))
    }
}

/// Appends the concatenation of `content` to `request.journal` as one
/// transaction, retrying on unavailable brokers and routing statuses (with
/// Go's backoff) and rewriting the whole content on each attempt.
///
/// ```no_run
/// # async fn demo(client: &gazette_tokio::Client) -> gazette_tokio::Result<()> {
/// use bytes::Bytes;
/// use gazette_tokio::proto::{AppendRequest, LabelSelector};
///
/// let records = [Bytes::from_static(b"one\n"), Bytes::from_static(b"two\n")];
/// let response = gazette_tokio::append(client, AppendRequest::new("examples/hello"), &records).await?;
/// let commit = response.commit.unwrap_or_default();
/// println!("appended at [{}, {})", commit.begin, commit.end);
///
/// // Commits only if the journal's registers say this writer owns it.
/// let fenced = AppendRequest::new("examples/hello")
///     .check_registers(LabelSelector::new().include("owner", "writer-1"));
/// gazette_tokio::append(client, fenced, &records).await?;
/// # Ok(())
/// # }
/// ```
pub async fn append(
    client: &Client,
    request: AppendRequest,
    content: &[Bytes],
) -> Result<AppendResponse> {
    let content = content.to_vec();
    let op = client
        .engine()
        .start_op(|core, now| core.append(request, content, now))
        .map_err(AppendError::from)?;
    match client.engine().finished(op).await? {
        Outcome::Appended(response) => Ok(response),
        other => Err(Error::Validation {
            what: "append",
            reason: format!("unexpected outcome {other:?}"),
        }),
    }
}
