//! Zstandard (RFC 8878) over libzstd's streaming decompressor.
//!
//! libzstd's `ZSTD_decompressStream` continues across concatenated frames
//! (empty and skippable frames included) and verifies each frame's XXH64
//! content checksum when the frame carries one. The window limit is libzstd's
//! default (2^27 bytes), which bounds the memory a hostile frame header can
//! make the decoder allocate.

use bytes::Bytes;
use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

use super::input::InputQueue;
use super::{CodecError, StageOutput, StreamFormat};

/// Decoder state of a multi-frame zstd stream.
pub(crate) struct ZstdStage {
    decoder: Decoder<'static>,
    /// Whether input of an unfinished frame was consumed (or its output is
    /// not fully flushed): the end of input here is a truncation.
    in_frame: bool,
}

impl ZstdStage {
    pub(crate) fn new() -> Self {
        Self {
            decoder: Decoder::new().expect("allocating a zstd decompression context"),
            in_frame: false,
        }
    }

    pub(crate) fn poll(
        &mut self,
        input: &mut InputQueue,
        scratch: &mut [u8],
        max: usize,
    ) -> Result<StageOutput, CodecError> {
        loop {
            let front = input.front();
            let had_input = !front.is_empty();
            let mut src = InBuffer::around(front);
            let mut dst = OutBuffer::around(&mut scratch[..max]);
            let hint = self
                .decoder
                .run(&mut src, &mut dst)
                .map_err(|e| CodecError::Zstd(e.to_string()))?;
            let consumed = src.pos();
            let produced = dst.pos();
            input.advance(consumed);
            if hint == 0 {
                self.in_frame = false;
            } else if consumed > 0 || produced > 0 {
                self.in_frame = true;
            }
            if produced > 0 {
                return Ok(StageOutput::Content(Bytes::copy_from_slice(
                    &scratch[..produced],
                )));
            }
            if consumed > 0 {
                continue;
            }
            if had_input {
                return Err(CodecError::Zstd("no progress on available input".into()));
            }
            return Ok(match (input.is_finished(), self.in_frame) {
                (false, _) => StageOutput::NeedInput,
                (true, false) => StageOutput::End,
                (true, true) => return Err(CodecError::Truncated(StreamFormat::Zstandard)),
            });
        }
    }
}
