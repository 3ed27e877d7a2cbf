//! The constructors and `with_*` methods build exactly the messages a user
//! would otherwise write as prost literals.

use std::time::Duration;

use gazette_proto::prost_types;
use gazette_proto::{
    AppendRequest, ApplyRequest, CompressionCodec, FragmentsRequest, JournalSpec, Label,
    LabelSelector, LabelSet, ListRequest, ReadRequest, append_request, apply_request, journal_spec,
    proto_duration, std_duration,
};

fn secs(seconds: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds, nanos: 0 })
}

#[test]
fn journal_spec_builder_equals_the_literal() {
    let built = JournalSpec::new("a/journal")
        .with_replication(2)
        .with_label("b", "2")
        .with_label("a", "1")
        .with_codec(CompressionCodec::Zstandard)
        .with_fragment_length(1 << 20)
        .with_store("file:///one/")
        .with_store("s3://two/")
        .with_refresh_interval(Duration::from_secs(30))
        .with_retention(Duration::from_secs(86400))
        .with_flush_interval(Duration::from_millis(1500))
        .with_path_postfix_template("p")
        .with_flags(journal_spec::Flag::ORdonly)
        .with_max_append_rate(1000)
        .with_suspend(journal_spec::suspend::Level::Partial, 42);
    let literal = JournalSpec {
        name: "a/journal".into(),
        replication: 2,
        labels: Some(LabelSet {
            labels: vec![Label::new("a", "1"), Label::new("b", "2")],
        }),
        fragment: Some(journal_spec::Fragment {
            length: 1 << 20,
            compression_codec: CompressionCodec::Zstandard as i32,
            stores: vec!["file:///one/".into(), "s3://two/".into()],
            refresh_interval: secs(30),
            retention: secs(86400),
            flush_interval: Some(prost_types::Duration {
                seconds: 1,
                nanos: 500_000_000,
            }),
            path_postfix_template: "p".into(),
        }),
        flags: journal_spec::Flag::ORdonly as u32,
        max_append_rate: 1000,
        suspend: Some(journal_spec::Suspend {
            level: journal_spec::suspend::Level::Partial as i32,
            offset: 42,
        }),
    };
    assert_eq!(built, literal);
    assert_eq!(built.codec(), CompressionCodec::Zstandard);
    assert_eq!(built.refresh_interval(), Some(Duration::from_secs(30)));
    assert_eq!(built.retention(), Some(Duration::from_secs(86400)));
    assert_eq!(built.flush_interval(), Some(Duration::from_millis(1500)));
}

#[test]
fn journal_spec_new_has_usable_defaults() {
    let spec = JournalSpec::new("x");
    assert_eq!(spec.replication, 1);
    assert_eq!(spec.codec(), CompressionCodec::Snappy);
    assert_eq!(spec.fragment.as_ref().unwrap().length, 1 << 29);
    assert_eq!(spec.refresh_interval(), Some(Duration::from_secs(300)));
    assert_eq!(spec.retention(), None);
    let stores = JournalSpec::new("x")
        .with_store("a")
        .with_stores(["b", "c"]);
    assert_eq!(stores.fragment.unwrap().stores, ["b", "c"]);
    let mut empty = JournalSpec::new("x");
    empty.fragment = None;
    assert_eq!(empty.codec(), CompressionCodec::Invalid);
    assert_eq!(empty.refresh_interval(), None);
}

#[test]
fn label_sets_stay_sorted_and_unique() {
    let set: LabelSet = [("b", "2"), ("a", "9"), ("a", "1"), ("b", "2")]
        .into_iter()
        .collect();
    let pairs: Vec<_> = set
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(pairs, [("a", "1"), ("a", "9"), ("b", "2")]);
    assert_eq!(
        set,
        LabelSet::new().with("a", "1").with("b", "2").with("a", "9")
    );
}

#[test]
fn selectors_build_include_and_exclude_sets() {
    let sel = LabelSelector::new()
        .include("app", "x")
        .include_prefix("name", "logs/")
        .exclude("env", "dev")
        .exclude_prefix("name", "logs/tmp/");
    assert_eq!(
        sel,
        LabelSelector {
            include: Some(LabelSet {
                labels: vec![Label::new("app", "x"), Label::prefix("name", "logs/")],
            }),
            exclude: Some(LabelSet {
                labels: vec![Label::new("env", "dev"), Label::prefix("name", "logs/tmp/")],
            }),
        }
    );
    assert_eq!(
        LabelSelector::journal("a/b").include,
        Some(LabelSet::new().with("name", "a/b"))
    );
    assert!(LabelSelector::journal_prefix("a/").include.unwrap().labels[0].prefix);
}

#[test]
fn read_request_builder() {
    let r = ReadRequest::new("j")
        .from_offset(-1)
        .until(100)
        .blocking(false)
        .do_not_proxy(true)
        .metadata_only(true)
        .begin_mod_time(7);
    assert_eq!(
        r,
        ReadRequest {
            journal: "j".into(),
            offset: -1,
            end_offset: 100,
            block: false,
            do_not_proxy: true,
            metadata_only: true,
            begin_mod_time: 7,
            ..Default::default()
        }
    );
    assert!(ReadRequest::new("j").block, "reads block by default");
}

#[test]
fn append_request_builder() {
    let a = AppendRequest::new("j")
        .check_registers(LabelSelector::new().include("owner", "me"))
        .union_registers(LabelSet::new().with("owner", "me"))
        .subtract_registers(LabelSet::new().with("owner", "you"))
        .at_offset(64)
        .with_suspend(append_request::Suspend::Keep);
    assert_eq!(
        a,
        AppendRequest {
            journal: "j".into(),
            check_registers: Some(LabelSelector::new().include("owner", "me")),
            union_registers: Some(LabelSet::new().with("owner", "me")),
            subtract_registers: Some(LabelSet::new().with("owner", "you")),
            offset: 64,
            suspend: append_request::Suspend::Keep as i32,
            ..Default::default()
        }
    );
}

#[test]
fn apply_list_and_fragments_requests() {
    let apply = ApplyRequest::new([
        apply_request::Change::upsert(JournalSpec::new("a"), 0),
        apply_request::Change::delete("b", 12),
    ]);
    assert_eq!(apply.changes.len(), 2);
    assert_eq!(apply.changes[0].upsert.as_ref().unwrap().name, "a");
    assert_eq!(apply.changes[0].expect_mod_revision, 0);
    assert_eq!(
        (
            apply.changes[1].delete.as_str(),
            apply.changes[1].upsert.is_none()
        ),
        ("b", true)
    );
    let all = ApplyRequest::upsert_all([JournalSpec::new("a"), JournalSpec::new("b")]);
    assert!(all.changes.iter().all(|c| c.expect_mod_revision == -1));

    let list = ListRequest::new(LabelSelector::journal_prefix("a/")).watching();
    assert!(list.watch);
    assert_eq!(list.selector, Some(LabelSelector::journal_prefix("a/")));

    let frags = FragmentsRequest::new("j")
        .mod_time_range(10, 20)
        .signed_for(Duration::from_secs(60))
        .page_limit(5);
    assert_eq!(
        (frags.begin_mod_time, frags.end_mod_time, frags.page_limit),
        (10, 20, 5)
    );
    assert_eq!(frags.signature_ttl, secs(60));
}

#[test]
fn durations_convert_both_ways_and_saturate() {
    assert_eq!(
        proto_duration(Duration::from_millis(2500)).nanos,
        500_000_000
    );
    assert_eq!(proto_duration(Duration::MAX).seconds, i64::MAX);
    assert_eq!(
        std_duration(&prost_types::Duration {
            seconds: 3,
            nanos: 0
        }),
        Some(Duration::from_secs(3))
    );
    assert_eq!(
        std_duration(&prost_types::Duration {
            seconds: -1,
            nanos: 0
        }),
        None
    );
}
