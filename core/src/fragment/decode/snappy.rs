//! The snappy framing format, parsed here, over `snap::raw::Decoder`.
//!
//! Chunks: `ff` stream identifier (`sNaPpY`, required first, may repeat),
//! `00` compressed data and `01` uncompressed data (each with the masked
//! CRC-32C of its uncompressed bytes, checked, and at most 65536 decoded
//! bytes), `02..=7f` reserved unskippable (an error), `80..=fe` reserved
//! skippable and padding (skipped without buffering). A zero-byte body and a
//! lone stream identifier are both empty streams.

use bytes::Bytes;

use super::input::InputQueue;
use super::{CodecError, StageOutput, StreamFormat};
use crate::fragment::crc32c::masked_crc32c;

const STREAM_IDENTIFIER: &[u8; 6] = b"sNaPpY";
/// Largest uncompressed size of one data chunk.
const MAX_BLOCK: usize = 65536;

/// Why a snappy framing stream was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnappyError {
    /// The first chunk is not the stream identifier.
    #[error("stream does not start with the stream identifier (chunk type {0:#04x})")]
    MissingStreamIdentifier(u8),
    /// A stream identifier chunk has the wrong length or content.
    #[error("malformed stream identifier chunk")]
    BadStreamIdentifier,
    /// A reserved unskippable chunk type (0x02..=0x7f).
    #[error("reserved unskippable chunk type {0:#04x}")]
    ReservedChunk(u8),
    /// A data chunk is too short to hold its checksum, or decodes to more
    /// than 65536 bytes.
    #[error("data chunk of {len} bytes has an invalid size")]
    ChunkSize {
        /// The chunk's length field.
        len: usize,
    },
    /// A data chunk's masked CRC-32C does not match its content.
    #[error("chunk CRC-32C mismatch (stored {expected:#010x}, computed {actual:#010x})")]
    Checksum {
        /// Masked CRC-32C stored in the chunk.
        expected: u32,
        /// Masked CRC-32C of the decoded bytes.
        actual: u32,
    },
    /// The compressed block of a data chunk is malformed.
    #[error("corrupt compressed block: {0}")]
    Block(String),
}

fn corrupt(e: SnappyError) -> CodecError {
    CodecError::Snappy(e)
}

/// Decoder state of a snappy framing stream.
#[derive(Default)]
pub(crate) struct SnappyStage {
    seen_identifier: bool,
    /// Bytes of a skippable chunk still to drop.
    skipping: usize,
    /// Decoded bytes of the current chunk not yet returned.
    pending: Bytes,
    block: snap::raw::Decoder,
}

impl SnappyStage {
    pub(crate) fn poll(
        &mut self,
        input: &mut InputQueue,
        max: usize,
    ) -> Result<StageOutput, CodecError> {
        loop {
            if !self.pending.is_empty() {
                let n = max.min(self.pending.len());
                return Ok(StageOutput::Content(self.pending.split_to(n)));
            }
            if self.skipping > 0 {
                let n = self.skipping.min(input.len());
                input.advance(n);
                self.skipping -= n;
                if self.skipping > 0 {
                    return need(input);
                }
            }
            let mut header = [0u8; 4];
            if !input.peek_into(&mut header) {
                if input.is_empty() && input.is_finished() {
                    return Ok(StageOutput::End);
                }
                return need(input);
            }
            let kind = header[0];
            let len =
                usize::from(header[1]) | usize::from(header[2]) << 8 | usize::from(header[3]) << 16;
            if !self.seen_identifier && kind != 0xff {
                return Err(corrupt(SnappyError::MissingStreamIdentifier(kind)));
            }
            match kind {
                0xff => {
                    if len != STREAM_IDENTIFIER.len() {
                        return Err(corrupt(SnappyError::BadStreamIdentifier));
                    }
                    let mut chunk = [0u8; 10];
                    if !input.peek_into(&mut chunk) {
                        return need(input);
                    }
                    if &chunk[4..] != STREAM_IDENTIFIER {
                        return Err(corrupt(SnappyError::BadStreamIdentifier));
                    }
                    input.advance(10);
                    self.seen_identifier = true;
                }
                0x00 | 0x01 => {
                    let max_len = 4 + if kind == 0x00 {
                        snap::raw::max_compress_len(MAX_BLOCK)
                    } else {
                        MAX_BLOCK
                    };
                    if !(4..=max_len).contains(&len) {
                        return Err(corrupt(SnappyError::ChunkSize { len }));
                    }
                    if input.len() < 4 + len {
                        return need(input);
                    }
                    input.advance(4);
                    let chunk = input.take(len);
                    let expected = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                    let data = chunk.slice(4..);
                    let decoded = if kind == 0x01 {
                        data
                    } else {
                        self.decompress(&data, len)?
                    };
                    let actual = masked_crc32c(&decoded);
                    if actual != expected {
                        return Err(corrupt(SnappyError::Checksum { expected, actual }));
                    }
                    self.pending = decoded;
                }
                0x02..=0x7f => return Err(corrupt(SnappyError::ReservedChunk(kind))),
                0x80..=0xfe => {
                    input.advance(4);
                    self.skipping = len;
                }
            }
        }
    }

    fn decompress(&mut self, block: &[u8], len: usize) -> Result<Bytes, CodecError> {
        let size = snap::raw::decompress_len(block)
            .map_err(|e| corrupt(SnappyError::Block(e.to_string())))?;
        if size > MAX_BLOCK {
            return Err(corrupt(SnappyError::ChunkSize { len }));
        }
        let mut out = vec![0u8; size];
        let n = self
            .block
            .decompress(block, &mut out)
            .map_err(|e| corrupt(SnappyError::Block(e.to_string())))?;
        out.truncate(n);
        Ok(Bytes::from(out))
    }
}

fn need(input: &InputQueue) -> Result<StageOutput, CodecError> {
    if input.is_finished() {
        Err(CodecError::Truncated(StreamFormat::Snappy))
    } else {
        Ok(StageOutput::NeedInput)
    }
}
