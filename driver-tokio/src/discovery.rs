//! Listing journals and fragments, watching journal sets, applying specs
//! and probing fragment stores (docs/behaviour.md#listing-and-administration), driven over the
//! core's list machines (snapshot assembly, watch policy, fragment pager,
//! apply batches, health classification).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use gazette_core::list::{
    ApplyBatches, ApplyStep, FragmentPager, ListError, PagerStep, SnapshotAssembler, WatchAction,
    WatchedList as WatchMachine, fragment_store_health_request, fragment_store_health_result,
    get_journal_request, get_journal_spec, snapshot_route_updates,
};
use gazette_core::status::Operation;
use gazette_proto::{
    ApplyRequest, ApplyResponse, FragmentStoreHealthResponse, FragmentsRequest, FragmentsResponse,
    JournalSpec, LabelSelector, ListRequest, ListResponse,
};
use tokio::sync::watch;
use tracing::Instrument;

use crate::auth::{Capability, Claims};
use crate::client::{Client, Dispatch};
use crate::{Error, Result};

const HOUR: Duration = Duration::from_secs(3600);

/// Runs a whole listing or administrative call under the client's
/// [`Client::request_timeout`]: past it the call is dropped (which cancels
/// its RPC) and fails with [`ListError::DeadlineExceeded`].
async fn with_deadline<T>(
    client: &Client,
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    match client.request_timeout() {
        Some(timeout) => tokio::time::timeout(timeout, call)
            .await
            .unwrap_or(Err(Error::List(ListError::DeadlineExceeded))),
        None => call.await,
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
    if request.watch {
        return Err(Error::Validation {
            what: "ListRequest",
            reason: "list_all_journals cannot watch (use WatchedList)".into(),
        });
    }
    gazette_core::list::check_list_request(&request)?;
    let call = async {
        let mut stream = open_list(client, &request).await?;
        let mut assembler = SnapshotAssembler::new(&request);
        let snapshot = loop {
            let message = stream
                .message()
                .await
                .map_err(|status| client.rpc_error(Operation::List, &Dispatch::Service, status))?;
            match message {
                Some(message) => {
                    if let Some(snapshot) = assembler.on_message(message)? {
                        break snapshot;
                    }
                }
                None => break assembler.on_end()?,
            }
        };
        for (journal, update) in snapshot_route_updates(&snapshot) {
            client.update_route(&journal, update.into_route());
        }
        Ok(snapshot)
    };
    with_deadline(client, call)
        .instrument(tracing::debug_span!("gazette.list"))
        .await
}

/// The spec of `journal` (any `;meta` suffix is ignored for the lookup).
/// A journal that does not exist is [`ListError::JournalDoesNotExist`]; an
/// invalid name fails at once with [`ListError::InvalidRequest`].
pub async fn get_journal(client: &Client, journal: &str) -> Result<JournalSpec> {
    let snapshot = list_all_journals(client, get_journal_request(journal)?).await?;
    Ok(get_journal_spec(journal, &snapshot)?)
}

async fn open_list(
    client: &Client,
    request: &ListRequest,
) -> Result<tonic::Streaming<ListResponse>> {
    let claims = Claims::for_selector(
        Capability::LIST,
        request.selector.clone().unwrap_or_default(),
        HOUR,
    );
    let mut rpc = client.journal_client(&Dispatch::Service)?;
    let req = client.request(request.clone(), &claims, false)?;
    crate::telemetry::rpc_started("list");
    rpc.list(req)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| client.rpc_error(Operation::List, &Dispatch::Service, status))
}

/// A List failure as the core's watch machine takes it. A server-sent
/// `CANCELLED` is reported as cancellation (Go quirk 23).
fn list_error(err: Error) -> ListError {
    match err {
        Error::List(err) => err,
        Error::Rpc { status, .. } if status.code() == tonic::Code::Cancelled => ListError::Canceled,
        other => ListError::Rpc(other.to_string()),
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
            watch_loop(client, WatchMachine::new(&request), latest_tx, updates_tx)
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

async fn watch_loop(
    client: Client,
    mut machine: WatchMachine,
    latest: watch::Sender<Option<Arc<ListResponse>>>,
    updates: watch::Sender<Option<WatchItem>>,
) {
    let mut stream: Option<tonic::Streaming<ListResponse>> = None;
    let mut published: Option<Arc<ListResponse>> = None;
    loop {
        while let Some(action) = machine.poll_action() {
            match action {
                WatchAction::OpenStream(request) => match open_list(&client, &request).await {
                    Ok(opened) => {
                        stream = Some(opened);
                        machine.on_opened();
                    }
                    Err(err) => machine.on_open_failed(list_error(err)),
                },
                WatchAction::CloseStream => stream = None,
                WatchAction::Sleep(delay) => {
                    tokio::time::sleep(delay).await;
                    machine.on_timer();
                }
                WatchAction::Publish(snapshot) => {
                    published = Some(snapshot.clone());
                    // The consumer's slot first: once `latest` (and so
                    // `wait_for`) shows a snapshot, the next item is never
                    // an older one.
                    if updates.is_closed() {
                        machine.stop();
                        return;
                    }
                    updates.send_replace(Some(Ok(snapshot.clone())));
                    latest.send_replace(Some(snapshot));
                }
                WatchAction::Signal(outcome) => {
                    let signal = match outcome {
                        Ok(()) => match &published {
                            // Already in the slot since its Publish.
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
                        machine.stop();
                        return;
                    }
                    updates.send_replace(Some(signal));
                }
            }
        }
        let Some(open) = &mut stream else {
            // The machine waits on nothing: it was stopped.
            return;
        };
        match open.message().await {
            Ok(Some(message)) => machine.on_message(message),
            Ok(None) => {
                stream = None;
                machine.on_end();
            }
            Err(status) => {
                stream = None;
                let err = client.rpc_error(Operation::List, &Dispatch::Service, status);
                machine.on_error(list_error(err));
            }
        }
    }
}

/// Applies every change of `request` in one Apply RPC.
pub async fn apply(client: &Client, request: ApplyRequest) -> Result<ApplyResponse> {
    apply_in_batches(client, request, 0).await
}

/// Applies the changes of `request` in consecutive Apply RPCs of at most
/// `size` changes (0: all at once), returning the last response. Earlier
/// batches stay applied when a later one fails.
pub async fn apply_in_batches(
    client: &Client,
    request: ApplyRequest,
    size: usize,
) -> Result<ApplyResponse> {
    let mut batches = ApplyBatches::new(request, size)?;
    with_deadline(client, async move {
        let claims = Claims::for_selector(
            Capability::APPLY,
            LabelSelector::default(),
            Duration::from_secs(60),
        );
        let mut next = batches.first_request();
        loop {
            let span = tracing::debug_span!("gazette.apply", changes = next.changes.len());
            let outcome = async {
                let mut rpc = client.journal_client(&Dispatch::Service)?;
                crate::telemetry::rpc_started("apply");
                rpc.apply(client.request(next, &claims, false)?)
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|status| {
                        client.rpc_error(Operation::Apply, &Dispatch::Service, status)
                    })
            }
            .instrument(span)
            .await;
            let step = match outcome {
                Ok(response) => batches.on_response(response),
                // Transport failures keep their gRPC code for the caller.
                Err(err @ Error::Rpc { .. }) => return Err(err),
                Err(err) => batches.on_error(list_error(err)),
            };
            match step {
                ApplyStep::Next(request) => next = request,
                ApplyStep::Done(response) => return Ok(response),
                ApplyStep::Failed(failure) => return Err(Error::List(failure.error)),
            }
        }
    })
    .await
}

/// Lists every fragment of `request.journal` in its time range, following
/// page tokens. The first page's header is kept.
pub async fn list_all_fragments(
    client: &Client,
    request: FragmentsRequest,
) -> Result<FragmentsResponse> {
    let dispatch = Dispatch::Journal {
        journal: request.journal.clone(),
        require_primary: false,
    };
    let claims = Claims::for_journal(Capability::READ, &request.journal);
    let mut pager = FragmentPager::new(request)?;
    with_deadline(client, async move {
        let mut next = pager.request().clone();
        loop {
            let span = tracing::debug_span!("gazette.list_fragments", journal = %next.journal);
            let outcome = async {
                let mut rpc = client.journal_client(&dispatch)?;
                crate::telemetry::rpc_started("list_fragments");
                rpc.list_fragments(client.request(next, &claims, false)?)
                    .await
                    .map(tonic::Response::into_inner)
                    .map_err(|status| client.rpc_error(Operation::ListFragments, &dispatch, status))
            }
            .instrument(span)
            .await;
            let step = match outcome {
                Ok(page) => pager.on_response(page),
                Err(err @ Error::Rpc { .. }) => return Err(err),
                Err(err) => pager.on_error(list_error(err)),
            };
            match step {
                PagerStep::Next(request) => next = request,
                PagerStep::Done(response) => return Ok(response),
                PagerStep::Failed { error, .. } => return Err(Error::List(error)),
            }
        }
    })
    .await
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
    let request = fragment_store_health_request(store, check_delete_prefix)?;
    let claims = Claims::for_selector(Capability::READ, LabelSelector::default(), HOUR);
    let mut rpc = client.journal_client(&Dispatch::Service)?;
    crate::telemetry::rpc_started("fragment_store_health");
    let call = async {
        rpc.fragment_store_health(client.request(request, &claims, false)?)
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| {
                client.rpc_error(Operation::FragmentStoreHealth, &Dispatch::Service, status)
            })
    };
    let response = with_deadline(client, call)
        .instrument(tracing::debug_span!("gazette.fragment_store_health", store))
        .await?;
    Ok(fragment_store_health_result(response)?)
}
