//! The fragment decoder against every file of the shared fragment test
//! vectors in `core/tests/data/fragments` (see its README).

use std::path::PathBuf;

use bytes::Bytes;
use gazette_core::fragment::{
    ContentEncoding, FragmentError, FragmentErrorKind, FragmentEvent, FragmentName, FragmentReader,
    Sha1Digest,
};
use gazette_core::proto::CompressionCodec;
use serde_json::Value;

fn testdata_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fragments");
    assert!(
        dir.join("manifest.json").is_file(),
        "fragment test vectors missing: expected {}/manifest.json (they are part of the repository)",
        dir.display()
    );
    dir
}

struct Vector {
    id: String,
    name: String,
    codec: CompressionCodec,
    begin: i64,
    end: i64,
    name_sum: String,
    content_sha1: String,
    expect_decode: bool,
    accepted_errors: Vec<FragmentErrorKind>,
    stored: Bytes,
}

fn kind_of(name: &str) -> FragmentErrorKind {
    match name {
        "unexpected_eof" => FragmentErrorKind::UnexpectedEof,
        "content_too_long" => FragmentErrorKind::ContentTooLong,
        "corrupt" => FragmentErrorKind::Corrupt,
        other => panic!("unknown error kind {other:?} in manifest"),
    }
}

fn vectors() -> Vec<Vector> {
    let dir = testdata_dir();
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let files = manifest["files"].as_array().expect("files array");
    assert!(
        files.len() >= 41,
        "expected at least 41 vectors, found {}",
        files.len()
    );
    files
        .iter()
        .map(|f| {
            let s = |k: &str| {
                f[k].as_str()
                    .unwrap_or_else(|| panic!("{k} of {f}"))
                    .to_owned()
            };
            let mut accepted_errors: Vec<_> = f["also_accepted_errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| kind_of(e.as_str().unwrap()))
                .collect();
            if let Some(e) = f["error"].as_str() {
                accepted_errors.insert(0, kind_of(e));
            }
            Vector {
                id: s("id"),
                name: s("name"),
                codec: CompressionCodec::from_str_name(&s("codec")).unwrap(),
                begin: f["begin"].as_i64().unwrap(),
                end: f["end"].as_i64().unwrap(),
                name_sum: s("name_sum"),
                content_sha1: s("content_sha1"),
                expect_decode: s("expect") == "decode",
                accepted_errors,
                stored: std::fs::read(dir.join(s("path"))).unwrap().into(),
            }
        })
        .collect()
}

/// Reads a whole body fed in `chunk`-byte pieces; returns the content (with
/// offsets checked to be contiguous from `offset`) and the final result.
fn read_all(
    reader: &mut FragmentReader,
    stored: &Bytes,
    chunk: usize,
) -> (Vec<u8>, Result<(), FragmentError>) {
    let mut fed = 0;
    let mut content = Vec::new();
    let mut next = reader.offset().max(reader.requested_offset());
    loop {
        match reader.poll() {
            Ok(FragmentEvent::Content { offset, content: c }) => {
                assert_eq!(offset, next, "content offsets must be contiguous");
                assert!(!c.is_empty());
                next += c.len() as i64;
                assert_eq!(reader.offset(), next);
                content.extend_from_slice(&c);
            }
            Ok(FragmentEvent::NeedInput) => {
                if fed == stored.len() {
                    reader.feed_end();
                } else {
                    let n = chunk.min(stored.len() - fed);
                    reader.feed(stored.slice(fed..fed + n));
                    fed += n;
                }
            }
            Ok(FragmentEvent::Eof) => return (content, Ok(())),
            Err(e) => return (content, Err(e)),
        }
    }
}

fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

#[test]
fn fragment_names_of_every_vector_parse_to_the_manifest_fields() {
    for v in vectors() {
        let name = FragmentName::parse(&v.name).unwrap_or_else(|e| panic!("{}: {e}", v.id));
        assert_eq!(
            (name.begin, name.end, name.codec),
            (v.begin, v.end, v.codec),
            "{}",
            v.id
        );
        assert_eq!(name.sum.to_hex(), v.name_sum, "{}", v.id);
        assert_eq!(name.sum, Sha1Digest::from_hex(&v.name_sum).unwrap());
        if v.begin == v.end {
            assert!(
                name.sum.is_zero(),
                "{}: empty fragments carry the zero sum",
                v.id
            );
        }
        // Formatting gives back the name, except the accepted-only `.gzod`.
        if !v.name.ends_with(".gzod") {
            assert_eq!(name.content_name(), v.name, "{}", v.id);
        }
    }
}

#[test]
fn fragment_reader_decodes_every_vector_as_the_manifest_expects() {
    for v in vectors() {
        for chunk in [1 << 20, 4096, 7] {
            let mut reader = FragmentReader::with_range(
                v.begin,
                v.end,
                v.codec,
                v.begin,
                ContentEncoding::Stored,
            )
            .unwrap();
            let (content, result) = read_all(&mut reader, &v.stored, chunk);
            let what = format!("{} (chunks of {chunk})", v.id);
            assert!(
                content.len() as i64 <= v.end - v.begin,
                "{what}: content past end"
            );
            assert!(reader.offset() <= v.end, "{what}: offset past end");
            if v.expect_decode {
                result.unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(content.len() as i64, v.end - v.begin, "{what}");
                assert_eq!(sha1_hex(&content), v.content_sha1, "{what}");
                assert_eq!(reader.bytes_read(), content.len() as u64);
                assert_eq!(
                    reader.poll(),
                    Ok(FragmentEvent::Eof),
                    "{what}: Eof is sticky"
                );
            } else {
                let err = result
                    .err()
                    .unwrap_or_else(|| panic!("{what}: decoded without error"));
                assert!(
                    v.accepted_errors.contains(&err.kind()),
                    "{what}: got {err:?} ({:?}), expected one of {:?}",
                    err.kind(),
                    v.accepted_errors
                );
                assert_eq!(reader.poll(), Err(err.clone()), "{what}: errors are sticky");
                if err.kind() == FragmentErrorKind::ContentTooLong {
                    // Every byte up to `end` was delivered before the error.
                    assert_eq!(content.len() as i64, v.end - v.begin, "{what}");
                    assert_eq!(sha1_hex(&content), v.content_sha1, "{what}");
                    assert_eq!(reader.offset(), v.end, "{what}: quirk 6 fixed");
                }
            }
        }
    }
}

#[test]
fn fragment_reader_pre_seek_discards_up_to_the_requested_offset() {
    for v in vectors()
        .into_iter()
        .filter(|v| v.expect_decode && v.end > v.begin)
    {
        let len = v.end - v.begin;
        let full = {
            let mut r = FragmentReader::with_range(
                v.begin,
                v.end,
                v.codec,
                v.begin,
                ContentEncoding::Stored,
            )
            .unwrap();
            read_all(&mut r, &v.stored, 1 << 16).0
        };
        for skip in [1, len / 3, len - 1, len] {
            let mut reader = FragmentReader::with_range(
                v.begin,
                v.end,
                v.codec,
                v.begin + skip,
                ContentEncoding::Stored,
            )
            .unwrap();
            let (content, result) = read_all(&mut reader, &v.stored, 5000);
            result.unwrap_or_else(|e| panic!("{} from +{skip}: {e}", v.id));
            assert_eq!(content, full[skip as usize..], "{} from +{skip}", v.id);
            assert_eq!(reader.bytes_discarded(), skip as u64);
            assert_eq!(reader.bytes_read(), (len - skip) as u64);
        }
    }
}

#[test]
fn fragment_reader_passes_offload_content_through_when_the_store_decompressed_it() {
    for v in vectors()
        .into_iter()
        .filter(|v| v.expect_decode && v.codec == CompressionCodec::GzipOffloadDecompression)
    {
        let plain: Bytes = {
            let mut r = FragmentReader::with_range(
                v.begin,
                v.end,
                v.codec,
                v.begin,
                ContentEncoding::Stored,
            )
            .unwrap();
            read_all(&mut r, &v.stored, 1 << 16).0.into()
        };
        // Identity: the store served decompressed bytes.
        let mut r =
            FragmentReader::with_range(v.begin, v.end, v.codec, v.begin, ContentEncoding::Identity)
                .unwrap();
        assert_eq!(r.codec_label(), "GZIP_OFFLOAD_DECOMPRESSION");
        let (content, result) = read_all(&mut r, &plain, 999);
        result.unwrap();
        assert_eq!(sha1_hex(&content), v.content_sha1, "{}", v.id);
        // Content-Encoding: gzip: the store ignored the request; relabelled GZIP.
        let mut r =
            FragmentReader::with_range(v.begin, v.end, v.codec, v.begin, ContentEncoding::Gzip)
                .unwrap();
        assert_eq!(r.codec_label(), "GZIP");
        let (content, result) = read_all(&mut r, &v.stored, 999);
        result.unwrap();
        assert_eq!(sha1_hex(&content), v.content_sha1, "{}", v.id);
    }
}

#[test]
fn fragment_reader_undoes_a_gzip_content_encoding_over_other_codecs() {
    use std::io::Write;
    for v in vectors().into_iter().filter(|v| {
        v.expect_decode
            && matches!(
                v.codec,
                CompressionCodec::None | CompressionCodec::Snappy | CompressionCodec::Zstandard
            )
    }) {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&v.stored).unwrap();
        let body: Bytes = enc.finish().unwrap().into();
        let mut r =
            FragmentReader::with_range(v.begin, v.end, v.codec, v.begin, ContentEncoding::Gzip)
                .unwrap();
        let (content, result) = read_all(&mut r, &body, 3000);
        result.unwrap_or_else(|e| panic!("{}: {e}", v.id));
        assert_eq!(content.len() as i64, v.end - v.begin, "{}", v.id);
        assert_eq!(sha1_hex(&content), v.content_sha1, "{}", v.id);
    }
}
