//! Deterministic simulation of a Gazette cluster (feature `sim`).
//!
//! The [`crate::client::Client`] makes every protocol decision without
//! doing IO, so it can be driven against a model of a cluster instead of a
//! real one, on a virtual clock, with every random choice drawn from one
//! seed. That is what this module is: for testing this crate, and for
//! testing code built on it.
//!
//! # The pieces
//!
//! * [`SimCluster`]: brokers (`broker-0` … at `http://broker-N.sim:8080`,
//!   spread over zones), an Etcd revision, journals with specs, revisions,
//!   labels and assignments (a primary and replicas), and the answers a
//!   broker gives: route headers, proxying to the serving broker or
//!   `NOT_JOURNAL_BROKER` / `NOT_JOURNAL_PRIMARY_BROKER` under
//!   `do_not_proxy`; append transactions serialized per journal, with
//!   explicit offsets (`WRONG_APPEND_OFFSET`), registers (`check_registers`
//!   → `REGISTER_MISMATCH`, subtract then union on commit), `SUSPENDED`
//!   and `FRAGMENT_STORE_UNHEALTHY` after a hold while the first store is
//!   unhealthy; Read streams of metadata and content frames that block at
//!   the write head or answer `OFFSET_NOT_YET_AVAILABLE`, jump over
//!   content retention removed, and hand out fragment URLs for persisted
//!   fragments; fragments that roll at the spec's length and persist to a
//!   [`SimStore`] encoded by the real codecs, so direct reads run the real
//!   decoders; List snapshots in pages of 25 and watches (with
//!   `watch_resume`); Apply with `expect_mod_revision`; ListFragments
//!   paging and signed URLs; FragmentStoreHealth.
//! * [`SimNet`]: seeded latency and jitter with per-RPC ordering, loss as
//!   broken connections (the client sees a transport failure, the broker a
//!   cancellation, and anything in flight is gone) and partitions of
//!   single brokers.
//! * [`FaultSchedule`]: crashes and restarts, partitions, frozen brokers
//!   (connections open, no answers, the lease expires and the journals
//!   move), primary reassignments, unhealthy stores, flushes, retention,
//!   loss. [`FaultSchedule::from_seed`] draws one; every fault is repaired
//!   before the schedule's horizon.
//! * [`World`]: one client, the cluster and the network on a virtual
//!   clock. [`World::step`] runs the next thing that happens, jumping the
//!   clock to it (a delivery, a client or cluster timer, a fault);
//!   [`World::run_until_idle`] fails when the world does not settle within
//!   a step bound (livelock); [`World::advance_to`] moves the clock on.
//! * [`Oracle`]: checked on every client event and at the end of a run
//!   ([`World::check_final`]): read content is the journal's bytes,
//!   contiguous unless an offset jump over removed content was reported,
//!   and never regresses; every operation finishes exactly once unless
//!   closed; an acknowledged append holds its bytes at its commit offsets
//!   and commits after every append acknowledged before it started; a
//!   commit the client was not told about is only ever one whose response
//!   was lost (counted in [`OracleStats::duplicates`]).
//! * [`workload`]: the seeded mixed workload the crate's own sweep runs.
//!
//! Faults and "buggify" choices (streams closed early, fragments persisted
//! early, gzip served to identity requests) live in the simulation only;
//! the client has no simulation hooks.
//!
//! # Reproducing a run
//!
//! Everything a run does follows from [`WorldConfig::seed`] and the calls
//! made on the world; the absolute start instant does not matter.
//! [`World::trace_hash`] folds every step into a hash, so two runs of a
//! seed can be compared, and [`World::set_verbose`] prints every step.
//! The crate's sweep (`core/tests/sim.rs`) takes `GAZETTE_SIM_CASES` (how
//! many seeds) and `GAZETTE_SIM_SEED` (replay one, printing every step),
//! and prints each failing seed.
//!
//! # What the model leaves out
//!
//! Deliberate simplifications: content is one authoritative copy
//! (replication is bookkeeping: a crash loses no committed byte); every
//! broker sees a new Etcd revision at once; no rate limits or flow
//! control; no authorization; journal flags (`NOT_ALLOWED`), partial
//! suspension and suspend modes, `INDEX_HAS_GREATER_OFFSET` and the
//! broker's waits for a store listing are not modelled; reads ignore
//! `begin_mod_time`; the store health re-check
//! schedule is one fixed hold ([`ClusterConfig::store_unhealthy_hold`]).
//!
//! # Example: a test of your own under faults
//!
//! ```
//! use std::time::{Duration, Instant};
//! use gazette_core::client::{Event, Outcome};
//! use gazette_core::proto::{AppendRequest, JournalSpec, ReadRequest};
//! use gazette_core::read::ReadEvent;
//! use gazette_core::sim::{Fault, FaultSchedule, World, WorldConfig};
//!
//! let seed = 42; // in a real test: from GAZETTE_SIM_SEED, or a sweep
//! let mut config = WorldConfig::new(seed);
//! // Broker 1 is cut off from the client for a second, 2 ms in.
//! config.faults = FaultSchedule::none()
//!     .at(Duration::from_millis(2), Fault::Partition(1))
//!     .at(Duration::from_secs(1), Fault::Heal(1));
//! let mut world = World::new(config, Instant::now());
//! world.cluster_mut().create_journal(JournalSpec::new("app/log").with_replication(2));
//!
//! // One-shot appends retry unavailable brokers; wait for each.
//! for i in 0..3 {
//!     let line = format!("line {i}\n");
//!     world.append(AppendRequest::new("app/log"), vec![line.into()]).unwrap();
//!     world.run_until_idle(10_000).unwrap();
//! }
//! // Read everything back, up to the head the cluster knows.
//! let head = world.cluster().journal("app/log").unwrap().head();
//! let read = world.read(ReadRequest::new("app/log").until(head), false);
//! world.run_until_idle(10_000).unwrap();
//! let (mut content, mut acked) = (Vec::new(), 0);
//! while let Some(event) = world.poll_event() {
//!     match event {
//!         Event::Read { event: ReadEvent::Content { content: bytes, .. }, .. } => {
//!             content.extend_from_slice(&bytes)
//!         }
//!         Event::Finished { result: Ok(Outcome::Appended(_)), .. } => acked += 1,
//!         Event::Finished { op, result } if op == read => {
//!             assert_eq!(result, Ok(Outcome::ReadComplete))
//!         }
//!         _ => {}
//!     }
//! }
//! assert_eq!(acked, 3);
//! assert_eq!(content, b"line 0\nline 1\nline 2\n");
//! // The end-of-run oracles: everything resolved, every commit accounted for.
//! world.check_final().unwrap();
//! ```

mod cluster;
mod faults;
mod journal;
mod net;
mod oracle;
mod rng;
mod serve;
mod sha1;
mod store;
pub mod workload;
mod world;

#[cfg(test)]
mod tests;

pub use cluster::{
    BrokerState, CLUSTER_ID, ClusterConfig, CommitRecord, EPOCH_UNIX_SECONDS, Reply, SimBroker,
    SimCluster, ToCluster,
};
pub use faults::{Fault, FaultSchedule};
pub use journal::{IndexFragment, SimJournal};
pub use net::{Delivery, NetConfig, SimNet};
pub use oracle::{Oracle, OracleStats, Violation};
pub use rng::SimRng;
pub use sha1::{sha1, sha1_sum};
pub use store::{PersistError, SimStore, encode, fragment_url};
pub use world::{SimError, World, WorldConfig};
