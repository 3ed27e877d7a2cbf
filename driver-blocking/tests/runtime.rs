//! Behaviour of the blocking driver that needs no cluster: the runtime
//! thread of each client, calls from any thread (spawn_blocking, inside a
//! runtime's context), timeouts and cancellation of every kind of call,
//! seeking rules.

use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gazette_blocking::proto::{AppendRequest, LabelSelector, ListRequest, ReadRequest};
use gazette_blocking::{CallOptions, CancelHandle, Client, Error, ErrorKind, RetryReader};

/// Nothing listens on port 1 of the loopback address.
const UNREACHABLE: &str = "http://127.0.0.1:1";
/// The timeout of calls that are meant to time out.
const TIMEOUT: Duration = Duration::from_millis(200);
/// Generous bound on "promptly" for a loaded test machine.
const PROMPTLY: Duration = Duration::from_secs(10);

fn request(block: bool) -> ReadRequest {
    ReadRequest {
        journal: "a/journal".into(),
        block,
        ..Default::default()
    }
}

/// The names (`comm`) of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

fn threads_named(name: &str) -> usize {
    thread_names().iter().filter(|n| *n == name).count()
}

/// A broker that accepts TCP connections, reads nothing and answers
/// nothing, for as long as the test runs (the listener stays open). Each
/// accepted connection is announced on the receiver.
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
                // The test is over; keep what was accepted open until the
                // process exits.
                std::mem::forget(held);
                return;
            }
        }
    });
    (endpoint, rx)
}

fn append_request() -> AppendRequest {
    AppendRequest {
        journal: "a/journal".into(),
        ..Default::default()
    }
}

#[test]
fn the_runtime_thread_lives_while_anything_of_the_client_does_and_is_joined_after() {
    const NAME: &str = "gz-test-life";
    assert_eq!(threads_named(NAME), 0);
    let client = Client::builder(UNREACHABLE)
        .thread_name(NAME)
        .build()
        .unwrap();
    assert_eq!(client.runtime_thread().name(), Some(NAME));
    assert_eq!(threads_named(NAME), 1, "{:?}", thread_names());
    let joined = client.runtime_joined();

    // Clones and objects made from the client share its one thread.
    let clone = client.clone();
    let reader = RetryReader::new(&client, request(true));
    let service = gazette_blocking::AppendService::new(&client);
    let watch = gazette_blocking::WatchedList::new(&client, LabelSelector::default());
    let appender = gazette_blocking::Appender::new(&client, append_request()).unwrap();
    let mut one_shot = gazette_blocking::Reader::new(&client, request(false));
    assert_eq!(threads_named(NAME), 1);

    drop(client);
    drop(clone);
    // The reader (and the rest) keep the runtime alive, and working.
    assert_eq!(threads_named(NAME), 1);
    assert!(!joined.is_joined());
    let err = one_shot.read(&mut [0; 8]).unwrap_err();
    assert!(Error::driver_from_io(&err).is_some(), "{err:?}");
    drop(one_shot);
    drop(service);
    drop(watch);
    drop(appender);
    assert!(!joined.is_joined());
    assert_eq!(threads_named(NAME), 1);
    drop(reader);
    // Dropping the last of them joined the thread before returning.
    assert!(joined.is_joined());
}

#[test]
fn a_client_that_fails_to_build_fails_with_the_drivers_typed_error() {
    let err = Client::builder("ftp://host:1").build().unwrap_err();
    assert!(
        matches!(
            err.driver(),
            Some(gazette_tokio::Error::InvalidEndpoint { .. })
        ),
        "{err:?}"
    );
}

/// The call of every kind that reaches the broker quickest: a listing of
/// an unreachable broker fails as a transport failure.
fn assert_calls_run(client: &Client) {
    let err = gazette_blocking::list_all_journals(client, ListRequest::default()).unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    let mut reader = gazette_blocking::Reader::new(client, request(false));
    let err = reader.read(&mut [0; 8]).unwrap_err();
    assert!(Error::driver_from_io(&err).is_some(), "{err:?}");
}

#[test]
fn calls_work_from_a_spawn_blocking_thread() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(UNREACHABLE).unwrap();
    rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            assert!(tokio::runtime::Handle::try_current().is_ok());
            assert_calls_run(&client);
            // Objects made and dropped here too.
            let client = Client::new(UNREACHABLE).unwrap();
            assert_calls_run(&client);
        })
        .await
        .unwrap();
    });
}

#[test]
fn calls_work_inside_a_runtime_context() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    {
        let _context = rt.enter();
        let client = Client::new(UNREACHABLE).unwrap();
        assert_calls_run(&client);
        let service = gazette_blocking::AppendService::new(&client);
        let watch = gazette_blocking::WatchedList::new(&client, LabelSelector::default());
        let joined = client.runtime_joined();
        drop((client, service, watch));
        assert!(joined.is_joined(), "dropped and joined inside the context");
    }
    // Even from a task (it blocks this runtime's only thread meanwhile).
    rt.block_on(async {
        let client = Client::new(UNREACHABLE).unwrap();
        assert_calls_run(&client);
    });
}

/// Runs `f` on a thread; the receiver gets its output and how long it took.
fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> mpsc::Receiver<(T, Duration)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let out = f();
        let _ = tx.send((out, started.elapsed()));
    });
    rx
}

fn assert_timed_out(what: &str, err: &Error, timeout: Duration) {
    assert!(
        matches!(err, Error::TimedOut { after } if *after == timeout),
        "{what}: {err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{what}");
}

fn io_timed_out(what: &str, err: &std::io::Error, timeout: Duration) {
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{what}: {err:?}");
    assert_timed_out(what, Error::from_io(err).expect("our error"), timeout);
}

#[test]
fn per_call_timeouts_fire_against_a_broker_that_never_answers() {
    let (endpoint, _accepted) = mute_broker();
    // A client default far longer than the test: the call's own wins.
    let client = Client::builder(endpoint)
        .call_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let options = CallOptions::new().timeout(TIMEOUT);
    let c = client.clone();
    let o = options.clone();
    let (out, elapsed) =
        on_thread(move || gazette_blocking::list_all_journals_with(&c, ListRequest::default(), &o))
            .recv_timeout(PROMPTLY)
            .expect("the timeout ends the call");
    assert_timed_out("list", &out.unwrap_err(), TIMEOUT);
    assert!(elapsed >= TIMEOUT, "{elapsed:?}");

    let err = gazette_blocking::get_journal_with(&client, "a/journal", &options).unwrap_err();
    assert_timed_out("get", &err, TIMEOUT);
    let err = gazette_blocking::append_with(
        &client,
        append_request(),
        &[bytes::Bytes::from_static(b"x")],
        &options,
    )
    .unwrap_err();
    assert_timed_out("append", &err, TIMEOUT);

    // Readers: each read is bounded, and the reader stays usable.
    let mut reader = RetryReader::new(&client, request(true)).with_options(options.clone());
    assert_eq!(reader.timeout(), Some(TIMEOUT));
    for _ in 0..2 {
        let err = reader.read(&mut [0; 8]).unwrap_err();
        io_timed_out("read", &err, TIMEOUT);
    }
    assert_timed_out("next_event", &reader.next_event().unwrap_err(), TIMEOUT);
    assert_eq!(reader.offset(), 0);
    let mut reader = gazette_blocking::Reader::new(&client, request(true));
    reader.set_timeout(Some(TIMEOUT));
    let err = std::io::BufRead::fill_buf(&mut reader).unwrap_err();
    io_timed_out("fill_buf", &err, TIMEOUT);

    // Appenders: each call is bounded.
    let mut appender = gazette_blocking::Appender::new(&client, append_request())
        .unwrap()
        .with_options(options.clone());
    appender.write_all(b"x").expect("queued");
    // Handing content to the stream may or may not wait for the broker.
    if let Err(err) = appender.flush() {
        io_timed_out("appender flush", &err, TIMEOUT);
    }
    let err = appender.commit().unwrap_err();
    assert_timed_out("commit", &err, TIMEOUT);

    // AppendService: the wait for a commit.
    let service = gazette_blocking::AppendService::new(&client);
    let future = service.append(append_request(), b"x").unwrap();
    assert_timed_out("err_with", &future.err_with(&options).unwrap_err(), TIMEOUT);
    assert_eq!(future.err_timeout(TIMEOUT).unwrap(), None);
    assert!(
        !future.is_done(),
        "a timed-out wait leaves the append pending"
    );
    service.cancel();
    assert!(service.close_timeout(PROMPTLY).unwrap());

    // Watches: the wait for a snapshot.
    let mut watch = gazette_blocking::WatchedList::new(&client, LabelSelector::default())
        .with_options(options.clone());
    let err = watch.wait_for(|_| true).unwrap_err();
    assert_timed_out("wait_for", &err, TIMEOUT);
    assert!(watch.wait_for_timeout(|_| true, TIMEOUT).unwrap().is_none());
    assert!(watch.next_timeout(TIMEOUT).is_none());
}

#[test]
fn the_clients_call_timeout_bounds_every_call_by_default() {
    let (endpoint, _accepted) = mute_broker();
    let client = Client::builder(endpoint)
        .call_timeout(TIMEOUT)
        .build()
        .unwrap();
    assert_eq!(client.call_timeout(), Some(TIMEOUT));
    let err = gazette_blocking::list_all_journals(&client, ListRequest::default()).unwrap_err();
    assert_timed_out("list", &err, TIMEOUT);
    let fragments = gazette_blocking::proto::FragmentsRequest {
        journal: "a/journal".into(),
        ..Default::default()
    };
    let err = gazette_blocking::list_all_fragments(&client, fragments).unwrap_err();
    assert_timed_out("fragments", &err, TIMEOUT);
    let mut reader = RetryReader::new(&client, request(true));
    assert_eq!(reader.timeout(), Some(TIMEOUT));
    io_timed_out("read", &reader.read(&mut [0; 8]).unwrap_err(), TIMEOUT);
    // A reader can lift the default (checked without blocking on it).
    reader.set_timeout(None);
    assert_eq!(reader.timeout(), None);
    let mut watch = gazette_blocking::WatchedList::new(&client, LabelSelector::default());
    match watch.next_snapshot() {
        Some(Err(err)) => assert_timed_out("watch item", &err, TIMEOUT),
        other => panic!("a timed-out watch item: {other:?}"),
    }
}

#[test]
fn a_call_is_cancelled_from_another_thread() {
    let (endpoint, accepted) = mute_broker();
    let client = Client::new(endpoint).unwrap();
    let cancel = CancelHandle::new();
    let options = CallOptions::new().cancel(&cancel);
    let c = client.clone();
    let done = on_thread(move || {
        gazette_blocking::list_all_journals_with(&c, ListRequest::default(), &options)
    });
    accepted
        .recv_timeout(PROMPTLY)
        .expect("the call dialled the broker");
    assert!(done.try_recv().is_err(), "nothing answers: still blocked");
    cancel.cancel();
    let (out, _) = done.recv_timeout(PROMPTLY).expect("cancelled promptly");
    let err = out.unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Cancelled);

    // A watch's handle, while it waits for a snapshot on this thread.
    let mut watch = gazette_blocking::WatchedList::new(&client, LabelSelector::default());
    let handle = watch.cancel_handle();
    let done = on_thread(move || watch.wait_for(|_| true).map(drop));
    std::thread::spawn(move || handle.cancel()).join().unwrap();
    let (out, _) = done.recv_timeout(PROMPTLY).expect("cancelled promptly");
    assert!(matches!(out, Err(Error::Cancelled)), "{out:?}");

    // An Appender's own handle, while it waits for the broker (a fresh
    // one, so that its dial is seen).
    let (endpoint, accepted) = mute_broker();
    let client = Client::new(endpoint).unwrap();
    let mut appender = gazette_blocking::Appender::new(&client, append_request()).unwrap();
    let handle = appender.cancel_handle();
    let done = on_thread(move || {
        appender.write_bytes(bytes::Bytes::from_static(b"x"))?;
        appender.commit()
    });
    accepted
        .recv_timeout(PROMPTLY)
        .expect("the append dialled the broker");
    std::thread::spawn(move || handle.cancel()).join().unwrap();
    let (out, _) = done.recv_timeout(PROMPTLY).expect("cancelled promptly");
    assert!(matches!(out, Err(Error::Cancelled)), "{out:?}");
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
