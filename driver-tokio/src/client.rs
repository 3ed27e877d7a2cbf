//! The broker client: tonic channels per endpoint, authorization, routing.
//!
//! A [`Client`] dials the configured service address and, lazily, one
//! channel per broker endpoint it learns from routes. Channels connect on
//! first use (`connect_lazy`), so a client can be built while brokers are
//! down; the broker's multiplexer drops connections that stay silent for
//! 7.5 s, which lazy connection avoids (docs/protocol.md#transport).

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gazette_core::client::{Client as CoreClient, ClientConfig};
use gazette_core::status::Operation;
use gazette_proto::Route;
#[cfg(feature = "tls")]
use tonic::transport::ClientTlsConfig;
use tonic::transport::{Channel, Endpoint};

use crate::Error;
use crate::auth::Auth;
use crate::clock::{Clock, TokioClock};
use crate::config::{ConfigError, TlsConfig, parse_go_duration};
use crate::engine::Engine;
use crate::fragment::{FragmentHttpConfig, FragmentOpener};

/// Without a TLS feature there are no TLS settings: the type of the
/// builder's TLS field, which then stays `None`.
#[cfg(not(feature = "tls"))]
type ClientTlsConfig = std::convert::Infallible;

/// The decode limit of every response (Go's client uses 16 MiB; a
/// `FragmentsResponse` with many signed URLs exceeds 4 MiB).
pub const MAX_DECODE_SIZE: usize = 16 << 20;

/// HTTP/2 connection window: Go effectively disables connection-level flow
/// control so one slow Read stream cannot starve others.
pub const CONNECTION_WINDOW: u32 = i32::MAX as u32;

/// HTTP/2 stream window of each RPC stream.
pub const STREAM_WINDOW: u32 = 1 << 20;

/// Idle time before the kernel's TCP keepalive probes of a broker
/// connection (a dead host is noticed in seconds; a frozen process is
/// noticed by the core client's route probes instead,
/// docs/architecture.md#recovering-from-a-frozen-broker).
pub const TCP_KEEPALIVE: Duration = Duration::from_secs(10);

/// Interval between TCP keepalive probes once they start.
pub const TCP_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);

/// Unanswered TCP keepalive probes after which the kernel drops the
/// connection: a dead host is noticed within about 10 + 3 × 5 = 25 s.
pub const TCP_KEEPALIVE_RETRIES: u32 = 3;

/// Keepalive ping interval. Brokers answer pings more frequent than every
/// five minutes with GOAWAY `ENHANCE_YOUR_CALM` (docs/protocol.md#limits-and-keepalive).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(300);

/// Builder of a [`Client`]. Its `Debug` output omits the TLS settings
/// (which may hold a private key) and the credentials
/// (docs/go-differences.md#d37).
#[derive(Clone)]
pub struct ClientBuilder {
    endpoint: String,
    zone: String,
    auth: Auth,
    connect_timeout: Duration,
    request_timeout: Option<Duration>,
    tls: Option<TlsConfig>,
    fragment_root: Option<PathBuf>,
    fragment_http: FragmentHttpConfig,
    route_directly: bool,
    route_cache_size: usize,
    route_ttl: Duration,
    backoff_seed: Option<u64>,
    clock: Option<Arc<dyn Clock>>,
    connector: Option<Arc<dyn Connector>>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("endpoint", &self.endpoint)
            .field("zone", &self.zone)
            .field("auth", &self.auth)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("tls", &self.tls)
            .field("fragment_root", &self.fragment_root)
            .field("fragment_http", &self.fragment_http)
            .field("route_directly", &self.route_directly)
            .field("route_cache_size", &self.route_cache_size)
            .field("route_ttl", &self.route_ttl)
            .field("backoff_seed", &self.backoff_seed)
            .field("clock", &self.clock.as_ref().map(|_| "custom"))
            .field("connector", &self.connector.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// The service address gazctl dials when `BROKER_ADDRESS` is unset.
pub const DEFAULT_BROKER_ADDRESS: &str = "http://localhost:8080";

impl ClientBuilder {
    /// A builder configured from the process environment exactly as gazctl
    /// configures its broker client (docs/environment.md): `BROKER_ADDRESS`
    /// (default `http://localhost:8080`), `BROKER_CACHE_SIZE` (default 0:
    /// no route cache, every call goes to the service address and brokers
    /// proxy), `BROKER_CACHE_TTL` (Go duration, default `1m`),
    /// `BROKER_AUTH_KEYS` (preferred) or `BROKER_AUTH_TOKEN`,
    /// `BROKER_TRUSTED_CA_FILE`, `BROKER_CERT_FILE` and
    /// `BROKER_CERT_KEY_FILE`, and `ZONE` (default `local`). Empty
    /// variables count as unset (docs/go-differences.md#d35). Further
    /// builder calls override what the environment said.
    ///
    /// An invalid value is an [`Error::Config`] naming the variable; TLS
    /// files are read by [`ClientBuilder::build`].
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`ClientBuilder::from_env`] over `lookup` (a variable's value, None
    /// when unset) instead of the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let var = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let invalid = |variable: &'static str, reason: String| {
            Error::Config(ConfigError::InvalidVariable { variable, reason })
        };
        let endpoint = var("BROKER_ADDRESS").unwrap_or_else(|| DEFAULT_BROKER_ADDRESS.into());
        endpoint_uri(&endpoint).map_err(|err| invalid("BROKER_ADDRESS", err.to_string()))?;
        // Go's flag parsing: a decimal integer; zero or less, no cache.
        let cache_size = match var("BROKER_CACHE_SIZE") {
            None => 0,
            Some(value) => {
                let size: i64 = value.parse().map_err(|err| {
                    invalid(
                        "BROKER_CACHE_SIZE",
                        format!("{value:?} is not an integer: {err}"),
                    )
                })?;
                usize::try_from(size.max(0)).unwrap_or(usize::MAX)
            }
        };
        let cache_ttl = match var("BROKER_CACHE_TTL") {
            None => Duration::from_secs(60),
            Some(value) => {
                parse_go_duration(&value).map_err(|reason| invalid("BROKER_CACHE_TTL", reason))?
            }
        };
        let auth = Auth::from_lookup(var)?;
        let zone = var("ZONE").unwrap_or_else(|| "local".into());

        let ca = var("BROKER_TRUSTED_CA_FILE");
        let identity = match (var("BROKER_CERT_FILE"), var("BROKER_CERT_KEY_FILE")) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(
                    "BROKER_CERT_KEY_FILE",
                    "unset, but BROKER_CERT_FILE names a client certificate".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "BROKER_CERT_FILE",
                    "unset, but BROKER_CERT_KEY_FILE names a client key".into(),
                ));
            }
        };

        let mut builder = Client::builder(endpoint)
            .route_cache(cache_size, cache_ttl)
            .auth(auth)
            .zone(zone);
        if ca.is_some() || identity.is_some() {
            let mut tls = TlsConfig::new();
            if let Some(ca) = ca {
                tls = tls.ca_file_named(ca, "BROKER_TRUSTED_CA_FILE");
            }
            if let Some((cert, key)) = identity {
                tls = tls.identity_files_named(
                    cert,
                    key,
                    ("BROKER_CERT_FILE", "BROKER_CERT_KEY_FILE"),
                );
            }
            // Without a TLS feature the settings are kept, and `build`
            // fails with `ConfigError::TlsUnavailable`.
            builder.tls = Some(tls);
        }
        Ok(builder)
    }

    /// Capacity and time-to-live of the journal route cache (default 1024
    /// journals, 5 minutes). A capacity of 0 disables route caching: every
    /// call goes to the service address and brokers proxy. gazctl's default
    /// is 0 (docs/go-differences.md#d34).
    pub fn route_cache(mut self, capacity: usize, ttl: Duration) -> Self {
        self.route_cache_size = capacity;
        self.route_ttl = ttl;
        self
    }

    /// The caller's zone: reads prefer a broker in this zone.
    pub fn zone(mut self, zone: impl Into<String>) -> Self {
        self.zone = zone.into();
        self
    }

    /// How calls are authorized (default: none).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Bound on establishing a connection (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Deadline of each listing or administrative call, as a whole
    /// (`list_all_journals`, `get_journal`, `apply`, `list_all_fragments`
    /// with all its pages, `fragment_store_health`): past it the call fails
    /// with `ListError::DeadlineExceeded`. Watches, Read and Append streams
    /// have none (drop the future, or use the blocking driver's
    /// `CancelHandle`, to bound them). Go leaves deadlines to the caller's
    /// context (docs/go-differences.md#d31).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// TLS settings for `https` endpoints (default: the roots of the enabled `tls-*-roots` features):
    /// broker channels use them, and fragment fetches trust their CAs and
    /// present their client certificate too. Only the `h2` ALPN protocol is
    /// offered to brokers, as they require.
    ///
    /// A tonic `ClientTlsConfig` is accepted as well (it converts into a
    /// [`TlsConfig`]), but its content reaches broker channels only.
    /// Needs a TLS feature (crate docs: Features).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: impl Into<TlsConfig>) -> Self {
        self.tls = Some(tls.into());
        self
    }

    /// Serve `file://` fragment URLs from this directory (Go's
    /// `InstallFileTransport`): set it to the broker's `--broker.file-root`.
    pub fn fragment_file_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.fragment_root = Some(root.into());
        self
    }

    /// How fragment URLs are fetched over HTTP(S) for direct reads:
    /// timeouts, TCP keepalive, redirects and proxy (default
    /// [`FragmentHttpConfig::default`]).
    pub fn fragment_http(mut self, config: FragmentHttpConfig) -> Self {
        self.fragment_http = config;
        self
    }

    /// Whether calls go straight to the broker a route names (the
    /// journal's primary for appends, a same-zone member for reads).
    /// Default true; with false, every call goes to the service address and
    /// brokers proxy.
    pub fn route_directly(mut self, enabled: bool) -> Self {
        self.route_directly = enabled;
        self
    }

    /// Seeds the jitter of every backoff (reads, appends, watches): the
    /// same seed gives the same retry schedule. Default: Go's exact
    /// schedule, no jitter.
    pub fn backoff_seed(mut self, seed: u64) -> Self {
        self.backoff_seed = Some(seed);
        self
    }

    /// The clock the client reads (default [`TokioClock`]: tokio's, which
    /// paused-time tests control).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// How channels to the service address and to members are opened
    /// (default: TCP with the builder's connect timeout and TLS).
    pub fn connector(mut self, connector: impl Connector) -> Self {
        self.connector = Some(Arc::new(connector));
        self
    }

    /// The core client's settings this builder describes.
    fn core_config(&self) -> ClientConfig {
        let mut config = ClientConfig::default();
        config.zone = self.zone.clone();
        config.route_cache = NonZeroUsize::new(self.route_cache_size).map(|n| (n, self.route_ttl));
        config.route_directly = self.route_directly;
        config.dialable_schemes = if cfg!(feature = "tls") {
            vec!["http".into(), "https".into()]
        } else {
            vec!["http".into()]
        };
        config.request_timeout = self.request_timeout;
        config.backoff_seed = self.backoff_seed;
        if self.backoff_seed.is_some() {
            config.jitter_permille = 250;
        }
        config
    }

    /// Builds the client (within a tokio runtime). No connection is made
    /// until the first call. Fails on an invalid endpoint, an unreadable or
    /// invalid TLS file or PEM content ([`Error::Config`]), or an invalid
    /// fragment HTTP setting.
    pub fn build(self) -> Result<Client, Error> {
        let tls = self.tls.as_ref().map(TlsConfig::load).transpose()?;
        #[cfg_attr(not(feature = "tls"), allow(clippy::clone_on_copy))]
        let channel_tls = tls.as_ref().map(|tls| tls.channel.clone());
        let connector: Arc<dyn Connector> = match &self.connector {
            Some(connector) => connector.clone(),
            None => {
                endpoint_uri(&self.endpoint)?;
                Arc::new(TcpConnector {
                    connect_timeout: self.connect_timeout,
                    tls: channel_tls,
                })
            }
        };
        let service = connector.channel(&self.endpoint)?;
        let fragments = FragmentOpener::with_http_tls(
            self.fragment_root.clone(),
            self.fragment_http.clone(),
            tls.as_ref(),
        )?;
        let clock: Arc<dyn Clock> = self.clock.clone().unwrap_or_else(|| Arc::new(TokioClock));
        let engine = Engine::start(
            CoreClient::new(self.core_config()),
            clock,
            connector,
            service,
            self.auth.clone(),
            fragments,
        );
        Ok(Client {
            inner: Arc::new(Inner {
                config: self,
                engine,
            }),
        })
    }
}

/// Opens tonic channels to broker endpoints: the service address and
/// every member the core routes to. The default dials TCP (h2c or TLS)
/// with the builder's connect timeout and TLS settings, lazily; supply
/// your own with [`ClientBuilder::connector`] to run tonic over another
/// transport (an in-memory duplex, a simulated network).
pub trait Connector: Send + Sync + 'static {
    /// A channel to `endpoint` (`http://host:port` or `https://...`). It
    /// should connect on first use, not here.
    fn channel(&self, endpoint: &str) -> Result<Channel, Error>;
}

impl<F> Connector for F
where
    F: Fn(&str) -> Result<Channel, Error> + Send + Sync + 'static,
{
    fn channel(&self, endpoint: &str) -> Result<Channel, Error> {
        self(endpoint)
    }
}

/// The default connector: TCP, lazily connected, with the builder's TLS.
struct TcpConnector {
    connect_timeout: Duration,
    tls: Option<ClientTlsConfig>,
}

impl Connector for TcpConnector {
    fn channel(&self, endpoint: &str) -> Result<Channel, Error> {
        dial(endpoint, self.connect_timeout, self.tls.as_ref())
    }
}

/// A Gazette broker client. Cheap to clone; clones share channels, routes
/// and the loop over the core client (docs/architecture.md).
///
/// Build it within a tokio runtime (its timer task runs on it):
///
/// ```no_run
/// # async fn demo() -> gazette_tokio::Result<()> {
/// use std::time::Duration;
///
/// // Configured like gazctl: BROKER_ADDRESS, BROKER_CACHE_SIZE/TTL,
/// // BROKER_AUTH_KEYS or BROKER_AUTH_TOKEN, BROKER_*_FILE (TLS), ZONE
/// // (docs/environment.md).
/// let client = gazette_tokio::Client::from_env()?;
///
/// // Or explicitly.
/// let client = gazette_tokio::Client::builder("http://localhost:8080")
///     .zone("us-east-1a")
///     .request_timeout(Duration::from_secs(30))
///     .build()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    config: ClientBuilder,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.config.endpoint)
            .field("zone", &self.inner.config.zone)
            .field("auth", &self.inner.config.auth)
            .finish()
    }
}

impl Client {
    /// A builder for a client of the broker service at `endpoint`
    /// (`http://host:port` or `https://host:port`).
    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.into(),
            zone: String::new(),
            auth: Auth::None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: None,
            tls: None,
            fragment_root: None,
            fragment_http: FragmentHttpConfig::default(),
            route_directly: true,
            route_cache_size: 1024,
            route_ttl: Duration::from_secs(300),
            backoff_seed: None,
            clock: None,
            connector: None,
        }
    }

    /// A client of `endpoint` with default settings.
    pub fn new(endpoint: impl Into<String>) -> Result<Self, Error> {
        Self::builder(endpoint).build()
    }

    /// A client configured from the environment exactly as gazctl's broker
    /// client is (docs/environment.md): [`ClientBuilder::from_env`], built.
    /// Note gazctl's default of no route cache: every call goes to
    /// `BROKER_ADDRESS` and brokers proxy, unless `BROKER_CACHE_SIZE` is
    /// positive.
    pub fn from_env() -> Result<Self, Error> {
        ClientBuilder::from_env()?.build()
    }

    /// The service endpoint this client dials.
    pub fn endpoint(&self) -> &str {
        &self.inner.config.endpoint
    }

    /// The deadline of each listing or administrative call
    /// ([`ClientBuilder::request_timeout`]), if one is set.
    pub fn request_timeout(&self) -> Option<Duration> {
        self.inner.config.request_timeout
    }

    /// The caller's zone.
    pub fn zone(&self) -> &str {
        &self.inner.config.zone
    }

    /// The opener of direct fragment reads.
    pub fn fragments(&self) -> &FragmentOpener {
        self.inner.engine.fragments()
    }

    /// The cached route of `journal` (empty, primary -1, when unknown).
    pub fn route(&self, journal: &str) -> Route {
        self.inner.engine.call(|core, now| core.route(journal, now))
    }

    /// Caches (Some) or invalidates (None or an empty route) the route of
    /// `journal`.
    pub fn update_route(&self, journal: &str, route: Option<Route>) {
        self.inner
            .engine
            .call(|core, now| core.update_route(journal, route.as_ref(), now));
    }

    /// Whether the broker at `endpoint` is considered failed: its last RPC
    /// met an unavailable broker and none has succeeded since, so reads
    /// prefer other members.
    pub fn is_member_failed(&self, endpoint: &str) -> bool {
        self.inner
            .engine
            .call(|core, _| core.is_member_failed(endpoint))
    }

    pub(crate) fn engine(&self) -> &Arc<Engine> {
        &self.inner.engine
    }
}

/// Parses `endpoint` as a URL this transport can dial: `http` or `https`
/// with a host.
fn endpoint_uri(endpoint: &str) -> Result<http::Uri, Error> {
    let invalid = |reason: String| Error::InvalidEndpoint {
        endpoint: endpoint.to_string(),
        reason,
    };
    let uri: http::Uri = endpoint.parse().map_err(|err| invalid(format!("{err}")))?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err(invalid(format!(
            "scheme {scheme:?} is not supported (use http or https)"
        )));
    }
    if scheme == "https" && !cfg!(feature = "tls") {
        return Err(invalid(crate::NO_TLS.into()));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(uri)
}

/// Builds a lazily connected channel to `endpoint`.
fn dial(
    endpoint: &str,
    connect_timeout: Duration,
    tls: Option<&ClientTlsConfig>,
) -> Result<Channel, Error> {
    let invalid = |reason: String| Error::InvalidEndpoint {
        endpoint: endpoint.to_string(),
        reason,
    };
    let uri = endpoint_uri(endpoint)?;
    let scheme = uri.scheme_str().unwrap_or_default();
    let mut builder = Endpoint::from_shared(endpoint.to_string())
        .map_err(|err| invalid(format!("{err}")))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true)
        // Dead hosts (not frozen processes, whose kernel still answers):
        // the kernel probes an idle connection after this long.
        .tcp_keepalive(Some(TCP_KEEPALIVE))
        .tcp_keepalive_interval(Some(TCP_KEEPALIVE_INTERVAL))
        .tcp_keepalive_retries(Some(TCP_KEEPALIVE_RETRIES))
        .initial_connection_window_size(CONNECTION_WINDOW)
        .initial_stream_window_size(STREAM_WINDOW)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(Duration::from_secs(20))
        .keep_alive_while_idle(false);
    // Without TLS, `endpoint_uri` has refused `https` already.
    #[cfg(not(feature = "tls"))]
    let _ = (scheme, tls, &mut builder);
    #[cfg(feature = "tls")]
    if scheme == "https" {
        let tls = tls
            .cloned()
            .unwrap_or_else(|| ClientTlsConfig::new().with_enabled_roots());
        builder = builder.tls_config(tls).map_err(|source| Error::Tls {
            endpoint: endpoint.to_string(),
            source,
        })?;
    }
    Ok(builder.connect_lazy())
}

/// A short name of `op` for metric labels and spans.
pub(crate) fn op_name(op: Operation) -> &'static str {
    match op {
        Operation::Read => "read",
        Operation::Append => "append",
        Operation::ListFragments => "list_fragments",
        Operation::List => "list",
        Operation::Apply => "apply",
        Operation::FragmentStoreHealth => "fragment_store_health",
    }
}

#[cfg(test)]
mod env_tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: std::collections::BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn from(vars: &[(&str, &str)]) -> Result<ClientBuilder, Error> {
        ClientBuilder::from_lookup(lookup(vars))
    }

    fn invalid_variable(result: Result<ClientBuilder, Error>) -> &'static str {
        match result {
            Err(Error::Config(ConfigError::InvalidVariable { variable, .. })) => variable,
            other => panic!("expected an invalid variable, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_gazctls() {
        let builder = from(&[]).unwrap();
        assert_eq!(builder.endpoint, "http://localhost:8080");
        assert_eq!(builder.route_cache_size, 0, "no route cache: brokers proxy");
        assert_eq!(builder.route_ttl, Duration::from_secs(60));
        assert!(matches!(builder.auth, Auth::None));
        assert_eq!(builder.zone, "local");
        assert!(builder.tls.is_none());
        // Empty values count as unset.
        let empty = from(&[
            ("BROKER_ADDRESS", ""),
            ("BROKER_CACHE_SIZE", ""),
            ("ZONE", ""),
        ])
        .unwrap();
        assert_eq!(empty.endpoint, "http://localhost:8080");
        assert_eq!(empty.route_cache_size, 0);
        assert_eq!(empty.zone, "local");
    }

    #[test]
    fn broker_address() {
        let builder = from(&[("BROKER_ADDRESS", "https://broker:9000")]).unwrap();
        assert_eq!(builder.endpoint, "https://broker:9000");
        assert_eq!(
            invalid_variable(from(&[("BROKER_ADDRESS", "ftp://x:1")])),
            "BROKER_ADDRESS"
        );
    }

    #[test]
    fn broker_cache_size() {
        assert_eq!(
            from(&[("BROKER_CACHE_SIZE", "512")])
                .unwrap()
                .route_cache_size,
            512
        );
        assert_eq!(
            from(&[("BROKER_CACHE_SIZE", "-3")])
                .unwrap()
                .route_cache_size,
            0
        );
        assert_eq!(
            invalid_variable(from(&[("BROKER_CACHE_SIZE", "many")])),
            "BROKER_CACHE_SIZE"
        );
    }

    #[test]
    fn broker_cache_ttl() {
        let builder = from(&[("BROKER_CACHE_TTL", "1h30m")]).unwrap();
        assert_eq!(builder.route_ttl, Duration::from_secs(5400));
        assert_eq!(
            from(&[("BROKER_CACHE_TTL", "30s")]).unwrap().route_ttl,
            Duration::from_secs(30)
        );
        assert_eq!(
            invalid_variable(from(&[("BROKER_CACHE_TTL", "30")])),
            "BROKER_CACHE_TTL"
        );
    }

    #[test]
    fn broker_auth_token() {
        let builder = from(&[("BROKER_AUTH_TOKEN", "a-token")]).unwrap();
        assert!(matches!(builder.auth, Auth::Bearer(ref t) if t == "a-token"));
    }

    #[test]
    fn broker_auth_keys_win_over_a_token() {
        let builder =
            from(&[("BROKER_AUTH_KEYS", "c2VjcmV0"), ("BROKER_AUTH_TOKEN", "t")]).unwrap();
        assert!(matches!(builder.auth, Auth::Keyed(ref k) if k == &[b"secret".to_vec()]));
        assert_eq!(
            invalid_variable(from(&[("BROKER_AUTH_KEYS", "AA==")])),
            "BROKER_AUTH_KEYS"
        );
    }

    #[test]
    fn zone() {
        assert_eq!(from(&[("ZONE", "us-east-1a")]).unwrap().zone, "us-east-1a");
        // gazctl reads no BROKER_ZONE.
        assert_eq!(from(&[("BROKER_ZONE", "z")]).unwrap().zone, "local");
    }

    #[tokio::test]
    async fn broker_trusted_ca_file_is_read_by_build_and_named_when_missing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("ca.pem");
        let builder = from(&[
            ("BROKER_ADDRESS", "https://broker:1"),
            ("BROKER_TRUSTED_CA_FILE", missing.to_str().unwrap()),
        ])
        .unwrap();
        assert!(builder.tls.is_some());
        match builder.build().unwrap_err() {
            Error::Config(ConfigError::ReadFile { what, path, .. }) => {
                assert_eq!(what, "BROKER_TRUSTED_CA_FILE");
                assert_eq!(path, missing);
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&missing, "no certificate here").unwrap();
        let err = from(&[("BROKER_TRUSTED_CA_FILE", missing.to_str().unwrap())])
            .unwrap()
            .build()
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Config(ConfigError::InvalidPem {
                    what: "BROKER_TRUSTED_CA_FILE",
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn broker_cert_file_and_key_file_go_together() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("c.key"));
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        assert_eq!(
            invalid_variable(from(&[("BROKER_CERT_FILE", cert)])),
            "BROKER_CERT_KEY_FILE"
        );
        assert_eq!(
            invalid_variable(from(&[("BROKER_CERT_KEY_FILE", key)])),
            "BROKER_CERT_FILE"
        );
        let builder = from(&[("BROKER_CERT_FILE", cert), ("BROKER_CERT_KEY_FILE", key)]).unwrap();
        match builder.build().unwrap_err() {
            Error::Config(ConfigError::ReadFile { what, .. }) => {
                assert_eq!(what, "BROKER_CERT_FILE")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn every_request_carries_the_token_sources_latest_token() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let refreshes = Arc::new(AtomicUsize::new(0));
        let counter = refreshes.clone();
        let source = move |_: &crate::Claims| -> Result<String, crate::auth::TokenSourceError> {
            Ok(format!(
                "refreshed-{}",
                counter.fetch_add(1, Ordering::SeqCst)
            ))
        };
        // Env settings combined with further builder calls.
        let client = from(&[("BROKER_AUTH_TOKEN", "static")])
            .unwrap()
            .auth(Auth::source(source))
            .build()
            .unwrap();
        let claims = crate::Claims::for_journal(crate::Capability::APPEND, "a/journal");
        for n in 0..3 {
            let sent = client.inner.config.auth.header(&claims).unwrap().unwrap();
            assert_eq!(sent.to_str().unwrap(), format!("Bearer refreshed-{n}"));
        }
        assert_eq!(refreshes.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn without_a_cache_size_the_core_caches_no_route() {
        let builder = from(&[("BROKER_ADDRESS", "http://svc:1")]).unwrap();
        assert!(builder.core_config().route_cache.is_none());
        let cached = from(&[("BROKER_CACHE_SIZE", "8"), ("BROKER_CACHE_TTL", "30s")]).unwrap();
        assert_eq!(
            cached.core_config().route_cache,
            Some((NonZeroUsize::new(8).unwrap(), Duration::from_secs(30)))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_builders_fragment_http_config_reaches_the_opener() {
        use crate::fragment::FragmentProxy;
        let bad = FragmentHttpConfig::default().proxy(FragmentProxy::Url("::not a url".into()));
        let err = Client::builder("http://127.0.0.1:1")
            .fragment_http(bad)
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::Validation { .. }), "{err}");
        Client::builder("http://127.0.0.1:1")
            .fragment_http(FragmentHttpConfig::default().proxy(FragmentProxy::Disabled))
            .build()
            .expect("a valid fragment HTTP config builds");
    }

    #[test]
    fn a_status_with_a_transport_source_is_reported_as_a_transport_failure() {
        use gazette_core::client::RpcEnd;
        let mut closed = tonic::Status::cancelled("operation was canceled");
        closed.set_source(Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(matches!(
            crate::engine::rpc_end(&closed, "read"),
            RpcEnd::Failed {
                transport: true,
                ..
            }
        ));
        // Sent by the broker: no local source.
        let sent = tonic::Status::cancelled("context canceled");
        assert!(matches!(
            crate::engine::rpc_end(&sent, "read"),
            RpcEnd::Failed {
                transport: false,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn the_builders_routing_settings_reach_the_core() {
        let builder = Client::builder("http://svc:1")
            .zone("a")
            .route_directly(false)
            .request_timeout(Duration::from_secs(3))
            .backoff_seed(9);
        let config = builder.core_config();
        assert_eq!(config.zone, "a");
        assert!(!config.route_directly);
        assert_eq!(config.request_timeout, Some(Duration::from_secs(3)));
        assert_eq!(config.backoff_seed, Some(9));
        let client = builder.build().unwrap();
        let route = gazette_core::route::empty_route();
        client.update_route("a/journal", Some(route.clone()));
        assert_eq!(client.route("a/journal"), route);
    }

    #[cfg(feature = "tls")]
    #[test]
    fn the_builders_debug_output_does_not_show_the_tls_private_key() {
        let key = "-----BEGIN PRIVATE KEY-----\nS3CR3T-KEY-BYTES\n-----END PRIVATE KEY-----\n";
        let cert = "-----BEGIN CERTIFICATE-----\nPUBLIC\n-----END CERTIFICATE-----\n";
        let identity = tonic::transport::Identity::from_pem(cert, key);
        let builder = Client::builder("https://svc:1")
            .auth(Auth::Bearer("a-token".into()))
            .tls(ClientTlsConfig::new().identity(identity));
        let debug = format!("{builder:?}");
        for secret in ["S3CR3T", "83, 51, 67", "a-token"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("https://svc:1"), "{debug}");
    }

    #[tokio::test]
    async fn https_endpoints_need_a_tls_feature() {
        let built = Client::new("https://svc:1");
        if cfg!(feature = "tls") {
            assert!(built.is_ok(), "{built:?}");
        } else {
            assert!(
                matches!(&built, Err(Error::InvalidEndpoint { reason, .. }) if reason == crate::NO_TLS),
                "{built:?}"
            );
        }
    }

    #[tokio::test]
    async fn endpoints_are_validated_without_connecting() {
        assert!(Client::new("http://127.0.0.1:1").is_ok());
        assert!(matches!(
            Client::new("ftp://host:1"),
            Err(Error::InvalidEndpoint { .. })
        ));
        assert!(matches!(
            Client::new("not a url"),
            Err(Error::InvalidEndpoint { .. })
        ));
    }
}
