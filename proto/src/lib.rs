//! Gazette broker protocol: prost message types for package `protocol` and,
//! with the `client` feature, the tonic `JournalClient` for service
//! `protocol.Journal`. With the `server` feature, the `JournalServer` trait
//! is generated too, for in-process test brokers.
//!
//! The `.proto` is this project's own, written from the protocol facts sheet;
//! names and field numbers match an unmodified Gazette broker.

#![allow(missing_docs, clippy::all)]

/// Generated protocol types (package `protocol`).
pub mod protocol {
    include!(concat!(env!("OUT_DIR"), "/protocol.rs"));
}

pub use protocol::*;
