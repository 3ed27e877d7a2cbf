//! The world: one client, the cluster, the network and a virtual clock,
//! stepped deterministically, with the oracles checked after every step
//! and every step folded into a trace hash.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gazette_proto::{
    AppendRequest, ApplyRequest, CompressionCodec, FragmentsRequest, ListRequest, ReadRequest,
};

use super::cluster::{ClusterConfig, Reply, SimCluster, ToCluster};
use super::faults::{Fault, FaultSchedule};
use super::net::{Delivery, NetConfig, SimNet};
use super::oracle::{Oracle, Violation};
use super::rng::SimRng;
use crate::append::RequestError;
use crate::client::{Client, ClientConfig, Event, OpId, RpcCommand, RpcEnd, Target, WriteError};
use crate::list::ListError;
use crate::read::ReadInput;

/// Settings of a [`World`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorldConfig {
    /// The seed every draw of the run derives from.
    pub seed: u64,
    /// The client's settings (its backoff seed is set from `seed` when
    /// unset).
    pub client: ClientConfig,
    /// The cluster's settings (its seed is set from `seed`).
    pub cluster: ClusterConfig,
    /// The network's settings.
    pub net: NetConfig,
    /// Faults to inject.
    pub faults: FaultSchedule,
}

impl WorldConfig {
    /// Defaults for `seed`: a 3-broker cluster, 1–3 ms latency, no loss,
    /// no faults.
    pub fn new(seed: u64) -> Self {
        WorldConfig {
            seed,
            client: ClientConfig::default(),
            cluster: ClusterConfig::default(),
            net: NetConfig::default(),
            faults: FaultSchedule::none(),
        }
    }
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// An oracle failed.
    #[error("seed {seed} at step {step} ({elapsed:?}): {violation}")]
    Oracle {
        /// The run's seed.
        seed: u64,
        /// The step it failed at.
        step: u64,
        /// Virtual time since the start.
        elapsed: Duration,
        /// What failed.
        violation: Violation,
    },
    /// The world did not go idle within the step bound (livelock).
    #[error("seed {seed}: not idle after {steps} steps (livelock?)")]
    Livelock {
        /// The run's seed.
        seed: u64,
        /// The bound.
        steps: u64,
    },
}

/// A 64-bit FNV-1a hash over the run's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TraceHash(u64);

impl TraceHash {
    fn add(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// The simulated world (module docs).
#[derive(Debug)]
pub struct World {
    seed: u64,
    client: Client,
    cluster: SimCluster,
    net: SimNet,
    rng: SimRng,
    start: Instant,
    now: Instant,
    faults: VecDeque<(Instant, Fault)>,
    oracle: Oracle,
    events: VecDeque<Event>,
    trace: TraceHash,
    line: String,
    steps: u64,
    fetches: u64,
    record: bool,
}

impl World {
    /// A world of `config`; its clock starts at `start` (any instant: only
    /// durations since it matter).
    pub fn new(mut config: WorldConfig, start: Instant) -> Self {
        let mut rng = SimRng::new(config.seed);
        if config.client.backoff_seed.is_none() {
            config.client.backoff_seed = Some(rng.next_u64());
            config.client.jitter_permille = 200;
        }
        config.cluster.seed = rng.next_u64();
        let net = SimNet::new(config.net, rng.next_u64());
        let faults = config
            .faults
            .faults
            .into_iter()
            .map(|(at, fault)| (start + at, fault))
            .collect();
        World {
            seed: config.seed,
            client: Client::new(config.client),
            cluster: SimCluster::new(config.cluster, start),
            net,
            rng,
            start,
            now: start,
            faults,
            oracle: Oracle::default(),
            events: VecDeque::new(),
            trace: TraceHash(0xcbf2_9ce4_8422_2325),
            line: String::new(),
            steps: 0,
            fetches: 0,
            record: false,
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The hash of every step so far: equal for equal seeds and calls.
    pub fn trace_hash(&self) -> u64 {
        self.trace.0
    }

    /// Direct fragment fetches the client ran so far.
    pub fn fetches(&self) -> u64 {
        self.fetches
    }

    /// Prints every step to stderr (for replaying a failing seed).
    pub fn set_verbose(&mut self, verbose: bool) {
        self.record = verbose;
    }

    /// The client (for getters).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The client, for commands the world has no wrapper for. Operations
    /// started this way are not tracked by the oracles.
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The cluster.
    pub fn cluster(&self) -> &SimCluster {
        &self.cluster
    }

    /// The cluster, to set it up (journals) or change it.
    pub fn cluster_mut(&mut self) -> &mut SimCluster {
        &mut self.cluster
    }

    /// The network.
    pub fn net(&self) -> &SimNet {
        &self.net
    }

    /// The network, to change it.
    pub fn net_mut(&mut self) -> &mut SimNet {
        &mut self.net
    }

    /// The oracle state.
    pub fn oracle(&self) -> &Oracle {
        &self.oracle
    }

    /// The world's own generator (for workloads: draws from it are part of
    /// the seed's run).
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    /// The next client event (after the oracles saw it).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- Commands, tracked by the oracles ---------------------------------

    /// Starts a read ([`Client::read`]).
    pub fn read(&mut self, request: ReadRequest, retry: bool) -> OpId {
        let (journal, offset) = (request.journal.clone(), request.offset);
        let op = self.client.read(request, retry, self.now);
        self.oracle.track_read(op, &journal, offset);
        op
    }

    /// Starts a one-shot, retried append ([`Client::append`]).
    pub fn append(
        &mut self,
        request: AppendRequest,
        content: Vec<Bytes>,
    ) -> Result<OpId, RequestError> {
        let journal = request.journal.clone();
        let all: Vec<u8> = content.iter().flat_map(|c| c.iter().copied()).collect();
        let op = self.client.append(request, content, self.now)?;
        self.oracle.track_append(op, &journal, all);
        Ok(op)
    }

    /// Starts a streamed append ([`Client::start_append`]).
    pub fn start_append(&mut self, request: AppendRequest) -> Result<OpId, RequestError> {
        let journal = request.journal.clone();
        let op = self.client.start_append(request, self.now)?;
        self.oracle.track_append(op, &journal, Vec::new());
        Ok(op)
    }

    /// Writes to a streamed append ([`Client::write_append`]).
    pub fn write_append(&mut self, op: OpId, content: Bytes) -> Result<(), WriteError> {
        self.client.write_append(op, content.clone(), self.now)?;
        self.oracle.track_write(op, &content);
        Ok(())
    }

    /// Commits a streamed append.
    pub fn commit_append(&mut self, op: OpId) {
        self.client.commit_append(op, self.now);
    }

    /// Aborts a streamed append.
    pub fn abort_append(&mut self, op: OpId) {
        self.client.abort_append(op, self.now);
    }

    /// Lists journals.
    pub fn list(&mut self, request: ListRequest) -> Result<OpId, ListError> {
        let op = self.client.list(request, self.now)?;
        self.oracle.track(op);
        Ok(op)
    }

    /// Watches journals.
    pub fn watch(&mut self, request: ListRequest) -> Result<OpId, ListError> {
        let op = self.client.watch(request, self.now)?;
        self.oracle.track(op);
        Ok(op)
    }

    /// Applies specs.
    pub fn apply(&mut self, request: ApplyRequest) -> Result<OpId, ListError> {
        let op = self.client.apply(request, 0, self.now)?;
        self.oracle.track(op);
        Ok(op)
    }

    /// Lists fragments.
    pub fn list_fragments(&mut self, request: FragmentsRequest) -> Result<OpId, ListError> {
        let op = self.client.list_fragments(request, self.now)?;
        self.oracle.track(op);
        Ok(op)
    }

    /// Probes a store's health.
    pub fn fragment_store_health(&mut self, store: &str) -> Result<OpId, ListError> {
        let op = self.client.fragment_store_health(store, None, self.now)?;
        self.oracle.track(op);
        Ok(op)
    }

    /// Bounds an operation ([`Client::set_deadline`]), `after` from now.
    pub fn set_deadline(&mut self, op: OpId, after: Option<Duration>) {
        let deadline = after.map(|d| self.now + d);
        self.client.set_deadline(op, deadline);
    }

    /// Cancels an operation.
    pub fn cancel(&mut self, op: OpId) {
        self.client.cancel(op, self.now);
    }

    /// Closes an operation: it ends silently.
    pub fn close(&mut self, op: OpId) {
        self.client.close(op);
        self.oracle.closed(op);
    }

    // ---- Stepping ---------------------------------------------------------

    /// The earliest time something happens: a delivery, a client or
    /// cluster timer, a fault. `None` when the world is idle.
    pub fn next_wakeup(&self) -> Option<Instant> {
        [
            self.net.next_delivery(),
            self.client.poll_timeout(),
            self.cluster.poll_timeout(),
            self.faults.front().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the next thing that happens (jumping the clock to it), then
    /// drains every output and checks the oracles. Returns `false` when
    /// the world was idle.
    pub fn step(&mut self) -> Result<bool, SimError> {
        self.drain()?;
        let Some(at) = self.next_wakeup() else {
            return Ok(false);
        };
        self.now = self.now.max(at);
        self.steps += 1;
        let now = self.now;
        if let Some((due, _)) = self.faults.front()
            && *due <= now
        {
            let (_, fault) = self.faults.pop_front().expect("present");
            self.note(format_args!("fault {fault:?}"));
            self.inject(fault);
        } else if let Some(delivery) = self.net.pop_due(now) {
            self.deliver(delivery);
        } else if self.cluster.poll_timeout().is_some_and(|t| t <= now) {
            self.note(format_args!("cluster timeout"));
            self.cluster.handle_timeout(now);
        } else {
            self.note(format_args!("client timeout"));
            self.client.handle_timeout(now);
        }
        self.drain()?;
        Ok(true)
    }

    /// Steps until idle; fails after `max_steps` (livelock) or on an
    /// oracle. Returns the steps taken.
    pub fn run_until_idle(&mut self, max_steps: u64) -> Result<u64, SimError> {
        for taken in 0..max_steps {
            if !self.step()? {
                return Ok(taken);
            }
        }
        Err(SimError::Livelock {
            seed: self.seed,
            steps: max_steps,
        })
    }

    /// Steps through everything due up to `t`, then sets the clock to `t`.
    pub fn advance_to(&mut self, t: Instant, max_steps: u64) -> Result<(), SimError> {
        for _ in 0..max_steps {
            self.drain()?;
            match self.next_wakeup() {
                Some(at) if at <= t => {
                    self.step()?;
                }
                _ => {
                    self.now = self.now.max(t);
                    return Ok(());
                }
            }
        }
        Err(SimError::Livelock {
            seed: self.seed,
            steps: max_steps,
        })
    }

    /// Steps until `done` holds for the world, or it is idle; fails after
    /// `max_steps`. Returns whether `done` held.
    pub fn run_until(
        &mut self,
        max_steps: u64,
        mut done: impl FnMut(&World) -> bool,
    ) -> Result<bool, SimError> {
        for _ in 0..max_steps {
            if done(self) {
                return Ok(true);
            }
            if !self.step()? {
                return Ok(done(self));
            }
        }
        Err(SimError::Livelock {
            seed: self.seed,
            steps: max_steps,
        })
    }

    /// The end-of-run oracles: every tracked operation resolved, and
    /// every commit accounted for.
    pub fn check_final(&mut self) -> Result<(), SimError> {
        self.drain()?;
        let unknown = self.net.unknown_outcomes().clone();
        self.oracle
            .check_final(&self.cluster, &unknown)
            .map_err(|violation| self.failure(violation))
    }

    fn failure(&self, violation: Violation) -> SimError {
        SimError::Oracle {
            seed: self.seed,
            step: self.steps,
            elapsed: self.elapsed(),
            violation,
        }
    }

    fn note(&mut self, what: std::fmt::Arguments<'_>) {
        self.line.clear();
        let elapsed = self.elapsed().as_nanos();
        let _ = write!(self.line, "{elapsed} {what}");
        self.trace.add(self.line.as_bytes());
        if self.record {
            eprintln!("[sim {}] {}", self.seed, self.line);
        }
    }

    fn inject(&mut self, fault: Fault) {
        let now = self.now;
        match fault {
            Fault::Crash(b) => self.cluster.crash(b),
            Fault::Restart(b) => self.cluster.restart(b),
            Fault::Partition(b) => self.net.partition(now, b),
            Fault::Heal(b) => self.net.heal(b),
            Fault::Freeze(b) => self.cluster.freeze(b),
            Fault::Thaw(b) => self.cluster.thaw(b),
            Fault::ReassignPrimary(j) => self.cluster.reassign_primary(&j),
            Fault::StoreUnhealthy(s) => self.cluster.set_store_healthy(&s, false),
            Fault::StoreHealthy(s) => self.cluster.set_store_healthy(&s, true),
            Fault::Flush => self.cluster.flush(),
            Fault::Expire(j, permille) => {
                let head = self.cluster.journal(&j).map_or(0, |j| j.head());
                self.cluster.expire(&j, head * i64::from(permille) / 1000);
            }
            Fault::Loss(permille) => self.net.set_loss_permille(permille),
        }
    }

    fn deliver(&mut self, delivery: Delivery) {
        let now = self.now;
        self.note(format_args!("{}", summary(&delivery)));
        match delivery {
            Delivery::ToCluster(input) => self.cluster.handle(now, input),
            Delivery::ToClient(Reply::Opened(rpc)) => self.client.handle_rpc_opened(rpc, now),
            Delivery::ToClient(Reply::Message(rpc, message)) => {
                self.client.handle_rpc_message(rpc, message, now)
            }
            Delivery::ToClient(Reply::End(rpc, end)) => self.client.handle_rpc_end(rpc, end, now),
            Delivery::Fetch(fetch, input) => self.client.handle_fetch(fetch, input, now),
        }
    }

    /// Moves every pending output: client commands onto the network,
    /// broker replies onto the network, client events through the oracles.
    fn drain(&mut self) -> Result<(), SimError> {
        loop {
            let mut moved = false;
            while let Some(command) = self.client.poll_rpc() {
                moved = true;
                self.command(command);
            }
            while let Some(reply) = self.cluster.poll_reply() {
                moved = true;
                self.net.to_client(self.now, reply);
            }
            while let Some(event) = self.client.poll_event() {
                moved = true;
                self.note(format_args!("event {}", event_summary(&event)));
                if let Err(violation) = self.oracle.observe(&event, &self.cluster) {
                    return Err(self.failure(violation));
                }
                self.events.push_back(event);
            }
            if !moved {
                return Ok(());
            }
        }
    }

    fn command(&mut self, command: RpcCommand) {
        let now = self.now;
        match command {
            RpcCommand::Open {
                rpc,
                op,
                target,
                call,
                ..
            } => {
                let broker = match &target {
                    Target::Member(endpoint) => self.cluster.broker_at(endpoint),
                    Target::Service => self.balance(),
                };
                self.note(format_args!("open {rpc} {op} {target} -> {broker:?}"));
                match broker {
                    Some(broker) => {
                        let open = ToCluster::Open {
                            rpc,
                            op,
                            broker,
                            call,
                        };
                        self.net.open(now, rpc, broker, open);
                    }
                    None => self.net.to_client(
                        now,
                        Reply::End(rpc, RpcEnd::transport("no reachable broker")),
                    ),
                }
            }
            RpcCommand::Send { rpc, message } => {
                self.net
                    .to_cluster(now, rpc, ToCluster::Send { rpc, message });
                self.client.handle_rpc_sent(rpc, now);
            }
            RpcCommand::HalfClose { rpc } => {
                self.net.to_cluster(now, rpc, ToCluster::HalfClose { rpc });
            }
            RpcCommand::Cancel { rpc } => {
                self.net.to_cluster(now, rpc, ToCluster::Cancel { rpc });
            }
            ref fetch @ RpcCommand::Fetch {
                fetch: id,
                ref fragment,
                ref url,
                ..
            } => {
                self.fetches += 1;
                let adapter = fetch.fetch_adapter().expect("a fetch");
                let stored = self.cluster.store().get(url);
                let offload =
                    fragment.compression_codec == CompressionCodec::GzipOffloadDecompression as i32;
                let break_after = self
                    .rng
                    .chance(self.net.config().loss_permille)
                    .then(|| self.rng.below(4) as usize);
                let inputs = run_fetch(adapter, stored, offload, break_after);
                self.note(format_args!("fetch {id} {url} -> {} inputs", inputs.len()));
                self.net.fetch_inputs(now, id, inputs);
            }
            RpcCommand::CancelFetch { .. } | RpcCommand::Disconnect { .. } => {}
        }
    }

    /// The service address's load balancer: a random broker that is not
    /// crashed and not cut off.
    fn balance(&mut self) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.cluster.brokers().len())
            .filter(|b| {
                self.cluster.brokers()[*b].state != super::BrokerState::Crashed
                    && !self.net.is_partitioned(*b)
            })
            .collect();
        self.rng.pick(&candidates).copied()
    }
}

/// Runs a direct fetch over the stored bytes (a 404 when absent), as a
/// driver's HTTP GET would; breaks after `break_after` body chunks.
fn run_fetch(
    mut adapter: crate::read::DirectFetch,
    stored: Option<Bytes>,
    offload: bool,
    break_after: Option<usize>,
) -> Vec<ReadInput> {
    let mut inputs = Vec::new();
    let Some(body) = stored else {
        adapter.http_response(404, None, None);
        inputs.extend(std::iter::from_fn(|| adapter.poll_input()));
        return inputs;
    };
    // An offload object is served as stored, marked gzip (a store that
    // ignores `Accept-Encoding: identity`).
    let encoding = offload.then_some("gzip");
    adapter.http_response(200, None, encoding);
    let mut chunks = body
        .chunks(97)
        .map(Bytes::copy_from_slice)
        .collect::<VecDeque<_>>();
    let mut fed = 0;
    for _ in 0..100_000 {
        while let Some(input) = adapter.poll_input() {
            inputs.push(input);
        }
        if adapter.is_done() {
            break;
        }
        if break_after == Some(fed) {
            adapter.fail("connection reset");
            continue;
        }
        if !adapter.wants_input() {
            continue;
        }
        match chunks.pop_front() {
            Some(chunk) => {
                fed += 1;
                adapter.feed(chunk);
            }
            None => adapter.feed_end(),
        }
    }
    inputs
}

fn summary(delivery: &Delivery) -> String {
    match delivery {
        Delivery::ToCluster(ToCluster::Open { rpc, broker, .. }) => {
            format!("broker-{broker} gets open {rpc}")
        }
        Delivery::ToCluster(ToCluster::Send { rpc, message }) => format!(
            "send {rpc} journal={:?} offset={} content={:?}",
            message.journal, message.offset, message.content
        ),
        Delivery::ToCluster(other) => format!("{other:?}"),
        Delivery::ToClient(Reply::Message(rpc, message)) => format!("reply {rpc} {message:?}"),
        Delivery::ToClient(reply) => format!("{reply:?}"),
        Delivery::Fetch(fetch, input) => format!("{fetch} {input:?}"),
    }
}

fn event_summary(event: &Event) -> String {
    format!("{event:?}")
}
