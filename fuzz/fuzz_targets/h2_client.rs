//! Fuzzes the blocking driver's sans-IO HTTP/2 client machine
//! (`gazette_blocking::h2::Connection`): after a valid server SETTINGS, a
//! sequence of raw bytes, well-formed frames (so the fuzzer reaches deep
//! states) and client operations. Asserts: no panic; a failed input is the
//! connection's recorded typed error, returned again on every later input;
//! nothing but resets of known streams and one `Closed` follows a
//! connection failure; events only name streams that were opened.
#![no_main]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use gazette_blocking::h2::frame::{self, Frame, Reason};
use gazette_blocking::h2::{Config, Connection, Event, Request, StreamId};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum ServerFrame {
    Headers {
        stream: u8,
        status: u16,
        grpc_status: Option<u8>,
        message: Vec<u8>,
        end_stream: bool,
        split: u8,
    },
    Data {
        stream: u8,
        messages: Vec<Vec<u8>>,
        raw_tail: Vec<u8>,
        end_stream: bool,
    },
    WindowUpdate {
        stream: u8,
        increment: u32,
    },
    Settings(Vec<(u16, u32)>),
    SettingsAck,
    Ping(bool, [u8; 8]),
    GoAway(u8, u32),
    Rst(u8, u32),
    Unknown(u8, u8),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Raw(Vec<u8>),
    Frame(ServerFrame),
    Open {
        authorization: bool,
        timeout_ms: Option<u16>,
    },
    Send(u8, u16),
    HalfClose(u8),
    Reset(u8),
    Release(u8, u32),
    Advance(u16),
    Transmit,
}

fn stream_id(n: u8) -> u32 {
    u32::from(n % 16) * 2 + 1
}

fn encode_frame(f: ServerFrame, encoder: &mut loona_hpack::Encoder<'static>) -> BytesMut {
    let mut out = BytesMut::new();
    match f {
        ServerFrame::Headers {
            stream,
            status,
            grpc_status,
            message,
            end_stream,
            split,
        } => {
            let status = status.to_string();
            let mut fields: Vec<(Vec<u8>, Vec<u8>)> = vec![
                (b":status".to_vec(), status.into_bytes()),
                (b"content-type".to_vec(), b"application/grpc".to_vec()),
            ];
            if let Some(code) = grpc_status {
                fields.push((b"grpc-status".to_vec(), code.to_string().into_bytes()));
                fields.push((b"grpc-message".to_vec(), message));
            }
            let block = encoder.encode(fields.iter().map(|(n, v)| (&n[..], &v[..])));
            let max = u32::from(split).max(1);
            frame::encode_header_block(&mut out, stream_id(stream), &block, end_stream, max);
        }
        ServerFrame::Data {
            stream,
            messages,
            raw_tail,
            end_stream,
        } => {
            let mut body = BytesMut::new();
            for m in messages {
                gazette_blocking::h2::grpc::encode_prefix(m.len(), &mut body);
                body.extend_from_slice(&m);
            }
            body.extend_from_slice(&raw_tail);
            body.truncate(frame::DEFAULT_MAX_FRAME_SIZE as usize);
            frame::encode(
                &Frame::Data {
                    stream: stream_id(stream),
                    end_stream,
                    flow_len: body.len() as u32,
                    data: body.freeze(),
                },
                &mut out,
            );
        }
        ServerFrame::WindowUpdate { stream, increment } => frame::encode(
            &Frame::WindowUpdate {
                stream: if stream == 0 { 0 } else { stream_id(stream) },
                increment,
            },
            &mut out,
        ),
        ServerFrame::Settings(params) => {
            frame::encode(&Frame::Settings { ack: false, params }, &mut out)
        }
        ServerFrame::SettingsAck => frame::encode(
            &Frame::Settings {
                ack: true,
                params: vec![],
            },
            &mut out,
        ),
        ServerFrame::Ping(ack, data) => frame::encode(&Frame::Ping { ack, data }, &mut out),
        ServerFrame::GoAway(last, code) => frame::encode(
            &Frame::GoAway {
                last_stream: stream_id(last),
                reason: Reason(code),
                debug: Bytes::new(),
            },
            &mut out,
        ),
        ServerFrame::Rst(stream, code) => frame::encode(
            &Frame::RstStream {
                stream: stream_id(stream),
                reason: Reason(code),
            },
            &mut out,
        ),
        ServerFrame::Unknown(kind, stream) => frame::encode(
            &Frame::Unknown {
                kind: kind | 0x10,
                stream: u32::from(stream),
            },
            &mut out,
        ),
    }
    out
}

fuzz_target!(|ops: Vec<Op>| {
    let t0 = Instant::now();
    let mut now = t0;
    let mut config = Config::new("fuzz.test:80");
    config.stream_window = 1 << 16;
    config.connection_window = 1 << 17;
    config.max_receive_message = 1 << 16;
    config.keepalive = Some(Duration::from_secs(300));
    let mut conn = Connection::new(config, now);
    let mut encoder = loona_hpack::Encoder::new();
    let mut preface = BytesMut::new();
    frame::encode(
        &Frame::Settings {
            ack: false,
            params: vec![],
        },
        &mut preface,
    );
    conn.handle_input(&preface).expect("a valid server preface");

    let mut opened: BTreeSet<StreamId> = BTreeSet::new();
    let mut closed_seen = false;
    for op in ops {
        let input = match op {
            Op::Raw(bytes) => Some(BytesMut::from(&bytes[..])),
            Op::Frame(f) => Some(encode_frame(f, &mut encoder)),
            Op::Open {
                authorization,
                timeout_ms,
            } => {
                let mut request = Request::new("/protocol.Journal/Read");
                request.timeout = timeout_ms.map(|ms| Duration::from_millis(ms.into()));
                if authorization {
                    request
                        .metadata
                        .push(("authorization".into(), "Bearer x".into()));
                }
                if let Ok(id) = conn.open_stream(&request) {
                    assert!(opened.insert(id), "stream ids are never reused");
                }
                None
            }
            Op::Send(s, len) => {
                let _ = conn.send_message(StreamId(stream_id(s)), Bytes::from(vec![7; len.into()]));
                None
            }
            Op::HalfClose(s) => {
                let _ = conn.half_close(StreamId(stream_id(s)));
                None
            }
            Op::Reset(s) => {
                conn.reset(StreamId(stream_id(s)));
                None
            }
            Op::Release(s, n) => {
                conn.release(StreamId(stream_id(s)), n as usize);
                None
            }
            Op::Advance(secs) => {
                now += Duration::from_secs(secs.into());
                conn.handle_timeout(now);
                None
            }
            Op::Transmit => {
                while conn.poll_transmit().is_some() {}
                None
            }
        };
        if let Some(input) = input {
            let was_failed = conn.error().cloned();
            match conn.handle_input(&input) {
                Ok(()) => assert!(was_failed.is_none()),
                Err(e) => {
                    let _ = e.to_string();
                    assert_eq!(conn.error(), Some(&e));
                    if let Some(before) = was_failed {
                        assert_eq!(before, e, "the first failure sticks");
                    }
                    assert!(!conn.is_open());
                }
            }
        }
        while let Some(event) = conn.poll_event() {
            assert!(!closed_seen, "nothing follows Closed: {event:?}");
            match &event {
                Event::Headers { stream, .. }
                | Event::Message { stream, .. }
                | Event::End { stream, .. }
                | Event::WindowAvailable { stream } => {
                    assert!(opened.contains(stream), "{event:?} of an unopened stream");
                }
                Event::Reset { stream, error } => {
                    assert!(opened.contains(stream), "{event:?} of an unopened stream");
                    let _ = error.to_string();
                }
                Event::GoAway { .. } => {}
                Event::Closed { error } => {
                    assert_eq!(conn.error(), Some(error));
                    closed_seen = true;
                }
            }
        }
        if conn.error().is_some() {
            assert_eq!(conn.open_streams(), 0);
        }
    }
    while conn.poll_transmit().is_some() {}
});
