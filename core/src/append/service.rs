//! The AppendService scheduler (docs/behaviour.md#appendservice) as a pure state
//! machine: per-journal FIFO chains of batches, batching of compatible
//! appends, dependencies, rollback of a writer's own bytes, retries with
//! backoff, and journal poisoning. See the [module docs](super) for the
//! driver loop.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::Instant;

use gazette_proto::{AppendRequest, AppendResponse};

use super::appender::{DEFAULT_CHUNK_SIZE, strip_append_meta, validate_preamble};
use super::error::{AppendError, RequestError, TransportError};
use super::metrics::AppendMetrics;
use super::policy::{BatchDecision, BatchRetryPolicy};
use super::queue::{AppendId, Batch, BatchState, JournalQueue, Writer, may_join};
use super::spool::{
    DEFAULT_FRONT_BUFFER, SpoolBuffer, SpoolCommand, SpoolContent, SpoolError, SpoolFile,
};
use crate::backoff::Backoff;

/// Go's batch cutoff: a batch holding more than 64 MiB takes no more
/// appends.
pub const DEFAULT_BATCH_CUTOFF: u64 = 1 << 26;

/// Tunables of an [`AppendService`].
#[derive(Debug, Clone)]
pub struct AppendConfig {
    /// A batch whose released bytes exceed this (strictly) takes no more
    /// appends. Default 64 MiB (Go).
    pub batch_cutoff: u64,
    /// Capacity of each batch's front buffer. Default 8 KiB (Go).
    pub front_buffer: usize,
    /// Largest chunk a driver should read per [`AppendService::read_content`].
    pub chunk_size: usize,
    /// Which failed attempts are retried.
    pub retry: BatchRetryPolicy,
    /// Backoff between attempts (Go's schedule; jitter optional).
    pub backoff: Backoff,
    /// Idle spool buffers kept for reuse.
    pub max_pooled_buffers: usize,
    /// Keep a journal's terminal error for the service's lifetime (Go,
    /// quirk 15). When false, the poison is cleared once every batch queued
    /// at the time of the failure has failed (docs/go-differences.md#d21).
    pub permanent_poison: bool,
}

impl Default for AppendConfig {
    fn default() -> Self {
        AppendConfig {
            batch_cutoff: DEFAULT_BATCH_CUTOFF,
            front_buffer: DEFAULT_FRONT_BUFFER,
            chunk_size: DEFAULT_CHUNK_SIZE,
            retry: BatchRetryPolicy::default(),
            backoff: Backoff::go(),
            max_pooled_buffers: 16,
            permanent_poison: true,
        }
    }
}

/// Why `start_append` could not open a writer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Another writer of this journal has not released yet. Go blocks on
    /// the journal lock; a driver waits for that writer's release and calls
    /// again (docs/go-differences.md#d44).
    #[error("journal {journal} has an active writer")]
    WriterActive {
        /// The journal.
        journal: String,
    },
    /// The request is not a valid preamble. Go retries such a request
    /// forever (quirk 17, docs/go-differences.md#d24).
    #[error(transparent)]
    InvalidRequest(#[from] RequestError),
    /// [`AppendService::close`] was called: the service takes no new
    /// appends (drivers report [`AppendError::ServiceClosed`]).
    #[error("append service is closed")]
    Closed,
    /// A dependency is no identifier this service handed out.
    #[error("unknown dependency {0:?}")]
    UnknownDependency(AppendId),
}

/// An open writer's claim on its batch (Go's AsyncAppend between
/// `StartAppend` and `Release`). Consumed by [`AppendService::release`].
#[derive(Debug)]
#[must_use = "a writer must be released, or its journal stays blocked"]
pub struct AppendTicket {
    journal: usize,
    batch: AppendId,
}

impl AppendTicket {
    /// The batch this writer joined: what its append resolves with.
    pub fn batch(&self) -> AppendId {
        self.batch
    }
}

/// A batch whose Append RPC attempt the driver should run now: stream
/// `[0, len)` of its content (from [`AppendService::read_content`]) through
/// an [`super::Appender`] for `request`, then report the outcome with
/// [`AppendService::on_append_finished`].
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    /// The batch.
    pub batch: AppendId,
    /// The preamble to send.
    pub request: AppendRequest,
    /// Content bytes of the batch.
    pub len: u64,
    /// Attempt number, from 0.
    pub attempt: u32,
}

/// How an append resolved ([`AppendService::poll_resolved`]): every writer
/// released into `append` shares it.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The batch (or external dependency).
    pub append: AppendId,
    /// Its result.
    pub result: Result<(), AppendError>,
    /// The broker's response to the last attempt: the commit on success,
    /// the refusal (REGISTER_MISMATCH, ...) on a status failure.
    pub response: Option<AppendResponse>,
}

/// The batching append scheduler. Spool IO leaves as [`SpoolCommand`]s
/// ([`AppendService::poll_spool`]).
///
/// Its cost does not grow with the number of journals it holds: journals
/// with something to do wait in a ready queue, batches in backoff in a
/// timer set, and a batch waiting for dependencies counts them down as
/// each resolves. Only [`AppendService::pending_except`] visits every
/// journal (its answer names one append per journal). A journal with
/// nothing queued, no writer and no terminal error is forgotten.
#[derive(Debug)]
pub struct AppendService {
    config: AppendConfig,
    /// Journal name to slot in `journals`; looked up, never iterated.
    index: HashMap<String, usize>,
    journals: Vec<Option<JournalQueue>>,
    /// Free slots of `journals`, reused last-in first-out.
    free: Vec<usize>,
    pool: Vec<SpoolBuffer>,
    last_id: u64,
    last_file: u64,
    spool_commands: VecDeque<SpoolCommand>,
    /// Journals whose chain may progress.
    ready: VecDeque<usize>,
    /// Batches in backoff: (when, journal, batch).
    timers: BTreeSet<(Instant, usize, AppendId)>,
    /// The journal of every unresolved batch.
    pending: BTreeMap<AppendId, usize>,
    /// Unresolved external dependencies.
    externals: BTreeSet<AppendId>,
    /// Sealed heads waiting for a dependency: dependency to (journal, batch).
    waiters: BTreeMap<AppendId, Vec<(usize, AppendId)>>,
    /// Every failed append, so a later dependency on it fails too.
    failed: BTreeMap<AppendId, AppendError>,
    resolved: VecDeque<Resolution>,
    closed: bool,
    cancelled: bool,
    metrics: AppendMetrics,
}

impl AppendService {
    /// A service with `config`.
    pub fn new(config: AppendConfig) -> Self {
        AppendService {
            config,
            index: HashMap::new(),
            journals: Vec::new(),
            free: Vec::new(),
            pool: Vec::new(),
            last_id: 0,
            last_file: 0,
            spool_commands: VecDeque::new(),
            ready: VecDeque::new(),
            timers: BTreeSet::new(),
            pending: BTreeMap::new(),
            externals: BTreeSet::new(),
            waiters: BTreeMap::new(),
            failed: BTreeMap::new(),
            resolved: VecDeque::new(),
            closed: false,
            cancelled: false,
            metrics: AppendMetrics::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AppendConfig {
        &self.config
    }

    /// The next spool IO to carry out. The driver executes every command
    /// a [`write`](Self::write) produced before that writer's next call
    /// (so a batch is never read before its bytes are in its file), and
    /// reports a failure with [`handle_spool_failed`](Self::handle_spool_failed).
    #[must_use]
    pub fn poll_spool(&mut self) -> Option<SpoolCommand> {
        self.spool_commands.pop_front()
    }

    /// A spool write for the writer of `ticket`, at `offset` of its
    /// batch's file, failed: the writer is broken (its `release` rolls its
    /// bytes back and returns the error). When the failed write held bytes
    /// of appends released before this writer (`offset` below where the
    /// writer started), those are lost, and the batch fails with the error
    /// once dispatched, poisoning its journal.
    pub fn handle_spool_failed(&mut self, ticket: &AppendTicket, offset: u64, error: SpoolError) {
        let err = AppendError::Spool(error.to_string());
        let queue = self.queue_mut(ticket.journal);
        let Some(writer) = queue.writer.as_mut().filter(|w| w.batch == ticket.batch) else {
            return;
        };
        writer.error.get_or_insert(err.clone());
        if offset < writer.start
            && let Some(batch) = queue.batches.back_mut()
        {
            batch.broken.get_or_insert(err);
        }
    }

    /// The counters.
    pub fn metrics(&self) -> AppendMetrics {
        self.metrics
    }

    fn next_id(&mut self) -> AppendId {
        self.last_id += 1;
        AppendId(self.last_id)
    }

    fn queue(&self, j: usize) -> &JournalQueue {
        self.journals[j].as_ref().expect("live journal")
    }

    fn queue_mut(&mut self, j: usize) -> &mut JournalQueue {
        self.journals[j].as_mut().expect("live journal")
    }

    /// Puts journal `j` in the ready queue (once).
    fn wake(&mut self, j: usize) {
        if let Some(Some(queue)) = self.journals.get_mut(j)
            && !queue.queued
        {
            queue.queued = true;
            self.ready.push_back(j);
        }
    }

    /// A dependency that the application (or another service) resolves:
    /// appends may depend on it like on any append of this service, and
    /// [`AppendService::resolve_external`] reports its outcome. Drivers
    /// use it for dependencies that are not this service's appends.
    pub fn external_dependency(&mut self) -> AppendId {
        let id = self.next_id();
        self.externals.insert(id);
        id
    }

    /// Reports how external dependency `id` ended. Unknown or already
    /// resolved identifiers are ignored.
    pub fn resolve_external(&mut self, id: AppendId, result: Result<(), AppendError>) {
        if !self.externals.remove(&id) {
            return;
        }
        if let Err(err) = &result {
            self.failed.insert(id, err.clone());
        }
        self.resolved.push_back(Resolution {
            append: id,
            result: result.clone(),
            response: None,
        });
        self.dependency_resolved(id, result);
    }

    /// Opens a writer for an append of `request` that must commit only
    /// after every append of `deps` succeeded (docs/behaviour.md#starting-an-append). The append joins the
    /// journal's open tail batch when the request is identical, `deps` is a
    /// subset of the tail's, and the tail is within the cutoff; otherwise a
    /// new batch is queued behind it. Order within a journal is preserved.
    ///
    /// An invalid request fails here, before anything is queued, so it is
    /// never sent nor retried. A `;meta` segment on the journal is stripped
    /// (never sent on Append, see [`super::Appender::new`]): `a;m` and `a`
    /// share one queue. A dependency that already succeeded is dropped
    /// from `deps`; one that failed stays (the batch fails with it).
    pub fn start_append(
        &mut self,
        request: &AppendRequest,
        deps: &[AppendId],
    ) -> Result<AppendTicket, StartError> {
        if self.closed {
            return Err(StartError::Closed);
        }
        if let Some(unknown) = deps.iter().find(|d| d.0 == 0 || d.0 > self.last_id) {
            return Err(StartError::UnknownDependency(*unknown));
        }
        let mut deps: Vec<AppendId> = deps
            .iter()
            .copied()
            .filter(|d| {
                self.pending.contains_key(d)
                    || self.externals.contains(d)
                    || self.failed.contains_key(d)
            })
            .collect();
        deps.sort_unstable();
        deps.dedup();
        let stripped;
        let request = if request.journal.contains(';') {
            validate_preamble(request)?;
            let mut plain = request.clone();
            strip_append_meta(&mut plain);
            stripped = plain;
            &stripped
        } else {
            request
        };
        let journal = match self.index.get(request.journal.as_str()) {
            Some(&j) => j,
            None => {
                validate_preamble(request)?;
                let queue = JournalQueue::new(request.journal.clone());
                let j = match self.free.pop() {
                    Some(j) => {
                        self.journals[j] = Some(queue);
                        j
                    }
                    None => {
                        self.journals.push(Some(queue));
                        self.journals.len() - 1
                    }
                };
                self.index.insert(request.journal.clone(), j);
                j
            }
        };
        let cutoff = self.config.batch_cutoff;
        let queue = self.queue(journal);
        if queue.writer.is_some() {
            return Err(StartError::WriterActive {
                journal: queue.name.clone(),
            });
        }
        let joinable = queue.batches.back().is_some_and(|tail| {
            tail.state == BatchState::Open
                && may_join(
                    &tail.request,
                    &tail.deps,
                    tail.checkpoint,
                    cutoff,
                    request,
                    &deps,
                )
        });
        if !joinable {
            validate_preamble(request)?;
            let id = self.next_id();
            let spool = match self.pool.pop() {
                Some(spool) => spool,
                None => {
                    self.last_file += 1;
                    SpoolBuffer::new(SpoolFile(self.last_file), self.config.front_buffer)
                }
            };
            self.pending.insert(id, journal);
            self.queue_mut(journal).batches.push_back(Batch {
                id,
                request: request.clone(),
                deps,
                spool,
                checkpoint: 0,
                released: 0,
                state: BatchState::Open,
                registered: false,
                waiting: 0,
                dep_failure: None,
                broken: None,
            });
            self.metrics.batches_created += 1;
        }
        let queue = self.queue_mut(journal);
        let tail = queue.batches.back().expect("tail exists");
        let ticket = AppendTicket {
            journal,
            batch: tail.id,
        };
        queue.writer = Some(Writer {
            batch: tail.id,
            start: tail.checkpoint,
            error: None,
        });
        self.metrics.appends_started += 1;
        Ok(ticket)
    }

    /// Appends `data` to the writer's content. After the first failure the
    /// writer is broken: later writes are ignored and `release` rolls back
    /// and returns that failure.
    pub fn write(&mut self, ticket: &AppendTicket, data: &[u8]) -> Result<(), AppendError> {
        let queue = self.journals[ticket.journal]
            .as_mut()
            .expect("ticket holds the journal");
        let writer = queue.writer.as_mut().expect("ticket holds the writer");
        if let Some(err) = &writer.error {
            return Err(err.clone());
        }
        let batch = queue
            .batches
            .back_mut()
            .expect("the writer's batch is the tail");
        debug_assert_eq!(batch.id, ticket.batch);
        batch.spool.write(data, &mut self.spool_commands);
        Ok(())
    }

    /// Records `err` as the reason to roll this writer back (the first
    /// recorded reason wins).
    pub fn require(&mut self, ticket: &AppendTicket, err: AppendError) {
        let writer = self
            .queue_mut(ticket.journal)
            .writer
            .as_mut()
            .expect("ticket holds the writer");
        writer.error.get_or_insert(err);
    }

    /// Releases the writer (docs/behaviour.md#release-and-rollback). Without a recorded error its bytes
    /// become part of the batch and the batch's identifier is returned;
    /// with one, exactly this writer's bytes are rolled back and the error
    /// returned. Either way the journal takes its next writer.
    pub fn release(&mut self, ticket: AppendTicket) -> Result<AppendId, AppendError> {
        let j = ticket.journal;
        self.wake(j);
        let queue = self.queue_mut(j);
        let writer = queue.writer.take().expect("ticket holds the writer");
        let batch = queue
            .batches
            .back_mut()
            .expect("the writer's batch is the tail");
        let written = batch.spool.len() - writer.start;
        if let Some(err) = writer.error {
            batch.spool.rollback_to(writer.start);
            self.metrics.appends_rolled_back += 1;
            self.metrics.bytes_rolled_back += written;
            return Err(err);
        }
        batch.checkpoint = batch.spool.len();
        batch.released += 1;
        let id = batch.id;
        self.metrics.appends_released += 1;
        self.metrics.bytes_released += written;
        self.metrics.spooled_bytes += written;
        Ok(id)
    }

    /// Marks the service's context as cancelled (docs/behaviour.md#serve-loop): in-flight attempts
    /// are expected to fail with [`TransportError::Cancelled`]; every other
    /// unresolved batch — also one waiting for dependencies or in backoff,
    /// unlike Go (quirks 14, 33) — fails with it at the next poll, and
    /// poisons its journal (docs/go-differences.md#d23).
    pub fn cancel(&mut self) {
        self.cancelled = true;
        for j in 0..self.journals.len() {
            self.wake(j);
        }
    }

    /// Stops taking appends: every later `start_append` fails with
    /// [`StartError::Closed`]. Open writers may still write and release, and
    /// every queued batch is dispatched and resolved as usual; the service
    /// is done once [`AppendService::is_idle`], which is when a driver stops
    /// its dispatch loop.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// True once [`AppendService::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True once [`AppendService::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    /// The next batch to dispatch on any journal, advancing chains as far
    /// as they go (sealing, resolving empty or poisoned batches, failing on
    /// dependency failures). Only journals something happened to are
    /// visited, in the order it happened.
    ///
    /// `None` means nothing can progress until an input arrives: a release,
    /// an attempt outcome, time reaching [`AppendService::next_wakeup`], an
    /// external dependency resolving or a cancel. Resolutions are queued
    /// for [`AppendService::poll_resolved`].
    pub fn poll_dispatch(&mut self, now: Instant) -> Option<Dispatch> {
        while let Some(&(at, j, batch)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if self
                .journals
                .get(j)
                .and_then(Option::as_ref)
                .is_some_and(|q| q.batches.front().is_some_and(|b| b.id == batch))
            {
                self.wake(j);
            }
        }
        while let Some(j) = self.ready.pop_front() {
            let Some(queue) = self.journals.get_mut(j).and_then(Option::as_mut) else {
                continue;
            };
            queue.queued = false;
            let dispatch = self.advance(j, now);
            self.forget_if_drained(j);
            if dispatch.is_some() {
                return dispatch;
            }
        }
        None
    }

    /// Like [`AppendService::poll_dispatch`], for one journal (a per-journal
    /// task loop).
    pub fn poll_dispatch_journal(&mut self, journal: &str, now: Instant) -> Option<Dispatch> {
        let j = *self.index.get(journal)?;
        let dispatch = self.advance(j, now);
        self.forget_if_drained(j);
        dispatch
    }

    /// The next resolved append (batch or external dependency), in the
    /// order they resolved.
    #[must_use]
    pub fn poll_resolved(&mut self) -> Option<Resolution> {
        self.resolved.pop_front()
    }

    /// The earliest instant at which a batch in backoff becomes ready.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// Where content bytes `[offset, offset + max_len)` of dispatched
    /// `batch` are, clipped to its released length (and to the part in its
    /// file or in its front buffer: the next read continues). Chunk
    /// boundaries carry no meaning.
    pub fn read_content(
        &mut self,
        batch: AppendId,
        offset: u64,
        max_len: usize,
    ) -> Result<SpoolContent, AppendError> {
        let head = self
            .pending
            .get(&batch)
            .and_then(|&j| self.journals[j].as_mut())
            .and_then(|q| q.batches.front_mut())
            .filter(|b| b.id == batch);
        let Some(b) = head else {
            return Err(AppendError::Spool(format!("{batch:?} is not dispatched")));
        };
        let len = b.checkpoint.saturating_sub(offset).min(max_len as u64) as usize;
        let content = b.spool.read(offset, len);
        self.metrics.bytes_sent += content.len() as u64;
        Ok(content)
    }

    /// Reports the outcome of `batch`'s running attempt (docs/behaviour.md#serve-loop): success
    /// resolves the batch; a retryable failure schedules the next attempt
    /// after a backoff; any other failure resolves the batch with the error
    /// and poisons the journal. Unknown or not-in-flight batches are ignored.
    pub fn on_append_finished(
        &mut self,
        batch: AppendId,
        result: Result<AppendResponse, AppendError>,
        now: Instant,
    ) {
        self.on_append_finished_with_response(batch, result, None, now);
    }

    /// [`on_append_finished`](Self::on_append_finished) of an attempt
    /// that failed with the broker's `refused` response (a status such as
    /// REGISTER_MISMATCH): if the batch fails, its [`Resolution`] carries
    /// that response (Go's `AsyncAppend.Response()` after a failure).
    pub fn on_append_finished_with_response(
        &mut self,
        batch: AppendId,
        result: Result<AppendResponse, AppendError>,
        refused: Option<AppendResponse>,
        now: Instant,
    ) {
        let Some(&j) = self.pending.get(&batch) else {
            return;
        };
        let cancelled = self.cancelled;
        let Some(head) = self.journals[j]
            .as_ref()
            .and_then(|q| q.batches.front())
            .filter(|b| b.id == batch)
        else {
            return;
        };
        let BatchState::InFlight { attempt } = head.state else {
            return;
        };
        match result {
            Ok(response) => self.resolve_head(j, Ok(()), Some(response)),
            Err(err) => {
                let decision = if cancelled {
                    BatchDecision::Fail
                } else {
                    self.config.retry.classify(&head.request, &err)
                };
                match decision {
                    BatchDecision::Retry => {
                        let delay = self
                            .config
                            .backoff
                            .delay(attempt.min(i32::MAX as u32) as i32);
                        let until = now + delay;
                        let head = self.queue_mut(j).batches.front_mut().expect("head");
                        head.state = BatchState::Backoff {
                            attempt: attempt + 1,
                            until,
                        };
                        self.timers.insert((until, j, batch));
                        self.metrics.retries += 1;
                    }
                    BatchDecision::Fail => {
                        self.poison(j, err.clone(), batch);
                        self.resolve_head(j, Err(err), refused);
                    }
                }
            }
        }
        self.wake(j);
    }

    /// Everything pending on journals other than `journal` (all journals
    /// for `""`), sorted: each chain's tail batch, and the failed append of
    /// each poisoned journal. Unlike Go (quirk 20) a poisoned journal
    /// answers with the same append on every call, so results stay subsets
    /// of each other and batching keeps working (docs/go-differences.md#d26).
    /// Linear in the number of journals.
    pub fn pending_except(&self, journal: &str) -> Vec<AppendId> {
        let mut ids = Vec::new();
        for q in self.journals.iter().flatten().filter(|q| q.name != journal) {
            if let Some((_, id)) = &q.poison {
                ids.push(*id);
            }
            if let Some(tail) = q.batches.back() {
                ids.push(tail.id);
            }
        }
        ids.sort_unstable();
        ids
    }

    /// The error `append` failed with, if it failed (`None` while pending,
    /// after success, or for an identifier never handed out).
    pub fn failure_of(&self, append: AppendId) -> Option<&AppendError> {
        self.failed.get(&append)
    }

    /// The terminal error of `journal`, if poisoned.
    pub fn poison_of(&self, journal: &str) -> Option<&AppendError> {
        let j = *self.index.get(journal)?;
        self.queue(j).poison.as_ref().map(|(e, _)| e)
    }

    /// Clears `journal`'s terminal error (beyond Go, whose poison lasts the
    /// service's lifetime), returning it. Batches queued afterwards are sent
    /// normally (docs/go-differences.md#d21).
    pub fn clear_poison(&mut self, journal: &str) -> Option<AppendError> {
        let j = *self.index.get(journal)?;
        let cleared = self.queue_mut(j).poison.take().map(|(e, _)| e);
        self.wake(j);
        cleared
    }

    /// The state of `batch`, or `None` once resolved.
    pub fn batch_state(&self, batch: AppendId) -> Option<BatchState> {
        let &j = self.pending.get(&batch)?;
        self.queue(j)
            .batches
            .iter()
            .find(|b| b.id == batch)
            .map(|b| b.state)
    }

    /// Unresolved batches of `journal`, oldest first, with their released
    /// byte counts.
    pub fn queued(&self, journal: &str) -> Vec<(AppendId, u64)> {
        self.index
            .get(journal)
            .map(|&j| {
                self.queue(j)
                    .batches
                    .iter()
                    .map(|b| (b.id, b.checkpoint))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// True while `journal` (without its `;meta` segment) has an open
    /// writer: a driver waiting on [`StartError::WriterActive`] checks it
    /// after registering for that journal's release.
    pub fn writer_active(&self, journal: &str) -> bool {
        let name = journal.split(';').next().unwrap_or(journal);
        self.index
            .get(name)
            .is_some_and(|&j| self.queue(j).writer.is_some())
    }

    /// Journals the service holds state for (queued batches, an open
    /// writer or a terminal error); drained journals are forgotten.
    pub fn journal_count(&self) -> usize {
        self.index.len()
    }

    /// True when no batch is unresolved and no writer is open.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.journals.iter().flatten().all(|q| q.writer.is_none())
    }

    /// Frees journal `j` when nothing refers to it any more.
    fn forget_if_drained(&mut self, j: usize) {
        let Some(queue) = self.journals.get(j).and_then(Option::as_ref) else {
            return;
        };
        if queue.batches.is_empty() && queue.writer.is_none() && queue.poison.is_none() {
            let queue = self.journals[j].take().expect("checked");
            self.index.remove(&queue.name);
            self.free.push(j);
        }
    }

    /// Advances journal `j`'s chain and returns its next dispatch, if any.
    fn advance(&mut self, j: usize, now: Instant) -> Option<Dispatch> {
        loop {
            let cancelled = self.cancelled;
            let queue = self.journals[j].as_mut()?;
            let writer_batch = queue.writer.as_ref().map(|w| w.batch);
            let poisoned = queue.poison.as_ref().map(|(e, _)| e.clone());
            let head = queue.batches.front_mut()?;
            match head.state {
                BatchState::InFlight { .. } => return None,
                BatchState::Open if writer_batch == Some(head.id) => return None,
                BatchState::Open => {
                    // Sealed even when every writer rolled back: such a batch
                    // may be another append's `pending_except` barrier, so it
                    // fails on poison and waits for its dependencies like any
                    // other, and only then resolves without an RPC.
                    head.state = BatchState::Sealed;
                    continue;
                }
                BatchState::Backoff { .. } | BatchState::Sealed if poisoned.is_some() => {
                    self.resolve_head(j, Err(poisoned.expect("checked")), None);
                    continue;
                }
                BatchState::Backoff { .. } if cancelled => {
                    self.fail_cancelled(j);
                    continue;
                }
                BatchState::Backoff { attempt, until } => {
                    if now < until {
                        return None;
                    }
                    return Some(self.dispatch(j, attempt));
                }
                BatchState::Sealed => {
                    if !head.registered {
                        let (id, deps) = (head.id, head.deps.clone());
                        self.register(j, id, &deps);
                        continue;
                    }
                    if let Some(dep) = head.dep_failure.clone() {
                        let err = AppendError::DependencyFailed(Box::new(dep));
                        let id = head.id;
                        self.poison(j, err.clone(), id);
                        self.resolve_head(j, Err(err), None);
                        continue;
                    }
                    if cancelled {
                        self.fail_cancelled(j);
                        continue;
                    }
                    if head.waiting > 0 {
                        return None;
                    }
                    if let Some(err) = head.broken.clone() {
                        let id = head.id;
                        self.poison(j, err.clone(), id);
                        self.resolve_head(j, Err(err), None);
                        continue;
                    }
                    if head.released == 0 {
                        // Every writer rolled back: nothing to send (Go still
                        // sends an empty append, quirk 13;
                        // docs/go-differences.md#d22).
                        self.resolve_head(j, Ok(()), None);
                        continue;
                    }
                    return Some(self.dispatch(j, 0));
                }
            }
        }
    }

    /// Counts the sealed head `batch` of journal `j`'s pending
    /// dependencies and registers it to hear of each.
    fn register(&mut self, j: usize, batch: AppendId, deps: &[AppendId]) {
        let mut waiting = 0;
        let mut failure = None;
        for dep in deps {
            if self.pending.contains_key(dep) || self.externals.contains(dep) {
                self.waiters.entry(*dep).or_default().push((j, batch));
                waiting += 1;
            } else if let Some(err) = self.failed.get(dep) {
                failure.get_or_insert_with(|| err.clone());
            }
        }
        let head = self.queue_mut(j).batches.front_mut().expect("head");
        head.registered = true;
        head.waiting = waiting;
        head.dep_failure = failure;
    }

    /// Tells the heads waiting for `id` how it ended, and wakes them.
    fn dependency_resolved(&mut self, id: AppendId, result: Result<(), AppendError>) {
        let Some(waiters) = self.waiters.remove(&id) else {
            return;
        };
        for (j, batch) in waiters {
            let Some(head) = self
                .journals
                .get_mut(j)
                .and_then(Option::as_mut)
                .and_then(|q| q.batches.front_mut())
                .filter(|b| b.id == batch && b.registered)
            else {
                continue;
            };
            head.waiting = head.waiting.saturating_sub(1);
            if let Err(err) = &result {
                head.dep_failure.get_or_insert_with(|| err.clone());
            }
            self.wake(j);
        }
    }

    fn fail_cancelled(&mut self, j: usize) {
        let err = AppendError::Transport(TransportError::Cancelled);
        let id = self.queue(j).batches.front().expect("head").id;
        self.poison(j, err.clone(), id);
        self.resolve_head(j, Err(err), None);
    }

    fn dispatch(&mut self, j: usize, attempt: u32) -> Dispatch {
        let head = self.queue_mut(j).batches.front_mut().expect("head exists");
        head.state = BatchState::InFlight { attempt };
        let dispatch = Dispatch {
            batch: head.id,
            request: head.request.clone(),
            len: head.checkpoint,
            attempt,
        };
        self.metrics.rpc_attempts += 1;
        dispatch
    }

    fn poison(&mut self, j: usize, err: AppendError, by: AppendId) {
        let queue = self.queue_mut(j);
        if queue.poison.is_none() {
            queue.poison = Some((err, by));
        }
    }

    fn resolve_head(
        &mut self,
        j: usize,
        result: Result<(), AppendError>,
        response: Option<AppendResponse>,
    ) {
        let permanent = self.config.permanent_poison;
        let queue = self.queue_mut(j);
        let mut batch = queue.batches.pop_front().expect("head exists");
        if !permanent && queue.batches.is_empty() && queue.writer.is_none() {
            queue.poison = None;
        }
        if result.is_ok() {
            self.metrics.batches_committed += 1;
        } else {
            self.metrics.batches_failed += 1;
        }
        self.metrics.spooled_bytes -= batch.checkpoint;
        self.pending.remove(&batch.id);
        if let Err(err) = &result {
            self.failed.insert(batch.id, err.clone());
        }
        self.resolved.push_back(Resolution {
            append: batch.id,
            result: result.clone(),
            response,
        });
        self.dependency_resolved(batch.id, result);
        batch.spool.reset();
        if self.pool.len() < self.config.max_pooled_buffers {
            self.pool.push(batch.spool);
        } else {
            self.spool_commands.push_back(SpoolCommand::Remove {
                file: batch.spool.file(),
            });
        }
    }
}
