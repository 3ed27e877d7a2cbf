//! Shared helpers of the gazette-tokio live-cluster tests.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gazette_proto::{
    ApplyRequest, CompressionCodec, JournalSpec, Label, LabelSet, apply_request, journal_spec,
};
use gazette_tokio::Client;

/// The running cluster, described by the environment `scripts/with-cluster.sh`
/// exports (the shared harness fails with instructions when it is missing).
pub fn cluster() -> gazette_tests::Cluster {
    gazette_tests::Cluster::require()
}

/// The first broker of the running cluster.
pub fn broker() -> String {
    cluster().brokers[0].endpoint.clone()
}

/// The shared fragment file root of the cluster's brokers.
pub fn file_root() -> std::path::PathBuf {
    cluster().file_root
}

/// gazctl of the cluster.
pub fn gazctl() -> std::path::PathBuf {
    cluster().gazctl
}

/// A client of the cluster's first broker.
pub fn client() -> Client {
    Client::builder(broker())
        .fragment_file_root(file_root())
        .build()
        .unwrap()
}

/// A journal name unique to this test run.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("tokio-tests/{prefix}/{nanos:x}")
}

/// A journal spec with `codec`, a file store and the given flush interval.
pub fn spec(name: &str, codec: CompressionCodec, flush: Option<Duration>) -> JournalSpec {
    JournalSpec {
        name: name.into(),
        replication: 1,
        labels: Some(LabelSet {
            labels: vec![
                Label {
                    name: "app.gazette.dev/test".into(),
                    value: "tokio".into(),
                    prefix: false,
                },
                Label {
                    name: "content-type".into(),
                    value: "application/octet-stream".into(),
                    prefix: false,
                },
            ],
        }),
        fragment: Some(journal_spec::Fragment {
            length: 1 << 20,
            compression_codec: codec as i32,
            stores: vec!["file:///fragments/".into()],
            refresh_interval: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            retention: None,
            flush_interval: flush.map(|d| prost_types::Duration {
                seconds: d.as_secs() as i64,
                nanos: 0,
            }),
            path_postfix_template: String::new(),
        }),
        flags: 0,
        max_append_rate: 0,
        suspend: None,
    }
}

/// Creates journals from `specs` and waits (on a WatchedList, not a
/// sleep) until each has a primary broker.
pub async fn create(client: &Client, specs: Vec<JournalSpec>) {
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let changes = specs
        .into_iter()
        .map(|spec| apply_request::Change {
            expect_mod_revision: 0,
            upsert: Some(spec),
            delete: String::new(),
        })
        .collect();
    gazette_tokio::apply(client, ApplyRequest { changes })
        .await
        .unwrap();
    wait_for_primaries(client, &names).await;
}

/// Waits until every journal of `names` has a primary broker. Brokers do
/// not push assignment changes to List watches (only spec changes), so this
/// polls List, bounded in time.
pub async fn wait_for_primaries(client: &Client, names: &[String]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let snapshot = gazette_tokio::list_all_journals(client, Default::default())
            .await
            .unwrap();
        let ready = names.iter().all(|name| {
            snapshot.journals.iter().any(|j| {
                j.spec.as_ref().is_some_and(|s| &s.name == name)
                    && j.route.as_ref().is_some_and(|r| r.primary >= 0)
            })
        });
        if ready {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "journals {names:?} got no primary"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs gazctl with `args` and `stdin`, returning stdout; panics on failure.
pub async fn run_gazctl(args: &[&str], stdin: &[u8]) -> Vec<u8> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(gazctl())
        .args(args)
        .args(["--broker.address", &broker()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gazctl runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("gazctl finishes in time")
        .unwrap();
    assert!(
        out.status.success(),
        "gazctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Waits until every journal of `names` has `members` route members and a
/// primary (polling List, bounded in time: assignments are not pushed).
pub async fn wait_for_members(client: &Client, names: &[String], members: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let snapshot = gazette_tokio::list_all_journals(client, Default::default()).await;
        let ready = snapshot.is_ok_and(|snapshot| {
            names.iter().all(|name| {
                snapshot.journals.iter().any(|j| {
                    j.spec.as_ref().is_some_and(|s| &s.name == name)
                        && j.route
                            .as_ref()
                            .is_some_and(|r| r.primary >= 0 && r.members.len() == members)
                })
            })
        });
        if ready {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "journals {names:?} did not get {members} members"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A cluster of brokers this test starts itself, on the shared etcd under
/// its own prefix and file root, so it can kill and restart them (or give
/// them auth keys) without disturbing other tests.
pub struct PrivateCluster {
    pub endpoints: Vec<String>,
    pub file_root: tempfile::TempDir,
    args: Vec<Vec<String>>,
    children: Vec<Option<tokio::process::Child>>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivateCluster {
    /// Starts `size` brokers; `auth_keys` is passed as `--broker.auth-keys`.
    pub async fn start(size: usize, auth_keys: Option<&str>) -> Self {
        let etcd = cluster().etcd_endpoint;
        let prefix = format!(
            "/gazette-tokio-tests/{}",
            unique("cluster").replace('/', "-")
        );
        let file_root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(file_root.path().join("fragments")).unwrap();
        let mut cluster = PrivateCluster {
            endpoints: Vec::new(),
            file_root,
            args: Vec::new(),
            children: Vec::new(),
        };
        for i in 0..size {
            let port = free_port();
            let mut args: Vec<String> = [
                "serve",
                "--broker.zone",
                &format!("zone-{i}"),
                "--broker.id",
                &format!("broker-{i}"),
                "--broker.host",
                "127.0.0.1",
                "--broker.port",
                &port.to_string(),
                "--broker.file-root",
                cluster.file_root.path().to_str().unwrap(),
                "--etcd.address",
                &etcd,
                "--etcd.prefix",
                &prefix,
                "--etcd.lease",
                "3s",
                "--log.level",
                "warn",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            if let Some(keys) = auth_keys {
                args.extend(["--broker.auth-keys".to_string(), keys.to_string()]);
            }
            cluster.endpoints.push(format!("http://127.0.0.1:{port}"));
            cluster.args.push(args);
            cluster.children.push(None);
            cluster.spawn(i);
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let bin = std::env::var("GAZETTE_BIN_DIR")
            .map(|d| format!("{d}/gazette"))
            .unwrap_or_else(|_| {
                format!(
                    "{}/.cache/gazette-rs/bin/gazette",
                    std::env::var("HOME").unwrap()
                )
            });
        let child = tokio::process::Command::new(bin)
            .args(&self.args[i])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(self.log(i))
            .kill_on_drop(true)
            .spawn()
            .expect("gazette starts");
        self.children[i] = Some(child);
    }

    /// Broker `i`'s log file (appended to across restarts), under the
    /// cluster's file root.
    fn log(&self, i: usize) -> std::fs::File {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.file_root.path().join(format!("broker-{i}.log")))
            .unwrap()
    }

    /// A client of broker `i` with the cluster's file root and `auth`.
    pub fn client(&self, i: usize, auth: gazette_tokio::Auth) -> Client {
        Client::builder(&self.endpoints[i])
            .fragment_file_root(self.file_root.path())
            .auth(auth)
            .build()
            .unwrap()
    }

    /// Kills broker `i` (SIGKILL) and waits for it to exit.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            child.kill().await.unwrap();
        }
    }

    /// Freezes broker `i` (SIGSTOP): its process stops, its connections
    /// stay open, and nothing it holds is answered until [`Self::thaw`].
    pub fn freeze(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// Resumes broker `i` after [`Self::freeze`] (SIGCONT).
    pub fn thaw(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, signal: &str) {
        let pid = self.children[i]
            .as_ref()
            .and_then(tokio::process::Child::id)
            .expect("broker is running");
        let status = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Starts broker `i` again with its original arguments.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
    }

    /// Waits until broker `i` answers List (with `auth`), bounded in time.
    pub async fn wait_ready(&self, i: usize, auth: gazette_tokio::Auth) {
        let client = self.client(i, auth);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while gazette_tokio::list_all_journals(&client, Default::default())
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "broker {i} did not come up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
