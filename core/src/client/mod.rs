//! The sans-IO Gazette client: one state machine that makes every protocol
//! decision of every operation a user starts, and a driver that carries out
//! its commands (docs/architecture.md).
//!
//! # The contract
//!
//! A [`Client`] owns the route cache, member health, the read, append,
//! listing and apply machines (one per operation), auth claims, error
//! classification, cancellation, deadlines and backoff. It performs no IO
//! and reads no clock: time comes in as `now` on every call, and
//! [`Client::poll_timeout`] says when the client next needs
//! [`Client::handle_timeout`].
//!
//! Its methods are of four kinds:
//!
//! * **Commands** start or steer an operation and return its [`OpId`]:
//!   [`Client::read`], [`Client::start_append`] / [`Client::write_append`] /
//!   [`Client::commit_append`] / [`Client::abort_append`], [`Client::append`]
//!   (one-shot, retried), [`Client::list`], [`Client::get_journal`],
//!   [`Client::watch`], [`Client::apply`], [`Client::list_fragments`],
//!   [`Client::fragment_store_health`], [`Client::cancel`],
//!   [`Client::close`], [`Client::set_deadline`]; and the AppendService
//!   (Go's batched, ordered appends): [`Client::start_batched`] /
//!   [`Client::write_batched`] / [`Client::release_batched`] returning an
//!   [`AppendId`], with dependencies on `AppendId`s
//!   ([`Client::pending_except`], [`Client::external_dependency`]).
//! * **Inputs** report what the driver's transport saw:
//!   [`Client::handle_rpc_opened`], [`Client::handle_rpc_message`],
//!   [`Client::handle_rpc_sent`], [`Client::handle_rpc_end`],
//!   [`Client::handle_fetch`], [`Client::handle_timeout`], and for the
//!   AppendService's spool [`Client::handle_spool_read`] and
//!   [`Client::handle_spool_failed`].
//! * **Outputs** are drained after every command or input, until each
//!   returns `None`: [`Client::poll_rpc`] (RPCs to open, messages to send,
//!   half-closes, cancellations, fragment fetches, idle disconnects),
//!   [`Client::poll_spool`] (spool file writes, reads and removals),
//!   [`Client::poll_event`] (content, metadata, offset jumps, snapshots,
//!   retries, the result of every operation), then
//!   [`Client::poll_timeout`]. All three are `#[must_use]`.
//! * **Getters** ([`Client::route`], [`Client::is_open`],
//!   [`Client::append_backlog`], [`Client::read_offset`], ...) change
//!   nothing.
//!
//! Rules a driver can rely on:
//!
//! * Nothing happens between calls: outputs only change after a command or
//!   an input. A spurious [`Client::handle_timeout`] does nothing.
//! * `now` must not go backwards.
//! * Every operation ends with exactly one [`Event::Finished`], unless
//!   [`Client::close`]d first (then it ends silently). After it, the
//!   operation's identifier is unknown to the client.
//! * Reports about an RPC or fetch the client cancelled, or never opened,
//!   are ignored; so are reports about an operation that ended.
//! * Iteration is over ordered maps and identifiers count up, so the same
//!   sequence of calls yields the same sequence of outputs.
//!
//! # Example: a read and an append against a hand-written broker
//!
//! ```
//! use std::time::Instant;
//! use gazette_core::client::{Call, Client, ClientConfig, Event, Outcome, RpcCommand, RpcEnd, RpcMessage};
//! use gazette_core::proto::{self, AppendResponse, ReadRequest, ReadResponse};
//! use gazette_core::read::ReadEvent;
//!
//! let now = Instant::now();
//! let mut client = Client::new(ClientConfig::default());
//! let mut journal: Vec<u8> = Vec::new();
//!
//! // Append "hello\n", then read it back without blocking.
//! let append = client.start_append(proto::AppendRequest::new("examples/hello"), now).unwrap();
//! client.write_append(append, bytes::Bytes::from_static(b"hello\n"), now).unwrap();
//! client.commit_append(append, now);
//!
//! // The "broker": answers each RPC command at once.
//! let mut pending = Vec::new();
//! let mut appended = None;
//! let mut read = None;
//! let mut content = Vec::new();
//! for _round in 0..10 {
//!     while let Some(command) = client.poll_rpc() {
//!         match command {
//!             RpcCommand::Send { rpc, message } => {
//!                 journal.extend_from_slice(&message.content);
//!                 client.handle_rpc_sent(rpc, now);
//!             }
//!             RpcCommand::HalfClose { rpc } => pending.push((rpc, true)),
//!             RpcCommand::Open { rpc, call: Call::Read(request), .. } => {
//!                 client.handle_rpc_opened(rpc, now);
//!                 let end = journal.len() as i64;
//!                 let data = journal[request.offset as usize..].to_vec();
//!                 client.handle_rpc_message(rpc, RpcMessage::Read(ReadResponse {
//!                     offset: request.offset, write_head: end,
//!                     header: None, fragment: Some(proto::Fragment {
//!                         journal: request.journal.clone(), begin: 0, end,
//!                         compression_codec: proto::CompressionCodec::None as i32, ..Default::default()
//!                     }), ..Default::default()
//!                 }), now);
//!                 client.handle_rpc_message(rpc, RpcMessage::Read(ReadResponse {
//!                     offset: request.offset, content: data.into(), ..Default::default()
//!                 }), now);
//!                 client.handle_rpc_message(rpc, RpcMessage::Read(ReadResponse {
//!                     status: proto::Status::OffsetNotYetAvailable as i32, offset: end,
//!                     write_head: end, ..Default::default()
//!                 }), now);
//!                 client.handle_rpc_end(rpc, RpcEnd::Ok, now);
//!             }
//!             RpcCommand::Open { .. } | RpcCommand::Cancel { .. } => {}
//!             other => unreachable!("{other:?}"),
//!         }
//!     }
//!     for (rpc, _) in pending.drain(..) {
//!         let end = journal.len() as i64;
//!         let commit = proto::Fragment { journal: "examples/hello".into(), begin: 0, end, ..Default::default() };
//!         let response = AppendResponse {
//!             header: Some(proto::Header::default()), commit: Some(commit),
//!             registers: Some(Default::default()), ..Default::default()
//!         };
//!         client.handle_rpc_message(rpc, RpcMessage::Append(response), now);
//!         client.handle_rpc_end(rpc, RpcEnd::Ok, now);
//!     }
//!     while let Some(event) = client.poll_event() {
//!         match event {
//!             Event::Finished { op, result: Ok(Outcome::Appended(response)) } if op == append => {
//!                 appended = response.commit;
//!                 let request = ReadRequest::new("examples/hello").blocking(false);
//!                 read = Some(client.read(request, false, now));
//!             }
//!             Event::Read { event: ReadEvent::Content { content: bytes, .. }, .. } => {
//!                 content.extend_from_slice(&bytes)
//!             }
//!             _ => {}
//!         }
//!     }
//! }
//! assert_eq!(appended.map(|c| c.end), Some(6));
//! assert!(read.is_some());
//! assert_eq!(content, b"hello\n");
//! ```

mod append;
pub mod auth;
mod batch;
mod discovery;
mod read;
mod routing;
mod rpc;

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gazette_proto::{
    AppendRequest, AppendResponse, ApplyRequest, ApplyResponse, FragmentStoreHealthResponse,
    FragmentsRequest, FragmentsResponse, JournalSpec, ListRequest, ListResponse, ReadRequest,
    Route,
};

pub use auth::{Capability, Claims};
pub use discovery::PROBE_DEADLINE;
pub use routing::{FAIL_FAST_WINDOW, MOVE_STALL, PROBE_AFTER, PROBE_INTERVAL_MAX, SWEEP_INTERVAL};
pub use rpc::{Call, FetchId, OpId, RpcCommand, RpcEnd, RpcId, RpcMessage, Target};

use crate::append::{
    AppendConfig, AppendError, AppendId, AppendService, AppendTicket, RequestError, SpoolCommand,
    SpoolError, SpoolRead, StartError,
};
use crate::backoff::{Backoff, SplitMix64};
use crate::list::{ApplyFailure, ListError};
use crate::read::{ReadError, ReadEvent, ReadInput, Reader, RetryReader};
use crate::status::{LocalEnd, Operation, RpcCode, RpcFailure};

use append::AppendOp;
use batch::{Batches, Step};
use discovery::{UnaryOp, WatchOp};
use read::ReadOp;
use routing::Router;

/// The settings of a [`Client`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The caller's zone: reads prefer a member in it.
    pub zone: String,
    /// Capacity and time-to-live of the journal route cache; `None`
    /// disables it (every RPC goes to the service address and brokers
    /// proxy).
    pub route_cache: Option<(NonZeroUsize, Duration)>,
    /// Whether RPCs go straight to the member a route names (default true).
    pub route_directly: bool,
    /// URL schemes of member endpoints the driver can dial (default `http`
    /// and `https`); members with others are reached through the service
    /// address.
    pub dialable_schemes: Vec<String>,
    /// Deadline of each listing or administrative operation as a whole
    /// (list, get, apply, list fragments, store health).
    pub request_timeout: Option<Duration>,
    /// Seed of the backoff jitter; `None` keeps Go's exact schedule.
    pub backoff_seed: Option<u64>,
    /// Jitter of every backoff delay in permille (used with a seed).
    pub jitter_permille: u32,
    /// Bytes an append may hold that the transport has not yet taken;
    /// [`Client::write_append`] refuses more ([`WriteError::Blocked`]).
    pub append_write_buffer: u64,
    /// Batching and retries of the client's AppendService
    /// ([`Client::start_batched`]).
    pub append_service: AppendConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            zone: String::new(),
            route_cache: Some((
                NonZeroUsize::new(1024).expect("non-zero"),
                Duration::from_secs(300),
            )),
            route_directly: true,
            dialable_schemes: vec!["http".into(), "https".into()],
            request_timeout: None,
            backoff_seed: None,
            jitter_permille: 0,
            append_write_buffer: 4 << 20,
            append_service: AppendConfig::default(),
        }
    }
}

/// What an operation produced ([`Client::poll_event`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Content, a metadata frame or an offset jump of a read.
    Read {
        /// The read.
        op: OpId,
        /// What it produced.
        event: ReadEvent,
    },
    /// A retrying read stopped with an error it surfaces; it continues at
    /// its offset after [`Client::resume_read`] (Go: the next `Read` call).
    ReadStopped {
        /// The read.
        op: OpId,
        /// Why.
        error: ReadError,
    },
    /// An operation failed transiently and retries after `delay`.
    Retrying {
        /// The operation.
        op: OpId,
        /// What it does.
        operation: Operation,
        /// The attempt that failed, from 0.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// Why the attempt failed.
        cause: String,
        /// Whether Go would log this retry.
        log: bool,
    },
    /// An append's RPC was cancelled after its commit marker was sent
    /// (the broker serving it was frozen and the journal moved away): the
    /// broker may have committed it, so the retry that follows may write
    /// the content twice. Count it; it is never dropped.
    OutcomeUnknown {
        /// The append.
        op: OpId,
    },
    /// An append refused by [`WriteError::Blocked`] accepts content again.
    Writable {
        /// The append.
        op: OpId,
    },
    /// A watch has a new snapshot.
    Snapshot {
        /// The watch.
        op: OpId,
        /// The snapshot.
        snapshot: Arc<ListResponse>,
    },
    /// A watch's update signal: a snapshot arrived (`Ok`) or an attempt
    /// failed and will be retried (`Err`).
    WatchSignal {
        /// The watch.
        op: OpId,
        /// The outcome.
        result: Result<(), ListError>,
    },
    /// An append failed with a broker status (REGISTER_MISMATCH,
    /// WRONG_APPEND_OFFSET, ...): the broker's response, with its header
    /// and the journal's registers, just before the [`Event::Finished`]
    /// that reports the failure (Go's `Appender.Response` after an error).
    AppendRefused {
        /// The append.
        op: OpId,
        /// The broker's response.
        response: Box<gazette_proto::AppendResponse>,
    },
    /// An append of the AppendService resolved: every writer released into
    /// `append` shares this outcome ([`Client::release_batched`]), and so
    /// does an external dependency ([`Client::resolve_external`]).
    AppendResolved {
        /// The append.
        append: AppendId,
        /// Its outcome.
        result: Result<(), AppendError>,
        /// The broker's last response: the commit, or the refusal.
        response: Option<Box<AppendResponse>>,
    },
    /// The operation finished; its identifier is forgotten.
    Finished {
        /// The operation.
        op: OpId,
        /// Its result.
        result: Result<Outcome, OpError>,
    },
}

/// The result of a successful operation.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// One value per operation: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// A read reached its end (EOF, its end offset, or a non-blocking read
    /// at the write head).
    ReadComplete,
    /// An append committed.
    Appended(AppendResponse),
    /// An append was aborted: nothing was committed.
    Aborted,
    /// A listing's snapshot.
    Listed(ListResponse),
    /// The spec of the journal [`Client::get_journal`] asked for.
    Journal(JournalSpec),
    /// Every Apply batch succeeded: the last response.
    Applied(ApplyResponse),
    /// Every ListFragments page, joined.
    Fragments(FragmentsResponse),
    /// A fragment store's health.
    StoreHealth(FragmentStoreHealthResponse),
    /// A watch stopped ([`Client::cancel`]).
    WatchStopped,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// A read failed.
    #[error(transparent)]
    Read(ReadError),
    /// An append failed (a status, a validation, a premature commit, or a
    /// transport failure without a gRPC status).
    #[error(transparent)]
    Append(AppendError),
    /// A listing or administrative call failed.
    #[error(transparent)]
    List(ListError),
    /// An Apply batch after the first failed; earlier batches stay applied.
    #[error("{}", .0.error)]
    Apply(Box<ApplyFailure>),
    /// A ListFragments page after the first failed.
    #[error("{error}")]
    Fragments {
        /// The pages joined before the failure.
        partial: Option<FragmentsResponse>,
        /// Why the page failed.
        error: ListError,
    },
    /// The RPC failed with a gRPC status or a transport failure, as
    /// classified by the client (a broken connection is `Unavailable`).
    #[error("{operation:?} RPC failed: {}", .failure.describe())]
    Rpc {
        /// The operation.
        operation: Operation,
        /// The classified failure.
        failure: RpcFailure,
    },
}

/// Why [`Client::write_append`] refused content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The append holds [`ClientConfig::append_write_buffer`] bytes the
    /// transport has not taken; wait for [`Event::Writable`].
    #[error("append write buffer is full")]
    Blocked,
    /// The append is not open (unknown, committed, aborted or finished).
    #[error("append is not accepting content")]
    Closed,
}

/// Why a seek could not be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SeekError {
    /// The operation is not an open read.
    #[error("not an open read")]
    NotARead,
    /// A single-RPC reader cannot serve this target (Go's
    /// `ErrSeekRequiresNewReader`).
    #[error("seek offset requires new Reader")]
    RequiresNewReader,
}

/// How a read seek is served ([`Client::seek_read`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seek {
    /// Discard this many buffered bytes: the target lies within them.
    Discard(u64),
    /// Drop the buffer: reading continues at this offset.
    Reset(i64),
}

/// The state every operation shares: routing, the RPC table, the output
/// queues and the identifier counter.
#[derive(Debug)]
pub(crate) struct Shared {
    config: ClientConfig,
    router: Router,
    rpcs: BTreeMap<RpcId, RpcEntry>,
    fetches: BTreeMap<FetchId, OpId>,
    commands: VecDeque<RpcCommand>,
    events: VecDeque<Event>,
    next_id: u64,
    seeds: Option<SplitMix64>,
    /// RPCs by the journal they concern.
    by_journal: BTreeMap<String, std::collections::BTreeSet<RpcId>>,
    /// Route probes by journal.
    probes: BTreeMap<String, Probe>,
    /// Probes asked for and not yet started.
    probe_requests: Vec<(String, Target)>,
    /// The operations that are AppendService attempts, whose events are
    /// the client's own.
    batch_ops: std::collections::BTreeSet<OpId>,
    batch_events: VecDeque<Event>,
}

#[derive(Debug)]
struct RpcEntry {
    op: OpId,
    target: Target,
    journal: Option<String>,
}

/// The route probing of one journal.
#[derive(Debug)]
struct Probe {
    /// The probe in flight.
    op: Option<OpId>,
    /// No new probe before this.
    next_at: Instant,
    /// The wait after the next probe.
    interval: Duration,
    /// Probes sent so far.
    sent: u32,
}

impl Shared {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fresh backoff for one operation: Go's schedule, jittered from the
    /// configured seed.
    pub(crate) fn backoff(&mut self) -> Backoff {
        match &mut self.seeds {
            Some(seeds) => Backoff::with_jitter(seeds.next_u64(), self.config.jitter_permille),
            None => Backoff::go(),
        }
    }

    pub(crate) fn router(&mut self) -> &mut Router {
        &mut self.router
    }

    pub(crate) fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Opens `call` for `op` to `target`.
    pub(crate) fn open(&mut self, op: OpId, target: Target, call: Call) -> RpcId {
        let rpc = RpcId(self.next());
        let claims = claims_of(&call);
        let journal = match &call {
            Call::Read(request) => Some(request.journal.clone()),
            Call::Append { journal } => Some(journal.clone()),
            _ => None,
        };
        if let Some(journal) = &journal {
            self.by_journal
                .entry(journal.clone())
                .or_default()
                .insert(rpc);
        }
        self.rpcs.insert(
            rpc,
            RpcEntry {
                op,
                target: target.clone(),
                journal,
            },
        );
        self.commands.push_back(RpcCommand::Open {
            rpc,
            op,
            target,
            call,
            claims,
        });
        rpc
    }

    pub(crate) fn send(&mut self, rpc: RpcId, message: AppendRequest) {
        self.commands.push_back(RpcCommand::Send { rpc, message });
    }

    pub(crate) fn half_close(&mut self, rpc: RpcId) {
        self.commands.push_back(RpcCommand::HalfClose { rpc });
    }

    /// Cancels and forgets `rpc` (nothing if already forgotten).
    pub(crate) fn cancel_rpc(&mut self, rpc: RpcId) {
        if self.forget_rpc(rpc) {
            self.commands.push_back(RpcCommand::Cancel { rpc });
        }
    }

    /// Forgets an RPC that ended.
    fn end_rpc(&mut self, rpc: RpcId) {
        self.forget_rpc(rpc);
    }

    fn forget_rpc(&mut self, rpc: RpcId) -> bool {
        let Some(entry) = self.rpcs.remove(&rpc) else {
            return false;
        };
        if let Some(journal) = entry.journal
            && let Some(rpcs) = self.by_journal.get_mut(&journal)
        {
            rpcs.remove(&rpc);
            if rpcs.is_empty() {
                self.by_journal.remove(&journal);
            }
        }
        true
    }

    /// Asks for a probe of `journal`'s route, whose RPC to `avoid` (sent
    /// under `route`) stalls: at most one in flight per journal, spaced by
    /// a doubling interval, each at the next target in turn. Returns when
    /// the asking RPC should check again.
    pub(crate) fn request_probe(
        &mut self,
        journal: &str,
        route: &Route,
        avoid: &Target,
        now: Instant,
    ) -> Instant {
        let probe = self.probes.entry(journal.to_string()).or_insert(Probe {
            op: None,
            next_at: now,
            interval: routing::PROBE_AFTER,
            sent: 0,
        });
        if probe.op.is_none() && probe.next_at <= now {
            probe.next_at = now + probe.interval;
            probe.interval = (probe.interval * 2).min(routing::PROBE_INTERVAL_MAX);
            let target = self.router.probe_target(route, avoid, probe.sent);
            probe.sent += 1;
            self.probe_requests.push((journal.to_string(), target));
        }
        probe.next_at.max(now + routing::PROBE_AFTER)
    }

    /// An RPC on `journal` made progress: probing starts over.
    pub(crate) fn journal_progressed(&mut self, journal: &str) {
        if let Some(probe) = self.probes.get_mut(journal)
            && probe.op.is_none()
        {
            self.probes.remove(journal);
        }
    }

    /// A probe of `journal` finished.
    pub(crate) fn probe_done(&mut self, journal: &str) {
        if let Some(probe) = self.probes.get_mut(journal) {
            probe.op = None;
        }
    }

    pub(crate) fn fetch(
        &mut self,
        op: OpId,
        fragment: gazette_proto::Fragment,
        offset: i64,
        url: String,
    ) -> FetchId {
        let fetch = FetchId(self.next());
        self.fetches.insert(fetch, op);
        self.commands.push_back(RpcCommand::Fetch {
            fetch,
            op,
            fragment,
            offset,
            url,
        });
        fetch
    }

    pub(crate) fn cancel_fetch(&mut self, fetch: FetchId) {
        if self.fetches.remove(&fetch).is_some() {
            self.commands.push_back(RpcCommand::CancelFetch { fetch });
        }
    }

    pub(crate) fn event(&mut self, event: Event) {
        let op = match &event {
            Event::Writable { op }
            | Event::AppendRefused { op, .. }
            | Event::Finished { op, .. }
            | Event::Retrying { op, .. }
            | Event::OutcomeUnknown { op } => Some(*op),
            _ => None,
        };
        if op.is_some_and(|op| self.batch_ops.contains(&op)) {
            self.batch_events.push_back(event);
        } else {
            self.events.push_back(event);
        }
    }

    pub(crate) fn target_of(&self, rpc: RpcId) -> Option<&Target> {
        self.rpcs.get(&rpc).map(|e| &e.target)
    }
}

/// The claims an RPC needs (docs/protocol.md#claims-and-capabilities).
fn claims_of(call: &Call) -> Claims {
    match call {
        Call::Read(request) => Claims::for_journal(Capability::READ, &request.journal),
        Call::Append { journal } => Claims::for_journal(Capability::APPEND, journal),
        Call::List(request) => Claims::for_selector(
            Capability::LIST,
            request.selector.clone().unwrap_or_default(),
            auth::TOKEN_LIFETIME,
        ),
        Call::Apply(_) => Claims::for_selector(
            Capability::APPLY,
            Default::default(),
            auth::APPLY_TOKEN_LIFETIME,
        ),
        Call::ListFragments(request) => Claims::for_journal(Capability::READ, &request.journal),
        Call::FragmentStoreHealth(_) => {
            Claims::for_selector(Capability::READ, Default::default(), auth::TOKEN_LIFETIME)
        }
    }
}

/// The client's reading of how an RPC ended: `None` for OK; a broken
/// connection reported as `UNKNOWN` or `CANCELLED` by the transport is
/// `UNAVAILABLE` (the broker was not reached or went away).
pub(crate) fn classify(end: RpcEnd) -> Option<RpcFailure> {
    match end {
        RpcEnd::Ok => None,
        RpcEnd::Failed {
            code,
            message,
            transport,
        } => {
            let code = if transport && matches!(code, RpcCode::Unknown | RpcCode::Cancelled) {
                RpcCode::Unavailable
            } else {
                code
            };
            Some(RpcFailure {
                code,
                message,
                local: LocalEnd::None,
            })
        }
    }
}

#[derive(Debug)]
enum Op {
    Read(ReadOp),
    Append(AppendOp),
    Unary(UnaryOp),
    Watch(WatchOp),
}

/// What an operation's step left it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Still running.
    Running,
    /// Finished (its Finished event is queued, or it was closed).
    Done,
}

impl Op {
    fn on_opened(&mut self, sh: &mut Shared, rpc: RpcId, now: Instant) -> Progress {
        match self {
            Op::Read(op) => op.on_opened(sh, rpc, now),
            Op::Append(_) => Progress::Running,
            Op::Unary(_) => Progress::Running,
            Op::Watch(op) => op.on_opened(sh, rpc, now),
        }
    }

    fn on_message(
        &mut self,
        sh: &mut Shared,
        rpc: RpcId,
        msg: RpcMessage,
        now: Instant,
    ) -> Progress {
        match self {
            Op::Read(op) => op.on_message(sh, rpc, msg, now),
            Op::Append(op) => op.on_message(sh, rpc, msg, now),
            Op::Unary(op) => op.on_message(sh, rpc, msg, now),
            Op::Watch(op) => op.on_message(sh, rpc, msg, now),
        }
    }

    fn on_end(
        &mut self,
        sh: &mut Shared,
        rpc: RpcId,
        failure: Option<RpcFailure>,
        now: Instant,
    ) -> Progress {
        match self {
            Op::Read(op) => op.on_end(sh, rpc, failure, now),
            Op::Append(op) => op.on_end(sh, rpc, failure, now),
            Op::Unary(op) => op.on_end(sh, rpc, failure, now),
            Op::Watch(op) => op.on_end(sh, rpc, failure, now),
        }
    }

    fn on_route_learned(&mut self, sh: &mut Shared, route: &Route, now: Instant) -> Progress {
        match self {
            Op::Read(op) => op.on_route_learned(sh, route, now),
            Op::Append(op) => op.on_route_learned(sh, route, now),
            Op::Unary(_) | Op::Watch(_) => Progress::Running,
        }
    }

    fn wake_at(&self) -> Option<Instant> {
        match self {
            Op::Read(op) => op.wake_at(),
            Op::Append(op) => op.wake_at(),
            Op::Unary(op) => op.wake_at(),
            Op::Watch(op) => op.wake_at(),
        }
    }

    fn on_timeout(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        match self {
            Op::Read(op) => op.on_timeout(sh, now),
            Op::Append(op) => op.on_timeout(sh, now),
            Op::Unary(op) => op.on_timeout(sh, now),
            Op::Watch(op) => op.on_timeout(sh, now),
        }
    }

    fn cancel(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        match self {
            Op::Read(op) => op.cancel(sh, now),
            Op::Append(op) => op.cancel(sh, now),
            Op::Unary(op) => op.cancel(sh, now),
            Op::Watch(op) => op.cancel(sh, now),
        }
    }

    fn set_deadline(&mut self, deadline: Option<Instant>) {
        match self {
            Op::Read(op) => op.deadline = deadline,
            Op::Append(op) => op.deadline = deadline,
            Op::Unary(op) => op.deadline = deadline,
            Op::Watch(_) => {}
        }
    }

    /// Cancels every RPC and fetch the operation holds.
    fn release(&mut self, sh: &mut Shared) {
        match self {
            Op::Read(op) => op.release(sh),
            Op::Append(op) => op.release(sh),
            Op::Unary(op) => op.release(sh),
            Op::Watch(op) => op.release(sh),
        }
    }
}

/// The sans-IO client (module docs: the contract).
#[derive(Debug)]
pub struct Client {
    shared: Shared,
    ops: BTreeMap<OpId, Op>,
    batches: Batches,
}

impl Client {
    /// A client with `config`.
    pub fn new(config: ClientConfig) -> Self {
        let router = Router::new(
            config.route_cache,
            config.zone.clone(),
            config.route_directly,
            config.dialable_schemes.clone(),
        );
        let seeds = config.backoff_seed.map(SplitMix64::new);
        let batches = Batches::new(config.append_service.clone());
        Client {
            batches,
            shared: Shared {
                config,
                router,
                rpcs: BTreeMap::new(),
                fetches: BTreeMap::new(),
                commands: VecDeque::new(),
                events: VecDeque::new(),
                next_id: 0,
                seeds,
                by_journal: BTreeMap::new(),
                probes: BTreeMap::new(),
                probe_requests: Vec::new(),
                batch_ops: Default::default(),
                batch_events: VecDeque::new(),
            },
            ops: BTreeMap::new(),
        }
    }

    /// The client's settings.
    pub fn config(&self) -> &ClientConfig {
        &self.shared.config
    }

    fn new_op(&mut self) -> OpId {
        OpId(self.shared.next())
    }

    /// Inserts `op` and runs its first step.
    fn start(&mut self, id: OpId, mut op: Op, now: Instant) -> OpId {
        let progress = match &mut op {
            Op::Read(o) => o.drive(&mut self.shared, now),
            Op::Append(o) => o.drive(&mut self.shared, now),
            Op::Unary(o) => o.start(&mut self.shared, now),
            Op::Watch(o) => o.drive(&mut self.shared, now),
        };
        if progress == Progress::Running {
            self.ops.insert(id, op);
        }
        id
    }

    fn with_op(&mut self, id: OpId, f: impl FnOnce(&mut Op, &mut Shared) -> Progress) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        if f(op, &mut self.shared) == Progress::Done {
            let mut op = self.ops.remove(&id).expect("present");
            op.release(&mut self.shared);
        }
    }

    /// Acts on what the last step learned: routes that may have moved away
    /// from stalled RPCs, route probes asked for, and the AppendService's
    /// batches (their attempts' events, dispatches, outcomes).
    fn settle(&mut self, now: Instant) {
        self.settle_routes(now);
        self.pump_batches(now);
    }

    fn settle_routes(&mut self, now: Instant) {
        for _ in 0..64 {
            let learned = self.shared.router.take_learned();
            let probes = std::mem::take(&mut self.shared.probe_requests);
            if learned.is_empty() && probes.is_empty() {
                return;
            }
            for (journal, route) in learned {
                let ops: Vec<OpId> = self
                    .shared
                    .by_journal
                    .get(&journal)
                    .into_iter()
                    .flatten()
                    .filter_map(|rpc| self.shared.rpcs.get(rpc).map(|e| e.op))
                    .collect();
                for op in ops {
                    self.with_op(op, |o, sh| o.on_route_learned(sh, &route, now));
                }
            }
            for (journal, target) in probes {
                let id = self.new_op();
                match UnaryOp::probe(id, &journal, target, now) {
                    Ok(mut op) => {
                        if let Some(probe) = self.shared.probes.get_mut(&journal) {
                            probe.op = Some(id);
                        }
                        if op.start(&mut self.shared, now) == Progress::Running {
                            self.ops.insert(id, Op::Unary(op));
                        }
                    }
                    Err(_) => self.shared.probe_done(&journal),
                }
            }
        }
    }

    // ---- Commands -------------------------------------------------------

    /// Starts a read of `request`: one Read RPC (Go's `Reader`) or, with
    /// `retry`, a reader that restarts RPCs with backoff (Go's
    /// `RetryReader`). An invalid request fails at once with
    /// [`ReadError::InvalidRequest`]: a single-RPC read finishes with it, a
    /// retrying read stops with it ([`Event::ReadStopped`], as Go's
    /// `RetryReader.Read` returns it) until resumed, cancelled or closed.
    pub fn read(&mut self, request: ReadRequest, retry: bool, now: Instant) -> OpId {
        let id = self.new_op();
        let op = if retry {
            let backoff = self.shared.backoff();
            ReadOp::retry(id, RetryReader::with_backoff(request, backoff))
        } else {
            ReadOp::single(id, Reader::new(request))
        };
        self.start(id, Op::Read(op), now)
    }

    /// Starts a retrying read of `request` up to the journal's write head:
    /// it never blocks, and reaching the write head (Go's
    /// `ErrOffsetNotYetAvailable` of a non-blocking read) is its clean end
    /// ([`Outcome::ReadComplete`]), so an export of everything written so
    /// far needs no error handling.
    pub fn read_to_head(&mut self, mut request: ReadRequest, now: Instant) -> OpId {
        request.block = false;
        let id = self.new_op();
        let backoff = self.shared.backoff();
        let op = ReadOp::to_head(id, RetryReader::with_backoff(request, backoff));
        self.start(id, Op::Read(op), now)
    }

    /// Starts one streamed, atomic append (Go's `Appender`): content
    /// follows with [`Client::write_append`], then [`Client::commit_append`]
    /// or [`Client::abort_append`]. The request is validated here.
    pub fn start_append(
        &mut self,
        request: AppendRequest,
        now: Instant,
    ) -> Result<OpId, RequestError> {
        let id = self.new_op();
        let op = AppendOp::streamed(id, request)?;
        Ok(self.start(id, Op::Append(op), now))
    }

    /// Adds content to a streamed append. The first write opens the
    /// stream; when that fails at once (the primary just failed), the
    /// append finishes with the failure ([`Event::Finished`]) and is
    /// forgotten.
    pub fn write_append(
        &mut self,
        op: OpId,
        content: Bytes,
        now: Instant,
    ) -> Result<(), WriteError> {
        let buffer = self.shared.config.append_write_buffer;
        let progress = match self.ops.get_mut(&op) {
            Some(Op::Append(append)) => append.write(&mut self.shared, content, buffer, now)?,
            _ => return Err(WriteError::Closed),
        };
        if progress == Progress::Done {
            self.close(op);
        }
        self.settle(now);
        Ok(())
    }

    /// Commits a streamed append: its result is the operation's
    /// [`Event::Finished`].
    pub fn commit_append(&mut self, op: OpId, now: Instant) {
        self.with_op(op, |o, sh| match o {
            Op::Append(a) => a.commit(sh, now),
            _ => Progress::Running,
        });
    }

    /// Rolls a streamed append back: nothing it carried is committed; it
    /// finishes with [`Outcome::Aborted`] (or its result, when it was
    /// already committed).
    pub fn abort_append(&mut self, op: OpId, now: Instant) {
        self.with_op(op, |o, sh| match o {
            Op::Append(a) => a.abort(sh, now),
            _ => Progress::Running,
        });
    }

    /// Appends the concatenation of `content` as one transaction, retrying
    /// unavailable brokers and routing statuses with backoff and sending
    /// the whole content again on each attempt (Go's `Append` of
    /// re-readable sources).
    pub fn append(
        &mut self,
        request: AppendRequest,
        content: Vec<Bytes>,
        now: Instant,
    ) -> Result<OpId, RequestError> {
        let id = self.new_op();
        let backoff = self.shared.backoff();
        let op = AppendOp::one_shot(id, request, content, backoff)?;
        Ok(self.start(id, Op::Append(op), now))
    }

    /// Lists the journals of `request` (which must not watch) as one
    /// snapshot, caching each journal's route.
    pub fn list(&mut self, request: ListRequest, now: Instant) -> Result<OpId, ListError> {
        let id = self.new_op();
        let op = UnaryOp::list(id, request, None, &self.shared, now)?;
        Ok(self.start(id, Op::Unary(op), now))
    }

    /// Fetches the spec of `journal`.
    pub fn get_journal(&mut self, journal: &str, now: Instant) -> Result<OpId, ListError> {
        let id = self.new_op();
        let request = crate::list::get_journal_request(journal)?;
        let op = UnaryOp::list(id, request, Some(journal.to_string()), &self.shared, now)?;
        Ok(self.start(id, Op::Unary(op), now))
    }

    /// Watches the journals of `request` (Go's `WatchedList`): every
    /// snapshot is an [`Event::Snapshot`]; failures are retried with
    /// backoff and signalled ([`Event::WatchSignal`]). It runs until
    /// [`Client::cancel`] or [`Client::close`].
    pub fn watch(&mut self, request: ListRequest, now: Instant) -> Result<OpId, ListError> {
        crate::list::check_list_request(&request)?;
        let id = self.new_op();
        let backoff = self.shared.backoff();
        let op = WatchOp::new(id, &request, backoff);
        Ok(self.start(id, Op::Watch(op), now))
    }

    /// Applies `request`'s changes in batches of `batch_size` (0: one
    /// batch). Every change is validated first.
    pub fn apply(
        &mut self,
        request: ApplyRequest,
        batch_size: usize,
        now: Instant,
    ) -> Result<OpId, ListError> {
        let id = self.new_op();
        let op = UnaryOp::apply(id, request, batch_size, &self.shared, now)?;
        Ok(self.start(id, Op::Unary(op), now))
    }

    /// Lists every fragment of `request`, following pages.
    pub fn list_fragments(
        &mut self,
        request: FragmentsRequest,
        now: Instant,
    ) -> Result<OpId, ListError> {
        let id = self.new_op();
        let op = UnaryOp::fragments(id, request, &self.shared, now)?;
        Ok(self.start(id, Op::Unary(op), now))
    }

    /// Probes the health of a fragment store; with `check_delete_prefix`
    /// also whether deletion under it is allowed.
    pub fn fragment_store_health(
        &mut self,
        store: &str,
        check_delete_prefix: Option<&str>,
        now: Instant,
    ) -> Result<OpId, ListError> {
        let id = self.new_op();
        let request = crate::list::fragment_store_health_request(store, check_delete_prefix)
            .map_err(ListError::InvalidRequest)?;
        let op = UnaryOp::health(id, request, &self.shared, now);
        Ok(self.start(id, Op::Unary(op), now))
    }

    /// Cancels an operation as the caller's context would: it finishes
    /// with its cancellation error (a watch with [`Outcome::WatchStopped`]).
    pub fn cancel(&mut self, op: OpId, now: Instant) {
        self.with_op(op, |o, sh| o.cancel(sh, now));
    }

    /// Forgets an operation at once (its handle was dropped): its RPCs and
    /// fetches are cancelled and no further event names it.
    pub fn close(&mut self, op: OpId) {
        if let Some(mut o) = self.ops.remove(&op) {
            o.release(&mut self.shared);
        }
    }

    /// Bounds an operation (not a watch): past `deadline` it finishes with
    /// its deadline error. `None` removes a deadline.
    pub fn set_deadline(&mut self, op: OpId, deadline: Option<Instant>) {
        if let Some(o) = self.ops.get_mut(&op) {
            o.set_deadline(deadline);
        }
    }

    /// Continues a retrying read after [`Event::ReadStopped`].
    pub fn resume_read(&mut self, op: OpId, now: Instant) {
        self.with_op(op, |o, sh| match o {
            Op::Read(r) => r.resume(sh, now),
            _ => Progress::Running,
        });
    }

    /// Sets whether a read blocks at the write head (from its next RPC).
    pub fn set_read_block(&mut self, op: OpId, block: bool) {
        if let Some(Op::Read(r)) = self.ops.get_mut(&op) {
            r.set_block(block);
        }
    }

    /// Seeks a read to `target`, with `buffered` bytes of its content
    /// delivered but not consumed by the caller. A retrying read always
    /// succeeds (restarting its RPC when the target is outside the
    /// buffer); a single-RPC read only moves forward within the fragment
    /// it reads directly.
    pub fn seek_read(
        &mut self,
        op: OpId,
        target: i64,
        buffered: u64,
        now: Instant,
    ) -> Result<Seek, SeekError> {
        let Some(Op::Read(r)) = self.ops.get_mut(&op) else {
            return Err(SeekError::NotARead);
        };
        let result = r.seek(&mut self.shared, target, buffered, now);
        let progress = r.drive(&mut self.shared, now);
        if progress == Progress::Done {
            self.close(op);
        }
        result
    }

    // ---- Inputs ---------------------------------------------------------

    fn op_of(&self, rpc: RpcId) -> Option<OpId> {
        self.shared.rpcs.get(&rpc).map(|e| e.op)
    }

    /// The response headers of a server-streaming RPC arrived: the broker
    /// was reached.
    pub fn handle_rpc_opened(&mut self, rpc: RpcId, now: Instant) {
        let Some(op) = self.op_of(rpc) else { return };
        if let Some(target) = self.shared.target_of(rpc).cloned() {
            self.shared.router.on_reached(&target);
        }
        self.with_op(op, |o, sh| o.on_opened(sh, rpc, now));
        self.settle(now);
    }

    /// A response message of `rpc` arrived.
    pub fn handle_rpc_message(&mut self, rpc: RpcId, message: RpcMessage, now: Instant) {
        let Some(op) = self.op_of(rpc) else { return };
        if let Some(target) = self.shared.target_of(rpc).cloned() {
            self.shared.router.on_reached(&target);
        }
        self.with_op(op, |o, sh| o.on_message(sh, rpc, message, now));
        self.settle(now);
    }

    /// The transport took one [`RpcCommand::Send`] message of `rpc`.
    pub fn handle_rpc_sent(&mut self, rpc: RpcId, now: Instant) {
        let Some(op) = self.op_of(rpc) else { return };
        let buffer = self.shared.config.append_write_buffer;
        if let Some(Op::Append(a)) = self.ops.get_mut(&op) {
            a.on_sent(&mut self.shared, rpc, buffer, now);
        }
        if !self.shared.batch_events.is_empty() {
            self.pump_batches(now);
        }
    }

    /// `rpc` ended (exactly once per opened RPC).
    pub fn handle_rpc_end(&mut self, rpc: RpcId, end: RpcEnd, now: Instant) {
        let Some(op) = self.op_of(rpc) else { return };
        let target = self.shared.target_of(rpc).cloned();
        self.shared.end_rpc(rpc);
        let failure = classify(end);
        if let Some(target) = &target {
            match &failure {
                Some(f) if f.code == RpcCode::Unavailable => {
                    self.shared.router.on_unavailable(target, now)
                }
                _ => self.shared.router.on_reached(target),
            }
        }
        self.with_op(op, |o, sh| o.on_end(sh, rpc, failure, now));
        self.settle(now);
    }

    /// One reader input of a direct fragment fetch (`DirectOpened`,
    /// `DirectOpenFailed`, `DirectContent`, `DirectEnd`, `DirectFailed`), as
    /// the [`crate::read::DirectFetch`] adapter yields them.
    pub fn handle_fetch(&mut self, fetch: FetchId, input: ReadInput, now: Instant) {
        let Some(&op) = self.shared.fetches.get(&fetch) else {
            return;
        };
        if matches!(
            input,
            ReadInput::DirectEnd | ReadInput::DirectFailed(_) | ReadInput::DirectOpenFailed(_)
        ) {
            self.shared.fetches.remove(&fetch);
        }
        self.with_op(op, |o, sh| match o {
            Op::Read(r) => r.on_fetch(sh, fetch, input, now),
            _ => Progress::Running,
        });
        self.settle(now);
    }

    /// Time passed: runs every timer due at `now` (backoffs, deadlines,
    /// sweeps). Spurious calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, o)| o.wake_at().is_some_and(|at| at <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.with_op(id, |o, sh| o.on_timeout(sh, now));
        }
        self.settle(now);
        let in_use: Vec<String> = self
            .shared
            .rpcs
            .values()
            .filter_map(|e| match &e.target {
                Target::Member(endpoint) => Some(endpoint.clone()),
                Target::Service => None,
            })
            .collect();
        for endpoint in self
            .shared
            .router
            .sweep(now, |e| in_use.iter().any(|u| u == e))
        {
            self.shared
                .commands
                .push_back(RpcCommand::Disconnect { endpoint });
        }
    }

    // ---- The AppendService ----------------------------------------------

    /// Opens a writer of a batched append of `request` (Go's
    /// `AppendService.StartAppend`) that commits only after every append of
    /// `deps` succeeded; see [`AppendService::start_append`]. Content
    /// follows with [`Client::write_batched`], then
    /// [`Client::release_batched`].
    pub fn start_batched(
        &mut self,
        request: &AppendRequest,
        deps: &[AppendId],
    ) -> Result<AppendTicket, StartError> {
        self.batches.scheduler.start_append(request, deps)
    }

    /// Spools `data` for the writer; the [`SpoolCommand`]s it produces
    /// ([`Client::poll_spool`]) are carried out before the writer's next
    /// call, and a failure reported with [`Client::handle_spool_failed`].
    pub fn write_batched(&mut self, ticket: &AppendTicket, data: &[u8]) -> Result<(), AppendError> {
        self.batches.scheduler.write(ticket, data)
    }

    /// Rolls the writer back at release, failing it with `err` (Go's
    /// `Require`; the first reason wins).
    pub fn require_batched(&mut self, ticket: &AppendTicket, err: AppendError) {
        self.batches.scheduler.require(ticket, err);
    }

    /// Releases the writer: its content joins its batch, which the client
    /// sends in order; the append's outcome is the
    /// [`Event::AppendResolved`] of the returned identifier. With a
    /// recorded error the writer's bytes are rolled back and it is
    /// returned.
    pub fn release_batched(
        &mut self,
        ticket: AppendTicket,
        now: Instant,
    ) -> Result<AppendId, AppendError> {
        let released = self.batches.scheduler.release(ticket);
        self.settle(now);
        released
    }

    /// A spool write of the writer failed (see
    /// [`AppendService::handle_spool_failed`]).
    pub fn handle_spool_failed(&mut self, ticket: &AppendTicket, offset: u64, error: SpoolError) {
        self.batches
            .scheduler
            .handle_spool_failed(ticket, offset, error);
    }

    /// The bytes of a [`SpoolCommand::Read`], or why they could not be
    /// read (the batch's attempt is aborted and retried).
    pub fn handle_spool_read(
        &mut self,
        read: SpoolRead,
        result: Result<Bytes, SpoolError>,
        now: Instant,
    ) {
        if let Some((op, result)) = self.batches.on_read(read, result) {
            match result {
                Ok(bytes) => {
                    if self.write_attempt(op, bytes, now) {
                        self.feed_attempt(op, now);
                    }
                }
                Err(err) => self.abort_attempt(op, err, now),
            }
        }
        self.settle(now);
    }

    /// A dependency the application resolves with
    /// [`Client::resolve_external`].
    pub fn external_dependency(&mut self) -> AppendId {
        self.batches.scheduler.external_dependency()
    }

    /// Reports how an external dependency ended.
    pub fn resolve_external(
        &mut self,
        id: AppendId,
        result: Result<(), AppendError>,
        now: Instant,
    ) {
        self.batches.scheduler.resolve_external(id, result);
        self.settle(now);
    }

    /// Everything pending on journals other than `journal` (all for `""`):
    /// dependencies of an append that must follow them.
    pub fn pending_except(&self, journal: &str) -> Vec<AppendId> {
        self.batches.scheduler.pending_except(journal)
    }

    /// The scheduler, for its getters (metrics, poison, idleness, ...).
    pub fn append_service(&self) -> &AppendService {
        &self.batches.scheduler
    }

    /// Clears `journal`'s terminal error, returning it.
    pub fn clear_poison(&mut self, journal: &str, now: Instant) -> Option<AppendError> {
        let cleared = self.batches.scheduler.clear_poison(journal);
        self.settle(now);
        cleared
    }

    /// Takes no more batched appends; what is queued is still sent.
    pub fn close_batched(&mut self) {
        self.batches.scheduler.close();
    }

    /// Gives up on every pending batched append (Go's cancellation of the
    /// service's context): running attempts are cancelled and everything
    /// unresolved fails with [`crate::append::TransportError::Cancelled`].
    pub fn cancel_batched(&mut self, now: Instant) {
        self.batches.scheduler.cancel();
        let running: Vec<OpId> = self.batches.attempts.keys().copied().collect();
        for op in running {
            self.cancel(op, now);
        }
        self.settle(now);
    }

    /// The next spool IO for the driver (writes, reads, removals).
    #[must_use]
    pub fn poll_spool(&mut self) -> Option<SpoolCommand> {
        self.batches.poll_spool()
    }

    /// Feeds the attempts' events to the scheduler, starts the batches it
    /// dispatches and reports what it resolved, until nothing changes.
    fn pump_batches(&mut self, now: Instant) {
        loop {
            let mut changed = false;
            while let Some(event) = self.shared.batch_events.pop_front() {
                changed = true;
                let op = match &event {
                    Event::Writable { op } | Event::Finished { op, .. } => Some(*op),
                    _ => None,
                };
                let finished = matches!(event, Event::Finished { .. });
                self.batches.on_event(&event, now);
                match (op, finished) {
                    (Some(op), true) => {
                        self.shared.batch_ops.remove(&op);
                    }
                    (Some(op), false) => self.feed_attempt(op, now),
                    _ => {}
                }
            }
            while let Some(dispatch) = self.batches.scheduler.poll_dispatch(now) {
                changed = true;
                let id = self.new_op();
                match AppendOp::streamed(id, dispatch.request.clone()) {
                    Ok(op) => {
                        self.shared.batch_ops.insert(id);
                        self.batches.attempt(id, &dispatch);
                        self.start(id, Op::Append(op), now);
                        self.feed_attempt(id, now);
                    }
                    Err(err) => self.batches.scheduler.on_append_finished(
                        dispatch.batch,
                        Err(err.into()),
                        now,
                    ),
                }
            }
            while let Some(resolution) = self.batches.scheduler.poll_resolved() {
                self.shared.events.push_back(Event::AppendResolved {
                    append: resolution.append,
                    result: resolution.result,
                    response: resolution.response.map(Box::new),
                });
            }
            if !changed {
                return;
            }
            self.settle_routes(now);
        }
    }

    /// Streams attempt `op`'s content as far as it goes.
    fn feed_attempt(&mut self, op: OpId, now: Instant) {
        loop {
            match self.batches.next_step(op) {
                Ok(Step::Write(bytes)) => {
                    if !self.write_attempt(op, bytes, now) {
                        return;
                    }
                }
                Ok(Step::Commit) => {
                    self.commit_append(op, now);
                    return;
                }
                Ok(Step::Wait) => return,
                Err(err) => {
                    self.abort_attempt(op, err, now);
                    return;
                }
            }
        }
    }

    /// Writes `bytes` to attempt `op`'s append; false when it takes no
    /// more now (blocked, or finished).
    fn write_attempt(&mut self, op: OpId, bytes: Bytes, now: Instant) -> bool {
        let len = bytes.len() as u64;
        match self.write_append(op, bytes, now) {
            Ok(()) => self.is_open(op),
            Err(WriteError::Blocked) => {
                self.batches.unread(op, len);
                self.batches.set_blocked(op, true);
                false
            }
            Err(_) => false,
        }
    }

    /// Ends attempt `op` with a spool failure: its stream is aborted (no
    /// commit marker) and the scheduler told why.
    fn abort_attempt(&mut self, op: OpId, err: AppendError, now: Instant) {
        self.batches.fail(op, err);
        self.abort_append(op, now);
    }

    // ---- Outputs --------------------------------------------------------

    /// The next RPC command for the driver.
    #[must_use]
    pub fn poll_rpc(&mut self) -> Option<RpcCommand> {
        self.shared.commands.pop_front()
    }

    /// The next event for the user.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.shared.events.pop_front()
    }

    /// When [`Client::handle_timeout`] is next due. Changes after any
    /// command or input.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.ops
            .values()
            .filter_map(Op::wake_at)
            .chain(self.shared.router.next_sweep())
            .chain(self.batches.scheduler.next_wakeup())
            .min()
    }

    // ---- Getters --------------------------------------------------------

    /// Whether `op` is still running.
    pub fn is_open(&self, op: OpId) -> bool {
        self.ops.contains_key(&op)
    }

    /// The number of running operations.
    pub fn open_operations(&self) -> usize {
        self.ops.len()
    }

    /// The cached route of `journal` (empty when unknown).
    pub fn route(&mut self, journal: &str, now: Instant) -> Route {
        self.shared.router.route(journal, now)
    }

    /// Caches (`Some`) or invalidates (`None` or an empty route) the route
    /// of `journal`.
    pub fn update_route(&mut self, journal: &str, route: Option<&Route>, now: Instant) {
        self.shared.router.update_route(journal, route, now);
        self.settle(now);
    }

    /// Whether the member at `endpoint` is considered failed (its last RPC
    /// met an unavailable broker and none has succeeded since).
    pub fn is_member_failed(&self, endpoint: &str) -> bool {
        self.shared.router.is_failed(endpoint)
    }

    /// Bytes a streamed append holds that the transport has not taken.
    pub fn append_backlog(&self, op: OpId) -> u64 {
        match self.ops.get(&op) {
            Some(Op::Append(a)) => a.backlog(),
            _ => 0,
        }
    }

    /// The single-RPC machine of a read, if `op` is one.
    pub fn reader(&self, op: OpId) -> Option<&Reader> {
        match self.ops.get(&op) {
            Some(Op::Read(r)) => r.reader(),
            _ => None,
        }
    }

    /// The retrying machine of a read, if `op` is one.
    pub fn retry_reader(&self, op: OpId) -> Option<&RetryReader> {
        match self.ops.get(&op) {
            Some(Op::Read(r)) => r.retry_reader(),
            _ => None,
        }
    }

    /// The offset a read continues at.
    pub fn read_offset(&self, op: OpId) -> Option<i64> {
        match self.ops.get(&op) {
            Some(Op::Read(r)) => Some(r.offset()),
            _ => None,
        }
    }

    /// Direct fragment fetches a read started so far.
    pub fn fragments_opened(&self, op: OpId) -> u64 {
        match self.ops.get(&op) {
            Some(Op::Read(r)) => r.fragments_opened(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests;
