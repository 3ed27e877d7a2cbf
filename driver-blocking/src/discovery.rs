//! Listing journals and fragments, watching journal sets, applying specs
//! and probing fragment stores, blocking on [`gazette_tokio::discovery`].
//!
//! Every call can be bounded: the client's
//! [`request_timeout`](gazette_tokio::ClientBuilder::request_timeout) is the
//! deadline of each listing or administrative call (past it:
//! [`ListError::DeadlineExceeded`](gazette_core::list::ListError::DeadlineExceeded)),
//! the `*_cancellable` variants also stop when their [`CancelHandle`] is
//! cancelled from another thread ([`Error::Cancelled`]), and a
//! [`WatchedList`] has its own [`WatchedList::cancel_handle`].

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use gazette_proto::{
    ApplyRequest, ApplyResponse, FragmentStoreHealthResponse, FragmentsRequest, FragmentsResponse,
    JournalSpec, LabelSelector, ListRequest, ListResponse,
};

use crate::runtime::{block_on, block_on_cancellable, enter};
use crate::{CancelHandle, Client, Error, Result};

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
    Ok(block_on(gazette_tokio::list_all_journals(
        client.as_tokio(),
        request,
    ))??)
}

/// The spec of `journal` (any `;meta` suffix is ignored for the lookup). A
/// journal that does not exist is
/// [`gazette_core::list::ListError::JournalDoesNotExist`] inside
/// [`gazette_tokio::Error::List`].
pub fn get_journal(client: &Client, journal: &str) -> Result<JournalSpec> {
    Ok(block_on(gazette_tokio::get_journal(
        client.as_tokio(),
        journal,
    ))??)
}

/// Applies every change of `request` in one Apply RPC.
pub fn apply(client: &Client, request: ApplyRequest) -> Result<ApplyResponse> {
    Ok(block_on(gazette_tokio::apply(client.as_tokio(), request))??)
}

/// Applies the changes of `request` in consecutive Apply RPCs of at most
/// `size` changes (0: all at once), returning the last response. Earlier
/// batches stay applied when a later one fails.
pub fn apply_in_batches(
    client: &Client,
    request: ApplyRequest,
    size: usize,
) -> Result<ApplyResponse> {
    Ok(block_on(gazette_tokio::apply_in_batches(
        client.as_tokio(),
        request,
        size,
    ))??)
}

/// Lists every fragment of `request.journal` in its time range, following
/// page tokens.
pub fn list_all_fragments(client: &Client, request: FragmentsRequest) -> Result<FragmentsResponse> {
    Ok(block_on(gazette_tokio::list_all_fragments(
        client.as_tokio(),
        request,
    ))??)
}

/// Probes the health of fragment store `store`; with `check_delete_prefix`
/// (even empty) also checks that objects under it can be deleted. An
/// unhealthy store is a response whose `status` says so, not an error.
pub fn fragment_store_health(
    client: &Client,
    store: &str,
    check_delete_prefix: Option<&str>,
) -> Result<FragmentStoreHealthResponse> {
    Ok(block_on(gazette_tokio::fragment_store_health(
        client.as_tokio(),
        store,
        check_delete_prefix,
    ))??)
}

/// [`list_all_journals`], failing with [`Error::Cancelled`] once `cancel`
/// is cancelled (before or while waiting).
pub fn list_all_journals_cancellable(
    client: &Client,
    request: ListRequest,
    cancel: &CancelHandle,
) -> Result<ListResponse> {
    Ok(block_on_cancellable(
        gazette_tokio::list_all_journals(client.as_tokio(), request),
        cancel.token(),
    )??)
}

/// [`get_journal`], failing with [`Error::Cancelled`] once `cancel` is
/// cancelled.
pub fn get_journal_cancellable(
    client: &Client,
    journal: &str,
    cancel: &CancelHandle,
) -> Result<JournalSpec> {
    Ok(block_on_cancellable(
        gazette_tokio::get_journal(client.as_tokio(), journal),
        cancel.token(),
    )??)
}

/// [`apply`], failing with [`Error::Cancelled`] once `cancel` is cancelled
/// (the changes may or may not have been applied then).
pub fn apply_cancellable(
    client: &Client,
    request: ApplyRequest,
    cancel: &CancelHandle,
) -> Result<ApplyResponse> {
    apply_in_batches_cancellable(client, request, 0, cancel)
}

/// [`apply_in_batches`], failing with [`Error::Cancelled`] once `cancel` is
/// cancelled (earlier batches stay applied).
pub fn apply_in_batches_cancellable(
    client: &Client,
    request: ApplyRequest,
    size: usize,
    cancel: &CancelHandle,
) -> Result<ApplyResponse> {
    Ok(block_on_cancellable(
        gazette_tokio::apply_in_batches(client.as_tokio(), request, size),
        cancel.token(),
    )??)
}

/// [`list_all_fragments`], failing with [`Error::Cancelled`] once `cancel`
/// is cancelled.
pub fn list_all_fragments_cancellable(
    client: &Client,
    request: FragmentsRequest,
    cancel: &CancelHandle,
) -> Result<FragmentsResponse> {
    Ok(block_on_cancellable(
        gazette_tokio::list_all_fragments(client.as_tokio(), request),
        cancel.token(),
    )??)
}

/// [`fragment_store_health`], failing with [`Error::Cancelled`] once
/// `cancel` is cancelled.
pub fn fragment_store_health_cancellable(
    client: &Client,
    store: &str,
    check_delete_prefix: Option<&str>,
    cancel: &CancelHandle,
) -> Result<FragmentStoreHealthResponse> {
    Ok(block_on_cancellable(
        gazette_tokio::fragment_store_health(client.as_tokio(), store, check_delete_prefix),
        cancel.token(),
    )??)
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
/// and `wait_for*` fail with [`Error::Cancelled`].
///
/// ```no_run
/// let client = gazette_blocking::Client::new("http://localhost:8080")?;
/// let selector = gazette_blocking::core::validate::parse_label_selector("app=orders")?;
/// for snapshot in gazette_blocking::WatchedList::new(&client, selector)? {
///     println!("{} journals", snapshot?.journals.len());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WatchedList {
    inner: gazette_tokio::WatchedList,
    cancel: CancelHandle,
}

impl std::fmt::Debug for WatchedList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedList").finish_non_exhaustive()
    }
}

impl WatchedList {
    /// Starts watching journals matching `selector` on the private runtime.
    pub fn new(client: &Client, selector: LabelSelector) -> Result<Self> {
        let client = client.as_tokio().clone();
        let inner = enter(|| gazette_tokio::WatchedList::new(client, selector))?;
        Ok(WatchedList {
            inner,
            cancel: CancelHandle::new(),
        })
    }

    /// A handle that stops every blocking method of this watch, from any
    /// thread (clones share the state).
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// The latest snapshot, or None before the first.
    pub fn latest(&self) -> Option<Arc<ListResponse>> {
        self.inner.latest()
    }

    /// Blocks until a snapshot satisfying `pred` is published and returns
    /// it.
    pub fn wait_for(
        &mut self,
        pred: impl FnMut(&ListResponse) -> bool,
    ) -> Result<Arc<ListResponse>> {
        block_on_cancellable(self.inner.wait_for(pred), self.cancel.token())
    }

    /// Like [`WatchedList::wait_for`], giving up (None) after `timeout`.
    pub fn wait_for_timeout(
        &mut self,
        pred: impl FnMut(&ListResponse) -> bool,
        timeout: Duration,
    ) -> Result<Option<Arc<ListResponse>>> {
        block_on_cancellable(
            async {
                tokio::time::timeout(timeout, self.inner.wait_for(pred))
                    .await
                    .ok()
            },
            self.cancel.token(),
        )
    }

    /// The next item, blocking; None once the watch has stopped or was
    /// cancelled.
    pub fn next_snapshot(&mut self) -> Option<Result<Arc<ListResponse>>> {
        match block_on_cancellable(self.inner.next(), self.cancel.token()) {
            Ok(Some(item)) => Some(item.map_err(Error::from)),
            Ok(None) | Err(Error::Cancelled) => None,
            Err(err) => Some(Err(err)),
        }
    }

    /// The next item, or None when none arrives within `timeout` (or the
    /// watch was cancelled).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<Arc<ListResponse>>> {
        match block_on_cancellable(
            async { tokio::time::timeout(timeout, self.inner.next()).await },
            self.cancel.token(),
        ) {
            Ok(Ok(Some(item))) => Some(item.map_err(Error::from)),
            Ok(Ok(None) | Err(_)) | Err(Error::Cancelled) => None,
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
