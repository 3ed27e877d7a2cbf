//! The blocking tour of the client against a running cluster: creates a
//! journal, appends to it two ways, reads everything back and lists it
//! (the same steps as gazette-tokio's `demo`, with no async code).
//!
//! ```text
//! BROKER_ADDRESS=http://localhost:8080 cargo run -p gazette-blocking --example demo
//! ```

use std::io::{Read, Write};
use std::time::Duration;

use bytes::Bytes;
use gazette_blocking::proto::{
    AppendRequest, ApplyRequest, CompressionCodec, JournalSpec, LabelSelector, ListRequest,
    ReadRequest,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = gazette_blocking::Client::from_env()?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let journal = format!("examples/demo/blocking-{stamp}");

    // 1. Create the journal.
    let spec = JournalSpec::new(&journal)
        .with_label("content-type", "text/plain")
        .with_codec(CompressionCodec::Snappy)
        .with_refresh_interval(Duration::from_secs(30));
    gazette_blocking::apply(&client, ApplyRequest::upsert_all([spec]))?;

    // 2. Append: one-shot with retries, then through a `Write`.
    let request = AppendRequest::new(&journal);
    gazette_blocking::append(&client, request.clone(), &[Bytes::from_static(b"hello, ")])?;
    let mut appender = gazette_blocking::Appender::new(&client, request)?;
    appender.write_all(b"gazette from blocking rust!\n")?;
    let end = appender.commit()?.commit.unwrap_or_default().end;

    // 3. Read it back (a `Read` ending at `end`).
    let mut content = String::new();
    gazette_blocking::RetryReader::new(&client, ReadRequest::new(&journal).until(end))
        .read_to_string(&mut content)?;
    print!("read back: {content}");

    // 4. List the demo journals.
    let listing = ListRequest::new(LabelSelector::journal_prefix("examples/demo/"));
    for listed in gazette_blocking::list_all_journals(&client, listing)?.journals {
        println!("  {}", listed.spec.map(|s| s.name).unwrap_or_default());
    }
    Ok(())
}
