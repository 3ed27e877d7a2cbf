//! Appending: the [`Appender`] (one Append RPC, written as an `AsyncWrite`)
//! and [`append`] (one append of re-readable content, with retries).
//!
//! Both drive the core's `Appender` machine: it decides the message
//! sequence, response checks, route updates and errors; this module opens
//! the client stream, moves messages and awaits the response.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use gazette_core::append::{
    AppendError, AppendStep, Appender as Machine, AppenderInput, AppenderOutput, OneShotAppend,
    TransportError,
};
use gazette_proto::{AppendRequest, AppendResponse};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::PollSender;
use tracing::Instrument;

use crate::auth::{Capability, Claims};
use crate::client::{Client, Dispatch};
use crate::{Error, Result};

/// Messages buffered between the writer and the RPC's request stream.
const STREAM_BUFFER: usize = 8;

type RpcResult = std::result::Result<AppendResponse, tonic::Status>;

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
    machine: Machine,
    /// The request side of the open stream.
    sender: Option<PollSender<AppendRequest>>,
    /// The RPC task, resolving to the broker's response.
    rpc: Option<JoinHandle<RpcResult>>,
    /// An output being carried out (a send waiting for buffer space, a
    /// response or abort being awaited).
    current: Option<AppenderOutput>,
    /// The last gRPC failure, to surface its code in [`Error::Rpc`].
    last_status: Option<tonic::Status>,
    result: Option<std::result::Result<AppendResponse, AppendError>>,
    /// The broker endpoint the stream went to (None: the service address).
    endpoint: Option<String>,
    span: tracing::Span,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appender")
            .field("journal", &self.machine.request().journal)
            .field("bytes_sent", &self.machine.bytes_sent())
            .finish_non_exhaustive()
    }
}

impl Appender {
    /// An Appender of `request` (the preamble: journal, optional offset,
    /// registers, suspend). Nothing is sent until the first write or the
    /// commit.
    pub fn new(client: &Client, request: AppendRequest) -> Result<Self> {
        let span = tracing::debug_span!("gazette.append", journal = %request.journal);
        let machine = Machine::new(request).map_err(AppendError::from)?;
        Ok(Appender {
            client: client.clone(),
            machine,
            sender: None,
            rpc: None,
            current: None,
            last_status: None,
            result: None,
            endpoint: None,
            span,
        })
    }

    /// The preamble this Appender sends.
    pub fn request(&self) -> &AppendRequest {
        self.machine.request()
    }

    /// The broker's response, once committed.
    pub fn response(&self) -> Option<&AppendResponse> {
        self.result.as_ref().and_then(|r| r.as_ref().ok())
    }

    /// Queues `content` without copying it (split into chunks as needed).
    /// Buffering is bounded: this waits while the stream is backed up.
    pub async fn write_bytes(&mut self, content: Bytes) -> Result<()> {
        std::future::poll_fn(|cx| self.poll_ready(cx)).await?;
        self.machine.handle(AppenderInput::Write(content));
        Ok(())
    }

    /// Commits the append and returns the broker's response.
    pub async fn commit(&mut self) -> Result<AppendResponse> {
        std::future::poll_fn(|cx| self.poll_commit(cx)).await
    }

    /// Rolls the append back (a stream, if any, is half-closed without the
    /// commit marker) and waits for the stream to end.
    pub async fn abort(mut self) {
        self.machine.handle(AppenderInput::Abort);
        let _ = std::future::poll_fn(|cx| self.poll_drive(cx)).await;
    }

    /// Waits until queued content has been handed to the stream; fails if
    /// the append already finished (e.g. the broker refused it early).
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match ready!(self.poll_drive(cx)) {
            Some(result) => Poll::Ready(Err(self.finish_error(result))),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_commit(&mut self, cx: &mut Context<'_>) -> Poll<Result<AppendResponse>> {
        if self.result.is_none() && self.machine.accepts_content() {
            self.machine.handle(AppenderInput::Commit);
        }
        let result = match ready!(self.poll_drive(cx)) {
            Some(result) => result,
            None => Err(AppendError::Transport(TransportError::Other(
                "append finished without a response".into(),
            ))),
        };
        Poll::Ready(result.map_err(|err| self.error(err)))
    }

    /// Carries out machine outputs until one must wait (Pending), the queue
    /// is empty (`Ready(None)`), or the append finished (`Ready(Some)`).
    fn poll_drive(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<AppendResponse, AppendError>>> {
        let _enter = self.span.clone().entered();
        loop {
            if let Some(result) = &self.result {
                return Poll::Ready(Some(result.clone()));
            }
            let output = match self.current.take() {
                Some(output) => output,
                None => match self.machine.poll_output() {
                    Some(output) => output,
                    None => return Poll::Ready(None),
                },
            };
            match output {
                AppenderOutput::OpenStream { journal } => self.open_stream(journal),
                AppenderOutput::Send(message) => {
                    let Some(sender) = &mut self.sender else {
                        self.machine.handle(AppenderInput::SendFailed);
                        continue;
                    };
                    match sender.poll_reserve(cx) {
                        Poll::Pending => {
                            self.current = Some(AppenderOutput::Send(message));
                            return Poll::Pending;
                        }
                        Poll::Ready(Ok(())) => {
                            if sender.send_item(message).is_err() {
                                self.machine.handle(AppenderInput::SendFailed);
                            }
                        }
                        Poll::Ready(Err(_)) => self.machine.handle(AppenderInput::SendFailed),
                    }
                }
                AppenderOutput::HalfClose => self.sender = None,
                AppenderOutput::ReceiveResponse => {
                    let Some(rpc) = &mut self.rpc else {
                        self.machine
                            .handle(AppenderInput::StreamFailed(TransportError::Other(
                                "no Append stream".into(),
                            )));
                        continue;
                    };
                    let outcome = match Pin::new(rpc).poll(cx) {
                        Poll::Pending => {
                            self.current = Some(AppenderOutput::ReceiveResponse);
                            return Poll::Pending;
                        }
                        Poll::Ready(outcome) => outcome,
                    };
                    self.rpc = None;
                    let input = match outcome {
                        Ok(Ok(response)) => {
                            if let Some(endpoint) = &self.endpoint {
                                self.client.record_endpoint_health(endpoint, false);
                            }
                            AppenderInput::Response(response)
                        }
                        Ok(Err(status)) => {
                            let status = crate::client::normalize_status(status);
                            if status.code() == tonic::Code::Unavailable
                                && let Some(endpoint) = &self.endpoint
                            {
                                self.client.record_endpoint_health(endpoint, true);
                            }
                            let kind = crate::error::transport_error(&status);
                            self.last_status = Some(status);
                            AppenderInput::StreamFailed(kind)
                        }
                        Err(join) => AppenderInput::StreamFailed(TransportError::Other(format!(
                            "append task: {join}"
                        ))),
                    };
                    self.machine.handle(input);
                }
                AppenderOutput::Abort => {
                    self.sender = None;
                    if let Some(rpc) = &mut self.rpc {
                        if Pin::new(rpc).poll(cx).is_pending() {
                            self.current = Some(AppenderOutput::Abort);
                            return Poll::Pending;
                        }
                        self.rpc = None;
                    }
                }
                AppenderOutput::UpdateRoute { journal, update } => {
                    self.client.update_route(&journal, update.into_route());
                }
                AppenderOutput::Finished(result) => {
                    crate::telemetry::append_finished(result.is_ok(), self.machine.bytes_sent());
                    self.result = Some(result.clone());
                    return Poll::Ready(Some(result));
                }
            }
        }
    }

    fn open_stream(&mut self, journal: String) {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        self.sender = Some(PollSender::new(tx));
        let client = self.client.clone();
        let dispatch = Dispatch::Journal {
            journal: journal.clone(),
            require_primary: true,
        };
        let claims = Claims::for_journal(Capability::APPEND, &journal);
        self.endpoint = client.endpoint_for(&dispatch);
        crate::telemetry::rpc_started("append");
        self.rpc = Some(tokio::spawn(
            async move {
                let mut rpc = client
                    .journal_client(&dispatch)
                    .map_err(|err| tonic::Status::invalid_argument(err.to_string()))?;
                let request = client
                    .request(ReceiverStream::new(rx), &claims, false)
                    .map_err(|err| tonic::Status::unauthenticated(err.to_string()))?;
                rpc.append(request).await.map(tonic::Response::into_inner)
            }
            .instrument(self.span.clone()),
        ));
    }

    fn finish_error(&mut self, result: std::result::Result<AppendResponse, AppendError>) -> Error {
        match result {
            Ok(_) => Error::Append(AppendError::Transport(TransportError::Other(
                "append already committed".into(),
            ))),
            Err(err) => self.error(err),
        }
    }

    /// Converts the machine's error, keeping the gRPC code of transport
    /// failures.
    fn error(&self, err: AppendError) -> Error {
        match (&err, &self.last_status) {
            (AppendError::Transport(_), Some(status)) => {
                Error::rpc(gazette_core::status::Operation::Append, status.clone())
            }
            _ => Error::Append(err),
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
        ready!(this.poll_ready(cx))?;
        let n = buf.len().min(gazette_core::append::DEFAULT_CHUNK_SIZE);
        this.machine
            .handle(AppenderInput::Write(Bytes::copy_from_slice(&buf[..n])));
        // Start moving the chunk; backpressure applies on the next write.
        if let Poll::Ready(Some(Err(err))) = this.poll_drive(cx) {
            return Poll::Ready(Err(this.error(err).into()));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().poll_ready(cx).map_err(Into::into)
    }

    /// Commits the append (the response is then [`Appender::response`]).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut()
            .poll_commit(cx)
            .map(|r| r.map(|_| ()).map_err(Into::into))
    }
}

/// Appends the concatenation of `content` to `request.journal` as one
/// transaction, retrying on unavailable brokers and routing statuses (with
/// Go's backoff) and rewriting the whole content on each attempt. Go's
/// `Append` takes re-readable sources instead (docs/go-differences.md#d18).
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
    let mut policy = OneShotAppend::new(request);
    loop {
        let mut appender = Appender::new(client, policy.request().clone())?;
        let mut outcome = Ok(());
        for chunk in content {
            outcome = appender.write_bytes(chunk.clone()).await;
            if outcome.is_err() {
                break;
            }
        }
        let result = match outcome {
            Ok(()) => appender.commit().await,
            Err(err) => Err(err),
        };
        let machine_result = match result {
            Ok(response) => Ok(response),
            Err(Error::Append(err)) => Err(err),
            Err(Error::Rpc { status, .. }) => {
                let kind = crate::error::transport_error(&status);
                match policy.on_attempt_finished(Err(AppendError::Transport(kind))) {
                    AppendStep::Retry { delay, attempt } => {
                        tracing::warn!(%status, attempt, "append failed; retrying");
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    _ => {
                        return Err(Error::Rpc {
                            op: gazette_core::status::Operation::Append,
                            status,
                        });
                    }
                }
            }
            Err(other) => return Err(other),
        };
        match policy.on_attempt_finished(machine_result) {
            AppendStep::Done(response) => return Ok(response),
            AppendStep::Fail(err) => return Err(Error::Append(err)),
            AppendStep::Retry { delay, attempt } => {
                if attempt != 0 {
                    tracing::warn!(attempt, "append not routed to a primary; retrying");
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}
