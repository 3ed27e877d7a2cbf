//! Newline-delimited record framing over read events, sans IO.
//!
//! A [`RecordFramer`] is fed what a reader yields (content at offsets,
//! offset jumps, and the caller's seeks or reader restarts) and hands out
//! whole records, each with the journal offsets it spans. Content arrives
//! in chunks that need not align with records: a record split over chunks
//! is reassembled (copied once), one inside a chunk is a slice of it.
//!
//! Bytes that cannot form a record are never glued to later ones: when an
//! offset jump (or a gap between chunks, or a seek elsewhere) interrupts a
//! record, its first part is dropped and reported as
//! [`Framed::Dropped`]; so is a last record without its newline when the
//! read ends ([`RecordFramer::finish`]). Content before the current
//! position (a restarted RPC delivering again what was already framed) is
//! skipped.
//!
//! ```
//! use bytes::Bytes;
//! use gazette_core::read::{Framed, Record, RecordFramer};
//!
//! let mut framer = RecordFramer::new();
//! framer.content(100, Bytes::from_static(b"one\ntw"));
//! framer.content(106, Bytes::from_static(b"o\nthr"));
//! framer.jump(200); // "thr" is lost with the content skipped
//! framer.content(200, Bytes::from_static(b"four\n"));
//! let framed: Vec<Framed> = std::iter::from_fn(|| framer.poll()).collect();
//! assert_eq!(
//!     framed,
//!     [
//!         Framed::Record(Record { begin: 100, end: 104, bytes: Bytes::from_static(b"one\n") }),
//!         Framed::Record(Record { begin: 104, end: 108, bytes: Bytes::from_static(b"two\n") }),
//!         Framed::Dropped { begin: 108, end: 111 },
//!         Framed::Record(Record { begin: 200, end: 205, bytes: Bytes::from_static(b"four\n") }),
//!     ]
//! );
//! assert_eq!(framer.resume_offset(), Some(205));
//! ```

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::ReadEvent;

/// One newline-delimited record of a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Journal offset of the record's first byte.
    pub begin: i64,
    /// Journal offset just past its newline (`end - begin == bytes.len()`).
    pub end: i64,
    /// The record, its trailing newline included.
    pub bytes: Bytes,
}

impl Record {
    /// The record without its trailing newline.
    pub fn line(&self) -> &[u8] {
        self.bytes.strip_suffix(b"\n").unwrap_or(&self.bytes)
    }
}

/// What a [`RecordFramer`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// A whole record.
    Record(Record),
    /// The bytes `begin..end` were the start of a record whose rest will
    /// never arrive (an offset jump, a seek elsewhere, or the end of the
    /// read came first): they are discarded.
    Dropped {
        /// Journal offset of the dropped bytes' first.
        begin: i64,
        /// Journal offset just past the last.
        end: i64,
    },
    /// The record `begin..end` (newline included) is longer than the
    /// framer's [`max_len`](RecordFramer::with_max_len): it is discarded
    /// (never held in memory whole).
    TooLong {
        /// Journal offset of the record's first byte.
        begin: i64,
        /// Journal offset just past its newline.
        end: i64,
    },
}

/// Frames newline-delimited records out of read events (see the module
/// docs). Feed it with [`handle`](Self::handle) (or the specific methods)
/// and drain it with [`poll`](Self::poll).
#[derive(Debug, Default)]
pub struct RecordFramer {
    /// Journal offset the next content is expected at (None before the
    /// first content, jump or restart).
    next: Option<i64>,
    /// Journal offset of the partial record's first byte (valid when
    /// `partial` is not empty).
    begin: i64,
    /// The start of a record whose newline has not arrived yet.
    partial: BytesMut,
    /// A record begun at `begin` outgrew `max_len`: its bytes are
    /// discarded up to its newline.
    skipping: bool,
    max_len: Option<usize>,
    out: VecDeque<Framed>,
}

impl RecordFramer {
    /// A framer that takes its position from the first content it is fed.
    pub fn new() -> Self {
        Self::default()
    }

    /// A framer positioned at `offset` (where the reader starts).
    pub fn at(offset: i64) -> Self {
        RecordFramer {
            next: (offset >= 0).then_some(offset),
            begin: offset,
            ..Self::default()
        }
    }

    /// Records longer than `max` bytes (newline included) are discarded
    /// and reported as [`Framed::TooLong`] instead of being buffered whole
    /// (unbounded by default).
    pub fn with_max_len(mut self, max: usize) -> Self {
        self.max_len = Some(max);
        self
    }

    /// Sets the limit of [`with_max_len`](Self::with_max_len).
    pub fn set_max_len(&mut self, max: Option<usize>) {
        self.max_len = max;
    }

    /// Feeds one read event: content is framed, an offset jump is
    /// [`jump`](Self::jump), metadata is ignored.
    pub fn handle(&mut self, event: &ReadEvent) {
        match event {
            ReadEvent::Content { offset, content } => self.content(*offset, content.clone()),
            ReadEvent::OffsetJump { to, .. } => self.jump(*to),
            ReadEvent::Metadata(_) => {}
        }
    }

    /// Feeds `content` found at journal offset `offset`. Content ahead of
    /// the expected offset is a gap (treated as a jump to `offset`);
    /// content behind it was framed already and is skipped.
    pub fn content(&mut self, offset: i64, mut content: Bytes) {
        let mut offset = offset;
        match self.next {
            None => self.reposition(offset),
            Some(next) if offset > next => self.interrupt(offset),
            Some(next) if offset < next => {
                let behind = (next - offset) as u64;
                if behind >= content.len() as u64 {
                    return;
                }
                let _ = content.split_to(behind as usize);
                offset = next;
            }
            Some(_) => {}
        }
        let end = offset + content.len() as i64;
        let mut rest = content;
        let mut at = offset;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let line = rest.split_to(nl + 1);
            if !self.in_record() {
                self.begin = at;
            }
            at += line.len() as i64;
            let len = self.partial.len() + line.len();
            if self.skipping || self.max_len.is_some_and(|max| len > max) {
                self.skipping = false;
                self.partial.clear();
                self.out.push_back(Framed::TooLong {
                    begin: self.begin,
                    end: at,
                });
                continue;
            }
            let bytes = if self.partial.is_empty() {
                line
            } else {
                self.partial.extend_from_slice(&line);
                self.partial.split().freeze()
            };
            self.out.push_back(Framed::Record(Record {
                begin: self.begin,
                end: at,
                bytes,
            }));
        }
        if !rest.is_empty() {
            if !self.in_record() {
                self.begin = at;
            }
            let len = self.partial.len() + rest.len();
            if self.skipping || self.max_len.is_some_and(|max| len > max) {
                self.skipping = true;
                self.partial.clear();
            } else {
                self.partial.extend_from_slice(&rest);
            }
        }
        self.next = Some(end);
    }

    /// Reading continues at `to` (an offset jump): a record begun before
    /// it is dropped.
    pub fn jump(&mut self, to: i64) {
        if self.next != Some(to) {
            self.interrupt(to);
        }
    }

    /// The reader was restarted or sought to `offset`. Resuming where the
    /// framer is ([`resume_offset`](Self::resume_offset): the partial
    /// record is read again) or where it expects content loses nothing;
    /// anywhere else drops a partial record, as a jump does.
    pub fn restart(&mut self, offset: i64) {
        if self.in_record() && offset == self.begin {
            // The partial record will be delivered again from its start.
            self.reposition(offset);
        } else {
            self.jump(offset);
        }
    }

    /// The read ended: a last record without its newline is dropped.
    pub fn finish(&mut self) {
        if let Some(next) = self.next {
            self.drop_partial(next);
        }
    }

    /// The next record or drop, in journal order.
    pub fn poll(&mut self) -> Option<Framed> {
        self.out.pop_front()
    }

    /// The offset a new reader should start at to lose nothing: the first
    /// byte of a partial record, or where content is expected next (None
    /// before any position is known). Every record before it was framed.
    pub fn resume_offset(&self) -> Option<i64> {
        match self.in_record() {
            false => self.next,
            true => Some(self.begin),
        }
    }

    /// Bytes of the partial record held.
    pub fn partial_len(&self) -> usize {
        self.partial.len()
    }

    fn interrupt(&mut self, to: i64) {
        if let Some(next) = self.next {
            self.drop_partial(next);
        }
        self.reposition(to);
    }

    /// Whether a record has begun and not ended.
    fn in_record(&self) -> bool {
        self.skipping || !self.partial.is_empty()
    }

    fn drop_partial(&mut self, end: i64) {
        if self.in_record() {
            self.partial.clear();
            self.skipping = false;
            self.out.push_back(Framed::Dropped {
                begin: self.begin,
                end,
            });
        }
    }

    fn reposition(&mut self, offset: i64) {
        self.partial.clear();
        self.skipping = false;
        self.next = Some(offset);
        self.begin = offset;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(framer: &mut RecordFramer) -> Vec<Framed> {
        std::iter::from_fn(|| framer.poll()).collect()
    }

    fn record(begin: i64, bytes: &'static [u8]) -> Framed {
        Framed::Record(Record {
            begin,
            end: begin + bytes.len() as i64,
            bytes: Bytes::from_static(bytes),
        })
    }

    #[test]
    fn a_record_inside_a_chunk_is_a_slice_of_it() {
        let chunk = Bytes::from_static(b"a\nbb\n");
        let mut framer = RecordFramer::new();
        framer.content(0, chunk.clone());
        let Some(Framed::Record(first)) = framer.poll() else {
            panic!()
        };
        assert_eq!(first.bytes.as_ptr(), chunk.as_ptr());
        assert_eq!(first.line(), b"a");
        assert_eq!(drain(&mut framer), [record(2, b"bb\n")]);
    }

    #[test]
    fn redelivered_content_is_skipped_and_a_restart_at_the_partial_loses_nothing() {
        let mut framer = RecordFramer::at(10);
        framer.content(10, Bytes::from_static(b"ab\ncd"));
        assert_eq!(framer.resume_offset(), Some(13));
        // The RPC restarted at the partial's first byte.
        framer.restart(13);
        framer.content(13, Bytes::from_static(b"cd\n"));
        // Or redelivered from earlier.
        framer.content(10, Bytes::from_static(b"ab\ncd\nef\n"));
        assert_eq!(
            drain(&mut framer),
            [
                record(10, b"ab\n"),
                record(13, b"cd\n"),
                record(16, b"ef\n")
            ]
        );
    }

    #[test]
    fn a_seek_elsewhere_or_a_gap_or_the_end_drops_a_partial_record() {
        let mut framer = RecordFramer::new();
        framer.content(0, Bytes::from_static(b"xy"));
        framer.restart(50);
        framer.content(50, Bytes::from_static(b"z"));
        framer.content(60, Bytes::from_static(b"w\nv"));
        framer.finish();
        assert_eq!(
            drain(&mut framer),
            [
                Framed::Dropped { begin: 0, end: 2 },
                Framed::Dropped { begin: 50, end: 51 },
                record(60, b"w\n"),
                Framed::Dropped { begin: 62, end: 63 },
            ]
        );
        assert_eq!(framer.resume_offset(), Some(63));
    }

    #[test]
    fn a_record_over_the_limit_is_skipped_without_being_held() {
        let mut framer = RecordFramer::new().with_max_len(4);
        framer.content(0, Bytes::from_static(b"ok\ntoo"));
        framer.content(6, Bytes::from_static(b" long"));
        assert_eq!(framer.partial_len(), 0, "nothing of it is held");
        framer.content(11, Bytes::from_static(b"\nabc\nxxxxx"));
        framer.jump(100);
        assert_eq!(
            drain(&mut framer),
            [
                record(0, b"ok\n"),
                Framed::TooLong { begin: 3, end: 12 },
                record(12, b"abc\n"),
                Framed::Dropped { begin: 16, end: 21 },
            ]
        );
    }

    /// A gap in the delivered stream: records `first..=last` are lost, the
    /// first `cut` bytes of record `first` are delivered before the jump.
    #[derive(Debug, Clone)]
    struct Gap {
        first: usize,
        extra: usize,
        cut: usize,
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Random records, split into random chunks, with random offset
        /// jumps (from anywhere to a record boundary, as a broker's jumps
        /// over deleted fragments are) and random restarts at the resume
        /// offset, and an optional length limit: exactly the records not
        /// jumped over come out (those over the limit as `TooLong`), and
        /// each record a jump interrupted is reported dropped.
        #[test]
        fn framing_recovers_exactly_the_records(
            lines in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b' ')], 0..12),
                1..40,
            ),
            base in 0i64..1000,
            gaps in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..3, any::<prop::sample::Index>()), 0..4),
            chunks in proptest::collection::vec(1usize..9, 1..200),
            restarts in proptest::collection::vec(any::<bool>(), 1..200),
            max_len in prop_oneof![Just(None), (1usize..15).prop_map(Some)],
        ) {
            // Journal layout.
            let mut records = Vec::new();
            let mut at = base;
            for line in &lines {
                let mut bytes = line.clone();
                bytes.push(b'\n');
                let begin = at;
                at += bytes.len() as i64;
                records.push((begin, bytes));
            }
            // Gaps, non-overlapping and not adjacent, in order.
            let mut gap_list: Vec<Gap> = Vec::new();
            let mut gaps: Vec<Gap> = gaps
                .into_iter()
                .map(|(i, extra, cut)| {
                    let first = i.index(records.len());
                    let cut = cut.index(records[first].1.len());
                    Gap { first, extra, cut }
                })
                .collect();
            gaps.sort_by_key(|g| g.first);
            for gap in gaps {
                let last = (gap.first + gap.extra).min(records.len() - 1);
                if gap_list.last().is_some_and(|g: &Gap| g.first + g.extra + 1 >= gap.first) {
                    continue;
                }
                gap_list.push(Gap { extra: last - gap.first, ..gap });
            }
            // What is delivered: segments of contiguous bytes, a jump
            // before each but the first; and what must come out.
            let mut segments: Vec<(i64, Vec<u8>)> = vec![(base, Vec::new())];
            let mut expected = Vec::new();
            let mut i = 0;
            while i < records.len() {
                let (begin, bytes) = &records[i];
                if let Some(gap) = gap_list.iter().find(|g| g.first == i) {
                    segments.last_mut().unwrap().1.extend_from_slice(&bytes[..gap.cut]);
                    if gap.cut > 0 {
                        expected.push(Framed::Dropped { begin: *begin, end: begin + gap.cut as i64 });
                    }
                    let last = i + gap.extra;
                    let resume = records[last].0 + records[last].1.len() as i64;
                    segments.push((resume, Vec::new()));
                    i = last + 1;
                    continue;
                }
                segments.last_mut().unwrap().1.extend_from_slice(bytes);
                let end = begin + bytes.len() as i64;
                expected.push(match max_len {
                    Some(max) if bytes.len() > max => Framed::TooLong { begin: *begin, end },
                    _ => Framed::Record(Record {
                        begin: *begin,
                        end,
                        bytes: Bytes::from(bytes.clone()),
                    }),
                });
                i += 1;
            }

            let mut framer = RecordFramer::at(base);
            framer.set_max_len(max_len);
            let mut got = Vec::new();
            let (mut chunks, mut restarts) = (chunks.iter().cycle(), restarts.iter().cycle());
            for (n, (start, bytes)) in segments.iter().enumerate() {
                if n > 0 {
                    framer.handle(&ReadEvent::OffsetJump { from: framer.resume_offset().unwrap(), to: *start });
                }
                let end = start + bytes.len() as i64;
                let mut cursor = *start;
                // Restarts only past the last one, so reading progresses.
                let mut restarted_at = i64::MIN;
                while cursor < end {
                    let len = (*chunks.next().unwrap() as i64).min(end - cursor);
                    let from = (cursor - start) as usize;
                    framer.handle(&ReadEvent::Content {
                        offset: cursor,
                        content: Bytes::copy_from_slice(&bytes[from..from + len as usize]),
                    });
                    cursor += len;
                    got.extend(std::iter::from_fn(|| framer.poll()));
                    if *restarts.next().unwrap() && cursor < end && cursor > restarted_at {
                        restarted_at = cursor;
                        // A reader restarted where nothing is lost.
                        let resume = framer.resume_offset().unwrap();
                        prop_assert!(resume >= *start && resume <= cursor);
                        framer.restart(resume);
                        cursor = resume;
                    }
                }
            }
            framer.finish();
            got.extend(std::iter::from_fn(|| framer.poll()));
            prop_assert_eq!(got, expected);
        }
    }
}
