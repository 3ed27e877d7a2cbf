//! Multi-member gzip (RFC 1952) over a raw deflate decompressor.
//!
//! Own header and trailer parsing around `flate2::Decompress` (raw deflate),
//! so that every member is read to the end of the input (members that hold
//! zero bytes included), every header flag (FEXTRA, FNAME, FCOMMENT, FHCRC)
//! is handled and FHCRC is checked, and each member's CRC-32 and ISIZE are
//! verified. Output is bounded by the poll's `max`.
//!
//! A zero-byte body is an empty stream (Go fails such a body at open with
//! `EOF`; for the fragment reader both mean "no content";
//! docs/go-differences.md#d7).

use flate2::{Crc, Decompress, FlushDecompress, Status};

use super::input::InputQueue;
use super::{CodecError, StageOutput, StreamFormat};
use bytes::Bytes;

const FTEXT: u8 = 0x01;
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// Why a gzip member header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GzipHeaderError {
    /// The member does not start with `1f 8b` (also: trailing bytes after
    /// the last member).
    #[error("bad magic bytes {0:02x} {1:02x}")]
    Magic(u8, u8),
    /// The compression method is not deflate (8).
    #[error("unsupported compression method {0}")]
    Method(u8),
    /// Reserved flag bits are set.
    #[error("reserved flag bits set in {0:#04x}")]
    ReservedFlags(u8),
    /// The FHCRC header checksum does not match.
    #[error("header CRC-16 mismatch (stored {stored:#06x}, computed {computed:#06x})")]
    HeaderCrc {
        /// CRC-16 stored in the header.
        stored: u16,
        /// Low 16 bits of the CRC-32 of the header bytes.
        computed: u16,
    },
}

/// Where the parser is within the current member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between members (or at the start): more input starts a new member.
    Boundary,
    /// Expecting the 10 fixed header bytes.
    Fixed,
    /// Expecting the 2-byte FEXTRA length.
    ExtraLen,
    /// Skipping FEXTRA data.
    Extra(usize),
    /// Skipping the zero-terminated FNAME.
    Name,
    /// Skipping the zero-terminated FCOMMENT.
    Comment,
    /// Expecting the FHCRC header checksum.
    HeaderCrc,
    /// Inflating deflate data.
    Body,
    /// Expecting the 8-byte CRC-32 + ISIZE trailer.
    Trailer,
}

/// Decoder state of a multi-member gzip stream.
pub(crate) struct GzipStage {
    state: State,
    flags: u8,
    /// CRC-32 of the current header's bytes (for FHCRC).
    header_crc: Crc,
    /// CRC-32 and length of the current member's content.
    content_crc: Crc,
    inflate: Decompress,
}

impl Default for GzipStage {
    fn default() -> Self {
        Self {
            state: State::Boundary,
            flags: 0,
            header_crc: Crc::new(),
            content_crc: Crc::new(),
            inflate: Decompress::new(false),
        }
    }
}

fn truncated() -> CodecError {
    CodecError::Truncated(StreamFormat::Gzip)
}

impl GzipStage {
    pub(crate) fn poll(
        &mut self,
        input: &mut InputQueue,
        scratch: &mut [u8],
        max: usize,
    ) -> Result<StageOutput, CodecError> {
        loop {
            match self.state {
                State::Boundary => {
                    if input.is_empty() {
                        return Ok(if input.is_finished() {
                            StageOutput::End
                        } else {
                            StageOutput::NeedInput
                        });
                    }
                    self.header_crc.reset();
                    self.content_crc.reset();
                    self.inflate.reset(false);
                    self.state = State::Fixed;
                }
                State::Fixed => {
                    let mut h = [0u8; 10];
                    if !input.peek_into(&mut h) {
                        // Reject garbage as soon as its first two bytes are known.
                        let mut m = [0u8; 2];
                        if input.peek_into(&mut m) && m != [0x1f, 0x8b] {
                            return Err(CodecError::GzipHeader(GzipHeaderError::Magic(m[0], m[1])));
                        }
                        return need(input);
                    }
                    if (h[0], h[1]) != (0x1f, 0x8b) {
                        return Err(CodecError::GzipHeader(GzipHeaderError::Magic(h[0], h[1])));
                    }
                    if h[2] != 8 {
                        return Err(CodecError::GzipHeader(GzipHeaderError::Method(h[2])));
                    }
                    if h[3] & FRESERVED != 0 {
                        return Err(CodecError::GzipHeader(GzipHeaderError::ReservedFlags(h[3])));
                    }
                    self.flags = h[3] & !FTEXT;
                    self.header_crc.update(&h);
                    input.advance(10);
                    self.state = State::ExtraLen;
                }
                State::ExtraLen => {
                    if self.flags & FEXTRA == 0 {
                        self.state = State::Name;
                        continue;
                    }
                    let mut l = [0u8; 2];
                    if !input.peek_into(&mut l) {
                        return need(input);
                    }
                    self.header_crc.update(&l);
                    input.advance(2);
                    self.state = State::Extra(usize::from(u16::from_le_bytes(l)));
                }
                State::Extra(remaining) => {
                    if remaining == 0 {
                        self.state = State::Name;
                        continue;
                    }
                    let front = input.front();
                    if front.is_empty() {
                        return need(input);
                    }
                    let n = remaining.min(front.len());
                    self.header_crc.update(&front[..n]);
                    input.advance(n);
                    self.state = State::Extra(remaining - n);
                }
                State::Name | State::Comment => {
                    let flag = if self.state == State::Name {
                        FNAME
                    } else {
                        FCOMMENT
                    };
                    if self.flags & flag != 0 && !self.skip_zero_terminated(input) {
                        return need(input);
                    }
                    self.state = if self.state == State::Name {
                        State::Comment
                    } else {
                        State::HeaderCrc
                    };
                }
                State::HeaderCrc => {
                    if self.flags & FHCRC != 0 {
                        let mut c = [0u8; 2];
                        if !input.peek_into(&mut c) {
                            return need(input);
                        }
                        let stored = u16::from_le_bytes(c);
                        let computed = (self.header_crc.sum() & 0xffff) as u16;
                        if stored != computed {
                            return Err(CodecError::GzipHeader(GzipHeaderError::HeaderCrc {
                                stored,
                                computed,
                            }));
                        }
                        input.advance(2);
                    }
                    self.state = State::Body;
                }
                State::Body => {
                    let front = input.front();
                    let out = &mut scratch[..max];
                    let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
                    let status = self
                        .inflate
                        .decompress(front, out, FlushDecompress::None)
                        .map_err(|e| CodecError::Deflate(e.to_string()))?;
                    let consumed = (self.inflate.total_in() - in0) as usize;
                    let produced = (self.inflate.total_out() - out0) as usize;
                    input.advance(consumed);
                    self.content_crc.update(&out[..produced]);
                    if status == Status::StreamEnd {
                        self.state = State::Trailer;
                    }
                    if produced > 0 {
                        return Ok(StageOutput::Content(Bytes::copy_from_slice(
                            &out[..produced],
                        )));
                    }
                    if status != Status::StreamEnd && consumed == 0 {
                        if input.is_empty() {
                            return need(input);
                        }
                        // Input available, yet no progress: the inflater is stuck.
                        return Err(CodecError::Deflate("no progress on available input".into()));
                    }
                }
                State::Trailer => {
                    let mut t = [0u8; 8];
                    if !input.peek_into(&mut t) {
                        return need(input);
                    }
                    let expected = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
                    let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
                    let actual = self.content_crc.sum();
                    if expected != actual {
                        return Err(CodecError::GzipChecksum { expected, actual });
                    }
                    if size != self.content_crc.amount() {
                        return Err(CodecError::GzipSize {
                            expected: size,
                            actual: self.content_crc.amount(),
                        });
                    }
                    input.advance(8);
                    self.state = State::Boundary;
                }
            }
        }
    }

    /// Consumes header bytes through a zero terminator; false if the input
    /// ran out before it.
    fn skip_zero_terminated(&mut self, input: &mut InputQueue) -> bool {
        loop {
            let front = input.front();
            if front.is_empty() {
                return false;
            }
            if let Some(i) = front.iter().position(|&b| b == 0) {
                self.header_crc.update(&front[..=i]);
                input.advance(i + 1);
                return true;
            }
            let n = front.len();
            self.header_crc.update(front);
            input.advance(n);
        }
    }
}

/// The result when the current element needs more bytes than are buffered.
fn need(input: &InputQueue) -> Result<StageOutput, CodecError> {
    if input.is_finished() {
        Err(truncated())
    } else {
        Ok(StageOutput::NeedInput)
    }
}
