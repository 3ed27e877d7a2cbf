//! The runtime thread each [`Client`](crate::Client) owns, and how blocking
//! calls reach it.
//!
//! gRPC over HTTP/2 has no mature blocking client in Rust, so, as
//! reqwest's blocking client does, building a [`Client`](crate::Client)
//! starts one named thread (default [`DEFAULT_THREAD_NAME`]) that owns a
//! current-thread tokio runtime. That thread runs the tokio driver:
//! connections, timers, fragment fetches, the AppendService dispatch loop
//! and watches keep making progress between calls.
//!
//! A blocking call sends its future to that runtime as a task and waits
//! for the result on a `std::sync::mpsc` channel. The caller's thread
//! never drives a tokio runtime, so calls work from any thread: a plain
//! `std::thread`, a `tokio::task::spawn_blocking` thread, or a thread
//! inside a tokio runtime's context (calling from an async task still
//! blocks that task's worker thread while the call runs, as any blocking
//! call does).
//!
//! The client, its clones and every object made from it (readers,
//! appenders, the AppendService and its writers and futures, watches)
//! share the runtime. When the last of them is dropped, the runtime is
//! shut down and the dropping thread joins the runtime thread, waiting at
//! most the builder's
//! [`shutdown_timeout`](crate::ClientBuilder::shutdown_timeout) (past it
//! the thread is left to finish on its own).
//!
//! Every call can be bounded with [`CallOptions`]: a
//! timeout, a [`CancelHandle`], or both. A call that
//! times out or is cancelled drops its future on the runtime, so no work
//! of it keeps running.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::Duration;

use futures::FutureExt;

use crate::call::{CallOptions, CancelHandle};
use crate::{Error, Result};

/// The name of the runtime thread unless
/// [`ClientBuilder::thread_name`](crate::ClientBuilder::thread_name) says
/// otherwise. Linux shows the first 15 bytes of a thread's name
/// (`/proc/<pid>/task/<tid>/comm`, `top -H`).
pub const DEFAULT_THREAD_NAME: &str = "gazette-blocking-runtime";

/// How long dropping the last handle of a client waits for its runtime
/// thread unless
/// [`ClientBuilder::shutdown_timeout`](crate::ClientBuilder::shutdown_timeout)
/// says otherwise.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a runtime thread.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeConfig {
    pub(crate) thread_name: String,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) call_timeout: Option<Duration>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            thread_name: DEFAULT_THREAD_NAME.into(),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            call_timeout: None,
        }
    }
}

/// One client's runtime thread. Shared (`Arc`) by the client and everything
/// made from it; dropping the last reference stops and joins the thread.
pub(crate) struct Runtime {
    handle: tokio::runtime::Handle,
    call_timeout: Option<Duration>,
    shutdown_timeout: Duration,
    /// Dropped or fired: the runtime thread stops.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Disconnects once the runtime thread has shut its runtime down.
    exited: Mutex<mpsc::Receiver<()>>,
    /// Set once `Drop` joined the thread (see [`RuntimeJoined`]).
    joined: Arc<AtomicBool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("thread", &self.thread.as_ref().map(|t| t.thread().name()))
            .field("call_timeout", &self.call_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Starts the runtime thread and waits until its runtime runs (a
    /// failure to build it comes back here).
    pub(crate) fn start(config: RuntimeConfig) -> Result<Arc<Runtime>> {
        let (ready_tx, ready_rx) = mpsc::sync_channel::<std::io::Result<tokio::runtime::Handle>>(1);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (exit_tx, exit_rx) = mpsc::channel::<()>();
        let shutdown_timeout = config.shutdown_timeout;
        let blocking_name = format!("{}-blocking", config.thread_name);
        let thread = std::thread::Builder::new()
            .name(config.thread_name.clone())
            .spawn(move || {
                let exit = exit_tx;
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .thread_name(blocking_name)
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = ready_tx.send(Err(err));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(runtime.handle().clone()));
                // Runs every spawned task until the last handle is dropped
                // (the sender fires or is dropped).
                runtime.block_on(async {
                    let _ = stop_rx.await;
                });
                runtime.shutdown_timeout(shutdown_timeout);
                drop(exit);
            })
            .map_err(Error::Runtime)?;
        let handle = match ready_rx.recv() {
            Ok(Ok(handle)) => handle,
            Ok(Err(err)) => {
                let _ = thread.join();
                return Err(Error::Runtime(err));
            }
            Err(_) => {
                let _ = thread.join();
                return Err(Error::Runtime(std::io::Error::other(
                    "the runtime thread exited while starting",
                )));
            }
        };
        Ok(Arc::new(Runtime {
            handle,
            call_timeout: config.call_timeout,
            shutdown_timeout,
            stop: Some(stop_tx),
            thread: Some(thread),
            exited: Mutex::new(exit_rx),
            joined: Arc::new(AtomicBool::new(false)),
        }))
    }

    /// The runtime's handle (for constructors of the tokio driver that
    /// spawn tasks: enter it around them).
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// The client's default timeout of blocking calls.
    pub(crate) fn call_timeout(&self) -> Option<Duration> {
        self.call_timeout
    }

    /// The runtime thread.
    pub(crate) fn thread(&self) -> &std::thread::Thread {
        self.thread.as_ref().expect("joined only on drop").thread()
    }

    /// A signal set once this runtime's thread has been joined.
    pub(crate) fn joined(&self) -> RuntimeJoined {
        RuntimeJoined(self.joined.clone())
    }

    /// The bounds of a call made with `options`.
    fn stop(&self, options: &CallOptions) -> Stop {
        Stop {
            timeout: options.effective_timeout(self.call_timeout),
            cancel: options.cancel_handle().cloned(),
        }
    }

    /// Runs `work(stop)` as a task on the runtime and waits (on a std
    /// channel) for its output. The future should race its work against
    /// [`Stop::run`]; `call` itself does not bound it. A panic of the task
    /// resumes on the caller's thread.
    pub(crate) fn call<T, Fut>(
        &self,
        options: &CallOptions,
        work: impl FnOnce(Stop) -> Fut,
    ) -> Result<T>
    where
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let future = work(self.stop(options));
        let (tx, rx) = mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let out = AssertUnwindSafe(future).catch_unwind().await;
            let _ = tx.send(out);
        });
        match rx.recv() {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // The task was dropped unfinished: only a runtime that stopped
            // does that.
            Err(_) => Err(Error::Runtime(std::io::Error::other(
                "the gazette-blocking runtime thread stopped",
            ))),
        }
    }

    /// Runs `future` on the runtime, bounded by `options`: past the timeout
    /// or once cancelled, the future is dropped there and the call fails
    /// with [`Error::TimedOut`] or [`Error::Cancelled`].
    pub(crate) fn run<F>(&self, options: &CallOptions, future: F) -> Result<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.call(options, move |stop| stop.run(future))?
    }

    /// Waits for `future` on the caller's thread (parking it between
    /// wake-ups), bounded by `options`. Only for futures that do no IO of
    /// their own and borrow caller state that cannot move to the runtime
    /// (a watch's predicate): their wake-ups come from the runtime thread.
    pub(crate) fn wait_here<F: Future>(
        &self,
        options: &CallOptions,
        future: F,
    ) -> Result<F::Output> {
        // The timer of the bound is registered with this runtime.
        let _context = self.handle.enter();
        let future = pin!(self.stop(options).run(future));
        park_until_ready(future)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(thread) = self.thread.take() else {
            return;
        };
        if thread.thread().id() == std::thread::current().id() {
            // Dropped by a task of the runtime itself: it stops once this
            // task returns; joining here would wait for ourselves.
            return;
        }
        let exited = self.exited.get_mut().unwrap_or_else(|e| e.into_inner());
        match exited.recv_timeout(self.shutdown_timeout) {
            Err(mpsc::RecvTimeoutError::Disconnected) | Ok(()) => {
                let _ = thread.join();
                self.joined.store(true, Ordering::SeqCst);
            }
            // Still shutting down: leave it to finish on its own.
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Set once a client's runtime thread has been joined: the signal the
/// tests of this crate check after dropping the last handle of a client.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct RuntimeJoined(Arc<AtomicBool>);

impl RuntimeJoined {
    /// True once the last handle of the client was dropped and its runtime
    /// thread joined.
    pub fn is_joined(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The bounds of one call (timeout and cancel handle), raced against its
/// work on the runtime.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    timeout: Option<Duration>,
    cancel: Option<CancelHandle>,
}

impl Stop {
    /// Runs `future` until it completes, the timeout passes
    /// ([`Error::TimedOut`]) or the handle is cancelled
    /// ([`Error::Cancelled`], also when it was cancelled before the call).
    /// The future is dropped in the latter two cases, before this returns.
    pub(crate) async fn run<F: Future>(self, future: F) -> Result<F::Output> {
        let cancelled = async {
            match &self.cancel {
                Some(cancel) => cancel.token().cancelled().await,
                None => std::future::pending().await,
            }
        };
        let timed_out = async {
            match self.timeout {
                Some(timeout) => tokio::time::sleep(timeout).await,
                None => std::future::pending().await,
            }
        };
        // Cancellation first (a cancelled call never runs its work), then
        // the work (a ready result beats a timer that expired with it).
        tokio::select! {
            biased;
            () = cancelled => Err(Error::Cancelled),
            out = future => Ok(out),
            () = timed_out => Err(Error::TimedOut {
                after: self.timeout.unwrap_or_default(),
            }),
        }
    }
}

/// Wakes a parked thread.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread, parking between wake-ups.
fn park_until_ready<F: Future>(mut future: std::pin::Pin<&mut F>) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Says on which thread it was dropped.
    struct DropSignal(mpsc::Sender<Option<String>>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            let _ = self
                .0
                .send(std::thread::current().name().map(str::to_owned));
        }
    }

    fn runtime(name: &str) -> Arc<Runtime> {
        Runtime::start(RuntimeConfig {
            thread_name: name.into(),
            ..RuntimeConfig::default()
        })
        .unwrap()
    }

    /// Work that never finishes, holding `signal`.
    async fn forever(signal: DropSignal) {
        let _signal = signal;
        std::future::pending::<()>().await
    }

    #[test]
    fn a_timed_out_call_dropped_its_work_on_the_runtime_before_returning() {
        let runtime = runtime("gz-unit-timeout");
        let (tx, dropped) = mpsc::channel();
        let timeout = Duration::from_millis(20);
        let err = runtime
            .run(
                &CallOptions::new().timeout(timeout),
                forever(DropSignal(tx)),
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::TimedOut { after } if after == timeout),
            "{err:?}"
        );
        assert_eq!(dropped.try_recv(), Ok(Some("gz-unit-timeout".into())));
    }

    #[test]
    fn a_cancelled_call_dropped_its_work_on_the_runtime_before_returning() {
        let runtime = runtime("gz-unit-cancel");
        let cancel = CancelHandle::new();
        let (tx, dropped) = mpsc::channel();
        let (started_tx, started) = mpsc::channel::<()>();
        let canceller = {
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                // Once the work runs on the runtime, cancel it.
                started.recv().unwrap();
                cancel.cancel();
            })
        };
        let err = runtime
            .run(&CallOptions::new().cancel(&cancel), async move {
                started_tx.send(()).unwrap();
                forever(DropSignal(tx)).await
            })
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err:?}");
        assert_eq!(dropped.try_recv(), Ok(Some("gz-unit-cancel".into())));
        canceller.join().unwrap();
        // Cancellation is permanent: later calls fail at once, without
        // running their work.
        let (tx, dropped) = mpsc::channel();
        let err = runtime
            .run(&CallOptions::new().cancel(&cancel), forever(DropSignal(tx)))
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err:?}");
        assert!(dropped.try_recv().is_ok());
    }

    #[test]
    fn a_panic_of_a_call_resumes_on_the_callers_thread() {
        let runtime = runtime("gz-unit-panic");
        let panic = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.run(&CallOptions::new(), async { panic!("boom") })
        }))
        .unwrap_err();
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom"));
        // The runtime still serves calls.
        assert_eq!(runtime.run(&CallOptions::new(), async { 7 }).unwrap(), 7);
    }

    #[test]
    fn the_last_handle_dropped_on_the_runtime_thread_does_not_wait_for_itself() {
        let runtime = Runtime::start(RuntimeConfig {
            thread_name: "gz-unit-self".into(),
            shutdown_timeout: Duration::from_secs(600),
            ..RuntimeConfig::default()
        })
        .unwrap();
        let joined = runtime.joined();
        let (go_tx, go) = mpsc::channel::<()>();
        let (done_tx, done) = mpsc::channel::<()>();
        let held = runtime.clone();
        runtime.handle().spawn(async move {
            // Once the test dropped its handle, drop the last one here.
            tokio::task::spawn_blocking(move || go.recv().unwrap())
                .await
                .unwrap();
            drop(held);
            done_tx.send(()).unwrap();
        });
        drop(runtime);
        go_tx.send(()).unwrap();
        // Waiting for its own exit would take the whole shutdown timeout.
        done.recv_timeout(Duration::from_secs(60))
            .expect("the drop on the runtime thread returned at once");
        assert!(!joined.is_joined());
    }

    #[test]
    fn a_wait_on_the_callers_thread_ends_on_cancellation_or_timeout() {
        let runtime = runtime("gz-unit-here");
        let cancel = CancelHandle::new();
        let (started_tx, started) = mpsc::channel::<()>();
        let canceller = {
            let cancel = cancel.clone();
            std::thread::spawn(move || {
                started.recv().unwrap();
                cancel.cancel();
            })
        };
        let (tx, dropped) = mpsc::channel();
        let signal = DropSignal(tx);
        let work = async move {
            let _signal = signal;
            // Polled (so parked on) before the cancellation.
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await
        };
        let err = runtime
            .wait_here(&CallOptions::new().cancel(&cancel), work)
            .unwrap_err();
        assert!(matches!(err, Error::Cancelled), "{err:?}");
        canceller.join().unwrap();
        // Dropped here, on the caller's thread, before returning.
        let here = std::thread::current().name().map(str::to_owned);
        assert_eq!(dropped.try_recv(), Ok(here));

        let timeout = Duration::from_millis(20);
        let err = runtime
            .wait_here(
                &CallOptions::new().timeout(timeout),
                std::future::pending::<()>(),
            )
            .unwrap_err();
        assert!(
            matches!(err, Error::TimedOut { after } if after == timeout),
            "{err:?}"
        );
    }

    #[test]
    fn options_pick_the_timeout() {
        let default = Some(Duration::from_secs(1));
        let short = Duration::from_millis(5);
        assert_eq!(CallOptions::new().effective_timeout(default), default);
        assert_eq!(CallOptions::new().effective_timeout(None), None);
        assert_eq!(
            CallOptions::new().timeout(short).effective_timeout(default),
            Some(short)
        );
        assert_eq!(
            CallOptions::new().no_timeout().effective_timeout(default),
            None
        );
    }
}
