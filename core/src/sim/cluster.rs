//! The simulated cluster: brokers and their state, the Etcd revision,
//! journals and their assignments, routes and headers, how a broker
//! resolves a journal request (statuses, proxying), faults, and the RPC
//! sessions in flight ([`super::serve`] answers them).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use gazette_proto::process_spec::Id;
use gazette_proto::{Header, JournalSpec, Route, Status, header};

use super::journal::SimJournal;
use super::rng::SimRng;
use super::serve::Session;
use super::store::SimStore;
use crate::client::{Call, OpId, RpcEnd, RpcId, RpcMessage};
use crate::status::RpcCode;
use crate::validate::strip_meta;

/// The Etcd cluster id every simulated header carries.
pub const CLUSTER_ID: u64 = 0x5151;

/// Settings of a [`SimCluster`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// Number of brokers (`broker-0` … in zones `zone-a`, `zone-b`, …).
    pub brokers: usize,
    /// Number of zones the brokers are spread over.
    pub zones: usize,
    /// How long a crashed or frozen broker keeps its assignments before
    /// its lease expires and its journals are reassigned.
    pub lease: Duration,
    /// How long an append waits on an unhealthy first store before it
    /// answers `FRAGMENT_STORE_UNHEALTHY` (the broker's seven failed
    /// re-checks, shortened).
    pub store_unhealthy_hold: Duration,
    /// The largest content message of a Read stream (the broker's is
    /// 32736 bytes; smaller values split content into more frames).
    pub read_chunk: usize,
    /// Seed of the cluster's own choices (buggify points).
    pub seed: u64,
    /// Whether buggify points fire: reads closed early, fragments
    /// persisted early, offload fragments served gzipped.
    pub buggify: bool,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            brokers: 3,
            zones: 2,
            lease: Duration::from_secs(2),
            store_unhealthy_hold: Duration::from_secs(2),
            read_chunk: 32736,
            seed: 0,
            buggify: false,
        }
    }
}

/// What a broker process is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    /// Serving.
    Up,
    /// Not running: connections are refused.
    Crashed,
    /// Running but stuck: connections open, nothing is answered.
    Frozen,
}

/// One broker of the cluster.
#[derive(Debug, Clone)]
pub struct SimBroker {
    /// Its process id.
    pub id: Id,
    /// Its advertised endpoint, such as `http://broker-0.sim:8080`.
    pub endpoint: String,
    /// Its state.
    pub state: BrokerState,
    /// When it crashed or froze.
    down_since: Option<Instant>,
    /// Whether its lease expired (its journals were reassigned).
    expired: bool,
}

/// A request arriving at a broker (through [`super::SimNet`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// One value per delivery: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum ToCluster {
    /// An RPC opened to `broker` with its call.
    Open {
        /// The RPC.
        rpc: RpcId,
        /// The operation it serves (recorded with commits).
        op: OpId,
        /// The broker it reached.
        broker: usize,
        /// The call.
        call: Call,
    },
    /// One Append request message.
    Send {
        /// The RPC.
        rpc: RpcId,
        /// The message.
        message: gazette_proto::AppendRequest,
    },
    /// The request side of an Append ended.
    HalfClose {
        /// The RPC.
        rpc: RpcId,
    },
    /// The client cancelled the RPC, or its connection broke.
    Cancel {
        /// The RPC.
        rpc: RpcId,
    },
}

impl ToCluster {
    /// The RPC the request is about.
    pub fn rpc(&self) -> RpcId {
        match self {
            ToCluster::Open { rpc, .. }
            | ToCluster::Send { rpc, .. }
            | ToCluster::HalfClose { rpc }
            | ToCluster::Cancel { rpc } => *rpc,
        }
    }
}

/// What a broker sends back about one RPC.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// One value per delivery: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Reply {
    /// The response headers of a server-streaming RPC.
    Opened(RpcId),
    /// A response message.
    Message(RpcId, RpcMessage),
    /// The RPC's end.
    End(RpcId, RpcEnd),
}

impl Reply {
    /// The RPC the reply is about.
    pub fn rpc(&self) -> RpcId {
        match self {
            Reply::Opened(rpc) | Reply::Message(rpc, _) | Reply::End(rpc, _) => *rpc,
        }
    }
}

/// One committed append, as the cluster executed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRecord {
    /// The journal.
    pub journal: String,
    /// Its first offset.
    pub begin: i64,
    /// Its end offset.
    pub end: i64,
    /// The RPC that committed it.
    pub rpc: RpcId,
    /// The client operation of that RPC.
    pub op: OpId,
}

/// How a broker resolved a journal request.
pub(crate) enum Resolved {
    /// Answer with this status and header.
    Status(Status, Header),
    /// Serve it at `serving` (this broker or a proxied peer).
    Serve { serving: usize, header: Header },
    /// Wait (a frozen peer, a future Etcd revision).
    Wait,
    /// End the RPC with this failure (a proxied peer is down).
    Fail(RpcEnd),
}

/// A sans-IO model of a Gazette cluster (module docs).
#[derive(Debug)]
pub struct SimCluster {
    pub(crate) config: ClusterConfig,
    pub(crate) brokers: Vec<SimBroker>,
    pub(crate) journals: BTreeMap<String, SimJournal>,
    pub(crate) revision: i64,
    pub(crate) store: SimStore,
    pub(crate) sessions: BTreeMap<RpcId, Session>,
    pub(crate) outbox: VecDeque<Reply>,
    pub(crate) commits: Vec<CommitRecord>,
    pub(crate) rng: SimRng,
    pub(crate) start: Instant,
    pub(crate) now: Instant,
}

/// The Unix time the simulation's clock starts at (for fragment mod times).
pub const EPOCH_UNIX_SECONDS: i64 = 1_750_000_000;

impl SimCluster {
    /// A cluster of `config.brokers` brokers, all up, with no journals, its
    /// clock starting at `start`.
    pub fn new(config: ClusterConfig, start: Instant) -> Self {
        let zones = config.zones.max(1);
        let brokers = (0..config.brokers)
            .map(|i| SimBroker {
                id: Id {
                    zone: format!("zone-{}", (b'a' + (i % zones) as u8) as char),
                    suffix: format!("broker-{i}"),
                },
                endpoint: format!("http://broker-{i}.sim:8080"),
                state: BrokerState::Up,
                down_since: None,
                expired: false,
            })
            .collect();
        let rng = SimRng::new(config.seed ^ 0xC1u64.rotate_left(56));
        SimCluster {
            config,
            brokers,
            journals: BTreeMap::new(),
            revision: 1,
            store: SimStore::default(),
            sessions: BTreeMap::new(),
            outbox: VecDeque::new(),
            commits: Vec::new(),
            rng,
            start,
            now: start,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The brokers, by index.
    pub fn brokers(&self) -> &[SimBroker] {
        &self.brokers
    }

    /// The index of the broker advertising `endpoint`.
    pub fn broker_at(&self, endpoint: &str) -> Option<usize> {
        self.brokers.iter().position(|b| b.endpoint == endpoint)
    }

    /// Every journal, by name.
    pub fn journals(&self) -> &BTreeMap<String, SimJournal> {
        &self.journals
    }

    /// One journal (a `;meta` suffix is ignored).
    pub fn journal(&self, name: &str) -> Option<&SimJournal> {
        self.journals.get(strip_meta(name))
    }

    /// One journal, to change behind the brokers' back (for example to
    /// corrupt its content and see an oracle catch it).
    pub fn journal_mut(&mut self, name: &str) -> Option<&mut SimJournal> {
        self.journals.get_mut(strip_meta(name))
    }

    /// The fragment stores, to change behind the brokers' back (for
    /// example to corrupt a stored file and see an oracle catch it).
    pub fn store_mut(&mut self) -> &mut SimStore {
        &mut self.store
    }

    /// The current Etcd revision.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The fragment stores.
    pub fn store(&self) -> &SimStore {
        &self.store
    }

    /// Every committed append, in commit order.
    pub fn commits(&self) -> &[CommitRecord] {
        &self.commits
    }

    /// The number of RPCs the cluster is serving.
    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Creates (or replaces) a journal directly, as an operator's Apply
    /// would, and assigns it.
    pub fn create_journal(&mut self, spec: JournalSpec) {
        self.revision += 1;
        let name = spec.name.clone();
        let mut journal = SimJournal::new(spec, self.revision);
        if let Some(old) = self.journals.remove(&name) {
            journal.create_revision = old.create_revision;
            journal.content = old.content;
            journal.index = old.index;
            journal.registers = old.registers;
        }
        self.journals.insert(name, journal);
        self.allocate();
    }

    /// The next reply for the client.
    pub fn poll_reply(&mut self) -> Option<Reply> {
        self.outbox.pop_front()
    }

    /// When [`SimCluster::handle_timeout`] is next due: a lease expiry or
    /// an append waiting on an unhealthy store.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let leases = self
            .brokers
            .iter()
            .filter_map(|b| match (b.down_since, b.expired) {
                (Some(at), false) => Some(at + self.config.lease),
                _ => None,
            });
        // A hold already due is waiting on something else (a frozen
        // broker): the pump after that changes handles it.
        let holds = self
            .sessions
            .values()
            .filter_map(Session::wake_at)
            .filter(|at| *at > self.now);
        leases.chain(holds).min()
    }

    /// Time passed: expires leases and store holds due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        let lease = self.config.lease;
        let mut changed = false;
        for broker in &mut self.brokers {
            if let (Some(at), false) = (broker.down_since, broker.expired)
                && at + lease <= now
            {
                broker.expired = true;
                changed = true;
            }
        }
        if changed {
            self.allocate();
        }
        self.pump();
    }

    /// A request arrived.
    pub fn handle(&mut self, now: Instant, input: ToCluster) {
        self.now = self.now.max(now);
        match input {
            ToCluster::Open {
                rpc,
                op,
                broker,
                call,
            } => {
                if self
                    .brokers
                    .get(broker)
                    .is_none_or(|b| b.state == BrokerState::Crashed)
                {
                    self.outbox
                        .push_back(Reply::End(rpc, RpcEnd::transport("connection refused")));
                    return;
                }
                let session = Session::new(op, broker, call);
                self.sessions.insert(rpc, session);
            }
            ToCluster::Send { rpc, message } => {
                if let Some(s) = self.sessions.get_mut(&rpc) {
                    s.push_message(message);
                }
            }
            ToCluster::HalfClose { rpc } => {
                if let Some(s) = self.sessions.get_mut(&rpc) {
                    s.push_half_close();
                }
            }
            ToCluster::Cancel { rpc } => self.drop_session(rpc),
        }
        self.pump();
    }

    /// Forgets a session without replying, releasing its pipeline.
    pub(crate) fn drop_session(&mut self, rpc: RpcId) {
        if self.sessions.remove(&rpc).is_some() {
            for journal in self.journals.values_mut() {
                if journal.pipeline == Some(rpc) {
                    journal.pipeline = None;
                }
            }
        }
    }

    /// Ends a session with `end` (after its last message).
    pub(crate) fn end_session(&mut self, rpc: RpcId, end: RpcEnd) {
        self.drop_session(rpc);
        self.outbox.push_back(Reply::End(rpc, end));
    }

    // ---- Faults -----------------------------------------------------------

    /// Broker `b` crashes: its connections break, RPCs it proxied to a
    /// peer fail, and after the lease its journals are reassigned.
    pub fn crash(&mut self, b: usize) {
        let Some(broker) = self.brokers.get_mut(b) else {
            return;
        };
        if broker.state == BrokerState::Crashed {
            return;
        }
        broker.state = BrokerState::Crashed;
        broker.down_since.get_or_insert(self.now);
        let affected: Vec<(RpcId, bool)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.broker == b || s.serving == Some(b))
            .map(|(rpc, s)| (*rpc, s.broker == b))
            .collect();
        for (rpc, received_here) in affected {
            let end = if received_here {
                RpcEnd::transport("connection reset by peer")
            } else {
                RpcEnd::status(
                    RpcCode::Unavailable,
                    format!("proxy to broker-{b}: connection refused"),
                )
            };
            self.end_session(rpc, end);
        }
        self.pump();
    }

    /// A crashed broker starts again (with no sessions), takes
    /// assignments where journals lack replicas.
    pub fn restart(&mut self, b: usize) {
        let Some(broker) = self.brokers.get_mut(b) else {
            return;
        };
        if broker.state != BrokerState::Crashed {
            return;
        }
        broker.state = BrokerState::Up;
        broker.down_since = None;
        broker.expired = false;
        self.allocate();
        self.pump();
    }

    /// Broker `b` freezes: it accepts connections but answers nothing;
    /// after the lease its journals are reassigned.
    pub fn freeze(&mut self, b: usize) {
        if let Some(broker) = self.brokers.get_mut(b)
            && broker.state == BrokerState::Up
        {
            broker.state = BrokerState::Frozen;
            broker.down_since = Some(self.now);
        }
    }

    /// A frozen broker resumes: the connections it held were cut by the
    /// peers' keepalives, and it serves again.
    pub fn thaw(&mut self, b: usize) {
        let Some(broker) = self.brokers.get_mut(b) else {
            return;
        };
        if broker.state != BrokerState::Frozen {
            return;
        }
        broker.state = BrokerState::Up;
        broker.down_since = None;
        broker.expired = false;
        let held: Vec<RpcId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.broker == b)
            .map(|(rpc, _)| *rpc)
            .collect();
        for rpc in held {
            self.end_session(rpc, RpcEnd::transport("keepalive timeout"));
        }
        self.allocate();
        self.pump();
    }

    /// Makes `store` pass or fail its health checks.
    pub fn set_store_healthy(&mut self, store: &str, healthy: bool) {
        self.store.set_healthy(store, healthy);
        if healthy {
            let mod_time = self.unix_now();
            for journal in self.journals.values_mut() {
                journal.maybe_persist(&mut self.store, mod_time, false);
            }
        }
        self.pump();
    }

    /// Moves the primary of `journal` to its next replica (a new Etcd
    /// revision). Does nothing for a journal with fewer than two members.
    pub fn reassign_primary(&mut self, journal: &str) {
        if let Some(j) = self.journals.get_mut(journal)
            && j.assignment.len() > 1
        {
            j.assignment.rotate_left(1);
            self.revision += 1;
        }
        self.pump();
    }

    /// Persists every journal's spool now (a flush), where a store is
    /// healthy.
    pub fn flush(&mut self) {
        let mod_time = self.unix_now();
        for journal in self.journals.values_mut() {
            journal.maybe_persist(&mut self.store, mod_time, true);
        }
    }

    /// Retention: removes persisted fragments of `journal` ending at or
    /// before `offset`. Readers jump over them.
    pub fn expire(&mut self, journal: &str, offset: i64) -> usize {
        let dropped = match self.journals.get_mut(journal) {
            Some(j) => j.expire_before(offset, &mut self.store),
            None => 0,
        };
        self.pump();
        dropped
    }

    // ---- Topology ---------------------------------------------------------

    pub(crate) fn unix_now(&self) -> i64 {
        EPOCH_UNIX_SECONDS + self.now.saturating_duration_since(self.start).as_secs() as i64
    }

    fn assignable(&self, b: usize) -> bool {
        let broker = &self.brokers[b];
        broker.state != BrokerState::Crashed && !broker.expired
    }

    /// The allocator: drops expired brokers from assignments and fills
    /// journals up to their replication with the least loaded brokers.
    /// A change is one new Etcd revision.
    pub(crate) fn allocate(&mut self) {
        let mut changed = false;
        let names: Vec<String> = self.journals.keys().cloned().collect();
        for name in names {
            let keep: Vec<usize> = self.journals[&name]
                .assignment
                .iter()
                .copied()
                .filter(|b| !self.brokers[*b].expired)
                .collect();
            let mut assignment = keep;
            let want = self.journals[&name].spec.replication.max(0) as usize;
            while assignment.len() < want {
                let mut load = vec![0usize; self.brokers.len()];
                for j in self.journals.values() {
                    for b in &j.assignment {
                        load[*b] += 1;
                    }
                }
                let pick = (0..self.brokers.len())
                    .filter(|b| self.assignable(*b) && !assignment.contains(b))
                    .min_by_key(|b| (load[*b], *b));
                match pick {
                    Some(b) => assignment.push(b),
                    None => break,
                }
            }
            let journal = self.journals.get_mut(&name).expect("present");
            if journal.assignment != assignment {
                journal.assignment = assignment;
                changed = true;
            }
        }
        if changed {
            self.revision += 1;
        }
    }

    /// The route of `journal`: members sorted by id, the primary's index,
    /// endpoints.
    pub fn route_of(&self, journal: &str) -> Route {
        let Some(j) = self.journals.get(strip_meta(journal)) else {
            return empty_route();
        };
        let mut members: Vec<usize> = j.assignment.clone();
        members.sort_by(|a, b| {
            let (a, b) = (&self.brokers[*a].id, &self.brokers[*b].id);
            (&a.zone, &a.suffix).cmp(&(&b.zone, &b.suffix))
        });
        let primary = j
            .assignment
            .first()
            .and_then(|p| members.iter().position(|m| m == p))
            .map_or(-1, |i| i as i32);
        Route {
            members: members
                .iter()
                .map(|b| self.brokers[*b].id.clone())
                .collect(),
            primary,
            endpoints: members
                .iter()
                .map(|b| self.brokers[*b].endpoint.clone())
                .collect(),
        }
    }

    /// A header from broker `b` with `route`.
    pub(crate) fn header(&self, b: usize, route: Route) -> Header {
        Header {
            process_id: Some(self.brokers[b].id.clone()),
            route: Some(route),
            etcd: Some(header::Etcd {
                cluster_id: CLUSTER_ID,
                member_id: 1,
                revision: self.revision,
                raft_term: 1,
            }),
        }
    }

    /// How broker `b` resolves a request for `journal` (§ "How a broker
    /// resolves a journal request" of the protocol): the first matching
    /// status, else the broker serving it.
    pub(crate) fn resolve(
        &self,
        b: usize,
        journal: &str,
        primary: bool,
        do_not_proxy: bool,
        min_revision: i64,
    ) -> Resolved {
        if min_revision > self.revision {
            return Resolved::Wait;
        }
        let name = strip_meta(journal);
        let Some(j) = self.journals.get(name) else {
            return Resolved::Status(Status::JournalNotFound, self.header(b, empty_route()));
        };
        let route = self.route_of(name);
        let full = j.spec.suspend.as_ref().is_some_and(|s| s.level == 2);
        if full {
            return Resolved::Status(Status::Suspended, self.header(b, route));
        }
        if primary && route.primary < 0 {
            return Resolved::Status(Status::NoJournalPrimaryBroker, self.header(b, route));
        }
        if route.members.is_empty() {
            return Resolved::Status(Status::InsufficientJournalBrokers, self.header(b, route));
        }
        let serving = if primary {
            j.assignment[0]
        } else if j.assignment.contains(&b) {
            b
        } else {
            // The proxy's dispatcher: a member in its zone, else any, that
            // is not known to be down.
            let zone = &self.brokers[b].id.zone;
            let mut members = j.assignment.clone();
            members.sort_by_key(|m| {
                (
                    self.brokers[*m].state != BrokerState::Up,
                    &self.brokers[*m].id.zone != zone,
                    *m,
                )
            });
            members[0]
        };
        if do_not_proxy && serving != b {
            let status = if primary {
                Status::NotJournalPrimaryBroker
            } else {
                Status::NotJournalBroker
            };
            return Resolved::Status(status, self.header(b, route));
        }
        match self.brokers[serving].state {
            BrokerState::Up => Resolved::Serve {
                serving,
                header: self.header(serving, route),
            },
            BrokerState::Frozen => Resolved::Wait,
            BrokerState::Crashed => Resolved::Fail(RpcEnd::status(
                RpcCode::Unavailable,
                format!("proxy to broker-{serving}: connection refused"),
            )),
        }
    }

    pub(crate) fn is_frozen(&self, b: usize) -> bool {
        self.brokers[b].state == BrokerState::Frozen
    }
}

/// The route of an RPC not about one journal.
pub(crate) fn empty_route() -> Route {
    Route {
        members: Vec::new(),
        primary: -1,
        endpoints: Vec::new(),
    }
}
