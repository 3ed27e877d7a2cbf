//! Tests of the read path: Go's checklist (docs/behaviour.md#reader-checklist, #retryreader-checklist) as named tests with
//! transcript snapshots, quirk decisions, and property tests.

// Tests need an arbitrary base `Instant`; the core itself never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::fmt::{Display, Write as _};

use bytes::Bytes;
use gazette_proto::{
    CompressionCodec, Fragment, Header, ReadRequest, ReadResponse, Route, Status, header::Etcd,
    process_spec::Id,
};

use super::*;

mod props;
mod reader_checklist;
mod retry_checklist;

pub(super) const JOURNAL: &str = "a/journal";

/// A machine the transcript harness can drive.
pub(super) trait Machine {
    type In: Display;
    type Out: Display + Clone;
    fn feed(&mut self, input: Self::In);
    fn poll(&mut self) -> Option<Self::Out>;
}

impl Machine for Reader {
    type In = ReadInput;
    type Out = ReadOutput;
    fn feed(&mut self, input: ReadInput) {
        self.handle(input)
    }
    fn poll(&mut self) -> Option<ReadOutput> {
        self.poll_output()
    }
}

impl Machine for RetryReader {
    type In = RetryInput;
    type Out = RetryOutput;
    fn feed(&mut self, input: RetryInput) {
        self.handle(input)
    }
    fn poll(&mut self) -> Option<RetryOutput> {
        self.poll_output()
    }
}

/// Drives a machine and records every input and output as text lines.
pub(super) struct Transcript<M: Machine> {
    pub(super) m: M,
    pub(super) lines: String,
}

impl<M: Machine> Transcript<M> {
    pub(super) fn new(m: M) -> Self {
        Transcript {
            m,
            lines: String::new(),
        }
    }

    /// Drains outputs, recording them.
    pub(super) fn drain(&mut self) -> Vec<M::Out> {
        let mut outs = Vec::new();
        while let Some(out) = self.m.poll() {
            writeln!(self.lines, "  -> {out}").unwrap();
            outs.push(out);
        }
        outs
    }

    /// Feeds one input, then drains.
    pub(super) fn feed(&mut self, input: impl Into<M::In>) -> Vec<M::Out> {
        let input = input.into();
        writeln!(self.lines, "<- {input}").unwrap();
        self.m.feed(input);
        self.drain()
    }

    /// Records a caller-side note (a seek, a flag change).
    pub(super) fn note(&mut self, note: impl Display) {
        writeln!(self.lines, "## {note}").unwrap();
    }
}

pub(super) fn request(offset: i64) -> ReadRequest {
    ReadRequest {
        journal: JOURNAL.to_string(),
        offset,
        ..Default::default()
    }
}

pub(super) fn broker_id() -> Id {
    Id {
        zone: "a".into(),
        suffix: "broker".into(),
    }
}

pub(super) fn header() -> Header {
    Header {
        process_id: Some(broker_id()),
        route: Some(Route {
            members: vec![broker_id()],
            primary: 0,
            endpoints: vec!["http://a-broker:8080".into()],
        }),
        etcd: Some(Etcd {
            cluster_id: 12,
            member_id: 34,
            revision: 56,
            raft_term: 78,
        }),
    }
}

pub(super) fn fragment(begin: i64, end: i64, codec: CompressionCodec) -> Fragment {
    Fragment {
        journal: JOURNAL.into(),
        begin,
        end,
        compression_codec: codec as i32,
        ..Default::default()
    }
}

/// Go's fixture metadata frame: OK, offset, write head 1024, fragment [0, 1024).
pub(super) fn metadata(offset: i64) -> ReadResponse {
    ReadResponse {
        status: Status::Ok as i32,
        offset,
        write_head: 1024,
        fragment: Some(fragment(0, 1024, CompressionCodec::None)),
        ..Default::default()
    }
}

/// The first metadata frame of a stream, with the fixture header.
pub(super) fn first_metadata(offset: i64) -> ReadResponse {
    ReadResponse {
        header: Some(header()),
        ..metadata(offset)
    }
}

pub(super) fn status_frame(status: Status, offset: i64) -> ReadResponse {
    ReadResponse {
        status: status as i32,
        header: Some(header()),
        offset,
        ..Default::default()
    }
}

pub(super) fn content(offset: i64, text: &str) -> ReadResponse {
    ReadResponse {
        offset,
        content: Bytes::copy_from_slice(text.as_bytes()),
        ..Default::default()
    }
}

pub(super) fn direct(text: &str) -> ReadInput {
    ReadInput::DirectContent(Bytes::copy_from_slice(text.as_bytes()))
}

/// The concatenated content of reader outputs.
pub(super) fn read_content(outs: &[ReadOutput]) -> String {
    outs.iter()
        .filter_map(|o| match o {
            ReadOutput::Event(ReadEvent::Content { content, .. }) => {
                Some(String::from_utf8_lossy(content).into_owned())
            }
            _ => None,
        })
        .collect()
}

/// The concatenated content of retry reader outputs.
pub(super) fn retry_content(outs: &[RetryOutput]) -> String {
    outs.iter()
        .filter_map(|o| match o {
            RetryOutput::Event(ReadEvent::Content { content, .. }) => {
                Some(String::from_utf8_lossy(content).into_owned())
            }
            _ => None,
        })
        .collect()
}

pub(super) fn finished(outs: &[ReadOutput]) -> Option<&Result<(), ReadError>> {
    outs.iter().find_map(|o| match o {
        ReadOutput::Finished(r) => Some(r),
        _ => None,
    })
}
