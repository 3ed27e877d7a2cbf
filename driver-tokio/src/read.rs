//! Reading: [`Reader`] (one Read RPC) and [`RetryReader`] (restarting RPCs
//! with backoff), both `AsyncRead` + `AsyncBufRead` handles of a read
//! operation of the core client.
//!
//! The core decides everything protocol-related (frame validation,
//! offsets and jumps, statuses, retries, routing, when to read a fragment
//! directly); a handle starts the operation, takes its events and buffers
//! the content its caller has not consumed yet.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use gazette_core::client::{Event, OpError, OpId, Seek, SeekError as ClientSeekError};
use gazette_core::read::{ReadError, SeekError};
use gazette_core::status::Operation;
use gazette_proto::ReadRequest;
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

use crate::Error;
use crate::client::Client;

pub use gazette_core::read::ReadEvent;

/// The state both readers share: the operation, the content taken from
/// it and not yet consumed, and how it ended.
struct ReadHandle {
    client: Client,
    retry: bool,
    /// A retrying read that ends cleanly at the write head.
    to_head: bool,
    /// The write head of the last metadata frame taken.
    write_head: Option<i64>,
    /// The request of the next operation to start (set until started, and
    /// again after a retrying read completed and was sought elsewhere).
    request: ReadRequest,
    op: Option<OpId>,
    /// Content taken from the operation and not yet consumed.
    buffer: VecDeque<Bytes>,
    /// Journal offset just past the last content, jump or metadata taken.
    next_offset: i64,
    /// Set after a clean end.
    ended: bool,
    /// A failure that ended the operation: returned again by every later
    /// call, so a caller that reads on after an error never sees a clean
    /// end (Go's Reader repeats its error too).
    failed: Option<ReadError>,
    /// A retrying read surfaced a failure; it resumes on the next call.
    stopped: bool,
    fragments_opened: u64,
    span: tracing::Span,
}

impl ReadHandle {
    fn new(client: &Client, request: ReadRequest, retry: bool) -> Self {
        let span = tracing::debug_span!("gazette.read", journal = %request.journal);
        ReadHandle {
            client: client.clone(),
            retry,
            to_head: false,
            write_head: None,
            next_offset: request.offset,
            request,
            op: None,
            buffer: VecDeque::new(),
            ended: false,
            failed: None,
            stopped: false,
            fragments_opened: 0,
            span,
        }
    }

    fn op(&mut self) -> OpId {
        match self.op {
            Some(op) => op,
            None => {
                let (request, retry, to_head) = (self.request.clone(), self.retry, self.to_head);
                let op = self
                    .client
                    .engine()
                    .start_op(|core, now| {
                        Ok::<_, ()>(match to_head {
                            true => core.read_to_head(request, now),
                            false => core.read(request, retry, now),
                        })
                    })
                    .expect("starting a read cannot fail");
                self.op = Some(op);
                op
            }
        }
    }

    /// The next event, `Ok(None)` at a clean end.
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<ReadEvent>, Error>> {
        let _enter = self.span.clone().entered();
        if self.stopped {
            self.stopped = false;
            if let Some(op) = self.op {
                self.client
                    .engine()
                    .call(|core, now| core.resume_read(op, now));
            }
        }
        loop {
            if let Some(err) = &self.failed {
                return Poll::Ready(Err(Error::Read(err.clone())));
            }
            if self.ended {
                return Poll::Ready(Ok(None));
            }
            let op = self.op();
            let event = match ready!(self.client.engine().poll_event(op, cx)) {
                Some(event) => event,
                None => {
                    // The operation is gone without a Finished event: the
                    // contract rules this out.
                    debug_assert!(false, "read {op} ended without Finished");
                    self.op = None;
                    self.ended = true;
                    continue;
                }
            };
            match event {
                Event::Read { event, .. } => {
                    match &event {
                        ReadEvent::Content { offset, content } => {
                            self.next_offset = offset + content.len() as i64
                        }
                        ReadEvent::OffsetJump { to, .. } => self.next_offset = *to,
                        ReadEvent::Metadata(metadata) => {
                            self.next_offset = metadata.offset;
                            self.write_head = Some(metadata.write_head);
                        }
                    }
                    return Poll::Ready(Ok(Some(event)));
                }
                Event::ReadStopped { error, .. } => {
                    self.stopped = true;
                    return Poll::Ready(Err(Error::Read(error)));
                }
                Event::Finished { result, .. } => {
                    self.fragments_opened += self.client.engine().fragments_opened(op);
                    self.client.engine().close(op);
                    self.op = None;
                    match result {
                        Ok(_) => self.ended = true,
                        Err(OpError::Read(err)) => self.failed = Some(err),
                        Err(other) => {
                            self.failed = Some(ReadError::Transport(
                                gazette_core::TransportError::Other(other.to_string()),
                            ))
                        }
                    }
                }
                _ => {}
            }
        }
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
        crate::engine::content_len(&self.buffer)
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

    /// Offset of the next byte a caller of `AsyncRead` receives.
    fn offset(&self) -> i64 {
        self.next_offset - self.buffered() as i64
    }

    fn set_block(&mut self, block: bool) {
        self.request.block = block;
        if let Some(op) = self.op {
            self.client
                .engine()
                .call(|core, _| core.set_read_block(op, block));
        }
    }

    /// Seeks the operation; before it started, or once it ended, the next
    /// one starts at `target`.
    fn seek(&mut self, target: i64) -> Result<i64, Error> {
        if let Some(op) = self.op {
            // Content the operation delivered counts as buffered.
            for (offset, content) in self.client.engine().take_content(op) {
                self.next_offset = offset + content.len() as i64;
                self.buffer.push_back(content);
            }
        }
        // A target within the content taken and not consumed is served
        // from it (Go: within the buffered frame; AdjustedSeek).
        let buffered = self.buffered();
        let delta = target - self.offset();
        if delta >= 0 && delta as u64 <= buffered {
            self.consume(delta as usize);
            return Ok(target);
        }
        let Some(op) = self.op else {
            if self.ended && !self.retry {
                return Err(SeekError::RequiresNewReader.into());
            }
            self.restart_at(target);
            return Ok(target);
        };
        match self.client.engine().seek(op, target, buffered) {
            Ok(Seek::Discard(n)) => self.consume(n as usize),
            Ok(Seek::Reset(offset)) => {
                self.buffer.clear();
                self.next_offset = offset;
                self.ended = false;
            }
            // The operation ended meanwhile (its end is still queued): a
            // retrying read starts again at the target.
            Err(ClientSeekError::NotARead) if self.retry => {
                self.client.engine().close(op);
                self.op = None;
                self.restart_at(target);
            }
            Err(_) => return Err(SeekError::RequiresNewReader.into()),
        }
        Ok(self.offset())
    }

    /// The next operation starts at `target` (lazily, on the next read).
    fn restart_at(&mut self, target: i64) {
        self.request.offset = target;
        self.next_offset = target;
        self.buffer.clear();
        self.ended = false;
        self.failed = None;
    }

    async fn next_event(&mut self) -> Result<Option<ReadEvent>, Error> {
        if let Some(content) = self.buffer.pop_front() {
            let offset = self.next_offset - content.len() as i64 - self.buffered() as i64;
            return Ok(Some(ReadEvent::Content { offset, content }));
        }
        std::future::poll_fn(|cx| self.poll_event(cx)).await
    }

    fn fragments_opened(&self) -> u64 {
        let open = self
            .op
            .map_or(0, |op| self.client.engine().fragments_opened(op));
        self.fragments_opened + open
    }

    fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !ready!(self.poll_fill(cx))? {
            return Poll::Ready(Ok(()));
        }
        let front = self.buffer.front().expect("filled");
        let n = front.len().min(buf.remaining());
        buf.put_slice(&front[..n]);
        self.consume(n);
        Poll::Ready(Ok(()))
    }

    fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<&[u8]>> {
        if !ready!(self.poll_fill(cx))? {
            return Poll::Ready(Ok(&[]));
        }
        Poll::Ready(Ok(self.buffer.front().expect("filled")))
    }

    fn target(&self, position: std::io::SeekFrom) -> std::io::Result<i64> {
        let invalid = |reason: &str| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, reason.to_string())
        };
        match position {
            std::io::SeekFrom::Start(n) => {
                i64::try_from(n).map_err(|_| invalid("seek offset overflows a journal offset"))
            }
            std::io::SeekFrom::Current(delta) => {
                let target = self
                    .offset()
                    .checked_add(delta)
                    .ok_or_else(|| invalid("seek offset overflows a journal offset"))?;
                if target < 0 {
                    return Err(invalid("seek to a negative offset"));
                }
                Ok(target)
            }
            std::io::SeekFrom::End(_) => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "seeking from the end of a journal is not supported",
            )),
        }
    }
}

impl Drop for ReadHandle {
    fn drop(&mut self) {
        if let Some(op) = self.op.take() {
            self.client.engine().close(op);
        }
    }
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
    handle: ReadHandle,
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
    handle: ReadHandle,
    seek_target: Option<i64>,
}

impl Reader {
    /// A reader of `request` (journal, offset, block, ...). No RPC starts
    /// until the first read.
    pub fn new(client: &Client, request: ReadRequest) -> Self {
        Reader {
            handle: ReadHandle::new(client, request, false),
        }
    }

    /// Moves reading forward to `offset` (Go's limited `Reader.Seek`):
    /// within content already buffered, before the RPC started, or ahead
    /// within a fragment being read directly. Anything else needs a new
    /// reader ([`gazette_core::read::SeekError::RequiresNewReader`]).
    pub fn seek_to(&mut self, offset: i64) -> Result<i64, Error> {
        self.handle.seek(offset)
    }
}

impl RetryReader {
    /// A retrying reader of `request`.
    pub fn new(client: &Client, request: ReadRequest) -> Self {
        RetryReader {
            handle: ReadHandle::new(client, request, true),
            seek_target: None,
        }
    }

    /// A retrying reader of `request` that ends cleanly at the journal's
    /// write head (it never blocks): reading to the end gives everything
    /// written so far, with no `OFFSET_NOT_YET_AVAILABLE` to handle.
    ///
    /// ```no_run
    /// # async fn demo(client: &gazette_tokio::Client) -> std::io::Result<()> {
    /// use gazette_tokio::RetryReader;
    /// use gazette_tokio::proto::ReadRequest;
    /// use tokio::io::AsyncReadExt;
    ///
    /// let mut export = Vec::new();
    /// RetryReader::to_write_head(client, ReadRequest::new("examples/hello"))
    ///     .read_to_end(&mut export)
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn to_write_head(client: &Client, request: ReadRequest) -> Self {
        let mut handle = ReadHandle::new(client, request, true);
        handle.to_head = true;
        RetryReader {
            handle,
            seek_target: None,
        }
    }

    /// Switches blocking on or off (applies from the next RPC).
    pub fn set_block(&mut self, block: bool) {
        self.handle.set_block(block);
    }

    /// Moves reading to `offset`, keeping buffered content when the target
    /// lies within it (Go's `AdjustedSeek`). Returns the new offset.
    pub fn seek_to(&mut self, offset: i64) -> i64 {
        match self.handle.seek(offset) {
            Ok(offset) => offset,
            // A retrying read serves every seek.
            Err(_) => self.handle.offset(),
        }
    }
}

macro_rules! read_handle_impls {
    ($ty:ty, $name:literal) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct($name)
                    .field("offset", &self.offset())
                    .finish_non_exhaustive()
            }
        }

        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<std::io::Result<()>> {
                self.get_mut().handle.poll_read(cx, buf)
            }
        }

        impl AsyncBufRead for $ty {
            fn poll_fill_buf(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<std::io::Result<&[u8]>> {
                self.get_mut().handle.poll_fill_buf(cx)
            }

            fn consume(self: Pin<&mut Self>, amt: usize) {
                self.get_mut().handle.consume(amt);
            }
        }

        impl $ty {
            /// The next event (content, metadata or an offset jump), or
            /// `Ok(None)` at a clean end. Content buffered by `AsyncRead`
            /// use is returned first.
            pub async fn next_event(&mut self) -> Result<Option<ReadEvent>, Error> {
                self.handle.next_event().await
            }

            /// How many fragments this reader opened directly from their
            /// stores (rather than receiving content from a broker).
            pub fn fragments_opened(&self) -> u64 {
                self.handle.fragments_opened()
            }

            /// Offset of the next byte a caller of `AsyncRead` receives
            /// (Go's `AdjustedOffset`).
            pub fn offset(&self) -> i64 {
                self.handle.offset()
            }

            /// The journal's write head as of the last metadata frame read
            /// (None before the first).
            pub fn write_head(&self) -> Option<i64> {
                self.handle.write_head
            }
        }

        /// The reader's events (content, metadata, offset jumps) as a
        /// stream, ending at the read's clean end. Content buffered by
        /// `AsyncRead` use comes first.
        impl futures::Stream for $ty {
            type Item = Result<ReadEvent, Error>;

            fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
                let handle = &mut self.get_mut().handle;
                if let Some(content) = handle.buffer.pop_front() {
                    let offset =
                        handle.next_offset - content.len() as i64 - handle.buffered() as i64;
                    return Poll::Ready(Some(Ok(ReadEvent::Content { offset, content })));
                }
                handle.poll_event(cx).map(Result::transpose)
            }
        }
    };
}

read_handle_impls!(Reader, "Reader");
read_handle_impls!(RetryReader, "RetryReader");

impl tokio::io::AsyncSeek for Reader {
    fn start_seek(self: Pin<&mut Self>, position: std::io::SeekFrom) -> std::io::Result<()> {
        let this = self.get_mut();
        let target = this.handle.target(position)?;
        this.seek_to(target).map(|_| ()).map_err(Into::into)
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        Poll::Ready(Ok(self.offset().max(0) as u64))
    }
}

impl tokio::io::AsyncSeek for RetryReader {
    fn start_seek(self: Pin<&mut Self>, position: std::io::SeekFrom) -> std::io::Result<()> {
        let this = self.get_mut();
        this.seek_target = Some(this.handle.target(position)?);
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
