//! The AppendService inside the sans-IO client: batched appends from
//! writer to broker with no driver loop of their own. A hand-written
//! broker answers the client's RPC commands and a `MemorySpool` carries out
//! its spool commands.

// Tests need an arbitrary base `Instant`; the core itself never reads the clock.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gazette_core::append::{AppendConfig, AppendError, AppendId, MemorySpool, SpoolCommand};
use gazette_core::client::{
    Call, Client, ClientConfig, Event, RpcCommand, RpcEnd, RpcId, RpcMessage,
};
use gazette_core::proto::{self, AppendRequest, AppendResponse};
use gazette_core::status::RpcCode;

/// A broker that commits every append (or fails the next ones with
/// Unavailable), and the spool.
#[derive(Default)]
struct Broker {
    spool: MemorySpool,
    /// Per open Append RPC: its journal and content so far.
    open: BTreeMap<RpcId, (String, Vec<u8>)>,
    /// Committed content per journal, in commit order.
    journals: BTreeMap<String, Vec<u8>>,
    /// Append RPCs opened, in order, by journal.
    opened: Vec<String>,
    /// Fail this many Append RPCs with Unavailable at half-close.
    fail_next: usize,
    /// Fail this many spool reads.
    fail_reads: usize,
    resolved: BTreeMap<AppendId, Result<(), AppendError>>,
}

impl Broker {
    /// Answers everything the client asks until it asks nothing more.
    fn run(&mut self, client: &mut Client, now: Instant) {
        loop {
            let mut busy = false;
            while let Some(command) = client.poll_spool() {
                busy = true;
                match &command {
                    SpoolCommand::Read { read, .. } => {
                        let result = if self.fail_reads > 0 {
                            self.fail_reads -= 1;
                            Err(gazette_core::append::SpoolError::new("disk gone"))
                        } else {
                            Ok(self.spool.execute(&command).unwrap().unwrap())
                        };
                        client.handle_spool_read(*read, result, now);
                    }
                    _ => {
                        self.spool.execute(&command).unwrap();
                    }
                }
            }
            while let Some(command) = client.poll_rpc() {
                busy = true;
                match command {
                    RpcCommand::Open {
                        rpc,
                        call: Call::Append { journal },
                        ..
                    } => {
                        self.opened.push(journal.clone());
                        self.open.insert(rpc, (journal, Vec::new()));
                    }
                    RpcCommand::Send { rpc, message } => {
                        if let Some((_, content)) = self.open.get_mut(&rpc) {
                            content.extend_from_slice(&message.content);
                        }
                        client.handle_rpc_sent(rpc, now);
                    }
                    RpcCommand::HalfClose { rpc } => {
                        let (journal, content) = self.open.remove(&rpc).unwrap();
                        if self.fail_next > 0 {
                            self.fail_next -= 1;
                            client.handle_rpc_end(
                                rpc,
                                RpcEnd::Failed {
                                    code: RpcCode::Unavailable,
                                    message: "broker gone".into(),
                                    transport: true,
                                },
                                now,
                            );
                            continue;
                        }
                        let log = self.journals.entry(journal.clone()).or_default();
                        let begin = log.len() as i64;
                        log.extend_from_slice(&content);
                        let response = AppendResponse {
                            header: Some(proto::Header::default()),
                            commit: Some(proto::Fragment {
                                journal,
                                begin,
                                end: log.len() as i64,
                                ..Default::default()
                            }),
                            registers: Some(Default::default()),
                            ..Default::default()
                        };
                        client.handle_rpc_message(rpc, RpcMessage::Append(response), now);
                        client.handle_rpc_end(rpc, RpcEnd::Ok, now);
                    }
                    RpcCommand::Cancel { rpc } => {
                        self.open.remove(&rpc);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
            while let Some(event) = client.poll_event() {
                busy = true;
                match event {
                    Event::AppendResolved { append, result, .. } => {
                        assert!(self.resolved.insert(append, result).is_none());
                    }
                    other => panic!("no user event expected: {other:?}"),
                }
            }
            if !busy {
                return;
            }
        }
    }
}

fn client(front_buffer: usize) -> Client {
    let mut config = ClientConfig::default();
    config.append_service = AppendConfig {
        front_buffer,
        chunk_size: 5,
        ..Default::default()
    };
    Client::new(config)
}

fn append(
    client: &mut Client,
    journal: &str,
    deps: &[AppendId],
    data: &[u8],
    now: Instant,
) -> AppendId {
    let ticket = client
        .start_batched(&AppendRequest::new(journal), deps)
        .unwrap();
    client.write_batched(&ticket, data).unwrap();
    client.release_batched(ticket, now).unwrap()
}

#[test]
fn released_appends_are_batched_spooled_and_committed_in_order() {
    let now = Instant::now();
    let mut client = client(8);
    let mut broker = Broker::default();
    // The first batch goes out at its release; the next two appends wait
    // behind it and share the next batch, spilled past the front buffer.
    let first = append(&mut client, "a/journal", &[], b"one;", now);
    let second = append(
        &mut client,
        "a/journal",
        &[],
        b"two, longer than eight;",
        now,
    );
    let third = append(&mut client, "a/journal", &[], b"three;", now);
    assert_eq!(
        second, third,
        "appends behind the in-flight batch share one"
    );
    broker.run(&mut client, now);
    assert_eq!(broker.opened, ["a/journal", "a/journal"], "two RPCs");
    assert_eq!(
        broker.journals["a/journal"],
        b"one;two, longer than eight;three;"
    );
    assert_eq!(broker.resolved[&first], Ok(()));
    assert_eq!(broker.resolved[&second], Ok(()));
    assert!(broker.spool.files_created > 0, "the second batch spilled");
    assert!(client.append_service().is_idle());
}

#[test]
fn a_barrier_commits_after_what_it_follows_and_an_unavailable_broker_is_retried() {
    let now = Instant::now();
    let mut client = client(8);
    let mut broker = Broker {
        fail_next: 1,
        ..Default::default()
    };
    let data = append(&mut client, "rows/journal", &[], b"row 1;", now);
    let barrier = client.pending_except("index/journal");
    assert_eq!(barrier, vec![data]);
    let index = append(&mut client, "index/journal", &barrier, b"up to row 1;", now);
    broker.run(&mut client, now);
    assert_eq!(
        broker.opened,
        ["rows/journal"],
        "the index waits for the rows"
    );
    assert!(broker.resolved.is_empty(), "the rows' attempt failed");

    let retry_at = client.poll_timeout().expect("a backoff");
    assert!(retry_at > now && retry_at <= now + Duration::from_secs(1));
    client.handle_timeout(retry_at);
    broker.run(&mut client, retry_at);
    assert_eq!(
        broker.opened,
        ["rows/journal", "rows/journal", "index/journal"]
    );
    assert_eq!(broker.resolved[&data], Ok(()));
    assert_eq!(broker.resolved[&index], Ok(()));
    assert_eq!(broker.journals["rows/journal"], b"row 1;", "written once");
}

#[test]
fn a_failed_spool_read_aborts_the_attempt_which_is_retried() {
    let now = Instant::now();
    let mut client = client(4);
    let mut broker = Broker {
        fail_reads: 1,
        ..Default::default()
    };
    let id = append(&mut client, "a/journal", &[], b"spilled content", now);
    broker.run(&mut client, now);
    assert_eq!(
        broker.fail_reads, 0,
        "the spool read was asked for and failed"
    );
    assert!(
        broker.journals.is_empty(),
        "nothing committed from a failed read"
    );
    assert!(broker.open.is_empty() || broker.open.values().all(|(_, c)| c.is_empty()));
    let retry_at = client.poll_timeout().expect("a backoff");
    client.handle_timeout(retry_at);
    broker.run(&mut client, retry_at);
    assert_eq!(broker.journals["a/journal"], b"spilled content");
    assert_eq!(broker.resolved[&id], Ok(()));
}

#[test]
fn an_external_dependency_holds_the_append_until_resolved() {
    let now = Instant::now();
    let mut client = client(64);
    let mut broker = Broker::default();
    let external = client.external_dependency();
    let id = append(&mut client, "a/journal", &[external], b"x", now);
    broker.run(&mut client, now);
    assert!(broker.opened.is_empty());
    client.resolve_external(
        external,
        Err(AppendError::Rejected("upstream failed".into())),
        now,
    );
    broker.run(&mut client, now);
    assert!(
        broker.opened.is_empty(),
        "a failed dependency sends nothing"
    );
    assert_eq!(
        broker.resolved[&id].as_ref().unwrap_err().to_string(),
        "dependency failed: upstream failed"
    );
    assert!(client.append_service().poison_of("a/journal").is_some());
}

#[test]
fn cancelling_fails_what_is_pending() {
    let now = Instant::now();
    let mut client = client(64);
    let mut broker = Broker::default();
    let id = append(&mut client, "a/journal", &[], b"x", now);
    // The broker never answers: the RPC is open, the content sent.
    while client.poll_rpc().is_some() {}
    client.cancel_batched(now);
    broker.run(&mut client, now);
    assert!(broker.resolved[&id].is_err());
}
