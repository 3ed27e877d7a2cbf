//! Property tests: every main protocol message survives encode → decode
//! unchanged, and re-encoding the decoded message gives the same bytes
//! (prost encodes deterministically, in field-number order).
//!
//! Strategies cover the shapes brokers really send: routes with `primary =
//! -1`, empty and full headers, negative offsets, arbitrary content bytes
//! and enum values outside the known range (kept as raw `i32`).

use bytes::Bytes;
use gazette_proto::{
    AppendRequest, AppendResponse, ApplyRequest, ApplyResponse, CompressionCodec, Fragment,
    FragmentStoreHealthRequest, FragmentStoreHealthResponse, FragmentsRequest, FragmentsResponse,
    Header, JournalSpec, Label, LabelSelector, LabelSet, ListRequest, ListResponse, ReadRequest,
    ReadResponse, Route, Sha1Sum, apply_request, fragments_response, header, journal_spec,
    list_response, process_spec,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use prost::Message;

/// Asserts the round trip and byte stability of one message.
fn assert_round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(msg: &M) {
    let bytes = msg.encode_to_vec();
    assert_eq!(bytes.len(), msg.encoded_len(), "encoded_len disagrees");
    let decoded = M::decode(bytes.as_slice()).expect("decodes what it encoded");
    assert_eq!(&decoded, msg);
    assert_eq!(
        decoded.encode_to_vec(),
        bytes,
        "re-encoding changed the bytes"
    );
}

fn text() -> impl Strategy<Value = String> {
    // Journal names, zones and URLs may hold any UTF-8, including non-ASCII.
    prop_oneof![
        3 => "[a-z0-9/._=-]{0,24}",
        1 => "\\PC{0,12}",
    ]
}

fn content() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..256).prop_map(Bytes::from)
}

/// Enum fields hold `i32`: mostly known values, sometimes unknown ones.
fn enum_value(max_known: i32) -> impl Strategy<Value = i32> {
    prop_oneof![4 => 0..=max_known, 1 => any::<i32>()]
}

fn duration() -> impl Strategy<Value = prost_types::Duration> {
    (any::<i64>(), -999_999_999..=999_999_999i32)
        .prop_map(|(seconds, nanos)| prost_types::Duration { seconds, nanos })
}

fn label() -> impl Strategy<Value = Label> {
    (text(), text(), any::<bool>()).prop_map(|(name, value, prefix)| Label {
        name,
        value,
        prefix,
    })
}

fn label_set() -> impl Strategy<Value = LabelSet> {
    vec(label(), 0..4).prop_map(|labels| LabelSet { labels })
}

fn label_selector() -> impl Strategy<Value = LabelSelector> {
    (option::of(label_set()), option::of(label_set()))
        .prop_map(|(include, exclude)| LabelSelector { include, exclude })
}

fn process_id() -> impl Strategy<Value = process_spec::Id> {
    (text(), text()).prop_map(|(zone, suffix)| process_spec::Id { zone, suffix })
}

fn route() -> impl Strategy<Value = Route> {
    vec((process_id(), text()), 0..4).prop_flat_map(|members| {
        let n = members.len() as i32;
        // -1 (no primary) is the interesting value: a 10-byte varint.
        (
            Just(members),
            prop_oneof![Just(-1), 0..n.max(1), any::<i32>()],
        )
            .prop_map(|(members, primary)| {
                let (members, endpoints) = members.into_iter().unzip();
                Route {
                    members,
                    primary,
                    endpoints,
                }
            })
    })
}

fn etcd() -> impl Strategy<Value = header::Etcd> {
    (any::<u64>(), any::<u64>(), any::<i64>(), any::<u64>()).prop_map(
        |(cluster_id, member_id, revision, raft_term)| header::Etcd {
            cluster_id,
            member_id,
            revision,
            raft_term,
        },
    )
}

fn header() -> impl Strategy<Value = Header> {
    (
        option::of(process_id()),
        option::of(route()),
        option::of(etcd()),
    )
        .prop_map(|(process_id, route, etcd)| Header {
            process_id,
            route,
            etcd,
        })
}

fn sha1_sum() -> impl Strategy<Value = Sha1Sum> {
    (any::<u64>(), any::<u64>(), any::<u32>()).prop_map(|(part1, part2, part3)| Sha1Sum {
        part1,
        part2,
        part3,
    })
}

fn fragment() -> impl Strategy<Value = Fragment> {
    (
        text(),
        any::<i64>(),
        any::<i64>(),
        option::of(sha1_sum()),
        enum_value(CompressionCodec::GzipOffloadDecompression as i32),
        text(),
        any::<i64>(),
        text(),
    )
        .prop_map(
            |(
                journal,
                begin,
                end,
                sum,
                compression_codec,
                backing_store,
                mod_time,
                path_postfix,
            )| {
                Fragment {
                    journal,
                    begin,
                    end,
                    sum,
                    compression_codec,
                    backing_store,
                    mod_time,
                    path_postfix,
                }
            },
        )
}

fn journal_spec() -> impl Strategy<Value = JournalSpec> {
    let fragment_spec = (
        any::<i64>(),
        enum_value(CompressionCodec::GzipOffloadDecompression as i32),
        vec(text(), 0..3),
        option::of(duration()),
        option::of(duration()),
        option::of(duration()),
        text(),
    )
        .prop_map(
            |(
                length,
                compression_codec,
                stores,
                refresh_interval,
                retention,
                flush_interval,
                path_postfix_template,
            )| journal_spec::Fragment {
                length,
                compression_codec,
                stores,
                refresh_interval,
                retention,
                flush_interval,
                path_postfix_template,
            },
        );
    let suspend = (enum_value(2), any::<i64>())
        .prop_map(|(level, offset)| journal_spec::Suspend { level, offset });
    (
        text(),
        any::<i32>(),
        option::of(label_set()),
        option::of(fragment_spec),
        any::<u32>(),
        any::<i64>(),
        option::of(suspend),
    )
        .prop_map(
            |(name, replication, labels, fragment, flags, max_append_rate, suspend)| JournalSpec {
                name,
                replication,
                labels,
                fragment,
                flags,
                max_append_rate,
                suspend,
            },
        )
}

fn read_request() -> impl Strategy<Value = ReadRequest> {
    (
        option::of(header()),
        text(),
        any::<i64>(),
        any::<[bool; 3]>(),
        any::<[i64; 3]>(),
    )
        .prop_map(
            |(
                header,
                journal,
                offset,
                [block, do_not_proxy, metadata_only],
                [end_offset, begin_mod_time, min_etcd_revision],
            )| {
                ReadRequest {
                    header,
                    journal,
                    offset,
                    block,
                    do_not_proxy,
                    metadata_only,
                    end_offset,
                    begin_mod_time,
                    min_etcd_revision,
                }
            },
        )
}

fn read_response() -> impl Strategy<Value = ReadResponse> {
    (
        enum_value(15),
        option::of(header()),
        any::<i64>(),
        any::<i64>(),
        option::of(fragment()),
        text(),
        content(),
    )
        .prop_map(
            |(status, header, offset, write_head, fragment, fragment_url, content)| ReadResponse {
                status,
                header,
                offset,
                write_head,
                fragment,
                fragment_url,
                content,
            },
        )
}

fn append_request() -> impl Strategy<Value = AppendRequest> {
    (
        option::of(header()),
        text(),
        any::<bool>(),
        any::<i64>(),
        option::of(label_selector()),
        option::of(label_set()),
        option::of(label_set()),
        enum_value(4),
        any::<i64>(),
        content(),
    )
        .prop_map(
            |(
                header,
                journal,
                do_not_proxy,
                offset,
                check_registers,
                union_registers,
                subtract_registers,
                suspend,
                min_etcd_revision,
                content,
            )| AppendRequest {
                header,
                journal,
                do_not_proxy,
                offset,
                check_registers,
                union_registers,
                subtract_registers,
                suspend,
                min_etcd_revision,
                content,
            },
        )
}

fn append_response() -> impl Strategy<Value = AppendResponse> {
    (
        enum_value(15),
        option::of(header()),
        option::of(fragment()),
        option::of(label_set()),
        any::<i64>(),
        any::<i64>(),
        text(),
    )
        .prop_map(
            |(
                status,
                header,
                commit,
                registers,
                total_chunks,
                delayed_chunks,
                store_health_error,
            )| {
                AppendResponse {
                    status,
                    header,
                    commit,
                    registers,
                    total_chunks,
                    delayed_chunks,
                    store_health_error,
                }
            },
        )
}

fn list_request() -> impl Strategy<Value = ListRequest> {
    (
        option::of(label_selector()),
        any::<bool>(),
        option::of(header()),
    )
        .prop_map(|(selector, watch, watch_resume)| ListRequest {
            selector,
            watch,
            watch_resume,
        })
}

fn list_response() -> impl Strategy<Value = ListResponse> {
    let journal = (
        option::of(journal_spec()),
        any::<i64>(),
        option::of(route()),
        any::<i64>(),
    )
        .prop_map(
            |(spec, mod_revision, route, create_revision)| list_response::Journal {
                spec,
                mod_revision,
                route,
                create_revision,
            },
        );
    (enum_value(15), option::of(header()), vec(journal, 0..4)).prop_map(
        |(status, header, journals)| ListResponse {
            status,
            header,
            journals,
        },
    )
}

fn apply_request() -> impl Strategy<Value = ApplyRequest> {
    let change = (any::<i64>(), option::of(journal_spec()), text()).prop_map(
        |(expect_mod_revision, upsert, delete)| apply_request::Change {
            expect_mod_revision,
            upsert,
            delete,
        },
    );
    vec(change, 0..4).prop_map(|changes| ApplyRequest { changes })
}

fn apply_response() -> impl Strategy<Value = ApplyResponse> {
    (enum_value(15), option::of(header()))
        .prop_map(|(status, header)| ApplyResponse { status, header })
}

fn fragments_request() -> impl Strategy<Value = FragmentsRequest> {
    (
        option::of(header()),
        text(),
        any::<[i64; 3]>(),
        any::<i32>(),
        option::of(duration()),
        any::<bool>(),
    )
        .prop_map(
            |(
                header,
                journal,
                [begin_mod_time, end_mod_time, next_page_token],
                page_limit,
                signature_ttl,
                do_not_proxy,
            )| {
                FragmentsRequest {
                    header,
                    journal,
                    begin_mod_time,
                    end_mod_time,
                    next_page_token,
                    page_limit,
                    signature_ttl,
                    do_not_proxy,
                }
            },
        )
}

fn fragments_response() -> impl Strategy<Value = FragmentsResponse> {
    let listed = (option::of(fragment()), text())
        .prop_map(|(spec, signed_url)| fragments_response::Fragment { spec, signed_url });
    (
        enum_value(15),
        option::of(header()),
        vec(listed, 0..4),
        any::<i64>(),
    )
        .prop_map(
            |(status, header, fragments, next_page_token)| FragmentsResponse {
                status,
                header,
                fragments,
                next_page_token,
            },
        )
}

fn store_health() -> impl Strategy<Value = (FragmentStoreHealthRequest, FragmentStoreHealthResponse)>
{
    (
        text(),
        any::<bool>(),
        text(),
        enum_value(15),
        option::of(header()),
        text(),
    )
        .prop_map(
            |(
                fragment_store,
                check_delete,
                check_delete_prefix,
                status,
                header,
                store_health_error,
            )| {
                (
                    FragmentStoreHealthRequest {
                        fragment_store,
                        check_delete,
                        check_delete_prefix,
                    },
                    FragmentStoreHealthResponse {
                        status,
                        header,
                        store_health_error,
                    },
                )
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn read_request_round_trips(msg in read_request()) { assert_round_trip(&msg); }

    #[test]
    fn read_response_round_trips(msg in read_response()) { assert_round_trip(&msg); }

    #[test]
    fn append_request_round_trips(msg in append_request()) { assert_round_trip(&msg); }

    #[test]
    fn append_response_round_trips(msg in append_response()) { assert_round_trip(&msg); }

    #[test]
    fn list_request_round_trips(msg in list_request()) { assert_round_trip(&msg); }

    #[test]
    fn list_response_round_trips(msg in list_response()) { assert_round_trip(&msg); }

    #[test]
    fn apply_round_trips(req in apply_request(), resp in apply_response()) {
        assert_round_trip(&req);
        assert_round_trip(&resp);
    }

    #[test]
    fn journal_spec_round_trips(msg in journal_spec()) { assert_round_trip(&msg); }

    #[test]
    fn fragment_round_trips(msg in fragment()) { assert_round_trip(&msg); }

    #[test]
    fn route_round_trips(msg in route()) { assert_round_trip(&msg); }

    #[test]
    fn header_round_trips(msg in header()) { assert_round_trip(&msg); }

    #[test]
    fn fragments_request_round_trips(msg in fragments_request()) { assert_round_trip(&msg); }

    #[test]
    fn fragments_response_round_trips(msg in fragments_response()) { assert_round_trip(&msg); }

    #[test]
    fn fragment_store_health_round_trips((req, resp) in store_health()) {
        assert_round_trip(&req);
        assert_round_trip(&resp);
    }

    /// Content chunks of an Append carry only `content`; their encoding is
    /// the field-4 tag, the length and the bytes themselves, nothing else.
    #[test]
    fn append_content_chunk_is_tag_length_and_bytes(data in vec(any::<u8>(), 1..600)) {
        let chunk = AppendRequest { content: Bytes::from(data.clone()), ..Default::default() };
        let bytes = chunk.encode_to_vec();
        let mut expected = vec![0x22];
        prost::encoding::encode_varint(data.len() as u64, &mut expected);
        expected.extend_from_slice(&data);
        prop_assert_eq!(bytes, expected);
    }

    /// Decoding content from a `Bytes` buffer slices it instead of copying.
    #[test]
    fn read_response_content_decodes_as_a_slice_of_the_input(data in vec(any::<u8>(), 1..600)) {
        let msg = ReadResponse { content: Bytes::from(data), ..Default::default() };
        let wire = Bytes::from(msg.encode_to_vec());
        let decoded = ReadResponse::decode(wire.clone()).unwrap();
        prop_assert_eq!(&decoded.content, &msg.content);
        let wire_range = wire.as_ptr() as usize..wire.as_ptr() as usize + wire.len();
        prop_assert!(wire_range.contains(&(decoded.content.as_ptr() as usize)));
    }
}
