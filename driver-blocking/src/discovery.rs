//! Listing journals and fragments, watching journal sets, applying specs
//! and probing fragment stores, blocking on [`gazette_tokio::discovery`].
//!
//! Every call can be bounded: the client's
//! [`request_timeout`](crate::ClientBuilder::request_timeout) is the tokio
//! driver's deadline of each listing or administrative call (past it:
//! [`ListError::DeadlineExceeded`](gazette_core::list::ListError::DeadlineExceeded)),
//! the client's [`call_timeout`](crate::ClientBuilder::call_timeout) and the
//! `*_with` variants' [`CallOptions`] bound the blocking call
//! ([`Error::TimedOut`], [`Error::Cancelled`]), and a [`WatchedList`] has
//! its own [`WatchedList::cancel_handle`] and
//! [`WatchedList::with_options`].

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use gazette_proto::{
    ApplyRequest, ApplyResponse, FragmentStoreHealthResponse, FragmentsRequest, FragmentsResponse,
    JournalSpec, LabelSelector, ListRequest, ListResponse,
};

use crate::bound::Bound;
use crate::{CallOptions, CancelHandle, Client, Error, Result};

/// Runs `call(client)` on `client`'s runtime, bounded by `options`.
fn run<T, F>(
    client: &Client,
    options: &CallOptions,
    call: impl FnOnce(gazette_tokio::Client) -> F,
) -> Result<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = gazette_tokio::Result<T>> + Send + 'static,
{
    Ok(client
        .runtime()
        .run(options, call(client.as_tokio().clone()))??)
}

/// Lists the journals matching `request` (which must not watch) as one
/// snapshot, and caches each journal's route for later dispatch.
///
/// ```no_run
/// # fn demo(client: &gazette_blocking::Client) -> gazette_blocking::Result<()> {
/// use gazette_blocking::proto::{LabelSelector, ListRequest};
///
/// let selector = LabelSelector::journal_prefix("examples/").exclude("deprecated", "true");
/// let listing = gazette_blocking::list_all_journals(client, ListRequest::new(selector))?;
/// println!("{} journals", listing.journals.len());
/// # Ok(())
/// # }
/// ```
pub fn list_all_journals(client: &Client, request: ListRequest) -> Result<ListResponse> {
    list_all_journals_with(client, request, &CallOptions::new())
}

/// [`list_all_journals`], bounded by `options`.
pub fn list_all_journals_with(
    client: &Client,
    request: ListRequest,
    options: &CallOptions,
) -> Result<ListResponse> {
    run(client, options, |c| async move {
        gazette_tokio::list_all_journals(&c, request).await
    })
}

/// The spec of `journal` (any `;meta` suffix is ignored for the lookup). A
/// journal that does not exist is
/// [`gazette_core::list::ListError::JournalDoesNotExist`] inside
/// [`gazette_tokio::Error::List`].
pub fn get_journal(client: &Client, journal: &str) -> Result<JournalSpec> {
    get_journal_with(client, journal, &CallOptions::new())
}

/// [`get_journal`], bounded by `options`.
pub fn get_journal_with(
    client: &Client,
    journal: &str,
    options: &CallOptions,
) -> Result<JournalSpec> {
    let journal = journal.to_owned();
    run(client, options, |c| async move {
        gazette_tokio::get_journal(&c, &journal).await
    })
}

/// Applies every change of `request` in one Apply RPC.
pub fn apply(client: &Client, request: ApplyRequest) -> Result<ApplyResponse> {
    apply_in_batches_with(client, request, 0, &CallOptions::new())
}

/// [`apply`], bounded by `options` (a stopped apply may or may not have
/// been applied).
pub fn apply_with(
    client: &Client,
    request: ApplyRequest,
    options: &CallOptions,
) -> Result<ApplyResponse> {
    run(client, options, |c| async move {
        gazette_tokio::apply(&c, request).await
    })
}

/// Applies the changes of `request` in consecutive Apply RPCs of at most
/// `size` changes (0: all at once), returning the last response. Earlier
/// batches stay applied when a later one fails.
pub fn apply_in_batches(
    client: &Client,
    request: ApplyRequest,
    size: usize,
) -> Result<ApplyResponse> {
    apply_in_batches_with(client, request, size, &CallOptions::new())
}

/// [`apply_in_batches`], bounded by `options` as a whole (earlier batches
/// stay applied).
pub fn apply_in_batches_with(
    client: &Client,
    request: ApplyRequest,
    size: usize,
    options: &CallOptions,
) -> Result<ApplyResponse> {
    run(client, options, |c| async move {
        gazette_tokio::apply_in_batches(&c, request, size).await
    })
}

/// Lists every fragment of `request.journal` in its time range, following
/// page tokens.
pub fn list_all_fragments(client: &Client, request: FragmentsRequest) -> Result<FragmentsResponse> {
    list_all_fragments_with(client, request, &CallOptions::new())
}

/// [`list_all_fragments`], bounded by `options` (all pages together).
pub fn list_all_fragments_with(
    client: &Client,
    request: FragmentsRequest,
    options: &CallOptions,
) -> Result<FragmentsResponse> {
    run(client, options, |c| async move {
        gazette_tokio::list_all_fragments(&c, request).await
    })
}

/// Probes the health of fragment store `store`; with `check_delete_prefix`
/// (even empty) also checks that objects under it can be deleted. An
/// unhealthy store is a response whose `status` says so, not an error.
pub fn fragment_store_health(
    client: &Client,
    store: &str,
    check_delete_prefix: Option<&str>,
) -> Result<FragmentStoreHealthResponse> {
    fragment_store_health_with(client, store, check_delete_prefix, &CallOptions::new())
}

/// [`fragment_store_health`], bounded by `options`.
pub fn fragment_store_health_with(
    client: &Client,
    store: &str,
    check_delete_prefix: Option<&str>,
    options: &CallOptions,
) -> Result<FragmentStoreHealthResponse> {
    let store = store.to_owned();
    let prefix = check_delete_prefix.map(str::to_owned);
    run(client, options, |c| async move {
        gazette_tokio::fragment_store_health(&c, &store, prefix.as_deref()).await
    })
}

/// A watch of the journals matching a selector, as a blocking iterator of
/// snapshots (Go's `WatchedList`). The List stream is re-established with
/// Go's backoff whenever it fails, until the `WatchedList` is dropped.
///
/// Each item is a new snapshot (`Ok`) or an informational failure (`Err`,
/// the watch keeps retrying). Items are coalesced, newest wins: a consumer
/// that lags skips intermediate items, and its next item is the newest,
/// like [`WatchedList::latest`]. An invalid selector yields one error item,
/// then the iteration ends.
///
/// Every blocking method returns early once the handle of
/// [`WatchedList::cancel_handle`] is cancelled: the iteration ends (`None`)
/// and `wait_for*` fail with [`Error::Cancelled`]. A timeout
/// ([`WatchedList::with_options`] or the client's
/// [`call_timeout`](crate::ClientBuilder::call_timeout)) bounds each
/// blocking call: `wait_for` fails with [`Error::TimedOut`], and the
/// iteration yields that error as an item (the watch goes on).
///
/// ```no_run
/// let client = gazette_blocking::Client::new("http://localhost:8080")?;
/// let selector = gazette_blocking::core::validate::parse_label_selector("app=orders")?;
/// for snapshot in gazette_blocking::WatchedList::new(&client, selector) {
///     println!("{} journals", snapshot?.journals.len());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WatchedList {
    inner: Bound<gazette_tokio::WatchedList>,
}

impl std::fmt::Debug for WatchedList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedList").finish_non_exhaustive()
    }
}

impl WatchedList {
    /// Starts watching journals matching `selector` on the client's
    /// runtime thread.
    pub fn new(client: &Client, selector: LabelSelector) -> Self {
        let runtime = client.runtime().clone();
        let inner = {
            let _context = runtime.handle().enter();
            gazette_tokio::WatchedList::new(client.as_tokio().clone(), selector)
        };
        WatchedList {
            inner: Bound::new(inner, runtime),
        }
    }

    /// A handle that stops every blocking method of this watch, from any
    /// thread (clones share the state).
    pub fn cancel_handle(&self) -> CancelHandle {
        self.inner.cancel_handle().clone()
    }

    /// Bounds each later blocking call of this watch with `options`: its
    /// timeout, and its cancel handle (which then replaces the watch's
    /// own) if it names one.
    pub fn with_options(mut self, options: CallOptions) -> Self {
        self.inner.set_options(options);
        self
    }

    /// The latest snapshot, or None before the first.
    pub fn latest(&self) -> Option<Arc<ListResponse>> {
        self.inner.get().latest()
    }

    /// Blocks until a snapshot satisfying `pred` is published and returns
    /// it. `pred` runs on the calling thread.
    pub fn wait_for(
        &mut self,
        pred: impl FnMut(&ListResponse) -> bool,
    ) -> Result<Arc<ListResponse>> {
        let options = self.inner.options().clone();
        let runtime = self.inner.runtime().clone();
        // The wait is on a watch channel the runtime's watch task
        // publishes to: no IO of its own, so it is polled here, where
        // `pred` lives.
        runtime.wait_here(&options, self.inner.get_mut().wait_for(pred))
    }

    /// Like [`WatchedList::wait_for`], giving up (None) after `timeout`.
    pub fn wait_for_timeout(
        &mut self,
        pred: impl FnMut(&ListResponse) -> bool,
        timeout: Duration,
    ) -> Result<Option<Arc<ListResponse>>> {
        let options = self.inner.options().clone().timeout(timeout);
        let runtime = self.inner.runtime().clone();
        match runtime.wait_here(&options, self.inner.get_mut().wait_for(pred)) {
            Ok(found) => Ok(Some(found)),
            Err(Error::TimedOut { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The next item on the runtime, bounded by `options` if given.
    fn next_with(
        &mut self,
        options: Option<CallOptions>,
    ) -> Result<Option<Result<Arc<ListResponse>>>> {
        let saved = options.map(|options| {
            let saved = self.inner.options().clone();
            self.inner.set_options(options);
            saved
        });
        let next = self.inner.call(|mut inner, stop| async move {
            let next = stop.run(inner.next()).await;
            (inner, next)
        });
        if let Some(saved) = saved {
            self.inner.set_options(saved);
        }
        Ok(next??.map(|item| item.map_err(Error::from)))
    }

    /// The next item, blocking; None once the watch has stopped or was
    /// cancelled.
    pub fn next_snapshot(&mut self) -> Option<Result<Arc<ListResponse>>> {
        match self.next_with(None) {
            Ok(item) => item,
            Err(Error::Cancelled) => None,
            Err(err) => Some(Err(err)),
        }
    }

    /// The next item, or None when none arrives within `timeout` (or the
    /// watch was cancelled).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<Arc<ListResponse>>> {
        let options = self.inner.options().clone().timeout(timeout);
        match self.next_with(Some(options)) {
            Ok(item) => item,
            Err(Error::Cancelled | Error::TimedOut { .. }) => None,
            Err(err) => Some(Err(err)),
        }
    }
}

impl Iterator for WatchedList {
    type Item = Result<Arc<ListResponse>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_snapshot()
    }
}
