//! Gazette broker protocol: prost message types for package `protocol` and,
//! with the `client` feature, the tonic `JournalClient` for service
//! `protocol.Journal`. With the `server` feature, the `JournalServer` trait
//! is generated too, for in-process test brokers.
//!
//! The `.proto` is this project's own, written from docs/protocol.md;
//! names and field numbers match an unmodified Gazette broker.
//!
//! Messages are plain prost structs; the ones users write by hand have
//! constructors and `with_*` builder methods (see
//! [`JournalSpec::new`], [`ReadRequest::new`], [`AppendRequest::new`],
//! [`ApplyRequest::new`], [`LabelSet`]'s `FromIterator`).
//!
//! # Builders
//!
//! ```
//! use std::time::Duration;
//! use gazette_proto::{CompressionCodec, JournalSpec, LabelSet};
//!
//! let spec = JournalSpec::new("examples/orders")
//!     .with_replication(3)
//!     .with_label("app.gazette.dev/message-type", "Order")
//!     .with_codec(CompressionCodec::Snappy)
//!     .with_fragment_length(64 << 20)
//!     .with_store("s3://bucket/prefix/")
//!     .with_refresh_interval(Duration::from_secs(30))
//!     .with_flush_interval(Duration::from_secs(3600));
//!
//! assert_eq!(spec.replication, 3);
//! assert_eq!(spec.codec(), CompressionCodec::Snappy);
//! assert_eq!(spec.refresh_interval(), Some(Duration::from_secs(30)));
//! assert_eq!(
//!     spec.labels.unwrap(),
//!     LabelSet::from_iter([("app.gazette.dev/message-type", "Order")])
//! );
//! ```

#![warn(unreachable_pub, unnameable_types)]

/// Generated protocol types (package `protocol`), checked in so that users'
/// builds need no code generator; `tests/generated_is_fresh.rs` fails when
/// this file is stale against `proto/protocol/protocol.proto`.
#[rustfmt::skip]
#[allow(missing_docs, clippy::all)]
#[path = "generated/protocol.rs"]
pub mod protocol;

pub use protocol::*;

mod builders;
pub use builders::{proto_duration, std_duration};

/// The well-known protobuf types the protocol uses (`Duration`), re-exported
/// so users need no direct dependency on `prost-types`.
pub use prost_types;
