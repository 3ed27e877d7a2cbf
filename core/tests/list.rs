//! Listing, fragments, apply and health: the checklist in
//! docs/behaviour.md#listing-checklist, plus property tests and transcript snapshots.

use std::fmt::Write as _;
use std::time::Duration;

use gazette_core::list::*;
use gazette_core::proto::{
    ApplyRequest, ApplyResponse, FragmentStoreHealthResponse, FragmentsRequest, FragmentsResponse,
    Header, JournalSpec, ListRequest, ListResponse, Route, Status, apply_request::Change,
    fragments_response, header::Etcd, journal_spec, list_response::Journal, process_spec::Id,
};
use gazette_core::route::RouteUpdate;
use gazette_core::status::StatusError;
use gazette_core::validate::parse_label_selector;
use proptest::prelude::*;

fn header(revision: i64) -> Header {
    Header {
        process_id: Some(Id {
            zone: "a".into(),
            suffix: "broker".into(),
        }),
        route: Some(Route {
            members: vec![],
            primary: -1,
            endpoints: vec![],
        }),
        etcd: Some(Etcd {
            cluster_id: 12,
            member_id: 34,
            revision,
            raft_term: 78,
        }),
    }
}

fn spec(name: &str) -> JournalSpec {
    let mut fragment = journal_spec::Fragment {
        length: 1024,
        compression_codec: 1,
        refresh_interval: Some(Default::default()),
        ..Default::default()
    };
    fragment.refresh_interval.as_mut().unwrap().seconds = 1;
    JournalSpec {
        name: name.into(),
        replication: 1,
        fragment: Some(fragment),
        ..Default::default()
    }
}

fn journal(name: &str, members: usize) -> Journal {
    let ids: Vec<Id> = (0..members)
        .map(|i| Id {
            zone: "a".into(),
            suffix: format!("broker-{i}"),
        })
        .collect();
    Journal {
        spec: Some(spec(name)),
        mod_revision: 7,
        route: Some(Route {
            endpoints: ids
                .iter()
                .map(|id| format!("http://{}:8080", id.suffix))
                .collect(),
            primary: if members == 0 { -1 } else { 0 },
            members: ids,
        }),
        create_revision: 3,
    }
}

fn first(revision: i64, journals: Vec<Journal>) -> ListResponse {
    ListResponse {
        status: 0,
        header: Some(header(revision)),
        journals,
    }
}

fn continuation(journals: Vec<Journal>) -> ListResponse {
    ListResponse {
        journals,
        ..Default::default()
    }
}

fn describe(msg: &ListResponse) -> String {
    let names: Vec<&str> = msg
        .journals
        .iter()
        .map(|j| j.spec.as_ref().map_or("?", |s| s.name.as_str()))
        .collect();
    let rev = msg.header.as_ref().and_then(|h| h.etcd).map(|e| e.revision);
    match rev {
        Some(rev) => format!("status={} rev={rev} journals={names:?}", msg.status),
        None => format!("journals={names:?}"),
    }
}

fn unary() -> ListRequest {
    ListRequest {
        selector: Some(parse_label_selector("app.gazette.dev/tag=x").unwrap()),
        ..Default::default()
    }
}

#[test]
fn list_all_journals_assembles_a_snapshot_split_over_messages_and_caches_routes() {
    let mut asm = SnapshotAssembler::new(&unary());
    assert_eq!(
        asm.on_message(first(10, vec![journal("a/one", 1), journal("a/two", 2)])),
        Ok(None)
    );
    assert_eq!(
        asm.on_message(continuation(vec![journal("a/three", 0)])),
        Ok(None)
    );
    let snapshot = asm.on_end().unwrap();
    assert_eq!(
        describe(&snapshot),
        r#"status=0 rev=10 journals=["a/one", "a/two", "a/three"]"#
    );

    let updates = snapshot_route_updates(&snapshot);
    assert_eq!(updates.len(), 3);
    assert!(
        matches!(&updates[0], (n, RouteUpdate::Store(r)) if n == "a/one" && r.members.len() == 1)
    );
    assert!(
        matches!(&updates[1], (n, RouteUpdate::Store(r)) if n == "a/two" && r.members.len() == 2)
    );
    assert_eq!(updates[2], ("a/three".to_string(), RouteUpdate::Invalidate));
}

#[test]
fn list_invalid_journal_name_in_response_is_a_validation_error() {
    let mut asm = SnapshotAssembler::new(&unary());
    let err = asm
        .on_message(first(10, vec![journal("invalid name", 1)]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Journals[0].Spec.Name: not a valid token (invalid name)"
    );
    assert!(asm.is_finished());
}

#[test]
fn list_wrong_route_status_is_a_generic_error() {
    let mut asm = SnapshotAssembler::new(&unary());
    let mut msg = first(10, vec![]);
    msg.status = Status::WrongRoute as i32;
    let err = asm.on_message(msg).unwrap_err();
    assert_eq!(err.to_string(), "WRONG_ROUTE");
    assert_eq!(
        err,
        ListError::Status(StatusError::Generic(Status::WrongRoute as i32))
    );
}

#[test]
fn list_server_sent_cancel_reports_context_canceled() {
    let mut asm = SnapshotAssembler::new(&unary());
    assert_eq!(
        asm.on_error(ListError::Canceled).to_string(),
        "context canceled"
    );
    assert!(asm.is_finished());
}

#[test]
fn list_continuation_journals_are_validated_too() {
    // Quirk 22: Go would append this entry unchecked.
    let mut asm = SnapshotAssembler::new(&unary());
    asm.on_message(first(10, vec![journal("a/one", 1)]))
        .unwrap();
    let mut bad = journal("a/two", 1);
    bad.mod_revision = 0;
    let err = asm.on_message(continuation(vec![bad])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Journals[0]: invalid ModRevision (0; expected > 0)"
    );
}

#[test]
fn list_unary_framing_errors_and_empty_snapshot() {
    let mut asm = SnapshotAssembler::new(&unary());
    assert_eq!(asm.on_end(), Err(ListError::Eof));

    let mut asm = SnapshotAssembler::new(&unary());
    asm.on_message(first(10, vec![])).unwrap();
    assert_eq!(
        asm.on_end().map(|s| s.journals.len()),
        Ok(0),
        "empty snapshot is one message"
    );

    let mut asm = SnapshotAssembler::new(&unary());
    asm.on_message(first(10, vec![journal("a/one", 1)]))
        .unwrap();
    let err = asm.on_message(continuation(vec![])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected empty ListResponse.Journals in unary listing"
    );
}

#[test]
fn list_watch_snapshots_end_with_an_empty_marker() {
    let mut asm = SnapshotAssembler::new(&ListRequest {
        watch: true,
        ..unary()
    });
    asm.on_message(first(10, vec![])).unwrap();
    let snap = asm.on_message(continuation(vec![])).unwrap().unwrap();
    assert_eq!(describe(&snap), "status=0 rev=10 journals=[]");
    asm.on_message(first(11, vec![journal("a/one", 1)]))
        .unwrap();
    asm.on_message(continuation(vec![journal("a/two", 1)]))
        .unwrap();
    // A clean end mid-snapshot is unexpected.
    assert_eq!(asm.on_end(), Err(ListError::UnexpectedEof));
}

#[test]
fn list_resumed_watch_rejects_a_revision_not_after_the_resumed_one() {
    let request = ListRequest {
        watch: true,
        watch_resume: Some(header(20)),
        ..unary()
    };
    let mut asm = SnapshotAssembler::new(&request);
    let err = asm.on_message(first(20, vec![])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "server sent unexpected ListResponse revision (20; expected > 20)"
    );

    let mut asm = SnapshotAssembler::new(&request);
    asm.on_message(first(21, vec![])).unwrap();
    asm.on_message(continuation(vec![])).unwrap().unwrap();
    // The next snapshot on the same stream must advance past 21.
    assert!(matches!(
        asm.on_message(first(21, vec![])),
        Err(ListError::RevisionNotAfterResume {
            got: 21,
            resume: 21
        })
    ));
}

#[test]
fn get_journal_strips_meta_and_returns_the_spec() {
    let request = get_journal_request("a/journal;with/meta").unwrap();
    assert_eq!(
        gazette_core::validate::SelectorDisplay(request.selector.as_ref().unwrap()).to_string(),
        "name=a/journal"
    );
    assert!(!request.watch);
    let snapshot = first(10, vec![journal("a/journal", 1)]);
    assert_eq!(
        get_journal_spec("a/journal;with/meta", &snapshot)
            .unwrap()
            .name,
        "a/journal"
    );
}

#[test]
fn get_journal_of_an_empty_listing_is_named_journal_does_not_exist() {
    let err = get_journal_spec("does/not/exist", &first(10, vec![])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "named journal does not exist (does/not/exist)"
    );
}

/// Runs a watch through scripted driver events and records the transcript.
fn drive(watch: &mut WatchedList, log: &mut String) {
    while let Some(action) = watch.poll_action() {
        let line = match action {
            WatchAction::OpenStream(req) => format!(
                "open watch={} resume={:?}",
                req.watch,
                req.watch_resume.and_then(|h| h.etcd).map(|e| e.revision)
            ),
            WatchAction::CloseStream => "close".to_string(),
            WatchAction::Sleep(d) => format!("sleep {d:?}"),
            WatchAction::Publish(s) => format!("publish {}", describe(&s)),
            WatchAction::Signal(r) => format!("signal {:?}", r.map_err(|e| e.to_string())),
        };
        writeln!(log, "  -> {line}").unwrap();
    }
}

#[test]
fn watched_list_signals_snapshot_then_cancel_then_newer_snapshot() {
    let mut log = String::new();
    let mut watch = WatchedList::new(&ListRequest {
        watch: false,
        watch_resume: Some(header(99)),
        ..unary()
    });
    drive(&mut watch, &mut log);
    assert!(watch.list().is_none());

    log.push_str("opened; first snapshot\n");
    watch.on_opened();
    watch.on_message(first(10, vec![journal("a/one", 1)]));
    watch.on_message(continuation(vec![journal("a/two", 1)]));
    watch.on_message(continuation(vec![]));
    drive(&mut watch, &mut log);
    assert_eq!(watch.list().unwrap().journals.len(), 2);

    log.push_str("broker cancels the stream\n");
    watch.on_error(ListError::Canceled);
    drive(&mut watch, &mut log);
    assert_eq!(
        watch.list().unwrap().journals.len(),
        2,
        "keeps the old snapshot"
    );

    log.push_str("timer; reopened; newer snapshot\n");
    watch.on_timer();
    drive(&mut watch, &mut log);
    watch.on_opened();
    watch.on_message(first(12, vec![journal("a/one", 1)]));
    watch.on_message(continuation(vec![]));
    drive(&mut watch, &mut log);
    assert_eq!(
        watch
            .list()
            .unwrap()
            .header
            .as_ref()
            .unwrap()
            .etcd
            .unwrap()
            .revision,
        12
    );
    insta::assert_snapshot!(log);
}

#[test]
fn watched_list_backs_off_consecutive_failures_and_resets_on_clean_end() {
    let mut watch = WatchedList::new(&unary());
    let mut delays = Vec::new();
    let sleep_of = |watch: &mut WatchedList| {
        let mut slept = None;
        while let Some(a) = watch.poll_action() {
            if let WatchAction::Sleep(d) = a {
                slept = Some(d);
            }
        }
        slept
    };
    sleep_of(&mut watch);
    for _ in 0..8 {
        watch.on_open_failed(ListError::Rpc("unavailable".into()));
        delays.push(sleep_of(&mut watch).unwrap().as_millis());
        watch.on_timer();
        sleep_of(&mut watch);
    }
    assert_eq!(delays, vec![50, 50, 100, 100, 1000, 1000, 5000, 5000]);
    // A clean end before any snapshot message resets the run.
    watch.on_opened();
    watch.on_end();
    assert_eq!(sleep_of(&mut watch), Some(Duration::from_millis(50)));
    watch.on_timer();
    sleep_of(&mut watch);
    watch.on_opened();
    watch.on_message(first(10, vec![]));
    watch.on_end();
    assert_eq!(
        sleep_of(&mut watch),
        Some(Duration::from_millis(50)),
        "unexpected EOF after reset"
    );
    watch.stop();
    assert!(watch.is_stopped());
    watch.on_timer();
    assert_eq!(watch.poll_action(), None);
}

fn page(token: i64, begins: &[i64]) -> FragmentsResponse {
    FragmentsResponse {
        status: 0,
        header: Some(header(10)),
        fragments: begins
            .iter()
            .map(|b| fragments_response::Fragment {
                spec: Some(gazette_core::proto::Fragment {
                    journal: "a/journal".into(),
                    begin: *b,
                    end: b + 10,
                    compression_codec: 1,
                    ..Default::default()
                }),
                signed_url: String::new(),
            })
            .collect(),
        next_page_token: token,
    }
}

fn fragments_request() -> FragmentsRequest {
    FragmentsRequest {
        journal: "a/journal".into(),
        ..Default::default()
    }
}

#[test]
fn list_all_fragments_joins_pages_until_token_zero() {
    let mut pager = FragmentPager::new(fragments_request()).unwrap();
    assert_eq!(pager.request().next_page_token, 0);
    let PagerStep::Next(req) = pager.on_response(page(30, &[0, 10, 20])) else {
        panic!()
    };
    assert_eq!(req.next_page_token, 30);
    let mut second = page(0, &[30, 40]);
    second.header = Some(header(11));
    let PagerStep::Done(joined) = pager.on_response(second) else {
        panic!()
    };
    assert_eq!(joined.fragments.len(), 5);
    assert_eq!(joined.next_page_token, 0);
    assert_eq!(
        joined.header.unwrap().etcd.unwrap().revision,
        10,
        "first page's header"
    );
}

#[test]
fn list_all_fragments_errors_return_no_response() {
    let mut bad = page(0, &[]);
    bad.status = Status::JournalNotFound as i32;
    let step = FragmentPager::new(fragments_request())
        .unwrap()
        .on_response(bad);
    assert!(
        matches!(&step, PagerStep::Failed { partial: None, error } if error.to_string() == "JOURNAL_NOT_FOUND")
    );

    let step = FragmentPager::new(fragments_request())
        .unwrap()
        .on_error(ListError::Rpc("error!".into()));
    assert!(
        matches!(&step, PagerStep::Failed { partial: None, error } if error.to_string() == "error!")
    );

    let mut invalid = page(0, &[]);
    invalid.status = 1000;
    let step = FragmentPager::new(fragments_request())
        .unwrap()
        .on_response(invalid);
    assert!(
        matches!(&step, PagerStep::Failed { partial: None, error } if error.to_string() == "Status: invalid status (1000)")
    );

    let mut suspended = page(0, &[]);
    suspended.status = Status::Suspended as i32;
    let step = FragmentPager::new(fragments_request())
        .unwrap()
        .on_response(suspended);
    assert!(matches!(
        &step,
        PagerStep::Failed {
            error: ListError::Status(StatusError::Named(Status::Suspended)),
            ..
        }
    ));
}

#[test]
fn list_all_fragments_later_page_failure_keeps_partial_result() {
    let mut pager = FragmentPager::new(fragments_request()).unwrap();
    pager.on_response(page(30, &[0, 10, 20]));
    let PagerStep::Failed { partial, error } = pager.on_error(ListError::Rpc("boom".into())) else {
        panic!()
    };
    assert_eq!(partial.unwrap().fragments.len(), 3);
    assert_eq!(error.to_string(), "boom");
    assert!(pager.is_finished());
}

#[test]
fn list_all_fragments_rejects_invalid_requests() {
    let mut req = fragments_request();
    req.page_limit = 10001;
    assert_eq!(
        FragmentPager::new(req).unwrap_err().to_string(),
        "invalid PageLimit (10001; must be >= 0 and <= 10000)"
    );
}

fn changes(n: usize) -> ApplyRequest {
    ApplyRequest {
        changes: (0..n)
            .map(|i| Change {
                expect_mod_revision: -1,
                upsert: Some(spec(&format!("a/journal-{i}"))),
                delete: String::new(),
            })
            .collect(),
    }
}

fn ok_apply(revision: i64) -> ApplyResponse {
    ApplyResponse {
        status: 0,
        header: Some(header(revision)),
    }
}

fn run_batches(n: usize, size: usize) -> Vec<usize> {
    let mut batches = ApplyBatches::new(changes(n), size).unwrap();
    let mut sizes = vec![batches.first_request().changes.len()];
    let mut rev = 1;
    loop {
        rev += 1;
        match batches.on_response(ok_apply(rev)) {
            ApplyStep::Next(req) => sizes.push(req.changes.len()),
            ApplyStep::Done(resp) => {
                assert_eq!(
                    resp.header.unwrap().etcd.unwrap().revision,
                    rev,
                    "last response"
                );
                return sizes;
            }
            ApplyStep::Failed(f) => panic!("{f:?}"),
        }
    }
}

#[test]
fn apply_journals_in_batches_sizes() {
    assert_eq!(run_batches(2, 0), vec![2]);
    assert_eq!(run_batches(2, 3), vec![2]);
    assert_eq!(run_batches(2, 1), vec![1, 1]);
    assert_eq!(
        run_batches(0, 0),
        vec![0],
        "no changes still send one Apply"
    );
    assert_eq!(run_batches(5, 2), vec![2, 2, 1]);
}

#[test]
fn apply_journals_errors() {
    let mut b = ApplyBatches::new(changes(2), 0).unwrap();
    b.first_request();
    let ApplyStep::Failed(f) = b.on_error(ListError::Rpc("rpc error".into())) else {
        panic!()
    };
    assert_eq!(f.error.to_string(), "rpc error");

    let mut b = ApplyBatches::new(changes(2), 0).unwrap();
    b.first_request();
    let mut resp = ok_apply(3);
    resp.status = Status::EtcdTransactionFailed as i32;
    let ApplyStep::Failed(f) = b.on_response(resp) else {
        panic!()
    };
    assert_eq!(f.error.to_string(), "ETCD_TRANSACTION_FAILED");
    assert!(f.response.is_some());

    let mut b = ApplyBatches::new(changes(2), 0).unwrap();
    b.first_request();
    let ApplyStep::Failed(f) = b.on_response(ApplyResponse::default()) else {
        panic!()
    };
    assert_eq!(
        f.error.to_string(),
        "Header.Route: invalid Primary (0; expected -1 <= Primary < 0)"
    );
}

#[test]
fn apply_journals_later_batch_failure_reports_applied_changes() {
    let mut b = ApplyBatches::new(changes(5), 2).unwrap();
    b.first_request();
    assert!(matches!(b.on_response(ok_apply(2)), ApplyStep::Next(_)));
    let mut bad = ok_apply(3);
    bad.status = Status::EtcdTransactionFailed as i32;
    let ApplyStep::Failed(f) = b.on_response(bad) else {
        panic!()
    };
    assert_eq!((f.applied, f.failed), (0..2, 2..4));
}

#[test]
fn apply_journals_validates_every_change_before_sending() {
    let mut req = changes(3);
    req.changes[2].upsert.as_mut().unwrap().replication = 0;
    assert_eq!(
        ApplyBatches::new(req, 1).unwrap_err().to_string(),
        "Changes[2].Upsert: invalid Replication (0; expected 1 <= Replication <= 5)"
    );
}

#[test]
fn fragment_store_health_request_and_result() {
    let r = fragment_store_health_request("s3://bucket/", None).unwrap();
    assert!(!r.check_delete && r.check_delete_prefix.is_empty());
    let r = fragment_store_health_request("s3://bucket/", Some("recovery/")).unwrap();
    assert!(r.check_delete && r.check_delete_prefix == "recovery/");
    let r = fragment_store_health_request("s3://bucket/", Some("")).unwrap();
    assert!(r.check_delete && r.check_delete_prefix.is_empty());
    assert_eq!(
        fragment_store_health_request("s3://bucket/", Some("../x/"))
            .unwrap_err()
            .to_string(),
        "CheckDeletePrefix: cannot traverse outside the store (../x/)"
    );

    let ok = FragmentStoreHealthResponse {
        status: 0,
        header: Some(header(5)),
        store_health_error: String::new(),
    };
    assert_eq!(fragment_store_health_result(ok.clone()), Ok(ok.clone()));
    let unhealthy = FragmentStoreHealthResponse {
        status: Status::FragmentStoreUnhealthy as i32,
        store_health_error: "bucket gone".into(),
        ..ok.clone()
    };
    assert_eq!(
        fragment_store_health_result(unhealthy.clone()),
        Ok(unhealthy)
    );
    let not_found = FragmentStoreHealthResponse {
        status: Status::JournalNotFound as i32,
        ..ok
    };
    assert_eq!(
        fragment_store_health_result(not_found)
            .unwrap_err()
            .to_string(),
        "JOURNAL_NOT_FOUND"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// However journals are split over messages, the snapshot holds them
    /// all in order, in unary and in watch mode.
    #[test]
    fn snapshot_assembler_joins_any_split(splits in proptest::collection::vec(1usize..4, 0..6), watch: bool) {
        let total: usize = splits.iter().sum();
        let all: Vec<Journal> = (0..total).map(|i| journal(&format!("a/j-{i:03}"), 1)).collect();
        let mut asm = SnapshotAssembler::new(&ListRequest { watch, ..unary() });
        let mut rest = all.clone();
        let first_len = splits.first().copied().unwrap_or(0);
        prop_assert_eq!(asm.on_message(first(5, rest.drain(..first_len).collect())), Ok(None));
        for n in splits.iter().skip(1) {
            prop_assert_eq!(asm.on_message(continuation(rest.drain(..*n).collect())), Ok(None));
        }
        let snapshot = if watch {
            asm.on_message(continuation(vec![])).unwrap().unwrap()
        } else {
            asm.on_end().unwrap()
        };
        prop_assert_eq!(snapshot.journals, all);
    }

    /// Batches cover every change exactly once, in order, each at most `size`.
    #[test]
    fn apply_batches_cover_changes_in_order(n in 0usize..12, size in 0usize..5, fail_at in proptest::option::of(0usize..6)) {
        let req = changes(n);
        let mut b = ApplyBatches::new(req.clone(), size).unwrap();
        let mut sent: Vec<Change> = Vec::new();
        let mut batch = b.first_request();
        let mut index = 0;
        loop {
            prop_assert!(size == 0 || batch.changes.len() <= size);
            let start = sent.len();
            sent.extend(batch.changes.clone());
            let mut resp = ok_apply(2);
            if Some(index) == fail_at { resp.status = Status::EtcdTransactionFailed as i32; }
            match b.on_response(resp) {
                ApplyStep::Next(next) => batch = next,
                ApplyStep::Done(_) => { prop_assert_eq!(&sent, &req.changes); break; }
                ApplyStep::Failed(f) => {
                    prop_assert_eq!(f.applied, 0..start);
                    prop_assert_eq!(f.failed, start..sent.len());
                    break;
                }
            }
            index += 1;
        }
        prop_assert!(b.is_finished());
    }

    /// The pager follows tokens and joins every page's fragments.
    #[test]
    fn fragment_pager_joins_all_pages(pages in proptest::collection::vec(0usize..4, 1..6)) {
        let mut pager = FragmentPager::new(fragments_request()).unwrap();
        let mut begin = 0i64;
        let mut expected = Vec::new();
        for (i, n) in pages.iter().enumerate() {
            let begins: Vec<i64> = (0..*n).map(|k| begin + 10 * k as i64).collect();
            begin += 10 * *n as i64 + 10;
            expected.extend(begins.clone());
            let last = i + 1 == pages.len();
            let token = if last { 0 } else { begin };
            match pager.on_response(page(token, &begins)) {
                PagerStep::Next(req) => { prop_assert!(!last); prop_assert_eq!(req.next_page_token, begin); }
                PagerStep::Done(resp) => {
                    prop_assert!(last);
                    let got: Vec<i64> = resp.fragments.iter().map(|f| f.spec.as_ref().unwrap().begin).collect();
                    prop_assert_eq!(&got, &expected);
                }
                PagerStep::Failed { error, .. } => prop_assert!(false, "{}", error),
            }
        }
    }
}

#[derive(Debug, Clone)]
enum WatchEvent {
    Opened,
    OpenFailed,
    Snapshot(usize),
    Partial,
    End,
    Error,
    Timer,
}

fn watch_event() -> impl Strategy<Value = WatchEvent> {
    prop_oneof![
        3 => Just(WatchEvent::Opened),
        1 => Just(WatchEvent::OpenFailed),
        3 => (0usize..3).prop_map(WatchEvent::Snapshot),
        1 => Just(WatchEvent::Partial),
        1 => Just(WatchEvent::End),
        1 => Just(WatchEvent::Error),
        3 => Just(WatchEvent::Timer),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// WatchedList invariants: streams always open in watch mode with the
    /// original selector and resume from the last published snapshot;
    /// published revisions only grow; every publish is followed by an OK
    /// signal; failures signal an error, then sleep Go's backoff for the run
    /// of consecutive failures (reset by a snapshot or a clean EOF).
    #[test]
    fn watched_list_machine_invariants(events in proptest::collection::vec(watch_event(), 0..60)) {
        let request = unary();
        let mut watch = WatchedList::new(&request);
        let mut revision = 100;
        let mut last_published: Option<i64> = None;
        let mut run = 0i32;
        let mut actions = Vec::new();
        for event in events {
            match event {
                WatchEvent::Opened => watch.on_opened(),
                WatchEvent::OpenFailed => watch.on_open_failed(ListError::Rpc("refused".into())),
                WatchEvent::Snapshot(n) => {
                    revision += 1;
                    watch.on_message(first(revision, (0..n).map(|i| journal(&format!("a/j-{i}"), 1)).collect()));
                    watch.on_message(continuation(vec![]));
                }
                WatchEvent::Partial => watch.on_message(first(revision + 1, vec![journal("a/partial", 1)])),
                WatchEvent::End => watch.on_end(),
                WatchEvent::Error => watch.on_error(ListError::Canceled),
                WatchEvent::Timer => watch.on_timer(),
            }
            while let Some(a) = watch.poll_action() { actions.push(a); }
        }
        let mut i = 0;
        while i < actions.len() {
            match &actions[i] {
                WatchAction::OpenStream(req) => {
                    prop_assert!(req.watch);
                    prop_assert_eq!(&req.selector, &request.selector);
                    prop_assert_eq!(req.watch_resume.as_ref().and_then(|h| h.etcd).map(|e| e.revision), last_published);
                }
                WatchAction::Publish(s) => {
                    let rev = s.header.as_ref().unwrap().etcd.unwrap().revision;
                    prop_assert!(last_published.is_none_or(|p| rev > p));
                    last_published = Some(rev);
                    run = 0;
                    prop_assert_eq!(&actions[i + 1], &WatchAction::Signal(Ok(())));
                    i += 1;
                }
                WatchAction::Signal(Err(e)) => {
                    if *e == ListError::Eof { run = 0; }
                    let WatchAction::Sleep(d) = &actions[i + 1] else {
                        return Err(TestCaseError::fail("error signal not followed by sleep"));
                    };
                    prop_assert_eq!(*d, gazette_core::backoff::backoff(run));
                    run += 1;
                    i += 1;
                }
                WatchAction::Signal(Ok(())) => prop_assert!(false, "OK signal without publish"),
                WatchAction::CloseStream | WatchAction::Sleep(_) => {}
            }
            i += 1;
        }
    }
}

#[test]
fn list_unary_transcript() {
    let mut log = String::new();
    let mut asm = SnapshotAssembler::new(&unary());
    for msg in [
        first(42, vec![journal("a/one", 1), journal("a/two", 3)]),
        continuation(vec![journal("a/three", 0)]),
        continuation(vec![journal("a/four", 2)]),
    ] {
        writeln!(log, "<- {}", describe(&msg)).unwrap();
        writeln!(
            log,
            "   {:?}",
            asm.on_message(msg).map(|s| s.map(|s| describe(&s)))
        )
        .unwrap();
    }
    writeln!(log, "<- end").unwrap();
    let snapshot = asm.on_end().unwrap();
    writeln!(log, "   snapshot {}", describe(&snapshot)).unwrap();
    for (name, update) in snapshot_route_updates(&snapshot) {
        let what = match update {
            RouteUpdate::Store(r) => {
                format!("store {} members, primary {}", r.members.len(), r.primary)
            }
            RouteUpdate::Invalidate => "invalidate".to_string(),
        };
        writeln!(log, "   route {name}: {what}").unwrap();
    }
    insta::assert_snapshot!(log);
}
