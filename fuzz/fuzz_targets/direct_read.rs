//! Fuzzes a direct read end to end: a Reader whose broker hands out a
//! fragment URL, driven through the `DirectFetch` adapter with an arbitrary
//! codec, HTTP status, Content-Encoding, fragment range, offset,
//! `end_offset`, body and chunking (or a `file://` URL with an arbitrary
//! path). It must not panic or hang; the Reader finishes exactly once;
//! content is contiguous from the offset, within the fragment and
//! `end_offset`; a clean finish means the content reached the fragment's
//! end or `end_offset`; and a `file://` path never escapes its root.

#![no_main]

use std::path::Path;

use arbitrary::Arbitrary;
use bytes::Bytes;
use gazette_core::read::{
    DirectFetch, FetchTarget, ReadAction, ReadEvent, ReadInput, ReadOutput, Reader, file_url_path,
};
use gazette_proto::{Fragment, ReadRequest, ReadResponse};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    codec: u8,
    status: u16,
    encoding: u8,
    begin: u32,
    length: u16,
    skip: u16,
    end_offset: u16,
    file_path: Option<String>,
    chunks: Vec<u16>,
    cut_transfer: bool,
    body: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let root = Path::new("/fuzz/root");
    if let Some(path) = &input.file_path {
        if let Ok(mapped) = file_url_path(root, &format!("file://{path}")) {
            assert!(mapped.starts_with(root) && mapped != root);
            assert!(
                mapped
                    .components()
                    .all(|c| c != std::path::Component::ParentDir)
            );
        }
    }
    let begin = i64::from(input.begin);
    let end = begin + i64::from(input.length) + 1;
    let offset = begin + i64::from(input.skip) % (end - begin);
    let end_offset = match input.end_offset {
        0 => 0,
        n => offset + i64::from(n),
    };
    let fragment = Fragment {
        journal: "a/journal".into(),
        begin,
        end,
        compression_codec: i32::from(input.codec % 5) + 1,
        ..Default::default()
    };
    let url = match &input.file_path {
        Some(_) => "file:///a/journal/frag".to_owned(),
        None => "https://store.example/frag".to_owned(),
    };
    let mut reader = Reader::new(ReadRequest {
        journal: "a/journal".into(),
        offset,
        end_offset,
        ..Default::default()
    });
    reader.poll_output();
    reader.handle(ReadInput::RpcStarted);
    reader.handle(ReadInput::Frame(ReadResponse {
        offset,
        write_head: end,
        fragment: Some(fragment),
        fragment_url: url,
        ..Default::default()
    }));
    reader.handle(ReadInput::RpcClosed);

    let mut fetch = None;
    let mut next = offset;
    let mut outcome = None;
    let mut drain = |reader: &mut Reader, fetch: &mut Option<DirectFetch>| {
        while let Some(out) = reader.poll_output() {
            match out {
                ReadOutput::Action(action @ ReadAction::OpenFragment { .. }) => {
                    *fetch = DirectFetch::from_action(&action);
                }
                ReadOutput::Event(ReadEvent::Content {
                    offset: at,
                    content,
                }) => {
                    assert_eq!(at, next, "contiguous content");
                    next += content.len() as i64;
                    assert!(next <= end);
                    assert!(end_offset == 0 || next <= end_offset);
                }
                ReadOutput::Finished(result) => {
                    assert!(outcome.is_none(), "finished twice");
                    outcome = Some(result);
                }
                _ => {}
            }
        }
    };
    drain(&mut reader, &mut fetch);
    let Some(mut fetch) = fetch else {
        assert!(reader.is_finished());
        return;
    };
    match fetch.target(Some(root)) {
        Ok(FetchTarget::File { .. }) => fetch.file_opened(),
        Ok(FetchTarget::Http { .. }) => {
            let status = if input.status % 4 == 0 {
                input.status
            } else {
                200
            };
            let encoding = ["gzip", "identity", "br", ""][usize::from(input.encoding % 5).min(3)];
            let encoding = (input.encoding % 5 != 4).then_some(encoding);
            fetch.http_response(status, None, encoding);
        }
        Err(err) => fetch.open_failed_with(err),
    }
    let body = Bytes::from(input.body);
    let body = if input.cut_transfer {
        body.slice(..body.len() / 2)
    } else {
        body
    };
    let mut fed = 0;
    let mut chunk = 0;
    let mut steps = 0;
    while !reader.is_finished() {
        steps += 1;
        assert!(steps < 1_000_000, "no progress");
        while let Some(input) = fetch.poll_input() {
            reader.handle(input);
            drain(&mut reader, &mut None);
            if reader.is_finished() {
                break;
            }
        }
        if reader.is_finished() {
            break;
        }
        assert!(!fetch.is_done(), "adapter ended without a final input");
        assert!(fetch.wants_input());
        if fed == body.len() {
            fetch.feed_end();
        } else {
            let size = input
                .chunks
                .get(chunk % input.chunks.len().max(1))
                .copied()
                .unwrap_or(4096);
            let n = usize::from(size).clamp(1, body.len() - fed);
            fetch.feed(body.slice(fed..fed + n));
            fed += n;
            chunk += 1;
        }
    }
    if let Some(Ok(())) = outcome {
        assert!(next == end || (end_offset != 0 && next == end_offset));
    }
    assert!(outcome.is_some());
});
