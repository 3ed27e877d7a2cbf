//! gazette-tokio reads against a live cluster: gazctl writes, Rust reads;
//! direct fragment reads of fragments persisted by the real broker.

mod tokio_support;

use std::time::Duration;

use bytes::Bytes;
use gazette_proto::{AppendRequest, CompressionCodec, FragmentsRequest, ReadRequest, Status};
use tokio::io::AsyncReadExt;
use tokio_support::*;

fn payload(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + seed as usize) % 251) as u8)
        .collect()
}

fn read_request(journal: &str, end: i64) -> ReadRequest {
    ReadRequest {
        journal: journal.into(),
        offset: 0,
        end_offset: end,
        ..Default::default()
    }
}

#[tokio::test]
async fn gazctl_append_then_reader_reads_byte_for_byte() {
    let client = client();
    let journal = unique("reader");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;
    let content = payload(3, 200_000);
    run_gazctl(
        &["journals", "append", "-l", &format!("name={journal}")],
        &content,
    )
    .await;

    let mut reader =
        gazette_tokio::Reader::new(&client, read_request(&journal, content.len() as i64));
    let mut got = Vec::new();
    reader.read_to_end(&mut got).await.unwrap();
    assert_eq!(got.len(), content.len());
    assert!(got == content, "content differs");
    assert_eq!(reader.offset(), content.len() as i64);
}

#[tokio::test]
async fn reader_of_a_missing_journal_fails_with_journal_not_found() {
    let client = client();
    let mut reader = gazette_tokio::Reader::new(&client, read_request(&unique("missing"), 0));
    let err = reader.next_event().await.unwrap_err();
    assert!(
        matches!(&err, gazette_tokio::Error::Read(e) if e.is_named(Status::JournalNotFound)),
        "{err}"
    );
}

#[tokio::test]
async fn non_blocking_reader_at_the_write_head_reports_offset_not_yet_available() {
    let client = client();
    let journal = unique("head");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;
    gazette_tokio::append(
        &client,
        AppendRequest {
            journal: journal.clone(),
            ..Default::default()
        },
        &[Bytes::from_static(b"abc")],
    )
    .await
    .unwrap();
    let mut reader = gazette_tokio::Reader::new(&client, read_request(&journal, 0));
    let mut got = Vec::new();
    let err = reader.read_to_end(&mut got).await.unwrap_err();
    assert_eq!(got, b"abc");
    assert!(
        err.to_string().contains("OFFSET_NOT_YET_AVAILABLE"),
        "{err}"
    );
    // The failure is sticky: reading on never looks like a clean end.
    for _ in 0..2 {
        let again = reader.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(again.to_string(), err.to_string());
    }
    assert_eq!(got, b"abc");
}

#[tokio::test]
async fn retry_reader_tails_a_journal_while_rust_appends() {
    let client = client();
    let journal = unique("tail");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;

    let chunks: Vec<Vec<u8>> = (0..20)
        .map(|i| payload(i, 10_000 + i as usize * 100))
        .collect();
    let total: usize = chunks.iter().map(Vec::len).sum();
    let mut reader = gazette_tokio::RetryReader::new(
        &client,
        ReadRequest {
            journal: journal.clone(),
            block: true,
            ..Default::default()
        },
    );
    let writer = {
        let client = client.clone();
        let journal = journal.clone();
        let chunks = chunks.clone();
        tokio::spawn(async move {
            for chunk in chunks {
                let request = AppendRequest {
                    journal: journal.clone(),
                    ..Default::default()
                };
                gazette_tokio::append(&client, request, &[Bytes::from(chunk)])
                    .await
                    .unwrap();
            }
        })
    };
    let mut got = vec![0u8; total];
    tokio::time::timeout(Duration::from_secs(60), reader.read_exact(&mut got))
        .await
        .expect("tail keeps up")
        .unwrap();
    writer.await.unwrap();
    assert!(got == chunks.concat(), "content differs");
}

/// Appends `n` pieces bigger than the fragment length, so each rolls a
/// fragment that the broker persists to its file store, and waits until
/// ListFragments reports at least `n` persisted fragments.
async fn persisted_fragments(
    client: &gazette_tokio::Client,
    journal: &str,
    pieces: &[Vec<u8>],
) -> Vec<gazette_proto::fragments_response::Fragment> {
    for piece in pieces {
        let request = AppendRequest {
            journal: journal.into(),
            ..Default::default()
        };
        gazette_tokio::append(client, request, &[Bytes::from(piece.clone())])
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let response = gazette_tokio::list_all_fragments(
            client,
            FragmentsRequest {
                journal: journal.into(),
                signature_ttl: Some(prost_types::Duration {
                    seconds: 60,
                    nanos: 0,
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let persisted: Vec<_> = response
            .fragments
            .into_iter()
            .filter(|f| {
                f.spec.as_ref().is_some_and(|s| s.mod_time != 0) && !f.signed_url.is_empty()
            })
            .collect();
        if persisted.len() >= pieces.len() - 1 {
            return persisted;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "fragments of {journal} were not persisted"
        );
        // The broker persists asynchronously and offers no signal for it.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn direct_reads_of_persisted_fragments(codec: CompressionCodec) {
    let client = client();
    let journal = unique(&format!("direct-{}", codec.as_str_name().to_lowercase()));
    let mut journal_spec = spec(&journal, codec, None);
    journal_spec.fragment.as_mut().unwrap().length = 1024;
    create(&client, vec![journal_spec]).await;

    let pieces: Vec<Vec<u8>> = (0..4).map(|i| payload(i, 3000 + i as usize)).collect();
    let all = pieces.concat();
    let fragments = persisted_fragments(&client, &journal, &pieces).await;

    for fragment in &fragments {
        let spec = fragment.spec.as_ref().unwrap();
        assert_eq!(spec.compression_codec, codec as i32);
        // Read from the middle of the fragment: the decoder discards before it.
        let start = spec.begin + (spec.end - spec.begin) / 3;
        let mut content = client
            .fragments()
            .open_fragment(spec, start, &fragment.signed_url)
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut expect_offset = start;
        while let Some((offset, bytes)) = content.next().await.unwrap() {
            assert_eq!(offset, expect_offset);
            expect_offset += bytes.len() as i64;
            got.extend_from_slice(&bytes);
        }
        assert_eq!(expect_offset, spec.end);
        assert!(
            got == all[start as usize..spec.end as usize],
            "fragment content differs"
        );
    }

    // A RetryReader that never lets brokers proxy reads persisted fragments
    // directly and live ones from the broker.
    let mut reader = gazette_tokio::RetryReader::new(
        &client,
        ReadRequest {
            journal: journal.clone(),
            do_not_proxy: true,
            end_offset: all.len() as i64,
            ..Default::default()
        },
    );
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut got))
        .await
        .expect("read completes")
        .unwrap();
    assert!(got == all, "journal content differs");
    assert!(
        reader.fragments_opened() > 0,
        "persisted fragments were read directly"
    );
}

#[tokio::test]
async fn direct_fragment_reads_none() {
    direct_reads_of_persisted_fragments(CompressionCodec::None).await;
}

#[tokio::test]
async fn direct_fragment_reads_gzip() {
    direct_reads_of_persisted_fragments(CompressionCodec::Gzip).await;
}

#[tokio::test]
async fn direct_fragment_reads_zstandard() {
    direct_reads_of_persisted_fragments(CompressionCodec::Zstandard).await;
}

#[tokio::test]
async fn direct_fragment_reads_snappy() {
    direct_reads_of_persisted_fragments(CompressionCodec::Snappy).await;
}

#[tokio::test]
async fn reader_seeks_forward_within_buffered_content_and_refuses_going_back() {
    use tokio::io::AsyncSeekExt;
    let client = client();
    let journal = unique("seek");
    create(&client, vec![spec(&journal, CompressionCodec::None, None)]).await;
    let content = payload(9, 5000);
    gazette_tokio::append(
        &client,
        AppendRequest {
            journal: journal.clone(),
            ..Default::default()
        },
        &[Bytes::from(content.clone())],
    )
    .await
    .unwrap();

    let mut reader =
        gazette_tokio::Reader::new(&client, read_request(&journal, content.len() as i64));
    // Before the RPC starts, a seek just moves the request's offset.
    assert_eq!(
        reader.seek(std::io::SeekFrom::Start(100)).await.unwrap(),
        100
    );
    let mut buf = vec![0u8; 10];
    reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(buf, content[100..110]);
    // Forward within the frame already received.
    assert_eq!(
        reader.seek(std::io::SeekFrom::Current(1000)).await.unwrap(),
        1110
    );
    reader.read_exact(&mut buf).await.unwrap();
    assert_eq!(buf, content[1110..1120]);
    // Backwards needs a new reader.
    let err = reader.seek(std::io::SeekFrom::Start(0)).await.unwrap_err();
    assert!(err.to_string().contains("requires new Reader"), "{err}");
}
