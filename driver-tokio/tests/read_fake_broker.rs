//! Readers against an in-process fake broker whose Read streams are
//! scripted: what a caller sees after a read fails. Deterministic; no live
//! cluster needed.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::Stream;
use gazette_core::read::{ReadError, TransportError};
use gazette_proto::journal_server::{Journal, JournalServer};
use gazette_proto::process_spec::Id;
use gazette_proto::*;
use gazette_tokio::{Client, Error};
use tokio::io::AsyncReadExt;
use tokio_stream::wrappers::TcpListenerStream;

type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, tonic::Status>> + Send>>;

/// One scripted item of a Read stream.
#[allow(clippy::large_enum_variant)] // A few per test.
#[derive(Clone)]
enum Item {
    Frame(ReadResponse),
    /// The stream ends with this gRPC status.
    Fail(tonic::Code),
}

/// A broker answering every Read RPC with the next script (the last one
/// repeats), recording the requests.
#[derive(Clone, Default)]
struct Fake {
    scripts: Arc<Mutex<Vec<Vec<Item>>>>,
    reads: Arc<Mutex<Vec<ReadRequest>>>,
}

#[tonic::async_trait]
impl Journal for Fake {
    type ListStream = Stream_<ListResponse>;
    type ReadStream = Stream_<ReadResponse>;
    type ReplicateStream = Stream_<ReplicateResponse>;

    async fn list(
        &self,
        _: tonic::Request<ListRequest>,
    ) -> Result<tonic::Response<Self::ListStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }
    async fn apply(
        &self,
        _: tonic::Request<ApplyRequest>,
    ) -> Result<tonic::Response<ApplyResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }
    async fn read(
        &self,
        request: tonic::Request<ReadRequest>,
    ) -> Result<tonic::Response<Self::ReadStream>, tonic::Status> {
        self.reads.lock().unwrap().push(request.into_inner());
        let script = {
            let mut scripts = self.scripts.lock().unwrap();
            if scripts.len() > 1 {
                scripts.remove(0)
            } else {
                scripts[0].clone()
            }
        };
        let items = script.into_iter().map(|item| match item {
            Item::Frame(frame) => Ok(frame),
            Item::Fail(code) => Err(tonic::Status::new(code, "scripted failure")),
        });
        Ok(tonic::Response::new(Box::pin(futures::stream::iter(items))))
    }
    async fn replicate(
        &self,
        _: tonic::Request<tonic::Streaming<ReplicateRequest>>,
    ) -> Result<tonic::Response<Self::ReplicateStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }
    async fn list_fragments(
        &self,
        _: tonic::Request<FragmentsRequest>,
    ) -> Result<tonic::Response<FragmentsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }
    async fn fragment_store_health(
        &self,
        _: tonic::Request<FragmentStoreHealthRequest>,
    ) -> Result<tonic::Response<FragmentStoreHealthResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }
    async fn append(
        &self,
        _: tonic::Request<tonic::Streaming<AppendRequest>>,
    ) -> Result<tonic::Response<AppendResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
    }
}

async fn serve(fake: Fake) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(JournalServer::new(fake))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

const JOURNAL: &str = "a/journal";

fn route(addr: SocketAddr) -> Route {
    Route {
        members: vec![Id {
            zone: "zone".into(),
            suffix: "broker-a".into(),
        }],
        primary: 0,
        endpoints: vec![format!("http://{addr}")],
    }
}

fn header(addr: SocketAddr) -> Header {
    Header {
        process_id: Some(Id {
            zone: "zone".into(),
            suffix: "broker-a".into(),
        }),
        route: Some(route(addr)),
        etcd: Some(header::Etcd {
            cluster_id: 1,
            member_id: 1,
            revision: 1,
            raft_term: 1,
        }),
    }
}

fn metadata(addr: SocketAddr, offset: i64) -> ReadResponse {
    ReadResponse {
        header: Some(header(addr)),
        offset,
        write_head: 1 << 20,
        fragment: Some(Fragment {
            journal: JOURNAL.into(),
            begin: 0,
            end: 1 << 20,
            compression_codec: CompressionCodec::None as i32,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn content(offset: i64, bytes: &'static [u8]) -> ReadResponse {
    ReadResponse {
        offset,
        content: Bytes::from_static(bytes),
        ..Default::default()
    }
}

fn request() -> ReadRequest {
    ReadRequest {
        journal: JOURNAL.into(),
        ..Default::default()
    }
}

/// The driver error inside an `io::Error` from `AsyncRead`.
fn inner(err: &std::io::Error) -> &Error {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<Error>())
        .unwrap_or_else(|| panic!("not a driver error: {err:?}"))
}

#[tokio::test]
async fn a_readers_error_is_sticky_and_never_turns_into_a_clean_end() {
    let fake = Fake::default();
    let addr = serve(fake.clone()).await;
    // Content, then the stream breaks: the read is truncated.
    *fake.scripts.lock().unwrap() = vec![vec![
        Item::Frame(metadata(addr, 0)),
        Item::Frame(content(0, b"hello")),
        Item::Fail(tonic::Code::Internal),
    ]];
    let client = Client::new(format!("http://{addr}")).unwrap();
    let mut reader = gazette_tokio::Reader::new(&client, request());

    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let first = loop {
        match reader.read(&mut buf).await {
            Ok(0) => panic!("clean end before the failure"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(err) => break err,
        }
    };
    assert_eq!(got, b"hello");
    let first = inner(&first).to_string();
    assert!(first.contains("scripted failure"), "{first}");
    // Every later read (and event) reports the same failure again.
    for _ in 0..3 {
        let again = reader
            .read(&mut buf)
            .await
            .expect_err("a later read must fail");
        assert_eq!(inner(&again).to_string(), first);
        let event = reader.next_event().await.expect_err("events too");
        assert_eq!(event.to_string(), first);
    }
    assert_eq!(reader.offset(), 5);
    // No second RPC was made.
    assert_eq!(fake.reads.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_readers_status_error_repeats_on_every_later_read() {
    let fake = Fake::default();
    let addr = serve(fake.clone()).await;
    *fake.scripts.lock().unwrap() = vec![vec![Item::Frame(ReadResponse {
        status: Status::JournalNotFound as i32,
        header: Some(header(addr)),
        ..Default::default()
    })]];
    let client = Client::new(format!("http://{addr}")).unwrap();
    let mut reader = gazette_tokio::Reader::new(&client, request());
    let mut buf = Vec::new();
    for _ in 0..3 {
        let err = reader.read_to_end(&mut buf).await.unwrap_err();
        let not_found =
            matches!(inner(&err), Error::Read(e) if e.is_named(Status::JournalNotFound));
        assert!(not_found, "{err}");
    }
    assert!(buf.is_empty());
}

#[tokio::test]
async fn a_broker_lost_mid_stream_invalidates_the_cached_route() {
    let fake = Fake::default();
    let addr = serve(fake.clone()).await;
    *fake.scripts.lock().unwrap() = vec![
        vec![
            Item::Frame(metadata(addr, 0)),
            Item::Frame(content(0, b"hello")),
        ],
        vec![
            Item::Frame(metadata(addr, 0)),
            Item::Frame(content(0, b"hello")),
            Item::Fail(tonic::Code::Unavailable),
        ],
    ];
    let client = Client::new(format!("http://{addr}")).unwrap();
    let mut first = Vec::new();
    gazette_tokio::Reader::new(&client, request())
        .read_to_end(&mut first)
        .await
        .unwrap();
    assert_eq!(first, b"hello");
    // The metadata frame's header taught the route.
    assert_eq!(client.route(JOURNAL), route(addr));
    let mut reader = gazette_tokio::Reader::new(&client, request());
    let mut buf = [0u8; 64];
    assert_eq!(reader.read(&mut buf).await.unwrap(), 5);
    let err = reader.read(&mut buf).await.unwrap_err();
    let unavailable = matches!(
        inner(&err),
        Error::Read(ReadError::Transport(TransportError::Unavailable(_)))
    );
    assert!(unavailable, "{err}");
    // The broker is gone: its route is no longer cached.
    assert!(client.route(JOURNAL).members.is_empty());
}
