//! Demo against a live cluster: apply a journal, append to it, read it back
//! and list journals, with the generated tonic `JournalClient`.
//!
//! Run with `scripts/demo.sh` (starts and stops a local 3-broker cluster), or
//! inside an existing cluster environment:
//! `cargo run -p gazette-tests --example demo`.

use bytes::Bytes;
use gazette_proto::{CompressionCodec, LabelSelector, Status};
use gazette_tests::{
    Cluster, HarnessError, append_raw, list_snapshot, read_raw, read_request, snapshot_journals,
    unique_journal_name,
};

#[tokio::main]
async fn main() -> Result<(), HarnessError> {
    let cluster = Cluster::from_env()?;
    println!("cluster brokers: {}", cluster.endpoints().join(", "));
    let mut client = cluster.connect(0).await?;

    // 1. Apply a journal replicated to 3 brokers and wait for its assignment.
    let name = unique_journal_name("demo");
    let spec = cluster.journal_spec(&name, 3, CompressionCodec::Snappy);
    let journal = cluster.create_journal(&mut client, spec).await?;
    let route = journal.route.unwrap_or_default();
    let primary = route.endpoints[route.primary as usize].clone();
    println!(
        "applied {name}: primary {primary}, replicas {:?}",
        route.endpoints
    );

    // 2. Append two records (sent to the primary directly).
    let mut primary_client = gazette_tests::connect(&primary).await?;
    let records = vec![
        Bytes::from_static(b"{\"greeting\":\"hello\"}\n"),
        Bytes::from_static(b"{\"greeting\":\"gazette\"}\n"),
    ];
    let appended = append_raw(&mut primary_client, &name, records).await?;
    if appended.status() != Status::Ok {
        return Err(HarnessError::Status {
            rpc: "Append",
            status: appended.status(),
        });
    }
    let commit = appended.commit.unwrap_or_default();
    println!("appended [{}, {})", commit.begin, commit.end);

    // 3. Read it back from another broker.
    let mut reader = cluster.connect(cluster.brokers.len() - 1).await?;
    let outcome = read_raw(&mut reader, read_request(&name, 0, commit.end)).await?;
    print!("read back:\n{}", String::from_utf8_lossy(&outcome.content));

    // 4. List every journal of the cluster.
    let snapshot = list_snapshot(&mut client, LabelSelector::default()).await?;
    let status = snapshot.first().map(|m| m.status()).unwrap_or(Status::Ok);
    println!("list status {status:?}; journals:");
    for journal in snapshot_journals(&snapshot) {
        let spec = journal.spec.unwrap_or_default();
        let route = journal.route.unwrap_or_default();
        let primary = usize::try_from(route.primary)
            .ok()
            .and_then(|p| route.members.get(p))
            .map(|m| m.suffix.clone())
            .unwrap_or_else(|| "-".into());
        println!(
            "  {} (replication {}, primary {primary})",
            spec.name, spec.replication
        );
    }
    Ok(())
}
