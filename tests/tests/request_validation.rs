//! Invalid requests fail at once, client-side, with a typed validation
//! error, in both drivers (issue 10, item 5). The client points at a
//! loopback listener that never accepts: any RPC attempt would either hang
//! (caught by the bound on every call) or leave a connection in the
//! listener's backlog (checked at the end of every test).

use std::future::Future;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::Duration;

use futures::StreamExt;
use gazette_core::append::{AppendError, RequestError};
use gazette_core::list::ListError;
use gazette_core::read::ReadError;
use gazette_proto::{
    AppendRequest, ApplyRequest, FragmentsRequest, Label, LabelSelector, LabelSet, ListRequest,
    ReadRequest, apply_request::Change,
};

/// Names a RetryReader used to retry forever.
const INVALID_NAMES: [&str; 6] = ["", "has space", "/leading", "trailing/", "a//b", "dot/./x"];

/// Every call must fail well within this.
const AT_ONCE: Duration = Duration::from_secs(5);

/// A listener that never accepts, and the endpoint of it.
fn silent_broker() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    (listener, endpoint)
}

fn assert_never_dialled(listener: &TcpListener) {
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(err) if err.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the client dialled the broker: {other:?}"),
    }
}

async fn at_once<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(AT_ONCE, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: still running after {AT_ONCE:?}"))
}

fn read(journal: &str) -> ReadRequest {
    ReadRequest {
        journal: journal.into(),
        ..Default::default()
    }
}

fn append(journal: &str) -> AppendRequest {
    AppendRequest {
        journal: journal.into(),
        ..Default::default()
    }
}

fn bad_selector() -> LabelSelector {
    LabelSelector {
        include: Some(LabelSet {
            labels: vec![Label {
                name: "bad name".into(),
                value: String::new(),
                prefix: false,
            }],
        }),
        exclude: None,
    }
}

fn bad_list() -> ListRequest {
    ListRequest {
        selector: Some(bad_selector()),
        ..Default::default()
    }
}

fn delete(journal: &str) -> ApplyRequest {
    ApplyRequest {
        changes: vec![Change {
            delete: journal.into(),
            expect_mod_revision: -1,
            upsert: None,
        }],
    }
}

fn fragments(journal: &str) -> FragmentsRequest {
    FragmentsRequest {
        journal: journal.into(),
        ..Default::default()
    }
}

fn is_invalid_read(err: &gazette_tokio::Error) -> bool {
    matches!(
        err,
        gazette_tokio::Error::Read(ReadError::InvalidRequest(_))
    )
}

fn is_invalid_append(name: &str, err: &gazette_tokio::Error) -> bool {
    match err {
        gazette_tokio::Error::Append(AppendError::InvalidRequest(inner)) => {
            if name.is_empty() {
                *inner == RequestError::MissingJournal
            } else {
                matches!(inner, RequestError::Invalid(e) if e.field() == "Request.Journal")
            }
        }
        _ => false,
    }
}

fn is_invalid_list(err: &gazette_tokio::Error) -> bool {
    matches!(
        err,
        gazette_tokio::Error::List(ListError::InvalidRequest(_))
    )
}

fn is_invalid(err: &gazette_tokio::Error) -> bool {
    matches!(err, gazette_tokio::Error::InvalidRequest(_))
}

#[tokio::test]
async fn tokio_readers_of_invalid_requests_fail_at_once_without_an_rpc() {
    let (listener, endpoint) = silent_broker();
    let client = gazette_tokio::Client::new(endpoint).unwrap();
    let mut requests: Vec<ReadRequest> = INVALID_NAMES.iter().map(|n| read(n)).collect();
    requests.push(ReadRequest {
        offset: -2,
        ..read("a/journal")
    });
    for request in requests {
        let what = format!("{request:?}");
        let mut reader = gazette_tokio::RetryReader::new(&client, request.clone());
        let err = at_once(&what, reader.next_event()).await.unwrap_err();
        assert!(is_invalid_read(&err), "{what}: {err:?}");
        let mut reader = gazette_tokio::Reader::new(&client, request);
        let err = at_once(&what, reader.next_event()).await.unwrap_err();
        assert!(is_invalid_read(&err), "{what}: {err:?}");
    }
    assert_never_dialled(&listener);
}

#[tokio::test]
async fn tokio_appends_of_invalid_requests_fail_at_once_without_an_rpc() {
    let (listener, endpoint) = silent_broker();
    let client = gazette_tokio::Client::new(endpoint).unwrap();
    let service = gazette_tokio::AppendService::new(&client);
    for name in INVALID_NAMES {
        let content = [bytes::Bytes::from_static(b"x")];
        let err = at_once(name, gazette_tokio::append(&client, append(name), &content))
            .await
            .unwrap_err();
        assert!(is_invalid_append(name, &err), "{name:?}: {err:?}");
        let err = gazette_tokio::Appender::new(&client, append(name)).unwrap_err();
        assert!(is_invalid_append(name, &err), "{name:?}: {err:?}");
        let started = at_once(
            name,
            service.start_append(append(name), &gazette_tokio::AppendFutures::new()),
        )
        .await;
        let Err(err) = started else {
            panic!("{name:?}: an invalid request was accepted")
        };
        assert!(is_invalid_append(name, &err), "{name:?}: {err:?}");
    }
    assert_never_dialled(&listener);
}

#[tokio::test]
async fn tokio_discovery_of_invalid_requests_fails_at_once_without_an_rpc() {
    let (listener, endpoint) = silent_broker();
    let client = gazette_tokio::Client::new(endpoint).unwrap();
    let err = at_once(
        "list",
        gazette_tokio::list_all_journals(&client, bad_list()),
    )
    .await
    .unwrap_err();
    assert!(is_invalid_list(&err), "{err:?}");

    let mut watch = gazette_tokio::WatchedList::new(client.clone(), bad_selector());
    match at_once("watch", watch.next()).await {
        Some(Err(ListError::InvalidRequest(_))) => {}
        other => panic!("watch: {other:?}"),
    }
    assert!(at_once("watch end", watch.next()).await.is_none());

    for name in INVALID_NAMES {
        let err = at_once(name, gazette_tokio::get_journal(&client, name))
            .await
            .unwrap_err();
        assert!(is_invalid_list(&err), "get {name:?}: {err:?}");
        let err = at_once(name, gazette_tokio::apply(&client, delete(name)))
            .await
            .unwrap_err();
        assert!(is_invalid(&err), "apply {name:?}: {err:?}");
        let err = at_once(
            name,
            gazette_tokio::list_all_fragments(&client, fragments(name)),
        )
        .await
        .unwrap_err();
        assert!(is_invalid(&err), "fragments {name:?}: {err:?}");
    }
    assert_never_dialled(&listener);
}

/// Runs `f` on a plain thread, failing if it does not return at once.
fn blocking_at_once<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(AT_ONCE)
        .unwrap_or_else(|_| panic!("{what}: still running after {AT_ONCE:?}"))
}

fn driver(err: gazette_blocking::Error) -> gazette_tokio::Error {
    match err {
        gazette_blocking::Error::Driver(err) => err,
        other => panic!("not a driver error: {other:?}"),
    }
}

#[test]
fn blocking_calls_with_invalid_requests_fail_at_once_without_an_rpc() {
    use std::io::Read;

    let (listener, endpoint) = silent_broker();
    let client = gazette_blocking::Client::new(endpoint).unwrap();
    for name in INVALID_NAMES {
        let c = client.clone();
        let err = blocking_at_once(name, move || {
            let mut reader = gazette_blocking::RetryReader::new(&c, read(name));
            reader.read(&mut [0; 16]).unwrap_err()
        });
        let inner = gazette_blocking::Error::driver_from_io(&err).expect("a typed error");
        assert!(is_invalid_read(inner), "{name:?}: {err:?}");

        let c = client.clone();
        let err = blocking_at_once(name, move || {
            gazette_blocking::Reader::new(&c, read(name))
                .next_event()
                .unwrap_err()
        });
        assert!(is_invalid_read(&driver(err)), "{name:?}");

        let c = client.clone();
        let err = blocking_at_once(name, move || {
            gazette_blocking::append(&c, append(name), &[bytes::Bytes::from_static(b"x")])
                .unwrap_err()
        });
        assert!(is_invalid_append(name, &driver(err)), "{name:?}");
        let err = gazette_blocking::Appender::new(&client, append(name)).unwrap_err();
        assert!(is_invalid_append(name, &driver(err)), "{name:?}");
        let c = client.clone();
        let err = blocking_at_once(name, move || {
            let service = gazette_blocking::AppendService::new(&c);
            match service.start_append(append(name), &gazette_blocking::AppendFutures::new()) {
                Ok(_) => panic!("an invalid request was accepted"),
                Err(err) => err,
            }
        });
        assert!(is_invalid_append(name, &driver(err)), "{name:?}");

        let c = client.clone();
        let err = blocking_at_once(name, move || {
            gazette_blocking::get_journal(&c, name).unwrap_err()
        });
        assert!(is_invalid_list(&driver(err)), "{name:?}");
        let c = client.clone();
        let err = blocking_at_once(name, move || {
            gazette_blocking::apply(&c, delete(name)).unwrap_err()
        });
        assert!(is_invalid(&driver(err)), "{name:?}");
        let c = client.clone();
        let err = blocking_at_once(name, move || {
            gazette_blocking::list_all_fragments(&c, fragments(name)).unwrap_err()
        });
        assert!(is_invalid(&driver(err)), "{name:?}");
    }
    let c = client.clone();
    let err = blocking_at_once("list", move || {
        gazette_blocking::list_all_journals(&c, bad_list()).unwrap_err()
    });
    assert!(is_invalid_list(&driver(err)));
    let c = client.clone();
    let items = blocking_at_once("watch", move || {
        let watch = gazette_blocking::WatchedList::new(&c, bad_selector());
        watch.take(3).collect::<Vec<_>>()
    });
    assert_eq!(items.len(), 1, "one error, then the end: {items:?}");
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(is_invalid_list(&driver(err)));
    assert_never_dialled(&listener);
}
