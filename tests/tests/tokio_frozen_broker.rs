//! Issue 17: a broker frozen with SIGSTOP (its process stops, its
//! connections stay open) for `FROZEN_SECONDS` (default 60) under
//! AppendService load on four journals (replication 2, etcd lease 3 s) and
//! a tailing RetryReader per journal. Every journal's appends commit again,
//! and every reader resumes at its exact offset, within the lease + 5 s of
//! the freeze, while the broker stays frozen; nothing is lost, per-journal
//! order holds, and repeats are counted.
//!
//! With `GAZETTE_GO_CLIENT` naming a build of `benches/go-client`, Go's
//! client runs the same load on four more journals of the same cluster
//! during the same freeze, and both results are printed side by side (Go's
//! are reported, not asserted).

mod tokio_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gazette_proto::{AppendRequest, CompressionCodec, ReadRequest};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_support::*;

const RECORD: usize = 256;
const JOURNALS: usize = 4;
const LEASE: Duration = Duration::from_secs(3);
/// The etcd lease plus 5 s: the longest a journal may stall.
const BOUND: Duration = Duration::from_secs(LEASE.as_secs() + 5);

fn record(journal: usize, i: usize) -> Vec<u8> {
    let mut rec = format!("{journal:04}:{i:08}:").into_bytes();
    rec.resize(RECORD - 1, b'a' + (i % 26) as u8);
    rec.push(b'\n');
    rec
}

fn parse(rec: &[u8]) -> (usize, usize) {
    let text = std::str::from_utf8(&rec[..14]).unwrap();
    (text[0..4].parse().unwrap(), text[5..13].parse().unwrap())
}

fn frozen_for() -> Duration {
    let seconds = std::env::var("FROZEN_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(seconds)
}

/// The route of each journal, from a listing.
async fn routes(
    client: &gazette_tokio::Client,
    journals: &[String],
) -> BTreeMap<String, gazette_proto::Route> {
    let listing = gazette_tokio::list_all_journals(client, Default::default())
        .await
        .unwrap();
    listing
        .journals
        .into_iter()
        .filter_map(|j| Some((j.spec?.name, j.route?)))
        .filter(|(name, _)| journals.contains(name))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_and_tailing_readers_recover_from_a_frozen_broker_within_the_lease_plus_5s() {
    let cluster = PrivateCluster::start(3, None).await;
    for i in 0..3 {
        cluster.wait_ready(i, gazette_tokio::Auth::None).await;
    }
    // Broker 0 is the service address; the victim is another broker.
    let client = cluster.client(0, gazette_tokio::Auth::None);
    let prefix = unique("frozen");
    let journals: Vec<String> = (0..JOURNALS).map(|j| format!("{prefix}/{j}")).collect();
    let go_client = std::env::var("GAZETTE_GO_CLIENT").ok();
    let go_journals: Vec<String> = match go_client {
        Some(_) => (0..JOURNALS).map(|j| format!("{prefix}/go/{j}")).collect(),
        None => Vec::new(),
    };
    let all: Vec<String> = journals.iter().chain(&go_journals).cloned().collect();
    create(
        &client,
        all.iter()
            .map(|n| {
                let mut s = spec(n, CompressionCodec::None, None);
                s.replication = 2;
                s
            })
            .collect(),
    )
    .await;
    wait_for_members(&client, &all, 2).await;
    let before = routes(&client, &all).await;
    // The broker other than the service address that serves most journals.
    let victim = (1..3)
        .max_by_key(|&b| {
            before
                .values()
                .filter(|r| r.endpoints.contains(&cluster.endpoints[b]))
                .count()
        })
        .unwrap();
    let victim_endpoint = cluster.endpoints[victim].clone();
    let go = go_client.map(|bin| {
        let seconds = 10 + frozen_for().as_secs() + 10;
        tokio::process::Command::new(bin)
            .args([
                "-workload",
                "frozen",
                "-broker",
                &cluster.endpoints[0],
                "-journals",
                &go_journals.join(","),
                "-seconds",
                &seconds.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the Go client starts")
    });

    let service = gazette_tokio::AppendService::new(&client);
    let stop = Arc::new(AtomicBool::new(false));
    let (commits_tx, mut commits) = mpsc::unbounded_channel::<(usize, usize, Instant)>();
    let writers: Vec<_> = (0..JOURNALS)
        .map(|j| {
            let service = service.clone();
            let journal = journals[j].clone();
            let stop = stop.clone();
            let commits_tx = commits_tx.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let future = service
                        .append(AppendRequest::new(journal.clone()), &record(j, i))
                        .await
                        .unwrap();
                    future.await.expect("an append of the AppendService fails");
                    let _ = commits_tx.send((j, i, Instant::now()));
                    i += 1;
                }
                i
            })
        })
        .collect();
    drop(commits_tx);
    let (reads_tx, mut reads) = mpsc::unbounded_channel::<(usize, usize, Instant)>();
    let readers: Vec<_> = (0..JOURNALS)
        .map(|j| {
            let client = client.clone();
            let journal = journals[j].clone();
            let reads_tx = reads_tx.clone();
            tokio::spawn(async move {
                let mut reader =
                    gazette_tokio::RetryReader::new(&client, ReadRequest::new(journal));
                let mut buf = vec![0u8; RECORD];
                loop {
                    reader.read_exact(&mut buf).await.unwrap();
                    let (jj, i) = parse(&buf);
                    assert_eq!(jj, j);
                    if reads_tx.send((j, i, Instant::now())).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();

    // Warm up: every journal commits and is read.
    let mut committed: Vec<Vec<(usize, Instant)>> = vec![Vec::new(); JOURNALS];
    let mut read: Vec<Vec<(usize, Instant)>> = vec![Vec::new(); JOURNALS];
    let warm = Instant::now() + Duration::from_secs(30);
    while committed.iter().any(|c| c.len() < 5) || read.iter().any(|r| r.len() < 5) {
        tokio::select! {
            Some((j, i, at)) = commits.recv() => committed[j].push((i, at)),
            Some((j, i, at)) = reads.recv() => read[j].push((i, at)),
            () = tokio::time::sleep_until(warm) => panic!("no progress before the freeze"),
        }
    }

    if go.is_some() {
        // Go's writers and readers warm up too.
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    let frozen_at = Instant::now();
    let frozen_unix = unix_millis();
    cluster.freeze(victim);
    eprintln!("froze broker {victim} ({victim_endpoint})");
    let thaw_at = frozen_at + frozen_for();
    loop {
        tokio::select! {
            Some((j, i, at)) = commits.recv() => committed[j].push((i, at)),
            Some((j, i, at)) = reads.recv() => read[j].push((i, at)),
            () = tokio::time::sleep_until(thaw_at) => break,
        }
    }
    let after = routes(&client, &journals).await;
    cluster.thaw(victim);
    stop.store(true, Ordering::SeqCst);
    let mut totals = Vec::new();
    for writer in writers {
        totals.push(
            tokio::time::timeout(Duration::from_secs(60), writer)
                .await
                .expect("writers stop once the broker is back")
                .unwrap(),
        );
    }
    while let Some((j, i, at)) = commits.recv().await {
        committed[j].push((i, at));
    }
    // Readers catch up with everything committed.
    let catch_up = Instant::now() + Duration::from_secs(60);
    while (0..JOURNALS).any(|j| read[j].last().is_none_or(|&(i, _)| i + 1 < totals[j])) {
        tokio::select! {
            Some((j, i, at)) = reads.recv() => read[j].push((i, at)),
            () = tokio::time::sleep_until(catch_up) => panic!("readers did not catch up"),
        }
    }
    drop(reads);
    for reader in readers {
        reader.abort();
    }
    service.close().await;

    eprintln!(
        "{:<8} {:>9} {:>17} {:>15} {:>9} {:>8}",
        "journal", "affected", "commit stall (s)", "read stall (s)", "records", "repeats"
    );
    for j in 0..JOURNALS {
        let affected = before[&journals[j]].endpoints.contains(&victim_endpoint);
        // The longest time during the freeze without a commit, and
        // without a record read.
        let commit_times: Vec<Instant> = committed[j].iter().map(|&(_, at)| at).collect();
        let read_times: Vec<Instant> = read[j].iter().map(|&(_, at)| at).collect();
        let commit_stall = max_stall(&commit_times, frozen_at, thaw_at);
        let read_stall = max_stall(&read_times, frozen_at, thaw_at);
        // Exact offsets: every record once, in order; a repeat only as a
        // retried append written twice.
        let mut next = 0;
        let mut repeats = 0;
        for &(i, _) in &read[j] {
            if i + 1 == next {
                repeats += 1;
                continue;
            }
            assert_eq!(i, next, "journal {j}: record {next} lost or out of order");
            next += 1;
        }
        assert_eq!(
            next, totals[j],
            "journal {j}: every committed record is read"
        );
        eprintln!(
            "{j:<8} {affected:>9} {:>17.1} {:>15.1} {:>9} {repeats:>8}",
            commit_stall.as_secs_f64(),
            read_stall.as_secs_f64(),
            totals[j]
        );
        assert!(
            commit_stall <= BOUND,
            "journal {j}: appends stalled {commit_stall:?} during the freeze (bound {BOUND:?})"
        );
        assert!(
            read_stall <= BOUND,
            "journal {j}: its reader stalled {read_stall:?} during the freeze (bound {BOUND:?})"
        );
        assert!(
            !after[&journals[j]].endpoints.contains(&victim_endpoint),
            "journal {j} was reassigned away from the frozen broker"
        );
    }

    if let Some(go) = go {
        let output = tokio::time::timeout(Duration::from_secs(120), go.wait_with_output())
            .await
            .expect("the Go client ends")
            .unwrap();
        eprintln!("Go client (go.gazette.dev/core/broker/client), same freeze:");
        eprintln!(
            "{:<8} {:>9} {:>17} {:>15} {:>9}",
            "journal", "affected", "commit stall (s)", "read stall (s)", "records"
        );
        let thaw_unix = frozen_unix + frozen_for().as_millis() as i64;
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let journal = value["journal"].as_str().unwrap().to_string();
            let times = |key: &str| -> Vec<i64> {
                value[key]
                    .as_array()
                    .map(|a| a.iter().filter_map(|t| t.as_i64()).collect())
                    .unwrap_or_default()
            };
            let stall = |times: &[i64]| {
                let mut points = vec![frozen_unix];
                points.extend(times.iter().filter(|&&t| t > frozen_unix && t < thaw_unix));
                points.push(thaw_unix);
                let max = points.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
                max as f64 / 1000.0
            };
            let commits = times("commits");
            eprintln!(
                "{:<8} {:>9} {:>17.1} {:>15.1} {:>9}",
                journal.rsplit('/').next().unwrap(),
                before[&journal].endpoints.contains(&victim_endpoint),
                stall(&commits),
                stall(&times("reads")),
                commits.len()
            );
        }
    }
}

/// The longest stretch of `[start, end]` holding none of `times`.
fn max_stall(times: &[Instant], start: Instant, end: Instant) -> Duration {
    let mut points = vec![start];
    points.extend(times.iter().filter(|&&t| t > start && t < end));
    points.push(end);
    points
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
