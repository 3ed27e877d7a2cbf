//! The append path: one Append RPC ([`Appender`]), the one-shot append of
//! re-readable content ([`OneShotAppend`]), and the batching scheduler
//! ([`AppendService`]), and runtime-agnostic futures ([`OpFuture`]) that
//! drivers hand out over the scheduler's [`AppendId`]s.
//!
//! Everything here is sans-IO. Drivers own the gRPC stream, the timers, the
//! spool files (the scheduler's [`SpoolCommand`]s) and the route cache; the
//! machines decide every protocol question.
//!
//! # Driving an [`Appender`]
//!
//! ```text
//! appender = Appender::new(request)?
//! for content in sources { appender.write(content) }   // or appender.abort()
//! appender.commit()
//! loop match appender.poll_output():
//!     OpenStream { journal }   => open the Append stream routed to the journal's primary
//!     Send(msg)                => send; on failure feed AppenderInput::SendFailed
//!     HalfClose                => half-close the request side
//!     ReceiveResponse          => receive; feed Response(msg) or StreamFailed(kind)
//!     Abort                    => half-close without marker, drop the stream
//!     UpdateRoute { journal, update } => store or invalidate the cached route (RouteUpdate)
//!     Finished(result)         => done
//!     None                     => wait for the pending IO, then feed its outcome
//! ```
//!
//! # One-shot `append` of re-readable sources
//!
//! ```text
//! policy = OneShotAppend::new(request)
//! loop:
//!     result = run an Appender over every source from its start (abort and
//!              return Err(AppendError::Source) if a source fails)
//!     match policy.on_attempt_finished(result):
//!         Done(response)          => return Ok(response)
//!         Fail(err)               => return Err(err)
//!         Retry { delay, .. }     => rewind the sources; sleep(delay) or return
//!                                    the context error if it ends first
//! ```
//!
//! # Driving an [`AppendService`]
//!
//! The scheduler holds no futures, wakers or callbacks: every append is an
//! [`AppendId`], dependencies are `AppendId`s, and outcomes come out of
//! [`AppendService::poll_resolved`]. A driver hands its users futures over
//! those identifiers ([`AsyncOperation::for_append`] makes runtime-agnostic
//! ones) and turns a dependency that is not one of this service's appends
//! (the application's own future, another service's) into
//! [`AppendService::external_dependency`], reporting its outcome with
//! [`AppendService::resolve_external`].
//!
//! Writers: `ticket = service.start_append(&req, &deps)?` (on
//! [`StartError::WriterActive`], wait for that journal's release and call
//! again), `service.write(&ticket, bytes)` any number of times,
//! `service.require(&ticket, err)` to roll back, then
//! `id = service.release(ticket)?`.
//!
//! The dispatch loop (one task for all journals, or one per journal with
//! [`AppendService::poll_dispatch_journal`]), here for a tokio driver that
//! keeps the service in a `Mutex` and a `Notify` pinged after every
//! release, attempt outcome and external outcome:
//!
//! ```text
//! loop:
//!     while let Some(Dispatch { batch, request, len, .. }) = service.poll_dispatch(now):
//!         spawn: appender = Appender::new(request)
//!                for offset in (0..len) by what each read returns:
//!                    appender.write(bytes of service.read_content(batch, offset, chunk)?,
//!                                   read from the file when it names one)
//!                    (on a spool error: appender.abort(), report Err(Spool))
//!                appender.commit(); drive it as above
//!                service.on_append_finished(batch, result, now)
//!     while let Some(Resolution { append, result, response }) = service.poll_resolved():
//!         resolve the futures of `append`
//!     wait for the first of: the notify, service.next_wakeup() (timer)
//! ```
//!
//! `poll_dispatch` returning `None` is a promise: no batch can progress
//! until one of those inputs (or a cancel) arrives, so a driver that waits
//! on all of them never sleeps with a batch ready to send. Only journals
//! something happened to are visited, so the cost of a release or an
//! outcome does not grow with the number of journals.
//!
//! The loop runs until [`AppendService::is_idle`] once the application is
//! done with the service ([`AppendService::close`], or its last handle
//! dropped), so released appends are never abandoned silently.
//!
//! A blocking driver is the same loop on a thread, with a `Condvar` in
//! place of the notify and `recv_timeout(next_wakeup - now)` in place of the
//! timer. Cancelling the service's context is [`AppendService::cancel`]
//! plus reporting the in-flight attempts as [`TransportError::Cancelled`].
//!
//! # Decisions where the port differs from Go
//!
//! - A journal's terminal error is permanent by default, as in Go (quirk
//!   15): after a batch fails, every later append to that journal fails, so
//!   no write can land after a lost one. [`AppendService::clear_poison`] and
//!   [`AppendConfig::permanent_poison`] opt out (docs/go-differences.md#d21).
//! - Cancellation fails batches waiting for dependencies or in backoff at
//!   once (Go waits, quirks 14 and 33; docs/go-differences.md#d23).
//! - FRAGMENT_STORE_UNHEALTHY is retried with backoff by default
//!   ([`BatchRetryPolicy::retry_store_unhealthy`], gazette/core issue 462;
//!   docs/go-differences.md#d20).
//! - A batch whose every writer rolled back sends no RPC (quirk 13). It
//!   still resolves like a sent one, failing on its journal's poison or a
//!   failed dependency, because a `pending_except` barrier taken while it
//!   was the tail stands for everything before it (docs/go-differences.md#d22).
//! - Poisoned journals appear in [`AppendService::pending_except`] as one
//!   stable append (the one that failed), so batching keeps working
//!   (quirk 20, docs/go-differences.md#d26).
//! - A spool read error mid-RPC aborts the stream (quirk 18), and rollback
//!   is bookkeeping over positional writes, so it cannot fail
//!   (docs/go-differences.md#d25).
//! - An OK response before the commit marker is an error
//!   ([`AppendError::PrematureCommit`]), not Go's `(0, nil)` (quirk 11,
//!   docs/go-differences.md#d16).
//! - A failed batch exposes the broker's response only when that response
//!   refused it (REGISTER_MISMATCH, ...: `OpFuture::response`;
//!   docs/go-differences.md#d17).
//! - An invalid request is refused by `start_append`
//!   (docs/go-differences.md#d24), and `;meta` is never sent on an Append
//!   (docs/go-differences.md#d15).
//!
//! The full list of differences from Go: docs/go-differences.md.

mod appender;
mod error;
mod future;
mod metrics;
mod policy;
mod queue;
mod service;
mod spool;

pub use appender::{
    Appender, AppenderInput, AppenderOutput, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, status_error,
    strip_append_meta, validate_preamble, validate_response,
};
pub use error::{AppendError, RequestError, TransportError};
pub use future::{
    AlreadyResolved, AsyncOperation, OpFuture, OpFutures, OpResult, finished_operation,
};
pub use metrics::AppendMetrics;
pub use policy::{
    AppendStep, BatchDecision, BatchRetryPolicy, OneShotAppend, is_one_shot_retryable,
};
pub use queue::{AppendId, BatchState, may_join};
pub use service::{
    AppendConfig, AppendService, AppendTicket, DEFAULT_BATCH_CUTOFF, Dispatch, Resolution,
    StartError,
};
pub use spool::{
    DEFAULT_FRONT_BUFFER, MemorySpool, SpoolCommand, SpoolContent, SpoolError, SpoolFile, SpoolRead,
};
