//! Runtime-agnostic completion futures (docs/behaviour.md#futures).
//!
//! An [`AsyncOperation`] is resolved once with a result; any number of
//! [`OpFuture`] handles observe it. `OpFuture` implements
//! [`std::future::Future`] with plain wakers, so it can be awaited under any
//! executor (tokio, smol, async-std, a hand-written `block_on`); nothing here
//! spawns a thread or needs a runtime. [`OpFutures`] is a set of futures
//! compared by identity.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use gazette_proto::AppendResponse;

use super::error::AppendError;
use super::queue::AppendId;

/// The result an operation resolves with.
pub type OpResult = Result<(), AppendError>;

#[derive(Default)]
struct State {
    result: Option<OpResult>,
    response: Option<AppendResponse>,
    wakers: Vec<Waker>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// The append this operation observes, as (service tag, id): futures of
    /// the same append are the same set member even when created apart.
    append: Option<(u64, AppendId)>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state torn
        // (every critical section is a few assignments), so poisoning is
        // ignored.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The resolving side of an operation (Go's `AsyncOperation`).
#[derive(Clone, Default)]
pub struct AsyncOperation {
    shared: Arc<Shared>,
}

/// Returned when an operation is resolved a second time (Go panics:
/// docs/go-differences.md#d41).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation already resolved")]
pub struct AlreadyResolved;

impl AsyncOperation {
    /// A new, unresolved operation.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new, unresolved operation observing append `id` of the scheduler
    /// a driver tags `service` (any non-zero number unique per scheduler):
    /// a driver turns such futures back into [`AppendId`]s when they are
    /// given as dependencies, and two operations of the same append are
    /// the same [`OpFutures`] member.
    pub fn for_append(service: u64, id: AppendId) -> Self {
        AsyncOperation {
            shared: Arc::new(Shared {
                state: Mutex::default(),
                append: Some((service, id)),
            }),
        }
    }

    /// A handle that observes this operation.
    pub fn future(&self) -> OpFuture {
        OpFuture {
            shared: self.shared.clone(),
        }
    }

    /// Resolves with `result` and wakes every waiter. Fails if already
    /// resolved (the first result stays).
    pub fn resolve(&self, result: OpResult) -> Result<(), AlreadyResolved> {
        self.resolve_with_response(result, None)
    }

    /// Resolves with `result` and the append response of the last attempt.
    pub fn resolve_with_response(
        &self,
        result: OpResult,
        response: Option<AppendResponse>,
    ) -> Result<(), AlreadyResolved> {
        let wakers = {
            let mut state = self.shared.lock();
            if state.result.is_some() {
                return Err(AlreadyResolved);
            }
            state.result = Some(result);
            state.response = response;
            std::mem::take(&mut state.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
        Ok(())
    }
}

impl fmt::Debug for AsyncOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.future(), f)
    }
}

/// An already-resolved operation (Go's `FinishedOperation`).
pub fn finished_operation(result: OpResult) -> OpFuture {
    let op = AsyncOperation::new();
    let _ = op.resolve(result);
    op.future()
}

/// An observer of an operation; `.await` it (or poll it) for the result.
/// Clones observe the same operation and are the same set member.
#[derive(Clone)]
pub struct OpFuture {
    shared: Arc<Shared>,
}

impl OpFuture {
    /// True once resolved (Go's `Done()` has fired).
    pub fn is_done(&self) -> bool {
        self.shared.lock().result.is_some()
    }

    /// The result if resolved, without waiting.
    pub fn try_result(&self) -> Option<OpResult> {
        self.shared.lock().result.clone()
    }

    /// The response of the batch's last append attempt, once resolved (Go's
    /// `AsyncAppend.Response()`); `None` for operations without one.
    pub fn response(&self) -> Option<AppendResponse> {
        self.shared.lock().response.clone()
    }

    /// True when `self` and `other` observe the same operation (or the
    /// same append of the same scheduler).
    pub fn same_as(&self, other: &OpFuture) -> bool {
        self.key() == other.key()
    }

    /// The append this future observes, when it belongs to the scheduler
    /// tagged `service` ([`AsyncOperation::for_append`]).
    pub fn append_id(&self, service: u64) -> Option<AppendId> {
        match self.shared.append {
            Some((tag, id)) if tag == service => Some(id),
            _ => None,
        }
    }

    fn key(&self) -> (u64, u64) {
        match self.shared.append {
            Some((tag, id)) => (tag, id.0),
            None => (0, Arc::as_ptr(&self.shared) as usize as u64),
        }
    }
}

impl Future for OpFuture {
    type Output = OpResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OpResult> {
        let mut state = self.shared.lock();
        if let Some(result) = &state.result {
            return Poll::Ready(result.clone());
        }
        if !state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl fmt::Debug for OpFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_result() {
            None => f.write_str("OpFuture(pending)"),
            Some(Ok(())) => f.write_str("OpFuture(ok)"),
            Some(Err(e)) => write!(f, "OpFuture(err: {e})"),
        }
    }
}

/// A set of operations compared by identity (Go's `OpFutures`).
#[derive(Clone, Default, Debug)]
pub struct OpFutures {
    members: Vec<OpFuture>,
}

impl OpFutures {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `future` unless the same operation is already a member.
    pub fn insert(&mut self, future: OpFuture) {
        if !self.contains(&future) {
            self.members.push(future);
        }
    }

    /// True when the same operation (not merely an equal one) is a member.
    pub fn contains(&self, future: &OpFuture) -> bool {
        self.members.iter().any(|m| m.same_as(future))
    }

    /// True when every member of `self` is a member of `other`. The empty set
    /// is a subset of every set.
    pub fn is_subset_of(&self, other: &OpFutures) -> bool {
        if self.members.len() > other.members.len() {
            return false;
        }
        if self.members.len() > 8 {
            let mut keys: Vec<(u64, u64)> = other.members.iter().map(OpFuture::key).collect();
            keys.sort_unstable();
            return self
                .members
                .iter()
                .all(|m| keys.binary_search(&m.key()).is_ok());
        }
        self.members.iter().all(|m| other.contains(m))
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True for the empty set.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &OpFuture> {
        self.members.iter()
    }

    /// A member that is not resolved yet, if any: a driver awaits it before
    /// asking the service again.
    pub fn first_pending(&self) -> Option<&OpFuture> {
        self.members.iter().find(|m| !m.is_done())
    }

    /// `None` while some member is pending; otherwise the first failing
    /// member's error (in insertion order), or `Ok` when all succeeded.
    pub fn outcome(&self) -> Option<OpResult> {
        let mut first_err = None;
        for m in &self.members {
            match m.try_result()? {
                Ok(()) => {}
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        Some(first_err.map_or(Ok(()), Err))
    }
}

impl FromIterator<OpFuture> for OpFutures {
    fn from_iter<I: IntoIterator<Item = OpFuture>>(iter: I) -> Self {
        let mut set = OpFutures::new();
        iter.into_iter().for_each(|f| set.insert(f));
        set
    }
}
