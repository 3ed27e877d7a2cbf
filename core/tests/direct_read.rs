//! Full simulated direct reads: a [`Reader`] whose broker hands out a
//! fragment URL, driven through the [`DirectFetch`] adapter over the shared
//! fragment test vectors (`core/tests/data/fragments`, served as `file://`
//! URLs below that directory) and over hand-made HTTP bodies.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use gazette_core::proto::{CompressionCodec, Fragment, ReadRequest, ReadResponse};
use gazette_core::read::{
    DirectError, DirectFetch, FetchTarget, FileUrlError, ReadAction, ReadError, ReadEvent,
    ReadInput, ReadOutput, Reader, file_url_path,
};
use proptest::prelude::*;
use serde_json::Value;

const JOURNAL: &str = "a/journal";

fn testdata_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fragments");
    assert!(
        dir.join("manifest.json").is_file(),
        "fragment test vectors missing: expected {}/manifest.json",
        dir.display()
    );
    dir
}

#[derive(Debug, Clone)]
struct Vector {
    id: String,
    path: String,
    codec: CompressionCodec,
    begin: i64,
    end: i64,
    content_sha1: String,
    error: Option<String>,
}

fn vectors() -> &'static [Vector] {
    static VECTORS: OnceLock<Vec<Vector>> = OnceLock::new();
    VECTORS.get_or_init(|| {
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(testdata_dir().join("manifest.json")).unwrap())
                .unwrap();
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| Vector {
                id: f["id"].as_str().unwrap().to_owned(),
                path: f["path"].as_str().unwrap().to_owned(),
                codec: CompressionCodec::from_str_name(f["codec"].as_str().unwrap()).unwrap(),
                begin: f["begin"].as_i64().unwrap(),
                end: f["end"].as_i64().unwrap(),
                content_sha1: f["content_sha1"].as_str().unwrap().to_owned(),
                error: f["error"].as_str().map(str::to_owned),
            })
            .collect()
    })
}

/// Valid, non-empty vectors: a metadata frame needs `begin <= offset < end`.
fn readable_vectors() -> Vec<&'static Vector> {
    vectors()
        .iter()
        .filter(|v| v.path.starts_with("valid/") && v.begin < v.end)
        .collect()
}

fn vector(id: &str) -> &'static Vector {
    vectors().iter().find(|v| v.id == id).unwrap()
}

fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// How the simulated store answers the GET.
#[derive(Debug, Clone)]
enum Store {
    /// Serve `file://` URLs below the test vectors directory.
    Files,
    /// Answer HTTP with this status, `Content-Encoding` and body.
    Http {
        status: u16,
        content_encoding: Option<&'static str>,
        body: Bytes,
    },
}

/// What the simulated driver saw.
#[derive(Debug, Default)]
struct Run {
    transcript: Vec<String>,
    content: Vec<u8>,
    first_offset: Option<i64>,
    outcome: Option<Result<(), ReadError>>,
    accept_encoding: Option<&'static str>,
}

impl Run {
    fn drain(&mut self, reader: &mut Reader) -> Vec<ReadAction> {
        let mut actions = Vec::new();
        while let Some(out) = reader.poll_output() {
            self.transcript.push(format!("< {out}"));
            match out {
                ReadOutput::Event(ReadEvent::Content { offset, content }) => {
                    let expected = self.first_offset.get_or_insert(offset);
                    assert_eq!(
                        offset,
                        *expected + self.content.len() as i64,
                        "contiguous content"
                    );
                    self.content.extend_from_slice(&content);
                }
                ReadOutput::Finished(outcome) => {
                    assert!(self.outcome.is_none(), "finished twice");
                    self.outcome = Some(outcome);
                }
                ReadOutput::Action(action) => actions.push(action),
                ReadOutput::Event(ReadEvent::Metadata(_))
                | ReadOutput::Event(ReadEvent::OffsetJump { .. }) => {}
            }
        }
        actions
    }

    fn feed(&mut self, reader: &mut Reader, input: ReadInput) {
        self.transcript.push(format!("> {input}"));
        reader.handle(input);
    }
}

/// Reads `fragment` directly from `offset` (the broker's metadata frame
/// points at `url`), feeding the body in chunks of the cycled `chunks`
/// sizes; `cut` stops the body early (a truncated transfer).
fn direct_read(
    fragment: Fragment,
    (offset, end_offset): (i64, i64),
    url: &str,
    store: &Store,
    chunks: &[usize],
    cut: Option<usize>,
    record_content: bool,
) -> Run {
    let mut run = Run::default();
    let mut reader = Reader::new(ReadRequest {
        journal: JOURNAL.into(),
        offset,
        end_offset,
        do_not_proxy: true,
        ..Default::default()
    });
    let mut pending = run.drain(&mut reader);
    assert!(matches!(pending[..], [ReadAction::StartRpc { .. }]));
    run.feed(&mut reader, ReadInput::RpcStarted);
    run.feed(
        &mut reader,
        ReadInput::Frame(ReadResponse {
            offset,
            write_head: fragment.end,
            fragment: Some(fragment.clone()),
            fragment_url: url.into(),
            ..Default::default()
        }),
    );
    run.feed(&mut reader, ReadInput::RpcClosed);
    pending = run.drain(&mut reader);
    let Some(action) = pending.pop() else {
        return run;
    };
    let mut fetch = DirectFetch::from_action(&action).expect("OpenFragment");
    run.accept_encoding = Some(fetch.request_headers()[0].1);

    let body = match (fetch.target(Some(&testdata_dir())), store) {
        (Ok(FetchTarget::File { path }), Store::Files) => match std::fs::read(&path) {
            Ok(bytes) => {
                fetch.file_opened();
                Bytes::from(bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                fetch.file_not_found();
                Bytes::new()
            }
            Err(e) => panic!("{}: {e}", path.display()),
        },
        (
            Ok(FetchTarget::Http { .. }),
            Store::Http {
                status,
                content_encoding,
                body,
            },
        ) => {
            fetch.http_response(*status, None, *content_encoding);
            body.clone()
        }
        (Err(e), _) => {
            fetch.open_failed_with(e);
            Bytes::new()
        }
        (target, store) => panic!("{target:?} from {store:?}"),
    };
    let body = body.slice(..cut.unwrap_or(body.len()).min(body.len()));

    let mut fed = 0;
    let mut sizes = chunks.iter().copied().cycle();
    while !reader.is_finished() {
        while let Some(input) = fetch.poll_input() {
            if record_content || !matches!(input, ReadInput::DirectContent(_)) {
                run.feed(&mut reader, input);
            } else {
                reader.handle(input);
            }
            let actions = run.drain(&mut reader);
            assert!(actions.iter().all(|a| *a == ReadAction::CloseDirect));
            if reader.is_finished() {
                break;
            }
        }
        if reader.is_finished() {
            break;
        }
        assert!(!fetch.is_done(), "the adapter ended without a final input");
        assert!(fetch.wants_input(), "nothing queued, so input is wanted");
        if fed == body.len() {
            fetch.feed_end();
        } else {
            let n = sizes.next().unwrap().clamp(1, body.len() - fed);
            fetch.feed(body.slice(fed..fed + n));
            fed += n;
        }
    }
    if !record_content {
        run.transcript
            .retain(|line| !line.starts_with("< Content") && !line.starts_with("> DirectContent"));
    }
    run
}

fn fragment_of(v: &Vector) -> Fragment {
    Fragment {
        journal: JOURNAL.into(),
        begin: v.begin,
        end: v.end,
        compression_codec: v.codec as i32,
        ..Default::default()
    }
}

fn file_url(v: &Vector) -> String {
    format!("file:///{}", v.path)
}

fn read_vector(v: &Vector, offset: i64, chunks: &[usize], cut: Option<usize>) -> Run {
    direct_read(
        fragment_of(v),
        (offset, 0),
        &file_url(v),
        &Store::Files,
        chunks,
        cut,
        false,
    )
}

/// The whole content of a valid vector, read in one chunk and checked
/// against the manifest's SHA-1.
fn reference_content(v: &Vector) -> Vec<u8> {
    let run = read_vector(v, v.begin, &[usize::MAX], None);
    assert_eq!(run.outcome, Some(Ok(())), "{}: {:?}", v.id, run.transcript);
    assert_eq!(sha1_hex(&run.content), v.content_sha1, "{}", v.id);
    run.content
}

#[test]
fn open_fragment_url_whole_fragment_from_begin_every_codec() {
    let codecs: std::collections::BTreeSet<_> = readable_vectors()
        .iter()
        .map(|v| {
            let content = reference_content(v);
            assert_eq!(content.len() as i64, v.end - v.begin, "{}", v.id);
            v.codec.as_str_name()
        })
        .collect();
    assert_eq!(codecs.len(), 5, "every codec was read: {codecs:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any vector, any offset within it, any chunking: the content from the
    /// offset is exactly the tail of the fragment's content, then a clean end.
    #[test]
    fn open_fragment_url_from_any_offset_with_any_chunking(
        index in any::<prop::sample::Index>(),
        offset_frac in 0.0f64..1.0,
        chunks in prop::collection::vec(1usize..9000, 1..6),
    ) {
        let readable = readable_vectors();
        let v = readable[index.index(readable.len())];
        let full = reference_content(v);
        let skip = ((full.len() as f64) * offset_frac) as usize;
        let run = read_vector(v, v.begin + skip as i64, &chunks, None);
        prop_assert_eq!(&run.outcome, &Some(Ok(())), "{}", v.id);
        prop_assert!(run.content == full[skip..], "{}: content from {} differs", v.id, skip);
        if !run.content.is_empty() {
            prop_assert_eq!(run.first_offset, Some(v.begin + skip as i64));
        }
    }

    /// A transfer cut anywhere short of the whole body never ends cleanly:
    /// the Reader finishes with an unexpected EOF (or, for a cut inside a
    /// snappy/gzip/zstd frame header, whatever the codec names corrupt),
    /// after a prefix of the content.
    #[test]
    fn open_fragment_url_truncated_transfer_fails_the_read(
        index in any::<prop::sample::Index>(),
        cut_frac in 0.0f64..1.0,
        chunks in prop::collection::vec(1usize..5000, 1..4),
    ) {
        let readable = readable_vectors();
        let v = readable[index.index(readable.len())];
        let full = reference_content(v);
        let body_len = std::fs::metadata(testdata_dir().join(&v.path)).unwrap().len() as usize;
        let cut = ((body_len as f64) * cut_frac) as usize;
        let run = read_vector(v, v.begin, &chunks, Some(cut));
        let outcome = run.outcome.clone().unwrap();
        prop_assert!(outcome.is_err(), "{}: a body cut at {} of {} ended cleanly", v.id, cut, body_len);
        prop_assert!(full.starts_with(&run.content), "{}", v.id);
        if let Err(ReadError::Direct(err)) = &outcome {
            prop_assert!(
                matches!(err, DirectError::UnexpectedEof | DirectError::Other(_)),
                "{}: {:?}", v.id, err
            );
        } else {
            prop_assert!(false, "{}: not a direct error: {:?}", v.id, outcome);
        }
    }
}

#[test]
fn open_fragment_url_from_middle_discards_the_bytes_before_the_offset() {
    for id in [
        "snappy-chunks",
        "zstd-multiframe",
        "gzip-multimember",
        "gzod-large",
        "none-large",
    ] {
        let v = vector(id);
        let full = reference_content(v);
        let skip = full.len() / 2 + 7;
        let run = read_vector(v, v.begin + skip as i64, &[1000, 3], None);
        assert_eq!(run.outcome, Some(Ok(())), "{id}");
        assert_eq!(run.first_offset, Some(v.begin + skip as i64), "{id}");
        assert_eq!(run.content, full[skip..], "{id}");
        assert_eq!(
            run.transcript[5..7],
            [
                format!(
                    "< OpenFragment {JOURNAL}[{}, {}) offset={} url={}",
                    v.begin,
                    v.end,
                    v.begin + skip as i64,
                    file_url(v)
                ),
                "> DirectOpened".to_owned(),
            ],
            "{id}: opened once the discard is done"
        );
    }
}

#[test]
fn open_fragment_url_missing_file_is_404_not_found() {
    let v = vector("snappy-small");
    let url = "file:///valid/0000000100000000-0000000100000190-0000000000000000000000000000000000000000.sz";
    let run = direct_read(
        fragment_of(v),
        (v.begin, 0),
        url,
        &Store::Files,
        &[64],
        None,
        false,
    );
    assert_eq!(
        run.outcome.unwrap().unwrap_err().to_string(),
        format!("!OK fetching (404 Not Found, {url:?})")
    );
    assert!(run.content.is_empty());
}

#[test]
fn open_fragment_url_http_status_not_200_fails_the_open() {
    let v = vector("none-small");
    for (status, text) in [(404, "404 Not Found"), (403, "403 Forbidden"), (599, "599")] {
        let store = Store::Http {
            status,
            content_encoding: None,
            body: Bytes::from_static(b"<Error>AccessDenied</Error>"),
        };
        let url = "https://bucket.example/frag?sig=1";
        let run = direct_read(
            fragment_of(v),
            (v.begin, 0),
            url,
            &store,
            &[64],
            None,
            false,
        );
        assert_eq!(
            run.outcome,
            Some(Err(ReadError::Direct(DirectError::HttpStatus {
                status: text.into(),
                url: url.into(),
            })))
        );
        assert_eq!(
            run.transcript.last().unwrap(),
            // The signed query is not printed (Go prints the whole URL).
            &format!("< Finished error: !OK fetching ({text}, \"https://bucket.example/frag\")")
        );
    }
}

#[test]
fn open_fragment_url_short_long_and_corrupt_vectors_fail_with_their_class() {
    for v in vectors()
        .iter()
        .filter(|v| v.error.is_some() && v.begin < v.end)
    {
        let run = read_vector(v, v.begin, &[777], None);
        let outcome = run.outcome.unwrap();
        let expected = match v.error.as_deref().unwrap() {
            "unexpected_eof" => {
                matches!(outcome, Err(ReadError::Direct(DirectError::UnexpectedEof)))
            }
            "content_too_long" => matches!(
                outcome,
                Err(ReadError::Direct(DirectError::DidNotReadExpectedEof))
            ),
            "corrupt" => {
                matches!(&outcome, Err(ReadError::Direct(DirectError::Other(t))) if t.contains("corrupt"))
            }
            other => panic!("unknown error class {other}"),
        };
        assert!(expected, "{}: {:?}", v.id, outcome);
        if v.error.as_deref() == Some("content_too_long") {
            assert_eq!(
                run.content.len() as i64,
                v.end - v.begin,
                "{}: all content up to end",
                v.id
            );
        }
    }
}

#[test]
fn open_fragment_url_truncated_before_the_offset_fails_at_open() {
    let v = vector("zstd-large");
    let run = read_vector(v, v.end - 10, &[4096], Some(100));
    assert!(run.content.is_empty());
    assert_eq!(
        run.outcome,
        Some(Err(ReadError::Direct(DirectError::UnexpectedEof)))
    );
    assert!(
        run.transcript
            .iter()
            .any(|l| l == "> DirectOpenFailed unexpected EOF"),
        "{:#?}",
        run.transcript
    );
}

#[test]
fn open_fragment_url_wrong_codec_fails_at_open_when_pre_seek_needed() {
    // SNAPPY over gzip bytes, reading from begin + 5.
    let v = vector("gzip-small");
    let mut fragment = fragment_of(v);
    fragment.compression_codec = CompressionCodec::Snappy as i32;
    let run = direct_read(
        fragment,
        (v.begin + 5, 0),
        &file_url(v),
        &Store::Files,
        &[50],
        None,
        false,
    );
    assert!(
        matches!(&run.outcome, Some(Err(ReadError::Direct(DirectError::Other(t)))) if t.contains("corrupt SNAPPY")),
        "{:?}",
        run.outcome
    );
    assert!(
        run.transcript
            .iter()
            .any(|l| l.starts_with("> DirectOpenFailed corrupt SNAPPY"))
    );
}

#[test]
fn reader_direct_read_with_end_offset_stops_exactly() {
    let v = vector("snappy-large");
    let full = reference_content(v);
    let run = direct_read(
        fragment_of(v),
        (v.begin + 100, v.begin + 70_000),
        &file_url(v),
        &Store::Files,
        &[3000],
        None,
        false,
    );
    assert_eq!(run.outcome, Some(Ok(())));
    assert_eq!(run.content, full[100..70_000]);
    assert!(run.transcript.iter().any(|l| l == "< CloseDirect"));
}

fn gzip(data: &[u8]) -> Bytes {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap().into()
}

fn hello_fragment(codec: CompressionCodec) -> Fragment {
    Fragment {
        journal: JOURNAL.into(),
        begin: 100,
        end: 113,
        compression_codec: codec as i32,
        ..Default::default()
    }
}

#[test]
fn open_fragment_url_gzip_transcript_from_offset() {
    // A GZIP fragment served over HTTP, read from begin + 7 in 5-byte chunks.
    let store = Store::Http {
        status: 200,
        content_encoding: None,
        body: gzip(b"hello, world\n"),
    };
    let run = direct_read(
        hello_fragment(CompressionCodec::Gzip),
        (107, 0),
        "https://store.example/a/journal/frag.gz?sig=x",
        &store,
        &[5],
        None,
        true,
    );
    assert_eq!(run.accept_encoding, Some("gzip"));
    assert_eq!(run.content, b"world\n");
    insta::assert_snapshot!(run.transcript.join("\n"));
}

#[test]
fn open_fragment_url_transport_gzip_over_none_is_undone() {
    // Quirk 8: a store adding `Content-Encoding: gzip` to a NONE fragment.
    let store = Store::Http {
        status: 200,
        content_encoding: Some("gzip"),
        body: gzip(b"hello, world\n"),
    };
    let url = "https://store.example/frag.raw";
    let run = direct_read(
        hello_fragment(CompressionCodec::None),
        (100, 0),
        url,
        &store,
        &[4],
        None,
        false,
    );
    assert_eq!(run.accept_encoding, Some("identity"));
    assert_eq!(run.outcome, Some(Ok(())));
    assert_eq!(run.content, b"hello, world\n");

    let store = Store::Http {
        status: 200,
        content_encoding: Some("br"),
        body: Bytes::from_static(b"hello, world\n"),
    };
    let run = direct_read(
        hello_fragment(CompressionCodec::None),
        (100, 0),
        url,
        &store,
        &[4],
        None,
        false,
    );
    assert_eq!(
        run.outcome,
        Some(Err(ReadError::Direct(DirectError::Other(
            "unsupported Content-Encoding \"br\"".into()
        ))))
    );
}

#[test]
fn open_fragment_url_transport_failure_mid_body_is_direct_failed() {
    let mut fetch = DirectFetch::new(
        hello_fragment(CompressionCodec::None),
        100,
        "https://x/y".into(),
    );
    fetch.http_response(200, Some("OK"), None);
    assert_eq!(fetch.poll_input(), Some(ReadInput::DirectOpened));
    fetch.feed(Bytes::from_static(b"hello"));
    assert_eq!(
        fetch.poll_input(),
        Some(ReadInput::DirectContent(Bytes::from_static(b"hello")))
    );
    assert!(fetch.wants_input());
    fetch.fail("connection reset by peer");
    assert_eq!(
        fetch.poll_input(),
        Some(ReadInput::DirectFailed(DirectError::Other(
            "connection reset by peer".into()
        )))
    );
    assert!(fetch.is_done());
    assert_eq!(fetch.poll_input(), None);
    // Everything after the end is ignored.
    fetch.feed(Bytes::from_static(b"more"));
    fetch.feed_end();
    assert_eq!(fetch.poll_input(), None);
    assert!(!fetch.wants_input());
}

#[test]
fn open_fragment_url_file_url_without_root_fails_at_open() {
    let fetch = DirectFetch::new(
        hello_fragment(CompressionCodec::None),
        100,
        "file:///a/b".into(),
    );
    assert!(fetch.is_file_url());
    assert_eq!(
        fetch.target(None),
        Err(FileUrlError::NoFileRoot("file:///a/b".into()))
    );
    let mut fetch = fetch;
    fetch.open_failed_with(fetch.target(None).unwrap_err());
    assert!(matches!(
        fetch.poll_input(),
        Some(ReadInput::DirectOpenFailed(DirectError::Other(_)))
    ));
}

#[test]
fn install_file_transport_maps_file_urls_below_the_root() {
    let root = Path::new("/srv/fragments");
    let ok = |url: &str| file_url_path(root, url).unwrap();
    assert_eq!(
        ok("file:///frags/a/journal/0-1-00.raw"),
        root.join("frags/a/journal/0-1-00.raw")
    );
    assert_eq!(ok("file://localhost/x//./y"), root.join("x/y"));
    // Taken literally: no percent-decoding.
    assert_eq!(ok("file:///j%2Fk/n"), root.join("j%2Fk/n"));
    for url in [
        "file:///../etc/passwd",
        "file:///a/../../b",
        "file:///a/..",
        "file:///",
        "file://",
        "file:///a\\..\\b",
        "file:///a/\0",
    ] {
        assert_eq!(
            file_url_path(root, url),
            Err(FileUrlError::Escapes(url.into())),
            "{url}"
        );
    }
    assert!(matches!(
        file_url_path(root, "file://host/a"),
        Err(FileUrlError::Host { .. })
    ));
    assert!(matches!(
        file_url_path(root, "https://host/a"),
        Err(FileUrlError::NotFileUrl(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the URL, a mapped path lies below the root and has no `..`.
    #[test]
    fn install_file_transport_never_escapes_the_root(path in "[a-z./\\\\%]{0,24}") {
        let root = Path::new("/root/dir");
        if let Ok(mapped) = file_url_path(root, &format!("file://{path}")) {
            prop_assert!(mapped.starts_with(root));
            prop_assert!(mapped != root);
            prop_assert!(mapped.components().all(|c| c != std::path::Component::ParentDir));
        }
    }
}
