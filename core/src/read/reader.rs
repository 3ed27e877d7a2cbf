//! The Reader machine: one Read RPC, plus at most one direct fragment read,
//! turned into a sequence of content slices and one final outcome.

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;
use gazette_proto::{Fragment, Header, ReadRequest, ReadResponse, Route, Status};

use super::error::{DirectError, ReadError, SeekError, TransportError};
use super::frame::{check_frame_offset, validate_frame};
use crate::route::RouteUpdate;
use crate::status::{Operation, StatusError};

/// Where the driver should send a Read RPC.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteHint {
    /// Dispatch by the route cache entry of this journal (the full request
    /// journal, `;meta` suffix included), without requiring the primary.
    Journal(String),
    /// Dispatch to this route, taken from the header of the last frame the
    /// previous stream received (for example with NOT_JOURNAL_BROKER).
    /// No member is preferred and no cache entry is invalidated on failure.
    Route(Route),
}

/// Something the driver must do on behalf of a read machine.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadAction {
    /// Start a Read RPC with `request`, dispatched by `route`. Answer with
    /// [`ReadInput::RpcStarted`] or [`ReadInput::RpcStartFailed`], then feed
    /// frames and the stream's end.
    StartRpc {
        /// The request to send (its offset is where reading resumes).
        request: ReadRequest,
        /// How to dispatch it.
        route: RouteHint,
    },
    /// Cancel the running Read RPC: the machine will not consume it further.
    CancelRpc,
    /// Apply `update` to the route cache entry of `journal`: store the
    /// route a response header advertised (an empty one invalidates), or
    /// invalidate when an RPC dispatched by the cache meets an unavailable
    /// broker.
    UpdateRoute {
        /// The request's journal, as given.
        journal: String,
        /// What to do with its cached route.
        update: RouteUpdate,
    },
    /// GET `url`, decode `fragment` with its codec, discard the bytes before
    /// `offset` and feed the rest as [`ReadInput::DirectContent`] (answer
    /// first with [`ReadInput::DirectOpened`] or [`ReadInput::DirectOpenFailed`]).
    OpenFragment {
        /// The fragment the URL holds.
        fragment: Fragment,
        /// Journal offset of the first byte to feed.
        offset: i64,
        /// Signed fragment URL.
        url: String,
    },
    /// Drop the direct fragment source (opening or open): the machine will
    /// not consume it further.
    CloseDirect,
}

/// The metadata of a status-OK metadata frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    /// The effective offset the broker resolved.
    pub offset: i64,
    /// The journal write head.
    pub write_head: i64,
    /// The fragment the following content belongs to.
    pub fragment: Option<Fragment>,
}

/// One thing a read produced for its caller: content, a metadata frame, or
/// an offset jump. Both read machines yield it ([`ReadOutput::Event`],
/// [`RetryOutput::Event`](super::RetryOutput::Event)), and the drivers hand
/// it to their callers unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadEvent {
    /// Journal content starting at `offset`: a slice of the received frame or
    /// fragment bytes, never copied.
    Content {
        /// Journal offset of `content[0]`.
        offset: i64,
        /// The bytes.
        content: Bytes,
    },
    /// A status-OK metadata frame arrived (Go's zero-byte Read that lets the
    /// caller inspect the response): the resolved offset, write head and
    /// fragment.
    Metadata(Metadata),
    /// The next byte is not where reading was: the broker skipped from
    /// `from` to `to` (deleted content, or the write head of a −1 request).
    /// Reading continues at `to` (Go: `ErrOffsetJump`).
    OffsetJump {
        /// The offset reading was at.
        from: i64,
        /// The offset reading continues at.
        to: i64,
    },
}

/// What a [`Reader`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadOutput {
    /// An action for the driver.
    Action(ReadAction),
    /// Content, metadata or an offset jump for the caller.
    Event(ReadEvent),
    /// The read ended: `Ok(())` is a clean end (Go's `io.EOF`: the stream
    /// closed, the fragment was read to its end, or `end_offset` was
    /// reached), `Err` names the failure. Nothing follows.
    Finished(Result<(), ReadError>),
}

/// An event the driver feeds into a [`Reader`].
///
/// RPC events refer to the RPC of the latest `StartRpc`, direct events to
/// the source of the latest `OpenFragment`. Once the machine asked to cancel
/// or close one (or started another), the driver must stop feeding that
/// one's events.
// Frames are the hot path: they move in by value rather than paying an
// allocation per frame for a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ReadInput {
    /// The RPC of the last `StartRpc` is established.
    RpcStarted,
    /// The RPC of the last `StartRpc` could not be started.
    RpcStartFailed(TransportError),
    /// A response frame arrived.
    Frame(ReadResponse),
    /// The broker closed the stream cleanly.
    RpcClosed,
    /// The stream broke with an error.
    RpcFailed(TransportError),
    /// The fragment of the last `OpenFragment` is open (status 200, decoder
    /// built, bytes before the offset discarded).
    DirectOpened,
    /// The fragment could not be opened (or its pre-seek failed).
    DirectOpenFailed(DirectError),
    /// Decoded fragment content, continuing where the previous one ended
    /// (the first starts at the `OpenFragment` offset).
    DirectContent(Bytes),
    /// The fragment source ended cleanly.
    DirectEnd,
    /// Reading or decoding the fragment failed.
    DirectFailed(DirectError),
    /// The caller cancelled the read.
    Cancel,
    /// The caller's deadline passed.
    DeadlineExceeded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing started; the next poll starts the RPC.
    Idle,
    /// `StartRpc` emitted.
    Starting,
    /// The RPC is established or frames arrived.
    Streaming,
    /// `OpenFragment` emitted.
    Opening,
    /// The fragment is being fed.
    Direct,
    /// `Finished` emitted.
    Finished,
}

/// The Read machine (Go's `Reader`): rules R1–R4 of docs/behaviour.md#read-rules
/// as a transition table.
///
/// Create it with a request, then alternate [`Reader::poll_output`] until it
/// returns `None` and [`Reader::handle`] with the driver's next event. The
/// first poll emits `StartRpc` (nothing happens before, as Go's `NewReader`
/// does no I/O). Content is handed out as it arrives, so
/// [`Reader::offset`] is always the offset after the last emitted byte; a
/// caller that buffers emitted bytes uses [`Reader::adjusted_offset`].
///
/// After `Finished` every input is ignored: errors are sticky, and a
/// [`super::RetryReader`] restarts the machine when it decides to retry.
/// Inputs that do not fit the current phase (a frame while reading a
/// fragment, say) are ignored too.
#[derive(Debug, Clone)]
pub struct Reader {
    request: ReadRequest,
    phase: Phase,
    /// Status of the last frame (OK before any frame).
    status: i32,
    /// Header of the last frame (content frames have none).
    header: Option<Header>,
    /// Offset of the last frame.
    frame_offset: i64,
    /// Write head of the last metadata frame (content frames inherit it).
    write_head: i64,
    /// Fragment of the last metadata frame (content frames inherit it).
    fragment: Option<Fragment>,
    /// URL of the last frame (content frames have none).
    fragment_url: String,
    /// Frames received on the current stream.
    frames: u64,
    /// The current RPC was dispatched by the route cache
    /// ([`RouteHint::Journal`]).
    by_cache: bool,
    /// Journal offset of the next byte the direct source will feed.
    direct_pos: i64,
    outputs: VecDeque<ReadOutput>,
}

impl Reader {
    /// A reader of `request`. No RPC starts until the first poll.
    pub fn new(request: ReadRequest) -> Self {
        Reader {
            request,
            phase: Phase::Idle,
            status: Status::Ok as i32,
            header: None,
            frame_offset: 0,
            write_head: 0,
            fragment: None,
            fragment_url: String::new(),
            frames: 0,
            by_cache: false,
            direct_pos: 0,
            outputs: VecDeque::new(),
        }
    }

    /// The request: its offset is the journal offset of the next byte.
    pub fn request(&self) -> &ReadRequest {
        &self.request
    }

    /// The journal offset of the next byte to be emitted.
    pub fn offset(&self) -> i64 {
        self.request.offset
    }

    /// The journal being read, as requested.
    pub fn journal(&self) -> &str {
        &self.request.journal
    }

    /// Write head of the last metadata frame (content frames inherit it).
    pub fn write_head(&self) -> i64 {
        self.write_head
    }

    /// Fragment of the last metadata frame: the fragment the content being
    /// emitted belongs to.
    pub fn fragment(&self) -> Option<&Fragment> {
        self.fragment.as_ref()
    }

    /// Header of the last frame received, if it had one.
    pub fn header(&self) -> Option<&Header> {
        self.header.as_ref()
    }

    /// Offset of the last frame received (0 before any frame): the resolved
    /// offset of a metadata frame, or where a content frame starts.
    pub fn frame_offset(&self) -> i64 {
        self.frame_offset
    }

    /// Status number of the last frame received (OK before any frame).
    pub fn last_status(&self) -> i32 {
        self.status
    }

    /// Number of frames the current stream delivered.
    pub fn frames_received(&self) -> u64 {
        self.frames
    }

    /// True once `Finished` was emitted.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// True while the fragment is being read directly (or being opened).
    pub fn is_direct(&self) -> bool {
        matches!(self.phase, Phase::Opening | Phase::Direct)
    }

    /// True when the request has an `end_offset` and reading reached it.
    pub fn reached_end_offset(&self) -> bool {
        self.request.end_offset != 0 && self.request.offset >= self.request.end_offset
    }

    /// The offset of the next byte the *caller* will consume, when
    /// `buffered` emitted bytes still sit unread in the caller's buffers
    /// (Go: `AdjustedOffset`).
    pub fn adjusted_offset(&self, buffered: u64) -> i64 {
        self.request.offset - buffered as i64
    }

    /// Switches blocking on or off; it applies from the next RPC start.
    pub fn set_block(&mut self, block: bool) {
        self.request.block = block;
    }

    /// The next output, starting the RPC if nothing started yet. An invalid
    /// request (see [`crate::validate::validate_read_request`]) starts
    /// nothing: it finishes with [`ReadError::InvalidRequest`].
    pub fn poll_output(&mut self) -> Option<ReadOutput> {
        if self.phase == Phase::Idle {
            self.start();
        }
        self.outputs.pop_front()
    }

    /// Feeds one driver event.
    pub fn handle(&mut self, input: ReadInput) {
        match input {
            ReadInput::RpcStarted => {
                if self.phase == Phase::Starting {
                    self.phase = Phase::Streaming;
                }
            }
            ReadInput::RpcStartFailed(err) => {
                if self.phase == Phase::Starting {
                    self.rpc_failed(err);
                }
            }
            ReadInput::Frame(frame) => self.on_frame(frame),
            ReadInput::RpcClosed => self.on_closed(),
            ReadInput::RpcFailed(err) => {
                if self.is_streaming() {
                    self.rpc_failed(err);
                }
            }
            ReadInput::DirectOpened => {
                if self.phase == Phase::Opening {
                    self.phase = Phase::Direct;
                }
            }
            ReadInput::DirectOpenFailed(err) => {
                if self.phase == Phase::Opening {
                    self.finish(Err(err.into()));
                }
            }
            ReadInput::DirectContent(content) => self.on_direct_content(content),
            ReadInput::DirectEnd => self.on_direct_end(),
            ReadInput::DirectFailed(err) => {
                if self.is_direct() {
                    self.leave_direct_with(Err(err.into()));
                }
            }
            ReadInput::Cancel => self.abort(ReadError::Cancelled),
            ReadInput::DeadlineExceeded => self.abort(ReadError::DeadlineExceeded),
        }
    }

    /// Limited seek (Go: `Reader.Seek`). Succeeds without any RPC when
    /// `target` is the current offset, when nothing started yet, or when a
    /// fragment is read directly and `target` lies ahead within it (up to
    /// and including `fragment.end`, and not past `end_offset`): the bytes in
    /// between are discarded as the driver feeds them. Otherwise the caller
    /// needs a new reader at `target`. Go refuses more of these seeks
    /// (docs/go-differences.md#d6).
    pub fn seek(&mut self, target: i64) -> Result<i64, SeekError> {
        if target == self.request.offset {
            return Ok(target);
        }
        match self.phase {
            Phase::Idle => {
                self.request.offset = target;
                return Ok(target);
            }
            Phase::Opening | Phase::Direct => {}
            _ => return Err(SeekError::RequiresNewReader),
        }
        let fragment_end = self.fragment.as_ref().map_or(i64::MIN, |f| f.end);
        let past_end = self.request.end_offset != 0 && target > self.request.end_offset;
        if target < self.request.offset || target > fragment_end || past_end {
            return Err(SeekError::RequiresNewReader);
        }
        self.request.offset = target;
        if self.reached_end_offset() {
            self.leave_direct_with(Ok(()));
        }
        Ok(target)
    }

    /// Restarts a finished reader for a new RPC at its current offset,
    /// keeping the request and the last frame's header (which routes the
    /// next RPC), as Go's RetryReader does.
    pub(crate) fn restart(&mut self) {
        self.phase = Phase::Idle;
        self.frames = 0;
        self.outputs.clear();
    }

    /// Abandons the reader in whatever phase it is, returning the action
    /// that releases its RPC or fragment source, if one is active.
    pub(crate) fn abandon(&mut self) -> Option<ReadAction> {
        let action = match self.phase {
            Phase::Starting | Phase::Streaming => Some(ReadAction::CancelRpc),
            Phase::Opening | Phase::Direct => Some(ReadAction::CloseDirect),
            Phase::Idle | Phase::Finished => None,
        };
        self.phase = Phase::Finished;
        self.outputs.clear();
        action
    }

    fn is_streaming(&self) -> bool {
        matches!(self.phase, Phase::Starting | Phase::Streaming)
    }

    fn start(&mut self) {
        // Checked before every RPC: seeks may have moved the offset.
        if let Err(err) = crate::validate::validate_read_request(&self.request) {
            self.finish(Err(ReadError::InvalidRequest(err)));
            return;
        }
        let route = match &self.header {
            Some(h) => RouteHint::Route(h.route.clone().unwrap_or_default()),
            None => RouteHint::Journal(self.request.journal.clone()),
        };
        self.by_cache = matches!(route, RouteHint::Journal(_));
        // Forget the previous stream's last frame (Go clears its response).
        self.status = Status::Ok as i32;
        self.header = None;
        self.frame_offset = 0;
        self.write_head = 0;
        self.fragment = None;
        self.fragment_url.clear();
        self.phase = Phase::Starting;
        self.outputs
            .push_back(ReadOutput::Action(ReadAction::StartRpc {
                request: self.request.clone(),
                route,
            }));
    }

    /// The RPC failed to start or broke. An unavailable broker invalidates
    /// the cached route the RPC was dispatched by, whether it failed at the
    /// start or mid-stream, as Go's dispatcher does when any RPC of an item
    /// ends with Unavailable; the next RPC then goes where the cache's
    /// fallback (the service address) leads.
    fn rpc_failed(&mut self, err: TransportError) {
        if self.by_cache && matches!(err, TransportError::Unavailable(_)) {
            self.push_action(ReadAction::UpdateRoute {
                journal: self.request.journal.clone(),
                update: RouteUpdate::Invalidate,
            });
        }
        self.finish(Err(err.into()));
    }

    fn on_frame(&mut self, frame: ReadResponse) {
        if !self.is_streaming() {
            return;
        }
        self.phase = Phase::Streaming;
        if let Err(err) =
            validate_frame(&frame).and_then(|()| check_frame_offset(&frame, self.request.offset))
        {
            // Go leaves the stream open here (quirk 4); cancel it
            // (docs/go-differences.md#d5).
            self.push_action(ReadAction::CancelRpc);
            self.finish(Err(err.into()));
            return;
        }
        self.frames += 1;

        if let Some(h) = &frame.header {
            let update = RouteUpdate::new(h.route.clone());
            let journal = self.request.journal.clone();
            self.push_action(ReadAction::UpdateRoute { journal, update });
        }

        let ok = frame.status == Status::Ok as i32;
        // Only OK and OFFSET_NOT_YET_AVAILABLE frames carry a resolved offset;
        // other status frames carry 0 (quirk 1: Go moves a −1 request to 0;
        // docs/go-differences.md#d1).
        let carries_offset = ok || frame.status == Status::OffsetNotYetAvailable as i32;
        let mut jump = None;
        if carries_offset && self.request.offset < frame.offset {
            jump = Some((self.request.offset, frame.offset));
            self.request.offset = frame.offset;
        }
        self.status = frame.status;
        self.frame_offset = frame.offset;

        if !frame.content.is_empty() {
            // A content frame: fragment and write head carry over.
            self.header = None;
            self.fragment_url.clear();
            if let Some((from, to)) = jump {
                self.outputs
                    .push_back(ReadOutput::Event(ReadEvent::OffsetJump { from, to }));
            }
            self.deliver(frame.content);
            return;
        }
        self.header = frame.header;
        self.write_head = frame.write_head;
        self.fragment = frame.fragment;
        self.fragment_url = frame.fragment_url;
        if let Some((from, to)) = jump {
            // Go drops the jump of an OFFSET_NOT_YET_AVAILABLE frame silently;
            // the caller would then skip content unknowingly, so report it
            // (docs/go-differences.md#d2).
            self.outputs
                .push_back(ReadOutput::Event(ReadEvent::OffsetJump { from, to }));
        }
        if ok {
            self.outputs
                .push_back(ReadOutput::Event(ReadEvent::Metadata(Metadata {
                    offset: frame.offset,
                    write_head: self.write_head,
                    fragment: self.fragment.clone(),
                })));
        }
        // A non-OK frame is always followed by the stream's close, which
        // decides the outcome.
    }

    fn on_closed(&mut self) {
        if !self.is_streaming() {
            return;
        }
        let ok = self.status == Status::Ok as i32;
        if ok && !self.request.metadata_only && !self.fragment_url.is_empty() {
            if self.reached_end_offset() {
                // Nothing of the fragment is wanted: do not open it.
                self.finish(Ok(()));
                return;
            }
            if let Some(fragment) = self.fragment.clone() {
                self.phase = Phase::Opening;
                self.direct_pos = self.request.offset;
                self.push_action(ReadAction::OpenFragment {
                    fragment,
                    offset: self.request.offset,
                    url: self.fragment_url.clone(),
                });
                return;
            }
        }
        match StatusError::from_status(Operation::Read, self.status, String::new) {
            None => self.finish(Ok(())),
            Some(err) => self.finish(Err(err.into())),
        }
    }

    fn on_direct_content(&mut self, mut content: Bytes) {
        if !self.is_direct() {
            return;
        }
        self.phase = Phase::Direct;
        let start = self.direct_pos;
        self.direct_pos = start.saturating_add(content.len() as i64);
        let fragment_end = self.fragment.as_ref().map_or(i64::MAX, |f| f.end);
        let overshoot = self.direct_pos > fragment_end;
        if overshoot {
            content.truncate((fragment_end - start).max(0) as usize);
        }
        // Bytes before the offset were skipped by a seek.
        let skip = (self.request.offset - start).clamp(0, content.len() as i64);
        let content = content.slice(skip as usize..);
        self.deliver(content);
        if overshoot && self.phase == Phase::Direct {
            self.leave_direct_with(Err(DirectError::DidNotReadExpectedEof.into()));
        }
    }

    fn on_direct_end(&mut self) {
        if !self.is_direct() {
            return;
        }
        let fragment_end = self.fragment.as_ref().map_or(self.direct_pos, |f| f.end);
        if self.direct_pos < fragment_end {
            self.leave_direct_with(Err(DirectError::UnexpectedEof.into()));
        } else {
            self.leave_direct_with(Ok(()));
        }
    }

    /// Emits `content` at the current offset, trimmed at `end_offset`, and
    /// finishes once `end_offset` is reached.
    fn deliver(&mut self, mut content: Bytes) {
        let end = self.request.end_offset;
        if end != 0 {
            let remain = end.saturating_sub(self.request.offset).max(0) as usize;
            if content.len() > remain {
                content.truncate(remain);
            }
        }
        if !content.is_empty() {
            let offset = self.request.offset;
            self.request.offset += content.len() as i64;
            self.outputs
                .push_back(ReadOutput::Event(ReadEvent::Content { offset, content }));
        }
        if self.reached_end_offset() {
            if self.is_direct() {
                self.leave_direct_with(Ok(()));
            } else {
                self.push_action(ReadAction::CancelRpc);
                self.finish(Ok(()));
            }
        }
    }

    fn leave_direct_with(&mut self, outcome: Result<(), ReadError>) {
        self.push_action(ReadAction::CloseDirect);
        self.finish(outcome);
    }

    fn abort(&mut self, err: ReadError) {
        match self.phase {
            Phase::Finished => return,
            Phase::Idle => {}
            Phase::Starting | Phase::Streaming => self.push_action(ReadAction::CancelRpc),
            Phase::Opening | Phase::Direct => self.push_action(ReadAction::CloseDirect),
        }
        self.finish(Err(err));
    }

    fn push_action(&mut self, action: ReadAction) {
        self.outputs.push_back(ReadOutput::Action(action));
    }

    fn finish(&mut self, outcome: Result<(), ReadError>) {
        self.phase = Phase::Finished;
        self.outputs.push_back(ReadOutput::Finished(outcome));
    }
}

fn fmt_fragment(f: &mut fmt::Formatter<'_>, fragment: Option<&Fragment>) -> fmt::Result {
    match fragment {
        Some(fr) => write!(f, "{}[{}, {})", fr.journal, fr.begin, fr.end),
        None => write!(f, "none"),
    }
}

fn fmt_route(f: &mut fmt::Formatter<'_>, route: &Route) -> fmt::Result {
    let members: Vec<String> = route
        .members
        .iter()
        .map(|m| format!("{}/{}", m.zone, m.suffix))
        .collect();
    write!(f, "[{}] primary={}", members.join(" "), route.primary)
}

impl fmt::Display for ReadAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadAction::StartRpc { request: r, route } => {
                write!(
                    f,
                    "StartRpc {} offset={} end={} block={} do_not_proxy={} metadata_only={} via ",
                    r.journal, r.offset, r.end_offset, r.block, r.do_not_proxy, r.metadata_only
                )?;
                match route {
                    RouteHint::Journal(j) => write!(f, "cache({j})"),
                    RouteHint::Route(route) => fmt_route(f, route),
                }
            }
            ReadAction::CancelRpc => write!(f, "CancelRpc"),
            ReadAction::UpdateRoute { journal, update } => {
                write!(f, "UpdateRoute {journal} ")?;
                match update {
                    RouteUpdate::Store(route) => fmt_route(f, route),
                    RouteUpdate::Invalidate => write!(f, "invalidate"),
                }
            }
            ReadAction::OpenFragment {
                fragment,
                offset,
                url,
            } => {
                write!(f, "OpenFragment ")?;
                fmt_fragment(f, Some(fragment))?;
                write!(f, " offset={offset} url={url}")
            }
            ReadAction::CloseDirect => write!(f, "CloseDirect"),
        }
    }
}

impl fmt::Display for ReadEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadEvent::Metadata(m) => {
                write!(
                    f,
                    "Metadata offset={} write_head={} fragment=",
                    m.offset, m.write_head
                )?;
                fmt_fragment(f, m.fragment.as_ref())
            }
            ReadEvent::OffsetJump { from, to } => write!(f, "OffsetJump {from} -> {to}"),
            ReadEvent::Content { offset, content } => {
                write!(
                    f,
                    "Content @{offset} {:?}",
                    String::from_utf8_lossy(content)
                )
            }
        }
    }
}

impl fmt::Display for ReadOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadOutput::Action(a) => a.fmt(f),
            ReadOutput::Event(e) => e.fmt(f),
            ReadOutput::Finished(Ok(())) => write!(f, "Finished EOF"),
            ReadOutput::Finished(Err(e)) => write!(f, "Finished error: {e}"),
        }
    }
}

impl fmt::Display for ReadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadInput::RpcStarted => write!(f, "RpcStarted"),
            ReadInput::RpcStartFailed(e) => write!(f, "RpcStartFailed {e}"),
            ReadInput::Frame(fr) if !fr.content.is_empty() => write!(
                f,
                "Frame content @{} {:?}",
                fr.offset,
                String::from_utf8_lossy(&fr.content)
            ),
            ReadInput::Frame(fr) => {
                write!(
                    f,
                    "Frame {} offset={} write_head={} fragment=",
                    crate::status::status_name(fr.status),
                    fr.offset,
                    fr.write_head
                )?;
                fmt_fragment(f, fr.fragment.as_ref())?;
                if !fr.fragment_url.is_empty() {
                    write!(f, " url={}", fr.fragment_url)?;
                }
                if fr.header.is_some() {
                    write!(f, " +header")?;
                }
                Ok(())
            }
            ReadInput::RpcClosed => write!(f, "RpcClosed"),
            ReadInput::RpcFailed(e) => write!(f, "RpcFailed {e}"),
            ReadInput::DirectOpened => write!(f, "DirectOpened"),
            ReadInput::DirectOpenFailed(e) => write!(f, "DirectOpenFailed {e}"),
            ReadInput::DirectContent(c) => {
                write!(f, "DirectContent {:?}", String::from_utf8_lossy(c))
            }
            ReadInput::DirectEnd => write!(f, "DirectEnd"),
            ReadInput::DirectFailed(e) => write!(f, "DirectFailed {e}"),
            ReadInput::Cancel => write!(f, "Cancel"),
            ReadInput::DeadlineExceeded => write!(f, "DeadlineExceeded"),
        }
    }
}
