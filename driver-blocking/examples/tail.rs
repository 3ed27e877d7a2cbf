//! Tails a journal to standard output with a blocking RetryReader, across
//! broker restarts, until interrupted or (with a timeout) cancelled from
//! another thread.
//!
//! ```text
//! BROKER_ADDRESS=http://localhost:8080 cargo run -p gazette-blocking --example tail -- my/journal [offset] [seconds]
//! ```

use std::io::Write;
use std::time::Duration;

use gazette_blocking::proto::ReadRequest;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let journal = args
        .next()
        .ok_or("usage: tail <journal> [offset] [seconds]")?;
    // -1 starts at the write head: only new content.
    let offset: i64 = args.next().map(|o| o.parse()).transpose()?.unwrap_or(-1);
    let seconds: Option<u64> = args.next().map(|s| s.parse()).transpose()?;
    let client = gazette_blocking::Client::from_env()?;

    let mut reader = gazette_blocking::RetryReader::new(
        &client,
        ReadRequest {
            journal,
            offset,
            block: true,
            ..Default::default()
        },
    );
    if let Some(seconds) = seconds {
        // Stop tailing after a while, from another thread.
        let cancel = reader.cancel_handle();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(seconds));
            cancel.cancel();
        });
    }
    let mut stdout = std::io::stdout().lock();
    loop {
        match reader.next_event() {
            Ok(Some(gazette_blocking::ReadEvent::Content { content, .. })) => {
                stdout.write_all(&content)?;
                stdout.flush()?;
            }
            Ok(Some(gazette_blocking::ReadEvent::OffsetJump { from, to })) => {
                eprintln!("content skipped: offset {from} jumped to {to}");
            }
            Ok(Some(gazette_blocking::ReadEvent::Metadata(_))) => {}
            Ok(None) | Err(gazette_blocking::Error::Cancelled) => return Ok(()),
            Err(err) => return Err(err.into()),
        }
    }
}
