//! HTTP/2 frame codec (RFC 9113 §4 and §6): the 9-byte frame header and
//! the payload layouts of the ten frame types, with padding and priority
//! fields stripped on decode. No state beyond one frame lives here; the
//! connection machine ([`super::conn`]) decides what a frame means.
//!
//! See docs/blocking-transport.md for where this sits.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The client connection preface (RFC 9113 §3.4), sent before any frame.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Length of a frame header.
pub const HEADER_LEN: usize = 9;

/// The smallest `SETTINGS_MAX_FRAME_SIZE` and the initial one.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// The largest `SETTINGS_MAX_FRAME_SIZE` allowed.
pub const MAX_MAX_FRAME_SIZE: u32 = (1 << 24) - 1;
/// The largest flow-control window (2^31 - 1).
pub const MAX_WINDOW: u32 = (1 << 31) - 1;
/// The initial flow-control window of streams and of the connection.
pub const DEFAULT_WINDOW: u32 = 65_535;

/// Frame type codes.
mod kind {
    pub(super) const DATA: u8 = 0x0;
    pub(super) const HEADERS: u8 = 0x1;
    pub(super) const PRIORITY: u8 = 0x2;
    pub(super) const RST_STREAM: u8 = 0x3;
    pub(super) const SETTINGS: u8 = 0x4;
    pub(super) const PUSH_PROMISE: u8 = 0x5;
    pub(super) const PING: u8 = 0x6;
    pub(super) const GOAWAY: u8 = 0x7;
    pub(super) const WINDOW_UPDATE: u8 = 0x8;
    pub(super) const CONTINUATION: u8 = 0x9;
}

/// Frame flags.
mod flag {
    pub(super) const END_STREAM: u8 = 0x1;
    pub(super) const ACK: u8 = 0x1;
    pub(super) const END_HEADERS: u8 = 0x4;
    pub(super) const PADDED: u8 = 0x8;
    pub(super) const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameter identifiers (RFC 9113 §6.5.2).
pub mod setting {
    /// SETTINGS_HEADER_TABLE_SIZE.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH.
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// SETTINGS_INITIAL_WINDOW_SIZE.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// An HTTP/2 error code (RFC 9113 §7), carried by RST_STREAM and GOAWAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reason(pub u32);

impl Reason {
    /// NO_ERROR: graceful shutdown.
    pub const NO_ERROR: Reason = Reason(0x0);
    /// PROTOCOL_ERROR.
    pub const PROTOCOL_ERROR: Reason = Reason(0x1);
    /// INTERNAL_ERROR.
    pub const INTERNAL_ERROR: Reason = Reason(0x2);
    /// FLOW_CONTROL_ERROR.
    pub const FLOW_CONTROL_ERROR: Reason = Reason(0x3);
    /// SETTINGS_TIMEOUT.
    pub const SETTINGS_TIMEOUT: Reason = Reason(0x4);
    /// STREAM_CLOSED.
    pub const STREAM_CLOSED: Reason = Reason(0x5);
    /// FRAME_SIZE_ERROR.
    pub const FRAME_SIZE_ERROR: Reason = Reason(0x6);
    /// REFUSED_STREAM: the stream was not processed; safe to retry.
    pub const REFUSED_STREAM: Reason = Reason(0x7);
    /// CANCEL.
    pub const CANCEL: Reason = Reason(0x8);
    /// COMPRESSION_ERROR.
    pub const COMPRESSION_ERROR: Reason = Reason(0x9);
    /// CONNECT_ERROR.
    pub const CONNECT_ERROR: Reason = Reason(0xa);
    /// ENHANCE_YOUR_CALM: the peer thinks we generate too much load.
    pub const ENHANCE_YOUR_CALM: Reason = Reason(0xb);
    /// INADEQUATE_SECURITY.
    pub const INADEQUATE_SECURITY: Reason = Reason(0xc);
    /// HTTP_1_1_REQUIRED.
    pub const HTTP_1_1_REQUIRED: Reason = Reason(0xd);

    /// The code's name, or `None` for an unknown code.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 14] = [
            "NO_ERROR",
            "PROTOCOL_ERROR",
            "INTERNAL_ERROR",
            "FLOW_CONTROL_ERROR",
            "SETTINGS_TIMEOUT",
            "STREAM_CLOSED",
            "FRAME_SIZE_ERROR",
            "REFUSED_STREAM",
            "CANCEL",
            "COMPRESSION_ERROR",
            "CONNECT_ERROR",
            "ENHANCE_YOUR_CALM",
            "INADEQUATE_SECURITY",
            "HTTP_1_1_REQUIRED",
        ];
        NAMES.get(self.0 as usize).copied()
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "error code {:#x}", self.0),
        }
    }
}

/// One decoded frame. Padding and the deprecated priority fields are gone;
/// everything else is as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// DATA.
    Data {
        /// Stream (never 0).
        stream: u32,
        /// END_STREAM flag.
        end_stream: bool,
        /// Payload without padding.
        data: Bytes,
        /// Length of the whole payload, padding included: what flow
        /// control counts.
        flow_len: u32,
    },
    /// HEADERS (its block fragment; CONTINUATION frames may follow).
    Headers {
        /// Stream (never 0).
        stream: u32,
        /// END_STREAM flag.
        end_stream: bool,
        /// END_HEADERS flag.
        end_headers: bool,
        /// Header block fragment.
        block: Bytes,
    },
    /// PRIORITY (deprecated; read and ignored).
    Priority {
        /// Stream (never 0).
        stream: u32,
    },
    /// RST_STREAM.
    RstStream {
        /// Stream (never 0).
        stream: u32,
        /// Why.
        reason: Reason,
    },
    /// SETTINGS.
    Settings {
        /// ACK flag (then `params` is empty).
        ack: bool,
        /// Parameters in wire order.
        params: Vec<(u16, u32)>,
    },
    /// PUSH_PROMISE (only its stream ids: we never accept one).
    PushPromise {
        /// Stream the promise came on.
        stream: u32,
        /// The promised stream.
        promised: u32,
    },
    /// PING.
    Ping {
        /// ACK flag.
        ack: bool,
        /// Opaque data, echoed by the ACK.
        data: [u8; 8],
    },
    /// GOAWAY.
    GoAway {
        /// Highest stream id the peer may have processed.
        last_stream: u32,
        /// Why.
        reason: Reason,
        /// Opaque debug data.
        debug: Bytes,
    },
    /// WINDOW_UPDATE (an increment of 0 is decoded; the machine rejects it).
    WindowUpdate {
        /// Stream, or 0 for the connection.
        stream: u32,
        /// Window size increment.
        increment: u32,
    },
    /// CONTINUATION.
    Continuation {
        /// Stream (never 0).
        stream: u32,
        /// END_HEADERS flag.
        end_headers: bool,
        /// Header block fragment.
        block: Bytes,
    },
    /// A frame of an unknown type (to be ignored, RFC 9113 §4.1).
    Unknown {
        /// Its type code.
        kind: u8,
        /// Its stream.
        stream: u32,
    },
}

/// A frame that cannot be decoded: always a connection error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The frame is longer than our advertised SETTINGS_MAX_FRAME_SIZE.
    #[error("frame of {len} bytes exceeds the maximum frame size {max}")]
    TooLarge {
        /// Its length.
        len: u32,
        /// Our limit.
        max: u32,
    },
    /// A fixed-size frame has the wrong length.
    #[error("{kind} frame of wrong length {len}")]
    BadLength {
        /// Frame type.
        kind: &'static str,
        /// Its length.
        len: u32,
    },
    /// A frame that belongs to a stream came on stream 0.
    #[error("{kind} frame on stream 0")]
    StreamZero {
        /// Frame type.
        kind: &'static str,
    },
    /// A connection-level frame came on a stream.
    #[error("{kind} frame on stream {stream}, where only stream 0 is allowed")]
    NotStreamZero {
        /// Frame type.
        kind: &'static str,
        /// The stream.
        stream: u32,
    },
    /// The padding is at least as long as the payload.
    #[error("{kind} frame padding is longer than its payload")]
    BadPadding {
        /// Frame type.
        kind: &'static str,
    },
    /// A SETTINGS ACK with parameters.
    #[error("SETTINGS ACK with a payload")]
    SettingsAckWithPayload,
}

impl FrameError {
    /// The HTTP/2 error code to send in GOAWAY for it.
    pub fn reason(&self) -> Reason {
        match self {
            FrameError::TooLarge { .. }
            | FrameError::BadLength { .. }
            | FrameError::SettingsAckWithPayload => Reason::FRAME_SIZE_ERROR,
            _ => Reason::PROTOCOL_ERROR,
        }
    }
}

/// Splits one frame off the front of `buf`, or returns `Ok(None)` when
/// `buf` holds no whole frame yet. `max_frame_size` is the largest payload
/// we advertised.
pub fn decode(buf: &mut BytesMut, max_frame_size: u32) -> Result<Option<Frame>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]);
    if len > max_frame_size {
        return Err(FrameError::TooLarge {
            len,
            max: max_frame_size,
        });
    }
    if buf.len() < HEADER_LEN + len as usize {
        return Ok(None);
    }
    let kind = buf[3];
    let flags = buf[4];
    let stream = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & MAX_WINDOW;
    buf.advance(HEADER_LEN);
    let payload = buf.split_to(len as usize).freeze();
    decode_payload(kind, flags, stream, payload).map(Some)
}

fn need_stream(kind: &'static str, stream: u32) -> Result<(), FrameError> {
    if stream == 0 {
        Err(FrameError::StreamZero { kind })
    } else {
        Ok(())
    }
}

fn need_zero(kind: &'static str, stream: u32) -> Result<(), FrameError> {
    if stream != 0 {
        Err(FrameError::NotStreamZero { kind, stream })
    } else {
        Ok(())
    }
}

fn need_len(kind: &'static str, payload: &Bytes, len: usize) -> Result<(), FrameError> {
    if payload.len() != len {
        Err(FrameError::BadLength {
            kind,
            len: payload.len() as u32,
        })
    } else {
        Ok(())
    }
}

/// Removes the Pad Length byte and the padding of a PADDED frame.
fn strip_padding(kind: &'static str, flags: u8, mut payload: Bytes) -> Result<Bytes, FrameError> {
    if flags & flag::PADDED == 0 {
        return Ok(payload);
    }
    if payload.is_empty() {
        return Err(FrameError::BadPadding { kind });
    }
    let pad = payload[0] as usize;
    payload.advance(1);
    if pad > payload.len() {
        return Err(FrameError::BadPadding { kind });
    }
    payload.truncate(payload.len() - pad);
    Ok(payload)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn decode_payload(kind: u8, flags: u8, stream: u32, payload: Bytes) -> Result<Frame, FrameError> {
    Ok(match kind {
        kind::DATA => {
            need_stream("DATA", stream)?;
            let flow_len = payload.len() as u32;
            Frame::Data {
                stream,
                end_stream: flags & flag::END_STREAM != 0,
                data: strip_padding("DATA", flags, payload)?,
                flow_len,
            }
        }
        kind::HEADERS => {
            need_stream("HEADERS", stream)?;
            let mut block = strip_padding("HEADERS", flags, payload)?;
            if flags & flag::PRIORITY != 0 {
                if block.len() < 5 {
                    return Err(FrameError::BadLength {
                        kind: "HEADERS",
                        len: block.len() as u32,
                    });
                }
                block.advance(5);
            }
            Frame::Headers {
                stream,
                end_stream: flags & flag::END_STREAM != 0,
                end_headers: flags & flag::END_HEADERS != 0,
                block,
            }
        }
        kind::PRIORITY => {
            need_stream("PRIORITY", stream)?;
            need_len("PRIORITY", &payload, 5)?;
            Frame::Priority { stream }
        }
        kind::RST_STREAM => {
            need_stream("RST_STREAM", stream)?;
            need_len("RST_STREAM", &payload, 4)?;
            Frame::RstStream {
                stream,
                reason: Reason(be32(&payload)),
            }
        }
        kind::SETTINGS => {
            need_zero("SETTINGS", stream)?;
            let ack = flags & flag::ACK != 0;
            if ack && !payload.is_empty() {
                return Err(FrameError::SettingsAckWithPayload);
            }
            if !payload.len().is_multiple_of(6) {
                return Err(FrameError::BadLength {
                    kind: "SETTINGS",
                    len: payload.len() as u32,
                });
            }
            let params = payload
                .chunks_exact(6)
                .map(|p| (u16::from_be_bytes([p[0], p[1]]), be32(&p[2..])))
                .collect();
            Frame::Settings { ack, params }
        }
        kind::PUSH_PROMISE => {
            need_stream("PUSH_PROMISE", stream)?;
            let rest = strip_padding("PUSH_PROMISE", flags, payload)?;
            if rest.len() < 4 {
                return Err(FrameError::BadLength {
                    kind: "PUSH_PROMISE",
                    len: rest.len() as u32,
                });
            }
            Frame::PushPromise {
                stream,
                promised: be32(&rest) & MAX_WINDOW,
            }
        }
        kind::PING => {
            need_zero("PING", stream)?;
            need_len("PING", &payload, 8)?;
            let mut data = [0; 8];
            data.copy_from_slice(&payload);
            Frame::Ping {
                ack: flags & flag::ACK != 0,
                data,
            }
        }
        kind::GOAWAY => {
            need_zero("GOAWAY", stream)?;
            if payload.len() < 8 {
                return Err(FrameError::BadLength {
                    kind: "GOAWAY",
                    len: payload.len() as u32,
                });
            }
            Frame::GoAway {
                last_stream: be32(&payload) & MAX_WINDOW,
                reason: Reason(be32(&payload[4..])),
                debug: payload.slice(8..),
            }
        }
        kind::WINDOW_UPDATE => {
            need_len("WINDOW_UPDATE", &payload, 4)?;
            Frame::WindowUpdate {
                stream,
                increment: be32(&payload) & MAX_WINDOW,
            }
        }
        kind::CONTINUATION => {
            need_stream("CONTINUATION", stream)?;
            Frame::Continuation {
                stream,
                end_headers: flags & flag::END_HEADERS != 0,
                block: payload,
            }
        }
        kind => Frame::Unknown { kind, stream },
    })
}

fn put_header(out: &mut BytesMut, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(len <= MAX_MAX_FRAME_SIZE as usize);
    out.put_slice(&(len as u32).to_be_bytes()[1..]);
    out.put_u8(kind);
    out.put_u8(flags);
    out.put_u32(stream & MAX_WINDOW);
}

fn flags_of(pairs: &[(bool, u8)]) -> u8 {
    pairs
        .iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, f)| acc | f)
}

/// Appends `frame` to `out`, unpadded. The caller keeps payloads within the
/// peer's SETTINGS_MAX_FRAME_SIZE. `flow_len` of DATA is ignored (the
/// payload length is what is sent); [`Frame::Unknown`] is written with an
/// empty payload.
pub fn encode(frame: &Frame, out: &mut BytesMut) {
    match frame {
        Frame::Data {
            stream,
            end_stream,
            data,
            ..
        } => {
            put_header(
                out,
                data.len(),
                kind::DATA,
                flags_of(&[(*end_stream, flag::END_STREAM)]),
                *stream,
            );
            out.put_slice(data);
        }
        Frame::Headers {
            stream,
            end_stream,
            end_headers,
            block,
        } => {
            let flags = flags_of(&[
                (*end_stream, flag::END_STREAM),
                (*end_headers, flag::END_HEADERS),
            ]);
            put_header(out, block.len(), kind::HEADERS, flags, *stream);
            out.put_slice(block);
        }
        Frame::Priority { stream } => {
            put_header(out, 5, kind::PRIORITY, 0, *stream);
            out.put_slice(&[0, 0, 0, 0, 15]);
        }
        Frame::RstStream { stream, reason } => {
            put_header(out, 4, kind::RST_STREAM, 0, *stream);
            out.put_u32(reason.0);
        }
        Frame::Settings { ack, params } => {
            put_header(
                out,
                params.len() * 6,
                kind::SETTINGS,
                flags_of(&[(*ack, flag::ACK)]),
                0,
            );
            for (id, value) in params {
                out.put_u16(*id);
                out.put_u32(*value);
            }
        }
        Frame::PushPromise { stream, promised } => {
            put_header(out, 4, kind::PUSH_PROMISE, flag::END_HEADERS, *stream);
            out.put_u32(*promised & MAX_WINDOW);
        }
        Frame::Ping { ack, data } => {
            put_header(out, 8, kind::PING, flags_of(&[(*ack, flag::ACK)]), 0);
            out.put_slice(data);
        }
        Frame::GoAway {
            last_stream,
            reason,
            debug,
        } => {
            put_header(out, 8 + debug.len(), kind::GOAWAY, 0, 0);
            out.put_u32(*last_stream & MAX_WINDOW);
            out.put_u32(reason.0);
            out.put_slice(debug);
        }
        Frame::WindowUpdate { stream, increment } => {
            put_header(out, 4, kind::WINDOW_UPDATE, 0, *stream);
            out.put_u32(*increment & MAX_WINDOW);
        }
        Frame::Continuation {
            stream,
            end_headers,
            block,
        } => {
            put_header(
                out,
                block.len(),
                kind::CONTINUATION,
                flags_of(&[(*end_headers, flag::END_HEADERS)]),
                *stream,
            );
            out.put_slice(block);
        }
        Frame::Unknown { kind, stream } => put_header(out, 0, *kind, 0, *stream),
    }
}

/// Appends a DATA frame header for `len` payload bytes; the caller
/// appends the payload itself (saving a copy through a [`Frame`]).
pub fn encode_data_header(out: &mut BytesMut, stream: u32, len: usize, end_stream: bool) {
    put_header(
        out,
        len,
        kind::DATA,
        flags_of(&[(end_stream, flag::END_STREAM)]),
        stream,
    );
}

/// Appends a header block as one HEADERS frame and as many CONTINUATION
/// frames as `max_frame_size` requires.
pub fn encode_header_block(
    out: &mut BytesMut,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
) {
    let max = max_frame_size as usize;
    let mut chunks = block.chunks(max.max(1));
    let first = chunks.next().unwrap_or(&[]);
    let single = block.len() <= max;
    let flags = flags_of(&[(end_stream, flag::END_STREAM), (single, flag::END_HEADERS)]);
    put_header(out, first.len(), kind::HEADERS, flags, stream);
    out.put_slice(first);
    let mut rest = chunks.peekable();
    while let Some(chunk) = rest.next() {
        let last = rest.peek().is_none();
        put_header(
            out,
            chunk.len(),
            kind::CONTINUATION,
            flags_of(&[(last, flag::END_HEADERS)]),
            stream,
        );
        out.put_slice(chunk);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stream_id() -> impl Strategy<Value = u32> {
        1..=MAX_WINDOW
    }

    fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
    }

    fn frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (stream_id(), any::<bool>(), bytes(300)).prop_map(|(stream, end_stream, data)| {
                Frame::Data {
                    stream,
                    end_stream,
                    flow_len: data.len() as u32,
                    data,
                }
            }),
            (stream_id(), any::<bool>(), any::<bool>(), bytes(300)).prop_map(
                |(stream, end_stream, end_headers, block)| Frame::Headers {
                    stream,
                    end_stream,
                    end_headers,
                    block
                }
            ),
            stream_id().prop_map(|stream| Frame::Priority { stream }),
            (stream_id(), any::<u32>()).prop_map(|(stream, r)| Frame::RstStream {
                stream,
                reason: Reason(r)
            }),
            proptest::collection::vec((any::<u16>(), any::<u32>()), 0..8)
                .prop_map(|params| Frame::Settings { ack: false, params }),
            Just(Frame::Settings {
                ack: true,
                params: vec![]
            }),
            (stream_id(), stream_id())
                .prop_map(|(stream, promised)| Frame::PushPromise { stream, promised }),
            (any::<bool>(), any::<[u8; 8]>()).prop_map(|(ack, data)| Frame::Ping { ack, data }),
            (0..=MAX_WINDOW, any::<u32>(), bytes(40)).prop_map(|(last_stream, r, debug)| {
                Frame::GoAway {
                    last_stream,
                    reason: Reason(r),
                    debug,
                }
            }),
            (0..=MAX_WINDOW, 0..=MAX_WINDOW)
                .prop_map(|(stream, increment)| Frame::WindowUpdate { stream, increment }),
            (stream_id(), any::<bool>(), bytes(300)).prop_map(|(stream, end_headers, block)| {
                Frame::Continuation {
                    stream,
                    end_headers,
                    block,
                }
            }),
            (10u8..=255, 0..=MAX_WINDOW).prop_map(|(kind, stream)| Frame::Unknown { kind, stream }),
        ]
    }

    proptest! {
        /// Every frame we encode decodes to itself, whole or arriving in
        /// two pieces.
        #[test]
        fn encode_decode_round_trip(frames in proptest::collection::vec(frame(), 1..8), cut in any::<prop::sample::Index>()) {
            let mut wire = BytesMut::new();
            for f in &frames {
                encode(f, &mut wire);
            }
            let all = wire.clone().freeze();
            let cut = cut.index(all.len() + 1);
            let mut buf = BytesMut::from(&all[..cut]);
            let mut got = Vec::new();
            while let Some(f) = decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap() {
                got.push(f);
            }
            buf.extend_from_slice(&all[cut..]);
            while let Some(f) = decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap() {
                got.push(f);
            }
            prop_assert!(buf.is_empty());
            prop_assert_eq!(got, frames);
        }

        /// A header block is split at the frame size and reassembles.
        #[test]
        fn header_blocks_split_and_reassemble(block in proptest::collection::vec(any::<u8>(), 0..2000), max in 1u32..700, end_stream: bool) {
            let mut wire = BytesMut::new();
            encode_header_block(&mut wire, 7, &block, end_stream, max);
            let mut joined = Vec::new();
            let mut done = false;
            let mut first = true;
            while let Some(f) = decode(&mut wire, DEFAULT_MAX_FRAME_SIZE).unwrap() {
                prop_assert!(!done);
                match f {
                    Frame::Headers { stream: 7, end_stream: es, end_headers, block } if first => {
                        prop_assert_eq!(es, end_stream);
                        prop_assert!(block.len() <= max as usize);
                        joined.extend_from_slice(&block);
                        done = end_headers;
                    }
                    Frame::Continuation { stream: 7, end_headers, block } if !first => {
                        prop_assert!(block.len() <= max as usize);
                        joined.extend_from_slice(&block);
                        done = end_headers;
                    }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
                first = false;
            }
            prop_assert!(done);
            prop_assert_eq!(joined, block);
        }

        /// Arbitrary bytes never panic the decoder.
        #[test]
        fn arbitrary_bytes_decode_or_fail_typed(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut buf = BytesMut::from(&raw[..]);
            while let Ok(Some(_)) = decode(&mut buf, DEFAULT_MAX_FRAME_SIZE) {}
        }
    }

    #[test]
    fn padding_is_stripped_and_counted_for_flow_control() {
        // DATA, PADDED|END_STREAM, stream 3: pad length 2, "hi", 2 pad bytes.
        let wire = [0, 0, 5, 0, 0x9, 0, 0, 0, 3, 2, b'h', b'i', 0, 0];
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(
            decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap(),
            Some(Frame::Data {
                stream: 3,
                end_stream: true,
                data: Bytes::from_static(b"hi"),
                flow_len: 5,
            })
        );
        // HEADERS, PADDED|PRIORITY|END_HEADERS: pad 1, 5 priority bytes, block "x".
        let wire = [0, 0, 8, 1, 0x2c, 0, 0, 0, 1, 1, 0, 0, 0, 0, 9, b'x', 0];
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(
            decode(&mut buf, DEFAULT_MAX_FRAME_SIZE).unwrap(),
            Some(Frame::Headers {
                stream: 1,
                end_stream: false,
                end_headers: true,
                block: Bytes::from_static(b"x"),
            })
        );
        // Padding longer than the payload.
        let wire = [0, 0, 2, 0, 0x8, 0, 0, 0, 3, 5, 0];
        let mut buf = BytesMut::from(&wire[..]);
        assert_eq!(
            decode(&mut buf, DEFAULT_MAX_FRAME_SIZE),
            Err(FrameError::BadPadding { kind: "DATA" })
        );
    }

    #[test]
    fn oversized_and_misplaced_frames_are_typed_errors() {
        let mut buf = BytesMut::from(&[0, 0x40, 1, 0, 0, 0, 0, 0, 1][..]);
        assert_eq!(
            decode(&mut buf, DEFAULT_MAX_FRAME_SIZE),
            Err(FrameError::TooLarge {
                len: 16_385,
                max: DEFAULT_MAX_FRAME_SIZE
            })
        );
        let mut buf = BytesMut::from(&[0, 0, 8, 6, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0][..]);
        assert_eq!(
            decode(&mut buf, DEFAULT_MAX_FRAME_SIZE),
            Err(FrameError::NotStreamZero {
                kind: "PING",
                stream: 1
            })
        );
        let mut buf = BytesMut::from(&[0, 0, 0, 0, 0, 0, 0, 0, 0][..]);
        assert_eq!(
            decode(&mut buf, DEFAULT_MAX_FRAME_SIZE),
            Err(FrameError::StreamZero { kind: "DATA" })
        );
    }
}
