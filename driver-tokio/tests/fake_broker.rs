//! The driver against in-process fake brokers: routing learned from
//! response headers, bearer tokens on the wire, and early broker answers.
//! Deterministic; no live cluster needed.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::Stream;
use gazette_proto::journal_server::{Journal, JournalServer};
use gazette_proto::process_spec::Id;
use gazette_proto::*;
use gazette_tokio::{Auth, Client};
use tokio::io::AsyncWriteExt;
use tokio_stream::wrappers::TcpListenerStream;

type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, tonic::Status>> + Send>>;

/// What a fake broker saw of one Append RPC.
#[derive(Debug, Clone)]
struct SeenAppend {
    journal: String,
    content: Vec<u8>,
    committed: bool,
    authorization: Option<String>,
}

#[derive(Clone)]
struct Fake {
    id: Id,
    route: Arc<Mutex<Route>>,
    /// Status answered to appends (OK commits).
    status: Status,
    seen: Arc<Mutex<Vec<SeenAppend>>>,
}

fn header(id: &Id, route: &Route) -> Header {
    Header {
        process_id: Some(id.clone()),
        route: Some(route.clone()),
        etcd: Some(header::Etcd {
            cluster_id: 1,
            member_id: 1,
            revision: 1,
            raft_term: 1,
        }),
    }
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
        _: tonic::Request<ReadRequest>,
    ) -> Result<tonic::Response<Self::ReadStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("fake"))
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
        request: tonic::Request<tonic::Streaming<AppendRequest>>,
    ) -> Result<tonic::Response<AppendResponse>, tonic::Status> {
        let authorization = request
            .metadata()
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_string());
        let mut stream = request.into_inner();
        let preamble = stream.message().await?.expect("a preamble");
        let route = self.route.lock().unwrap().clone();
        let mut seen = SeenAppend {
            journal: preamble.journal.clone(),
            content: Vec::new(),
            committed: false,
            authorization,
        };
        if self.status == Status::Ok {
            while let Some(chunk) = stream.message().await? {
                if chunk.content.is_empty() {
                    seen.committed = true;
                    break;
                }
                seen.content.extend_from_slice(&chunk.content);
            }
        }
        let end = seen.content.len() as i64;
        self.seen.lock().unwrap().push(seen);
        let ok = self.status == Status::Ok;
        Ok(tonic::Response::new(AppendResponse {
            status: self.status as i32,
            header: Some(header(&self.id, &route)),
            commit: ok.then(|| Fragment {
                journal: preamble.journal.clone(),
                begin: 0,
                end,
                sum: Some(Sha1Sum::default()),
                compression_codec: CompressionCodec::None as i32,
                ..Default::default()
            }),
            registers: ok.then(LabelSet::default),
            ..Default::default()
        }))
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

fn id(zone: &str, suffix: &str) -> Id {
    Id {
        zone: zone.into(),
        suffix: suffix.into(),
    }
}

#[tokio::test]
async fn appends_learn_the_route_and_go_straight_to_the_primary_with_the_token() {
    let route = Arc::new(Mutex::new(Route::default()));
    let (seen_a, seen_b) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let a = serve(Fake {
        id: id("z1", "a"),
        route: route.clone(),
        status: Status::Ok,
        seen: seen_a.clone(),
    })
    .await;
    let b = serve(Fake {
        id: id("z2", "b"),
        route: route.clone(),
        status: Status::Ok,
        seen: seen_b.clone(),
    })
    .await;
    *route.lock().unwrap() = Route {
        members: vec![id("z1", "a"), id("z2", "b")],
        primary: 1,
        endpoints: vec![format!("http://{a}"), format!("http://{b}")],
    };

    let client = Client::builder(format!("http://{a}"))
        .zone("z1")
        .auth(Auth::Bearer("test-token".into()))
        .build()
        .unwrap();
    let request = AppendRequest {
        journal: "a/journal".into(),
        ..Default::default()
    };

    // No route is cached yet: the service address (a) takes the append and
    // its response header teaches the route.
    let mut appender = gazette_tokio::Appender::new(&client, request.clone()).unwrap();
    appender.write_all(b"first").await.unwrap();
    appender.commit().await.unwrap();
    assert_eq!(client.route("a/journal").primary, 1);

    // Now the append goes straight to the primary (b).
    gazette_tokio::append(&client, request, &[Bytes::from_static(b"second")])
        .await
        .unwrap();

    let seen_a = seen_a.lock().unwrap().clone();
    let seen_b = seen_b.lock().unwrap().clone();
    assert_eq!(seen_a.len(), 1);
    assert_eq!(seen_a[0].content, b"first");
    assert_eq!(seen_b.len(), 1);
    assert_eq!(seen_b[0].content, b"second");
    assert!(seen_b[0].committed);
    for seen in seen_a.iter().chain(&seen_b) {
        assert_eq!(seen.journal, "a/journal");
        assert_eq!(seen.authorization.as_deref(), Some("Bearer test-token"));
    }
}

#[tokio::test]
async fn a_broker_refusing_an_append_early_surfaces_its_status() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let addr = serve(Fake {
        id: id("z1", "a"),
        route: Arc::new(Mutex::new(Route::default())),
        status: Status::Suspended,
        seen: seen.clone(),
    })
    .await;
    let client = Client::new(format!("http://{addr}")).unwrap();
    let request = AppendRequest {
        journal: "a/journal".into(),
        ..Default::default()
    };

    let mut appender = gazette_tokio::Appender::new(&client, request.clone()).unwrap();
    // The broker answers after the preamble; writes may fail early or the
    // commit reports it, but either way the status is SUSPENDED.
    let outcome = match appender.write_all(&vec![7u8; 4 << 20]).await {
        Ok(()) => appender
            .commit()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(err) => Err(err.to_string()),
    };
    let err = outcome.unwrap_err();
    assert!(err.contains("SUSPENDED"), "{err}");

    // `append` does not retry SUSPENDED.
    let err = gazette_tokio::append(&client, request, &[Bytes::from_static(b"x")])
        .await
        .unwrap_err();
    assert!(err.is_status(Status::Suspended), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 2);
    assert!(seen.lock().unwrap().iter().all(|s| !s.committed));
}
