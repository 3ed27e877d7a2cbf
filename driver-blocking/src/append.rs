//! Appending: [`Appender`] (one Append RPC as a `std::io::Write`, with an
//! explicit [`Appender::commit`]) and [`append()`] (a whole transaction with
//! retries), wrapping [`gazette_tokio::append`](mod@gazette_tokio::append).
//!
//! Both can be bounded: [`append_with`] takes [`CallOptions`] for the whole
//! transaction, and [`Appender::with_options`] bounds each of an
//! Appender's calls. Streaming appends have no request deadline of the
//! tokio driver, so these (or the client's
//! [`call_timeout`](crate::ClientBuilder::call_timeout)) are how a caller
//! bounds them.

use std::io::{self, Write};

use bytes::Bytes;
use gazette_proto::{AppendRequest, AppendResponse};
use tokio::io::AsyncWriteExt;

use crate::bound::Bound;
use crate::{CallOptions, CancelHandle, Client, Result};

/// One Append RPC, written through `std::io::Write` (or
/// [`Appender::write_bytes`] without copying) and committed with
/// [`Appender::commit`].
///
/// Content is visible to readers only after a successful commit. Dropping
/// an Appender without committing, or [`Appender::abort`], rolls the
/// append back. Brokers time out appends whose content stalls, so write
/// content that is at hand. `flush` waits until written content has been
/// handed to the RPC stream; it does not commit.
///
/// Each blocking call (`write`, `flush`, [`commit`](Appender::commit),
/// [`abort`](Appender::abort)) is bounded by the client's
/// [`call_timeout`](crate::ClientBuilder::call_timeout) or by
/// [`Appender::with_options`], and fails with
/// [`Error::Cancelled`](crate::Error::Cancelled) once
/// [`Appender::cancel_handle`] is cancelled. A commit that timed out or was
/// cancelled may still have committed; an append cancelled before its
/// commit is rolled back once the Appender is dropped.
///
/// ```no_run
/// use std::io::Write;
/// let client = gazette_blocking::Client::new("http://localhost:8080")?;
/// let request = gazette_blocking::proto::AppendRequest::new("examples/greetings");
/// let mut appender = gazette_blocking::Appender::new(&client, request)?;
/// appender.write_all(b"hello\n")?;
/// let response = appender.commit()?;
/// println!("committed {:?}", response.commit);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Appender {
    inner: Bound<gazette_tokio::Appender>,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Appender").field(self.inner.get()).finish()
    }
}

impl Appender {
    /// An Appender of `request` (the preamble: journal, optional offset,
    /// registers, suspend). Nothing is sent until the first write or the
    /// commit.
    pub fn new(client: &Client, request: AppendRequest) -> Result<Self> {
        let runtime = client.runtime().clone();
        let inner = {
            let _context = runtime.handle().enter();
            gazette_tokio::Appender::new(client.as_tokio(), request)?
        };
        Ok(Appender {
            inner: Bound::new(inner, runtime),
        })
    }

    /// Bounds each later blocking call of this Appender with `options`:
    /// its timeout, and its cancel handle (which then replaces the
    /// Appender's own) if it names one.
    pub fn with_options(mut self, options: CallOptions) -> Self {
        self.inner.set_options(options);
        self
    }

    /// A handle cancelling this Appender's blocking calls from another
    /// thread (permanently).
    pub fn cancel_handle(&self) -> CancelHandle {
        self.inner.cancel_handle().clone()
    }

    /// The preamble this Appender sends.
    pub fn request(&self) -> &AppendRequest {
        self.inner.get().request()
    }

    /// The broker's response, once committed.
    pub fn response(&self) -> Option<&AppendResponse> {
        self.inner.get().response()
    }

    /// Queues `content` without copying it; blocks while the stream is
    /// backed up.
    pub fn write_bytes(&mut self, content: Bytes) -> Result<()> {
        let written = self.inner.call(|mut inner, stop| async move {
            let written = stop.run(inner.write_bytes(content)).await;
            (inner, written)
        })?;
        Ok(written??)
    }

    /// Commits the append and returns the broker's response (the commit
    /// fragment carries the journal offsets the content landed at).
    pub fn commit(&mut self) -> Result<AppendResponse> {
        let committed = self.inner.call(|mut inner, stop| async move {
            let committed = stop.run(inner.commit()).await;
            (inner, committed)
        })?;
        Ok(committed??)
    }

    /// Rolls the append back and waits for the stream to end.
    pub fn abort(self) -> Result<()> {
        let (inner, runtime, options) = self.inner.into_inner()?;
        runtime.run(&options, inner.abort())
    }
}

impl Write for Appender {
    /// Queues a copy of `buf` (all of it); blocks while the stream is
    /// backed up. [`Appender::write_bytes`] avoids the copy.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_bytes(Bytes::copy_from_slice(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.inner.call(|mut inner, stop| async move {
            let flushed = stop.run(inner.flush()).await;
            (inner, flushed)
        })?;
        flushed?
    }
}

/// Appends the concatenation of `content` to `request.journal` as one
/// transaction, retrying on unavailable brokers and routing statuses with
/// Go's backoff (each attempt rewrites the whole content).
///
/// ```no_run
/// # fn demo(client: &gazette_blocking::Client) -> gazette_blocking::Result<()> {
/// use bytes::Bytes;
/// use gazette_blocking::proto::AppendRequest;
///
/// let records = [Bytes::from_static(b"one\n"), Bytes::from_static(b"two\n")];
/// let response = gazette_blocking::append(client, AppendRequest::new("examples/hello"), &records)?;
/// println!("committed {:?}", response.commit);
/// # Ok(())
/// # }
/// ```
pub fn append(
    client: &Client,
    request: AppendRequest,
    content: &[Bytes],
) -> Result<AppendResponse> {
    append_with(client, request, content, &CallOptions::new())
}

/// [`append()`], bounded by `options`: it fails with
/// [`Error::TimedOut`](crate::Error::TimedOut) or
/// [`Error::Cancelled`](crate::Error::Cancelled) once the timeout passed
/// or the handle was cancelled (before or while waiting, retries
/// included). An append stopped before its commit marker went out is
/// rolled back; one stopped while waiting for the broker's answer may
/// still have committed.
pub fn append_with(
    client: &Client,
    request: AppendRequest,
    content: &[Bytes],
    options: &CallOptions,
) -> Result<AppendResponse> {
    let tokio_client = client.as_tokio().clone();
    let content = content.to_vec(); // reference counts, not content
    Ok(client.runtime().run(options, async move {
        gazette_tokio::append(&tokio_client, request, &content).await
    })??)
}
