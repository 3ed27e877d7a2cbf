//! Reader checklist (docs/behaviour.md#reader-checklist), one test per item, plus the Reader quirk fixes.

use super::*;
use insta::assert_snapshot;

use crate::route::RouteUpdate;
use crate::validate::ValidationErrorKind;

const URL: &str = "file:///a/journal/0000000000000064-0000000000000078-0000000000000000000000000000000000000000.gz";

fn direct_request(offset: i64) -> ReadRequest {
    ReadRequest {
        do_not_proxy: true,
        ..request(offset)
    }
}

/// Go's fragment-file fixture: `XXXXXhello, world!!!` as fragment [100, 120).
fn url_metadata(offset: i64) -> ReadResponse {
    ReadResponse {
        header: Some(header()),
        offset,
        write_head: 120,
        fragment: Some(fragment(100, 120, CompressionCodec::Gzip)),
        fragment_url: URL.into(),
        ..Default::default()
    }
}

impl Transcript<Reader> {
    fn seek(&mut self, target: i64) -> Result<i64, SeekError> {
        let result = self.m.seek(target);
        self.note(format_args!("seek {target} -> {result:?}"));
        result
    }
}

fn start(t: &mut Transcript<Reader>) -> Vec<ReadOutput> {
    let outs = t.drain();
    assert!(matches!(
        &outs[..],
        [ReadOutput::Action(ReadAction::StartRpc { .. })]
    ));
    t.feed(ReadInput::RpcStarted);
    outs
}

#[test]
fn reader_metadata_with_url_then_close_reads_fragment_directly() {
    let mut t = Transcript::new(Reader::new(direct_request(105)));
    start(&mut t);
    let outs = t.feed(ReadInput::Frame(url_metadata(105)));
    // The first "read" yields no bytes but the metadata, with the fragment set.
    assert!(
        matches!(outs.last(), Some(ReadOutput::Event(ReadEvent::Metadata(m))) if m.fragment.as_ref().unwrap().begin == 100)
    );
    assert_eq!(t.m.fragment().unwrap().end, 120);

    let outs = t.feed(ReadInput::RpcClosed);
    assert_eq!(
        outs,
        vec![ReadOutput::Action(ReadAction::OpenFragment {
            fragment: fragment(100, 120, CompressionCodec::Gzip),
            offset: 105,
            url: URL.into(),
        })]
    );
    t.feed(ReadInput::DirectOpened);
    let mut outs = t.feed(direct("hello, "));
    outs.extend(t.feed(direct("world!!!")));
    outs.extend(t.feed(ReadInput::DirectEnd));
    assert_eq!(read_content(&outs), "hello, world!!!");
    assert_eq!(finished(&outs), Some(&Ok(())));
    assert_eq!(t.m.offset(), 120);
    assert_snapshot!(t.lines);
}

#[test]
fn reader_header_route_is_stored_in_route_cache() {
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    let outs = t.feed(ReadInput::Frame(first_metadata(0)));
    assert_eq!(
        outs[0],
        ReadOutput::Action(ReadAction::UpdateRoute {
            journal: JOURNAL.into(),
            update: RouteUpdate::Store(header().route.unwrap()),
        })
    );
    assert_snapshot!(t.lines);
}

#[test]
fn reader_offset_minus_one_jumps_to_metadata_offset() {
    let mut t = Transcript::new(Reader::new(request(-1)));
    start(&mut t);
    let outs = t.feed(ReadInput::Frame(first_metadata(110)));
    assert!(outs.contains(&ReadOutput::Event(ReadEvent::OffsetJump {
        from: -1,
        to: 110
    })));
    assert_eq!(t.m.offset(), 110);
    assert_eq!(
        t.m.fragment(),
        Some(&fragment(0, 1024, CompressionCodec::None))
    );
    let outs = t.feed(ReadInput::RpcClosed);
    assert_eq!(outs, vec![ReadOutput::Finished(Ok(()))]);
    assert_snapshot!(t.lines);
}

#[test]
fn reader_not_journal_broker_is_named_error() {
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    t.feed(ReadInput::Frame(status_frame(Status::NotJournalBroker, 0)));
    let outs = t.feed(ReadInput::RpcClosed);
    let err = finished(&outs).unwrap().clone().unwrap_err();
    assert!(err.is_named(Status::NotJournalBroker));
    assert_eq!(err.to_string(), "NOT_JOURNAL_BROKER");
    assert_snapshot!(t.lines);
}

#[test]
fn reader_offset_not_yet_available_after_content_and_immediately() {
    // Content, then OFFSET_NOT_YET_AVAILABLE.
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    t.feed(ReadInput::Frame(first_metadata(0)));
    let outs = t.feed(ReadInput::Frame(content(0, "content")));
    assert_eq!(read_content(&outs), "content");
    let frame = ReadResponse {
        header: None,
        offset: 7,
        write_head: 7,
        ..status_frame(Status::OffsetNotYetAvailable, 7)
    };
    t.feed(ReadInput::Frame(frame));
    let outs = t.feed(ReadInput::RpcClosed);
    let err = finished(&outs).unwrap().clone().unwrap_err();
    assert!(err.is_named(Status::OffsetNotYetAvailable));
    assert_eq!(t.m.offset(), 7);

    // Immediately.
    t.note("immediate OFFSET_NOT_YET_AVAILABLE");
    let mut t2 = Transcript::new(Reader::new(request(0)));
    start(&mut t2);
    t2.feed(ReadInput::Frame(status_frame(
        Status::OffsetNotYetAvailable,
        0,
    )));
    let outs = t2.feed(ReadInput::RpcClosed);
    assert!(
        finished(&outs)
            .unwrap()
            .as_ref()
            .unwrap_err()
            .is_named(Status::OffsetNotYetAvailable)
    );
    t.lines.push_str(&t2.lines);
    assert_snapshot!(t.lines);
}

#[test]
fn reader_insufficient_journal_brokers_error_text_is_status_name() {
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    t.feed(ReadInput::Frame(status_frame(
        Status::InsufficientJournalBrokers,
        0,
    )));
    let outs = t.feed(ReadInput::RpcClosed);
    let err = finished(&outs).unwrap().clone().unwrap_err();
    assert_eq!(err.to_string(), "INSUFFICIENT_JOURNAL_BROKERS");
    assert!(err.is_named(Status::InsufficientJournalBrokers));
    assert_snapshot!(t.lines);
}

#[test]
fn reader_jump_then_content_frames_inherit_fragment_and_write_head() {
    let mut t = Transcript::new(Reader::new(request(105)));
    start(&mut t);
    let outs = t.feed(ReadInput::Frame(first_metadata(110)));
    assert!(outs.contains(&ReadOutput::Event(ReadEvent::OffsetJump {
        from: 105,
        to: 110
    })));
    assert_eq!(t.m.offset(), 110);

    let outs = t.feed(ReadInput::Frame(content(110, "foo bar ")));
    assert_eq!(
        outs,
        vec![ReadOutput::Event(ReadEvent::Content {
            offset: 110,
            content: Bytes::from_static(b"foo bar ")
        })]
    );
    assert_eq!(t.m.offset(), 118);
    let outs = t.feed(ReadInput::Frame(content(118, "baz bing")));
    assert_eq!(read_content(&outs), "baz bing");
    assert_eq!(t.m.offset(), 126);
    // Content frames keep the metadata frame's fragment and write head.
    assert_eq!(
        t.m.fragment(),
        Some(&fragment(0, 1024, CompressionCodec::None))
    );
    assert_eq!(t.m.write_head(), 1024);
    assert_snapshot!(t.lines);
}

#[test]
fn reader_content_then_stream_error_surfaces_error() {
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    t.feed(ReadInput::Frame(first_metadata(0)));
    let outs = t.feed(ReadInput::Frame(content(0, "foobar")));
    assert_eq!(read_content(&outs), "foobar");
    let err = TransportError::Other("broker says no".into());
    let outs = t.feed(ReadInput::RpcFailed(err.clone()));
    assert_eq!(
        outs,
        vec![ReadOutput::Finished(Err(ReadError::Transport(err)))]
    );
    assert_snapshot!(t.lines);
}

#[test]
fn reader_ok_frame_below_request_offset_is_invalid() {
    let mut t = Transcript::new(Reader::new(request(105)));
    start(&mut t);
    let outs = t.feed(ReadInput::Frame(first_metadata(100)));
    assert_eq!(outs[0], ReadOutput::Action(ReadAction::CancelRpc));
    let err = finished(&outs).unwrap().clone().unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid ReadResponse offset (100; expected >= 105)"
    );
    assert!(read_content(&outs).is_empty());
    // Errors are sticky: later frames are ignored.
    assert!(t.feed(ReadInput::Frame(content(105, "x"))).is_empty());
    assert_snapshot!(t.lines);
}

#[test]
fn reader_invalid_fragment_fails_validation() {
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    let mut frame = first_metadata(0);
    frame.fragment.as_mut().unwrap().journal.clear();
    let outs = t.feed(ReadInput::Frame(frame));
    let err = finished(&outs).unwrap().clone().unwrap_err();
    assert_eq!(
        err.to_string(),
        "ReadResponse.Fragment.Journal: invalid length (0; expected 4 <= length <= 512)"
    );
    assert!(matches!(
        err,
        ReadError::InvalidFrame(InvalidFrame::Invalid(ref e))
            if matches!(e.kind(), ValidationErrorKind::InvalidLength { len: 0, .. })
                && e.field() == "ReadResponse.Fragment.Journal"
    ));
    assert_snapshot!(t.lines);
}

#[test]
fn reader_direct_read_with_end_offset_stops_exactly() {
    let mut t = Transcript::new(Reader::new(ReadRequest {
        end_offset: 111,
        ..direct_request(105)
    }));
    start(&mut t);
    t.feed(ReadInput::Frame(url_metadata(105)));
    t.feed(ReadInput::RpcClosed);
    t.feed(ReadInput::DirectOpened);
    let outs = t.feed(direct("hello, world!!!"));
    assert_eq!(read_content(&outs), "hello,");
    assert_eq!(
        &outs[1..],
        &[
            ReadOutput::Action(ReadAction::CloseDirect),
            ReadOutput::Finished(Ok(()))
        ]
    );
    assert_eq!(t.m.offset(), 111);
    assert!(t.m.reached_end_offset());
    assert_snapshot!(t.lines);
}

fn opened_at(offset: i64, fragment_end: i64) -> Transcript<Reader> {
    let mut t = Transcript::new(Reader::new(direct_request(offset)));
    start(&mut t);
    let mut frame = url_metadata(offset);
    frame.fragment.as_mut().unwrap().end = fragment_end;
    frame.write_head = fragment_end;
    t.feed(ReadInput::Frame(frame));
    t.feed(ReadInput::RpcClosed);
    t.feed(ReadInput::DirectOpened);
    t
}

#[test]
fn open_fragment_url_whole_fragment_from_begin_and_from_offset() {
    let mut t = opened_at(100, 120);
    let mut outs = t.feed(direct("XXXXXhello, world!!!"));
    outs.extend(t.feed(ReadInput::DirectEnd));
    assert_eq!(read_content(&outs), "XXXXXhello, world!!!");
    assert_eq!(finished(&outs), Some(&Ok(())));
    assert_eq!(t.m.offset(), 120);

    t.note("from begin+5");
    let mut t2 = opened_at(105, 120);
    let mut outs = t2.feed(direct("hello, world!!!"));
    outs.extend(t2.feed(ReadInput::DirectEnd));
    assert_eq!(read_content(&outs), "hello, world!!!");
    assert_eq!(finished(&outs), Some(&Ok(())));
    t.lines.push_str(&t2.lines);
    assert_snapshot!(t.lines);
}

#[test]
fn open_fragment_url_short_body_is_unexpected_eof_long_body_did_not_read_expected_eof() {
    // Fragment end one too large: all bytes, then ErrUnexpectedEOF.
    let mut t = opened_at(100, 121);
    let mut outs = t.feed(direct("XXXXXhello, world!!!"));
    outs.extend(t.feed(ReadInput::DirectEnd));
    assert_eq!(read_content(&outs), "XXXXXhello, world!!!");
    assert_eq!(
        finished(&outs),
        Some(&Err(ReadError::Direct(DirectError::UnexpectedEof)))
    );

    // Fragment end three too small: `hello, world` then ErrDidNotReadExpectedEOF.
    t.note("fragment end three too small");
    let mut t2 = opened_at(105, 117);
    let outs = t2.feed(direct("hello, world!!!"));
    assert_eq!(read_content(&outs), "hello, world");
    assert_eq!(
        finished(&outs),
        Some(&Err(ReadError::Direct(DirectError::DidNotReadExpectedEof)))
    );
    assert_eq!(t2.m.offset(), 117);
    t.lines.push_str(&t2.lines);
    assert_snapshot!(t.lines);
}

#[test]
fn open_fragment_url_failures_surface_at_open() {
    let mut t = Transcript::new(Reader::new(direct_request(105)));
    start(&mut t);
    t.feed(ReadInput::Frame(url_metadata(105)));
    t.feed(ReadInput::RpcClosed);
    let not_found = DirectError::HttpStatus {
        status: "404 Not Found".into(),
        url: URL.into(),
    };
    let outs = t.feed(ReadInput::DirectOpenFailed(not_found));
    let err = finished(&outs).unwrap().clone().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("!OK fetching (404 Not Found, \"{URL}\")")
    );

    // Wrong codec: the pre-seek through the decoder fails at open.
    t.note("wrong codec");
    let mut t2 = Transcript::new(Reader::new(direct_request(105)));
    start(&mut t2);
    t2.feed(ReadInput::Frame(url_metadata(105)));
    t2.feed(ReadInput::RpcClosed);
    let corrupt = DirectError::Other("snappy: corrupt input".into());
    let outs = t2.feed(ReadInput::DirectOpenFailed(corrupt));
    let err = finished(&outs).unwrap().clone().unwrap_err();
    assert_eq!(err.to_string(), "snappy: corrupt input");
    t.lines.push_str(&t2.lines);
    assert_snapshot!(t.lines);
}

#[test]
fn reader_adjusted_offset_with_buffered_wrapper() {
    let mut t = Transcript::new(Reader::new(request(100)));
    start(&mut t);
    t.feed(ReadInput::Frame(first_metadata(100)));
    t.feed(ReadInput::Frame(content(100, "foobar\n")));
    t.feed(ReadInput::Frame(content(107, "baz\n")));
    // The caller read the 7-byte line `foobar\n`; `baz\n` is still buffered.
    assert_eq!(t.m.offset(), 111);
    assert_eq!(t.m.adjusted_offset(4), 107);
    assert_snapshot!(t.lines);
}

#[test]
fn reader_content_frame_offset_overflow_is_invalid() {
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    let outs = t.feed(ReadInput::Frame(content(i64::MAX - 1, "xyz")));
    let err = finished(&outs).unwrap().clone().unwrap_err();
    assert!(matches!(
        err,
        ReadError::InvalidFrame(InvalidFrame::ContentOverflow { len: 3, .. })
    ));
}

#[test]
fn reader_seek_within_direct_fragment() {
    let mut t = Transcript::new(Reader::new(direct_request(0)));
    start(&mut t);
    let outs = t.feed(ReadInput::Frame(url_metadata(100)));
    assert!(outs.contains(&ReadOutput::Event(ReadEvent::OffsetJump {
        from: 0,
        to: 100
    })));
    t.feed(ReadInput::RpcClosed);
    t.feed(ReadInput::DirectOpened);
    assert_eq!(t.m.offset(), 100);

    // Seek(+5, Current), Seek(begin+6, Start): forward within the fragment.
    let target = t.m.offset() + 5;
    assert_eq!(t.seek(target), Ok(105));
    assert_eq!(t.seek(106), Ok(106));
    // Seek(-1, Current) and past the fragment's end need a new reader.
    assert_eq!(t.seek(105), Err(SeekError::RequiresNewReader));
    assert_eq!(t.seek(121), Err(SeekError::RequiresNewReader));
    assert_eq!(t.m.offset(), 106);

    let mut outs = t.feed(direct("XXXXXhel"));
    outs.extend(t.feed(direct("lo, world!!!")));
    assert_eq!(read_content(&outs), "ello, world!!!");
    assert_eq!(t.m.offset(), 120);
    assert_snapshot!(t.lines);
}

#[test]
fn reader_cancelled_and_deadline_exceeded() {
    // Context already cancelled: the RPC start fails locally.
    let mut t = Transcript::new(Reader::new(request(0)));
    t.drain();
    let outs = t.feed(ReadInput::RpcStartFailed(TransportError::Cancelled));
    assert_eq!(outs, vec![ReadOutput::Finished(Err(ReadError::Cancelled))]);

    t.note("deadline already passed");
    let mut t2 = Transcript::new(Reader::new(request(0)));
    t2.drain();
    let outs = t2.feed(ReadInput::RpcStartFailed(TransportError::DeadlineExceeded));
    assert_eq!(
        outs,
        vec![ReadOutput::Finished(Err(ReadError::DeadlineExceeded))]
    );
    assert_eq!(
        ReadError::DeadlineExceeded.to_string(),
        "context deadline exceeded"
    );

    t2.note("cancel while streaming");
    let mut t3 = Transcript::new(Reader::new(request(0)));
    start(&mut t3);
    let outs = t3.feed(ReadInput::Cancel);
    assert_eq!(
        outs,
        vec![
            ReadOutput::Action(ReadAction::CancelRpc),
            ReadOutput::Finished(Err(ReadError::Cancelled))
        ]
    );
    t.lines.push_str(&t2.lines);
    t.lines.push_str(&t3.lines);
    assert_snapshot!(t.lines);
}

// ---- Behaviour notes and quirk decisions (docs/behaviour.md#reader-notes, #go-quirks-and-our-decisions) ----

#[test]
fn reader_stream_closed_before_any_frame_is_eof() {
    let mut t = Transcript::new(Reader::new(request(5)));
    start(&mut t);
    let outs = t.feed(ReadInput::RpcClosed);
    assert_eq!(outs, vec![ReadOutput::Finished(Ok(()))]);
    assert_eq!(t.m.offset(), 5);
}

#[test]
fn reader_next_rpc_routes_by_last_header_else_by_cache() {
    let mut r = Reader::new(request(0));
    assert!(matches!(
        r.poll_output(),
        Some(ReadOutput::Action(ReadAction::StartRpc { route: RouteHint::Journal(j), .. })) if j == JOURNAL
    ));
    r.handle(ReadInput::Frame(status_frame(Status::NotJournalBroker, 0)));
    r.handle(ReadInput::RpcClosed);
    while r.poll_output().is_some() {}
    r.restart();
    assert!(matches!(
        r.poll_output(),
        Some(ReadOutput::Action(ReadAction::StartRpc { route: RouteHint::Route(route), .. })) if route == header().route.unwrap()
    ));
}

#[test]
fn quirk1_minus_one_routing_error_keeps_offset() {
    let mut t = Transcript::new(Reader::new(request(-1)));
    start(&mut t);
    t.feed(ReadInput::Frame(status_frame(Status::NotJournalBroker, 0)));
    t.feed(ReadInput::RpcClosed);
    // Go would move to 0 (the oldest content); the write-head request stays.
    assert_eq!(t.m.offset(), -1);
    assert_snapshot!(t.lines);
}

#[test]
fn quirk1_offset_not_yet_available_resolves_minus_one() {
    let mut t = Transcript::new(Reader::new(request(-1)));
    start(&mut t);
    let frame = ReadResponse {
        write_head: 512,
        ..status_frame(Status::OffsetNotYetAvailable, 512)
    };
    let outs = t.feed(ReadInput::Frame(frame));
    // The offset moves to the write head, and (unlike Go) the jump is reported.
    assert!(outs.contains(&ReadOutput::Event(ReadEvent::OffsetJump {
        from: -1,
        to: 512
    })));
    t.feed(ReadInput::RpcClosed);
    assert_eq!(t.m.offset(), 512);
}

#[test]
fn quirk2_direct_offset_past_end_offset_ends_cleanly() {
    // A jump moves the offset past end_offset: the fragment is not opened.
    let mut t = Transcript::new(Reader::new(ReadRequest {
        end_offset: 102,
        ..direct_request(100)
    }));
    start(&mut t);
    t.feed(ReadInput::Frame(url_metadata(110)));
    let outs = t.feed(ReadInput::RpcClosed);
    assert_eq!(outs, vec![ReadOutput::Finished(Ok(()))]);
    assert_snapshot!(t.lines);
}

#[test]
fn quirk3_direct_source_is_closed_once_and_reader_finishes() {
    let mut t = opened_at(105, 120);
    let outs = t.feed(ReadInput::DirectFailed(DirectError::Other(
        "timeout".into(),
    )));
    assert_eq!(
        outs,
        vec![
            ReadOutput::Action(ReadAction::CloseDirect),
            ReadOutput::Finished(Err(ReadError::Direct(DirectError::Other("timeout".into()))))
        ]
    );
    assert!(t.feed(direct("more")).is_empty());
    assert!(t.feed(ReadInput::DirectEnd).is_empty());
}

#[test]
fn quirk5_seek_to_current_offset_while_streaming_is_a_no_op() {
    let mut r = Reader::new(request(0));
    r.poll_output();
    r.handle(ReadInput::Frame(first_metadata(0)));
    assert_eq!(r.seek(0), Ok(0));
    assert_eq!(r.seek(1), Err(SeekError::RequiresNewReader));
    // And a direct read may seek to the fragment's very end.
    let mut t = opened_at(105, 120);
    assert_eq!(t.seek(120), Ok(120));
    let outs = t.feed(direct("hello, world!!!"));
    assert!(read_content(&outs).is_empty());
    let outs = t.feed(ReadInput::DirectEnd);
    assert_eq!(finished(&outs), Some(&Ok(())));
}

#[test]
fn quirk31_failed_open_finishes_reader() {
    let mut t = Transcript::new(Reader::new(direct_request(105)));
    start(&mut t);
    t.feed(ReadInput::Frame(url_metadata(105)));
    t.feed(ReadInput::RpcClosed);
    let outs = t.feed(ReadInput::DirectOpenFailed(DirectError::Eof));
    assert_eq!(
        outs,
        vec![ReadOutput::Finished(Err(ReadError::Direct(
            DirectError::Eof
        )))]
    );
    assert!(t.m.is_finished());
    assert_eq!(t.m.seek(110), Err(SeekError::RequiresNewReader));
    assert!(t.feed(direct("x")).is_empty());
}

#[test]
fn reader_metadata_only_does_not_open_fragment() {
    let mut t = Transcript::new(Reader::new(ReadRequest {
        metadata_only: true,
        ..direct_request(105)
    }));
    start(&mut t);
    t.feed(ReadInput::Frame(url_metadata(105)));
    let outs = t.feed(ReadInput::RpcClosed);
    assert_eq!(outs, vec![ReadOutput::Finished(Ok(()))]);
}

#[test]
fn reader_streamed_content_is_trimmed_at_end_offset() {
    let mut t = Transcript::new(Reader::new(ReadRequest {
        end_offset: 4,
        ..request(0)
    }));
    start(&mut t);
    t.feed(ReadInput::Frame(first_metadata(0)));
    let outs = t.feed(ReadInput::Frame(content(0, "foobar")));
    assert_eq!(read_content(&outs), "foob");
    assert_eq!(
        &outs[1..],
        &[
            ReadOutput::Action(ReadAction::CancelRpc),
            ReadOutput::Finished(Ok(()))
        ]
    );
    assert_snapshot!(t.lines);
}

#[test]
fn reader_content_frame_with_metadata_fields_is_invalid() {
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    let frame = ReadResponse {
        write_head: 9,
        ..content(0, "x")
    };
    let outs = t.feed(ReadInput::Frame(frame));
    let err = finished(&outs).unwrap().clone().unwrap_err();
    assert_eq!(
        err.to_string(),
        "ReadResponse: unexpected WriteHead with Content (9)"
    );
}

fn invalidate() -> ReadOutput {
    ReadOutput::Action(ReadAction::UpdateRoute {
        journal: JOURNAL.into(),
        update: RouteUpdate::Invalidate,
    })
}

fn unavailable() -> TransportError {
    TransportError::Unavailable("broker gone".into())
}

#[test]
fn unavailable_mid_stream_invalidates_the_cached_route() {
    // Dispatched by the route cache; the broker dies after some content.
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    t.feed(ReadInput::Frame(first_metadata(0)));
    t.feed(ReadInput::Frame(content(0, "abc")));
    let outs = t.feed(ReadInput::RpcFailed(unavailable()));
    assert_eq!(
        outs,
        vec![
            invalidate(),
            ReadOutput::Finished(Err(ReadError::Transport(unavailable())))
        ]
    );
}

#[test]
fn unavailable_at_start_invalidates_the_cached_route() {
    let mut t = Transcript::new(Reader::new(request(0)));
    t.drain();
    let outs = t.feed(ReadInput::RpcStartFailed(unavailable()));
    assert_eq!(
        outs,
        vec![
            invalidate(),
            ReadOutput::Finished(Err(ReadError::Transport(unavailable())))
        ]
    );
}

#[test]
fn only_unavailable_of_a_cache_dispatched_rpc_invalidates() {
    // Another failure keeps the route.
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    let other = TransportError::Other("Internal: boom".into());
    let outs = t.feed(ReadInput::RpcFailed(other.clone()));
    assert_eq!(
        outs,
        vec![ReadOutput::Finished(Err(ReadError::Transport(other)))]
    );
    // An RPC sent to the route of the last header (not the cache) does not
    // touch the cache when it fails.
    let mut t = Transcript::new(Reader::new(request(0)));
    start(&mut t);
    t.feed(ReadInput::Frame(first_metadata(0)));
    t.feed(ReadInput::RpcClosed);
    t.m.restart();
    let outs = t.drain();
    assert!(matches!(
        &outs[..],
        [ReadOutput::Action(ReadAction::StartRpc {
            route: RouteHint::Route(_),
            ..
        })]
    ));
    t.feed(ReadInput::RpcStarted);
    let outs = t.feed(ReadInput::RpcFailed(unavailable()));
    assert_eq!(
        outs,
        vec![ReadOutput::Finished(Err(ReadError::Transport(
            unavailable()
        )))]
    );
}
