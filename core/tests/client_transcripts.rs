//! Transcripts of whole exchanges between the sans-IO `Client` and a
//! hand-driven broker: every user call (`user`), driver report (`<-`),
//! RPC command (`->`) and event (`=>`), with the time since the start.
//! A change to what the client sends, where, or when shows up as a diff
//! of the snapshot.

// Tests need an arbitrary base `Instant`; the core itself never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use bytes::Bytes;
use gazette_core::client::{
    Call, Client, ClientConfig, Event, OpId, RpcCommand, RpcEnd, RpcId, RpcMessage,
};
use gazette_core::proto::{
    AppendRequest, AppendResponse, CompressionCodec, Fragment, Header, ReadRequest, ReadResponse,
    Route, Status, header::Etcd, process_spec::Id,
};
use insta::assert_snapshot;

fn route() -> Route {
    Route {
        members: vec![
            Id {
                zone: "a".into(),
                suffix: "broker-one".into(),
            },
            Id {
                zone: "b".into(),
                suffix: "broker-two".into(),
            },
        ],
        primary: 1,
        endpoints: vec!["http://one:1".into(), "http://two:2".into()],
    }
}

fn header() -> Header {
    Header {
        process_id: Some(route().members[1].clone()),
        route: Some(route()),
        etcd: Some(Etcd {
            cluster_id: 1,
            member_id: 2,
            revision: 3,
            raft_term: 4,
        }),
    }
}

/// The client, the clock and every line seen so far.
struct Transcript {
    client: Client,
    start: Instant,
    now: Instant,
    lines: Vec<String>,
}

impl Transcript {
    fn new() -> Self {
        let start = Instant::now();
        Transcript {
            client: Client::new(ClientConfig::default()),
            start,
            now: start,
            lines: Vec::new(),
        }
    }

    fn note(&mut self, line: String) {
        let at = (self.now - self.start).as_millis();
        self.lines.push(format!("{at:>5}ms {line}"));
    }

    /// Drains commands and events; returns the commands.
    fn drain(&mut self) -> Vec<RpcCommand> {
        let mut commands = Vec::new();
        while let Some(command) = self.client.poll_rpc() {
            let line = match &command {
                RpcCommand::Open {
                    rpc,
                    op,
                    target,
                    call,
                    claims,
                } => {
                    let call = match call {
                        Call::Read(r) => format!(
                            "Read {} offset={} end={} block={}",
                            r.journal, r.offset, r.end_offset, r.block
                        ),
                        other => format!("{other:?}"),
                    };
                    format!(
                        "-> Open {rpc} for {op} to {target}: {call} (claims {:?})",
                        claims.capability
                    )
                }
                RpcCommand::Send { rpc, message } if !message.journal.is_empty() => {
                    format!("-> Send {rpc} preamble journal={}", message.journal)
                }
                RpcCommand::Send { rpc, message } if message.content.is_empty() => {
                    format!("-> Send {rpc} commit (empty message)")
                }
                RpcCommand::Send { rpc, message } => {
                    format!("-> Send {rpc} content {:?}", message.content)
                }
                other => format!("-> {other:?}"),
            };
            self.note(line);
            commands.push(command);
        }
        while let Some(event) = self.client.poll_event() {
            let line = match &event {
                Event::Read { op, event } => format!("=> {op} {event}"),
                other => format!("=> {other:?}"),
            };
            self.note(line);
        }
        let timeout = self
            .client
            .poll_timeout()
            .map(|at| format!("{}ms", (at - self.start).as_millis()));
        self.note(format!(
            "   poll_timeout {}",
            timeout.as_deref().unwrap_or("none")
        ));
        commands
    }

    fn opened(&mut self, rpc: RpcId) -> Vec<RpcCommand> {
        self.note(format!("<- {rpc} opened"));
        self.client.handle_rpc_opened(rpc, self.now);
        self.drain()
    }

    fn message(&mut self, rpc: RpcId, message: RpcMessage) -> Vec<RpcCommand> {
        let text = match &message {
            RpcMessage::Read(r) if !r.content.is_empty() => {
                format!("content {:?} at {}", r.content, r.offset)
            }
            RpcMessage::Read(r) => format!(
                "frame {:?} offset={} write_head={} fragment={:?} route={}",
                Status::try_from(r.status).unwrap_or(Status::Ok),
                r.offset,
                r.write_head,
                r.fragment.as_ref().map(|f| (f.begin, f.end)),
                r.header.is_some()
            ),
            RpcMessage::Append(a) => format!(
                "append response {:?} commit={:?}",
                Status::try_from(a.status).unwrap_or(Status::Ok),
                a.commit.as_ref().map(|f| (f.begin, f.end))
            ),
            other => format!("{other:?}"),
        };
        self.note(format!("<- {rpc} {text}"));
        self.client.handle_rpc_message(rpc, message, self.now);
        self.drain()
    }

    fn sent(&mut self, rpc: RpcId) -> Vec<RpcCommand> {
        self.note(format!("<- {rpc} sent"));
        self.client.handle_rpc_sent(rpc, self.now);
        self.drain()
    }

    fn end(&mut self, rpc: RpcId, end: RpcEnd) -> Vec<RpcCommand> {
        self.note(format!("<- {rpc} end {end:?}"));
        self.client.handle_rpc_end(rpc, end, self.now);
        self.drain()
    }

    fn advance_to_timeout(&mut self) -> Vec<RpcCommand> {
        self.now = self.client.poll_timeout().expect("a timer");
        self.note("<- handle_timeout".into());
        self.client.handle_timeout(self.now);
        self.drain()
    }

    fn finished(&self, op: OpId) -> bool {
        !self.client.is_open(op)
    }
}

fn opened_rpc(commands: &[RpcCommand]) -> RpcId {
    commands
        .iter()
        .find_map(|c| match c {
            RpcCommand::Open { rpc, .. } => Some(*rpc),
            _ => None,
        })
        .expect("an Open")
}

#[test]
fn transcript_read_redirected_by_not_journal_broker() {
    let mut t = Transcript::new();
    t.note("user read a/journal from 0 until 6, retrying".into());
    let op = t
        .client
        .read(ReadRequest::new("a/journal").until(6), true, t.now);
    let commands = t.drain();
    // No route is known: the service address answers it is not a broker
    // of the journal, naming its route.
    let first = opened_rpc(&commands);
    t.opened(first);
    t.message(
        first,
        RpcMessage::Read(ReadResponse {
            status: Status::NotJournalBroker as i32,
            header: Some(header()),
            ..Default::default()
        }),
    );
    // The retrying reader backs off, then tries again.
    t.end(first, RpcEnd::Ok);
    let commands = t.advance_to_timeout();
    // The next attempt goes to a member of the route it learned.
    let second = opened_rpc(&commands);
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, RpcCommand::Open { target, .. } if target.to_string().starts_with("http://"))),
        "{:#?}",
        t.lines
    );
    t.opened(second);
    t.message(
        second,
        RpcMessage::Read(ReadResponse {
            header: Some(header()),
            offset: 0,
            write_head: 6,
            fragment: Some(Fragment {
                journal: "a/journal".into(),
                begin: 0,
                end: 6,
                compression_codec: CompressionCodec::None as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
    );
    t.message(
        second,
        RpcMessage::Read(ReadResponse {
            offset: 0,
            content: Bytes::from_static(b"hello\n"),
            ..Default::default()
        }),
    );
    assert!(t.finished(op), "{:#?}", t.lines);
    assert_eq!(t.client.route("a/journal", t.now), route());
    assert_snapshot!(t.lines.join("\n"));
}

#[test]
fn transcript_one_shot_append_retried_after_an_unavailable_primary() {
    let mut t = Transcript::new();
    t.client.update_route("a/journal", Some(&route()), t.now);
    t.note("user route of a/journal cached: primary http://two:2".into());
    t.note("user append \"one\\n\" to a/journal".into());
    let op = t
        .client
        .append(
            AppendRequest::new("a/journal"),
            vec![Bytes::from_static(b"one\n")],
            t.now,
        )
        .unwrap();
    let commands = t.drain();
    let first = opened_rpc(&commands);
    for _ in commands
        .iter()
        .filter(|c| matches!(c, RpcCommand::Send { .. }))
    {
        t.sent(first);
    }
    // The primary cannot be reached.
    t.end(first, RpcEnd::transport("connection refused"));
    assert!(t.client.is_member_failed("http://two:2"));
    let commands = t.advance_to_timeout();
    let second = opened_rpc(&commands);
    for _ in commands
        .iter()
        .filter(|c| matches!(c, RpcCommand::Send { .. }))
    {
        t.sent(second);
    }
    t.message(
        second,
        RpcMessage::Append(AppendResponse {
            header: Some(header()),
            commit: Some(Fragment {
                journal: "a/journal".into(),
                begin: 0,
                end: 4,
                ..Default::default()
            }),
            registers: Some(Default::default()),
            ..Default::default()
        }),
    );
    t.end(second, RpcEnd::Ok);
    assert!(t.finished(op), "{:#?}", t.lines);
    assert!(t.lines.iter().any(|l| l.contains("Appended")));
    assert_snapshot!(t.lines.join("\n"));
}
