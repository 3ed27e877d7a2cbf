//! gazette-tokio authorization against brokers started with
//! `--broker.auth-keys`: signed tokens are accepted, missing, foreign-key
//! and under-privileged tokens are rejected with typed errors.

mod tokio_support;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use gazette_proto::{AppendRequest, CompressionCodec, ListRequest, ReadRequest};
use gazette_tokio::{Auth, Capability, Claims};
use tokio::io::AsyncReadExt;
use tokio_support::*;

// base64("gazette-tokio test key") and base64("another key").
const KEY: &str = "Z2F6ZXR0ZS10b2tpbyB0ZXN0IGtleQ==";
const OTHER_KEY: &str = "YW5vdGhlciBrZXk=";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_accepted_and_rejected_by_brokers_with_auth_keys() {
    let cluster = PrivateCluster::start(1, Some(KEY)).await;
    let keyed = Auth::keyed(KEY).unwrap();
    cluster.wait_ready(0, keyed.clone()).await;

    // Keyed auth signs a token per call with the claims the call needs.
    let client = cluster.client(0, keyed);
    let journal = unique("auth");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;
    let request = AppendRequest {
        journal: journal.clone(),
        ..Default::default()
    };
    gazette_tokio::append(&client, request.clone(), &[Bytes::from_static(b"secret")])
        .await
        .unwrap();
    let mut reader = gazette_tokio::Reader::new(
        &client,
        ReadRequest {
            journal: journal.clone(),
            end_offset: 6,
            ..Default::default()
        },
    );
    let mut got = Vec::new();
    reader.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"secret");

    // A ready-made bearer token with every capability works too.
    let all = Claims::for_selector(
        Capability::ALL,
        Default::default(),
        Duration::from_secs(600),
    );
    let token = gazette_tokio::auth::sign_hs256(b"gazette-tokio test key", &all, SystemTime::now())
        .unwrap();
    let bearer = cluster.client(0, Auth::Bearer(token));
    let snapshot = gazette_tokio::list_all_journals(&bearer, ListRequest::default())
        .await
        .unwrap();
    assert!(
        snapshot
            .journals
            .iter()
            .any(|j| j.spec.as_ref().is_some_and(|s| s.name == journal))
    );

    // No token at all.
    let anonymous = cluster.client(0, Auth::None);
    let err = gazette_tokio::list_all_journals(&anonymous, ListRequest::default())
        .await
        .unwrap_err();
    assert!(err.is_unauthenticated(), "{err:?}");

    // A token signed with a key the broker does not know.
    let foreign = cluster.client(0, Auth::keyed(OTHER_KEY).unwrap());
    let err = gazette_tokio::append(&foreign, request.clone(), &[Bytes::from_static(b"x")])
        .await
        .unwrap_err();
    assert!(err.is_unauthenticated(), "{err:?}");

    // A token lacking the APPEND capability.
    let read_only = Claims::for_selector(
        Capability::READ,
        Default::default(),
        Duration::from_secs(600),
    );
    let token =
        gazette_tokio::auth::sign_hs256(b"gazette-tokio test key", &read_only, SystemTime::now())
            .unwrap();
    let reader_client = cluster.client(0, Auth::Bearer(token));
    let err = gazette_tokio::append(&reader_client, request, &[Bytes::from_static(b"x")])
        .await
        .unwrap_err();
    assert!(err.is_unauthenticated(), "{err:?}");
    assert!(err.to_string().contains("APPEND"), "{err}");
}
