//! A tour of the client against a running cluster: creates a journal,
//! appends to it three ways, reads everything back and lists it.
//!
//! ```text
//! BROKER_ADDRESS=http://localhost:8080 cargo run -p gazette-tokio --example demo
//! ```

use bytes::Bytes;
use gazette_tokio::proto::{
    AppendRequest, ApplyRequest, CompressionCodec, JournalSpec, Label, LabelSet, ListRequest,
    ReadRequest, apply_request, journal_spec,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = gazette_tokio::Client::from_env()?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let journal = format!("examples/demo/{stamp}");

    // 1. Create the journal.
    let spec = JournalSpec {
        name: journal.clone(),
        replication: 1,
        labels: Some(LabelSet {
            labels: vec![Label {
                name: "content-type".into(),
                value: "text/plain".into(),
                prefix: false,
            }],
        }),
        fragment: Some(journal_spec::Fragment {
            length: 1 << 20,
            compression_codec: CompressionCodec::Snappy as i32,
            stores: vec![],
            refresh_interval: Some(prost_types::Duration {
                seconds: 30,
                nanos: 0,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let change = apply_request::Change {
        upsert: Some(spec),
        ..Default::default()
    };
    gazette_tokio::apply(
        &client,
        ApplyRequest {
            changes: vec![change],
        },
    )
    .await?;
    println!("created {journal}");

    // 2. Append: one-shot with retries (waits out the journal's assignment).
    let request = AppendRequest {
        journal: journal.clone(),
        ..Default::default()
    };
    let response =
        gazette_tokio::append(&client, request.clone(), &[Bytes::from_static(b"hello, ")]).await?;
    println!(
        "append committed through offset {}",
        response.commit.unwrap_or_default().end
    );

    // 3. Append: an Appender is an AsyncWrite, committed explicitly.
    let mut appender = gazette_tokio::Appender::new(&client, request)?;
    appender.write_all(b"gazette from rust!\n").await?;
    let response = appender.commit().await?;
    let end = response.commit.unwrap_or_default().end;
    println!("appender committed through offset {end}");

    // 4. Read it back (an AsyncRead ending at `end_offset`).
    let mut reader = gazette_tokio::RetryReader::new(
        &client,
        ReadRequest {
            journal: journal.clone(),
            end_offset: end,
            ..Default::default()
        },
    );
    let mut content = String::new();
    reader.read_to_string(&mut content).await?;
    print!("read back: {content}");

    // 5. List the demo journals.
    let selector =
        gazette_tokio::core::validate::parse_label_selector("name:prefix=examples/demo/")?;
    let snapshot = gazette_tokio::list_all_journals(
        &client,
        ListRequest {
            selector: Some(selector),
            ..Default::default()
        },
    )
    .await?;
    println!("{} demo journal(s):", snapshot.journals.len());
    for listed in &snapshot.journals {
        println!(
            "  {}",
            listed.spec.as_ref().map(|s| s.name.as_str()).unwrap_or("?")
        );
    }
    Ok(())
}
