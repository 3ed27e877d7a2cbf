//! Deadlines and cancellation of calls against a broker that accepts
//! connections and never answers (issue 10, item 11). No cluster needed.

use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gazette_core::list::ListError;
use gazette_proto::{
    AppendRequest, ApplyRequest, FragmentsRequest, LabelSelector, ListRequest,
    apply_request::Change,
};

const DEADLINE: Duration = Duration::from_millis(300);
/// Generous bound on "promptly" for a loaded test machine.
const PROMPTLY: Duration = Duration::from_secs(10);

/// A broker that accepts TCP connections, reads nothing and answers
/// nothing. Each accepted connection is announced on the receiver.
fn mute_broker() -> (String, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            held.push(conn);
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    (endpoint, rx)
}

fn delete() -> ApplyRequest {
    ApplyRequest {
        changes: vec![Change {
            delete: "a/journal".into(),
            expect_mod_revision: -1,
            upsert: None,
        }],
    }
}

fn fragments() -> FragmentsRequest {
    FragmentsRequest {
        journal: "a/journal".into(),
        ..Default::default()
    }
}

fn is_deadline(err: &gazette_tokio::Error) -> bool {
    matches!(err, gazette_tokio::Error::List(ListError::DeadlineExceeded))
}

async fn timed<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    let start = Instant::now();
    let out = tokio::time::timeout(PROMPTLY, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no deadline, still waiting after {PROMPTLY:?}"));
    assert!(
        start.elapsed() >= DEADLINE,
        "{what}: failed before its deadline"
    );
    out
}

#[tokio::test]
async fn tokio_unary_calls_to_a_mute_broker_fail_with_a_typed_deadline() {
    let (endpoint, _accepted) = mute_broker();
    let client = gazette_tokio::Client::builder(endpoint)
        .request_timeout(DEADLINE)
        .build()
        .unwrap();
    let err = timed(
        "list",
        gazette_tokio::list_all_journals(&client, ListRequest::default()),
    )
    .await
    .unwrap_err();
    assert!(is_deadline(&err), "list: {err:?}");
    let err = timed("get", gazette_tokio::get_journal(&client, "a/journal"))
        .await
        .unwrap_err();
    assert!(is_deadline(&err), "get: {err:?}");
    let err = timed("apply", gazette_tokio::apply(&client, delete()))
        .await
        .unwrap_err();
    assert!(is_deadline(&err), "apply: {err:?}");
    let err = timed(
        "fragments",
        gazette_tokio::list_all_fragments(&client, fragments()),
    )
    .await
    .unwrap_err();
    assert!(is_deadline(&err), "fragments: {err:?}");
    let err = timed(
        "health",
        gazette_tokio::fragment_store_health(&client, "file:///fragments/", None),
    )
    .await
    .unwrap_err();
    assert!(is_deadline(&err), "health: {err:?}");
}

/// Runs `f` on a plain thread and returns its result and how long it took,
/// failing if it does not return within [`PROMPTLY`].
fn on_thread<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> (mpsc::Receiver<(T, Duration)>, String) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        let out = f();
        let _ = tx.send((out, start.elapsed()));
    });
    (rx, what.to_string())
}

fn join<T>((rx, what): (mpsc::Receiver<(T, Duration)>, String)) -> (T, Duration) {
    rx.recv_timeout(PROMPTLY)
        .unwrap_or_else(|_| panic!("{what}: still blocked after {PROMPTLY:?}"))
}

fn driver(err: gazette_blocking::Error) -> gazette_tokio::Error {
    match err {
        gazette_blocking::Error::Driver(err) => err,
        other => panic!("not a driver error: {other:?}"),
    }
}

#[test]
fn blocking_unary_calls_to_a_mute_broker_fail_with_a_typed_deadline() {
    let (endpoint, _accepted) = mute_broker();
    let client = gazette_blocking::Client::builder(endpoint)
        .request_timeout(DEADLINE)
        .build()
        .unwrap();
    let c = client.clone();
    let (list, elapsed) = join(on_thread("list", move || {
        gazette_blocking::list_all_journals(&c, ListRequest::default())
    }));
    assert!(is_deadline(&driver(list.unwrap_err())) && elapsed >= DEADLINE);
    let c = client.clone();
    let (get, _) = join(on_thread("get", move || {
        gazette_blocking::get_journal(&c, "a/journal")
    }));
    assert!(is_deadline(&driver(get.unwrap_err())));
    let c = client.clone();
    let (apply, _) = join(on_thread("apply", move || {
        gazette_blocking::apply(&c, delete())
    }));
    assert!(is_deadline(&driver(apply.unwrap_err())));
    let c = client.clone();
    let (frags, _) = join(on_thread("fragments", move || {
        gazette_blocking::list_all_fragments(&c, fragments())
    }));
    assert!(is_deadline(&driver(frags.unwrap_err())));
}
fn is_cancelled(err: &gazette_blocking::Error) -> bool {
    matches!(err, gazette_blocking::Error::Cancelled)
}

/// Starts `f(cancel)` on a thread, waits until it dialled the mute broker,
/// cancels, and checks that it returns `Cancelled` promptly.
fn cancel_while_blocked<T: Send + std::fmt::Debug + 'static>(
    what: &str,
    accepted: &mpsc::Receiver<()>,
    f: impl FnOnce(&gazette_blocking::CallOptions) -> gazette_blocking::Result<T> + Send + 'static,
) {
    let cancel = gazette_blocking::CancelHandle::new();
    let options = gazette_blocking::CallOptions::new().cancel(&cancel);
    let call = on_thread(what, move || f(&options));
    accepted
        .recv_timeout(PROMPTLY)
        .unwrap_or_else(|_| panic!("{what}: never dialled the broker"));
    cancel.cancel();
    let (out, _) = join(call);
    let err = out.expect_err("a cancelled call fails");
    assert!(is_cancelled(&err), "{what}: {err:?}");
}

#[test]
fn blocking_calls_blocked_on_a_mute_broker_can_be_cancelled() {
    let (endpoint, accepted) = mute_broker();
    // No request timeout: only the handle ends the calls.
    let client = gazette_blocking::Client::new(endpoint).unwrap();
    let c = client.clone();
    cancel_while_blocked("list", &accepted, move |options| {
        gazette_blocking::discovery::list_all_journals_with(&c, ListRequest::default(), options)
    });
    // The connection is now established: later calls reuse it, so they are
    // cancelled before the first one can be seen; a pre-cancelled handle
    // fails at once.
    let cancel = gazette_blocking::CancelHandle::new();
    cancel.cancel();
    let cancel = gazette_blocking::CallOptions::new().cancel(&cancel);
    let calls: Vec<(&str, gazette_blocking::Result<()>)> = vec![
        (
            "get",
            gazette_blocking::discovery::get_journal_with(&client, "a/journal", &cancel).map(drop),
        ),
        (
            "apply",
            gazette_blocking::discovery::apply_with(&client, delete(), &cancel).map(drop),
        ),
        (
            "fragments",
            gazette_blocking::discovery::list_all_fragments_with(&client, fragments(), &cancel)
                .map(drop),
        ),
        (
            "append",
            gazette_blocking::append::append_with(
                &client,
                AppendRequest {
                    journal: "a/journal".into(),
                    ..Default::default()
                },
                &[bytes::Bytes::from_static(b"x")],
                &cancel,
            )
            .map(drop),
        ),
    ];
    for (what, out) in calls {
        let err = out.expect_err(what);
        assert!(is_cancelled(&err), "{what}: {err:?}");
    }
}

#[test]
fn blocking_one_shot_append_blocked_on_a_mute_broker_can_be_cancelled() {
    let (endpoint, accepted) = mute_broker();
    let client = gazette_blocking::Client::new(endpoint).unwrap();
    cancel_while_blocked("append", &accepted, move |options| {
        gazette_blocking::append::append_with(
            &client,
            AppendRequest {
                journal: "a/journal".into(),
                ..Default::default()
            },
            &[bytes::Bytes::from_static(b"x")],
            options,
        )
    });
}

#[test]
fn blocking_watch_blocked_on_a_mute_broker_ends_when_cancelled() {
    let (endpoint, accepted) = mute_broker();
    let client = gazette_blocking::Client::new(endpoint).unwrap();
    let mut watch = gazette_blocking::WatchedList::new(&client, LabelSelector::default());
    let cancel = watch.cancel_handle();
    let call = on_thread("watch", move || watch.next_snapshot().map(|r| r.map(drop)));
    accepted
        .recv_timeout(PROMPTLY)
        .expect("the watch dialled the broker");
    cancel.cancel();
    let (item, _) = join(call);
    assert!(item.is_none(), "a cancelled watch ends: {item:?}");
}
