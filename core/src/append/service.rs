//! The AppendService scheduler (docs/behaviour.md#appendservice) as a pure state
//! machine: per-journal FIFO chains of batches, batching of compatible
//! appends, dependencies, rollback of a writer's own bytes, retries with
//! backoff, and journal poisoning. See the [module docs](super) for the
//! driver loop.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;
use gazette_proto::{AppendRequest, AppendResponse};

use super::appender::{DEFAULT_CHUNK_SIZE, strip_append_meta, validate_preamble};
use super::error::{AppendError, RequestError, TransportError};
use super::future::{AnyResolved, AsyncOperation, OpFuture, OpFutures, finished_operation};
use super::metrics::AppendMetrics;
use super::policy::{BatchDecision, BatchRetryPolicy};
use super::queue::{Batch, BatchId, BatchState, JournalQueue, Writer, may_join};
use super::spool::{DEFAULT_FRONT_BUFFER, Spool, SpoolBuffer};
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
}

/// An open writer's claim on its batch (Go's AsyncAppend between
/// `StartAppend` and `Release`). Consumed by [`AppendService::release`].
#[derive(Debug)]
#[must_use = "a writer must be released, or its journal stays blocked"]
pub struct AppendTicket {
    journal: usize,
    batch: BatchId,
}

impl AppendTicket {
    /// The batch this writer joined.
    pub fn batch(&self) -> BatchId {
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
    pub batch: BatchId,
    /// The preamble to send.
    pub request: AppendRequest,
    /// Content bytes of the batch.
    pub len: u64,
    /// Attempt number, from 0.
    pub attempt: u32,
}

/// The batching append scheduler. Generic over the driver's [`Spool`].
#[derive(Debug)]
pub struct AppendService<S: Spool> {
    spool: S,
    config: AppendConfig,
    index: HashMap<String, usize>,
    journals: Vec<JournalQueue<S::File>>,
    pool: Vec<SpoolBuffer<S::File>>,
    next_batch: u64,
    cursor: usize,
    /// Batches resolved so far (tells `poll_dispatch` a pass changed
    /// something).
    resolutions: u64,
    closed: bool,
    cancelled: bool,
    metrics: AppendMetrics,
}

impl<S: Spool> AppendService<S> {
    /// A service spooling into `spool`.
    pub fn new(spool: S, config: AppendConfig) -> Self {
        AppendService {
            spool,
            config,
            index: HashMap::new(),
            journals: Vec::new(),
            pool: Vec::new(),
            next_batch: 0,
            cursor: 0,
            resolutions: 0,
            closed: false,
            cancelled: false,
            metrics: AppendMetrics::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &AppendConfig {
        &self.config
    }

    /// The spool (e.g. to inspect a [`super::MemorySpool`] in tests).
    pub fn spool(&self) -> &S {
        &self.spool
    }

    /// Mutable access to the spool (e.g. to inject failures in tests).
    pub fn spool_mut(&mut self) -> &mut S {
        &mut self.spool
    }

    /// The counters.
    pub fn metrics(&self) -> AppendMetrics {
        self.metrics
    }

    /// Opens a writer for an append of `request` that must commit only
    /// after every member of `deps` succeeded (docs/behaviour.md#starting-an-append). The append joins the
    /// journal's open tail batch when the request is identical, `deps` is a
    /// subset of the tail's, and the tail is within the cutoff; otherwise a
    /// new batch is queued behind it. Order within a journal is preserved.
    ///
    /// An invalid request fails here, before anything is queued, so it is
    /// never sent nor retried. A `;meta` segment on the journal is stripped
    /// (never sent on Append, see [`super::Appender::new`]): `a;m` and `a`
    /// share one queue.
    pub fn start_append(
        &mut self,
        request: &AppendRequest,
        deps: &OpFutures,
    ) -> Result<AppendTicket, StartError> {
        if self.closed {
            return Err(StartError::Closed);
        }
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
                let j = self.journals.len();
                self.journals
                    .push(JournalQueue::new(request.journal.clone()));
                self.index.insert(request.journal.clone(), j);
                j
            }
        };
        let queue = &mut self.journals[journal];
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
                    self.config.batch_cutoff,
                    request,
                    deps,
                )
        });
        if !joinable {
            validate_preamble(request)?;
            let id = BatchId(self.next_batch);
            self.next_batch += 1;
            let spool = self
                .pool
                .pop()
                .unwrap_or_else(|| SpoolBuffer::new(self.config.front_buffer));
            queue.batches.push_back(Batch {
                id,
                request: request.clone(),
                deps: deps.clone(),
                spool,
                checkpoint: 0,
                released: 0,
                op: AsyncOperation::new(),
                state: BatchState::Open,
            });
            self.metrics.batches_created += 1;
        }
        let tail = queue.batches.back().expect("tail exists");
        queue.writer = Some(Writer {
            batch: tail.id,
            start: tail.checkpoint,
            error: None,
        });
        self.metrics.appends_started += 1;
        Ok(AppendTicket {
            journal,
            batch: tail.id,
        })
    }

    /// Appends `data` to the writer's content. After the first failure the
    /// writer is broken: later writes are ignored and `release` rolls back
    /// and returns that failure.
    pub fn write(&mut self, ticket: &AppendTicket, data: &[u8]) -> Result<(), AppendError> {
        let queue = &mut self.journals[ticket.journal];
        let writer = queue.writer.as_mut().expect("ticket holds the writer");
        if let Some(err) = &writer.error {
            return Err(err.clone());
        }
        let batch = queue
            .batches
            .back_mut()
            .expect("the writer's batch is the tail");
        debug_assert_eq!(batch.id, ticket.batch);
        if let Err(err) = batch.spool.write(&mut self.spool, data) {
            let err = AppendError::Spool(err.to_string());
            writer.error = Some(err.clone());
            return Err(err);
        }
        Ok(())
    }

    /// Records `err` as the reason to roll this writer back (the first
    /// recorded reason wins).
    pub fn require(&mut self, ticket: &AppendTicket, err: AppendError) {
        let writer = self.journals[ticket.journal]
            .writer
            .as_mut()
            .expect("ticket holds the writer");
        writer.error.get_or_insert(err);
    }

    /// Releases the writer (docs/behaviour.md#release-and-rollback). Without a recorded error its bytes
    /// become part of the batch and the batch's future is returned; with one,
    /// exactly this writer's bytes are rolled back and the error returned.
    pub fn release(&mut self, ticket: AppendTicket) -> Result<OpFuture, AppendError> {
        let queue = &mut self.journals[ticket.journal];
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
        self.metrics.appends_released += 1;
        self.metrics.bytes_released += written;
        self.metrics.spooled_bytes += written;
        Ok(batch.op.future())
    }

    /// Marks the service's context as cancelled (docs/behaviour.md#serve-loop): in-flight attempts
    /// are expected to fail with [`TransportError::Cancelled`]; every other
    /// unresolved batch — also one waiting for dependencies or in backoff,
    /// unlike Go (quirks 14, 33) — fails with it at the next poll, and
    /// poisons its journal (docs/go-differences.md#d23).
    pub fn cancel(&mut self) {
        self.cancelled = true;
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
    /// as possible (sealing, resolving empty or poisoned batches, failing
    /// on dependency failures). Journals are visited round-robin.
    ///
    /// `None` means nothing can progress until an input arrives: a release,
    /// an attempt outcome, time reaching [`AppendService::next_wakeup`], a
    /// dependency resolving ([`AppendService::blocked_on`]) or a cancel. A
    /// batch resolved during the call may unblock a journal visited earlier
    /// in it, so passes repeat until one resolves nothing.
    pub fn poll_dispatch(&mut self, now: Instant) -> Option<Dispatch> {
        let n = self.journals.len();
        loop {
            let resolved_before = self.resolutions;
            for i in 0..n {
                let j = (self.cursor + i) % n;
                if let Some(d) = self.advance(j, now) {
                    self.cursor = (j + 1) % n;
                    return Some(d);
                }
            }
            if self.resolutions == resolved_before {
                return None;
            }
        }
    }

    /// Like [`AppendService::poll_dispatch`], for one journal (a per-journal
    /// task loop).
    pub fn poll_dispatch_journal(&mut self, journal: &str, now: Instant) -> Option<Dispatch> {
        let j = *self.index.get(journal)?;
        self.advance(j, now)
    }

    /// The earliest instant at which a batch in backoff becomes ready.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.journals
            .iter()
            .filter_map(|q| match q.batches.front()?.state {
                BatchState::Backoff { until, .. } => Some(until),
                _ => None,
            })
            .min()
    }

    /// Every unresolved dependency that blocks a sealed batch, as one
    /// future that is ready once any of them resolved; `None` when no batch
    /// waits for a dependency. After [`AppendService::poll_dispatch`]
    /// returned `None`, a driver awaits this (alongside its other wake-ups)
    /// before polling again: dependencies may belong to the application or
    /// another service, and any one of them resolving can unblock a batch.
    pub fn blocked_on(&self) -> Option<AnyResolved> {
        let mut seen = std::collections::HashSet::new();
        let pending: Vec<OpFuture> = self
            .journals
            .iter()
            .filter_map(|q| q.batches.front())
            .filter(|head| head.state == BatchState::Sealed)
            .flat_map(|head| head.deps.iter())
            .filter(|dep| !dep.is_done() && seen.insert(dep.key()))
            .cloned()
            .collect();
        (!pending.is_empty()).then(|| AnyResolved::new(pending))
    }

    /// Content bytes `[offset, offset + max_len)` of `batch`, clipped to its
    /// released length. Chunk boundaries carry no meaning.
    pub fn read_content(
        &mut self,
        batch: BatchId,
        offset: u64,
        max_len: usize,
    ) -> Result<Bytes, AppendError> {
        let Some(b) = self
            .journals
            .iter_mut()
            .find_map(|q| q.batches.front_mut().filter(|b| b.id == batch))
        else {
            return Err(AppendError::Spool(format!("{batch:?} is not dispatched")));
        };
        let len = b.checkpoint.saturating_sub(offset).min(max_len as u64) as usize;
        let bytes = b
            .spool
            .read(&mut self.spool, offset, len)
            .map_err(|e| AppendError::Spool(e.to_string()))?;
        self.metrics.bytes_sent += bytes.len() as u64;
        Ok(bytes)
    }

    /// Reports the outcome of `batch`'s running attempt (docs/behaviour.md#serve-loop): success
    /// resolves the batch; a retryable failure schedules the next attempt
    /// after a backoff; any other failure resolves the batch with the error
    /// and poisons the journal. Unknown or not-in-flight batches are ignored.
    pub fn on_append_finished(
        &mut self,
        batch: BatchId,
        result: Result<AppendResponse, AppendError>,
        now: Instant,
    ) {
        self.on_append_finished_with_response(batch, result, None, now);
    }

    /// [`on_append_finished`](Self::on_append_finished) of an attempt
    /// that failed with the broker's `response` (a status such as
    /// REGISTER_MISMATCH): if the batch fails, its future's
    /// [`response`](super::OpFuture::response) is that response (Go's
    /// `AsyncAppend.Response()` after a failure).
    pub fn on_append_finished_with_response(
        &mut self,
        batch: BatchId,
        result: Result<AppendResponse, AppendError>,
        refused: Option<AppendResponse>,
        now: Instant,
    ) {
        let Some(j) = self.journals.iter().position(|q| {
            q.batches
                .front()
                .is_some_and(|b| b.id == batch && matches!(b.state, BatchState::InFlight { .. }))
        }) else {
            return;
        };
        let head = self.journals[j].batches.front_mut().expect("head exists");
        let BatchState::InFlight { attempt } = head.state else {
            unreachable!("checked above")
        };
        match result {
            Ok(response) => self.resolve_head(j, Ok(()), Some(response)),
            Err(err) => {
                let decision = if self.cancelled {
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
                        head.state = BatchState::Backoff {
                            attempt: attempt + 1,
                            until: now + delay,
                        };
                        self.metrics.retries += 1;
                    }
                    BatchDecision::Fail => {
                        self.poison(j, err.clone());
                        self.resolve_head(j, Err(err), refused);
                    }
                }
            }
        }
    }

    /// Futures of everything pending on journals other than `journal` (all
    /// journals for `""`): each chain's tail batch, and one resolved future
    /// per poisoned journal. Unlike Go (quirk 20) the poisoned journal's
    /// future is the same object on every call, so results stay subsets of
    /// each other and batching keeps working (docs/go-differences.md#d26).
    pub fn pending_except(&self, journal: &str) -> OpFutures {
        let mut set = OpFutures::new();
        for q in self.journals.iter().filter(|q| q.name != journal) {
            if let Some((_, fut)) = &q.poison {
                set.insert(fut.clone());
            }
            if let Some(tail) = q.batches.back() {
                set.insert(tail.op.future());
            }
        }
        set
    }

    /// The terminal error of `journal`, if poisoned.
    pub fn poison_of(&self, journal: &str) -> Option<&AppendError> {
        let j = *self.index.get(journal)?;
        self.journals[j].poison.as_ref().map(|(e, _)| e)
    }

    /// Clears `journal`'s terminal error (beyond Go, whose poison lasts the
    /// service's lifetime), returning it. Batches queued afterwards are sent
    /// normally (docs/go-differences.md#d21).
    pub fn clear_poison(&mut self, journal: &str) -> Option<AppendError> {
        let j = *self.index.get(journal)?;
        self.journals[j].poison.take().map(|(e, _)| e)
    }

    /// The state of `batch`, or `None` once resolved.
    pub fn batch_state(&self, batch: BatchId) -> Option<BatchState> {
        self.journals
            .iter()
            .flat_map(|q| q.batches.iter())
            .find(|b| b.id == batch)
            .map(|b| b.state)
    }

    /// Unresolved batches of `journal`, oldest first, with their released
    /// byte counts.
    pub fn queued(&self, journal: &str) -> Vec<(BatchId, u64)> {
        self.index
            .get(journal)
            .map(|&j| {
                self.journals[j]
                    .batches
                    .iter()
                    .map(|b| (b.id, b.checkpoint))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// True when no batch is unresolved and no writer is open.
    pub fn is_idle(&self) -> bool {
        self.journals
            .iter()
            .all(|q| q.batches.is_empty() && q.writer.is_none())
    }

    /// Advances journal `j`'s chain and returns its next dispatch, if any.
    fn advance(&mut self, j: usize, now: Instant) -> Option<Dispatch> {
        loop {
            let cancelled = self.cancelled;
            let queue = &mut self.journals[j];
            let writer_batch = queue.writer.as_ref().map(|w| w.batch);
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
                BatchState::Backoff { .. } | BatchState::Sealed if queue.poison.is_some() => {
                    let err = queue.poison.as_ref().expect("checked").0.clone();
                    self.resolve_head(j, Err(err), None);
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
                BatchState::Sealed => match head.deps.outcome() {
                    Some(Err(dep)) => {
                        let err = AppendError::DependencyFailed(Box::new(dep));
                        self.poison(j, err.clone());
                        self.resolve_head(j, Err(err), None);
                        continue;
                    }
                    _ if cancelled => {
                        self.fail_cancelled(j);
                        continue;
                    }
                    None => return None,
                    Some(Ok(())) if head.released == 0 => {
                        // Every writer rolled back: nothing to send (Go still
                        // sends an empty append, quirk 13;
                        // docs/go-differences.md#d22).
                        self.resolve_head(j, Ok(()), None);
                        continue;
                    }
                    Some(Ok(())) => return Some(self.dispatch(j, 0)),
                },
            }
        }
    }

    fn fail_cancelled(&mut self, j: usize) {
        let err = AppendError::Transport(TransportError::Cancelled);
        self.poison(j, err.clone());
        self.resolve_head(j, Err(err), None);
    }

    fn dispatch(&mut self, j: usize, attempt: u32) -> Dispatch {
        let head = self.journals[j].batches.front_mut().expect("head exists");
        head.state = BatchState::InFlight { attempt };
        self.metrics.rpc_attempts += 1;
        Dispatch {
            batch: head.id,
            request: head.request.clone(),
            len: head.checkpoint,
            attempt,
        }
    }

    fn poison(&mut self, j: usize, err: AppendError) {
        let queue = &mut self.journals[j];
        if queue.poison.is_none() {
            let fut = finished_operation(Err(err.clone()));
            queue.poison = Some((err, fut));
        }
    }

    fn resolve_head(
        &mut self,
        j: usize,
        result: Result<(), AppendError>,
        response: Option<AppendResponse>,
    ) {
        let queue = &mut self.journals[j];
        let mut batch = queue.batches.pop_front().expect("head exists");
        self.resolutions += 1;
        if result.is_ok() {
            self.metrics.batches_committed += 1;
        } else {
            self.metrics.batches_failed += 1;
        }
        self.metrics.spooled_bytes -= batch.checkpoint;
        let _ = batch.op.resolve_with_response(result, response);
        if !self.config.permanent_poison && queue.batches.is_empty() && queue.writer.is_none() {
            queue.poison = None;
        }
        batch.spool.reset();
        if self.pool.len() < self.config.max_pooled_buffers {
            self.pool.push(batch.spool);
        }
    }
}
