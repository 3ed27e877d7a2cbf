//! A blocking gRPC transport: one h2c connection over
//! [`std::net::TcpStream`], driven by two threads around the sans-IO
//! [`Connection`].
//!
//! * The reader thread reads the socket, feeds the machine and hands each
//!   call's events to that call's channel.
//! * The writer thread writes what the machine transmits and runs its
//!   timers. It is the only one that writes, so bytes leave in the order
//!   the machine produced them, and the reader never waits on a write
//!   (a broker blocked on writing to us can always be read from).
//! * Callers ([`Call`]) lock the machine only to change it; no IO happens
//!   under the lock. A sender waits while its stream's send buffer is
//!   full, a receiver on its channel; both give up at the call's deadline.
//!
//! See docs/blocking-transport.md.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::conn::{
    Config, Connection, ConnectionError, Event, Metadata, OpenError, Request, SendError, Status,
    StreamError, StreamId,
};
use super::grpc;

/// A connection that could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The endpoint is not `host:port` or `http://host:port`.
    #[error("invalid endpoint {0:?} (want host:port or http://host:port)")]
    InvalidEndpoint(String),
    /// The host did not resolve.
    #[error("cannot resolve {endpoint}: {source}")]
    Resolve {
        /// The endpoint.
        endpoint: String,
        /// Why.
        source: std::io::Error,
    },
    /// No address accepted a connection in time.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// The last address's error (`TimedOut` when the connect timeout
        /// passed).
        source: std::io::Error,
    },
    /// The reader or writer thread could not be started.
    #[error("cannot start the connection's threads: {0}")]
    Spawn(std::io::Error),
    /// An `https://` endpoint without [`ConnectOptions::tls`] (or a build
    /// without the `tls` feature).
    #[error("{0} needs TLS, and no TLS configuration was given")]
    TlsRequired(String),
    /// The TLS handshake failed.
    #[error("TLS handshake with {endpoint} failed: {source}")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server did not agree to HTTP/2 through ALPN.
    #[error("{0} did not negotiate HTTP/2 (ALPN h2)")]
    NoHttp2(String),
}

/// A call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The call could not be opened on this connection.
    #[error("cannot open the call: {0}")]
    Open(#[from] OpenError),
    /// The broker answered with a status other than OK.
    #[error("status {}: {}", .0.code, .0.message)]
    Status(Status),
    /// The call failed without a status.
    #[error("{0}")]
    Stream(#[from] StreamError),
    /// The call's deadline passed; it was reset.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// A send after the call ended or was half-closed.
    #[error("{0}")]
    Send(#[from] SendError),
    /// A unary call whose answer did not hold exactly one message.
    #[error("unary answer with {0} messages")]
    NotUnary(usize),
}

/// Options of [`Channel::connect`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Bound on the TCP connect, per resolved address.
    pub connect_timeout: Duration,
    /// Keepalive PING interval while calls are open (at least 5 minutes).
    pub keepalive: Option<Duration>,
    /// Receive windows and limits (`authority` is set from the endpoint).
    pub config: Option<Config>,
    /// TLS for `https://` endpoints (roots, client identity); ALPN is set
    /// to `h2` here.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            keepalive: None,
            config: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// The byte stream under the machine: plain TCP (h2c) or TLS over it.
/// Reading and writing happen on different threads; with TLS the two
/// share the rustls session behind its own lock, held only to move bytes
/// in or out of it, never across socket IO.
#[derive(Clone)]
enum Socket {
    Plain(Arc<TcpStream>),
    #[cfg(feature = "tls")]
    Tls {
        tcp: Arc<TcpStream>,
        session: Arc<Mutex<rustls::ClientConnection>>,
    },
}

impl Socket {
    fn tcp(&self) -> &TcpStream {
        match self {
            Socket::Plain(tcp) => tcp,
            #[cfg(feature = "tls")]
            Socket::Tls { tcp, .. } => tcp,
        }
    }

    fn shutdown(&self) {
        let _ = self.tcp().shutdown(Shutdown::Both);
    }

    /// Reads some plaintext; `Ok(0)` at the end of the stream.
    fn read(&self, buf: &mut [u8], raw: &mut Vec<u8>) -> std::io::Result<usize> {
        match self {
            Socket::Plain(tcp) => {
                let _ = raw; // TLS only
                (&**tcp).read(buf)
            }
            #[cfg(feature = "tls")]
            Socket::Tls { tcp, session } => loop {
                {
                    let mut session = session.lock().unwrap_or_else(|p| p.into_inner());
                    match session.reader().read(buf) {
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                    // No plaintext buffered: feed what was read raw.
                    if !raw.is_empty() {
                        let mut rest = &raw[..];
                        session.read_tls(&mut rest)?;
                        let used = raw.len() - rest.len();
                        raw.drain(..used);
                        session
                            .process_new_packets()
                            .map_err(std::io::Error::other)?;
                        continue;
                    }
                }
                raw.resize(16 << 10, 0);
                let n = (&**tcp).read(raw)?;
                raw.truncate(n);
                if n == 0 {
                    return Ok(0);
                }
            },
        }
    }

    /// Writes `bytes` (empty: only what the TLS session has pending).
    fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Socket::Plain(tcp) => (&**tcp).write_all(bytes),
            #[cfg(feature = "tls")]
            Socket::Tls { tcp, session } => {
                let mut records = Vec::with_capacity(bytes.len() + 64);
                {
                    let mut session = session.lock().unwrap_or_else(|p| p.into_inner());
                    if !bytes.is_empty() {
                        session.writer().write_all(bytes)?;
                    }
                    while session.wants_write() {
                        session.write_tls(&mut records)?;
                    }
                }
                (&**tcp).write_all(&records)
            }
        }
    }

    /// Whether the TLS session has records to write though the machine
    /// has nothing (alerts, key updates).
    fn wants_write(&self) -> bool {
        match self {
            Socket::Plain(_) => false,
            #[cfg(feature = "tls")]
            Socket::Tls { session, .. } => session
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .wants_write(),
        }
    }
}

/// Runs the TLS handshake on `tcp` (within `timeout`) and checks ALPN.
#[cfg(feature = "tls")]
fn handshake(
    tcp: TcpStream,
    host: &str,
    config: &Arc<rustls::ClientConfig>,
    timeout: Duration,
    endpoint: &str,
) -> Result<Socket, ConnectError> {
    let tls_err = |source: std::io::Error| ConnectError::Tls {
        endpoint: endpoint.to_string(),
        source,
    };
    let mut config = (**config).clone();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| tls_err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    let mut session = rustls::ClientConnection::new(Arc::new(config), name)
        .map_err(|e| tls_err(std::io::Error::other(e)))?;
    tcp.set_read_timeout(Some(timeout)).map_err(tls_err)?;
    tcp.set_write_timeout(Some(timeout)).map_err(tls_err)?;
    let mut io = &tcp;
    while session.is_handshaking() {
        session.complete_io(&mut io).map_err(tls_err)?;
    }
    while session.wants_write() {
        session.write_tls(&mut io).map_err(tls_err)?;
    }
    // Each write hands the session one transmit (a few hundred KiB at
    // most) and takes its records right away: no need for rustls' own
    // bound on buffered plaintext.
    session.set_buffer_limit(None);
    tcp.set_read_timeout(None).map_err(tls_err)?;
    tcp.set_write_timeout(None).map_err(tls_err)?;
    if session.alpn_protocol() != Some(b"h2") {
        return Err(ConnectError::NoHttp2(endpoint.to_string()));
    }
    Ok(Socket::Tls {
        tcp: Arc::new(tcp),
        session: Arc::new(Mutex::new(session)),
    })
}

struct State {
    conn: Connection,
    calls: HashMap<StreamId, Sender<Event>>,
    stopping: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Wakes the writer: bytes to transmit, a timer moved, or stop.
    writer_wake: Condvar,
    /// Wakes senders waiting for send buffer room (or their stream's end).
    send_wake: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic under the lock leaves the machine as consistent as any
        // other interruption would; keep serving.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Hands every pending event to its call; returns whether senders should
/// look again.
fn dispatch(state: &mut State) -> bool {
    let mut wake = false;
    while let Some(event) = state.conn.poll_event() {
        match event {
            Event::WindowAvailable { .. } | Event::Closed { .. } | Event::GoAway { .. } => {
                wake = true
            }
            Event::Headers { stream, .. } => {
                if let Some(tx) = state.calls.get(&stream) {
                    let _ = tx.send(event);
                }
            }
            Event::Message {
                stream,
                ref message,
            } => {
                let len = message.len();
                let delivered = state
                    .calls
                    .get(&stream)
                    .is_some_and(|tx| tx.send(event).is_ok());
                if !delivered {
                    state.conn.release(stream, len);
                }
            }
            Event::End { stream, .. } | Event::Reset { stream, .. } => {
                if let Some(tx) = state.calls.remove(&stream) {
                    let _ = tx.send(event);
                }
                wake = true;
            }
        }
    }
    wake
}

struct Handle {
    inner: Arc<Inner>,
    socket: Socket,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.lock().stopping = true;
        self.inner.writer_wake.notify_all();
        self.socket.shutdown();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

/// One HTTP/2 connection to a broker, shared by any number of concurrent
/// [`Call`]s. Cloning shares it; it closes when the last clone and the
/// last call are gone.
#[derive(Clone)]
pub struct Channel {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("peer", &self.handle.socket.tcp().peer_addr().ok())
            .finish_non_exhaustive()
    }
}

/// `(authority, tls)` of `host:port`, `http://host:port` or
/// `https://host:port`.
fn split_endpoint(endpoint: &str) -> Result<(&str, bool), ConnectError> {
    let (rest, tls) = match endpoint.strip_prefix("https://") {
        Some(rest) => (rest, true),
        None => (endpoint.strip_prefix("http://").unwrap_or(endpoint), false),
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains("://") {
        return Err(ConnectError::InvalidEndpoint(endpoint.to_string()));
    }
    Ok((rest, tls))
}

/// The host part of an authority (`[::1]:8080` gives `::1`).
#[cfg(feature = "tls")]
fn host_of(authority: &str) -> &str {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

fn connect_tcp(authority: &str, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let addrs: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .map_err(|source| ConnectError::Resolve {
            endpoint: authority.to_string(),
            source,
        })?
        .collect();
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(ConnectError::Connect {
        endpoint: authority.to_string(),
        source: last,
    })
}

impl Channel {
    /// Connects to `endpoint` (`host:port` or `http://host:port` for h2c,
    /// `https://host:port` for TLS with [`ConnectOptions::tls`]) and
    /// starts the connection's threads. The TLS handshake is done here
    /// (within the connect timeout); the HTTP/2 one completes in the
    /// background, and calls may start at once.
    pub fn connect(endpoint: &str, options: ConnectOptions) -> Result<Self, ConnectError> {
        let (authority, tls) = split_endpoint(endpoint)?;
        let tcp = connect_tcp(authority, options.connect_timeout)?;
        let _ = tcp.set_nodelay(true);
        let socket = if tls {
            #[cfg(feature = "tls")]
            {
                let Some(config) = &options.tls else {
                    return Err(ConnectError::TlsRequired(endpoint.to_string()));
                };
                handshake(
                    tcp,
                    host_of(authority),
                    config,
                    options.connect_timeout,
                    endpoint,
                )?
            }
            #[cfg(not(feature = "tls"))]
            {
                drop(tcp);
                return Err(ConnectError::TlsRequired(endpoint.to_string()));
            }
        } else {
            Socket::Plain(Arc::new(tcp))
        };
        let mut config = options
            .config
            .unwrap_or_else(|| Config::new(authority.to_string()));
        config.authority = authority.to_string();
        config.scheme = if tls { "https" } else { "http" };
        if options.keepalive.is_some() {
            config.keepalive = options.keepalive;
        }
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                conn: Connection::new(config, crate::clock::now()),
                calls: HashMap::new(),
                stopping: false,
            }),
            writer_wake: Condvar::new(),
            send_wake: Condvar::new(),
        });
        let (reader_socket, writer_socket) = (socket.clone(), socket.clone());
        let reader = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("gazette-h2-read".into())
                .spawn(move || read_loop(&inner, reader_socket))
                .map_err(ConnectError::Spawn)?
        };
        let writer = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("gazette-h2-write".into())
                .spawn(move || write_loop(&inner, writer_socket))
        };
        let writer = match writer {
            Ok(w) => w,
            Err(e) => {
                socket.shutdown();
                let _ = reader.join();
                return Err(ConnectError::Spawn(e));
            }
        };
        Ok(Self {
            handle: Arc::new(Handle {
                inner,
                socket,
                threads: Mutex::new(vec![reader, writer]),
            }),
        })
    }

    /// Whether new calls can open here (no failure, no GOAWAY). A channel
    /// that is not should be replaced by a new connection.
    pub fn is_open(&self) -> bool {
        self.handle.inner.lock().conn.is_open()
    }

    /// The connection's failure, once it failed.
    pub fn error(&self) -> Option<ConnectionError> {
        self.handle.inner.lock().conn.error().cloned()
    }

    /// Opens a call of method `path` (e.g. `/protocol.Journal/Read`) with
    /// extra `metadata`; `timeout` bounds the whole call and is sent as
    /// `grpc-timeout`.
    pub fn call(
        &self,
        path: &str,
        metadata: &[(String, String)],
        timeout: Option<Duration>,
    ) -> Result<Call, CallError> {
        let request = Request {
            path: path.to_string(),
            timeout,
            metadata: metadata.to_vec(),
        };
        let (tx, rx) = mpsc::channel();
        let inner = &self.handle.inner;
        let stream = {
            let mut state = inner.lock();
            let stream = state.conn.open_stream(&request)?;
            state.calls.insert(stream, tx);
            stream
        };
        inner.writer_wake.notify_one();
        Ok(Call {
            handle: self.handle.clone(),
            stream,
            rx,
            deadline: timeout.map(|t| crate::clock::now() + t),
            headers: None,
            finished: false,
        })
    }

    /// A unary call: one request message, one answer message.
    pub fn unary(
        &self,
        path: &str,
        metadata: &[(String, String)],
        request: Bytes,
        timeout: Option<Duration>,
    ) -> Result<Bytes, CallError> {
        let mut call = self.call(path, metadata, timeout)?;
        // A broker may answer before reading the request (an unknown
        // method, a refusal): then the send fails and recv tells why.
        match call.send(request) {
            Ok(()) | Err(CallError::Send(SendError::StreamClosed(_))) => {}
            Err(e) => return Err(e),
        }
        call.close_send()?;
        let mut answers = Vec::new();
        while let Some(message) = call.recv()? {
            answers.push(message);
        }
        if answers.len() != 1 {
            return Err(CallError::NotUnary(answers.len()));
        }
        Ok(answers.pop().unwrap_or_default())
    }
}

fn read_loop(inner: &Inner, socket: Socket) {
    let mut buf = vec![0u8; 64 << 10];
    let mut raw = Vec::new();
    loop {
        let read = socket.read(&mut buf, &mut raw);
        let mut state = inner.lock();
        let done = match read {
            Ok(0) => {
                state.conn.handle_close("the broker closed the connection");
                true
            }
            Ok(n) => state.conn.handle_input(&buf[..n]).is_err(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => false,
            Err(e) => {
                state.conn.handle_close(format!("read failed: {e}"));
                true
            }
        };
        let wake = dispatch(&mut state);
        drop(state);
        inner.writer_wake.notify_one();
        if wake || done {
            inner.send_wake.notify_all();
        }
        if done {
            return;
        }
    }
}

fn write_loop(inner: &Inner, socket: Socket) {
    let mut state = inner.lock();
    loop {
        if state.stopping {
            return;
        }
        let now = crate::clock::now();
        if state.conn.poll_timeout().is_some_and(|t| t <= now) {
            state.conn.handle_timeout(now);
        }
        let out = state.conn.poll_transmit();
        if dispatch(&mut state) {
            inner.send_wake.notify_all();
        }
        let out = out.or_else(|| socket.wants_write().then(Bytes::new));
        if let Some(bytes) = out {
            drop(state);
            let written = socket.write(&bytes);
            state = inner.lock();
            if let Err(e) = written {
                state.conn.handle_close(format!("write failed: {e}"));
                dispatch(&mut state);
                inner.send_wake.notify_all();
                socket.shutdown();
                return;
            }
            continue;
        }
        if state.conn.error().is_some() {
            // Whatever the machine had to say (GOAWAY) is written: end it,
            // which also ends the reader.
            socket.shutdown();
            return;
        }
        state = match state.conn.poll_timeout() {
            Some(at) => {
                let wait = at.saturating_duration_since(crate::clock::now());
                inner
                    .writer_wake
                    .wait_timeout(state, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => inner
                .writer_wake
                .wait(state)
                .unwrap_or_else(|p| p.into_inner()),
        };
    }
}

/// One call on a [`Channel`]. Dropping it before it ended resets it.
pub struct Call {
    handle: Arc<Handle>,
    stream: StreamId,
    rx: Receiver<Event>,
    deadline: Option<Instant>,
    headers: Option<Metadata>,
    finished: bool,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("stream", &self.stream)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl Call {
    /// The call's stream.
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// Sends one request message, waiting while the stream's send buffer
    /// is full (the broker's flow-control windows are closed). Fails with
    /// [`SendError::StreamClosed`] once the call ended, even if the broker
    /// ended it first: [`Call::recv`] then gives its outcome.
    pub fn send(&mut self, message: Bytes) -> Result<(), CallError> {
        let inner = &self.handle.inner;
        let mut state = inner.lock();
        loop {
            if !state.conn.contains(self.stream) {
                return Err(SendError::StreamClosed(self.stream).into());
            }
            if state.conn.is_writable(self.stream) {
                state.conn.send_message(self.stream, message)?;
                drop(state);
                inner.writer_wake.notify_one();
                return Ok(());
            }
            state = match self.deadline {
                None => inner
                    .send_wake
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let now = crate::clock::now();
                    if now >= deadline {
                        drop(state);
                        return Err(self.expire());
                    }
                    inner
                        .send_wake
                        .wait_timeout(state, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// Ends the request side (nothing to do once the call ended).
    pub fn close_send(&mut self) -> Result<(), CallError> {
        let inner = &self.handle.inner;
        match inner.lock().conn.half_close(self.stream) {
            Ok(()) | Err(SendError::StreamClosed(_)) => {}
            Err(e) => return Err(e.into()),
        }
        inner.writer_wake.notify_one();
        Ok(())
    }

    fn expire(&mut self) -> CallError {
        self.abandon();
        CallError::DeadlineExceeded
    }

    fn abandon(&mut self) {
        if !self.finished {
            self.finished = true;
            let inner = &self.handle.inner;
            let mut state = inner.lock();
            state.calls.remove(&self.stream);
            state.conn.reset(self.stream);
            drop(state);
            inner.writer_wake.notify_one();
        }
    }

    fn next_event(&mut self) -> Result<Event, CallError> {
        let event = match self.deadline {
            None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(deadline) => self
                .rx
                .recv_timeout(deadline.saturating_duration_since(crate::clock::now())),
        };
        match event {
            Ok(event) => Ok(event),
            Err(RecvTimeoutError::Timeout) => Err(self.expire()),
            Err(RecvTimeoutError::Disconnected) => {
                self.finished = true;
                let error = self
                    .handle
                    .inner
                    .lock()
                    .conn
                    .error()
                    .cloned()
                    .unwrap_or_else(|| ConnectionError::Closed("call abandoned".into()));
                Err(StreamError::Connection(error).into())
            }
        }
    }

    /// The response headers, waiting for them.
    pub fn headers(&mut self) -> Result<&Metadata, CallError> {
        while self.headers.is_none() {
            if self.finished {
                return Err(SendError::StreamClosed(self.stream).into());
            }
            match self.next_event()? {
                Event::Headers { metadata, .. } => self.headers = Some(metadata),
                other => self.on_end(other)?,
            }
        }
        Ok(self.headers.as_ref().unwrap_or_else(|| unreachable!()))
    }

    /// The next response message; `Ok(None)` once the call ended with OK.
    pub fn recv(&mut self) -> Result<Option<Bytes>, CallError> {
        loop {
            if self.finished {
                return Ok(None);
            }
            match self.next_event()? {
                Event::Headers { metadata, .. } => self.headers = Some(metadata),
                Event::Message { message, .. } => {
                    let inner = &self.handle.inner;
                    inner.lock().conn.release(self.stream, message.len());
                    inner.writer_wake.notify_one();
                    return Ok(Some(message));
                }
                other => {
                    self.on_end(other)?;
                    return Ok(None);
                }
            }
        }
    }

    fn on_end(&mut self, event: Event) -> Result<(), CallError> {
        self.finished = true;
        match event {
            Event::End { status, .. } if status.code == grpc::code::OK => Ok(()),
            Event::End { status, .. } => Err(CallError::Status(status)),
            Event::Reset { error, .. } => Err(CallError::Stream(error)),
            _ => Ok(()),
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.abandon();
    }
}
