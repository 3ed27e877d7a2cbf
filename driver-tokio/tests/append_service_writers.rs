//! Writers of one journal wait for each other's release, and only that
//! journal's release wakes them. No broker is needed: nothing here waits
//! for an append to commit.

use std::time::Duration;

use gazette_tokio::proto::AppendRequest;
use gazette_tokio::{AppendFutures, AppendService, Client};

/// Lets every runnable task run a few times.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_second_writer_waits_for_the_first_release_of_its_own_journal_only() {
    // Nothing listens there: released appends retry in the background
    // until the service is cancelled.
    let client = Client::builder("http://127.0.0.1:9").build().unwrap();
    let service = AppendService::new(&client);
    let none = AppendFutures::new();

    let mut first = service
        .start_append(AppendRequest::new("writers/j"), &none)
        .await
        .unwrap();
    first.write(b"one").unwrap();

    let waiting = tokio::spawn({
        let service = service.clone();
        async move {
            let none = AppendFutures::new();
            let mut second = service
                .start_append(AppendRequest::new("writers/j;some/meta"), &none)
                .await
                .unwrap();
            second.write(b"two").unwrap();
            // In a struct-like wrapper: the task yields the future, not
            // its outcome.
            Some(second.release().unwrap())
        }
    });
    settle().await;
    assert!(!waiting.is_finished(), "the journal has an open writer");

    // Another journal's writers come and go without waking it for good.
    for _ in 0..3 {
        let mut other = service
            .start_append(AppendRequest::new("writers/k"), &none)
            .await
            .unwrap();
        other.write(b"k").unwrap();
        drop(other.release().unwrap());
        settle().await;
        assert!(!waiting.is_finished(), "still waiting for writers/j");
    }

    let first = first.release().unwrap();
    // Bounded: the release must let the second writer in.
    let second = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the release of writers/j lets the second writer in")
        .unwrap()
        .unwrap();
    assert!(!second.is_done(), "nothing can commit without a broker");

    service.cancel();
    let cancelled = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("cancel resolves pending appends");
    assert!(cancelled.is_err());
}
