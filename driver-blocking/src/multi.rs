//! Reading every journal of a selector at once: [`MultiReader`], an
//! `Iterator` over [`gazette_tokio::MultiReader`] (the records of each
//! journal a watched listing lists, following it as journals come and go).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use gazette_proto::LabelSelector;

pub use gazette_tokio::JournalRecord;

use crate::bound::Bound;
use crate::{CallOptions, CancelHandle, Client, Error, Result};

/// The records of every journal matching a selector, as an `Iterator` of
/// `Result<JournalRecord>`, resumable from saved [`offsets`](Self::offsets)
/// (see [`gazette_tokio::MultiReader`]). The iteration goes on while the
/// watch does, blocking for new records; it ends once the
/// [`cancel_handle`](Self::cancel_handle) is cancelled. A timeout
/// ([`with_options`](Self::with_options)) bounds each call: the item is
/// then [`Error::TimedOut`] and reading goes on.
///
/// ```no_run
/// # fn demo(client: &gazette_blocking::Client) -> gazette_blocking::Result<()> {
/// use gazette_blocking::MultiReader;
/// use gazette_blocking::proto::LabelSelector;
/// use std::collections::BTreeMap;
///
/// let selector = LabelSelector::journal_prefix("examples/");
/// for item in MultiReader::new(client, selector, BTreeMap::new()) {
///     let item = item?;
///     println!("{} @ {}: {:?}", item.journal, item.record.begin, item.record.line());
/// }
/// # Ok(())
/// # }
/// ```
pub struct MultiReader {
    inner: Bound<gazette_tokio::MultiReader>,
}

impl std::fmt::Debug for MultiReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiReader")
            .field("offsets", self.offsets())
            .finish_non_exhaustive()
    }
}

impl MultiReader {
    /// Reads every journal matching `selector`, resuming those of
    /// `offsets`, on the client's runtime thread.
    pub fn new(client: &Client, selector: LabelSelector, offsets: BTreeMap<String, i64>) -> Self {
        let runtime = client.runtime().clone();
        let inner = {
            let _context = runtime.handle().enter();
            gazette_tokio::MultiReader::new(client.as_tokio(), selector, offsets)
        };
        MultiReader {
            inner: Bound::new(inner, runtime),
        }
    }

    /// The offset journals without a saved one are read from (see
    /// [`gazette_tokio::MultiReader::with_default_offset`]).
    pub fn with_default_offset(mut self, offset: i64) -> Self {
        self.inner.get_mut().set_default_offset(offset);
        self
    }

    /// A handle that stops this reader's blocking calls from any thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.inner.cancel_handle().clone()
    }

    /// Bounds each later blocking call with `options`.
    pub fn with_options(mut self, options: CallOptions) -> Self {
        self.inner.set_options(options);
        self
    }

    /// Bounds each later blocking call by `timeout` (None: unbounded).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        let options = match timeout {
            Some(timeout) => CallOptions::new().timeout(timeout),
            None => CallOptions::new().no_timeout(),
        };
        self.inner.set_options(options);
    }

    /// Each journal's offset just past its last record yielded: save it
    /// to resume.
    pub fn offsets(&self) -> &BTreeMap<String, i64> {
        self.inner.get().offsets()
    }

    /// The journals being read.
    pub fn journals(&self) -> Vec<String> {
        self.inner.get().journals().map(str::to_owned).collect()
    }
}

impl Iterator for MultiReader {
    type Item = Result<JournalRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.inner.call(|mut inner, stop| async move {
            let next = stop.run(inner.next()).await;
            (inner, next)
        });
        match next {
            Ok(Ok(item)) => item.map(|item| item.map_err(Error::from)),
            Ok(Err(err)) | Err(err) => match err {
                Error::Cancelled => None,
                err => Some(Err(err)),
            },
        }
    }
}
