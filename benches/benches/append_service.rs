//! AppendService scheduling costs: one append per batch end to end, and
//! batching of 10^6 small appends into one batch (whose bytes go straight
//! into the spool, with no allocation per append).

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gazette_core::append::{AppendConfig, AppendId, AppendService, Dispatch, MemorySpool, Spool};
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
    while s.poll_resolved().is_some() {}
    offset
}

fn schedule_one_append(c: &mut Criterion) {
    let mut s = AppendService::new(MemorySpool::new(), AppendConfig::default());
    let (req, deps, now) = (request(), Vec::<AppendId>::new(), Instant::now());
    let mut g = c.benchmark_group("append_service");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_append_per_batch", |b| {
        b.iter(|| {
            let t = s.start_append(&req, &deps).unwrap();
            s.write(&t, PAYLOAD).unwrap();
            let fut = s.release(t).unwrap();
            let d = s.poll_dispatch(now).unwrap();
            black_box(complete(&mut s, &d, now));
            black_box(s.batch_state(fut).is_none())
        })
    });
    g.finish();
}

fn batch_million_small_appends(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let (req, deps, now) = (request(), Vec::<AppendId>::new(), Instant::now());
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
                assert!(s.batch_state(last.unwrap()).is_none());
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// One append among 10 000 journals that each hold an in-flight batch:
/// what a release, a dispatch and an outcome cost when the service is
/// large (the scheduler visits only the journal concerned).
fn one_append_among_10k_journals(c: &mut Criterion) {
    let now = Instant::now();
    let mut s = AppendService::new(MemorySpool::new(), AppendConfig::default());
    for i in 0..10_000 {
        let req = AppendRequest {
            journal: format!("bench/journal-{i:05}"),
            ..Default::default()
        };
        let t = s.start_append(&req, &[]).unwrap();
        s.write(&t, PAYLOAD).unwrap();
        s.release(t).unwrap();
    }
    while s.poll_dispatch(now).is_some() {}
    let (req, deps) = (request(), Vec::<AppendId>::new());
    let mut g = c.benchmark_group("append_service");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_append_among_10k_busy_journals", |b| {
        b.iter(|| {
            let t = s.start_append(&req, &deps).unwrap();
            s.write(&t, PAYLOAD).unwrap();
            let id = s.release(t).unwrap();
            let d = s.poll_dispatch(now).unwrap();
            black_box(complete(&mut s, &d, now));
            black_box(id)
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    schedule_one_append,
    batch_million_small_appends,
    one_append_among_10k_journals
);
criterion_main!(benches);
