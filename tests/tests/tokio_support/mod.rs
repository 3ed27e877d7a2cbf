//! Shared helpers of the gazette-tokio live-cluster tests.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gazette_proto::{
    ApplyRequest, CompressionCodec, JournalSpec, Label, LabelSet, apply_request, journal_spec,
};
use gazette_tokio::Client;

/// The first broker of the running cluster (`GAZETTE_BROKER`, written by
/// `scripts/cluster.sh`).
pub fn broker() -> String {
    std::env::var("GAZETTE_BROKER")
        .or_else(|_| std::env::var("BROKER_ADDRESS"))
        .expect("GAZETTE_BROKER is not set: run under scripts/with-cluster.sh")
}

/// Every broker of the running cluster.
pub fn brokers() -> Vec<String> {
    std::env::var("GAZETTE_BROKERS")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_else(|_| vec![broker()])
}

/// The shared fragment file root of the cluster's brokers.
pub fn file_root() -> String {
    std::env::var("GAZETTE_FILE_ROOT").expect("GAZETTE_FILE_ROOT is not set")
}

/// gazctl of the cluster.
pub fn gazctl() -> String {
    std::env::var("GAZCTL").unwrap_or_else(|_| {
        format!(
            "{}/.cache/gazette-rs/bin/gazctl",
            std::env::var("HOME").unwrap()
        )
    })
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
