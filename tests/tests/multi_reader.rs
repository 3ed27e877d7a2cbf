//! Reading every journal of a selector at once against a live cluster:
//! journals created and deleted while the reader runs, resumption from
//! saved offsets, in both drivers.

mod tokio_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use gazette_proto::{AppendRequest, ApplyRequest, CompressionCodec, LabelSelector, apply_request};
use gazette_tokio::{JournalRecord, MultiReader};
use tokio_support::*;

const WAIT: Duration = Duration::from_secs(60);

async fn append(client: &gazette_tokio::Client, journal: &str, content: &'static str) {
    gazette_tokio::append(
        client,
        AppendRequest::new(journal),
        &[Bytes::from_static(content.as_bytes())],
    )
    .await
    .unwrap();
}

fn summary(item: &JournalRecord) -> (String, i64, String) {
    (
        item.journal.to_string(),
        item.record.begin,
        String::from_utf8_lossy(item.record.line()).into_owned(),
    )
}

async fn next(reader: &mut MultiReader) -> (String, i64, String) {
    let item = tokio::time::timeout(WAIT, reader.next())
        .await
        .expect("a record in time")
        .expect("the reader goes on")
        .expect("no error");
    summary(&item)
}

#[tokio::test]
async fn reads_journals_as_they_come_and_go_and_resumes_from_offsets() {
    let client = client();
    let prefix = unique("multi");
    let [a, b, c] = ["a", "b", "c"].map(|n| format!("{prefix}/{n}"));
    let specs = [&a, &b]
        .map(|n| spec(n, CompressionCodec::None, None))
        .to_vec();
    create(&client, specs).await;
    append(&client, &a, "a1\n").await;
    append(&client, &b, "b1\n").await;

    let selector = LabelSelector::journal_prefix(format!("{prefix}/"));
    let mut reader = MultiReader::new(&client, selector.clone(), BTreeMap::new());
    let first: BTreeSet<_> = [next(&mut reader).await, next(&mut reader).await].into();
    assert_eq!(
        first,
        BTreeSet::from([
            (a.clone(), 0, "a1".to_string()),
            (b.clone(), 0, "b1".to_string()),
        ])
    );

    // A journal created while reading is read from its start.
    create(&client, vec![spec(&c, CompressionCodec::None, None)]).await;
    append(&client, &c, "c1\n").await;
    assert_eq!(next(&mut reader).await, (c.clone(), 0, "c1".to_string()));

    // A deleted journal is dropped, with its offset.
    gazette_tokio::apply(
        &client,
        ApplyRequest::new([apply_request::Change::delete(&b, -1)]),
    )
    .await
    .unwrap();
    append(&client, &a, "a2\n").await;
    assert_eq!(next(&mut reader).await, (a.clone(), 3, "a2".to_string()));
    tokio::time::timeout(WAIT, async {
        while reader.journals().any(|j| j == b) {
            // Polls the watch; no record may come meanwhile.
            if let Ok(item) = tokio::time::timeout(Duration::from_millis(100), reader.next()).await
            {
                panic!("unexpected item {item:?}");
            }
        }
    })
    .await
    .expect("the deletion is seen in time");
    let offsets = reader.offsets().clone();
    assert_eq!(offsets, BTreeMap::from([(a.clone(), 6), (c.clone(), 3)]));
    drop(reader);

    // Resuming from the saved offsets yields only what came since.
    append(&client, &c, "c2\n").await;
    let mut resumed = MultiReader::new(&client, selector, offsets);
    assert_eq!(next(&mut resumed).await, (c.clone(), 3, "c2".to_string()));
    append(&client, &a, "a3\n").await;
    assert_eq!(next(&mut resumed).await, (a.clone(), 6, "a3".to_string()));
}

#[test]
fn blocking_multi_reader_iterates_and_resumes() {
    let prefix = unique("multi-blocking");
    let [a, b] = ["a", "b"].map(|n| format!("{prefix}/{n}"));
    let on_tokio = |f: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + '_>>| {
        tokio::runtime::Runtime::new().unwrap().block_on(f)
    };
    on_tokio(Box::pin(async {
        let client = client();
        let specs = [&a, &b]
            .map(|n| spec(n, CompressionCodec::None, None))
            .to_vec();
        create(&client, specs).await;
        append(&client, &a, "a1\n").await;
        append(&client, &b, "b1\nb2\n").await;
    }));

    let client = gazette_blocking::Client::new(broker()).unwrap();
    let selector = LabelSelector::journal_prefix(format!("{prefix}/"));
    let options = gazette_blocking::CallOptions::new().timeout(WAIT);
    let mut reader = gazette_blocking::MultiReader::new(&client, selector.clone(), BTreeMap::new())
        .with_options(options.clone());
    let got: BTreeSet<_> = (&mut reader)
        .take(3)
        .map(|item| summary(&item.unwrap()))
        .collect();
    assert_eq!(
        got,
        BTreeSet::from([
            (a.clone(), 0, "a1".to_string()),
            (b.clone(), 0, "b1".to_string()),
            (b.clone(), 3, "b2".to_string()),
        ])
    );
    let offsets = reader.offsets().clone();
    assert_eq!(offsets, BTreeMap::from([(a.clone(), 3), (b.clone(), 6)]));
    drop(reader);

    on_tokio(Box::pin(async {
        append(&client_tokio(), &b, "b3\n").await
    }));
    let mut resumed =
        gazette_blocking::MultiReader::new(&client, selector, offsets).with_options(options);
    let item = resumed.next().unwrap().unwrap();
    assert_eq!(summary(&item), (b.clone(), 6, "b3".to_string()));
}

fn client_tokio() -> gazette_tokio::Client {
    client()
}
