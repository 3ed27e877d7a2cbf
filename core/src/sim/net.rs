//! The simulated network between the client and the brokers: seeded
//! latency and jitter, per-RPC ordering, loss (a broken connection: the
//! client sees a transport failure, the broker a cancellation) and
//! partitions of single brokers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::cluster::{Reply, ToCluster};
use super::rng::SimRng;
use crate::client::{FetchId, RpcEnd, RpcId, RpcMessage};
use crate::read::ReadInput;

/// Settings of a [`SimNet`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetConfig {
    /// One-way latency of every message.
    pub latency: Duration,
    /// Up to this much extra latency, drawn per message (per-RPC order is
    /// kept).
    pub jitter: Duration,
    /// Chance, in permille, that a reply breaks its connection instead of
    /// arriving.
    pub loss_permille: u32,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency: Duration::from_millis(1),
            jitter: Duration::from_millis(2),
            loss_permille: 0,
        }
    }
}

/// Something the network delivers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// One value per delivery: boxing would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Delivery {
    /// A request reaches a broker.
    ToCluster(ToCluster),
    /// A broker's reply reaches the client.
    ToClient(Reply),
    /// One reader input of a direct fragment fetch reaches the client.
    Fetch(FetchId, ReadInput),
}

/// The seeded network (module docs).
#[derive(Debug)]
pub struct SimNet {
    config: NetConfig,
    rng: SimRng,
    queue: BTreeMap<(Instant, u64), Delivery>,
    seq: u64,
    partitioned: BTreeSet<usize>,
    /// The broker each open RPC is connected to.
    connections: BTreeMap<RpcId, usize>,
    broken: BTreeSet<RpcId>,
    /// Latest scheduled delivery per RPC and direction (to keep order).
    last_up: BTreeMap<RpcId, Instant>,
    last_down: BTreeMap<u64, Instant>,
    /// RPCs whose Append response was lost: the client cannot know the
    /// outcome.
    unknown_outcomes: BTreeSet<RpcId>,
    broken_count: u64,
}

impl SimNet {
    /// A network with `config`, its draws seeded by `seed`.
    pub fn new(config: NetConfig, seed: u64) -> Self {
        SimNet {
            config,
            rng: SimRng::new(seed),
            queue: BTreeMap::new(),
            seq: 0,
            partitioned: BTreeSet::new(),
            connections: BTreeMap::new(),
            broken: BTreeSet::new(),
            last_up: BTreeMap::new(),
            last_down: BTreeMap::new(),
            unknown_outcomes: BTreeSet::new(),
            broken_count: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Changes the loss rate.
    pub fn set_loss_permille(&mut self, permille: u32) {
        self.config.loss_permille = permille;
    }

    fn delay(&mut self) -> Duration {
        let jitter = self.config.jitter.as_nanos() as u64;
        self.config.latency + Duration::from_nanos(self.rng.below(jitter + 1))
    }

    fn push(&mut self, at: Instant, delivery: Delivery) {
        self.seq += 1;
        self.queue.insert((at, self.seq), delivery);
    }

    fn up_at(&mut self, now: Instant, rpc: RpcId) -> Instant {
        let at = (now + self.delay()).max(self.last_up.get(&rpc).copied().unwrap_or(now));
        self.last_up.insert(rpc, at);
        at
    }

    fn down_at(&mut self, now: Instant, key: u64) -> Instant {
        let at = (now + self.delay()).max(self.last_down.get(&key).copied().unwrap_or(now));
        self.last_down.insert(key, at);
        at
    }

    /// Whether broker `b` is cut off from the client.
    pub fn is_partitioned(&self, b: usize) -> bool {
        self.partitioned.contains(&b)
    }

    /// Opens `rpc` to broker `b` with `open` (a [`ToCluster::Open`]). A
    /// partitioned broker is never reached: the client sees a transport
    /// failure.
    pub fn open(&mut self, now: Instant, rpc: RpcId, b: usize, open: ToCluster) {
        if self.partitioned.contains(&b) {
            let at = self.down_at(now, rpc.get());
            self.push(
                at,
                Delivery::ToClient(Reply::End(rpc, RpcEnd::transport("connection timed out"))),
            );
            self.broken.insert(rpc);
            return;
        }
        self.connections.insert(rpc, b);
        let at = self.up_at(now, rpc);
        self.push(at, Delivery::ToCluster(open));
    }

    /// Sends a request message, half-close or cancellation of `rpc`.
    pub fn to_cluster(&mut self, now: Instant, rpc: RpcId, message: ToCluster) {
        let cancel = matches!(message, ToCluster::Cancel { .. });
        if self.broken.contains(&rpc) && !cancel {
            return;
        }
        if cancel {
            self.broken.insert(rpc);
            self.connections.remove(&rpc);
        }
        let at = self.up_at(now, rpc);
        self.push(at, Delivery::ToCluster(message));
    }

    /// Carries a broker's reply to the client, or breaks its connection
    /// (with the configured loss chance).
    pub fn to_client(&mut self, now: Instant, reply: Reply) {
        let rpc = reply.rpc();
        if self.broken.contains(&rpc) {
            // The client gave up on the RPC (or its connection broke)
            // before this reply: it cannot know an append's outcome.
            if matches!(reply, Reply::Message(_, RpcMessage::Append(_))) {
                self.unknown_outcomes.insert(rpc);
            }
            return;
        }
        if self.rng.chance(self.config.loss_permille) {
            if matches!(reply, Reply::Message(_, RpcMessage::Append(_))) {
                self.unknown_outcomes.insert(rpc);
            }
            self.break_rpc(now, rpc, "connection reset");
            return;
        }
        if matches!(reply, Reply::End(..)) {
            self.connections.remove(&rpc);
            self.last_up.remove(&rpc);
        }
        let at = self.down_at(now, rpc.get());
        self.push(at, Delivery::ToClient(reply));
    }

    /// Carries the inputs of a fetch to the client, in order.
    pub fn fetch_inputs(&mut self, now: Instant, fetch: FetchId, inputs: Vec<ReadInput>) {
        for input in inputs {
            let at = self.down_at(now, fetch.get() | (1 << 63));
            self.push(at, Delivery::Fetch(fetch, input));
        }
    }

    /// Breaks `rpc`: replies in flight are lost, the client sees a
    /// transport failure and the broker a cancellation.
    pub fn break_rpc(&mut self, now: Instant, rpc: RpcId, why: &str) {
        if !self.broken.insert(rpc) {
            return;
        }
        self.broken_count += 1;
        // Everything in flight on the connection is lost, both ways.
        let lost: Vec<(Instant, u64)> = self
            .queue
            .iter()
            .filter(|(_, d)| match d {
                Delivery::ToClient(r) => r.rpc() == rpc,
                Delivery::ToCluster(r) => r.rpc() == rpc,
                Delivery::Fetch(..) => false,
            })
            .map(|(k, _)| *k)
            .collect();
        for key in lost {
            if let Some(Delivery::ToClient(Reply::Message(_, RpcMessage::Append(_)))) =
                self.queue.remove(&key)
            {
                self.unknown_outcomes.insert(rpc);
            }
        }
        self.connections.remove(&rpc);
        let at = self.down_at(now, rpc.get());
        self.push(
            at,
            Delivery::ToClient(Reply::End(rpc, RpcEnd::transport(why.to_string()))),
        );
        let at = self.up_at(now, rpc);
        self.push(at, Delivery::ToCluster(ToCluster::Cancel { rpc }));
    }

    /// Cuts broker `b` off: its connections break and new ones fail.
    pub fn partition(&mut self, now: Instant, b: usize) {
        self.partitioned.insert(b);
        let cut: Vec<RpcId> = self
            .connections
            .iter()
            .filter(|(_, broker)| **broker == b)
            .map(|(rpc, _)| *rpc)
            .collect();
        for rpc in cut {
            self.break_rpc(now, rpc, "connection timed out");
        }
    }

    /// Reconnects broker `b`.
    pub fn heal(&mut self, b: usize) {
        self.partitioned.remove(&b);
    }

    /// When the next delivery is due.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// The next delivery due at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<Delivery> {
        let (&key, _) = self.queue.iter().next()?;
        if key.0 > now {
            return None;
        }
        let delivery = self.queue.remove(&key).expect("present");
        if let Delivery::ToClient(Reply::End(rpc, _)) = &delivery {
            self.connections.remove(rpc);
        }
        Some(delivery)
    }

    /// Messages in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// RPCs whose Append response the network lost.
    pub fn unknown_outcomes(&self) -> &BTreeSet<RpcId> {
        &self.unknown_outcomes
    }

    /// Connections broken so far (loss and partitions).
    pub fn broken_connections(&self) -> u64 {
        self.broken_count
    }
}
