//! Listing journals and fragments, watching journal sets, applying specs
//! and probing fragment stores (docs/behaviour.md#listing-and-administration):
//! handles of the core client's listing operations and watches. The core
//! assembles snapshots, pages, batches, classifies errors and enforces the
//! client's request timeout.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use gazette_core::client::{Event, OpId, Outcome};
use gazette_core::list::ListError;
use gazette_proto::{
    ApplyRequest, ApplyResponse, FragmentStoreHealthResponse, FragmentsRequest, FragmentsResponse,
    JournalSpec, LabelSelector, ListRequest, ListResponse,
};
use tokio::sync::watch;
use tracing::Instrument;

use crate::client::Client;
use crate::{Error, Result};

/// A validation failure of a request, as the driver reported it before
/// the core did it: requests other than listings fail with
/// [`Error::InvalidRequest`].
fn invalid(err: ListError) -> Error {
    match err {
        ListError::InvalidRequest(err) => Error::InvalidRequest(err),
        other => Error::List(other),
    }
}

fn unexpected(what: &'static str, outcome: Outcome) -> Error {
    Error::Validation {
        what,
        reason: format!("unexpected outcome {outcome:?}"),
    }
}

/// Lists the journals matching `request` (which must not watch) as one
/// snapshot, and caches each journal's route for later dispatch.
///
/// An invalid selector fails at once with [`ListError::InvalidRequest`],
/// without an RPC. The whole call is bounded by the client's
/// [`request_timeout`](crate::ClientBuilder::request_timeout)
/// ([`ListError::DeadlineExceeded`]), as are [`get_journal`], [`apply`],
/// [`apply_in_batches`], [`list_all_fragments`] and
/// [`fragment_store_health`].
///
/// ```no_run
/// # async fn demo(client: &gazette_tokio::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use gazette_tokio::core::validate::parse_label_selector;
/// use gazette_tokio::proto::ListRequest;
///
/// // gazctl's selector syntax (or build one with `LabelSelector`'s methods).
/// let selector = parse_label_selector("name:prefix=examples/, content-type=application/x-ndjson")?;
/// let listing = gazette_tokio::list_all_journals(client, ListRequest::new(selector)).await?;
/// for journal in &listing.journals {
///     println!("{:?}", journal.spec.as_ref().map(|spec| &spec.name));
/// }
/// # Ok(())
/// # }
/// ```
pub async fn list_all_journals(client: &Client, request: ListRequest) -> Result<ListResponse> {
    let engine = client.engine();
    let op = engine.start_op(|core, now| core.list(request, now))?;
    match engine
        .finished(op)
        .instrument(tracing::debug_span!("gazette.list"))
        .await?
    {
        Outcome::Listed(snapshot) => Ok(snapshot),
        other => Err(unexpected("list", other)),
    }
}

/// The spec of `journal` (any `;meta` suffix is ignored for the lookup).
/// A journal that does not exist is [`ListError::JournalDoesNotExist`]; an
/// invalid name fails at once with [`ListError::InvalidRequest`].
pub async fn get_journal(client: &Client, journal: &str) -> Result<JournalSpec> {
    let engine = client.engine();
    let op = engine.start_op(|core, now| core.get_journal(journal, now))?;
    match engine
        .finished(op)
        .instrument(tracing::debug_span!("gazette.get_journal", journal))
        .await?
    {
        Outcome::Journal(spec) => Ok(spec),
        other => Err(unexpected("get_journal", other)),
    }
}

/// A watch of the journals matching a selector: a stream of snapshots,
/// re-established with Go's backoff whenever the List stream fails (docs/behaviour.md#watchedlist).
///
/// Each item is a new snapshot (`Ok`) or an informational error (`Err`);
/// the watch keeps retrying until dropped. Items are never queued: they are
/// coalesced into one slot that the newest overwrites, so a consumer that
/// lags skips intermediate items and its next item is always the newest
/// one (never a stale snapshot), as [`WatchedList::latest`] is.
///
/// A selector that fails validation yields one
/// [`ListError::InvalidRequest`] item, then the stream ends; no RPC is made.
/// Dropping the watch stops it (its List RPC is cancelled).
///
/// ```no_run
/// # async fn demo(client: &gazette_tokio::Client) {
/// use futures::StreamExt;
/// use gazette_tokio::WatchedList;
/// use gazette_tokio::proto::LabelSelector;
///
/// let mut watch = WatchedList::new(client.clone(), LabelSelector::journal_prefix("examples/"));
/// while let Some(item) = watch.next().await {
///     match item {
///         Ok(snapshot) => println!("{} journals", snapshot.journals.len()),
///         Err(err) => eprintln!("watch interrupted, retrying: {err}"),
///     }
/// }
/// # }
/// ```
pub struct WatchedList {
    latest: watch::Receiver<Option<Arc<ListResponse>>>,
    updates: Pin<Box<dyn Stream<Item = WatchItem> + Send>>,
    task: tokio::task::JoinHandle<()>,
}

/// An item of a [`WatchedList`] stream.
type WatchItem = std::result::Result<Arc<ListResponse>, ListError>;

/// The consumer side of the update slot: each item is the slot's value when
/// the consumer polls, so the newest wins; ends when the watch task ends
/// (after its last value was taken).
fn updates_stream(
    slot: watch::Receiver<Option<WatchItem>>,
) -> Pin<Box<dyn Stream<Item = WatchItem> + Send>> {
    Box::pin(futures::stream::unfold(slot, |mut slot| async move {
        loop {
            slot.changed().await.ok()?;
            let item = slot.borrow_and_update().clone();
            if let Some(item) = item {
                return Some((item, slot));
            }
        }
    }))
}

impl std::fmt::Debug for WatchedList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchedList").finish_non_exhaustive()
    }
}

impl WatchedList {
    /// Starts watching journals matching `selector` (must be called within
    /// a tokio runtime).
    pub fn new(client: Client, selector: LabelSelector) -> Self {
        let (latest_tx, latest) = watch::channel(None);
        let (updates_tx, updates) = watch::channel(None);
        let request = ListRequest {
            selector: Some(selector),
            watch: true,
            watch_resume: None,
        };
        let task = tokio::spawn(
            watch_loop(client, request, latest_tx, updates_tx)
                .instrument(tracing::debug_span!("gazette.watch_list")),
        );
        WatchedList {
            latest,
            updates: updates_stream(updates),
            task,
        }
    }

    /// The latest snapshot, or None before the first.
    pub fn latest(&self) -> Option<Arc<ListResponse>> {
        self.latest.borrow().clone()
    }

    /// Waits until a snapshot satisfying `pred` is published and returns it.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&ListResponse) -> bool,
    ) -> Arc<ListResponse> {
        let found = self
            .latest
            .wait_for(|s| s.as_deref().is_some_and(&mut pred))
            .await
            .expect("the watch task holds the sender while the list lives");
        found.clone().expect("the predicate matched a snapshot")
    }
}

impl Drop for WatchedList {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for WatchedList {
    type Item = std::result::Result<Arc<ListResponse>, ListError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.updates.as_mut().poll_next(cx)
    }
}

/// Moves the watch operation's snapshots and signals into the two slots.
async fn watch_loop(
    client: Client,
    request: ListRequest,
    latest: watch::Sender<Option<Arc<ListResponse>>>,
    updates: watch::Sender<Option<WatchItem>>,
) {
    let engine = client.engine().clone();
    let op: OpId = match engine.start_op(|core, now| core.watch(request, now)) {
        Ok(op) => op,
        Err(err) => {
            updates.send_replace(Some(Err(err)));
            return;
        }
    };
    /// Stops the watch when this task ends (the list was dropped).
    struct Stop(Arc<crate::engine::Engine>, OpId);
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.close(self.1);
        }
    }
    let _stop = Stop(engine.clone(), op);
    let mut published: Option<Arc<ListResponse>> = None;
    while let Some(event) = engine.next_event(op).await {
        match event {
            Event::Snapshot { snapshot, .. } => {
                published = Some(snapshot.clone());
                // The consumer's slot first: once `latest` (and so
                // `wait_for`) shows a snapshot, the next item is never an
                // older one.
                if updates.is_closed() {
                    return;
                }
                updates.send_replace(Some(Ok(snapshot.clone())));
                latest.send_replace(Some(snapshot));
            }
            Event::WatchSignal { result, .. } => {
                let signal = match result {
                    Ok(()) => match &published {
                        // Already in the slot since its snapshot.
                        Some(snapshot) if matches!(&*updates.borrow(), Some(Ok(s)) if Arc::ptr_eq(s, snapshot)) =>
                        {
                            continue;
                        }
                        Some(snapshot) => Ok(snapshot.clone()),
                        None => continue,
                    },
                    Err(err) => {
                        tracing::debug!(error = %err, "watched list failed; retrying");
                        Err(err)
                    }
                };
                // Never block the watch on a slow consumer: overwrite
                // whatever it has not taken yet.
                if updates.is_closed() {
                    return;
                }
                let invalid = matches!(signal, Err(ListError::InvalidRequest(_)));
                updates.send_replace(Some(signal));
                if invalid {
                    // An invalid selector is never retried.
                    return;
                }
            }
            Event::Finished { .. } => return,
            _ => {}
        }
    }
}

/// Applies every change of `request` in one Apply RPC.
pub async fn apply(client: &Client, request: ApplyRequest) -> Result<ApplyResponse> {
    apply_in_batches(client, request, 0).await
}

/// Applies the changes of `request` in consecutive Apply RPCs of at most
/// `size` changes (0: all at once), returning the last response. Earlier
/// batches stay applied when a later one fails. Every change is validated
/// before the first batch is sent.
pub async fn apply_in_batches(
    client: &Client,
    request: ApplyRequest,
    size: usize,
) -> Result<ApplyResponse> {
    let engine = client.engine();
    let changes = request.changes.len();
    let op = engine
        .start_op(|core, now| core.apply(request, size, now))
        .map_err(invalid)?;
    match engine
        .finished(op)
        .instrument(tracing::debug_span!("gazette.apply", changes))
        .await?
    {
        Outcome::Applied(response) => Ok(response),
        other => Err(unexpected("apply", other)),
    }
}

/// Lists every fragment of `request.journal` in its time range, following
/// page tokens. The first page's header is kept.
pub async fn list_all_fragments(
    client: &Client,
    request: FragmentsRequest,
) -> Result<FragmentsResponse> {
    let engine = client.engine();
    let span = tracing::debug_span!("gazette.list_fragments", journal = %request.journal);
    let op = engine
        .start_op(|core, now| core.list_fragments(request, now))
        .map_err(invalid)?;
    match engine.finished(op).instrument(span).await? {
        Outcome::Fragments(response) => Ok(response),
        other => Err(unexpected("list_fragments", other)),
    }
}

/// Probes the health of `store`. With `check_delete_prefix` (even empty),
/// also checks that objects under it can be deleted. A response whose
/// status is `FRAGMENT_STORE_UNHEALTHY` is returned as is: inspect
/// `status` and `store_health_error`.
pub async fn fragment_store_health(
    client: &Client,
    store: &str,
    check_delete_prefix: Option<&str>,
) -> Result<FragmentStoreHealthResponse> {
    let engine = client.engine();
    let op = engine
        .start_op(|core, now| core.fragment_store_health(store, check_delete_prefix, now))
        .map_err(invalid)?;
    match engine
        .finished(op)
        .instrument(tracing::debug_span!("gazette.fragment_store_health", store))
        .await?
    {
        Outcome::StoreHealth(response) => Ok(response),
        other => Err(unexpected("fragment_store_health", other)),
    }
}
