//! A tour of the client against a running cluster: creates a journal,
//! appends to it two ways, reads everything back and lists it.
//!
//! ```text
//! BROKER_ADDRESS=http://localhost:8080 cargo run -p gazette-tokio --example demo
//! ```

use std::time::Duration;

use bytes::Bytes;
use gazette_tokio::proto::{
    AppendRequest, ApplyRequest, CompressionCodec, JournalSpec, LabelSelector, ListRequest,
    ReadRequest,
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
    let spec = JournalSpec::new(&journal)
        .with_label("content-type", "text/plain")
        .with_fragment_length(1 << 20)
        .with_codec(CompressionCodec::Snappy)
        .with_refresh_interval(Duration::from_secs(30));
    gazette_tokio::apply(&client, ApplyRequest::upsert_all([spec])).await?;
    println!("created {journal}");

    // 2. Append: one-shot with retries (waits out the journal's assignment).
    let request = AppendRequest::new(&journal);
    let hello = [Bytes::from_static(b"hello, ")];
    let response = gazette_tokio::append(&client, request.clone(), &hello).await?;
    let end = response.commit.unwrap_or_default().end;
    println!("append committed through offset {end}");

    // 3. Append: an Appender is an AsyncWrite, committed explicitly.
    let mut appender = gazette_tokio::Appender::new(&client, request)?;
    appender.write_all(b"gazette from rust!\n").await?;
    let end = appender.commit().await?.commit.unwrap_or_default().end;
    println!("appender committed through offset {end}");

    // 4. Read it back (an AsyncRead ending at `end`).
    let read = ReadRequest::new(&journal).until(end);
    let mut content = String::new();
    gazette_tokio::RetryReader::new(&client, read)
        .read_to_string(&mut content)
        .await?;
    print!("read back: {content}");

    // 5. List the demo journals.
    let listing = ListRequest::new(LabelSelector::journal_prefix("examples/demo/"));
    let snapshot = gazette_tokio::list_all_journals(&client, listing).await?;
    println!("{} demo journal(s):", snapshot.journals.len());
    for listed in &snapshot.journals {
        println!(
            "  {}",
            listed.spec.as_ref().map_or("?", |s| s.name.as_str())
        );
    }
    Ok(())
}
