//! Fuzzes the fragment decoder: arbitrary codec, content encoding, fragment
//! range, requested offset, body bytes and chunking. Decoding must not panic
//! or hang, content never goes past the fragment's end, each decoder poll
//! stays within its window, and failures are typed errors.

#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use gazette_core::fragment::{
    ContentEncoding, DECODE_WINDOW, Decoded, Decoder, FragmentErrorKind, FragmentEvent,
    FragmentReader,
};
use gazette_proto::CompressionCodec;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    codec: u8,
    encoding: u8,
    begin: i64,
    length: u32,
    skip: u32,
    chunks: Vec<u16>,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let codec = CompressionCodec::try_from(i32::from(input.codec % 6)).unwrap();
    let encoding = match input.encoding % 3 {
        0 => ContentEncoding::Stored,
        1 => ContentEncoding::Identity,
        _ => ContentEncoding::Gzip,
    };
    let begin = input.begin.clamp(0, i64::MAX - i64::from(u32::MAX));
    let end = begin + i64::from(input.length);
    let offset = begin + i64::from(input.skip);
    let body = Bytes::from(input.body);
    let chunk = |i: usize| {
        usize::from(
            input
                .chunks
                .get(i % input.chunks.len().max(1))
                .copied()
                .unwrap_or(0),
        )
        .max(1)
    };

    // Through the fragment reader.
    let mut reader = match FragmentReader::with_range(begin, end, codec, offset, encoding) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.to_string();
            assert!(codec == CompressionCodec::Invalid || offset > end);
            return;
        }
    };
    let (mut fed, mut i, mut next) = (0, 0, offset.max(begin));
    loop {
        match reader.poll() {
            Ok(FragmentEvent::Content { offset, content }) => {
                assert_eq!(offset, next);
                assert!(!content.is_empty() && content.len() <= DECODE_WINDOW);
                next += content.len() as i64;
                assert!(next <= end, "content past the fragment's end");
            }
            Ok(FragmentEvent::NeedInput) if fed == body.len() => reader.feed_end(),
            Ok(FragmentEvent::NeedInput) => {
                let n = chunk(i).min(body.len() - fed);
                i += 1;
                reader.feed(body.slice(fed..fed + n));
                fed += n;
            }
            Ok(FragmentEvent::Eof) => {
                assert_eq!(next, end);
                break;
            }
            Err(e) => {
                let _ = e.to_string();
                if e.kind() == FragmentErrorKind::ContentTooLong {
                    assert_eq!(next, end);
                }
                assert_eq!(reader.poll(), Err(e), "errors are sticky");
                break;
            }
        }
        assert!(reader.offset() <= end);
    }

    // The bare decoder with varying windows, capped at 4 MiB of output.
    let mut decoder = Decoder::new(codec, encoding).expect("valid codec");
    decoder.push(body);
    decoder.finish();
    let mut total = 0usize;
    for j in 0.. {
        let max = chunk(j);
        match decoder.poll(max) {
            Ok(Decoded::Content(b)) => {
                assert!(!b.is_empty() && b.len() <= max.min(DECODE_WINDOW));
                total += b.len();
                if total > 4 << 20 {
                    break;
                }
            }
            Ok(Decoded::NeedInput) => panic!("NeedInput after finish"),
            Ok(Decoded::End) => break,
            Err(e) => {
                let _ = e.to_string();
                break;
            }
        }
    }
});
