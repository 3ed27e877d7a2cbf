//! The AppendService: batched, ordered, asynchronous appends to many
//! journals (Go's `AppendService`, docs/behaviour.md#appendservice).
//!
//! Writers spool their content to temporary files through the core's
//! `AppendService` scheduler, which groups appends of a journal into
//! batches, chains them in order, honours dependencies and decides retries.
//! This module runs its dispatch loop on tokio: it sends each dispatched
//! batch through an [`Appender`], feeds outcomes back,
//! sleeps until the scheduler's next wake-up and exports its counters.
//!
//! The loop is a spawned task that outlives the service handles: dropping
//! the last [`AppendService`] clone still delivers every released append
//! (the loop stops once nothing is left to do), as Go's serve goroutines
//! do. [`AppendService::close`] waits for that explicitly;
//! [`AppendService::cancel`] fails whatever is still pending instead
//! (docs/go-differences.md#d27).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use gazette_core::append::{
    AppendConfig, AppendError, AppendId, AppendService as Scheduler, AppendTicket, AsyncOperation,
    Dispatch, SpoolCommand, SpoolContent, SpoolError, SpoolFile, StartError, TransportError,
};
use gazette_proto::AppendRequest;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use gazette_core::client::OpError;

use crate::{Appender, Client, Error, Result};

pub use gazette_core::append::{OpFuture as AppendFuture, OpFutures as AppendFutures};

/// Carries out the scheduler's spool commands on anonymous temporary files
/// (deleted by the OS when closed), written and read positionally, outside
/// the scheduler's lock.
#[derive(Debug, Default)]
pub struct TempFileSpool {
    files: Mutex<BTreeMap<SpoolFile, Arc<std::fs::File>>>,
}

impl TempFileSpool {
    fn files(&self) -> MutexGuard<'_, BTreeMap<SpoolFile, Arc<std::fs::File>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Carries out `command` (a write creates its file on first use).
    pub fn execute(&self, command: &SpoolCommand) -> Result<(), SpoolError> {
        match command {
            SpoolCommand::Remove { file } => {
                self.files().remove(file);
                Ok(())
            }
            SpoolCommand::Read { .. } => Err(SpoolError::new(
                "the AppendService reads dispatched batches itself",
            )),
            SpoolCommand::Write { file, offset, data } => {
                let existing = self.files().get(file).cloned();
                let handle = match existing {
                    Some(handle) => handle,
                    None => {
                        let created = tempfile::tempfile().map_err(|err| {
                            SpoolError::new(format!("creating spool file: {err}"))
                        })?;
                        self.files()
                            .entry(*file)
                            .or_insert_with(|| Arc::new(created))
                            .clone()
                    }
                };
                positional::write_all_at(&handle, data, *offset)
                    .map_err(|err| SpoolError::new(format!("writing spool file: {err}")))
            }
        }
    }

    /// The bytes `content` names.
    pub fn read(&self, content: SpoolContent) -> Result<Bytes, SpoolError> {
        match content {
            SpoolContent::Bytes(bytes) => Ok(bytes),
            SpoolContent::File { file, offset, len } => {
                let handle = self
                    .files()
                    .get(&file)
                    .cloned()
                    .ok_or_else(|| SpoolError::new("spool file missing"))?;
                let mut buf = vec![0u8; len];
                positional::read_exact_at(&handle, &mut buf, offset)
                    .map_err(|err| SpoolError::new(format!("reading spool file: {err}")))?;
                Ok(Bytes::from(buf))
            }
        }
    }
}

/// Positional file IO on Unix and Windows (the spool never moves a file
/// cursor it shares).
mod positional {
    use std::fs::File;
    use std::io;

    pub(super) fn write_all_at(file: &File, mut data: &[u8], mut offset: u64) -> io::Result<()> {
        while !data.is_empty() {
            match write_at(file, data, offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    data = &data[n..];
                    offset += n as u64;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }

    #[cfg(unix)]
    fn write_at(file: &File, data: &[u8], offset: u64) -> io::Result<usize> {
        std::os::unix::fs::FileExt::write_at(file, data, offset)
    }

    #[cfg(windows)]
    fn write_at(file: &File, data: &[u8], offset: u64) -> io::Result<usize> {
        std::os::windows::fs::FileExt::seek_write(file, data, offset)
    }

    #[cfg(unix)]
    pub(super) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }

    #[cfg(windows)]
    pub(super) fn read_exact_at(
        file: &File,
        mut buf: &mut [u8],
        mut offset: u64,
    ) -> io::Result<()> {
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

/// The scheduler and the futures of its appends, under one lock.
struct State {
    scheduler: Scheduler,
    /// The operation every unresolved append's futures observe.
    ops: BTreeMap<AppendId, AsyncOperation>,
    /// Per journal, what writers waiting for its open writer's release
    /// wait on (so a release wakes only them).
    waiting: BTreeMap<String, Arc<Notify>>,
}

impl State {
    /// The operation of `append`, created on first use.
    fn op(&mut self, tag: u64, append: AppendId) -> &AsyncOperation {
        self.ops
            .entry(append)
            .or_insert_with(|| AsyncOperation::for_append(tag, append))
    }

    /// Closes the scheduler and wakes every waiting writer (to fail).
    fn close(&mut self) {
        self.scheduler.close();
        for notify in self.waiting.values() {
            notify.notify_waiters();
        }
    }

    /// Wakes the writers waiting for `journal`'s release; forgets the
    /// journal's waiting point once nobody holds it.
    fn released(&mut self, journal: &str) {
        let name = journal.split(';').next().unwrap_or(journal);
        if let Some(notify) = self.waiting.get(name) {
            notify.notify_waiters();
            if Arc::strong_count(notify) == 1 {
                self.waiting.remove(name);
            }
        }
    }

    /// The spool commands to carry out (outside the lock).
    fn spool_commands(&mut self) -> Vec<SpoolCommand> {
        std::iter::from_fn(|| self.scheduler.poll_spool()).collect()
    }

    /// Resolves the futures of every append the scheduler resolved.
    fn deliver(&mut self) {
        while let Some(resolution) = self.scheduler.poll_resolved() {
            if let Some(op) = self.ops.remove(&resolution.append) {
                let _ = op.resolve_with_response(resolution.result, resolution.response);
            }
        }
    }
}

/// Tags of services (to tell their futures apart); 0 means none.
static NEXT_TAG: AtomicU64 = AtomicU64::new(1);

struct Shared {
    client: Client,
    spool: TempFileSpool,
    /// This service's tag on the futures it hands out.
    tag: u64,
    state: Mutex<State>,
    /// Wakes the dispatch loop (a release, a finished attempt).
    work: Notify,
    /// Set once the last service handle is gone: the loop stops when idle.
    detached: AtomicBool,
    /// Cancelled by [`AppendService::cancel`]: ends running attempts and
    /// writers waiting for a journal.
    cancel: CancellationToken,
    /// True once the dispatch loop has stopped.
    stopped: watch::Sender<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The dependency identifiers of `futures`: this service's own
    /// appends by their identifier; any other future (the application's,
    /// another service's) as an external dependency resolved when it is.
    fn dependencies(self: &Arc<Self>, futures: &AppendFutures) -> Vec<AppendId> {
        let mut ids = Vec::with_capacity(futures.len());
        for future in futures.iter() {
            if let Some(id) = future.append_id(self.tag) {
                ids.push(id);
                continue;
            }
            let outcome = future.try_result();
            if let Some(Ok(())) = outcome {
                continue;
            }
            let id = self.lock().scheduler.external_dependency();
            ids.push(id);
            match outcome {
                Some(result) => self.resolve_external(id, result),
                None => {
                    let (shared, future) = (self.clone(), future.clone());
                    tokio::spawn(async move {
                        let result = future.await;
                        shared.resolve_external(id, result);
                    });
                }
            }
        }
        ids
    }

    /// Carries out spool commands that need no report (file removals; a
    /// failed removal only leaks a temporary file the OS deletes anyway).
    fn run_spool(&self, commands: &[SpoolCommand]) {
        for command in commands {
            if let Err(err) = self.spool.execute(command) {
                tracing::debug!(error = %err, "spool command failed");
            }
        }
    }

    fn resolve_external(&self, id: AppendId, result: gazette_core::append::OpResult) {
        self.lock().scheduler.resolve_external(id, result);
        self.work.notify_one();
    }
}

/// Held by every service handle (and so by every open [`AsyncAppend`]):
/// when the last one is dropped, the dispatch loop is told to finish the
/// work it has and then stop.
struct Handle(Arc<Shared>);

impl Drop for Handle {
    fn drop(&mut self) {
        self.0.detached.store(true, Ordering::SeqCst);
        self.0.work.notify_one();
    }
}

/// Batched asynchronous appends (Go's `AppendService`). Cheap to clone.
///
/// Appends to one journal commit in the order their writers were released;
/// consecutive appends with the same request and dependencies share one
/// Append RPC. A journal whose batch fails terminally rejects every later
/// append (no write lands after a lost one).
///
/// Released appends are delivered even if every handle is dropped before
/// they committed: the dispatch loop keeps running until each of them
/// resolved (retrying as long as the retry policy says). Use
/// [`close`](AppendService::close) to wait for that, and
/// [`cancel`](AppendService::cancel) to give up on pending appends. The
/// loop is a task of the runtime the service was created on, so shutting
/// that runtime down abandons whatever is still pending.
///
/// ```no_run
/// # async fn demo(client: &gazette_tokio::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use gazette_tokio::AppendService;
/// use gazette_tokio::proto::AppendRequest;
///
/// let service = AppendService::new(client);
/// let row = service.append(AppendRequest::new("examples/rows"), b"row 1\n").await?;
///
/// // Commits only after everything pending on other journals (`row` too).
/// let index = "examples/index";
/// let mut entry = service
///     .start_append(AppendRequest::new(index), &service.pending_except(index))
///     .await?;
/// entry.write(b"rows up to row 1\n")?;
/// let entry = entry.release()?;
///
/// entry.await?; // the entry's outcome
/// assert!(row.is_done());
/// service.close().await; // waits for whatever else was released
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct AppendService {
    shared: Arc<Shared>,
    _handle: Arc<Handle>,
}

impl std::fmt::Debug for AppendService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppendService").finish_non_exhaustive()
    }
}

impl AppendService {
    /// A service appending through `client` with Go's defaults (must be
    /// called within a tokio runtime).
    pub fn new(client: &Client) -> Self {
        Self::with_config(client, AppendConfig::default())
    }

    /// A service with explicit batching and retry settings.
    pub fn with_config(client: &Client, config: AppendConfig) -> Self {
        let shared = Arc::new(Shared {
            client: client.clone(),
            spool: TempFileSpool::default(),
            tag: NEXT_TAG.fetch_add(1, Ordering::Relaxed),
            state: Mutex::new(State {
                scheduler: Scheduler::new(config),
                ops: BTreeMap::new(),
                waiting: BTreeMap::new(),
            }),
            work: Notify::new(),
            detached: AtomicBool::new(false),
            cancel: CancellationToken::new(),
            stopped: watch::Sender::new(false),
        });
        // Detached: the task holds the shared state, not a handle, and ends
        // by itself once its work is done and no handle is left.
        tokio::spawn(
            dispatch_loop(shared.clone())
                .instrument(tracing::debug_span!("gazette.append_service")),
        );
        AppendService {
            _handle: Arc::new(Handle(shared.clone())),
            shared,
        }
    }

    /// Opens a writer of an append of `request` that commits only after
    /// every future of `dependencies` succeeded. Waits while another writer
    /// of the journal is open. Fails with [`AppendError::ServiceClosed`]
    /// after [`close`](AppendService::close), and a waiting call fails with
    /// [`TransportError::Cancelled`] after
    /// [`cancel`](AppendService::cancel).
    pub async fn start_append(
        &self,
        request: AppendRequest,
        dependencies: &AppendFutures,
    ) -> Result<AsyncAppend> {
        let dependencies = self.shared.dependencies(dependencies);
        loop {
            let started = self
                .shared
                .lock()
                .scheduler
                .start_append(&request, &dependencies);
            match started {
                Ok(ticket) => {
                    return Ok(AsyncAppend {
                        service: self.clone(),
                        request,
                        ticket: Some(ticket),
                    });
                }
                Err(StartError::WriterActive { journal }) => {
                    if self.shared.cancel.is_cancelled() {
                        return Err(Error::Append(AppendError::Transport(
                            TransportError::Cancelled,
                        )));
                    }
                    self.wait_for_release(&journal).await;
                }
                Err(StartError::InvalidRequest(err)) => return Err(Error::Append(err.into())),
                Err(StartError::Closed) => return Err(Error::Append(AppendError::ServiceClosed)),
                Err(other) => {
                    return Err(Error::Append(AppendError::Rejected(other.to_string())));
                }
            }
        }
    }

    /// Waits until `journal`'s open writer is released (or the service is
    /// closed or cancelled).
    async fn wait_for_release(&self, journal: &str) {
        let notify = self
            .shared
            .lock()
            .waiting
            .entry(journal.to_string())
            .or_default()
            .clone();
        let released = notify.notified();
        tokio::pin!(released);
        // Registered before checking, so a release in between is not missed.
        released.as_mut().enable();
        let still_active = {
            let state = self.shared.lock();
            state.scheduler.writer_active(journal) && !state.scheduler.is_closed()
        };
        if !still_active {
            return;
        }
        tokio::select! {
            () = released => {}
            () = self.shared.cancel.cancelled() => {}
        }
    }

    /// Takes no more appends, waits until every released append has
    /// committed or failed, then stops the dispatch loop. Applies to every
    /// clone of this service: later [`start_append`](Self::start_append)
    /// calls fail with [`AppendError::ServiceClosed`]. Writers that are
    /// still open may write and release (close waits for them, so do not
    /// hold one across this call). Pending appends are retried as the retry
    /// policy says, possibly for a long time while brokers are unreachable;
    /// bound the wait with a timeout, or call
    /// [`cancel`](Self::cancel) to fail them instead.
    pub async fn close(&self) {
        self.shared.lock().close();
        self.shared.work.notify_one();
        let mut stopped = self.shared.stopped.subscribe();
        // The sender lives in `shared`, which this handle keeps alive.
        let _ = stopped.wait_for(|stopped| *stopped).await;
    }

    /// Gives up on everything pending (Go's cancellation of the service's
    /// context): running attempts are abandoned, and every unresolved
    /// append — in flight, in backoff or waiting for dependencies — fails
    /// with [`TransportError::Cancelled`] (dependents of those with
    /// [`AppendError::DependencyFailed`]), poisoning its journal. Writers
    /// waiting for a journal fail the same way; appends started later fail
    /// once released. Returns at once; [`close`](Self::close) waits until
    /// everything resolved and the loop stopped.
    pub fn cancel(&self) {
        self.shared.lock().scheduler.cancel();
        self.shared.cancel.cancel();
        self.shared.work.notify_one();
    }

    /// Appends `content` as one append of `request` and returns its future.
    pub async fn append(&self, request: AppendRequest, content: &[u8]) -> Result<AppendFuture> {
        let mut writer = self.start_append(request, &AppendFutures::new()).await?;
        writer.write(content)?;
        writer.release()
    }

    /// Appends `record` as one newline-delimited record (its newline added
    /// when missing) and returns the append's future. Read it back with
    /// [`Records`](crate::Records).
    pub async fn append_record(
        &self,
        request: AppendRequest,
        record: &[u8],
    ) -> Result<AppendFuture> {
        let mut writer = self.start_append(request, &AppendFutures::new()).await?;
        writer.write_record(record)?;
        writer.release()
    }

    /// Futures of everything pending on journals other than `journal`
    /// (all journals for `""`): a dependency set for an append that must
    /// follow every other in-flight write.
    pub fn pending_except(&self, journal: &str) -> AppendFutures {
        let tag = self.shared.tag;
        let mut state = self.shared.lock();
        let ids = state.scheduler.pending_except(journal);
        ids.into_iter()
            .map(|id| match state.scheduler.failure_of(id) {
                // A poisoned journal's failed append: resolved, and the
                // same set member on every call (it carries the same id).
                Some(err) => {
                    let op = AsyncOperation::for_append(tag, id);
                    let _ = op.resolve(Err(err.clone()));
                    op.future()
                }
                None => state.op(tag, id).future(),
            })
            .collect()
    }

    /// Clears `journal`'s terminal error and returns it, so appends started
    /// afterwards are sent again (beyond Go, where a journal that failed
    /// terminally stays failed for the service's lifetime,
    /// docs/go-differences.md#d21): e.g. once a
    /// journal that was JOURNAL_NOT_FOUND has been created. `None` when the
    /// journal is not poisoned.
    pub fn clear_poison(&self, journal: &str) -> Option<AppendError> {
        let cleared = self.shared.lock().scheduler.clear_poison(journal);
        self.shared.work.notify_one();
        cleared
    }

    /// The scheduler's counters.
    pub fn metrics(&self) -> gazette_core::append::AppendMetrics {
        self.shared.lock().scheduler.metrics()
    }
}

/// An open append of an [`AppendService`] (Go's `AsyncAppend` between
/// `StartAppend` and `Release`). Write content with [`AsyncAppend::write`],
/// `std::io::Write` or `tokio::io::AsyncWrite`, then [`release`](AsyncAppend::release) it. Dropping
/// it unreleased rolls its content back.
pub struct AsyncAppend {
    service: AppendService,
    request: AppendRequest,
    ticket: Option<AppendTicket>,
}

impl std::fmt::Debug for AsyncAppend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncAppend")
            .field("journal", &self.request.journal)
            .finish_non_exhaustive()
    }
}

impl AsyncAppend {
    /// The append's request.
    pub fn request(&self) -> &AppendRequest {
        &self.request
    }

    /// Spools `data` (to a temporary file beyond a small front buffer).
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        let ticket = self.ticket.as_ref().expect("writer is open");
        let shared = &self.service.shared;
        let commands = {
            let mut state = shared.lock();
            state.scheduler.write(ticket, data)?;
            state.spool_commands()
        };
        for command in &commands {
            if let Err(err) = shared.spool.execute(command) {
                let offset = match command {
                    SpoolCommand::Write { offset, .. } => *offset,
                    _ => u64::MAX,
                };
                let mut state = shared.lock();
                state
                    .scheduler
                    .handle_spool_failed(ticket, offset, err.clone());
                return Err(Error::Append(AppendError::Spool(err.to_string())));
            }
        }
        Ok(())
    }

    /// Spools `record` as one newline-delimited record: its newline is
    /// added when missing (a record with newlines inside is several
    /// records).
    pub fn write_record(&mut self, record: &[u8]) -> Result<()> {
        self.write(record)?;
        if !record.ends_with(b"\n") {
            self.write(b"\n")?;
        }
        Ok(())
    }

    /// Rolls this writer's content back at release, failing it with `err`
    /// (Go's `Require`, which keeps the error value itself:
    /// docs/go-differences.md#d28). The first reason recorded wins.
    pub fn require(&mut self, err: impl std::fmt::Display) {
        let ticket = self.ticket.as_ref().expect("writer is open");
        self.service
            .shared
            .lock()
            .scheduler
            .require(ticket, AppendError::Rejected(err.to_string()));
    }

    /// Releases the writer: its content joins the batch, which commits in
    /// order. Returns the batch's future (await it for the outcome; its
    /// `response()` is the broker's AppendResponse).
    pub fn release(mut self) -> Result<AppendFuture> {
        let ticket = self.ticket.take().expect("writer is open");
        self.finish(ticket)
    }

    fn finish(&mut self, ticket: AppendTicket) -> Result<AppendFuture> {
        let shared = &self.service.shared;
        let result = {
            let mut state = shared.lock();
            let result = state
                .scheduler
                .release(ticket)
                .map(|id| state.op(shared.tag, id).future());
            state.released(&self.request.journal);
            result
        };
        shared.work.notify_one();
        Ok(result?)
    }
}

impl Write for AsyncAppend {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        AsyncAppend::write(self, buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Spools writes as [`AsyncAppend::write`] does (local IO only, never
/// waiting on a broker: every poll is ready). Flushing does nothing and
/// shutting down does not release: [`release`](AsyncAppend::release)
/// does, and returns the future of the commit.
impl tokio::io::AsyncWrite for AsyncAppend {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Write::write(self.get_mut(), buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Drop for AsyncAppend {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            let scheduler = &self.service.shared;
            scheduler.lock().scheduler.require(
                &ticket,
                AppendError::Rejected("append dropped before release".into()),
            );
            let _ = self.finish(ticket);
        }
    }
}

/// The scheduler's driver loop (core `append` module docs): dispatch
/// everything ready, then sleep until a release, a finished attempt or an
/// external dependency's outcome (`work`), or the next backoff deadline. Stops once the scheduler is idle and either the service was
/// closed or its last handle dropped.
async fn dispatch_loop(shared: Arc<Shared>) {
    loop {
        let ((dispatches, removed), wakeup, metrics, idle, closed) = {
            let mut state = shared.lock();
            let now = shared.client.engine().now();
            let mut dispatches = Vec::new();
            while let Some(dispatch) = state.scheduler.poll_dispatch(now) {
                dispatches.push(dispatch);
            }
            state.deliver();
            let removed = state.spool_commands();
            let scheduler = &state.scheduler;
            (
                (dispatches, removed),
                scheduler.next_wakeup(),
                scheduler.metrics(),
                scheduler.is_idle(),
                scheduler.is_closed(),
            )
        };
        crate::telemetry::append_service(&metrics);
        shared.run_spool(&removed);
        for dispatch in dispatches {
            tokio::spawn(run_attempt(shared.clone(), dispatch));
        }
        // `detached` is read after the scheduler: a handle dropped since
        // then has stored a `work` permit, so the select below returns.
        if idle && (closed || shared.detached.load(Ordering::SeqCst)) {
            shared.stopped.send_replace(true);
            return;
        }
        let sleep = async {
            match wakeup {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.work.notified() => {}
            () = sleep => {}
        }
    }
}

async fn run_attempt(shared: Arc<Shared>, dispatch: Dispatch) {
    let span = tracing::debug_span!(
        "gazette.append_batch",
        journal = %dispatch.request.journal,
        len = dispatch.len,
        attempt = dispatch.attempt
    );
    // A cancel abandons the attempt: its stream is dropped, and a broker
    // discards an append whose stream ends before the commit marker. (One
    // already committed is still reported as cancelled, as in Go.)
    let mut refused = None;
    let result = tokio::select! {
        biased;
        () = shared.cancel.cancelled() => Err(AppendError::Transport(TransportError::Cancelled)),
        result = attempt(&shared, &dispatch, &mut refused).instrument(span) => result,
    };
    if let Err(err) = &result {
        tracing::debug!(error = %err, "append batch attempt failed");
    }
    let removed = {
        let mut state = shared.lock();
        state.scheduler.on_append_finished_with_response(
            dispatch.batch,
            result,
            refused,
            shared.client.engine().now(),
        );
        state.deliver();
        state.spool_commands()
    };
    shared.run_spool(&removed);
    shared.work.notify_one();
}

/// One attempt; `refused` gets the broker's response when it refused the
/// append with a status.
async fn attempt(
    shared: &Shared,
    dispatch: &Dispatch,
    refused: &mut Option<gazette_proto::AppendResponse>,
) -> std::result::Result<gazette_proto::AppendResponse, AppendError> {
    let mut appender = Appender::new(&shared.client, dispatch.request.clone())
        .map_err(|err| AppendError::Transport(TransportError::Other(err.to_string())))?;
    let chunk = shared.lock().scheduler.config().chunk_size;
    let mut offset = 0u64;
    while offset < dispatch.len {
        let content = shared
            .lock()
            .scheduler
            .read_content(dispatch.batch, offset, chunk)
            .and_then(|content| {
                shared
                    .spool
                    .read(content)
                    .map_err(|err| AppendError::Spool(err.to_string()))
            });
        match content {
            Ok(content) => {
                offset += content.len() as u64;
                if content.is_empty() {
                    break;
                }
                appender.write_op(content).await.map_err(core_error)?;
            }
            Err(err) => {
                appender.abort().await;
                return Err(err);
            }
        }
    }
    let result = appender.commit_op().await.map_err(core_error);
    if result.is_err() {
        *refused = appender.response().cloned();
    }
    result
}

/// An attempt's failure as the scheduler takes it (a transport failure is
/// classified by the core's `RpcFailure` conversion).
fn core_error(err: OpError) -> AppendError {
    match err {
        OpError::Append(err) => err,
        OpError::Rpc { failure, .. } => AppendError::Transport(failure.into()),
        other => AppendError::Transport(TransportError::Other(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_spool_reads_back_positional_writes() {
        let spool = TempFileSpool::default();
        let file = SpoolFile(1);
        let write = |offset, data: &'static [u8]| SpoolCommand::Write {
            file,
            offset,
            data: Bytes::from_static(data),
        };
        spool.execute(&write(0, b"hello world")).unwrap();
        spool.execute(&write(6, b"there")).unwrap();
        let read = |offset, len| spool.read(SpoolContent::File { file, offset, len });
        assert_eq!(read(0, 11).unwrap(), &b"hello there"[..]);
        assert!(read(8, 10).is_err(), "reads past the end fail");
        spool.execute(&SpoolCommand::Remove { file }).unwrap();
        assert!(read(0, 1).is_err(), "a removed file is gone");
    }
}
