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

    /// A client configured like gazctl from its environment
    /// (`BROKER_ADDRESS`, `BROKER_AUTH_KEYS` or `BROKER_AUTH_TOKEN`,
    /// `BROKER_ZONE`).
    pub fn from_env() -> Result<Self> {
        let inner = runtime::enter(gazette_tokio::Client::from_env)??;
        Ok(Client { inner })
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
