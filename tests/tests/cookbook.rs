//! The recipes of `docs/cookbook.md`, run against the live cluster.
//!
//! Each recipe is a function below, shown word for word in the cookbook
//! (`cookbook_blocks_are_the_tested_code` checks that every ```rust block
//! of the cookbook appears verbatim in this file), and each has a test that
//! runs it and checks what it did.

mod tokio_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use gazette_proto::{AppendRequest, CompressionCodec, FragmentsRequest, JournalSpec};
use gazette_tests::ScopedCluster;
use gazette_tokio::tonic::transport::{Certificate, ClientTlsConfig};
use tokio_support::{create, wait_for_primaries};

// ---------------------------------------------------------------- recipes

/// Many journals: the records of every journal of a prefix, resumable.
fn read_many(
    client: &gazette_blocking::Client,
    prefix: &str,
    offsets: &mut std::collections::BTreeMap<String, i64>,
    count: usize,
) -> gazette_blocking::Result<Vec<(String, String)>> {
    use gazette_blocking::proto::LabelSelector;
    use gazette_blocking::{CallOptions, MultiReader};
    use std::time::Duration;

    // Journals come and go with the listing; saved offsets resume them.
    let selector = LabelSelector::journal_prefix(prefix);
    let mut reader = MultiReader::new(client, selector, offsets.clone())
        .with_options(CallOptions::new().timeout(Duration::from_secs(30)));
    let mut out = Vec::new();
    while out.len() < count {
        let Some(item) = reader.next() else { break };
        let item = item?;
        let line = String::from_utf8_lossy(item.record.line()).into_owned();
        out.push((item.journal.to_string(), line));
    }
    // Save these with the work done, to resume exactly after it.
    *offsets = reader.offsets().clone();
    Ok(out)
}

/// Records: append newline-delimited records, read them back with offsets.
async fn records_round_trip(
    client: &gazette_tokio::Client,
    journal: &str,
    records: &[&str],
    from: i64,
) -> gazette_tokio::Result<Vec<(i64, String)>> {
    use futures::StreamExt;
    use gazette_tokio::proto::{AppendRequest, ReadRequest};
    use gazette_tokio::{AppendService, Records, RetryReader};

    let service = AppendService::new(client);
    for record in records {
        // One append per record, in order; the newline is added.
        let request = AppendRequest::new(journal);
        service
            .append_record(request, record.as_bytes())
            .await?
            .await?;
    }

    // Every whole record from `from` to the write head, with its offset;
    // `resume_offset()` is where the next run starts.
    let request = ReadRequest::new(journal).from_offset(from);
    let mut read = Records::new(RetryReader::to_write_head(client, request));
    let mut out = Vec::new();
    while let Some(record) = read.next().await {
        let record = record?;
        out.push((record.begin, String::from_utf8_lossy(record.line()).into()));
    }
    Ok(out)
}

/// Tail from the end: only what is appended after the read starts.
fn tail_new_lines(
    client: &gazette_blocking::Client,
    journal: &str,
    count: usize,
) -> std::io::Result<Vec<String>> {
    use gazette_blocking::Error;
    use gazette_blocking::proto::ReadRequest;
    use gazette_tokio::Error::OffsetJump as Jump;
    use std::io::BufRead;

    // Offset -1 starts at the write head; reads block for new content.
    let request = ReadRequest::new(journal).from_offset(-1);
    let mut reader = gazette_blocking::RetryReader::new(client, request);
    let (mut lines, mut line) = (Vec::new(), String::new());
    while lines.len() < count {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break, // the journal's end (only with an end offset)
            Ok(_) => lines.push(line.trim_end_matches('\n').to_owned()),
            // The move from -1 to the write head is reported as a jump.
            Err(err) if matches!(Error::driver_from_io(&err), Some(Jump { .. })) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(lines)
}

/// Batch export: everything from `from` up to the current write head.
async fn export(
    client: &gazette_tokio::Client,
    journal: &str,
    from: i64,
    out: &mut Vec<u8>,
) -> gazette_tokio::Result<i64> {
    use gazette_tokio::ReadEvent;
    use gazette_tokio::proto::{ReadRequest, Status};

    // A non-blocking read ends with OFFSET_NOT_YET_AVAILABLE at the write
    // head: for an export, that means "done".
    let request = ReadRequest::new(journal).from_offset(from).blocking(false);
    let mut reader = gazette_tokio::RetryReader::new(client, request);
    loop {
        match reader.next_event().await {
            Ok(Some(ReadEvent::Content { content, .. })) => out.extend_from_slice(&content),
            Ok(Some(_)) => {} // metadata, offset jumps
            Ok(None) => break,
            Err(err) if err.is_status(Status::OffsetNotYetAvailable) => break,
            Err(err) => return Err(err),
        }
    }
    Ok(reader.offset()) // where the next export starts
}

/// Ordered appends: two data journals, then an index entry that commits
/// only after both of them did.
async fn write_with_index(
    service: &gazette_tokio::AppendService,
    data: [&str; 2],
    index: &str,
) -> gazette_tokio::Result<Vec<gazette_tokio::AppendFuture>> {
    use gazette_tokio::AppendFutures;
    use gazette_tokio::proto::AppendRequest;

    let first = service.append(AppendRequest::new(data[0]), b"a\n").await?;

    // An explicit dependency: this append commits only after `first` did.
    let mut after_first = AppendFutures::new();
    after_first.insert(first.clone());
    let mut writer = service
        .start_append(AppendRequest::new(data[1]), &after_first)
        .await?;
    writer.write(b"b\n")?;
    let second = writer.release()?;

    // A barrier: after everything pending on journals other than `index`.
    let barrier = service.pending_except(index);
    let mut writer = service
        .start_append(AppendRequest::new(index), &barrier)
        .await?;
    writer.write(b"a,b\n")?;
    let marker = writer.release()?;

    Ok(vec![first, second, marker])
}

/// A checkpointed consumer: processes up to `max` lines, saving the offset
/// after each, and resumes where the last run stopped.
fn consume(
    client: &gazette_blocking::Client,
    journal: &str,
    checkpoint: &std::path::Path,
    max: usize,
    mut process: impl FnMut(&str),
) -> std::io::Result<()> {
    use gazette_blocking::proto::ReadRequest;
    use std::io::BufRead;

    let offset: i64 = match std::fs::read_to_string(checkpoint) {
        Ok(saved) => saved.trim().parse().map_err(std::io::Error::other)?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => 0,
        Err(err) => return Err(err),
    };
    let request = ReadRequest::new(journal).from_offset(offset);
    let mut reader = gazette_blocking::RetryReader::new(client, request);
    let mut line = String::new();
    for _ in 0..max {
        line.clear();
        reader.read_line(&mut line)?;
        process(&line);
        // `offset()` is just past the bytes handed out so far. Write the
        // checkpoint aside and rename it, so a crash leaves the old or the
        // new one, never half of one.
        let saved = checkpoint.with_extension("tmp");
        std::fs::write(&saved, reader.offset().to_string())?;
        std::fs::rename(&saved, checkpoint)?;
    }
    Ok(())
}

/// TLS and authorization: a client of brokers behind TLS that need tokens.
fn secure_client(
    endpoint: &str, // https://...
    ca_pem: &[u8],
    auth_keys: &str, // as --broker.auth-keys: base64 keys
) -> gazette_tokio::Result<gazette_tokio::Client> {
    use gazette_tokio::Auth;
    use gazette_tokio::tonic::transport::{Certificate, ClientTlsConfig};

    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem));
    gazette_tokio::Client::builder(endpoint)
        .tls(tls)
        // Signs a short-lived token per call; `Auth::Bearer(token)` sends a
        // ready-made one, `Auth::from_env()` does what gazctl does.
        .auth(Auth::keyed(auth_keys)?)
        .build()
}

/// Direct fragment reads: persisted fragments are read from the store the
/// brokers share (here a `file://` store mounted at `file_root`), not
/// through a broker.
async fn read_from_store(
    endpoint: &str,
    file_root: &std::path::Path,
    journal: &str,
    end: i64,
) -> gazette_tokio::Result<(Vec<u8>, u64)> {
    use gazette_tokio::proto::ReadRequest;
    use tokio::io::AsyncReadExt;

    let client = gazette_tokio::Client::builder(endpoint)
        .fragment_file_root(file_root) // file:///x/ is <file_root>/x/
        .build()?;
    // do_not_proxy: the broker answers with the fragment's location (a
    // signed URL for cloud stores) instead of streaming it.
    let request = ReadRequest::new(journal).until(end).do_not_proxy(true);
    let mut reader = gazette_tokio::RetryReader::new(&client, request);
    let mut content = Vec::new();
    reader.read_to_end(&mut content).await?;
    Ok((content, reader.fragments_opened()))
}

// ------------------------------------------------------------------ tests

fn cluster() -> gazette_tests::Cluster {
    gazette_tests::Cluster::require()
}

fn tokio_client() -> gazette_tokio::Client {
    gazette_tokio::Client::new(cluster().brokers[0].endpoint.clone()).unwrap()
}

fn blocking_client() -> gazette_blocking::Client {
    gazette_blocking::Client::new(cluster().brokers[0].endpoint.clone()).unwrap()
}

/// Creates fresh journals on a short-lived runtime of their own (outside the
/// blocking driver's) and waits until each has a primary.
fn create_journals(specs: Vec<JournalSpec>) {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { create(&tokio_client(), specs).await });
}

fn new_spec(prefix: &str) -> JournalSpec {
    let name = gazette_tests::unique_journal_name(&format!("cookbook/{prefix}"));
    cluster().journal_spec(&name, 1, CompressionCodec::None)
}

/// Appends `content` and returns the commit's end offset.
async fn append(client: &gazette_tokio::Client, journal: &str, content: &str) -> i64 {
    let response = gazette_tokio::append(
        client,
        AppendRequest::new(journal),
        &[Bytes::from(content.to_owned())],
    )
    .await
    .unwrap();
    response.commit.unwrap().end
}

fn append_blocking(client: &gazette_blocking::Client, journal: &str, content: &str) -> i64 {
    let response = gazette_blocking::append(
        client,
        AppendRequest::new(journal),
        &[Bytes::from(content.to_owned())],
    )
    .unwrap();
    response.commit.unwrap().end
}

#[test]
fn tail_from_the_end_sees_only_new_content() {
    let spec = new_spec("tail");
    let journal = spec.name.clone();
    create_journals(vec![spec]);
    let client = blocking_client();
    append_blocking(&client, &journal, "old\n");

    let tail = {
        let (client, journal) = (client.clone(), journal.clone());
        std::thread::spawn(move || tail_new_lines(&client, &journal, 2))
    };
    // The tail starts at whatever the write head is when its read begins,
    // which this thread cannot observe: append until the tail has two lines
    // (each append is one whole line, so it sees two consecutive ones).
    let mut appended = 0;
    while !tail.is_finished() {
        assert!(appended < 300, "the tail saw no new content");
        appended += 1;
        append_blocking(&client, &journal, &format!("new {appended}\n"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let lines = tail.join().unwrap().unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let first: usize = lines[0]
        .strip_prefix("new ")
        .unwrap_or_else(|| panic!("the tail read old content: {lines:?}"))
        .parse()
        .unwrap();
    assert_eq!(lines[1], format!("new {}", first + 1));
}

#[tokio::test]
async fn batch_export_gets_exactly_what_was_appended() {
    let client = tokio_client();
    let spec = new_spec("export");
    let journal = spec.name.clone();
    create(&client, vec![spec]).await;

    let records = ["one\n", "two\n", "three\n"];
    let mut head = 0;
    for record in records {
        head = append(&client, &journal, record).await;
    }
    let mut out = Vec::new();
    let next = export(&client, &journal, 0, &mut out).await.unwrap();
    assert_eq!(out, records.concat().as_bytes());
    assert_eq!(next, head);

    // The next export starts where this one ended and gets only what came
    // after it.
    let head = append(&client, &journal, "four\n").await;
    let mut more = Vec::new();
    let next = export(&client, &journal, next, &mut more).await.unwrap();
    assert_eq!(more, b"four\n");
    assert_eq!(next, head);
}

#[tokio::test]
async fn ordered_appends_commit_after_their_dependencies() {
    let client = tokio_client();
    let specs: Vec<JournalSpec> = ["data-a", "data-b", "index"]
        .into_iter()
        .map(new_spec)
        .collect();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    create(&client, specs).await;

    let service = gazette_tokio::AppendService::new(&client);
    let futures = write_with_index(&service, [&names[0], &names[1]], &names[2])
        .await
        .unwrap();
    let (first, second, marker) = (&futures[0], &futures[1], &futures[2]);
    tokio::time::timeout(Duration::from_secs(60), marker.clone())
        .await
        .expect("the index append resolves in time")
        .unwrap();
    // The index entry resolved only after both data appends committed.
    assert_eq!(first.try_result().map(|r| r.is_ok()), Some(true));
    assert_eq!(second.try_result().map(|r| r.is_ok()), Some(true));
    tokio::time::timeout(Duration::from_secs(60), service.close())
        .await
        .expect("the service closes in time");

    for (name, expect) in names.iter().zip(["a\n", "b\n", "a,b\n"]) {
        let mut out = Vec::new();
        export(&client, name, 0, &mut out).await.unwrap();
        assert_eq!(out, expect.as_bytes(), "{name}");
    }
}

#[test]
fn checkpointed_consumer_resumes_without_gap_or_repeat() {
    let spec = new_spec("consumer");
    let journal = spec.name.clone();
    create_journals(vec![spec]);
    let client = blocking_client();
    let lines: Vec<String> = (1..=5).map(|n| format!("record {n}\n")).collect();
    let mut end = 0;
    for line in &lines {
        end = append_blocking(&client, &journal, line);
    }

    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("offset");
    let mut seen = Vec::new();
    consume(&client, &journal, &checkpoint, 2, |l| {
        seen.push(l.to_owned())
    })
    .unwrap();
    assert_eq!(seen, lines[..2]);
    let saved: i64 = std::fs::read_to_string(&checkpoint)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(saved, (lines[0].len() + lines[1].len()) as i64);

    // A new run (a new reader) resumes at the checkpoint.
    consume(&client, &journal, &checkpoint, 3, |l| {
        seen.push(l.to_owned())
    })
    .unwrap();
    assert_eq!(seen, lines);
    let saved: i64 = std::fs::read_to_string(&checkpoint)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(saved, end);
}

/// The key the TLS recipe's private brokers verify tokens with.
const AUTH_KEY: &str = "Y29va2Jvb2sta2V5";

#[tokio::test]
async fn secure_client_appends_and_reads_over_tls_with_tokens() {
    let scoped = ScopedCluster::start_with(
        1,
        &[("GAZETTE_TLS", "server"), ("GAZETTE_AUTH_KEYS", AUTH_KEY)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let tls = scoped
        .cluster()
        .tls
        .clone()
        .expect("the env file names the CA");
    let ca = std::fs::read(&tls.ca).unwrap();
    let endpoint = scoped.cluster().brokers[0].endpoint.clone();
    assert!(endpoint.starts_with("https://"), "{endpoint}");

    let client = secure_client(&endpoint, &ca, AUTH_KEY).unwrap();
    let spec = scoped.cluster().journal_spec(
        &gazette_tests::unique_journal_name("cookbook/tls"),
        1,
        CompressionCodec::None,
    );
    let journal = spec.name.clone();
    create(&client, vec![spec]).await;
    let end = append(&client, &journal, "secret\n").await;
    let mut out = Vec::new();
    export(&client, &journal, 0, &mut out).await.unwrap();
    assert_eq!(out, b"secret\n");
    assert_eq!(end, 7);

    // Without tokens the same brokers refuse the call.
    let anonymous = gazette_tokio::Client::builder(&endpoint)
        .tls(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca)))
        .build()
        .unwrap();
    let err = gazette_tokio::append(
        &anonymous,
        AppendRequest::new(&journal),
        &[Bytes::from("x")],
    )
    .await
    .unwrap_err();
    assert!(err.is_unauthenticated(), "{err}");
}

#[tokio::test]
async fn direct_fragment_reads_come_from_the_store() {
    let cluster = cluster();
    let client = tokio_client();
    let spec = new_spec("direct").with_fragment_length(1024);
    let journal = spec.name.clone();
    create(&client, vec![spec]).await;

    let pieces: Vec<String> = (0..4)
        .map(|i| format!("{i}").repeat(3000 + i))
        .map(|p| p + "\n")
        .collect();
    let mut end = 0;
    for piece in &pieces {
        end = append(&client, &journal, piece).await;
    }
    wait_for_persisted(&client, &journal, pieces.len() - 1).await;

    let (content, opened) = read_from_store(
        &cluster.brokers[0].endpoint,
        &cluster.file_root,
        &journal,
        end,
    )
    .await
    .unwrap();
    assert!(content == pieces.concat().as_bytes(), "content differs");
    assert!(opened > 0, "persisted fragments were read from the store");
}

/// Waits (polling the fragment listing, bounded) until `count` fragments of
/// `journal` are persisted.
async fn wait_for_persisted(client: &gazette_tokio::Client, journal: &str, count: usize) {
    wait_for_primaries(client, &[journal.to_owned()]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let listing = gazette_tokio::list_all_fragments(client, FragmentsRequest::new(journal))
            .await
            .unwrap();
        let persisted = listing
            .fragments
            .iter()
            .filter(|f| f.spec.as_ref().is_some_and(|s| s.mod_time != 0))
            .count();
        if persisted >= count {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "fragments of {journal} were not persisted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ------------------------------------------------------------ no drifting

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The ```rust blocks of `markdown`, in order.
fn rust_blocks(markdown: &str) -> Vec<String> {
    markdown
        .split("```rust\n")
        .skip(1)
        .map(|rest| rest[..rest.find("\n```").expect("rust block is closed") + 1].to_owned())
        .collect()
}

#[tokio::test]
async fn records_round_trip_with_their_offsets() {
    let client = tokio_client();
    let spec = new_spec("records");
    let journal = spec.name.clone();
    create(&client, vec![spec]).await;
    let got = records_round_trip(&client, &journal, &["one", "two\n"], 0)
        .await
        .unwrap();
    assert_eq!(got, [(0, "one".to_string()), (4, "two".to_string())]);
    // From the second record's offset, with one more appended.
    let got = records_round_trip(&client, &journal, &["three"], 4)
        .await
        .unwrap();
    assert_eq!(got, [(4, "two".to_string()), (8, "three".to_string())]);
}

#[test]
fn many_journals_are_read_and_resumed_from_offsets() {
    let base = gazette_tests::unique_journal_name("cookbook/many");
    let (a, b) = (format!("{base}/a"), format!("{base}/b"));
    let prefix = format!("{base}/");
    create_journals(
        [&a, &b]
            .map(|name| cluster().journal_spec(name, 1, CompressionCodec::None))
            .to_vec(),
    );
    let client = blocking_client();
    let service = gazette_blocking::AppendService::new(&client);
    for (journal, record) in [(&a, "a1"), (&b, "b1")] {
        let request = AppendRequest::new(journal.as_str());
        service
            .append_record(request, record.as_bytes())
            .unwrap()
            .err()
            .unwrap();
    }
    let mut offsets = std::collections::BTreeMap::new();
    let mut first = read_many(&client, &prefix, &mut offsets, 2).unwrap();
    first.sort();
    assert_eq!(
        first,
        [(a.clone(), "a1".to_string()), (b.clone(), "b1".to_string())]
    );
    assert_eq!(
        offsets,
        std::collections::BTreeMap::from([(a.clone(), 3), (b.clone(), 3)])
    );

    let request = AppendRequest::new(b.as_str());
    service
        .append_record(request, b"b2")
        .unwrap()
        .err()
        .unwrap();
    let next = read_many(&client, &prefix, &mut offsets, 1).unwrap();
    assert_eq!(next, [(b.clone(), "b2".to_string())]);
    assert_eq!(offsets[&b], 6);
}

#[test]
fn cookbook_blocks_are_the_tested_code() {
    let cookbook = std::fs::read_to_string(repo().join("docs/cookbook.md")).unwrap();
    // The simulation recipe needs no cluster: it is a gazette-core test.
    let tests = ["tests/tests/cookbook.rs", "core/tests/sim.rs"]
        .map(|file| std::fs::read_to_string(repo().join(file)).unwrap())
        .join("\n");
    let blocks = rust_blocks(&cookbook);
    assert_eq!(blocks.len(), 9, "one block per recipe");
    for block in blocks {
        assert!(
            tests.contains(&block),
            "this block of docs/cookbook.md is not in tests/tests/cookbook.rs or core/tests/sim.rs:\n{block}"
        );
    }
}

#[test]
fn rust_blocks_finds_each_block() {
    let md = "# t\n```rust\nfn a() {}\n```\ntext\n```rust\nfn b() {\n}\n```\n```sh\nx\n```\n";
    assert_eq!(rust_blocks(md), ["fn a() {}\n", "fn b() {\n}\n"]);
}
