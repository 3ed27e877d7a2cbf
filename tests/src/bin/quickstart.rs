//! Creates a journal, appends two records and reads them back.
use bytes::Bytes;
use gazette_tokio::proto::{AppendRequest, ApplyRequest, JournalSpec, ReadRequest};
use gazette_tokio::{Client, RetryReader};
use tokio::io::AsyncBufReadExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Brokers at BROKER_ADDRESS (default http://localhost:8080), like gazctl.
    let client = Client::from_env()?;
    let journal = "examples/quickstart";

    // Create the journal, or update it if it exists.
    let spec = JournalSpec::new(journal).with_label("content-type", "application/x-ndjson");
    gazette_tokio::apply(&client, ApplyRequest::upsert_all([spec])).await?;

    // Append two records in one atomic write (retried until it commits).
    let records = [Bytes::from("{\"n\":1}\n"), Bytes::from("{\"n\":2}\n")];
    let response = gazette_tokio::append(&client, AppendRequest::new(journal), &records).await?;
    let commit = response.commit.unwrap_or_default();

    // Read them back, line by line, ending where the append ended.
    let read = ReadRequest::new(journal)
        .from_offset(commit.begin)
        .until(commit.end);
    let mut lines = RetryReader::new(&client, read).lines();
    while let Some(line) = lines.next_line().await? {
        println!("{line}");
    }
    Ok(())
}
