//! Raw fragment bodies from their stores: HTTP/1.1 (and HTTPS) GETs of
//! signed URLs, and `file://` URLs served from a local directory.
//!
//! This is transport only. Decompression, the pre-seek discard and the
//! end-of-fragment checks are the core's fragment decoder; the reader feeds
//! it the chunks returned here (client-behaviour.md §4).

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use gazette_core::fragment::{ContentEncoding, FragmentEvent, FragmentReader, accept_encoding};
use gazette_core::read::{file_url_path, redact_url};
use gazette_proto::{CompressionCodec, Fragment};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::AsyncReadExt;

use crate::Error;

type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// Size of the chunks read from `file://` fragments.
const FILE_CHUNK: usize = 64 * 1024;

/// Opens fragment bodies. HTTP/2 is never used for fragments (Go disabled
/// it after broken HTTP/2 connections kept being reused).
#[derive(Clone)]
pub struct FragmentOpener {
    http: HttpClient<HttpsConnector, Empty<Bytes>>,
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
    /// An HTTP response body.
    Http(Incoming),
    /// A local file.
    File(tokio::fs::File),
}

impl RawBody {
    /// The next chunk of raw bytes, or None at the end of the body.
    pub async fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        match self {
            RawBody::Http(body) => loop {
                match body.frame().await {
                    None => return Ok(None),
                    Some(Err(err)) => return Err(std::io::Error::other(err)),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data()
                            && !data.is_empty()
                        {
                            return Ok(Some(data));
                        }
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

impl FragmentOpener {
    /// An opener for HTTP(S) URLs, serving `file://` URLs from `file_root`
    /// when given (Go's `InstallFileTransport`).
    pub fn new(file_root: Option<PathBuf>) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let connector = match builder.with_native_roots() {
            Ok(b) => b.https_or_http().enable_http1().wrap_connector(http),
            // Without system roots HTTPS fetches fail verification; plain
            // HTTP and file URLs still work.
            Err(_) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_webpki_roots()
                .https_or_http()
                .enable_http1()
                .wrap_connector(http),
        };
        let client = HttpClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(100)
            .pool_idle_timeout(std::time::Duration::from_secs(90))
            .build(connector);
        FragmentOpener {
            http: client,
            file_root,
        }
    }

    /// The directory `file://` URLs are served from.
    pub fn file_root(&self) -> Option<&Path> {
        self.file_root.as_deref()
    }

    /// Opens `fragment` at `url` and positions it at `offset`
    /// (client-behaviour.md §4.1–4.2).
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
    /// (client-behaviour.md §4.1): `file://` URLs below the file root,
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

    /// GETs `url` over HTTP/1.1 with `Accept-Encoding: accept` (transport
    /// only: the status is not checked).
    pub async fn get(&self, url: &str, accept: &str) -> Result<HttpFragment, Error> {
        let fail = |reason: String| Error::Fragment {
            url: redact_url(url).to_string(),
            reason,
        };
        let uri: http::Uri = url.parse().map_err(|err| fail(format!("{err}")))?;
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT_ENCODING, accept)
            .body(Empty::new())
            .map_err(|err| fail(format!("{err}")))?;
        let response = self
            .http
            .request(request)
            .await
            .map_err(|err| fail(format!("{err}")))?;
        metrics::counter!("gazette_fragment_open_total", "scheme" => "http").increment(1);
        let content_encoding = response
            .headers()
            .get(http::header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("invalid").to_string());
        Ok(HttpFragment {
            status: response.status(),
            content_encoding,
            body: RawBody::Http(response.into_body()),
        })
    }

    /// Opens the local fragment file at `path`; `Ok(None)` when it does not
    /// exist.
    pub async fn open_file(&self, path: &Path) -> Result<Option<tokio::fs::File>, Error> {
        match tokio::fs::File::open(path).await {
            Ok(file) => {
                metrics::counter!("gazette_fragment_open_total", "scheme" => "file").increment(1);
                Ok(Some(file))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(Error::Io(err)),
        }
    }
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
}
