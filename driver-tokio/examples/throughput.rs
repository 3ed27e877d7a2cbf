//! Throughput of the tokio driver on the workloads of
//! `scripts/bench-vs-go.sh` (the same ones as `benches/go-client`), one JSON
//! line per workload:
//!
//! ```text
//! BROKER_ADDRESS=http://localhost:8080 cargo run --release -p gazette-tokio \
//!     --example throughput -- --journal bench/rust/1 --workload all --mib 32
//! ```
//!
//! Workloads: `append_64k` (sequential one-shot appends of `--size` bytes
//! until `--mib` MiB), `append_small` (`--small-count` appends of
//! `--small-size` bytes through an `AppendService`), `read` (a `RetryReader`
//! from offset 0 to the write head).

use std::time::{Duration, Instant};

use bytes::Bytes;
use gazette_tokio::proto::{AppendRequest, ReadRequest};
use tokio::io::AsyncReadExt;

struct Options {
    journal: String,
    workload: String,
    mib: usize,
    size: usize,
    small_count: usize,
    small_size: usize,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        journal: String::new(),
        workload: "all".into(),
        mib: 32,
        size: 64 << 10,
        small_count: 20_000,
        small_size: 100,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--journal" => options.journal = value.clone(),
            "--workload" => options.workload = value.clone(),
            "--mib" => options.mib = number()?,
            "--size" => options.size = number()?,
            "--small-count" => options.small_count = number()?,
            "--small-size" => options.small_size = number()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if options.journal.is_empty() {
        return Err("need --journal".into());
    }
    Ok(options)
}

fn report(workload: &str, bytes: usize, elapsed: Duration) {
    let seconds = elapsed.as_secs_f64();
    let line = serde_json::json!({
        "client": "rust",
        "workload": workload,
        "bytes": bytes,
        "seconds": seconds,
        "mib_per_s": bytes as f64 / f64::from(1 << 20) / seconds,
    });
    println!("{line}");
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let client = gazette_tokio::Client::from_env()?;
    let request = AppendRequest {
        journal: options.journal.clone(),
        ..Default::default()
    };
    let run = |name: &str| options.workload == "all" || options.workload == name;

    if run("append_64k") {
        let chunk = Bytes::from(pattern(options.size));
        let count = (options.mib << 20) / options.size;
        let start = Instant::now();
        for _ in 0..count {
            gazette_tokio::append(&client, request.clone(), std::slice::from_ref(&chunk)).await?;
        }
        report("append_64k", count * options.size, start.elapsed());
    }

    if run("append_small") {
        let mut record = pattern(options.small_size);
        if let Some(last) = record.last_mut() {
            *last = b'\n';
        }
        let service = gazette_tokio::AppendService::new(&client);
        let start = Instant::now();
        let mut last = None;
        for _ in 0..options.small_count {
            last = Some(service.append(request.clone(), &record).await?);
        }
        if let Some(last) = last {
            last.await?;
        }
        report(
            "append_small",
            options.small_count * options.small_size,
            start.elapsed(),
        );
    }

    if run("read") {
        // The write head, from a zero-length append.
        let head = gazette_tokio::append(&client, request.clone(), &[])
            .await?
            .commit
            .unwrap_or_default()
            .end;
        let start = Instant::now();
        let mut reader = gazette_tokio::RetryReader::new(
            &client,
            ReadRequest {
                journal: options.journal.clone(),
                offset: 0,
                end_offset: head,
                block: true,
                ..Default::default()
            },
        );
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0;
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            total += n;
        }
        report("read", total, start.elapsed());
    }
    Ok(())
}
