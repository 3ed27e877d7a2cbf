//! Tokio driver of the Gazette broker client.
//!
//! The protocol logic lives in the sans-IO `gazette-core` crate; this crate
//! carries its actions out with tonic (gRPC over HTTP/2), reqwest (fragment
//! fetches over HTTP/1.1) and tokio (timers, files, tasks):
//!
//! * [`Client`]: one lazily connected channel per broker endpoint, bearer
//!   tokens on every RPC ([`Auth`]), routing through the core's route cache
//!   (appends to the journal's primary, reads to a member in the caller's
//!   zone), HTTP/2 keepalive at the broker's 5-minute floor, a 2^31−1
//!   connection window and a 16 MiB decode limit; TLS offers only `h2`.
//! * [`append`](mod@append): [`Appender`] (one Append RPC as an `AsyncWrite`,
//!   committed explicitly) and [`append()`] (re-readable content, retried).
//! * [`service`]: [`AppendService`], batched ordered appends spooled to
//!   temporary files, with dependencies and `pending_except`.
//! * [`read`]: [`Reader`] and [`RetryReader`] (`AsyncRead`, `AsyncBufRead`,
//!   `AsyncSeek`), reading persisted fragments directly from their stores.
//! * [`discovery`]: listing, [`WatchedList`] (a `Stream` of snapshots),
//!   applying specs in batches, listing fragments, store health.
//! * [`fragment`]: raw fragment bodies over HTTP(S) and `file://` (the
//!   latter below a configured root, like Go's `InstallFileTransport`).
//!
//! ```no_run
//! # async fn demo() -> gazette_tokio::Result<()> {
//! use bytes::Bytes;
//! use gazette_tokio::proto::{AppendRequest, ReadRequest};
//! use tokio::io::AsyncReadExt;
//!
//! let client = gazette_tokio::Client::from_env()?; // BROKER_ADDRESS, BROKER_AUTH_*
//! let request = AppendRequest { journal: "examples/hello".into(), ..Default::default() };
//! let response = gazette_tokio::append(&client, request, &[Bytes::from_static(b"hi\n")]).await?;
//! let end = response.commit.unwrap_or_default().end;
//!
//! let mut reader = gazette_tokio::RetryReader::new(
//!     &client,
//!     ReadRequest { journal: "examples/hello".into(), end_offset: end, ..Default::default() },
//! );
//! let mut content = Vec::new();
//! reader.read_to_end(&mut content).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Driver decisions (the protocol's are the core's):
//!
//! * tonic reports a connection broken under an open stream as `Unknown`
//!   with a transport source; it is reported as `Unavailable`, as gRPC-Go
//!   does, so the core's retry policies apply ([`client::normalize_status`]).
//! * gRPC-Go's wait-for-ready (List, Apply) has no tonic equivalent: an
//!   unreachable service address fails at once with `Unavailable`.
//! * The dispatcher's connection states are approximated: a member whose
//!   last RPC failed as unavailable counts as TransientFailure until an RPC
//!   to it succeeds; member channels are never swept. `unix://` endpoints
//!   are not dialled: members advertising one (or any endpoint other than
//!   an `http`/`https` URL) are reached through the service address.
//! * As an `AsyncRead`, an offset jump is returned once as an error
//!   ([`Error::OffsetJump`]) and reading continues; metadata frames are
//!   skipped. [`Reader::next_event`] / [`RetryReader::next_event`] expose
//!   both as events.

pub mod append;
pub mod auth;
pub mod client;
pub mod config;
pub mod discovery;
mod error;
pub mod fragment;
pub mod read;
pub mod service;

pub use append::{Appender, append};
pub use auth::{Auth, Capability, Claims, TokenSource, TokenSourceError};
pub use client::{Client, ClientBuilder, Dispatch};
pub use config::{ConfigError, TlsConfig};
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
