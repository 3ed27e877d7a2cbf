//! Feeds arbitrary Appender inputs, including arbitrary decoded
//! AppendResponses, and checks the framing invariants: the preamble is sent
//! first and once, content chunks are non-empty and bounded, the commit
//! marker is last, at most one `Finished` is output and nothing follows it,
//! and a route is updated only for a valid response or on Unavailable.
#![no_main]

use bytes::Bytes;
use gazette_core::append::*;
use gazette_proto::{AppendRequest, AppendResponse};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, mut rest)) = data.split_first() else {
        return;
    };
    let request = AppendRequest {
        journal: "fuzz/journal".into(),
        ..Default::default()
    };
    let mut a = Appender::new(request.clone())
        .unwrap()
        .with_chunk_size(chunk as usize % 16 + 1);
    let (mut sent, mut finished, mut committed) = (Vec::<AppendRequest>::new(), false, false);
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        let input = match op % 7 {
            0 | 1 => {
                let n = (op as usize / 7).min(rest.len());
                let (content, tail) = rest.split_at(n);
                rest = tail;
                AppenderInput::Write(Bytes::copy_from_slice(content))
            }
            2 => AppenderInput::Commit,
            3 => AppenderInput::Abort,
            4 => AppenderInput::SendFailed,
            5 => {
                let n = (op as usize / 7).min(rest.len());
                let (msg, tail) = rest.split_at(n);
                rest = tail;
                match AppendResponse::decode(msg) {
                    Ok(r) => AppenderInput::Response(r),
                    Err(_) => continue,
                }
            }
            _ => AppenderInput::StreamFailed(match op / 7 % 4 {
                0 => TransportError::Unavailable("down".into()),
                1 => TransportError::Cancelled,
                2 => TransportError::DeadlineExceeded,
                _ => TransportError::Other("other".into()),
            }),
        };
        a.handle(input);
        while let Some(out) = a.poll_output() {
            assert!(!finished, "output after Finished: {out:?}");
            match out {
                AppenderOutput::Send(m) => {
                    assert!(!committed, "message after the commit marker");
                    if sent.is_empty() {
                        assert_eq!(m, request, "first message is the preamble");
                    } else {
                        assert!(m.journal.is_empty());
                        assert!(m.content.len() <= 16);
                        committed = m.content.is_empty();
                    }
                    sent.push(m);
                }
                AppenderOutput::UpdateRoute { .. } => {}
                AppenderOutput::Finished(result) => {
                    finished = true;
                    if result.is_ok() {
                        assert!(committed, "OK without a commit marker");
                    }
                }
                AppenderOutput::OpenStream { .. } => assert!(sent.is_empty()),
                AppenderOutput::HalfClose
                | AppenderOutput::ReceiveResponse
                | AppenderOutput::Abort => {}
            }
        }
    }
});
