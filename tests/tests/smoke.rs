//! Smoke test of the live cluster with the raw generated tonic client: it
//! proves the cluster scripts, our `.proto` and the brokers agree, and that
//! content written by Rust is what `gazctl` reads (and the reverse).
//!
//! Run with `scripts/with-cluster.sh cargo test -p gazette-tests --test smoke`.
//! Without a cluster every test fails, saying how to start one.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::Stdio;

use bytes::Bytes;
use gazette_proto::{
    CompressionCodec, FragmentStoreHealthRequest, ReadRequest, Status, list_response,
};
use gazette_tests::{
    Client, Cluster, append_raw, list_fragments, list_snapshot, name_selector, read_raw,
    read_request, snapshot_journals, unique_journal_name,
};

/// Creates a fresh journal replicated to all three brokers and returns it
/// with the cluster and one client per broker.
async fn three_way_journal(
    codec: CompressionCodec,
) -> (Cluster, Vec<Client>, list_response::Journal) {
    let cluster = Cluster::require();
    assert_eq!(cluster.brokers.len(), 3, "the smoke test expects 3 brokers");
    let mut clients = cluster
        .connect_all()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let name = unique_journal_name("smoke");
    let spec = cluster.journal_spec(&name, 3, codec);
    let journal = cluster
        .create_journal(&mut clients[0], spec)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (cluster, clients, journal)
}

fn name_of(journal: &list_response::Journal) -> &str {
    &journal
        .spec
        .as_ref()
        .expect("listed journals carry a spec")
        .name
}

/// Index (in cluster order) of the journal's primary broker.
fn primary_index(cluster: &Cluster, journal: &list_response::Journal) -> usize {
    let route = journal
        .route
        .as_ref()
        .expect("assigned journal has a route");
    let endpoint = &route.endpoints[route.primary as usize];
    cluster
        .broker_index(endpoint)
        .unwrap_or_else(|| panic!("primary endpoint {endpoint} is not one of our brokers"))
}

fn sha1(data: &[u8]) -> [u8; 20] {
    sha1_smol::Sha1::from(data).digest().bytes()
}

#[tokio::test]
async fn every_broker_answers_list_with_its_own_zone_and_id() {
    let cluster = Cluster::require();
    assert_eq!(cluster.brokers.len(), 3);
    let zones: BTreeSet<_> = cluster.brokers.iter().map(|b| &b.zone).collect();
    assert_eq!(zones.len(), 3, "each broker runs in its own zone");

    for (i, broker) in cluster.brokers.iter().enumerate() {
        let mut client = cluster.connect(i).await.unwrap_or_else(|e| panic!("{e}"));
        let snapshot = list_snapshot(&mut client, name_selector("smoke/no-such-journal"))
            .await
            .unwrap();
        // An empty snapshot is one message: OK, a header, no journals.
        assert_eq!(snapshot.len(), 1, "{snapshot:?}");
        let first = &snapshot[0];
        assert_eq!(first.status(), Status::Ok);
        assert!(first.journals.is_empty());
        let header = first
            .header
            .as_ref()
            .expect("first List message has a header");
        let id = header.process_id.as_ref().expect("header names the broker");
        assert_eq!((&id.zone, &id.suffix), (&broker.zone, &broker.id));
        // The List header's route is "unrouted": no members, primary -1.
        let route = header.route.as_ref().expect("header has a route");
        assert!(route.members.is_empty());
        assert_eq!(route.primary, -1);
        assert!(header.etcd.as_ref().is_some_and(|e| e.revision > 0));
    }
}

#[tokio::test]
async fn applied_journal_is_assigned_to_three_zones_and_listed_by_every_broker() {
    let (cluster, mut clients, journal) = three_way_journal(CompressionCodec::Snappy).await;
    let name = name_of(&journal).to_owned();

    let route = journal.route.clone().unwrap();
    assert_eq!(route.members.len(), 3);
    let zones: BTreeSet<_> = route.members.iter().map(|m| m.zone.clone()).collect();
    assert_eq!(zones.len(), 3, "replicas are spread over zones: {route:?}");
    // Members are sorted by (zone, suffix); endpoints line up with members.
    let mut sorted = route.members.clone();
    sorted.sort_by(|a, b| (&a.zone, &a.suffix).cmp(&(&b.zone, &b.suffix)));
    assert_eq!(sorted, route.members);
    for (member, endpoint) in route.members.iter().zip(&route.endpoints) {
        let broker = &cluster.brokers[cluster.broker_index(endpoint).expect("known endpoint")];
        assert_eq!((&broker.zone, &broker.id), (&member.zone, &member.suffix));
    }
    assert!(journal.create_revision > 0 && journal.mod_revision >= journal.create_revision);

    for client in &mut clients {
        let listed = snapshot_journals(&list_snapshot(client, name_selector(&name)).await.unwrap());
        assert_eq!(listed.len(), 1);
        assert_eq!(
            listed[0].spec, journal.spec,
            "spec round-trips through etcd"
        );
        assert_eq!(listed[0].create_revision, journal.create_revision);
        assert_eq!(listed[0].route.as_ref().unwrap().members, route.members);
    }
}

#[tokio::test]
async fn raw_append_then_raw_read_from_every_broker_returns_the_content() {
    let (cluster, mut clients, journal) = three_way_journal(CompressionCodec::Snappy).await;
    let name = name_of(&journal).to_owned();
    let primary = primary_index(&cluster, &journal);

    let chunks = vec![
        Bytes::from_static(b"hello, "),
        Bytes::from(vec![b'x'; 70_000]), // larger than one 32 KiB read frame
        Bytes::from_static(b" gazette\n"),
    ];
    let content: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let resp = append_raw(&mut clients[primary], &name, chunks)
        .await
        .unwrap();
    assert_eq!(resp.status(), Status::Ok, "{resp:?}");
    let commit = resp.commit.expect("OK append carries its commit");
    assert_eq!((commit.begin, commit.end), (0, content.len() as i64));
    assert_eq!(commit.journal, name);
    let sum = commit.sum.expect("commit carries the SHA1 of the append");
    let digest = sha1(&content);
    assert_eq!(sum.part1.to_be_bytes(), digest[0..8]);
    assert_eq!(sum.part2.to_be_bytes(), digest[8..16]);
    assert_eq!(sum.part3.to_be_bytes(), digest[16..20]);
    assert_eq!(
        resp.total_chunks, 4,
        "3 content chunks and the commit marker"
    );
    let header = resp.header.expect("append response has a header");
    assert_eq!(
        header.process_id.unwrap().suffix,
        cluster.brokers[primary].id,
        "executed by the primary"
    );

    for (i, client) in clients.iter_mut().enumerate() {
        let outcome = read_raw(client, read_request(&name, 0, content.len() as i64))
            .await
            .unwrap();
        assert_eq!(outcome.content, content, "content read through broker {i}");
        let first = &outcome.messages[0];
        assert_eq!(first.status(), Status::Ok);
        assert!(
            first.header.is_some(),
            "first Read message carries a header"
        );
        assert_eq!(first.write_head, content.len() as i64);
        let fragment = first
            .fragment
            .as_ref()
            .expect("metadata names the fragment");
        assert_eq!(fragment.begin, 0);
        assert!(fragment.end >= content.len() as i64);
        // Content frames are contiguous and at most 32736 bytes.
        let mut next = 0;
        for msg in outcome.messages.iter().filter(|m| !m.content.is_empty()) {
            assert_eq!(msg.offset, next);
            assert!(msg.content.len() <= 32_736);
            next += msg.content.len() as i64;
        }
        assert_eq!(next, content.len() as i64);
    }

    // A non-blocking read at the write head reports OFFSET_NOT_YET_AVAILABLE.
    let at_head = read_raw(
        &mut clients[0],
        read_request(&name, content.len() as i64, 0),
    )
    .await
    .unwrap();
    assert_eq!(at_head.messages.len(), 1);
    assert_eq!(at_head.messages[0].status(), Status::OffsetNotYetAvailable);
    assert_eq!(at_head.messages[0].write_head, content.len() as i64);
}

#[tokio::test]
async fn append_sent_to_a_non_primary_broker_is_proxied_to_the_primary() {
    let (cluster, mut clients, journal) = three_way_journal(CompressionCodec::None).await;
    let name = name_of(&journal).to_owned();
    let primary = primary_index(&cluster, &journal);
    let other = (primary + 1) % clients.len();

    let resp = append_raw(
        &mut clients[other],
        &name,
        vec![Bytes::from_static(b"proxied")],
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), Status::Ok);
    let header = resp.header.unwrap();
    assert_eq!(
        header.process_id.unwrap().suffix,
        cluster.brokers[primary].id
    );

    let second = append_raw(
        &mut clients[other],
        &name,
        vec![Bytes::from_static(b"+more")],
    )
    .await
    .unwrap();
    let commit = second.commit.unwrap();
    assert_eq!(
        (commit.begin, commit.end),
        (7, 12),
        "appends are contiguous"
    );

    let outcome = read_raw(&mut clients[other], read_request(&name, 0, 12))
        .await
        .unwrap();
    assert_eq!(outcome.content, b"proxied+more");
}

#[tokio::test]
async fn empty_append_is_a_zero_length_commit() {
    let (_cluster, mut clients, journal) = three_way_journal(CompressionCodec::None).await;
    let resp = append_raw(&mut clients[0], name_of(&journal), vec![])
        .await
        .unwrap();
    assert_eq!(resp.status(), Status::Ok);
    let commit = resp.commit.unwrap();
    assert_eq!((commit.begin, commit.end), (0, 0));
    let digest = sha1(b"");
    assert_eq!(commit.sum.unwrap().part1.to_be_bytes(), digest[0..8]);
    assert_eq!(resp.total_chunks, 1, "only the commit marker");
}

#[tokio::test]
async fn list_fragments_covers_the_appended_range() {
    let (_cluster, mut clients, journal) = three_way_journal(CompressionCodec::Snappy).await;
    let name = name_of(&journal).to_owned();
    for part in ["one ", "two ", "three"] {
        let resp = append_raw(&mut clients[1], &name, vec![Bytes::from(part)])
            .await
            .unwrap();
        assert_eq!(resp.status(), Status::Ok);
    }
    let total = "one two three".len() as i64;
    for client in &mut clients {
        let fragments = list_fragments(client, &name).await.unwrap();
        assert!(!fragments.is_empty());
        assert_eq!(fragments[0].begin, 0);
        assert_eq!(fragments.last().unwrap().end, total);
        for pair in fragments.windows(2) {
            assert!(pair[0].begin < pair[1].begin && pair[0].end < pair[1].end);
        }
        for f in &fragments {
            assert_eq!(f.journal, name);
            assert_eq!(f.compression_codec(), CompressionCodec::Snappy);
        }
    }
}

#[tokio::test]
async fn missing_journal_is_reported_as_a_status_not_a_grpc_error() {
    let cluster = Cluster::require();
    let mut client = cluster.connect(2).await.unwrap_or_else(|e| panic!("{e}"));
    let name = unique_journal_name("smoke/missing");
    let outcome = read_raw(&mut client, read_request(&name, 0, 0))
        .await
        .unwrap();
    assert_eq!(outcome.messages.len(), 1);
    assert_eq!(outcome.messages[0].status(), Status::JournalNotFound);

    let resp = append_raw(&mut client, &name, vec![Bytes::from_static(b"x")])
        .await
        .unwrap();
    assert_eq!(resp.status(), Status::JournalNotFound);
}

#[tokio::test]
async fn invalid_read_request_is_a_grpc_error_naming_the_field() {
    let cluster = Cluster::require();
    let mut client = cluster.connect(0).await.unwrap_or_else(|e| panic!("{e}"));
    let err = read_raw(
        &mut client,
        ReadRequest {
            journal: "/starts/with/slash".into(),
            ..Default::default()
        },
    )
    .await
    .expect_err("validation fails");
    let text = err.to_string();
    assert!(text.contains("Journal"), "{text}");
}

#[tokio::test]
async fn fragment_store_of_the_cluster_is_healthy() {
    let cluster = Cluster::require();
    let mut client = cluster.connect(1).await.unwrap_or_else(|e| panic!("{e}"));
    let resp = client
        .fragment_store_health(FragmentStoreHealthRequest {
            fragment_store: cluster.fragment_store.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resp.status(), Status::Ok, "{}", resp.store_health_error);
}

#[tokio::test]
async fn gazctl_reads_what_rust_appended() {
    let (cluster, mut clients, journal) = three_way_journal(CompressionCodec::Snappy).await;
    let name = name_of(&journal).to_owned();
    let content = b"written by gazette-rs\nsecond line\n";
    let resp = append_raw(&mut clients[0], &name, vec![Bytes::from_static(content)])
        .await
        .unwrap();
    assert_eq!(resp.status(), Status::Ok);

    let out = cluster
        .gazctl(2)
        .args(["journals", "read", "-l", &format!("name={name}")])
        .output()
        .expect("gazctl runs");
    assert!(
        out.status.success(),
        "gazctl journals read failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, content);
}

#[tokio::test]
async fn rust_reads_what_gazctl_appended() {
    let (cluster, mut clients, journal) = three_way_journal(CompressionCodec::Gzip).await;
    let name = name_of(&journal).to_owned();
    let content = b"written by gazctl\n";

    let mut child = cluster
        .gazctl(1)
        .args(["journals", "append", "-l", &format!("name={name}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gazctl runs");
    child.stdin.take().unwrap().write_all(content).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "gazctl journals append failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    for client in &mut clients {
        let outcome = read_raw(client, read_request(&name, 0, content.len() as i64))
            .await
            .unwrap();
        assert_eq!(outcome.content, content);
    }
    let listed = cluster
        .gazctl(0)
        .args([
            "journals",
            "list",
            "--format",
            "json",
            "-l",
            &format!("name={name}"),
        ])
        .output()
        .unwrap();
    assert!(listed.status.success());
    let json: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let journals = json["journals"].as_array().expect("journals array");
    assert_eq!(journals.len(), 1);
    assert_eq!(journals[0]["spec"]["name"], name.as_str());
    assert_eq!(journals[0]["spec"]["fragment"]["compression_codec"], "GZIP");
}
