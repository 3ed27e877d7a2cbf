//! Listing and administrative operations (List, GetJournal, Apply in
//! batches, ListFragments with paging, FragmentStoreHealth) and List
//! watches, as children of the client.

use std::time::Instant;

use gazette_proto::{ApplyRequest, FragmentStoreHealthRequest, FragmentsRequest, ListRequest};

use super::rpc::{Call, OpId, RpcId, RpcMessage, Target};
use super::{Event, OpError, Outcome, Progress, Shared};
use crate::backoff::Backoff;
use crate::list::{
    ApplyBatches, ApplyStep, FragmentPager, ListError, PagerStep, SnapshotAssembler, WatchAction,
    WatchedList, fragment_store_health_result, get_journal_spec, snapshot_route_updates,
};
use crate::route::RouteUpdate;
use crate::status::{Operation, RpcCode, RpcFailure};

/// How long a route probe may take (a probe sent to another frozen broker
/// must not wait forever).
pub const PROBE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

/// A listing failure as the list machines take it: a `CANCELLED` status
/// sent by the server is a cancellation (docs/behaviour.md#quirk-23).
fn list_error(failure: &RpcFailure) -> ListError {
    if failure.code == RpcCode::Cancelled {
        ListError::Canceled
    } else {
        ListError::Rpc(failure.describe())
    }
}

#[derive(Debug)]
// One value per operation: boxing the machines would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Kind {
    List {
        assembler: SnapshotAssembler,
        /// Set for GetJournal: the journal whose spec is the result.
        journal: Option<String>,
    },
    Apply {
        batches: ApplyBatches,
        first: bool,
    },
    Fragments {
        pager: FragmentPager,
        target: Target,
        first: bool,
    },
    Health,
}

/// A listing or administrative call: one RPC at a time, finished by its
/// response(s), bounded by the client's request timeout.
#[derive(Debug)]
pub(crate) struct UnaryOp {
    id: OpId,
    kind: Kind,
    rpc: Option<RpcId>,
    /// The first request, until sent.
    pending: Option<Call>,
    pub(crate) deadline: Option<Instant>,
    /// Set for the client's own route probes: the journal probed, and
    /// where. A probe reports no events; its snapshot updates the route
    /// cache like any listing.
    probe: Option<(String, Target)>,
}

impl UnaryOp {
    fn new(id: OpId, kind: Kind, first: Call, sh: &Shared, now: Instant) -> Self {
        UnaryOp {
            id,
            kind,
            rpc: None,
            pending: Some(first),
            deadline: sh.config().request_timeout.map(|t| now + t),
            probe: None,
        }
    }

    /// A probe of `journal`'s route at `target`: a one-journal listing,
    /// bounded by [`PROBE_DEADLINE`].
    pub(crate) fn probe(
        id: OpId,
        journal: &str,
        target: Target,
        now: Instant,
    ) -> Result<Self, ListError> {
        let request = crate::list::get_journal_request(journal)?;
        let assembler = SnapshotAssembler::new(&request);
        let call = Call::List(request);
        Ok(UnaryOp {
            id,
            kind: Kind::List {
                assembler,
                journal: None,
            },
            rpc: None,
            pending: Some(call),
            deadline: Some(now + PROBE_DEADLINE),
            probe: Some((journal.to_string(), target)),
        })
    }

    pub(crate) fn list(
        id: OpId,
        request: ListRequest,
        journal: Option<String>,
        sh: &Shared,
        now: Instant,
    ) -> Result<Self, ListError> {
        if request.watch {
            return Err(ListError::WatchInOneShot);
        }
        crate::list::check_list_request(&request)?;
        let assembler = SnapshotAssembler::new(&request);
        let call = Call::List(request);
        Ok(Self::new(
            id,
            Kind::List { assembler, journal },
            call,
            sh,
            now,
        ))
    }

    pub(crate) fn apply(
        id: OpId,
        request: ApplyRequest,
        size: usize,
        sh: &Shared,
        now: Instant,
    ) -> Result<Self, ListError> {
        let mut batches = ApplyBatches::new(request, size).map_err(ListError::InvalidRequest)?;
        let call = Call::Apply(batches.first_request());
        Ok(Self::new(
            id,
            Kind::Apply {
                batches,
                first: true,
            },
            call,
            sh,
            now,
        ))
    }

    pub(crate) fn fragments(
        id: OpId,
        request: FragmentsRequest,
        sh: &Shared,
        now: Instant,
    ) -> Result<Self, ListError> {
        let pager = FragmentPager::new(request.clone()).map_err(ListError::InvalidRequest)?;
        let call = Call::ListFragments(request);
        Ok(Self::new(
            id,
            Kind::Fragments {
                pager,
                // Picked when the first page is sent, once for all pages.
                target: Target::Service,
                first: true,
            },
            call,
            sh,
            now,
        ))
    }

    pub(crate) fn health(
        id: OpId,
        request: FragmentStoreHealthRequest,
        sh: &Shared,
        now: Instant,
    ) -> Self {
        let call = Call::FragmentStoreHealth(request);
        Self::new(id, Kind::Health, call, sh, now)
    }

    /// Sends the first request.
    pub(crate) fn start(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        let Some(call) = self.pending.take() else {
            return Progress::Running;
        };
        let target = match &mut self.kind {
            Kind::Fragments { pager, target, .. } => {
                // The journal's route, primary not required, for all pages.
                let journal = pager.request().journal.clone();
                let hint = sh.router().journal_hint(&journal, false, now);
                *target = sh.router().pick(&hint, now).unwrap_or(Target::Service);
                target.clone()
            }
            _ => match &self.probe {
                Some((_, target)) => target.clone(),
                None => Target::Service,
            },
        };
        self.rpc = Some(sh.open(self.id, target, call));
        Progress::Running
    }

    fn send_next(&mut self, sh: &mut Shared, call: Call) -> Progress {
        let target = match &self.kind {
            Kind::Fragments { target, .. } => target.clone(),
            _ => Target::Service,
        };
        self.rpc = Some(sh.open(self.id, target, call));
        Progress::Running
    }

    fn finish(&mut self, sh: &mut Shared, result: Result<Outcome, OpError>) -> Progress {
        if let Some(rpc) = self.rpc.take() {
            sh.cancel_rpc(rpc);
        }
        if let Some((journal, _)) = &self.probe {
            sh.probe_done(journal);
            return Progress::Done;
        }
        sh.event(Event::Finished {
            op: self.id,
            result,
        });
        Progress::Done
    }

    fn operation(&self) -> Operation {
        match self.kind {
            Kind::List { .. } => Operation::List,
            Kind::Apply { .. } => Operation::Apply,
            Kind::Fragments { .. } => Operation::ListFragments,
            Kind::Health => Operation::FragmentStoreHealth,
        }
    }

    pub(crate) fn on_message(
        &mut self,
        sh: &mut Shared,
        rpc: RpcId,
        message: RpcMessage,
        now: Instant,
    ) -> Progress {
        if self.rpc != Some(rpc) {
            return Progress::Running;
        }
        match (&mut self.kind, message) {
            (
                Kind::List {
                    assembler, journal, ..
                },
                RpcMessage::List(message),
            ) => match assembler.on_message(message) {
                Ok(None) => Progress::Running,
                Ok(Some(snapshot)) => {
                    let journal = journal.clone();
                    self.listed(sh, snapshot, journal, now)
                }
                Err(err) => self.finish(sh, Err(OpError::List(err))),
            },
            (Kind::Apply { batches, first }, RpcMessage::Apply(response)) => {
                *first = false;
                self.rpc = None;
                match batches.on_response(response) {
                    ApplyStep::Next(request) => self.send_next(sh, Call::Apply(request)),
                    ApplyStep::Done(response) => self.finish(sh, Ok(Outcome::Applied(response))),
                    ApplyStep::Failed(failure) => self.finish(sh, Err(apply_error(failure))),
                }
            }
            (Kind::Fragments { pager, first, .. }, RpcMessage::ListFragments(page)) => {
                *first = false;
                self.rpc = None;
                match pager.on_response(page) {
                    PagerStep::Next(request) => self.send_next(sh, Call::ListFragments(request)),
                    PagerStep::Done(all) => self.finish(sh, Ok(Outcome::Fragments(all))),
                    PagerStep::Failed { partial, error } => {
                        self.finish(sh, Err(fragments_error(partial, error)))
                    }
                }
            }
            (Kind::Health, RpcMessage::FragmentStoreHealth(response)) => {
                let result = fragment_store_health_result(response)
                    .map(Outcome::StoreHealth)
                    .map_err(OpError::List);
                self.finish(sh, result)
            }
            (_, other) => {
                let err = ListError::Rpc(format!("unexpected response: {other:?}"));
                self.finish(sh, Err(OpError::List(err)))
            }
        }
    }

    fn listed(
        &mut self,
        sh: &mut Shared,
        snapshot: gazette_proto::ListResponse,
        journal: Option<String>,
        now: Instant,
    ) -> Progress {
        for (name, update) in snapshot_route_updates(&snapshot) {
            match update {
                RouteUpdate::Store(route) => sh.router().update_route(&name, Some(&route), now),
                RouteUpdate::Invalidate => sh.router().update_route(&name, None, now),
            }
        }
        let result = match journal {
            Some(journal) => get_journal_spec(&journal, &snapshot)
                .map(Outcome::Journal)
                .map_err(OpError::List),
            None => Ok(Outcome::Listed(snapshot)),
        };
        self.finish(sh, result)
    }

    pub(crate) fn on_end(
        &mut self,
        sh: &mut Shared,
        rpc: RpcId,
        failure: Option<RpcFailure>,
        now: Instant,
    ) -> Progress {
        if self.rpc != Some(rpc) {
            return Progress::Running;
        }
        self.rpc = None;
        let operation = self.operation();
        match (&mut self.kind, failure) {
            (
                Kind::List {
                    assembler, journal, ..
                },
                None,
            ) => match assembler.on_end() {
                Ok(snapshot) => {
                    let journal = journal.clone();
                    self.listed(sh, snapshot, journal, now)
                }
                Err(err) => self.finish(sh, Err(OpError::List(err))),
            },
            (Kind::List { .. }, Some(failure)) if failure.code == RpcCode::Cancelled => {
                self.finish(sh, Err(OpError::List(ListError::Canceled)))
            }
            // Later batches and pages keep what earlier ones did.
            (Kind::Apply { batches, first }, Some(failure)) if !*first => {
                let step = batches.on_error(list_error(&failure));
                match step {
                    ApplyStep::Failed(failure) => self.finish(sh, Err(apply_error(failure))),
                    _ => self.finish(sh, Err(OpError::Rpc { operation, failure })),
                }
            }
            (Kind::Fragments { pager, first, .. }, Some(failure)) if !*first => {
                match pager.on_error(list_error(&failure)) {
                    PagerStep::Failed { partial, error } => {
                        self.finish(sh, Err(fragments_error(partial, error)))
                    }
                    _ => self.finish(sh, Err(OpError::Rpc { operation, failure })),
                }
            }
            (_, Some(failure)) => self.finish(sh, Err(OpError::Rpc { operation, failure })),
            // A unary RPC that ended OK: its response was handled already,
            // or it sent none.
            (_, None) => {
                let err = ListError::Rpc(format!("{operation:?} ended without a response"));
                self.finish(sh, Err(OpError::List(err)))
            }
        }
    }

    pub(crate) fn wake_at(&self) -> Option<Instant> {
        self.deadline
    }

    pub(crate) fn on_timeout(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        if self.deadline.is_some_and(|d| d <= now) {
            return self.finish(sh, Err(OpError::List(ListError::DeadlineExceeded)));
        }
        Progress::Running
    }

    pub(crate) fn cancel(&mut self, sh: &mut Shared, _now: Instant) -> Progress {
        self.finish(sh, Err(OpError::List(ListError::Canceled)))
    }

    pub(crate) fn release(&mut self, sh: &mut Shared) {
        if let Some(rpc) = self.rpc.take() {
            sh.cancel_rpc(rpc);
        }
        if let Some((journal, _)) = &self.probe {
            sh.probe_done(journal);
        }
    }
}

fn apply_error(failure: Box<crate::list::ApplyFailure>) -> OpError {
    if failure.applied.is_empty() && failure.response.is_none() {
        OpError::List(failure.error)
    } else {
        OpError::Apply(failure)
    }
}

fn fragments_error(partial: Option<gazette_proto::FragmentsResponse>, error: ListError) -> OpError {
    match partial {
        None => OpError::List(error),
        partial => OpError::Fragments { partial, error },
    }
}

/// A List watch (Go's `WatchedList`).
#[derive(Debug)]
pub(crate) struct WatchOp {
    id: OpId,
    machine: WatchedList,
    rpc: Option<RpcId>,
    sleep_until: Option<Instant>,
}

impl WatchOp {
    pub(crate) fn new(id: OpId, request: &ListRequest, backoff: Backoff) -> Self {
        WatchOp {
            id,
            machine: WatchedList::with_backoff(request, backoff),
            rpc: None,
            sleep_until: None,
        }
    }

    pub(crate) fn drive(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        while let Some(action) = self.machine.poll_action() {
            match action {
                WatchAction::OpenStream(request) => {
                    self.release(sh);
                    self.rpc = Some(sh.open(self.id, Target::Service, Call::List(request)));
                }
                WatchAction::CloseStream => self.release(sh),
                WatchAction::Sleep(delay) => self.sleep_until = Some(now + delay),
                WatchAction::Publish(snapshot) => sh.event(Event::Snapshot {
                    op: self.id,
                    snapshot,
                }),
                WatchAction::Signal(result) => sh.event(Event::WatchSignal {
                    op: self.id,
                    result,
                }),
            }
        }
        Progress::Running
    }

    pub(crate) fn on_opened(&mut self, sh: &mut Shared, rpc: RpcId, now: Instant) -> Progress {
        if self.rpc == Some(rpc) {
            self.machine.on_opened();
        }
        self.drive(sh, now)
    }

    pub(crate) fn on_message(
        &mut self,
        sh: &mut Shared,
        rpc: RpcId,
        message: RpcMessage,
        now: Instant,
    ) -> Progress {
        if self.rpc == Some(rpc) {
            self.machine.on_opened();
            match message {
                RpcMessage::List(message) => self.machine.on_message(message),
                other => self.machine.on_error(ListError::Rpc(format!(
                    "unexpected response on a List RPC: {other:?}"
                ))),
            }
        }
        self.drive(sh, now)
    }

    pub(crate) fn on_end(
        &mut self,
        sh: &mut Shared,
        rpc: RpcId,
        failure: Option<RpcFailure>,
        now: Instant,
    ) -> Progress {
        if self.rpc != Some(rpc) {
            return Progress::Running;
        }
        self.rpc = None;
        match failure {
            None => {
                self.machine.on_opened();
                self.machine.on_end();
            }
            Some(failure) => {
                // Not yet opened: an open failure; else a stream failure.
                let err = list_error(&failure);
                self.machine.on_open_failed(err.clone());
                self.machine.on_error(err);
            }
        }
        self.drive(sh, now)
    }

    pub(crate) fn wake_at(&self) -> Option<Instant> {
        self.sleep_until
    }

    pub(crate) fn on_timeout(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        if self.sleep_until.is_some_and(|at| at <= now) {
            self.sleep_until = None;
            self.machine.on_timer();
        }
        self.drive(sh, now)
    }

    pub(crate) fn cancel(&mut self, sh: &mut Shared, _now: Instant) -> Progress {
        self.machine.stop();
        self.release(sh);
        sh.event(Event::Finished {
            op: self.id,
            result: Ok(Outcome::WatchStopped),
        });
        Progress::Done
    }

    pub(crate) fn release(&mut self, sh: &mut Shared) {
        if let Some(rpc) = self.rpc.take() {
            sh.cancel_rpc(rpc);
        }
    }
}
