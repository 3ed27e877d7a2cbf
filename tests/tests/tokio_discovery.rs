//! gazette-tokio discovery calls against a live cluster.

mod tokio_support;

use std::time::Duration;

use futures::StreamExt;
use gazette_proto::{
    ApplyRequest, CompressionCodec, Label, LabelSelector, LabelSet, ListRequest, Status,
    apply_request,
};
use gazette_tokio::core::list::ListError;
use tokio_support::*;

fn selector(name: &str, value: &str, prefix: bool) -> LabelSelector {
    LabelSelector {
        include: Some(LabelSet {
            labels: vec![Label {
                name: name.into(),
                value: value.into(),
                prefix,
            }],
        }),
        exclude: None,
    }
}

#[tokio::test]
async fn list_with_a_prefix_selector_returns_exactly_the_created_journals() {
    let client = client();
    let prefix = format!("{}/", unique("list"));
    let names: Vec<String> = (0..30).map(|i| format!("{prefix}j{i:02}")).collect();
    create(
        &client,
        names
            .iter()
            .map(|n| spec(n, CompressionCodec::None, None))
            .collect(),
    )
    .await;

    // 30 journals span two ListResponse messages (25 per message).
    let snapshot = gazette_tokio::list_all_journals(
        &client,
        ListRequest {
            selector: Some(selector("name", &prefix, true)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut got: Vec<String> = snapshot
        .journals
        .iter()
        .map(|j| j.spec.clone().unwrap().name)
        .collect();
    got.sort();
    assert_eq!(got, names);
    // Routes were cached for dispatch.
    assert!(client.route(&names[0]).primary >= 0);
}

#[tokio::test]
async fn get_journal_of_a_missing_journal_is_journal_does_not_exist() {
    let client = client();
    let name = unique("nope");
    let err = gazette_tokio::get_journal(&client, &name)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, gazette_tokio::Error::List(ListError::JournalDoesNotExist(n)) if *n == name),
        "{err}"
    );
}

#[tokio::test]
async fn apply_in_batches_applies_every_change_and_invalid_specs_are_refused() {
    let client = client();
    let prefix = unique("batches");
    let specs: Vec<_> = (0..5)
        .map(|i| spec(&format!("{prefix}/{i}"), CompressionCodec::Snappy, None))
        .collect();
    let changes = specs
        .iter()
        .map(|s| apply_request::Change {
            expect_mod_revision: 0,
            upsert: Some(s.clone()),
            delete: String::new(),
        })
        .collect();
    let response = gazette_tokio::apply_in_batches(&client, ApplyRequest { changes }, 2)
        .await
        .unwrap();
    assert_eq!(response.status, Status::Ok as i32);
    for s in &specs {
        let got = gazette_tokio::get_journal(&client, &s.name).await.unwrap();
        assert_eq!(
            got.fragment.unwrap().compression_codec,
            CompressionCodec::Snappy as i32
        );
    }

    // Creating an existing journal again with expect_mod_revision 0 fails
    // the Etcd transaction.
    let again = ApplyRequest {
        changes: vec![apply_request::Change {
            expect_mod_revision: 0,
            upsert: Some(specs[0].clone()),
            delete: String::new(),
        }],
    };
    let err = gazette_tokio::apply(&client, again).await.unwrap_err();
    assert!(err.to_string().contains("ETCD_TRANSACTION_FAILED"), "{err}");
    // One call tells the status; Go's Apply names none, so it is generic.
    assert_eq!(err.status(), Some(Status::EtcdTransactionFailed), "{err:?}");
    assert!(!err.is_status(Status::EtcdTransactionFailed), "{err:?}");

    // An invalid journal name is refused by validation before any RPC.
    let mut bad = specs[0].clone();
    bad.name = "/bad name".into();
    let err = gazette_tokio::apply(
        &client,
        ApplyRequest {
            changes: vec![apply_request::Change {
                expect_mod_revision: 0,
                upsert: Some(bad),
                delete: String::new(),
            }],
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, gazette_tokio::Error::InvalidRequest(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn watched_list_publishes_a_snapshot_with_a_newly_created_journal() {
    let client = client();
    let prefix = format!("{}/", unique("watch"));
    let mut watch =
        gazette_tokio::WatchedList::new(client.clone(), selector("name", &prefix, true));
    let first = tokio::time::timeout(Duration::from_secs(30), watch.next())
        .await
        .expect("a first snapshot")
        .unwrap()
        .unwrap();
    assert!(first.journals.is_empty());

    let name = format!("{prefix}new");
    create(&client, vec![spec(&name, CompressionCodec::None, None)]).await;
    let snapshot = tokio::time::timeout(
        Duration::from_secs(30),
        watch.wait_for(|s| {
            s.journals
                .iter()
                .any(|j| j.spec.as_ref().is_some_and(|s| s.name == name))
        }),
    )
    .await
    .expect("the watch sees the new journal");
    assert_eq!(snapshot.journals.len(), 1);
    assert_eq!(watch.latest().unwrap().journals.len(), 1);
}

#[tokio::test]
async fn fragment_store_health_of_the_file_store_is_ok() {
    let client = client();
    let response = gazette_tokio::fragment_store_health(&client, "file:///fragments/", None)
        .await
        .unwrap();
    assert_eq!(
        response.status,
        Status::Ok as i32,
        "{}",
        response.store_health_error
    );
}

#[tokio::test]
async fn an_unreachable_broker_is_a_typed_unavailable_error() {
    // Port 1 on loopback: nothing listens there.
    let client = gazette_tokio::Client::builder("http://127.0.0.1:1")
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let err = gazette_tokio::list_all_journals(&client, ListRequest::default())
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[tokio::test]
async fn every_operation_on_a_missing_journal_reports_journal_not_found_in_one_call() {
    use bytes::Bytes;
    use gazette_proto::{AppendRequest, FragmentsRequest, ReadRequest};
    let client = client();
    let name = unique("missing");
    let jnf = Some(Status::JournalNotFound);

    let err = gazette_tokio::get_journal(&client, &name)
        .await
        .unwrap_err();
    assert_eq!(err.status(), jnf, "get: {err:?}");
    assert_eq!(
        err.kind(),
        gazette_tokio::ErrorKind::NotFound,
        "get: {err:?}"
    );
    assert!(!err.is_transient(), "get");

    let mut reader = gazette_tokio::Reader::new(
        &client,
        ReadRequest {
            journal: name.clone(),
            block: false,
            ..Default::default()
        },
    );
    let err = loop {
        match reader.next_event().await {
            Ok(Some(gazette_tokio::ReadEvent::Metadata(_))) => continue,
            Ok(other) => panic!("read of a missing journal: {other:?}"),
            Err(err) => break err,
        }
    };
    assert_eq!(err.status(), jnf, "read: {err:?}");
    assert_eq!(
        err.kind(),
        gazette_tokio::ErrorKind::NotFound,
        "read: {err:?}"
    );
    assert!(!err.is_transient(), "read");
    assert!(err.is_status(Status::JournalNotFound), "read: {err:?}");

    let err = gazette_tokio::append(
        &client,
        AppendRequest {
            journal: name.clone(),
            ..Default::default()
        },
        &[Bytes::from_static(b"x")],
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), jnf, "append: {err:?}");
    assert_eq!(
        err.kind(),
        gazette_tokio::ErrorKind::NotFound,
        "append: {err:?}"
    );
    assert!(!err.is_transient(), "append");
    assert!(err.is_status(Status::JournalNotFound), "append: {err:?}");

    let err = gazette_tokio::list_all_fragments(
        &client,
        FragmentsRequest {
            journal: name.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), jnf, "list fragments: {err:?}");
    assert_eq!(
        err.kind(),
        gazette_tokio::ErrorKind::NotFound,
        "list fragments: {err:?}"
    );
    assert!(!err.is_transient(), "list fragments");
    // ListFragments names only SUSPENDED: JOURNAL_NOT_FOUND is generic.
    assert!(
        !err.is_status(Status::JournalNotFound),
        "list fragments: {err:?}"
    );
}
