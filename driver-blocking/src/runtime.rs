//! The private tokio runtime every blocking call runs on.
//!
//! gRPC over HTTP/2 has no mature blocking client in Rust, so — like
//! reqwest's blocking client — this crate runs the tokio driver on a
//! process-wide multi-thread runtime of [`WORKER_THREADS`] background
//! threads (named `gazette-blocking`), created on first use. A blocking call
//! drives its future from the caller's thread with `Runtime::block_on`
//! while the workers run connections, timers and fragment fetches.
//!
//! Blocking inside an async runtime would stall that runtime's worker (and
//! tokio panics on nested `block_on`), so every entry point first checks
//! `tokio::runtime::Handle::try_current()` and fails with
//! [`Error::InsideAsyncRuntime`] instead. That check sees any thread with
//! a tokio runtime context, which includes `tokio::task::spawn_blocking`
//! threads: async programs should use `gazette-tokio` directly, or call
//! this crate from a plain `std::thread`.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

use crate::Error;

/// Background worker threads of the private runtime.
pub const WORKER_THREADS: usize = 2;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The private runtime, built on first use; fails when called from inside
/// an async runtime.
pub(crate) fn runtime() -> Result<&'static Runtime, Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::InsideAsyncRuntime);
    }
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("gazette-blocking")
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    // A racing thread may have won; its runtime is used and ours dropped
    // (outside any runtime, so dropping is allowed).
    Ok(RUNTIME.get_or_init(|| built))
}

/// Runs `fut` to completion on the private runtime from the calling thread.
pub(crate) fn block_on<F: Future>(fut: F) -> Result<F::Output, Error> {
    Ok(runtime()?.block_on(fut))
}

/// Like [`block_on`], failing with [`Error::Cancelled`] once `cancel` is
/// cancelled (before or while waiting).
pub(crate) fn block_on_cancellable<F: Future>(
    fut: F,
    cancel: &CancellationToken,
) -> Result<F::Output, Error> {
    let rt = runtime()?;
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }
    rt.block_on(async {
        tokio::select! {
            biased;
            () = cancel.cancelled() => Err(Error::Cancelled),
            out = fut => Ok(out),
        }
    })
}

/// Runs `f` with the private runtime entered, for constructors of the tokio
/// driver that spawn tasks or create timers.
pub(crate) fn enter<T>(f: impl FnOnce() -> T) -> Result<T, Error> {
    let rt = runtime()?;
    let _guard = rt.enter();
    Ok(f())
}
