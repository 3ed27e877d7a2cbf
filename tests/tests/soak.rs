//! Issue 13: a chaos soak against a private cluster. For `SOAK_SECONDS`
//! (default 60) a schedule seeded by `SOAK_SEED` (default 1, printed)
//! SIGKILLs and restarts brokers and SIGSTOPs and resumes them (one at a
//! time, never the majority; never freezing the service address), while an
//! AppendService writes to 16 journals with `pending_except` barriers, a
//! one-shot writer appends to them too, a tokio RetryReader tails every
//! journal and a blocking RetryReader tails four of them. At the end every
//! invariant is checked and printed as one table: nothing lost, per-writer
//! order kept, no barrier committed before what it waited for, every
//! reader at the exact offset (a repeat only as a retried append), repeats
//! counted, max RSS. A journal whose broker refuses appends with a status
//! (INDEX_HAS_GREATER_OFFSET once a replica lost consistency under the
//! faults) stops being written and is reported; the client must fail
//! nothing on its own.
//!
//! `scripts/soak.sh` runs it for longer (SOAK_SECONDS=300).

mod tokio_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use gazette_core::backoff::SplitMix64;
use gazette_proto::{AppendRequest, CompressionCodec, ReadRequest};
use tokio::io::AsyncReadExt;
use tokio::sync::{Mutex, mpsc};

use tokio::time::Instant;
use tokio_support::*;

const JOURNALS: usize = 16;
const RECORD: usize = 128;
/// Writer ids: the AppendService writer of a journal, the one-shot writer.
const SERVICE: usize = 0;
const ONE_SHOT: usize = 1;
/// The least time between two broker kills.
const KILL_SPACING: Duration = Duration::from_secs(15);

fn record(writer: usize, journal: usize, i: usize) -> Vec<u8> {
    let mut rec = format!("{writer}:{journal:04}:{i:08}:").into_bytes();
    rec.resize(RECORD - 1, b'a' + (i % 26) as u8);
    rec.push(b'\n');
    rec
}

fn parse(rec: &[u8]) -> (usize, usize, usize) {
    let text = std::str::from_utf8(&rec[..16]).unwrap();
    (
        text[0..1].parse().unwrap(),
        text[2..6].parse().unwrap(),
        text[7..15].parse().unwrap(),
    )
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The process's peak resident set, in KiB (VmHWM).
fn max_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_under_kills_and_freezes_loses_nothing_and_keeps_order() {
    let seconds = env("SOAK_SECONDS", 60);
    let seed = env("SOAK_SEED", 1);
    eprintln!("soak: {seconds} s, seed {seed} (SOAK_SEED={seed} replays the schedule)");
    let mut cluster = PrivateCluster::start(3, None).await;
    for i in 0..3 {
        cluster.wait_ready(i, gazette_tokio::Auth::None).await;
    }
    let client = cluster.client(0, gazette_tokio::Auth::None);
    let prefix = unique("soak");
    let journals: Vec<String> = (0..JOURNALS).map(|j| format!("{prefix}/{j:02}")).collect();
    create(
        &client,
        journals
            .iter()
            .map(|n| {
                // Small fragments roll (and persist) within seconds: a
                // committed append then survives its replicas being killed
                // one after the other (before that it lives only in their
                // memory).
                let mut s = spec(n, CompressionCodec::Snappy, None);
                if let Some(fragment) = s.fragment.as_mut() {
                    fragment.length = 16 << 10;
                }
                s.replication = 2;
                s
            })
            .collect(),
    )
    .await;
    wait_for_members(&client, &journals, 2).await;

    let service = gazette_tokio::AppendService::new(&client);
    let stop = Arc::new(AtomicBool::new(false));
    // Records committed, per journal and writer.
    let commits: Arc<Mutex<Vec<[usize; 2]>>> = Arc::new(Mutex::new(vec![[0; 2]; JOURNALS]));
    // Barriers taken (appends that waited for everything pending elsewhere).
    let barriers = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for (j, journal) in journals.iter().enumerate() {
        let (service, journal, stop, commits, barriers) = (
            service.clone(),
            journal.clone(),
            stop.clone(),
            commits.clone(),
            barriers.clone(),
        );
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                // Every 25th append waits for everything pending elsewhere.
                let deps = if i % 25 == 24 {
                    service.pending_except(&journal)
                } else {
                    gazette_tokio::AppendFutures::new()
                };
                let mut writer = service
                    .start_append(AppendRequest::new(journal.clone()), &deps)
                    .await
                    .unwrap();
                writer.write(&record(SERVICE, j, i)).unwrap();
                let future = writer.release().unwrap();
                if let Err(err) = future.clone().await {
                    // Only a broker's verdict (a status such as
                    // INDEX_HAS_GREATER_OFFSET after a broker lost its
                    // replication consistency) or a failed prerequisite may
                    // end a journal's appends; the client retries the rest.
                    assert!(
                        matches!(
                            err,
                            gazette_core::append::AppendError::Status(_)
                                | gazette_core::append::AppendError::DependencyFailed(_)
                        ),
                        "journal {j}: the AppendService failed an append: {err}"
                    );
                    return Some(format!("journal {j} record {i}: {err}"));
                }
                // No dependent commits before its prerequisites resolved.
                for dep in deps.iter() {
                    assert!(
                        matches!(dep.try_result(), Some(Ok(()))),
                        "journal {j} record {i} committed before a prerequisite resolved"
                    );
                }
                if !deps.is_empty() {
                    barriers.fetch_add(1, Ordering::SeqCst);
                }
                commits.lock().await[j][SERVICE] += 1;
                i += 1;
            }
            None
        }));
    }
    // The one-shot writer: round-robin over the journals, retrying a
    // failed append with the same record (its outcome may be unknown).
    let one_shot = {
        let (client, journals, stop, commits) = (
            client.clone(),
            journals.clone(),
            stop.clone(),
            commits.clone(),
        );
        tokio::spawn(async move {
            let mut next = [0usize; JOURNALS];
            let mut broken = [false; JOURNALS];
            let mut failures = 0;
            let mut j = 0;
            while !stop.load(Ordering::SeqCst) && broken.iter().any(|b| !b) {
                if broken[j] {
                    j = (j + 1) % JOURNALS;
                    continue;
                }
                let rec = Bytes::from(record(ONE_SHOT, j, next[j]));
                let request = AppendRequest::new(journals[j].clone());
                match gazette_tokio::append(&client, request, &[rec]).await {
                    Ok(_) => {
                        commits.lock().await[j][ONE_SHOT] += 1;
                        next[j] += 1;
                        j = (j + 1) % JOURNALS;
                    }
                    Err(err) => {
                        failures += 1;
                        if err.status().is_some() {
                            // A broker's verdict on the journal: stop it.
                            eprintln!("one-shot append refused, journal {j} skipped: {err}");
                            broken[j] = true;
                        } else {
                            eprintln!("one-shot append failed (retried): {err}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }
            failures
        })
    };

    // Readers: tokio for every journal, blocking for the first four.
    let (reads_tx, mut reads) = mpsc::unbounded_channel::<(usize, usize, usize, usize)>();
    let mut readers = Vec::new();
    for (j, journal) in journals.iter().enumerate() {
        let (client, journal, reads_tx) = (client.clone(), journal.clone(), reads_tx.clone());
        readers.push(tokio::spawn(async move {
            let mut reader = gazette_tokio::RetryReader::new(&client, ReadRequest::new(journal));
            let mut buf = vec![0u8; RECORD];
            loop {
                reader.read_exact(&mut buf).await.unwrap();
                let (w, jj, i) = parse(&buf);
                assert_eq!(jj, j);
                if reads_tx.send((0, j, w, i)).is_err() {
                    return;
                }
            }
        }));
    }
    let blocking_client = gazette_blocking::Client::new(cluster.endpoints[0].clone()).unwrap();
    let blocking_stop = Arc::new(AtomicBool::new(false));
    let mut blocking_readers = Vec::new();
    for (j, journal) in journals.iter().enumerate().take(4) {
        let (client, journal, reads_tx, stop) = (
            blocking_client.clone(),
            journal.clone(),
            reads_tx.clone(),
            blocking_stop.clone(),
        );
        blocking_readers.push(std::thread::spawn(move || {
            use std::io::Read;
            let mut reader = gazette_blocking::RetryReader::new(&client, ReadRequest::new(journal));
            reader.set_timeout(Some(Duration::from_secs(2)));
            let mut buf = vec![0u8; RECORD];
            let mut filled = 0;
            while !stop.load(Ordering::SeqCst) {
                match reader.read(&mut buf[filled..]) {
                    Ok(0) => panic!("a tailing reader reached EOF"),
                    Ok(n) => filled += n,
                    Err(err) if err.kind() == std::io::ErrorKind::TimedOut => continue,
                    Err(err) => panic!("blocking reader: {err}"),
                }
                if filled == RECORD {
                    filled = 0;
                    let (w, jj, i) = parse(&buf);
                    assert_eq!(jj, j);
                    if reads_tx.send((1, j, w, i)).is_err() {
                        return;
                    }
                }
            }
        }));
    }
    drop(reads_tx);

    // The fault schedule.
    let mut rng = SplitMix64::new(seed);
    let mut pick = |n: u64| rng.next_u64() % n;
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut log = Vec::new();
    let mut last_kill: Option<Instant> = None;
    let mut got: BTreeMap<(usize, usize), Vec<(usize, usize)>> = BTreeMap::new();
    let collect = |got: &mut BTreeMap<(usize, usize), Vec<(usize, usize)>>,
                   (kind, j, w, i): (usize, usize, usize, usize)| {
        got.entry((kind, j)).or_default().push((w, i));
    };
    while Instant::now() < end {
        let calm = Duration::from_millis(2000 + pick(3000));
        let until = (Instant::now() + calm).min(end);
        while let Ok(Some(read)) = tokio::time::timeout_at(until, reads.recv()).await {
            collect(&mut got, read);
        }
        if Instant::now() >= end {
            break;
        }
        let broker = pick(3) as usize;
        let hold = Duration::from_millis(1000 + pick(4000));
        let at = started.elapsed().as_secs_f64();
        // Kills are spaced so journals are reassigned and re-replicated
        // (and their content persisted) before another broker dies: two
        // replicas lost within that window lose what only they held,
        // which is Gazette's durability model, not the client's doing.
        let kill_allowed = last_kill.is_none_or(|t: Instant| t.elapsed() >= KILL_SPACING);
        let freeze = pick(2) == 0 || !kill_allowed;
        if freeze && broker == 0 {
            // The service address is never frozen.
            continue;
        }
        if freeze {
            log.push(format!("{at:6.1}s freeze broker {broker} for {hold:?}"));
            cluster.freeze(broker);
            let until = Instant::now() + hold;
            while let Ok(Some(read)) = tokio::time::timeout_at(until, reads.recv()).await {
                collect(&mut got, read);
            }
            cluster.thaw(broker);
        } else {
            log.push(format!(
                "{at:6.1}s kill broker {broker}, restart after {hold:?}"
            ));
            last_kill = Some(Instant::now());
            cluster.kill(broker).await;
            let until = Instant::now() + hold;
            while let Ok(Some(read)) = tokio::time::timeout_at(until, reads.recv()).await {
                collect(&mut got, read);
            }
            cluster.restart(broker);
        }
    }
    for line in &log {
        eprintln!("soak: {line}");
    }
    // Heal and drain: writers stop, readers catch up with every commit.
    stop.store(true, Ordering::SeqCst);
    let mut refused = Vec::new();
    for writer in writers {
        let outcome = tokio::time::timeout(Duration::from_secs(120), writer)
            .await
            .expect("AppendService writers finish once brokers are back")
            .unwrap();
        refused.extend(outcome);
    }
    for line in &refused {
        eprintln!("soak: refused by the broker: {line}");
    }
    let one_shot_failures = tokio::time::timeout(Duration::from_secs(120), one_shot)
        .await
        .expect("the one-shot writer finishes")
        .unwrap();
    let commits = commits.lock().await.clone();
    let expected = |j: usize, w: usize| commits[j][w];
    let done = |got: &BTreeMap<(usize, usize), Vec<(usize, usize)>>| {
        (0..JOURNALS).all(|j| {
            let kinds: &[usize] = if j < 4 { &[0, 1] } else { &[0] };
            kinds.iter().all(|&k| {
                let seen = got.get(&(k, j)).map(Vec::as_slice).unwrap_or_default();
                [SERVICE, ONE_SHOT].iter().all(|&w| {
                    let max = seen
                        .iter()
                        .filter(|(ww, _)| *ww == w)
                        .map(|(_, i)| i + 1)
                        .max();
                    max.unwrap_or(0) >= expected(j, w)
                })
            })
        })
    };
    let catch_up = Instant::now() + Duration::from_secs(120);
    while !done(&got) {
        match tokio::time::timeout_at(catch_up, reads.recv()).await {
            Ok(Some(read)) => collect(&mut got, read),
            _ => panic!("readers did not catch up with every commit"),
        }
    }
    blocking_stop.store(true, Ordering::SeqCst);
    drop(reads);
    for reader in readers {
        reader.abort();
    }
    for reader in blocking_readers {
        let _ = reader.join();
    }
    service.close().await;

    // Per reader and journal: each writer's records in order, none lost,
    // repeats only as consecutive duplicates of a retried append.
    let mut total_repeats = 0;
    let mut rows = Vec::new();
    for ((kind, j), seen) in &got {
        let mut next = [0usize; 2];
        let mut repeats = 0;
        for &(w, i) in seen {
            if i + 1 == next[w] {
                repeats += 1;
                continue;
            }
            assert_eq!(
                i, next[w],
                "reader {kind} journal {j}: writer {w}'s record {} lost or out of order (got {i})",
                next[w]
            );
            next[w] += 1;
        }
        for w in [SERVICE, ONE_SHOT] {
            assert!(
                next[w] >= expected(*j, w),
                "reader {kind} journal {j}: writer {w}'s committed records missing"
            );
        }
        total_repeats += repeats;
        rows.push((*kind, *j, next[SERVICE], next[ONE_SHOT], repeats));
    }
    eprintln!(
        "{:<10} {:>8} {:>14} {:>14} {:>8}",
        "reader", "journal", "service recs", "one-shot recs", "repeats"
    );
    for (kind, j, s, o, r) in rows {
        let reader = if kind == 0 { "tokio" } else { "blocking" };
        eprintln!("{reader:<10} {j:>8} {s:>14} {o:>14} {r:>8}");
    }
    let committed: usize = commits.iter().flatten().sum();
    eprintln!(
        "soak: {} faults, {committed} appends committed, 0 lost, order kept, {} barriers held, \
         {total_repeats} repeats read, {one_shot_failures} one-shot failures, {} journals \
         refused by brokers, max RSS {} MiB",
        log.len(),
        barriers.load(Ordering::SeqCst),
        refused.len(),
        max_rss_kib() / 1024
    );
}
