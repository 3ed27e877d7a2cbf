//! The RetryReader machine: a [`Reader`] that restarts its RPC after
//! failures, with Go's backoff schedule, and surfaces only the errors a
//! caller must act on.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use gazette_proto::{ReadRequest, Status};

use super::error::{DirectError, ReadError, TransportError};
use super::reader::{ReadAction, ReadEvent, ReadInput, ReadOutput, Reader};
use crate::backoff::Backoff;
use crate::status::StatusError;

/// How long an RPC must have lasted (from the poll that emitted its
/// `StartRpc` to the poll that saw it finish) to count as healthy when it
/// ends without delivering anything, or fails.
///
/// A healthy RPC resets the consecutive-failure count, and one that closed
/// cleanly without a frame is restarted at once, as Go does. The typical
/// case is an idle blocking tailer whose stream the broker ends when the
/// caller's token expires (hourly): without this, each such close would
/// count as a failure and the reconnect delay would grow to 5 s. Ten
/// seconds is twice Go's largest backoff (5 s), so a broker that keeps
/// closing empty streams still cannot make the reader reconnect more often
/// than the capped backoff would; a broker closing them quickly still
/// meets the growing backoff (the fix of quirk 10,
/// docs/go-differences.md#d10).
pub const HEALTHY_RPC_DURATION: Duration = Duration::from_secs(10);

/// An event the driver feeds into a [`RetryReader`].
#[allow(clippy::large_enum_variant)] // Frames move by value (see `ReadInput`).
#[derive(Debug, Clone, PartialEq)]
pub enum RetryInput {
    /// An event of the current RPC or fragment source.
    Read(ReadInput),
    /// The delay of the last `Backoff` output has passed.
    BackoffElapsed,
}

impl From<ReadInput> for RetryInput {
    fn from(input: ReadInput) -> Self {
        RetryInput::Read(input)
    }
}

/// What a [`RetryReader`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryOutput {
    /// An action for the driver (start or cancel an RPC, open or close a
    /// fragment, update a route).
    Action(ReadAction),
    /// Content, metadata or an offset jump for the caller.
    Event(ReadEvent),
    /// The read failed and will be retried: wait `delay`, then feed
    /// [`RetryInput::BackoffElapsed`]. `log` says whether Go would log the
    /// failure as a warning ("read failure (will retry)").
    Backoff {
        /// How long to wait.
        delay: Duration,
        /// The consecutive-failure count the delay was chosen for.
        attempt: i32,
        /// The failure being retried; `None` when a stream closed cleanly
        /// without delivering anything.
        cause: Option<ReadError>,
        /// Whether the failure deserves a warning.
        log: bool,
    },
    /// Drop the pending backoff timer: the wait was cancelled or superseded.
    CancelBackoff,
    /// An error the caller must see. Reading is paused at [`RetryReader::offset`];
    /// [`RetryReader::resume`] starts a new RPC from there.
    Stopped(ReadError),
    /// The requested range is complete (`end_offset` reached, or a
    /// metadata-only read answered). Nothing follows.
    Complete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    BackingOff,
    Stopped,
    Complete,
}

/// What to do with a finished reader's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    /// Report to the caller and pause.
    Surface,
    /// Restart at once (a clean end of a stream that delivered something).
    RestartNow,
    /// Restart after `backoff(attempt)`; `log` as Go would.
    RetryAfterBackoff { log: bool },
}

/// The RetryReader machine (Go's `RetryReader`, docs/behaviour.md#retryreader).
///
/// It drives one [`Reader`] at a time. When the reader finishes, the
/// outcome is classified (docs/behaviour.md#retry-table):
///
/// | outcome | decision |
/// |---|---|
/// | clean end at `end_offset` | `Complete` |
/// | clean end of a `metadata_only` read that got its metadata | `Complete` (fix of Go quirk 32, docs/go-differences.md#d11) |
/// | clean end of a stream that delivered a frame; `DirectError::Eof` | restart at once (attempt −1) |
/// | clean end of a stream that delivered nothing, open at least [`HEALTHY_RPC_DURATION`] | restart at once |
/// | clean end of a shorter stream that delivered nothing | retry with backoff, not logged (fix of quirk 10, docs/go-differences.md#d10) |
/// | cancelled, deadline exceeded | `Stopped` |
/// | OFFSET_NOT_YET_AVAILABLE | `Stopped`, or retried silently if `block` was switched on |
/// | INSUFFICIENT_JOURNAL_BROKERS, NOT_JOURNAL_BROKER | retry, logged unless attempt 0 |
/// | JOURNAL_NOT_FOUND | `Stopped` if the request has a header or attempt > 3, else retry |
/// | SUSPENDED | `Stopped` |
/// | NOT_ALLOWED (generic) | `Stopped` (fix of quirk 9, docs/go-differences.md#d9) |
/// | anything else | retry, logged |
///
/// The retry waits [`Backoff::delay`]`(attempt)` (Go's 50, 50, 100, 100,
/// 1000, 1000 ms, then 5 s; jitter only if the caller configured a seeded
/// [`Backoff`]). The attempt counter starts at 0 and returns to 0 whenever
/// the reader makes progress (metadata, content or an offset jump: in Go
/// every such event ends a `Read` call, and each call starts at 0), and
/// when an RPC that lasted [`HEALTHY_RPC_DURATION`] ends, whatever its
/// outcome (this needs the driver's clock: [`RetryReader::poll_output_at`]).
///
/// A restarted reader keeps the request (already advanced) and the last
/// frame's header, so the next RPC goes to the route the broker named.
/// Content is emitted exactly once: a restart resumes at the offset after
/// the last emitted byte.
#[derive(Debug, Clone)]
pub struct RetryReader {
    reader: Reader,
    state: State,
    attempt: i32,
    backoff: Backoff,
    /// The current stream delivered metadata, content or a jump.
    progressed: bool,
    /// The clock of the poll being served, if the driver gave one.
    now: Option<Instant>,
    /// When the current RPC's `StartRpc` was polled, if known.
    rpc_started_at: Option<Instant>,
    outputs: VecDeque<RetryOutput>,
}

/// How [`RetryReader::adjusted_seek`] was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdjustedSeek {
    /// Discard this many bytes from the front of the caller's buffer; no
    /// RPC activity.
    Discard(u64),
    /// Empty the caller's buffer: reading restarts at the given offset
    /// (outputs for the restart are queued).
    Reset(i64),
}

impl RetryReader {
    /// A retrying reader of `request` with Go's backoff (no jitter).
    pub fn new(request: ReadRequest) -> Self {
        Self::with_backoff(request, Backoff::go())
    }

    /// A retrying reader of `request` with the given backoff policy.
    pub fn with_backoff(request: ReadRequest, backoff: Backoff) -> Self {
        RetryReader {
            reader: Reader::new(request),
            state: State::Reading,
            attempt: 0,
            backoff,
            progressed: false,
            now: None,
            rpc_started_at: None,
            outputs: VecDeque::new(),
        }
    }

    /// The current reader.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The journal offset of the next byte to be emitted.
    pub fn offset(&self) -> i64 {
        self.reader.offset()
    }

    /// The journal being read.
    pub fn journal(&self) -> &str {
        self.reader.journal()
    }

    /// The consecutive-failure count of the next retry.
    pub fn attempt(&self) -> i32 {
        self.attempt
    }

    /// True once `Complete` was emitted.
    pub fn is_complete(&self) -> bool {
        self.state == State::Complete
    }

    /// True while paused after `Stopped`.
    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    /// Switches blocking on or off; it applies from the next RPC start (an
    /// OFFSET_NOT_YET_AVAILABLE of a non-blocking RPC already running is
    /// then retried instead of surfaced, as in Go).
    pub fn set_block(&mut self, block: bool) {
        self.reader.set_block(block);
    }

    /// Offset of the next byte the caller consumes when `buffered` emitted
    /// bytes are still unread in its buffer (Go: `AdjustedOffset`).
    pub fn adjusted_offset(&self, buffered: u64) -> i64 {
        self.reader.adjusted_offset(buffered)
    }

    /// The next output, with the driver's clock reading `now`: the machine
    /// remembers when each RPC started and, when it finishes, whether it
    /// lasted [`HEALTHY_RPC_DURATION`] (a healthy RPC resets the backoff).
    /// Drivers with a clock should always poll with this.
    pub fn poll_output_at(&mut self, now: Instant) -> Option<RetryOutput> {
        self.now = Some(now);
        let out = self.poll_next();
        self.now = None;
        out
    }

    /// The next output, without a clock: an RPC polled this way (started or
    /// finished) never counts as healthy, so every empty stream backs off
    /// (see [`RetryReader::poll_output_at`]).
    pub fn poll_output(&mut self) -> Option<RetryOutput> {
        self.now = None;
        self.poll_next()
    }

    fn poll_next(&mut self) -> Option<RetryOutput> {
        loop {
            if let Some(out) = self.outputs.pop_front() {
                return Some(out);
            }
            if self.state != State::Reading {
                return None;
            }
            let out = self.reader.poll_output()?;
            self.on_reader_output(out);
        }
    }

    /// Feeds one driver event.
    pub fn handle(&mut self, input: impl Into<RetryInput>) {
        match input.into() {
            RetryInput::BackoffElapsed => {
                if self.state == State::BackingOff {
                    self.state = State::Reading;
                }
            }
            RetryInput::Read(input @ (ReadInput::Cancel | ReadInput::DeadlineExceeded)) => {
                match self.state {
                    State::Reading => self.reader.handle(input),
                    State::BackingOff => {
                        let err = if input == ReadInput::Cancel {
                            ReadError::Cancelled
                        } else {
                            ReadError::DeadlineExceeded
                        };
                        self.outputs.push_back(RetryOutput::CancelBackoff);
                        self.stop(err);
                    }
                    State::Stopped | State::Complete => {}
                }
            }
            RetryInput::Read(input) => {
                if self.state == State::Reading {
                    self.reader.handle(input);
                }
            }
        }
    }

    /// Continues after `Stopped`: the next poll starts an RPC at
    /// [`RetryReader::offset`] (Go: the next `Read` call).
    pub fn resume(&mut self) {
        if self.state == State::Stopped {
            self.state = State::Reading;
            self.attempt = 0;
        }
    }

    /// Replaces the reader with a fresh one for `request`, releasing the
    /// current RPC, fragment source or backoff timer (Go: `Cancel` then
    /// `Restart`). Reading continues unless the reader is stopped.
    pub fn restart(&mut self, request: ReadRequest) {
        if let Some(action) = self.reader.abandon() {
            self.outputs.push_back(RetryOutput::Action(action));
        }
        if self.state == State::BackingOff {
            self.outputs.push_back(RetryOutput::CancelBackoff);
        }
        self.reader = Reader::new(request);
        self.attempt = 0;
        self.progressed = false;
        self.rpc_started_at = None;
        if self.state != State::Stopped {
            self.state = State::Reading;
        }
    }

    /// Sets the offset of the next byte (Go: `RetryReader.Seek` with an
    /// absolute offset). A forward seek within a directly read fragment
    /// discards; any other seek restarts with the same request at `target`.
    /// A stopped reader stays stopped (call [`RetryReader::resume`]).
    /// Returns the new offset.
    pub fn seek(&mut self, target: i64) -> i64 {
        if self.reader.seek(target).is_err() {
            let mut request = self.reader.request().clone();
            request.offset = target;
            self.restart(request);
        }
        self.reader.offset()
    }

    /// Seeks to `target` as seen by a caller holding `buffered` emitted but
    /// unread bytes (Go: `AdjustedSeek`): a target within the buffer is
    /// served by discarding from it, anything else by [`RetryReader::seek`].
    pub fn adjusted_seek(&mut self, target: i64, buffered: u64) -> AdjustedSeek {
        let delta = target - self.adjusted_offset(buffered);
        if delta >= 0 && delta as u64 <= buffered {
            AdjustedSeek::Discard(delta as u64)
        } else {
            AdjustedSeek::Reset(self.seek(target))
        }
    }

    fn on_reader_output(&mut self, out: ReadOutput) {
        let forwarded = match out {
            ReadOutput::Action(a) => {
                if matches!(a, ReadAction::StartRpc { .. }) {
                    self.rpc_started_at = self.now;
                }
                RetryOutput::Action(a)
            }
            ReadOutput::Event(e) => {
                self.made_progress();
                RetryOutput::Event(e)
            }
            ReadOutput::Finished(outcome) => return self.on_finished(outcome),
        };
        self.outputs.push_back(forwarded);
    }

    fn made_progress(&mut self) {
        self.progressed = true;
        self.attempt = 0;
    }

    /// Whether the RPC that just finished lasted [`HEALTHY_RPC_DURATION`].
    fn rpc_was_healthy(&self) -> bool {
        match (self.rpc_started_at, self.now) {
            (Some(started), Some(now)) => {
                now.saturating_duration_since(started) >= HEALTHY_RPC_DURATION
            }
            _ => false,
        }
    }

    fn on_finished(&mut self, outcome: Result<(), ReadError>) {
        let healthy = self.rpc_was_healthy();
        self.rpc_started_at = None;
        if healthy {
            // A long-lived RPC is no consecutive failure of the ones before.
            self.attempt = 0;
        }
        let request = self.reader.request();
        let decision = match &outcome {
            Ok(()) if self.reader.reached_end_offset() => {
                self.state = State::Complete;
                self.outputs.push_back(RetryOutput::Complete);
                return;
            }
            Ok(()) if request.metadata_only && self.progressed => {
                self.state = State::Complete;
                self.outputs.push_back(RetryOutput::Complete);
                return;
            }
            Ok(()) if self.progressed || healthy => Decision::RestartNow,
            Ok(()) => Decision::RetryAfterBackoff { log: false },
            Err(err) => classify(err, request, self.attempt),
        };
        self.reader.restart();
        self.progressed = false;
        match decision {
            Decision::Surface => {
                let err = outcome.expect_err("clean ends never surface");
                self.stop(err);
            }
            Decision::RestartNow => {
                // Go sets attempt to −1, waits backoff(−1) = 0, increments.
                self.attempt = 0;
            }
            Decision::RetryAfterBackoff { log } => {
                let attempt = self.attempt;
                let delay = self.backoff.delay(attempt);
                self.attempt = attempt.saturating_add(1);
                self.state = State::BackingOff;
                let cause = outcome.err();
                self.outputs.push_back(RetryOutput::Backoff {
                    delay,
                    attempt,
                    cause,
                    log,
                });
            }
        }
    }

    fn stop(&mut self, err: ReadError) {
        self.state = State::Stopped;
        self.outputs.push_back(RetryOutput::Stopped(err));
    }
}

/// Go's retry table (docs/behaviour.md#retry-table) for a failed read.
fn classify(err: &ReadError, request: &ReadRequest, attempt: i32) -> Decision {
    use Decision::*;
    match err {
        ReadError::Cancelled
        | ReadError::DeadlineExceeded
        | ReadError::Transport(TransportError::Cancelled | TransportError::DeadlineExceeded) => {
            Surface
        }
        ReadError::InvalidRequest(_) => Surface,
        ReadError::Direct(DirectError::Eof) => RestartNow,
        ReadError::Status(StatusError::Named(status)) => match status {
            Status::OffsetNotYetAvailable if request.block => RetryAfterBackoff { log: false },
            Status::OffsetNotYetAvailable | Status::Suspended => Surface,
            Status::InsufficientJournalBrokers | Status::NotJournalBroker => {
                RetryAfterBackoff { log: attempt != 0 }
            }
            Status::JournalNotFound if request.header.is_some() || attempt > 3 => Surface,
            _ => RetryAfterBackoff { log: true },
        },
        ReadError::Status(StatusError::Generic(code)) if *code == Status::NotAllowed as i32 => {
            Surface
        }
        _ => RetryAfterBackoff { log: true },
    }
}

impl fmt::Display for RetryOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryOutput::Action(a) => a.fmt(f),
            RetryOutput::Event(e) => e.fmt(f),
            RetryOutput::Backoff {
                delay,
                attempt,
                cause,
                log,
            } => {
                write!(
                    f,
                    "Backoff {}ms attempt={attempt} log={log} cause: ",
                    delay.as_millis()
                )?;
                match cause {
                    Some(e) => write!(f, "{e}"),
                    None => write!(f, "empty stream"),
                }
            }
            RetryOutput::CancelBackoff => write!(f, "CancelBackoff"),
            RetryOutput::Stopped(e) => write!(f, "Stopped: {e}"),
            RetryOutput::Complete => write!(f, "Complete"),
        }
    }
}

impl fmt::Display for RetryInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RetryInput::Read(i) => i.fmt(f),
            RetryInput::BackoffElapsed => write!(f, "BackoffElapsed"),
        }
    }
}
