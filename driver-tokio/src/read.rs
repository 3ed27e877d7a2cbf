//! Reading: [`Reader`] (one Read RPC) and [`RetryReader`] (restarting RPCs
//! with backoff), both `AsyncRead` + `AsyncBufRead`, driven over the core's
//! read machines.
//!
//! The machines decide everything protocol-related (frame validation,
//! offsets and jumps, statuses, retries, when to read a fragment directly);
//! this module starts RPCs, moves frames, runs timers and fetches fragments
//! from their stores through [`crate::fragment`].

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream};
use gazette_core::read::{
    AdjustedSeek, DirectError, DirectFetch, FetchTarget, ReadAction, ReadError, ReadInput,
    ReadOutput, Reader as ReaderMachine, RetryInput, RetryOutput, RetryReader as RetryMachine,
    RouteHint, TransportError,
};
use gazette_core::status::Operation;
use gazette_proto::{ReadRequest, ReadResponse};
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};
use tokio::sync::mpsc;

use crate::Error;
use crate::auth::{Capability, Claims};
use crate::client::{Client, Dispatch};

/// One thing a read produced: the core's event type, handed on unchanged.
pub use gazette_core::read::ReadEvent;

/// What a driven machine produced, unified over both machines.
enum Step {
    Event(ReadEvent),
    Action(ReadAction),
    Backoff(std::time::Duration),
    CancelBackoff,
    /// Clean end (EOF, end offset reached, metadata-only complete).
    End,
    Failed(ReadError),
}

enum Machine {
    Single(ReaderMachine),
    Retry(RetryMachine),
}

impl Machine {
    fn poll_output(&mut self) -> Option<Step> {
        Some(match self {
            Machine::Single(m) => match m.poll_output()? {
                ReadOutput::Action(a) => Step::Action(a),
                ReadOutput::Event(event) => Step::Event(event),
                ReadOutput::Finished(Ok(())) => Step::End,
                ReadOutput::Finished(Err(err)) => Step::Failed(err),
            },
            // The clock lets the machine tell a long-lived empty stream
            // (an expired token) from a broker closing streams at once.
            Machine::Retry(m) => match m.poll_output_at(tokio::time::Instant::now().into_std())? {
                RetryOutput::Action(a) => Step::Action(a),
                RetryOutput::Event(event) => Step::Event(event),
                RetryOutput::Backoff {
                    delay,
                    attempt,
                    cause,
                    log,
                } => {
                    if log {
                        tracing::warn!(?cause, attempt, ?delay, "read failure (will retry)");
                    }
                    crate::telemetry::read_retry();
                    Step::Backoff(delay)
                }
                RetryOutput::CancelBackoff => Step::CancelBackoff,
                RetryOutput::Stopped(err) => Step::Failed(err),
                RetryOutput::Complete => Step::End,
            },
        })
    }

    fn handle(&mut self, input: ReadInput) {
        match self {
            Machine::Single(m) => m.handle(input),
            Machine::Retry(m) => m.handle(input),
        }
    }

    fn offset(&self) -> i64 {
        match self {
            Machine::Single(m) => m.offset(),
            Machine::Retry(m) => m.offset(),
        }
    }
}

type StartFuture = BoxFuture<'static, Result<tonic::Streaming<ReadResponse>, tonic::Status>>;

/// The shared engine of both readers.
struct Engine {
    client: Client,
    machine: Machine,
    starting: Option<StartFuture>,
    stream: Option<tonic::Streaming<ReadResponse>>,
    direct: Option<(mpsc::Receiver<ReadInput>, tokio::task::JoinHandle<()>)>,
    backoff: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Content handed out by the machine and not yet consumed.
    buffer: VecDeque<Bytes>,
    /// Set after a clean end (sticky for `Reader`).
    ended: bool,
    /// A `Reader`'s failure: returned again by every later call, so a
    /// caller that reads on after an error never sees a clean end (Go's
    /// Reader repeats its error too; docs/go-differences.md#d12).
    failed: Option<ReadError>,
    /// A failure surfaced; the RetryReader resumes on the next poll.
    stopped: bool,
    /// Fragments opened directly from their stores.
    fragments_opened: u64,
    span: tracing::Span,
}

impl Engine {
    fn new(client: &Client, machine: Machine, journal: &str) -> Self {
        Engine {
            client: client.clone(),
            machine,
            starting: None,
            stream: None,
            direct: None,
            backoff: None,
            buffer: VecDeque::new(),
            ended: false,
            failed: None,
            stopped: false,
            fragments_opened: 0,
            span: tracing::debug_span!("gazette.read", journal),
        }
    }

    /// The next event, `Ok(None)` at a clean end.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<ReadEvent>, Error>> {
        let _enter = self.span.clone().entered();
        if self.stopped {
            self.stopped = false;
            if let Machine::Retry(m) = &mut self.machine {
                m.resume();
            }
        }
        loop {
            if let Some(err) = &self.failed {
                return Poll::Ready(Err(Error::Read(err.clone())));
            }
            if self.ended {
                return Poll::Ready(Ok(None));
            }
            if let Some(step) = self.machine.poll_output() {
                match step {
                    Step::Event(event) => {
                        if let ReadEvent::Content { content, .. } = &event {
                            crate::telemetry::read_bytes(content.len());
                        }
                        return Poll::Ready(Ok(Some(event)));
                    }
                    Step::Action(action) => self.act(action),
                    Step::Backoff(delay) => {
                        self.backoff = Some(Box::pin(tokio::time::sleep(delay)));
                    }
                    Step::CancelBackoff => self.backoff = None,
                    Step::End => {
                        self.ended = true;
                        self.close_rpc();
                        return Poll::Ready(Ok(None));
                    }
                    Step::Failed(err) => {
                        match self.machine {
                            // The machine is finished: the error is final.
                            Machine::Single(_) => self.failed = Some(err.clone()),
                            // Resumed on the next call.
                            Machine::Retry(_) => self.stopped = true,
                        }
                        return Poll::Ready(Err(Error::Read(err)));
                    }
                }
                continue;
            }
            // Nothing queued: wait for the pending IO.
            ready!(self.poll_io(cx));
        }
    }

    /// Waits for one IO event and feeds it to the machine.
    fn poll_io(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(start) = &mut self.starting {
            let result = ready!(start.poll_unpin(cx));
            self.starting = None;
            match result {
                Ok(stream) => {
                    self.stream = Some(stream);
                    self.machine.handle(ReadInput::RpcStarted);
                }
                Err(status) => {
                    let err = self.map_status(status);
                    self.machine.handle(ReadInput::RpcStartFailed(err));
                }
            }
            return Poll::Ready(());
        }
        if let Some(stream) = &mut self.stream {
            let next = ready!(Pin::new(stream).poll_next(cx));
            let input = match next {
                Some(Ok(frame)) => ReadInput::Frame(frame),
                None => {
                    self.stream = None;
                    ReadInput::RpcClosed
                }
                Some(Err(status)) => {
                    self.stream = None;
                    ReadInput::RpcFailed(self.map_status(status))
                }
            };
            self.machine.handle(input);
            return Poll::Ready(());
        }
        if let Some((rx, _)) = &mut self.direct {
            let input = ready!(rx.poll_recv(cx)).unwrap_or_else(|| {
                ReadInput::DirectFailed(DirectError::Other("fragment task ended".into()))
            });
            if matches!(
                input,
                ReadInput::DirectEnd | ReadInput::DirectFailed(_) | ReadInput::DirectOpenFailed(_)
            ) {
                self.direct = None;
            }
            self.machine.handle(input);
            return Poll::Ready(());
        }
        if let Some(sleep) = &mut self.backoff {
            ready!(sleep.as_mut().poll(cx));
            self.backoff = None;
            if let Machine::Retry(m) = &mut self.machine {
                m.handle(RetryInput::BackoffElapsed);
            }
            return Poll::Ready(());
        }
        // The machine is waiting on nothing the driver holds: treat as a
        // clean end rather than hang.
        self.ended = true;
        Poll::Ready(())
    }

    fn act(&mut self, action: ReadAction) {
        match action {
            ReadAction::StartRpc { request, route } => {
                self.close_rpc();
                let dispatch = match route {
                    RouteHint::Journal(journal) => Dispatch::Journal {
                        journal,
                        require_primary: false,
                    },
                    RouteHint::Route(route) => Dispatch::Route {
                        route,
                        member: None,
                    },
                };
                let client = self.client.clone();
                let endpoint = client.endpoint_for(&dispatch);
                crate::telemetry::rpc_started("read");
                self.starting = Some(
                    async move {
                        let mut rpc = client
                            .journal_client(&dispatch)
                            .map_err(|err| tonic::Status::invalid_argument(err.to_string()))?;
                        let claims = Claims::for_journal(Capability::READ, &request.journal);
                        let req = client
                            .request(request, &claims, false)
                            .map_err(|err| tonic::Status::unauthenticated(err.to_string()))?;
                        match rpc.read(req).await {
                            Ok(response) => {
                                if let Some(endpoint) = &endpoint {
                                    client.record_endpoint_health(endpoint, false);
                                }
                                Ok(response.into_inner())
                            }
                            Err(status) => {
                                let status = crate::client::normalize_status(status);
                                // The machine invalidates the cached route
                                // (UpdateRoute with RouteUpdate::Invalidate).
                                if status.code() == tonic::Code::Unavailable
                                    && let Some(endpoint) = &endpoint
                                {
                                    client.record_endpoint_health(endpoint, true);
                                }
                                Err(status)
                            }
                        }
                    }
                    .boxed(),
                );
            }
            ReadAction::CancelRpc => self.close_rpc(),
            ReadAction::UpdateRoute { journal, update } => {
                self.client.update_route(&journal, update.into_route());
            }
            action @ ReadAction::OpenFragment { .. } => {
                let fetch = DirectFetch::from_action(&action).expect("an OpenFragment action");
                self.fragments_opened += 1;
                let (tx, rx) = mpsc::channel(4);
                let opener = self.client.fragments().clone();
                let task = tokio::spawn(run_direct_fetch(opener, fetch, tx));
                self.direct = Some((rx, task));
            }
            ReadAction::CloseDirect => {
                if let Some((_, task)) = self.direct.take() {
                    task.abort();
                }
            }
        }
    }

    fn close_rpc(&mut self) {
        self.starting = None;
        self.stream = None;
    }

    fn map_status(&self, status: tonic::Status) -> TransportError {
        let status = crate::client::normalize_status(status);
        let err = crate::error::transport_error(&status);
        if status.code() != tonic::Code::Unavailable {
            tracing::debug!(%status, "read RPC failed");
        }
        crate::telemetry::rpc_failed("read", status.code());
        err
    }

    /// Fills `buffer` with the next content, surfacing jumps as errors
    /// (Go's `ErrOffsetJump`) and skipping metadata. `Ok(false)` at EOF.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        while self.buffer.is_empty() {
            match ready!(self.poll_event(cx))? {
                None => return Poll::Ready(Ok(false)),
                Some(ReadEvent::Content { content, .. }) => self.buffer.push_back(content),
                Some(ReadEvent::Metadata(_)) => {}
                Some(ReadEvent::OffsetJump { from, to }) => {
                    return Poll::Ready(Err(Error::OffsetJump { from, to }));
                }
            }
        }
        Poll::Ready(Ok(true))
    }

    fn buffered(&self) -> u64 {
        self.buffer.iter().map(|b| b.len() as u64).sum()
    }

    fn consume(&mut self, mut amt: usize) {
        while amt > 0 {
            let Some(front) = self.buffer.front_mut() else {
                return;
            };
            if amt >= front.len() {
                amt -= front.len();
                self.buffer.pop_front();
            } else {
                let _ = front.split_to(amt);
                amt = 0;
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some((_, task)) = self.direct.take() {
            task.abort();
        }
    }
}

/// Carries out one direct fragment read: the IO of the core's
/// [`DirectFetch`] (HTTP GET or local file, then body chunks), sending the
/// reader inputs it yields.
async fn run_direct_fetch(
    opener: crate::fragment::FragmentOpener,
    mut fetch: DirectFetch,
    tx: mpsc::Sender<ReadInput>,
) {
    let mut body = None;
    match fetch.target(opener.file_root()) {
        Err(err) => fetch.open_failed_with(err),
        Ok(FetchTarget::Http { url }) => match opener.get(&url, fetch.accept_encoding()).await {
            Ok(response) => {
                fetch.http_response(
                    response.status.as_u16(),
                    response.status.canonical_reason(),
                    response.content_encoding.as_deref(),
                );
                body = Some(response.body);
            }
            Err(err) => fetch.open_failed(err.to_string()),
        },
        Ok(FetchTarget::File { path }) => match opener.open_file(&path).await {
            Ok(Some(file)) => {
                fetch.file_opened();
                body = Some(crate::fragment::RawBody::File(file));
            }
            Ok(None) => fetch.file_not_found(),
            Err(err) => fetch.open_failed(err.to_string()),
        },
    }
    loop {
        while let Some(input) = fetch.poll_input() {
            if tx.send(input).await.is_err() {
                return;
            }
        }
        if fetch.is_done() {
            return;
        }
        if !fetch.wants_input() {
            // Checking for a want may decode and queue more input.
            match fetch.poll_input() {
                Some(input) => {
                    if tx.send(input).await.is_err() {
                        return;
                    }
                }
                // Neither input nor a want: the adapter's contract rules
                // this out; end the read rather than spin.
                None => fetch.fail("fragment fetch stalled"),
            }
            continue;
        }
        let Some(raw) = body.as_mut() else {
            fetch.fail("fragment body missing");
            continue;
        };
        match raw.next_chunk().await {
            Ok(Some(chunk)) => fetch.feed(chunk),
            Ok(None) => fetch.feed_end(),
            Err(err) => fetch.fail(format!("reading fragment body: {err}")),
        }
    }
}

macro_rules! impl_async_read {
    ($ty:ty) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<std::io::Result<()>> {
                let engine = &mut self.get_mut().engine;
                if !ready!(engine.poll_fill(cx))? {
                    return Poll::Ready(Ok(()));
                }
                let front = engine.buffer.front().expect("filled");
                let n = front.len().min(buf.remaining());
                buf.put_slice(&front[..n]);
                engine.consume(n);
                Poll::Ready(Ok(()))
            }
        }

        impl AsyncBufRead for $ty {
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<std::io::Result<&[u8]>> {
                let engine = &mut self.get_mut().engine;
                if !ready!(engine.poll_fill(cx))? {
                    return Poll::Ready(Ok(&[]));
                }
                Poll::Ready(Ok(engine.buffer.front().expect("filled")))
            }

            fn consume(self: Pin<&mut Self>, amt: usize) {
                self.get_mut().engine.consume(amt);
            }
        }

        impl $ty {
            /// The next event (content, metadata or an offset jump), or
            /// `Ok(None)` at a clean end. Content buffered by `AsyncRead`
            /// use is returned first.
            pub async fn next_event(&mut self) -> Result<Option<ReadEvent>, Error> {
                if let Some(content) = self.engine.buffer.pop_front() {
                    let offset = self.engine.machine.offset()
                        - content.len() as i64
                        - self.engine.buffered() as i64;
                    return Ok(Some(ReadEvent::Content { offset, content }));
                }
                std::future::poll_fn(|cx| self.engine.poll_event(cx)).await
            }

            /// How many fragments this reader opened directly from their
            /// stores (rather than receiving content from a broker).
            pub fn fragments_opened(&self) -> u64 {
                self.engine.fragments_opened
            }

            /// Offset of the next byte a caller of `AsyncRead` receives
            /// (Go's `AdjustedOffset`).
            pub fn offset(&self) -> i64 {
                self.engine.machine.offset() - self.engine.buffered() as i64
            }
        }
    };
}

/// One Read RPC of a journal (Go's `Reader`): reads end at the stream's
/// end (EOF) or its first failure, which is surfaced as is and again by
/// every later read (a failed reader never reports a clean end). As an
/// `AsyncRead`, an offset jump is returned once as an error
/// ([`Error::OffsetJump`] inside the `io::Error`) and reading continues.
///
/// ```no_run
/// # async fn demo(client: &gazette_tokio::Client) -> gazette_tokio::Result<()> {
/// use gazette_tokio::proto::ReadRequest;
/// use gazette_tokio::{ReadEvent, Reader};
///
/// // The first KiB of the journal, as events.
/// let mut reader = Reader::new(client, ReadRequest::new("examples/hello").until(1024));
/// while let Some(event) = reader.next_event().await? {
///     match event {
///         ReadEvent::Content { offset, content } => println!("{} bytes at {offset}", content.len()),
///         ReadEvent::OffsetJump { from, to } => println!("content {from}..{to} is gone"),
///         ReadEvent::Metadata(_) => {}
///     }
/// }
/// # Ok(())
/// # }
/// ```
pub struct Reader {
    engine: Engine,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("offset", &self.offset())
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// A reader of `request` (journal, offset, block, ...). No RPC starts
    /// until the first read.
    pub fn new(client: &Client, request: ReadRequest) -> Self {
        let journal = request.journal.clone();
        Reader {
            engine: Engine::new(
                client,
                Machine::Single(ReaderMachine::new(request)),
                &journal,
            ),
        }
    }

    /// The core machine (write head, fragment, header of the last frame).
    pub fn machine(&self) -> &ReaderMachine {
        match &self.engine.machine {
            Machine::Single(m) => m,
            Machine::Retry(_) => unreachable!("a Reader drives a single machine"),
        }
    }
}

impl_async_read!(Reader);

impl Reader {
    /// Moves reading forward to `offset` (Go's limited `Reader.Seek`):
    /// within content already buffered, before the RPC started, or ahead
    /// within a fragment being read directly. Anything else needs a new
    /// reader ([`gazette_core::read::SeekError::RequiresNewReader`]).
    pub fn seek_to(&mut self, offset: i64) -> Result<i64, Error> {
        let current = self.offset();
        let buffered = self.engine.buffered() as i64;
        if offset >= current && offset - current <= buffered {
            self.engine.consume((offset - current) as usize);
            return Ok(offset);
        }
        let Machine::Single(m) = &mut self.engine.machine else {
            unreachable!("a Reader drives a single machine")
        };
        let moved = m.seek(offset)?;
        self.engine.buffer.clear();
        Ok(moved)
    }
}

impl tokio::io::AsyncSeek for Reader {
    fn start_seek(self: Pin<&mut Self>, position: std::io::SeekFrom) -> std::io::Result<()> {
        let this = self.get_mut();
        let target = match position {
            std::io::SeekFrom::Start(n) => n as i64,
            std::io::SeekFrom::Current(delta) => this.offset() + delta,
            std::io::SeekFrom::End(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "seeking from the end of a journal is not supported",
                ));
            }
        };
        this.seek_to(target).map(|_| ()).map_err(Into::into)
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        Poll::Ready(Ok(self.offset().max(0) as u64))
    }
}

/// A journal reader that restarts Read RPCs with Go's backoff (Go's
/// `RetryReader`). With `block = true` it tails the journal across broker
/// restarts; errors a caller must act on (not found, suspended, offset not
/// yet available without blocking, cancellation) are surfaced, after which
/// reading resumes on the next call.
///
/// ```no_run
/// # async fn demo(client: &gazette_tokio::Client) -> std::io::Result<()> {
/// use gazette_tokio::RetryReader;
/// use gazette_tokio::proto::ReadRequest;
/// use tokio::io::AsyncBufReadExt;
///
/// // Every line from offset 0, then new ones as they are appended.
/// let mut lines = RetryReader::new(client, ReadRequest::new("examples/hello")).lines();
/// while let Some(line) = lines.next_line().await? {
///     println!("{line}");
/// }
/// # Ok(())
/// # }
/// ```
pub struct RetryReader {
    engine: Engine,
    seek_target: Option<i64>,
}

impl std::fmt::Debug for RetryReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryReader")
            .field("offset", &self.offset())
            .finish_non_exhaustive()
    }
}

impl RetryReader {
    /// A retrying reader of `request`.
    pub fn new(client: &Client, request: ReadRequest) -> Self {
        let journal = request.journal.clone();
        RetryReader {
            engine: Engine::new(client, Machine::Retry(RetryMachine::new(request)), &journal),
            seek_target: None,
        }
    }

    /// The core machine.
    pub fn machine(&self) -> &RetryMachine {
        match &self.engine.machine {
            Machine::Retry(m) => m,
            Machine::Single(_) => unreachable!("a RetryReader drives a retry machine"),
        }
    }

    /// Switches blocking on or off (applies from the next RPC).
    pub fn set_block(&mut self, block: bool) {
        if let Machine::Retry(m) = &mut self.engine.machine {
            m.set_block(block);
        }
    }

    /// Moves reading to `offset`, keeping buffered content when the target
    /// lies within it (Go's `AdjustedSeek`). Returns the new offset.
    pub fn seek_to(&mut self, offset: i64) -> i64 {
        let buffered = self.engine.buffered();
        let Machine::Retry(m) = &mut self.engine.machine else {
            unreachable!("a RetryReader drives a retry machine")
        };
        match m.adjusted_seek(offset, buffered) {
            AdjustedSeek::Discard(n) => self.engine.consume(n as usize),
            AdjustedSeek::Reset(_) => {
                self.engine.buffer.clear();
                self.engine.ended = false;
            }
        }
        self.offset()
    }
}

impl_async_read!(RetryReader);

impl tokio::io::AsyncSeek for RetryReader {
    fn start_seek(self: Pin<&mut Self>, position: std::io::SeekFrom) -> std::io::Result<()> {
        let this = self.get_mut();
        let target = match position {
            std::io::SeekFrom::Start(n) => n as i64,
            std::io::SeekFrom::Current(delta) => this.offset() + delta,
            std::io::SeekFrom::End(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "seeking from the end of a journal is not supported",
                ));
            }
        };
        this.seek_target = Some(target);
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        let this = self.get_mut();
        let offset = match this.seek_target.take() {
            Some(target) => this.seek_to(target),
            None => this.offset(),
        };
        Poll::Ready(Ok(offset.max(0) as u64))
    }
}

/// The operation reads report in errors.
pub const OPERATION: Operation = Operation::Read;

#[cfg(test)]
mod tests {
    #[test]
    fn the_public_read_event_is_the_cores() {
        let core: gazette_core::read::ReadEvent =
            gazette_core::read::ReadEvent::OffsetJump { from: 1, to: 2 };
        let ours: crate::ReadEvent = core.clone();
        assert_eq!(ours, core);
        assert_eq!(ours.to_string(), "OffsetJump 1 -> 2");
    }
}
