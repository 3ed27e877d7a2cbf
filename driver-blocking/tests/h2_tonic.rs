//! The blocking HTTP/2 transport (`gazette_blocking::h2`) against tonic's
//! server in-process: unary, server-streaming and client-streaming calls
//! carrying more than every flow-control window, error statuses with
//! percent-encoded messages, deadlines, and many concurrent calls on one
//! connection whose server limits concurrent streams. The tokio runtime
//! lives in the test only, serving the fake broker.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use gazette_blocking::h2::transport::{CallError, Channel, ConnectOptions};
use gazette_proto::journal_server::{Journal, JournalServer};
use gazette_proto::*;
use prost::Message;
use tokio_stream::wrappers::TcpListenerStream;

type Stream_<T> = Pin<Box<dyn Stream<Item = Result<T, tonic::Status>> + Send>>;

const TOKEN: &str = "Bearer s3cret";

/// A byte of journal content at `offset`.
fn content_at(offset: usize) -> u8 {
    (offset * 31 % 251) as u8
}

#[derive(Clone, Default)]
struct Fake {
    appended: Arc<Mutex<Vec<u8>>>,
}

fn ok_header() -> Option<Header> {
    Some(Header {
        process_id: Some(process_spec::Id {
            zone: "local".into(),
            suffix: "fake".into(),
        }),
        ..Default::default()
    })
}

#[tonic::async_trait]
impl Journal for Fake {
    type ListStream = Stream_<ListResponse>;
    type ReadStream = Stream_<ReadResponse>;
    type ReplicateStream = Stream_<ReplicateResponse>;

    async fn list(
        &self,
        request: tonic::Request<ListRequest>,
    ) -> Result<tonic::Response<Self::ListStream>, tonic::Status> {
        let watch = request.get_ref().watch;
        let snapshot = ListResponse {
            status: Status::Ok as i32,
            header: ok_header(),
            journals: (0..3)
                .map(|i| list_response::Journal {
                    spec: Some(JournalSpec::new(format!("examples/j{i}"))),
                    ..Default::default()
                })
                .collect(),
        };
        let stream = futures::stream::iter([Ok(snapshot)]);
        Ok(tonic::Response::new(if watch {
            Box::pin(futures::StreamExt::chain(
                stream,
                futures::stream::pending(),
            ))
        } else {
            Box::pin(stream)
        }))
    }

    async fn apply(
        &self,
        request: tonic::Request<ApplyRequest>,
    ) -> Result<tonic::Response<ApplyResponse>, tonic::Status> {
        let auth = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if auth.as_deref() != Some(TOKEN) {
            return Err(tonic::Status::unauthenticated(
                "no token: journal «a/b» 100% closed",
            ));
        }
        let changes = request.get_ref().changes.len();
        Ok(tonic::Response::new(ApplyResponse {
            status: Status::Ok as i32,
            // The change count comes back as the revision.
            header: ok_header().map(|h| Header {
                etcd: Some(header::Etcd {
                    revision: changes as i64,
                    ..Default::default()
                }),
                ..h
            }),
        }))
    }

    async fn read(
        &self,
        request: tonic::Request<ReadRequest>,
    ) -> Result<tonic::Response<Self::ReadStream>, tonic::Status> {
        let request = request.into_inner();
        let chunk = 64 << 10;
        let total = request.end_offset as usize;
        let offset = request.offset as usize;
        let responses = (offset..total).step_by(chunk).map(move |at| {
            let end = (at + chunk).min(total);
            Ok(ReadResponse {
                status: Status::Ok as i32,
                offset: at as i64,
                content: (at..end).map(content_at).collect::<Vec<u8>>().into(),
                ..Default::default()
            })
        });
        let stream = futures::stream::iter(responses);
        Ok(tonic::Response::new(if request.block {
            Box::pin(futures::StreamExt::chain(
                stream,
                futures::stream::pending(),
            ))
        } else {
            Box::pin(stream)
        }))
    }

    async fn append(
        &self,
        request: tonic::Request<tonic::Streaming<AppendRequest>>,
    ) -> Result<tonic::Response<AppendResponse>, tonic::Status> {
        let mut stream = request.into_inner();
        let preamble = stream.message().await?.expect("a preamble");
        if preamble.journal == "stall" {
            // Never reads on: the client's windows close.
            futures::future::pending::<()>().await;
        }
        let mut content = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = stream.message().await? {
            chunks += 1;
            if chunk.content.is_empty() {
                break;
            }
            content.extend_from_slice(&chunk.content);
        }
        let end = content.len() as i64;
        *self.appended.lock().unwrap() = content;
        Ok(tonic::Response::new(AppendResponse {
            status: Status::Ok as i32,
            header: ok_header(),
            commit: Some(Fragment {
                journal: preamble.journal,
                begin: 0,
                end,
                ..Default::default()
            }),
            total_chunks: chunks,
            ..Default::default()
        }))
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
}

/// A tonic server on its own runtime thread, stopped on drop.
struct Server {
    addr: SocketAddr,
    fake: Fake,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(max_concurrent_streams: Option<u32>) -> Self {
        Self::start_with(max_concurrent_streams, None)
    }

    fn start_with(
        max_concurrent_streams: Option<u32>,
        tls: Option<tonic::transport::ServerTlsConfig>,
    ) -> Self {
        let fake = Fake::default();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = JournalServer::new(fake.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                let mut builder = tonic::transport::Server::builder();
                if let Some(tls) = tls {
                    builder = builder.tls_config(tls).unwrap();
                }
                builder
                    .max_concurrent_streams(max_concurrent_streams)
                    .add_service(service)
                    .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Self {
            addr: addr_rx.recv().unwrap(),
            fake,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn channel(&self) -> Channel {
        Channel::connect(&format!("http://{}", self.addr), ConnectOptions::default()).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn encode(m: &impl Message) -> Bytes {
    m.encode_to_vec().into()
}

fn auth() -> Vec<(String, String)> {
    vec![("authorization".to_string(), TOKEN.to_string())]
}

const APPLY: &str = "/protocol.Journal/Apply";
const READ: &str = "/protocol.Journal/Read";
const APPEND: &str = "/protocol.Journal/Append";
const LIST: &str = "/protocol.Journal/List";

#[test]
fn unary_apply_and_server_streaming_list() {
    let server = Server::start(None);
    let channel = server.channel();
    let request = ApplyRequest::upsert_all([JournalSpec::new("a/b"), JournalSpec::new("a/c")]);
    let answer = channel
        .unary(
            APPLY,
            &auth(),
            encode(&request),
            Some(Duration::from_secs(10)),
        )
        .unwrap();
    let answer = ApplyResponse::decode(answer).unwrap();
    let header = answer.header.unwrap();
    assert_eq!(header.etcd.unwrap().revision, 2);
    assert_eq!(header.process_id, ok_header().unwrap().process_id);

    let mut call = channel.call(LIST, &[], None).unwrap();
    call.send(encode(&ListRequest::default())).unwrap();
    call.close_send().unwrap();
    let headers = call.headers().unwrap().clone();
    assert_eq!(headers.get("content-type"), Some(&b"application/grpc"[..]));
    let first = ListResponse::decode(call.recv().unwrap().unwrap()).unwrap();
    assert_eq!(first.journals.len(), 3);
    assert_eq!(call.recv().unwrap(), None);
}

#[test]
fn error_statuses_carry_the_decoded_message() {
    let server = Server::start(None);
    let channel = server.channel();
    let err = channel
        .unary(APPLY, &[], encode(&ApplyRequest::default()), None)
        .unwrap_err();
    let CallError::Status(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code, 16, "UNAUTHENTICATED");
    assert_eq!(status.message, "no token: journal «a/b» 100% closed");
    // Unknown method: tonic answers UNIMPLEMENTED.
    let err = channel
        .unary("/protocol.Journal/Nope", &[], Bytes::new(), None)
        .unwrap_err();
    assert!(
        matches!(&err, CallError::Status(s) if s.code == 12),
        "{err:?}"
    );
    // The connection is still fine.
    assert!(channel.is_open());
    channel
        .unary(APPLY, &auth(), encode(&ApplyRequest::default()), None)
        .unwrap();
}

/// Reads `len` bytes from offset 0 and checks every byte.
fn read_all(channel: &Channel, len: usize) {
    let mut call = channel.call(READ, &[], None).unwrap();
    let request = ReadRequest {
        journal: "a/b".into(),
        end_offset: len as i64,
        ..Default::default()
    };
    call.send(encode(&request)).unwrap();
    call.close_send().unwrap();
    let mut at = 0;
    while let Some(message) = call.recv().unwrap() {
        let response = ReadResponse::decode(message).unwrap();
        assert_eq!(response.offset as usize, at);
        for (i, b) in response.content.iter().enumerate() {
            assert_eq!(*b, content_at(at + i), "byte {}", at + i);
        }
        at += response.content.len();
    }
    assert_eq!(at, len);
}

#[test]
fn server_streaming_read_beyond_every_window() {
    let server = Server::start(None);
    let channel = server.channel();
    // 24 MiB: three times the connection window, twelve times a stream's.
    read_all(&channel, 24 << 20);
}

#[test]
fn client_streaming_append_beyond_every_window() {
    let server = Server::start(None);
    let channel = server.channel();
    let mut call = channel.call(APPEND, &auth(), None).unwrap();
    call.send(encode(&AppendRequest::new("a/b"))).unwrap();
    let chunk = 256 << 10;
    let total = 20 << 20;
    let mut sent = Vec::with_capacity(total);
    for at in (0..total).step_by(chunk) {
        let content: Vec<u8> = (at..at + chunk).map(|i| (i % 241) as u8).collect();
        sent.extend_from_slice(&content);
        let request = AppendRequest {
            content: content.into(),
            ..Default::default()
        };
        call.send(encode(&request)).unwrap();
    }
    call.send(encode(&AppendRequest::default())).unwrap();
    call.close_send().unwrap();
    let response = AppendResponse::decode(call.recv().unwrap().unwrap()).unwrap();
    assert_eq!(call.recv().unwrap(), None);
    assert_eq!(response.commit.unwrap().end, total as i64);
    assert_eq!(response.total_chunks as usize, total / chunk + 1);
    assert!(*server.fake.appended.lock().unwrap() == sent);
}

#[test]
fn deadlines_end_calls_and_leave_the_connection_usable() {
    let server = Server::start(None);
    let channel = server.channel();
    let mut call = channel
        .call(READ, &[], Some(Duration::from_millis(300)))
        .unwrap();
    let request = ReadRequest {
        journal: "a/b".into(),
        block: true,
        end_offset: 10,
        ..Default::default()
    };
    call.send(encode(&request)).unwrap();
    call.close_send().unwrap();
    let first = call.recv().unwrap().unwrap();
    assert_eq!(ReadResponse::decode(first).unwrap().content.len(), 10);
    let started = std::time::Instant::now();
    let err = call.recv().unwrap_err();
    // Either our deadline or the server's reading of grpc-timeout.
    assert!(
        matches!(&err, CallError::DeadlineExceeded)
            || matches!(&err, CallError::Status(s) if s.code == 4),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(call);
    read_all(&channel, 1000);
}

#[test]
fn many_concurrent_calls_share_one_connection_within_the_servers_stream_limit() {
    let server = Server::start(Some(4));
    let channel = server.channel();
    // A watch holds one of the four slots throughout.
    let mut watch = channel.call(LIST, &[], None).unwrap();
    watch
        .send(encode(&ListRequest {
            watch: true,
            ..Default::default()
        }))
        .unwrap();
    watch.close_send().unwrap();
    assert!(watch.recv().unwrap().is_some());
    std::thread::scope(|scope| {
        for i in 0..16 {
            let channel = channel.clone();
            scope.spawn(move || {
                if i % 2 == 0 {
                    read_all(&channel, (1 << 20) + i * 4096);
                } else {
                    let response = channel
                        .unary(APPLY, &auth(), encode(&ApplyRequest::default()), None)
                        .unwrap();
                    ApplyResponse::decode(response).unwrap();
                }
            });
        }
    });
    drop(watch);
    assert!(channel.is_open());
}

#[test]
fn a_stopped_server_fails_calls_with_a_connection_error() {
    let server = Server::start(None);
    let channel = server.channel();
    read_all(&channel, 10);
    drop(server);
    let err = channel
        .unary(APPLY, &auth(), encode(&ApplyRequest::default()), None)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            CallError::Stream(_) | CallError::Open(_) | CallError::Send(_)
        ),
        "{err:?}"
    );
    assert!(!channel.is_open());
}

#[test]
fn a_sender_blocked_on_closed_windows_gives_up_at_its_deadline() {
    let server = Server::start(None);
    let channel = server.channel();
    let timeout = Duration::from_millis(500);
    let mut call = channel.call(APPEND, &[], Some(timeout)).unwrap();
    call.send(encode(&AppendRequest::new("stall"))).unwrap();
    let chunk = AppendRequest {
        content: vec![1u8; 256 << 10].into(),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let mut sent = 0usize;
    let err = loop {
        match call.send(encode(&chunk)) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
        assert!(
            sent < 400,
            "100 MiB accepted by a server that reads nothing"
        );
    };
    assert_eq!(err, CallError::DeadlineExceeded);
    assert!(started.elapsed() >= timeout - Duration::from_millis(50));
    drop(call);
    // The reset stream's windows are gone with it: the connection works.
    read_all(&channel, 100_000);
}

#[test]
fn a_call_dropped_mid_stream_is_reset_and_the_connection_goes_on() {
    let server = Server::start(None);
    let channel = server.channel();
    for _ in 0..3 {
        let mut call = channel.call(READ, &[], None).unwrap();
        let request = ReadRequest {
            journal: "a/b".into(),
            end_offset: 32 << 20,
            ..Default::default()
        };
        call.send(encode(&request)).unwrap();
        call.close_send().unwrap();
        assert!(call.recv().unwrap().is_some());
        // Dropped with megabytes unread and windows full.
    }
    read_all(&channel, 3 << 20);
}

#[test]
fn connecting_to_a_closed_port_fails_typed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err =
        Channel::connect(&format!("127.0.0.1:{port}"), ConnectOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            gazette_blocking::h2::transport::ConnectError::Connect { .. }
        ),
        "{err:?}"
    );
    let err = Channel::connect("http://127.0.0.1:1/a/path", ConnectOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            gazette_blocking::h2::transport::ConnectError::InvalidEndpoint(_)
        ),
        "{err:?}"
    );
}

/// TLS (rustls, ALPN h2) against tonic's TLS server, with certificates
/// made by `openssl` (which the cluster scripts need for TLS too).
#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use std::path::Path;
    use std::process::Command;

    fn openssl(dir: &Path, args: &[&str]) {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl on PATH");
        assert!(status.success(), "openssl {args:?}");
    }

    /// A CA and a server certificate for localhost and 127.0.0.1.
    fn certificates(dir: &Path) {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509", "-days", "1", "-subj", "/CN=h2-test-ca"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        openssl(dir, &ca);
        let mut csr = vec![
            "req",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ];
        csr.extend(ec);
        openssl(dir, &csr);
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                "server.pem",
                "-extfile",
                "ext.cnf",
            ],
        );
    }

    fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(ca).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    #[test]
    fn calls_over_tls_with_alpn_h2() {
        let dir = std::env::temp_dir().join(format!("h2-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        certificates(&dir);
        let identity = tonic::transport::Identity::from_pem(
            std::fs::read(dir.join("server.pem")).unwrap(),
            std::fs::read(dir.join("server.key")).unwrap(),
        );
        let server = Server::start_with(
            None,
            Some(tonic::transport::ServerTlsConfig::new().identity(identity)),
        );
        let options = || ConnectOptions {
            tls: Some(client_config(&dir.join("ca.pem"))),
            ..ConnectOptions::default()
        };
        let endpoint = format!("https://localhost:{}", server.addr.port());
        let channel = Channel::connect(&endpoint, options()).unwrap();
        channel
            .unary(APPLY, &auth(), encode(&ApplyRequest::default()), None)
            .unwrap();
        // Beyond every window both ways.
        read_all(&channel, 12 << 20);
        let mut call = channel.call(APPEND, &[], None).unwrap();
        call.send(encode(&AppendRequest::new("a/b"))).unwrap();
        let chunk = encode(&AppendRequest {
            content: vec![9u8; 1 << 20].into(),
            ..Default::default()
        });
        for _ in 0..12 {
            call.send(chunk.clone()).unwrap();
        }
        call.send(encode(&AppendRequest::default())).unwrap();
        call.close_send().unwrap();
        let response = AppendResponse::decode(call.recv().unwrap().unwrap()).unwrap();
        assert_eq!(response.commit.unwrap().end, 12 << 20);

        // Without our CA the handshake fails, typed; without TLS options
        // an https endpoint is refused.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let no_roots = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        let untrusted = ConnectOptions {
            tls: Some(Arc::new(no_roots)),
            ..ConnectOptions::default()
        };
        let err = Channel::connect(&endpoint, untrusted).unwrap_err();
        assert!(
            matches!(
                err,
                gazette_blocking::h2::transport::ConnectError::Tls { .. }
            ),
            "{err:?}"
        );
        let err = Channel::connect(&endpoint, ConnectOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                gazette_blocking::h2::transport::ConnectError::TlsRequired(_)
            ),
            "{err:?}"
        );
        drop(channel);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
