//! The Appender: framing of one Append RPC (docs/behaviour.md#appender,
//! docs/protocol.md#append).
//!
//! Wire sequence of a committed append: the preamble (the request, without
//! content) → zero or more content chunks → one empty message (the commit
//! marker) → half-close → one `AppendResponse`. Half-closing without the
//! marker rolls the append back.
//!
//! The machine is fed [`AppenderInput`]s and yields [`AppenderOutput`]s from
//! [`Appender::poll_output`]; a driver carries the outputs out on its stream.

use std::collections::VecDeque;

use bytes::Bytes;
use gazette_proto::{AppendRequest, AppendResponse, LabelSelector, LabelSet, Status};

use super::error::{AppendError, RequestError, TransportError};
use crate::route::RouteUpdate;
use crate::status::{Operation, StatusError};

/// The largest content chunk the Appender sends in one message. Brokers
/// refuse messages above 4 MiB by default (`--broker.max-grpc-recv-size`);
/// this leaves room for the message framing.
pub const MAX_CHUNK_SIZE: usize = (4 << 20) - 1024;

/// The default content chunk size: small enough to keep the broker's
/// minimum-rate credit (64 KiB/s) fed smoothly, large enough to be cheap.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// An event the driver feeds into an [`Appender`].
#[derive(Debug, Clone, PartialEq)]
// One value per RPC: boxing the response would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum AppenderInput {
    /// The caller writes content. Empty content is ignored (an empty chunk
    /// would mean "commit").
    Write(Bytes),
    /// The caller commits: send the marker, half-close, read the response.
    /// Closing an untouched Appender issues an empty append.
    Commit,
    /// The caller gives up: half-close without the commit marker.
    Abort,
    /// Sending a message on the stream failed. The broker may already have
    /// answered (e.g. a precondition failed), so the response is read next.
    SendFailed,
    /// The broker's response arrived.
    Response(AppendResponse),
    /// The RPC failed (stream start, or receiving the response).
    StreamFailed(TransportError),
}

/// An action the driver carries out for an [`Appender`].
#[derive(Debug, Clone, PartialEq)]
pub enum AppenderOutput {
    /// Open the Append stream, routed to the journal's primary broker
    /// (dispatch hint `item(journal, require_primary = true)`).
    OpenStream {
        /// The journal, whose cached route selects the broker.
        journal: String,
    },
    /// Send this message on the stream (preamble, content chunk or marker).
    Send(AppendRequest),
    /// Half-close the request side of the stream.
    HalfClose,
    /// Receive the single `AppendResponse` (feed it back as
    /// [`AppenderInput::Response`] or [`AppenderInput::StreamFailed`]).
    ReceiveResponse,
    /// Roll back: half-close without the commit marker, then let the stream
    /// finish, ignoring its outcome.
    Abort,
    /// Apply `update` to the journal's cached route: store the route of
    /// the response header (a missing or empty one invalidates), or
    /// invalidate after an unavailable broker.
    UpdateRoute {
        /// The request's journal (without any `;meta` segment).
        journal: String,
        /// What to do with its cached route.
        update: RouteUpdate,
    },
    /// The append finished; nothing more will be output.
    Finished(Result<AppendResponse, AppendError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No stream yet.
    Idle,
    /// Preamble sent; content may follow.
    Streaming,
    /// Waiting for the response; `committed` tells whether the marker went out.
    AwaitingResponse { committed: bool },
    /// Finished or aborted.
    Done,
}

/// The state machine of one Append RPC.
#[derive(Debug)]
pub struct Appender {
    request: AppendRequest,
    phase: Phase,
    chunk_size: usize,
    bytes_sent: u64,
    outputs: VecDeque<AppenderOutput>,
    /// The broker's (valid) response, committed or not.
    response: Option<AppendResponse>,
}

impl Appender {
    /// A new Appender for `request` (the preamble). Fails, before any RPC,
    /// when the request is not a valid preamble (see [`validate_preamble`]).
    ///
    /// A `;meta` segment on the journal is stripped: the Appender sends,
    /// routes and caches under the plain journal name. Brokers ignore the
    /// segment on Append anyway, and a broker proxying an Append whose
    /// journal carries one crashes (it builds the forwarded authorization
    /// from the unstripped name), so the segment is never sent (Go sends it:
    /// docs/go-differences.md#d15).
    pub fn new(mut request: AppendRequest) -> Result<Self, RequestError> {
        validate_preamble(&request)?;
        strip_append_meta(&mut request);
        Ok(Appender {
            request,
            phase: Phase::Idle,
            chunk_size: DEFAULT_CHUNK_SIZE,
            bytes_sent: 0,
            response: None,
            outputs: VecDeque::new(),
        })
    }

    /// Sets the largest content chunk sent in one message (clamped to
    /// `1..=MAX_CHUNK_SIZE`). Larger writes are split.
    pub fn with_chunk_size(mut self, chunk_size: usize) -> Self {
        self.chunk_size = chunk_size.clamp(1, MAX_CHUNK_SIZE);
        self
    }

    /// The preamble this Appender sends.
    pub fn request(&self) -> &AppendRequest {
        &self.request
    }

    /// Content bytes handed to the driver for sending so far (Go's
    /// `gazette_append_bytes_total` increment of this attempt).
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }

    /// True once the append finished or was aborted.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Done
    }

    /// True while content may still be written (before commit or abort).
    pub fn accepts_content(&self) -> bool {
        matches!(self.phase, Phase::Idle | Phase::Streaming)
    }

    /// The next action for the driver, if any.
    pub fn poll_output(&mut self) -> Option<AppenderOutput> {
        self.outputs.pop_front()
    }

    /// Feeds one event. Events that do not apply to the current phase (a
    /// write after commit, a response before any was asked for) are ignored.
    pub fn handle(&mut self, input: AppenderInput) {
        match input {
            AppenderInput::Write(content) => self.write(content),
            AppenderInput::Commit => self.commit(),
            AppenderInput::Abort => self.abort(),
            AppenderInput::SendFailed => self.send_failed(),
            AppenderInput::Response(response) => self.on_response(response),
            AppenderInput::StreamFailed(err) => self.on_stream_failed(err),
        }
    }

    /// Queues `content` as one or more chunks, starting the stream if needed.
    pub fn write(&mut self, mut content: Bytes) {
        if content.is_empty() || !self.accepts_content() {
            return;
        }
        self.start();
        while !content.is_empty() {
            let chunk = content.split_to(content.len().min(self.chunk_size));
            self.bytes_sent += chunk.len() as u64;
            self.outputs.push_back(AppenderOutput::Send(AppendRequest {
                content: chunk,
                ..Default::default()
            }));
        }
    }

    /// Commits: starts the stream if needed, sends the empty marker,
    /// half-closes and asks for the response.
    pub fn commit(&mut self) {
        if !self.accepts_content() {
            return;
        }
        self.start();
        self.outputs
            .push_back(AppenderOutput::Send(AppendRequest::default()));
        self.outputs.push_back(AppenderOutput::HalfClose);
        self.outputs.push_back(AppenderOutput::ReceiveResponse);
        self.phase = Phase::AwaitingResponse { committed: true };
    }

    /// Aborts: with a stream, half-close without the marker (the broker
    /// discards the content); without one, nothing happens. Either way the
    /// Appender is finished and reports no result.
    pub fn abort(&mut self) {
        match self.phase {
            Phase::Idle => {}
            Phase::Streaming | Phase::AwaitingResponse { committed: false } => {
                self.outputs.push_back(AppenderOutput::Abort)
            }
            // Committed or done: too late to roll back.
            Phase::AwaitingResponse { committed: true } | Phase::Done => return,
        }
        self.phase = Phase::Done;
    }

    fn send_failed(&mut self) {
        if self.phase == Phase::Streaming {
            self.outputs.push_back(AppenderOutput::ReceiveResponse);
            self.phase = Phase::AwaitingResponse { committed: false };
        }
    }

    fn start(&mut self) {
        if self.phase == Phase::Idle {
            self.outputs.push_back(AppenderOutput::OpenStream {
                journal: self.request.journal.clone(),
            });
            self.outputs
                .push_back(AppenderOutput::Send(self.request.clone()));
            self.phase = Phase::Streaming;
        }
    }

    fn on_response(&mut self, response: AppendResponse) {
        let committed = match self.phase {
            Phase::AwaitingResponse { committed } => committed,
            // A response that arrives while streaming means the broker
            // answered early; treat it as if a send had failed.
            Phase::Streaming => false,
            Phase::Idle | Phase::Done => return,
        };
        self.phase = Phase::Done;
        if let Err(reason) = validate_response(&response) {
            self.finish(Err(AppendError::InvalidResponse(reason)));
            return;
        }
        self.outputs.push_back(AppenderOutput::UpdateRoute {
            journal: self.request.journal.clone(),
            update: RouteUpdate::new(response.header.as_ref().and_then(|h| h.route.clone())),
        });
        self.response = Some(response.clone());
        let result = match status_error(&self.request, &response) {
            Some(err) => Err(AppendError::Status(err)),
            None if !committed => Err(AppendError::PrematureCommit),
            None => Ok(response),
        };
        self.finish(result);
    }

    fn on_stream_failed(&mut self, err: TransportError) {
        if matches!(self.phase, Phase::Idle | Phase::Done) {
            return;
        }
        self.phase = Phase::Done;
        if matches!(err, TransportError::Unavailable(_)) {
            // The routed broker is unreachable: forget its route so the
            // retry resolves the journal afresh.
            self.outputs.push_back(AppenderOutput::UpdateRoute {
                journal: self.request.journal.clone(),
                update: RouteUpdate::Invalidate,
            });
        }
        self.finish(Err(AppendError::Transport(err)));
    }

    /// The broker's response once one arrived and passed validation,
    /// whatever its status: after a failure such as REGISTER_MISMATCH it
    /// carries the header and the journal's current registers (Go's
    /// `Appender.Response`).
    pub fn response(&self) -> Option<&AppendResponse> {
        self.response.as_ref()
    }

    fn finish(&mut self, result: Result<AppendResponse, AppendError>) {
        self.outputs.push_back(AppenderOutput::Finished(result));
    }
}

/// Removes any `;meta` segment from the journal of an Append preamble (see
/// [`Appender::new`] for why it is never sent).
pub fn strip_append_meta(request: &mut AppendRequest) {
    let plain = crate::validate::strip_meta(&request.journal).len();
    request.journal.truncate(plain);
}

/// Checks an AppendRequest preamble client-side, as Go's
/// `AppendRequest.Validate` does: the journal is required, content, a
/// negative offset and an undefined suspend value are refused with their
/// own variants, and every other rule (journal name and `;meta` segment,
/// header, register selector and label sets) with
/// [`RequestError::Invalid`].
pub fn validate_preamble(request: &AppendRequest) -> Result<(), RequestError> {
    if request.journal.is_empty() {
        return Err(RequestError::MissingJournal);
    }
    if !request.content.is_empty() {
        return Err(RequestError::ContentInPreamble);
    }
    if request.offset < 0 {
        return Err(RequestError::NegativeOffset(request.offset));
    }
    if gazette_proto::append_request::Suspend::try_from(request.suspend).is_err() {
        return Err(RequestError::InvalidSuspend(request.suspend));
    }
    crate::validate::validate_append_preamble(request).map_err(RequestError::Invalid)
}

/// Structural validation of an AppendResponse (docs/protocol.md#per-rpc-message-rules): status
/// defined, header present, OK ⇒ a valid commit, OK or REGISTER_MISMATCH ⇒
/// registers present. Returns the validation text on failure.
pub fn validate_response(response: &AppendResponse) -> Result<(), String> {
    let status = Status::try_from(response.status)
        .map_err(|_| format!("Status: invalid status ({})", response.status))?;
    if response.header.is_none() {
        return Err("Header: expected non-nil Header".into());
    }
    if status == Status::Ok {
        let commit = response.commit.as_ref().ok_or("expected Commit")?;
        let len = commit.journal.len();
        if !(4..=512).contains(&len) {
            return Err(format!(
                "Commit.Journal: invalid length ({len}; expected 4 <= length <= 512)"
            ));
        }
        if commit.begin > commit.end {
            return Err(format!(
                "Commit: expected Begin <= End (have {}, {})",
                commit.begin, commit.end
            ));
        }
    }
    if matches!(status, Status::Ok | Status::RegisterMismatch) && response.registers.is_none() {
        return Err("expected Registers".into());
    }
    Ok(())
}

/// Maps a (valid) response's status onto the Appender's error (docs/behaviour.md#appender-response, step 4).
pub fn status_error(request: &AppendRequest, response: &AppendResponse) -> Option<StatusError> {
    StatusError::from_status(Operation::Append, response.status, || {
        if response.status == Status::RegisterMismatch as i32 {
            format!(
                "selector {} doesn't match registers {}",
                render_selector(request.check_registers.as_ref()),
                render_labels(response.registers.as_ref()),
            )
        } else {
            response.store_health_error.clone()
        }
    })
}

fn render_labels(set: Option<&LabelSet>) -> String {
    let labels = set.map(|s| s.labels.as_slice()).unwrap_or_default();
    let parts: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={}", l.name, l.value))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

fn render_selector(selector: Option<&LabelSelector>) -> String {
    let Some(selector) = selector else {
        return "<none>".into();
    };
    let mut parts: Vec<String> = Vec::new();
    for l in selector.include.iter().flat_map(|s| &s.labels) {
        parts.push(format!("{}={}", l.name, l.value));
    }
    for l in selector.exclude.iter().flat_map(|s| &s.labels) {
        parts.push(format!("{}!={}", l.name, l.value));
    }
    parts.join(",")
}
