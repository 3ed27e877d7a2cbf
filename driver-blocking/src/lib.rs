//! Blocking (`std::io`) facade over the Gazette broker client
//! [`gazette_tokio`], in the manner of `reqwest::blocking`.
//!
//! For programs without an async runtime: the same client as
//! [`gazette_tokio`], behind `std::io::{Read, BufRead, Seek, Write}` and
//! plain functions. Every type wraps its tokio counterpart; each
//! [`Client`] runs those on a runtime thread of its own (see [`runtime`]),
//! so no protocol decision is made here: those live in `gazette-core`,
//! driven by `gazette-tokio`.
//!
//! * [`Client`], [`ClientBuilder`]: channels per broker, authorization,
//!   routing; the runtime thread.
//! * [`CallOptions`], [`CancelHandle`]: a timeout or a cancel handle for
//!   any blocking call ([`call`]).
//! * [`Reader`], [`RetryReader`]: reading journals (`Read`, `BufRead`,
//!   `Seek` as far as Go's readers seek), with a timeout per call and a
//!   [`CancelHandle`] usable from another thread.
//! * [`Appender`], [`append()`]: appending (`Write` plus explicit
//!   [`Appender::commit`] / [`Appender::abort`]).
//! * [`AppendService`]: batched, ordered, asynchronous appends with
//!   dependencies; its writers are `std::io::Write`.
//! * [`discovery`]: listing, watching, applying, fragment listing and
//!   fragment store health.
//!
//! Calls work from any thread: plain threads, `spawn_blocking` threads,
//! and threads inside a tokio runtime's context (an async task that calls
//! in blocks its worker thread for the call, as any blocking call does; use
//! `gazette-tokio` there).
//!
//! Requests are built as for `gazette-tokio` (see its crate docs); this runs
//! without a broker:
//!
//! ```
//! use gazette_blocking::core::validate::{SelectorDisplay, parse_label_selector};
//! use gazette_blocking::proto::{ApplyRequest, JournalSpec, LabelSelector, ReadRequest};
//!
//! let apply = ApplyRequest::upsert_all([
//!     JournalSpec::new("examples/a").with_label("team", "blue"),
//!     JournalSpec::new("examples/b").with_label("team", "blue"),
//! ]);
//! assert_eq!(apply.changes.len(), 2);
//!
//! let read = ReadRequest::new("examples/a").from_offset(-1); // new content only
//! assert_eq!((read.offset, read.block), (-1, true));
//!
//! // A parsed selector and a built one select the same journals.
//! let parsed = parse_label_selector("name:prefix=examples/, team=blue").unwrap();
//! let built = LabelSelector::journal_prefix("examples/").include("team", "blue");
//! assert_eq!(SelectorDisplay(&parsed).to_string(), "name:prefix=examples/,team=blue");
//! assert_eq!(SelectorDisplay(&built).to_string(), SelectorDisplay(&parsed).to_string());
//! ```
//!
//! With a broker: create a journal, append, and read everything back.
//!
//! ```no_run
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use bytes::Bytes;
//! use gazette_blocking::proto::{AppendRequest, ApplyRequest, JournalSpec, ReadRequest};
//! use gazette_blocking::{Client, RetryReader};
//! use std::io::Read;
//!
//! let client = Client::from_env()?; // BROKER_ADDRESS, BROKER_AUTH_*
//! let journal = "examples/hello";
//! gazette_blocking::apply(&client, ApplyRequest::upsert_all([JournalSpec::new(journal)]))?;
//!
//! let records = [Bytes::from_static(b"hi\n")];
//! let response = gazette_blocking::append(&client, AppendRequest::new(journal), &records)?;
//! let commit = response.commit.unwrap_or_default();
//!
//! let read = ReadRequest::new(journal).from_offset(commit.begin).until(commit.end);
//! let mut content = Vec::new();
//! RetryReader::new(&client, read).read_to_end(&mut content)?;
//! assert_eq!(content, b"hi\n");
//! # Ok(())
//! # }
//! ```
//!
//! # Features
//!
//! The same as `gazette-tokio`'s, forwarded to it: `tls-native-roots`
//! (default), `tls-webpki-roots`, `tls` (no built-in roots), `zstd`
//! (default; links libzstd) and `metrics` (default). Without a TLS feature,
//! `https://` endpoints and fragment URLs fail with a typed error.

#![warn(unreachable_pub, unnameable_types)]

pub mod append;
mod bound;
pub mod call;
pub mod client;
mod clock;
pub mod discovery;
mod error;
#[doc(hidden)]
pub mod h2;
pub mod multi;
pub mod read;
pub mod records;
pub mod runtime;
pub mod service;

pub use append::{Appender, append, append_with};
pub use call::{CallOptions, CancelHandle};
pub use client::{Client, ClientBuilder};
pub use discovery::{
    WatchedList, apply, apply_in_batches, apply_in_batches_with, apply_with, fragment_store_health,
    fragment_store_health_with, get_journal, get_journal_with, list_all_fragments,
    list_all_fragments_with, list_all_journals, list_all_journals_with,
};
pub use error::{Error, Result};
pub use multi::{JournalRecord, MultiReader};
pub use read::{Reader, RetryReader};
pub use records::{Record, Records};
pub use service::{AppendFuture, AppendFutures, AppendService, AsyncAppend};

pub use gazette_core as core;
pub use gazette_proto as proto;
pub use gazette_tokio::{Auth, ConfigError, ErrorKind, ReadEvent, TlsConfig, TokenSource};
