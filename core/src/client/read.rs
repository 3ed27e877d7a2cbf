//! A read operation: a [`Reader`] (one RPC) or a [`RetryReader`] as a child
//! of the client, with its RPC, direct fetch, backoff timer and deadline.

use std::time::{Duration, Instant};

use super::rpc::{Call, FetchId, OpId, RpcId, RpcMessage};
use super::{Event, OpError, Outcome, Progress, Seek, SeekError, Shared};
use crate::read::{
    AdjustedSeek, ReadAction, ReadError, ReadInput, ReadOutput, Reader, RetryInput, RetryOutput,
    RetryReader, RouteHint, TransportError,
};
use crate::status::{Operation, RpcFailure};

#[derive(Debug)]
enum Machine {
    Single(Reader),
    Retry(RetryReader),
}

/// One output of either machine.
enum Step {
    Action(ReadAction),
    Event(Event),
    Backoff {
        delay: Duration,
        attempt: i32,
        cause: String,
        log: bool,
    },
    CancelBackoff,
    Stopped(ReadError),
    Finished(Result<(), ReadError>),
}

#[derive(Debug)]
pub(crate) struct ReadOp {
    id: OpId,
    machine: Machine,
    rpc: Option<RpcId>,
    /// Whether the current RPC's headers arrived.
    opened: bool,
    fetch: Option<FetchId>,
    backoff_until: Option<Instant>,
    pub(crate) deadline: Option<Instant>,
    fragments_opened: u64,
    /// Set by a cancellation or deadline: the read's stop is its end.
    ending: bool,
    /// A read to the write head: reaching it is the read's clean end.
    to_head: bool,
    /// Where the current RPC went.
    target: Option<super::rpc::Target>,
    /// The route the current RPC's target was picked from.
    dispatched: Option<gazette_proto::Route>,
    /// When the current RPC last made progress (opened, a frame).
    progress_at: Option<Instant>,
    /// When to check whether the current RPC stalls.
    probe_at: Option<Instant>,
}

impl ReadOp {
    fn new(id: OpId, machine: Machine) -> Self {
        ReadOp {
            id,
            machine,
            rpc: None,
            opened: false,
            fetch: None,
            backoff_until: None,
            deadline: None,
            fragments_opened: 0,
            ending: false,
            to_head: false,
            target: None,
            dispatched: None,
            progress_at: None,
            probe_at: None,
        }
    }

    pub(crate) fn single(id: OpId, reader: Reader) -> Self {
        Self::new(id, Machine::Single(reader))
    }

    pub(crate) fn retry(id: OpId, reader: RetryReader) -> Self {
        Self::new(id, Machine::Retry(reader))
    }

    /// A retrying read that ends cleanly at the write head.
    pub(crate) fn to_head(id: OpId, reader: RetryReader) -> Self {
        let mut op = Self::new(id, Machine::Retry(reader));
        op.to_head = true;
        op
    }

    pub(crate) fn reader(&self) -> Option<&Reader> {
        match &self.machine {
            Machine::Single(m) => Some(m),
            Machine::Retry(_) => None,
        }
    }

    pub(crate) fn retry_reader(&self) -> Option<&RetryReader> {
        match &self.machine {
            Machine::Single(_) => None,
            Machine::Retry(m) => Some(m),
        }
    }

    pub(crate) fn offset(&self) -> i64 {
        match &self.machine {
            Machine::Single(m) => m.offset(),
            Machine::Retry(m) => m.offset(),
        }
    }

    pub(crate) fn fragments_opened(&self) -> u64 {
        self.fragments_opened
    }

    pub(crate) fn set_block(&mut self, block: bool) {
        match &mut self.machine {
            Machine::Single(m) => m.set_block(block),
            Machine::Retry(m) => m.set_block(block),
        }
    }

    fn feed(&mut self, input: ReadInput) {
        match &mut self.machine {
            Machine::Single(m) => m.handle(input),
            Machine::Retry(m) => m.handle(input),
        }
    }

    fn next_step(&mut self, now: Instant) -> Option<Step> {
        let id = self.id;
        let event = |e: Event| Some(Step::Event(e));
        match &mut self.machine {
            Machine::Single(m) => match m.poll_output()? {
                ReadOutput::Action(a) => Some(Step::Action(a)),
                ReadOutput::Event(e) => event(Event::Read { op: id, event: e }),
                ReadOutput::Finished(result) => Some(Step::Finished(result)),
            },
            // The clock lets the machine tell a long-lived RPC (an expired
            // token) from a broker ending streams at once.
            Machine::Retry(m) => match m.poll_output_at(now)? {
                RetryOutput::Action(a) => Some(Step::Action(a)),
                RetryOutput::Event(e) => event(Event::Read { op: id, event: e }),
                RetryOutput::Backoff {
                    delay,
                    attempt,
                    cause,
                    log,
                } => Some(Step::Backoff {
                    delay,
                    attempt,
                    cause: cause
                        .map_or_else(|| "stream closed without content".into(), |e| e.to_string()),
                    log,
                }),
                RetryOutput::CancelBackoff => Some(Step::CancelBackoff),
                RetryOutput::Stopped(err) => Some(Step::Stopped(err)),
                RetryOutput::Complete => Some(Step::Finished(Ok(()))),
            },
        }
    }

    /// Drains the machine's outputs.
    pub(crate) fn drive(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        while let Some(step) = self.next_step(now) {
            match step {
                Step::Action(action) => self.act(sh, action, now),
                Step::Event(event) => sh.event(event),
                Step::Backoff {
                    delay,
                    attempt,
                    cause,
                    log,
                } => {
                    self.backoff_until = Some(now + delay);
                    sh.event(Event::Retrying {
                        op: self.id,
                        operation: Operation::Read,
                        attempt: u32::try_from(attempt).unwrap_or(0),
                        delay,
                        cause,
                        log,
                    });
                }
                Step::CancelBackoff => self.backoff_until = None,
                Step::Stopped(error)
                    if self.to_head
                        && error.is_named(gazette_proto::Status::OffsetNotYetAvailable) =>
                {
                    sh.event(Event::Finished {
                        op: self.id,
                        result: Ok(Outcome::ReadComplete),
                    });
                    return Progress::Done;
                }
                Step::Stopped(error) if self.ending => {
                    sh.event(Event::Finished {
                        op: self.id,
                        result: Err(OpError::Read(error)),
                    });
                    return Progress::Done;
                }
                Step::Stopped(error) => sh.event(Event::ReadStopped { op: self.id, error }),
                Step::Finished(result) => {
                    let result = result
                        .map(|()| Outcome::ReadComplete)
                        .map_err(OpError::Read);
                    sh.event(Event::Finished {
                        op: self.id,
                        result,
                    });
                    return Progress::Done;
                }
            }
        }
        Progress::Running
    }

    fn act(&mut self, sh: &mut Shared, action: ReadAction, now: Instant) {
        match action {
            ReadAction::StartRpc { request, route } => {
                self.release_rpc(sh);
                let hint = match route {
                    RouteHint::Journal(journal) => sh.router().journal_hint(&journal, false, now),
                    RouteHint::Route(route) => crate::route::DispatchHint::Route {
                        route,
                        member: None,
                    },
                };
                // A read names no member, so a pick never fails fast.
                let target = sh
                    .router()
                    .pick(&hint, now)
                    .unwrap_or(super::rpc::Target::Service);
                self.opened = false;
                self.dispatched = hint.route().cloned();
                self.target = Some(target.clone());
                self.progressed(now);
                self.rpc = Some(sh.open(self.id, target, Call::Read(request)));
            }
            ReadAction::CancelRpc => self.release_rpc(sh),
            ReadAction::UpdateRoute { journal, update } => {
                sh.router()
                    .update_route(&journal, update.into_route().as_ref(), now);
            }
            ReadAction::OpenFragment {
                fragment,
                offset,
                url,
            } => {
                if let Some(fetch) = self.fetch.take() {
                    sh.cancel_fetch(fetch);
                }
                self.fragments_opened += 1;
                self.fetch = Some(sh.fetch(self.id, fragment, offset, url));
            }
            ReadAction::CloseDirect => {
                if let Some(fetch) = self.fetch.take() {
                    sh.cancel_fetch(fetch);
                }
            }
        }
    }

    fn release_rpc(&mut self, sh: &mut Shared) {
        if let Some(rpc) = self.rpc.take() {
            sh.cancel_rpc(rpc);
        }
        self.probe_at = None;
    }

    fn progressed(&mut self, now: Instant) {
        self.progress_at = Some(now);
        // Only an RPC to a member can be probed for (the service address
        // proxies to wherever the journal is).
        self.probe_at = matches!(self.target, Some(super::rpc::Target::Member(_)))
            .then(|| now + super::routing::PROBE_AFTER);
    }

    fn journal(&self) -> &str {
        match &self.machine {
            Machine::Single(m) => m.journal(),
            Machine::Retry(m) => m.journal(),
        }
    }

    /// A route of the read's journal was learned (from any response or a
    /// probe). If it no longer lists the broker the stalled RPC waits on,
    /// that broker will not serve it: the RPC is cancelled and the read
    /// restarts at the same offset, on the new route
    /// (docs/architecture.md#recovering-from-a-frozen-broker).
    pub(crate) fn on_route_learned(
        &mut self,
        sh: &mut Shared,
        route: &gazette_proto::Route,
        now: Instant,
    ) -> Progress {
        let (Some(rpc), Some(super::rpc::Target::Member(endpoint))) = (self.rpc, &self.target)
        else {
            return Progress::Running;
        };
        let stalled = self
            .progress_at
            .is_some_and(|at| now.saturating_duration_since(at) >= super::routing::MOVE_STALL);
        if !stalled || route.endpoints.iter().any(|e| e == endpoint) {
            return Progress::Running;
        }
        let failure = TransportError::Unavailable(format!(
            "{endpoint} no longer serves {}: its route moved",
            self.journal()
        ));
        // The broker is frozen or partitioned away: avoid it until it
        // answers again.
        let target = super::rpc::Target::Member(endpoint.clone());
        sh.router().on_unavailable(&target, now);
        sh.cancel_rpc(rpc);
        self.rpc = None;
        self.probe_at = None;
        if self.opened {
            self.feed(ReadInput::RpcFailed(failure));
        } else {
            self.feed(ReadInput::RpcStartFailed(failure));
        }
        let progress = self.drive(sh, now);
        // The failure dropped the cached route; the one just learned is
        // where the journal is now: the restart goes straight there rather
        // than through the service address (which may be the frozen one).
        let journal = self.journal().to_string();
        sh.router().update_route(&journal, Some(route), now);
        progress
    }

    pub(crate) fn release(&mut self, sh: &mut Shared) {
        self.release_rpc(sh);
        if let Some(fetch) = self.fetch.take() {
            sh.cancel_fetch(fetch);
        }
    }

    fn is_current(&self, rpc: RpcId) -> bool {
        self.rpc == Some(rpc)
    }

    fn ensure_opened(&mut self) {
        if !self.opened {
            self.opened = true;
            self.feed(ReadInput::RpcStarted);
        }
    }

    pub(crate) fn on_opened(&mut self, sh: &mut Shared, rpc: RpcId, now: Instant) -> Progress {
        if self.is_current(rpc) {
            self.ensure_opened();
            self.progressed(now);
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
        if self.is_current(rpc) {
            self.ensure_opened();
            self.progressed(now);
            let journal = self.journal().to_string();
            sh.journal_progressed(&journal);
            match message {
                RpcMessage::Read(frame) => self.feed(ReadInput::Frame(frame)),
                other => self.feed(ReadInput::RpcFailed(TransportError::Other(format!(
                    "unexpected response on a Read RPC: {other:?}"
                )))),
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
        if !self.is_current(rpc) {
            return Progress::Running;
        }
        self.rpc = None;
        self.probe_at = None;
        match failure {
            None => {
                self.ensure_opened();
                self.feed(ReadInput::RpcClosed);
            }
            Some(failure) if !self.opened => {
                self.feed(ReadInput::RpcStartFailed(failure.into()));
            }
            Some(failure) => self.feed(ReadInput::RpcFailed(failure.into())),
        }
        self.drive(sh, now)
    }

    pub(crate) fn on_fetch(
        &mut self,
        sh: &mut Shared,
        fetch: FetchId,
        input: ReadInput,
        now: Instant,
    ) -> Progress {
        if self.fetch != Some(fetch) {
            return Progress::Running;
        }
        let direct = matches!(
            input,
            ReadInput::DirectOpened
                | ReadInput::DirectOpenFailed(_)
                | ReadInput::DirectContent(_)
                | ReadInput::DirectEnd
                | ReadInput::DirectFailed(_)
        );
        if !direct {
            return Progress::Running;
        }
        if matches!(
            input,
            ReadInput::DirectEnd | ReadInput::DirectFailed(_) | ReadInput::DirectOpenFailed(_)
        ) {
            self.fetch = None;
        }
        self.feed(input);
        self.drive(sh, now)
    }

    pub(crate) fn wake_at(&self) -> Option<Instant> {
        [self.backoff_until, self.deadline, self.probe_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn on_timeout(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        if self.probe_at.is_some_and(|at| at <= now)
            && self.rpc.is_some()
            && let Some(target @ super::rpc::Target::Member(_)) = self.target.clone()
        {
            // Stalled: learn whether the journal's route still includes
            // the broker the RPC waits on.
            let route = self
                .dispatched
                .clone()
                .unwrap_or_else(crate::route::empty_route);
            let journal = self.journal().to_string();
            self.probe_at = Some(sh.request_probe(&journal, &route, &target, now));
        } else if self.probe_at.is_some_and(|at| at <= now) {
            // Nothing to probe for (no RPC, or one through the service).
            self.probe_at = None;
        }
        if self.deadline.is_some_and(|d| d <= now) {
            self.deadline = None;
            self.ending = true;
            if self.is_stopped() {
                return self.finish_stopped(sh, ReadError::DeadlineExceeded);
            }
            self.feed(ReadInput::DeadlineExceeded);
            return self.drive(sh, now);
        } else if self.backoff_until.is_some_and(|b| b <= now) {
            self.backoff_until = None;
            if let Machine::Retry(m) = &mut self.machine {
                m.handle(RetryInput::BackoffElapsed);
            }
        }
        self.drive(sh, now)
    }

    pub(crate) fn cancel(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        self.ending = true;
        if self.is_stopped() {
            return self.finish_stopped(sh, ReadError::Cancelled);
        }
        self.feed(ReadInput::Cancel);
        self.drive(sh, now)
    }

    /// Whether a retrying read is paused after [`Event::ReadStopped`]: its
    /// machine ignores a cancellation or deadline then.
    fn is_stopped(&self) -> bool {
        matches!(&self.machine, Machine::Retry(m) if m.is_stopped())
    }

    /// Ends a stopped read with `error` (it holds no RPC, fetch or timer).
    fn finish_stopped(&mut self, sh: &mut Shared, error: ReadError) -> Progress {
        sh.event(Event::Finished {
            op: self.id,
            result: Err(OpError::Read(error)),
        });
        Progress::Done
    }

    pub(crate) fn resume(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        if let Machine::Retry(m) = &mut self.machine {
            m.resume();
        }
        self.drive(sh, now)
    }

    pub(crate) fn seek(
        &mut self,
        sh: &mut Shared,
        target: i64,
        buffered: u64,
        now: Instant,
    ) -> Result<Seek, SeekError> {
        let result = match &mut self.machine {
            Machine::Retry(m) => match m.adjusted_seek(target, buffered) {
                AdjustedSeek::Discard(n) => Ok(Seek::Discard(n)),
                AdjustedSeek::Reset(offset) => Ok(Seek::Reset(offset)),
            },
            Machine::Single(m) => {
                let delta = target - m.adjusted_offset(buffered);
                if delta >= 0 && delta as u64 <= buffered {
                    Ok(Seek::Discard(delta as u64))
                } else {
                    m.seek(target)
                        .map(Seek::Reset)
                        .map_err(|_| SeekError::RequiresNewReader)
                }
            }
        };
        // The caller drives next: a restart may release the RPC, fetch or
        // backoff, and start a new RPC.
        let _ = (sh, now);
        result
    }
}
