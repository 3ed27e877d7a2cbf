//! Newline-delimited records of a journal: [`Records`], an `Iterator` of
//! [`Record`]s over a [`Reader`] or [`RetryReader`], framed by the core's
//! [`RecordFramer`] (the blocking counterpart of
//! [`gazette_tokio::Records`]).

use gazette_core::read::{Framed, RecordFramer};

pub use gazette_core::read::Record;

use crate::{Error, Reader, Result, RetryReader};

/// The newline-delimited records of a reader, as an `Iterator` of
/// `Result<Record>`: each record with the journal offsets it spans
/// (`begin..end`, its newline included), reassembled across chunks and
/// RPC restarts.
///
/// Errors of the reader pass through (a [`RetryReader`] resumes after
/// them, as do its timeouts). When an offset jump interrupts a record (or
/// the read ends without its newline), the iterator yields
/// [`gazette_tokio::Error::RecordDropped`] with the offsets discarded and
/// goes on with the next record.
///
/// ```no_run
/// # fn demo(client: &gazette_blocking::Client) -> gazette_blocking::Result<()> {
/// use gazette_blocking::proto::ReadRequest;
/// use gazette_blocking::{Records, RetryReader};
///
/// let reader = RetryReader::to_write_head(client, ReadRequest::new("examples/events"));
/// for record in Records::new(reader) {
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

impl<R> Records<R> {
    /// The records of `reader` (a [`Reader`] or [`RetryReader`]), from its
    /// current offset on.
    pub fn new(reader: R) -> Self {
        Records {
            reader,
            framer: RecordFramer::new(),
            done: false,
        }
    }

    /// Discards records longer than `max` bytes (newline included),
    /// yielding [`gazette_tokio::Error::RecordTooLong`] for each (see
    /// [`gazette_tokio::Records::with_max_len`]).
    pub fn with_max_len(mut self, max: usize) -> Self {
        self.framer.set_max_len(Some(max));
        self
    }

    /// The offset a new reader should start at to miss no record (see
    /// [`gazette_tokio::Records::resume_offset`]).
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

macro_rules! records_of {
    ($ty:ident) => {
        impl Iterator for Records<$ty> {
            type Item = Result<Record>;

            fn next(&mut self) -> Option<Result<Record>> {
                loop {
                    match self.framer.poll() {
                        Some(Framed::Record(record)) => return Some(Ok(record)),
                        Some(Framed::Dropped { begin, end }) => {
                            return Some(Err(Error::Driver(gazette_tokio::Error::RecordDropped {
                                begin,
                                end,
                            })));
                        }
                        Some(Framed::TooLong { begin, end }) => {
                            return Some(Err(Error::Driver(gazette_tokio::Error::RecordTooLong {
                                begin,
                                end,
                            })));
                        }
                        None if self.done => return None,
                        None => {}
                    }
                    match self.reader.next_event() {
                        Ok(Some(event)) => self.framer.handle(&event),
                        Ok(None) => {
                            self.framer.finish();
                            self.done = true;
                        }
                        Err(err) => return Some(Err(err)),
                    }
                }
            }
        }
    };
}

records_of!(Reader);
records_of!(RetryReader);
