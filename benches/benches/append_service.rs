//! AppendService scheduling costs: one append per batch end to end, and
//! batching of 10^6 small appends into one batch (whose bytes go straight
//! into the spool, with no allocation per append).

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gazette_core::append::{
    AppendConfig, AppendId, AppendService, AppendTicket, Dispatch, MemorySpool,
};
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
/// Writes `data` and carries out the spool commands it produced, as a
/// driver would.
fn write(s: &mut AppendService, spool: &mut MemorySpool, t: &AppendTicket, data: &[u8]) {
    s.write(t, data).unwrap();
    while let Some(command) = s.poll_spool() {
        spool.execute(&command).unwrap();
    }
}

fn complete(s: &mut AppendService, spool: &MemorySpool, d: &Dispatch, now: Instant) -> u64 {
    let mut offset = 0;
    while offset < d.len {
        let content = s.read_content(d.batch, offset, 1 << 20).unwrap();
        offset += spool.read(&content).unwrap().len() as u64;
    }
    s.on_append_finished(d.batch, Ok(ok(d.len)), now);
    while s.poll_resolved().is_some() {}
    offset
}

fn schedule_one_append(c: &mut Criterion) {
    let mut s = AppendService::new(AppendConfig::default());
    let mut spool = MemorySpool::new();
    let (req, deps, now) = (request(), Vec::<AppendId>::new(), Instant::now());
    let mut g = c.benchmark_group("append_service");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_append_per_batch", |b| {
        b.iter(|| {
            let t = s.start_append(&req, &deps).unwrap();
            write(&mut s, &mut spool, &t, PAYLOAD);
            let fut = s.release(t).unwrap();
            let d = s.poll_dispatch(now).unwrap();
            black_box(complete(&mut s, &spool, &d, now));
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
                let mut s = AppendService::new(AppendConfig::default());
                let mut spool = MemorySpool::new();
                let t = s.start_append(&req, &deps).unwrap();
                write(&mut s, &mut spool, &t, PAYLOAD);
                s.release(t).unwrap();
                let first = s.poll_dispatch(now).unwrap();
                (s, spool, first)
            },
            |(mut s, mut spool, first)| {
                let mut last = None;
                for _ in 0..N {
                    let t = s.start_append(&req, &deps).unwrap();
                    write(&mut s, &mut spool, &t, PAYLOAD);
                    last = Some(s.release(t).unwrap());
                }
                complete(&mut s, &spool, &first, now);
                let batch = s.poll_dispatch(now).unwrap();
                assert_eq!(batch.len, N * PAYLOAD.len() as u64);
                complete(&mut s, &spool, &batch, now);
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
    let mut s = AppendService::new(AppendConfig::default());
    let mut spool = MemorySpool::new();
    for i in 0..10_000 {
        let req = AppendRequest {
            journal: format!("bench/journal-{i:05}"),
            ..Default::default()
        };
        let t = s.start_append(&req, &[]).unwrap();
        write(&mut s, &mut spool, &t, PAYLOAD);
        s.release(t).unwrap();
    }
    while s.poll_dispatch(now).is_some() {}
    let (req, deps) = (request(), Vec::<AppendId>::new());
    let mut g = c.benchmark_group("append_service");
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_append_among_10k_busy_journals", |b| {
        b.iter(|| {
            let t = s.start_append(&req, &deps).unwrap();
            write(&mut s, &mut spool, &t, PAYLOAD);
            let id = s.release(t).unwrap();
            let d = s.poll_dispatch(now).unwrap();
            black_box(complete(&mut s, &spool, &d, now));
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
