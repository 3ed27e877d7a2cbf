//! A driver model of the sans-IO [`Client`]: runs a sequence of user
//! commands, driver reports (well-formed, garbage, out of order, about
//! RPCs already gone) and time steps, and checks after every step the
//! contract the module docs of `gazette_core::client` promise:
//!
//! * every started operation ends with exactly one `Event::Finished`
//!   unless closed, and no event names an operation that was closed or
//!   already finished;
//! * every `Send`, `HalfClose` and `Cancel` names an RPC the client opened
//!   and that has neither been cancelled nor reported ended (so each RPC is
//!   cancelled at most once), `Send` never follows `HalfClose`; `Fetch` and
//!   `CancelFetch` likewise; identifiers are fresh;
//! * no RPC or fetch outlives its operation (an ended operation's RPCs are
//!   all cancelled); `Disconnect` never names a member an open RPC uses;
//! * handling the timers due at one instant reaches quiescence within a
//!   bound, after which a spurious timeout does nothing; with no operation
//!   left, only the connection sweep may be scheduled, and it dies out;
//! * cancelling every operation at the end finishes each of them;
//! * the same steps give the same outputs (the caller runs twice).
//!
//! Shared by `client_props.rs` (proptest) and the `client` fuzz target,
//! which builds [`Step`]s from bytes with [`Step::from_parts`].
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gazette_core::client::{
    Call, Client, ClientConfig, Event, FetchId, OpId, RpcCommand, RpcEnd, RpcId, RpcMessage,
    SWEEP_INTERVAL, Target,
};
use gazette_core::proto::{
    self, AppendRequest, AppendResponse, ApplyRequest, ApplyResponse, FragmentStoreHealthResponse,
    FragmentsRequest, FragmentsResponse, Header, LabelSelector, ListRequest, ListResponse,
    ReadRequest, ReadResponse, Route, Status, process_spec::Id,
};
use gazette_core::read::{DirectError, ReadInput};
use gazette_core::status::RpcCode;

/// One thing that happens to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start a read (`retry`: a retrying reader).
    Read {
        journal: u8,
        offset: u8,
        retry: bool,
        block: bool,
        until: Option<u8>,
    },
    /// Start a streamed append.
    StartAppend {
        journal: u8,
    },
    /// Write `len` bytes to an append.
    Write {
        op: u8,
        len: u8,
    },
    Commit {
        op: u8,
    },
    Abort {
        op: u8,
    },
    /// A one-shot append of `chunks` chunks.
    Append {
        journal: u8,
        chunks: u8,
    },
    List,
    GetJournal {
        journal: u8,
    },
    Watch,
    Apply {
        changes: u8,
        batch: u8,
    },
    ListFragments {
        journal: u8,
    },
    StoreHealth {
        bad: bool,
    },
    Cancel {
        op: u8,
    },
    Close {
        op: u8,
    },
    /// Set (`Some`: `ms` from now) or clear a deadline.
    SetDeadline {
        op: u8,
        ms: Option<u16>,
    },
    Seek {
        op: u8,
        target: u8,
        buffered: u8,
    },
    Resume {
        op: u8,
    },
    SetBlock {
        op: u8,
        block: bool,
    },
    /// Cache or invalidate a journal's route.
    UpdateRoute {
        journal: u8,
        kind: u8,
    },
    /// Report the response headers of an RPC.
    Opened {
        rpc: u8,
    },
    /// Report one response message (`kind` picks a valid or a garbage one).
    Message {
        rpc: u8,
        kind: u8,
        x: u8,
    },
    /// Report that the transport took a Send.
    Sent {
        rpc: u8,
    },
    /// Report the end of an RPC.
    End {
        rpc: u8,
        kind: u8,
    },
    /// Answer an RPC as a well-behaved broker would, to its end.
    Serve {
        rpc: u8,
    },
    /// Report one input of a direct fetch.
    Fetch {
        fetch: u8,
        kind: u8,
        len: u8,
    },
    /// Advance to `poll_timeout` and handle it.
    Timeout,
    /// Advance by `ms` and handle timers.
    Advance {
        ms: u16,
    },
}

impl Step {
    /// Builds a step from four numbers (how the fuzz target and the
    /// proptest strategy pick them); every value maps to some step.
    pub fn from_parts(kind: u8, a: u8, b: u8, c: u16) -> Step {
        let bit = |n: u32| c & (1 << n) != 0;
        match kind % 40 {
            0..=2 => Step::Read {
                journal: a,
                offset: b,
                retry: bit(0),
                block: bit(1),
                until: bit(2).then_some((c >> 8) as u8),
            },
            3 => Step::StartAppend { journal: a },
            4 | 5 => Step::Write { op: a, len: b },
            6 => Step::Commit { op: a },
            7 => Step::Abort { op: a },
            8 | 9 => Step::Append {
                journal: a,
                chunks: b % 4,
            },
            10 => Step::List,
            11 => Step::GetJournal { journal: a },
            12 => Step::Watch,
            13 => Step::Apply {
                changes: a % 5,
                batch: b % 3,
            },
            14 => Step::ListFragments { journal: a },
            15 => Step::StoreHealth { bad: bit(0) },
            16 => Step::Cancel { op: a },
            17 => Step::Close { op: a },
            18 => Step::SetDeadline {
                op: a,
                ms: bit(0).then_some(c >> 1),
            },
            19 => Step::Seek {
                op: a,
                target: b,
                buffered: (c & 0xff) as u8,
            },
            20 => Step::Resume { op: a },
            21 => Step::SetBlock {
                op: a,
                block: bit(0),
            },
            22 => Step::UpdateRoute {
                journal: a,
                kind: b,
            },
            23 | 24 => Step::Opened { rpc: a },
            25..=28 => Step::Message {
                rpc: a,
                kind: b,
                x: (c & 0xff) as u8,
            },
            29 | 30 => Step::Sent { rpc: a },
            31 | 32 => Step::End { rpc: a, kind: b },
            33..=35 => Step::Serve { rpc: a },
            36 | 37 => Step::Fetch {
                fetch: a,
                kind: b,
                len: (c & 0xff) as u8,
            },
            38 => Step::Timeout,
            _ => Step::Advance { ms: c },
        }
    }
}

const JOURNALS: [&str; 4] = ["model/a", "model/b", "model/c", "Not A/Journal//"];
const ENDPOINTS: [&str; 3] = ["http://one:1", "http://two:2", "unix://three"];
/// Timers handled at one instant must settle within this many rounds.
const QUIESCENCE: usize = 16;

fn journal(n: u8) -> &'static str {
    JOURNALS[n as usize % JOURNALS.len()]
}

fn route(kind: u8) -> Route {
    let members: Vec<Id> = (0..3)
        .map(|n| Id {
            zone: ["a", "b", "c"][n].into(),
            suffix: format!("broker-{n}"),
        })
        .collect();
    match kind % 4 {
        0 => Route::default(),
        1 => Route {
            members: members.clone(),
            primary: 1,
            endpoints: ENDPOINTS.iter().map(|e| e.to_string()).collect(),
        },
        2 => Route {
            members: members[..2].to_vec(),
            primary: -1,
            endpoints: ENDPOINTS[..2].iter().map(|e| e.to_string()).collect(),
        },
        // Endpoints missing: proxied through the service address.
        _ => Route {
            members: members.clone(),
            primary: 0,
            endpoints: Vec::new(),
        },
    }
}

fn header(kind: u8) -> Header {
    Header {
        process_id: Some(Id {
            zone: "a".into(),
            suffix: "broker-0".into(),
        }),
        route: Some(route(kind)),
        etcd: Some(proto::header::Etcd {
            cluster_id: 1,
            member_id: 2,
            revision: 3,
            raft_term: 4,
        }),
    }
}

const CODES: [RpcCode; 10] = [
    RpcCode::Cancelled,
    RpcCode::Unknown,
    RpcCode::InvalidArgument,
    RpcCode::DeadlineExceeded,
    RpcCode::NotFound,
    RpcCode::PermissionDenied,
    RpcCode::ResourceExhausted,
    RpcCode::Internal,
    RpcCode::Unavailable,
    RpcCode::Unauthenticated,
];

const STATUSES: [Status; 8] = [
    Status::JournalNotFound,
    Status::NoJournalPrimaryBroker,
    Status::NotJournalPrimaryBroker,
    Status::NotJournalBroker,
    Status::InsufficientJournalBrokers,
    Status::WrongAppendOffset,
    Status::RegisterMismatch,
    Status::Suspended,
];

#[derive(Debug)]
struct RpcState {
    op: OpId,
    target: Target,
    call: Call,
    opened: bool,
    half_closed: bool,
    /// Sends the transport has not yet taken.
    unacked: u32,
    /// Content received (appends).
    content: Vec<u8>,
    /// Next read offset the broker serves (reads).
    cursor: i64,
    /// A unary call whose response was reported: the driver still owes
    /// its end, which may follow the operation's.
    answered: bool,
}

/// The driver, the fake broker and the checks.
pub struct Model {
    pub client: Client,
    start: Instant,
    now: Instant,
    /// Operations started and neither finished nor closed.
    live: BTreeSet<OpId>,
    /// The client's own route probes (listings it starts for stalled RPCs).
    probes: BTreeSet<OpId>,
    /// Every operation identifier the client returned, in order.
    ops: Vec<OpId>,
    /// The streamed appends among them.
    streamed: Vec<OpId>,
    /// Open RPCs: opened, not cancelled, not reported ended.
    rpcs: BTreeMap<RpcId, RpcState>,
    /// Every RPC ever opened.
    all_rpcs: Vec<RpcId>,
    fetches: BTreeMap<FetchId, OpId>,
    all_fetches: Vec<FetchId>,
    /// Journal content the broker committed.
    journals: BTreeMap<String, Vec<u8>>,
    /// Every output, as text.
    pub transcript: Vec<String>,
}

impl Model {
    pub fn new(start: Instant) -> Self {
        let mut config = ClientConfig::default();
        config.request_timeout = Some(Duration::from_secs(30));
        config.append_write_buffer = 24;
        config.backoff_seed = Some(7);
        config.jitter_permille = 100;
        Model {
            client: Client::new(config),
            start,
            now: start,
            live: BTreeSet::new(),
            probes: BTreeSet::new(),
            ops: Vec::new(),
            streamed: Vec::new(),
            rpcs: BTreeMap::new(),
            all_rpcs: Vec::new(),
            fetches: BTreeMap::new(),
            all_fetches: Vec::new(),
            journals: BTreeMap::new(),
            transcript: Vec::new(),
        }
    }

    /// Runs every step, then cancels what is left and lets the sweep die
    /// out; returns the transcript. Panics on a broken invariant.
    pub fn run(mut self, steps: &[Step]) -> Vec<String> {
        for (n, step) in steps.iter().enumerate() {
            self.log(format!("step {n}: {step:?}"));
            self.step(step);
            self.check();
        }
        self.finish();
        self.transcript
    }

    fn log(&mut self, line: String) {
        self.transcript.push(line);
    }

    fn fail(&self, what: String) -> ! {
        let tail = self.transcript.len().saturating_sub(40);
        panic!(
            "invariant broken: {what}\n--- last outputs ---\n{}",
            self.transcript[tail..].join("\n")
        );
    }

    fn pick_op(&self, n: u8) -> Option<OpId> {
        // Mostly live operations; sometimes any (finished or closed).
        if n < 200 && !self.live.is_empty() {
            self.live.iter().nth(n as usize % self.live.len()).copied()
        } else if self.ops.is_empty() {
            None
        } else {
            Some(self.ops[n as usize % self.ops.len()])
        }
    }

    /// Mostly a running streamed append.
    fn pick_append(&self, n: u8) -> Option<OpId> {
        let running: Vec<OpId> = self
            .streamed
            .iter()
            .filter(|op| self.live.contains(op))
            .copied()
            .collect();
        if n < 200 && !running.is_empty() {
            Some(running[n as usize % running.len()])
        } else {
            self.pick_op(n)
        }
    }

    fn pick_rpc(&self, n: u8) -> Option<RpcId> {
        if n < 224 && !self.rpcs.is_empty() {
            self.rpcs.keys().nth(n as usize % self.rpcs.len()).copied()
        } else if self.all_rpcs.is_empty() {
            None
        } else {
            Some(self.all_rpcs[n as usize % self.all_rpcs.len()])
        }
    }

    fn pick_fetch(&self, n: u8) -> Option<FetchId> {
        if n < 224 && !self.fetches.is_empty() {
            self.fetches
                .keys()
                .nth(n as usize % self.fetches.len())
                .copied()
        } else if self.all_fetches.is_empty() {
            None
        } else {
            Some(self.all_fetches[n as usize % self.all_fetches.len()])
        }
    }

    fn started(&mut self, op: OpId) {
        if self.ops.contains(&op) || self.live.contains(&op) {
            self.fail(format!("{op} returned twice"));
        }
        self.ops.push(op);
        self.live.insert(op);
    }

    fn started_result<E: std::fmt::Debug>(&mut self, result: Result<OpId, E>) {
        match result {
            Ok(op) => {
                self.log(format!("  started {op}"));
                self.started(op);
            }
            Err(e) => self.log(format!("  refused {e:?}")),
        }
    }

    fn step(&mut self, step: &Step) {
        let now = self.now;
        match *step {
            Step::Read {
                journal: j,
                offset,
                retry,
                block,
                until,
            } => {
                let offset = if offset == 255 {
                    -1
                } else {
                    offset as i64 % 40
                };
                let mut request = ReadRequest::new(journal(j))
                    .from_offset(offset)
                    .blocking(block);
                if let Some(until) = until {
                    request = request.until(until as i64 % 48);
                }
                let op = self.client.read(request, retry, now);
                self.started_result::<()>(Ok(op));
            }
            Step::StartAppend { journal: j } => {
                let r = self
                    .client
                    .start_append(AppendRequest::new(journal(j)), now);
                if let Ok(op) = &r {
                    self.streamed.push(*op);
                }
                self.started_result(r);
            }
            Step::Write { op, len } => {
                if let Some(op) = self.pick_append(op) {
                    let content = Bytes::from(vec![b'a' + len % 26; len as usize % 48]);
                    let r = self.client.write_append(op, content, now);
                    self.log(format!("  write {op}: {r:?}"));
                }
            }
            Step::Commit { op } => {
                if let Some(op) = self.pick_append(op) {
                    self.client.commit_append(op, now);
                }
            }
            Step::Abort { op } => {
                if let Some(op) = self.pick_append(op) {
                    self.client.abort_append(op, now);
                }
            }
            Step::Append { journal: j, chunks } => {
                let content = (0..chunks)
                    .map(|n| Bytes::from(format!("chunk {n}\n")))
                    .collect();
                let r = self
                    .client
                    .append(AppendRequest::new(journal(j)), content, now);
                self.started_result(r);
            }
            Step::List => {
                let r = self
                    .client
                    .list(ListRequest::new(LabelSelector::new()), now);
                self.started_result(r);
            }
            Step::GetJournal { journal: j } => {
                let r = self.client.get_journal(journal(j), now);
                self.started_result(r);
            }
            Step::Watch => {
                let r = self
                    .client
                    .watch(ListRequest::new(LabelSelector::new()), now);
                self.started_result(r);
            }
            Step::Apply { changes, batch } => {
                let specs = (0..changes).map(|n| {
                    proto::JournalSpec::new(journal(n))
                        .with_replication(1)
                        .with_fragment_length(1 << 20)
                });
                let r = self
                    .client
                    .apply(ApplyRequest::upsert_all(specs), batch as usize, now);
                self.started_result(r);
            }
            Step::ListFragments { journal: j } => {
                let r = self
                    .client
                    .list_fragments(FragmentsRequest::new(journal(j)), now);
                self.started_result(r);
            }
            Step::StoreHealth { bad } => {
                let store = if bad { "not a url" } else { "s3://bucket/" };
                let r = self.client.fragment_store_health(store, None, now);
                self.started_result(r);
            }
            Step::Cancel { op } => {
                if let Some(op) = self.pick_op(op) {
                    self.client.cancel(op, now);
                }
            }
            Step::Close { op } => {
                if let Some(op) = self.pick_op(op) {
                    self.client.close(op);
                    self.live.remove(&op);
                    // Its RPCs and fetches are cancelled by the close.
                }
            }
            Step::SetDeadline { op, ms } => {
                if let Some(op) = self.pick_op(op) {
                    let deadline = ms.map(|ms| now + Duration::from_millis(ms as u64));
                    self.client.set_deadline(op, deadline);
                }
            }
            Step::Seek {
                op,
                target,
                buffered,
            } => {
                if let Some(op) = self.pick_op(op) {
                    let r =
                        self.client
                            .seek_read(op, target as i64 % 64, buffered as u64 % 32, now);
                    self.log(format!("  seek {op}: {r:?}"));
                }
            }
            Step::Resume { op } => {
                if let Some(op) = self.pick_op(op) {
                    self.client.resume_read(op, now);
                }
            }
            Step::SetBlock { op, block } => {
                if let Some(op) = self.pick_op(op) {
                    self.client.set_read_block(op, block);
                }
            }
            Step::UpdateRoute { journal: j, kind } => {
                let r = route(kind);
                let update = (kind & 4 == 0).then_some(&r);
                self.client.update_route(journal(j), update, now);
            }
            Step::Opened { rpc } => {
                if let Some(rpc) = self.pick_rpc(rpc) {
                    // A transport reports the headers of an RPC once.
                    if let Some(state) = self.rpcs.get_mut(&rpc) {
                        if state.opened {
                            return;
                        }
                        state.opened = true;
                    }
                    self.client.handle_rpc_opened(rpc, now);
                }
            }
            Step::Message { rpc, kind, x } => {
                if let Some(rpc) = self.pick_rpc(rpc) {
                    let message = self.message(rpc, kind, x);
                    self.log(format!("  message {rpc}: {message:?}"));
                    self.answered(rpc);
                    self.client.handle_rpc_message(rpc, message, now);
                }
            }
            Step::Sent { rpc } => {
                if let Some(rpc) = self.pick_rpc(rpc)
                    && let Some(state) = self.rpcs.get_mut(&rpc)
                    && state.unacked > 0
                {
                    state.unacked -= 1;
                    self.client.handle_rpc_sent(rpc, now);
                }
            }
            Step::End { rpc, kind } => {
                if let Some(rpc) = self.pick_rpc(rpc) {
                    let end = match kind % 4 {
                        0 => RpcEnd::Ok,
                        1 => RpcEnd::transport("connection refused"),
                        2 => RpcEnd::Failed {
                            code: [RpcCode::Unknown, RpcCode::Cancelled][kind as usize / 4 % 2],
                            message: "connection reset".into(),
                            transport: true,
                        },
                        _ => RpcEnd::status(CODES[kind as usize / 4 % CODES.len()], "status"),
                    };
                    self.end(rpc, end);
                }
            }
            Step::Serve { rpc } => {
                if let Some(rpc) = self.pick_rpc(rpc) {
                    self.serve(rpc);
                }
            }
            Step::Fetch { fetch, kind, len } => {
                if let Some(fetch) = self.pick_fetch(fetch) {
                    let input = match kind % 6 {
                        0 | 1 => ReadInput::DirectOpened,
                        2 => ReadInput::DirectContent(Bytes::from(vec![b'f'; len as usize % 40])),
                        3 => ReadInput::DirectEnd,
                        4 => ReadInput::DirectFailed(DirectError::UnexpectedEof),
                        _ => ReadInput::DirectOpenFailed(DirectError::HttpStatus {
                            status: "404 Not Found".into(),
                            url: "https://store/fragment".into(),
                        }),
                    };
                    if matches!(
                        input,
                        ReadInput::DirectEnd
                            | ReadInput::DirectFailed(_)
                            | ReadInput::DirectOpenFailed(_)
                    ) {
                        self.fetches.remove(&fetch);
                    }
                    self.log(format!("  fetch {fetch}: {input:?}"));
                    self.client.handle_fetch(fetch, input, now);
                }
            }
            Step::Timeout => {
                if let Some(at) = self.client.poll_timeout() {
                    self.now = self.now.max(at);
                }
                self.settle_timers();
                return;
            }
            Step::Advance { ms } => {
                self.now += Duration::from_millis(ms as u64);
                self.settle_timers();
                return;
            }
        }
        self.drain();
    }

    /// Notes that a unary `rpc` got its response.
    fn answered(&mut self, rpc: RpcId) {
        if let Some(state) = self.rpcs.get_mut(&rpc)
            && matches!(
                state.call,
                Call::Apply(_) | Call::ListFragments(_) | Call::FragmentStoreHealth(_)
            )
        {
            state.answered = true;
        }
    }

    /// Reports the end of `rpc` and drains.
    fn end(&mut self, rpc: RpcId, end: RpcEnd) {
        self.log(format!("  end {rpc}: {end:?}"));
        self.rpcs.remove(&rpc);
        self.client.handle_rpc_end(rpc, end, self.now);
        self.drain();
    }

    /// Handles timers due now until none is; a spurious call after that
    /// changes nothing.
    fn settle_timers(&mut self) {
        self.log(format!("  now +{:?}", self.now - self.start));
        for _ in 0..QUIESCENCE {
            match self.client.poll_timeout() {
                Some(at) if at <= self.now => {
                    self.client.handle_timeout(self.now);
                    self.drain();
                }
                _ => {
                    self.client.handle_timeout(self.now);
                    if self.drain() {
                        self.fail("a spurious handle_timeout produced outputs".into());
                    }
                    return;
                }
            }
        }
        self.fail(format!(
            "timers due at {:?} did not settle within {QUIESCENCE} rounds",
            self.now - self.start
        ));
    }

    fn message(&mut self, rpc: RpcId, kind: u8, x: u8) -> RpcMessage {
        let call = self.rpcs.get(&rpc).map(|s| s.call.clone());
        // One in eight is garbage: a message of another call, or fields
        // no broker sends.
        if kind % 8 == 7 || call.is_none() {
            return garbage(kind / 8, x);
        }
        let state = self.rpcs.get_mut(&rpc).expect("open");
        let sel = (kind / 8) as usize;
        match call.expect("some") {
            Call::Read(request) => {
                let len = (x % 16) as i64;
                let begin = state.cursor.max(0);
                match sel % 6 {
                    // Metadata: a fragment holding the cursor.
                    0 | 1 => RpcMessage::Read(ReadResponse {
                        header: Some(header(x)),
                        offset: begin,
                        write_head: begin + len + 1,
                        fragment: Some(proto::Fragment {
                            journal: request.journal.clone(),
                            begin,
                            end: begin + len + 1,
                            compression_codec: proto::CompressionCodec::None as i32,
                            ..Default::default()
                        }),
                        // Sometimes to be read directly from the store.
                        fragment_url: if sel % 6 == 1 || x & 0x80 != 0 {
                            "https://store/fragment".into()
                        } else {
                            String::new()
                        },
                        ..Default::default()
                    }),
                    2 => {
                        let message = RpcMessage::Read(ReadResponse {
                            offset: begin,
                            content: Bytes::from(vec![b'r'; len as usize + 1]),
                            ..Default::default()
                        });
                        state.cursor = begin + len + 1;
                        message
                    }
                    3 => RpcMessage::Read(ReadResponse {
                        status: Status::OffsetNotYetAvailable as i32,
                        header: Some(header(x)),
                        offset: begin,
                        write_head: begin,
                        ..Default::default()
                    }),
                    4 => RpcMessage::Read(ReadResponse {
                        status: Status::NotJournalBroker as i32,
                        header: Some(header(x | 1)),
                        ..Default::default()
                    }),
                    _ => RpcMessage::Read(ReadResponse {
                        status: STATUSES[x as usize % STATUSES.len()] as i32,
                        header: Some(header(x)),
                        ..Default::default()
                    }),
                }
            }
            Call::Append { journal } => {
                let status = if sel.is_multiple_of(3) {
                    STATUSES[x as usize % STATUSES.len()] as i32
                } else {
                    Status::Ok as i32
                };
                let begin = self.journals.get(&journal).map_or(0, |j| j.len() as i64);
                let state = self.rpcs.get(&rpc).expect("open");
                RpcMessage::Append(AppendResponse {
                    status,
                    header: Some(header(x)),
                    commit: Some(proto::Fragment {
                        journal,
                        begin,
                        end: begin + state.content.len() as i64,
                        ..Default::default()
                    }),
                    registers: Some(Default::default()),
                    ..Default::default()
                })
            }
            Call::List(_) => RpcMessage::List(self.listing(sel, x)),
            Call::Apply(_) => RpcMessage::Apply(ApplyResponse {
                status: if sel.is_multiple_of(3) {
                    STATUSES[x as usize % STATUSES.len()] as i32
                } else {
                    Status::Ok as i32
                },
                header: Some(header(x)),
            }),
            Call::ListFragments(request) => RpcMessage::ListFragments(FragmentsResponse {
                status: if sel.is_multiple_of(4) {
                    Status::JournalNotFound as i32
                } else {
                    Status::Ok as i32
                },
                header: Some(header(x)),
                fragments: (0..x % 3)
                    .map(|n| proto::fragments_response::Fragment {
                        spec: Some(proto::Fragment {
                            journal: request.journal.clone(),
                            begin: n as i64 * 10,
                            end: n as i64 * 10 + 10,
                            ..Default::default()
                        }),
                        signed_url: String::new(),
                    })
                    .collect(),
                next_page_token: if sel % 2 == 1 { x as i64 + 1 } else { 0 },
            }),
            Call::FragmentStoreHealth(_) => {
                RpcMessage::FragmentStoreHealth(FragmentStoreHealthResponse {
                    status: if sel.is_multiple_of(3) {
                        Status::FragmentStoreUnhealthy as i32
                    } else {
                        Status::Ok as i32
                    },
                    header: Some(header(x)),
                    ..Default::default()
                })
            }
            _ => garbage(kind, x),
        }
    }

    fn listing(&self, sel: usize, x: u8) -> ListResponse {
        ListResponse {
            status: if sel.is_multiple_of(4) {
                Status::WrongRoute as i32
            } else {
                Status::Ok as i32
            },
            header: Some(header(x)),
            journals: JOURNALS[..(x as usize % 4)]
                .iter()
                .map(|name| proto::list_response::Journal {
                    spec: Some(proto::JournalSpec::new(*name)),
                    route: Some(route(x)),
                    mod_revision: 1,
                    create_revision: 1,
                })
                .collect(),
        }
    }

    /// Answers `rpc` as a well-behaved broker, one report at a time.
    fn serve(&mut self, rpc: RpcId) {
        let Some(state) = self.rpcs.get(&rpc) else {
            return;
        };
        let now = self.now;
        let call = state.call.clone();
        let opened = state.opened;
        let open = |m: &mut Model| m.rpcs.contains_key(&rpc);
        match call {
            Call::Read(request) => {
                if !opened {
                    self.rpcs.get_mut(&rpc).expect("open").opened = true;
                    self.client.handle_rpc_opened(rpc, now);
                    self.drain();
                }
                let data = self
                    .journals
                    .get(&request.journal)
                    .cloned()
                    .unwrap_or_default();
                let end = data.len() as i64;
                let offset = if request.offset < 0 {
                    end
                } else {
                    request.offset.min(end)
                };
                let mut frames = Vec::new();
                if offset < end {
                    frames.push(ReadResponse {
                        header: Some(header(1)),
                        offset,
                        write_head: end,
                        fragment: Some(proto::Fragment {
                            journal: request.journal.clone(),
                            begin: 0,
                            end,
                            compression_codec: proto::CompressionCodec::None as i32,
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                    frames.push(ReadResponse {
                        offset,
                        content: Bytes::copy_from_slice(&data[offset as usize..]),
                        ..Default::default()
                    });
                }
                if offset >= end && rpc.get().is_multiple_of(2) {
                    // Nothing here: half of these reads are sent to a
                    // (persisted) fragment to fetch directly.
                    frames.push(ReadResponse {
                        header: Some(header(1)),
                        offset,
                        write_head: offset + 10,
                        fragment: Some(proto::Fragment {
                            journal: request.journal.clone(),
                            begin: offset,
                            end: offset + 10,
                            compression_codec: proto::CompressionCodec::None as i32,
                            ..Default::default()
                        }),
                        fragment_url: "https://store/fragment".into(),
                        ..Default::default()
                    });
                } else {
                    frames.push(ReadResponse {
                        status: Status::OffsetNotYetAvailable as i32,
                        header: Some(header(1)),
                        offset: end,
                        write_head: end,
                        ..Default::default()
                    });
                }
                for frame in frames {
                    if !open(self) {
                        return;
                    }
                    self.log(format!("  serve {rpc}: {frame:?}"));
                    self.client
                        .handle_rpc_message(rpc, RpcMessage::Read(frame), now);
                    self.drain();
                }
                if open(self) {
                    self.end(rpc, RpcEnd::Ok);
                }
            }
            Call::Append { journal } => {
                while let Some(state) = self.rpcs.get_mut(&rpc)
                    && state.unacked > 0
                {
                    state.unacked -= 1;
                    self.client.handle_rpc_sent(rpc, now);
                    self.drain();
                }
                let Some(state) = self.rpcs.get(&rpc) else {
                    return;
                };
                if !state.half_closed {
                    return;
                }
                let content = state.content.clone();
                let data = self.journals.entry(journal.clone()).or_default();
                let begin = data.len() as i64;
                data.extend_from_slice(&content);
                let response = AppendResponse {
                    header: Some(header(1)),
                    commit: Some(proto::Fragment {
                        journal,
                        begin,
                        end: data.len() as i64,
                        ..Default::default()
                    }),
                    registers: Some(Default::default()),
                    ..Default::default()
                };
                self.log(format!("  serve {rpc}: {response:?}"));
                self.client
                    .handle_rpc_message(rpc, RpcMessage::Append(response), now);
                self.drain();
                if open(self) {
                    self.end(rpc, RpcEnd::Ok);
                }
            }
            Call::List(request) => {
                if !opened {
                    self.rpcs.get_mut(&rpc).expect("open").opened = true;
                    self.client.handle_rpc_opened(rpc, now);
                    self.drain();
                }
                if !open(self) {
                    return;
                }
                let response = self.listing(1, 3);
                self.client
                    .handle_rpc_message(rpc, RpcMessage::List(response), now);
                self.drain();
                // A watch stays open for the next snapshot.
                if open(self) && !request.watch {
                    self.end(rpc, RpcEnd::Ok);
                }
            }
            Call::Apply(_) | Call::ListFragments(_) | Call::FragmentStoreHealth(_) => {
                let message = self.message(rpc, 8, 2);
                self.answered(rpc);
                self.client.handle_rpc_message(rpc, message, now);
                self.drain();
                if open(self) {
                    self.end(rpc, RpcEnd::Ok);
                }
            }
            _ => {}
        }
    }

    /// Drains every output, checking each; returns whether there was any.
    fn drain(&mut self) -> bool {
        let mut any = false;
        loop {
            let mut progressed = false;
            while let Some(command) = self.client.poll_rpc() {
                progressed = true;
                self.command(command);
            }
            while let Some(event) = self.client.poll_event() {
                progressed = true;
                self.event(event);
            }
            if !progressed {
                return any;
            }
            any = true;
        }
    }

    fn command(&mut self, command: RpcCommand) {
        let mut line = String::new();
        match &command {
            RpcCommand::Send { rpc, message } => {
                let _ = write!(line, "  Send {rpc} {} bytes", message.content.len());
            }
            other => {
                let _ = write!(line, "  {other:?}");
            }
        }
        self.log(line);
        match command {
            RpcCommand::Open {
                rpc,
                op,
                target,
                call,
                ..
            } => {
                if self.all_rpcs.contains(&rpc) {
                    self.fail(format!("{rpc} opened twice"));
                }
                if !self.live.contains(&op) {
                    // The client's own probe of a journal's route: a
                    // listing for an operation no user started.
                    if self.ops.contains(&op) || !matches!(call, Call::List(_)) {
                        self.fail(format!("{rpc} opened for {op}, which is not running"));
                    }
                    self.probes.insert(op);
                }
                self.all_rpcs.push(rpc);
                let cursor = match &call {
                    Call::Read(r) => r.offset,
                    _ => 0,
                };
                self.rpcs.insert(
                    rpc,
                    RpcState {
                        op,
                        target,
                        call,
                        opened: false,
                        half_closed: false,
                        unacked: 0,
                        content: Vec::new(),
                        cursor,
                        answered: false,
                    },
                );
            }
            RpcCommand::Send { rpc, message } => {
                let Some(state) = self.rpcs.get_mut(&rpc) else {
                    self.fail(format!("Send on {rpc}, which is not open"));
                };
                if !matches!(state.call, Call::Append { .. }) || state.half_closed {
                    self.fail(format!(
                        "Send on {rpc} after its half-close or not an append"
                    ));
                }
                state.unacked += 1;
                state.content.extend_from_slice(&message.content);
            }
            RpcCommand::HalfClose { rpc } => {
                let Some(state) = self.rpcs.get_mut(&rpc) else {
                    self.fail(format!("HalfClose on {rpc}, which is not open"));
                };
                if state.half_closed {
                    self.fail(format!("{rpc} half-closed twice"));
                }
                state.half_closed = true;
            }
            RpcCommand::Cancel { rpc } => {
                if self.rpcs.remove(&rpc).is_none() {
                    self.fail(format!(
                        "Cancel of {rpc}, which is not open (never opened, ended or cancelled)"
                    ));
                }
            }
            RpcCommand::Fetch { fetch, op, .. } => {
                if self.all_fetches.contains(&fetch) {
                    self.fail(format!("{fetch} started twice"));
                }
                if !self.live.contains(&op) {
                    self.fail(format!("{fetch} started for {op}, which is not running"));
                }
                self.all_fetches.push(fetch);
                self.fetches.insert(fetch, op);
            }
            RpcCommand::CancelFetch { fetch } => {
                if self.fetches.remove(&fetch).is_none() {
                    self.fail(format!("CancelFetch of {fetch}, which is not running"));
                }
            }
            RpcCommand::Disconnect { endpoint } => {
                if self
                    .rpcs
                    .values()
                    .any(|s| s.target == Target::Member(endpoint.clone()))
                {
                    self.fail(format!("Disconnect of {endpoint} while an RPC uses it"));
                }
            }
            other => self.fail(format!("unexpected command {other:?}")),
        }
    }

    fn event(&mut self, event: Event) {
        self.log(format!("  event {event:?}"));
        let op = match &event {
            Event::Read { op, .. }
            | Event::ReadStopped { op, .. }
            | Event::Retrying { op, .. }
            | Event::Writable { op }
            | Event::OutcomeUnknown { op }
            | Event::AppendRefused { op, .. }
            | Event::Snapshot { op, .. }
            | Event::WatchSignal { op, .. }
            | Event::Finished { op, .. } => *op,
            other => self.fail(format!("unexpected event {other:?}")),
        };
        if !self.live.contains(&op) {
            self.fail(format!(
                "event names {op}, which is not running (closed, finished or unknown)"
            ));
        }
        if let Event::Finished { .. } = event {
            self.live.remove(&op);
        }
    }

    /// Checks the state after a step.
    fn check(&mut self) {
        let probes: BTreeSet<OpId> = self
            .probes
            .iter()
            .copied()
            .filter(|op| self.client.is_open(*op))
            .collect();
        for (rpc, state) in &self.rpcs {
            // A unary call that delivered its response ends by itself.
            if !self.live.contains(&state.op) && !probes.contains(&state.op) && !state.answered {
                self.fail(format!("{rpc} is still open but its {} ended", state.op));
            }
        }
        for (fetch, op) in &self.fetches {
            if !self.live.contains(op) {
                self.fail(format!("{fetch} is still running but its {op} ended"));
            }
        }
        for op in &self.live {
            if !self.client.is_open(*op) {
                self.fail(format!("{op} ended without Event::Finished"));
            }
        }
        if self.client.open_operations() != self.live.len() + probes.len() {
            self.fail(format!(
                "the client runs {} operations, the model {} and {} probes",
                self.client.open_operations(),
                self.live.len(),
                probes.len()
            ));
        }
        if self.live.is_empty()
            && probes.is_empty()
            && let Some(at) = self.client.poll_timeout()
            && at > self.now + SWEEP_INTERVAL
        {
            self.fail(format!(
                "nothing runs, yet a timer at +{:?} (now +{:?}) is not the sweep",
                at - self.start,
                self.now - self.start
            ));
        }
    }

    /// Cancels every operation left, then lets the sweep run out.
    fn finish(&mut self) {
        self.log("finish".into());
        let live: Vec<OpId> = self.live.iter().copied().collect();
        for op in live {
            self.client.cancel(op, self.now);
            self.drain();
            if self.live.contains(&op) {
                self.fail(format!("{op} did not finish when cancelled"));
            }
        }
        self.check();
        // The driver reports the ends it still owes; nothing may follow.
        let owed: Vec<RpcId> = self.rpcs.keys().copied().collect();
        for rpc in owed {
            self.log(format!("  end {rpc}: Ok"));
            self.rpcs.remove(&rpc);
            self.client.handle_rpc_end(rpc, RpcEnd::Ok, self.now);
            while let Some(command) = self.client.poll_rpc() {
                self.command(command);
            }
            if let Some(event) = self.client.poll_event() {
                self.fail(format!("an event with no operation running: {event:?}"));
            }
        }
        if !self.rpcs.is_empty() || !self.fetches.is_empty() {
            self.fail("RPCs or fetches outlive every operation".into());
        }
        for _ in 0..4 {
            let Some(at) = self.client.poll_timeout() else {
                return;
            };
            self.now = self.now.max(at);
            self.client.handle_timeout(self.now);
            while let Some(command) = self.client.poll_rpc() {
                self.command(command);
            }
            if let Some(event) = self.client.poll_event() {
                self.fail(format!("an event with no operation running: {event:?}"));
            }
        }
        self.fail("with nothing running, the timer did not die out".into());
    }
}

/// A message no broker sends for the RPC it arrives on.
fn garbage(kind: u8, x: u8) -> RpcMessage {
    match kind % 6 {
        0 => RpcMessage::Read(ReadResponse {
            status: x as i32 % 20 - 2,
            offset: x as i64 - 100,
            write_head: -(x as i64),
            content: Bytes::from(vec![0; x as usize % 8]),
            fragment: Some(proto::Fragment {
                begin: x as i64,
                end: x as i64 / 2,
                compression_codec: x as i32 % 7,
                ..Default::default()
            }),
            ..Default::default()
        }),
        1 => RpcMessage::Append(AppendResponse {
            status: x as i32 % 20,
            commit: (x & 1 == 0).then(|| proto::Fragment {
                journal: "other/journal".into(),
                begin: 10,
                end: 5,
                ..Default::default()
            }),
            ..Default::default()
        }),
        2 => RpcMessage::List(ListResponse {
            status: x as i32 % 20,
            header: (x & 1 == 0).then(|| header(x)),
            journals: vec![proto::list_response::Journal::default()],
        }),
        3 => RpcMessage::Apply(ApplyResponse::default()),
        4 => RpcMessage::ListFragments(FragmentsResponse {
            status: x as i32 % 20,
            next_page_token: -(x as i64),
            ..Default::default()
        }),
        _ => RpcMessage::FragmentStoreHealth(FragmentStoreHealthResponse {
            status: x as i32 % 20,
            ..Default::default()
        }),
    }
}
