//! Known-bytes checks: the wire layout of messages whose encoding an
//! unmodified Gazette broker depends on, written out byte by byte from the
//! docs/protocol.md#schema (field numbers, wire types, fixed-width little-endian
//! integers, negative int32 as 10-byte varints, enum numbers).

use bytes::Bytes;
use gazette_proto::{
    AppendRequest, CompressionCodec, Fragment, FragmentsRequest, FragmentsResponse, Header,
    JournalSpec, ListResponse, ReadRequest, ReadResponse, Route, Sha1Sum, Status, append_request,
    fragments_response, journal_spec, list_response, process_spec,
};
use prost::Message;

/// SHA1("foobar") = 8843d7f92416211de9ebb963ff4ce28125932878.
fn foobar_sum() -> Sha1Sum {
    Sha1Sum {
        part1: 0x8843_d7f9_2416_211d,
        part2: 0xe9eb_b963_ff4c_e281,
        part3: 0x2593_2878,
    }
}

#[test]
fn sha1sum_of_foobar_is_three_fixed_width_fields() {
    let expected: &[u8] = &[
        0x09, // field 1, wire type 1 (fixed64)
        0x1d, 0x21, 0x16, 0x24, 0xf9, 0xd7, 0x43, 0x88, // part1, little-endian
        0x11, // field 2, fixed64
        0x81, 0xe2, 0x4c, 0xff, 0x63, 0xb9, 0xeb, 0xe9, // part2
        0x1d, // field 3, wire type 5 (fixed32)
        0x78, 0x28, 0x93, 0x25, // part3
    ];
    assert_eq!(foobar_sum().encode_to_vec(), expected);
    assert_eq!(Sha1Sum::decode(expected).unwrap(), foobar_sum());
}

#[test]
fn sha1sum_parts_are_the_big_endian_digest_words() {
    let digest: [u8; 20] = [
        0x88, 0x43, 0xd7, 0xf9, 0x24, 0x16, 0x21, 0x1d, 0xe9, 0xeb, 0xb9, 0x63, 0xff, 0x4c, 0xe2,
        0x81, 0x25, 0x93, 0x28, 0x78,
    ];
    let sum = foobar_sum();
    assert_eq!(sum.part1.to_be_bytes(), digest[0..8]);
    assert_eq!(sum.part2.to_be_bytes(), digest[8..16]);
    assert_eq!(sum.part3.to_be_bytes(), digest[16..20]);
}

#[test]
fn route_without_primary_encodes_minus_one_as_ten_byte_varint() {
    let route = Route {
        members: vec![],
        primary: -1,
        endpoints: vec![],
    };
    let expected: &[u8] = &[
        0x10, // field 2, varint
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    assert_eq!(route.encode_to_vec(), expected);
    assert_eq!(Route::decode(expected).unwrap().primary, -1);
}

#[test]
fn absent_route_primary_decodes_as_zero_not_minus_one() {
    // Why an empty route must carry primary = -1 explicitly.
    assert_eq!(Route::decode(&[][..]).unwrap().primary, 0);
}

#[test]
fn route_members_and_endpoints_layout() {
    let route = Route {
        members: vec![process_spec::Id {
            zone: "a".into(),
            suffix: "b".into(),
        }],
        primary: 0,
        endpoints: vec!["http://h:1".into()],
    };
    let mut expected = vec![0x0a, 0x06, 0x0a, 0x01, b'a', 0x12, 0x01, b'b'];
    expected.extend_from_slice(&[0x1a, 0x0a]);
    expected.extend_from_slice(b"http://h:1");
    // primary = 0 is the default and is not written.
    assert_eq!(route.encode_to_vec(), expected);
}

#[test]
fn append_commit_marker_encodes_to_zero_bytes() {
    assert!(AppendRequest::default().encode_to_vec().is_empty());
}

#[test]
fn append_opening_message_carries_journal_in_field_two() {
    let open = AppendRequest {
        journal: "a/j".into(),
        offset: 5,
        suspend: append_request::Suspend::Now as i32,
        ..Default::default()
    };
    // Fields are written in number order: journal (2), offset (5), suspend (9).
    let expected: &[u8] = &[0x12, 0x03, b'a', b'/', b'j', 0x28, 0x05, 0x48, 0x03];
    assert_eq!(open.encode_to_vec(), expected);
}

#[test]
fn append_content_is_field_four_between_do_not_proxy_and_offset() {
    let chunk = AppendRequest {
        content: Bytes::from_static(b"hi"),
        ..Default::default()
    };
    assert_eq!(chunk.encode_to_vec(), [0x22, 0x02, b'h', b'i']);
}

#[test]
fn read_request_field_numbers() {
    let req = ReadRequest {
        journal: "j".into(),
        offset: 1,
        block: true,
        do_not_proxy: true,
        metadata_only: true,
        end_offset: 2,
        begin_mod_time: 3,
        min_etcd_revision: 4,
        header: None,
    };
    let expected: &[u8] = &[
        0x12, 0x01, b'j', // journal = 2
        0x18, 0x01, // offset = 3
        0x20, 0x01, // block = 4
        0x28, 0x01, // do_not_proxy = 5
        0x30, 0x01, // metadata_only = 6
        0x38, 0x02, // end_offset = 7
        0x40, 0x03, // begin_mod_time = 8
        0x48, 0x04, // min_etcd_revision = 9
    ];
    assert_eq!(req.encode_to_vec(), expected);
}

#[test]
fn read_response_decodes_hand_written_frame() {
    // status OFFSET_NOT_YET_AVAILABLE, offset 300, write_head 301, content "xy".
    let wire: &[u8] = &[
        0x08, 0x06, // status = 1
        0x18, 0xac, 0x02, // offset = 3 (300)
        0x20, 0xad, 0x02, // write_head = 4 (301)
        0x32, 0x03, b'u', b'r', b'l', // fragment_url = 6
        0x3a, 0x02, b'x', b'y', // content = 7
    ];
    let resp = ReadResponse::decode(wire).unwrap();
    assert_eq!(resp.status(), Status::OffsetNotYetAvailable);
    assert_eq!(resp.offset, 300);
    assert_eq!(resp.write_head, 301);
    assert_eq!(resp.fragment_url, "url");
    assert_eq!(resp.content, Bytes::from_static(b"xy"));
}

#[test]
fn status_numbers_match_the_broker() {
    let expected = [
        (Status::Ok, 0),
        (Status::JournalNotFound, 1),
        (Status::NoJournalPrimaryBroker, 2),
        (Status::NotJournalPrimaryBroker, 3),
        (Status::InsufficientJournalBrokers, 4),
        (Status::NotJournalBroker, 5),
        (Status::OffsetNotYetAvailable, 6),
        (Status::WrongRoute, 7),
        (Status::ProposalMismatch, 8),
        (Status::EtcdTransactionFailed, 9),
        (Status::NotAllowed, 10),
        (Status::WrongAppendOffset, 11),
        (Status::IndexHasGreaterOffset, 12),
        (Status::RegisterMismatch, 13),
        (Status::Suspended, 14),
        (Status::FragmentStoreUnhealthy, 15),
    ];
    for (status, number) in expected {
        assert_eq!(status as i32, number, "{status:?}");
        assert_eq!(Status::try_from(number), Ok(status));
    }
}

#[test]
fn compression_codec_numbers_match_the_broker() {
    let expected = [
        (CompressionCodec::Invalid, 0),
        (CompressionCodec::None, 1),
        (CompressionCodec::Gzip, 2),
        (CompressionCodec::Zstandard, 3),
        (CompressionCodec::Snappy, 4),
        (CompressionCodec::GzipOffloadDecompression, 5),
    ];
    for (codec, number) in expected {
        assert_eq!(codec as i32, number, "{codec:?}");
    }
}

#[test]
fn fragment_field_layout() {
    let fragment = Fragment {
        journal: "j".into(),
        begin: 1,
        end: 2,
        sum: Some(foobar_sum()),
        compression_codec: CompressionCodec::Snappy as i32,
        backing_store: "file:///".into(),
        mod_time: 3,
        path_postfix: "p".into(),
    };
    let mut expected = vec![0x0a, 0x01, b'j', 0x10, 0x01, 0x18, 0x02, 0x22, 23];
    expected.extend_from_slice(&foobar_sum().encode_to_vec());
    expected.extend_from_slice(&[0x28, 0x04, 0x32, 0x08]);
    expected.extend_from_slice(b"file:///");
    expected.extend_from_slice(&[0x38, 0x03, 0x42, 0x01, b'p']);
    assert_eq!(fragment.encode_to_vec(), expected);
}

#[test]
fn journal_spec_durations_are_nested_duration_messages() {
    let spec = JournalSpec {
        name: "j".into(),
        replication: 3,
        fragment: Some(journal_spec::Fragment {
            length: 1024,
            compression_codec: CompressionCodec::None as i32,
            refresh_interval: Some(prost_types::Duration {
                seconds: 60,
                nanos: 0,
            }),
            ..Default::default()
        }),
        flags: journal_spec::Flag::ORdwr as u32,
        ..Default::default()
    };
    let expected: &[u8] = &[
        0x0a, 0x01, b'j', // name = 1
        0x10, 0x03, // replication = 2
        0x22, 0x09, // fragment = 4, 9 bytes
        0x08, 0x80, 0x08, // length = 1 (1024)
        0x10, 0x01, // compression_codec = 2
        0x22, 0x02, 0x08, 0x3c, // refresh_interval = 4: Duration{seconds: 60}
        0x30, 0x04, // flags = 6
    ];
    assert_eq!(spec.encode_to_vec(), expected);
}

#[test]
fn list_response_journal_layout() {
    let resp = ListResponse {
        status: Status::Ok as i32,
        header: Some(Header::default()),
        journals: vec![list_response::Journal {
            spec: Some(JournalSpec {
                name: "j".into(),
                ..Default::default()
            }),
            mod_revision: 7,
            route: Some(Route {
                primary: -1,
                ..Default::default()
            }),
            create_revision: 5,
        }],
    };
    let mut expected = vec![
        0x12, 0x00, // header = 2, empty (status OK is the default: absent)
        0x1a, 22, // journals = 3, 22 bytes
        0x0a, 0x03, 0x0a, 0x01, b'j', // spec = 1
        0x10, 0x07, // mod_revision = 2
        0x1a, 0x0b, 0x10, // route = 3: primary = 2 ...
    ];
    expected.extend_from_slice(&[0xff; 9]);
    expected.push(0x01);
    expected.extend_from_slice(&[0x20, 0x05]); // create_revision = 4
    assert_eq!(resp.encode_to_vec(), expected);
}

#[test]
fn fragments_messages_layout() {
    let req = FragmentsRequest {
        journal: "j".into(),
        page_limit: 10,
        signature_ttl: Some(prost_types::Duration {
            seconds: 1,
            nanos: 0,
        }),
        ..Default::default()
    };
    assert_eq!(
        req.encode_to_vec(),
        [0x12, 0x01, b'j', 0x30, 0x0a, 0x3a, 0x02, 0x08, 0x01]
    );

    let resp = FragmentsResponse {
        fragments: vec![fragments_response::Fragment {
            spec: Some(Fragment {
                begin: 1,
                ..Default::default()
            }),
            signed_url: "u".into(),
        }],
        next_page_token: 2,
        ..Default::default()
    };
    assert_eq!(
        resp.encode_to_vec(),
        [
            0x1a, 0x07, 0x0a, 0x02, 0x10, 0x01, 0x12, 0x01, b'u', 0x20, 0x02
        ]
    );
}

#[test]
fn unknown_fields_are_skipped() {
    // A newer broker may add fields; ListResponse field 4 is reserved.
    let wire: &[u8] = &[
        0x08, 0x01, // status = JOURNAL_NOT_FOUND
        0x22, 0x02, b'z', b'z', // field 4 (reserved), length-delimited
        0xf8, 0x06, 0x2a, // field 111, varint 42
    ];
    let resp = ListResponse::decode(wire).unwrap();
    assert_eq!(resp.status(), Status::JournalNotFound);
    assert!(resp.journals.is_empty());
}

#[test]
fn unknown_enum_values_are_kept_as_raw_numbers() {
    let resp = ReadResponse::decode(&[0x08, 0x63][..]).unwrap();
    assert_eq!(resp.status, 99);
    assert!(Status::try_from(resp.status).is_err());
}
