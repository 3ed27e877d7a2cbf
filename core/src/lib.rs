//! Sans-IO core of the Gazette broker client.
//!
//! Every module here is a pure state machine: it takes inputs (responses,
//! bytes, the current time, random seeds) and returns outputs (requests to
//! send, content, errors, actions for the driver). Nothing here performs IO,
//! spawns tasks, or reads a clock, so the same logic runs under tokio, a
//! blocking driver, or a deterministic simulation.

#![warn(unreachable_pub, unnameable_types)]

pub mod backoff;
pub mod kind;
pub mod status;
mod transport;

pub mod append;
pub mod client;
pub mod fragment;
pub mod list;
pub mod read;
pub mod route;
#[cfg(feature = "sim")]
pub mod sim;
pub mod validate;

pub use gazette_proto as proto;
pub use transport::TransportError;
