//! Appends standard input to a journal as one transaction.
//!
//! ```text
//! BROKER_ADDRESS=http://localhost:8080 cargo run -p gazette-tokio --example append -- my/journal < file
//! ```

use bytes::Bytes;
use gazette_tokio::proto::AppendRequest;
use tokio::io::AsyncReadExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let journal = std::env::args()
        .nth(1)
        .ok_or("usage: append <journal> < content")?;
    let client = gazette_tokio::Client::from_env()?;

    let mut content = Vec::new();
    tokio::io::stdin().read_to_end(&mut content).await?;
    let request = AppendRequest {
        journal,
        ..Default::default()
    };
    // `append` retries unavailable brokers and routing statuses, resending
    // the whole content each attempt.
    let response = gazette_tokio::append(&client, request, &[Bytes::from(content)]).await?;
    let commit = response.commit.unwrap_or_default();
    eprintln!(
        "appended [{}, {}) to {}",
        commit.begin, commit.end, commit.journal
    );
    Ok(())
}
