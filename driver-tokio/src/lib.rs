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
//! * [`records`]: [`Records`], the newline-delimited records of a reader
//!   with their offsets, as a `Stream`.
//! * [`multi`]: [`MultiReader`], the records of every journal of a
//!   selector as one `Stream`, following journals as they come and go,
//!   resumable from saved offsets.
//! * [`discovery`]: listing, [`WatchedList`] (a `Stream` of snapshots),
//!   applying specs in batches, listing fragments, store health.
//! * [`fragment`]: raw fragment bodies over HTTP(S) and `file://` (the
//!   latter below a configured root, like Go's `InstallFileTransport`).
//!
//! # Building requests
//!
//! Requests are the plain prost messages of [`proto`]; their builders
//! spare the nested `Option`s and enum casts (nothing here needs a
//! broker):
//!
//! ```
//! use std::time::Duration;
//! use gazette_tokio::core::validate::{SelectorDisplay, parse_label_selector};
//! use gazette_tokio::proto::{
//!     AppendRequest, ApplyRequest, CompressionCodec, JournalSpec, LabelSelector, ReadRequest,
//! };
//!
//! // A journal of NDJSON, 3 replicas, zstd fragments persisted to S3.
//! let spec = JournalSpec::new("examples/events")
//!     .with_replication(3)
//!     .with_label("content-type", "application/x-ndjson")
//!     .with_codec(CompressionCodec::Zstandard)
//!     .with_store("s3://my-bucket/gazette/")
//!     .with_flush_interval(Duration::from_secs(600));
//! assert_eq!(spec.codec(), CompressionCodec::Zstandard);
//!
//! // Create it, or update it whatever its revision.
//! let apply = ApplyRequest::upsert_all([spec]);
//! assert_eq!(apply.changes[0].expect_mod_revision, -1);
//!
//! // Appends go to the write head unless `at_offset` says otherwise.
//! let append = AppendRequest::new("examples/events");
//! assert_eq!(append.offset, 0);
//!
//! // Tail from the write head (reads block by default) ...
//! let tail = ReadRequest::new("examples/events").from_offset(-1);
//! assert!(tail.block);
//! // ... or read what is there, ending at the write head.
//! let export = ReadRequest::new("examples/events").blocking(false);
//! assert!(!export.block);
//!
//! // Selectors, parsed from gazctl's syntax or built, are equal.
//! let parsed =
//!     parse_label_selector("name:prefix=examples/, content-type=application/x-ndjson").unwrap();
//! let built = LabelSelector::journal_prefix("examples/")
//!     .include("content-type", "application/x-ndjson");
//! assert_eq!(parsed, built);
//! assert_eq!(
//!     SelectorDisplay(&parsed).to_string(),
//!     "content-type=application/x-ndjson,name:prefix=examples/"
//! );
//! ```
//!
//! # Talking to brokers
//!
//! Create the journal, append to it and read back what was appended (see
//! each type for more, and `docs/cookbook.md` for recipes):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use bytes::Bytes;
//! use gazette_tokio::proto::{AppendRequest, ApplyRequest, JournalSpec, ReadRequest};
//! use gazette_tokio::{Client, RetryReader};
//! use tokio::io::AsyncReadExt;
//!
//! let client = Client::from_env()?; // BROKER_ADDRESS, BROKER_AUTH_*
//! let journal = "examples/hello";
//! gazette_tokio::apply(&client, ApplyRequest::upsert_all([JournalSpec::new(journal)])).await?;
//!
//! let records = [Bytes::from_static(b"hi\n")];
//! let response = gazette_tokio::append(&client, AppendRequest::new(journal), &records).await?;
//! let commit = response.commit.unwrap_or_default();
//!
//! let read = ReadRequest::new(journal).from_offset(commit.begin).until(commit.end);
//! let mut content = Vec::new();
//! RetryReader::new(&client, read).read_to_end(&mut content).await?;
//! assert_eq!(content, b"hi\n");
//! # Ok(())
//! # }
//! ```
//!
//! How it runs (docs/architecture.md#the-tokio-driver): one loop per
//! [`Client`] over the core's sans-IO `gazette_core::client::Client`, which
//! makes every protocol decision (routing, member health, retries, error
//! classification, claims, deadlines, recovery from a frozen broker). The
//! driver carries out its commands on tonic tasks and reports what the
//! transport saw; time comes from an injectable [`Clock`], channels from an
//! injectable [`Connector`]. Left to the driver:
//!
//! * gRPC-Go's wait-for-ready (List, Apply) has no tonic equivalent: an
//!   unreachable service address fails at once with `Unavailable`
//!   (docs/go-differences.md#d32).
//! * `unix://` endpoints are not dialled: members advertising one (or any
//!   endpoint other than an `http`/`https` URL) are reached through the
//!   service address (docs/go-differences.md#d33).
//! * As an `AsyncRead`, an offset jump is returned once as an error
//!   ([`Error::OffsetJump`]) and reading continues; metadata frames are
//!   skipped. [`Reader::next_event`] / [`RetryReader::next_event`] (or the
//!   readers as `Stream`s) expose both as events
//!   (docs/go-differences.md#d14).
//!
//! Every deliberate difference from Go's client: docs/go-differences.md.
//!
//! # Features
//!
//! * `tls-native-roots` (default): TLS (rustls on ring) for `https://`
//!   brokers and fragment URLs, trusting the platform's certificate store.
//! * `tls-webpki-roots`: the same, trusting the compiled-in webpki roots
//!   (both sets with both features).
//! * `tls`: rustls with no built-in roots (implied by either of the above);
//!   brokers are trusted through the CA given to `ClientBuilder::tls`.
//! * `zstd` (default): ZSTANDARD fragments (links libzstd, a C library).
//! * `metrics` (default): counters and gauges through the `metrics` facade
//!   (names in the README); without it no metric code is compiled.
//!
//! Without a TLS feature, `https://` endpoints fail with
//! [`Error::InvalidEndpoint`], `https` fragment URLs with
//! [`Error::Fragment`], and `ClientBuilder::tls` does not exist.

#![warn(unreachable_pub, unnameable_types)]

pub mod append;
pub mod auth;
pub mod client;
pub mod clock;
pub mod config;
pub mod discovery;
mod engine;
mod error;
pub mod fragment;
pub mod multi;
pub mod read;
pub mod records;
pub mod service;
mod telemetry;

pub use append::{Appender, append};
pub use auth::{Auth, Capability, Claims, TokenSource, TokenSourceError};
pub use client::{Client, ClientBuilder, Connector};
pub use clock::{Clock, TokioClock};
pub use config::{ConfigError, TlsConfig};
pub use discovery::{
    WatchedList, apply, apply_in_batches, fragment_store_health, get_journal, list_all_fragments,
    list_all_journals,
};
pub use error::Error;
/// The kind of a failure, as [`Error::kind`] reports it.
pub use gazette_core::kind::ErrorKind;
pub use multi::{JournalRecord, MultiReader};
pub use read::{ReadEvent, Reader, RetryReader};
pub use records::{Record, Records};
pub use service::{AppendFuture, AppendFutures, AppendService, AsyncAppend};

/// Why an `https://` endpoint or fragment URL fails in a build without TLS.
pub(crate) const NO_TLS: &str = "https needs TLS, which this build of gazette-tokio lacks \
    (enable its `tls-native-roots` or `tls-webpki-roots` feature)";

/// The result of this crate's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;
pub use gazette_core as core;
pub use gazette_proto as proto;
pub use tonic;
