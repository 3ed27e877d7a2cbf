//! The AppendService: batched, ordered, asynchronous appends to many
//! journals (Go's `AppendService`), blocking on
//! [`gazette_tokio::service`].
//!
//! Writers ([`AsyncAppend`], a `std::io::Write`) spool content; releasing
//! one returns an [`AppendFuture`] whose [`AppendFuture::err`] blocks until
//! its batch committed or failed. Appends to one journal commit in release
//! order; an append may depend on others (its dependencies must succeed
//! before it commits), e.g. on every write pending elsewhere
//! ([`AppendService::pending_except`]).
//!
//! ```no_run
//! use std::io::Write;
//! use gazette_blocking::{AppendFutures, AppendService, Client};
//! let client = Client::new("http://localhost:8080")?;
//! let service = AppendService::new(&client);
//! use gazette_blocking::proto::AppendRequest;
//! let mut first = service.start_append(AppendRequest::new("examples/a"), &AppendFutures::new())?;
//! first.write_all(b"one\n")?;
//! let first = first.release()?;
//! // Commits only after `first` did.
//! let mut second = service.start_append(AppendRequest::new("examples/b"), &first.as_dependency())?;
//! second.write_all(b"two\n")?;
//! second.release()?.err()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use gazette_core::append::OpFuture;
use gazette_proto::{AppendRequest, AppendResponse};

pub use gazette_core::append::{AppendConfig, OpFutures as AppendFutures};

use crate::runtime::Runtime;
use crate::{CallOptions, Client, Error, Result};

/// Batched, ordered, asynchronous appends (Go's `AppendService`). Cheap to
/// clone; clones share the dispatch loop, which runs on the client's
/// runtime thread (the service, its writers and futures keep that thread
/// alive). Released appends are delivered even after the last clone of the
/// service is dropped, as long as that runtime runs: the loop stops only
/// once each of them resolved. Dropping the last handle of the client and
/// of everything made from it shuts the runtime down, abandoning appends
/// still pending then (as the process exiting would): [`close`] first to
/// wait for them; [`cancel`] fails what is pending instead.
///
/// [`close`]: AppendService::close
/// [`cancel`]: AppendService::cancel
#[derive(Debug, Clone)]
pub struct AppendService {
    inner: gazette_tokio::AppendService,
    runtime: Arc<Runtime>,
}

impl AppendService {
    /// A service appending through `client` with Go's defaults. Its
    /// dispatch loop starts on the client's runtime thread.
    pub fn new(client: &Client) -> Self {
        Self::with_config(client, AppendConfig::default())
    }

    /// A service with explicit batching and retry settings.
    pub fn with_config(client: &Client, config: AppendConfig) -> Self {
        let runtime = client.runtime().clone();
        let inner = {
            let _context = runtime.handle().enter();
            gazette_tokio::AppendService::with_config(client.as_tokio(), config)
        };
        AppendService { inner, runtime }
    }

    /// Opens a writer of an append of `request` that commits only after
    /// every future of `dependencies` succeeded. Blocks while another
    /// writer of the journal is open (until it releases, or
    /// [`cancel`](Self::cancel) is called from another thread); see
    /// [`start_append_timeout`](Self::start_append_timeout) for a bounded
    /// wait.
    pub fn start_append(
        &self,
        request: AppendRequest,
        dependencies: &AppendFutures,
    ) -> Result<AsyncAppend> {
        self.start_append_with(request, dependencies, &CallOptions::new())
    }

    /// [`start_append`](Self::start_append), bounded by `options` (the
    /// wait for the journal's open writer).
    pub fn start_append_with(
        &self,
        request: AppendRequest,
        dependencies: &AppendFutures,
        options: &CallOptions,
    ) -> Result<AsyncAppend> {
        let service = self.inner.clone();
        let dependencies = dependencies.clone();
        let inner = self.runtime.run(options, async move {
            service.start_append(request, &dependencies).await
        })??;
        Ok(AsyncAppend {
            inner,
            runtime: self.runtime.clone(),
        })
    }

    /// Like [`start_append`](Self::start_append), giving up (`None`) when
    /// another writer of the journal is still open after `timeout`.
    pub fn start_append_timeout(
        &self,
        request: AppendRequest,
        dependencies: &AppendFutures,
        timeout: Duration,
    ) -> Result<Option<AsyncAppend>> {
        let options = CallOptions::new().timeout(timeout);
        match self.start_append_with(request, dependencies, &options) {
            Ok(writer) => Ok(Some(writer)),
            Err(Error::TimedOut { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Takes no more appends (for every clone), blocks until every released
    /// append committed or failed, then stops the dispatch loop. Writers
    /// that are still open may release (close waits for them, so do not
    /// hold one on this thread). Pending appends are retried as long as the
    /// retry policy says, e.g. while brokers are unreachable; use
    /// [`close_timeout`](Self::close_timeout) to bound the wait, or
    /// [`cancel`](Self::cancel) (from any thread) to fail them.
    pub fn close(&self) -> Result<()> {
        self.close_with(&CallOptions::new())
    }

    /// [`close`](Self::close), bounded by `options` (when it fails with
    /// [`Error::TimedOut`] or [`Error::Cancelled`] the service stays
    /// closed, its appends still pending).
    pub fn close_with(&self, options: &CallOptions) -> Result<()> {
        let service = self.inner.clone();
        self.runtime
            .run(options, async move { service.close().await })
    }

    /// Like [`close`](Self::close), returning `false` if appends are still
    /// pending after `timeout` (the service stays closed; call again or
    /// [`cancel`](Self::cancel)).
    pub fn close_timeout(&self, timeout: Duration) -> Result<bool> {
        match self.close_with(&CallOptions::new().timeout(timeout)) {
            Ok(()) => Ok(true),
            Err(Error::TimedOut { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Fails everything pending (Go's cancellation of the service's
    /// context): running attempts are abandoned and every unresolved append
    /// fails with a cancellation error ([`AppendFuture::err`] returns it),
    /// as do writers blocked in [`start_append`](Self::start_append).
    /// Returns at once; [`close`](Self::close) then waits for the loop to
    /// stop.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Appends `content` as one append of `request` and returns its future
    /// without waiting for the commit.
    pub fn append(&self, request: AppendRequest, content: &[u8]) -> Result<AppendFuture> {
        self.append_with(request, content, &CallOptions::new())
    }

    /// [`append`](Self::append), bounded by `options` (the wait for the
    /// journal's open writer; the commit is the future's).
    pub fn append_with(
        &self,
        request: AppendRequest,
        content: &[u8],
        options: &CallOptions,
    ) -> Result<AppendFuture> {
        let mut writer = self.start_append_with(request, &AppendFutures::new(), options)?;
        writer.inner.write(content)?;
        writer.release()
    }

    /// Appends `record` as one newline-delimited record (its newline added
    /// when missing) and returns its future without waiting for the commit.
    /// Read it back with [`Records`](crate::Records).
    pub fn append_record(&self, request: AppendRequest, record: &[u8]) -> Result<AppendFuture> {
        let mut writer = self.start_append(request, &AppendFutures::new())?;
        writer.write_record(record)?;
        writer.release()
    }

    /// Futures of everything pending on journals other than `journal` (all
    /// journals for `""`): the dependencies of an append that must follow
    /// every other in-flight write.
    pub fn pending_except(&self, journal: &str) -> AppendFutures {
        self.inner.pending_except(journal)
    }

    /// Clears `journal`'s terminal error and returns it, so appends started
    /// afterwards are sent again (see the tokio driver's
    /// `AppendService::clear_poison`; docs/go-differences.md#d21).
    pub fn clear_poison(&self, journal: &str) -> Option<gazette_core::append::AppendError> {
        self.inner.clear_poison(journal)
    }

    /// The scheduler's counters.
    pub fn metrics(&self) -> gazette_core::append::AppendMetrics {
        self.inner.metrics()
    }
}

/// An open append of an [`AppendService`] (Go's `AsyncAppend` between
/// `StartAppend` and `Release`): write content through `std::io::Write`,
/// then [`release`](AsyncAppend::release) it. Dropping it unreleased rolls
/// its content back.
#[derive(Debug)]
pub struct AsyncAppend {
    inner: gazette_tokio::AsyncAppend,
    runtime: Arc<Runtime>,
}

impl AsyncAppend {
    /// The append's request.
    pub fn request(&self) -> &AppendRequest {
        self.inner.request()
    }

    /// Spools `record` as one newline-delimited record: its newline is
    /// added when missing.
    pub fn write_record(&mut self, record: &[u8]) -> Result<()> {
        Ok(self.inner.write_record(record)?)
    }

    /// Rolls this writer's content back at release, failing its future
    /// with `err` (Go's `Require`).
    pub fn require(&mut self, err: impl std::fmt::Display) {
        self.inner.require(err);
    }

    /// Releases the writer: its content joins the journal's next batch,
    /// which commits in order. Does not wait for the commit: the returned
    /// future does.
    pub fn release(self) -> Result<AppendFuture> {
        Ok(AppendFuture {
            inner: self.inner.release()?,
            runtime: self.runtime,
        })
    }
}

impl Write for AsyncAppend {
    /// Spools `buf` (no network round trip; never blocks on the broker).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Write::write(&mut self.inner, buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The outcome of a released append (Go's `OpFuture` of an `AsyncAppend`).
#[derive(Debug, Clone)]
pub struct AppendFuture {
    inner: OpFuture,
    runtime: Arc<Runtime>,
}

impl AppendFuture {
    /// Blocks until the append's batch committed (`Ok`) or failed (Go's
    /// `Err()` after `Done()`). Resolution does not depend on the service
    /// handle staying alive; to bound the wait use
    /// [`err_timeout`](Self::err_timeout), or fail everything pending with
    /// [`AppendService::cancel`].
    pub fn err(&self) -> Result<()> {
        self.err_with(&CallOptions::new())
    }

    /// [`err`](Self::err), bounded by `options`: [`Error::TimedOut`] or
    /// [`Error::Cancelled`] says the wait stopped, not the append (it stays
    /// pending).
    pub fn err_with(&self, options: &CallOptions) -> Result<()> {
        let outcome = self.runtime.run(options, self.inner.clone())?;
        outcome.map_err(|err| Error::Driver(gazette_tokio::Error::Append(err)))
    }

    /// Like [`AppendFuture::err`], giving up (None) after `timeout`.
    pub fn err_timeout(&self, timeout: Duration) -> Result<Option<()>> {
        match self.err_with(&CallOptions::new().timeout(timeout)) {
            Ok(()) => Ok(Some(())),
            Err(Error::TimedOut { .. }) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// True once resolved.
    pub fn is_done(&self) -> bool {
        self.inner.is_done()
    }

    /// The broker's response to the batch's last attempt, once resolved.
    pub fn response(&self) -> Option<AppendResponse> {
        self.inner.response()
    }

    /// A dependency set holding this append alone, for
    /// [`AppendService::start_append`].
    pub fn as_dependency(&self) -> AppendFutures {
        std::iter::once(self.inner.clone()).collect()
    }

    /// The core future (to add to a larger [`AppendFutures`] set).
    pub fn as_core(&self) -> &OpFuture {
        &self.inner
    }
}
