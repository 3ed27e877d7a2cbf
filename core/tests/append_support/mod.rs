//! Shared fake-broker harness for the append tests.
#![allow(dead_code)]

pub mod model;

use std::time::Instant;

use bytes::Bytes;
use gazette_core::append::*;
use gazette_core::proto::{
    AppendRequest, AppendResponse, Fragment, Header, LabelSet, ProcessSpec, Route, Status,
    process_spec,
};
use gazette_core::route::RouteUpdate;

/// What a driver observed while running one Appender.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Wire {
    pub opened: bool,
    pub sent: Vec<AppendRequest>,
    pub half_closed: bool,
    pub aborted: bool,
    pub routes: Vec<(String, RouteUpdate)>,
}

impl Wire {
    /// The chunks' contents (excluding preamble and marker).
    pub fn content(&self) -> Vec<u8> {
        self.sent
            .iter()
            .skip(1)
            .flat_map(|m| m.content.to_vec())
            .collect()
    }
    pub fn committed(&self) -> bool {
        self.sent
            .last()
            .is_some_and(|m| *m == AppendRequest::default())
            && self.half_closed
    }
}

/// A broker: sees the messages sent so far when the response is asked for.
pub type Broker<'a> = dyn FnMut(&Wire) -> Result<AppendResponse, TransportError> + 'a;

/// Drives `appender` to completion (or until no output is left) against
/// `broker`. `fail_send_after` makes the n-th send (0-based) fail.
pub fn drive(
    appender: &mut Appender,
    wire: &mut Wire,
    fail_send_after: Option<usize>,
    broker: &mut Broker<'_>,
) -> Option<Result<AppendResponse, AppendError>> {
    while let Some(out) = appender.poll_output() {
        match out {
            AppenderOutput::OpenStream { .. } => wire.opened = true,
            AppenderOutput::Send(msg) => {
                if fail_send_after.is_some_and(|n| wire.sent.len() > n) {
                    appender.handle(AppenderInput::SendFailed);
                } else {
                    wire.sent.push(msg);
                }
            }
            AppenderOutput::HalfClose => wire.half_closed = true,
            AppenderOutput::ReceiveResponse => match broker(wire) {
                Ok(r) => appender.handle(AppenderInput::Response(r)),
                Err(e) => appender.handle(AppenderInput::StreamFailed(e)),
            },
            AppenderOutput::Abort => {
                wire.half_closed = true;
                wire.aborted = true;
            }
            AppenderOutput::UpdateRoute { journal, update } => wire.routes.push((journal, update)),
            AppenderOutput::Finished(r) => return Some(r),
        }
    }
    None
}

pub fn route(primary: &str) -> Route {
    Route {
        members: vec![process_spec::Id {
            zone: "zone".into(),
            suffix: primary.into(),
        }],
        primary: 0,
        endpoints: vec![format!("http://{primary}")],
    }
}

pub fn header(primary: &str) -> Header {
    Header {
        process_id: Some(process_spec::Id {
            zone: "zone".into(),
            suffix: primary.into(),
        }),
        route: Some(route(primary)),
        etcd: None,
    }
}

pub fn ok_response(journal: &str, begin: i64, end: i64) -> AppendResponse {
    AppendResponse {
        status: Status::Ok as i32,
        header: Some(header("broker-a")),
        commit: Some(Fragment {
            journal: journal.into(),
            begin,
            end,
            ..Default::default()
        }),
        registers: Some(LabelSet::default()),
        ..Default::default()
    }
}

pub fn status_response(status: Status) -> AppendResponse {
    AppendResponse {
        status: status as i32,
        header: Some(header("broker-a")),
        registers: (status == Status::RegisterMismatch).then(LabelSet::default),
        ..Default::default()
    }
}

pub fn request(journal: &str) -> AppendRequest {
    AppendRequest {
        journal: journal.into(),
        ..Default::default()
    }
}

#[allow(unused)]
fn _unused(_: ProcessSpec) {}

/// Runs one dispatched batch through an Appender against `broker`, reading
/// its content from the service in `chunk`-byte pieces, and reports the
/// outcome. Returns the wire and the result.
pub fn run_dispatch<S: Spool>(
    service: &mut AppendService<S>,
    dispatch: &Dispatch,
    chunk: usize,
    now: Instant,
    broker: &mut Broker<'_>,
) -> (Wire, Result<AppendResponse, AppendError>) {
    let mut appender = Appender::new(dispatch.request.clone()).expect("valid request");
    let mut wire = Wire::default();
    let mut offset = 0u64;
    let mut spool_failure = None;
    while offset < dispatch.len {
        match service.read_content(dispatch.batch, offset, chunk) {
            Ok(bytes) => {
                offset += bytes.len() as u64;
                appender.write(bytes);
            }
            Err(e) => {
                spool_failure = Some(e);
                appender.abort();
                break;
            }
        }
    }
    if spool_failure.is_none() {
        appender.commit();
    }
    let result = drive(&mut appender, &mut wire, None, broker);
    let result = match (spool_failure, result) {
        (Some(e), _) => Err(e),
        (None, Some(r)) => r,
        (None, None) => panic!("appender did not finish"),
    };
    service.on_append_finished(dispatch.batch, result.clone(), now);
    (wire, result)
}

pub fn bytes(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}
