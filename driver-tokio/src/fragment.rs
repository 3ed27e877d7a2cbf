//! Raw fragment bodies from their stores: HTTP/1.1 (and HTTPS) GETs of
//! signed URLs, and `file://` URLs served from a local directory.
//!
//! This is transport only. Decompression, the pre-seek discard and the
//! end-of-fragment checks are the core's fragment decoder; the reader feeds
//! it the chunks returned here (docs/behaviour.md#fragment-reads).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gazette_core::fragment::{ContentEncoding, FragmentEvent, FragmentReader, accept_encoding};
use gazette_core::read::{file_url_path, redact_url};
use gazette_proto::{CompressionCodec, Fragment};
use tokio::io::AsyncReadExt;

use crate::Error;
use crate::config::LoadedTls;

/// Size of the chunks read from `file://` fragments.
const FILE_CHUNK: usize = 64 * 1024;

/// Opens fragment bodies. HTTP/2 is never used for fragments (Go disabled
/// it after broken HTTP/2 connections kept being reused), and bodies are
/// never decompressed here: the `Content-Encoding` the store answered is
/// handed to the core's decoder as is (GZIP_OFFLOAD fragments rely on it).
#[derive(Clone)]
pub struct FragmentOpener {
    http: reqwest::Client,
    file_root: Option<PathBuf>,
}

impl std::fmt::Debug for FragmentOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FragmentOpener")
            .field("file_root", &self.file_root)
            .finish()
    }
}

/// An opened fragment body and how it was delivered.
#[derive(Debug)]
pub struct OpenedFragment {
    /// The raw (still compressed) body.
    pub body: RawBody,
    /// How the body is encoded on top of the stored bytes (`Stored` for
    /// files; from `Content-Encoding` for HTTP).
    pub encoding: ContentEncoding,
}

/// Journal content of one fragment read directly from its store: the raw
/// body decoded by the core's [`FragmentReader`] (codec, pre-seek discard,
/// exact end-of-fragment checks).
#[derive(Debug)]
pub struct FragmentContent {
    url: String,
    reader: FragmentReader,
    body: RawBody,
}

impl FragmentContent {
    /// The next content as `(journal offset, bytes)`, or None at the
    /// fragment's end.
    pub async fn next(&mut self) -> Result<Option<(i64, Bytes)>, Error> {
        loop {
            let event = self
                .reader
                .poll()
                .map_err(|source| Error::FragmentContent {
                    url: self.url.clone(),
                    source,
                })?;
            match event {
                FragmentEvent::Content { offset, content } => return Ok(Some((offset, content))),
                FragmentEvent::Eof => return Ok(None),
                FragmentEvent::NeedInput => match self.body.next_chunk().await {
                    Ok(Some(chunk)) => self.reader.feed(chunk),
                    Ok(None) => self.reader.feed_end(),
                    Err(err) => {
                        return Err(Error::Fragment {
                            url: self.url.clone(),
                            reason: format!("reading body: {err}"),
                        });
                    }
                },
            }
        }
    }

    /// The next journal offset this fragment will deliver.
    pub fn offset(&self) -> i64 {
        self.reader.offset()
    }

    /// The core reader (bytes read and discarded, codec label).
    pub fn reader(&self) -> &FragmentReader {
        &self.reader
    }
}

/// A raw fragment body, read chunk by chunk.
#[derive(Debug)]
pub enum RawBody {
    /// An HTTP response (its body is read).
    Http(reqwest::Response),
    /// A local file.
    File(tokio::fs::File),
}

impl RawBody {
    /// The next chunk of raw bytes, or None at the end of the body.
    pub async fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        match self {
            RawBody::Http(response) => loop {
                match response.chunk().await {
                    Ok(None) => return Ok(None),
                    Ok(Some(data)) if data.is_empty() => {}
                    Ok(Some(data)) => return Ok(Some(data)),
                    Err(err) => {
                        let kind = if err.is_timeout() {
                            std::io::ErrorKind::TimedOut
                        } else {
                            std::io::ErrorKind::Other
                        };
                        return Err(std::io::Error::new(kind, describe(err)));
                    }
                }
            },
            RawBody::File(file) => {
                let mut buf = BytesMut::with_capacity(FILE_CHUNK);
                let n = file.read_buf(&mut buf).await?;
                Ok((n != 0).then(|| buf.freeze()))
            }
        }
    }
}

/// How fragment URLs are fetched over HTTP(S), after Go's fragment
/// transport: a bounded connect (TCP and TLS handshake), TCP keepalive so a
/// half-open connection is noticed, proxies from the environment, and
/// redirects followed until the tenth. Unlike Go it also bounds each wait for the
/// store (for the response headers, then for every body chunk), so a
/// store that stops sending fails the read, which a RetryReader retries
/// (docs/go-differences.md#d13).
///
/// The wait for a body chunk only runs while the reader asks for bytes: a
/// slow consumer never trips it.
#[derive(Debug, Clone)]
pub struct FragmentHttpConfig {
    connect_timeout: Duration,
    read_timeout: Duration,
    tcp_keepalive: Duration,
    redirect_limit: usize,
    proxy: FragmentProxy,
}

impl Default for FragmentHttpConfig {
    /// 10 s to connect (Go's dial and TLS-handshake timeouts), 60 s read
    /// timeout, keepalive probes after 15 s of silence and every 15 s
    /// (Go's dialer), a redirect limit of ten, proxies from the environment.
    fn default() -> Self {
        FragmentHttpConfig {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            tcp_keepalive: Duration::from_secs(15),
            redirect_limit: 10,
            proxy: FragmentProxy::Environment,
        }
    }
}

impl FragmentHttpConfig {
    /// Bound on connecting to a store, TLS handshake included.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Bound on each wait for the store: for the response headers, then
    /// for every chunk of the body (restarting after each chunk).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Idle time before TCP keepalive probes start, and the interval
    /// between them.
    pub fn tcp_keepalive(mut self, interval: Duration) -> Self {
        self.tcp_keepalive = interval;
        self
    }

    /// A GET fails at its `limit`-th redirect, as Go's client does at its
    /// tenth (so it makes at most `limit` requests). With 0 redirects are
    /// not followed: the 3xx answer is the response (a non-200 status).
    pub fn redirect_limit(mut self, limit: usize) -> Self {
        self.redirect_limit = limit;
        self
    }

    /// Which proxy fragment GETs go through.
    pub fn proxy(mut self, proxy: FragmentProxy) -> Self {
        self.proxy = proxy;
        self
    }
}

/// The proxy of fragment GETs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FragmentProxy {
    /// From the environment, as Go's `ProxyFromEnvironment`: `HTTP_PROXY`
    /// for `http` URLs, `HTTPS_PROXY` for `https` ones (`ALL_PROXY` as a
    /// fallback; lower-case names too), except for hosts in `NO_PROXY`.
    /// Read once, when the opener is built. Unlike Go, loopback hosts are
    /// proxied too unless `NO_PROXY` names them (docs/go-differences.md#d13).
    #[default]
    Environment,
    /// No proxy, whatever the environment says.
    Disabled,
    /// Every GET goes through the proxy at this URL (`http://host:port`);
    /// the environment is ignored.
    Url(String),
}

/// reqwest's policy for Go's redirect limit: `limited(n)` follows `n`
/// redirects and fails at the next one.
fn redirect_policy(limit: usize) -> reqwest::redirect::Policy {
    match limit {
        0 => reqwest::redirect::Policy::none(),
        n => reqwest::redirect::Policy::limited(n - 1),
    }
}

/// Unanswered keepalive probes before a silent connection counts as dead
/// (Linux's default, which Go keeps).
const KEEPALIVE_PROBES: u32 = 9;

impl FragmentOpener {
    /// An opener for HTTP(S) URLs with the default [`FragmentHttpConfig`],
    /// serving `file://` URLs from `file_root` when given (Go's
    /// `InstallFileTransport`).
    pub fn new(file_root: Option<PathBuf>) -> Self {
        Self::with_http(file_root, FragmentHttpConfig::default())
            .expect("the default fragment HTTP client builds")
    }

    /// An opener fetching HTTP(S) URLs as `config` says, serving `file://`
    /// URLs from `file_root` when given. Fails on an invalid proxy URL.
    pub fn with_http(
        file_root: Option<PathBuf>,
        config: FragmentHttpConfig,
    ) -> Result<Self, Error> {
        Self::with_http_tls(file_root, config, None)
    }

    /// [`FragmentOpener::with_http`], also trusting the CAs of `tls` (in
    /// addition to the built-in roots: stores are public buckets too) and
    /// presenting its client certificate to stores that ask for one.
    pub(crate) fn with_http_tls(
        file_root: Option<PathBuf>,
        config: FragmentHttpConfig,
        tls: Option<&LoadedTls>,
    ) -> Result<Self, Error> {
        let proxy =
            match &config.proxy {
                FragmentProxy::Environment | FragmentProxy::Disabled => None,
                FragmentProxy::Url(url) => Some(reqwest::Proxy::all(url.as_str()).map_err(
                    |err| Error::Validation {
                        what: "fragment proxy URL",
                        reason: describe(err),
                    },
                )?),
            };
        let builder = |native_roots: bool| {
            let builder = reqwest::Client::builder()
                .http1_only()
                .connect_timeout(config.connect_timeout)
                .read_timeout(config.read_timeout)
                .tcp_keepalive(config.tcp_keepalive)
                .tcp_keepalive_interval(config.tcp_keepalive)
                .tcp_keepalive_retries(KEEPALIVE_PROBES)
                .redirect(redirect_policy(config.redirect_limit))
                .pool_max_idle_per_host(100)
                .pool_idle_timeout(Duration::from_secs(90));
            #[cfg(feature = "tls-native-roots")]
            let builder = builder.tls_built_in_native_certs(native_roots);
            #[cfg(not(feature = "tls-native-roots"))]
            let _ = native_roots;
            #[cfg(feature = "tls")]
            let builder = {
                let mut builder = builder;
                if let Some(tls) = tls {
                    for ca in &tls.fragment_cas {
                        builder = builder.add_root_certificate(ca.clone());
                    }
                    if let Some(identity) = &tls.fragment_identity {
                        builder = builder.identity(identity.clone());
                    }
                }
                builder
            };
            #[cfg(not(feature = "tls"))]
            let _ = tls;
            match (&config.proxy, &proxy) {
                (_, Some(proxy)) => builder.proxy(proxy.clone()),
                (FragmentProxy::Disabled, None) => builder.no_proxy(),
                // reqwest reads the environment unless told otherwise.
                _ => builder,
            }
        };
        // The system's roots (`tls-native-roots`: a private store's CA)
        // besides the webpki ones (`tls-webpki-roots`); an unusable system
        // store leaves the webpki roots, if any.
        let http = builder(true)
            .build()
            .or_else(|_| builder(false).build())
            .map_err(|err| Error::Validation {
                what: "fragment HTTP client",
                reason: describe(err),
            })?;
        Ok(FragmentOpener { http, file_root })
    }

    /// The directory `file://` URLs are served from.
    pub fn file_root(&self) -> Option<&Path> {
        self.file_root.as_deref()
    }

    /// Opens `fragment` at `url` and positions it at `offset`
    /// (docs/behaviour.md#opening-a-fragment-url, #fragment-reader).
    pub async fn open_fragment(
        &self,
        fragment: &Fragment,
        offset: i64,
        url: &str,
    ) -> Result<FragmentContent, Error> {
        let codec = CompressionCodec::try_from(fragment.compression_codec)
            .unwrap_or(CompressionCodec::Invalid);
        let opened = self.open(url, codec).await?;
        let reader = FragmentReader::new(fragment, offset, opened.encoding).map_err(|err| {
            Error::Fragment {
                url: redact_url(url).to_string(),
                reason: err.to_string(),
            }
        })?;
        Ok(FragmentContent {
            url: redact_url(url).to_string(),
            reader,
            body: opened.body,
        })
    }

    /// Opens the raw body at `url` for a fragment compressed with `codec`
    /// (docs/behaviour.md#opening-a-fragment-url): `file://` URLs below the file root,
    /// others by an HTTP/1.1 GET asking for the core's `Accept-Encoding`.
    pub async fn open(&self, url: &str, codec: CompressionCodec) -> Result<OpenedFragment, Error> {
        let fail = |reason: String| Error::Fragment {
            url: redact_url(url).to_string(),
            reason,
        };
        if url
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("file://"))
        {
            let root = self.file_root.as_deref().ok_or_else(|| {
                fail(
                    "file:// URLs need a fragment file root (ClientBuilder::fragment_file_root)"
                        .into(),
                )
            })?;
            let path = file_url_path(root, url).map_err(|err| fail(err.to_string()))?;
            return match self.open_file(&path).await? {
                Some(file) => Ok(OpenedFragment {
                    body: RawBody::File(file),
                    encoding: ContentEncoding::Stored,
                }),
                None => Err(Error::FragmentStatus {
                    url: redact_url(url).to_string(),
                    status: "404 Not Found".into(),
                }),
            };
        }
        let response = self.get(url, accept_encoding(codec)).await?;
        if response.status != http::StatusCode::OK {
            return Err(Error::FragmentStatus {
                url: redact_url(url).to_string(),
                status: response.status.to_string(),
            });
        }
        let encoding = ContentEncoding::from_header(response.content_encoding.as_deref())
            .map_err(|err| fail(err.to_string()))?;
        Ok(OpenedFragment {
            body: response.body,
            encoding,
        })
    }

    /// GETs `url` over HTTP/1.1 with `Accept-Encoding: accept`, following
    /// redirects (transport only: the final status is not checked).
    pub async fn get(&self, url: &str, accept: &str) -> Result<HttpFragment, Error> {
        let fail = |reason: String| Error::Fragment {
            url: redact_url(url).to_string(),
            reason,
        };
        if !cfg!(feature = "tls")
            && url
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
        {
            return Err(fail(crate::NO_TLS.into()));
        }
        let response = self
            .http
            .get(url)
            .header(http::header::ACCEPT_ENCODING, accept)
            .send()
            .await
            .map_err(|err| fail(describe(err)))?;
        crate::telemetry::fragment_opened("http");
        let content_encoding = response
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("invalid").to_string());
        Ok(HttpFragment {
            status: response.status(),
            content_encoding,
            body: RawBody::Http(response),
        })
    }

    /// Opens the local fragment file at `path`; `Ok(None)` when it does not
    /// exist.
    pub async fn open_file(&self, path: &Path) -> Result<Option<tokio::fs::File>, Error> {
        match tokio::fs::File::open(path).await {
            Ok(file) => {
                crate::telemetry::fragment_opened("file");
                Ok(Some(file))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(Error::Io(err)),
        }
    }
}

/// A reqwest error as text: its kind and causes (e.g. "operation timed
/// out"), without the URL, which the caller's error names.
fn describe(err: reqwest::Error) -> String {
    let timed_out = err.is_timeout();
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if timed_out && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    text
}

/// The answer to a fragment GET.
#[derive(Debug)]
pub struct HttpFragment {
    /// The HTTP status.
    pub status: http::StatusCode,
    /// The `Content-Encoding` header, if any.
    pub content_encoding: Option<String>,
    /// The body.
    pub body: RawBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_urls_resolve_beneath_the_root_and_missing_files_are_404() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/frag"), b"hello").unwrap();
        let opener = FragmentOpener::new(Some(dir.path().to_path_buf()));

        let mut opened = opener
            .open("file:///a/b/frag", CompressionCodec::None)
            .await
            .unwrap();
        assert_eq!(opened.encoding, ContentEncoding::Stored);
        assert_eq!(
            opened.body.next_chunk().await.unwrap().unwrap(),
            &b"hello"[..]
        );
        assert!(opened.body.next_chunk().await.unwrap().is_none());

        let err = opener
            .open("file:///a/b/missing", CompressionCodec::None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("404 Not Found"), "{err}");

        let err = opener
            .open("file:///a/../../etc/passwd", CompressionCodec::None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Fragment { .. }), "{err}");
    }

    #[tokio::test]
    async fn file_urls_without_a_root_are_refused() {
        let opener = FragmentOpener::new(None);
        let err = opener
            .open("file:///x", CompressionCodec::None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Fragment { .. }));
    }

    #[tokio::test]
    async fn https_fragment_urls_need_a_tls_feature() {
        let config = FragmentHttpConfig::default().proxy(FragmentProxy::Disabled);
        let opener = FragmentOpener::with_http(None, config).unwrap();
        // Nothing listens on loopback port 1: with TLS the GET is tried and
        // refused; without, it is not tried.
        let err = opener
            .get("HTTPS://127.0.0.1:1/frag", "identity")
            .await
            .unwrap_err();
        let Error::Fragment { reason, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(reason == crate::NO_TLS, !cfg!(feature = "tls"), "{err}");
    }
}
