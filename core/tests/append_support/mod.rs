//! Shared fake-broker harness for the append tests.
#![allow(dead_code)]

pub mod model;

use std::collections::BTreeMap;
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
pub fn run_dispatch(
    service: &mut Service,
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

/// The AppendService as a driver presents it: futures for appends (one
/// operation per batch, resolved from `poll_resolved`) and dependencies on
/// any future (this service's by identifier, others as external
/// dependencies resolved once they are). Method names follow the scheduler.
pub struct Service {
    pub inner: AppendService,
    /// Carries out the scheduler's spool commands.
    pub spool: MemorySpool,
    ops: BTreeMap<AppendId, AsyncOperation>,
    /// Foreign futures depended on, until resolved.
    externals: Vec<(OpFuture, AppendId)>,
}

const TAG: u64 = 7;

impl Service {
    pub fn new(spool: MemorySpool, config: AppendConfig) -> Self {
        Service {
            inner: AppendService::new(config),
            spool,
            ops: BTreeMap::new(),
            externals: Vec::new(),
        }
    }

    fn op(&mut self, id: AppendId) -> OpFuture {
        self.ops
            .entry(id)
            .or_insert_with(|| AsyncOperation::for_append(TAG, id))
            .future()
    }

    /// Feeds foreign outcomes in and resolves the futures of resolved
    /// appends.
    pub fn sync(&mut self) {
        let mut i = 0;
        while i < self.externals.len() {
            if let Some(result) = self.externals[i].0.try_result() {
                let (_, id) = self.externals.swap_remove(i);
                self.inner.resolve_external(id, result);
            } else {
                i += 1;
            }
        }
        while let Some(command) = self.inner.poll_spool() {
            self.spool.execute(&command).expect("removals do not fail");
        }
        while let Some(r) = self.inner.poll_resolved() {
            if let Some(op) = self.ops.remove(&r.append) {
                op.resolve_with_response(r.result, r.response).unwrap();
            }
        }
    }

    pub fn start_append(
        &mut self,
        request: &AppendRequest,
        deps: &OpFutures,
    ) -> Result<AppendTicket, StartError> {
        let mut ids = Vec::new();
        for dep in deps.iter() {
            if let Some(id) = dep.append_id(TAG) {
                ids.push(id);
                continue;
            }
            match dep.try_result() {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    let id = self.inner.external_dependency();
                    self.inner.resolve_external(id, Err(e));
                    ids.push(id);
                }
                None => {
                    let id = self.inner.external_dependency();
                    self.externals.push((dep.clone(), id));
                    ids.push(id);
                }
            }
        }
        let started = self.inner.start_append(request, &ids);
        self.sync();
        started
    }

    /// Writes, carrying out the spool commands the write produced, as a
    /// driver does.
    pub fn write(&mut self, ticket: &AppendTicket, data: &[u8]) -> Result<(), AppendError> {
        self.inner.write(ticket, data)?;
        while let Some(command) = self.inner.poll_spool() {
            if let Err(err) = self.spool.execute(&command) {
                let SpoolCommand::Write { offset, .. } = command else {
                    panic!("only writes fail");
                };
                self.inner.handle_spool_failed(ticket, offset, err.clone());
                while self.inner.poll_spool().is_some() {}
                return Err(AppendError::Spool(err.to_string()));
            }
        }
        Ok(())
    }

    pub fn require(&mut self, ticket: &AppendTicket, err: AppendError) {
        self.inner.require(ticket, err)
    }

    pub fn release(&mut self, ticket: AppendTicket) -> Result<OpFuture, AppendError> {
        let id = self.inner.release(ticket)?;
        Ok(self.op(id))
    }

    pub fn poll_dispatch(&mut self, now: Instant) -> Option<Dispatch> {
        self.sync();
        let dispatch = self.inner.poll_dispatch(now);
        self.sync();
        dispatch
    }

    pub fn read_content(
        &mut self,
        batch: AppendId,
        offset: u64,
        max_len: usize,
    ) -> Result<bytes::Bytes, AppendError> {
        let content = self.inner.read_content(batch, offset, max_len)?;
        self.spool
            .read(&content)
            .map_err(|e| AppendError::Spool(e.to_string()))
    }

    pub fn on_append_finished(
        &mut self,
        batch: AppendId,
        result: Result<AppendResponse, AppendError>,
        now: Instant,
    ) {
        self.inner.on_append_finished(batch, result, now);
        self.sync();
    }

    pub fn on_append_finished_with_response(
        &mut self,
        batch: AppendId,
        result: Result<AppendResponse, AppendError>,
        refused: Option<AppendResponse>,
        now: Instant,
    ) {
        self.inner
            .on_append_finished_with_response(batch, result, refused, now);
        self.sync();
    }

    /// Futures of `pending_except`; a poisoned journal's failed append is
    /// a resolved future with that append's identity.
    pub fn pending_except(&mut self, journal: &str) -> OpFutures {
        let ids = self.inner.pending_except(journal);
        ids.into_iter()
            .map(|id| match self.inner.failure_of(id) {
                Some(err) => {
                    let op = AsyncOperation::for_append(TAG, id);
                    op.resolve(Err(err.clone())).unwrap();
                    op.future()
                }
                None => self.op(id),
            })
            .collect()
    }

    pub fn cancel(&mut self) {
        self.inner.cancel();
    }

    pub fn close(&mut self) {
        self.inner.close();
    }

    pub fn poison_of(&self, journal: &str) -> Option<&AppendError> {
        self.inner.poison_of(journal)
    }

    pub fn clear_poison(&mut self, journal: &str) -> Option<AppendError> {
        self.inner.clear_poison(journal)
    }

    pub fn batch_state(&self, batch: AppendId) -> Option<BatchState> {
        self.inner.batch_state(batch)
    }

    pub fn queued(&self, journal: &str) -> Vec<(AppendId, u64)> {
        self.inner.queued(journal)
    }

    pub fn is_idle(&self) -> bool {
        self.inner.is_idle()
    }

    pub fn next_wakeup(&self) -> Option<Instant> {
        self.inner.next_wakeup()
    }

    pub fn metrics(&self) -> AppendMetrics {
        self.inner.metrics()
    }

    pub fn spool_mut(&mut self) -> &mut MemorySpool {
        &mut self.spool
    }

    pub fn spool(&self) -> &MemorySpool {
        &self.spool
    }
}
