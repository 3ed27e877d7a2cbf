//! Deterministic simulation of a Gazette cluster (feature `sim`).
//!
//! TODO docs
mod cluster;
mod faults;
mod journal;
mod net;
mod oracle;
mod rng;
mod serve;
mod store;
pub mod workload;
mod world;

pub use cluster::{
    BrokerState, CLUSTER_ID, ClusterConfig, CommitRecord, EPOCH_UNIX_SECONDS, Reply, SimBroker,
    SimCluster, ToCluster,
};
pub use faults::{Fault, FaultSchedule};
pub use journal::{IndexFragment, SimJournal};
pub use net::{Delivery, NetConfig, SimNet};
pub use oracle::{Oracle, OracleStats, Violation};
pub use rng::SimRng;
pub use store::{PersistError, SimStore, encode, fragment_url};
pub use world::{SimError, World, WorldConfig};
