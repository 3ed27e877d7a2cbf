//! gazette-blocking AppendService against a live cluster: released appends
//! outlive the service handle, `close` flushes, `cancel` fails what is
//! pending. Blocking calls run on the test thread; journals are created and
//! read back with the tokio driver on a short-lived runtime.

mod tokio_support;

use std::io::Write;
use std::time::Duration;

use gazette_blocking::{AppendFuture, AppendFutures, AppendService};
use gazette_core::append::{AppendError, AsyncOperation, TransportError};
use gazette_proto::{AppendRequest, CompressionCodec, ReadRequest};
use tokio::io::AsyncReadExt;
use tokio_support::*;

fn request(journal: &str) -> AppendRequest {
    AppendRequest {
        journal: journal.into(),
        ..Default::default()
    }
}

/// Runs `fut` on a runtime of its own, outside the blocking driver's.
fn on_tokio<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Runtime::new().unwrap().block_on(fut)
}

fn create_journals(names: &[String]) {
    on_tokio(async {
        let specs = names
            .iter()
            .map(|n| spec(n, CompressionCodec::None, None))
            .collect();
        create(&client(), specs).await;
    });
}

fn read_all(journal: &str, end: usize) -> Vec<u8> {
    on_tokio(async {
        let client = client();
        let mut reader = gazette_tokio::RetryReader::new(
            &client,
            ReadRequest {
                journal: journal.into(),
                end_offset: end as i64,
                ..Default::default()
            },
        );
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut got))
            .await
            .expect("read in time")
            .unwrap();
        got
    })
}

fn blocking_client() -> gazette_blocking::Client {
    gazette_blocking::Client::new(broker()).unwrap()
}

/// Waits (bounded) for `future`, panicking if it is still pending.
fn outcome(future: &AppendFuture) -> gazette_blocking::Result<()> {
    match future.err_timeout(Duration::from_secs(30)) {
        Ok(Some(())) => Ok(()),
        Ok(None) => panic!("append still pending after 30 s"),
        Err(err) => Err(err),
    }
}

fn is_cancelled(err: &gazette_blocking::Error) -> bool {
    matches!(
        err.driver(),
        Some(gazette_tokio::Error::Append(AppendError::Transport(
            TransportError::Cancelled
        )))
    )
}

#[test]
fn released_appends_resolve_after_the_blocking_service_is_dropped() {
    let journal = unique("blocking-dropped-service");
    create_journals(std::slice::from_ref(&journal));
    const N: usize = 200;
    let futures: Vec<AppendFuture> = {
        let service = AppendService::new(&blocking_client());
        (0..N)
            .map(|i| {
                service
                    .append(request(&journal), format!("{i:05}\n").as_bytes())
                    .unwrap()
            })
            .collect()
        // The only handle is dropped here, with appends pending.
    };
    for future in &futures {
        outcome(future).unwrap();
    }
    let expect: String = (0..N).map(|i| format!("{i:05}\n")).collect();
    assert_eq!(read_all(&journal, expect.len()), expect.as_bytes());
}

#[test]
fn blocking_close_flushes_then_refuses_new_appends() {
    let journal = unique("blocking-close");
    create_journals(std::slice::from_ref(&journal));
    let service = AppendService::new(&blocking_client());
    let futures: Vec<AppendFuture> = (0..20)
        .map(|i| {
            service
                .append(request(&journal), format!("{i:03}\n").as_bytes())
                .unwrap()
        })
        .collect();
    assert!(
        service.close_timeout(Duration::from_secs(30)).unwrap(),
        "close returns once everything is flushed"
    );
    assert!(futures.iter().all(AppendFuture::is_done));
    for future in &futures {
        future.err().unwrap();
    }
    let err = service.append(request(&journal), b"too late").unwrap_err();
    assert!(
        matches!(
            err.driver(),
            Some(gazette_tokio::Error::Append(AppendError::ServiceClosed))
        ),
        "{err}"
    );
    // Closing again returns at once.
    service.close().unwrap();
    let expect: String = (0..20).map(|i| format!("{i:03}\n")).collect();
    assert_eq!(read_all(&journal, expect.len()), expect.as_bytes());
}

#[test]
fn blocking_cancel_fails_pending_appends_and_blocked_writers() {
    let prefix = unique("blocking-cancel");
    let (a, b) = (format!("{prefix}/a"), format!("{prefix}/b"));
    create_journals(&[a.clone(), b.clone()]);
    let service = AppendService::new(&blocking_client());
    let never = AsyncOperation::new();
    let deps: AppendFutures = [never.future()].into_iter().collect();
    let mut held = service.start_append(request(&a), &deps).unwrap();
    held.write_all(b"held back").unwrap();
    let held = held.release().unwrap();
    let open = service
        .start_append(request(&b), &AppendFutures::new())
        .unwrap();
    // A bounded wait behind the open writer gives up.
    assert!(
        service
            .start_append_timeout(
                request(&b),
                &AppendFutures::new(),
                Duration::from_millis(50)
            )
            .unwrap()
            .is_none()
    );
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let blocked = std::thread::spawn({
        let service = service.clone();
        let b = b.clone();
        move || {
            started_tx.send(()).unwrap();
            service
                .start_append(request(&b), &AppendFutures::new())
                .map(drop)
        }
    });
    started_rx.recv().unwrap();
    assert!(!held.is_done());
    service.cancel();
    let err = outcome(&held).unwrap_err();
    assert!(is_cancelled(&err), "{err}");
    let err = blocked.join().unwrap().unwrap_err();
    assert!(is_cancelled(&err), "{err}");
    drop(open);
    assert!(service.close_timeout(Duration::from_secs(30)).unwrap());
}
