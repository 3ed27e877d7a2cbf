//! The fragment reader: codec decoding plus Go's offset accounting
//! (docs/behaviour.md#fragment-reader).

use bytes::{Buf, Bytes};
use gazette_proto::{CompressionCodec, Fragment};

use super::decode::{
    CodecError, ContentEncoding, DECODE_WINDOW, Decoded, Decoder, Decoding, StreamFormat,
    UnsupportedCodec,
};

/// Why reading a fragment failed. Every variant is sticky: once returned,
/// [`FragmentReader::poll`] returns it again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// The decoded stream ended before the fragment's end (Go:
    /// `io.ErrUnexpectedEOF`).
    #[error("unexpected EOF: fragment content ended at offset {offset}, before Fragment.End {end}")]
    UnexpectedEof {
        /// Offset at which the content ended.
        offset: i64,
        /// The fragment's end.
        end: i64,
    },
    /// The stored bytes ended inside a gzip member, zstd frame or snappy
    /// chunk. An unexpected EOF too, detected by the format.
    #[error("unexpected EOF: {format} stream truncated at content offset {offset}")]
    Truncated {
        /// The format that was cut off.
        format: StreamFormat,
        /// Offset reached before the cut.
        offset: i64,
    },
    /// The decoded stream holds more than `end - begin` bytes (Go:
    /// `ErrDidNotReadExpectedEOF`). All content up to `end` was delivered.
    #[error("did not read EOF at expected Fragment.End")]
    DidNotReadExpectedEof {
        /// The fragment's end, where the content should have stopped.
        end: i64,
    },
    /// The stored bytes are malformed or fail an integrity check.
    #[error("corrupt {codec} fragment content at offset {offset}: {cause}")]
    Corrupt {
        /// Name of the effective codec (`GZIP`, `SNAPPY`, ...).
        codec: &'static str,
        /// Offset reached before the corruption was detected.
        offset: i64,
        /// The decoder's diagnosis.
        cause: CodecError,
    },
}

/// Coarse classes of [`FragmentError`], as the fragment test vectors name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FragmentErrorKind {
    /// The content is shorter than the fragment (or the stream is cut off).
    UnexpectedEof,
    /// The content is longer than the fragment.
    ContentTooLong,
    /// The stored bytes are damaged.
    Corrupt,
}

impl FragmentError {
    /// The class of this error.
    pub fn kind(&self) -> FragmentErrorKind {
        match self {
            Self::UnexpectedEof { .. } | Self::Truncated { .. } => FragmentErrorKind::UnexpectedEof,
            Self::DidNotReadExpectedEof { .. } => FragmentErrorKind::ContentTooLong,
            Self::Corrupt { .. } => FragmentErrorKind::Corrupt,
        }
    }
}

/// Why a [`FragmentReader`] could not be built, or a seek was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentSetupError {
    /// The codec has no decoder.
    #[error(transparent)]
    Codec(#[from] UnsupportedCodec),
    /// The fragment's `begin > end`.
    #[error("expected Begin <= End (have {begin}, {end})")]
    BeginAfterEnd {
        /// Fragment begin.
        begin: i64,
        /// Fragment end.
        end: i64,
    },
    /// The requested offset lies beyond the fragment's end.
    #[error("offset {offset} is beyond Fragment.End {end}")]
    OffsetBeyondEnd {
        /// Requested offset.
        offset: i64,
        /// Fragment end.
        end: i64,
    },
    /// A seek to an offset already passed; reading backwards needs a new
    /// reader (a new fetch of the fragment).
    #[error("cannot seek back from offset {offset} to {target}")]
    SeekBackward {
        /// Current offset.
        offset: i64,
        /// Requested offset.
        target: i64,
    },
}

/// One output of [`FragmentReader::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FragmentEvent {
    /// Journal content starting at `offset` (never empty).
    Content {
        /// Journal offset of `content[0]`.
        offset: i64,
        /// The bytes.
        content: Bytes,
    },
    /// Feed more of the body ([`FragmentReader::feed`]) or its end
    /// ([`FragmentReader::feed_end`]), then poll again.
    NeedInput,
    /// The content ended exactly at the fragment's end. Sticky.
    Eof,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Reading,
    /// Content up to `end` was delivered; this error comes next.
    Failing(FragmentError),
    Eof,
}

/// Reads one fragment body: decodes it, discards content before the
/// requested offset, and checks that the content ends exactly at the
/// fragment's end.
///
/// Sans-IO: the driver feeds body bytes as they arrive ([`feed`](Self::feed),
/// [`feed_end`](Self::feed_end)) and drains [`poll`](Self::poll) until it
/// returns [`FragmentEvent::NeedInput`] or [`FragmentEvent::Eof`], or an
/// error. Feeding only when asked ([`FragmentEvent::NeedInput`]) keeps the
/// buffered body to one fed chunk. Each poll decodes at most one window
/// (64 KiB), and never more than
/// one byte past the fragment's end, so a body that inflates without limit
/// costs at most a window of memory and is rejected as soon as it passes
/// `end`.
///
/// # Go quirks
///
/// - **Quirk 6** (Go leaves `Offset` past `end` when it reports
///   `ErrDidNotReadExpectedEOF`): *fixed*. The content up to `end` is
///   delivered, [`offset`](Self::offset) stops at `end`, and the next poll
///   returns [`FragmentError::DidNotReadExpectedEof`]. Offsets past `end`
///   would name journal bytes this fragment does not hold
///   (docs/go-differences.md#d7).
/// - **Quirk 7** (`offset < begin` silently starts at `begin`):
///   *reproduced*. A broker answers a read of removed content with a
///   later fragment, and reading from its `begin` is the useful behaviour;
///   every [`FragmentEvent::Content`] carries its offset and
///   [`requested_offset`](Self::requested_offset) keeps the request, so the
///   jump is visible to the caller instead of silent.
/// - **Quirk 8** (Go's HTTP transport transparently gunzips NONE, SNAPPY and
///   ZSTANDARD bodies served with `Content-Encoding: gzip`): the *result* is
///   reproduced, since [`ContentEncoding::Gzip`] is undone before the codec;
///   the request side is fixed by
///   [`accept_encoding`](super::decode::accept_encoding) asking for
///   `identity` (docs/go-differences.md#d8).
/// - **Quirk 30** (offload fragments named without extension): see
///   [`super::name`].
///
/// Unlike Go, an offset beyond `end` is refused at construction
/// ([`FragmentSetupError::OffsetBeyondEnd`]) instead of failing the
/// pre-seek with an EOF-class error after reading the whole body, and a
/// zero-byte gzip body is an empty stream rather than an open error
/// (docs/go-differences.md#d7).
///
/// # Metrics
///
/// [`bytes_read`](Self::bytes_read) and
/// [`bytes_discarded`](Self::bytes_discarded) are Go's
/// `gazette_read_fragment_bytes_total` and
/// `gazette_discard_fragment_bytes_total`, for the label
/// [`codec_label`](Self::codec_label). Bytes skipped by
/// [`seek`](Self::seek) count as discarded (Go's `Reader.Seek` reads them
/// through the fragment reader and so counts them as read).
#[derive(Debug)]
pub struct FragmentReader {
    begin: i64,
    end: i64,
    requested_offset: i64,
    /// Next offset to deliver (or discard).
    offset: i64,
    /// Content before this offset is discarded.
    discard_to: i64,
    decoder: Decoder,
    bytes_read: u64,
    bytes_discarded: u64,
    state: State,
}

impl FragmentReader {
    /// A reader of `fragment`'s body, starting at `offset`, for a body
    /// delivered with `encoding`.
    pub fn new(
        fragment: &Fragment,
        offset: i64,
        encoding: ContentEncoding,
    ) -> Result<Self, FragmentSetupError> {
        let codec = CompressionCodec::try_from(fragment.compression_codec)
            .map_err(|_| UnsupportedCodec(fragment.compression_codec))?;
        Self::with_range(fragment.begin, fragment.end, codec, offset, encoding)
    }

    /// A reader of the content `[begin, end)` stored with `codec`, starting
    /// at `offset`, for a body delivered with `encoding`.
    pub fn with_range(
        begin: i64,
        end: i64,
        codec: CompressionCodec,
        offset: i64,
        encoding: ContentEncoding,
    ) -> Result<Self, FragmentSetupError> {
        if begin > end {
            return Err(FragmentSetupError::BeginAfterEnd { begin, end });
        }
        if offset > end {
            return Err(FragmentSetupError::OffsetBeyondEnd { offset, end });
        }
        Ok(Self {
            begin,
            end,
            requested_offset: offset,
            offset: begin,
            discard_to: offset.max(begin),
            decoder: Decoder::new(codec, encoding)?,
            bytes_read: 0,
            bytes_discarded: 0,
            state: State::Reading,
        })
    }

    /// The fragment's begin offset.
    pub fn begin(&self) -> i64 {
        self.begin
    }

    /// The fragment's end offset.
    pub fn end(&self) -> i64 {
        self.end
    }

    /// The offset the reader was asked to start at (may be before `begin`).
    pub fn requested_offset(&self) -> i64 {
        self.requested_offset
    }

    /// The journal offset of the next content byte to deliver, in
    /// `[begin, end]`: the requested offset (or [`seek`](Self::seek) target)
    /// until the content before it has been discarded, as Go's
    /// `FragmentReader.Offset` after its pre-seek.
    pub fn offset(&self) -> i64 {
        self.offset.max(self.discard_to)
    }

    /// The journal offset the decoded stream has reached (delivered or
    /// discarded), in `[begin, end]`.
    pub fn decoded_offset(&self) -> i64 {
        self.offset
    }

    /// The decoding steps in use.
    pub fn decoding(&self) -> Decoding {
        self.decoder.decoding()
    }

    /// The codec name the fragment metrics are labelled with: the effective
    /// codec (`GZIP` for an offload fragment served gzip-encoded).
    pub fn codec_label(&self) -> &'static str {
        self.decoder.decoding().effective_codec.as_str_name()
    }

    /// Content bytes delivered by [`poll`](Self::poll) so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// Content bytes decoded and dropped to reach the requested offset or a
    /// [`seek`](Self::seek) target.
    pub fn bytes_discarded(&self) -> u64 {
        self.bytes_discarded
    }

    /// Body bytes fed but not yet decoded. A driver may use it to bound how
    /// far ahead it reads.
    pub fn buffered_input(&self) -> usize {
        self.decoder.buffered_input()
    }

    /// Feeds the next bytes of the body.
    pub fn feed(&mut self, chunk: Bytes) {
        self.decoder.push(chunk);
    }

    /// Signals the end of the body.
    pub fn feed_end(&mut self) {
        self.decoder.finish();
    }

    /// Skips forward to `target` (within `[offset, end]`) by discarding
    /// decoded content on the following polls.
    pub fn seek(&mut self, target: i64) -> Result<(), FragmentSetupError> {
        let current = self.offset();
        if target < current {
            return Err(FragmentSetupError::SeekBackward {
                offset: current,
                target,
            });
        }
        if target > self.end {
            return Err(FragmentSetupError::OffsetBeyondEnd {
                offset: target,
                end: self.end,
            });
        }
        self.discard_to = target;
        Ok(())
    }

    /// Decodes the next piece of content, or says what is needed next.
    pub fn poll(&mut self) -> Result<FragmentEvent, FragmentError> {
        match &self.state {
            State::Reading => {}
            State::Eof => return Ok(FragmentEvent::Eof),
            State::Failing(e) => return Err(e.clone()),
        }
        loop {
            let remaining = (self.end - self.offset) as u64;
            // One byte more than the fragment can hold is enough to notice a
            // body that runs past `end`.
            let max = remaining.saturating_add(1).min(DECODE_WINDOW as u64) as usize;
            let mut content = match self.decoder.poll(max) {
                Ok(Decoded::Content(b)) => b,
                Ok(Decoded::NeedInput) => return Ok(FragmentEvent::NeedInput),
                Ok(Decoded::End) if self.offset == self.end => {
                    self.state = State::Eof;
                    return Ok(FragmentEvent::Eof);
                }
                Ok(Decoded::End) => {
                    return Err(self.fail(FragmentError::UnexpectedEof {
                        offset: self.offset,
                        end: self.end,
                    }));
                }
                Err(CodecError::Truncated(format)) => {
                    return Err(self.fail(FragmentError::Truncated {
                        format,
                        offset: self.offset,
                    }));
                }
                Err(cause) => {
                    return Err(self.fail(FragmentError::Corrupt {
                        codec: self.codec_label(),
                        offset: self.offset,
                        cause,
                    }));
                }
            };
            let overshoot = content.len() as u64 > remaining;
            if overshoot {
                content.truncate(remaining as usize);
            }
            if self.offset < self.discard_to {
                let skip = ((self.discard_to - self.offset) as usize).min(content.len());
                content.advance(skip);
                self.offset += skip as i64;
                self.bytes_discarded += skip as u64;
            }
            if overshoot {
                self.state = State::Failing(FragmentError::DidNotReadExpectedEof { end: self.end });
            }
            if content.is_empty() {
                if let State::Failing(e) = &self.state {
                    return Err(e.clone());
                }
                continue;
            }
            let offset = self.offset;
            self.offset += content.len() as i64;
            self.bytes_read += content.len() as u64;
            return Ok(FragmentEvent::Content { offset, content });
        }
    }

    fn fail(&mut self, error: FragmentError) -> FragmentError {
        self.state = State::Failing(error.clone());
        error
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn drain(reader: &mut FragmentReader) -> (Vec<(i64, Bytes)>, Result<(), FragmentError>, usize) {
        let mut events = Vec::new();
        for polls in 1.. {
            match reader.poll() {
                Ok(FragmentEvent::Content { offset, content }) => events.push((offset, content)),
                Ok(FragmentEvent::NeedInput) => reader.feed_end(),
                Ok(FragmentEvent::Eof) => return (events, Ok(()), polls),
                Err(e) => return (events, Err(e), polls),
            }
        }
        unreachable!()
    }

    #[test]
    fn none_content_is_passed_through_as_slices_of_the_fed_bytes() {
        let body = Bytes::from_static(b"hello, world");
        let mut reader =
            FragmentReader::with_range(0, 12, CompressionCodec::None, 7, ContentEncoding::Stored)
                .unwrap();
        reader.feed(body.clone());
        let (events, result, _) = drain(&mut reader);
        assert_eq!(result, Ok(()));
        assert_eq!(events.len(), 1);
        let (offset, content) = &events[0];
        assert_eq!((*offset, &content[..]), (7, &b"world"[..]));
        assert_eq!(
            content.as_ptr(),
            body[7..].as_ptr(),
            "zero-copy slice of the fed chunk"
        );
    }

    #[test]
    #[cfg(feature = "zstd")]
    fn zip_bomb_is_rejected_one_byte_past_end_without_inflating_it() {
        // 256 MiB of zeros compresses to a few KiB; the fragment claims 10 bytes.
        let mut e = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..256 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = Bytes::from(e.finish().unwrap());
        let mut reader = FragmentReader::with_range(
            0,
            10,
            CompressionCodec::Zstandard,
            0,
            ContentEncoding::Stored,
        )
        .unwrap();
        reader.feed(bomb);
        reader.feed_end();
        let (events, result, polls) = drain(&mut reader);
        assert_eq!(
            result,
            Err(FragmentError::DidNotReadExpectedEof { end: 10 })
        );
        assert_eq!(events, vec![(0, Bytes::from(vec![0u8; 10]))]);
        assert_eq!(polls, 2, "the first window already shows the overshoot");
    }

    #[test]
    fn seek_discards_forward_and_refuses_backward_or_past_end() {
        let mut reader =
            FragmentReader::with_range(10, 20, CompressionCodec::None, 12, ContentEncoding::Stored)
                .unwrap();
        assert_eq!((reader.offset(), reader.decoded_offset()), (12, 10));
        assert_eq!(
            reader.seek(11),
            Err(FragmentSetupError::SeekBackward {
                offset: 12,
                target: 11
            })
        );
        assert_eq!(
            reader.seek(21),
            Err(FragmentSetupError::OffsetBeyondEnd {
                offset: 21,
                end: 20
            })
        );
        reader.feed(Bytes::from_static(b"0123"));
        assert_eq!(
            reader.poll(),
            Ok(FragmentEvent::Content {
                offset: 12,
                content: Bytes::from_static(b"23")
            })
        );
        reader.seek(17).unwrap();
        reader.feed(Bytes::from_static(b"456789"));
        let (events, result, _) = drain(&mut reader);
        assert_eq!(result, Ok(()));
        assert_eq!(events, vec![(17, Bytes::from_static(b"789"))]);
        assert_eq!((reader.bytes_read(), reader.bytes_discarded()), (5, 5));
    }

    #[test]
    fn setup_rejects_bad_ranges_and_codecs() {
        let fragment = Fragment {
            begin: 5,
            end: 4,
            compression_codec: 1,
            ..Fragment::default()
        };
        assert_eq!(
            FragmentReader::new(&fragment, 5, ContentEncoding::Stored).unwrap_err(),
            FragmentSetupError::BeginAfterEnd { begin: 5, end: 4 }
        );
        let fragment = Fragment {
            begin: 0,
            end: 4,
            compression_codec: 0,
            ..Fragment::default()
        };
        assert_eq!(
            FragmentReader::new(&fragment, 0, ContentEncoding::Stored).unwrap_err(),
            FragmentSetupError::Codec(UnsupportedCodec(0))
        );
        let fragment = Fragment {
            begin: 0,
            end: 4,
            compression_codec: 99,
            ..Fragment::default()
        };
        assert_eq!(
            FragmentReader::new(&fragment, 0, ContentEncoding::Stored)
                .unwrap_err()
                .to_string(),
            "unsupported codec 99"
        );
    }
}
