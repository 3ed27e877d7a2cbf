//! Property tests of the fragment decoder: any chunking of the same stored
//! bytes, and any requested offset, gives the same content at the same
//! offsets, for every codec (multi-member and multi-frame bodies included).

use std::io::Write;

use bytes::Bytes;
use gazette_core::fragment::{
    ContentEncoding, Decoded, Decoder, FragmentError, FragmentEvent, FragmentReader,
};
use gazette_core::proto::CompressionCodec;
use proptest::prelude::*;

/// Content with both incompressible and highly compressible stretches.
fn content() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..3000),
        (any::<u8>(), 0..40_000usize).prop_map(|(b, n)| vec![b; n]),
        (0..5000usize).prop_map(|n| b"{\"key\":\"value\",\"n\":42}\n"
            .iter()
            .copied()
            .cycle()
            .take(n)
            .collect()),
    ];
    prop::collection::vec(segment, 0..5).prop_map(|s| s.concat())
}

fn codec() -> impl Strategy<Value = CompressionCodec> {
    prop_oneof![
        Just(CompressionCodec::None),
        Just(CompressionCodec::Gzip),
        Just(CompressionCodec::Zstandard),
        Just(CompressionCodec::Snappy),
        Just(CompressionCodec::GzipOffloadDecompression),
    ]
}

/// Splits `content` at the given fractions (members/frames may be empty).
fn pieces<'a>(content: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|&c| content.len() * c as usize / u16::MAX as usize)
        .collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut prev = 0;
    for a in at.into_iter().chain([content.len()]) {
        out.push(&content[prev..a]);
        prev = a;
    }
    out
}

/// Encodes `content` as `codec` stores it, one gzip member / zstd frame /
/// snappy stream per piece.
fn encode(codec: CompressionCodec, content: &[u8], cuts: &[u16], level: u32) -> Bytes {
    let mut out = Vec::new();
    for piece in pieces(content, cuts) {
        match codec {
            CompressionCodec::None => out.extend_from_slice(piece),
            CompressionCodec::Gzip | CompressionCodec::GzipOffloadDecompression => {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level % 10));
                e.write_all(piece).unwrap();
                out.extend(e.finish().unwrap());
            }
            CompressionCodec::Zstandard => {
                let mut e = zstd::stream::Encoder::new(Vec::new(), (level % 5) as i32 + 1).unwrap();
                e.include_checksum(level.is_multiple_of(2)).unwrap();
                e.write_all(piece).unwrap();
                out.extend(e.finish().unwrap());
            }
            CompressionCodec::Snappy => {
                let mut e = snap::write::FrameEncoder::new(Vec::new());
                e.write_all(piece).unwrap();
                out.extend(e.into_inner().unwrap());
            }
            CompressionCodec::Invalid => unreachable!(),
        }
    }
    out.into()
}

/// Reads `stored` fed in chunks cycling through `chunks`; returns
/// `(offset, content)` events and the outcome.
fn read(
    mut reader: FragmentReader,
    stored: &Bytes,
    chunks: &[usize],
) -> (Vec<(i64, Bytes)>, Result<(), FragmentError>, FragmentReader) {
    let mut events = Vec::new();
    let (mut fed, mut i) = (0, 0);
    loop {
        match reader.poll() {
            Ok(FragmentEvent::Content { offset, content }) => events.push((offset, content)),
            Ok(FragmentEvent::NeedInput) if fed == stored.len() => reader.feed_end(),
            Ok(FragmentEvent::NeedInput) => {
                let n = chunks[i % chunks.len()].min(stored.len() - fed);
                i += 1;
                reader.feed(stored.slice(fed..fed + n));
                fed += n;
            }
            Ok(FragmentEvent::Eof) => return (events, Ok(()), reader),
            Err(e) => return (events, Err(e), reader),
        }
    }
}

/// Checks events are non-empty and contiguous from `start`; returns the
/// concatenated content.
fn contiguous(events: &[(i64, Bytes)], start: i64) -> Vec<u8> {
    let mut next = start;
    let mut out = Vec::new();
    for (offset, content) in events {
        assert_eq!(*offset, next);
        assert!(!content.is_empty());
        next += content.len() as i64;
        out.extend_from_slice(content);
    }
    out
}

fn reader(codec: CompressionCodec, begin: i64, end: i64, offset: i64) -> FragmentReader {
    FragmentReader::with_range(begin, end, codec, offset, ContentEncoding::Stored).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn fragment_reader_any_chunking_yields_the_same_content_and_offsets(
        codec in codec(),
        content in content(),
        cuts in prop::collection::vec(any::<u16>(), 0..3),
        level in 0u32..10,
        begin in 0i64..(1 << 62),
        chunks_a in prop::collection::vec(1usize..5000, 1..8),
        chunks_b in prop::collection::vec(1usize..70_000, 1..4),
    ) {
        let stored = encode(codec, &content, &cuts, level);
        let end = begin + content.len() as i64;
        let (a, ra, reader_a) = read(reader(codec, begin, end, begin), &stored, &chunks_a);
        let (b, rb, _) = read(reader(codec, begin, end, begin), &stored, &chunks_b);
        prop_assert_eq!(ra, Ok(()));
        prop_assert_eq!(rb, Ok(()));
        prop_assert_eq!(contiguous(&a, begin), content.clone());
        prop_assert_eq!(contiguous(&b, begin), content.clone());
        prop_assert_eq!(reader_a.offset(), end);
        prop_assert_eq!(reader_a.bytes_read(), content.len() as u64);
        prop_assert_eq!(reader_a.bytes_discarded(), 0);
    }

    #[test]
    fn fragment_reader_any_offset_in_the_fragment_yields_exactly_the_suffix(
        codec in codec(),
        content in content(),
        cuts in prop::collection::vec(any::<u16>(), 0..3),
        at in any::<prop::sample::Index>(),
        begin in 0i64..(1 << 40),
        chunks in prop::collection::vec(1usize..20_000, 1..4),
    ) {
        let stored = encode(codec, &content, &cuts, 6);
        let end = begin + content.len() as i64;
        let skip = at.index(content.len() + 1);
        let (events, result, reader) = read(reader(codec, begin, end, begin + skip as i64), &stored, &chunks);
        prop_assert_eq!(result, Ok(()));
        prop_assert_eq!(contiguous(&events, begin + skip as i64), content[skip..].to_vec());
        prop_assert_eq!(reader.bytes_discarded(), skip as u64);
        prop_assert_eq!(reader.bytes_read(), (content.len() - skip) as u64);
    }

    #[test]
    fn fragment_reader_reports_content_not_ending_at_fragment_end(
        codec in codec(),
        content in content().prop_filter("non-empty", |c| !c.is_empty()),
        delta in prop_oneof![Just(-1i64), Just(1i64), 2i64..100_000, -100_000i64..-2],
        chunks in prop::collection::vec(1usize..20_000, 1..4),
    ) {
        let stored = encode(codec, &content, &[], 6);
        let len = content.len() as i64;
        let end = (len + delta).max(0);
        let (events, result, reader) = read(reader(codec, 0, end, 0), &stored, &chunks);
        let got = contiguous(&events, 0);
        prop_assert!(reader.offset() <= end);
        if end < len {
            prop_assert_eq!(result, Err(FragmentError::DidNotReadExpectedEof { end }));
            prop_assert_eq!(got, content[..end as usize].to_vec());
        } else {
            prop_assert_eq!(result, Err(FragmentError::UnexpectedEof { offset: len, end }));
            prop_assert_eq!(got, content);
        }
    }

    #[test]
    fn decoder_output_never_exceeds_the_polled_maximum(
        codec in codec(),
        content in content(),
        cuts in prop::collection::vec(any::<u16>(), 0..3),
        maxes in prop::collection::vec(1usize..100_000, 1..6),
    ) {
        let stored = encode(codec, &content, &cuts, 6);
        let mut decoder = Decoder::new(codec, ContentEncoding::Stored).unwrap();
        decoder.push(stored);
        decoder.finish();
        let mut out = Vec::new();
        for i in 0.. {
            let max = maxes[i % maxes.len()];
            match decoder.poll(max).unwrap() {
                Decoded::Content(b) => {
                    prop_assert!(!b.is_empty() && b.len() <= max.min(64 * 1024));
                    out.extend_from_slice(&b);
                }
                Decoded::NeedInput => prop_assert!(false, "input was finished"),
                Decoded::End => break,
            }
        }
        prop_assert_eq!(out, content);
    }
}
