//! Newline-delimited records of a journal: [`Records`], a `Stream` of
//! [`Record`]s over a [`Reader`](crate::Reader) or
//! [`RetryReader`], framed by the core's
//! [`RecordFramer`].

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::Stream;
use gazette_core::read::{Framed, RecordFramer};

pub use gazette_core::read::Record;

use crate::{Error, ReadEvent, RetryReader};

/// The newline-delimited records of a reader, as a `Stream` of
/// `Result<Record>`: each record with the journal offsets it spans
/// (`begin..end`, its newline included), reassembled across chunks and
/// RPC restarts.
///
/// Errors of the reader pass through (a [`RetryReader`] resumes after
/// them). When an offset jump interrupts a record (or the read ends
/// without its newline), the stream yields
/// [`Error::RecordDropped`] with the offsets of the bytes discarded, and
/// goes on with the next record: bytes on both sides of a jump are never
/// glued together. [`resume_offset`](Self::resume_offset) is where a new
/// reader would start to lose nothing.
///
/// ```no_run
/// # async fn demo(client: &gazette_tokio::Client) -> gazette_tokio::Result<()> {
/// use futures::StreamExt;
/// use gazette_tokio::proto::ReadRequest;
/// use gazette_tokio::{Records, RetryReader};
///
/// // Every record written so far.
/// let reader = RetryReader::to_write_head(client, ReadRequest::new("examples/events"));
/// let mut records = Records::new(reader);
/// while let Some(record) = records.next().await {
///     let record = record?;
///     println!("{}..{}: {:?}", record.begin, record.end, record.line());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Records<R> {
    reader: R,
    framer: RecordFramer,
    done: bool,
}

impl<R> Records<R>
where
    R: Stream<Item = Result<ReadEvent, Error>> + Unpin,
{
    /// The records of `reader` (a [`Reader`](crate::Reader) or
    /// [`RetryReader`], or any stream of read events), from its current
    /// offset on.
    pub fn new(reader: R) -> Self {
        Records {
            reader,
            framer: RecordFramer::new(),
            done: false,
        }
    }
}

impl<R> Records<R> {
    /// Discards records longer than `max` bytes (newline included) instead
    /// of buffering them whole, yielding [`Error::RecordTooLong`] for each
    /// (unbounded by default).
    pub fn with_max_len(mut self, max: usize) -> Self {
        self.framer.set_max_len(Some(max));
        self
    }

    /// The offset a new reader should start at to miss no record: the
    /// first byte of a record begun and not finished, or just past the
    /// last record yielded (None before the reader delivered anything).
    pub fn resume_offset(&self) -> Option<i64> {
        self.framer.resume_offset()
    }

    /// The reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The reader, dropping any partial record held.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl Records<RetryReader> {
    /// Moves reading to `offset` (see [`RetryReader::seek_to`]); a record
    /// begun elsewhere is dropped (reported), one begun at `offset` is
    /// read again from its start. Seek to a record's boundary (a
    /// record's `begin` or `end`, or [`resume_offset`](Self::resume_offset)):
    /// the bytes from a target inside a record are framed as a record.
    pub fn seek_to(&mut self, offset: i64) -> i64 {
        let offset = self.reader.seek_to(offset);
        self.framer.restart(offset);
        offset
    }
}

impl<R> Stream for Records<R>
where
    R: Stream<Item = Result<ReadEvent, Error>> + Unpin,
{
    type Item = Result<Record, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.framer.poll() {
                Some(Framed::Record(record)) => return Poll::Ready(Some(Ok(record))),
                Some(Framed::Dropped { begin, end }) => {
                    return Poll::Ready(Some(Err(Error::RecordDropped { begin, end })));
                }
                Some(Framed::TooLong { begin, end }) => {
                    return Poll::Ready(Some(Err(Error::RecordTooLong { begin, end })));
                }
                None if this.done => return Poll::Ready(None),
                None => {}
            }
            match ready!(Pin::new(&mut this.reader).poll_next(cx)) {
                Some(Ok(event)) => this.framer.handle(&event),
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => {
                    this.framer.finish();
                    this.done = true;
                }
            }
        }
    }
}
