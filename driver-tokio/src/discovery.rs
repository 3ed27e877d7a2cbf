//! Listing journals and fragments, watching journal sets, applying specs
//! and probing fragment stores (client-behaviour.md §8).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use gazette_core::status::{Operation, StatusError};
use gazette_proto::{
    ApplyRequest, ApplyResponse, FragmentStoreHealthRequest, FragmentStoreHealthResponse,
    FragmentsRequest, FragmentsResponse, JournalSpec, Label, LabelSelector, LabelSet, ListRequest,
    ListResponse, Status,
};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::auth::{Capability, Claims};
use crate::client::{Client, Dispatch};
use crate::snapshot::{SnapshotAssembler, SnapshotStep};
use crate::{Error, Result};

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// Lists the journals matching `request` (which must not watch) as one
/// snapshot, and caches each journal's route for later dispatch.
pub async fn list_all_journals(client: &Client, request: ListRequest) -> Result<ListResponse> {
    if request.watch {
        return Err(Error::Validation {
            what: "ListRequest",
            reason: "list_all_journals cannot watch (use WatchedList)".into(),
        });
    }
    let span = tracing::debug_span!("gazette.list", watch = false);
    async {
        let mut stream = open_list(client, &request).await?;
        let snapshot = read_snapshot(client, &mut stream, &request).await?;
        for journal in &snapshot.journals {
            if let Some(spec) = &journal.spec {
                client.update_route(&spec.name, journal.route.clone());
            }
        }
        Ok(snapshot)
    }
    .instrument(span)
    .await
}

/// The spec of `journal` (any `;meta` suffix is ignored for the lookup).
pub async fn get_journal(client: &Client, journal: &str) -> Result<JournalSpec> {
    let name = journal.split(';').next().unwrap_or_default();
    let request = ListRequest {
        selector: Some(LabelSelector {
            include: Some(LabelSet {
                labels: vec![Label {
                    name: "name".into(),
                    value: name.into(),
                    prefix: false,
                }],
            }),
            exclude: None,
        }),
        watch: false,
        watch_resume: None,
    };
    let snapshot = list_all_journals(client, request).await?;
    snapshot
        .journals
        .into_iter()
        .find_map(|j| j.spec)
        .ok_or_else(|| Error::Status {
            op: Operation::List,
            source: StatusError::Named(Status::JournalNotFound),
        })
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
    metrics::counter!("gazette_rpc_started_total", "op" => "list").increment(1);
    rpc.list(req)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| client.rpc_error(Operation::List, &Dispatch::Service, status))
}

/// Reads one snapshot from a List stream (§8.2).
async fn read_snapshot(
    client: &Client,
    stream: &mut tonic::Streaming<ListResponse>,
    request: &ListRequest,
) -> Result<ListResponse> {
    let mut assembler = SnapshotAssembler::new(request);
    loop {
        let message = stream
            .message()
            .await
            .map_err(|status| client.rpc_error(Operation::List, &Dispatch::Service, status))?;
        match assembler.next(message)? {
            SnapshotStep::More => {}
            SnapshotStep::Done(snapshot) => return Ok(snapshot),
        }
    }
}

/// A watch of the journals matching a selector: a stream of snapshots,
/// re-established with backoff whenever the List stream fails (§8.5).
///
/// Each item is a new snapshot (`Ok`) or an informational error (`Err`)
/// delivered after its backoff; the watch keeps retrying until dropped.
/// [`WatchedList::latest`] returns the last snapshot at any time.
pub struct WatchedList {
    latest: watch::Receiver<Option<Arc<ListResponse>>>,
    updates: mpsc::Receiver<std::result::Result<Arc<ListResponse>, Arc<Error>>>,
    task: tokio::task::JoinHandle<()>,
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
        let (updates_tx, updates) = mpsc::channel(1);
        let task = tokio::spawn(watch_loop(client, selector, latest_tx, updates_tx));
        WatchedList {
            latest,
            updates,
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
            .expect("watch task holds the sender while the list lives");
        found.clone().expect("predicate matched a snapshot")
    }
}

impl Drop for WatchedList {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Stream for WatchedList {
    type Item = std::result::Result<Arc<ListResponse>, Arc<Error>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.updates.poll_recv(cx)
    }
}

async fn watch_loop(
    client: Client,
    selector: LabelSelector,
    latest: watch::Sender<Option<Arc<ListResponse>>>,
    updates: mpsc::Sender<std::result::Result<Arc<ListResponse>, Arc<Error>>>,
) {
    let mut request = ListRequest {
        selector: Some(selector),
        watch: true,
        watch_resume: None,
    };
    let mut stream: Option<tonic::Streaming<ListResponse>> = None;
    let mut attempt: i32 = 0;
    loop {
        let outcome = async {
            if stream.is_none() {
                stream = Some(open_list(&client, &request).await?);
            }
            read_snapshot(&client, stream.as_mut().expect("opened"), &request).await
        }
        .instrument(tracing::debug_span!("gazette.watch_list", attempt))
        .await;

        let signal = match outcome {
            Ok(snapshot) => {
                request.watch_resume = snapshot.header.clone();
                attempt = 0;
                let snapshot = Arc::new(snapshot);
                latest.send_replace(Some(snapshot.clone()));
                Ok(snapshot)
            }
            Err(err) => {
                stream = None;
                if matches!(&err, Error::Protocol { reason, .. } if reason == CLEAN_END) {
                    attempt = 0;
                }
                tokio::time::sleep(gazette_core::backoff::backoff(attempt)).await;
                if attempt != 0 {
                    tracing::warn!(error = %err, attempt, "watched list failed; retrying");
                }
                attempt += 1;
                Err(Arc::new(err))
            }
        };
        // Never block the watch on a slow consumer: drop the signal instead.
        if let Err(mpsc::error::TrySendError::Closed(_)) = updates.try_send(signal) {
            return;
        }
    }
}

/// The reason of the error returned when a List stream ended cleanly where
/// more was expected.
pub(crate) const CLEAN_END: &str = "stream ended before a complete snapshot";

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
    let size = if size == 0 {
        request.changes.len().max(1)
    } else {
        size
    };
    let claims = Claims::for_selector(
        Capability::APPLY,
        LabelSelector::default(),
        std::time::Duration::from_secs(60),
    );
    let mut changes = request.changes.into_iter().peekable();
    loop {
        let batch = ApplyRequest {
            changes: changes.by_ref().take(size).collect(),
        };
        let span = tracing::debug_span!("gazette.apply", changes = batch.changes.len());
        let response = async {
            let mut rpc = client.journal_client(&Dispatch::Service)?;
            metrics::counter!("gazette_rpc_started_total", "op" => "apply").increment(1);
            rpc.apply(client.request(batch, &claims, true)?)
                .await
                .map(tonic::Response::into_inner)
                .map_err(|status| client.rpc_error(Operation::Apply, &Dispatch::Service, status))
        }
        .instrument(span)
        .await?;
        if let Some(source) =
            StatusError::from_status(Operation::Apply, response.status, String::new)
        {
            return Err(Error::Status {
                op: Operation::Apply,
                source,
            });
        }
        if changes.peek().is_none() {
            return Ok(response);
        }
    }
}

/// Lists every fragment of `request.journal` in its time range, following
/// page tokens. The first page's header is kept.
pub async fn list_all_fragments(
    client: &Client,
    mut request: FragmentsRequest,
) -> Result<FragmentsResponse> {
    let dispatch = Dispatch::Journal {
        journal: request.journal.clone(),
        require_primary: false,
    };
    let claims = Claims::for_journal(Capability::READ, &request.journal);
    let mut result: Option<FragmentsResponse> = None;
    loop {
        let span = tracing::debug_span!("gazette.list_fragments", journal = %request.journal);
        let mut page = async {
            let mut rpc = client.journal_client(&dispatch)?;
            metrics::counter!("gazette_rpc_started_total", "op" => "list_fragments").increment(1);
            rpc.list_fragments(client.request(request.clone(), &claims, true)?)
                .await
                .map(tonic::Response::into_inner)
                .map_err(|status| client.rpc_error(Operation::ListFragments, &dispatch, status))
        }
        .instrument(span)
        .await?;
        if let Some(source) =
            StatusError::from_status(Operation::ListFragments, page.status, String::new)
        {
            return Err(Error::Status {
                op: Operation::ListFragments,
                source,
            });
        }
        request.next_page_token = std::mem::take(&mut page.next_page_token);
        match &mut result {
            None => result = Some(page),
            Some(result) => result.fragments.append(&mut page.fragments),
        }
        if request.next_page_token == 0 {
            return Ok(result.expect("at least one page"));
        }
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
    let request = FragmentStoreHealthRequest {
        fragment_store: store.to_string(),
        check_delete: check_delete_prefix.is_some(),
        check_delete_prefix: check_delete_prefix.unwrap_or_default().to_string(),
    };
    let claims = Claims::for_selector(Capability::READ, LabelSelector::default(), HOUR);
    let mut rpc = client.journal_client(&Dispatch::Service)?;
    metrics::counter!("gazette_rpc_started_total", "op" => "fragment_store_health").increment(1);
    let response = rpc
        .fragment_store_health(client.request(request, &claims, true)?)
        .instrument(tracing::debug_span!("gazette.fragment_store_health", store))
        .await
        .map(tonic::Response::into_inner)
        .map_err(|status| {
            client.rpc_error(Operation::FragmentStoreHealth, &Dispatch::Service, status)
        })?;
    if response.status == Status::Ok as i32
        || response.status == Status::FragmentStoreUnhealthy as i32
    {
        return Ok(response);
    }
    Err(Error::Status {
        op: Operation::FragmentStoreHealth,
        source: StatusError::Generic(response.status),
    })
}
