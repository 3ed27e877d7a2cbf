//! Streams standard input into a journal through a blocking Appender
//! (`std::io::copy` into a `Write`), committed as one transaction.
//!
//! ```text
//! BROKER_ADDRESS=http://localhost:8080 cargo run -p gazette-blocking --example append -- my/journal < file
//! ```

use gazette_blocking::proto::AppendRequest;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let journal = std::env::args()
        .nth(1)
        .ok_or("usage: append <journal> < content")?;
    let client = gazette_blocking::Client::from_env()?;

    let request = AppendRequest {
        journal,
        ..Default::default()
    };
    let mut appender = gazette_blocking::Appender::new(&client, request)?;
    // Content streams to the broker as it is read; nothing is visible to
    // readers until the commit. An error drops the appender: rolled back.
    std::io::copy(&mut std::io::stdin().lock(), &mut appender)?;
    let response = appender.commit()?;
    let commit = response.commit.unwrap_or_default();
    eprintln!(
        "appended [{}, {}) to {}",
        commit.begin, commit.end, commit.journal
    );
    Ok(())
}
