//! Error classification of the driver against an in-process fake broker:
//! gRPC statuses sent by a broker (or a proxy) versus the caller's own
//! cancellation, broker statuses of every operation, and member endpoints
//! the driver cannot dial. Deterministic; no live cluster needed.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::Stream;
use gazette_proto::journal_server::{Journal, JournalServer};
use gazette_proto::process_spec::Id;
use gazette_proto::*;
use gazette_tokio::{AppendService, Client, Error, ReadEvent};
use tokio_stream::wrappers::TcpListenerStream;

type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, tonic::Status>> + Send>>;

/// How the fake answers.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    /// The first Read and the first Append fail with a gRPC `CANCELLED`
    /// (as a proxy or a broker shutting down sends it); later Reads
    /// answer OFFSET_NOT_YET_AVAILABLE, later Appends commit.
    CancelFirst,
    /// Like `CancelFirst` with `DEADLINE_EXCEEDED`.
    DeadlineFirst,
    /// Every call answers with this broker status.
    Status(Status),
}

#[derive(Clone)]
struct Fake {
    mode: Mode,
    /// Endpoint advertised for the only member of every route.
    member_endpoint: Arc<std::sync::OnceLock<String>>,
    reads: Arc<AtomicUsize>,
    appends: Arc<AtomicUsize>,
}

fn member() -> Id {
    Id {
        zone: "z1".into(),
        suffix: "broker-a".into(),
    }
}

impl Fake {
    fn route(&self) -> Route {
        Route {
            members: vec![member()],
            primary: 0,
            endpoints: vec![self.member_endpoint.get().expect("set").clone()],
        }
    }

    fn header(&self) -> Header {
        Header {
            process_id: Some(member()),
            route: Some(self.route()),
            etcd: Some(header::Etcd {
                cluster_id: 1,
                member_id: 1,
                revision: 1,
                raft_term: 1,
            }),
        }
    }

    fn remote_failure(&self) -> Option<tonic::Status> {
        match self.mode {
            Mode::CancelFirst => Some(tonic::Status::cancelled("cancelled by a proxy")),
            Mode::DeadlineFirst => Some(tonic::Status::deadline_exceeded("proxy deadline")),
            Mode::Status(_) => None,
        }
    }

    fn status(&self) -> Status {
        match self.mode {
            Mode::Status(status) => status,
            _ => Status::Ok,
        }
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
        let response = ListResponse {
            status: self.status() as i32,
            header: Some(self.header()),
            ..Default::default()
        };
        Ok(tonic::Response::new(Box::pin(tokio_stream::iter([Ok(
            response,
        )]))))
    }
    async fn apply(
        &self,
        _: tonic::Request<ApplyRequest>,
    ) -> Result<tonic::Response<ApplyResponse>, tonic::Status> {
        Ok(tonic::Response::new(ApplyResponse {
            status: self.status() as i32,
            header: Some(self.header()),
        }))
    }
    async fn read(
        &self,
        _: tonic::Request<ReadRequest>,
    ) -> Result<tonic::Response<Self::ReadStream>, tonic::Status> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst);
        if n == 0
            && let Some(status) = self.remote_failure()
        {
            return Err(status);
        }
        let status = match self.mode {
            Mode::Status(status) => status,
            _ => Status::OffsetNotYetAvailable,
        };
        let frame = ReadResponse {
            status: status as i32,
            header: Some(self.header()),
            ..Default::default()
        };
        Ok(tonic::Response::new(Box::pin(tokio_stream::iter([Ok(
            frame,
        )]))))
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
        Ok(tonic::Response::new(FragmentsResponse {
            status: self.status() as i32,
            header: Some(self.header()),
            ..Default::default()
        }))
    }
    async fn fragment_store_health(
        &self,
        _: tonic::Request<FragmentStoreHealthRequest>,
    ) -> Result<tonic::Response<FragmentStoreHealthResponse>, tonic::Status> {
        Ok(tonic::Response::new(FragmentStoreHealthResponse {
            status: self.status() as i32,
            header: Some(self.header()),
            ..Default::default()
        }))
    }

    async fn append(
        &self,
        request: tonic::Request<tonic::Streaming<AppendRequest>>,
    ) -> Result<tonic::Response<AppendResponse>, tonic::Status> {
        let n = self.appends.fetch_add(1, Ordering::SeqCst);
        let mut stream = request.into_inner();
        let preamble = stream.message().await?.expect("a preamble");
        if n == 0
            && let Some(status) = self.remote_failure()
        {
            return Err(status);
        }
        let mut end = 0;
        if self.status() == Status::Ok {
            while let Some(chunk) = stream.message().await? {
                if chunk.content.is_empty() {
                    break;
                }
                end += chunk.content.len() as i64;
            }
        }
        let ok = self.status() == Status::Ok;
        Ok(tonic::Response::new(AppendResponse {
            status: self.status() as i32,
            header: Some(self.header()),
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

/// Serves a fake broker whose routes advertise `member_endpoint` (its own
/// address when None).
async fn serve(mode: Mode, member_endpoint: Option<&str>) -> (Fake, Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = Fake {
        mode,
        member_endpoint: Arc::new(std::sync::OnceLock::new()),
        reads: Arc::new(AtomicUsize::new(0)),
        appends: Arc::new(AtomicUsize::new(0)),
    };
    let endpoint = member_endpoint
        .map(str::to_string)
        .unwrap_or_else(|| format!("http://{addr}"));
    fake.member_endpoint.set(endpoint).unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(JournalServer::new(fake.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    let client = Client::new(format!("http://{addr}")).unwrap();
    (fake, client)
}

fn read_request() -> ReadRequest {
    ReadRequest {
        journal: "a/journal".into(),
        offset: 0,
        block: false,
        ..Default::default()
    }
}

fn append_request() -> AppendRequest {
    AppendRequest {
        journal: "a/journal".into(),
        ..Default::default()
    }
}

async fn retry_reader_outcome(client: &Client) -> Error {
    let mut reader = gazette_tokio::RetryReader::new(client, read_request());
    loop {
        match reader.next_event().await {
            Ok(Some(ReadEvent::Metadata(_))) => continue,
            Ok(other) => panic!("expected the non-blocking read to fail, got {other:?}"),
            Err(err) => return err,
        }
    }
}

#[tokio::test]
async fn a_retry_reader_retries_a_cancelled_status_sent_by_the_broker() {
    for mode in [Mode::CancelFirst, Mode::DeadlineFirst] {
        let (fake, client) = serve(mode, None).await;
        let err = retry_reader_outcome(&client).await;
        // The remote CANCELLED was retried: the second RPC answered, and
        // its OFFSET_NOT_YET_AVAILABLE ends the non-blocking read.
        assert_eq!(
            err.status(),
            Some(Status::OffsetNotYetAvailable),
            "{mode:?}: {err}"
        );
        assert_eq!(fake.reads.load(Ordering::SeqCst), 2, "{mode:?}");
    }
}

#[tokio::test]
async fn the_append_service_retries_a_cancelled_status_sent_by_the_broker() {
    for mode in [Mode::CancelFirst, Mode::DeadlineFirst] {
        let (fake, client) = serve(mode, None).await;
        let service = AppendService::new(&client);
        let future = service.append(append_request(), b"hello").await.unwrap();
        future
            .await
            .unwrap_or_else(|err| panic!("{mode:?}: the remote status was not retried: {err}"));
        assert_eq!(fake.appends.load(Ordering::SeqCst), 2, "{mode:?}");
        // The journal is not poisoned: a later append goes through.
        let later = service.append(append_request(), b"again").await.unwrap();
        later.await.unwrap();
    }
}

#[tokio::test]
async fn a_one_shot_append_surfaces_a_remote_cancelled_as_an_rpc_error_not_as_ours() {
    let (fake, client) = serve(Mode::CancelFirst, None).await;
    let err = gazette_tokio::append(
        &client,
        append_request(),
        &[bytes::Bytes::from_static(b"x")],
    )
    .await
    .unwrap_err();
    // Go's `Append` retries only UNAVAILABLE: the status is returned as it
    // came, with its gRPC code.
    assert_eq!(err.grpc_code(), Some(tonic::Code::Cancelled), "{err:?}");
    assert_eq!(fake.appends.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn every_operation_reports_the_broker_status_in_one_call() {
    let (_fake, client) = serve(Mode::Status(Status::JournalNotFound), None).await;
    let jnf = Some(Status::JournalNotFound);

    let mut reader = gazette_tokio::Reader::new(&client, read_request());
    let err = loop {
        match reader.next_event().await {
            Ok(Some(ReadEvent::Metadata(_))) => continue,
            Ok(other) => panic!("read: {other:?}"),
            Err(err) => break err,
        }
    };
    assert_eq!(err.status(), jnf, "read: {err:?}");
    assert!(err.is_status(Status::JournalNotFound), "read: {err:?}");

    let err = gazette_tokio::append(
        &client,
        append_request(),
        &[bytes::Bytes::from_static(b"x")],
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), jnf, "append: {err:?}");
    assert!(err.is_status(Status::JournalNotFound), "append: {err:?}");

    let err = gazette_tokio::list_all_journals(&client, ListRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), jnf, "list: {err:?}");
    // Go's List names no status: the error is generic.
    assert!(!err.is_status(Status::JournalNotFound), "list: {err:?}");

    let err = gazette_tokio::get_journal(&client, "a/journal")
        .await
        .unwrap_err();
    assert_eq!(err.status(), jnf, "get: {err:?}");

    let err = gazette_tokio::apply(&client, ApplyRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.status(), jnf, "apply: {err:?}");

    let fragments = FragmentsRequest {
        journal: "a/journal".into(),
        ..Default::default()
    };
    let err = gazette_tokio::list_all_fragments(&client, fragments)
        .await
        .unwrap_err();
    assert_eq!(err.status(), jnf, "list fragments: {err:?}");

    let err = gazette_tokio::fragment_store_health(&client, "s3://bucket/prefix/", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), jnf, "fragment store health: {err:?}");
}

#[tokio::test]
async fn suspended_is_named_for_list_fragments() {
    let (_fake, client) = serve(Mode::Status(Status::Suspended), None).await;
    let fragments = FragmentsRequest {
        journal: "a/journal".into(),
        ..Default::default()
    };
    let err = gazette_tokio::list_all_fragments(&client, fragments)
        .await
        .unwrap_err();
    assert!(err.is_status(Status::Suspended), "{err:?}");
    assert_eq!(err.status(), Some(Status::Suspended));
}

#[tokio::test]
async fn a_member_endpoint_the_driver_cannot_dial_falls_back_to_the_service_address() {
    for endpoint in [
        "unix://localhost/tmp/gazette-broker.sock",
        "ftp://broker:1",
        "http://broker:1/a b",
    ] {
        let (fake, client) = serve(Mode::Status(Status::Ok), Some(endpoint)).await;
        // The first append teaches the route naming the unusable endpoint.
        gazette_tokio::append(
            &client,
            append_request(),
            &[bytes::Bytes::from_static(b"a")],
        )
        .await
        .unwrap();
        assert_eq!(
            client.route("a/journal").endpoints,
            vec![endpoint.to_string()]
        );
        // The next ones go to the service address instead of failing.
        gazette_tokio::append(
            &client,
            append_request(),
            &[bytes::Bytes::from_static(b"b")],
        )
        .await
        .unwrap_or_else(|err| panic!("{endpoint}: {err}"));
        assert_eq!(fake.appends.load(Ordering::SeqCst), 2, "{endpoint}");
        let mut reader = gazette_tokio::Reader::new(&client, read_request());
        let outcome = loop {
            match reader.next_event().await {
                Ok(Some(ReadEvent::Metadata(_))) => continue,
                other => break other,
            }
        };
        assert!(matches!(outcome, Ok(None)), "{endpoint}: read: {outcome:?}");
        assert_eq!(fake.reads.load(Ordering::SeqCst), 1, "{endpoint}");
    }
}
