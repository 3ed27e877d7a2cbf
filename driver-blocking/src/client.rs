//! The blocking [`Client`] and its [`ClientBuilder`]: the tokio driver's
//! client, running on a runtime thread of its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gazette_tokio::fragment::FragmentHttpConfig;

use crate::runtime::{Runtime, RuntimeConfig, RuntimeJoined};
use crate::{Auth, Result};

/// Builder of a [`Client`]: every setting of the tokio driver's
/// [`gazette_tokio::ClientBuilder`] (forwarded to it), plus this crate's
/// own: the default [`call_timeout`](Self::call_timeout), the runtime
/// thread's [`thread_name`](Self::thread_name) and
/// [`shutdown_timeout`](Self::shutdown_timeout).
///
/// ```no_run
/// use std::time::Duration;
/// let client = gazette_blocking::Client::builder("http://localhost:8080")
///     .zone("us-east-1a")
///     .request_timeout(Duration::from_secs(30))
///     .call_timeout(Duration::from_secs(60))
///     .build()?;
/// # Ok::<(), gazette_blocking::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    inner: gazette_tokio::ClientBuilder,
    runtime: RuntimeConfig,
}

impl From<gazette_tokio::ClientBuilder> for ClientBuilder {
    /// A blocking builder with `builder`'s settings and this crate's
    /// defaults for its own.
    fn from(builder: gazette_tokio::ClientBuilder) -> Self {
        ClientBuilder {
            inner: builder,
            runtime: RuntimeConfig::default(),
        }
    }
}

impl ClientBuilder {
    /// A builder configured from the process environment exactly as gazctl
    /// configures its broker client (see
    /// [`gazette_tokio::ClientBuilder::from_env`]: `BROKER_ADDRESS`,
    /// `BROKER_CACHE_SIZE`, `BROKER_CACHE_TTL`, `BROKER_AUTH_KEYS` or
    /// `BROKER_AUTH_TOKEN`, the TLS files and `ZONE`; docs/environment.md).
    /// Further builder calls override what the environment said.
    pub fn from_env() -> Result<Self> {
        Ok(gazette_tokio::ClientBuilder::from_env()?.into())
    }

    /// [`ClientBuilder::from_env`] over `lookup` (a variable's value, None
    /// when unset) instead of the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        Ok(gazette_tokio::ClientBuilder::from_lookup(lookup)?.into())
    }

    /// Capacity and time-to-live of the journal route cache (see
    /// [`gazette_tokio::ClientBuilder::route_cache`]).
    pub fn route_cache(mut self, capacity: usize, ttl: Duration) -> Self {
        self.inner = self.inner.route_cache(capacity, ttl);
        self
    }

    /// The caller's zone: reads prefer a broker in this zone (see
    /// [`gazette_tokio::ClientBuilder::zone`]).
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.inner = self.inner.zone(zone);
        self
    }

    /// How calls are authorized (see
    /// [`gazette_tokio::ClientBuilder::auth`]).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.inner = self.inner.auth(auth);
        self
    }

    /// Bound on establishing a connection (see
    /// [`gazette_tokio::ClientBuilder::connect_timeout`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.inner = self.inner.connect_timeout(timeout);
        self
    }

    /// The tokio driver's deadline of each listing or administrative call
    /// (see [`gazette_tokio::ClientBuilder::request_timeout`]; past it:
    /// `ListError::DeadlineExceeded`). Unlike
    /// [`call_timeout`](Self::call_timeout) it does not bound reads,
    /// appends or watches.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.inner = self.inner.request_timeout(timeout);
        self
    }

    /// TLS settings for `https` endpoints and fragment fetches (see
    /// [`gazette_tokio::ClientBuilder::tls`]). Needs a TLS feature.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: impl Into<crate::TlsConfig>) -> Self {
        self.inner = self.inner.tls(tls);
        self
    }

    /// Serve `file://` fragment URLs from this directory (see
    /// [`gazette_tokio::ClientBuilder::fragment_file_root`]).
    pub fn fragment_file_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.inner = self.inner.fragment_file_root(root);
        self
    }

    /// How fragment URLs are fetched over HTTP(S) for direct reads (see
    /// [`gazette_tokio::ClientBuilder::fragment_http`]).
    pub fn fragment_http(mut self, config: FragmentHttpConfig) -> Self {
        self.inner = self.inner.fragment_http(config);
        self
    }

    /// Whether calls go straight to the broker a route names (see
    /// [`gazette_tokio::ClientBuilder::route_directly`]).
    pub fn route_directly(mut self, enabled: bool) -> Self {
        self.inner = self.inner.route_directly(enabled);
        self
    }

    /// The default bound of every blocking call of the client (each call
    /// separately: each `read`, `commit`, listing, ...): past it the call
    /// fails with [`Error::TimedOut`](crate::Error::TimedOut). Default: no
    /// bound. [`CallOptions`](crate::CallOptions) override it per call.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.runtime.call_timeout = Some(timeout);
        self
    }

    /// The name of the client's runtime thread (default
    /// [`DEFAULT_THREAD_NAME`](crate::runtime::DEFAULT_THREAD_NAME)).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.runtime.thread_name = name.into();
        self
    }

    /// How long dropping the client's last handle waits for its runtime
    /// to shut down and its thread to exit (default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`](crate::runtime::DEFAULT_SHUTDOWN_TIMEOUT));
    /// past it the thread is left to finish on its own.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.runtime.shutdown_timeout = timeout;
        self
    }

    /// The tokio driver's builder this one forwards to.
    pub fn as_tokio(&self) -> &gazette_tokio::ClientBuilder {
        &self.inner
    }

    /// Starts the client's runtime thread and builds the client on it. No
    /// connection is made until the first call. Fails as
    /// [`gazette_tokio::ClientBuilder::build`] does (then the thread is
    /// stopped again), or with [`Error::Runtime`](crate::Error::Runtime)
    /// when the thread cannot start.
    pub fn build(self) -> Result<Client> {
        let runtime = Runtime::start(self.runtime)?;
        let inner = {
            let _context = runtime.handle().enter();
            self.inner.build()?
        };
        Ok(Client { inner, runtime })
    }
}

/// A Gazette broker client for blocking code. Cheap to clone; clones share
/// channels, the route cache and the runtime thread.
///
/// It wraps a [`gazette_tokio::Client`] whose connections live on a
/// runtime thread this client starts (see [`runtime`](crate::runtime)):
/// its calls work from any thread, including `spawn_blocking` threads and
/// threads inside a tokio runtime's context. Dropping the last clone (and
/// every reader, appender, service and watch made from it) stops and joins
/// that thread.
///
/// Building needs no broker (nothing is dialled until the first call):
///
/// ```
/// use std::time::Duration;
/// use gazette_blocking::Client;
///
/// let client = Client::builder("http://127.0.0.1:1") // nothing listens there
///     .thread_name("my-gazette")
///     .call_timeout(Duration::from_secs(30))
///     .build()?;
/// assert_eq!(client.runtime_thread().name(), Some("my-gazette"));
/// assert_eq!(client.call_timeout(), Some(Duration::from_secs(30)));
///
/// // Calls work from any thread; this one fails as a transport failure.
/// let err = std::thread::spawn(move || {
///     gazette_blocking::list_all_journals(&client, Default::default())
/// })
/// .join()
/// .unwrap()
/// .unwrap_err();
/// assert!(err.is_unavailable(), "{err}");
/// # Ok::<(), gazette_blocking::Error>(())
/// ```
///
/// With a broker, a call timeout for every call and one of its own for one
/// call:
///
/// ```no_run
/// use std::time::Duration;
/// use gazette_blocking::proto::ListRequest;
/// use gazette_blocking::{CallOptions, Client};
///
/// let client = Client::builder("http://localhost:8080")
///     .zone("us-east-1a")
///     .call_timeout(Duration::from_secs(30))
///     .build()?;
/// let listing = gazette_blocking::list_all_journals(&client, ListRequest::default())?;
/// println!("{} journals", listing.journals.len());
///
/// // One call with a bound of its own.
/// let options = CallOptions::new().timeout(Duration::from_secs(2));
/// let spec = gazette_blocking::get_journal_with(&client, "examples/hello", &options)?;
/// println!("{spec:?}");
/// # Ok::<(), gazette_blocking::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: gazette_tokio::Client,
    runtime: Arc<Runtime>,
}

impl Client {
    /// A builder for a client of the broker service at `endpoint`
    /// (`http://host:port` or `https://host:port`).
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        gazette_tokio::Client::builder(endpoint).into()
    }

    /// A client of `endpoint` with default settings.
    pub fn new(endpoint: impl Into<String>) -> Result<Self> {
        Self::builder(endpoint).build()
    }

    /// A client configured from the environment exactly as gazctl's broker
    /// client is ([`ClientBuilder::from_env`], built). Like gazctl it keeps
    /// no route cache unless `BROKER_CACHE_SIZE` is positive: every call
    /// goes to `BROKER_ADDRESS` and brokers proxy.
    pub fn from_env() -> Result<Self> {
        ClientBuilder::from_env()?.build()
    }

    /// The service endpoint this client dials.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint()
    }

    /// The client's default call timeout
    /// ([`ClientBuilder::call_timeout`]).
    pub fn call_timeout(&self) -> Option<Duration> {
        self.runtime.call_timeout()
    }

    /// The client's runtime thread (its name and id).
    pub fn runtime_thread(&self) -> &std::thread::Thread {
        self.runtime.thread()
    }

    /// A signal set once this client's runtime thread was joined (after
    /// the last handle was dropped). For tests.
    #[doc(hidden)]
    pub fn runtime_joined(&self) -> RuntimeJoined {
        self.runtime.joined()
    }

    /// The tokio client this one wraps. Its connections run on this
    /// client's runtime thread; its futures can be awaited on a runtime of
    /// the caller's while this client (or a clone) lives.
    pub fn as_tokio(&self) -> &gazette_tokio::Client {
        &self.inner
    }

    /// The runtime, shared by everything made from this client.
    pub(crate) fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }
}
