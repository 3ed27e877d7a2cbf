//! Appending: [`Appender`] (one Append RPC as a `std::io::Write`, with an
//! explicit [`Appender::commit`]) and [`append()`] (a whole transaction with
//! retries), wrapping [`gazette_tokio::append`](mod@gazette_tokio::append).

use std::io::{self, Write};

use bytes::Bytes;
use gazette_proto::{AppendRequest, AppendResponse};
use tokio::io::AsyncWriteExt;

use crate::runtime::{block_on, block_on_cancellable};
use crate::{CancelHandle, Client, Result};

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
    inner: gazette_tokio::Appender,
}

impl std::fmt::Debug for Appender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Appender").field(&self.inner).finish()
    }
}

impl Appender {
    /// An Appender of `request` (the preamble: journal, optional offset,
    /// registers, suspend). Nothing is sent until the first write or the
    /// commit.
    pub fn new(client: &Client, request: AppendRequest) -> Result<Self> {
        Ok(Appender {
            inner: gazette_tokio::Appender::new(client.as_tokio(), request)?,
        })
    }

    /// The preamble this Appender sends.
    pub fn request(&self) -> &AppendRequest {
        self.inner.request()
    }

    /// The broker's response, once committed.
    pub fn response(&self) -> Option<&AppendResponse> {
        self.inner.response()
    }

    /// Queues `content` without copying it; blocks while the stream is
    /// backed up.
    pub fn write_bytes(&mut self, content: Bytes) -> Result<()> {
        Ok(block_on(self.inner.write_bytes(content))??)
    }

    /// Commits the append and returns the broker's response (the commit
    /// fragment carries the journal offsets the content landed at).
    pub fn commit(&mut self) -> Result<AppendResponse> {
        Ok(block_on(self.inner.commit())??)
    }

    /// Rolls the append back and waits for the stream to end.
    pub fn abort(self) -> Result<()> {
        block_on(self.inner.abort())
    }
}

impl Write for Appender {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        block_on(self.inner.write(buf))?
    }

    fn flush(&mut self) -> io::Result<()> {
        block_on(self.inner.flush())?
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
    Ok(block_on(gazette_tokio::append(
        client.as_tokio(),
        request,
        content,
    ))??)
}

/// [`append()`], failing with [`Error::Cancelled`](crate::Error::Cancelled)
/// once `cancel` is cancelled from another thread (before or while
/// waiting, retries included). An append cancelled before its commit
/// marker went out is rolled back; one cancelled while waiting for the
/// broker's answer may still have committed. Streaming appends have no
/// request deadline: this handle is how a caller bounds them.
pub fn append_cancellable(
    client: &Client,
    request: AppendRequest,
    content: &[Bytes],
    cancel: &CancelHandle,
) -> Result<AppendResponse> {
    Ok(block_on_cancellable(
        gazette_tokio::append(client.as_tokio(), request, content),
        cancel.token(),
    )??)
}
