//! An append operation: one streamed [`Appender`] (Go's `Appender`), or the
//! one-shot append of re-readable content with its retry policy
//! ([`OneShotAppend`]), as a child of the client.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use gazette_proto::{AppendRequest, Route};

use super::routing::FailFast;
use super::rpc::{Call, OpId, RpcId, RpcMessage, Target};
use super::{Event, OpError, Outcome, Progress, Shared, WriteError};
use crate::append::{
    AppendError, AppendStep, Appender, AppenderInput, AppenderOutput, OneShotAppend, RequestError,
    TransportError,
};
use crate::backoff::Backoff;
use crate::status::{Operation, RpcCode, RpcFailure};

#[derive(Debug)]
enum Mode {
    /// The user streams content, then commits or aborts.
    Streamed,
    /// The client sends `content` on every attempt.
    OneShot {
        policy: Box<OneShotAppend>,
        content: Vec<Bytes>,
        retry_at: Option<Instant>,
    },
}

#[derive(Debug)]
pub(crate) struct AppendOp {
    id: OpId,
    mode: Mode,
    appender: Appender,
    rpc: Option<RpcId>,
    /// Byte sizes of the Sends the transport has not taken, in order.
    unacked: VecDeque<u64>,
    backlog: u64,
    /// Whether a write was refused (an [`Event::Writable`] is owed).
    blocked: bool,
    /// Whether the response of the current RPC arrived.
    answered: bool,
    /// The failure of the last RPC, kept so a transport failure keeps its
    /// gRPC code in the operation's error.
    last_failure: Option<RpcFailure>,
    pub(crate) deadline: Option<Instant>,
    /// Where the current RPC went and the route it was picked from.
    dispatched: Option<(Target, Route)>,
    /// When the current RPC last made progress (opened, a message taken).
    progress_at: Option<Instant>,
    /// When to check whether the current RPC stalls.
    probe_at: Option<Instant>,
}

impl AppendOp {
    fn new(id: OpId, mode: Mode, appender: Appender) -> Self {
        AppendOp {
            id,
            mode,
            appender,
            rpc: None,
            unacked: VecDeque::new(),
            backlog: 0,
            blocked: false,
            answered: false,
            last_failure: None,
            deadline: None,
            dispatched: None,
            progress_at: None,
            probe_at: None,
        }
    }

    pub(crate) fn streamed(id: OpId, request: AppendRequest) -> Result<Self, RequestError> {
        Ok(Self::new(id, Mode::Streamed, Appender::new(request)?))
    }

    pub(crate) fn one_shot(
        id: OpId,
        request: AppendRequest,
        content: Vec<Bytes>,
        backoff: Backoff,
    ) -> Result<Self, RequestError> {
        let mut appender = Appender::new(request.clone())?;
        let policy = OneShotAppend::with_backoff(appender.request().clone(), backoff);
        for chunk in &content {
            appender.write(chunk.clone());
        }
        appender.commit();
        Ok(Self::new(
            id,
            Mode::OneShot {
                policy: Box::new(policy),
                content,
                retry_at: None,
            },
            appender,
        ))
    }

    pub(crate) fn backlog(&self) -> u64 {
        self.backlog
    }

    pub(crate) fn write(
        &mut self,
        sh: &mut Shared,
        content: Bytes,
        buffer: u64,
        now: Instant,
    ) -> Result<Progress, WriteError> {
        if !matches!(self.mode, Mode::Streamed) || !self.appender.accepts_content() {
            return Err(WriteError::Closed);
        }
        if self.backlog >= buffer {
            self.blocked = true;
            return Err(WriteError::Blocked);
        }
        self.appender.write(content);
        // The first write opens the stream, and a pick that fails fast (a
        // primary that just failed) finishes the append at once: the
        // content was taken, the result follows as Finished.
        Ok(self.drive(sh, now))
    }

    pub(crate) fn commit(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        if matches!(self.mode, Mode::Streamed) && self.appender.accepts_content() {
            self.appender.commit();
        }
        self.drive(sh, now)
    }

    pub(crate) fn abort(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        if !matches!(self.mode, Mode::Streamed) {
            return Progress::Running;
        }
        if !self.appender.accepts_content() && !self.appender.is_finished() {
            // Committed: too late to roll back; the result follows.
            return Progress::Running;
        }
        self.appender.abort();
        if self.drive(sh, now) == Progress::Done {
            return Progress::Done;
        }
        self.release(sh);
        sh.event(Event::Finished {
            op: self.id,
            result: Ok(Outcome::Aborted),
        });
        Progress::Done
    }

    pub(crate) fn on_sent(&mut self, sh: &mut Shared, rpc: RpcId, buffer: u64, now: Instant) {
        if self.rpc != Some(rpc) {
            return;
        }
        self.progressed(now);
        if let Some(size) = self.unacked.pop_front() {
            self.backlog -= size;
        }
        if self.blocked && self.backlog < buffer {
            self.blocked = false;
            sh.event(Event::Writable { op: self.id });
        }
    }

    fn clear_sends(&mut self) {
        self.unacked.clear();
        self.backlog = 0;
    }

    fn progressed(&mut self, now: Instant) {
        self.progress_at = Some(now);
        // Only an RPC to a member can be probed for (the service address
        // proxies to wherever the journal is).
        self.probe_at = matches!(self.dispatched, Some((Target::Member(_), _)))
            .then(|| now + super::routing::PROBE_AFTER);
    }

    /// A route of the journal was learned (from any response or a probe).
    /// If it differs from the route the stalled RPC was sent under (another
    /// primary, or members gone: a frozen broker the primary replicates to
    /// blocks the append as surely as a frozen primary), the RPC is
    /// cancelled and the append fails over as if its broker were
    /// unavailable (docs/architecture.md#recovering-from-a-frozen-broker).
    pub(crate) fn on_route_learned(
        &mut self,
        sh: &mut Shared,
        route: &Route,
        now: Instant,
    ) -> Progress {
        // Only an RPC sent to a member under a known route can tell: one
        // through the service address is proxied to wherever the journal is.
        let (Some(rpc), Some((target @ Target::Member(_), sent_under))) =
            (self.rpc, &self.dispatched)
        else {
            return Progress::Running;
        };
        if sent_under.members.is_empty() {
            return Progress::Running;
        }
        let stalled = self
            .progress_at
            .is_some_and(|at| now.saturating_duration_since(at) >= super::routing::MOVE_STALL);
        if !stalled || crate::route::routes_equivalent(sent_under, route) {
            return Progress::Running;
        }
        let failure = RpcFailure::remote(
            RpcCode::Unavailable,
            format!(
                "{target}: the route of {} moved while its append waited",
                self.appender.request().journal
            ),
        );
        // The commit marker went out: the broker may have committed.
        if !self.appender.accepts_content() && !self.answered {
            sh.event(Event::OutcomeUnknown { op: self.id });
        }
        // Avoid the broker until it answers again.
        let target = target.clone();
        sh.router().on_unavailable(&target, now);
        sh.cancel_rpc(rpc);
        self.rpc = None;
        self.probe_at = None;
        self.clear_sends();
        self.last_failure = Some(failure.clone());
        self.appender
            .handle(AppenderInput::StreamFailed(failure.into()));
        let journal = self.appender.request().journal.clone();
        let progress = self.drive(sh, now);
        // The failure dropped the cached route; the one just learned is
        // where the journal is now: the retry goes straight to its primary
        // rather than through the service address (which may be frozen).
        sh.router().update_route(&journal, Some(route), now);
        progress
    }

    /// Drains the appender's outputs.
    pub(crate) fn drive(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        while let Some(output) = self.appender.poll_output() {
            match output {
                AppenderOutput::OpenStream { journal } => {
                    let hint = sh.router().journal_hint(&journal, true, now);
                    match sh.router().pick(&hint, now) {
                        Ok(target) => {
                            self.answered = false;
                            self.clear_sends();
                            self.dispatched = hint.route().map(|r| (target.clone(), r.clone()));
                            self.progressed(now);
                            self.rpc = Some(sh.open(self.id, target, Call::Append { journal }));
                        }
                        Err(FailFast { endpoint }) => {
                            // The primary just failed: fail this attempt as
                            // unavailable without dialling it again.
                            let failure = RpcFailure::remote(
                                RpcCode::Unavailable,
                                format!("{endpoint}: broker recently unavailable"),
                            );
                            self.last_failure = Some(failure.clone());
                            self.appender
                                .handle(AppenderInput::StreamFailed(failure.into()));
                        }
                    }
                }
                AppenderOutput::Send(message) => match self.rpc {
                    Some(rpc) => {
                        let size = message.content.len() as u64;
                        self.unacked.push_back(size);
                        self.backlog += size;
                        sh.send(rpc, message);
                    }
                    None => self.appender.handle(AppenderInput::SendFailed),
                },
                AppenderOutput::HalfClose => {
                    if let Some(rpc) = self.rpc {
                        sh.half_close(rpc);
                    }
                }
                AppenderOutput::ReceiveResponse => {
                    if self.rpc.is_none() && !self.answered {
                        self.appender
                            .handle(AppenderInput::StreamFailed(TransportError::Other(
                                "no Append stream".into(),
                            )));
                    }
                }
                AppenderOutput::Abort => {
                    // Half-close without the marker, then drop the stream:
                    // the broker discards what it received.
                    if let Some(rpc) = self.rpc.take() {
                        sh.half_close(rpc);
                        sh.cancel_rpc(rpc);
                    }
                    self.clear_sends();
                }
                AppenderOutput::UpdateRoute { journal, update } => {
                    sh.router()
                        .update_route(&journal, update.into_route().as_ref(), now);
                }
                AppenderOutput::Finished(result) => {
                    if let Some(rpc) = self.rpc.take() {
                        sh.cancel_rpc(rpc);
                    }
                    self.probe_at = None;
                    self.clear_sends();
                    return self.on_attempt_finished(sh, result, now);
                }
            }
        }
        Progress::Running
    }

    fn on_attempt_finished(
        &mut self,
        sh: &mut Shared,
        result: Result<gazette_proto::AppendResponse, AppendError>,
        now: Instant,
    ) -> Progress {
        let result = match &mut self.mode {
            Mode::Streamed => result,
            Mode::OneShot {
                policy, retry_at, ..
            } => {
                let transport = matches!(result, Err(AppendError::Transport(_)));
                let cause = match &result {
                    Err(err) => self
                        .last_failure
                        .as_ref()
                        .filter(|_| transport)
                        .map_or_else(|| err.to_string(), RpcFailure::describe),
                    Ok(_) => String::new(),
                };
                match policy.on_attempt_finished(result) {
                    AppendStep::Done(response) => Ok(response),
                    AppendStep::Fail(err) => Err(err),
                    AppendStep::Retry { delay, attempt } => {
                        *retry_at = Some(now + delay);
                        sh.event(Event::Retrying {
                            op: self.id,
                            operation: Operation::Append,
                            attempt,
                            delay,
                            cause,
                            // Go logs transport failures always, routing
                            // statuses from the second attempt.
                            log: transport || attempt != 0,
                        });
                        return Progress::Running;
                    }
                }
            }
        };
        if let (Err(AppendError::Status(_)), Some(response)) = (&result, self.appender.response()) {
            sh.event(Event::AppendRefused {
                op: self.id,
                response: Box::new(response.clone()),
            });
        }
        let result = result
            .map(Outcome::Appended)
            .map_err(|err| self.op_error(err));
        sh.event(Event::Finished {
            op: self.id,
            result,
        });
        Progress::Done
    }

    /// A transport failure keeps the gRPC status it came with.
    fn op_error(&self, err: AppendError) -> OpError {
        match (&err, &self.last_failure) {
            (
                AppendError::Transport(TransportError::Unavailable(_) | TransportError::Other(_)),
                Some(failure),
            ) => OpError::Rpc {
                operation: Operation::Append,
                failure: failure.clone(),
            },
            _ => OpError::Append(err),
        }
    }

    fn start_attempt(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        let Mode::OneShot {
            policy, content, ..
        } = &mut self.mode
        else {
            return Progress::Running;
        };
        let mut appender = Appender::new(policy.request().clone())
            .expect("the request was validated by the first attempt");
        for chunk in content.iter() {
            appender.write(chunk.clone());
        }
        appender.commit();
        self.appender = appender;
        self.last_failure = None;
        self.drive(sh, now)
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
        self.probe_at = None;
        match message {
            RpcMessage::Append(response) => {
                self.answered = true;
                self.appender.handle(AppenderInput::Response(response));
            }
            other => self
                .appender
                .handle(AppenderInput::StreamFailed(TransportError::Other(format!(
                    "unexpected response on an Append RPC: {other:?}"
                )))),
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
        self.probe_at = None;
        match failure {
            None if self.answered => {}
            None => self
                .appender
                .handle(AppenderInput::StreamFailed(TransportError::Other(
                    "append finished without a response".into(),
                ))),
            Some(failure) => {
                self.last_failure = Some(failure.clone());
                self.appender
                    .handle(AppenderInput::StreamFailed(failure.into()));
            }
        }
        self.drive(sh, now)
    }

    pub(crate) fn wake_at(&self) -> Option<Instant> {
        let retry = match &self.mode {
            Mode::OneShot { retry_at, .. } => *retry_at,
            Mode::Streamed => None,
        };
        [retry, self.deadline, self.probe_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn on_timeout(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        if self.deadline.is_some_and(|d| d <= now) {
            return self.fail_locally(sh, TransportError::DeadlineExceeded);
        }
        if self.probe_at.is_some_and(|at| at <= now) {
            match (&self.rpc, &self.dispatched) {
                (Some(_), Some((target @ Target::Member(_), route))) => {
                    // Stalled: learn whether the journal's route moved.
                    let journal = self.appender.request().journal.clone();
                    self.probe_at = Some(sh.request_probe(&journal, route, target, now));
                }
                _ => self.probe_at = None,
            }
        }
        if let Mode::OneShot { retry_at, .. } = &mut self.mode
            && retry_at.is_some_and(|at| at <= now)
        {
            *retry_at = None;
            return self.start_attempt(sh, now);
        }
        Progress::Running
    }

    pub(crate) fn cancel(&mut self, sh: &mut Shared, _now: Instant) -> Progress {
        self.fail_locally(sh, TransportError::Cancelled)
    }

    /// Ends the append with the caller's cancellation or deadline: its RPC
    /// is cancelled, so whether the broker committed is unknown.
    fn fail_locally(&mut self, sh: &mut Shared, err: TransportError) -> Progress {
        self.release(sh);
        sh.event(Event::Finished {
            op: self.id,
            result: Err(OpError::Append(AppendError::Transport(err))),
        });
        Progress::Done
    }

    pub(crate) fn release(&mut self, sh: &mut Shared) {
        if let Some(rpc) = self.rpc.take() {
            sh.cancel_rpc(rpc);
        }
        self.probe_at = None;
        self.clear_sends();
    }
}
