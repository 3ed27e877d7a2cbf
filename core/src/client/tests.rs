//! The client against a hand-written broker: end-to-end reads and appends,
//! routing, health, deadlines, cancellation, backpressure, claims, and a
//! determinism check (the same inputs twice give the same outputs).

#![allow(clippy::disallowed_methods, clippy::field_reassign_with_default)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gazette_proto::process_spec::Id;
use gazette_proto::{
    AppendRequest, AppendResponse, Fragment, Header, LabelSelector, ListRequest, ListResponse,
    ReadRequest, ReadResponse, Route, Status,
};

use super::*;

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
        process_id: Some(route().members[0].clone()),
        route: Some(route()),
        etcd: Some(gazette_proto::header::Etcd {
            cluster_id: 1,
            member_id: 2,
            revision: 3,
            raft_term: 4,
        }),
    }
}

/// A broker that answers every command at once, optionally failing the
/// first RPCs of a kind with a transport error.
#[derive(Default)]
struct Broker {
    journals: BTreeMap<String, Vec<u8>>,
    /// Appends in flight: journal and content received.
    appends: BTreeMap<RpcId, (String, Vec<u8>)>,
    /// Fail this many Append RPCs as unavailable before answering.
    fail_appends: usize,
    /// Every command seen, as text.
    log: Vec<String>,
    /// Do not answer Opens (to test deadlines and cancellation).
    silent: bool,
}

impl Broker {
    fn serve(&mut self, client: &mut Client, now: Instant) {
        while let Some(command) = client.poll_rpc() {
            self.log.push(format!("{command:?}"));
            if self.silent {
                continue;
            }
            match command {
                RpcCommand::Open {
                    rpc,
                    call: Call::Read(request),
                    ..
                } => self.read(client, rpc, request, now),
                RpcCommand::Open {
                    rpc,
                    call: Call::Append { journal },
                    ..
                } => {
                    self.appends.insert(rpc, (journal, Vec::new()));
                }
                RpcCommand::Open {
                    rpc,
                    call: Call::List(request),
                    ..
                } => {
                    let journals = self
                        .journals
                        .keys()
                        .filter(|name| {
                            request
                                .selector
                                .as_ref()
                                .and_then(|s| s.include.as_ref())
                                .is_none_or(|_| true)
                                && !name.is_empty()
                        })
                        .map(|name| gazette_proto::list_response::Journal {
                            spec: Some(gazette_proto::JournalSpec::new(name.clone())),
                            route: Some(route()),
                            mod_revision: 1,
                            create_revision: 1,
                        })
                        .collect();
                    client.handle_rpc_opened(rpc, now);
                    client.handle_rpc_message(
                        rpc,
                        RpcMessage::List(ListResponse {
                            header: Some(header()),
                            journals,
                            ..Default::default()
                        }),
                        now,
                    );
                    client.handle_rpc_end(rpc, RpcEnd::Ok, now);
                }
                RpcCommand::Send { rpc, message } => {
                    if let Some((_, content)) = self.appends.get_mut(&rpc) {
                        content.extend_from_slice(&message.content);
                    }
                    client.handle_rpc_sent(rpc, now);
                }
                RpcCommand::HalfClose { rpc } => {
                    let Some((journal, content)) = self.appends.remove(&rpc) else {
                        continue;
                    };
                    if self.fail_appends > 0 {
                        self.fail_appends -= 1;
                        client.handle_rpc_end(rpc, RpcEnd::transport("connection refused"), now);
                        continue;
                    }
                    let data = self.journals.entry(journal.clone()).or_default();
                    let begin = data.len() as i64;
                    data.extend_from_slice(&content);
                    let response = AppendResponse {
                        header: Some(header()),
                        commit: Some(Fragment {
                            journal,
                            begin,
                            end: data.len() as i64,
                            ..Default::default()
                        }),
                        registers: Some(Default::default()),
                        ..Default::default()
                    };
                    client.handle_rpc_message(rpc, RpcMessage::Append(response), now);
                    client.handle_rpc_end(rpc, RpcEnd::Ok, now);
                }
                _ => {}
            }
        }
    }

    fn read(&mut self, client: &mut Client, rpc: RpcId, request: ReadRequest, now: Instant) {
        let data = self
            .journals
            .get(&request.journal)
            .cloned()
            .unwrap_or_default();
        let end = data.len() as i64;
        client.handle_rpc_opened(rpc, now);
        let offset = request.offset.min(end);
        let fragment = Fragment {
            journal: request.journal.clone(),
            begin: 0,
            end,
            compression_codec: gazette_proto::CompressionCodec::None as i32,
            ..Default::default()
        };
        if offset < end {
            client.handle_rpc_message(
                rpc,
                RpcMessage::Read(ReadResponse {
                    header: Some(header()),
                    offset,
                    write_head: end,
                    fragment: Some(fragment),
                    ..Default::default()
                }),
                now,
            );
            client.handle_rpc_message(
                rpc,
                RpcMessage::Read(ReadResponse {
                    offset,
                    content: Bytes::copy_from_slice(&data[offset as usize..]),
                    ..Default::default()
                }),
                now,
            );
        }
        client.handle_rpc_message(
            rpc,
            RpcMessage::Read(ReadResponse {
                status: Status::OffsetNotYetAvailable as i32,
                header: Some(header()),
                offset: end,
                write_head: end,
                ..Default::default()
            }),
            now,
        );
        client.handle_rpc_end(rpc, RpcEnd::Ok, now);
    }
}

/// Serves and drains until quiet; returns every event.
fn run(client: &mut Client, broker: &mut Broker, now: Instant) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..100 {
        broker.serve(client, now);
        let before = events.len();
        while let Some(event) = client.poll_event() {
            events.push(event);
        }
        if events.len() == before && client.shared.commands.is_empty() {
            return events;
        }
    }
    panic!("no quiescence within 100 steps (livelock?)");
}

fn finished(events: &[Event], id: OpId) -> Option<&Result<Outcome, OpError>> {
    events.iter().find_map(|e| match e {
        Event::Finished { op, result } if *op == id => Some(result),
        _ => None,
    })
}

fn content(events: &[Event], id: OpId) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Read {
                op,
                event: ReadEvent::Content { content, .. },
            } if *op == id => Some(content.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn a_streamed_append_then_a_non_blocking_read_end_to_end() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    let mut broker = Broker::default();
    let append = client
        .start_append(AppendRequest::new("a/journal"), now)
        .unwrap();
    client
        .write_append(append, Bytes::from_static(b"hello "), now)
        .unwrap();
    client
        .write_append(append, Bytes::from_static(b"world\n"), now)
        .unwrap();
    client.commit_append(append, now);
    let events = run(&mut client, &mut broker, now);
    match finished(&events, append) {
        Some(Ok(Outcome::Appended(response))) => {
            assert_eq!(response.commit.as_ref().unwrap().end, 12)
        }
        other => panic!("{other:?}"),
    }
    assert!(!client.is_open(append));

    let read = client.read(ReadRequest::new("a/journal").blocking(false), false, now);
    let events = run(&mut client, &mut broker, now);
    assert_eq!(
        content(&events, read),
        b"hello world\n",
        "{events:#?} {:#?}",
        broker.log
    );
    // A non-blocking Reader at the write head ends as Go's does.
    assert!(matches!(
        finished(&events, read),
        Some(Err(OpError::Read(ReadError::Status(s)))) if s.status() == Some(Status::OffsetNotYetAvailable)
    ));
    assert_eq!(client.open_operations(), 0);
}

#[test]
fn the_route_learned_from_a_response_sends_the_next_append_to_the_primary() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    let mut broker = Broker::default();
    let request = AppendRequest::new("a/journal");
    client
        .append(request.clone(), vec![Bytes::from_static(b"x")], now)
        .unwrap();
    run(&mut client, &mut broker, now);
    client
        .append(request, vec![Bytes::from_static(b"y")], now)
        .unwrap();
    run(&mut client, &mut broker, now);
    let targets: Vec<&String> = broker
        .log
        .iter()
        .filter(|line| line.starts_with("Open"))
        .collect();
    assert!(targets[0].contains("target: Service"), "{targets:?}");
    assert!(
        targets[1].contains("target: Member(\"http://two:2\")"),
        "{targets:?}"
    );
}

#[test]
fn a_one_shot_append_retries_an_unavailable_primary_through_the_service_address() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    client.update_route("a/journal", Some(&route()), now);
    let mut broker = Broker {
        fail_appends: 1,
        ..Default::default()
    };
    let op = client
        .append(
            AppendRequest::new("a/journal"),
            vec![Bytes::from_static(b"one\n")],
            now,
        )
        .unwrap();
    let events = run(&mut client, &mut broker, now);
    let retry = events
        .iter()
        .find_map(|e| match e {
            Event::Retrying { delay, log, .. } => Some((*delay, *log)),
            _ => None,
        })
        .expect("a retry");
    assert!(retry.1, "transport failures are logged");
    assert!(client.is_member_failed("http://two:2"));
    assert_eq!(client.poll_timeout(), Some(now + retry.0));
    // The failed primary's route was invalidated: the retry goes to the
    // service address.
    let later = now + retry.0;
    client.handle_timeout(later);
    let events = run(&mut client, &mut broker, later);
    assert!(matches!(
        finished(&events, op),
        Some(Ok(Outcome::Appended(_)))
    ));
    let opens: Vec<&String> = broker
        .log
        .iter()
        .filter(|l| l.starts_with("Open"))
        .collect();
    assert!(opens[0].contains("http://two:2"), "{opens:?}");
    assert!(opens[1].contains("target: Service"), "{opens:?}");
    assert_eq!(broker.journals["a/journal"], b"one\n");
}

/// A streamed append whose first write picks a primary that failed within
/// the fail-fast window ends at that write, exactly once (found by the
/// simulation, `gazette_core::sim`: the write asserted it could not finish
/// the append and kept the finished operation open).
#[test]
fn a_streamed_append_failing_fast_at_its_first_write_finishes_once() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    client.update_route("a/journal", Some(&route()), now);
    let mut broker = Broker {
        fail_appends: 1,
        ..Default::default()
    };
    let first = client
        .append(
            AppendRequest::new("a/journal"),
            vec![Bytes::from_static(b"x")],
            now,
        )
        .unwrap();
    let events = run(&mut client, &mut broker, now);
    assert!(client.is_member_failed("http://two:2"), "{events:?}");
    assert!(client.is_open(first));
    // A response elsewhere teaches the same route again, within the window.
    client.update_route("a/journal", Some(&route()), now);
    let op = client
        .start_append(AppendRequest::new("a/journal"), now)
        .unwrap();
    assert_eq!(
        client.write_append(op, Bytes::from_static(b"y"), now),
        Ok(())
    );
    assert!(!client.is_open(op));
    client.commit_append(op, now);
    let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
    let ends: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Finished { op: o, .. } if *o == op))
        .collect();
    assert!(
        matches!(
            ends[..],
            [Event::Finished {
                result: Err(OpError::Rpc { .. }),
                ..
            }]
        ),
        "{events:?}"
    );
}

#[test]
fn a_streamed_appends_transport_failure_keeps_its_grpc_code() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    let mut broker = Broker {
        fail_appends: 1,
        ..Default::default()
    };
    let op = client
        .start_append(AppendRequest::new("a/journal"), now)
        .unwrap();
    client.commit_append(op, now);
    let events = run(&mut client, &mut broker, now);
    match finished(&events, op) {
        Some(Err(OpError::Rpc { operation, failure })) => {
            assert_eq!(*operation, Operation::Append);
            assert_eq!(failure.code, RpcCode::Unavailable);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_broken_connection_reported_as_unknown_or_cancelled_is_unavailable() {
    for code in [RpcCode::Unknown, RpcCode::Cancelled] {
        let end = RpcEnd::Failed {
            code,
            message: "connection reset".into(),
            transport: true,
        };
        assert_eq!(classify(end).unwrap().code, RpcCode::Unavailable);
        // The same codes sent by a broker are left as they are.
        assert_eq!(classify(RpcEnd::status(code, "x")).unwrap().code, code);
    }
    assert_eq!(classify(RpcEnd::Ok), None);
}

#[test]
fn each_rpc_carries_the_claims_of_its_call() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    let read = client.read(ReadRequest::new("a/journal;meta"), true, now);
    let append = client
        .start_append(AppendRequest::new("b/journal"), now)
        .unwrap();
    client
        .write_append(append, Bytes::from_static(b"x"), now)
        .unwrap();
    assert!(client.is_open(read));
    client
        .list(ListRequest::new(LabelSelector::new()), now)
        .unwrap();
    let mut claims = Vec::new();
    while let Some(command) = client.poll_rpc() {
        if let RpcCommand::Open {
            claims: c, call, ..
        } = command
        {
            claims.push((call.operation(), c));
        }
    }
    let name = |c: &Claims| {
        c.selector
            .include
            .as_ref()
            .map(|s| s.labels[0].value.clone())
    };
    assert_eq!(claims[0].0, Operation::Read);
    assert_eq!(claims[0].1.capability, Capability::READ);
    assert_eq!(name(&claims[0].1).as_deref(), Some("a/journal"));
    assert_eq!(claims[1].0, Operation::Append);
    assert_eq!(claims[1].1.capability, Capability::APPEND);
    assert_eq!(name(&claims[1].1).as_deref(), Some("b/journal"));
    assert_eq!(claims[2].0, Operation::List);
    assert_eq!(claims[2].1.capability, Capability::LIST);
}

#[test]
fn a_listing_past_the_request_timeout_is_cancelled_and_fails() {
    let now = Instant::now();
    let mut config = ClientConfig::default();
    config.request_timeout = Some(Duration::from_secs(5));
    let mut client = Client::new(config);
    let mut broker = Broker {
        silent: true,
        ..Default::default()
    };
    let op = client
        .list(ListRequest::new(LabelSelector::new()), now)
        .unwrap();
    run(&mut client, &mut broker, now);
    assert_eq!(client.poll_timeout(), Some(now + Duration::from_secs(5)));
    // Early: nothing happens.
    client.handle_timeout(now + Duration::from_secs(1));
    assert!(client.poll_event().is_none());
    client.handle_timeout(now + Duration::from_secs(5));
    assert!(matches!(client.poll_rpc(), Some(RpcCommand::Cancel { .. })));
    assert_eq!(
        client.poll_event(),
        Some(Event::Finished {
            op,
            result: Err(OpError::List(ListError::DeadlineExceeded))
        })
    );
    assert_eq!(client.poll_timeout(), None);
}

#[test]
fn a_cancelled_read_cancels_its_rpc_and_ignores_late_reports() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    let op = client.read(ReadRequest::new("a/journal"), true, now);
    let rpc = match client.poll_rpc() {
        Some(RpcCommand::Open { rpc, .. }) => rpc,
        other => panic!("{other:?}"),
    };
    client.cancel(op, now);
    assert_eq!(client.poll_rpc(), Some(RpcCommand::Cancel { rpc }));
    assert_eq!(
        client.poll_event(),
        Some(Event::Finished {
            op,
            result: Err(OpError::Read(ReadError::Cancelled))
        })
    );
    // Reports about the cancelled RPC are ignored.
    client.handle_rpc_end(rpc, RpcEnd::status(RpcCode::Cancelled, "gone"), now);
    assert!(client.poll_event().is_none());
    assert!(client.poll_rpc().is_none());
}

/// A retrying read stopped at the head (non-blocking, `ReadStopped`), then
/// cancelled or past its deadline, still finishes exactly once (found by
/// the simulation, `gazette_core::sim`).
#[test]
fn a_retrying_read_stopped_at_the_head_finishes_when_cancelled_or_past_its_deadline() {
    for by_deadline in [false, true] {
        let now = Instant::now();
        let mut client = Client::new(ClientConfig::default());
        let mut broker = Broker::default();
        broker
            .journals
            .insert("a/journal".into(), b"hello\n".to_vec());
        let op = client.read(
            ReadRequest::new("a/journal").from_offset(6).blocking(false),
            true,
            now,
        );
        let events = run(&mut client, &mut broker, now);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::ReadStopped { op: o, .. } if *o == op)),
            "{events:?}"
        );
        let later = now + Duration::from_secs(1);
        let expected = if by_deadline {
            client.set_deadline(op, Some(later));
            client.handle_timeout(later);
            ReadError::DeadlineExceeded
        } else {
            client.cancel(op, later);
            ReadError::Cancelled
        };
        let events = run(&mut client, &mut broker, later);
        assert_eq!(
            finished(&events, op),
            Some(&Err(OpError::Read(expected))),
            "{events:?}"
        );
        assert!(!client.is_open(op));
    }
}

#[test]
fn a_closed_operation_ends_silently() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    let op = client.read(ReadRequest::new("a/journal"), false, now);
    let rpc = match client.poll_rpc() {
        Some(RpcCommand::Open { rpc, .. }) => rpc,
        other => panic!("{other:?}"),
    };
    client.close(op);
    assert_eq!(client.poll_rpc(), Some(RpcCommand::Cancel { rpc }));
    assert!(client.poll_event().is_none());
    assert!(!client.is_open(op));
}

#[test]
fn writes_block_at_the_buffer_and_resume_once_the_transport_takes_them() {
    let now = Instant::now();
    let mut config = ClientConfig::default();
    config.append_write_buffer = 8;
    let mut client = Client::new(config);
    let op = client
        .start_append(AppendRequest::new("a/journal"), now)
        .unwrap();
    client
        .write_append(op, Bytes::from_static(b"12345678"), now)
        .unwrap();
    assert_eq!(client.append_backlog(op), 8);
    assert_eq!(
        client.write_append(op, Bytes::from_static(b"9"), now),
        Err(WriteError::Blocked)
    );
    let mut rpc = None;
    while let Some(command) = client.poll_rpc() {
        if let RpcCommand::Send { rpc: r, .. } = command {
            rpc = Some(r);
        }
    }
    let rpc = rpc.unwrap();
    client.handle_rpc_sent(rpc, now); // the preamble
    assert!(client.poll_event().is_none());
    client.handle_rpc_sent(rpc, now); // the content
    assert_eq!(client.poll_event(), Some(Event::Writable { op }));
    assert_eq!(client.append_backlog(op), 0);
    client
        .write_append(op, Bytes::from_static(b"9"), now)
        .unwrap();
}

#[test]
fn a_server_sent_cancelled_on_a_listing_is_a_cancellation() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    let op = client
        .list(ListRequest::new(LabelSelector::new()), now)
        .unwrap();
    let Some(RpcCommand::Open { rpc, .. }) = client.poll_rpc() else {
        panic!()
    };
    client.handle_rpc_end(
        rpc,
        RpcEnd::status(RpcCode::Cancelled, "context canceled"),
        now,
    );
    assert_eq!(
        client.poll_event(),
        Some(Event::Finished {
            op,
            result: Err(OpError::List(ListError::Canceled))
        })
    );
}

#[test]
fn a_listing_caches_every_journals_route() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    let mut broker = Broker::default();
    broker.journals.insert("a/journal".into(), Vec::new());
    let op = client
        .list(ListRequest::new(LabelSelector::new()), now)
        .unwrap();
    let events = run(&mut client, &mut broker, now);
    assert!(
        matches!(finished(&events, op), Some(Ok(Outcome::Listed(_)))),
        "{events:#?}"
    );
    assert_eq!(client.route("a/journal", now), route());
    assert!(
        client
            .list(ListRequest::new(LabelSelector::new()).watching(), now)
            .is_err()
    );
}

#[test]
fn idle_member_connections_are_swept() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    let mut broker = Broker::default();
    client.update_route("a/journal", Some(&route()), now);
    client
        .append(
            AppendRequest::new("a/journal"),
            vec![Bytes::from_static(b"x")],
            now,
        )
        .unwrap();
    run(&mut client, &mut broker, now);
    let first = client.poll_timeout().expect("a sweep is scheduled");
    client.handle_timeout(first);
    assert!(client.poll_rpc().is_none(), "used in the first interval");
    let second = client.poll_timeout().expect("another sweep");
    client.handle_timeout(second);
    assert_eq!(
        client.poll_rpc(),
        Some(RpcCommand::Disconnect {
            endpoint: "http://two:2".into()
        })
    );
    assert_eq!(client.poll_timeout(), None);
}

/// Runs a scenario with retries, failures, timers and several operations,
/// returning every output as text.
fn trace(seed: Option<u64>) -> Vec<String> {
    let start = Instant::now();
    let mut config = ClientConfig::default();
    config.backoff_seed = seed;
    config.jitter_permille = 200;
    config.request_timeout = Some(Duration::from_secs(3));
    let mut client = Client::new(config);
    let mut broker = Broker {
        fail_appends: 3,
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut now = start;
    for n in 0..4 {
        let journal = format!("jj/{n}");
        client.update_route(&journal, Some(&route()), now);
        client
            .append(
                AppendRequest::new(journal.clone()),
                vec![Bytes::from(format!("record {n}\n"))],
                now,
            )
            .unwrap();
        client.read(ReadRequest::new(journal).blocking(false), true, now);
    }
    client
        .list(ListRequest::new(LabelSelector::new()), now)
        .unwrap();
    for _ in 0..50 {
        for event in run(&mut client, &mut broker, now) {
            out.push(format!("{:?} {event:?}", now - start));
        }
        out.append(&mut broker.log);
        match client.poll_timeout() {
            Some(at) => {
                now = at.max(now);
                client.handle_timeout(now);
            }
            None => break,
        }
    }
    out
}

#[test]
fn the_same_inputs_give_the_same_outputs() {
    let first = trace(None);
    assert!(first.len() > 20, "{first:#?}");
    assert_eq!(first, trace(None));
    let seeded = trace(Some(7));
    assert_eq!(seeded, trace(Some(7)));
    assert_ne!(seeded, trace(Some(8)), "the seed shapes the backoff");
}

fn moved_route() -> Route {
    // broker-two (the old primary) is gone; broker-one leads, a third joins.
    Route {
        members: vec![
            Id {
                zone: "a".into(),
                suffix: "broker-one".into(),
            },
            Id {
                zone: "c".into(),
                suffix: "broker-six".into(),
            },
        ],
        primary: 0,
        endpoints: vec!["http://one:1".into(), "http://six:6".into()],
    }
}

/// Answers the open probe (a List of one journal) with `route`.
fn answer_probe(client: &mut Client, rpc: RpcId, journal: &str, route: Route, now: Instant) {
    let mut header = header();
    header.route = Some(route.clone());
    client.handle_rpc_opened(rpc, now);
    client.handle_rpc_message(
        rpc,
        RpcMessage::List(ListResponse {
            header: Some(header),
            journals: vec![gazette_proto::list_response::Journal {
                spec: Some(gazette_proto::JournalSpec::new(journal)),
                route: Some(route),
                mod_revision: 1,
                create_revision: 1,
            }],
            ..Default::default()
        }),
        now,
    );
    client.handle_rpc_end(rpc, RpcEnd::Ok, now);
}

fn drain_commands(client: &mut Client) -> Vec<RpcCommand> {
    std::iter::from_fn(|| client.poll_rpc()).collect()
}

#[test]
fn a_stalled_append_whose_route_moved_away_is_cancelled_and_retried() {
    let start = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    client.update_route("a/journal", Some(&route()), start);
    let op = client
        .append(
            AppendRequest::new("a/journal"),
            vec![Bytes::from_static(b"x")],
            start,
        )
        .unwrap();
    // Sent in full to the primary, which then answers nothing (frozen).
    let mut rpc = None;
    for command in drain_commands(&mut client) {
        match command {
            RpcCommand::Open { rpc: r, target, .. } => {
                assert_eq!(target, Target::Member("http://two:2".into()));
                rpc = Some(r);
            }
            RpcCommand::Send { rpc: r, .. } => client.handle_rpc_sent(r, start),
            _ => {}
        }
    }
    let rpc = rpc.unwrap();
    // After PROBE_AFTER without progress, the client probes the route at
    // the other member.
    let probe_at = client.poll_timeout().unwrap();
    assert_eq!(probe_at, start + PROBE_AFTER);
    client.handle_timeout(probe_at);

    let probe = match drain_commands(&mut client).as_slice() {
        [
            RpcCommand::Open {
                rpc,
                target,
                call: Call::List(request),
                ..
            },
        ] => {
            assert_eq!(*target, Target::Member("http://one:1".into()));
            assert!(request.selector.is_some());
            *rpc
        }
        other => panic!("{other:?}"),
    };
    // The first probe still sees the old route: nothing happens.
    answer_probe(&mut client, probe, "a/journal", route(), probe_at);
    assert!(drain_commands(&mut client).is_empty());
    assert!(client.poll_event().is_none());
    // The next one sees the journal moved: the append is cancelled, its
    // outcome unknown (the marker went out), and it is retried.
    let again = client.poll_timeout().unwrap();
    assert!(again > probe_at);
    client.handle_timeout(again);
    let probe = match drain_commands(&mut client).as_slice() {
        [RpcCommand::Open { rpc, .. }] => *rpc,
        other => panic!("{other:?}"),
    };
    answer_probe(&mut client, probe, "a/journal", moved_route(), again);
    assert_eq!(
        drain_commands(&mut client),
        vec![RpcCommand::Cancel { rpc }]
    );
    let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
    assert_eq!(events[0], Event::OutcomeUnknown { op });
    assert!(
        matches!(&events[1], Event::Retrying { op: o, cause, .. } if *o == op && cause.contains("moved")),
        "{events:?}"
    );
    // The retry goes out on its own timer, and through the service (the
    // unavailable primary's route was dropped).
    let retry = client.poll_timeout().unwrap();
    client.handle_timeout(retry);
    assert!(drain_commands(&mut client).iter().any(|c| matches!(
        c,
        RpcCommand::Open {
            call: Call::Append { .. },
            ..
        }
    )));
}

#[test]
fn a_stalled_read_whose_broker_left_the_route_restarts_at_its_offset() {
    let start = Instant::now();
    let mut client = Client::new(ClientConfig {
        zone: "b".into(),
        ..ClientConfig::default()
    });
    client.update_route("a/journal", Some(&route()), start);
    let op = client.read(ReadRequest::new("a/journal").from_offset(0), true, start);
    let rpc = match drain_commands(&mut client).as_slice() {
        [RpcCommand::Open { rpc, target, .. }] => {
            assert_eq!(*target, Target::Member("http://two:2".into()));
            *rpc
        }
        other => panic!("{other:?}"),
    };
    client.handle_rpc_opened(rpc, start);
    client.handle_rpc_message(
        rpc,
        RpcMessage::Read(ReadResponse {
            header: Some(header()),
            offset: 0,
            write_head: 3,
            fragment: Some(Fragment {
                journal: "a/journal".into(),
                begin: 0,
                end: 3,
                compression_codec: gazette_proto::CompressionCodec::None as i32,
                ..Default::default()
            }),
            ..Default::default()
        }),
        start,
    );
    client.handle_rpc_message(
        rpc,
        RpcMessage::Read(ReadResponse {
            offset: 0,
            content: Bytes::from_static(b"abc"),
            ..Default::default()
        }),
        start,
    );
    let _ = std::iter::from_fn(|| client.poll_event()).count();
    // A route learned before the RPC stalls changes nothing.
    client.update_route("a/journal", Some(&moved_route()), start);
    client.handle_timeout(start);
    assert!(drain_commands(&mut client).is_empty());
    // Idle at the write head: probed, and the broker is gone.
    let probe_at = client.poll_timeout().unwrap();
    assert_eq!(probe_at, start + PROBE_AFTER);
    client.handle_timeout(probe_at);

    let probe = match drain_commands(&mut client).as_slice() {
        [
            RpcCommand::Open {
                rpc,
                call: Call::List(_),
                ..
            },
        ] => *rpc,
        other => panic!("{other:?}"),
    };
    answer_probe(&mut client, probe, "a/journal", moved_route(), probe_at);
    assert_eq!(
        drain_commands(&mut client),
        vec![RpcCommand::Cancel { rpc }]
    );
    assert!(client.is_member_failed("http://two:2"));
    // Restarted after its backoff at offset 3, on a member still serving.
    let retry = client.poll_timeout().unwrap();
    client.handle_timeout(retry);
    match drain_commands(&mut client).as_slice() {
        [
            RpcCommand::Open {
                call: Call::Read(request),
                target,
                ..
            },
        ] => {
            assert_eq!(request.offset, 3);
            // Not the frozen broker (its route was dropped: the service
            // address proxies to wherever the journal is now).
            assert_ne!(*target, Target::Member("http://two:2".into()));
        }
        other => panic!("{other:?}"),
    }
    assert!(client.is_open(op));
}

#[test]
fn a_healthy_rpc_is_not_cancelled_by_a_route_change() {
    let start = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    client.update_route("a/journal", Some(&route()), start);
    client
        .append(
            AppendRequest::new("a/journal"),
            vec![Bytes::from_static(b"x")],
            start,
        )
        .unwrap();
    for command in drain_commands(&mut client) {
        if let RpcCommand::Send { rpc, .. } = command {
            client.handle_rpc_sent(rpc, start);
        }
    }
    // The route changes while the append just made progress.
    let soon = start + MOVE_STALL / 2;
    client.update_route("a/journal", Some(&moved_route()), soon);
    client.handle_timeout(soon);
    assert!(drain_commands(&mut client).is_empty());
    assert!(client.poll_event().is_none());
}

#[test]
fn a_read_to_the_write_head_ends_cleanly_there() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    let mut broker = Broker::default();
    broker
        .journals
        .insert("a/journal".into(), b"all of it".to_vec());
    // Even a blocking request does not block.
    let op = client.read_to_head(ReadRequest::new("a/journal"), now);
    let events = run(&mut client, &mut broker, now);
    assert_eq!(content(&events, op), b"all of it");
    assert_eq!(finished(&events, op), Some(&Ok(Outcome::ReadComplete)));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::ReadStopped { .. }))
    );
}

#[test]
fn a_stopped_retrying_read_finishes_when_cancelled_or_past_its_deadline() {
    let now = Instant::now();
    for deadline in [false, true] {
        let mut client = Client::new(ClientConfig::default());
        // An invalid request stops a retrying read at once.
        let op = client.read(ReadRequest::new("Not A/Journal//"), true, now);
        assert!(matches!(
            client.poll_event(),
            Some(Event::ReadStopped {
                error: ReadError::InvalidRequest(_),
                ..
            })
        ));
        let expected = if deadline {
            client.set_deadline(op, Some(now + Duration::from_secs(1)));
            client.handle_timeout(now + Duration::from_secs(1));
            ReadError::DeadlineExceeded
        } else {
            client.cancel(op, now);
            ReadError::Cancelled
        };
        assert_eq!(
            client.poll_event(),
            Some(Event::Finished {
                op,
                result: Err(OpError::Read(expected))
            })
        );
        assert!(!client.is_open(op));
        assert_eq!(client.poll_timeout(), None);
    }
}

#[test]
fn a_write_whose_stream_fails_fast_finishes_the_append_once() {
    let now = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    client.update_route("a/journal", Some(&route()), now);
    // The primary fails: it is skipped for a while.
    let first = client
        .start_append(AppendRequest::new("a/journal"), now)
        .unwrap();
    client
        .write_append(first, Bytes::from_static(b"x"), now)
        .unwrap();
    let rpc = match client.poll_rpc() {
        Some(RpcCommand::Open { rpc, .. }) => rpc,
        other => panic!("{other:?}"),
    };
    client.handle_rpc_end(rpc, RpcEnd::transport("connection refused"), now);
    while client.poll_rpc().is_some() {}
    assert!(matches!(
        client.poll_event(),
        Some(Event::Finished { op, result: Err(_) }) if op == first
    ));
    assert!(client.is_member_failed("http://two:2"));
    // The route is learned again; the next append's first write picks
    // the failed primary and fails at once.
    client.update_route("a/journal", Some(&route()), now);
    let op = client
        .start_append(AppendRequest::new("a/journal"), now)
        .unwrap();
    let _ = client.write_append(op, Bytes::from_static(b"y"), now);
    assert!(matches!(
        client.poll_event(),
        Some(Event::Finished { op: o, result: Err(OpError::Rpc { .. }) }) if o == op
    ));
    assert!(!client.is_open(op), "a finished append is forgotten");
    assert_eq!(client.open_operations(), 0);
    client.commit_append(op, now);
    client.cancel(op, now);
    assert_eq!(client.poll_event(), None, "one Finished per operation");
}

#[test]
fn an_append_through_the_service_address_is_not_cancelled_by_a_route_it_learns() {
    let start = Instant::now();
    let mut client = Client::new(ClientConfig::default());
    client
        .append(AppendRequest::new("a/journal"), vec![Bytes::new()], start)
        .unwrap();
    for command in drain_commands(&mut client) {
        match command {
            RpcCommand::Open { target, .. } => assert_eq!(target, Target::Service),
            RpcCommand::Send { rpc, .. } => client.handle_rpc_sent(rpc, start),
            _ => {}
        }
    }
    // Long after, a route of the journal is learned: the proxied append
    // may be waiting on any broker; it is left alone.
    let later = start + MOVE_STALL * 3;
    client.update_route("a/journal", Some(&moved_route()), later);
    client.handle_timeout(later);
    assert!(drain_commands(&mut client).is_empty());
    assert!(client.poll_event().is_none());
}
