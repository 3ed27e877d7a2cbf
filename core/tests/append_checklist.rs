//! The Go append checklist (docs/behaviour.md#appender-checklist for Appender/Append and #appendservice-checklist for
//! AppendService), one test per item, named after it.

// Tests need an arbitrary base `Instant`; the core itself never reads the clock.
#![allow(clippy::disallowed_methods)]

mod append_support;

use std::time::{Duration, Instant};

use append_support::*;
use gazette_core::append::*;
use gazette_core::proto::{AppendRequest, LabelSelector, Status};
use gazette_core::route::RouteUpdate;
use gazette_core::status::StatusError;

const J: &str = "a/journal";

// ---------------------------------------------------------------- docs/behaviour.md#appender-checklist

#[test]
fn appender_two_writes_then_close_sends_preamble_chunks_marker_and_caches_route() {
    let mut a = Appender::new(request(J)).unwrap();
    a.write(bytes("foo"));
    a.write(bytes("bar"));
    a.commit();
    let mut wire = Wire::default();
    let result = drive(&mut a, &mut wire, None, &mut |_| Ok(ok_response(J, 0, 6)));
    assert_eq!(result, Some(Ok(ok_response(J, 0, 6))));
    assert_eq!(wire.sent[0], request(J));
    assert_eq!(wire.sent[1].content, "foo");
    assert_eq!(wire.sent[2].content, "bar");
    assert_eq!(wire.sent[3], AppendRequest::default());
    assert_eq!(wire.sent.len(), 4);
    assert!(wire.half_closed && !wire.aborted);
    assert_eq!(
        wire.routes,
        vec![(J.to_string(), RouteUpdate::Store(route("broker-a")))]
    );
    assert_eq!(a.bytes_sent(), 6);
}

#[test]
fn appender_stream_failure_after_first_chunk_surfaces_on_later_write() {
    let mut a = Appender::new(request(J)).unwrap();
    a.write(bytes("foo"));
    a.write(bytes("bar"));
    let mut wire = Wire::default();
    // Preamble and first chunk go out; the second chunk's send fails, so
    // the machine reads the response, which is the stream's error.
    let failure = TransportError::Other("broken stream".into());
    let result = drive(&mut a, &mut wire, Some(1), &mut |_| Err(failure.clone()));
    assert_eq!(result, Some(Err(AppendError::Transport(failure))));
    assert_eq!(wire.sent.len(), 2);
    assert!(wire.routes.is_empty());
    assert!(a.is_finished() && !a.accepts_content());
}

#[test]
fn appender_close_outcomes_map_statuses_and_cache_routes() {
    struct Case {
        response: Result<gazette_core::proto::AppendResponse, TransportError>,
        error: Option<&'static str>,
        cached: bool,
    }
    let mut invalid = ok_response(J, 0, 0);
    invalid.commit.as_mut().unwrap().journal = "a".into();
    let mut unhealthy = status_response(Status::FragmentStoreUnhealthy);
    unhealthy.store_health_error = "s3: connection timeout".into();
    let cases = [
        Case {
            response: Err(TransportError::Other("stream error".into())),
            error: Some("stream error"),
            cached: false,
        },
        Case {
            response: Ok(invalid),
            error: Some(
                "validating broker response: Commit.Journal: invalid length (1; expected 4 <= length <= 512)",
            ),
            cached: false,
        },
        Case {
            response: Ok(status_response(Status::JournalNotFound)),
            error: Some("JOURNAL_NOT_FOUND"),
            cached: true,
        },
        Case {
            response: Ok(status_response(Status::NotJournalPrimaryBroker)),
            error: Some("NOT_JOURNAL_PRIMARY_BROKER"),
            cached: true,
        },
        Case {
            response: Ok(status_response(Status::WrongAppendOffset)),
            error: Some("WRONG_APPEND_OFFSET"),
            cached: true,
        },
        Case {
            response: Ok(status_response(Status::IndexHasGreaterOffset)),
            error: Some("INDEX_HAS_GREATER_OFFSET"),
            cached: true,
        },
        Case {
            response: Ok(status_response(Status::NotAllowed)),
            error: Some("NOT_ALLOWED"),
            cached: true,
        },
        Case {
            response: Ok(unhealthy),
            error: Some("s3: connection timeout: FRAGMENT_STORE_UNHEALTHY"),
            cached: true,
        },
        Case {
            response: Ok(status_response(Status::OffsetNotYetAvailable)),
            error: Some("OFFSET_NOT_YET_AVAILABLE"),
            cached: true,
        },
    ];
    for case in cases {
        let mut a = Appender::new(request(J)).unwrap();
        a.commit();
        let mut wire = Wire::default();
        let response = case.response.clone();
        let result = drive(&mut a, &mut wire, None, &mut |_| response.clone()).unwrap();
        assert_eq!(
            result.as_ref().err().map(|e| e.to_string()).as_deref(),
            case.error
        );
        assert_eq!(!wire.routes.is_empty(), case.cached, "{:?}", case.error);
        if let Err(AppendError::Status(s)) = &result {
            let named = [
                Status::JournalNotFound,
                Status::NotJournalPrimaryBroker,
                Status::WrongAppendOffset,
                Status::IndexHasGreaterOffset,
                Status::NotAllowed,
            ];
            let status = Status::try_from(s.status_code()).unwrap();
            if named.contains(&status) {
                assert_eq!(*s, StatusError::Named(status));
            } else if status == Status::FragmentStoreUnhealthy {
                assert!(s.is(status) && *s != StatusError::Named(status));
            } else {
                assert_eq!(*s, StatusError::Generic(status as i32));
            }
        }
    }
}

/// Runs `OneShotAppend` over sources `con` and `tent` against `broker`,
/// returning every attempt's wire, the retry delays and the final result.
fn one_shot(
    broker: &mut Broker<'_>,
    failing_source_at: Option<usize>,
) -> (
    Vec<Wire>,
    Vec<Duration>,
    Result<gazette_core::proto::AppendResponse, AppendError>,
) {
    let mut policy = OneShotAppend::new(request(J));
    let (mut wires, mut delays) = (Vec::new(), Vec::new());
    loop {
        let mut a = Appender::new(policy.request().clone()).unwrap();
        let mut source_error = None;
        for (i, source) in ["con", "tent"].into_iter().enumerate() {
            if failing_source_at == Some(i) {
                source_error = Some(AppendError::Source("source failed".into()));
                a.abort();
                break;
            }
            a.write(bytes(source));
        }
        if source_error.is_none() {
            a.commit();
        }
        let mut wire = Wire::default();
        let result = drive(&mut a, &mut wire, None, broker);
        wires.push(wire);
        let result = match source_error {
            Some(e) => Err(e),
            None => result.unwrap(),
        };
        match policy.on_attempt_finished(result) {
            AppendStep::Done(r) => return (wires, delays, Ok(r)),
            AppendStep::Fail(e) => return (wires, delays, Err(e)),
            AppendStep::Retry { delay, .. } => delays.push(delay),
        }
    }
}

#[test]
fn append_unavailable_member_invalidates_route_then_retry_succeeds() {
    let mut calls = 0;
    let (wires, delays, result) = one_shot(
        &mut |_| {
            calls += 1;
            if calls == 1 {
                Err(TransportError::Unavailable("connection refused".into()))
            } else {
                Ok(ok_response(J, 0, 7))
            }
        },
        None,
    );
    assert_eq!(result, Ok(ok_response(J, 0, 7)));
    assert_eq!(
        wires[0].routes,
        vec![(J.to_string(), RouteUpdate::Invalidate)]
    );
    assert_eq!(delays, vec![Duration::from_millis(50)]);
    // Each source went out as its own chunk, on both attempts.
    for w in &wires {
        assert_eq!(w.sent[1].content, "con");
        assert_eq!(w.sent[2].content, "tent");
    }
}

#[test]
fn append_not_primary_broker_is_retried_then_succeeds() {
    let mut calls = 0;
    let (wires, delays, result) = one_shot(
        &mut |_| {
            calls += 1;
            match calls {
                1 | 2 => Ok(status_response(Status::NotJournalPrimaryBroker)),
                _ => Ok(ok_response(J, 0, 7)),
            }
        },
        None,
    );
    assert!(result.is_ok());
    assert_eq!(wires.len(), 3);
    assert_eq!(delays, vec![Duration::from_millis(50); 2]);
}

#[test]
fn append_wrong_append_offset_is_returned() {
    let (wires, _, result) = one_shot(
        &mut |_| Ok(status_response(Status::WrongAppendOffset)),
        None,
    );
    assert_eq!(wires.len(), 1);
    assert!(
        result
            .unwrap_err()
            .is_named_status(Status::WrongAppendOffset)
    );
}

#[test]
fn append_stream_error_is_returned() {
    let err = TransportError::Other("append stream: unexpected EOF".into());
    let (wires, _, result) = one_shot(&mut |_| Err(err.clone()), None);
    assert_eq!(wires.len(), 1);
    assert_eq!(result, Err(AppendError::Transport(err)));
}

#[test]
fn append_failing_source_rolls_back_without_commit_marker() {
    let (wires, _, result) = one_shot(&mut |_| panic!("no response is read"), Some(1));
    assert_eq!(result, Err(AppendError::Source("source failed".into())));
    let w = &wires[0];
    assert_eq!(w.sent.len(), 2);
    assert_eq!(w.sent[0], request(J));
    assert_eq!(w.sent[1].content, "con");
    assert!(w.aborted && w.half_closed && !w.committed());
}

#[test]
fn appender_early_store_unhealthy_fails_a_later_write() {
    let mut a = Appender::new(request(J)).unwrap();
    let mut early = status_response(Status::FragmentStoreUnhealthy);
    early.store_health_error = "primary store is unhealthy".into();
    let mut wire = Wire::default();
    let mut broker = |_: &Wire| Ok(early.clone());
    // Writes succeed while the broker has not consumed anything ...
    for _ in 0..3 {
        a.write(bytes("data"));
        assert_eq!(drive(&mut a, &mut wire, None, &mut broker), None);
    }
    // ... until a send fails, and the early response explains why.
    a.write(bytes("data"));
    let result = drive(&mut a, &mut wire, Some(3), &mut broker).unwrap();
    assert_eq!(
        result.unwrap_err().to_string(),
        "primary store is unhealthy: FRAGMENT_STORE_UNHEALTHY"
    );
}

#[test]
fn append_with_cancelled_context_returns_context_error() {
    for err in [TransportError::Cancelled, TransportError::DeadlineExceeded] {
        let (wires, _, result) = one_shot(&mut |_| Err(err.clone()), None);
        assert_eq!(wires.len(), 1);
        let result = result.unwrap_err();
        assert!(result.is_context_error());
        assert_eq!(result, AppendError::Transport(err));
    }
}

// ---------------------------------------------------------------- docs/behaviour.md#appendservice-checklist

fn service(config: AppendConfig) -> Service {
    Service::new(MemorySpool::new(), config)
}

fn append(s: &mut Service, req: &AppendRequest, deps: &OpFutures, data: &str) -> OpFuture {
    let t = s.start_append(req, deps).unwrap();
    s.write(&t, data.as_bytes()).unwrap();
    s.release(t).unwrap()
}

#[test]
fn service_dispatches_after_release_and_retries_identical_content() {
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let fut = append(&mut s, &request(J), &OpFutures::new(), "hello, world");
    let d = s
        .poll_dispatch(now)
        .expect("dispatched right after release");
    assert_eq!((d.len, d.attempt), (12, 0));
    // While in flight, only this batch is pending; a new append would start
    // a new batch rather than join it.
    assert_eq!(s.pending_except("").len(), 1);
    assert!(s.pending_except("").contains(&fut));
    assert_eq!(s.poll_dispatch(now), None);

    let mut contents = Vec::new();
    let mut calls = 0;
    let mut t = now;
    let mut d = d;
    loop {
        let (wire, _) = run_dispatch(&mut s, &d, 5, t, &mut |w: &Wire| {
            calls += 1;
            contents.push(w.content());
            if calls <= 2 {
                Err(TransportError::Unavailable("down".into()))
            } else {
                Ok(ok_response(J, 0, 12))
            }
        });
        assert!(wire.committed());
        if calls == 3 {
            break;
        }
        assert_eq!(s.poll_dispatch(t), None, "waits for the backoff");
        t = s.next_wakeup().unwrap();
        d = s.poll_dispatch(t).unwrap();
        assert_eq!(d.attempt, calls);
    }
    assert_eq!(contents, vec![b"hello, world".to_vec(); 3]);
    assert_eq!(fut.try_result(), Some(Ok(())));
    assert_eq!(fut.response(), Some(ok_response(J, 0, 12)));
    assert!(s.pending_except("").is_empty());
    assert!(s.is_idle());
    assert_eq!(s.metrics().retries, 2);
    assert_eq!(s.metrics().bytes_sent, 36);
}

#[test]
fn service_require_aborts_roll_back_only_their_own_bytes() {
    let mut s = service(AppendConfig {
        front_buffer: 7,
        ..Default::default()
    });
    let now = Instant::now();
    let none = OpFutures::new();
    let mut futures = Vec::new();
    for (text, abort) in [
        ("aborted one", true),
        ("write one", false),
        ("aborted two!", true),
        (" write two", false),
        ("aborted three", true),
    ] {
        let t = s.start_append(&request(J), &none).unwrap();
        s.write(&t, text.as_bytes()).unwrap();
        if abort {
            s.require(&t, AppendError::Rejected(format!("abort {text}")));
            s.require(&t, AppendError::Rejected("second reason loses".into()));
            assert_eq!(
                s.release(t).unwrap_err(),
                AppendError::Rejected(format!("abort {text}"))
            );
        } else {
            futures.push(s.release(t).unwrap());
        }
    }
    let d = s.poll_dispatch(now).unwrap();
    let (wire, _) = run_dispatch(&mut s, &d, 4, now, &mut |_| Ok(ok_response(J, 0, 19)));
    assert_eq!(wire.content(), b"write one write two");
    assert!(s.poll_dispatch(now).is_none());
    assert!(futures.iter().all(|f| f.try_result() == Some(Ok(()))));
    assert!(futures[0].same_as(&futures[1]));
    assert_eq!(s.metrics().appends_rolled_back, 3);
}

#[test]
fn service_cutoff_splits_batches_into_separate_rpcs_in_order() {
    let mut s = service(AppendConfig {
        batch_cutoff: 8,
        ..Default::default()
    });
    let now = Instant::now();
    let none = OpFutures::new();
    let futs: Vec<_> = (0..3)
        .map(|i| append(&mut s, &request(J), &none, &format!("hello, world {i}")))
        .collect();
    for (i, f) in futs.iter().enumerate() {
        let d = s.poll_dispatch(now).unwrap();
        let (wire, _) = run_dispatch(&mut s, &d, 64, now, &mut |_| Ok(ok_response(J, 0, 14)));
        assert_eq!(wire.content(), format!("hello, world {i}").as_bytes());
        assert_eq!(f.try_result(), Some(Ok(())));
    }
    assert!(s.is_idle());
}

#[test]
fn service_writer_after_batch_completed_gets_fresh_batch() {
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let none = OpFutures::new();
    let first = append(&mut s, &request(J), &none, "one");
    let d = s.poll_dispatch(now).unwrap();
    // A second writer arriving now cannot join the sealed batch; it gets a
    // fresh one even though the first completes while it writes.
    let t = s.start_append(&request(J), &none).unwrap();
    assert_ne!(t.batch(), d.batch);
    let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| Ok(ok_response(J, 0, 3)));
    assert_eq!(first.try_result(), Some(Ok(())));
    s.write(&t, b"two").unwrap();
    let second = s.release(t).unwrap();
    let d = s.poll_dispatch(now).unwrap();
    let (wire, _) = run_dispatch(&mut s, &d, 64, now, &mut |_| Ok(ok_response(J, 3, 6)));
    assert_eq!(wire.content(), b"two");
    assert_eq!(second.try_result(), Some(Ok(())));
}

#[test]
fn service_cancel_fails_in_flight_dependents_and_later_appends() {
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let none = OpFutures::new();
    let first = append(&mut s, &request(J), &none, "first");
    let d = s.poll_dispatch(now).unwrap();
    let deps: OpFutures = [first.clone()].into_iter().collect();
    let other = append(&mut s, &request("other/journal"), &deps, "dependent");
    assert_eq!(s.poll_dispatch(now), None, "waits for its dependency");
    s.cancel();
    s.on_append_finished(d.batch, Err(TransportError::Cancelled.into()), now);
    assert_eq!(s.poll_dispatch(now), None);
    assert_eq!(
        first.try_result(),
        Some(Err(TransportError::Cancelled.into()))
    );
    let other_err = other.try_result().unwrap().unwrap_err();
    assert_eq!(other_err.to_string(), "dependency failed: context canceled");
    // A later append to the first journal releases fine but fails.
    let later = append(&mut s, &request(J), &none, "later");
    assert_eq!(s.poll_dispatch(now), None);
    assert_eq!(
        later.try_result(),
        Some(Err(TransportError::Cancelled.into()))
    );
}

#[test]
fn service_terminal_statuses_fail_after_a_single_attempt() {
    let mut unhealthy = status_response(Status::FragmentStoreUnhealthy);
    unhealthy.store_health_error = "store down".into();
    let cases = [
        (unhealthy, "store down: FRAGMENT_STORE_UNHEALTHY"),
        (
            status_response(Status::IndexHasGreaterOffset),
            "INDEX_HAS_GREATER_OFFSET",
        ),
        (status_response(Status::NotAllowed), "NOT_ALLOWED"),
        (
            status_response(Status::JournalNotFound),
            "JOURNAL_NOT_FOUND",
        ),
        (
            status_response(Status::WrongAppendOffset),
            "WRONG_APPEND_OFFSET",
        ),
    ];
    for (response, text) in cases {
        // Go's policy: FRAGMENT_STORE_UNHEALTHY is terminal too.
        let mut s = service(AppendConfig {
            retry: BatchRetryPolicy::go(),
            ..Default::default()
        });
        let now = Instant::now();
        let fut = append(&mut s, &request(J), &OpFutures::new(), "x");
        let d = s.poll_dispatch(now).unwrap();
        let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| Ok(response.clone()));
        assert_eq!(fut.try_result().unwrap().unwrap_err().to_string(), text);
        assert_eq!(s.metrics().rpc_attempts, 1);
        assert_eq!(s.poison_of(J).map(|e| e.to_string()).as_deref(), Some(text));
    }
}

#[test]
fn service_retries_store_unhealthy_beyond_go() {
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let fut = append(&mut s, &request(J), &OpFutures::new(), "x");
    let d = s.poll_dispatch(now).unwrap();
    let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| {
        Ok(status_response(Status::FragmentStoreUnhealthy))
    });
    assert!(!fut.is_done());
    let t = s.next_wakeup().unwrap();
    assert_eq!(t - now, Duration::from_millis(50));
    let d = s.poll_dispatch(t).unwrap();
    let _ = run_dispatch(&mut s, &d, 64, t, &mut |_| Ok(ok_response(J, 0, 1)));
    assert_eq!(fut.try_result(), Some(Ok(())));
    assert_eq!(s.poison_of(J), None);
}

#[test]
fn service_check_registers_retries_terminal_statuses() {
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let req = AppendRequest {
        check_registers: Some(LabelSelector::default()),
        ..request(J)
    };
    let fut = append(&mut s, &req, &OpFutures::new(), "x");
    let d = s.poll_dispatch(now).unwrap();
    let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| {
        Ok(status_response(Status::RegisterMismatch))
    });
    assert!(!fut.is_done(), "retried");
    s.cancel();
    let t = s.next_wakeup().unwrap();
    assert_eq!(s.poll_dispatch(t), None);
    assert_eq!(
        fut.try_result(),
        Some(Err(TransportError::Cancelled.into()))
    );
}

#[test]
fn spool_small_writes_stay_in_the_front_buffer_until_it_overflows() {
    let mut s = AppendService::new(AppendConfig {
        front_buffer: 8,
        ..Default::default()
    });
    let t = s.start_append(&request(J), &[]).unwrap();
    s.write(&t, b"abcdef").unwrap();
    assert_eq!(s.poll_spool(), None, "fits the front buffer");
    s.write(&t, b"ghi").unwrap();
    let Some(SpoolCommand::Write { file, offset, data }) = s.poll_spool() else {
        panic!("an overflowing write flushes the front buffer");
    };
    assert_eq!((offset, &data[..]), (0, &b"abcdef"[..]));
    assert_eq!(s.poll_spool(), None, "the small write is buffered");
    s.write(&t, b"0123456789").unwrap();
    assert_eq!(
        s.poll_spool(),
        Some(SpoolCommand::Write {
            file,
            offset: 6,
            data: bytes("ghi"),
        })
    );
    assert_eq!(
        s.poll_spool(),
        Some(SpoolCommand::Write {
            file,
            offset: 9,
            data: bytes("0123456789"),
        }),
        "a write as large as the front buffer goes straight to the file"
    );
    assert_eq!(s.poll_spool(), None);
}

/// A failed spool write holding bytes of an append released earlier loses
/// them: the batch fails (and poisons its journal) instead of sending a
/// hole.
#[test]
fn spool_failure_of_released_bytes_fails_the_batch() {
    let mut s = AppendService::new(AppendConfig {
        front_buffer: 8,
        ..Default::default()
    });
    let now = Instant::now();
    let first = s.start_append(&request(J), &[]).unwrap();
    s.write(&first, b"abc").unwrap();
    let batch = s.release(first).unwrap();
    let second = s.start_append(&request(J), &[]).unwrap();
    assert_eq!(second.batch(), batch, "joined the same batch");
    s.write(&second, b"0123456789").unwrap();
    let Some(SpoolCommand::Write { offset, .. }) = s.poll_spool() else {
        panic!("the front buffer leaves first");
    };
    assert_eq!(offset, 0);
    s.handle_spool_failed(&second, offset, SpoolError::new("disk full"));
    while s.poll_spool().is_some() {}
    assert_eq!(
        s.release(second).unwrap_err(),
        AppendError::Spool("disk full".into())
    );
    assert_eq!(s.poll_dispatch(now), None, "nothing is sent");
    let resolved = s.poll_resolved().unwrap();
    assert_eq!(resolved.append, batch);
    assert_eq!(resolved.result, Err(AppendError::Spool("disk full".into())));
    assert!(s.poison_of(J).is_some());
}

#[test]
fn spool_rollback_then_overwrite_reads_back_the_surviving_bytes() {
    let mut s = service(AppendConfig {
        front_buffer: 4,
        ..Default::default()
    });
    let now = Instant::now();
    let none = OpFutures::new();
    let t = s.start_append(&request(J), &none).unwrap();
    s.write(&t, b"01234").unwrap();
    let kept = s.release(t).unwrap();
    let t = s.start_append(&request(J), &none).unwrap();
    s.write(&t, b"56789ab").unwrap();
    s.require(&t, AppendError::Rejected("rolled back".into()));
    assert!(s.release(t).is_err());
    let t = s.start_append(&request(J), &none).unwrap();
    s.write(&t, b"XYZ").unwrap();
    s.release(t).unwrap();
    let d = s.poll_dispatch(now).unwrap();
    let (wire, _) = run_dispatch(&mut s, &d, 3, now, &mut |_| Ok(ok_response(J, 0, 8)));
    assert_eq!(wire.content(), b"01234XYZ");
    assert_eq!(kept.try_result(), Some(Ok(())));
}

#[test]
fn service_short_write_rolls_back_and_next_append_carries_only_its_content() {
    let mut s = service(AppendConfig {
        front_buffer: 4,
        ..Default::default()
    });
    let now = Instant::now();
    let none = OpFutures::new();
    s.spool_mut().write_budget = Some(5);
    let t = s.start_append(&request(J), &none).unwrap();
    let err = s.write(&t, b"0123456789").unwrap_err();
    assert!(matches!(err, AppendError::Spool(_)));
    assert_eq!(s.release(t).unwrap_err(), err);
    s.spool_mut().write_budget = None;
    let fut = append(&mut s, &request(J), &none, "next one");
    let d = s.poll_dispatch(now).unwrap();
    let (wire, _) = run_dispatch(&mut s, &d, 3, now, &mut |_| Ok(ok_response(J, 0, 8)));
    assert_eq!(wire.content(), b"next one");
    assert_eq!(fut.try_result(), Some(Ok(())));
}

#[test]
fn service_pending_except_orders_appends_across_three_journals() {
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let journals = ["j/one", "j/two", "j/three"];
    let mut order = Vec::new();
    // Two rounds: each append depends on everything pending elsewhere.
    for round in 0..2 {
        for j in journals {
            let deps = s.pending_except(j);
            let t = s.start_append(&request(j), &deps).unwrap();
            s.write(&t, format!("{j}:{round}").as_bytes()).unwrap();
            s.release(t).unwrap();
            // An equal dependency set joins the same batch.
            let again = s.start_append(&request(j), &deps).unwrap();
            let same = s.queued(j).last().unwrap().0 == again.batch();
            assert!(same);
            s.release(again).unwrap();
        }
    }
    while !s.is_idle() {
        let d = s.poll_dispatch(now).expect("progress");
        let (wire, _) = run_dispatch(&mut s, &d, 64, now, &mut |_| Ok(ok_response("j/one", 0, 1)));
        order.push(String::from_utf8(wire.content()).unwrap());
    }
    assert_eq!(
        order,
        [
            "j/one:0",
            "j/two:0",
            "j/three:0",
            "j/one:1",
            "j/two:1",
            "j/three:1"
        ]
    );
}

#[test]
fn service_dependency_failure_fails_both_batches_and_poisons_journal() {
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let (bad, good) = (AsyncOperation::new(), AsyncOperation::new());
    let deps_bad: OpFutures = [bad.future()].into_iter().collect();
    let deps_good: OpFutures = [good.future()].into_iter().collect();
    let first = append(&mut s, &request(J), &deps_bad, "one");
    let second = append(&mut s, &request(J), &deps_good, "two");
    assert_eq!(s.queued(J).len(), 2, "different dependencies: two batches");
    assert_eq!(s.poll_dispatch(now), None);
    good.resolve(Ok(())).unwrap();
    bad.resolve(Err(AppendError::Rejected("an error".into())))
        .unwrap();
    assert_eq!(s.poll_dispatch(now), None);
    for f in [&first, &second] {
        assert_eq!(
            f.try_result().unwrap().unwrap_err().to_string(),
            "dependency failed: an error"
        );
    }
    let later = append(&mut s, &request(J), &OpFutures::new(), "later");
    assert_eq!(s.poll_dispatch(now), None);
    assert_eq!(later.try_result(), first.try_result());
    let pending = s.pending_except("");
    assert!(!pending.is_empty());
    for f in pending.iter() {
        assert_eq!(f.try_result(), first.try_result());
    }
    // Stable poison futures keep pending_except results subsets (quirk 20).
    assert!(s.pending_except("").is_subset_of(&s.pending_except("")));
}

#[test]
fn service_pooled_buffer_comes_back_at_offset_zero() {
    let mut s = service(AppendConfig {
        front_buffer: 2,
        ..Default::default()
    });
    let now = Instant::now();
    append(
        &mut s,
        &request(J),
        &OpFutures::new(),
        "spilled to the file",
    );
    let d = s.poll_dispatch(now).unwrap();
    let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| Ok(ok_response(J, 0, 1)));
    assert_eq!(s.spool().files_created, 1);
    // The reused buffer starts at offset 0: the next batch reads back only
    // its own bytes, from the same file.
    append(&mut s, &request(J), &OpFutures::new(), "new");
    let d = s.poll_dispatch(now).unwrap();
    assert_eq!(d.len, 3);
    let (wire, _) = run_dispatch(&mut s, &d, 64, now, &mut |_| Ok(ok_response(J, 0, 1)));
    assert_eq!(wire.content(), b"new");
    assert_eq!(s.spool().files_created, 1);
}

#[test]
fn op_futures_subset_rules() {
    let ops: Vec<_> = (0..3).map(|_| AsyncOperation::new()).collect();
    let set = |idx: &[usize]| -> OpFutures { idx.iter().map(|&i| ops[i].future()).collect() };
    let empty = OpFutures::new();
    assert!(empty.is_subset_of(&empty));
    assert!(!set(&[0]).is_subset_of(&empty));
    for i in 0..3 {
        assert!(set(&[i]).is_subset_of(&set(&[0, 1, 2])));
    }
    let full = set(&[0, 1, 2]);
    assert!(full.is_subset_of(&full));
    // A distinct object (even an equal, unresolved one) is not a member.
    let distinct = AsyncOperation::new();
    assert!(!full.contains(&distinct.future()));
    assert!(set(&[0, 2]).is_subset_of(&set(&[2, 1, 0])));
    assert!(!set(&[0, 2]).is_subset_of(&set(&[1, 2])));
    assert!(!full.is_subset_of(&set(&[0, 1])));
    // Large sets take the sorted path.
    let many: Vec<_> = (0..20).map(|_| AsyncOperation::new()).collect();
    let big: OpFutures = many.iter().map(AsyncOperation::future).collect();
    let most: OpFutures = many[..19].iter().map(AsyncOperation::future).collect();
    assert!(most.is_subset_of(&big) && !big.is_subset_of(&most));
}

// ---------------------------------------------------- beyond the checklist

#[test]
fn appender_ignores_empty_writes_and_abort_without_stream() {
    let mut a = Appender::new(request(J)).unwrap();
    a.write(bytes(""));
    assert_eq!(a.poll_output(), None, "an empty write starts nothing");
    a.abort();
    assert_eq!(a.poll_output(), None, "abort without a stream does nothing");
    assert!(a.is_finished());
    a.commit();
    assert_eq!(a.poll_output(), None, "finished appenders ignore commit");
}

#[test]
fn appender_splits_large_writes_into_bounded_chunks() {
    let mut a = Appender::new(request(J)).unwrap().with_chunk_size(4);
    a.write(bytes("0123456789"));
    a.commit();
    let mut wire = Wire::default();
    drive(&mut a, &mut wire, None, &mut |_| Ok(ok_response(J, 0, 10)))
        .unwrap()
        .unwrap();
    let sizes: Vec<usize> = wire.sent[1..].iter().map(|m| m.content.len()).collect();
    assert_eq!(sizes, vec![4, 4, 2, 0]);
    assert_eq!(wire.content(), b"0123456789");
}

#[test]
fn appender_ok_before_commit_is_premature_commit_not_success() {
    let mut a = Appender::new(request(J)).unwrap();
    a.write(bytes("data"));
    let mut wire = Wire::default();
    a.handle(AppenderInput::SendFailed);
    let r = drive(&mut a, &mut wire, None, &mut |_| Ok(ok_response(J, 0, 0)));
    assert_eq!(r, Some(Err(AppendError::PrematureCommit)));
    assert_eq!(
        wire.routes.len(),
        1,
        "the valid response still updates the route"
    );
}

#[test]
fn appender_rejects_invalid_preambles() {
    assert_eq!(
        Appender::new(request("")).unwrap_err(),
        RequestError::MissingJournal
    );
    assert_eq!(
        Appender::new(AppendRequest {
            content: bytes("x"),
            ..request(J)
        })
        .unwrap_err(),
        RequestError::ContentInPreamble
    );
    assert_eq!(
        Appender::new(AppendRequest {
            offset: -1,
            ..request(J)
        })
        .unwrap_err(),
        RequestError::NegativeOffset(-1)
    );
    assert_eq!(
        Appender::new(AppendRequest {
            suspend: 99,
            ..request(J)
        })
        .unwrap_err(),
        RequestError::InvalidSuspend(99)
    );
    assert_eq!(
        RequestError::MissingJournal.to_string(),
        "expected Request.Journal"
    );
}

#[test]
fn register_mismatch_is_wrapped_with_selector_and_registers() {
    let req = AppendRequest {
        check_registers: Some(LabelSelector {
            include: Some(gazette_core::proto::LabelSet {
                labels: vec![gazette_core::proto::Label {
                    name: "owner".into(),
                    value: "me".into(),
                    prefix: false,
                }],
            }),
            exclude: None,
        }),
        ..request(J)
    };
    let mut a = Appender::new(req).unwrap();
    a.commit();
    let mut wire = Wire::default();
    let err = drive(&mut a, &mut wire, None, &mut |_| {
        Ok(status_response(Status::RegisterMismatch))
    })
    .unwrap()
    .unwrap_err();
    assert!(err.is_status(Status::RegisterMismatch));
    assert!(!err.is_named_status(Status::RegisterMismatch));
    assert_eq!(
        err.to_string(),
        "selector owner=me doesn't match registers {}: REGISTER_MISMATCH"
    );
}

#[test]
fn service_second_writer_waits_for_the_first_release() {
    let mut s = service(AppendConfig::default());
    let t = s.start_append(&request(J), &OpFutures::new()).unwrap();
    assert_eq!(
        s.start_append(&request(J), &OpFutures::new()).unwrap_err(),
        StartError::WriterActive { journal: J.into() }
    );
    // Other journals are independent; an open writer holds back dispatch.
    let other = s
        .start_append(&request("other/journal"), &OpFutures::new())
        .unwrap();
    drop(s.release(other).unwrap());
    assert_eq!(s.inner.poll_dispatch_journal(J, Instant::now()), None);
    assert!(
        s.inner
            .poll_dispatch_journal("other/journal", Instant::now())
            .is_some()
    );
    drop(s.release(t).unwrap());
    assert!(s.start_append(&request(J), &OpFutures::new()).is_ok());
}

#[test]
fn service_fully_rolled_back_batch_sends_no_rpc() {
    let mut s = service(AppendConfig::default());
    let t = s.start_append(&request(J), &OpFutures::new()).unwrap();
    s.write(&t, b"discard me").unwrap();
    s.require(&t, AppendError::Rejected("no".into()));
    let pending = s.pending_except("");
    assert!(s.release(t).is_err());
    assert_eq!(s.poll_dispatch(Instant::now()), None);
    assert!(s.is_idle());
    assert_eq!(pending.outcome(), Some(Ok(())));
    assert_eq!(s.metrics().rpc_attempts, 0);
}

#[test]
fn service_retry_backoff_uses_seeded_jitter() {
    let delays = |seed| {
        let mut s = service(AppendConfig {
            backoff: gazette_core::backoff::Backoff::with_jitter(seed, 500),
            ..Default::default()
        });
        let now = Instant::now();
        drop(append(&mut s, &request(J), &OpFutures::new(), "x"));
        let mut out = Vec::new();
        let mut t = now;
        for _ in 0..4 {
            let d = s.poll_dispatch(t).unwrap();
            let _ = run_dispatch(&mut s, &d, 64, t, &mut |_| {
                Err(TransportError::Unavailable("down".into()))
            });
            let next = s.next_wakeup().unwrap();
            out.push(next - t);
            t = next;
        }
        out
    };
    let (a, b) = (delays(7), delays(7));
    assert_eq!(a, b, "same seed, same delays");
    for (d, base) in a.iter().zip([50u64, 50, 100, 100]) {
        let base = Duration::from_millis(base);
        assert!(*d >= base && *d <= base * 3 / 2, "{d:?} vs {base:?}");
    }
    assert_ne!(a, delays(8));
}

#[test]
fn service_poison_can_be_scoped_or_cleared() {
    let now = Instant::now();
    for permanent in [true, false] {
        let mut s = service(AppendConfig {
            permanent_poison: permanent,
            ..Default::default()
        });
        let fut = append(&mut s, &request(J), &OpFutures::new(), "x");
        let d = s.poll_dispatch(now).unwrap();
        let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| {
            Ok(status_response(Status::WrongAppendOffset))
        });
        assert!(fut.try_result().unwrap().is_err());
        assert_eq!(s.poison_of(J).is_some(), permanent);
        if permanent {
            assert!(s.clear_poison(J).is_some());
        }
        let later = append(&mut s, &request(J), &OpFutures::new(), "y");
        let d = s
            .poll_dispatch(now)
            .expect("sent again once the poison is gone");
        let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| Ok(ok_response(J, 0, 1)));
        assert_eq!(later.try_result(), Some(Ok(())));
    }
}

#[test]
fn service_spool_read_failure_is_retried() {
    let mut s = service(AppendConfig {
        front_buffer: 1,
        ..Default::default()
    });
    let now = Instant::now();
    let fut = append(&mut s, &request(J), &OpFutures::new(), "spilled");
    let d = s.poll_dispatch(now).unwrap();
    // A batch that is not in flight cannot be read.
    assert!(s.read_content(AppendId(999), 0, 1).is_err());
    s.on_append_finished(d.batch, Err(AppendError::Spool("read failed".into())), now);
    assert!(!fut.is_done());
    let t = s.next_wakeup().unwrap();
    let d = s.poll_dispatch(t).unwrap();
    let (wire, _) = run_dispatch(&mut s, &d, 3, t, &mut |_| Ok(ok_response(J, 0, 7)));
    assert_eq!(wire.content(), b"spilled");
    assert_eq!(fut.try_result(), Some(Ok(())));
    assert_eq!(s.metrics().retries, 1);
}

#[test]
fn one_shot_backoff_follows_go_schedule_and_surfaces_other_errors() {
    let mut p = OneShotAppend::new(request(J));
    let unavailable = || {
        Err(AppendError::Transport(TransportError::Unavailable(
            "x".into(),
        )))
    };
    let delays: Vec<_> = (0..8)
        .map(|_| match p.on_attempt_finished(unavailable()) {
            AppendStep::Retry { delay, .. } => delay.as_millis(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(delays, vec![50, 50, 100, 100, 1000, 1000, 5000, 5000]);
    // Generic NOT_JOURNAL_PRIMARY_BROKER-like texts do not match by equality.
    for err in [
        AppendError::Status(StatusError::Generic(Status::NotJournalBroker as i32)),
        AppendError::Status(StatusError::Named(Status::Suspended)),
        AppendError::InvalidResponse("bad".into()),
        AppendError::Transport(TransportError::Other("x".into())),
    ] {
        assert!(!is_one_shot_retryable(&err), "{err}");
    }
    for s in [
        Status::NoJournalPrimaryBroker,
        Status::InsufficientJournalBrokers,
        Status::NotJournalPrimaryBroker,
    ] {
        assert!(is_one_shot_retryable(&AppendError::Status(
            StatusError::Named(s)
        )));
    }
}

// ------------------------------------------------- issue 10: barriers (B1)

/// A writer opens a tail batch behind an in-flight batch, another journal's
/// append takes that tail as a `pending_except` barrier, the writer rolls
/// back, and the in-flight batch fails terminally. The barrier stands for
/// the lost write, so the dependent must fail (Go: "dependency failed")
/// and never be sent.
#[test]
fn service_rolled_back_tail_on_a_poisoned_journal_fails_its_dependents() {
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let none = OpFutures::new();
    let first = append(&mut s, &request(J), &none, "lost");
    let d = s.poll_dispatch(now).expect("first batch dispatched");
    let writer = s.start_append(&request(J), &none).unwrap();
    assert_ne!(writer.batch(), d.batch, "the writer opens a new tail");
    let barrier = s.pending_except("other/journal");
    assert_eq!(barrier.len(), 1);
    let dependent = append(&mut s, &request("other/journal"), &barrier, "checkpoint");
    assert_eq!(s.poll_dispatch(now), None, "waits for its barrier");
    s.require(&writer, AppendError::Rejected("rolled back".into()));
    assert!(s.release(writer).is_err());
    let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| {
        Ok(status_response(Status::WrongAppendOffset))
    });
    assert!(first.try_result().unwrap().is_err());
    assert_eq!(s.poll_dispatch(now), None, "the dependent is never sent");
    let err = dependent.try_result().expect("resolved").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "dependency failed: {}",
            first.try_result().unwrap().unwrap_err()
        )
    );
    assert_eq!(barrier.outcome(), first.try_result());
    assert_eq!(s.metrics().rpc_attempts, 1);
}

/// A rolled-back tail batch with its own dependency waits for it like any
/// sealed batch: a failed dependency fails the tail, poisons its journal
/// and fails whatever used the tail as a barrier.
#[test]
fn service_rolled_back_tail_waits_for_and_propagates_its_dependencies() {
    for ok in [true, false] {
        let mut s = service(AppendConfig::default());
        let now = Instant::now();
        let external = AsyncOperation::new();
        let deps: OpFutures = [external.future()].into_iter().collect();
        let writer = s.start_append(&request(J), &deps).unwrap();
        let barrier = s.pending_except("other/journal");
        let dependent = append(&mut s, &request("other/journal"), &barrier, "after");
        s.require(&writer, AppendError::Rejected("rolled back".into()));
        assert!(s.release(writer).is_err());
        assert_eq!(s.poll_dispatch(now), None);
        assert!(!dependent.is_done(), "the tail still waits for {deps:?}");
        assert!(!barrier.iter().any(OpFuture::is_done));
        let result = if ok {
            Ok(())
        } else {
            Err(AppendError::Rejected("external failed".into()))
        };
        external.resolve(result).unwrap();
        let dispatched = s.poll_dispatch(now);
        if ok {
            let d = dispatched.expect("the dependent is sent once the tail resolved");
            assert_eq!(barrier.outcome(), Some(Ok(())));
            let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| {
                Ok(ok_response("other/journal", 0, 5))
            });
            assert_eq!(dependent.try_result(), Some(Ok(())));
            assert!(s.poison_of(J).is_none());
        } else {
            assert_eq!(dispatched, None);
            assert_eq!(
                s.poison_of(J).map(ToString::to_string).as_deref(),
                Some("dependency failed: external failed")
            );
            assert_eq!(
                dependent.try_result().unwrap().unwrap_err().to_string(),
                "dependency failed: dependency failed: external failed"
            );
            let later = append(&mut s, &request(J), &OpFutures::new(), "later");
            assert_eq!(s.poll_dispatch(now), None);
            assert!(later.try_result().unwrap().is_err());
        }
    }
}

// ------------------------------------------- issue 10: liveness (B2)

/// A batch resolved without an RPC during a pass (here a rolled-back tail)
/// unblocks a journal visited earlier in the same pass: the same
/// `poll_dispatch` call must return that journal's batch, since nothing
/// else would wake a driver that sleeps on `None`.
#[test]
fn service_poll_dispatch_rechecks_journals_unblocked_during_the_pass() {
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let none = OpFutures::new();
    const K: &str = "k/journal";
    // K is known first, so a pass visits K before J.
    append(&mut s, &request(K), &none, "k0");
    let d = s.poll_dispatch(now).unwrap();
    let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| Ok(ok_response(K, 0, 2)));
    append(&mut s, &request(J), &none, "j1");
    let d = s.poll_dispatch(now).unwrap();
    let writer = s.start_append(&request(J), &none).unwrap();
    let barrier = s.pending_except(K);
    let dependent = append(&mut s, &request(K), &barrier, "k1");
    s.require(&writer, AppendError::Rejected("rolled back".into()));
    assert!(s.release(writer).is_err());
    let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| Ok(ok_response(J, 0, 2)));
    let next = s.poll_dispatch(now);
    assert_eq!(
        next.as_ref().map(|d| d.request.journal.as_str()),
        Some(K),
        "the dependent is dispatched by the same poll"
    );
    let _ = run_dispatch(&mut s, &next.unwrap(), 64, now, &mut |_| {
        Ok(ok_response(K, 2, 4))
    });
    assert_eq!(dependent.try_result(), Some(Ok(())));
}

/// Two journals wait on two different external dependencies. Resolving
/// the second one readies its dependent, not the other journal.
#[test]
fn service_resolving_an_external_dependency_readies_only_its_dependents() {
    let mut s = AppendService::new(AppendConfig::default());
    let now = Instant::now();
    let (x, y) = (s.external_dependency(), s.external_dependency());
    for (journal, dep) in [("a/journal", x), ("b/journal", y)] {
        let t = s.start_append(&request(journal), &[dep]).unwrap();
        s.write(&t, b"c").unwrap();
        s.release(t).unwrap();
    }
    assert_eq!(s.poll_dispatch(now), None);
    s.resolve_external(y, Ok(()));
    let d = s.poll_dispatch(now).expect("b is dispatchable");
    assert_eq!(d.request.journal, "b/journal");
    assert_eq!(s.poll_dispatch(now), None, "a still waits for x");
    s.on_append_finished(d.batch, Ok(ok_response("b/journal", 0, 1)), now);
    let resolved: Vec<_> = std::iter::from_fn(|| s.poll_resolved()).collect();
    assert_eq!(
        resolved
            .iter()
            .map(|r| (r.append, r.result.is_ok()))
            .collect::<Vec<_>>(),
        vec![(y, true), (d.batch, true)]
    );
    assert_eq!(s.poll_dispatch(now), None, "a still waits for x");
    s.resolve_external(x, Err(AppendError::Rejected("x failed".into())));
    assert_eq!(s.poll_dispatch(now), None, "a fails without an RPC");
    let failed = std::iter::from_fn(|| s.poll_resolved()).last().unwrap();
    assert_eq!(
        failed.result.unwrap_err().to_string(),
        "dependency failed: x failed"
    );
}

// ----------------------------------------- issue 10: close and cancel (B3)

/// Closing refuses new writers (also of journals not seen before) but lets
/// open writers release and every queued batch go out; the service is idle
/// once they resolved.
#[test]
fn service_close_refuses_new_writers_and_flushes_queued_batches() {
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let none = OpFutures::new();
    let queued = append(&mut s, &request(J), &none, "queued");
    let open = s.start_append(&request("other/journal"), &none).unwrap();
    s.close();
    assert!(s.inner.is_closed());
    for journal in [J, "other/journal", "new/journal"] {
        assert_eq!(
            s.start_append(&request(journal), &none).unwrap_err(),
            StartError::Closed
        );
    }
    s.write(&open, b"still open").unwrap();
    let released = s.release(open).unwrap();
    while let Some(d) = s.poll_dispatch(now) {
        let journal = d.request.journal.clone();
        let _ = run_dispatch(&mut s, &d, 64, now, &mut |_| {
            Ok(ok_response(&journal, 0, 1))
        });
    }
    assert_eq!(queued.try_result(), Some(Ok(())));
    assert_eq!(released.try_result(), Some(Ok(())));
    assert!(s.is_idle());
}

#[test]
fn appender_and_failed_batch_keep_the_response_that_refused_them() {
    // The Appender keeps the refusing response (Go's Appender.Response).
    let mut appender = Appender::new(request(J)).unwrap();
    appender.handle(AppenderInput::Commit);
    let mut wire = Wire::default();
    let refusal = status_response(Status::RegisterMismatch);
    let answer = refusal.clone();
    let result = drive(&mut appender, &mut wire, None, &mut |_: &Wire| {
        Ok(answer.clone())
    });
    assert!(matches!(result, Some(Err(ref e)) if e.is_status(Status::RegisterMismatch)));
    assert_eq!(appender.response(), Some(&refusal));

    // A batch failing with it exposes it through its future (Go's
    // AsyncAppend.Response()); a failure without one exposes none.
    let mut s = service(AppendConfig::default());
    let now = Instant::now();
    let none = OpFutures::new();
    let refused = append(&mut s, &request(J), &none, "refused");
    let d = s.poll_dispatch(now).unwrap();
    let err = AppendError::Status(StatusError::Named(Status::RegisterMismatch));
    s.on_append_finished_with_response(d.batch, Err(err.clone()), Some(refusal.clone()), now);
    assert_eq!(refused.try_result(), Some(Err(err)));
    assert_eq!(refused.response(), Some(refusal));

    let cancelled = append(&mut s, &request("other/journal"), &none, "cancelled");
    let d = s.poll_dispatch(now).unwrap();
    s.on_append_finished(d.batch, Err(TransportError::Cancelled.into()), now);
    assert!(cancelled.try_result().unwrap().is_err());
    assert_eq!(cancelled.response(), None);
}

// ------------------------------------------------ issue 18: scale (ready queue)

/// Journals that drained (nothing queued, no writer, no terminal error)
/// are forgotten, so a long-lived service holds state only for journals in
/// use; a poisoned journal is kept, to fail what follows.
#[test]
fn service_forgets_drained_journals_and_keeps_poisoned_ones() {
    let mut s = AppendService::new(AppendConfig::default());
    let now = Instant::now();
    for i in 0..1000 {
        let journal = format!("many/journal-{i}");
        let t = s.start_append(&request(&journal), &[]).unwrap();
        s.write(&t, b"x").unwrap();
        s.release(t).unwrap();
    }
    assert_eq!(s.journal_count(), 1000);
    let mut dispatched = Vec::new();
    while let Some(d) = s.poll_dispatch(now) {
        dispatched.push(d);
    }
    assert_eq!(dispatched.len(), 1000, "every journal's batch goes out");
    for (i, d) in dispatched.iter().enumerate() {
        let result = if i == 7 {
            Err(AppendError::Status(
                gazette_core::status::StatusError::Named(Status::JournalNotFound),
            ))
        } else {
            Ok(ok_response(&d.request.journal, 0, 1))
        };
        s.on_append_finished(d.batch, result, now);
    }
    assert_eq!(s.poll_dispatch(now), None);
    assert_eq!(std::iter::from_fn(|| s.poll_resolved()).count(), 1000);
    assert_eq!(s.journal_count(), 1, "only the poisoned journal is kept");
    assert!(s.is_idle());
    let poisoned = &dispatched[7];
    assert_eq!(
        s.pending_except(""),
        vec![poisoned.batch],
        "the failed append stands for the poisoned journal"
    );
    assert!(s.failure_of(poisoned.batch).is_some());
}

/// A dependency the service never handed out is refused before anything
/// is queued.
#[test]
fn service_refuses_unknown_dependencies() {
    let mut s = AppendService::new(AppendConfig::default());
    let external = s.external_dependency();
    assert_eq!(
        s.start_append(&request(J), &[AppendId(external.0 + 1)])
            .unwrap_err(),
        StartError::UnknownDependency(AppendId(external.0 + 1))
    );
    assert_eq!(
        s.start_append(&request(J), &[AppendId(0)]).unwrap_err(),
        StartError::UnknownDependency(AppendId(0))
    );
    assert_eq!(s.journal_count(), 0);
    let t = s.start_append(&request(J), &[external]).unwrap();
    s.write(&t, b"x").unwrap();
    s.release(t).unwrap();
}
