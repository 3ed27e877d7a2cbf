//! Newline-delimited records against a live cluster: written with the
//! AppendService record writer (and split over writes and appends), read
//! back as records with their journal offsets by both drivers.

mod tokio_support;

use bytes::Bytes;
use futures::StreamExt;
use gazette_proto::{AppendRequest, CompressionCodec, ReadRequest};
use gazette_tokio::{AppendFutures, AppendService, Error, Records, RetryReader};
use tokio_support::*;

/// Writes `one\ntwo\nthree\nfour\n` (19 bytes) to a new journal: a record
/// without its newline, one with it, one split over two writes of an
/// append, and one split over two appends.
async fn write_records(client: &gazette_tokio::Client, journal: &str) {
    create(client, vec![spec(journal, CompressionCodec::None, None)]).await;
    let service = AppendService::new(client);
    service
        .append_record(AppendRequest::new(journal), b"one")
        .await
        .unwrap()
        .await
        .unwrap();
    service
        .append_record(AppendRequest::new(journal), b"two\n")
        .await
        .unwrap()
        .await
        .unwrap();
    let mut writer = service
        .start_append(AppendRequest::new(journal), &AppendFutures::new())
        .await
        .unwrap();
    writer.write(b"thr").unwrap();
    writer.write_record(b"ee").unwrap();
    writer.release().unwrap().await.unwrap();
    for part in ["fo", "ur\n"] {
        gazette_tokio::append(client, AppendRequest::new(journal), &[Bytes::from(part)])
            .await
            .unwrap();
    }
}

fn expected() -> Vec<(i64, i64, &'static [u8])> {
    vec![
        (0, 4, b"one\n"),
        (4, 8, b"two\n"),
        (8, 14, b"three\n"),
        (14, 19, b"four\n"),
    ]
}

#[tokio::test]
async fn records_come_back_whole_with_their_offsets() {
    let client = client();
    let journal = unique("records");
    write_records(&client, &journal).await;

    let reader = RetryReader::to_write_head(&client, ReadRequest::new(&journal));
    let mut records = Records::new(reader);
    let mut got = Vec::new();
    while let Some(record) = records.next().await {
        let record = record.unwrap();
        assert_eq!(record.end - record.begin, record.bytes.len() as i64);
        got.push((record.begin, record.end, record.bytes.to_vec()));
    }
    let want: Vec<_> = expected()
        .into_iter()
        .map(|(b, e, bytes)| (b, e, bytes.to_vec()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(records.resume_offset(), Some(19));

    // Resuming mid-journal at a record boundary gives the rest.
    let reader = RetryReader::to_write_head(&client, ReadRequest::new(&journal).from_offset(8));
    let rest: Vec<_> = Records::new(reader)
        .map(|r| r.unwrap().line().to_vec())
        .collect()
        .await;
    assert_eq!(rest, [b"three".to_vec(), b"four".to_vec()]);
}

#[tokio::test]
async fn a_read_ending_inside_a_record_reports_the_partial_record_dropped() {
    let client = client();
    let journal = unique("records-cut");
    write_records(&client, &journal).await;

    // The read ends at offset 10, two bytes into "three\n".
    let reader = RetryReader::new(&client, ReadRequest::new(&journal).until(10));
    let got: Vec<_> = Records::new(reader).collect().await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0].as_ref().unwrap().line(), b"one");
    assert_eq!(got[1].as_ref().unwrap().line(), b"two");
    match &got[2] {
        Err(err @ Error::RecordDropped { begin: 8, end: 10 }) => {
            assert_eq!(err.kind(), gazette_tokio::ErrorKind::OffsetJump);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn blocking_records_iterate_whole_records_with_their_offsets() {
    let journal = unique("records-blocking");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { write_records(&client(), &journal).await });

    let client = gazette_blocking::Client::new(broker()).unwrap();
    let reader = gazette_blocking::RetryReader::to_write_head(&client, ReadRequest::new(&journal));
    let got: Vec<_> = gazette_blocking::Records::new(reader)
        .map(|r| {
            let r = r.unwrap();
            (r.begin, r.end, r.bytes.to_vec())
        })
        .collect();
    let want: Vec<_> = expected()
        .into_iter()
        .map(|(b, e, bytes)| (b, e, bytes.to_vec()))
        .collect();
    assert_eq!(got, want);

    // The blocking record writer.
    let service = gazette_blocking::AppendService::new(&client);
    service
        .append_record(AppendRequest::new(&journal), b"five")
        .unwrap()
        .err()
        .unwrap();
    let reader = gazette_blocking::RetryReader::to_write_head(
        &client,
        ReadRequest::new(&journal).from_offset(19),
    );
    let last: Vec<_> = gazette_blocking::Records::new(reader)
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(last.len(), 1);
    assert_eq!(
        (last[0].begin, last[0].end, last[0].line()),
        (19, 24, &b"five"[..])
    );
}

#[tokio::test]
async fn records_over_the_limit_are_skipped_and_reported() {
    let client = client();
    let journal = unique("records-limit");
    write_records(&client, &journal).await;

    let reader = RetryReader::to_write_head(&client, ReadRequest::new(&journal));
    let got: Vec<_> = Records::new(reader).with_max_len(5).collect().await;
    assert_eq!(got.len(), 4, "{got:?}");
    assert_eq!(got[1].as_ref().unwrap().line(), b"two");
    match &got[2] {
        Err(err @ Error::RecordTooLong { begin: 8, end: 14 }) => {
            assert_eq!(err.kind(), gazette_tokio::ErrorKind::Corrupt);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(got[3].as_ref().unwrap().line(), b"four");
}
