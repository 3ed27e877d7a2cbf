//! Tails a journal to standard output with a blocking RetryReader, across
//! broker restarts, until interrupted.
//!
//! ```text
//! BROKER_ADDRESS=http://localhost:8080 cargo run -p gazette-tokio --example tail -- my/journal [offset]
//! ```

use gazette_tokio::proto::ReadRequest;
use tokio::io::AsyncWriteExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let journal = args.next().ok_or("usage: tail <journal> [offset]")?;
    // -1 starts at the write head: only new content.
    let offset: i64 = args.next().map(|o| o.parse()).transpose()?.unwrap_or(-1);
    let client = gazette_tokio::Client::from_env()?;

    let mut reader = gazette_tokio::RetryReader::new(
        &client,
        ReadRequest {
            journal,
            offset,
            block: true,
            ..Default::default()
        },
    );
    let mut stdout = tokio::io::stdout();
    loop {
        match reader.next_event().await {
            Ok(Some(gazette_tokio::ReadEvent::Content { content, .. })) => {
                stdout.write_all(&content).await?;
                stdout.flush().await?;
            }
            Ok(Some(gazette_tokio::ReadEvent::OffsetJump { from, to })) => {
                eprintln!("content skipped: offset {from} jumped to {to}");
            }
            Ok(Some(gazette_tokio::ReadEvent::Metadata(_))) => {}
            Ok(None) => return Ok(()),
            Err(err) => return Err(err.into()),
        }
    }
}
