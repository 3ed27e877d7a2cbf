//! Structure-aware fuzzing of what the network feeds the RPC machines: the
//! input generates a valid broker answer (a Read stream: metadata then
//! contiguous content frames; an Append response with its commit; a List
//! snapshot split over several messages), encodes every message with prost
//! as it crosses the wire, then applies a few mutations, to the messages'
//! fields (offsets, statuses, headers, fragments, names) or to their encoded
//! bytes (flip, truncate, insert) or to the sequence (drop, duplicate,
//! reorder, cut the stream short). Each message is decoded again; one that
//! no longer decodes ends the stream with a transport error, as a driver
//! reports it.
//!
//! Checked: no panic; an unmutated Read stream yields exactly its content
//! and finishes cleanly, an unmutated Append finishes with its commit, an
//! unmutated List snapshot holds exactly its journals; whatever the
//! mutations, Read content stays contiguous from the requested offset, the
//! reader's offset is that of the bytes emitted (or a reported jump), one
//! `Finished` and nothing after it, and the Appender sends its preamble
//! first and finishes at most once (OK only after its commit marker).

#![no_main]

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;
use gazette_core::append::{Appender, AppenderInput, AppenderOutput};
use gazette_core::list::SnapshotAssembler;
use gazette_core::read::{ReadEvent, ReadInput, ReadOutput, Reader, TransportError};
use gazette_proto::{
    AppendRequest, AppendResponse, CompressionCodec, Fragment, Header, JournalSpec, LabelSet,
    ListRequest, ListResponse, ReadRequest, ReadResponse, Route, header::Etcd, journal_spec,
    list_response::Journal, process_spec::Id,
};
use libfuzzer_sys::fuzz_target;
use prost::Message;

#[derive(Debug, Arbitrary)]
enum Rpc {
    Read {
        offset: u16,
        /// Bytes of the fragment before the offset.
        back: u16,
        /// Content frames (their lengths).
        frames: Vec<u16>,
        end_len: u16,
    },
    Append {
        chunks: Vec<u16>,
        chunk_size: u8,
        begin: u32,
    },
    List {
        /// Journals per message.
        messages: Vec<u8>,
        revision: u16,
    },
}

/// A field-level edit of one message; each RPC maps a variant onto the
/// nearest field it has (see `edit_read`, `edit_append`, `edit_list`).
#[derive(Debug, Arbitrary)]
enum FieldEdit {
    Status(u8),
    DropHeader,
    Offset(i16),
    WriteHead(i16),
    /// Read: drop the fragment; Append: drop the commit; List: drop a spec.
    DropFragment,
    /// Read: fragment bounds; Append: commit bounds.
    FragmentBounds(i16, i16),
    /// The journal name (read fragment, append commit, list spec).
    Journal(String),
    Codec(u8),
    /// Read: a fragment URL; Append: a store health error; List: no journals.
    FragmentUrl,
    /// Append: drop the registers; Read: drop the content; List: a route.
    DropRegisters,
    Route(i8),
}

#[derive(Debug, Arbitrary)]
enum Mutation {
    Field {
        msg: u8,
        edit: FieldEdit,
    },
    Flip {
        msg: u8,
        at: u16,
        mask: u8,
    },
    Truncate {
        msg: u8,
        at: u16,
    },
    Insert {
        msg: u8,
        at: u16,
        bytes: Vec<u8>,
    },
    Drop {
        msg: u8,
    },
    Duplicate {
        msg: u8,
    },
    Swap {
        a: u8,
        b: u8,
    },
    /// The stream ends after `msg` messages with a transport error.
    Cut {
        msg: u8,
        error: u8,
    },
}

#[derive(Debug)]
struct Input {
    rpc: Rpc,
    mutations: Vec<Mutation>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let rpc = u.arbitrary()?;
        let n = u.int_in_range(0..=4)?;
        let mutations = (0..n).map(|_| u.arbitrary()).collect::<Result<_>>()?;
        Ok(Self { rpc, mutations })
    }
}

const JOURNAL: &str = "fuzz/journal";
static DATA: [u8; 4096] = [b'x'; 4096];

fn id(suffix: &str) -> Id {
    Id {
        zone: "a".into(),
        suffix: suffix.into(),
    }
}

fn header(revision: i64) -> Header {
    Header {
        process_id: Some(id("broker")),
        route: Some(Route {
            members: vec![id("broker")],
            primary: 0,
            endpoints: vec!["http://broker".into()],
        }),
        etcd: Some(Etcd {
            cluster_id: 1,
            member_id: 1,
            revision,
            raft_term: 1,
        }),
    }
}

fn transport(n: u8) -> TransportError {
    match n % 4 {
        0 => TransportError::Cancelled,
        1 => TransportError::DeadlineExceeded,
        2 => TransportError::Unavailable("down".into()),
        _ => TransportError::Other("boom".into()),
    }
}

/// A message on the wire: decoded when field edits apply, encoded after the
/// first byte-level edit.
enum Wire<M> {
    Message(M),
    Bytes(Vec<u8>),
}

impl<M: Message + Default + Clone> Wire<M> {
    fn bytes(&mut self) -> &mut Vec<u8> {
        if let Wire::Message(m) = self {
            *self = Wire::Bytes(m.encode_to_vec());
        }
        match self {
            Wire::Bytes(b) => b,
            Wire::Message(_) => unreachable!(),
        }
    }

    /// The message as the receiver decodes it.
    fn receive(&self) -> Option<M> {
        match self {
            Wire::Message(m) => Some(M::decode(m.encode_to_vec().as_slice()).unwrap()),
            Wire::Bytes(b) => M::decode(b.as_slice()).ok(),
        }
    }
}

/// Applies the mutations; returns the stream (and where it is cut, with
/// which error) and whether anything changed.
fn mutate<M: Message + Default + Clone>(
    mut msgs: Vec<Wire<M>>,
    mutations: &[Mutation],
    edit: impl Fn(&mut M, &FieldEdit),
) -> (Vec<Wire<M>>, Option<(usize, u8)>, bool) {
    let mut cut = None;
    let mut changed = false;
    for m in mutations {
        let len = msgs.len();
        let pick = |i: u8| usize::from(i) % len.max(1);
        if len == 0 && !matches!(m, Mutation::Cut { .. }) {
            continue;
        }
        match m {
            Mutation::Field { msg, edit: e } => {
                if let Wire::Message(msg) = &mut msgs[pick(*msg)] {
                    edit(msg, e);
                    changed = true;
                }
            }
            Mutation::Flip { msg, at, mask } => {
                let b = msgs[pick(*msg)].bytes();
                if !b.is_empty() && *mask != 0 {
                    let at = usize::from(*at) % b.len();
                    b[at] ^= mask;
                    changed = true;
                }
            }
            Mutation::Truncate { msg, at } => {
                let b = msgs[pick(*msg)].bytes();
                let at = usize::from(*at) % (b.len() + 1);
                changed |= at < b.len();
                b.truncate(at);
            }
            Mutation::Insert { msg, at, bytes } => {
                let b = msgs[pick(*msg)].bytes();
                let at = usize::from(*at) % (b.len() + 1);
                b.splice(at..at, bytes.iter().copied());
                changed |= !bytes.is_empty();
            }
            Mutation::Drop { msg } => {
                msgs.remove(pick(*msg));
                changed = true;
            }
            Mutation::Duplicate { msg } => {
                let i = pick(*msg);
                let copy = match &msgs[i] {
                    Wire::Message(m) => Wire::Message(m.clone()),
                    Wire::Bytes(b) => Wire::Bytes(b.clone()),
                };
                msgs.insert(i, copy);
                changed = true;
            }
            Mutation::Swap { a, b } => {
                let (a, b) = (pick(*a), pick(*b));
                msgs.swap(a, b);
                changed |= a != b;
            }
            Mutation::Cut { msg, error } => {
                let at = usize::from(*msg) % (len + 1);
                cut = Some((at, *error));
                changed = true;
            }
        }
    }
    if let Some((at, _)) = &mut cut {
        *at = (*at).min(msgs.len());
    }
    (msgs, cut, changed)
}

fn edit_read(r: &mut ReadResponse, e: &FieldEdit) {
    match e {
        FieldEdit::Status(s) => r.status = i32::from(*s % 20),
        FieldEdit::DropHeader => r.header = None,
        FieldEdit::Offset(d) => r.offset += i64::from(*d),
        FieldEdit::WriteHead(d) => r.write_head += i64::from(*d),
        FieldEdit::DropFragment => r.fragment = None,
        FieldEdit::FragmentBounds(b, e) => {
            let f = r.fragment.get_or_insert_with(Default::default);
            f.begin += i64::from(*b);
            f.end += i64::from(*e);
        }
        FieldEdit::Journal(j) => {
            if let Some(f) = &mut r.fragment {
                f.journal = j.clone();
            }
        }
        FieldEdit::Codec(c) => {
            if let Some(f) = &mut r.fragment {
                f.compression_codec = i32::from(*c % 7);
            }
        }
        FieldEdit::FragmentUrl => r.fragment_url = "https://store.example/f".into(),
        FieldEdit::DropRegisters => r.content = Bytes::new(),
        FieldEdit::Route(p) => {
            if let Some(route) = r.header.as_mut().and_then(|h| h.route.as_mut()) {
                route.primary = i32::from(*p);
            }
        }
    }
}

fn run_read(offset: u16, back: u16, frames: &[u16], end_len: u16, mutations: &[Mutation]) {
    let offset = i64::from(offset);
    let frames: Vec<usize> = frames
        .iter()
        .take(32)
        .map(|&n| usize::from(n) % DATA.len() + 1)
        .collect();
    let total: i64 = frames.iter().map(|&n| n as i64).sum();
    let end = offset + total;
    let end_offset = match end_len {
        0 => 0,
        n => offset + i64::from(n),
    };
    let request = ReadRequest {
        journal: JOURNAL.into(),
        offset,
        end_offset,
        ..Default::default()
    };
    let fragment = Fragment {
        journal: JOURNAL.into(),
        begin: offset - i64::from(back).min(offset),
        end: end.max(offset + 1),
        compression_codec: CompressionCodec::None as i32,
        ..Default::default()
    };
    let mut msgs = vec![Wire::Message(ReadResponse {
        header: Some(header(1)),
        offset,
        write_head: fragment.end,
        fragment: Some(fragment),
        ..Default::default()
    })];
    let mut at = offset;
    for &n in &frames {
        msgs.push(Wire::Message(ReadResponse {
            offset: at,
            content: Bytes::from_static(&DATA[..n]),
            ..Default::default()
        }));
        at += n as i64;
    }
    let (msgs, cut, changed) = mutate(msgs, mutations, edit_read);

    let mut reader = Reader::new(request);
    let mut pos = offset;
    let mut finished = None;
    let mut drain = |reader: &mut Reader, pos: &mut i64| {
        while let Some(out) = reader.poll_output() {
            assert!(finished.is_none(), "output after Finished: {out:?}");
            match out {
                ReadOutput::Event(ReadEvent::Content { offset, content }) => {
                    assert_eq!(offset, *pos, "contiguous content");
                    assert!(!content.is_empty());
                    *pos += content.len() as i64;
                    assert!(end_offset == 0 || *pos <= end_offset, "past end_offset");
                }
                ReadOutput::Event(ReadEvent::OffsetJump { from, to }) => {
                    assert_eq!(from, *pos);
                    assert!(to > from, "jumps go forwards");
                    *pos = to;
                }
                ReadOutput::Finished(result) => finished = Some(result),
                ReadOutput::Event(ReadEvent::Metadata(_)) | ReadOutput::Action(_) => {}
            }
        }
        assert_eq!(reader.offset(), *pos, "offset is that of the emitted bytes");
    };
    drain(&mut reader, &mut pos);
    reader.handle(ReadInput::RpcStarted);
    drain(&mut reader, &mut pos);
    let mut failed = false;
    for (i, wire) in msgs.iter().enumerate() {
        if cut.is_some_and(|(at, _)| at == i) || reader.is_finished() {
            break;
        }
        match wire.receive() {
            Some(frame) => reader.handle(ReadInput::Frame(frame)),
            None => {
                reader.handle(ReadInput::RpcFailed(TransportError::Other("decode".into())));
                failed = true;
            }
        }
        drain(&mut reader, &mut pos);
        if failed {
            break;
        }
    }
    if !failed && !reader.is_finished() {
        match cut {
            Some((at, error)) if at < msgs.len() || error % 2 == 0 => {
                reader.handle(ReadInput::RpcFailed(transport(error)))
            }
            _ => reader.handle(ReadInput::RpcClosed),
        }
        drain(&mut reader, &mut pos);
    }
    if !changed {
        let want = if end_offset == 0 {
            end
        } else {
            end.min(end_offset)
        };
        assert_eq!(pos, want, "a valid stream's content ({finished:?})");
        assert!(
            matches!(finished, Some(Ok(()))),
            "a valid stream did not finish cleanly: {finished:?}"
        );
    }
}

fn edit_append(r: &mut AppendResponse, e: &FieldEdit) {
    match e {
        FieldEdit::Status(s) => r.status = i32::from(*s % 20),
        FieldEdit::DropHeader => r.header = None,
        FieldEdit::Offset(d) | FieldEdit::WriteHead(d) => {
            if let Some(c) = &mut r.commit {
                c.end += i64::from(*d);
            }
        }
        FieldEdit::DropFragment => r.commit = None,
        FieldEdit::FragmentBounds(b, e) => {
            let c = r.commit.get_or_insert_with(Default::default);
            c.begin += i64::from(*b);
            c.end += i64::from(*e);
        }
        FieldEdit::Journal(j) => {
            if let Some(c) = &mut r.commit {
                c.journal = j.clone();
            }
        }
        FieldEdit::Codec(c) => {
            if let Some(f) = &mut r.commit {
                f.compression_codec = i32::from(*c % 7);
            }
        }
        FieldEdit::FragmentUrl => r.store_health_error = "unhealthy".into(),
        FieldEdit::DropRegisters => r.registers = None,
        FieldEdit::Route(p) => {
            if let Some(route) = r.header.as_mut().and_then(|h| h.route.as_mut()) {
                route.primary = i32::from(*p);
            }
        }
    }
}

fn run_append(chunks: &[u16], chunk_size: u8, begin: u32, mutations: &[Mutation]) {
    let request = AppendRequest {
        journal: JOURNAL.into(),
        ..Default::default()
    };
    let content: Vec<Bytes> = chunks
        .iter()
        .take(16)
        .map(|&n| Bytes::from_static(&DATA[..usize::from(n) % DATA.len()]))
        .collect();
    let total: i64 = content.iter().map(|c| c.len() as i64).sum();
    let begin = i64::from(begin);
    let response = AppendResponse {
        header: Some(header(1)),
        commit: Some(Fragment {
            journal: JOURNAL.into(),
            begin,
            end: begin + total,
            compression_codec: CompressionCodec::None as i32,
            ..Default::default()
        }),
        registers: Some(LabelSet::default()),
        total_chunks: content.len() as i64,
        ..Default::default()
    };
    let (msgs, cut, changed) = mutate(
        vec![Wire::Message(response.clone())],
        mutations,
        edit_append,
    );

    let mut a = Appender::new(request.clone())
        .unwrap()
        .with_chunk_size(usize::from(chunk_size) % 64 + 1);
    let (mut sent, mut committed, mut finished) = (0usize, false, None);
    let mut drain = |a: &mut Appender| {
        while let Some(out) = a.poll_output() {
            assert!(finished.is_none(), "output after Finished: {out:?}");
            match out {
                AppenderOutput::Send(m) => {
                    assert!(!committed, "message after the commit marker");
                    if sent == 0 {
                        assert_eq!(m, request, "the preamble first");
                    } else {
                        assert!(m.journal.is_empty());
                        committed = m.content.is_empty();
                    }
                    sent += 1;
                }
                AppenderOutput::Finished(result) => {
                    if result.is_ok() {
                        assert!(committed, "OK without the commit marker");
                    }
                    finished = Some(result);
                }
                _ => {}
            }
        }
    };
    for c in content {
        a.handle(AppenderInput::Write(c));
        drain(&mut a);
    }
    a.handle(AppenderInput::Commit);
    drain(&mut a);
    let mut failed = false;
    for (i, wire) in msgs.iter().enumerate() {
        if cut.is_some_and(|(at, _)| at == i) {
            break;
        }
        match wire.receive() {
            Some(r) => a.handle(AppenderInput::Response(r)),
            None => {
                a.handle(AppenderInput::StreamFailed(TransportError::Other(
                    "decode".into(),
                )));
                failed = true;
            }
        }
        drain(&mut a);
        if failed {
            break;
        }
    }
    if let Some((_, error)) = cut {
        a.handle(AppenderInput::StreamFailed(transport(error)));
        drain(&mut a);
    }
    if !changed {
        assert_eq!(finished, Some(Ok(response)), "a valid append's outcome");
    }
}

fn edit_list(r: &mut ListResponse, e: &FieldEdit) {
    match e {
        FieldEdit::Status(s) => r.status = i32::from(*s % 20),
        FieldEdit::DropHeader => r.header = None,
        FieldEdit::Offset(d) | FieldEdit::WriteHead(d) => {
            if let Some(etcd) = r.header.as_mut().and_then(|h| h.etcd.as_mut()) {
                etcd.revision += i64::from(*d);
            }
        }
        FieldEdit::DropFragment => {
            if let Some(j) = r.journals.first_mut() {
                j.spec = None;
            }
        }
        FieldEdit::FragmentBounds(m, _) => {
            if let Some(j) = r.journals.first_mut() {
                j.mod_revision += i64::from(*m);
            }
        }
        FieldEdit::Journal(name) => {
            if let Some(spec) = r.journals.first_mut().and_then(|j| j.spec.as_mut()) {
                spec.name = name.clone();
            }
        }
        FieldEdit::Codec(c) => {
            let spec = r.journals.first_mut().and_then(|j| j.spec.as_mut());
            if let Some(f) = spec.and_then(|s| s.fragment.as_mut()) {
                f.compression_codec = i32::from(*c % 7);
            }
        }
        FieldEdit::FragmentUrl => r.journals.clear(),
        FieldEdit::DropRegisters => {
            if let Some(j) = r.journals.first_mut() {
                j.route = None;
            }
        }
        FieldEdit::Route(p) => {
            if let Some(route) = r.journals.first_mut().and_then(|j| j.route.as_mut()) {
                route.primary = i32::from(*p);
            }
        }
    }
}

fn list_journal(index: usize) -> Journal {
    let mut journal = Journal {
        spec: Some(JournalSpec {
            name: format!("{JOURNAL}-{index}"),
            replication: 1,
            fragment: Some(journal_spec::Fragment {
                length: 1024,
                compression_codec: CompressionCodec::None as i32,
                refresh_interval: Some(Default::default()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        mod_revision: 1,
        create_revision: 1,
        route: Some(Route {
            members: vec![id("broker")],
            primary: 0,
            endpoints: vec!["http://broker".into()],
        }),
    };
    let spec = journal.spec.as_mut().and_then(|s| s.fragment.as_mut());
    spec.unwrap().refresh_interval.as_mut().unwrap().seconds = 1;
    journal
}

fn run_list(messages: &[u8], revision: u16, mutations: &[Mutation]) {
    let revision = i64::from(revision) + 1;
    let mut index = 0;
    let mut msgs = Vec::new();
    for (i, &n) in messages.iter().take(8).enumerate() {
        // A unary listing's continuation messages are never empty.
        let count = usize::from(n % 8) + usize::from(i > 0);
        let journals = (0..count)
            .map(|_| {
                index += 1;
                list_journal(index)
            })
            .collect();
        msgs.push(Wire::Message(ListResponse {
            // The header rides on the first message of the snapshot.
            header: (i == 0).then(|| header(revision)),
            journals,
            ..Default::default()
        }));
    }
    if msgs.is_empty() {
        msgs.push(Wire::Message(ListResponse {
            header: Some(header(revision)),
            ..Default::default()
        }));
    }
    let (msgs, cut, changed) = mutate(msgs, mutations, edit_list);

    let request = ListRequest::default();
    let mut assembler = SnapshotAssembler::new(&request);
    let mut outcome = None;
    for (i, wire) in msgs.iter().enumerate() {
        if cut.is_some_and(|(at, _)| at == i) || assembler.is_finished() {
            break;
        }
        let Some(msg) = wire.receive() else { break };
        match assembler.on_message(msg) {
            Ok(Some(_)) => panic!("a snapshot before the end of a non-watch list"),
            Ok(None) => {}
            Err(e) => {
                let _ = e.to_string();
                assert!(assembler.is_finished(), "an error ends the assembly");
                outcome = Some(Err(()));
            }
        }
    }
    if !assembler.is_finished() {
        match assembler.on_end() {
            Ok(snapshot) => {
                let names: Vec<_> = snapshot
                    .journals
                    .iter()
                    .map(|j| j.spec.as_ref().map(|s| s.name.clone()))
                    .collect();
                outcome = Some(Ok(names));
            }
            Err(e) => {
                let _ = e.to_string();
                outcome = Some(Err(()));
            }
        }
        assert!(assembler.is_finished());
    }
    if !changed {
        let want: Vec<_> = (1..=index)
            .map(|i| Some(format!("{JOURNAL}-{i}")))
            .collect();
        assert_eq!(outcome, Some(Ok(want)), "a valid snapshot's journals");
    }
}

fuzz_target!(|input: Input| {
    match &input.rpc {
        Rpc::Read {
            offset,
            back,
            frames,
            end_len,
        } => run_read(*offset, *back, frames, *end_len, &input.mutations),
        Rpc::Append {
            chunks,
            chunk_size,
            begin,
        } => run_append(chunks, *chunk_size, *begin, &input.mutations),
        Rpc::List { messages, revision } => run_list(messages, *revision, &input.mutations),
    }
});
