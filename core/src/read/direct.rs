//! The direct-read adapter: turns a [`ReadAction::OpenFragment`] and the
//! raw bytes a driver fetched from the fragment's URL into the exact
//! [`ReadInput`]s a [`Reader`](super::Reader) expects.
//!
//! The driver's part is I/O only:
//!
//! 1. Build a [`DirectFetch`] from the action ([`DirectFetch::from_action`]).
//! 2. Ask it where the bytes are ([`DirectFetch::target`]): an HTTP GET of
//!    the URL with the [`request_headers`](DirectFetch::request_headers), or
//!    a local file below the configured file root for `file://` URLs (Go's
//!    `InstallFileTransport`, docs/behaviour.md#file-transport).
//! 3. Report how opening went ([`http_response`](DirectFetch::http_response),
//!    [`file_opened`](DirectFetch::file_opened),
//!    [`file_not_found`](DirectFetch::file_not_found),
//!    [`open_failed`](DirectFetch::open_failed)), then feed body chunks
//!    ([`feed`](DirectFetch::feed)) and the body's end
//!    ([`feed_end`](DirectFetch::feed_end)) or a read failure
//!    ([`fail`](DirectFetch::fail)).
//! 4. After each report, hand every [`poll_input`](DirectFetch::poll_input)
//!    result to the reader until it returns `None`; read more of the body
//!    only while [`wants_input`](DirectFetch::wants_input) is true.
//!
//! Decoding, the discard up to the requested offset and the end-of-fragment
//! checks are [`FragmentReader`]'s; this adapter only sequences them into
//! `DirectOpened` (once the bytes before the offset are discarded),
//! `DirectContent`, and `DirectEnd` or the failure, and maps errors onto
//! [`DirectError`].
//!
//! ```
//! use bytes::Bytes;
//! use gazette_core::proto::{CompressionCodec, Fragment, ReadRequest, ReadResponse};
//! use gazette_core::read::{DirectFetch, FetchTarget, ReadAction, ReadEvent, ReadInput, ReadOutput, Reader};
//!
//! let fragment = Fragment {
//!     journal: "a/journal".into(),
//!     begin: 100,
//!     end: 113,
//!     compression_codec: CompressionCodec::None as i32,
//!     ..Default::default()
//! };
//! let mut reader = Reader::new(ReadRequest {
//!     journal: "a/journal".into(),
//!     offset: 107,
//!     ..Default::default()
//! });
//! reader.poll_output(); // StartRpc
//! reader.handle(ReadInput::RpcStarted);
//! reader.handle(ReadInput::Frame(ReadResponse {
//!     offset: 107,
//!     write_head: 113,
//!     fragment: Some(fragment),
//!     fragment_url: "https://store.example/frag?sig=x".into(),
//!     ..Default::default()
//! }));
//! reader.handle(ReadInput::RpcClosed);
//! let mut fetch = None;
//! while let Some(out) = reader.poll_output() {
//!     if let ReadOutput::Action(action) = out {
//!         fetch = DirectFetch::from_action(&action);
//!     }
//! }
//! let mut fetch = fetch.expect("OpenFragment");
//! assert!(matches!(fetch.target(None), Ok(FetchTarget::Http { .. })));
//! assert_eq!(fetch.request_headers(), [("Accept-Encoding", "identity")]);
//! // The driver's GET answered 200 with this body, in two chunks.
//! fetch.http_response(200, Some("OK"), None);
//! let mut body = vec![Bytes::from_static(b"hello, "), Bytes::from_static(b"world\n")].into_iter();
//! let mut got = Vec::new();
//! while !reader.is_finished() {
//!     while let Some(input) = fetch.poll_input() {
//!         reader.handle(input);
//!     }
//!     while let Some(out) = reader.poll_output() {
//!         if let ReadOutput::Event(ReadEvent::Content { content, .. }) = out {
//!             got.extend_from_slice(&content);
//!         }
//!     }
//!     if !reader.is_finished() && fetch.wants_input() {
//!         match body.next() {
//!             Some(chunk) => fetch.feed(chunk),
//!             None => fetch.feed_end(),
//!         }
//!     }
//! }
//! assert_eq!(got, b"world\n");
//! ```

use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use gazette_proto::{CompressionCodec, Fragment};

use super::error::DirectError;
use super::reader::{ReadAction, ReadInput};
use crate::fragment::{
    ContentEncoding, FragmentError, FragmentErrorKind, FragmentEvent, FragmentReader,
    FragmentSetupError, accept_encoding,
};

/// The URL scheme of fragments held on a shared file system.
const FILE_SCHEME: &str = "file://";

/// Where a driver fetches a fragment's stored bytes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchTarget {
    /// GET `url` over HTTP(S), sending [`DirectFetch::request_headers`].
    Http {
        /// The signed fragment URL, as the broker sent it.
        url: String,
    },
    /// Read the local file at `path` (a `file://` URL resolved below the
    /// configured file root).
    File {
        /// The file to read.
        path: PathBuf,
    },
}

/// Why a `file://` URL cannot be mapped below a file root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileUrlError {
    /// The URL is not a `file://` URL.
    #[error("not a file:// URL ({0:?})")]
    NotFileUrl(String),
    /// The URL names a host other than `localhost`.
    #[error("file:// URL with host {host:?} ({url:?})")]
    Host {
        /// The host part.
        host: String,
        /// The URL.
        url: String,
    },
    /// The path has a `..` component, a NUL byte or names no file: it could
    /// reach outside the root.
    #[error("file:// URL path escapes the file root ({0:?})")]
    Escapes(String),
    /// A `file://` URL was handed out but the driver has no file root.
    #[error("file:// fragment URL but no file root is configured ({0:?})")]
    NoFileRoot(String),
}

impl From<FileUrlError> for DirectError {
    fn from(err: FileUrlError) -> Self {
        DirectError::Other(err.to_string())
    }
}

/// The local path of a `file://` fragment URL below `root`.
///
/// The URL path is taken literally (brokers concatenate it without
/// percent-encoding, docs/protocol.md#file-urls), the host must be empty or
/// `localhost`, and any `..` component, NUL byte or empty path is refused
/// so the result always lies below `root`. `.` and repeated `/` are
/// dropped. Go's `http.Dir` cleans `..` away instead; refusing it is
/// stricter and never changes the file a broker-issued URL names.
pub fn file_url_path(root: &Path, url: &str) -> Result<PathBuf, FileUrlError> {
    let rest = url
        .get(..FILE_SCHEME.len())
        .filter(|scheme| scheme.eq_ignore_ascii_case(FILE_SCHEME))
        .map(|_| &url[FILE_SCHEME.len()..])
        .ok_or_else(|| FileUrlError::NotFileUrl(url.to_owned()))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !host.is_empty() && !host.eq_ignore_ascii_case("localhost") {
        return Err(FileUrlError::Host {
            host: host.to_owned(),
            url: url.to_owned(),
        });
    }
    let escapes = || FileUrlError::Escapes(url.to_owned());
    if path.contains('\0') || path.contains('\\') {
        return Err(escapes());
    }
    let mut out = root.to_path_buf();
    let mut parts = 0;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(escapes()),
            part => {
                // A part must be one plain component (no drive prefix, root).
                let mut components = Path::new(part).components();
                match (components.next(), components.next()) {
                    (Some(Component::Normal(_)), None) => out.push(part),
                    _ => return Err(escapes()),
                }
                parts += 1;
            }
        }
    }
    if parts == 0 {
        return Err(escapes());
    }
    Ok(out)
}

/// The canonical reason phrase of common HTTP status codes, for error texts
/// when the driver's HTTP stack gives none.
fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        410 => "Gone",
        416 => "Requested Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// Maps a fragment decoding failure onto the Reader's direct error.
fn direct_error(err: &FragmentError) -> DirectError {
    match err.kind() {
        FragmentErrorKind::UnexpectedEof => DirectError::UnexpectedEof,
        FragmentErrorKind::ContentTooLong => DirectError::DidNotReadExpectedEof,
        FragmentErrorKind::Corrupt => DirectError::Other(err.to_string()),
    }
}

/// Maps a refused fragment reader setup onto the Reader's direct error.
fn setup_error(err: &FragmentSetupError) -> DirectError {
    match err {
        // Go's pre-seek past the end runs out of body: a plain EOF.
        FragmentSetupError::OffsetBeyondEnd { .. } => DirectError::Eof,
        other => DirectError::Other(other.to_string()),
    }
}

#[derive(Debug)]
enum Stage {
    /// Waiting for the driver to report how opening went.
    Opening,
    /// The body is being decoded; `opened` once the pre-seek is done.
    Reading {
        reader: Box<FragmentReader>,
        opened: bool,
    },
    /// The final input was queued; nothing more is produced.
    Done,
}

/// Sequences one direct fragment read for a [`Reader`](super::Reader): see
/// the [module docs](crate::read).
///
/// Pure: it never does I/O, and everything it yields comes out of
/// [`poll_input`](Self::poll_input) in order. Content moves as `Bytes`
/// slices of the decoded windows (a `NONE` body's chunks are passed
/// through as given).
#[derive(Debug)]
pub struct DirectFetch {
    fragment: Fragment,
    offset: i64,
    url: String,
    stage: Stage,
    inputs: VecDeque<ReadInput>,
}

impl DirectFetch {
    /// A fetch of `fragment` from `url`, feeding the reader from `offset`.
    pub fn new(fragment: Fragment, offset: i64, url: String) -> Self {
        DirectFetch {
            fragment,
            offset,
            url,
            stage: Stage::Opening,
            inputs: VecDeque::new(),
        }
    }

    /// The fetch an [`ReadAction::OpenFragment`] asks for (`None` for any
    /// other action).
    pub fn from_action(action: &ReadAction) -> Option<Self> {
        match action {
            ReadAction::OpenFragment {
                fragment,
                offset,
                url,
            } => Some(Self::new(fragment.clone(), *offset, url.clone())),
            _ => None,
        }
    }

    /// The fragment being read.
    pub fn fragment(&self) -> &Fragment {
        &self.fragment
    }

    /// The journal offset of the first byte fed to the reader.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The fragment URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True for a `file://` URL.
    pub fn is_file_url(&self) -> bool {
        self.url
            .get(..FILE_SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(FILE_SCHEME))
    }

    /// Where to fetch the bytes: `file://` URLs resolve below `file_root`
    /// (an error without one), everything else is an HTTP GET.
    ///
    /// On error, report it with [`open_failed_with`](Self::open_failed_with).
    pub fn target(&self, file_root: Option<&Path>) -> Result<FetchTarget, FileUrlError> {
        if !self.is_file_url() {
            return Ok(FetchTarget::Http {
                url: self.url.clone(),
            });
        }
        let root = file_root.ok_or_else(|| FileUrlError::NoFileRoot(self.url.clone()))?;
        file_url_path(root, &self.url).map(|path| FetchTarget::File { path })
    }

    /// The `Accept-Encoding` value to send with the GET (see
    /// [`accept_encoding`]).
    pub fn accept_encoding(&self) -> &'static str {
        CompressionCodec::try_from(self.fragment.compression_codec)
            .map_or("identity", accept_encoding)
    }

    /// The request headers to send with the GET.
    pub fn request_headers(&self) -> [(&'static str, &'static str); 1] {
        [("Accept-Encoding", self.accept_encoding())]
    }

    /// The HTTP response arrived: its status code, reason phrase (if the
    /// driver's stack has one) and `Content-Encoding` header. A status
    /// other than 200 fails the open (Go: `!OK fetching (404 Not Found,
    /// "<url>")`).
    pub fn http_response(
        &mut self,
        status: u16,
        reason: Option<&str>,
        content_encoding: Option<&str>,
    ) {
        if !matches!(self.stage, Stage::Opening) {
            return;
        }
        if status != 200 {
            let reason = reason
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| reason_phrase(status));
            let status = if reason.is_empty() {
                status.to_string()
            } else {
                format!("{status} {reason}")
            };
            let url = self.url.clone();
            self.open_failed_with(DirectError::HttpStatus { status, url });
            return;
        }
        match ContentEncoding::from_header(content_encoding) {
            Ok(encoding) => self.start(encoding),
            Err(err) => self.open_failed_with(DirectError::Other(err.to_string())),
        }
    }

    /// The local file is open: its bytes are the stored fragment file.
    pub fn file_opened(&mut self) {
        if matches!(self.stage, Stage::Opening) {
            self.start(ContentEncoding::Stored);
        }
    }

    /// The local file does not exist. Like Go's file transport this is an
    /// HTTP 404 (`!OK fetching (404 Not Found, "file:///…")`).
    pub fn file_not_found(&mut self) {
        self.http_response(404, None, None);
    }

    /// Opening failed for a transport reason (connection refused, permission
    /// denied, …), described by `message`.
    pub fn open_failed(&mut self, message: impl Into<String>) {
        self.open_failed_with(DirectError::Other(message.into()));
    }

    /// Opening failed with `err` (for example a [`FileUrlError`] from
    /// [`target`](Self::target), converted).
    pub fn open_failed_with(&mut self, err: impl Into<DirectError>) {
        if matches!(self.stage, Stage::Opening) {
            self.finish(ReadInput::DirectOpenFailed(err.into()));
        }
    }

    /// The next chunk of the body. Ignored unless the body is being read.
    pub fn feed(&mut self, chunk: Bytes) {
        if let Stage::Reading { reader, .. } = &mut self.stage {
            reader.feed(chunk);
        }
    }

    /// The body ended.
    pub fn feed_end(&mut self) {
        if let Stage::Reading { reader, .. } = &mut self.stage {
            reader.feed_end();
        }
    }

    /// Reading the body failed for a transport reason, described by
    /// `message`. Before the bytes up to the offset were discarded this
    /// fails the open, as Go's pre-seek does.
    pub fn fail(&mut self, message: impl Into<String>) {
        let err = DirectError::Other(message.into());
        match &self.stage {
            Stage::Opening => self.finish(ReadInput::DirectOpenFailed(err)),
            Stage::Reading { opened: false, .. } => {
                self.finish(ReadInput::DirectOpenFailed(err));
            }
            Stage::Reading { opened: true, .. } => self.finish(ReadInput::DirectFailed(err)),
            Stage::Done => {}
        }
    }

    /// True while the adapter needs more of the body: nothing is queued and
    /// the decoder consumed what it was fed. Read and [`feed`](Self::feed)
    /// a chunk (or [`feed_end`](Self::feed_end)) only then, so at most one
    /// chunk is buffered.
    pub fn wants_input(&mut self) -> bool {
        if !self.inputs.is_empty() {
            return false;
        }
        self.step();
        self.inputs.is_empty() && matches!(self.stage, Stage::Reading { .. })
    }

    /// True once the final input (`DirectEnd`, `DirectFailed` or
    /// `DirectOpenFailed`) was produced.
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// The next input for the reader, or `None` when the adapter waits for
    /// the driver (or is done).
    pub fn poll_input(&mut self) -> Option<ReadInput> {
        if self.inputs.is_empty() {
            self.step();
        }
        self.inputs.pop_front()
    }

    fn start(&mut self, encoding: ContentEncoding) {
        if self.offset < self.fragment.begin {
            // The Reader validated the frame (begin <= offset), so this is a
            // caller error; reading from `begin` would shift every offset.
            let msg = format!(
                "offset {} is before Fragment.Begin {}",
                self.offset, self.fragment.begin
            );
            self.finish(ReadInput::DirectOpenFailed(DirectError::Other(msg)));
            return;
        }
        match FragmentReader::new(&self.fragment, self.offset, encoding) {
            Ok(reader) => {
                self.stage = Stage::Reading {
                    reader: Box::new(reader),
                    opened: false,
                };
            }
            Err(err) => self.finish(ReadInput::DirectOpenFailed(setup_error(&err))),
        }
    }

    /// Runs the fragment reader for one event, queueing what it means.
    fn step(&mut self) {
        let Stage::Reading { reader, opened } = &mut self.stage else {
            return;
        };
        let event = reader.poll();
        let was_opened = *opened;
        let pre_seek_done = reader.decoded_offset() >= reader.offset();
        match event {
            Ok(FragmentEvent::NeedInput) => {
                if !was_opened && pre_seek_done {
                    *opened = true;
                    self.inputs.push_back(ReadInput::DirectOpened);
                }
            }
            Ok(FragmentEvent::Content { content, .. }) => {
                *opened = true;
                if !was_opened {
                    self.inputs.push_back(ReadInput::DirectOpened);
                }
                self.inputs.push_back(ReadInput::DirectContent(content));
            }
            Ok(FragmentEvent::Eof) => {
                if !was_opened {
                    self.inputs.push_back(ReadInput::DirectOpened);
                }
                self.finish(ReadInput::DirectEnd);
            }
            Err(err) => {
                let err = direct_error(&err);
                if was_opened {
                    self.finish(ReadInput::DirectFailed(err));
                } else {
                    self.finish(ReadInput::DirectOpenFailed(err));
                }
            }
        }
    }

    fn finish(&mut self, last: ReadInput) {
        self.stage = Stage::Done;
        self.inputs.push_back(last);
    }
}
