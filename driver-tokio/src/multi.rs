//! Reading every journal of a selector at once: [`MultiReader`], a
//! `Stream` of the newline-delimited records of each journal a
//! [`WatchedList`] lists, following it as journals come and go.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use gazette_core::read::JournalSet;
use gazette_proto::{LabelSelector, ReadRequest};
use tokio_stream::StreamMap;

use crate::{Client, Error, Record, Records, RetryReader, WatchedList};

/// A record of one journal of a [`MultiReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRecord {
    /// The journal's name.
    pub journal: Arc<str>,
    /// The record, with its offsets in that journal.
    pub record: Record,
}

/// The records of every journal matching a selector, as one `Stream` of
/// `Result<JournalRecord>`: a [`WatchedList`] of the selector starts a
/// tailing [`RetryReader`] (framed by [`Records`]) for each journal it
/// lists and drops it when the journal leaves the listing (deleted, or its
/// labels no longer match). Records of one journal come in order; those of
/// different journals interleave as they arrive.
///
/// It resumes from a map of offsets ([`offsets`](Self::offsets), saved by
/// the caller): a journal in it is read from its offset, any other from
/// the default offset (0, or [`with_default_offset`](Self::with_default_offset)).
/// The stream does not end while the watch goes on. Errors are items and
/// reading goes on after them: a journal's error comes as
/// [`Error::Journal`] naming it, an interrupted watch as [`Error::List`].
///
/// ```no_run
/// # async fn demo(client: &gazette_tokio::Client) -> gazette_tokio::Result<()> {
/// use futures::StreamExt;
/// use gazette_tokio::MultiReader;
/// use gazette_tokio::proto::LabelSelector;
/// use std::collections::BTreeMap;
///
/// let selector = LabelSelector::journal_prefix("examples/");
/// let mut reader = MultiReader::new(client, selector, BTreeMap::new());
/// while let Some(item) = reader.next().await {
///     let item = item?;
///     println!("{} @ {}: {:?}", item.journal, item.record.begin, item.record.line());
///     // `reader.offsets()` is what to save to resume later.
/// }
/// # Ok(())
/// # }
/// ```
pub struct MultiReader {
    client: Client,
    watch: WatchedList,
    set: JournalSet,
    readers: StreamMap<Arc<str>, Records<RetryReader>>,
    watch_done: bool,
    max_len: Option<usize>,
}

impl std::fmt::Debug for MultiReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiReader")
            .field("offsets", self.set.offsets())
            .finish_non_exhaustive()
    }
}

impl MultiReader {
    /// Reads every journal matching `selector`, resuming those of
    /// `offsets` (must be called within a tokio runtime, as
    /// [`WatchedList::new`]).
    pub fn new(client: &Client, selector: LabelSelector, offsets: BTreeMap<String, i64>) -> Self {
        MultiReader {
            client: client.clone(),
            watch: WatchedList::new(client.clone(), selector),
            set: JournalSet::new(offsets),
            readers: StreamMap::new(),
            watch_done: false,
            max_len: None,
        }
    }

    /// The offset journals without a saved one are read from (0 by
    /// default; −1 for only what is appended from now on). Applies to
    /// journals listed after this call.
    pub fn with_default_offset(mut self, offset: i64) -> Self {
        self.set_default_offset(offset);
        self
    }

    /// Skips records longer than `max` bytes (newline included), as
    /// [`Records::with_max_len`] (each is an [`Error::Journal`] item of
    /// [`Error::RecordTooLong`]). Applies to journals listed after this call.
    pub fn with_max_record_len(mut self, max: usize) -> Self {
        self.max_len = Some(max);
        self
    }

    /// Sets the offset journals without a saved one are read from (see
    /// [`with_default_offset`](Self::with_default_offset)).
    pub fn set_default_offset(&mut self, offset: i64) {
        self.set = std::mem::take(&mut self.set).with_default_offset(offset);
    }

    /// Each journal's offset just past its last record yielded (or where
    /// it started): save it, and pass it to [`new`](Self::new) to resume.
    pub fn offsets(&self) -> &BTreeMap<String, i64> {
        self.set.offsets()
    }

    /// The journals being read.
    pub fn journals(&self) -> impl Iterator<Item = &str> {
        self.set.journals()
    }

    fn take_snapshot(&mut self, snapshot: &gazette_proto::ListResponse) {
        let listed = snapshot
            .journals
            .iter()
            .filter_map(|j| j.spec.as_ref().map(|s| s.name.as_str()));
        let changes = self.set.update(listed);
        for journal in changes.stop {
            tracing::debug!(%journal, "journal no longer listed; reading stops");
            self.readers.remove(journal.as_str());
        }
        for (journal, offset) in changes.start {
            tracing::debug!(%journal, offset, "journal listed; reading starts");
            let request = ReadRequest::new(journal.clone()).from_offset(offset);
            let reader = RetryReader::new(&self.client, request);
            let mut records = Records::new(reader);
            if let Some(max) = self.max_len {
                records = records.with_max_len(max);
            }
            self.readers.insert(journal.into(), records);
        }
    }
}

impl Stream for MultiReader {
    type Item = Result<JournalRecord, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // Every snapshot at hand first, so no record of a journal that
        // left the listing is yielded after the watch said so.
        while !this.watch_done {
            match Pin::new(&mut this.watch).poll_next(cx) {
                Poll::Ready(Some(Ok(snapshot))) => this.take_snapshot(&snapshot),
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(Error::List(err)))),
                Poll::Ready(None) => this.watch_done = true,
                Poll::Pending => break,
            }
        }
        match Pin::new(&mut this.readers).poll_next(cx) {
            Poll::Ready(Some((journal, Ok(record)))) => {
                this.set.advance(&journal, record.end);
                Poll::Ready(Some(Ok(JournalRecord { journal, record })))
            }
            Poll::Ready(Some((journal, Err(err)))) => {
                if let Error::RecordDropped { end, .. } | Error::RecordTooLong { end, .. } = err {
                    this.set.advance(&journal, end);
                }
                Poll::Ready(Some(Err(Error::Journal {
                    journal: journal.to_string(),
                    source: Box::new(err),
                })))
            }
            // No reader: the watch's waker is registered (unless it ended).
            Poll::Ready(None) if this.watch_done => Poll::Ready(None),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}
