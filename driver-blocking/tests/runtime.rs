//! Behaviour of the blocking driver that needs no cluster: refusal inside
//! an async runtime, cancellation from another thread, seeking rules.

use std::io::{Read, Seek, SeekFrom};
use std::sync::mpsc;
use std::time::Duration;

use gazette_blocking::proto::{AppendRequest, LabelSelector, ListRequest, ReadRequest};
use gazette_blocking::{Client, Error, RetryReader};

/// Nothing listens on port 1 of the loopback address.
const UNREACHABLE: &str = "http://127.0.0.1:1";

fn request(block: bool) -> ReadRequest {
    ReadRequest {
        journal: "a/journal".into(),
        block,
        ..Default::default()
    }
}

#[test]
fn calls_from_inside_an_async_runtime_fail_with_inside_async_runtime() {
    let client = Client::new(UNREACHABLE).expect("client builds outside a runtime");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert!(matches!(
            Client::new(UNREACHABLE),
            Err(Error::InsideAsyncRuntime)
        ));
        assert!(matches!(
            gazette_blocking::list_all_journals(&client, ListRequest::default()),
            Err(Error::InsideAsyncRuntime)
        ));
        assert!(matches!(
            gazette_blocking::WatchedList::new(&client, LabelSelector::default()),
            Err(Error::InsideAsyncRuntime)
        ));
        let mut reader = RetryReader::new(&client, request(true));
        let err = reader.read(&mut [0; 8]).unwrap_err();
        assert!(
            matches!(Error::from_io(&err), Some(Error::InsideAsyncRuntime)),
            "{err}"
        );
        let err = gazette_blocking::append(
            &client,
            AppendRequest {
                journal: "a/journal".into(),
                ..Default::default()
            },
            &[],
        )
        .unwrap_err();
        assert!(matches!(err, Error::InsideAsyncRuntime), "{err}");
    });
    // spawn_blocking threads carry the runtime's context too: refused.
    let inner = client.clone();
    let err = rt
        .block_on(async move {
            tokio::task::spawn_blocking(move || {
                gazette_blocking::list_all_journals(&inner, ListRequest::default())
            })
            .await
        })
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::InsideAsyncRuntime), "{err:?}");
    // A plain thread started from async code has no runtime context: the
    // call runs (and the unreachable broker is a transport failure).
    let err = rt
        .block_on(async move {
            std::thread::spawn(move || {
                gazette_blocking::list_all_journals(&client, ListRequest::default())
            })
            .join()
        })
        .unwrap()
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
}

#[test]
fn a_retry_reader_blocked_on_an_unreachable_broker_is_cancelled_from_another_thread() {
    let client = Client::new(UNREACHABLE).unwrap();
    let mut reader = RetryReader::new(&client, request(true));
    let cancel = reader.cancel_handle();
    let (started_tx, started) = mpsc::channel();
    let (done_tx, done) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        started_tx.send(()).unwrap();
        // Retries the unreachable broker with backoff until cancelled.
        let result = reader.read(&mut [0; 16]);
        done_tx.send(()).unwrap();
        (reader, result)
    });
    started.recv().unwrap();
    assert!(
        done.recv_timeout(Duration::from_millis(300)).is_err(),
        "the read returned before cancellation"
    );
    cancel.cancel();
    done.recv_timeout(Duration::from_secs(10))
        .expect("cancellation unblocks the read promptly");
    let (mut reader, result) = thread.join().unwrap();
    let err = result.unwrap_err();
    assert!(
        matches!(Error::from_io(&err), Some(Error::Cancelled)),
        "{err}"
    );
    // Cancellation is permanent, as with a cancelled context in Go.
    assert!(matches!(reader.next_event(), Err(Error::Cancelled)));
}

#[test]
fn a_non_blocking_reader_of_an_unreachable_broker_surfaces_unavailable() {
    let client = Client::new(UNREACHABLE).unwrap();
    let mut reader = gazette_blocking::Reader::new(&client, request(false));
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    let driver = Error::driver_from_io(&err).expect("a driver error");
    assert!(
        matches!(
            driver,
            gazette_tokio::Error::Read(gazette_blocking::core::read::ReadError::Transport(
                gazette_blocking::core::read::TransportError::Unavailable(_)
            ))
        ),
        "{driver:?}"
    );
}

#[test]
fn retry_reader_seeks_from_start_and_current_but_not_from_the_end() {
    let client = Client::new(UNREACHABLE).unwrap();
    let mut reader = RetryReader::new(&client, request(false));
    assert_eq!(reader.seek(SeekFrom::Start(100)).unwrap(), 100);
    assert_eq!(reader.offset(), 100);
    assert_eq!(reader.seek(SeekFrom::Current(-40)).unwrap(), 60);
    assert_eq!(
        reader.seek(SeekFrom::End(0)).unwrap_err().kind(),
        std::io::ErrorKind::Unsupported
    );
    assert_eq!(
        reader.seek(SeekFrom::Current(-61)).unwrap_err().kind(),
        std::io::ErrorKind::InvalidInput
    );
    assert_eq!(reader.offset(), 60, "failed seeks leave the offset alone");
}

#[test]
fn invalid_endpoints_are_refused_with_the_drivers_typed_error() {
    let err = Client::new("ftp://host:1").unwrap_err();
    assert!(
        matches!(
            err.driver(),
            Some(gazette_tokio::Error::InvalidEndpoint { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn a_reader_seeks_before_its_rpc_starts_but_never_from_the_end() {
    let client = Client::new(UNREACHABLE).unwrap();
    let mut reader = gazette_blocking::Reader::new(&client, request(false));
    assert_eq!(reader.seek(SeekFrom::Start(64)).unwrap(), 64);
    assert_eq!(reader.offset(), 64);
    assert_eq!(
        reader.seek(SeekFrom::End(0)).unwrap_err().kind(),
        std::io::ErrorKind::Unsupported
    );
}
