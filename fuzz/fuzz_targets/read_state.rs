//! Fuzzes the read machines (`Reader`, `RetryReader`) with arbitrary
//! sequences of frames and driver events, asserting their invariants:
//! no panic; content is emitted contiguously at the reader's offset; the
//! offset moves backwards only through an explicit seek or restart and
//! forwards only by emitted bytes or reported jumps; nothing is emitted past
//! `end_offset`; nothing follows a final output.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use gazette_core::read::{
    DirectError, ReadAction, ReadEvent, ReadInput, ReadOutput, Reader, RetryInput, RetryOutput,
    RetryReader, TransportError,
};
use gazette_proto::{
    CompressionCodec, Fragment, Header, ReadRequest, ReadResponse, Route, header::Etcd,
    process_spec::Id,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    RpcStarted,
    RpcStartFailed(u8),
    Metadata {
        delta: i16,
        status: u8,
        fragment: Option<(u8, u16, u16)>,
        url: bool,
        header: bool,
        bad_journal: bool,
    },
    Content {
        delta: i8,
        len: u16,
        write_head: bool,
    },
    RpcClosed,
    RpcFailed(u8),
    DirectOpened,
    DirectOpenFailed(u8),
    DirectContent(u16),
    DirectEnd,
    DirectFailed(u8),
    Cancel,
    Deadline,
    Seek(i16),
    BackoffElapsed,
    Resume,
    Restart(i16),
}

#[derive(Arbitrary, Debug)]
struct Case {
    offset: i16,
    end_len: u16,
    block: bool,
    do_not_proxy: bool,
    metadata_only: bool,
    retry: bool,
    ops: Vec<Op>,
}

fn transport(n: u8) -> TransportError {
    match n % 4 {
        0 => TransportError::Cancelled,
        1 => TransportError::DeadlineExceeded,
        2 => TransportError::Unavailable("down".into()),
        _ => TransportError::Other("boom".into()),
    }
}

fn direct_error(n: u8) -> DirectError {
    match n % 4 {
        0 => DirectError::Eof,
        1 => DirectError::UnexpectedEof,
        2 => DirectError::DidNotReadExpectedEof,
        _ => DirectError::Other("corrupt".into()),
    }
}

fn header() -> Header {
    let id = Id {
        zone: "a".into(),
        suffix: "broker".into(),
    };
    Header {
        process_id: Some(id.clone()),
        route: Some(Route {
            members: vec![id],
            primary: 0,
            endpoints: vec![],
        }),
        etcd: Some(Etcd {
            cluster_id: 1,
            member_id: 1,
            revision: 1,
            raft_term: 1,
        }),
    }
}

static DATA: [u8; 4096] = [b'x'; 4096];

/// Maps an op to a machine input (or a caller call), relative to `pos`.
fn input(op: &Op, pos: i64) -> Option<ReadInput> {
    let at = |delta: i64| pos.max(0) + delta;
    Some(match *op {
        Op::RpcStarted => ReadInput::RpcStarted,
        Op::RpcStartFailed(n) => ReadInput::RpcStartFailed(transport(n)),
        Op::Metadata {
            delta,
            status,
            fragment,
            url,
            header: with_header,
            bad_journal,
        } => {
            let offset = at(delta as i64);
            let fragment = fragment.map(|(back, len, _)| Fragment {
                journal: if bad_journal {
                    "x".into()
                } else {
                    "a/journal".into()
                },
                begin: offset - back as i64,
                end: offset + len as i64,
                compression_codec: CompressionCodec::None as i32,
                ..Default::default()
            });
            let write_head = fragment.as_ref().map_or(0, |f| f.end) + (delta as i64 & 0xff);
            ReadInput::Frame(ReadResponse {
                status: (status % 18) as i32,
                header: with_header.then(header),
                offset: if fragment.is_none() && status % 18 == 0 {
                    0
                } else {
                    offset
                },
                write_head,
                fragment_url: if url {
                    "https://store/f".into()
                } else {
                    String::new()
                },
                fragment,
                content: Bytes::new(),
            })
        }
        Op::Content {
            delta,
            len,
            write_head,
        } => ReadInput::Frame(ReadResponse {
            offset: at(delta as i64),
            write_head: write_head as i64,
            content: Bytes::from_static(&DATA[..(len as usize % DATA.len()).max(1)]),
            ..Default::default()
        }),
        Op::RpcClosed => ReadInput::RpcClosed,
        Op::RpcFailed(n) => ReadInput::RpcFailed(transport(n)),
        Op::DirectOpened => ReadInput::DirectOpened,
        Op::DirectOpenFailed(n) => ReadInput::DirectOpenFailed(direct_error(n)),
        Op::DirectContent(len) => {
            ReadInput::DirectContent(Bytes::from_static(&DATA[..len as usize % DATA.len()]))
        }
        Op::DirectEnd => ReadInput::DirectEnd,
        Op::DirectFailed(n) => ReadInput::DirectFailed(direct_error(n)),
        Op::Cancel => ReadInput::Cancel,
        Op::Deadline => ReadInput::DeadlineExceeded,
        Op::Seek(_) | Op::BackoffElapsed | Op::Resume | Op::Restart(_) => return None,
    })
}

/// Tracks the reader's position from its outputs alone.
struct Tracker {
    pos: i64,
    end_offset: i64,
    done: bool,
}

impl Tracker {
    fn content(&mut self, offset: i64, content: &Bytes) {
        assert!(!self.done, "output after the final one");
        assert!(!content.is_empty(), "empty content");
        assert_eq!(offset, self.pos, "content not contiguous");
        self.pos += content.len() as i64;
        if self.end_offset != 0 {
            assert!(self.pos <= self.end_offset, "content past end_offset");
        }
    }

    fn jump(&mut self, from: i64, to: i64) {
        assert!(!self.done, "output after the final one");
        assert_eq!(from, self.pos);
        assert!(to > from, "jumps go forwards");
        self.pos = to;
    }
}

fn run_reader(case: &Case, request: ReadRequest) {
    let mut r = Reader::new(request.clone());
    let mut t = Tracker {
        pos: request.offset,
        end_offset: request.end_offset,
        done: false,
    };
    let drain = |r: &mut Reader, t: &mut Tracker| {
        while let Some(out) = r.poll_output() {
            match out {
                ReadOutput::Event(ReadEvent::Content { offset, content }) => {
                    t.content(offset, &content)
                }
                ReadOutput::Event(ReadEvent::OffsetJump { from, to }) => t.jump(from, to),
                ReadOutput::Finished(_) => {
                    assert!(!t.done);
                    t.done = true;
                }
                ReadOutput::Event(ReadEvent::Metadata(_)) | ReadOutput::Action(_) => {
                    assert!(!t.done)
                }
            }
        }
        assert_eq!(r.offset(), t.pos, "offset matches emitted bytes and jumps");
    };
    drain(&mut r, &mut t);
    for op in &case.ops {
        match op {
            Op::Seek(delta) => {
                let target = r.offset() + *delta as i64;
                if let Ok(o) = r.seek(target) {
                    t.pos = o;
                }
            }
            op => {
                if let Some(i) = input(op, r.offset()) {
                    r.handle(i);
                }
            }
        }
        drain(&mut r, &mut t);
    }
}

fn run_retry(case: &Case, request: ReadRequest) {
    let mut rr = RetryReader::new(request.clone());
    let mut t = Tracker {
        pos: request.offset,
        end_offset: request.end_offset,
        done: false,
    };
    let drain = |rr: &mut RetryReader, t: &mut Tracker| {
        while let Some(out) = rr.poll_output() {
            match out {
                RetryOutput::Event(ReadEvent::Content { offset, content }) => {
                    t.content(offset, &content)
                }
                RetryOutput::Event(ReadEvent::OffsetJump { from, to }) => t.jump(from, to),
                RetryOutput::Complete => {
                    assert!(!t.done);
                    t.done = true;
                }
                RetryOutput::Action(ReadAction::StartRpc { request, .. }) => {
                    assert!(!t.done);
                    assert_eq!(request.offset, t.pos, "restarts resume at the offset");
                }
                _ => assert!(!t.done),
            }
        }
        assert_eq!(rr.offset(), t.pos);
    };
    drain(&mut rr, &mut t);
    for op in &case.ops {
        match op {
            Op::Seek(delta) => {
                let target = rr.offset() + *delta as i64;
                t.pos = rr.seek(target);
                t.done = rr.is_complete();
            }
            Op::BackoffElapsed => rr.handle(RetryInput::BackoffElapsed),
            Op::Resume => rr.resume(),
            Op::Restart(offset) => {
                let req = ReadRequest {
                    offset: *offset as i64,
                    ..request.clone()
                };
                rr.restart(req);
                t.pos = *offset as i64;
                t.done = false;
            }
            op => {
                if let Some(i) = input(op, rr.offset()) {
                    rr.handle(i);
                }
            }
        }
        drain(&mut rr, &mut t);
    }
}

fuzz_target!(|case: Case| {
    let offset = (case.offset as i64).max(-1);
    let request = ReadRequest {
        journal: "a/journal".into(),
        offset,
        block: case.block,
        do_not_proxy: case.do_not_proxy,
        metadata_only: case.metadata_only,
        end_offset: if case.end_len == 0 {
            0
        } else {
            offset.max(0) + case.end_len as i64
        },
        ..Default::default()
    };
    if case.retry {
        run_retry(&case, request);
    } else {
        run_reader(&case, request);
    }
});
