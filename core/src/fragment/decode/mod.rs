//! Push-style streaming decoders for every fragment codec.
//!
//! A [`Decoder`] is fed stored bytes as they arrive ([`Decoder::push`],
//! [`Decoder::finish`]) and polled for decoded content
//! ([`Decoder::poll`]), at most `max` bytes per poll. Output is produced
//! lazily, one bounded window at a time, so a hostile "zip bomb" never makes
//! the decoder hold more than a window of decoded bytes: nothing is
//! decompressed until it is polled for.
//!
//! Which decoder runs depends on the codec *and* on how the body reached the
//! driver ([`ContentEncoding`]); see [`Decoding::select`].

mod gzip;
pub(crate) mod input;
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

use std::fmt;

use bytes::Bytes;
use gazette_proto::CompressionCodec;

pub use gzip::GzipHeaderError;
pub use snappy::SnappyError;

use input::InputQueue;

/// The largest window of decoded bytes produced by one poll, and the size of
/// the decoder's scratch buffer (64 KiB, the snappy chunk size).
pub const DECODE_WINDOW: usize = 64 * 1024;

/// How the body handed to the decoder relates to the stored fragment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncoding {
    /// The body is the stored file's bytes exactly (a file read, a test
    /// buffer). `GZIP_OFFLOAD_DECOMPRESSION` files are then gunzipped.
    Stored,
    /// An HTTP response without `Content-Encoding` (or `identity`). The store
    /// may have decompressed a `GZIP_OFFLOAD_DECOMPRESSION` object already,
    /// so that codec's body is passed through.
    Identity,
    /// An HTTP response with `Content-Encoding: gzip`: the body is gzip over
    /// whatever the store holds.
    Gzip,
}

impl ContentEncoding {
    /// Classifies an HTTP response's `Content-Encoding` header value (`None`
    /// when absent). `gzip` and `x-gzip` (any case) are gzip; absent, empty
    /// and `identity` are identity; anything else is an error.
    pub fn from_header(value: Option<&str>) -> Result<Self, UnsupportedEncoding> {
        let Some(value) = value else {
            return Ok(Self::Identity);
        };
        let trimmed = value.trim();
        if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("identity") {
            Ok(Self::Identity)
        } else if trimmed.eq_ignore_ascii_case("gzip") || trimmed.eq_ignore_ascii_case("x-gzip") {
            Ok(Self::Gzip)
        } else {
            Err(UnsupportedEncoding(value.to_owned()))
        }
    }
}

/// A `Content-Encoding` the fragment decoder cannot undo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported Content-Encoding {0:?}")]
pub struct UnsupportedEncoding(pub String);

/// The `Accept-Encoding` header value a driver should send when fetching a
/// fragment of `codec` by URL.
///
/// `GZIP` asks for `gzip`, as Go does, so a store never decodes the stored
/// gzip file on the way (the body then always is the stored file).
/// `GZIP_OFFLOAD_DECOMPRESSION` asks for `identity` so the store decompresses
/// it. NONE, SNAPPY and ZSTANDARD ask for `identity` too: Go sends nothing
/// and lets its HTTP transport transparently gunzip (quirk 8); we ask the
/// store not to add an encoding, and still undo a gzip encoding if a store
/// sends one anyway ([`Decoding::select`]), which yields the same content
/// (docs/go-differences.md#d8).
pub fn accept_encoding(codec: CompressionCodec) -> &'static str {
    match codec {
        CompressionCodec::Gzip => "gzip",
        _ => "identity",
    }
}

/// A stored format that needs decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamFormat {
    /// RFC 1952 gzip, any number of members.
    Gzip,
    /// RFC 8878 Zstandard, any number of frames.
    Zstandard,
    /// The snappy framing format.
    Snappy,
}

impl fmt::Display for StreamFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Gzip => "gzip",
            Self::Zstandard => "zstd",
            Self::Snappy => "snappy",
        })
    }
}

/// The decoding steps for one body: an optional transport gunzip, then the
/// codec's own format (or none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decoding {
    /// A gzip `Content-Encoding` to undo before the codec's format.
    pub transport_gzip: bool,
    /// The format of the (transport-decoded) body; `None` passes it through.
    pub format: Option<StreamFormat>,
    /// The codec this read is accounted under: Go relabels an offload
    /// fragment served gzip-encoded as `GZIP` in its metrics.
    pub effective_codec: CompressionCodec,
}

impl Decoding {
    /// Chooses the decoding of a body of a `codec` fragment delivered with
    /// `encoding`:
    ///
    /// | codec | `Stored` | `Identity` | `Gzip` |
    /// |---|---|---|---|
    /// | NONE | pass | pass | gunzip |
    /// | GZIP | gzip | gzip | gzip (the stored file itself, as in Go) |
    /// | ZSTANDARD / SNAPPY | codec | codec | gunzip, then codec |
    /// | GZIP_OFFLOAD_DECOMPRESSION | gzip | pass | gzip, counted as `GZIP` |
    pub fn select(
        codec: CompressionCodec,
        encoding: ContentEncoding,
    ) -> Result<Self, UnsupportedCodec> {
        use CompressionCodec as C;
        use ContentEncoding as E;
        let transport_gzip = encoding == E::Gzip;
        let (transport_gzip, format, effective_codec) = match codec {
            C::None => (transport_gzip, None, codec),
            #[cfg(feature = "zstd")]
            C::Zstandard => (transport_gzip, Some(StreamFormat::Zstandard), codec),
            // Built without the `zstd` feature: no decoder for this codec.
            #[cfg(not(feature = "zstd"))]
            C::Zstandard => return Err(UnsupportedCodec(codec as i32)),
            C::Snappy => (transport_gzip, Some(StreamFormat::Snappy), codec),
            C::Gzip => (false, Some(StreamFormat::Gzip), codec),
            C::GzipOffloadDecompression => match encoding {
                E::Stored => (false, Some(StreamFormat::Gzip), codec),
                E::Identity => (false, None, codec),
                E::Gzip => (false, Some(StreamFormat::Gzip), C::Gzip),
            },
            C::Invalid => return Err(UnsupportedCodec(codec as i32)),
        };
        Ok(Self {
            transport_gzip,
            format,
            effective_codec,
        })
    }
}

/// A codec with no decoder: INVALID, an unknown number, or ZSTANDARD in a
/// build without the `zstd` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unsupported codec {}", codec_name(*.0))]
pub struct UnsupportedCodec(pub i32);

fn codec_name(codec: i32) -> String {
    CompressionCodec::try_from(codec)
        .map(|c| c.as_str_name().to_owned())
        .unwrap_or_else(|_| codec.to_string())
}

/// Why the stored bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ended inside a gzip member, zstd frame or snappy chunk.
    #[error("{0} stream truncated: input ended inside a member, frame or chunk")]
    Truncated(StreamFormat),
    /// A gzip member header is malformed (also: bytes after the last member
    /// that are not another member).
    #[error("gzip: invalid header: {0}")]
    GzipHeader(GzipHeaderError),
    /// The deflate data of a gzip member is malformed.
    #[error("gzip: invalid deflate data: {0}")]
    Deflate(String),
    /// A gzip member's CRC-32 trailer does not match its content.
    #[error("gzip: CRC-32 mismatch (trailer {expected:#010x}, content {actual:#010x})")]
    GzipChecksum {
        /// CRC-32 recorded in the trailer.
        expected: u32,
        /// CRC-32 of the decoded content.
        actual: u32,
    },
    /// A gzip member's ISIZE trailer does not match its content length.
    #[error("gzip: ISIZE mismatch (trailer {expected}, content {actual} mod 2^32)")]
    GzipSize {
        /// ISIZE recorded in the trailer.
        expected: u32,
        /// Decoded length modulo 2^32.
        actual: u32,
    },
    /// libzstd rejected the stream (malformed data, checksum mismatch, ...).
    #[error("zstd: {0}")]
    Zstd(String),
    /// The snappy framing stream is malformed.
    #[error("snappy: {0}")]
    Snappy(SnappyError),
}

/// One result of [`Decoder::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The next decoded bytes (never empty, at most the poll's `max`).
    Content(Bytes),
    /// More stored bytes (or [`Decoder::finish`]) are needed to go on.
    NeedInput,
    /// The stream ended cleanly; every later poll says so again.
    End,
}

/// What a stage produced from its input.
enum StageOutput {
    Content(Bytes),
    NeedInput,
    End,
}

/// One decoding step over an input queue.
enum Stage {
    Passthrough,
    Gzip(Box<gzip::GzipStage>),
    #[cfg(feature = "zstd")]
    Zstd(zstd::ZstdStage),
    /// A zstd stream in a build without the `zstd` feature.
    #[cfg(not(feature = "zstd"))]
    ZstdDisabled,
    Snappy(snappy::SnappyStage),
}

impl Stage {
    fn new(format: Option<StreamFormat>) -> Self {
        match format {
            None => Self::Passthrough,
            Some(StreamFormat::Gzip) => Self::Gzip(Box::default()),
            #[cfg(feature = "zstd")]
            Some(StreamFormat::Zstandard) => Self::Zstd(zstd::ZstdStage::new()),
            #[cfg(not(feature = "zstd"))]
            Some(StreamFormat::Zstandard) => Self::ZstdDisabled,
            Some(StreamFormat::Snappy) => Self::Snappy(snappy::SnappyStage::default()),
        }
    }

    fn poll(
        &mut self,
        input: &mut InputQueue,
        scratch: &mut [u8],
        max: usize,
    ) -> Result<StageOutput, CodecError> {
        match self {
            Self::Passthrough => Ok(if !input.is_empty() {
                StageOutput::Content(input.take_front(max))
            } else if input.is_finished() {
                StageOutput::End
            } else {
                StageOutput::NeedInput
            }),
            Self::Gzip(s) => s.poll(input, scratch, max),
            #[cfg(feature = "zstd")]
            Self::Zstd(s) => s.poll(input, scratch, max),
            #[cfg(not(feature = "zstd"))]
            Self::ZstdDisabled => Err(CodecError::Zstd(
                "gazette-core was built without the `zstd` feature".to_owned(),
            )),
            Self::Snappy(s) => s.poll(input, max),
        }
    }
}

enum Fused {
    Running,
    Ended,
    Failed(CodecError),
}

/// A streaming decoder of one fragment body.
///
/// Feed stored bytes with [`push`](Self::push) as they arrive and call
/// [`finish`](Self::finish) at the end of the body; drain with
/// [`poll`](Self::poll) until it returns [`Decoded::NeedInput`] (push more)
/// or [`Decoded::End`]. Errors and the end are sticky.
///
/// NONE content is passed through as slices of the pushed [`Bytes`]
/// (zero-copy). Compressed formats decode into a 64 KiB scratch buffer and
/// copy out exactly the bytes produced.
pub struct Decoder {
    decoding: Decoding,
    input: InputQueue,
    first: Stage,
    /// The codec stage after a transport gunzip, with its own input queue.
    second: Option<(Stage, InputQueue)>,
    scratch: Vec<u8>,
    state: Fused,
}

impl fmt::Debug for Decoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("decoding", &self.decoding)
            .field("buffered_input", &self.buffered_input())
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// A decoder for a body of a `codec` fragment delivered with `encoding`.
    pub fn new(
        codec: CompressionCodec,
        encoding: ContentEncoding,
    ) -> Result<Self, UnsupportedCodec> {
        Ok(Self::with_decoding(Decoding::select(codec, encoding)?))
    }

    /// A decoder for a raw codec number (as in [`gazette_proto::Fragment`]).
    pub fn for_codec_number(
        codec: i32,
        encoding: ContentEncoding,
    ) -> Result<Self, UnsupportedCodec> {
        let codec = CompressionCodec::try_from(codec).map_err(|_| UnsupportedCodec(codec))?;
        Self::new(codec, encoding)
    }

    /// A decoder running the given decoding steps.
    pub fn with_decoding(decoding: Decoding) -> Self {
        let (first, second) = if decoding.transport_gzip {
            (
                Stage::new(Some(StreamFormat::Gzip)),
                Some((Stage::new(decoding.format), InputQueue::default())),
            )
        } else {
            (Stage::new(decoding.format), None)
        };
        let scratch_len = if decoding.transport_gzip || decoding.format.is_some() {
            DECODE_WINDOW
        } else {
            0
        };
        Self {
            decoding,
            input: InputQueue::default(),
            first,
            second,
            scratch: vec![0; scratch_len],
            state: Fused::Running,
        }
    }

    /// The decoding steps this decoder runs.
    pub fn decoding(&self) -> Decoding {
        self.decoding
    }

    /// Queues stored bytes. Empty chunks are ignored; bytes pushed after
    /// [`finish`](Self::finish) are ignored too.
    pub fn push(&mut self, chunk: Bytes) {
        if !self.input.is_finished() {
            self.input.push(chunk);
        }
    }

    /// Signals the end of the stored bytes.
    pub fn finish(&mut self) {
        self.input.finish();
    }

    /// Stored bytes pushed but not yet consumed by the decoder.
    pub fn buffered_input(&self) -> usize {
        self.input.len() + self.second.as_ref().map_or(0, |(_, q)| q.len())
    }

    /// Decodes up to `max` (clamped to 1..=[`DECODE_WINDOW`]) more bytes.
    pub fn poll(&mut self, max: usize) -> Result<Decoded, CodecError> {
        match &self.state {
            Fused::Running => {}
            Fused::Ended => return Ok(Decoded::End),
            Fused::Failed(e) => return Err(e.clone()),
        }
        let max = max.clamp(1, DECODE_WINDOW);
        match self.poll_stages(max) {
            Ok(StageOutput::Content(b)) => Ok(Decoded::Content(b)),
            Ok(StageOutput::NeedInput) => Ok(Decoded::NeedInput),
            Ok(StageOutput::End) => {
                self.state = Fused::Ended;
                Ok(Decoded::End)
            }
            Err(e) => {
                self.state = Fused::Failed(e.clone());
                Err(e)
            }
        }
    }

    fn poll_stages(&mut self, max: usize) -> Result<StageOutput, CodecError> {
        let Some((second, queue)) = &mut self.second else {
            return self.first.poll(&mut self.input, &mut self.scratch, max);
        };
        loop {
            match second.poll(queue, &mut self.scratch, max)? {
                StageOutput::NeedInput => {}
                done => return Ok(done),
            }
            // The codec stage needs more input: gunzip one more window of it.
            match self
                .first
                .poll(&mut self.input, &mut self.scratch, DECODE_WINDOW)?
            {
                StageOutput::Content(b) => queue.push(b),
                StageOutput::NeedInput => return Ok(StageOutput::NeedInput),
                StageOutput::End => queue.finish(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_encoding_header_values_are_classified() {
        assert_eq!(
            ContentEncoding::from_header(None),
            Ok(ContentEncoding::Identity)
        );
        assert_eq!(
            ContentEncoding::from_header(Some("identity")),
            Ok(ContentEncoding::Identity)
        );
        assert_eq!(
            ContentEncoding::from_header(Some(" GZIP ")),
            Ok(ContentEncoding::Gzip)
        );
        assert_eq!(
            ContentEncoding::from_header(Some("x-gzip")),
            Ok(ContentEncoding::Gzip)
        );
        assert_eq!(
            ContentEncoding::from_header(Some("br")),
            Err(UnsupportedEncoding("br".into()))
        );
    }

    #[test]
    fn decoding_follows_codec_and_content_encoding() {
        use CompressionCodec as C;
        use ContentEncoding as E;
        let plan = |c, e| {
            let d = Decoding::select(c, e).unwrap();
            (d.transport_gzip, d.format, d.effective_codec)
        };
        let gz = Some(StreamFormat::Gzip);
        assert_eq!(plan(C::None, E::Identity), (false, None, C::None));
        assert_eq!(plan(C::None, E::Gzip), (true, None, C::None));
        assert_eq!(plan(C::Gzip, E::Gzip), (false, gz, C::Gzip));
        assert_eq!(
            plan(C::Snappy, E::Gzip),
            (true, Some(StreamFormat::Snappy), C::Snappy)
        );
        assert_eq!(
            plan(C::Zstandard, E::Stored),
            (false, Some(StreamFormat::Zstandard), C::Zstandard)
        );
        let offload = C::GzipOffloadDecompression;
        assert_eq!(plan(offload, E::Stored), (false, gz, offload));
        assert_eq!(plan(offload, E::Identity), (false, None, offload));
        assert_eq!(plan(offload, E::Gzip), (false, gz, C::Gzip));
        assert_eq!(
            Decoding::select(C::Invalid, E::Stored),
            Err(UnsupportedCodec(0))
        );
        assert_eq!(accept_encoding(C::Gzip), "gzip");
        assert_eq!(accept_encoding(offload), "identity");
    }

    #[test]
    fn gzip_header_flags_are_parsed_and_fhcrc_checked() {
        let content = b"flagged member";
        let mut deflate =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut deflate, content).unwrap();
        let deflate = deflate.finish().unwrap();
        let mut header = vec![0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 255];
        header.extend_from_slice(&[3, 0, b'a', b'b', b'c']); // FEXTRA
        header.extend_from_slice(b"name.txt\0"); // FNAME
        header.extend_from_slice(b"a comment\0"); // FCOMMENT
        let mut crc = flate2::Crc::new();
        crc.update(&header);
        let hcrc = (crc.sum() & 0xffff) as u16;
        let mut trailer = flate2::Crc::new();
        trailer.update(content);
        let member = |hcrc: u16| {
            let mut m = header.clone();
            m.extend_from_slice(&hcrc.to_le_bytes());
            m.extend_from_slice(&deflate);
            m.extend_from_slice(&trailer.sum().to_le_bytes());
            m.extend_from_slice(&(content.len() as u32).to_le_bytes());
            m
        };
        // Byte-at-a-time feeding exercises every partial-header state.
        let decode = |body: Vec<u8>| {
            let mut d = Decoder::new(CompressionCodec::Gzip, ContentEncoding::Stored).unwrap();
            let mut out = Vec::new();
            let mut fed = 0;
            loop {
                match d.poll(DECODE_WINDOW)? {
                    Decoded::Content(b) => out.extend_from_slice(&b),
                    Decoded::NeedInput if fed < body.len() => {
                        d.push(Bytes::copy_from_slice(&body[fed..fed + 1]));
                        fed += 1;
                    }
                    Decoded::NeedInput => d.finish(),
                    Decoded::End => return Ok(out),
                }
            }
        };
        assert_eq!(
            decode([member(hcrc), member(hcrc)].concat()),
            Ok([&content[..], content].concat())
        );
        assert_eq!(
            decode(member(hcrc ^ 1)),
            Err(CodecError::GzipHeader(GzipHeaderError::HeaderCrc {
                stored: hcrc ^ 1,
                computed: hcrc
            }))
        );
        let mut reserved = member(hcrc);
        reserved[3] |= 0x20;
        assert_eq!(
            decode(reserved),
            Err(CodecError::GzipHeader(GzipHeaderError::ReservedFlags(0x3e)))
        );
        let mut method = member(hcrc);
        method[2] = 7;
        assert_eq!(
            decode(method),
            Err(CodecError::GzipHeader(GzipHeaderError::Method(7)))
        );
    }

    #[test]
    fn snappy_skippable_and_padding_chunks_are_skipped_and_reserved_ones_rejected() {
        let mut body = b"\xff\x06\x00\x00sNaPpY".to_vec();
        body.extend_from_slice(&[0xfe, 3, 0, 0, 0, 0, 0]); // padding
        body.extend_from_slice(&[0x80, 2, 0, 0, 9, 9]); // reserved skippable
        let data = b"abc";
        body.extend_from_slice(&[0x01, 7, 0, 0]);
        body.extend_from_slice(&crate::fragment::masked_crc32c(data).to_le_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\xff\x06\x00\x00sNaPpY"); // a second stream
        let decode = |body: &[u8]| {
            let mut d = Decoder::new(CompressionCodec::Snappy, ContentEncoding::Stored).unwrap();
            d.push(Bytes::copy_from_slice(body));
            d.finish();
            let mut out = Vec::new();
            loop {
                match d.poll(DECODE_WINDOW)? {
                    Decoded::Content(b) => out.extend_from_slice(&b),
                    Decoded::NeedInput => unreachable!(),
                    Decoded::End => return Ok(out),
                }
            }
        };
        assert_eq!(decode(&body), Ok(b"abc".to_vec()));
        let mut reserved = body.clone();
        reserved.extend_from_slice(&[0x02, 0, 0, 0]);
        assert_eq!(
            decode(&reserved),
            Err(CodecError::Snappy(SnappyError::ReservedChunk(2)))
        );
        assert_eq!(
            decode(&[0x01, 4, 0, 0, 0, 0, 0, 0]),
            Err(CodecError::Snappy(SnappyError::MissingStreamIdentifier(1)))
        );
    }
}
