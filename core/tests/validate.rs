//! Validation: Go's rule tables (docs/protocol.md#validation-rules and
//! docs/behaviour.md#validation) as named tests, and property tests that generate names
//! from the character classes of docs/protocol.md#character-classes and check acceptance against an
//! independent model of Go's rules.

// Tests need an arbitrary base `Instant`; the core itself never reads the clock.
#![allow(clippy::disallowed_methods)]

use gazette_core::proto::{
    AppendRequest, AppendResponse, ApplyRequest, Fragment, FragmentStoreHealthRequest,
    FragmentsRequest, Header, JournalSpec, Label, LabelSelector, LabelSet, ListRequest,
    ReadRequest, ReadResponse, Route, apply_request::Change, header::Etcd, journal_spec,
    process_spec::Id,
};
use gazette_core::validate::*;
use proptest::prelude::*;

fn err<T: std::fmt::Debug>(r: Result<T, ValidationError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn journal_name_validation_table() {
    for ok in [
        "a/valid/path/to/a/journal",
        "foo/bar;baz/bing",
        "foo/bar/webhook;foo/bar/webhook/http%3A%2F%2Fexample.com%3A9000%2F",
        "../ab",
        "org/topic/part-000",
        "日本語/ジャーナル",
    ] {
        assert!(validate_journal_name(ok).is_ok(), "{ok}");
    }
    for (bad, msg) in [
        ("/leading/slash", "cannot begin with '/' (/leading/slash)"),
        ("trailing/slash/", "must be a clean path (trailing/slash/)"),
        (
            "extra-middle//slash",
            "must be a clean path (extra-middle//slash)",
        ),
        ("zz", "invalid length (2; expected 4 <= length <= 512)"),
        ("has spaces", "not a valid token (has spaces)"),
        ("dollar$|pipe", "not a valid token (dollar$|pipe)"),
        (
            "foo/bar;",
            "metadata path segment: invalid length (0; expected 1 <= length <= 512)",
        ),
        (
            "foo/bar;/x",
            "metadata path segment: cannot begin with '/' (/x)",
        ),
        ("foo/./bar", "must be a clean path (foo/./bar)"),
    ] {
        assert_eq!(err(validate_journal_name(bad)), msg, "{bad}");
    }
    assert_eq!(split_meta("foo/bar;baz/bing"), ("foo/bar", ";baz/bing"));
    assert_eq!(strip_meta("foo/bar"), "foo/bar");
    assert_eq!(
        err(validate_journal_name(&"a".repeat(513))),
        "invalid length (513; expected 4 <= length <= 512)"
    );
}

fn valid_spec() -> JournalSpec {
    let mut fragment = journal_spec::Fragment {
        length: 1 << 28,
        compression_codec: 4,
        stores: vec!["s3://bucket/prefix/".into()],
        refresh_interval: Some(Default::default()),
        path_postfix_template: "date={{ .Spool.FirstAppendTime.Format \"2006-01-02\" }}".into(),
        ..Default::default()
    };
    fragment.refresh_interval.as_mut().unwrap().seconds = 60;
    let mut labels = LabelSet::default();
    labels.add_value("content-type", "application/x-ndjson");
    labels.add_value("app.gazette.dev/message-type", "Thing");
    labels.add_value("app.gazette.dev/tag", "one");
    labels.add_value("app.gazette.dev/tag", "two");
    JournalSpec {
        name: "org/topic/part-000".into(),
        replication: 3,
        labels: Some(labels),
        fragment: Some(fragment),
        ..Default::default()
    }
}

#[test]
fn journal_spec_validation_table() {
    assert_eq!(valid_spec().validate(), Ok(()));
    type Edit = fn(&mut JournalSpec);
    let cases: Vec<(Edit, &str)> = vec![
        (
            |s| s.name = "a/bc;meta".into(),
            "Name cannot have a metadata path segment (;meta; expected no segment)",
        ),
        (
            |s| s.name = "/abc".into(),
            "Name: cannot begin with '/' (/abc)",
        ),
        (
            |s| s.replication = 6,
            "invalid Replication (6; expected 1 <= Replication <= 5)",
        ),
        (
            |s| s.labels.as_mut().unwrap().add_value("name", "x"),
            "Labels cannot include label \"name\"",
        ),
        (
            |s| s.labels.as_mut().unwrap().add_value("prefix", "x/"),
            "Labels cannot include label \"prefix\"",
        ),
        (
            |s| {
                s.labels
                    .as_mut()
                    .unwrap()
                    .add_value("content-type", "text/csv")
            },
            "Labels: expected single-value Label has multiple values (index 4; label content-type value text/csv)",
        ),
        (
            |s| {
                s.labels
                    .as_mut()
                    .unwrap()
                    .set_value("content-type", "no/such/type");
            },
            "Labels: parsing content-type: mime: unexpected content after media subtype",
        ),
        (
            |s| s.labels.as_mut().unwrap().remove("content-type"),
            "Labels: expected content-type label alongside app.gazette.dev/message-type",
        ),
        (
            |s| {
                let l = s.labels.as_mut().unwrap();
                l.remove("app.gazette.dev/message-type");
                l.add_value("app.gazette.dev/message-subtype", "x");
            },
            "Labels: expected app.gazette.dev/message-type label alongside app.gazette.dev/message-subtype",
        ),
        (
            |s| s.labels.as_mut().unwrap().labels[0].prefix = true,
            "Labels.Labels[0]: Prefix may not be set outside of a LabelSelector",
        ),
        (
            |s| s.fragment.as_mut().unwrap().length = 1023,
            "Fragment: invalid Length (1023; expected 1024 <= length <= 17179869184)",
        ),
        (
            |s| s.fragment.as_mut().unwrap().compression_codec = 0,
            "Fragment.CompressionCodec: invalid value (INVALID)",
        ),
        (
            |s| s.fragment.as_mut().unwrap().compression_codec = 9,
            "Fragment.CompressionCodec: invalid value (9)",
        ),
        (
            |s| s.fragment.as_mut().unwrap().stores = vec!["s3://bucket".into()],
            "Fragment.Stores[0]: path component doesn't end in '/' ()",
        ),
        (
            |s| {
                let f = s.fragment.as_mut().unwrap();
                f.stores = vec!["file:///root/".into()];
                f.compression_codec = 5;
            },
            "Fragment: GZIP_OFFLOAD_DECOMPRESSION is incompatible with file:// stores (file:///root/)",
        ),
        (
            |s| s.fragment.as_mut().unwrap().refresh_interval = None,
            "Fragment: invalid RefreshInterval (0s; expected 1s <= interval <= 24h0m0s)",
        ),
        (
            |s| {
                s.fragment
                    .as_mut()
                    .unwrap()
                    .refresh_interval
                    .as_mut()
                    .unwrap()
                    .seconds = 86401
            },
            "Fragment: invalid RefreshInterval (24h0m1s; expected 1s <= interval <= 24h0m0s)",
        ),
        (
            |s| {
                let f = s.fragment.as_mut().unwrap();
                f.flush_interval = Some(Default::default());
                f.flush_interval.as_mut().unwrap().seconds = 30;
            },
            "Fragment: invalid FlushInterval (30s; expected >= 1m0s)",
        ),
        (
            |s| s.fragment.as_mut().unwrap().path_postfix_template = "{{ .Spool".into(),
            "Fragment.PathPostfixTemplate: template: postfix:1: unclosed action",
        ),
        (|s| s.flags = 3, "Flags: invalid combination (3)"),
        (
            |s| s.max_append_rate = -1,
            "invalid MaxAppendRate (-1; expected >= 0)",
        ),
        (
            |s| {
                s.suspend = Some(journal_spec::Suspend {
                    level: 3,
                    offset: 0,
                })
            },
            "Suspend.Level: invalid Level variant (3)",
        ),
        (
            |s| {
                s.suspend = Some(journal_spec::Suspend {
                    level: 1,
                    offset: -1,
                })
            },
            "Suspend.Offset: invalid Offset (-1; expected >= 0)",
        ),
    ];
    for (edit, msg) in cases {
        let mut spec = valid_spec();
        edit(&mut spec);
        assert_eq!(err(spec.validate()), msg);
    }
}

fn fragment() -> Fragment {
    Fragment {
        journal: "a/journal".into(),
        begin: 10,
        end: 20,
        compression_codec: 1,
        path_postfix: "date=2024-01-01".into(),
        ..Default::default()
    }
}

#[test]
fn fragment_validation_table() {
    assert_eq!(fragment().validate(), Ok(()));
    let mut f = fragment();
    f.journal = String::new();
    assert_eq!(
        err(f.validate()),
        "Journal: invalid length (0; expected 4 <= length <= 512)"
    );
    let mut f = fragment();
    f.begin = 21;
    assert_eq!(err(f.validate()), "expected Begin <= End (have 21, 20)");
    let mut f = fragment();
    f.path_postfix = "/abs".into();
    assert_eq!(
        err(f.validate()),
        "PathPostfix: cannot begin with '/' (/abs)"
    );
}

fn header() -> Header {
    Header {
        process_id: Some(Id {
            zone: "a".into(),
            suffix: "broker".into(),
        }),
        route: Some(Route {
            members: vec![Id {
                zone: "a".into(),
                suffix: "broker".into(),
            }],
            primary: 0,
            endpoints: vec!["http://broker:8080".into()],
        }),
        etcd: Some(Etcd {
            cluster_id: 12,
            member_id: 34,
            revision: 56,
            raft_term: 78,
        }),
    }
}

#[test]
fn header_and_route_validation_table() {
    assert_eq!(header().validate(), Ok(()));
    assert_eq!(
        err(Header::default().validate()),
        "Route: invalid Primary (0; expected -1 <= Primary < 0)"
    );
    let mut h = header();
    h.etcd.as_mut().unwrap().revision = 0;
    assert_eq!(
        err(h.validate()),
        "Etcd: invalid Revision (0; expected 0 < revision)"
    );
    let mut h = header();
    h.etcd.as_mut().unwrap().cluster_id = 0;
    assert_eq!(err(h.validate()), "Etcd: invalid ClusterId (expected != 0)");
    let mut h = header();
    h.process_id.as_mut().unwrap().suffix = "abc".into();
    assert_eq!(
        err(h.validate()),
        "ProcessId.Suffix: invalid length (3; expected 4 <= length <= 128)"
    );

    let id = |z: &str, s: &str| Id {
        zone: z.into(),
        suffix: s.into(),
    };
    let mut r = Route {
        members: vec![id("b", "bbbb"), id("a", "aaaa")],
        primary: -1,
        endpoints: vec![],
    };
    assert_eq!(
        err(r.validate()),
        "Members not in unique, sorted order (index 1; {Zone:b Suffix:bbbb} <= {Zone:a Suffix:aaaa})"
    );
    r.members.reverse();
    assert_eq!(r.validate(), Ok(()));
    r.endpoints = vec!["http://a".into()];
    assert_eq!(
        err(r.validate()),
        "len(Endpoints) != 0, and != len(Members) (1 vs 2)"
    );
    r.endpoints = vec!["".into(), "relative".into()];
    assert_eq!(err(r.validate()), "Endpoints[1]: not absolute: relative");
    r.endpoints = vec!["".into(), "http://b".into()];
    assert_eq!(r.validate(), Ok(()), "empty endpoints are allowed");
    r.primary = 2;
    assert_eq!(
        err(r.validate()),
        "invalid Primary (2; expected -1 <= Primary < 2)"
    );
}

#[test]
fn request_validation_table() {
    let read = ReadRequest {
        journal: "a/journal;meta".into(),
        offset: -1,
        ..Default::default()
    };
    assert_eq!(read.validate(), Ok(()));
    assert_eq!(
        err(ReadRequest {
            offset: -2,
            ..read.clone()
        }
        .validate()),
        "invalid Offset (-2; expected -1 <= Offset <= MaxInt64)"
    );
    assert_eq!(
        err(ReadRequest {
            offset: 10,
            end_offset: 5,
            ..read.clone()
        }
        .validate()),
        "invalid EndOffset (5; expected 0 or Offset <= EndOffset)"
    );
    assert_eq!(
        err(ReadRequest {
            header: Some(Header::default()),
            ..read.clone()
        }
        .validate()),
        "Header.Route: invalid Primary (0; expected -1 <= Primary < 0)"
    );

    let append = AppendRequest {
        journal: "a/journal".into(),
        ..Default::default()
    };
    assert_eq!(append.validate(), Ok(()));
    assert_eq!(
        err(AppendRequest {
            offset: -1,
            ..append.clone()
        }
        .validate()),
        "invalid Offset (-1; expected >= 0)"
    );
    assert_eq!(
        err(AppendRequest {
            suspend: 5,
            ..append.clone()
        }
        .validate()),
        "Suspend: invalid Suspend variant (5)"
    );
    assert_eq!(
        err(AppendRequest {
            content: "x".into(),
            ..append.clone()
        }
        .validate()),
        "unexpected Content"
    );
    let mut prefixed = LabelSet::default();
    prefixed.add_value("foo:prefix", "x");
    assert_eq!(
        err(AppendRequest {
            union_registers: Some(prefixed),
            ..append.clone()
        }
        .validate()),
        "UnionRegisters.Labels[0]: Prefix may not be set outside of a LabelSelector"
    );
    let chunk = AppendRequest {
        content: "data".into(),
        ..Default::default()
    };
    assert_eq!(chunk.validate(), Ok(()));
    assert_eq!(
        err(AppendRequest {
            do_not_proxy: true,
            ..chunk.clone()
        }
        .validate()),
        "unexpected DoNotProxy"
    );
    assert_eq!(
        err(AppendRequest {
            suspend: 3,
            ..chunk.clone()
        }
        .validate()),
        "unexpected Suspend (SUSPEND_NOW; expected SUSPEND_RESUMED)"
    );

    let list = ListRequest {
        selector: Some(parse_label_selector("prefix=foo/").unwrap()),
        ..Default::default()
    };
    assert_eq!(list.validate(), Ok(()));
    let list = ListRequest {
        selector: Some(parse_label_selector("prefix=foo").unwrap()),
        ..Default::default()
    };
    assert_eq!(
        err(list.validate()),
        "Selector.Include.Labels[\"prefix\"]: expected trailing '/' (foo)"
    );

    let change = |upsert: Option<JournalSpec>, delete: &str, rev: i64| Change {
        upsert,
        delete: delete.into(),
        expect_mod_revision: rev,
    };
    assert_eq!(
        ApplyRequest {
            changes: vec![
                change(None, "a/journal", -1),
                change(
                    Some(JournalSpec {
                        name: "x/y/z".into(),
                        ..valid_spec()
                    }),
                    "",
                    0
                )
            ]
        }
        .validate(),
        Ok(())
    );
    assert_eq!(
        err(ApplyRequest {
            changes: vec![change(None, "", 0)]
        }
        .validate()),
        "Changes[0]: neither Upsert nor Delete are set (expected exactly one)"
    );
    assert_eq!(
        err(ApplyRequest {
            changes: vec![change(Some(valid_spec()), "a/journal", 0)]
        }
        .validate()),
        "Changes[0]: both Upsert and Delete are set (expected exactly one)"
    );
    assert_eq!(
        err(ApplyRequest {
            changes: vec![change(None, "a/journal", 0)]
        }
        .validate()),
        "Changes[0]: invalid ExpectModRevision (0; expected > 0 or -1)"
    );
    assert_eq!(
        err(ApplyRequest {
            changes: vec![change(Some(valid_spec()), "", -2)]
        }
        .validate()),
        "Changes[0]: invalid ExpectModRevision (-2; expected >= 0 or -1)"
    );

    let frags = FragmentsRequest {
        journal: "a/journal".into(),
        ..Default::default()
    };
    assert_eq!(frags.validate(), Ok(()));
    assert_eq!(
        err(FragmentsRequest {
            begin_mod_time: 10,
            end_mod_time: 5,
            ..frags.clone()
        }
        .validate()),
        "invalid EndModTime (5 must be after 10)"
    );
    assert_eq!(
        err(FragmentsRequest {
            next_page_token: -1,
            ..frags.clone()
        }
        .validate()),
        "invalid NextPageToken (-1; must be >= 0)"
    );
    let mut ttl = FragmentsRequest {
        signature_ttl: Some(Default::default()),
        ..frags.clone()
    };
    assert_eq!(
        err(ttl.validate()),
        "invalid SignatureTTL (0s; must be > 0s)"
    );
    ttl.signature_ttl.as_mut().unwrap().seconds = 60;
    assert_eq!(ttl.validate(), Ok(()));

    let health = FragmentStoreHealthRequest {
        fragment_store: "gs://bucket/".into(),
        check_delete: true,
        check_delete_prefix: "a/b/".into(),
    };
    assert_eq!(health.validate(), Ok(()));
    assert_eq!(
        err(FragmentStoreHealthRequest {
            check_delete: false,
            ..health.clone()
        }
        .validate()),
        "CheckDeletePrefix: cannot be set when CheckDelete is false"
    );
    assert_eq!(
        err(FragmentStoreHealthRequest {
            check_delete_prefix: "a/b".into(),
            ..health.clone()
        }
        .validate()),
        "CheckDeletePrefix: must end in '/' (a/b)"
    );
    assert_eq!(
        err(FragmentStoreHealthRequest {
            check_delete_prefix: "../".into(),
            ..health.clone()
        }
        .validate()),
        "CheckDeletePrefix: cannot traverse outside the store (../)"
    );
    assert_eq!(
        err(FragmentStoreHealthRequest {
            check_delete_prefix: "a//b/".into(),
            ..health.clone()
        }
        .validate()),
        "CheckDeletePrefix: must be a clean path (a//b)"
    );
    assert_eq!(
        err(FragmentStoreHealthRequest {
            fragment_store: "ftp://x/".into(),
            ..health
        }
        .validate()),
        "FragmentStore: invalid scheme (ftp)"
    );
}

#[test]
fn response_validation_table() {
    let content = ReadResponse {
        content: "data".into(),
        ..Default::default()
    };
    assert_eq!(content.validate(), Ok(()));
    assert_eq!(
        err(ReadResponse {
            write_head: 5,
            ..content.clone()
        }
        .validate()),
        "unexpected WriteHead with Content (5)"
    );
    assert_eq!(
        err(ReadResponse {
            status: 1,
            ..content
        }
        .validate()),
        "unexpected Status with Content (JOURNAL_NOT_FOUND)"
    );
    let meta = ReadResponse {
        offset: 15,
        write_head: 20,
        fragment: Some(fragment()),
        fragment_url: "https://host/path?sig=x".into(),
        header: Some(header()),
        ..Default::default()
    };
    assert_eq!(meta.validate(), Ok(()));
    assert_eq!(
        err(ReadResponse {
            offset: 20,
            ..meta.clone()
        }
        .validate()),
        "invalid Offset (20; expected 10 <= offset < 20)"
    );
    assert_eq!(
        err(ReadResponse {
            write_head: 19,
            ..meta.clone()
        }
        .validate()),
        "invalid WriteHead (19; expected >= 20)"
    );
    let mut bad_fragment = meta.clone();
    bad_fragment.fragment.as_mut().unwrap().journal = String::new();
    assert_eq!(
        err(bad_fragment.validate()),
        "Fragment.Journal: invalid length (0; expected 4 <= length <= 512)"
    );
    assert_eq!(
        err(ReadResponse {
            offset: 3,
            fragment: None,
            fragment_url: String::new(),
            ..meta.clone()
        }
        .validate()),
        "unexpected Offset without Fragment or Content (3)"
    );
    assert_eq!(
        err(ReadResponse {
            status: 1000,
            ..meta
        }
        .validate()),
        "Status: invalid status (1000)"
    );

    let ok = AppendResponse {
        header: Some(header()),
        commit: Some(fragment()),
        registers: Some(LabelSet::default()),
        ..Default::default()
    };
    assert_eq!(ok.validate(), Ok(()));
    assert_eq!(
        err(AppendResponse {
            commit: None,
            ..ok.clone()
        }
        .validate()),
        "expected Commit"
    );
    assert_eq!(
        err(AppendResponse {
            registers: None,
            ..ok.clone()
        }
        .validate()),
        "expected Registers"
    );
    assert_eq!(
        err(AppendResponse { header: None, ..ok }.validate()),
        "Header.Route: invalid Primary (0; expected -1 <= Primary < 0)"
    );
}

#[test]
fn label_selector_validation_and_matching() {
    let sel = parse_label_selector("name:prefix=a/, topic in (x, y), !deleted").unwrap();
    let mut set = LabelSet::default();
    set.add_value("name", "a/journal");
    set.add_value("topic", "y");
    assert!(label_selector_matches(&sel, &set));
    set.add_value("deleted", "true");
    assert!(!label_selector_matches(&sel, &set));
    let bad = LabelSelector {
        include: Some(LabelSet {
            labels: vec![Label {
                name: "b".into(),
                value: String::new(),
                prefix: false,
            }],
        }),
        exclude: None,
    };
    assert_eq!(
        err(bad.validate()),
        "Include.Labels[0].Name: invalid length (1; expected 2 <= length <= 64)"
    );
}

// ---- Property tests over the character classes of docs/protocol.md#character-classes ----

/// Characters the test knows the class of: (char, in token class, in path class).
const CHARS: &[(char, bool, bool)] = &[
    ('a', true, true),
    ('Z', true, true),
    ('7', true, true),
    ('-', true, true),
    ('_', true, true),
    ('+', true, true),
    ('.', true, true),
    ('/', true, true),
    ('é', true, true),
    ('日', true, true),
    ('ß', true, true),
    ('٣', true, true),
    ('½', true, true),
    ('Ⅻ', true, true),
    ('ǅ', true, true),
    ('ʰ', true, true),
    ('=', false, true),
    ('%', false, true),
    (' ', false, false),
    ('#', false, false),
    ('!', false, false),
    ('$', false, false),
    ('|', false, false),
    (':', false, false),
    (';', false, false),
    ('\t', false, false),
    ('\u{093E}', false, false),
    ('\u{0301}', false, false),
    ('😀', false, false),
    ('\u{200B}', false, false),
    (',', false, false),
    ('(', false, false),
];

fn char_index() -> impl Strategy<Value = usize> {
    // Mostly valid path characters, with '/' and '.' frequent enough to
    // produce clean-path corner cases.
    prop_oneof![
        6 => 0usize..18,
        2 => Just(7usize),
        2 => Just(6usize),
        1 => 0usize..CHARS.len(),
    ]
}

/// Independent model of Go's clean-path rule for a non-empty string.
fn model_is_clean_unrooted(s: &str) -> bool {
    if s.starts_with('/') {
        return false;
    } else if s == "." {
        return true; // Clean(".") == "."
    }
    let mut leading_dotdots = true;
    for seg in s.split('/') {
        match seg {
            "" | "." => return false,
            ".." if !leading_dotdots => return false,
            ".." => {}
            _ => leading_dotdots = false,
        }
    }
    true
}

fn model_path_component(s: &str, chars: &[usize], min: usize, max: usize) -> bool {
    s.len() >= min
        && s.len() <= max
        && chars.iter().all(|&i| CHARS[i].2)
        && (s.is_empty() || model_is_clean_unrooted(s))
}

fn valid_segment() -> impl Strategy<Value = String> {
    proptest::collection::vec(0usize..16, 1..6)
        .prop_map(|v| {
            v.into_iter()
                .filter(|&i| i != 7)
                .map(|i| CHARS[i].0)
                .collect::<String>()
        })
        .prop_filter("non-empty, not dots", |s| {
            !s.is_empty() && s != "." && s != ".."
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Journal names: acceptance equals the model (length, path class,
    /// clean, unrooted), for arbitrary strings over the class table.
    #[test]
    fn journal_name_acceptance_matches_go_model(chars in proptest::collection::vec(char_index(), 0..14)) {
        let s: String = chars.iter().map(|&i| CHARS[i].0).collect();
        let expected = match s.find(';') {
            None => model_path_component(&s, &chars, 4, 512),
            Some(at) => {
                let n = s[..at].chars().count();
                let meta = &s[at + 1..];
                let meta_chars: Vec<usize> = chars[n + 1..].to_vec();
                model_path_component(&s[..at], &chars[..n], 4, 512)
                    && !meta.is_empty()
                    && model_path_component(meta, &meta_chars, 1, 512)
            }
        };
        prop_assert_eq!(validate_journal_name(&s).is_ok(), expected, "{:?}", s);
    }

    /// Tokens (label names): acceptance equals the token class and length.
    #[test]
    fn token_acceptance_matches_go_model(chars in proptest::collection::vec(char_index(), 0..8)) {
        let s: String = chars.iter().map(|&i| CHARS[i].0).collect();
        let expected = (2..=64).contains(&s.len()) && chars.iter().all(|&i| CHARS[i].1);
        prop_assert_eq!(validate_token(&s, TOKEN_SYMBOLS, 2, 64).is_ok(), expected, "{:?}", s);
    }

    /// Names built from valid segments are always accepted.
    #[test]
    fn generated_valid_journal_names_are_accepted(segments in proptest::collection::vec(valid_segment(), 1..5), meta in proptest::option::of(valid_segment())) {
        let mut name = segments.join("/");
        while name.len() < 4 { name.push('x'); }
        if let Some(meta) = meta { name = format!("{name};{meta}"); }
        prop_assert!(validate_journal_name(&name).is_ok(), "{:?}", name);
    }

    /// Inserting one character outside the path class is always rejected
    /// as not a valid token.
    #[test]
    fn one_invalid_character_is_rejected(segments in proptest::collection::vec(valid_segment(), 1..4), bad in (18usize..CHARS.len()).prop_filter("not ';'", |i| CHARS[*i].0 != ';'), at in any::<prop::sample::Index>()) {
        let name = format!("{}xxxx", segments.join("/"));
        let positions: Vec<usize> = name.char_indices().map(|(i, _)| i).collect();
        let pos = positions[at.index(positions.len())];
        let bad_char = CHARS[bad].0;
        let mut broken = name.clone();
        broken.insert(pos, bad_char);
        let e = validate_journal_name(&broken).unwrap_err();
        prop_assert!(matches!(e.kind(), ValidationErrorKind::NotAToken(_)), "{:?}: {}", broken, e);
    }
}

// ---- Selector and label-set round trips ----

fn label_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(0usize..16, 2..8)
        .prop_map(|v| v.into_iter().map(|i| CHARS[i].0).collect())
}

fn label_value() -> impl Strategy<Value = String> {
    proptest::collection::vec(0usize..18, 1..8)
        .prop_map(|v| v.into_iter().map(|i| CHARS[i].0).collect())
}

/// A valid label set (prefix flags allowed when `prefix`).
fn label_set(prefix: bool) -> impl Strategy<Value = LabelSet> {
    proptest::collection::vec(
        (
            label_name(),
            proptest::option::of(proptest::collection::vec(
                (label_value(), any::<bool>()),
                1..4,
            )),
            any::<bool>(),
        ),
        0..5,
    )
    .prop_map(move |groups| {
        let mut set = LabelSet::default();
        for (name, values, p) in groups {
            match values {
                None => set.add_value(
                    &if prefix && p {
                        format!("{name}:prefix")
                    } else {
                        name.clone()
                    },
                    "",
                ),
                Some(values) => {
                    for (v, vp) in values {
                        let n = if prefix && vp {
                            format!("{name}:prefix")
                        } else {
                            name.clone()
                        };
                        set.add_value(&n, &v);
                    }
                }
            }
        }
        set
    })
    .prop_filter("valid set", move |s| validate_label_set(s, prefix).is_ok())
}

/// `sel` as the parser returns it: an empty include or exclude is left out.
fn without_empty_sets(sel: LabelSelector) -> LabelSelector {
    let keep = |set: Option<LabelSet>| set.filter(|s| !s.labels.is_empty());
    LabelSelector {
        include: keep(sel.include),
        exclude: keep(sel.exclude),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// parse(display(x)) == x for every valid selector (empty sets aside).
    #[test]
    fn selector_display_parse_round_trip(include in label_set(true), exclude in label_set(true)) {
        let sel = LabelSelector { include: Some(include), exclude: Some(exclude) };
        let text = SelectorDisplay(&sel).to_string();
        let parsed = parse_label_selector(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed, without_empty_sets(sel), "{}", text);
    }

    /// A label set (no prefix flags) survives the text form as an include
    /// selector, and as an exclude selector.
    #[test]
    fn label_set_round_trips_through_selector_text(set in label_set(false)) {
        for (include, exclude) in [(set.clone(), LabelSet::default()), (LabelSet::default(), set.clone())] {
            let sel = LabelSelector { include: Some(include), exclude: Some(exclude) };
            let text = SelectorDisplay(&sel).to_string();
            prop_assert_eq!(parse_label_selector(&text).unwrap(), without_empty_sets(sel));
        }
    }

    /// Parsing arbitrary text never panics, and whatever parses displays
    /// to a canonical form that parses back to the same selector.
    #[test]
    fn selector_parse_any_text(chars in proptest::collection::vec(prop_oneof![
        4 => char_index().prop_map(|i| CHARS[i].0),
        1 => proptest::sample::select(vec![' ', ',', '=', '!', '(', ')', ':']),
    ], 0..24), words in proptest::collection::vec(proptest::sample::select(vec![" in ", " not in ", " notin ", ":prefix", "!=", "==", ", "]), 0..3)) {
        let mut text: String = chars.into_iter().collect();
        for (i, w) in words.iter().enumerate() {
            let at = text.char_indices().map(|(i, _)| i).nth(i * 3).unwrap_or(text.len());
            text.insert_str(at, w);
        }
        if let Ok(sel) = parse_label_selector(&text) {
            let shown = SelectorDisplay(&sel).to_string();
            prop_assert_eq!(parse_label_selector(&shown).unwrap(), sel);
        }
    }
}

// ---------------------------------------------------------------------------
// Requests are validated client-side, before any RPC (issue 10, item 5).
// ---------------------------------------------------------------------------

mod requests {
    use gazette_core::append::{
        AppendConfig, AppendService, Appender, AppenderOutput, RequestError, StartError,
    };
    use gazette_core::list::{
        ApplyBatches, FragmentPager, ListError, WatchAction, WatchedList, check_list_request,
        get_journal_request,
    };
    use gazette_core::proto::{
        AppendRequest, ApplyRequest, FragmentsRequest, Header, Label, LabelSelector, LabelSet,
        ListRequest, ReadRequest, apply_request::Change,
    };
    use gazette_core::read::{ReadError, ReadOutput, Reader, RetryOutput, RetryReader};
    use gazette_core::validate::ValidationError;

    /// Names the live audit saw a RetryReader retry forever.
    const INVALID_NAMES: [&str; 6] = ["", "has space", "/leading", "trailing/", "a//b", "dot/./x"];

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.into(),
            value: value.into(),
            prefix: false,
        }
    }

    fn set(labels: Vec<Label>) -> Option<LabelSet> {
        Some(LabelSet { labels })
    }

    /// A header Go refuses: no route members is fine, but no Etcd block is not.
    fn bad_header() -> Option<Header> {
        Some(Header::default())
    }

    fn read(journal: &str) -> ReadRequest {
        ReadRequest {
            journal: journal.into(),
            ..Default::default()
        }
    }

    fn invalid_reads() -> Vec<(ReadRequest, &'static str)> {
        let mut all: Vec<(ReadRequest, &'static str)> = INVALID_NAMES
            .iter()
            .map(|name| (read(name), "Request.Journal"))
            .collect();
        all.push((
            ReadRequest {
                offset: -2,
                ..read("a/journal")
            },
            "Request",
        ));
        all.push((
            ReadRequest {
                offset: 10,
                end_offset: 5,
                ..read("a/journal")
            },
            "Request",
        ));
        all.push((
            ReadRequest {
                header: bad_header(),
                ..read("a/journal")
            },
            "Request.Header.Route",
        ));
        all.push((
            read("a/journal;bad meta"),
            "Request.Journal.metadata path segment",
        ));
        all
    }

    fn expect_field(err: &ValidationError, field: &str) {
        assert_eq!(err.field(), field, "{err}");
    }

    #[test]
    fn reader_of_an_invalid_request_finishes_without_starting_an_rpc() {
        for (request, field) in invalid_reads() {
            let mut reader = Reader::new(request.clone());
            let outputs: Vec<ReadOutput> = std::iter::from_fn(|| reader.poll_output()).collect();
            match outputs.as_slice() {
                [ReadOutput::Finished(Err(ReadError::InvalidRequest(err)))] => {
                    expect_field(err, field)
                }
                other => panic!("{request:?}: {other:?}"),
            }
            assert!(reader.is_finished());
        }
    }

    #[test]
    fn retry_reader_of_an_invalid_request_stops_at_once() {
        for (request, field) in invalid_reads() {
            let mut reader = RetryReader::new(request.clone());
            let outputs: Vec<RetryOutput> = std::iter::from_fn(|| reader.poll_output()).collect();
            match outputs.as_slice() {
                [RetryOutput::Stopped(ReadError::InvalidRequest(err))] => expect_field(err, field),
                other => panic!("{request:?}: {other:?}"),
            }
            assert!(reader.is_stopped());
        }
    }

    #[test]
    fn retry_reader_seeking_to_an_invalid_offset_stops_instead_of_retrying() {
        let mut reader = RetryReader::new(read("a/journal"));
        reader.seek(-5);
        let outputs: Vec<RetryOutput> = std::iter::from_fn(|| reader.poll_output()).collect();
        assert!(
            matches!(
                outputs.as_slice(),
                [RetryOutput::Stopped(ReadError::InvalidRequest(_))]
            ),
            "{outputs:?}"
        );
    }

    fn append(journal: &str) -> AppendRequest {
        AppendRequest {
            journal: journal.into(),
            ..Default::default()
        }
    }

    fn invalid_appends() -> Vec<(AppendRequest, &'static str)> {
        let mut all: Vec<(AppendRequest, &'static str)> = INVALID_NAMES
            .iter()
            .filter(|name| !name.is_empty()) // "" is MissingJournal
            .map(|name| (append(name), "Request.Journal"))
            .collect();
        all.push((
            AppendRequest {
                header: bad_header(),
                ..append("a/journal")
            },
            "Request.Header.Route",
        ));
        all.push((
            AppendRequest {
                check_registers: Some(LabelSelector {
                    include: set(vec![label("bad name", "v")]),
                    exclude: None,
                }),
                ..append("a/journal")
            },
            "Request.CheckRegisters.Include.Labels[0].Name",
        ));
        all.push((
            AppendRequest {
                union_registers: set(vec![label("bb", "x"), label("aa", "y")]),
                ..append("a/journal")
            },
            "Request.UnionRegisters",
        ));
        all.push((
            AppendRequest {
                subtract_registers: set(vec![label("aa", "bad value")]),
                ..append("a/journal")
            },
            "Request.SubtractRegisters.Labels[0].Value",
        ));
        all.push((
            append("a/journal;"),
            "Request.Journal.metadata path segment",
        ));
        all
    }

    fn expect_invalid(err: RequestError, field: &str) {
        match err {
            RequestError::Invalid(err) => expect_field(&err, field),
            other => panic!("{field}: {other:?}"),
        }
    }

    #[test]
    fn appender_refuses_an_invalid_preamble_with_a_typed_validation_error() {
        assert_eq!(
            Appender::new(append("")).unwrap_err(),
            RequestError::MissingJournal
        );
        for (request, field) in invalid_appends() {
            expect_invalid(Appender::new(request).unwrap_err(), field);
        }
    }

    #[test]
    fn append_service_refuses_an_invalid_request_and_never_dispatches_it() {
        let mut service = AppendService::new(AppendConfig::default());
        for (request, field) in invalid_appends() {
            match service.start_append(&request, &[]) {
                Err(StartError::InvalidRequest(err)) => expect_invalid(err, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        assert!(service.is_idle());
        assert_eq!(service.poll_dispatch(std::time::Instant::now()), None);
    }

    #[test]
    fn appender_strips_the_metadata_segment_from_everything_it_sends() {
        let mut appender = Appender::new(append("a/journal;some/meta")).unwrap();
        assert_eq!(appender.request().journal, "a/journal");
        appender.commit();
        let outputs: Vec<AppenderOutput> = std::iter::from_fn(|| appender.poll_output()).collect();
        assert_eq!(
            outputs[0],
            AppenderOutput::OpenStream {
                journal: "a/journal".into()
            }
        );
        for out in &outputs {
            if let AppenderOutput::Send(message) = out {
                assert!(!message.journal.contains(';'), "{message:?}");
            }
        }
    }

    #[test]
    fn append_service_dispatches_metadata_journals_under_the_plain_name() {
        let mut service = AppendService::new(AppendConfig::default());
        let ticket = service
            .start_append(&append("a/journal;some/meta"), &[])
            .unwrap();
        service.write(&ticket, b"x").unwrap();
        let _future = service.release(ticket).unwrap();
        // The same journal without the segment joins the same queue.
        let ticket = service.start_append(&append("a/journal"), &[]).unwrap();
        let _future = service.release(ticket).unwrap();
        assert_eq!(service.queued("a/journal;some/meta"), vec![]);
        assert_eq!(service.queued("a/journal").len(), 1);
        let dispatch = service
            .poll_dispatch(std::time::Instant::now())
            .expect("a dispatch");
        assert_eq!(dispatch.request.journal, "a/journal");
    }

    fn selector(include: Vec<Label>) -> ListRequest {
        ListRequest {
            selector: Some(LabelSelector {
                include: set(include),
                exclude: None,
            }),
            ..Default::default()
        }
    }

    fn invalid_lists() -> Vec<(ListRequest, &'static str)> {
        vec![
            (
                selector(vec![label("bad name", "x")]),
                "Request.Selector.Include.Labels[0].Name",
            ),
            (
                selector(vec![label("bb", "1"), label("aa", "1")]),
                "Request.Selector.Include",
            ),
            (
                selector(vec![Label {
                    name: "prefix".into(),
                    value: "no/slash".into(),
                    prefix: false,
                }]),
                "Request.Selector.Include.Labels[\"prefix\"]",
            ),
        ]
    }

    fn expect_list_invalid(err: ListError, field: &str) {
        match err {
            ListError::InvalidRequest(err) => assert!(err.field().starts_with(field), "{err}"),
            other => panic!("{field}: {other:?}"),
        }
    }

    #[test]
    fn list_requests_are_checked_before_the_rpc() {
        for (request, field) in invalid_lists() {
            expect_list_invalid(check_list_request(&request).unwrap_err(), field);
        }
        check_list_request(&ListRequest::default()).unwrap();
    }

    #[test]
    fn watched_list_of_an_invalid_selector_signals_the_error_and_stops() {
        for (request, field) in invalid_lists() {
            let mut watch = WatchedList::new(&request);
            let actions: Vec<WatchAction> = std::iter::from_fn(|| watch.poll_action()).collect();
            match actions.as_slice() {
                [WatchAction::Signal(Err(err))] => expect_list_invalid(err.clone(), field),
                other => panic!("{field}: {other:?}"),
            }
            assert!(watch.is_stopped());
        }
    }

    #[test]
    fn get_journal_refuses_an_invalid_name() {
        for name in INVALID_NAMES {
            expect_list_invalid(get_journal_request(name).unwrap_err(), "Request.Journal");
        }
        let request = get_journal_request("a/journal;some/meta").unwrap();
        assert_eq!(
            request.selector.unwrap().include.unwrap().labels[0].value,
            "a/journal"
        );
    }

    #[test]
    fn apply_and_list_fragments_refuse_invalid_requests() {
        for name in INVALID_NAMES {
            let request = ApplyRequest {
                changes: vec![Change {
                    delete: name.into(),
                    expect_mod_revision: -1,
                    upsert: None,
                }],
            };
            assert!(ApplyBatches::new(request, 0).is_err(), "{name:?}");
            let request = FragmentsRequest {
                journal: name.into(),
                ..Default::default()
            };
            let err = FragmentPager::new(request).unwrap_err();
            assert_eq!(err.field(), "Journal", "{err}");
        }
    }
}
