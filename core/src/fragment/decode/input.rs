//! The queue of stored bytes fed to a decoder stage and not yet consumed.

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

/// Fed [`Bytes`] chunks in arrival order, plus whether the input has ended.
/// Consuming takes zero-copy slices whenever a request fits in one chunk.
#[derive(Debug, Default)]
pub(crate) struct InputQueue {
    chunks: VecDeque<Bytes>,
    len: usize,
    finished: bool,
}

impl InputQueue {
    /// Appends a chunk (empty chunks are dropped).
    pub(crate) fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Marks the end of input.
    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether the end of input was signalled.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Buffered byte count.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes are buffered.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first buffered chunk, or an empty slice.
    pub(crate) fn front(&self) -> &[u8] {
        self.chunks.front().map(|c| &c[..]).unwrap_or(&[])
    }

    /// Drops the first `n` buffered bytes (`n <= len`).
    pub(crate) fn advance(&mut self, mut n: usize) {
        debug_assert!(n <= self.len);
        self.len -= n;
        while n > 0 {
            let front = self.chunks.front_mut().expect("advance within len");
            if n < front.len() {
                front.advance(n);
                return;
            }
            n -= front.len();
            self.chunks.pop_front();
        }
    }

    /// Copies the first `out.len()` bytes into `out` without consuming them.
    /// Returns false (and leaves `out` unspecified) when fewer are buffered.
    pub(crate) fn peek_into(&self, out: &mut [u8]) -> bool {
        if self.len < out.len() {
            return false;
        }
        let mut filled = 0;
        for chunk in &self.chunks {
            let n = (out.len() - filled).min(chunk.len());
            out[filled..filled + n].copy_from_slice(&chunk[..n]);
            filled += n;
            if filled == out.len() {
                break;
            }
        }
        true
    }

    /// Takes up to `max` bytes from the front chunk, zero-copy.
    pub(crate) fn take_front(&mut self, max: usize) -> Bytes {
        let Some(front) = self.chunks.front_mut() else {
            return Bytes::new();
        };
        let out = if max < front.len() {
            front.split_to(max)
        } else {
            self.chunks.pop_front().expect("front exists")
        };
        self.len -= out.len();
        out
    }

    /// Takes exactly `n` bytes (`n <= len`): a zero-copy slice when they lie
    /// in one chunk, else one copy.
    pub(crate) fn take(&mut self, n: usize) -> Bytes {
        debug_assert!(n <= self.len);
        if self.chunks.front().is_some_and(|c| c.len() >= n) {
            return self.take_front(n);
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let piece = self.take_front(n - out.len());
            out.extend_from_slice(&piece);
        }
        out.freeze()
    }
}
