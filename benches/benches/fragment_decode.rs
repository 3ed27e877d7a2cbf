//! Fragment decode throughput: the core's push-style `FragmentReader` versus
//! the plain decompressors reading the same stored bytes.

use std::hint::black_box;
use std::io::{Read, Write};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gazette_core::fragment::{ContentEncoding, FragmentEvent, FragmentReader};
use gazette_proto::CompressionCodec;

const CONTENT_LEN: usize = 4 << 20;
/// Body chunk size fed to the reader, as an HTTP client might deliver it.
const FEED: usize = 64 << 10;

/// 4 MiB of mixed content: JSON-ish text, zero runs and pseudo-random bytes.
fn mixed_content() -> Vec<u8> {
    let mut out = Vec::with_capacity(CONTENT_LEN);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut i = 0u64;
    while out.len() < CONTENT_LEN {
        match i % 3 {
            0 => {
                for n in 0..200 {
                    writeln!(
                        out,
                        "{{\"seq\":{},\"name\":\"item-{}\",\"ok\":true}}",
                        i * 200 + n,
                        n % 17
                    )
                    .unwrap();
                }
            }
            1 => out.resize(out.len() + 4096, 0),
            _ => {
                for _ in 0..1024 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    out.extend_from_slice(&state.to_le_bytes());
                }
            }
        }
        i += 1;
    }
    out.truncate(CONTENT_LEN);
    out
}

fn encode(codec: CompressionCodec, content: &[u8]) -> Bytes {
    match codec {
        CompressionCodec::None => Bytes::copy_from_slice(content),
        CompressionCodec::Gzip => {
            // One member per MiB, as Gazette's writer produces.
            let mut out = Vec::new();
            for piece in content.chunks(1 << 20) {
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(piece).unwrap();
                out.extend(e.finish().unwrap());
            }
            out.into()
        }
        CompressionCodec::Zstandard => zstd::encode_all(content, 3).unwrap().into(),
        CompressionCodec::Snappy => {
            let mut e = snap::write::FrameEncoder::new(Vec::new());
            e.write_all(content).unwrap();
            e.into_inner().unwrap().into()
        }
        other => unreachable!("{other:?}"),
    }
}

/// Decodes `stored` through the core, fed in `FEED`-byte chunks.
fn core_decode(codec: CompressionCodec, stored: &Bytes) -> usize {
    let mut reader =
        FragmentReader::with_range(0, CONTENT_LEN as i64, codec, 0, ContentEncoding::Stored)
            .unwrap();
    let (mut fed, mut total) = (0, 0);
    loop {
        match reader.poll().unwrap() {
            FragmentEvent::Content { content, .. } => total += black_box(content).len(),
            FragmentEvent::NeedInput if fed == stored.len() => reader.feed_end(),
            FragmentEvent::NeedInput => {
                let n = FEED.min(stored.len() - fed);
                reader.feed(stored.slice(fed..fed + n));
                fed += n;
            }
            FragmentEvent::Eof => return total,
        }
    }
}

/// Decodes `stored` with the plain decompressor of the codec.
fn raw_decode(codec: CompressionCodec, stored: &Bytes) -> usize {
    let mut out = Vec::with_capacity(CONTENT_LEN);
    match codec {
        CompressionCodec::None => out.extend_from_slice(stored),
        CompressionCodec::Gzip => {
            flate2::read::MultiGzDecoder::new(&stored[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        CompressionCodec::Zstandard => out = zstd::decode_all(&stored[..]).unwrap(),
        CompressionCodec::Snappy => {
            snap::read::FrameDecoder::new(&stored[..])
                .read_to_end(&mut out)
                .unwrap();
        }
        other => unreachable!("{other:?}"),
    }
    black_box(out).len()
}

fn fragment_decode(c: &mut Criterion) {
    let content = mixed_content();
    let mut group = c.benchmark_group("fragment_decode");
    group.throughput(Throughput::Bytes(CONTENT_LEN as u64));
    group.sample_size(10);
    for codec in [
        CompressionCodec::None,
        CompressionCodec::Gzip,
        CompressionCodec::Zstandard,
        CompressionCodec::Snappy,
    ] {
        let stored = encode(codec, &content);
        assert_eq!(core_decode(codec, &stored), CONTENT_LEN);
        assert_eq!(raw_decode(codec, &stored), CONTENT_LEN);
        let name = codec.as_str_name();
        group.bench_with_input(BenchmarkId::new("core", name), &stored, |b, s| {
            b.iter(|| core_decode(codec, s))
        });
        group.bench_with_input(BenchmarkId::new("raw", name), &stored, |b, s| {
            b.iter(|| raw_decode(codec, s))
        });
    }
    group.finish();
}

/// The snappy framing checksum on its own, for reading the SNAPPY numbers.
fn crc32c(c: &mut Criterion) {
    let content = mixed_content();
    let mut group = c.benchmark_group("fragment_decode_crc32c");
    group.throughput(Throughput::Bytes(CONTENT_LEN as u64));
    group.sample_size(10);
    group.bench_function("masked_crc32c", |b| {
        b.iter(|| gazette_core::fragment::masked_crc32c(black_box(&content)))
    });
    group.finish();
}

criterion_group!(benches, fragment_decode, crc32c);
criterion_main!(benches);
