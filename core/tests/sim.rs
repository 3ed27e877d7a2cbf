//! The deterministic simulation (feature `sim`): a seeded sweep of
//! workloads under fault schedules with the oracles checked after every
//! step, a run-twice trace-hash check, and scenarios that pin down the
//! simulated broker's semantics.
//!
//! `GAZETTE_SIM_CASES=N` sets the sweep size (default 3000);
//! `GAZETTE_SIM_SEED=S` replays one seed, printing every step.
#![cfg(feature = "sim")]
#![allow(clippy::disallowed_methods, clippy::result_large_err)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gazette_core::client::{Event, OpError, Outcome};
use gazette_core::proto::{
    AppendRequest, CompressionCodec, FragmentsRequest, JournalSpec, LabelSelector, LabelSet,
    ReadRequest, Status,
};
use gazette_core::read::ReadEvent;
use gazette_core::sim::workload::{STORE, replay, run_case};
use gazette_core::sim::{Fault, FaultSchedule, SimError, World, WorldConfig};

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a number"))
    })
}

const REPLAY: &str = "cargo test -p gazette-core --features sim --test sim -- sweep --nocapture";

#[test]
fn sweep() {
    if let Some(seed) = env_u64("GAZETTE_SIM_SEED") {
        match replay(seed, Instant::now()) {
            Ok(report) => eprintln!("seed {seed}: {report:?}"),
            Err(err) => panic!("{err}"),
        }
        return;
    }
    let cases = env_u64("GAZETTE_SIM_CASES").unwrap_or(3000);
    let began = Instant::now();
    let (mut steps, mut acked, mut duplicates, mut jumps, mut broken) = (0, 0, 0, 0, 0);
    let mut trace = 0u64;
    let mut failures = Vec::new();
    for seed in 0..cases {
        let outcome = catch_unwind(AssertUnwindSafe(|| run_case(seed, Instant::now())));
        match outcome {
            Ok(Ok(report)) => {
                steps += report.steps;
                acked += report.stats.appends_acked;
                duplicates += report.stats.duplicates;
                jumps += report.stats.offset_jumps;
                broken += report.broken_connections;
                trace = trace.rotate_left(5) ^ report.trace;
            }
            Ok(Err(err)) => failures.push(format!("{err}")),
            Err(_) => failures.push(format!("seed {seed}: panicked")),
        }
    }
    let secs = began.elapsed().as_secs_f64();
    eprintln!(
        "sim sweep: {cases} cases, {} failures, {steps} steps, {acked} appends acknowledged, \
         {duplicates} duplicates after lost outcomes, {jumps} offset jumps, {broken} broken \
         connections, trace {trace:016x}, {secs:.1}s ({:.0} cases/s)",
        failures.len(),
        cases as f64 / secs.max(1e-9),
    );
    for failure in &failures {
        eprintln!("FAILED {failure}\n  replay: GAZETTE_SIM_SEED=<seed> {REPLAY}");
    }
    assert!(
        failures.is_empty(),
        "{} failing seeds: {failures:?}",
        failures.len()
    );
    assert!(acked > cases, "the workload must acknowledge appends");
}

#[test]
fn the_same_seeds_give_the_same_trace_twice() {
    let trace = |start: Instant| -> Vec<u64> {
        (0..100)
            .map(|seed| run_case(seed, start).expect("passes").trace)
            .collect()
    };
    let now = Instant::now();
    let first = trace(now);
    // The absolute start does not matter, only durations since it.
    let second = trace(now + Duration::from_secs(3600));
    assert_eq!(first, second);
    let distinct: std::collections::BTreeSet<u64> = first.iter().copied().collect();
    assert!(distinct.len() > 90, "seeds must give different runs");
}

// ---- Scenarios -------------------------------------------------------------

const MAX: u64 = 100_000;

fn world_with(spec: JournalSpec, faults: FaultSchedule) -> World {
    let mut config = WorldConfig::new(7);
    config.faults = faults;
    let mut world = World::new(config, Instant::now());
    world.cluster_mut().create_journal(spec);
    world
}

fn spec(codec: CompressionCodec) -> JournalSpec {
    JournalSpec::new("sim/j")
        .with_replication(2)
        .with_codec(codec)
        .with_fragment_length(1024)
        .with_store(STORE)
}

/// Runs until idle and returns every event.
fn events(world: &mut World) -> Vec<Event> {
    world.run_until_idle(MAX).expect("idle");
    std::iter::from_fn(|| world.poll_event()).collect()
}

fn result(events: &[Event], op: gazette_core::client::OpId) -> &Result<Outcome, OpError> {
    events
        .iter()
        .find_map(|e| match e {
            Event::Finished { op: o, result } if *o == op => Some(result),
            _ => None,
        })
        .expect("finished")
}

fn content(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Read {
                event: ReadEvent::Content { content, .. },
                ..
            } => Some(content.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn append(world: &mut World, request: AppendRequest, body: &[u8]) -> Result<Outcome, OpError> {
    let op = world
        .append(request, vec![Bytes::copy_from_slice(body)])
        .expect("valid");
    let events = events(world);
    result(&events, op).clone()
}

fn fails_with(result: &Result<Outcome, OpError>, status: Status) -> bool {
    matches!(result, Err(OpError::Append(err)) if err.is_status(status))
}

#[test]
fn appends_commit_in_order_and_preconditions_are_the_brokers() {
    let mut world = world_with(spec(CompressionCodec::None), FaultSchedule::none());
    for body in [&b"one\n"[..], b"two\n"] {
        assert!(matches!(
            append(&mut world, AppendRequest::new("sim/j"), body),
            Ok(Outcome::Appended(_))
        ));
    }
    assert_eq!(
        world.cluster().journal("sim/j").unwrap().content,
        b"one\ntwo\n"
    );
    // An explicit offset must be the head.
    let wrong = append(&mut world, AppendRequest::new("sim/j").at_offset(3), b"x");
    assert!(fails_with(&wrong, Status::WrongAppendOffset), "{wrong:?}");
    let right = append(
        &mut world,
        AppendRequest::new("sim/j").at_offset(8),
        b"three\n",
    );
    match right {
        Ok(Outcome::Appended(response)) => {
            let commit = response.commit.expect("commit");
            assert_eq!((commit.begin, commit.end), (8, 14));
            // The SHA-1 of just this append's content, as a broker reports.
            assert_eq!(commit.sum, Some(gazette_core::sim::sha1_sum(b"three\n")));
        }
        other => panic!("{other:?}"),
    }
    // Registers: set, then a check that does not match.
    let owner = LabelSet::new().with("owner", "me");
    let set = append(
        &mut world,
        AppendRequest::new("sim/j").union_registers(owner),
        b"r",
    );
    assert!(matches!(set, Ok(Outcome::Appended(_))), "{set:?}");
    let fenced =
        AppendRequest::new("sim/j").check_registers(LabelSelector::new().include("owner", "other"));
    let mismatch = append(&mut world, fenced, b"nope");
    assert!(
        fails_with(&mismatch, Status::RegisterMismatch),
        "{mismatch:?}"
    );
    world.check_final().expect("oracles");
}

#[test]
fn an_append_waits_on_an_unhealthy_store_then_fails() {
    let faults = FaultSchedule::none().at(Duration::ZERO, Fault::StoreUnhealthy(STORE.into()));
    let mut world = world_with(spec(CompressionCodec::None), faults);
    world.run_until_idle(MAX).expect("idle");
    let began = world.now();
    let failed = append(&mut world, AppendRequest::new("sim/j"), b"x");
    assert!(
        fails_with(&failed, Status::FragmentStoreUnhealthy),
        "{failed:?}"
    );
    let hold = world.cluster().config().store_unhealthy_hold;
    assert!(
        world.now() - began >= hold,
        "held {:?}",
        world.now() - began
    );
    assert!(world.cluster().journal("sim/j").unwrap().content.is_empty());
}

#[test]
fn direct_reads_decode_every_codec_from_the_store() {
    let mut codecs = vec![
        CompressionCodec::None,
        CompressionCodec::Gzip,
        CompressionCodec::Snappy,
        CompressionCodec::GzipOffloadDecompression,
    ];
    if cfg!(feature = "zstd") {
        codecs.push(CompressionCodec::Zstandard);
    }
    for codec in codecs {
        let mut world = world_with(spec(codec), FaultSchedule::none());
        let body: Vec<u8> = (0..3000u32).map(|i| b'a' + (i % 26) as u8).collect();
        for chunk in body.chunks(700) {
            let appended = append(&mut world, AppendRequest::new("sim/j"), chunk);
            assert!(matches!(appended, Ok(Outcome::Appended(_))), "{appended:?}");
        }
        world.cluster_mut().flush();
        let read = ReadRequest::new("sim/j").blocking(false).do_not_proxy(true);
        let op = world.read(read, true);
        let mut events = events(&mut world);
        // The non-blocking retrying read stops at the head; end it.
        world.cancel(op);
        events.extend(self::events(&mut world));
        assert_eq!(content(&events), body, "{codec:?}");
        assert!(
            world.fetches() >= 2,
            "{codec:?}: {} fetches",
            world.fetches()
        );
        world.check_final().expect("oracles");
    }
}

#[test]
fn a_read_jumps_over_content_retention_removed() {
    let mut world = world_with(spec(CompressionCodec::Snappy), FaultSchedule::none());
    for i in 0..4u8 {
        let appended = append(&mut world, AppendRequest::new("sim/j"), &[b'0' + i; 600]);
        assert!(matches!(appended, Ok(Outcome::Appended(_))));
    }
    world.cluster_mut().flush();
    let dropped = world.cluster_mut().expire("sim/j", 1200);
    assert!(dropped >= 1);
    let retained = world.cluster().journal("sim/j").unwrap().retained_from();
    let op = world.read(ReadRequest::new("sim/j").until(2400), true);
    let events = events(&mut world);
    assert!(matches!(result(&events, op), Ok(Outcome::ReadComplete)));
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Read { event: ReadEvent::OffsetJump { from: 0, to }, .. } if *to == retained
        )),
        "{events:?}"
    );
    let truth = &world.cluster().journal("sim/j").unwrap().content;
    assert_eq!(content(&events), truth[retained as usize..2400]);
}

#[test]
fn a_crashed_primarys_journals_move_after_the_lease() {
    let world = world_with(spec(CompressionCodec::None), FaultSchedule::none());
    let before = world.cluster().route_of("sim/j");
    assert!(!before.members.is_empty());
    let primary = world.cluster().journal("sim/j").unwrap().assignment[0];
    // Crash the primary itself.
    let mut config = WorldConfig::new(7);
    config.faults = FaultSchedule::none().at(Duration::from_millis(10), Fault::Crash(primary));
    let mut world = World::new(config, Instant::now());
    world
        .cluster_mut()
        .create_journal(spec(CompressionCodec::None));
    world.run_until_idle(MAX).expect("idle");
    let after = world.cluster().journal("sim/j").unwrap().assignment.clone();
    assert!(!after.contains(&primary), "{after:?}");
    assert_eq!(after.len(), 2);
    // Appends go on at the new primary.
    let appended = append(&mut world, AppendRequest::new("sim/j"), b"after\n");
    assert!(matches!(appended, Ok(Outcome::Appended(_))), "{appended:?}");
}

#[test]
fn fragment_listings_page_and_sign_persisted_fragments() {
    let mut world = world_with(spec(CompressionCodec::Gzip), FaultSchedule::none());
    for _ in 0..6 {
        append(&mut world, AppendRequest::new("sim/j"), &[b'x'; 600]).expect("appended");
    }
    let op = world
        .list_fragments(FragmentsRequest {
            journal: "sim/j".into(),
            page_limit: 1,
            signature_ttl: Some(gazette_core::proto::proto_duration(Duration::from_secs(60))),
            ..Default::default()
        })
        .expect("valid");
    let events = events(&mut world);
    let Ok(Outcome::Fragments(response)) = result(&events, op) else {
        panic!("{events:?}")
    };
    let index = &world.cluster().journal("sim/j").unwrap().index;
    assert_eq!(response.fragments.len(), index.len());
    assert!(response.fragments.len() >= 3);
    for (listed, f) in response.fragments.iter().zip(index) {
        assert_eq!(listed.spec.as_ref(), Some(&f.fragment));
        assert_eq!(listed.signed_url.is_empty(), !f.is_persisted());
    }
}

#[test]
fn the_oracle_catches_a_store_returning_bad_bytes() {
    let mut world = world_with(spec(CompressionCodec::None), FaultSchedule::none());
    append(&mut world, AppendRequest::new("sim/j"), &[b'x'; 1100]).expect("appended");
    let url = world.cluster().store().urls().pop().expect("persisted");
    assert!(world.cluster_mut().store_mut().corrupt(&url, 10));
    let read = ReadRequest::new("sim/j").until(1100).do_not_proxy(true);
    world.read(read, false);
    match world.run_until_idle(MAX) {
        Err(SimError::Oracle { violation, .. }) => {
            assert!(violation.0.contains("bytes differ"), "{violation}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_step_bound_catches_a_world_that_does_not_settle() {
    let mut world = world_with(spec(CompressionCodec::None), FaultSchedule::none());
    world
        .append(AppendRequest::new("sim/j"), vec![Bytes::from_static(b"x")])
        .expect("valid");
    assert!(matches!(
        world.run_until_idle(2),
        Err(SimError::Livelock { steps: 2, .. })
    ));
}

// ---- The cookbook recipe ("Testing under simulation", docs/cookbook.md) ----

/// Testing under simulation: lines appended one at a time survive a crash
/// of a broker, checked against a simulated cluster with the oracles on
/// every step.
fn lines_survive_a_crash(seed: u64) -> Result<Vec<u8>, gazette_core::sim::SimError> {
    use gazette_core::client::Event;
    use gazette_core::proto::{AppendRequest, JournalSpec, ReadRequest};
    use gazette_core::read::ReadEvent;
    use gazette_core::sim::{Fault, FaultSchedule, World, WorldConfig};
    use std::time::{Duration, Instant};

    let mut config = WorldConfig::new(seed);
    config.faults = FaultSchedule::none()
        .at(Duration::from_millis(3), Fault::Crash(0))
        .at(Duration::from_secs(5), Fault::Restart(0));
    let mut world = World::new(config, Instant::now());
    let spec = JournalSpec::new("app/events").with_replication(2);
    world.cluster_mut().create_journal(spec);
    // The code under test: one-shot appends, each awaited before the next.
    for i in 0..5 {
        let line = format!("event {i}\n");
        let request = AppendRequest::new("app/events");
        world.append(request, vec![line.into()]).expect("valid");
        world.run_until_idle(100_000)?; // fails on a livelock
    }
    // Read it all back through the client, then the end-of-run oracles.
    let head = world
        .cluster()
        .journal("app/events")
        .map_or(0, |j| j.head());
    world.read(ReadRequest::new("app/events").until(head), true);
    world.run_until_idle(100_000)?;
    world.check_final()?;
    let mut content = Vec::new();
    while let Some(event) = world.poll_event() {
        if let Event::Read {
            event: ReadEvent::Content { content: bytes, .. },
            ..
        } = event
        {
            content.extend_from_slice(&bytes);
        }
    }
    Ok(content)
}

#[test]
fn recipe_lines_survive_a_crash() {
    let seeds = match env_u64("GAZETTE_SIM_SEED") {
        Some(seed) => seed..seed + 1,
        None => 0..200,
    };
    let expected: String = (0..5).map(|i| format!("event {i}\n")).collect();
    for seed in seeds {
        match lines_survive_a_crash(seed) {
            Ok(content) => assert_eq!(content, expected.as_bytes(), "seed {seed}"),
            Err(err) => panic!("{err}"),
        }
    }
}

// ---- More scenarios ----------------------------------------------------------

#[test]
fn a_fully_suspended_journal_refuses_appends() {
    use gazette_core::proto::journal_spec::suspend::Level;
    let suspended = spec(CompressionCodec::None).with_suspend(Level::Full, 0);
    let mut world = world_with(suspended, FaultSchedule::none());
    let refused = append(&mut world, AppendRequest::new("sim/j"), b"x");
    assert!(fails_with(&refused, Status::Suspended), "{refused:?}");
}

#[test]
fn a_frozen_primary_loses_its_journals_after_the_lease_and_appends_go_on() {
    let probe = world_with(spec(CompressionCodec::None), FaultSchedule::none());
    let primary = probe.cluster().journal("sim/j").unwrap().assignment[0];
    let faults = FaultSchedule::none()
        .at(Duration::ZERO, Fault::Freeze(primary))
        .at(Duration::from_secs(30), Fault::Thaw(primary));
    let mut world = world_with(spec(CompressionCodec::None), faults);
    let began = world.now();
    let appended = append(&mut world, AppendRequest::new("sim/j"), b"through\n");
    assert!(matches!(appended, Ok(Outcome::Appended(_))), "{appended:?}");
    let assignment = &world.cluster().journal("sim/j").unwrap().assignment;
    assert!(!assignment.contains(&primary), "{assignment:?}");
    // The RPC hung on the frozen primary (or on a proxy waiting for it).
    assert!(world.now() - began >= world.cluster().config().lease);
    world.check_final().expect("oracles");
}

#[test]
fn a_watch_sees_a_journal_apply_creates() {
    use gazette_core::proto::{ApplyRequest, ListRequest, apply_request};
    let mut world = world_with(spec(CompressionCodec::None), FaultSchedule::none());
    let watch = world.watch(ListRequest::default()).expect("valid");
    let first = events(&mut world);
    let sizes = |events: &[Event]| -> Vec<usize> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Snapshot { snapshot, .. } => Some(snapshot.journals.len()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(sizes(&first), [1]);
    let created = JournalSpec::new("sim/new")
        .with_fragment_length(1024)
        .with_store(STORE);
    let apply = world
        .apply(ApplyRequest {
            changes: vec![apply_request::Change::upsert(created.clone(), 0)],
        })
        .expect("valid");
    let second = events(&mut world);
    assert!(matches!(result(&second, apply), Ok(Outcome::Applied(_))));
    assert_eq!(sizes(&second), [2]);
    // Creating it again expects revision 0: the transaction fails.
    let again = world
        .apply(ApplyRequest {
            changes: vec![apply_request::Change::upsert(created, 0)],
        })
        .expect("valid");
    let third = events(&mut world);
    assert!(result(&third, again).is_err(), "{third:?}");
    world.cancel(watch);
    let last = events(&mut world);
    assert!(matches!(result(&last, watch), Ok(Outcome::WatchStopped)));
    world.check_final().expect("oracles");
}

/// Issue 17's bound as an oracle: a primary frozen (connections open, no
/// answers) under an append sent straight to it and a reader it serves;
/// the append commits, and the reader reads it, within the lease + 5 s of
/// the freeze, while the broker stays frozen.
#[test]
fn a_frozen_primary_stalls_appends_and_reads_at_most_the_lease_plus_5s() {
    let probe = world_with(spec(CompressionCodec::None), FaultSchedule::none());
    let primary = probe.cluster().journal("sim/j").unwrap().assignment[0];
    let freeze = Duration::from_secs(5);
    let faults = FaultSchedule::none()
        .at(freeze, Fault::Freeze(primary))
        .at(Duration::from_secs(120), Fault::Thaw(primary));
    let mut world = world_with(spec(CompressionCodec::None), faults);
    let start = world.now();
    // Warm up (before the freeze): the route is learned, so RPCs go
    // straight to the primary.
    let warm = world
        .append(
            AppendRequest::new("sim/j"),
            vec![Bytes::from_static(b"warm\n")],
        )
        .expect("valid");
    world
        .run_until(MAX, |w| !w.client().is_open(warm))
        .expect("warm-up");
    let reader = world.read(ReadRequest::new("sim/j"), true);
    world.advance_to(start + freeze, MAX).expect("advance");
    assert!(world.now() - start < freeze + Duration::from_secs(1));
    let frozen_at = world.now();
    let op = world
        .append(
            AppendRequest::new("sim/j"),
            vec![Bytes::from_static(b"while frozen\n")],
        )
        .expect("valid");
    let mut committed = None;
    let mut read = Vec::new();
    let mut read_at = None;
    while committed.is_none() || read_at.is_none() {
        assert!(world.step().expect("no livelock"), "the world went idle");
        while let Some(event) = world.poll_event() {
            match event {
                Event::Finished { op: o, result } if o == op => {
                    assert!(matches!(result, Ok(Outcome::Appended(_))), "{result:?}");
                    committed = Some(world.now());
                }
                Event::Read {
                    op: o,
                    event: ReadEvent::Content { content, .. },
                } if o == reader => {
                    read.extend_from_slice(&content);
                    if read.ends_with(b"while frozen\n") {
                        read_at = Some(world.now());
                    }
                }
                _ => {}
            }
        }
        assert!(
            world.now() - frozen_at <= Duration::from_secs(60),
            "no recovery within a minute"
        );
    }
    let bound = world.cluster().config().lease + Duration::from_secs(5);
    let (committed, read_at) = (committed.unwrap(), read_at.unwrap());
    assert!(
        committed - frozen_at <= bound,
        "append after {:?}",
        committed - frozen_at
    );
    assert!(
        read_at - frozen_at <= bound,
        "read after {:?}",
        read_at - frozen_at
    );
    assert_eq!(read, b"warm\nwhile frozen\n");
    world.close(reader);
    world.run_until_idle(MAX).expect("idle");
    world.check_final().expect("oracles");
}
