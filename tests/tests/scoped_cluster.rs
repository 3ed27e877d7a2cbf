//! A test-owned cluster starts on its own ports and directory and leaves no
//! process behind.

use gazette_proto::{CompressionCodec, Status};
use gazette_tests::scoped::process_is_running as running;
use gazette_tests::{ScopedCluster, list_snapshot, name_selector, unique_journal_name};

#[tokio::test]
async fn scoped_cluster_serves_then_stops_every_process_on_drop() {
    let scoped = ScopedCluster::start(1).unwrap_or_else(|e| panic!("{e}"));
    let cluster = scoped.cluster().clone();
    assert_eq!(cluster.brokers.len(), 1);
    if let Ok(shared) = std::env::var("ETCD_ENDPOINT") {
        assert_ne!(
            cluster.etcd_endpoint, shared,
            "a scoped cluster has its own etcd"
        );
    }

    let mut client = cluster.connect(0).await.unwrap_or_else(|e| panic!("{e}"));
    let name = unique_journal_name("scoped");
    let journal = cluster
        .create_journal(
            &mut client,
            cluster.journal_spec(&name, 1, CompressionCodec::None),
        )
        .await
        .unwrap();
    assert_eq!(journal.route.unwrap().members.len(), 1);

    let pids = [
        scoped.pid_of("etcd").unwrap(),
        scoped.pid_of("broker-1").unwrap(),
    ];
    assert!(pids.iter().all(|&p| running(p)));
    let dir = scoped.dir().to_owned();
    drop(scoped);
    assert!(pids.iter().all(|&p| !running(p)), "processes left behind");
    assert!(!dir.exists(), "state directory left behind");

    let err = list_snapshot(&mut client, name_selector(&name)).await;
    assert!(err.is_err(), "the broker is gone");
}

#[tokio::test]
async fn killed_broker_stops_answering() {
    let scoped = ScopedCluster::start(2).unwrap_or_else(|e| panic!("{e}"));
    let cluster = scoped.cluster();
    let mut survivor = cluster.connect(0).await.unwrap();
    scoped.kill_broker(1).unwrap();
    assert!(
        cluster.connect(1).await.is_err(),
        "killed broker refuses connections"
    );
    let snapshot = list_snapshot(&mut survivor, name_selector("scoped/none"))
        .await
        .unwrap();
    assert_eq!(snapshot[0].status(), Status::Ok);
}
