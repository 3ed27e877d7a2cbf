//! Tokio driver of the Gazette broker client.
//!
//! The protocol logic lives in the sans-IO `gazette-core` crate; this crate
//! carries its actions out with tonic (gRPC over HTTP/2), hyper (fragment
//! fetches over HTTP/1.1) and tokio (timers, files, tasks):
//!
//! * [`Client`]: channels per broker, authorization, routing.
//! * [`fragment`]: raw fragment bodies over HTTP(S) and `file://`.

pub mod auth;
pub mod client;
mod error;
pub mod fragment;

pub use auth::{Auth, Capability, Claims};
pub use client::{Client, ClientBuilder, Dispatch};
pub use error::Error;
pub use gazette_core as core;
pub use gazette_proto as proto;
