//! An append operation: one streamed [`Appender`] (Go's `Appender`), or the
//! one-shot append of re-readable content with its retry policy
//! ([`OneShotAppend`]), as a child of the client.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use gazette_proto::AppendRequest;

use super::routing::FailFast;
use super::rpc::{Call, OpId, RpcId, RpcMessage};
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
        // A write opens the stream or queues Sends; opening can fail fast
        // (a primary that just failed), which finishes the append.
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

    pub(crate) fn on_sent(&mut self, sh: &mut Shared, rpc: RpcId, buffer: u64) {
        if self.rpc != Some(rpc) {
            return;
        }
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
        match (retry, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn on_timeout(&mut self, sh: &mut Shared, now: Instant) -> Progress {
        if self.deadline.is_some_and(|d| d <= now) {
            return self.fail_locally(sh, TransportError::DeadlineExceeded);
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
        self.clear_sends();
    }
}
