//! Blocking (`std::io`) driver of the Gazette broker client.
//!
//! For programs without an async runtime: the same client as
//! [`gazette_tokio`], behind `std::io::{Read, BufRead, Seek, Write}` and
//! plain functions. Every type wraps its tokio counterpart and blocks on it
//! through a private runtime (see [`runtime`]), so no protocol decision is
//! made here: those live in `gazette-core`, driven by `gazette-tokio`.
//!
//! * [`Client`]: channels per broker, authorization, routing.
//! * [`Reader`], [`RetryReader`]: reading journals (`Read`, `BufRead`,
//!   `Seek` as far as Go's readers seek), cancellable from another thread
//!   with a [`CancelHandle`].
//! * [`Appender`], [`append()`]: appending (`Write` plus explicit
//!   [`Appender::commit`] / [`Appender::abort`]).
//! * [`AppendService`]: batched, ordered, asynchronous appends with
//!   dependencies; its writers are `std::io::Write`.
//! * [`discovery`]: listing, watching, applying, fragment listing and
//!   fragment store health.
//!
//! Calling any of it from inside an async runtime fails with
//! [`Error::InsideAsyncRuntime`] rather than blocking that runtime.
//!
//! # Features
//!
//! The same as `gazette-tokio`'s, forwarded to it: `tls-native-roots`
//! (default), `tls-webpki-roots`, `tls` (no built-in roots), `zstd`
//! (default; links libzstd) and `metrics` (default). Without a TLS feature,
//! `https://` endpoints and fragment URLs fail with a typed error.

pub mod append;
pub mod client;
pub mod discovery;
mod error;
pub mod read;
pub mod runtime;
pub mod service;

pub use append::{Appender, append};
pub use client::{Client, ClientBuilder};
pub use discovery::{
    WatchedList, apply, apply_in_batches, fragment_store_health, get_journal, list_all_fragments,
    list_all_journals,
};
pub use error::{Error, Result};
pub use read::{CancelHandle, Reader, RetryReader};
pub use service::{AppendFuture, AppendFutures, AppendService, AsyncAppend};

pub use gazette_core as core;
pub use gazette_proto as proto;
pub use gazette_tokio::{Auth, ReadEvent};
