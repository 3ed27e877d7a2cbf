//! A `;meta` segment on an Append (issue 10, item 6). A broker that is not
//! the journal's primary proxies the Append and, at the pinned broker
//! version, crashes when the journal carries a metadata segment (it builds
//! the forwarded authorization from the unstripped name). Our client never
//! sends the segment on Append, so such a broker survives our appends.
//! Each test owns a two-broker cluster, as one of them kills a broker.

use std::time::{Duration, Instant};

use bytes::Bytes;
use gazette_proto::CompressionCodec;
use gazette_tests::scoped::process_is_running;
use gazette_tests::{ScopedCluster, append_raw, read_raw, read_request, unique_journal_name};

/// A two-broker cluster with a journal of replication 1, and the index of
/// the broker that is NOT its primary.
async fn cluster_with_journal() -> (ScopedCluster, String, usize) {
    let scoped = ScopedCluster::start(2).unwrap_or_else(|e| panic!("{e}"));
    let cluster = scoped.cluster().clone();
    let mut client = cluster.connect(0).await.unwrap();
    let name = unique_journal_name("append-meta");
    let journal = cluster
        .create_journal(
            &mut client,
            cluster.journal_spec(&name, 1, CompressionCodec::None),
        )
        .await
        .unwrap();
    let route = journal.route.expect("a route");
    let primary = &route.endpoints[route.primary as usize];
    let primary = cluster.broker_index(primary).expect("a cluster broker");
    (scoped, name, 1 - primary)
}

/// Whether broker `index` is still running, given time to finish a crash.
fn still_running_after_a_while(scoped: &ScopedCluster, index: usize) -> bool {
    let pid = scoped
        .pid_of(&scoped.cluster().brokers[index].id)
        .expect("a broker PID");
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if !process_is_running(pid) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    process_is_running(pid)
}

/// Pins the broker behaviour the client works around: a raw Append of
/// `journal;meta` sent to the non-primary broker kills it.
#[tokio::test]
async fn raw_proxied_append_with_a_meta_segment_crashes_the_proxying_broker() {
    let (scoped, name, proxy) = cluster_with_journal().await;
    let mut raw = scoped.cluster().connect(proxy).await.unwrap();
    // The proxying broker may not yet have seen the new journal's
    // assignment (it answers NO_JOURNAL_PRIMARY_BROKER with an empty route
    // until its etcd watch catches up); only a broker that knows the
    // primary proxies, so ask again until it does, bounded.
    let deadline = Instant::now() + Duration::from_secs(10);
    let result = loop {
        let result = append_raw(
            &mut raw,
            &format!("{name};some/meta"),
            vec![Bytes::from_static(b"x")],
        )
        .await;
        match &result {
            Ok(response)
                if response.status() == gazette_proto::Status::NoJournalPrimaryBroker
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            _ => break result,
        }
    };
    assert!(result.is_err(), "the proxying broker answered: {result:?}");
    assert!(
        !still_running_after_a_while(&scoped, proxy),
        "the proxying broker survived a proxied Append of a ;meta journal"
    );
}

#[tokio::test]
async fn non_primary_broker_survives_our_appends_of_a_meta_journal() {
    let (scoped, name, proxy) = cluster_with_journal().await;
    let endpoint = scoped.cluster().brokers[proxy].endpoint.clone();
    // Everything goes to the non-primary broker, which must proxy.
    let client = gazette_tokio::Client::builder(endpoint)
        .route_directly(false)
        .build()
        .unwrap();
    let meta = format!("{name};some/meta");
    let request = gazette_proto::AppendRequest {
        journal: meta.clone(),
        ..Default::default()
    };

    // Bounded: a crashed broker would make the appends retry forever.
    let response = bounded(
        "append",
        gazette_tokio::append(&client, request.clone(), &[Bytes::from_static(b"one;")]),
    )
    .await
    .unwrap();
    assert_eq!(response.commit.unwrap().journal, name);

    let mut appender = gazette_tokio::Appender::new(&client, request.clone()).unwrap();
    bounded("write", appender.write_bytes(Bytes::from_static(b"two;")))
        .await
        .unwrap();
    bounded("commit", appender.commit()).await.unwrap();

    let service = gazette_tokio::AppendService::new(&client);
    let future = bounded("start", service.append(request.clone(), b"three;"))
        .await
        .unwrap();
    bounded("service append", future).await.unwrap();

    assert!(
        still_running_after_a_while(&scoped, proxy),
        "the non-primary broker crashed"
    );
    let mut raw = scoped.cluster().connect(proxy).await.unwrap();
    let read = read_raw(&mut raw, read_request(&name, 0, 15))
        .await
        .unwrap();
    assert_eq!(read.content, b"one;two;three;");
}

async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 20 s (did the broker crash?)"))
}
