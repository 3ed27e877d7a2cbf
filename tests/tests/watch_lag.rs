//! A WatchedList consumer that lags is never left on a stale snapshot: its
//! next item is the newest (issue 10, item 7), in both drivers.

mod tokio_support;

use std::time::Duration;

use futures::StreamExt;
use gazette_proto::{
    ApplyRequest, CompressionCodec, Label, LabelSelector, LabelSet, ListResponse, apply_request,
};
use tokio_support::*;

const WAIT: Duration = Duration::from_secs(30);

fn prefix_selector(prefix: &str) -> LabelSelector {
    LabelSelector {
        include: Some(LabelSet {
            labels: vec![Label {
                name: "name".into(),
                value: prefix.into(),
                prefix: true,
            }],
        }),
        exclude: None,
    }
}

fn has(snapshot: &ListResponse, name: &str) -> bool {
    snapshot
        .journals
        .iter()
        .any(|j| j.spec.as_ref().is_some_and(|s| s.name == name))
}

fn upsert(name: &str) -> ApplyRequest {
    ApplyRequest {
        changes: vec![apply_request::Change {
            expect_mod_revision: 0,
            upsert: Some(spec(name, CompressionCodec::None, None)),
            delete: String::new(),
        }],
    }
}

#[tokio::test]
async fn tokio_lagging_watch_consumer_gets_the_newest_snapshot() {
    let client = client();
    let prefix = format!("{}/", unique("watch-lag"));
    let (one, two) = (format!("{prefix}one"), format!("{prefix}two"));
    let mut watch = gazette_tokio::WatchedList::new(client.clone(), prefix_selector(&prefix));
    let first = tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("a first snapshot")
        .unwrap()
        .unwrap();
    assert!(first.journals.is_empty());

    // Two snapshots arrive while the consumer does not read: the watch
    // publishes each (`latest`), then the consumer reads once.
    gazette_tokio::apply(&client, upsert(&one)).await.unwrap();
    tokio::time::timeout(WAIT, watch.wait_for(|s| has(s, &one)))
        .await
        .expect("the watch sees the first journal");
    gazette_tokio::apply(&client, upsert(&two)).await.unwrap();
    tokio::time::timeout(WAIT, watch.wait_for(|s| has(s, &two)))
        .await
        .expect("the watch sees the second journal");

    let next = tokio::time::timeout(WAIT, watch.next())
        .await
        .expect("an item")
        .unwrap()
        .unwrap();
    assert!(
        has(&next, &one) && has(&next, &two),
        "the lagging consumer got a stale snapshot: {:?}",
        next.journals
    );
}

#[test]
fn blocking_lagging_watch_consumer_gets_the_newest_snapshot() {
    let cluster = cluster();
    let client = gazette_blocking::Client::new(cluster.brokers[0].endpoint.clone()).unwrap();
    let prefix = format!("{}/", unique("watch-lag-blocking"));
    let (one, two) = (format!("{prefix}one"), format!("{prefix}two"));
    let mut watch = gazette_blocking::WatchedList::new(&client, prefix_selector(&prefix));
    let first = watch.next_timeout(WAIT).expect("a first snapshot").unwrap();
    assert!(first.journals.is_empty());

    gazette_blocking::apply(&client, upsert(&one)).unwrap();
    watch
        .wait_for_timeout(|s| has(s, &one), WAIT)
        .unwrap()
        .expect("the watch sees the first journal");
    gazette_blocking::apply(&client, upsert(&two)).unwrap();
    watch
        .wait_for_timeout(|s| has(s, &two), WAIT)
        .unwrap()
        .expect("the watch sees the second journal");

    let next = watch.next_timeout(WAIT).expect("an item").unwrap();
    assert!(
        has(&next, &one) && has(&next, &two),
        "the lagging consumer got a stale snapshot: {:?}",
        next.journals
    );
}
