//! Reading journals: [`Reader`] (one Read RPC) and [`RetryReader`]
//! (restarting RPCs with Go's backoff), as `std::io::Read` + `BufRead` +
//! `Seek`, each wrapping its
//! [`gazette_tokio::read`] counterpart, which runs on the client's runtime
//! thread during each call.
//!
//! Each reader has a [`CancelHandle`] ([`RetryReader::cancel_handle`]):
//! cancelling it from another thread fails a blocked read with
//! [`Error::Cancelled`](crate::Error::Cancelled) (inside the `io::Error`,
//! see [`Error::from_io`](crate::Error::from_io)), and every later call
//! too, as with a cancelled context in Go. A timeout
//! ([`RetryReader::with_options`], [`RetryReader::set_timeout`], or the
//! client's [`call_timeout`](crate::ClientBuilder::call_timeout)) bounds
//! each call separately: a read that gets no content within it fails with
//! [`Error::TimedOut`](crate::Error::TimedOut) (an `io::Error` of kind
//! `TimedOut`), and the reader stays usable: the next read continues where
//! reading stood.

use std::future::poll_fn;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use gazette_proto::ReadRequest;
use tokio::io::AsyncBufRead;

use crate::bound::Bound;
use crate::{CallOptions, CancelHandle, Client, ReadEvent, Result};

/// `fill_buf` of an async buffered reader: content, the end or an error
/// already at hand is returned at once; otherwise the reader waits on the
/// runtime until one of them is, and the content is then borrowed here.
fn fill_buf<R>(bound: &mut Bound<R>) -> io::Result<&[u8]>
where
    R: AsyncBufRead + Unpin + Send + 'static,
{
    // One poll that cannot block (a reader that is not ready registers
    // this no-op waker, which the runtime's poll below replaces).
    let at_hand = if bound.cancel_handle().is_cancelled() {
        None
    } else {
        bound.poll_now(|inner, cx| match Pin::new(inner).poll_fill_buf(cx) {
            Poll::Ready(filled) => Some(filled.map(<[u8]>::len)),
            Poll::Pending => None,
        })
    };
    match at_hand {
        Some(filled) => {
            filled?;
        }
        None => {
            let filled = bound.call(|mut inner, stop| async move {
                let filled = stop
                    .run(poll_fn(|cx| {
                        Pin::new(&mut inner).poll_fill_buf(cx).map_ok(<[u8]>::len)
                    }))
                    .await;
                (inner, filled)
            })?;
            filled??;
        }
    }
    // The buffer is filled (or at its end), so this poll is ready at once.
    bound.poll_now(|inner, cx| match Pin::new(inner).poll_fill_buf(cx) {
        Poll::Ready(result) => result,
        Poll::Pending => Err(io::Error::other("reader buffer emptied between polls")),
    })
}

macro_rules! blocking_reader {
    ($ty:ident) => {
        impl $ty {
            /// A handle cancelling this reader's blocking calls from another
            /// thread (permanently).
            pub fn cancel_handle(&self) -> CancelHandle {
                self.inner.cancel_handle().clone()
            }

            /// Bounds each later blocking call of this reader with
            /// `options`: its timeout, and its cancel handle (which then
            /// replaces the reader's own) if it names one.
            pub fn with_options(mut self, options: CallOptions) -> Self {
                self.inner.set_options(options);
                self
            }

            /// Bounds each later blocking call of this reader by `timeout`
            /// (None: unbounded), keeping its cancel handle.
            pub fn set_timeout(&mut self, timeout: Option<Duration>) {
                let options = match timeout {
                    Some(timeout) => CallOptions::new().timeout(timeout),
                    None => CallOptions::new().no_timeout(),
                };
                self.inner.set_options(options);
            }

            /// The timeout of each blocking call of this reader.
            pub fn timeout(&self) -> Option<Duration> {
                self.inner
                    .options()
                    .effective_timeout(self.inner.runtime().call_timeout())
            }

            /// The next event (content, metadata or an offset jump), or
            /// `Ok(None)` at a clean end. Content buffered by `Read` /
            /// `BufRead` use is returned first.
            pub fn next_event(&mut self) -> Result<Option<ReadEvent>> {
                let event = self.inner.call(|mut inner, stop| async move {
                    let event = stop.run(inner.next_event()).await;
                    (inner, event)
                })?;
                Ok(event??)
            }

            /// Offset of the next byte `Read` returns (Go's
            /// `AdjustedOffset`).
            pub fn offset(&self) -> i64 {
                self.inner.get().offset()
            }

            /// The tokio reader this one wraps.
            pub fn as_tokio(&self) -> &gazette_tokio::$ty {
                self.inner.get()
            }
        }

        impl Read for $ty {
            /// Reads journal content. An offset jump is returned once as an
            /// error carrying [`gazette_tokio::Error::OffsetJump`] (see
            /// [`Error::driver_from_io`](crate::Error::driver_from_io));
            /// reading continues after it.
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if buf.is_empty() {
                    return Ok(0);
                }
                let available = self.fill_buf()?;
                let n = available.len().min(buf.len());
                buf[..n].copy_from_slice(&available[..n]);
                self.consume(n);
                Ok(n)
            }
        }

        impl BufRead for $ty {
            fn fill_buf(&mut self) -> io::Result<&[u8]> {
                fill_buf(&mut self.inner)
            }

            fn consume(&mut self, amt: usize) {
                Pin::new(self.inner.get_mut()).consume(amt);
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("offset", &self.offset())
                    .field("timeout", &self.timeout())
                    .field("cancelled", &self.inner.cancel_handle().is_cancelled())
                    .finish_non_exhaustive()
            }
        }
    };
}

/// One Read RPC of a journal (Go's `Reader`), blocking: reads end at the
/// stream's end (EOF, `Ok(0)`) or its first failure, which is surfaced as
/// is (e.g. `OFFSET_NOT_YET_AVAILABLE` at the write head of a non-blocking
/// read, `JOURNAL_NOT_FOUND`) and again by every later call: a failed
/// reader never reports a clean end.
///
/// Its `Seek` is Go's limited `Reader.Seek`: forward within content already
/// buffered, before the RPC started, or ahead within a fragment being read
/// directly. Anything else fails with
/// [`gazette_core::read::SeekError::RequiresNewReader`] inside the
/// `io::Error`: start a new `Reader` (or use [`RetryReader`], which seeks
/// anywhere).
///
/// ```no_run
/// # fn demo(client: &gazette_blocking::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use gazette_blocking::proto::{ReadRequest, Status};
/// use gazette_blocking::{Error, Reader};
/// use std::io::Read;
///
/// // Everything written so far: a non-blocking read ends at the write head
/// // with OFFSET_NOT_YET_AVAILABLE.
/// let mut reader = Reader::new(client, ReadRequest::new("examples/hello").blocking(false));
/// let mut content = Vec::new();
/// match reader.read_to_end(&mut content) {
///     Ok(_) => {}
///     Err(err) if Error::driver_from_io(&err)
///         .is_some_and(|e| e.is_status(Status::OffsetNotYetAvailable)) => {}
///     Err(err) => return Err(err.into()),
/// }
/// println!("{} bytes, up to offset {}", content.len(), reader.offset());
/// # Ok(())
/// # }
/// ```
pub struct Reader {
    inner: Bound<gazette_tokio::Reader>,
}

impl Reader {
    /// A reader of `request` (journal, offset, end offset, block, ...). No
    /// RPC starts until the first read.
    pub fn new(client: &Client, request: ReadRequest) -> Self {
        Reader {
            inner: Bound::new(
                gazette_tokio::Reader::new(client.as_tokio(), request),
                client.runtime().clone(),
            ),
        }
    }
}

blocking_reader!(Reader);

impl Reader {
    /// Moves reading to `offset` where Go's `Reader.Seek` can (see the
    /// type's docs); returns the new offset.
    pub fn seek_to(&mut self, offset: i64) -> Result<i64> {
        Ok(self.inner.poll_now(|inner, _| inner.seek_to(offset))?)
    }
}

impl Seek for Reader {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        let target = seek_target(position, self.offset())?;
        Ok(self.seek_to(target)? as u64)
    }
}

/// The absolute journal offset `position` names, from `current`.
fn seek_target(position: SeekFrom, current: i64) -> io::Result<i64> {
    let target = match position {
        SeekFrom::Start(n) => i64::try_from(n)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset beyond i64::MAX"))?,
        SeekFrom::Current(delta) => current
            .checked_add(delta)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "offset overflows i64"))?,
        SeekFrom::End(_) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "seeking from the end of a journal is not supported",
            ));
        }
    };
    if target < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot seek before offset 0",
        ));
    }
    Ok(target)
}

/// A journal reader that restarts Read RPCs with Go's backoff (Go's
/// `RetryReader`), blocking. With `block = true` it tails the journal
/// across broker restarts; errors a caller must act on (not found,
/// suspended, offset not yet available without blocking) are surfaced,
/// after which reading resumes on the next call.
///
/// It implements `Seek` from the start or the current offset (seeking from
/// the end is `Unsupported`), keeping buffered content when the target
/// lies within it (Go's `AdjustedSeek`).
///
/// ```no_run
/// # fn demo(client: &gazette_blocking::Client) -> std::io::Result<()> {
/// use gazette_blocking::RetryReader;
/// use gazette_blocking::proto::ReadRequest;
/// use std::io::BufRead;
///
/// // Every line from offset 0, then new ones as they are appended.
/// for line in RetryReader::new(client, ReadRequest::new("examples/hello")).lines() {
///     println!("{}", line?);
/// }
/// # Ok(())
/// # }
/// ```
pub struct RetryReader {
    inner: Bound<gazette_tokio::RetryReader>,
}

impl RetryReader {
    /// A retrying reader of `request`.
    pub fn new(client: &Client, request: ReadRequest) -> Self {
        RetryReader {
            inner: Bound::new(
                gazette_tokio::RetryReader::new(client.as_tokio(), request),
                client.runtime().clone(),
            ),
        }
    }

    /// A retrying reader of `request` that ends cleanly at the journal's
    /// write head (it never blocks; see
    /// [`gazette_tokio::RetryReader::to_write_head`]).
    pub fn to_write_head(client: &Client, request: ReadRequest) -> Self {
        RetryReader {
            inner: Bound::new(
                gazette_tokio::RetryReader::to_write_head(client.as_tokio(), request),
                client.runtime().clone(),
            ),
        }
    }

    /// Switches blocking on or off (applies from the next RPC).
    pub fn set_block(&mut self, block: bool) {
        self.inner.get_mut().set_block(block);
    }

    /// Moves reading to `offset` and returns the new offset (Go's
    /// `AdjustedSeek`).
    pub fn seek_to(&mut self, offset: i64) -> i64 {
        self.inner.poll_now(|inner, _| inner.seek_to(offset))
    }
}

blocking_reader!(RetryReader);

impl Seek for RetryReader {
    fn seek(&mut self, position: SeekFrom) -> io::Result<u64> {
        let target = seek_target(position, self.offset())?;
        Ok(self.seek_to(target) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing listens on port 1 of the loopback address.
    const UNREACHABLE: &str = "http://127.0.0.1:1";

    #[test]
    fn a_failed_reader_fails_every_later_read_too() {
        let client = Client::new(UNREACHABLE).unwrap();
        let mut reader = Reader::new(
            &client,
            ReadRequest {
                journal: "a/journal".into(),
                ..Default::default()
            },
        );
        let mut buf = [0u8; 16];
        let first = reader.read(&mut buf).expect_err("nothing listens");
        let first = crate::Error::driver_from_io(&first)
            .expect("a driver error")
            .to_string();
        for _ in 0..3 {
            let again = reader.read(&mut buf).expect_err("never a clean end");
            let again = crate::Error::driver_from_io(&again).expect("a driver error");
            assert_eq!(again.to_string(), first);
            let err = reader.fill_buf().expect_err("BufRead too");
            assert!(crate::Error::driver_from_io(&err).is_some(), "{err}");
            assert!(reader.next_event().is_err());
        }
    }
}
