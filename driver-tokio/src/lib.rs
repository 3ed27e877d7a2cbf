//! Tokio driver of the Gazette broker client.
//!
//! The protocol logic lives in the sans-IO `gazette-core` crate; this crate
//! carries its actions out with tonic (gRPC over HTTP/2), hyper (fragment
//! fetches over HTTP/1.1) and tokio (timers, files, tasks):
//!
//! * [`Client`]: channels per broker, authorization, routing.
//! * [`discovery`]: listing, watching, applying, fragment listing.
//! * [`fragment`]: raw fragment bodies over HTTP(S) and `file://`.

pub mod append;
pub mod auth;
pub mod client;
pub mod discovery;
mod error;
pub mod fragment;
pub mod read;
pub mod service;

pub use append::{Appender, append};
pub use auth::{Auth, Capability, Claims};
pub use client::{Client, ClientBuilder, Dispatch};
pub use discovery::{
    WatchedList, apply, apply_in_batches, fragment_store_health, get_journal, list_all_fragments,
    list_all_journals,
};
pub use error::Error;
pub use read::{ReadEvent, Reader, RetryReader};
pub use service::{AppendFuture, AppendFutures, AppendService, AsyncAppend};

/// The result of this crate's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
pub use gazette_core as core;
pub use gazette_proto as proto;
pub use tonic;
