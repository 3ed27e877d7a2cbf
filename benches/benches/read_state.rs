//! Per-frame overhead of the read machines: 10^5 content frames of 32 KiB
//! (the broker's chunk size) through a `Reader` and through a `RetryReader`,
//! plus direct fragment content through a `Reader`. Content is shared
//! `Bytes`, so the numbers measure bookkeeping, not copying.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gazette_core::read::{ReadEvent, ReadInput, ReadOutput, Reader, RetryOutput, RetryReader};
use gazette_proto::{CompressionCodec, Fragment, ReadRequest, ReadResponse};

const FRAMES: usize = 100_000;
const CHUNK: usize = 32 * 1024;

fn request() -> ReadRequest {
    ReadRequest {
        journal: "bench/journal".into(),
        offset: 0,
        ..Default::default()
    }
}

fn metadata(url: &str) -> ReadResponse {
    ReadResponse {
        offset: 0,
        write_head: i64::MAX / 2,
        fragment: Some(Fragment {
            journal: "bench/journal".into(),
            begin: 0,
            end: i64::MAX / 2,
            compression_codec: CompressionCodec::None as i32,
            ..Default::default()
        }),
        fragment_url: url.into(),
        ..Default::default()
    }
}

fn content_frames(chunk: &Bytes) -> Vec<ReadResponse> {
    (0..FRAMES)
        .map(|i| ReadResponse {
            offset: (i * CHUNK) as i64,
            content: chunk.clone(),
            ..Default::default()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let mut group = c.benchmark_group("read_state");
    group.sample_size(10);
    group.throughput(Throughput::Elements(FRAMES as u64));

    group.bench_function("reader_stream_100k_frames_32k", |b| {
        b.iter_batched(
            || content_frames(&chunk),
            |frames| {
                let mut r = Reader::new(request());
                r.poll_output();
                r.handle(ReadInput::RpcStarted);
                r.handle(ReadInput::Frame(metadata("")));
                let mut bytes = 0;
                for frame in frames {
                    r.handle(ReadInput::Frame(frame));
                    while let Some(out) = r.poll_output() {
                        if let ReadOutput::Event(ReadEvent::Content { content, .. }) = out {
                            bytes += content.len();
                        }
                    }
                }
                black_box(bytes)
            },
            criterion::BatchSize::LargeInput,
        )
    });

    group.bench_function("retry_reader_stream_100k_frames_32k", |b| {
        b.iter_batched(
            || content_frames(&chunk),
            |frames| {
                let mut rr = RetryReader::new(request());
                rr.poll_output();
                rr.handle(ReadInput::RpcStarted);
                rr.handle(ReadInput::Frame(metadata("")));
                let mut bytes = 0;
                for frame in frames {
                    rr.handle(ReadInput::Frame(frame));
                    while let Some(out) = rr.poll_output() {
                        if let RetryOutput::Event(ReadEvent::Content { content, .. }) = out {
                            bytes += content.len();
                        }
                    }
                }
                black_box(bytes)
            },
            criterion::BatchSize::LargeInput,
        )
    });

    group.bench_function("reader_direct_100k_chunks_32k", |b| {
        b.iter(|| {
            let mut r = Reader::new(ReadRequest {
                do_not_proxy: true,
                ..request()
            });
            r.poll_output();
            r.handle(ReadInput::RpcStarted);
            r.handle(ReadInput::Frame(metadata("https://store/fragment")));
            r.handle(ReadInput::RpcClosed);
            r.handle(ReadInput::DirectOpened);
            while r.poll_output().is_some() {}
            let mut bytes = 0;
            for _ in 0..FRAMES {
                r.handle(ReadInput::DirectContent(chunk.clone()));
                while let Some(out) = r.poll_output() {
                    if let ReadOutput::Event(ReadEvent::Content { content, .. }) = out {
                        bytes += content.len();
                    }
                }
            }
            black_box(bytes)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
