//! RetryReader checklist (docs/behaviour.md#retryreader-checklist), one test per item, plus the retry table of
//! docs/behaviour.md#retry-table and the RetryReader quirk fixes.

use std::time::{Duration, Instant};

use super::*;
use crate::backoff::Backoff;
use insta::assert_snapshot;

const URL: &str = "file:///a/journal/fragment.gz";

fn url_metadata(offset: i64, begin: i64, end: i64) -> ReadResponse {
    ReadResponse {
        header: Some(header()),
        offset,
        write_head: end,
        fragment: Some(fragment(begin, end, CompressionCodec::Gzip)),
        fragment_url: URL.into(),
        ..Default::default()
    }
}

fn onya(offset: i64, first: bool) -> ReadResponse {
    ReadResponse {
        header: first.then(header),
        write_head: offset,
        ..status_frame(Status::OffsetNotYetAvailable, offset)
    }
}

/// Feeds a whole stream: started, then each input.
fn stream(t: &mut Transcript<RetryReader>, inputs: Vec<ReadInput>) -> Vec<RetryOutput> {
    let mut outs = t.feed(ReadInput::RpcStarted);
    for input in inputs {
        outs.extend(t.feed(input));
    }
    outs
}

fn frame(f: ReadResponse) -> ReadInput {
    ReadInput::Frame(f)
}

fn start_offset(outs: &[RetryOutput]) -> Option<(i64, bool, RouteHint)> {
    outs.iter().find_map(|o| match o {
        RetryOutput::Action(ReadAction::StartRpc { request, route }) => {
            Some((request.offset, request.block, route.clone()))
        }
        _ => None,
    })
}

fn backoffs(outs: &[RetryOutput]) -> Vec<(u128, i32, bool)> {
    outs.iter()
        .filter_map(|o| match o {
            RetryOutput::Backoff {
                delay,
                attempt,
                log,
                ..
            } => Some((delay.as_millis(), *attempt, *log)),
            _ => None,
        })
        .collect()
}

fn stopped(outs: &[RetryOutput]) -> Option<&ReadError> {
    outs.iter().find_map(|o| match o {
        RetryOutput::Stopped(e) => Some(e),
        _ => None,
    })
}

/// Streams 2 and 3 of the Go test share this reader.
fn foobarbazbing() -> (Transcript<RetryReader>, Vec<RetryOutput>) {
    let mut t = Transcript::new(RetryReader::new(request(100)));
    let mut all = t.drain();
    all.extend(stream(
        &mut t,
        vec![
            frame(first_metadata(100)),
            frame(content(100, "foo")),
            ReadInput::RpcFailed(TransportError::Other("stream broke".into())),
        ],
    ));
    all.extend(t.feed(RetryInput::BackoffElapsed));
    all.extend(stream(
        &mut t,
        vec![
            frame(first_metadata(103)),
            frame(content(103, "barba")),
            ReadInput::RpcFailed(TransportError::Unavailable("connection reset".into())),
        ],
    ));
    all.extend(t.feed(RetryInput::BackoffElapsed));
    all.extend(stream(
        &mut t,
        vec![
            frame(status_frame(Status::NotJournalBroker, 0)),
            ReadInput::RpcClosed,
        ],
    ));
    all.extend(t.feed(RetryInput::BackoffElapsed));
    all.extend(stream(
        &mut t,
        vec![
            frame(first_metadata(108)),
            frame(content(108, "zbing")),
            frame(onya(113, false)),
            ReadInput::RpcClosed,
        ],
    ));
    (t, all)
}

#[test]
fn retry_reader_reports_initial_offset_and_journal() {
    let rr = RetryReader::new(request(1234));
    assert_eq!(rr.offset(), 1234);
    assert_eq!(rr.journal(), JOURNAL);
}

#[test]
fn retry_reader_retries_failures_then_surfaces_offset_not_yet_available() {
    let (t, all) = foobarbazbing();
    assert_eq!(retry_content(&all), "foobarbazbing");
    assert!(
        stopped(&all)
            .unwrap()
            .is_named(Status::OffsetNotYetAvailable)
    );
    assert_eq!(t.m.offset(), 113);
    // Progress resets the attempt; NOT_JOURNAL_BROKER at attempt 1 is logged.
    assert_eq!(
        backoffs(&all),
        vec![(50, 0, true), (50, 0, true), (50, 1, true)]
    );
    // The RPC after NOT_JOURNAL_BROKER goes to the route of its header.
    let starts: Vec<_> = all
        .iter()
        .filter_map(|o| start_offset(std::slice::from_ref(o)))
        .collect();
    assert_eq!(starts.len(), 4);
    assert_eq!(starts[3].2, RouteHint::Route(header().route.unwrap()));
    assert_eq!(starts[2].2, RouteHint::Journal(JOURNAL.into()));
    assert_snapshot!(t.lines);
}

#[test]
fn retry_reader_block_switched_on_retries_offset_not_yet_available() {
    let (mut t, _) = foobarbazbing();
    t.note("set block = true, resume");
    t.m.set_block(true);
    t.m.resume();
    let mut all = t.drain();
    assert_eq!(
        start_offset(&all),
        Some((113, true, RouteHint::Journal(JOURNAL.into())))
    );
    all.extend(stream(
        &mut t,
        vec![
            frame(first_metadata(113)),
            frame(content(113, "next ")),
            ReadInput::RpcClosed,
        ],
    ));
    all.extend(stream(
        &mut t,
        vec![frame(onya(118, true)), ReadInput::RpcClosed],
    ));
    all.extend(t.feed(RetryInput::BackoffElapsed));
    all.extend(stream(
        &mut t,
        vec![
            frame(first_metadata(118)),
            frame(content(118, "read")),
            frame(metadata(512)),
        ],
    ));
    assert_eq!(retry_content(&all), "next read");
    assert_eq!(
        all.last(),
        Some(&RetryOutput::Event(ReadEvent::Metadata(Metadata {
            offset: 512,
            write_head: 1024,
            fragment: Some(fragment(0, 1024, CompressionCodec::None)),
        })))
    );
    assert!(all.contains(&RetryOutput::Event(ReadEvent::OffsetJump {
        from: 122,
        to: 512
    })));
    // The blocking OFFSET_NOT_YET_AVAILABLE is retried silently.
    assert_eq!(backoffs(&all), vec![(50, 0, false)]);
    assert!(stopped(&all).is_none());
    assert_eq!(t.m.offset(), 512);
    assert_snapshot!(t.lines);
}

#[test]
fn retry_reader_cancel_while_blocked_surfaces_cancelled() {
    let mut t = Transcript::new(RetryReader::new(ReadRequest {
        block: true,
        ..request(0)
    }));
    t.drain();
    let outs = stream(
        &mut t,
        vec![frame(first_metadata(0)), frame(content(0, "xxxxyyyy"))],
    );
    assert_eq!(retry_content(&outs), "xxxxyyyy");
    let outs = t.feed(ReadInput::Cancel);
    assert_eq!(
        outs,
        vec![
            RetryOutput::Action(ReadAction::CancelRpc),
            RetryOutput::Stopped(ReadError::Cancelled)
        ]
    );
    assert_eq!(t.m.offset(), 8);

    t.note("cancel during a backoff");
    t.m.resume();
    t.drain();
    stream(
        &mut t,
        vec![ReadInput::RpcFailed(TransportError::Unavailable(
            "down".into(),
        ))],
    );
    let outs = t.feed(ReadInput::Cancel);
    assert_eq!(
        outs,
        vec![
            RetryOutput::CancelBackoff,
            RetryOutput::Stopped(ReadError::Cancelled)
        ]
    );
    assert_snapshot!(t.lines);
}

#[test]
fn retry_reader_restart_with_end_offset_reads_exact_range() {
    let mut t = Transcript::new(RetryReader::new(request(0)));
    t.m.restart(ReadRequest {
        end_offset: 110,
        ..request(100)
    });
    let mut all = t.drain();
    assert_eq!(start_offset(&all).unwrap().0, 100);
    all.extend(stream(
        &mut t,
        vec![
            frame(first_metadata(100)),
            frame(content(100, "foobar")),
            ReadInput::RpcFailed(TransportError::Other("error!".into())),
        ],
    ));
    all.extend(t.feed(RetryInput::BackoffElapsed));
    // An early clean close restarts at once, without backoff.
    all.extend(stream(
        &mut t,
        vec![
            frame(first_metadata(106)),
            frame(content(106, "ba")),
            ReadInput::RpcClosed,
        ],
    ));
    all.extend(stream(
        &mut t,
        vec![frame(first_metadata(108)), frame(content(108, "z."))],
    ));
    assert_eq!(retry_content(&all), "foobarbaz.");
    assert_eq!(all.last(), Some(&RetryOutput::Complete));
    assert!(t.m.is_complete());
    assert_eq!(t.m.offset(), 110);
    assert_eq!(backoffs(&all).len(), 1);
    assert_snapshot!(t.lines);
}

/// One way a direct fragment source misbehaves, as the driver reports it.
enum Source {
    DataThenEof,
    DataInPiecesThenEof,
    DataThenTimeout,
    OneBytePerRead,
}

#[test]
fn retry_reader_misbehaving_direct_sources_yield_exact_content() {
    let mut lines = String::new();
    for source in [
        Source::DataThenEof,
        Source::DataInPiecesThenEof,
        Source::DataThenTimeout,
        Source::OneBytePerRead,
    ] {
        let mut t = Transcript::new(RetryReader::new(ReadRequest {
            do_not_proxy: true,
            ..request(100)
        }));
        let mut all = t.drain();
        all.extend(stream(
            &mut t,
            vec![frame(url_metadata(100, 100, 106)), ReadInput::RpcClosed],
        ));
        all.extend(t.feed(ReadInput::DirectOpened));
        match source {
            Source::DataThenEof => {
                all.extend(t.feed(direct("foobar")));
                all.extend(t.feed(ReadInput::DirectEnd));
            }
            Source::DataInPiecesThenEof => {
                all.extend(t.feed(direct("foo")));
                all.extend(t.feed(direct("bar")));
                all.extend(t.feed(ReadInput::DirectEnd));
            }
            Source::DataThenTimeout => {
                all.extend(t.feed(direct("foo")));
                all.extend(t.feed(ReadInput::DirectFailed(DirectError::Other(
                    "timeout".into(),
                ))));
                all.extend(t.feed(RetryInput::BackoffElapsed));
                all.extend(stream(
                    &mut t,
                    vec![frame(url_metadata(103, 100, 106)), ReadInput::RpcClosed],
                ));
                all.extend(t.feed(ReadInput::DirectOpened));
                all.extend(t.feed(direct("bar")));
                all.extend(t.feed(ReadInput::DirectEnd));
            }
            Source::OneBytePerRead => {
                for b in ["f", "o", "o", "b", "a", "r"] {
                    all.extend(t.feed(direct(b)));
                }
                all.extend(t.feed(ReadInput::DirectEnd));
            }
        }
        all.extend(stream(
            &mut t,
            vec![
                frame(first_metadata(106)),
                frame(content(106, "bazbing")),
                frame(onya(113, false)),
                ReadInput::RpcClosed,
            ],
        ));
        assert_eq!(retry_content(&all), "foobarbazbing");
        assert!(
            stopped(&all)
                .unwrap()
                .is_named(Status::OffsetNotYetAvailable)
        );
        assert_eq!(t.m.offset(), 113);
        lines.push_str(&t.lines);
        lines.push_str("----\n");
    }
    assert_snapshot!(lines);
}

#[test]
fn retry_reader_seek_within_direct_fragment_then_backwards_restarts() {
    let mut t = Transcript::new(RetryReader::new(ReadRequest {
        do_not_proxy: true,
        ..request(100)
    }));
    t.drain();
    stream(
        &mut t,
        vec![frame(url_metadata(100, 100, 120)), ReadInput::RpcClosed],
    );
    t.feed(ReadInput::DirectOpened);
    t.note("seek +5 (current), then 106 (start)");
    assert_eq!(t.m.seek(t.m.offset() + 5), 105);
    assert_eq!(t.m.seek(106), 106);
    assert!(t.drain().is_empty(), "forward seeks discard, no RPC");
    let outs = t.feed(direct("XXXXXhello, world!!!"));
    assert_eq!(retry_content(&outs), "ello, world!!!");
    // The caller reads 5 bytes (`ello,`); 9 stay buffered.
    assert_eq!(t.m.adjusted_offset(9), 111);

    t.note("adjusted seek -6 (current) = 105, 9 buffered");
    assert_eq!(t.m.adjusted_seek(105, 9), AdjustedSeek::Reset(105));
    let mut outs = t.drain();
    assert_eq!(outs[0], RetryOutput::Action(ReadAction::CloseDirect));
    assert_eq!(start_offset(&outs).unwrap().0, 105);
    outs.extend(stream(
        &mut t,
        vec![frame(url_metadata(105, 100, 120)), ReadInput::RpcClosed],
    ));
    outs.extend(t.feed(ReadInput::DirectOpened));
    outs.extend(t.feed(direct("hello, world!!!")));
    assert!(retry_content(&outs).starts_with("hello"));
    assert_snapshot!(t.lines);
}

#[test]
fn retry_reader_adjusted_seek_served_from_buffer_or_restart() {
    let mut t = Transcript::new(RetryReader::new(request(100)));
    t.drain();
    stream(
        &mut t,
        vec![
            frame(first_metadata(100)),
            frame(content(100, "foo\nbar\nbaz\n")),
        ],
    );
    // The caller consumed `foo\n`; 8 bytes stay buffered.
    assert_eq!(t.m.adjusted_offset(8), 104);
    t.note("adjusted seek +2 (current) = 106, 8 buffered");
    assert_eq!(t.m.adjusted_seek(106, 8), AdjustedSeek::Discard(2));
    assert!(t.drain().is_empty());
    t.note("adjusted seek -3 (current) = 103... of 106 = 105, 6 buffered");
    assert_eq!(t.m.adjusted_seek(105, 6), AdjustedSeek::Reset(105));
    let outs = t.drain();
    assert_eq!(outs[0], RetryOutput::Action(ReadAction::CancelRpc));
    assert_eq!(start_offset(&outs).unwrap().0, 105);
    assert_eq!(t.m.offset(), 105);
    assert_snapshot!(t.lines);
}

// ---- The retry table (docs/behaviour.md#retry-table) and the quirk fixes ----

fn status_streams(
    rr: RetryReader,
    status: Status,
    n: usize,
) -> (Transcript<RetryReader>, Vec<RetryOutput>) {
    let mut t = Transcript::new(rr);
    let mut all = t.drain();
    for _ in 0..n {
        all.extend(stream(
            &mut t,
            vec![frame(status_frame(status, 0)), ReadInput::RpcClosed],
        ));
        if t.m.is_stopped() {
            break;
        }
        all.extend(t.feed(RetryInput::BackoffElapsed));
    }
    (t, all)
}

#[test]
fn retry_reader_journal_not_found_surfaces_on_fifth_consecutive_failure() {
    let (t, all) = status_streams(RetryReader::new(request(0)), Status::JournalNotFound, 10);
    assert_eq!(
        backoffs(&all),
        vec![(50, 0, true), (50, 1, true), (100, 2, true), (100, 3, true)]
    );
    assert!(stopped(&all).unwrap().is_named(Status::JournalNotFound));
    assert_snapshot!(t.lines);
}

#[test]
fn retry_reader_journal_not_found_with_request_header_surfaces_at_once() {
    let rr = RetryReader::new(ReadRequest {
        header: Some(header()),
        ..request(0)
    });
    let (_, all) = status_streams(rr, Status::JournalNotFound, 3);
    assert!(backoffs(&all).is_empty());
    assert!(stopped(&all).unwrap().is_named(Status::JournalNotFound));
}

#[test]
fn retry_reader_suspended_surfaces() {
    let (_, all) = status_streams(RetryReader::new(request(0)), Status::Suspended, 3);
    assert!(backoffs(&all).is_empty());
    assert!(stopped(&all).unwrap().is_named(Status::Suspended));
}

#[test]
fn retry_reader_routing_errors_retried_first_attempt_not_logged() {
    for status in [Status::NotJournalBroker, Status::InsufficientJournalBrokers] {
        let (t, all) = status_streams(RetryReader::new(request(0)), status, 3);
        assert_eq!(
            backoffs(&all),
            vec![(50, 0, false), (50, 1, true), (100, 2, true)]
        );
        assert!(!t.m.is_stopped());
    }
}

#[test]
fn quirk9_not_allowed_surfaces_other_unmapped_statuses_retry_with_capped_backoff() {
    let (_, all) = status_streams(RetryReader::new(request(0)), Status::NotAllowed, 3);
    let err = stopped(&all).unwrap();
    assert_eq!(err.to_string(), "NOT_ALLOWED");
    assert!(
        !err.is_named(Status::NotAllowed),
        "a Reader's NOT_ALLOWED is generic"
    );

    let (t, all) = status_streams(
        RetryReader::new(request(0)),
        Status::NoJournalPrimaryBroker,
        8,
    );
    let delays: Vec<u128> = backoffs(&all).iter().map(|b| b.0).collect();
    assert_eq!(delays, vec![50, 50, 100, 100, 1000, 1000, 5000, 5000]);
    assert!(!t.m.is_stopped());
}

#[test]
fn quirk10_empty_stream_eof_backs_off_unlogged() {
    let mut t = Transcript::new(RetryReader::new(request(0)));
    let mut all = t.drain();
    for _ in 0..3 {
        all.extend(stream(&mut t, vec![ReadInput::RpcClosed]));
        all.extend(t.feed(RetryInput::BackoffElapsed));
    }
    assert_eq!(
        backoffs(&all),
        vec![(50, 0, false), (50, 1, false), (100, 2, false)]
    );
    // A stream that delivered something restarts at once, and resets the count.
    all.extend(stream(
        &mut t,
        vec![frame(first_metadata(0)), ReadInput::RpcClosed],
    ));
    let last_two: Vec<_> = all.iter().rev().take(1).collect();
    assert!(matches!(
        last_two[0],
        RetryOutput::Action(ReadAction::StartRpc { .. })
    ));
    assert_eq!(t.m.attempt(), 0);
    assert_snapshot!(t.lines);
}

#[test]
fn quirk32_metadata_only_completes_after_metadata() {
    let mut t = Transcript::new(RetryReader::new(ReadRequest {
        metadata_only: true,
        ..request(0)
    }));
    t.drain();
    let outs = stream(&mut t, vec![frame(first_metadata(0)), ReadInput::RpcClosed]);
    assert_eq!(outs.last(), Some(&RetryOutput::Complete));
    assert!(t.drain().is_empty());
    assert_snapshot!(t.lines);
}

#[test]
fn retry_reader_fragment_open_eof_restarts_immediately() {
    let mut t = Transcript::new(RetryReader::new(ReadRequest {
        do_not_proxy: true,
        ..request(103)
    }));
    t.drain();
    stream(
        &mut t,
        vec![frame(url_metadata(103, 100, 106)), ReadInput::RpcClosed],
    );
    let outs = t.feed(ReadInput::DirectOpenFailed(DirectError::Eof));
    assert!(backoffs(&outs).is_empty());
    assert_eq!(start_offset(&outs).unwrap().0, 103);
}

#[test]
fn retry_reader_jitter_is_seeded_and_bounded() {
    let run = |seed| {
        let rr = RetryReader::with_backoff(request(0), Backoff::with_jitter(seed, 500));
        let (_, all) = status_streams(rr, Status::NoJournalPrimaryBroker, 6);
        all.into_iter()
            .filter_map(|o| match o {
                RetryOutput::Backoff { delay, .. } => Some(delay),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let (a, b) = (run(7), run(7));
    assert_eq!(a, b);
    for (d, base) in a.iter().zip([50u64, 50, 100, 100, 1000, 1000]) {
        let base = Duration::from_millis(base);
        assert!(*d >= base && *d <= base * 3 / 2);
    }
}

#[test]
fn retry_reader_restart_cancels_pending_backoff() {
    let mut t = Transcript::new(RetryReader::new(request(0)));
    t.drain();
    stream(
        &mut t,
        vec![ReadInput::RpcFailed(TransportError::Unavailable(
            "down".into(),
        ))],
    );
    t.m.restart(request(50));
    let outs = t.drain();
    assert_eq!(outs[0], RetryOutput::CancelBackoff);
    assert_eq!(start_offset(&outs).unwrap().0, 50);
    // A stale timer is ignored.
    assert!(t.feed(RetryInput::BackoffElapsed).is_empty());
}

/// Polls every output at `now` (the driver's clock).
fn drain_at(rr: &mut RetryReader, now: Instant) -> Vec<RetryOutput> {
    std::iter::from_fn(|| rr.poll_output_at(now)).collect()
}

/// Feeds one RPC whose StartRpc was polled at `now`: established, open for
/// `open`, then ended by `end`. Returns the outputs polled at its end.
fn rpc_lasting(
    rr: &mut RetryReader,
    now: &mut Instant,
    open: Duration,
    end: ReadInput,
) -> Vec<RetryOutput> {
    rr.handle(ReadInput::RpcStarted);
    *now += open;
    rr.handle(end);
    drain_at(rr, *now)
}

/// After `outs`, waits out a backoff (if any) and checks the next RPC
/// started.
fn next_start(rr: &mut RetryReader, now: &mut Instant, outs: Vec<RetryOutput>) {
    let outs = match backoffs(&outs).first() {
        Some((delay, _, _)) => {
            *now += Duration::from_millis(*delay as u64);
            rr.handle(RetryInput::BackoffElapsed);
            drain_at(rr, *now)
        }
        None => outs,
    };
    assert_eq!(start_offset(&outs).map(|s| s.0), Some(0), "{outs:?}");
}

#[test]
fn idle_tailer_streams_that_stayed_open_reconnect_at_once() {
    let mut now = Instant::now();
    let mut rr = RetryReader::new(ReadRequest {
        block: true,
        ..request(0)
    });
    let first = drain_at(&mut rr, now);
    next_start(&mut rr, &mut now, first);
    // Empty streams closed at once still back off, more and more.
    let mut seen = Vec::new();
    for _ in 0..4 {
        let open = Duration::from_millis(1);
        let outs = rpc_lasting(&mut rr, &mut now, open, ReadInput::RpcClosed);
        seen.extend(backoffs(&outs));
        next_start(&mut rr, &mut now, outs);
    }
    assert_eq!(
        seen,
        vec![
            (50, 0, false),
            (50, 1, false),
            (100, 2, false),
            (100, 3, false)
        ]
    );
    // Hourly token expiry: each stream stays open an hour and closes
    // without a frame. Each reconnects at once, however many there are.
    for _ in 0..8 {
        let open = Duration::from_secs(3600);
        let outs = rpc_lasting(&mut rr, &mut now, open, ReadInput::RpcClosed);
        assert!(backoffs(&outs).is_empty(), "{outs:?}");
        assert_eq!(rr.attempt(), 0);
        next_start(&mut rr, &mut now, outs);
    }
    // Exactly the threshold counts as healthy; just under it does not.
    let outs = rpc_lasting(
        &mut rr,
        &mut now,
        HEALTHY_RPC_DURATION,
        ReadInput::RpcClosed,
    );
    assert!(backoffs(&outs).is_empty(), "{outs:?}");
    next_start(&mut rr, &mut now, outs);
    let open = HEALTHY_RPC_DURATION - Duration::from_millis(1);
    let outs = rpc_lasting(&mut rr, &mut now, open, ReadInput::RpcClosed);
    assert_eq!(backoffs(&outs), vec![(50, 0, false)]);
}

#[test]
fn a_failure_after_a_long_healthy_stream_starts_the_backoff_over() {
    let mut now = Instant::now();
    let mut rr = RetryReader::new(ReadRequest {
        block: true,
        ..request(0)
    });
    let first = drain_at(&mut rr, now);
    next_start(&mut rr, &mut now, first);
    let broken = || ReadInput::RpcFailed(TransportError::Unavailable("reset".into()));
    let mut seen = Vec::new();
    for _ in 0..5 {
        let outs = rpc_lasting(&mut rr, &mut now, Duration::from_millis(1), broken());
        seen.extend(backoffs(&outs));
        next_start(&mut rr, &mut now, outs);
    }
    assert_eq!(seen.last(), Some(&(1000, 4, true)));
    // A stream that then stayed open for minutes before breaking is
    // retried as a first failure.
    let outs = rpc_lasting(&mut rr, &mut now, Duration::from_secs(600), broken());
    assert_eq!(backoffs(&outs), vec![(50, 0, true)]);
}

#[test]
fn without_a_clock_every_empty_stream_counts_as_short() {
    // `poll_output` (no clock) keeps the quirk-10 behaviour.
    let mut rr = RetryReader::new(request(0));
    let mut seen = Vec::new();
    for _ in 0..3 {
        let outs: Vec<_> = std::iter::from_fn(|| rr.poll_output()).collect();
        assert!(start_offset(&outs).is_some());
        rr.handle(ReadInput::RpcStarted);
        rr.handle(ReadInput::RpcClosed);
        let outs: Vec<_> = std::iter::from_fn(|| rr.poll_output()).collect();
        seen.extend(backoffs(&outs));
        rr.handle(RetryInput::BackoffElapsed);
    }
    assert_eq!(seen, vec![(50, 0, false), (50, 1, false), (100, 2, false)]);
}
