//! The read path: Go's `Reader` and `RetryReader` as sans-IO machines.
//!
//! - [`Reader`] turns one Read RPC (plus at most one direct fragment read)
//!   into content slices and one outcome. It validates every frame, tracks
//!   the offset, write head and current fragment exactly as Go does (content
//!   frames inherit fragment and write head from the preceding metadata
//!   frame), reports offset jumps and maps statuses to named errors.
//! - [`RetryReader`] wraps it, restarting RPCs with Go's backoff and
//!   surfacing only the errors a caller must act on.
//!
//! Both are driven the same way: feed events with `handle`, drain outputs
//! with `poll_output` until it returns `None`. Content is handed out as
//! `Bytes` slices of the received frames (never copied). Direct fragment
//! reads are abstract: the machine emits `OpenFragment { fragment, offset,
//! url }`, and the driver feeds already-decoded content from that offset
//! (`DirectContent`) and the source's end (`DirectEnd`/`DirectFailed`); how
//! the bytes are fetched and decompressed is the fragment module's business,
//! and [`DirectFetch`] is the adapter that turns a driver's raw HTTP or file
//! bytes into exactly those inputs.
//!
//! # Driving a reader
//!
//! ```
//! use bytes::Bytes;
//! use gazette_core::proto::{ReadRequest, ReadResponse};
//! use gazette_core::read::{ReadAction, ReadEvent, ReadInput, ReadOutput, Reader};
//!
//! let mut reader = Reader::new(ReadRequest {
//!     journal: "a/journal".into(),
//!     end_offset: 3,
//!     ..Default::default()
//! });
//! // The first poll asks for the RPC.
//! let Some(ReadOutput::Action(ReadAction::StartRpc { request, .. })) = reader.poll_output() else {
//!     unreachable!()
//! };
//! assert_eq!(request.offset, 0);
//! // The driver starts it and feeds what the broker sends.
//! reader.handle(ReadInput::RpcStarted);
//! reader.handle(ReadInput::Frame(ReadResponse {
//!     content: Bytes::from_static(b"foobar"),
//!     ..Default::default()
//! }));
//! let mut got = Vec::new();
//! while let Some(out) = reader.poll_output() {
//!     match out {
//!         ReadOutput::Event(ReadEvent::Content { content, .. }) => got.extend_from_slice(&content),
//!         ReadOutput::Action(ReadAction::CancelRpc) => { /* drop the stream */ }
//!         ReadOutput::Finished(outcome) => assert!(outcome.is_ok()),
//!         _ => {}
//!     }
//! }
//! assert_eq!(got, b"foo"); // trimmed at end_offset
//! ```
//!
//! # Go quirks (docs/behaviour.md#go-quirks-and-our-decisions): reproduced or fixed
//!
//! | # | Go | here |
//! |---|---|---|
//! | 1 | a −1 request meeting a routing/not-found status moves to offset 0, so a RetryReader resumes from the oldest content | **fixed**: only OK and OFFSET_NOT_YET_AVAILABLE frames move the offset (the others carry 0); the retry resumes at −1, the write head (docs/go-differences.md#d1) |
//! | 2 | direct mode with offset past `end_offset` panics | **fixed**: `end_offset` trims content and ends the read whenever `offset >= end_offset`; a fragment entirely past it is not even opened (docs/go-differences.md#d3) |
//! | 3 | the direct reader is not cleared after close | **fixed**: leaving direct mode emits `CloseDirect` once and the reader is finished (docs/go-differences.md#d4) |
//! | 4 | the stream stays open after a frame fails validation | **fixed**: `CancelRpc` precedes the error (docs/go-differences.md#d5) |
//! | 5 | seeking to the current offset while streaming forces a new RPC; a seek to `fragment.end` is refused | **fixed**: a seek to the current offset is a no-op, and a direct read can seek up to `fragment.end` (docs/go-differences.md#d6) |
//! | 9 | unmapped statuses, NOT_ALLOWED included, are retried forever | **partly fixed**: NOT_ALLOWED (a write-only journal needs an operator, like SUSPENDED) stops the RetryReader; other unmapped statuses (NO_JOURNAL_PRIMARY_BROKER, FRAGMENT_STORE_UNHEALTHY, …) are transient and still retried with the 5 s cap (docs/go-differences.md#d9) |
//! | 10 | zero-delay restarts after EOF can spin against a broker closing empty streams | **fixed**: only a stream that delivered something, or stayed open at least [`HEALTHY_RPC_DURATION`] (an idle tailer whose token expired), restarts at once; a short empty one backs off (50 ms … 5 s), unlogged (docs/go-differences.md#d10) |
//! | 31 | a failed fragment open leaves a typed-nil direct reader that panics later | **fixed**: a failed open finishes the reader; nothing dangles (docs/go-differences.md#d4) |
//! | 32 | metadata-only RetryReaders re-report the same fragment forever | **fixed**: a metadata-only read is `Complete` once its metadata arrived and the stream closed (docs/go-differences.md#d11) |
//!
//! Other decisions:
//!
//! - Reproduced: the attempt schedule and the surfaced set of docs/behaviour.md#retry-table
//!   (JOURNAL_NOT_FOUND surfaces on the fifth consecutive failure, or at once
//!   when the request has a header); an OFFSET_NOT_YET_AVAILABLE frame moves
//!   the offset to the broker's resolved one, so a non-blocking −1 read
//!   learns the write head; the next RPC goes to the route of the last
//!   frame's header when it had one.
//! - Changed: that OFFSET_NOT_YET_AVAILABLE move is reported as an
//!   `OffsetJump` (Go is silent, so content could be skipped unknowingly;
//!   docs/go-differences.md#d2). Streamed content is trimmed at
//!   `end_offset` and the RPC cancelled as soon as it is reached (Go relies
//!   on the broker; a no-op against a correct one; docs/go-differences.md#d3).
//!   Errors are sticky: a finished [`Reader`] ignores further input (Go
//!   only documents this; docs/go-differences.md#d12). Seeks take absolute
//!   offsets, so Go's "io.SeekEnd whence is not supported" error and its
//!   panic on an unknown whence cannot happen (docs/go-differences.md#d6).
//!   A direct read also checks the fed content against `fragment.end`
//!   (short: `UnexpectedEof`, long: `DidNotReadExpectedEof`), whatever the
//!   driver's decoder already checked (docs/go-differences.md#d7).
//!
//! Every deliberate difference from Go's client, in all areas:
//! docs/go-differences.md.

mod direct;
mod error;
mod frame;
mod multi;
mod reader;
mod records;
mod retry;

pub use direct::{DirectFetch, FetchTarget, FileUrlError, file_url_path};
pub use error::{DirectError, ReadError, SeekError, TransportError, redact_url};
pub use frame::{InvalidFrame, check_frame_offset, validate_frame};
pub use multi::{JournalChanges, JournalSet};
pub use reader::{Metadata, ReadAction, ReadEvent, ReadInput, ReadOutput, Reader, RouteHint};
pub use records::{Framed, Record, RecordFramer};
pub use retry::{AdjustedSeek, HEALTHY_RPC_DURATION, RetryInput, RetryOutput, RetryReader};

#[cfg(test)]
mod tests;
