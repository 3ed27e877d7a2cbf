//! gazette-tokio through broker failures: a broker of a private cluster is
//! killed (SIGKILL) and restarted while appends and a tailing RetryReader
//! run. Journals are replicated to every broker, so committed content
//! survives; appends are retried, so a record may repeat (at-least-once)
//! but none is lost and per-journal order is kept.

mod tokio_support;

use std::time::Duration;

use bytes::Bytes;
use gazette_proto::{AppendRequest, CompressionCodec, ReadRequest};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_support::*;

const RECORD: usize = 1000;

/// The fault tests each run a private 3-broker cluster; running them one
/// at a time keeps 2 cores from starving the brokers' Etcd leases.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn record(journal: usize, i: usize) -> Bytes {
    let mut rec = format!("{journal:04}:{i:08}:").into_bytes();
    rec.resize(RECORD, b'a' + (i % 26) as u8);
    Bytes::from(rec)
}

fn parse(rec: &[u8]) -> (usize, usize) {
    let text = std::str::from_utf8(&rec[..14]).unwrap();
    (text[0..4].parse().unwrap(), text[5..13].parse().unwrap())
}

/// Checks that `records` of `journal` hold 0..n in order, each at least
/// once and repeats only as consecutive retries. Returns the repeat count.
fn check_sequence(journal: usize, records: &[(usize, usize)], n: usize) -> usize {
    let mut next = 0;
    let mut repeats = 0;
    for &(j, i) in records {
        assert_eq!(j, journal);
        if i + 1 == next {
            repeats += 1;
            continue;
        }
        assert_eq!(
            i, next,
            "record {next} of journal {journal} lost or out of order"
        );
        next += 1;
    }
    assert_eq!(next, n);
    repeats
}

/// Index of the broker that is the primary of `journal`.
async fn primary_of(
    cluster: &PrivateCluster,
    client: &gazette_tokio::Client,
    journal: &str,
) -> usize {
    let spec = gazette_tokio::list_all_journals(client, Default::default())
        .await
        .unwrap();
    let route = spec
        .journals
        .iter()
        .find(|j| j.spec.as_ref().is_some_and(|s| s.name == journal))
        .and_then(|j| j.route.clone())
        .unwrap();
    let endpoint = &route.endpoints[route.primary as usize];
    cluster
        .endpoints
        .iter()
        .position(|e| e == endpoint)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailing_retry_reader_and_appends_survive_a_primary_kill_and_restart() {
    let _serial = SERIAL.lock().await;
    let mut cluster = PrivateCluster::start(3, None).await;
    for i in 0..3 {
        cluster.wait_ready(i, gazette_tokio::Auth::None).await;
    }
    let setup = cluster.client(0, gazette_tokio::Auth::None);
    let journal = unique("fault-tail");
    let mut js = spec(&journal, CompressionCodec::None, None);
    js.replication = 2;
    create(&setup, vec![js]).await;
    wait_for_members(&setup, std::slice::from_ref(&journal), 2).await;

    let victim = primary_of(&cluster, &setup, &journal).await;
    let service = (victim + 1) % 3;
    let client = cluster.client(service, gazette_tokio::Auth::None);

    const N: usize = 60;
    let (progress_tx, mut progress) = mpsc::channel::<usize>(N);
    let writer = {
        let client = client.clone();
        let journal = journal.clone();
        tokio::spawn(async move {
            for i in 0..N {
                let request = AppendRequest {
                    journal: journal.clone(),
                    ..Default::default()
                };
                gazette_tokio::append(&client, request, &[record(0, i)])
                    .await
                    .unwrap();
                let _ = progress_tx.send(i).await;
            }
        })
    };
    let reader = {
        let client = client.clone();
        let journal = journal.clone();
        tokio::spawn(async move {
            let mut reader = gazette_tokio::RetryReader::new(
                &client,
                ReadRequest {
                    journal,
                    block: true,
                    ..Default::default()
                },
            );
            let mut records = Vec::new();
            let mut buf = vec![0u8; RECORD];
            while records.last().is_none_or(|&(_, i)| i + 1 < N) {
                reader.read_exact(&mut buf).await.unwrap();
                records.push(parse(&buf));
            }
            records
        })
    };

    // Kill the primary once a third is written, restart it at two thirds.
    let mut written = async |n: usize| {
        tokio::time::timeout(Duration::from_secs(120), async {
            while progress.recv().await.expect("the writer is running") + 1 < n {}
        })
        .await
        .expect("appends progress in time")
    };
    let started = tokio::time::Instant::now();
    written(N / 3).await;
    cluster.kill(victim).await;
    eprintln!("killed broker {victim} after {:?}", started.elapsed());
    written(2 * N / 3).await;
    cluster.restart(victim);
    eprintln!("restarted broker {victim} after {:?}", started.elapsed());

    let records = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .expect("the reader catches up in time")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .expect("writes finish")
        .unwrap();
    eprintln!("read everything after {:?}", started.elapsed());
    let repeats = check_sequence(0, &records, N);
    assert!(repeats <= 3, "{repeats} repeated records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_service_load_on_many_journals_survives_a_broker_restart() {
    let _serial = SERIAL.lock().await;
    let mut cluster = PrivateCluster::start(3, None).await;
    for i in 0..3 {
        cluster.wait_ready(i, gazette_tokio::Auth::None).await;
    }
    let client = cluster.client(0, gazette_tokio::Auth::None);
    let prefix = unique("fault-load");
    let journals: Vec<String> = (0..4).map(|j| format!("{prefix}/{j}")).collect();
    create(
        &client,
        journals
            .iter()
            .map(|n| {
                let mut s = spec(n, CompressionCodec::Snappy, None);
                s.replication = 2;
                s
            })
            .collect(),
    )
    .await;
    wait_for_members(&client, &journals, 2).await;

    const N: usize = 40;
    let (progress_tx, mut progress) = mpsc::channel::<()>(N * journals.len());
    let writers: Vec<_> = journals
        .iter()
        .enumerate()
        .map(|(j, journal)| {
            let client = client.clone();
            let journal = journal.clone();
            let progress_tx = progress_tx.clone();
            tokio::spawn(async move {
                for i in 0..N {
                    let request = AppendRequest {
                        journal: journal.clone(),
                        ..Default::default()
                    };
                    gazette_tokio::append(&client, request, &[record(j, i)])
                        .await
                        .unwrap();
                    let _ = progress_tx.send(()).await;
                }
            })
        })
        .collect();
    drop(progress_tx);

    // Broker 2 never is the service address of `client`.
    let total = N * journals.len();
    let mut written = async |n: usize| {
        tokio::time::timeout(Duration::from_secs(120), async {
            for _ in 0..n {
                progress.recv().await.expect("writers are running");
            }
        })
        .await
        .expect("appends progress in time")
    };
    written(total / 4).await;
    cluster.kill(2).await;
    written(total / 4).await;
    cluster.restart(2);
    for writer in writers {
        tokio::time::timeout(Duration::from_secs(120), writer)
            .await
            .expect("writes finish")
            .unwrap();
    }

    for (j, journal) in journals.iter().enumerate() {
        // Every record has committed, but a replica still recovering from
        // the restart may not serve all of them yet: a blocking read waits
        // for them (bounded below) where a non-blocking one would end with
        // OFFSET_NOT_YET_AVAILABLE below the write head.
        let mut reader = gazette_tokio::RetryReader::new(
            &client,
            ReadRequest {
                journal: journal.clone(),
                block: true,
                ..Default::default()
            },
        );
        let mut records = Vec::new();
        let mut buf = vec![0u8; RECORD];
        while records.last().is_none_or(|&(_, i)| i + 1 < N) {
            tokio::time::timeout(Duration::from_secs(60), reader.read_exact(&mut buf))
                .await
                .expect("read in time")
                .unwrap();
            records.push(parse(&buf));
        }
        check_sequence(j, &records, N);
    }
}
