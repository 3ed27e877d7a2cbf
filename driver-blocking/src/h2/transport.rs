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
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            keepalive: None,
            config: None,
        }
    }
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
    socket: TcpStream,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.lock().stopping = true;
        self.inner.writer_wake.notify_all();
        let _ = self.socket.shutdown(Shutdown::Both);
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
            .field("peer", &self.handle.socket.peer_addr().ok())
            .finish_non_exhaustive()
    }
}

fn split_endpoint(endpoint: &str) -> Result<&str, ConnectError> {
    let rest = endpoint.strip_prefix("http://").unwrap_or(endpoint);
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || endpoint.starts_with("https://") {
        return Err(ConnectError::InvalidEndpoint(endpoint.to_string()));
    }
    Ok(rest)
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
    /// Connects to `endpoint` (`host:port` or `http://host:port`, h2c) and
    /// starts the connection's threads. The HTTP/2 handshake completes in
    /// the background; calls may start at once.
    pub fn connect(endpoint: &str, options: ConnectOptions) -> Result<Self, ConnectError> {
        let authority = split_endpoint(endpoint)?;
        let socket = connect_tcp(authority, options.connect_timeout)?;
        let _ = socket.set_nodelay(true);
        let mut config = options
            .config
            .unwrap_or_else(|| Config::new(authority.to_string()));
        config.authority = authority.to_string();
        if options.keepalive.is_some() {
            config.keepalive = options.keepalive;
        }
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                conn: Connection::new(config, Instant::now()),
                calls: HashMap::new(),
                stopping: false,
            }),
            writer_wake: Condvar::new(),
            send_wake: Condvar::new(),
        });
        let clone = |s: &TcpStream| s.try_clone().map_err(ConnectError::Spawn);
        let (reader_socket, writer_socket) = (clone(&socket)?, clone(&socket)?);
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
                let _ = socket.shutdown(Shutdown::Both);
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
            deadline: timeout.map(|t| Instant::now() + t),
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

fn read_loop(inner: &Inner, mut socket: TcpStream) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let read = socket.read(&mut buf);
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

fn write_loop(inner: &Inner, mut socket: TcpStream) {
    let mut state = inner.lock();
    loop {
        if state.stopping {
            return;
        }
        let now = Instant::now();
        if state.conn.poll_timeout().is_some_and(|t| t <= now) {
            state.conn.handle_timeout(now);
        }
        let out = state.conn.poll_transmit();
        if dispatch(&mut state) {
            inner.send_wake.notify_all();
        }
        if let Some(bytes) = out {
            drop(state);
            let written = socket.write_all(&bytes);
            state = inner.lock();
            if let Err(e) = written {
                state.conn.handle_close(format!("write failed: {e}"));
                dispatch(&mut state);
                inner.send_wake.notify_all();
                let _ = socket.shutdown(Shutdown::Both);
                return;
            }
            continue;
        }
        if state.conn.error().is_some() {
            // Whatever the machine had to say (GOAWAY) is written: end it,
            // which also ends the reader.
            let _ = socket.shutdown(Shutdown::Both);
            return;
        }
        state = match state.conn.poll_timeout() {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
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
                    let now = Instant::now();
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
                .recv_timeout(deadline.saturating_duration_since(Instant::now())),
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
