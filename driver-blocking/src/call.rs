//! Bounding blocking calls: [`CallOptions`] (a timeout and a
//! [`CancelHandle`]) for one call, or for every call of a reader, appender
//! or watch.
//!
//! A call that passes its timeout fails with [`Error::TimedOut`] and one
//! whose handle is cancelled with [`Error::Cancelled`]
//! ([`Error::kind`] is [`ErrorKind::TimedOut`] or [`ErrorKind::Cancelled`]).
//! Either way the call's work is dropped on the client's runtime before the
//! call returns: nothing of it keeps running.
//!
//! ```no_run
//! use std::time::Duration;
//! use gazette_blocking::proto::ListRequest;
//! use gazette_blocking::{CallOptions, CancelHandle, Client, ErrorKind};
//!
//! let client = Client::builder("http://localhost:8080")
//!     .call_timeout(Duration::from_secs(30)) // the default of every call
//!     .build()?;
//! let cancel = CancelHandle::new();
//! let stopper = cancel.clone(); // e.g. for a signal handler's thread
//! let options = CallOptions::new().timeout(Duration::from_secs(5)).cancel(&cancel);
//! match gazette_blocking::list_all_journals_with(&client, ListRequest::default(), &options) {
//!     Ok(listing) => println!("{} journals", listing.journals.len()),
//!     Err(err) if err.kind() == ErrorKind::TimedOut => println!("no answer within 5s"),
//!     Err(err) if err.kind() == ErrorKind::Cancelled => println!("cancelled"),
//!     Err(err) => return Err(err.into()),
//! }
//! # drop(stopper);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Error::TimedOut`]: crate::Error::TimedOut
//! [`Error::Cancelled`]: crate::Error::Cancelled
//! [`Error::kind`]: crate::Error::kind
//! [`ErrorKind::TimedOut`]: crate::ErrorKind::TimedOut
//! [`ErrorKind::Cancelled`]: crate::ErrorKind::Cancelled

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Cancels blocking calls from any thread. Cheap to clone (clones share
/// the state); cancellation is permanent: every call made with a cancelled
/// handle fails with [`Error::Cancelled`](crate::Error::Cancelled) at once,
/// as with a cancelled context in Go (docs/go-differences.md#d45).
#[derive(Debug, Clone, Default)]
pub struct CancelHandle {
    token: CancellationToken,
}

impl CancelHandle {
    /// A handle not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels: calls blocked with this handle return
    /// [`Error::Cancelled`](crate::Error::Cancelled) promptly, and so does
    /// every later call with it.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Whether [`CancelHandle::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The token calls wait on.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}

/// How long one call may block, as [`CallOptions`] says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Timeout {
    /// The client's [`call_timeout`](crate::ClientBuilder::call_timeout).
    #[default]
    ClientDefault,
    /// No bound.
    Unbounded,
    /// This bound.
    After(Duration),
}

/// The bounds of a blocking call: a timeout (default: the client's
/// [`call_timeout`](crate::ClientBuilder::call_timeout), itself unbounded
/// unless set) and an optional [`CancelHandle`].
///
/// Passed to the `*_with` functions for one call, or set on a reader,
/// appender or watch for each of its calls (e.g.
/// [`RetryReader::with_options`](crate::RetryReader::with_options)): the
/// timeout then bounds each call separately (each `read`, each `commit`),
/// not the object's life.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    timeout: Timeout,
    cancel: Option<CancelHandle>,
}

impl CallOptions {
    /// The client's default timeout and no cancel handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fail with [`Error::TimedOut`](crate::Error::TimedOut) once the call
    /// has blocked for `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Timeout::After(timeout);
        self
    }

    /// No timeout, whatever the client's default.
    pub fn no_timeout(mut self) -> Self {
        self.timeout = Timeout::Unbounded;
        self
    }

    /// Fail with [`Error::Cancelled`](crate::Error::Cancelled) once
    /// `cancel` is cancelled (before or during the call).
    pub fn cancel(mut self, cancel: &CancelHandle) -> Self {
        self.cancel = Some(cancel.clone());
        self
    }

    /// The cancel handle, if any.
    pub fn cancel_handle(&self) -> Option<&CancelHandle> {
        self.cancel.as_ref()
    }

    /// The timeout a call with these options gets from a client whose
    /// default is `client_default`.
    pub fn effective_timeout(&self, client_default: Option<Duration>) -> Option<Duration> {
        match self.timeout {
            Timeout::ClientDefault => client_default,
            Timeout::Unbounded => None,
            Timeout::After(timeout) => Some(timeout),
        }
    }

    /// These options with `cancel` as the handle unless they name one.
    pub(crate) fn or_cancel(mut self, cancel: &CancelHandle) -> Self {
        if self.cancel.is_none() {
            self.cancel = Some(cancel.clone());
        }
        self
    }
}
