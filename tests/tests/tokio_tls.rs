//! gazette-tokio over TLS against private clusters whose brokers serve
//! certificates of a throw-away CA (`GAZETTE_TLS=server|mutual` of
//! `scripts/cluster.sh`): a client trusting the CA appends, reads and lists
//! over `https://`; clients without the CA, with a foreign CA, speaking
//! plaintext to the TLS port, or (mutual TLS) without an accepted client
//! certificate fail fast with typed errors. Fragment fetches use the same
//! `TlsConfig` (its CA and client certificate) against an HTTPS store.

mod tokio_support;

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use gazette_proto::{AppendRequest, CompressionCodec, ListRequest, ReadRequest};
use gazette_tests::{ClusterTls, ScopedCluster};
use gazette_tokio::{Client, ClientBuilder, Error, TlsConfig};
use tokio::io::AsyncReadExt;
use tokio_support::{create, spec, unique};

/// Upper bound for a call that must fail: a TLS failure must surface as an
/// error, never as a hang.
const FAIL_WITHIN: Duration = Duration::from_secs(20);

fn start(brokers: usize, mode: &str) -> (ScopedCluster, ClusterTls) {
    let scoped = ScopedCluster::start_with(brokers, &[("GAZETTE_TLS", mode)])
        .unwrap_or_else(|e| panic!("{e}"));
    let tls = scoped
        .cluster()
        .tls
        .clone()
        .expect("the env file names the CA");
    (scoped, tls)
}

fn pem(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// TLS settings trusting exactly the CA at `ca` (a given CA replaces the
/// native roots, as in Go).
fn trusting(ca: &Path) -> TlsConfig {
    TlsConfig::new().ca_file(ca)
}

fn client(scoped: &ScopedCluster, endpoint: &str, tls: Option<TlsConfig>) -> Client {
    let mut builder = Client::builder(endpoint)
        .fragment_file_root(&scoped.cluster().file_root)
        .connect_timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        builder = builder.tls(tls);
    }
    builder.build().unwrap()
}

/// A self-signed CA certificate and key unrelated to the cluster's, made
/// with openssl under `dir`.
fn foreign_ca(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("foreign.pem"), dir.join("foreign.key"));
    let output = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=foreign test CA"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (cert, key)
}

/// Lists journals, which must fail (and not hang); returns the error.
async fn list_fails(client: &Client) -> Error {
    let outcome = tokio::time::timeout(
        FAIL_WITHIN,
        gazette_tokio::list_all_journals(client, ListRequest::default()),
    )
    .await
    .expect("a TLS failure surfaces as an error, not a hang");
    match outcome {
        Ok(snapshot) => panic!("listing succeeded: {snapshot:?}"),
        Err(err) => err,
    }
}

/// The error and every source of it, as one lowercase string.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(" <- ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.to_lowercase()
}

/// The gRPC status of a failed RPC, and its source chain.
fn rpc_failure(err: &Error) -> (gazette_tokio::tonic::Code, String) {
    match err {
        Error::Rpc { status, .. } => (status.code(), chain(status.as_ref())),
        other => panic!("expected a typed RPC error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_trusting_the_ca_appends_reads_and_lists_over_https() {
    let (scoped, tls) = start(2, "server");
    let cluster = scoped.cluster();
    assert!(
        cluster
            .brokers
            .iter()
            .all(|b| b.endpoint.starts_with("https://127.0.0.1:")),
        "brokers advertise https endpoints: {:?}",
        cluster.brokers
    );
    let client = client(
        &scoped,
        &cluster.brokers[0].endpoint,
        Some(trusting(&tls.ca)),
    );

    // Two journals so that, with two brokers, routing most likely reaches
    // a member other than the dialled one (its own https channel).
    let journals = [unique("tls"), unique("tls")];
    create(
        &client,
        journals
            .iter()
            .map(|j| spec(j, CompressionCodec::None, None))
            .collect(),
    )
    .await;

    for journal in &journals {
        let content: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        let chunks = [
            Bytes::copy_from_slice(&content[..1000]),
            Bytes::copy_from_slice(&content[1000..]),
        ];
        let request = AppendRequest {
            journal: journal.clone(),
            ..Default::default()
        };
        let response = gazette_tokio::append(&client, request, &chunks)
            .await
            .unwrap();
        let commit = response.commit.expect("a committed fragment");
        assert_eq!(commit.end - commit.begin, content.len() as i64);

        let mut reader = gazette_tokio::Reader::new(
            &client,
            ReadRequest {
                journal: journal.clone(),
                offset: commit.begin,
                end_offset: commit.end,
                ..Default::default()
            },
        );
        let mut got = Vec::new();
        reader.read_to_end(&mut got).await.unwrap();
        assert!(got == content, "{journal}: read back differs");
    }

    let snapshot = gazette_tokio::list_all_journals(&client, ListRequest::default())
        .await
        .unwrap();
    for journal in &journals {
        assert!(
            snapshot
                .journals
                .iter()
                .any(|j| j.spec.as_ref().is_some_and(|s| &s.name == journal)),
            "{journal} listed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_clients_without_the_ca_or_plaintext_fail_with_typed_errors() {
    let (scoped, _tls) = start(1, "server");
    let endpoint = scoped.cluster().brokers[0].endpoint.clone();
    let dir = tempfile::tempdir().unwrap();
    let (foreign, _) = foreign_ca(dir.path());

    // Native roots only (the default for https): the throw-away CA is not
    // among them, so certificate verification fails.
    let native = client(&scoped, &endpoint, None);
    let (code, text) = rpc_failure(&list_fails(&native).await);
    assert_eq!(code, gazette_tokio::tonic::Code::Unavailable, "{text}");
    assert!(text.contains("certificate"), "{text}");

    // Trusting a foreign CA fails the same way.
    let wrong = client(&scoped, &endpoint, Some(trusting(&foreign)));
    let (code, text) = rpc_failure(&list_fails(&wrong).await);
    assert_eq!(code, gazette_tokio::tonic::Code::Unavailable, "{text}");
    assert!(text.contains("certificate"), "{text}");

    // Plaintext h2c to the TLS port: the broker never speaks HTTP/2 without
    // a handshake, and the call fails rather than hangs.
    let plaintext = endpoint.replacen("https://", "http://", 1);
    let plain = client(&scoped, &plaintext, None);
    let err = list_fails(&plain).await;
    assert!(err.is_unavailable(), "a transport failure: {err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_accepts_the_cas_client_certificate_and_refuses_others() {
    let (scoped, tls) = start(1, "mutual");
    let endpoint = scoped.cluster().brokers[0].endpoint.clone();
    let (cert, key) = tls
        .client_identity
        .clone()
        .expect("mutual mode publishes a client certificate");
    let dir = tempfile::tempdir().unwrap();
    let (foreign_cert, foreign_key) = foreign_ca(dir.path());

    // Configured as gazctl would be, from its environment variables.
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let env = [
        ("BROKER_ADDRESS", endpoint.clone()),
        ("BROKER_TRUSTED_CA_FILE", path(&tls.ca)),
        ("BROKER_CERT_FILE", path(&cert)),
        ("BROKER_CERT_KEY_FILE", path(&key)),
    ];
    let accepted = ClientBuilder::from_lookup(|name| {
        env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
    })
    .unwrap()
    .fragment_file_root(&scoped.cluster().file_root)
    .connect_timeout(Duration::from_secs(5))
    .build()
    .unwrap();
    let journal = unique("mtls");
    create(
        &accepted,
        vec![spec(&journal, CompressionCodec::None, None)],
    )
    .await;
    let request = AppendRequest {
        journal: journal.clone(),
        ..Default::default()
    };
    gazette_tokio::append(&accepted, request, &[Bytes::from_static(b"mutual")])
        .await
        .unwrap();

    // No client certificate: the broker refuses the handshake.
    let anonymous = client(&scoped, &endpoint, Some(trusting(&tls.ca)));
    let (code, text) = rpc_failure(&list_fails(&anonymous).await);
    assert_eq!(code, gazette_tokio::tonic::Code::Unavailable, "{text}");

    // A certificate from a CA the broker does not trust is refused too.
    let rogue = client(
        &scoped,
        &endpoint,
        Some(trusting(&tls.ca).identity_pem(pem(&foreign_cert), pem(&foreign_key))),
    );
    let (code, text) = rpc_failure(&list_fails(&rogue).await);
    assert_eq!(code, gazette_tokio::tonic::Code::Unavailable, "{text}");
}

/// An HTTPS fragment store stand-in: `openssl s_server -WWW` serving the
/// files of `dir` with `cert`/`key`, requiring a client certificate of
/// `ca`. Killed on drop.
struct HttpsStore {
    child: std::process::Child,
    port: u16,
}

impl HttpsStore {
    fn start(dir: &Path, cert: &Path, key: &Path, ca: &Path) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new("openssl")
            .current_dir(dir)
            .args(["s_server", "-WWW", "-accept", "127.0.0.1:0"])
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .arg("-CAfile")
            .arg(ca)
            .args(["-Verify", "1"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl runs");
        // s_server prints `ACCEPT 127.0.0.1:<port>` once it listens (or
        // closes its output if it fails).
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let port = lines
            .by_ref()
            .take(20)
            .map_while(Result::ok)
            .find_map(|line| {
                line.strip_prefix("ACCEPT 127.0.0.1:")
                    .and_then(|port| port.trim().parse().ok())
            });
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("openssl s_server did not start");
        };
        std::thread::spawn(move || lines.for_each(drop));
        HttpsStore { child, port }
    }
}

impl Drop for HttpsStore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragment_fetches_trust_the_tls_config_ca_and_present_its_client_certificate() {
    let (scoped, tls) = start(1, "mutual");
    let endpoint = scoped.cluster().brokers[0].endpoint.clone();
    let (cert, key) = tls.client_identity.clone().unwrap();
    // The cluster's server certificate (127.0.0.1, signed by its CA) sits
    // next to the CA.
    let certs = tls.ca.parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fragment"), b"fragment body").unwrap();
    let store = HttpsStore::start(
        dir.path(),
        &certs.join("server.pem"),
        &certs.join("server.key"),
        &tls.ca,
    );
    let url = format!("https://127.0.0.1:{}/fragment", store.port);
    let get = |client: Client| {
        let url = url.clone();
        async move {
            let outcome =
                tokio::time::timeout(FAIL_WITHIN, client.fragments().get(&url, "identity")).await;
            outcome.expect("a fragment GET ends")
        }
    };

    let trusted = client(
        &scoped,
        &endpoint,
        Some(trusting(&tls.ca).identity_files(&cert, &key)),
    );
    let mut fetched = get(trusted).await.expect("the store's CA is trusted");
    assert_eq!(fetched.status, 200);
    let mut body = Vec::new();
    while let Some(chunk) = fetched.body.next_chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
    }
    assert_eq!(body, b"fragment body");

    // Without the CA the store's certificate is unknown; without the
    // client certificate the store refuses the connection.
    let untrusted = client(&scoped, &endpoint, None);
    assert!(get(untrusted).await.is_err(), "unknown CA accepted");
    let anonymous = client(&scoped, &endpoint, Some(trusting(&tls.ca)));
    let refused = match get(anonymous).await {
        Err(_) => true,
        Ok(mut response) => response.body.next_chunk().await.is_err(),
    };
    assert!(refused, "the store served a client without a certificate");
}
