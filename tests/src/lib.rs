//! Harness for integration tests against a live local Gazette cluster.
//!
//! The cluster is started outside the tests by `scripts/with-cluster.sh`
//! (or `scripts/cluster.sh start` and sourcing its env file), which exports
//! where everything is: `GAZETTE_BROKERS`, `GAZETTE_ZONES`,
//! `GAZETTE_BROKER_IDS`, `ETCD_ENDPOINT`, `GAZETTE_FILE_ROOT`,
//! `GAZETTE_FRAGMENT_STORE`, `GAZCTL` and, with auth enabled,
//! `GAZETTE_AUTH_KEYS`. [`Cluster::from_env`] reads them.
//!
//! Integration tests never skip silently: when the environment is missing or
//! a broker cannot be reached they fail with [`HarnessError`], whose message
//! says how to start a cluster.
//!
//! The helpers talk to brokers through the generated tonic
//! [`JournalClient`] only (no gazette-rs client code), so they can set up and
//! check state for tests of any driver:
//!
//! * [`Cluster::connect`] / [`Cluster::connect_all`]: clients per broker;
//! * [`unique_journal_name`], [`Cluster::journal_spec`]: fresh journals;
//! * [`Cluster::create_journal`]: apply a spec and wait for its assignment;
//! * [`list_snapshot`], [`append_raw`], [`read_raw`], [`list_fragments`]:
//!   one RPC each, with the raw message sequences of the protocol;
//! * [`Cluster::gazctl`]: a `gazctl` command aimed at the cluster;
//! * [`ScopedCluster`]: a private cluster for tests that disturb it (kill a
//!   broker), started and stopped by the test itself.

pub mod scoped;

pub use scoped::ScopedCluster;

pub mod scenarios;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gazette_proto::journal_client::JournalClient;
use gazette_proto::{
    AppendRequest, AppendResponse, ApplyRequest, CompressionCodec, Fragment, FragmentsRequest,
    JournalSpec, Label, LabelSelector, LabelSet, ListRequest, ListResponse, ReadRequest,
    ReadResponse, Status, apply_request, journal_spec, list_response,
};
use tonic::transport::{Channel, Endpoint};

/// A tonic Journal client over one HTTP/2 channel.
pub type Client = JournalClient<Channel>;

/// How to get a cluster, appended to every environment or connection error.
pub const HOW_TO_START: &str = "integration tests need a live Gazette cluster: run them with \
     `scripts/with-cluster.sh cargo test -p gazette-tests` (or `scripts/test.sh` for every \
     test), or start one with `scripts/cluster.sh start` and `source .cluster/env`";

/// Why the harness could not give a test what it asked for.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A required environment variable is unset or empty.
    #[error("environment variable {name} is not set; {HOW_TO_START}")]
    MissingEnv {
        /// The variable's name.
        name: &'static str,
    },
    /// An environment variable holds something unusable.
    #[error("environment variable {name}={value:?} is invalid: {reason}; {HOW_TO_START}")]
    InvalidEnv {
        /// The variable's name.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A broker endpoint did not accept a connection.
    #[error("cannot connect to broker {endpoint}: {source}; {HOW_TO_START}")]
    Connect {
        /// The endpoint dialed.
        endpoint: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// An RPC failed with a gRPC error.
    #[error("{rpc} RPC failed: {source}")]
    Rpc {
        /// The RPC's name.
        rpc: &'static str,
        /// The gRPC status.
        #[source]
        source: Box<tonic::Status>,
    },
    /// A broker answered with a non-OK `Status`.
    #[error("{rpc} returned status {status:?}")]
    Status {
        /// The RPC's name.
        rpc: &'static str,
        /// The broker's status.
        status: Status,
    },
    /// A broker answered with a status number this crate does not know.
    #[error("{rpc} returned unknown status {status}")]
    UnknownStatus {
        /// The RPC's name.
        rpc: &'static str,
        /// The raw status number.
        status: i32,
    },
    /// A cluster script failed.
    #[error("{what} failed: {stderr}")]
    Script {
        /// What was attempted.
        what: String,
        /// The script's error output.
        stderr: String,
    },
    /// A condition did not become true in time.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
    },
}

/// One broker of the cluster, as published by `scripts/cluster.sh`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// gRPC endpoint, e.g. `http://127.0.0.1:24001`.
    pub endpoint: String,
    /// `--broker.zone` of the broker.
    pub zone: String,
    /// `--broker.id` (the process ID suffix) of the broker.
    pub id: String,
}

/// The local cluster the tests run against.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The brokers, in the order of `GAZETTE_BROKERS`.
    pub brokers: Vec<Broker>,
    /// Etcd client URL.
    pub etcd_endpoint: String,
    /// `--broker.file-root` of the first broker (all of them when the
    /// cluster shares one file root, the default).
    pub file_root: PathBuf,
    /// A `file:///` fragment store URL whose directory exists on every broker.
    pub fragment_store: String,
    /// Path of the `gazctl` binary matching the brokers.
    pub gazctl: PathBuf,
    /// `--broker.auth-keys` of the brokers, if auth is enabled.
    pub auth_keys: Option<String>,
    /// TLS material of a cluster started with `GAZETTE_TLS`, if any.
    pub tls: Option<ClusterTls>,
}

/// Certificates of a cluster whose brokers serve TLS (`GAZETTE_TLS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTls {
    /// PEM file of the CA that signed the brokers' certificates.
    pub ca: PathBuf,
    /// PEM certificate and key of a client the brokers accept, when they
    /// require client certificates (`GAZETTE_TLS=mutual`).
    pub client_identity: Option<(PathBuf, PathBuf)>,
}

/// Where cluster variables are looked up: the process environment, or the
/// env file of a cluster started by [`ScopedCluster`].
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn var(lookup: Lookup<'_>, name: &'static str) -> Result<String, HarnessError> {
    match lookup(name) {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => Err(HarnessError::MissingEnv { name }),
    }
}

fn var_list(lookup: Lookup<'_>, name: &'static str) -> Result<Vec<String>, HarnessError> {
    Ok(var(lookup, name)?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

impl Cluster {
    /// Reads the cluster's description from the environment.
    pub fn from_env() -> Result<Self, HarnessError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: Lookup<'_>) -> Result<Self, HarnessError> {
        let endpoints = var_list(lookup, "GAZETTE_BROKERS")?;
        let zones = var_list(lookup, "GAZETTE_ZONES")?;
        let ids = var_list(lookup, "GAZETTE_BROKER_IDS")?;
        if zones.len() != endpoints.len() || ids.len() != endpoints.len() {
            return Err(HarnessError::InvalidEnv {
                name: "GAZETTE_ZONES",
                value: zones.join(","),
                reason: format!(
                    "{} zones and {} IDs for {} brokers",
                    zones.len(),
                    ids.len(),
                    endpoints.len()
                ),
            });
        }
        if let Some(bad) = endpoints.iter().find(|e| !e.starts_with("http")) {
            return Err(HarnessError::InvalidEnv {
                name: "GAZETTE_BROKERS",
                value: bad.clone(),
                reason: "not an http(s) URL".into(),
            });
        }
        let brokers = endpoints
            .into_iter()
            .zip(zones)
            .zip(ids)
            .map(|((endpoint, zone), id)| Broker { endpoint, zone, id })
            .collect();
        Ok(Self {
            brokers,
            etcd_endpoint: var(lookup, "ETCD_ENDPOINT")?,
            file_root: var(lookup, "GAZETTE_FILE_ROOT")?.into(),
            fragment_store: var(lookup, "GAZETTE_FRAGMENT_STORE")?,
            gazctl: var(lookup, "GAZCTL")?.into(),
            auth_keys: var(lookup, "GAZETTE_AUTH_KEYS").ok(),
            tls: var(lookup, "GAZETTE_TLS_CA").ok().map(|ca| ClusterTls {
                ca: ca.into(),
                client_identity: var(lookup, "GAZETTE_TLS_CLIENT_CERT")
                    .ok()
                    .zip(var(lookup, "GAZETTE_TLS_CLIENT_KEY").ok())
                    .map(|(cert, key)| (cert.into(), key.into())),
            }),
        })
    }

    /// An empty description, for a [`ScopedCluster`] still being set up.
    fn placeholder() -> Self {
        Self {
            brokers: Vec::new(),
            etcd_endpoint: String::new(),
            file_root: PathBuf::new(),
            fragment_store: String::new(),
            gazctl: PathBuf::new(),
            auth_keys: None,
            tls: None,
        }
    }

    /// [`Cluster::from_env`], panicking with instructions when it fails.
    #[track_caller]
    pub fn require() -> Self {
        Self::from_env().unwrap_or_else(|err| panic!("{err}"))
    }

    /// Connects to broker `index` (in `GAZETTE_BROKERS` order).
    pub async fn connect(&self, index: usize) -> Result<Client, HarnessError> {
        let broker = self
            .brokers
            .get(index)
            .ok_or_else(|| HarnessError::InvalidEnv {
                name: "GAZETTE_BROKERS",
                value: self.endpoints().join(","),
                reason: format!(
                    "a test needs broker #{index}, the cluster has {}",
                    self.brokers.len()
                ),
            })?;
        connect(&broker.endpoint).await
    }

    /// Every broker endpoint, in order.
    pub fn endpoints(&self) -> Vec<String> {
        self.brokers.iter().map(|b| b.endpoint.clone()).collect()
    }

    /// Connects to every broker, in order.
    pub async fn connect_all(&self) -> Result<Vec<Client>, HarnessError> {
        let mut clients = Vec::with_capacity(self.brokers.len());
        for broker in &self.brokers {
            clients.push(connect(&broker.endpoint).await?);
        }
        Ok(clients)
    }

    /// Index of the broker with this endpoint.
    pub fn broker_index(&self, endpoint: &str) -> Option<usize> {
        self.brokers.iter().position(|b| b.endpoint == endpoint)
    }

    /// A complete, valid spec for a fresh test journal: the cluster's file
    /// store, the given codec, 1 MiB fragments, 1 s refresh, a one-minute
    /// flush interval (the broker's minimum) and a `content-type` label.
    pub fn journal_spec(
        &self,
        name: &str,
        replication: i32,
        codec: CompressionCodec,
    ) -> JournalSpec {
        JournalSpec {
            name: name.to_owned(),
            replication,
            labels: Some(LabelSet {
                labels: vec![Label {
                    name: "content-type".into(),
                    value: "application/octet-stream".into(),
                    prefix: false,
                }],
            }),
            fragment: Some(journal_spec::Fragment {
                length: 1 << 20,
                compression_codec: codec as i32,
                stores: vec![self.fragment_store.clone()],
                refresh_interval: Some(prost_types::Duration {
                    seconds: 1,
                    nanos: 0,
                }),
                retention: None,
                flush_interval: Some(prost_types::Duration {
                    seconds: 60,
                    nanos: 0,
                }),
                path_postfix_template: String::new(),
            }),
            flags: 0,
            max_append_rate: 0,
            suspend: None,
        }
    }

    /// Applies `spec` (which must not exist yet) through `client`, then
    /// waits until the journal is assigned to `spec.replication` brokers with
    /// a primary, and returns its listing.
    pub async fn create_journal(
        &self,
        client: &mut Client,
        spec: JournalSpec,
    ) -> Result<list_response::Journal, HarnessError> {
        let name = spec.name.clone();
        let replication = spec.replication;
        apply(client, spec, 0).await?;
        wait_for_assignment(client, &name, replication, Duration::from_secs(30)).await
    }

    /// A `gazctl` command aimed at broker `index`, with auth keys and TLS
    /// certificates if enabled.
    pub fn gazctl(&self, index: usize) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.gazctl);
        cmd.env("BROKER_ADDRESS", &self.brokers[index].endpoint)
            .env("LOG_LEVEL", "warn");
        match &self.auth_keys {
            Some(keys) => cmd.env("BROKER_AUTH_KEYS", keys),
            None => cmd.env_remove("BROKER_AUTH_KEYS"),
        };
        cmd.env_remove("BROKER_TRUSTED_CA_FILE")
            .env_remove("BROKER_CERT_FILE")
            .env_remove("BROKER_CERT_KEY_FILE");
        if let Some(tls) = &self.tls {
            cmd.env("BROKER_TRUSTED_CA_FILE", &tls.ca);
            if let Some((cert, key)) = &tls.client_identity {
                cmd.env("BROKER_CERT_FILE", cert)
                    .env("BROKER_CERT_KEY_FILE", key);
            }
        }
        cmd
    }
}

/// Connects a client to one endpoint; fails fast if nothing listens there.
pub async fn connect(endpoint: &str) -> Result<Client, HarnessError> {
    let channel = Endpoint::from_shared(endpoint.to_owned())
        .map_err(|source| HarnessError::Connect {
            endpoint: endpoint.to_owned(),
            source,
        })?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|source| HarnessError::Connect {
            endpoint: endpoint.to_owned(),
            source,
        })?;
    Ok(JournalClient::new(channel))
}

/// A journal name unique to this process and call:
/// `<prefix>/<pid>-<unix nanos>-<counter>`.
pub fn unique_journal_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}/{}-{nanos}-{n}", std::process::id())
}

/// A selector matching exactly the journal `name`.
pub fn name_selector(name: &str) -> LabelSelector {
    LabelSelector {
        include: Some(LabelSet {
            labels: vec![Label {
                name: "name".into(),
                value: name.to_owned(),
                prefix: false,
            }],
        }),
        exclude: None,
    }
}

fn rpc_error(rpc: &'static str) -> impl FnOnce(tonic::Status) -> HarnessError {
    move |source| HarnessError::Rpc {
        rpc,
        source: Box::new(source),
    }
}

fn check_status(rpc: &'static str, status: i32) -> Result<(), HarnessError> {
    match Status::try_from(status) {
        Ok(Status::Ok) => Ok(()),
        Ok(status) => Err(HarnessError::Status { rpc, status }),
        Err(_) => Err(HarnessError::UnknownStatus { rpc, status }),
    }
}

/// Applies one upsert with `expect_mod_revision` (0: must not exist yet;
/// -1: any) and returns the Etcd revision of the transaction.
pub async fn apply(
    client: &mut Client,
    spec: JournalSpec,
    expect_mod_revision: i64,
) -> Result<i64, HarnessError> {
    let resp = client
        .apply(ApplyRequest {
            changes: vec![apply_request::Change {
                expect_mod_revision,
                upsert: Some(spec),
                delete: String::new(),
            }],
        })
        .await
        .map_err(rpc_error("Apply"))?
        .into_inner();
    check_status("Apply", resp.status)?;
    Ok(resp.header.and_then(|h| h.etcd).map_or(0, |e| e.revision))
}

/// Runs one non-watching List and returns every message of the snapshot.
pub async fn list_snapshot(
    client: &mut Client,
    selector: LabelSelector,
) -> Result<Vec<ListResponse>, HarnessError> {
    let mut stream = client
        .list(ListRequest {
            selector: Some(selector),
            watch: false,
            watch_resume: None,
        })
        .await
        .map_err(rpc_error("List"))?
        .into_inner();
    let mut messages = Vec::new();
    while let Some(msg) = stream.message().await.map_err(rpc_error("List"))? {
        messages.push(msg);
    }
    Ok(messages)
}

/// The journals of a List snapshot, in order.
pub fn snapshot_journals(snapshot: &[ListResponse]) -> Vec<list_response::Journal> {
    snapshot
        .iter()
        .flat_map(|m| m.journals.iter().cloned())
        .collect()
}

/// Polls List until journal `name` has `replication` route members and a
/// primary, all with endpoints, then returns its listing.
pub async fn wait_for_assignment(
    client: &mut Client,
    name: &str,
    replication: i32,
    timeout: Duration,
) -> Result<list_response::Journal, HarnessError> {
    let start = Instant::now();
    loop {
        let snapshot = list_snapshot(client, name_selector(name)).await?;
        check_status("List", snapshot.first().map_or(0, |m| m.status))?;
        if let Some(journal) = snapshot_journals(&snapshot)
            .into_iter()
            .find(|j| j.spec.as_ref().is_some_and(|s| s.name == name))
        {
            let assigned = journal.route.as_ref().is_some_and(|r| {
                r.members.len() == replication as usize
                    && r.primary >= 0
                    && r.endpoints.len() == r.members.len()
                    && r.endpoints.iter().all(|e| !e.is_empty())
            });
            if assigned {
                return Ok(journal);
            }
        }
        if start.elapsed() > timeout {
            return Err(HarnessError::Timeout {
                what: format!("journal {name} to be assigned to {replication} brokers"),
                waited: start.elapsed(),
            });
        }
        // The allocator assigns asynchronously; routes are not watchable
        // (List watches ignore route-only changes), so poll.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Appends `chunks` to `journal` with the raw message sequence: an opening
/// message naming the journal, one message per non-empty chunk, an empty
/// commit marker, then end of stream. Returns the broker's response (also
/// when its status is not OK).
pub async fn append_raw(
    client: &mut Client,
    journal: &str,
    chunks: Vec<Bytes>,
) -> Result<AppendResponse, HarnessError> {
    let mut messages = Vec::with_capacity(chunks.len() + 2);
    messages.push(AppendRequest {
        journal: journal.to_owned(),
        ..Default::default()
    });
    messages.extend(
        chunks
            .into_iter()
            .filter(|c| !c.is_empty())
            .map(|content| AppendRequest {
                content,
                ..Default::default()
            }),
    );
    messages.push(AppendRequest::default());
    Ok(client
        .append(futures::stream::iter(messages))
        .await
        .map_err(rpc_error("Append"))?
        .into_inner())
}

/// Everything one Read stream returned.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    /// Every message, in order.
    pub messages: Vec<ReadResponse>,
    /// The content of all content messages, concatenated.
    pub content: Vec<u8>,
}

impl ReadOutcome {
    /// Metadata messages (those that are not pure content).
    pub fn metadata(&self) -> impl Iterator<Item = &ReadResponse> {
        self.messages.iter().filter(|m| m.content.is_empty())
    }

    /// Status of the last message, if any.
    pub fn final_status(&self) -> Option<i32> {
        self.messages.last().map(|m| m.status)
    }

    /// Fragments announced by metadata messages.
    pub fn fragments(&self) -> Vec<Fragment> {
        self.metadata().filter_map(|m| m.fragment.clone()).collect()
    }
}

/// Issues one Read and collects the whole stream until the broker closes it.
pub async fn read_raw(
    client: &mut Client,
    request: ReadRequest,
) -> Result<ReadOutcome, HarnessError> {
    let mut stream = client
        .read(request)
        .await
        .map_err(rpc_error("Read"))?
        .into_inner();
    let mut outcome = ReadOutcome::default();
    while let Some(msg) = stream.message().await.map_err(rpc_error("Read"))? {
        outcome.content.extend_from_slice(&msg.content);
        outcome.messages.push(msg);
    }
    Ok(outcome)
}

/// A non-blocking read of `[offset, end_offset)` of `journal`.
pub fn read_request(journal: &str, offset: i64, end_offset: i64) -> ReadRequest {
    ReadRequest {
        journal: journal.to_owned(),
        offset,
        end_offset,
        block: false,
        ..Default::default()
    }
}

/// Lists every fragment of `journal`, following `next_page_token`.
pub async fn list_fragments(
    client: &mut Client,
    journal: &str,
) -> Result<Vec<Fragment>, HarnessError> {
    let mut fragments = Vec::new();
    let mut token = 0;
    loop {
        let resp = client
            .list_fragments(FragmentsRequest {
                journal: journal.to_owned(),
                next_page_token: token,
                ..Default::default()
            })
            .await
            .map_err(rpc_error("ListFragments"))?
            .into_inner();
        check_status("ListFragments", resp.status)?;
        fragments.extend(resp.fragments.into_iter().filter_map(|f| f.spec));
        if resp.next_page_token == 0 {
            return Ok(fragments);
        }
        token = resp.next_page_token;
    }
}
