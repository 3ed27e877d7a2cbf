//! The blocking HTTP/2 transport (`gazette_blocking::h2`) against a live
//! Gazette broker: create a journal (Apply), Append to it through one
//! broker, Read the same bytes back and List it, every message encoded
//! with prost and carried by our own HTTP/2 machine.
//!
//! Run with `scripts/with-cluster.sh cargo test -p gazette-blocking --test h2_live`.
//! Without a cluster every test fails, saying how to start one (as the
//! live tests of gazette-tests do). The cluster must run without auth;
//! it may serve TLS (`GAZETTE_TLS=server` or `mutual`), which is then used
//! with the cluster's CA and client certificate.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gazette_blocking::h2::transport::{CallError, Channel, ConnectOptions};
use gazette_proto::*;
use prost::Message;

const APPLY: &str = "/protocol.Journal/Apply";
const APPEND: &str = "/protocol.Journal/Append";
const READ: &str = "/protocol.Journal/Read";
const LIST: &str = "/protocol.Journal/List";

struct Env {
    brokers: Vec<String>,
    fragment_store: String,
    options: fn() -> ConnectOptions,
}

/// Connect options for the cluster: TLS with its CA (and its client
/// identity, for mutual TLS) when it serves TLS.
fn options() -> ConnectOptions {
    let Ok(ca) = std::env::var("GAZETTE_TLS_CA") else {
        return ConnectOptions::default();
    };
    #[cfg(feature = "tls")]
    {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use std::sync::Arc;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match (
            std::env::var("GAZETTE_TLS_CLIENT_CERT"),
            std::env::var("GAZETTE_TLS_CLIENT_KEY"),
        ) {
            (Ok(cert), Ok(key)) => {
                let chain = CertificateDer::pem_file_iter(&cert)
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let key = PrivateKeyDer::from_pem_file(&key).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            _ => builder.with_no_client_auth(),
        };
        ConnectOptions {
            tls: Some(Arc::new(config)),
            ..ConnectOptions::default()
        }
    }
    #[cfg(not(feature = "tls"))]
    panic!("the cluster serves TLS ({ca}); build with the `tls` feature")
}

fn env() -> Env {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!(
                "{name} is not set: this test needs a live cluster; run it as \
                 `scripts/with-cluster.sh cargo test -p gazette-blocking --test h2_live`"
            )
        })
    };
    let brokers: Vec<String> = var("GAZETTE_BROKERS")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    assert!(
        std::env::var("GAZETTE_AUTH_KEYS").is_err(),
        "h2_live sends no authorization tokens; start the cluster without GAZETTE_AUTH_KEYS"
    );
    Env {
        brokers,
        fragment_store: var("GAZETTE_FRAGMENT_STORE"),
        options,
    }
}

fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{prefix}/{}-{nanos}", std::process::id())
}

fn spec(name: &str, store: &str) -> JournalSpec {
    JournalSpec {
        name: name.to_string(),
        replication: 1,
        labels: Some(LabelSet {
            labels: vec![Label {
                name: "content-type".into(),
                value: "application/octet-stream".into(),
                prefix: false,
            }],
        }),
        fragment: Some(journal_spec::Fragment {
            length: 1 << 20,
            compression_codec: CompressionCodec::None as i32,
            stores: vec![store.to_string()],
            refresh_interval: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            flush_interval: Some(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn selector(name: &str) -> LabelSelector {
    LabelSelector {
        include: Some(LabelSet {
            labels: vec![Label {
                name: "name".into(),
                value: name.into(),
                prefix: false,
            }],
        }),
        exclude: None,
    }
}

fn encode(m: &impl Message) -> Bytes {
    m.encode_to_vec().into()
}

const TIMEOUT: Option<Duration> = Some(Duration::from_secs(30));

fn list(channel: &Channel, name: &str) -> ListResponse {
    let mut call = channel.call(LIST, &[], TIMEOUT).unwrap();
    let request = ListRequest {
        selector: Some(selector(name)),
        ..Default::default()
    };
    call.send(encode(&request)).unwrap();
    call.close_send().unwrap();
    let first = ListResponse::decode(call.recv().unwrap().expect("a snapshot")).unwrap();
    while call.recv().unwrap().is_some() {}
    first
}

/// One Append of `chunks`, or the broker's non-OK status.
fn append(channel: &Channel, name: &str, chunks: &[Bytes]) -> AppendResponse {
    let mut call = channel.call(APPEND, &[], TIMEOUT).unwrap();
    call.send(encode(&AppendRequest::new(name))).unwrap();
    for chunk in chunks {
        let request = AppendRequest {
            content: chunk.clone(),
            ..Default::default()
        };
        match call.send(encode(&request)) {
            Ok(()) => {}
            // The broker answered early (e.g. no primary yet).
            Err(CallError::Send(_)) => break,
            Err(e) => panic!("append: {e}"),
        }
    }
    let _ = call.send(encode(&AppendRequest::default()));
    let _ = call.close_send();
    let response = AppendResponse::decode(call.recv().unwrap().expect("an answer")).unwrap();
    assert_eq!(call.recv().unwrap(), None);
    response
}

#[test]
fn append_read_and_list_over_our_own_http2() {
    let env = env();
    let channel = Channel::connect(&env.brokers[0], (env.options)())
        .unwrap_or_else(|e| panic!("connect {}: {e}", env.brokers[0]));
    let name = unique_name("h2-live");

    let apply = ApplyRequest::upsert_all([spec(&name, &env.fragment_store)]);
    let response =
        ApplyResponse::decode(channel.unary(APPLY, &[], encode(&apply), TIMEOUT).unwrap()).unwrap();
    assert_eq!(response.status(), Status::Ok);

    // 3 MiB in 64 KiB chunks: more than a stream window each way.
    let chunks: Vec<Bytes> = (0..48)
        .map(|c| {
            (0..64 << 10)
                .map(|i| ((c * 7 + i) % 253) as u8)
                .collect::<Vec<u8>>()
                .into()
        })
        .collect();
    let content: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();

    // Until the journal is assigned a primary, appends are refused.
    let give_up = Instant::now() + Duration::from_secs(30);
    let commit = loop {
        let response = append(&channel, &name, &chunks);
        if response.status() == Status::Ok {
            break response.commit.expect("a committed fragment");
        }
        assert!(
            Instant::now() < give_up,
            "append still answered {:?}",
            response.status()
        );
        std::thread::sleep(Duration::from_millis(200)); // polling the broker's assignment
    };
    assert_eq!(commit.end - commit.begin, content.len() as i64);

    let mut call = channel.call(READ, &[], TIMEOUT).unwrap();
    let read = ReadRequest {
        journal: name.clone(),
        offset: commit.begin,
        end_offset: commit.end,
        block: true,
        ..Default::default()
    };
    call.send(encode(&read)).unwrap();
    call.close_send().unwrap();
    let mut got = Vec::new();
    while let Some(message) = call.recv().unwrap() {
        let response = ReadResponse::decode(message).unwrap();
        assert_eq!(response.status(), Status::Ok, "{response:?}");
        got.extend_from_slice(&response.content);
        if got.len() as i64 >= commit.end - commit.begin {
            break;
        }
    }
    drop(call);
    assert!(
        got == content,
        "read {} bytes back, not what was appended",
        got.len()
    );

    let listed = list(&channel, &name);
    assert_eq!(listed.status(), Status::Ok);
    let names: Vec<&str> = listed
        .journals
        .iter()
        .filter_map(|j| j.spec.as_ref().map(|s| s.name.as_str()))
        .collect();
    assert_eq!(names, [name.as_str()]);
    assert!(channel.is_open());
}

#[test]
fn broker_statuses_and_many_calls_on_one_connection() {
    let env = env();
    let channel = Channel::connect(&env.brokers[0], (env.options)()).unwrap();
    // A journal that does not exist: Gazette answers in-band.
    let mut call = channel.call(READ, &[], TIMEOUT).unwrap();
    let read = ReadRequest {
        journal: unique_name("h2-live/missing"),
        ..Default::default()
    };
    call.send(encode(&read)).unwrap();
    call.close_send().unwrap();
    let response = ReadResponse::decode(call.recv().unwrap().unwrap()).unwrap();
    assert_eq!(response.status(), Status::JournalNotFound);
    assert_eq!(call.recv().unwrap(), None);

    // A malformed request: a gRPC status with a message.
    let err = channel
        .unary(APPLY, &[], Bytes::from_static(b"\xff\xff\xff"), TIMEOUT)
        .unwrap_err();
    let CallError::Status(status) = err else {
        panic!("{err:?}")
    };
    assert_ne!(status.code, 0);
    assert!(!status.message.is_empty());

    std::thread::scope(|scope| {
        for _ in 0..8 {
            let channel = channel.clone();
            scope.spawn(move || {
                for _ in 0..5 {
                    let listed = list(&channel, "h2-live/none");
                    assert_eq!(listed.status(), Status::Ok);
                }
            });
        }
    });
    assert!(channel.is_open());
}
