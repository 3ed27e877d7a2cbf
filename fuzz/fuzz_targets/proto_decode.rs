//! Decodes arbitrary bytes as the protocol messages a client receives (and a
//! few it sends). Decoding must never panic, and whatever decodes must
//! re-encode to bytes that decode to the same message.

#![no_main]

use gazette_proto::{
    AppendRequest, AppendResponse, ApplyResponse, FragmentStoreHealthResponse, FragmentsResponse,
    Header, JournalSpec, ListResponse, ReadRequest, ReadResponse, Route,
};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn check<M: Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) {
    let Ok(first) = M::decode(data) else { return };
    let encoded = first.encode_to_vec();
    assert_eq!(encoded.len(), first.encoded_len());
    let second = M::decode(encoded.as_slice()).expect("re-encoded message decodes");
    assert_eq!(first, second);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    match selector % 11 {
        0 => check::<ReadResponse>(data),
        1 => check::<ListResponse>(data),
        2 => check::<AppendResponse>(data),
        3 => check::<FragmentsResponse>(data),
        4 => check::<ApplyResponse>(data),
        5 => check::<FragmentStoreHealthResponse>(data),
        6 => check::<Header>(data),
        7 => check::<Route>(data),
        8 => check::<JournalSpec>(data),
        9 => check::<ReadRequest>(data),
        _ => check::<AppendRequest>(data),
    }
});
