//! The connection machine against a peer model: a small server-side
//! HTTP/2 machine written here that checks every flow-control window and
//! the concurrency limit it granted, echoes each request's messages back
//! in DATA frames of its own sizes, and ends each call with trailers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use loona_hpack::{Decoder, Encoder};
use proptest::prelude::*;

use super::conn::*;
use super::frame::{self, Frame, Reason, setting};
use super::grpc;

#[derive(Default)]
struct PeerStream {
    recv_window: i64,
    send_window: i64,
    body: Vec<u8>,
    client_done: bool,
    echo: VecDeque<u8>,
    answered: bool,
}

/// Server side of the conversation.
struct Peer {
    input: BytesMut,
    preface_seen: bool,
    decoder: Decoder<'static>,
    encoder: Encoder<'static>,
    out: BytesMut,
    /// What we granted the client.
    stream_init: u32,
    conn_recv: i64,
    max_streams: u32,
    /// What the client granted us.
    client_init: i64,
    client_max_frame: u32,
    conn_send: i64,
    streams: BTreeMap<u32, PeerStream>,
    /// Streams the client opened and we have not answered fully.
    active: usize,
    max_active_seen: usize,
    /// DATA sizes we send, cycled.
    sizes: Vec<usize>,
    size_at: usize,
    trailers_status: u32,
}

impl Peer {
    fn new(stream_init: u32, max_streams: u32, sizes: Vec<usize>) -> Self {
        let mut out = BytesMut::new();
        frame::encode(
            &Frame::Settings {
                ack: false,
                params: vec![
                    (setting::INITIAL_WINDOW_SIZE, stream_init),
                    (setting::MAX_CONCURRENT_STREAMS, max_streams),
                ],
            },
            &mut out,
        );
        Self {
            input: BytesMut::new(),
            preface_seen: false,
            decoder: Decoder::new(),
            encoder: Encoder::new(),
            out,
            stream_init,
            conn_recv: i64::from(frame::DEFAULT_WINDOW),
            max_streams,
            client_init: i64::from(frame::DEFAULT_WINDOW),
            client_max_frame: frame::DEFAULT_MAX_FRAME_SIZE,
            conn_send: i64::from(frame::DEFAULT_WINDOW),
            streams: BTreeMap::new(),
            active: 0,
            max_active_seen: 0,
            sizes: if sizes.is_empty() { vec![1000] } else { sizes },
            size_at: 0,
            trailers_status: 0,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
        if !self.preface_seen {
            if self.input.len() < frame::PREFACE.len() {
                return;
            }
            assert_eq!(&self.input[..frame::PREFACE.len()], frame::PREFACE);
            let _ = self.input.split_to(frame::PREFACE.len());
            self.preface_seen = true;
        }
        while let Some(f) = frame::decode(&mut self.input, frame::DEFAULT_MAX_FRAME_SIZE).unwrap() {
            self.on_frame(f);
        }
        self.pump();
    }

    fn on_frame(&mut self, f: Frame) {
        match f {
            Frame::Settings { ack: false, params } => {
                for (id, v) in params {
                    match id {
                        setting::INITIAL_WINDOW_SIZE => {
                            let delta = i64::from(v) - self.client_init;
                            self.client_init = i64::from(v);
                            for s in self.streams.values_mut() {
                                s.send_window += delta;
                            }
                        }
                        setting::MAX_FRAME_SIZE => self.client_max_frame = v,
                        setting::ENABLE_PUSH => assert_eq!(v, 0),
                        _ => {}
                    }
                }
                frame::encode(
                    &Frame::Settings {
                        ack: true,
                        params: vec![],
                    },
                    &mut self.out,
                );
            }
            Frame::Settings { ack: true, .. } => {}
            Frame::WindowUpdate {
                stream: 0,
                increment,
            } => self.conn_send += i64::from(increment),
            Frame::WindowUpdate { stream, increment } => {
                if let Some(s) = self.streams.get_mut(&stream) {
                    s.send_window += i64::from(increment);
                }
            }
            Frame::Headers {
                stream,
                end_headers,
                block,
                end_stream,
            } => {
                assert!(end_headers, "small request header blocks fit a frame");
                assert!(!end_stream);
                assert!(stream % 2 == 1 && !self.streams.contains_key(&stream));
                let headers = self
                    .decoder
                    .decode(&block)
                    .unwrap()
                    .into_iter()
                    .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
                    .collect();
                let headers: HashMap<String, String> = headers;
                assert_eq!(headers[":method"], "POST");
                assert_eq!(headers[":path"], "/test.Echo/Echo");
                assert_eq!(headers["te"], "trailers");
                self.active += 1;
                self.max_active_seen = self.max_active_seen.max(self.active);
                assert!(
                    self.active <= self.max_streams as usize,
                    "client opened {} streams, limit {}",
                    self.active,
                    self.max_streams
                );
                self.streams.insert(
                    stream,
                    PeerStream {
                        recv_window: i64::from(self.stream_init),
                        send_window: self.client_init,
                        ..PeerStream::default()
                    },
                );
            }
            Frame::Data {
                stream,
                end_stream,
                data,
                flow_len,
            } => {
                let s = self
                    .streams
                    .get_mut(&stream)
                    .expect("DATA on a known stream");
                assert!(!s.client_done, "DATA after END_STREAM");
                let len = i64::from(flow_len);
                assert!(len <= s.recv_window, "stream window exceeded");
                assert!(len <= self.conn_recv, "connection window exceeded");
                s.recv_window -= len;
                self.conn_recv -= len;
                s.body.extend_from_slice(&data);
                if flow_len > 0 {
                    // Grant it back at once.
                    s.recv_window += len;
                    self.conn_recv += len;
                    for id in [stream, 0] {
                        frame::encode(
                            &Frame::WindowUpdate {
                                stream: id,
                                increment: flow_len,
                            },
                            &mut self.out,
                        );
                    }
                }
                if end_stream {
                    s.client_done = true;
                    s.echo = s.body.iter().copied().collect();
                }
            }
            Frame::Ping { ack: false, data } => {
                frame::encode(&Frame::Ping { ack: true, data }, &mut self.out)
            }
            Frame::RstStream { stream, .. } => {
                if self.streams.remove(&stream).is_some() {
                    self.active -= 1;
                }
            }
            other => panic!("unexpected frame from the client: {other:?}"),
        }
    }

    fn header_block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        self.encoder
            .encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    /// Sends what the windows allow of every finished request's echo.
    fn pump(&mut self) {
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            if !self.streams[&id].client_done {
                continue;
            }
            if !self.streams[&id].answered {
                let block =
                    self.header_block(&[(":status", "200"), ("content-type", "application/grpc")]);
                frame::encode_header_block(&mut self.out, id, &block, false, 16_384);
                self.streams.get_mut(&id).unwrap().answered = true;
            }
            loop {
                let size = self.sizes[self.size_at % self.sizes.len()];
                let s = self.streams.get_mut(&id).unwrap();
                let n = size
                    .min(s.echo.len())
                    .min(s.send_window.max(0) as usize)
                    .min(self.conn_send.max(0) as usize)
                    .min(self.client_max_frame as usize);
                if n == 0 {
                    break;
                }
                self.size_at += 1;
                let data: Vec<u8> = s.echo.drain(..n).collect();
                s.send_window -= n as i64;
                self.conn_send -= n as i64;
                frame::encode(
                    &Frame::Data {
                        stream: id,
                        end_stream: false,
                        flow_len: n as u32,
                        data: Bytes::from(data),
                    },
                    &mut self.out,
                );
            }
            if self.streams[&id].echo.is_empty() {
                let status = self.trailers_status.to_string();
                let block = self.header_block(&[("grpc-status", &status)]);
                frame::encode_header_block(&mut self.out, id, &block, true, 16_384);
                self.streams.remove(&id);
                self.active -= 1;
            }
        }
    }
}

fn config(stream_window: u32) -> Config {
    Config {
        stream_window,
        connection_window: stream_window * 3,
        send_buffer: 4096,
        ..Config::new("broker.test:8080")
    }
}

/// Feeds `bytes` in pieces cut at `cuts` (indexes, taken modulo).
fn feed_chunked(conn: &mut Connection, bytes: &[u8], cuts: &[usize]) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    for w in points.windows(2) {
        conn.handle_input(&bytes[w[0]..w[1]]).unwrap();
    }
}

struct Outcome {
    messages: HashMap<StreamId, Vec<Bytes>>,
    statuses: HashMap<StreamId, u32>,
    resets: Vec<(StreamId, StreamError)>,
}

/// Runs calls carrying `requests` (one list of messages per call) against
/// the peer until every call ended.
fn converse(
    requests: &[Vec<Vec<u8>>],
    stream_window: u32,
    peer_window: u32,
    max_streams: u32,
    sizes: Vec<usize>,
    cuts: &[usize],
) -> (Outcome, Peer) {
    let now = Instant::now();
    let mut client = Connection::new(config(stream_window), now);
    let mut peer = Peer::new(peer_window, max_streams, sizes);
    let mut pending: HashMap<StreamId, VecDeque<Bytes>> = HashMap::new();
    for messages in requests {
        let id = client
            .open_stream(&Request::new("/test.Echo/Echo"))
            .unwrap();
        pending.insert(id, messages.iter().cloned().map(Bytes::from).collect());
    }
    let mut outcome = Outcome {
        messages: HashMap::new(),
        statuses: HashMap::new(),
        resets: Vec::new(),
    };
    for _round in 0..100_000 {
        // Writers: send while writable, then half-close.
        let mut progressed = false;
        for (id, queue) in pending.iter_mut() {
            while client.is_writable(*id) {
                match queue.pop_front() {
                    Some(m) => {
                        client.send_message(*id, m).unwrap();
                        progressed = true;
                    }
                    None => break,
                }
            }
        }
        pending.retain(|id, queue| {
            if queue.is_empty() {
                client.half_close(*id).unwrap();
                progressed = true;
                false
            } else {
                true
            }
        });
        while let Some(bytes) = client.poll_transmit() {
            peer.feed(&bytes);
            progressed = true;
        }
        let reply = peer.out.split();
        if !reply.is_empty() {
            feed_chunked(&mut client, &reply, cuts);
            progressed = true;
        }
        while let Some(event) = client.poll_event() {
            match event {
                Event::Message { stream, message } => {
                    client.release(stream, message.len());
                    outcome.messages.entry(stream).or_default().push(message);
                }
                Event::End { stream, status } => {
                    outcome.statuses.insert(stream, status.code);
                }
                Event::Reset { stream, error } => outcome.resets.push((stream, error)),
                Event::Closed { error } => panic!("connection failed: {error}"),
                Event::Headers { .. } | Event::WindowAvailable { .. } | Event::GoAway { .. } => {}
            }
        }
        if outcome.statuses.len() + outcome.resets.len() == requests.len() {
            break;
        }
        assert!(progressed, "conversation stalled");
    }
    (outcome, peer)
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..64),
        1 => (0usize..40_000).prop_map(|n| (0..n).map(|i| (i * 7 % 251) as u8).collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Messages of any size on many concurrent streams arrive whole and in
    /// order, within every window and the concurrency limit the peer set,
    /// however the peer sizes its DATA and however the bytes are chunked.
    #[test]
    fn messages_round_trip_within_windows_and_limits(
        requests in proptest::collection::vec(proptest::collection::vec(message(), 0..6), 1..8),
        stream_window in 64u32..70_000,
        peer_window in 1u32..70_000,
        max_streams in 1u32..4,
        sizes in proptest::collection::vec(1usize..20_000, 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let (outcome, peer) = converse(&requests, stream_window, peer_window, max_streams, sizes, &cuts);
        prop_assert!(outcome.resets.is_empty(), "resets: {:?}", outcome.resets);
        prop_assert!(peer.max_active_seen <= max_streams as usize);
        for (i, sent) in requests.iter().enumerate() {
            let id = StreamId(1 + 2 * i as u32);
            prop_assert_eq!(outcome.statuses.get(&id), Some(&0));
            let got: Vec<Vec<u8>> = outcome.messages.get(&id).map(|m| m.iter().map(|b| b.to_vec()).collect()).unwrap_or_default();
            prop_assert_eq!(&got, sent);
        }
    }

    /// The same server bytes, chunked any way, give the same events and
    /// the same bytes back.
    #[test]
    fn input_chunking_does_not_change_events(
        messages in proptest::collection::vec(message(), 0..5),
        data_sizes in proptest::collection::vec(1usize..5000, 1..5),
        cuts in proptest::collection::vec(any::<usize>(), 1..12),
    ) {
        let script = scripted_answer(&messages, &data_sizes);
        let run = |cuts: &[usize]| {
            let mut c = Connection::new(config(1 << 20), Instant::now());
            let id = c.open_stream(&Request::new("/a/b")).unwrap();
            c.half_close(id).unwrap();
            let mut out = Vec::new();
            while let Some(b) = c.poll_transmit() { out.extend_from_slice(&b); }
            feed_chunked(&mut c, &script, cuts);
            let mut events = Vec::new();
            while let Some(e) = c.poll_event() { events.push(e); }
            while let Some(b) = c.poll_transmit() { out.extend_from_slice(&b); }
            (events, out)
        };
        let whole = run(&[]);
        let chunked = run(&cuts);
        prop_assert_eq!(&whole, &chunked);
        let got: Vec<Vec<u8>> = whole.0.iter().filter_map(|e| match e {
            Event::Message { message, .. } => Some(message.to_vec()),
            _ => None,
        }).collect();
        prop_assert_eq!(got, messages);
        let last = whole.0.last().cloned();
        let is_end = matches!(last, Some(Event::End { status: Status { code: 5, .. }, .. }));
        prop_assert!(is_end, "last event {:?}", last);
    }

    /// Arbitrary bytes after a valid server preface never panic the
    /// machine, and any failure is a typed connection error.
    #[test]
    fn arbitrary_input_fails_typed(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut c = Connection::new(config(1 << 16), Instant::now());
        let id = c.open_stream(&Request::new("/a/b")).unwrap();
        let _ = c.send_message(id, Bytes::from_static(b"hello"));
        let mut preface = BytesMut::new();
        frame::encode(&Frame::Settings { ack: false, params: vec![] }, &mut preface);
        c.handle_input(&preface).unwrap();
        let result = c.handle_input(&raw);
        while c.poll_transmit().is_some() {}
        while c.poll_event().is_some() {}
        if let Err(e) = result {
            prop_assert_eq!(c.error(), Some(&e));
            prop_assert!(!c.is_open());
        }
    }
}

/// Server bytes answering stream 1: SETTINGS, a PING, headers, the
/// messages in DATA frames of `sizes`, trailers with status 5 and a
/// percent-encoded message.
fn scripted_answer(messages: &[Vec<u8>], sizes: &[usize]) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame::encode(
        &Frame::Settings {
            ack: false,
            params: vec![(setting::MAX_FRAME_SIZE, 20_000)],
        },
        &mut out,
    );
    frame::encode(
        &Frame::Ping {
            ack: false,
            data: *b"12345678",
        },
        &mut out,
    );
    let mut enc = Encoder::new();
    let block = enc.encode([
        (&b":status"[..], &b"200"[..]),
        (b"content-type", b"application/grpc+proto"),
    ]);
    frame::encode_header_block(&mut out, 1, &block, false, 10);
    let mut body = BytesMut::new();
    for m in messages {
        grpc::encode_prefix(m.len(), &mut body);
        body.extend_from_slice(m);
    }
    let mut at = 0;
    let mut i = 0;
    while at < body.len() {
        let n = sizes[i % sizes.len()].min(body.len() - at);
        frame::encode(
            &Frame::Data {
                stream: 1,
                end_stream: false,
                flow_len: n as u32,
                data: Bytes::copy_from_slice(&body[at..at + n]),
            },
            &mut out,
        );
        at += n;
        i += 1;
    }
    let block = enc.encode([
        (&b"grpc-status"[..], &b"5"[..]),
        (b"grpc-message", b"no%20such%20journal"),
    ]);
    frame::encode_header_block(&mut out, 1, &block, true, 16_384);
    out.to_vec()
}

/// A connection that has exchanged SETTINGS with a server announcing
/// `params`.
fn handshaken(params: Vec<(u16, u32)>) -> Connection {
    let mut c = Connection::new(config(1 << 16), Instant::now());
    let mut s = BytesMut::new();
    frame::encode(&Frame::Settings { ack: false, params }, &mut s);
    c.handle_input(&s).unwrap();
    while c.poll_transmit().is_some() {}
    c
}

fn server_frames(c: &mut Connection, frames: &[Frame]) -> Result<(), ConnectionError> {
    let mut b = BytesMut::new();
    for f in frames {
        frame::encode(f, &mut b);
    }
    c.handle_input(&b)
}

fn client_frames(c: &mut Connection) -> Vec<Frame> {
    let mut b = BytesMut::new();
    while let Some(t) = c.poll_transmit() {
        b.extend_from_slice(&t);
    }
    if b.starts_with(frame::PREFACE) {
        let _ = b.split_to(frame::PREFACE.len());
    }
    let mut out = Vec::new();
    while let Some(f) = frame::decode(&mut b, frame::MAX_MAX_FRAME_SIZE).unwrap() {
        out.push(f);
    }
    out
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

#[test]
fn preface_settings_and_window_update_open_the_connection() {
    let mut c = Connection::new(config(2 << 20), Instant::now());
    let mut wire = BytesMut::new();
    while let Some(t) = c.poll_transmit() {
        wire.extend_from_slice(&t);
    }
    assert_eq!(&wire[..frame::PREFACE.len()], frame::PREFACE);
    let _ = wire.split_to(frame::PREFACE.len());
    let settings = frame::decode(&mut wire, frame::MAX_MAX_FRAME_SIZE)
        .unwrap()
        .unwrap();
    let Frame::Settings { ack: false, params } = settings else {
        panic!("{settings:?}")
    };
    assert!(params.contains(&(setting::ENABLE_PUSH, 0)));
    assert!(params.contains(&(setting::INITIAL_WINDOW_SIZE, 2 << 20)));
    assert_eq!(
        frame::decode(&mut wire, frame::MAX_MAX_FRAME_SIZE).unwrap(),
        Some(Frame::WindowUpdate {
            stream: 0,
            increment: (6 << 20) - 65_535
        })
    );
    // The server's SETTINGS is acknowledged; a non-SETTINGS first frame
    // is a protocol error.
    let mut c2 = Connection::new(config(1 << 16), Instant::now());
    let _ = client_frames(&mut c2);
    let err = server_frames(
        &mut c2,
        &[Frame::Ping {
            ack: false,
            data: [0; 8],
        }],
    )
    .unwrap_err();
    assert_eq!(
        err,
        ConnectionError::Protocol(ProtocolError::PrefaceNotSettings)
    );
    assert!(matches!(
        client_frames(&mut c2).last(),
        Some(Frame::GoAway {
            reason: Reason::PROTOCOL_ERROR,
            ..
        })
    ));
    let mut c3 = handshaken(vec![]);
    server_frames(
        &mut c3,
        &[Frame::Settings {
            ack: false,
            params: vec![],
        }],
    )
    .unwrap();
    assert_eq!(
        client_frames(&mut c3),
        vec![Frame::Settings {
            ack: true,
            params: vec![]
        }]
    );
}

#[test]
fn request_headers_carry_grpc_pseudo_headers_timeout_and_metadata() {
    let mut c = handshaken(vec![]);
    let request = Request {
        path: "/protocol.Journal/Append".into(),
        timeout: Some(Duration::from_secs(3)),
        metadata: vec![("authorization".into(), "Bearer t0k".into())],
    };
    c.open_stream(&request).unwrap();
    let frames = client_frames(&mut c);
    let [
        Frame::Headers {
            stream: 1,
            block,
            end_headers: true,
            end_stream: false,
        },
    ] = &frames[..]
    else {
        panic!("{frames:?}")
    };
    let fields: Vec<(String, String)> = Decoder::new()
        .decode(block)
        .unwrap()
        .into_iter()
        .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
        .collect();
    let want = [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/protocol.Journal/Append"),
        (":authority", "broker.test:8080"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("grpc-timeout", "3000000u"),
        ("authorization", "Bearer t0k"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    assert_eq!(fields, want);
    let bad = Request {
        metadata: vec![("Bad Name".into(), "x".into())],
        ..Request::new("/a/b")
    };
    assert!(matches!(
        c.open_stream(&bad),
        Err(OpenError::InvalidMetadata { .. })
    ));
}

#[test]
fn trailers_only_answers_and_http_errors_end_with_a_status() {
    let mut c = handshaken(vec![]);
    let a = c.open_stream(&Request::new("/a/b")).unwrap();
    let b = c.open_stream(&Request::new("/a/b")).unwrap();
    let _ = client_frames(&mut c);
    let mut enc = Encoder::new();
    let trailers_only = enc.encode([
        (&b":status"[..], &b"200"[..]),
        (b"content-type", b"application/grpc"),
        (b"grpc-status", b"7"),
        (b"grpc-message", b"not%20allowed%3A%20x"),
    ]);
    let http_error = enc.encode([(&b":status"[..], &b"503"[..])]);
    server_frames(
        &mut c,
        &[
            Frame::Headers {
                stream: a.0,
                end_stream: true,
                end_headers: true,
                block: trailers_only.into(),
            },
            Frame::Headers {
                stream: b.0,
                end_stream: true,
                end_headers: true,
                block: http_error.into(),
            },
        ],
    )
    .unwrap();
    let evs = events(&mut c);
    let ends: Vec<(StreamId, u32, String)> = evs
        .into_iter()
        .filter_map(|e| match e {
            Event::End { stream, status } => Some((stream, status.code, status.message)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ends,
        vec![
            (a, 7, "not allowed: x".to_string()),
            (b, grpc::code::UNAVAILABLE, "HTTP status 503".to_string())
        ]
    );
    // Both were still open for sending: reset, and the slots are free.
    let frames = client_frames(&mut c);
    assert_eq!(
        frames,
        vec![
            Frame::RstStream {
                stream: a.0,
                reason: Reason::CANCEL
            },
            Frame::RstStream {
                stream: b.0,
                reason: Reason::CANCEL
            }
        ]
    );
    assert_eq!(c.open_streams(), 0);
}

#[test]
fn goaway_fails_unprocessed_streams_as_retryable_and_stops_opens() {
    let mut c = handshaken(vec![(setting::MAX_CONCURRENT_STREAMS, 2)]);
    let ids: Vec<StreamId> = (0..3)
        .map(|_| c.open_stream(&Request::new("/a/b")).unwrap())
        .collect();
    let _ = client_frames(&mut c);
    server_frames(
        &mut c,
        &[Frame::GoAway {
            last_stream: 1,
            reason: Reason::NO_ERROR,
            debug: Bytes::from_static(b"bye"),
        }],
    )
    .unwrap();
    let evs = events(&mut c);
    // Stream 3 was sent but is above last-stream; stream 5 was queued.
    let failed: Vec<StreamId> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Reset { stream, error } if error.is_unprocessed() => Some(*stream),
            _ => None,
        })
        .collect();
    assert_eq!(failed, vec![ids[1], ids[2]]);
    assert!(matches!(
        evs.last(),
        Some(Event::GoAway {
            last_stream: StreamId(1),
            ..
        })
    ));
    assert!(c.contains(ids[0]));
    assert_eq!(
        c.open_stream(&Request::new("/a/b")),
        Err(OpenError::GoingAway)
    );
    // Neither failed stream gets a frame: the broker never saw stream 5,
    // and ignores 3.
    assert!(client_frames(&mut c).is_empty());
}

#[test]
fn refused_and_reset_streams_are_typed() {
    let mut c = handshaken(vec![]);
    let a = c.open_stream(&Request::new("/a/b")).unwrap();
    let b = c.open_stream(&Request::new("/a/b")).unwrap();
    let _ = client_frames(&mut c);
    server_frames(
        &mut c,
        &[
            Frame::RstStream {
                stream: a.0,
                reason: Reason::REFUSED_STREAM,
            },
            Frame::RstStream {
                stream: b.0,
                reason: Reason::INTERNAL_ERROR,
            },
        ],
    )
    .unwrap();
    assert_eq!(
        events(&mut c),
        vec![
            Event::Reset {
                stream: a,
                error: StreamError::Refused
            },
            Event::Reset {
                stream: b,
                error: StreamError::Reset {
                    reason: Reason::INTERNAL_ERROR
                }
            },
        ]
    );
    // RST_STREAM on a stream never opened is a connection error.
    let err = server_frames(
        &mut c,
        &[Frame::RstStream {
            stream: 99,
            reason: Reason::CANCEL,
        }],
    )
    .unwrap_err();
    assert!(matches!(
        err,
        ConnectionError::Protocol(ProtocolError::IdleStream { stream: 99, .. })
    ));
}

#[test]
fn oversized_messages_reset_the_stream_with_a_typed_error() {
    let mut cfg = config(1 << 16);
    cfg.max_receive_message = 100;
    let mut c = Connection::new(cfg, Instant::now());
    server_frames(
        &mut c,
        &[Frame::Settings {
            ack: false,
            params: vec![],
        }],
    )
    .unwrap();
    let id = c.open_stream(&Request::new("/a/b")).unwrap();
    c.half_close(id).unwrap();
    let _ = client_frames(&mut c);
    let mut enc = Encoder::new();
    let headers = enc.encode([
        (&b":status"[..], &b"200"[..]),
        (b"content-type", b"application/grpc"),
    ]);
    let mut body = BytesMut::new();
    grpc::encode_prefix(101, &mut body);
    server_frames(
        &mut c,
        &[
            Frame::Headers {
                stream: 1,
                end_stream: false,
                end_headers: true,
                block: headers.into(),
            },
            Frame::Data {
                stream: 1,
                end_stream: false,
                flow_len: 5,
                data: body.freeze(),
            },
        ],
    )
    .unwrap();
    let evs = events(&mut c);
    assert_eq!(
        evs.last(),
        Some(&Event::Reset {
            stream: id,
            error: StreamError::Message(grpc::MessageError::TooLarge {
                len: 101,
                limit: 100
            })
        })
    );
    assert!(client_frames(&mut c).contains(&Frame::RstStream {
        stream: 1,
        reason: Reason::PROTOCOL_ERROR
    }));
}

#[test]
fn data_beyond_the_granted_window_is_a_flow_control_error() {
    let mut c = Connection::new(config(100), Instant::now());
    server_frames(
        &mut c,
        &[Frame::Settings {
            ack: false,
            params: vec![],
        }],
    )
    .unwrap();
    let id = c.open_stream(&Request::new("/a/b")).unwrap();
    let _ = client_frames(&mut c);
    let mut enc = Encoder::new();
    let headers = enc.encode([
        (&b":status"[..], &b"200"[..]),
        (b"content-type", b"application/grpc"),
    ]);
    server_frames(
        &mut c,
        &[
            Frame::Headers {
                stream: 1,
                end_stream: false,
                end_headers: true,
                block: headers.into(),
            },
            Frame::Data {
                stream: 1,
                end_stream: false,
                flow_len: 101,
                data: Bytes::from(vec![0; 101]),
            },
        ],
    )
    .unwrap();
    assert!(matches!(
        events(&mut c).last(),
        Some(Event::Reset { stream, error: StreamError::Protocol(ProtocolError::FlowControl { len: 101, window: 100, .. }) }) if *stream == id
    ));
}

#[test]
fn pings_are_answered_and_keepalive_waits_at_least_five_minutes() {
    let t0 = Instant::now();
    let mut cfg = config(1 << 16);
    cfg.keepalive = Some(Duration::from_secs(10));
    let mut c = Connection::new(cfg, t0);
    server_frames(
        &mut c,
        &[Frame::Settings {
            ack: false,
            params: vec![],
        }],
    )
    .unwrap();
    server_frames(
        &mut c,
        &[Frame::Ping {
            ack: false,
            data: *b"abcdefgh",
        }],
    )
    .unwrap();
    assert!(client_frames(&mut c).contains(&Frame::Ping {
        ack: true,
        data: *b"abcdefgh"
    }));
    // Clamped to 5 minutes; no ping while no call is open.
    assert_eq!(c.poll_timeout(), Some(t0 + MIN_KEEPALIVE));
    c.handle_timeout(t0 + MIN_KEEPALIVE);
    assert!(client_frames(&mut c).is_empty());
    c.open_stream(&Request::new("/a/b")).unwrap();
    let _ = client_frames(&mut c);
    c.handle_timeout(t0 + MIN_KEEPALIVE * 2 - Duration::from_secs(1));
    assert!(client_frames(&mut c).is_empty());
    let t2 = t0 + MIN_KEEPALIVE * 2;
    c.handle_timeout(t2);
    let frames = client_frames(&mut c);
    let [Frame::Ping { ack: false, data }] = frames[..] else {
        panic!("{frames:?}")
    };
    // Answered: no failure. Unanswered next time: the connection dies.
    server_frames(&mut c, &[Frame::Ping { ack: true, data }]).unwrap();
    c.handle_timeout(t2 + Duration::from_secs(30));
    assert!(c.error().is_none());
    let t3 = t2 + MIN_KEEPALIVE;
    c.handle_timeout(t3);
    assert_eq!(client_frames(&mut c).len(), 1);
    c.handle_timeout(t3 + Duration::from_secs(20));
    assert!(matches!(
        c.error(),
        Some(ConnectionError::KeepaliveTimeout(_))
    ));
    let evs = events(&mut c);
    assert!(matches!(
        &evs[..],
        [
            Event::Reset {
                error: StreamError::Connection(_),
                ..
            },
            Event::Closed { .. }
        ]
    ));
}

#[test]
fn smaller_peer_header_table_is_signalled_and_honoured() {
    let mut c = handshaken(vec![(setting::HEADER_TABLE_SIZE, 0)]);
    let mut server_decoder = Decoder::new();
    for _ in 0..3 {
        c.open_stream(&Request {
            metadata: vec![("x-thing".into(), "v".repeat(100))],
            ..Request::new("/a/b")
        })
        .unwrap();
    }
    for f in client_frames(&mut c) {
        let Frame::Headers { block, .. } = f else {
            panic!("{f:?}")
        };
        let fields = server_decoder.decode(&block).unwrap();
        assert!(fields.iter().any(|(n, _)| n == b"x-thing"));
    }
}

#[test]
fn header_lists_that_expand_beyond_the_limit_reset_the_stream() {
    let mut cfg = config(1 << 16);
    cfg.max_header_block = 8 << 10;
    let mut c = Connection::new(cfg, Instant::now());
    server_frames(
        &mut c,
        &[Frame::Settings {
            ack: false,
            params: vec![],
        }],
    )
    .unwrap();
    let id = c.open_stream(&Request::new("/a/b")).unwrap();
    let _ = client_frames(&mut c);
    // One 3 KiB entry enters the table, then is named by index 20 times:
    // a block of ~3 KiB decoding to ~60 KiB.
    let mut enc = Encoder::new();
    let mut fields: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b":status".to_vec(), b"200".to_vec()),
        (b"content-type".to_vec(), b"application/grpc".to_vec()),
    ];
    fields.extend((0..20).map(|_| (b"x-big".to_vec(), vec![b'v'; 3000])));
    let block = enc.encode(fields.iter().map(|(n, v)| (&n[..], &v[..])));
    assert!(block.len() < 8 << 10);
    server_frames(
        &mut c,
        &[Frame::Headers {
            stream: id.0,
            end_stream: false,
            end_headers: true,
            block: block.into(),
        }],
    )
    .unwrap();
    assert_eq!(
        events(&mut c),
        vec![Event::Reset {
            stream: id,
            error: StreamError::Protocol(ProtocolError::HeaderListTooLarge { limit: 8 << 10 })
        }]
    );
    assert!(c.is_open());
}

#[test]
fn pings_faster_than_answers_are_written_fail_the_connection() {
    let mut c = handshaken(vec![]);
    let mut flood = BytesMut::new();
    for _ in 0..(5 << 20) / 17 {
        frame::encode(
            &Frame::Ping {
                ack: false,
                data: [1; 8],
            },
            &mut flood,
        );
    }
    let err = c.handle_input(&flood).unwrap_err();
    assert!(matches!(
        err,
        ConnectionError::Protocol(ProtocolError::ControlFlood { .. })
    ));
    // Writing the answers as they come is no flood.
    let mut c = handshaken(vec![]);
    for chunk in flood.chunks(17 * 1000) {
        c.handle_input(chunk).unwrap();
        while c.poll_transmit().is_some() {}
    }
}
