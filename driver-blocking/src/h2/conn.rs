//! The sans-IO HTTP/2 client connection, specialised for gRPC.
//!
//! Bytes read from the socket go in through [`Connection::handle_input`],
//! calls go in through [`Connection::open_stream`],
//! [`Connection::send_message`], [`Connection::half_close`],
//! [`Connection::reset`] and [`Connection::release`], time goes in through
//! [`Connection::handle_timeout`]. Out come bytes to write
//! ([`Connection::poll_transmit`]), [`Event`]s ([`Connection::poll_event`])
//! and the next instant the machine wants to be woken at
//! ([`Connection::poll_timeout`]). The machine never reads a clock and
//! never touches a socket. The contract, flow-control choices and limits
//! are written up in docs/blocking-transport.md.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use loona_hpack::{Decoder, Encoder};

use super::frame::{self, Frame, FrameError, Reason, setting};
use super::grpc::{self, MessageDecoder, MessageError};

/// Identifies one stream (one call) of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u32);

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stream {}", self.0)
    }
}

/// The shortest keepalive interval we use: Gazette brokers (gRPC-Go's
/// default enforcement policy) close connections that ping more often.
pub const MIN_KEEPALIVE: Duration = Duration::from_secs(5 * 60);

/// The HPACK dynamic table size we decode with (the protocol's default; we
/// never advertise another).
const HPACK_TABLE: usize = 4096;

/// Opaque data of our keepalive PINGs.
const KEEPALIVE_PING: [u8; 8] = *b"gzkeepal";

/// Soft cap on the bytes of DATA produced by one [`Connection::poll_transmit`].
const TRANSMIT_CHUNK: usize = 256 << 10;

/// Unwritten output beyond which a PING or SETTINGS (each wanting an
/// answer) is a flood: the broker sends them faster than it reads.
const MAX_UNWRITTEN: usize = 4 << 20;

/// Settings of one connection.
#[derive(Debug, Clone)]
pub struct Config {
    /// `:authority` of every request (host and port).
    pub authority: String,
    /// `:scheme` of every request: `http` (h2c) or `https`.
    pub scheme: &'static str,
    /// Our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE).
    pub stream_window: u32,
    /// Our receive window for the whole connection.
    pub connection_window: u32,
    /// The largest frame payload we accept (SETTINGS_MAX_FRAME_SIZE).
    pub max_frame_size: u32,
    /// The largest header block we accept, compressed, HEADERS and
    /// CONTINUATION together (also advertised as
    /// SETTINGS_MAX_HEADER_LIST_SIZE).
    pub max_header_block: u32,
    /// The largest gRPC message we accept.
    pub max_receive_message: usize,
    /// Buffered outgoing bytes per stream beyond which the stream stops
    /// being [writable](Connection::is_writable).
    pub send_buffer: usize,
    /// Ping the broker this often while calls are open (`None`: never).
    /// Raised to [`MIN_KEEPALIVE`] if shorter.
    pub keepalive: Option<Duration>,
    /// How long a keepalive PING may go unanswered before the connection
    /// is declared dead.
    pub keepalive_timeout: Duration,
}

impl Config {
    /// Defaults for `authority` over h2c: 2 MiB stream and 8 MiB
    /// connection windows, 16 MiB messages, no keepalive.
    pub fn new(authority: impl Into<String>) -> Self {
        Self {
            authority: authority.into(),
            scheme: "http",
            stream_window: 2 << 20,
            connection_window: 8 << 20,
            max_frame_size: 1 << 20,
            max_header_block: 1 << 20,
            max_receive_message: grpc::MAX_RECEIVE_MESSAGE,
            send_buffer: 1 << 20,
            keepalive: None,
            keepalive_timeout: Duration::from_secs(20),
        }
    }
}

/// One request: a gRPC method and its metadata.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `:path`, e.g. `/protocol.Journal/Append`.
    pub path: String,
    /// Sent as `grpc-timeout`.
    pub timeout: Option<Duration>,
    /// Extra metadata (lowercase names), e.g. `authorization`.
    pub metadata: Vec<(String, String)>,
}

impl Request {
    /// A request of method `path` with no timeout and no metadata.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            ..Self::default()
        }
    }
}

/// Response headers or trailers, pseudo-headers removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata(pub Vec<(String, Vec<u8>)>);

impl Metadata {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// The outcome of a call that the broker answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// gRPC status code (0: OK).
    pub code: u32,
    /// Percent-decoded `grpc-message`.
    pub message: String,
    /// The trailers (or the headers of a trailers-only answer).
    pub metadata: Metadata,
}

/// What the machine reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Response headers of a gRPC answer.
    Headers {
        /// The call.
        stream: StreamId,
        /// Its headers.
        metadata: Metadata,
    },
    /// One whole response message. Its bytes hold flow-control credit
    /// until [`Connection::release`]d.
    Message {
        /// The call.
        stream: StreamId,
        /// The message, without its 5-byte prefix.
        message: Bytes,
    },
    /// The call ended with a status (trailers, a trailers-only answer, or
    /// an HTTP answer that is not gRPC, mapped to a status).
    End {
        /// The call.
        stream: StreamId,
        /// Its status.
        status: Status,
    },
    /// The call failed without a status.
    Reset {
        /// The call.
        stream: StreamId,
        /// Why.
        error: StreamError,
    },
    /// A stream that was not [writable](Connection::is_writable) is again.
    WindowAvailable {
        /// The call.
        stream: StreamId,
    },
    /// The broker is going away: calls above `last_stream` failed (as
    /// [`StreamError::GoAway`]), the others may finish, no call opens.
    GoAway {
        /// Highest stream the broker may process.
        last_stream: StreamId,
        /// Its error code.
        reason: Reason,
        /// Its debug data.
        debug: Bytes,
    },
    /// The connection failed; every call on it was reset before this.
    Closed {
        /// Why.
        error: ConnectionError,
    },
}

/// A broker's violation of HTTP/2 or gRPC that we detected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The server preface did not start with SETTINGS.
    #[error("the server preface is not a SETTINGS frame")]
    PrefaceNotSettings,
    /// A frame other than CONTINUATION interrupted a header block.
    #[error("header block of stream {stream} interrupted by another frame")]
    ContinuationExpected {
        /// Stream of the unfinished block.
        stream: u32,
    },
    /// A CONTINUATION with no header block open.
    #[error("CONTINUATION without a header block on stream {stream}")]
    UnexpectedContinuation {
        /// Its stream.
        stream: u32,
    },
    /// A header block larger than we accept.
    #[error("header block of more than {limit} bytes")]
    HeaderBlockTooLarge {
        /// Our limit.
        limit: u32,
    },
    /// A frame on a stream we never opened.
    #[error("{kind} frame on stream {stream}, which we never opened")]
    IdleStream {
        /// Frame type.
        kind: &'static str,
        /// The stream.
        stream: u32,
    },
    /// A PUSH_PROMISE, though we disabled push.
    #[error("PUSH_PROMISE received with push disabled")]
    PushPromise,
    /// A SETTINGS parameter with an invalid value.
    #[error("invalid SETTINGS parameter {id:#x} = {value}")]
    BadSetting {
        /// Parameter id.
        id: u16,
        /// Its value.
        value: u32,
    },
    /// A WINDOW_UPDATE of 0.
    #[error("WINDOW_UPDATE of 0 on stream {stream}")]
    ZeroWindowIncrement {
        /// The stream (0: the connection).
        stream: u32,
    },
    /// A window grown beyond 2^31 - 1.
    #[error("flow-control window of stream {stream} overflowed")]
    WindowOverflow {
        /// The stream (0: the connection).
        stream: u32,
    },
    /// DATA beyond the window we granted.
    #[error("{len} bytes of DATA on stream {stream} exceed its window of {window}")]
    FlowControl {
        /// The stream (0: the connection's window).
        stream: u32,
        /// Bytes received.
        len: u32,
        /// Window left.
        window: i64,
    },
    /// DATA before the response headers.
    #[error("DATA before the response headers")]
    DataBeforeHeaders,
    /// A second header block without END_STREAM.
    #[error("trailers without END_STREAM")]
    TrailersWithoutEndStream,
    /// Response headers without a valid `:status`.
    #[error("response without a valid :status")]
    MissingStatus,
    /// A header list that decodes to more than we accept.
    #[error("header list decodes to more than {limit} bytes")]
    HeaderListTooLarge {
        /// Our limit.
        limit: u32,
    },
    /// Frames that demand answers (PING, SETTINGS) faster than our answers
    /// can be written.
    #[error("more than {limit} bytes of answers to control frames are unwritten")]
    ControlFlood {
        /// Our limit.
        limit: usize,
    },
}

impl ProtocolError {
    /// The error code we report it with.
    pub fn reason(&self) -> Reason {
        match self {
            ProtocolError::WindowOverflow { .. } | ProtocolError::FlowControl { .. } => {
                Reason::FLOW_CONTROL_ERROR
            }
            _ => Reason::PROTOCOL_ERROR,
        }
    }
}

/// Why a connection failed. Every call on it fails with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// A frame could not be decoded.
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    /// The broker broke the protocol; we sent GOAWAY.
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    /// A header block failed HPACK decoding.
    #[error("HPACK decoding failed: {0}")]
    Compression(String),
    /// A keepalive PING went unanswered.
    #[error("keepalive PING unanswered for {0:?}")]
    KeepaliveTimeout(Duration),
    /// The transport saw the connection end (EOF or an IO error).
    #[error("connection closed: {0}")]
    Closed(String),
}

/// Why one call failed without a gRPC status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The broker reset the stream.
    #[error("stream reset by the broker: {reason}")]
    Reset {
        /// Its error code.
        reason: Reason,
    },
    /// The broker refused the stream (REFUSED_STREAM) before processing
    /// it: safe to retry.
    #[error("stream refused by the broker before processing")]
    Refused,
    /// The broker went away before processing the stream: safe to retry.
    #[error("broker went away ({reason}) before processing the stream")]
    GoAway {
        /// The GOAWAY's error code.
        reason: Reason,
    },
    /// The broker broke the protocol on this stream; we reset it.
    #[error("protocol violation: {0}")]
    Protocol(ProtocolError),
    /// A response message could not be framed; we reset the stream.
    #[error("bad response message: {0}")]
    Message(#[from] MessageError),
    /// The connection failed.
    #[error("{0}")]
    Connection(ConnectionError),
}

impl StreamError {
    /// Whether the broker certainly did not process the call, so it can be
    /// sent again (REFUSED_STREAM, or above a GOAWAY's last stream).
    pub fn is_unprocessed(&self) -> bool {
        matches!(self, StreamError::Refused | StreamError::GoAway { .. })
    }
}

/// A call that could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The connection failed.
    #[error("{0}")]
    Closed(ConnectionError),
    /// The broker sent GOAWAY: open the call on a new connection.
    #[error("connection is going away")]
    GoingAway,
    /// All client stream ids are used: open a new connection.
    #[error("stream ids exhausted")]
    StreamIdsExhausted,
    /// A metadata name or value that HTTP/2 cannot carry.
    #[error("invalid metadata {name:?}")]
    InvalidMetadata {
        /// The name.
        name: String,
    },
}

/// A send on a stream that no longer accepts one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The stream ended (status, reset or local reset) or never existed.
    #[error("{0} is closed")]
    StreamClosed(StreamId),
    /// The stream was half-closed already.
    #[error("{0} was half-closed")]
    HalfClosed(StreamId),
}

#[derive(Debug, PartialEq, Eq)]
enum Recv {
    AwaitHeaders,
    Body,
}

#[derive(Debug)]
struct Stream {
    /// Encoded request headers, until the stream may open.
    queued_headers: Option<Vec<(Vec<u8>, Vec<u8>)>>,
    send_window: i64,
    send_buf: VecDeque<Bytes>,
    send_len: usize,
    close_requested: bool,
    end_sent: bool,
    /// Not writable; report [`Event::WindowAvailable`] when it is again.
    blocked: bool,
    recv: Recv,
    /// Window left for the broker.
    recv_window: i64,
    /// Credit released but not yet granted with WINDOW_UPDATE.
    recv_pending: u32,
    decoder: MessageDecoder,
    /// Offsets into the stream's DATA (padding excluded): bytes pushed into
    /// the decoder, bytes framed into messages, bytes credited or held.
    pushed: u64,
    framed: u64,
    credited: u64,
    /// Bytes of delivered messages not yet released.
    held: u64,
}

/// The HTTP/2 client connection machine. See the [module docs](self).
pub struct Connection {
    config: Config,
    recv_buf: BytesMut,
    got_settings: bool,
    out: BytesMut,
    encoder: Encoder<'static>,
    decoder: Decoder<'static>,
    encoder_table: usize,
    table_update: Option<usize>,
    peer_max_frame: u32,
    peer_initial_window: u32,
    peer_max_streams: u32,
    send_window: i64,
    recv_window: i64,
    recv_pending: u32,
    streams: BTreeMap<u32, Stream>,
    queued: VecDeque<u32>,
    /// Streams whose HEADERS went out and which are not closed.
    active: usize,
    next_id: u32,
    /// Highest stream id whose HEADERS went out.
    highest_opened: u32,
    /// An unfinished header block: stream, END_STREAM, fragments so far.
    continuation: Option<(u32, bool, BytesMut)>,
    events: VecDeque<Event>,
    going_away: bool,
    closed: Option<ConnectionError>,
    next_ping: Option<Instant>,
    ping_deadline: Option<Instant>,
    round_robin: u32,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("authority", &self.config.authority)
            .field("streams", &self.streams.len())
            .field("active", &self.active)
            .field("going_away", &self.going_away)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection whose client preface, SETTINGS and connection
    /// WINDOW_UPDATE are ready to [transmit](Self::poll_transmit).
    pub fn new(config: Config, now: Instant) -> Self {
        let mut decoder = Decoder::new();
        decoder.set_max_allowed_table_size(HPACK_TABLE);
        let mut out = BytesMut::with_capacity(1024);
        out.extend_from_slice(frame::PREFACE);
        frame::encode(
            &Frame::Settings {
                ack: false,
                params: vec![
                    (setting::ENABLE_PUSH, 0),
                    (setting::INITIAL_WINDOW_SIZE, config.stream_window),
                    (setting::MAX_FRAME_SIZE, config.max_frame_size),
                    (setting::MAX_HEADER_LIST_SIZE, config.max_header_block),
                ],
            },
            &mut out,
        );
        let conn_grow = config
            .connection_window
            .saturating_sub(frame::DEFAULT_WINDOW);
        if conn_grow > 0 {
            frame::encode(
                &Frame::WindowUpdate {
                    stream: 0,
                    increment: conn_grow,
                },
                &mut out,
            );
        }
        let keepalive = config.keepalive.map(|k| k.max(MIN_KEEPALIVE));
        let recv_window = i64::from(config.connection_window.max(frame::DEFAULT_WINDOW));
        Self {
            next_ping: keepalive.map(|k| now + k),
            config: Config {
                keepalive,
                ..config
            },
            recv_buf: BytesMut::new(),
            got_settings: false,
            out,
            encoder: Encoder::new(),
            decoder,
            encoder_table: HPACK_TABLE,
            table_update: None,
            peer_max_frame: frame::DEFAULT_MAX_FRAME_SIZE,
            peer_initial_window: frame::DEFAULT_WINDOW,
            peer_max_streams: u32::MAX,
            send_window: i64::from(frame::DEFAULT_WINDOW),
            recv_window,
            recv_pending: 0,
            streams: BTreeMap::new(),
            queued: VecDeque::new(),
            active: 0,
            next_id: 1,
            highest_opened: 0,
            continuation: None,
            events: VecDeque::new(),
            going_away: false,
            closed: None,
            ping_deadline: None,
            round_robin: 0,
        }
    }

    /// The connection's failure, once it failed.
    pub fn error(&self) -> Option<&ConnectionError> {
        self.closed.as_ref()
    }

    /// Whether new calls may open here (not failed, no GOAWAY).
    pub fn is_open(&self) -> bool {
        self.closed.is_none() && !self.going_away
    }

    /// Streams not yet ended, queued ones included.
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Whether `stream` takes more messages without exceeding its send
    /// buffer ([`Config::send_buffer`]). Unknown streams are not writable.
    pub fn is_writable(&self, stream: StreamId) -> bool {
        self.streams
            .get(&stream.0)
            .is_some_and(|s| s.send_len < self.config.send_buffer)
    }

    /// Whether `stream` exists (neither ended nor reset).
    pub fn contains(&self, stream: StreamId) -> bool {
        self.streams.contains_key(&stream.0)
    }

    /// Opens a call. Its HEADERS go out at once, or once the broker's
    /// SETTINGS_MAX_CONCURRENT_STREAMS leaves room.
    pub fn open_stream(&mut self, request: &Request) -> Result<StreamId, OpenError> {
        if let Some(err) = &self.closed {
            return Err(OpenError::Closed(err.clone()));
        }
        if self.going_away {
            return Err(OpenError::GoingAway);
        }
        if self.next_id > frame::MAX_WINDOW {
            return Err(OpenError::StreamIdsExhausted);
        }
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b":method".to_vec(), b"POST".to_vec()),
            (b":scheme".to_vec(), self.config.scheme.as_bytes().to_vec()),
            (b":path".to_vec(), request.path.as_bytes().to_vec()),
            (
                b":authority".to_vec(),
                self.config.authority.as_bytes().to_vec(),
            ),
            (b"content-type".to_vec(), b"application/grpc".to_vec()),
            (b"te".to_vec(), b"trailers".to_vec()),
        ];
        if let Some(timeout) = request.timeout {
            headers.push((
                b"grpc-timeout".to_vec(),
                grpc::encode_timeout(timeout).into_bytes(),
            ));
        }
        for (name, value) in &request.metadata {
            if !valid_name(name) || !valid_value(value.as_bytes()) {
                return Err(OpenError::InvalidMetadata { name: name.clone() });
            }
            headers.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        }
        let id = self.next_id;
        self.next_id += 2;
        self.streams.insert(
            id,
            Stream {
                queued_headers: Some(headers),
                send_window: i64::from(self.peer_initial_window),
                send_buf: VecDeque::new(),
                send_len: 0,
                close_requested: false,
                end_sent: false,
                blocked: false,
                recv: Recv::AwaitHeaders,
                recv_window: i64::from(self.config.stream_window),
                recv_pending: 0,
                decoder: MessageDecoder::new(self.config.max_receive_message),
                pushed: 0,
                framed: 0,
                credited: 0,
                held: 0,
            },
        );
        self.queued.push_back(id);
        self.open_queued();
        Ok(StreamId(id))
    }

    /// Queues one request message (it is framed with its 5-byte prefix).
    /// Always buffered; the caller keeps the buffer bounded by waiting
    /// while the stream is not [writable](Self::is_writable).
    pub fn send_message(&mut self, stream: StreamId, message: Bytes) -> Result<(), SendError> {
        let limit = self.config.send_buffer;
        let s = self
            .streams
            .get_mut(&stream.0)
            .ok_or(SendError::StreamClosed(stream))?;
        if s.close_requested {
            return Err(SendError::HalfClosed(stream));
        }
        let mut prefix = BytesMut::with_capacity(grpc::PREFIX_LEN);
        grpc::encode_prefix(message.len(), &mut prefix);
        s.send_len += grpc::PREFIX_LEN + message.len();
        s.send_buf.push_back(prefix.freeze());
        if !message.is_empty() {
            s.send_buf.push_back(message);
        }
        if s.send_len >= limit {
            s.blocked = true;
        }
        Ok(())
    }

    /// Ends the request side (END_STREAM after the buffered messages).
    pub fn half_close(&mut self, stream: StreamId) -> Result<(), SendError> {
        let s = self
            .streams
            .get_mut(&stream.0)
            .ok_or(SendError::StreamClosed(stream))?;
        s.close_requested = true;
        Ok(())
    }

    /// Abandons a call (RST_STREAM CANCEL if it was opened). No event
    /// follows for it. Unknown streams are ignored.
    pub fn reset(&mut self, stream: StreamId) {
        if self.closed.is_some() {
            return;
        }
        if self.streams.contains_key(&stream.0) {
            self.close_stream(stream.0, Some(Reason::CANCEL));
        }
    }

    /// Returns flow-control credit for `n` bytes of delivered messages of
    /// `stream` (call it as messages are consumed). Credit of ended streams
    /// went back when they ended, so releasing on them does nothing.
    pub fn release(&mut self, stream: StreamId, n: usize) {
        let Some(s) = self.streams.get_mut(&stream.0) else {
            return;
        };
        let n = (n as u64).min(s.held);
        s.held -= n;
        self.credit(stream.0, n);
    }

    /// Feeds bytes read from the socket. On a connection error the
    /// machine has queued GOAWAY, reset every stream and reported
    /// [`Event::Closed`]; it returns the error then and on every later call.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<(), ConnectionError> {
        if let Some(err) = &self.closed {
            return Err(err.clone());
        }
        self.recv_buf.extend_from_slice(input);
        loop {
            let frame = match frame::decode(&mut self.recv_buf, self.config.max_frame_size) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(err) => {
                    let reason = err.reason();
                    return Err(self.fail(ConnectionError::Frame(err), Some(reason)));
                }
            };
            if let Err((err, reason)) = self.handle_frame(frame) {
                return Err(self.fail(err, reason));
            }
        }
        self.open_queued();
        Ok(())
    }

    /// Reports the end of the byte stream (EOF or a read/write error).
    pub fn handle_close(&mut self, why: impl Into<String>) {
        if self.closed.is_none() {
            self.fail(ConnectionError::Closed(why.into()), None);
        }
    }

    /// Advances timers to `now`: keepalive PINGs and their deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        if let Some(deadline) = self.ping_deadline
            && now >= deadline
        {
            let err = ConnectionError::KeepaliveTimeout(self.config.keepalive_timeout);
            self.fail(err, Some(Reason::NO_ERROR));
            return;
        }
        if let (Some(at), Some(every)) = (self.next_ping, self.config.keepalive)
            && now >= at
        {
            self.next_ping = Some(now + every);
            // Only while calls are open: brokers count idle pings as abuse.
            if self.active > 0 && self.ping_deadline.is_none() {
                frame::encode(
                    &Frame::Ping {
                        ack: false,
                        data: KEEPALIVE_PING,
                    },
                    &mut self.out,
                );
                self.ping_deadline = Some(now + self.config.keepalive_timeout);
            }
        }
    }

    /// The next instant [`Self::handle_timeout`] has work at.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        match (self.next_ping, self.ping_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next report.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes to write to the socket, in order. `None`: nothing to write
    /// until the next input.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.closed.is_none() {
            self.write_data();
        }
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.split().freeze())
        }
    }

    // ---- internals ----

    fn fail(&mut self, err: ConnectionError, goaway: Option<Reason>) -> ConnectionError {
        if let Some(reason) = goaway {
            frame::encode(
                &Frame::GoAway {
                    last_stream: 0,
                    reason,
                    debug: Bytes::from(err.to_string()),
                },
                &mut self.out,
            );
        }
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            self.events.push_back(Event::Reset {
                stream: StreamId(id),
                error: StreamError::Connection(err.clone()),
            });
        }
        self.streams.clear();
        self.queued.clear();
        self.active = 0;
        self.events.push_back(Event::Closed { error: err.clone() });
        self.closed = Some(err.clone());
        err
    }

    /// Sends HEADERS of queued streams while the broker's concurrency
    /// limit allows.
    fn open_queued(&mut self) {
        // Not before the broker's SETTINGS told its concurrency limit, and
        // never after its GOAWAY.
        if self.closed.is_some() || !self.got_settings || self.going_away {
            return;
        }
        while (self.active as u64) < u64::from(self.peer_max_streams) {
            let Some(id) = self.queued.pop_front() else {
                break;
            };
            let Some(headers) = self
                .streams
                .get_mut(&id)
                .and_then(|s| s.queued_headers.take())
            else {
                continue;
            };
            let mut block = Vec::new();
            if let Some(size) = self.table_update.take() {
                // Dynamic table size update (RFC 7541 §6.3).
                let _ = loona_hpack::encoder::encode_integer_into(size, 5, 0x20, &mut block);
            }
            for (name, value) in &headers {
                if name == b"authorization" {
                    encode_never_indexed(name, value, &mut block);
                } else {
                    let _ = self.encoder.encode_header_into((name, value), &mut block);
                }
            }
            frame::encode_header_block(&mut self.out, id, &block, false, self.peer_max_frame);
            self.active += 1;
            self.highest_opened = id;
        }
    }

    /// Writes DATA of streams with buffered bytes and window, round robin.
    fn write_data(&mut self) {
        let limit = self.config.send_buffer;
        let max_frame = self.peer_max_frame as usize;
        let mut budget = TRANSMIT_CHUNK;
        loop {
            let mut progressed = false;
            let ids: Vec<u32> = self
                .streams
                .range(self.round_robin..)
                .chain(self.streams.range(..self.round_robin))
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                if budget == 0 {
                    return;
                }
                let Some(s) = self.streams.get_mut(&id) else {
                    continue;
                };
                if s.queued_headers.is_some() || s.end_sent {
                    continue;
                }
                let n = (s.send_len as i64)
                    .min(s.send_window)
                    .min(self.send_window)
                    .min(max_frame as i64)
                    .max(0) as usize;
                let end = s.close_requested && n == s.send_len;
                if n == 0 && !end {
                    continue;
                }
                frame::encode_data_header(&mut self.out, id, n, end);
                let mut left = n;
                while left > 0 {
                    let Some(front) = s.send_buf.front_mut() else {
                        break;
                    };
                    let take = left.min(front.len());
                    self.out.extend_from_slice(&front[..take]);
                    front.advance(take);
                    if front.is_empty() {
                        s.send_buf.pop_front();
                    }
                    left -= take;
                }
                s.send_len -= n;
                s.send_window -= n as i64;
                self.send_window -= n as i64;
                budget = budget.saturating_sub(n + frame::HEADER_LEN);
                if end {
                    s.end_sent = true;
                }
                if s.blocked && s.send_len < limit {
                    s.blocked = false;
                    self.events.push_back(Event::WindowAvailable {
                        stream: StreamId(id),
                    });
                }
                self.round_robin = id.wrapping_add(2);
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
    }

    /// Ends a stream: resets it when asked, returns its credit to the
    /// connection and frees a concurrency slot.
    fn close_stream(&mut self, id: u32, rst: Option<Reason>) {
        let Some(s) = self.streams.remove(&id) else {
            return;
        };
        let opened = s.queued_headers.is_none();
        if s.queued_headers.is_some() {
            self.queued.retain(|q| *q != id);
        } else {
            self.active -= 1;
        }
        if let (true, Some(reason)) = (opened, rst) {
            frame::encode(&Frame::RstStream { stream: id, reason }, &mut self.out);
        }
        // Credit of bytes the stream held returns to the connection only.
        // (Bytes credited to the stream but not yet granted went to the
        // connection's credit already.)
        let unreturned = s.held + (s.pushed - s.credited);
        self.credit_connection(unreturned);
        self.open_queued();
    }

    fn credit(&mut self, id: u32, n: u64) {
        if n == 0 {
            return;
        }
        let threshold = self.config.stream_window / 2;
        if let Some(s) = self.streams.get_mut(&id) {
            s.recv_pending = s.recv_pending.saturating_add(n as u32);
            if s.recv_pending >= threshold.max(1) {
                let increment = s.recv_pending;
                s.recv_pending = 0;
                s.recv_window += i64::from(increment);
                frame::encode(
                    &Frame::WindowUpdate {
                        stream: id,
                        increment,
                    },
                    &mut self.out,
                );
            }
        }
        self.credit_connection(n);
    }

    fn credit_connection(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        self.recv_pending = self.recv_pending.saturating_add(n as u32);
        if self.recv_pending >= (self.config.connection_window / 2).max(1) {
            let increment = self.recv_pending;
            self.recv_pending = 0;
            self.recv_window += i64::from(increment);
            frame::encode(
                &Frame::WindowUpdate {
                    stream: 0,
                    increment,
                },
                &mut self.out,
            );
        }
    }

    /// A stream error: reset the stream and report it.
    fn stream_error(&mut self, id: u32, error: StreamError, reason: Reason) {
        if self.streams.contains_key(&id) {
            self.close_stream(id, Some(reason));
            self.events.push_back(Event::Reset {
                stream: StreamId(id),
                error,
            });
        }
    }

    /// Whether `id` names a stream we never opened (even, or above the
    /// highest whose HEADERS went out).
    fn is_idle(&self, id: u32) -> bool {
        id.is_multiple_of(2) || id > self.highest_opened
    }

    fn handle_frame(&mut self, frame: Frame) -> Result<(), (ConnectionError, Option<Reason>)> {
        let proto = |e: ProtocolError| {
            let reason = e.reason();
            (ConnectionError::Protocol(e), Some(reason))
        };
        if !self.got_settings {
            if !matches!(frame, Frame::Settings { ack: false, .. }) {
                return Err(proto(ProtocolError::PrefaceNotSettings));
            }
            self.got_settings = true;
        }
        if let Some((stream, _, _)) = &self.continuation
            && !matches!(frame, Frame::Continuation { stream: s, .. } if s == *stream)
        {
            return Err(proto(ProtocolError::ContinuationExpected {
                stream: *stream,
            }));
        }
        if self.out.len() > MAX_UNWRITTEN
            && matches!(
                frame,
                Frame::Ping { ack: false, .. } | Frame::Settings { ack: false, .. }
            )
        {
            return Err((
                ConnectionError::Protocol(ProtocolError::ControlFlood {
                    limit: MAX_UNWRITTEN,
                }),
                Some(Reason::ENHANCE_YOUR_CALM),
            ));
        }
        match frame {
            Frame::Settings { ack: true, .. } => {}
            Frame::Settings { ack: false, params } => {
                for (id, value) in params {
                    self.apply_setting(id, value).map_err(proto)?;
                }
                frame::encode(
                    &Frame::Settings {
                        ack: true,
                        params: vec![],
                    },
                    &mut self.out,
                );
                // The limit may have grown (or become known).
                self.open_queued();
            }
            Frame::Ping { ack: false, data } => {
                frame::encode(&Frame::Ping { ack: true, data }, &mut self.out);
            }
            Frame::Ping { ack: true, data } => {
                if data == KEEPALIVE_PING {
                    self.ping_deadline = None;
                }
            }
            Frame::GoAway {
                last_stream,
                reason,
                debug,
            } => {
                self.going_away = true;
                let doomed: Vec<u32> = self
                    .streams
                    .iter()
                    .filter(|(id, s)| **id > last_stream || s.queued_headers.is_some())
                    .map(|(id, _)| *id)
                    .collect();
                for id in doomed {
                    // Unprocessed: no RST needed, the broker ignores them.
                    self.close_stream(id, None);
                    self.events.push_back(Event::Reset {
                        stream: StreamId(id),
                        error: StreamError::GoAway { reason },
                    });
                }
                self.events.push_back(Event::GoAway {
                    last_stream: StreamId(last_stream),
                    reason,
                    debug,
                });
            }
            Frame::WindowUpdate {
                stream: 0,
                increment,
            } => {
                if increment == 0 {
                    return Err(proto(ProtocolError::ZeroWindowIncrement { stream: 0 }));
                }
                self.send_window += i64::from(increment);
                if self.send_window > i64::from(frame::MAX_WINDOW) {
                    return Err(proto(ProtocolError::WindowOverflow { stream: 0 }));
                }
            }
            Frame::WindowUpdate { stream, increment } => {
                if self.is_idle(stream) {
                    return Err(proto(ProtocolError::IdleStream {
                        kind: "WINDOW_UPDATE",
                        stream,
                    }));
                }
                let Some(s) = self.streams.get_mut(&stream) else {
                    return Ok(());
                };
                if increment == 0 {
                    let e = ProtocolError::ZeroWindowIncrement { stream };
                    self.stream_error(stream, StreamError::Protocol(e), Reason::PROTOCOL_ERROR);
                    return Ok(());
                }
                s.send_window += i64::from(increment);
                if s.send_window > i64::from(frame::MAX_WINDOW) {
                    let e = ProtocolError::WindowOverflow { stream };
                    self.stream_error(stream, StreamError::Protocol(e), Reason::FLOW_CONTROL_ERROR);
                }
            }
            Frame::RstStream { stream, reason } => {
                if self.is_idle(stream) {
                    return Err(proto(ProtocolError::IdleStream {
                        kind: "RST_STREAM",
                        stream,
                    }));
                }
                if self.streams.contains_key(&stream) {
                    self.close_stream(stream, None);
                    let error = if reason == Reason::REFUSED_STREAM {
                        StreamError::Refused
                    } else {
                        StreamError::Reset { reason }
                    };
                    self.events.push_back(Event::Reset {
                        stream: StreamId(stream),
                        error,
                    });
                }
            }
            Frame::PushPromise { .. } => return Err(proto(ProtocolError::PushPromise)),
            Frame::Priority { .. } | Frame::Unknown { .. } => {}
            Frame::Headers {
                stream,
                end_stream,
                end_headers,
                block,
            } => {
                if self.is_idle(stream) {
                    return Err(proto(ProtocolError::IdleStream {
                        kind: "HEADERS",
                        stream,
                    }));
                }
                let buf = BytesMut::from(&block[..]);
                self.check_block_size(buf.len()).map_err(proto)?;
                if end_headers {
                    self.handle_header_block(stream, end_stream, &buf)?;
                } else {
                    self.continuation = Some((stream, end_stream, buf));
                }
            }
            Frame::Continuation {
                stream,
                end_headers,
                block,
            } => {
                let Some((_, end_stream, mut buf)) = self.continuation.take() else {
                    return Err(proto(ProtocolError::UnexpectedContinuation { stream }));
                };
                buf.extend_from_slice(&block);
                self.check_block_size(buf.len()).map_err(proto)?;
                if end_headers {
                    self.handle_header_block(stream, end_stream, &buf)?;
                } else {
                    self.continuation = Some((stream, end_stream, buf));
                }
            }
            Frame::Data {
                stream,
                end_stream,
                data,
                flow_len,
            } => {
                if self.is_idle(stream) {
                    return Err(proto(ProtocolError::IdleStream {
                        kind: "DATA",
                        stream,
                    }));
                }
                if i64::from(flow_len) > self.recv_window {
                    return Err(proto(ProtocolError::FlowControl {
                        stream: 0,
                        len: flow_len,
                        window: self.recv_window,
                    }));
                }
                self.recv_window -= i64::from(flow_len);
                self.handle_data(stream, end_stream, data, flow_len);
            }
        }
        Ok(())
    }

    fn check_block_size(&self, len: usize) -> Result<(), ProtocolError> {
        if len > self.config.max_header_block as usize {
            Err(ProtocolError::HeaderBlockTooLarge {
                limit: self.config.max_header_block,
            })
        } else {
            Ok(())
        }
    }

    fn apply_setting(&mut self, id: u16, value: u32) -> Result<(), ProtocolError> {
        let bad = || ProtocolError::BadSetting { id, value };
        match id {
            setting::HEADER_TABLE_SIZE => {
                let size = (value as usize).min(HPACK_TABLE);
                if size < self.encoder_table {
                    self.encoder_table = size;
                    self.encoder.set_max_table_size(size);
                    self.table_update = Some(size);
                }
            }
            // A server may only ever announce 0 (RFC 9113 §6.5.2).
            setting::ENABLE_PUSH if value != 0 => return Err(bad()),
            setting::MAX_CONCURRENT_STREAMS => self.peer_max_streams = value,
            setting::INITIAL_WINDOW_SIZE => {
                if value > frame::MAX_WINDOW {
                    return Err(ProtocolError::WindowOverflow { stream: 0 });
                }
                let delta = i64::from(value) - i64::from(self.peer_initial_window);
                self.peer_initial_window = value;
                for (id, s) in self.streams.iter_mut() {
                    s.send_window += delta;
                    if s.send_window > i64::from(frame::MAX_WINDOW) {
                        return Err(ProtocolError::WindowOverflow { stream: *id });
                    }
                }
            }
            setting::MAX_FRAME_SIZE => {
                if !(frame::DEFAULT_MAX_FRAME_SIZE..=frame::MAX_MAX_FRAME_SIZE).contains(&value) {
                    return Err(bad());
                }
                self.peer_max_frame = value;
            }
            _ => {}
        }
        Ok(())
    }

    fn handle_header_block(
        &mut self,
        stream: u32,
        end_stream: bool,
        block: &[u8],
    ) -> Result<(), (ConnectionError, Option<Reason>)> {
        // Always decode: the HPACK state must follow every block.
        // Bound the decoded size too: a small block can name large table
        // entries many times over (RFC 9113 §10.5.1 counts 32 bytes more
        // per field).
        let limit = self.config.max_header_block as usize;
        let mut decoded = 0usize;
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        self.decoder
            .decode_with_cb(block, |n, v| {
                decoded = decoded.saturating_add(n.len() + v.len() + 32);
                if decoded <= limit {
                    fields.push((n.into_owned(), v.into_owned()));
                }
            })
            .map_err(|e| {
                (
                    ConnectionError::Compression(e.to_string()),
                    Some(Reason::COMPRESSION_ERROR),
                )
            })?;
        if !self.streams.contains_key(&stream) {
            return Ok(()); // a stream we closed already
        }
        if decoded > limit {
            let e = StreamError::Protocol(ProtocolError::HeaderListTooLarge {
                limit: limit as u32,
            });
            self.stream_error(stream, e, Reason::PROTOCOL_ERROR);
            return Ok(());
        }
        let Some(s) = self.streams.get_mut(&stream) else {
            return Ok(());
        };
        let mut status: Option<u16> = None;
        let mut metadata = Metadata::default();
        for (name, value) in fields {
            if name == b":status" {
                status = std::str::from_utf8(&value)
                    .ok()
                    .and_then(|v| v.parse().ok());
            } else if !name.starts_with(b":") {
                metadata
                    .0
                    .push((String::from_utf8_lossy(&name).into_owned(), value));
            }
        }
        let id = StreamId(stream);
        match s.recv {
            Recv::AwaitHeaders => {
                let Some(status) = status else {
                    let e = StreamError::Protocol(ProtocolError::MissingStatus);
                    self.stream_error(stream, e, Reason::PROTOCOL_ERROR);
                    return Ok(());
                };
                if (100..200).contains(&status) && !end_stream {
                    return Ok(()); // informational; the real answer follows
                }
                if status != 200 {
                    let code = grpc::status_of_http(status);
                    self.end_stream(stream, code, format!("HTTP status {status}"), metadata);
                    return Ok(());
                }
                if end_stream {
                    // Trailers-only answer.
                    self.finish_with_trailers(stream, metadata);
                    return Ok(());
                }
                let grpc_type = metadata
                    .get("content-type")
                    .is_some_and(|t| t.starts_with(b"application/grpc"));
                if !grpc_type {
                    let message = format!(
                        "not a gRPC answer: content-type {:?}",
                        String::from_utf8_lossy(metadata.get("content-type").unwrap_or(b""))
                    );
                    self.end_stream(stream, grpc::code::UNKNOWN, message, metadata);
                    return Ok(());
                }
                s.recv = Recv::Body;
                self.events.push_back(Event::Headers {
                    stream: id,
                    metadata,
                });
            }
            Recv::Body => {
                if !end_stream {
                    let e = StreamError::Protocol(ProtocolError::TrailersWithoutEndStream);
                    self.stream_error(stream, e, Reason::PROTOCOL_ERROR);
                    return Ok(());
                }
                if let Err(e) = s.decoder.finish() {
                    self.stream_error(stream, StreamError::Message(e), Reason::PROTOCOL_ERROR);
                    return Ok(());
                }
                self.finish_with_trailers(stream, metadata);
            }
        }
        Ok(())
    }

    fn finish_with_trailers(&mut self, stream: u32, metadata: Metadata) {
        let code = metadata
            .get("grpc-status")
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u32>().ok());
        let Some(code) = code else {
            let message = "answer without a valid grpc-status".to_string();
            self.end_stream(stream, grpc::code::INTERNAL, message, metadata);
            return;
        };
        let message = metadata
            .get("grpc-message")
            .map(grpc::decode_message)
            .unwrap_or_default();
        self.end_stream(stream, code, message, metadata);
    }

    /// Reports a status and closes the stream (resetting it if our side
    /// was still sending).
    fn end_stream(&mut self, stream: u32, code: u32, message: String, metadata: Metadata) {
        let still_sending = self.streams.get(&stream).is_some_and(|s| !s.end_sent);
        self.close_stream(stream, still_sending.then_some(Reason::CANCEL));
        self.events.push_back(Event::End {
            stream: StreamId(stream),
            status: Status {
                code,
                message,
                metadata,
            },
        });
    }

    fn handle_data(&mut self, stream: u32, end_stream: bool, data: Bytes, flow_len: u32) {
        let padding = u64::from(flow_len) - data.len() as u64;
        let Some(s) = self.streams.get_mut(&stream) else {
            // A stream we closed: the connection's credit comes back now.
            self.credit_connection(u64::from(flow_len));
            return;
        };
        if s.recv == Recv::AwaitHeaders {
            self.credit_connection(u64::from(flow_len));
            let e = StreamError::Protocol(ProtocolError::DataBeforeHeaders);
            self.stream_error(stream, e, Reason::PROTOCOL_ERROR);
            return;
        }
        if i64::from(flow_len) > s.recv_window {
            let e = ProtocolError::FlowControl {
                stream,
                len: flow_len,
                window: s.recv_window,
            };
            self.credit_connection(u64::from(flow_len));
            self.stream_error(stream, StreamError::Protocol(e), Reason::FLOW_CONTROL_ERROR);
            return;
        }
        s.recv_window -= i64::from(flow_len);
        s.decoder.push(&data);
        s.pushed += data.len() as u64;
        let mut now_credit = padding;
        let mut failure = None;
        loop {
            match s.decoder.next_message() {
                Ok(Some(message)) => {
                    let start = s.framed;
                    let body = start + grpc::PREFIX_LEN as u64;
                    let end = body + message.len() as u64;
                    s.framed = end;
                    now_credit += body.saturating_sub(start.max(s.credited));
                    s.held += end.saturating_sub(body.max(s.credited));
                    s.credited = s.credited.max(end);
                    self.events.push_back(Event::Message {
                        stream: StreamId(stream),
                        message,
                    });
                }
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // A message larger than half the window would stall: credit its
        // partial bytes as they arrive.
        let partial = s.pushed - s.credited;
        if partial >= u64::from(self.config.stream_window / 2).max(1) {
            now_credit += partial;
            s.credited = s.pushed;
        }
        self.credit(stream, now_credit);
        if let Some(e) = failure {
            self.stream_error(stream, StreamError::Message(e), Reason::PROTOCOL_ERROR);
            return;
        }
        if end_stream {
            let Some(s) = self.streams.get(&stream) else {
                return;
            };
            match s.decoder.finish() {
                Err(e) => {
                    self.stream_error(stream, StreamError::Message(e), Reason::PROTOCOL_ERROR)
                }
                Ok(()) => self.end_stream(
                    stream,
                    grpc::code::INTERNAL,
                    "stream ended without trailers".to_string(),
                    Metadata::default(),
                ),
            }
        }
    }
}

/// A literal header field never indexed, name and value as literals
/// (RFC 7541 §6.2.3): for credentials, which must not enter the table.
fn encode_never_indexed(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    use loona_hpack::encoder::encode_integer_into;
    out.push(0x10);
    let _ = encode_integer_into(name.len(), 7, 0, out);
    out.extend_from_slice(name);
    let _ = encode_integer_into(value.len(), 7, 0, out);
    out.extend_from_slice(value);
}

/// A metadata name HTTP/2 can carry and that is not one we set.
fn valid_name(name: &str) -> bool {
    const RESERVED: [&str; 8] = [
        "content-type",
        "te",
        "grpc-timeout",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "host",
    ];
    !name.is_empty()
        && !RESERVED.contains(&name)
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
}

fn valid_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|b| *b == b'\t' || (0x20..0x7f).contains(b) || *b >= 0x80)
}
