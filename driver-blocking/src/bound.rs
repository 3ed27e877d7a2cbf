//! A tokio-driver object owned by a blocking wrapper, lent to the runtime
//! for each call.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};

use crate::call::{CallOptions, CancelHandle};
use crate::runtime::{Runtime, Stop};
use crate::{Error, Result};

/// A tokio-driver object (reader, appender, watch) and the bounds of its
/// calls. Each call moves the object into a task on the runtime and back:
/// the object is never polled on the caller's thread, and a call that
/// times out or is cancelled drops only that call's future, not the
/// object.
pub(crate) struct Bound<R> {
    /// None only after a call's task panicked or the runtime stopped.
    inner: Option<R>,
    runtime: Arc<Runtime>,
    cancel: CancelHandle,
    options: CallOptions,
}

const LOST: &str = "the object was lost to a panic of an earlier call";

impl<R: Send + 'static> Bound<R> {
    /// `inner` with a fresh cancel handle and the client's default timeout.
    pub(crate) fn new(inner: R, runtime: Arc<Runtime>) -> Self {
        let cancel = CancelHandle::new();
        Bound {
            inner: Some(inner),
            runtime,
            options: CallOptions::new().cancel(&cancel),
            cancel,
        }
    }

    /// The handle cancelling this object's calls.
    pub(crate) fn cancel_handle(&self) -> &CancelHandle {
        &self.cancel
    }

    /// Bounds later calls with `options`; their cancel handle, if any,
    /// replaces this object's.
    pub(crate) fn set_options(&mut self, options: CallOptions) {
        if let Some(cancel) = options.cancel_handle() {
            self.cancel = cancel.clone();
        }
        self.options = options.or_cancel(&self.cancel);
    }

    /// The options of this object's calls.
    pub(crate) fn options(&self) -> &CallOptions {
        &self.options
    }

    /// The runtime.
    pub(crate) fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The object, for calls that do not block.
    pub(crate) fn get(&self) -> &R {
        self.inner.as_ref().expect(LOST)
    }

    /// The object, for calls that do not block.
    pub(crate) fn get_mut(&mut self) -> &mut R {
        self.inner.as_mut().expect(LOST)
    }

    /// The object, for a call that does not block but may need the
    /// runtime's context (timers, spawning) and a context to poll with: a
    /// poll that is known to be ready (the caller's waker is never woken).
    pub(crate) fn poll_now<'a, T>(
        &'a mut self,
        f: impl FnOnce(&'a mut R, &mut Context<'_>) -> T,
    ) -> T {
        let _context = self.runtime.handle().enter();
        let mut cx = Context::from_waker(Waker::noop());
        f(self.inner.as_mut().expect(LOST), &mut cx)
    }

    /// Moves the object into `work` on the runtime, bounded by this
    /// object's options (`work` races its own future with [`Stop::run`])
    /// and takes it back with the call's output.
    pub(crate) fn call<T, Fut>(&mut self, work: impl FnOnce(R, Stop) -> Fut) -> Result<T>
    where
        T: Send + 'static,
        Fut: Future<Output = (R, T)> + Send + 'static,
    {
        let inner = self
            .inner
            .take()
            .ok_or_else(|| Error::Runtime(std::io::Error::other(LOST)))?;
        let (inner, out) = self.runtime.call(&self.options, |stop| work(inner, stop))?;
        self.inner = Some(inner);
        Ok(out)
    }

    /// Takes the object out for good (consuming calls).
    pub(crate) fn into_inner(mut self) -> Result<(R, Arc<Runtime>, CallOptions)> {
        let inner = self
            .inner
            .take()
            .ok_or_else(|| Error::Runtime(std::io::Error::other(LOST)))?;
        Ok((inner, self.runtime, self.options))
    }
}
