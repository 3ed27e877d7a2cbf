//! The broker's response to an append it refused (REGISTER_MISMATCH) is
//! reachable after the failure, as Go's `Appender.Response()` and
//! `AsyncAppend.Response()` are; the AppendService writer is a tokio
//! `AsyncWrite`.

mod tokio_support;

use bytes::Bytes;
use gazette_core::append::{AppendConfig, BatchRetryPolicy};
use gazette_proto::{
    AppendRequest, AppendResponse, CompressionCodec, LabelSelector, LabelSet, Status,
};
use gazette_tokio::{AppendFutures, AppendService, Appender};
use tokio::io::AsyncWriteExt;
use tokio_support::*;

/// A journal whose registers are `owner=a`.
async fn owned_journal(client: &gazette_tokio::Client, prefix: &str) -> String {
    let journal = unique(prefix);
    create(client, vec![spec(&journal, CompressionCodec::None, None)]).await;
    let request =
        AppendRequest::new(&journal).union_registers(LabelSet::from_iter([("owner", "a")]));
    gazette_tokio::append(client, request, &[Bytes::from_static(b"mine\n")])
        .await
        .unwrap();
    journal
}

fn assert_refusal(response: &AppendResponse) {
    assert_eq!(response.status, Status::RegisterMismatch as i32);
    assert!(response.header.is_some(), "{response:?}");
    let registers = response.registers.as_ref().expect("registers");
    assert!(
        registers
            .labels
            .iter()
            .any(|l| l.name == "owner" && l.value == "a"),
        "{registers:?}"
    );
}

#[tokio::test]
async fn a_refused_appender_keeps_the_broker_response() {
    let client = client();
    let journal = owned_journal(&client, "refused-appender").await;
    let request =
        AppendRequest::new(&journal).check_registers(LabelSelector::new().include("owner", "b"));
    let mut appender = Appender::new(&client, request).unwrap();
    appender
        .write_bytes(Bytes::from_static(b"not mine\n"))
        .await
        .unwrap();
    let err = appender.commit().await.unwrap_err();
    assert!(err.is_status(Status::RegisterMismatch), "{err}");
    assert_refusal(appender.response().expect("the refusing response"));
}

#[tokio::test]
async fn a_refused_batch_exposes_the_broker_response_and_async_write_spools() {
    let client = client();
    let journal = owned_journal(&client, "refused-batch").await;
    // Go retries every error of a request checking registers; fail instead.
    let config = AppendConfig {
        retry: BatchRetryPolicy {
            retry_all_with_check_registers: false,
            ..BatchRetryPolicy::default()
        },
        ..AppendConfig::default()
    };
    let service = AppendService::with_config(&client, config);

    // AsyncWrite: the content is the append's.
    let mut writer = service
        .start_append(AppendRequest::new(&journal), &AppendFutures::new())
        .await
        .unwrap();
    writer.write_all(b"async ").await.unwrap();
    writer.write_all(b"write\n").await.unwrap();
    writer.flush().await.unwrap();
    let ok = writer.release().unwrap();
    ok.clone().await.unwrap();
    let commit = ok.response().unwrap().commit.unwrap();
    assert_eq!(commit.end - commit.begin, b"async write\n".len() as i64);

    let request =
        AppendRequest::new(&journal).check_registers(LabelSelector::new().include("owner", "b"));
    let refused = service.append(request, b"not mine\n").await.unwrap();
    let err = refused.clone().await.unwrap_err();
    assert!(err.is_status(Status::RegisterMismatch), "{err}");
    assert_refusal(&refused.response().expect("the refusing response"));
}
