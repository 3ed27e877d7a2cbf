//! gazette-tokio appends against a live cluster, checked with gazctl.

mod tokio_support;

use bytes::Bytes;
use gazette_core::append::{AppendError, RequestError};
use gazette_proto::{AppendRequest, CompressionCodec, Status};
use tokio::io::AsyncWriteExt;
use tokio_support::*;

fn request(journal: &str) -> AppendRequest {
    AppendRequest {
        journal: journal.into(),
        ..Default::default()
    }
}

fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn appender_async_write_then_gazctl_reads_back_byte_for_byte() {
    let client = client();
    let journal = unique("appender");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;

    let first = payload(1, 3 << 20); // spans several chunks
    let mut appender = gazette_tokio::Appender::new(&client, request(&journal)).unwrap();
    appender.write_all(&first).await.unwrap();
    let response = appender.commit().await.unwrap();
    let commit = response.commit.expect("commit fragment");
    assert_eq!((commit.begin, commit.end), (0, first.len() as i64));

    let second = payload(2, 1000);
    let response = gazette_tokio::append(
        &client,
        request(&journal),
        &[
            Bytes::from(second[..10].to_vec()),
            Bytes::from(second[10..].to_vec()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        response.commit.unwrap().end,
        (first.len() + second.len()) as i64
    );

    let read = run_gazctl(&["journals", "read", "-l", &format!("name={journal}")], b"").await;
    let mut expect = first;
    expect.extend_from_slice(&second);
    assert_eq!(read.len(), expect.len());
    assert!(read == expect, "content differs");
}

#[tokio::test]
async fn appender_shutdown_commits_and_drop_rolls_back() {
    let client = client();
    let journal = unique("rollback");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;

    let mut dropped = gazette_tokio::Appender::new(&client, request(&journal)).unwrap();
    dropped.write_all(b"never committed").await.unwrap();
    drop(dropped);

    let mut appender = gazette_tokio::Appender::new(&client, request(&journal)).unwrap();
    appender.write_all(b"committed").await.unwrap();
    appender.shutdown().await.unwrap();
    assert_eq!(appender.response().unwrap().commit.as_ref().unwrap().end, 9);

    let aborted = gazette_tokio::Appender::new(&client, request(&journal)).unwrap();
    aborted.abort().await;

    let read = run_gazctl(&["journals", "read", "-l", &format!("name={journal}")], b"").await;
    assert_eq!(read, b"committed");
}

#[tokio::test]
async fn append_to_a_missing_journal_is_journal_not_found() {
    let client = client();
    let err = gazette_tokio::append(
        &client,
        request(&unique("missing")),
        &[Bytes::from_static(b"x")],
    )
    .await
    .unwrap_err();
    assert!(err.is_status(Status::JournalNotFound), "{err}");
}

#[tokio::test]
async fn append_with_an_invalid_name_is_refused() {
    // Refused client-side with a typed validation error: a broker refusal
    // would be an `Error::Rpc` (gRPC UNKNOWN) after a round trip.
    let client = client();
    let err = gazette_tokio::append(&client, request("/bad name"), &[Bytes::from_static(b"x")])
        .await
        .unwrap_err();
    match &err {
        gazette_tokio::Error::Append(AppendError::InvalidRequest(RequestError::Invalid(e))) => {
            assert_eq!(e.field(), "Request.Journal", "{err}")
        }
        other => panic!("expected a client-side validation error, got {other:?}"),
    }
    assert_eq!(err.grpc_code(), None, "no RPC was made: {err:?}");
}

#[tokio::test]
async fn gazctl_append_then_list_shows_the_journal() {
    let client = client();
    let journal = unique("gazctl-append");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;
    run_gazctl(
        &["journals", "append", "-l", &format!("name={journal}")],
        b"from gazctl",
    )
    .await;
    let spec = gazette_tokio::get_journal(&client, &journal).await.unwrap();
    assert_eq!(spec.name, journal);
}
