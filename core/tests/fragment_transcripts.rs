//! Snapshot transcripts of the fragment reader on its edge cases: empty
//! fragments, bodies one byte short or long, the requested-offset discard
//! (including Go quirk 7, offsets before `begin`), truncated and damaged
//! bodies.

use std::fmt::Write as _;
use std::io::Write as _;

use bytes::Bytes;
use gazette_core::fragment::{ContentEncoding, FragmentEvent, FragmentReader, masked_crc32c};
use gazette_core::proto::CompressionCodec;

fn gzip(members: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(m).unwrap();
        out.extend(e.finish().unwrap());
    }
    out
}

fn zstd(frames: &[&[u8]]) -> Vec<u8> {
    frames
        .iter()
        .flat_map(|f| zstd::encode_all(*f, 3).unwrap())
        .collect()
}

/// A snappy framing stream with one uncompressed chunk per piece.
fn snappy(chunks: &[&[u8]]) -> Vec<u8> {
    let mut out = b"\xff\x06\x00\x00sNaPpY".to_vec();
    for c in chunks {
        let len = (c.len() + 4) as u32;
        out.push(0x01);
        out.extend_from_slice(&len.to_le_bytes()[..3]);
        out.extend_from_slice(&masked_crc32c(c).to_le_bytes());
        out.extend_from_slice(c);
    }
    out
}

/// Runs a reader over `body` fed in `chunk`-byte pieces and records every
/// step.
fn transcript(
    codec: CompressionCodec,
    (begin, end): (i64, i64),
    offset: i64,
    body: &[u8],
    chunk: usize,
) -> String {
    let mut t = String::new();
    let mut reader =
        match FragmentReader::with_range(begin, end, codec, offset, ContentEncoding::Stored) {
            Ok(r) => r,
            Err(e) => return format!("setup error: {e}\n"),
        };
    writeln!(
        t,
        "fragment [{begin}, {end}) {} from offset {offset}",
        codec.as_str_name()
    )
    .unwrap();
    let body = Bytes::copy_from_slice(body);
    let mut fed = 0;
    for _ in 0..1000 {
        match reader.poll() {
            Ok(FragmentEvent::Content { offset, content }) => {
                writeln!(
                    t,
                    "content @{offset}: {:?}",
                    String::from_utf8_lossy(&content)
                )
                .unwrap();
            }
            Ok(FragmentEvent::NeedInput) if fed == body.len() => {
                writeln!(t, "need input -> feed end").unwrap();
                reader.feed_end();
            }
            Ok(FragmentEvent::NeedInput) => {
                let n = chunk.min(body.len() - fed);
                writeln!(t, "need input -> feed {n} bytes").unwrap();
                reader.feed(body.slice(fed..fed + n));
                fed += n;
            }
            Ok(FragmentEvent::Eof) => {
                writeln!(t, "eof").unwrap();
                break;
            }
            Err(e) => {
                writeln!(t, "error ({:?}): {e}", e.kind()).unwrap();
                break;
            }
        }
    }
    writeln!(
        t,
        "offset {}, read {}, discarded {}",
        reader.offset(),
        reader.bytes_read(),
        reader.bytes_discarded()
    )
    .unwrap();
    t
}

#[test]
fn fragment_reader_empty_fragments_end_cleanly_for_every_codec() {
    let mut t = String::new();
    t += &transcript(CompressionCodec::None, (1024, 1024), 1024, b"", 100);
    t += &transcript(
        CompressionCodec::Gzip,
        (1024, 1024),
        1024,
        &gzip(&[b""]),
        100,
    );
    t += &transcript(CompressionCodec::Gzip, (1024, 1024), 1024, b"", 100);
    t += &transcript(
        CompressionCodec::Zstandard,
        (1024, 1024),
        1024,
        &zstd(&[b""]),
        100,
    );
    t += &transcript(CompressionCodec::Snappy, (1024, 1024), 1024, b"", 100);
    t += &transcript(
        CompressionCodec::Snappy,
        (1024, 1024),
        1024,
        &snappy(&[]),
        100,
    );
    t += &transcript(
        CompressionCodec::GzipOffloadDecompression,
        (1024, 1024),
        1024,
        &gzip(&[b""]),
        100,
    );
    insta::assert_snapshot!(t);
}

#[test]
fn fragment_reader_body_one_byte_long_fails_after_delivering_to_end() {
    let mut t = String::new();
    t += &transcript(CompressionCodec::None, (100, 106), 100, b"foobar!", 4);
    t += &transcript(
        CompressionCodec::Gzip,
        (100, 106),
        100,
        &gzip(&[b"foo", b"bar!"]),
        1000,
    );
    t += &transcript(
        CompressionCodec::Zstandard,
        (100, 106),
        100,
        &zstd(&[b"foobar", b"!"]),
        1000,
    );
    t += &transcript(
        CompressionCodec::Snappy,
        (100, 106),
        100,
        &snappy(&[b"foo", b"bar", b"!"]),
        1000,
    );
    // Already at `end`: the extra byte is the only content.
    t += &transcript(CompressionCodec::None, (100, 106), 106, b"foobar!", 1000);
    insta::assert_snapshot!(t);
}

#[test]
fn fragment_reader_body_one_byte_short_is_an_unexpected_eof() {
    let mut t = String::new();
    t += &transcript(CompressionCodec::None, (100, 106), 100, b"fooba", 3);
    t += &transcript(
        CompressionCodec::Gzip,
        (100, 106),
        100,
        &gzip(&[b"fooba"]),
        1000,
    );
    t += &transcript(
        CompressionCodec::Zstandard,
        (100, 106),
        100,
        &zstd(&[b"fooba"]),
        1000,
    );
    t += &transcript(
        CompressionCodec::Snappy,
        (100, 106),
        100,
        &snappy(&[b"fooba"]),
        1000,
    );
    insta::assert_snapshot!(t);
}

#[test]
fn fragment_reader_discards_to_the_requested_offset() {
    let mut t = String::new();
    t += &transcript(CompressionCodec::None, (100, 106), 103, b"foobar", 2);
    t += &transcript(
        CompressionCodec::Gzip,
        (100, 106),
        105,
        &gzip(&[b"foo", b"", b"bar"]),
        1000,
    );
    t += &transcript(
        CompressionCodec::Snappy,
        (100, 106),
        106,
        &snappy(&[b"foo", b"bar"]),
        1000,
    );
    // Quirk 7, reproduced: an offset before `begin` starts at `begin`.
    t += &transcript(
        CompressionCodec::Zstandard,
        (100, 106),
        50,
        &zstd(&[b"foobar"]),
        1000,
    );
    // Refused up front rather than after reading the body.
    t += &transcript(CompressionCodec::None, (100, 106), 107, b"foobar", 1000);
    insta::assert_snapshot!(t);
}

#[test]
fn fragment_reader_truncated_and_damaged_bodies_are_typed_errors() {
    let mut t = String::new();
    let gz = gzip(&[b"foobar"]);
    t += &transcript(CompressionCodec::Gzip, (0, 6), 0, &gz[..gz.len() - 4], 1000);
    let mut bad_crc = gz.clone();
    let at = bad_crc.len() - 8;
    bad_crc[at] ^= 1;
    t += &transcript(CompressionCodec::Gzip, (0, 6), 0, &bad_crc, 1000);
    t += &transcript(
        CompressionCodec::Gzip,
        (0, 6),
        0,
        &[gz.as_slice(), b"\0\0"].concat(),
        1000,
    );
    let zs = zstd(&[b"foobar"]);
    t += &transcript(
        CompressionCodec::Zstandard,
        (0, 6),
        0,
        &zs[..zs.len() - 1],
        1000,
    );
    let sz = snappy(&[b"foobar"]);
    t += &transcript(
        CompressionCodec::Snappy,
        (0, 6),
        0,
        &sz[..sz.len() - 2],
        1000,
    );
    let mut bad_sz = sz.clone();
    *bad_sz.last_mut().unwrap() ^= 1;
    t += &transcript(CompressionCodec::Snappy, (0, 6), 0, &bad_sz, 1000);
    t += &transcript(CompressionCodec::Snappy, (0, 6), 0, &zs, 1000);
    insta::assert_snapshot!(t);
}
