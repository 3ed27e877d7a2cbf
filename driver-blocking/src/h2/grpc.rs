//! gRPC over HTTP/2 beyond the frames: the 5-byte length-prefixed message
//! framing, `grpc-timeout` values, `grpc-message` percent-decoding and the
//! status a non-gRPC HTTP answer maps to.
//!
//! See docs/blocking-transport.md.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The largest message we accept, as tonic's and Go's default receive
/// limit: 16 MiB.
pub const MAX_RECEIVE_MESSAGE: usize = 16 << 20;

/// Length of the message prefix: a compressed flag and a big-endian u32.
pub const PREFIX_LEN: usize = 5;

/// gRPC status codes used by the machine itself.
pub mod code {
    /// OK.
    pub const OK: u32 = 0;
    /// CANCELLED.
    pub const CANCELLED: u32 = 1;
    /// UNKNOWN.
    pub const UNKNOWN: u32 = 2;
    /// DEADLINE_EXCEEDED.
    pub const DEADLINE_EXCEEDED: u32 = 4;
    /// PERMISSION_DENIED.
    pub const PERMISSION_DENIED: u32 = 7;
    /// RESOURCE_EXHAUSTED.
    pub const RESOURCE_EXHAUSTED: u32 = 8;
    /// UNIMPLEMENTED.
    pub const UNIMPLEMENTED: u32 = 12;
    /// INTERNAL.
    pub const INTERNAL: u32 = 13;
    /// UNAVAILABLE.
    pub const UNAVAILABLE: u32 = 14;
    /// UNAUTHENTICATED.
    pub const UNAUTHENTICATED: u32 = 16;
}

/// A message that cannot be framed out of a stream's DATA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// A message prefix announced more than the receive limit.
    #[error("message of {len} bytes exceeds the {limit}-byte receive limit")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A message flagged compressed (we never ask for compression).
    #[error("compressed message, though no grpc-encoding was negotiated")]
    Compressed,
    /// The compressed flag is neither 0 nor 1.
    #[error("invalid message flag {0:#x}")]
    BadFlag(u8),
    /// The stream ended inside a message.
    #[error("stream ended {missing} bytes short of a whole message")]
    Truncated {
        /// Bytes missing.
        missing: usize,
    },
}

/// Appends the 5-byte prefix of an uncompressed message of `len` bytes.
pub fn encode_prefix(len: usize, out: &mut BytesMut) {
    out.put_u8(0);
    out.put_u32(u32::try_from(len).expect("gRPC messages are shorter than 4 GiB"));
}

/// Reassembles length-prefixed messages from DATA payloads of one stream.
#[derive(Debug)]
pub struct MessageDecoder {
    buf: BytesMut,
    /// Length of the message being received, once its prefix was read.
    want: Option<usize>,
    limit: usize,
}

impl MessageDecoder {
    /// A decoder refusing messages above `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            want: None,
            limit,
        }
    }

    /// Adds a DATA payload.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole message, if one is buffered.
    pub fn next_message(&mut self) -> Result<Option<Bytes>, MessageError> {
        if self.want.is_none() {
            if self.buf.len() < PREFIX_LEN {
                return Ok(None);
            }
            match self.buf[0] {
                0 => {}
                1 => return Err(MessageError::Compressed),
                other => return Err(MessageError::BadFlag(other)),
            }
            let len =
                u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
            if len > self.limit {
                return Err(MessageError::TooLarge {
                    len,
                    limit: self.limit,
                });
            }
            self.buf.advance(PREFIX_LEN);
            self.buf.reserve(len.saturating_sub(self.buf.len()));
            self.want = Some(len);
        }
        let want = self.want.unwrap_or_default();
        if self.buf.len() < want {
            return Ok(None);
        }
        self.want = None;
        Ok(Some(self.buf.split_to(want).freeze()))
    }

    /// Checks that the stream ended between messages.
    pub fn finish(&self) -> Result<(), MessageError> {
        let missing = match self.want {
            Some(want) => want - self.buf.len(),
            None if self.buf.is_empty() => return Ok(()),
            None => PREFIX_LEN - self.buf.len(),
        };
        Err(MessageError::Truncated { missing })
    }
}

/// The `grpc-timeout` value for `timeout`: at most 8 digits and a unit,
/// rounded up so the server never sees a shorter deadline than ours.
pub fn encode_timeout(timeout: Duration) -> String {
    const MAX: u128 = 99_999_999;
    let nanos = timeout.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (per, unit) in units {
        let value = nanos.div_ceil(per);
        if value <= MAX {
            return format!("{value}{unit}");
        }
    }
    format!("{MAX}H")
}

/// Decodes a percent-encoded `grpc-message` (lossy on invalid UTF-8, and a
/// `%` not followed by two hex digits is kept as is).
pub fn decode_message(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The gRPC status of an HTTP answer that is not a gRPC one (status other
/// than 200), as gRPC's HTTP mapping gives it.
pub fn status_of_http(status: u16) -> u32 {
    match status {
        400 => code::INTERNAL,
        401 => code::UNAUTHENTICATED,
        403 => code::PERMISSION_DENIED,
        404 => code::UNIMPLEMENTED,
        429 | 502 | 503 | 504 => code::UNAVAILABLE,
        _ => code::UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Messages framed back to back come out whole and in order
        /// whatever the DATA boundaries.
        #[test]
        fn messages_reassemble_across_any_split(
            messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..10),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let mut wire = BytesMut::new();
            for m in &messages {
                encode_prefix(m.len(), &mut wire);
                wire.extend_from_slice(m);
            }
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
            cuts.push(0);
            cuts.push(wire.len());
            cuts.sort_unstable();
            let mut decoder = MessageDecoder::new(MAX_RECEIVE_MESSAGE);
            let mut got = Vec::new();
            for w in cuts.windows(2) {
                decoder.push(&wire[w[0]..w[1]]);
                while let Some(m) = decoder.next_message().unwrap() {
                    got.push(m.to_vec());
                }
            }
            decoder.finish().unwrap();
            prop_assert_eq!(got, messages);
        }

        /// grpc-timeout never undershoots and fits 8 digits.
        #[test]
        fn timeouts_round_up_within_eight_digits(nanos in any::<u64>()) {
            let t = Duration::from_nanos(nanos);
            let s = encode_timeout(t);
            let (digits, unit) = s.split_at(s.len() - 1);
            prop_assert!(digits.len() <= 8);
            let per: u128 = match unit {
                "n" => 1, "u" => 1_000, "m" => 1_000_000, "S" => 1_000_000_000,
                "M" => 60_000_000_000, "H" => 3_600_000_000_000, _ => unreachable!(),
            };
            prop_assert!(digits.parse::<u128>().unwrap() * per >= t.as_nanos());
        }
    }

    #[test]
    fn messages_over_the_limit_are_refused_before_buffering() {
        let mut decoder = MessageDecoder::new(MAX_RECEIVE_MESSAGE);
        let mut wire = BytesMut::new();
        encode_prefix(MAX_RECEIVE_MESSAGE + 1, &mut wire);
        decoder.push(&wire);
        assert_eq!(
            decoder.next_message(),
            Err(MessageError::TooLarge {
                len: MAX_RECEIVE_MESSAGE + 1,
                limit: MAX_RECEIVE_MESSAGE
            })
        );
        let mut decoder = MessageDecoder::new(10);
        decoder.push(&[1, 0, 0, 0, 0]);
        assert_eq!(decoder.next_message(), Err(MessageError::Compressed));
        let mut decoder = MessageDecoder::new(10);
        decoder.push(&[0, 0, 0, 0, 4, 1]);
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(
            decoder.finish(),
            Err(MessageError::Truncated { missing: 3 })
        );
    }

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(
            decode_message(b"no%20journal%3A%20a%2Fb"),
            "no journal: a/b"
        );
        assert_eq!(decode_message(b"caf%C3%A9 100%"), "café 100%");
        assert_eq!(decode_message(b"%zz%4"), "%zz%4");
        assert_eq!(encode_timeout(Duration::from_secs(30)), "30000000u");
        assert_eq!(encode_timeout(Duration::from_millis(1)), "1000000n");
        assert_eq!(
            encode_timeout(Duration::from_secs(86_400 * 365)),
            "31536000S"
        );
    }
}
