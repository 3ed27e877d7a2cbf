//! AppendService scheduling costs: one append per batch end to end, and
//! batching of 10^6 small appends into one batch (whose bytes go straight
//! into the spool, with no allocation per append).

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gazette_core::append::{AppendConfig, AppendService, Dispatch, MemorySpool, OpFutures, Spool};
use gazette_core::proto::{AppendRequest, AppendResponse, Fragment, Header, LabelSet};

const PAYLOAD: &[u8] = b"0123456789abcdef";

fn request() -> AppendRequest {
    AppendRequest {
        journal: "bench/journal".into(),
        ..Default::default()
    }
}

fn ok(len: u64) -> AppendResponse {
    AppendResponse {
        header: Some(Header::default()),
        commit: Some(Fragment {
            journal: "bench/journal".into(),
            end: len as i64,
            ..Default::default()
        }),
        registers: Some(LabelSet::default()),
        ..Default::default()
    }
}

/// Reads a dispatched batch's content in 1 MiB chunks, as a driver would,
/// and reports success.
fn complete<S: Spool>(s: &mut AppendService<S>, d: &Dispatch, now: Instant) -> u64 {
    let mut offset = 0;
    while offset < d.len {
        offset += s.read_content(d.batch, offset, 1 << 20).unwrap().len() as u64;
    }
    s.on_append_finished(d.batch, Ok(ok(d.len)), now);
    offset
}

fn schedule_one_append(c: &mut Criterion) {
    let mut s = AppendService::new(MemorySpool::new(), AppendConfig::default());
    let (req, deps, now) = (request(), OpFutures::new(), Instant::now());
    let mut g = c.benchmark_group("append_service");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_append_per_batch", |b| {
        b.iter(|| {
            let t = s.start_append(&req, &deps).unwrap();
            s.write(&t, PAYLOAD).unwrap();
            let fut = s.release(t).unwrap();
            let d = s.poll_dispatch(now).unwrap();
            black_box(complete(&mut s, &d, now));
            black_box(fut.is_done())
        })
    });
    g.finish();
}

fn batch_million_small_appends(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let (req, deps, now) = (request(), OpFutures::new(), Instant::now());
    let mut g = c.benchmark_group("append_service");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("batch_1e6_small_appends", |b| {
        b.iter_batched(
            || {
                // One batch in flight, so every append joins the next one.
                let mut s = AppendService::new(MemorySpool::new(), AppendConfig::default());
                let t = s.start_append(&req, &deps).unwrap();
                s.write(&t, PAYLOAD).unwrap();
                s.release(t).unwrap();
                let first = s.poll_dispatch(now).unwrap();
                (s, first)
            },
            |(mut s, first)| {
                let mut last = None;
                for _ in 0..N {
                    let t = s.start_append(&req, &deps).unwrap();
                    s.write(&t, PAYLOAD).unwrap();
                    last = Some(s.release(t).unwrap());
                }
                complete(&mut s, &first, now);
                let batch = s.poll_dispatch(now).unwrap();
                assert_eq!(batch.len, N * PAYLOAD.len() as u64);
                complete(&mut s, &batch, now);
                assert!(last.unwrap().is_done());
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, schedule_one_append, batch_million_small_appends);
criterion_main!(benches);
