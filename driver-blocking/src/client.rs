//! The blocking [`Client`]: the tokio driver's client, built inside the
//! private runtime.

use crate::{Result, runtime};

pub use gazette_tokio::ClientBuilder;

/// A Gazette broker client for blocking code. Cheap to clone; clones share
/// channels and the route cache.
///
/// It wraps a [`gazette_tokio::Client`] whose connections live on this
/// crate's private runtime, so configuration (endpoint, zone, auth, TLS,
/// timeouts, routing, fragment file root) is the tokio driver's
/// [`ClientBuilder`]:
///
/// ```no_run
/// use std::time::Duration;
/// let client = gazette_blocking::Client::build(
///     gazette_blocking::Client::builder("http://localhost:8080")
///         .zone("us-east-1a")
///         .request_timeout(Duration::from_secs(30)),
/// )?;
/// # Ok::<(), gazette_blocking::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    inner: gazette_tokio::Client,
}

impl Client {
    /// A builder for a client of the broker service at `endpoint`
    /// (`http://host:port` or `https://host:port`); pass it to
    /// [`Client::build`].
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        gazette_tokio::Client::builder(endpoint)
    }

    /// Builds a client from `builder` on the private runtime. No connection
    /// is made until the first call.
    pub fn build(builder: ClientBuilder) -> Result<Self> {
        let inner = runtime::enter(|| builder.build())??;
        Ok(Client { inner })
    }

    /// A client of `endpoint` with default settings.
    pub fn new(endpoint: impl Into<String>) -> Result<Self> {
        Self::build(Self::builder(endpoint))
    }

    /// A builder configured from the environment exactly as gazctl's broker
    /// client is ([`ClientBuilder::from_env`]: `BROKER_ADDRESS`,
    /// `BROKER_CACHE_SIZE`, `BROKER_CACHE_TTL`, `BROKER_AUTH_KEYS` or
    /// `BROKER_AUTH_TOKEN`, the TLS files and `ZONE`; see
    /// docs/environment.md), for further settings before
    /// [`Client::build`].
    pub fn builder_from_env() -> Result<ClientBuilder> {
        Ok(ClientBuilder::from_env()?)
    }

    /// A client configured from the environment exactly as gazctl's broker
    /// client is ([`Client::builder_from_env`], built). Like gazctl it keeps
    /// no route cache unless `BROKER_CACHE_SIZE` is positive: every call
    /// goes to `BROKER_ADDRESS` and brokers proxy.
    pub fn from_env() -> Result<Self> {
        Self::build(Self::builder_from_env()?)
    }

    /// The service endpoint this client dials.
    pub fn endpoint(&self) -> &str {
        self.inner.endpoint()
    }

    /// The tokio client this one wraps (its futures must run on an async
    /// runtime of the caller's, not from blocking code).
    pub fn as_tokio(&self) -> &gazette_tokio::Client {
        &self.inner
    }
}
