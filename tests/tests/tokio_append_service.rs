//! gazette-tokio AppendService against a live cluster.

mod tokio_support;

use std::time::Duration;

use gazette_proto::{AppendRequest, CompressionCodec, ReadRequest, Status};
use gazette_tokio::{AppendFutures, AppendService};
use tokio::io::AsyncReadExt;
use tokio_support::*;

fn request(journal: &str) -> AppendRequest {
    AppendRequest {
        journal: journal.into(),
        ..Default::default()
    }
}

async fn read_all(client: &gazette_tokio::Client, journal: &str, end: i64) -> Vec<u8> {
    let mut reader = gazette_tokio::RetryReader::new(
        client,
        ReadRequest {
            journal: journal.into(),
            end_offset: end,
            ..Default::default()
        },
    );
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut got))
        .await
        .expect("read in time")
        .unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_commit_in_release_order_per_journal() {
    let client = client();
    let prefix = unique("service");
    let journals: Vec<String> = (0..3).map(|j| format!("{prefix}/{j}")).collect();
    create(
        &client,
        journals
            .iter()
            .map(|n| spec(n, CompressionCodec::None, None))
            .collect(),
    )
    .await;
    let service = AppendService::new(&client);

    const N: usize = 200;
    let tasks: Vec<_> = journals
        .iter()
        .map(|journal| {
            let service = service.clone();
            let journal = journal.clone();
            tokio::spawn(async move {
                let mut futures = Vec::new();
                for i in 0..N {
                    let mut writer = service
                        .start_append(request(&journal), &AppendFutures::new())
                        .await
                        .unwrap();
                    writer
                        .write(format!("{journal} {i:05}\n").as_bytes())
                        .unwrap();
                    futures.push(writer.release().unwrap());
                }
                for future in futures {
                    future.await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("appends in time")
            .unwrap();
    }
    let metrics = service.metrics();
    assert!(
        metrics.batches_created < (3 * N) as u64,
        "appends were batched: {metrics:?}"
    );

    for journal in &journals {
        let expect: String = (0..N).map(|i| format!("{journal} {i:05}\n")).collect();
        let got = read_all(&client, journal, expect.len() as i64).await;
        assert_eq!(String::from_utf8(got).unwrap(), expect);
    }
}

#[tokio::test]
async fn dependencies_and_pending_except_order_appends_across_journals() {
    let client = client();
    let prefix = unique("deps");
    let (a, b) = (format!("{prefix}/a"), format!("{prefix}/b"));
    create(
        &client,
        vec![
            spec(&a, CompressionCodec::None, None),
            spec(&b, CompressionCodec::None, None),
        ],
    )
    .await;
    let service = AppendService::new(&client);

    let first = service.append(request(&a), b"first").await.unwrap();
    let deps = service.pending_except(&b);
    let mut writer = service.start_append(request(&b), &deps).await.unwrap();
    writer.write(b"second").unwrap();
    let second = writer.release().unwrap();
    second.clone().await.unwrap();
    // The dependent append committed, so its dependency had committed.
    assert!(first.is_done());
    assert_eq!(first.try_result(), Some(Ok(())));
    let response = second.response().expect("a response");
    assert_eq!(response.commit.unwrap().end, 6);
}

#[tokio::test]
async fn require_rolls_a_writer_back_and_keeps_the_others() {
    let client = client();
    let journal = unique("require");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;
    let service = AppendService::new(&client);

    let kept = service.append(request(&journal), b"kept;").await.unwrap();
    let mut writer = service
        .start_append(request(&journal), &AppendFutures::new())
        .await
        .unwrap();
    writer.write(b"rolled back").unwrap();
    writer.require("caller changed its mind");
    let err = writer.release().unwrap_err();
    assert!(err.to_string().contains("caller changed its mind"), "{err}");
    let dropped = service
        .start_append(request(&journal), &AppendFutures::new())
        .await
        .unwrap();
    drop(dropped);
    let after = service.append(request(&journal), b"after").await.unwrap();
    kept.await.unwrap();
    after.await.unwrap();
    assert_eq!(read_all(&client, &journal, 10).await, b"kept;after");
}

#[tokio::test]
async fn appends_to_a_missing_journal_fail_and_poison_it() {
    let client = client();
    let journal = unique("missing");
    let service = AppendService::new(&client);
    let failed = service.append(request(&journal), b"x").await.unwrap();
    let err = tokio::time::timeout(Duration::from_secs(30), failed)
        .await
        .expect("resolves")
        .unwrap_err();
    assert!(err.is_status(Status::JournalNotFound), "{err}");
    let later = service.append(request(&journal), b"y").await;
    let later_err = match later {
        Ok(future) => future.await.unwrap_err(),
        Err(err) => panic!("start failed: {err}"),
    };
    assert!(later_err.is_status(Status::JournalNotFound), "{later_err}");

    // Once the journal exists and the poison is cleared, appends go through.
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;
    let cleared = service
        .clear_poison(&journal)
        .expect("the journal was poisoned");
    assert!(cleared.is_status(Status::JournalNotFound), "{cleared}");
    assert!(service.clear_poison(&journal).is_none(), "cleared once");
    let committed = service.append(request(&journal), b"z").await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), committed)
        .await
        .expect("resolves")
        .expect("commits after the poison is cleared");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_of_one_journal_wait_for_each_other_and_keep_their_order() {
    let client = client();
    let journal = unique("one-journal");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;
    let service = AppendService::new(&client);

    const TASKS: usize = 4;
    const N: usize = 50;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let service = service.clone();
            let journal = journal.clone();
            tokio::spawn(async move {
                let mut last = None;
                for i in 0..N {
                    // Hold the writer across an await: other tasks must wait.
                    let mut writer = service
                        .start_append(request(&journal), &AppendFutures::new())
                        .await
                        .unwrap();
                    writer.write(format!("{t}:").as_bytes()).unwrap();
                    tokio::task::yield_now().await;
                    writer.write(format!("{i:04}\n").as_bytes()).unwrap();
                    last = Some(writer.release().unwrap());
                }
                last.unwrap().await.unwrap();
            })
        })
        .collect();
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("appends in time")
            .unwrap();
    }
    let len = (TASKS * N * 7) as i64;
    let got = String::from_utf8(read_all(&client, &journal, len).await).unwrap();
    let mut next = [0usize; TASKS];
    for line in got.lines() {
        let (t, i) = line
            .split_once(':')
            .expect("writes of one writer are contiguous");
        let (t, i): (usize, usize) = (t.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, next[t], "task {t}'s appends keep their order");
        next[t] += 1;
    }
    assert_eq!(next, [N; TASKS]);
}

/// Awaits every future with one overall bound, returning their outcomes.
async fn resolve_all(
    futures: Vec<gazette_tokio::AppendFuture>,
) -> Vec<gazette_core::append::OpResult> {
    tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(futures))
        .await
        .expect("every released append resolves")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_appends_are_delivered_after_the_service_is_dropped() {
    let client = client();
    let journal = unique("dropped-service");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;
    const N: usize = 200;
    let futures = {
        let service = AppendService::new(&client);
        let mut futures = Vec::new();
        for i in 0..N {
            let line = format!("{i:05}\n");
            futures.push(
                service
                    .append(request(&journal), line.as_bytes())
                    .await
                    .unwrap(),
            );
        }
        futures
        // The only service handle is dropped here, with appends pending.
    };
    for outcome in resolve_all(futures).await {
        outcome.unwrap();
    }
    let expect: String = (0..N).map(|i| format!("{i:05}\n")).collect();
    let got = read_all(&client, &journal, expect.len() as i64).await;
    assert_eq!(String::from_utf8(got).unwrap(), expect);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_flushes_every_released_append_then_refuses_new_ones() {
    let client = client();
    let prefix = unique("close");
    let journals: Vec<String> = (0..3).map(|j| format!("{prefix}/{j}")).collect();
    create(
        &client,
        journals
            .iter()
            .map(|n| spec(n, CompressionCodec::None, None))
            .collect(),
    )
    .await;
    let service = AppendService::new(&client);
    let mut futures = Vec::new();
    for i in 0..30 {
        let journal = &journals[i % 3];
        let line = format!("{i:03}\n");
        futures.push(
            service
                .append(request(journal), line.as_bytes())
                .await
                .unwrap(),
        );
    }
    let clone = service.clone();
    tokio::time::timeout(Duration::from_secs(30), clone.close())
        .await
        .expect("close returns once everything is flushed");
    assert!(
        futures.iter().all(|f| f.try_result() == Some(Ok(()))),
        "close returned before every append committed: {futures:?}"
    );
    let err = service
        .append(request(&journals[0]), b"too late")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            gazette_tokio::Error::Append(gazette_core::append::AppendError::ServiceClosed)
        ),
        "{err}"
    );
    for (j, journal) in journals.iter().enumerate() {
        let expect: String = (0..30)
            .filter(|i| i % 3 == j)
            .map(|i| format!("{i:03}\n"))
            .collect();
        let got = read_all(&client, journal, expect.len() as i64).await;
        assert_eq!(String::from_utf8(got).unwrap(), expect);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_fails_pending_appends_and_waiting_writers_with_a_typed_error() {
    use gazette_core::append::{AppendError, AsyncOperation, TransportError};
    let client = client();
    let prefix = unique("cancel");
    let (a, b) = (format!("{prefix}/a"), format!("{prefix}/b"));
    create(
        &client,
        vec![
            spec(&a, CompressionCodec::None, None),
            spec(&b, CompressionCodec::None, None),
        ],
    )
    .await;
    let service = AppendService::new(&client);
    // Held back by a dependency that never resolves.
    let never = AsyncOperation::new();
    let deps: AppendFutures = [never.future()].into_iter().collect();
    let mut writer = service.start_append(request(&a), &deps).await.unwrap();
    writer.write(b"held back").unwrap();
    let held = writer.release().unwrap();
    // A writer of b waits behind an open writer of b.
    let open = service
        .start_append(request(&b), &AppendFutures::new())
        .await
        .unwrap();
    let waiting = tokio::spawn({
        let service = service.clone();
        let b = b.clone();
        async move {
            service
                .start_append(request(&b), &AppendFutures::new())
                .await
                .map(drop)
        }
    });
    service.cancel();
    let cancelled = AppendError::Transport(TransportError::Cancelled);
    assert_eq!(resolve_all(vec![held]).await, vec![Err(cancelled.clone())]);
    let err = tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the waiting writer returns")
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, gazette_tokio::Error::Append(e) if *e == cancelled),
        "{err}"
    );
    drop(open);
    tokio::time::timeout(Duration::from_secs(30), service.close())
        .await
        .expect("close returns after a cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_external_dependency_resolving_wakes_the_dispatch_loop() {
    use gazette_core::append::AsyncOperation;
    let client = client();
    let prefix = unique("two-deps");
    let (a, b) = (format!("{prefix}/a"), format!("{prefix}/b"));
    create(
        &client,
        vec![
            spec(&a, CompressionCodec::None, None),
            spec(&b, CompressionCodec::None, None),
        ],
    )
    .await;
    let service = AppendService::new(&client);
    let (x, y) = (AsyncOperation::new(), AsyncOperation::new());
    let on = |op: &AsyncOperation| -> AppendFutures { [op.future()].into_iter().collect() };
    let mut writer = service.start_append(request(&a), &on(&x)).await.unwrap();
    writer.write(b"after x").unwrap();
    let after_x = writer.release().unwrap();
    let mut writer = service.start_append(request(&b), &on(&y)).await.unwrap();
    writer.write(b"after y").unwrap();
    let after_y = writer.release().unwrap();
    // Let the loop go to sleep on its dependencies before resolving.
    tokio::task::yield_now().await;
    y.resolve(Ok(())).unwrap();
    assert_eq!(resolve_all(vec![after_y]).await, vec![Ok(())]);
    assert!(!after_x.is_done(), "a still waits for x");
    x.resolve(Ok(())).unwrap();
    assert_eq!(resolve_all(vec![after_x]).await, vec![Ok(())]);
    assert_eq!(read_all(&client, &b, 7).await, b"after y");
}
