//! The loop over the core client (docs/architecture.md#the-tokio-driver).
//!
//! One [`Engine`] per [`crate::Client`] holds the core's
//! [`gazette_core::client::Client`] in a mutex. Whoever feeds it an input
//! (a handle's command, an RPC task's message, the timer) drains its
//! outputs under the same lock: RPC commands become tonic calls on spawned
//! tasks, events go to the operation's slot (waking its handle), and a
//! changed `poll_timeout` re-arms the timer task. The engine decides
//! nothing: routing, claims, retries, classification and deadlines are the
//! core's.

use std::collections::{BTreeMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use futures::Stream;
use gazette_core::client::{
    Call, Client as Core, Event, FetchId, OpError, OpId, Outcome, RpcCommand, RpcEnd, RpcId,
    RpcMessage, Seek, SeekError, Target,
};
use gazette_core::read::{DirectFetch, FetchTarget, ReadEvent, ReadInput};
use gazette_core::status::RpcCode;
use gazette_proto::AppendRequest;
use gazette_proto::journal_client::JournalClient;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use crate::Error;
use crate::auth::Auth;
use crate::client::{Connector, MAX_DECODE_SIZE};
use crate::clock::Clock;
use crate::fragment::FragmentOpener;

/// Content bytes a read may hold undelivered before its RPC or fragment
/// fetch stops pulling (the broker's flow control then applies).
const READ_BUFFER: usize = 4 << 20;

/// Events of one operation not yet taken by its handle.
#[derive(Default)]
struct Slot {
    events: VecDeque<Event>,
    waker: Option<Waker>,
    /// Content bytes among `events`.
    buffered: usize,
    /// Signalled when `buffered` drops to [`READ_BUFFER`] or below.
    space: Arc<Notify>,
    /// Direct fragment fetches the operation started.
    fetches: u64,
}

struct RpcTask {
    /// The request side of an Append stream (dropped: half-closed).
    sender: Option<mpsc::UnboundedSender<AppendRequest>>,
    task: Option<JoinHandle<()>>,
}

struct State {
    core: Core,
    slots: BTreeMap<OpId, Slot>,
    rpcs: BTreeMap<RpcId, RpcTask>,
    fetches: BTreeMap<FetchId, JoinHandle<()>>,
    members: BTreeMap<String, Channel>,
    timer_at: Option<Instant>,
}

impl Drop for State {
    fn drop(&mut self) {
        for task in self.rpcs.values_mut().filter_map(|r| r.task.take()) {
            task.abort();
        }
        for task in self.fetches.values() {
            task.abort();
        }
    }
}

/// The loop of one client (module docs).
pub(crate) struct Engine {
    state: Mutex<State>,
    clock: Arc<dyn Clock>,
    connector: Arc<dyn Connector>,
    service: Channel,
    auth: Auth,
    fragments: FragmentOpener,
    timer: Arc<Notify>,
}

impl Drop for Engine {
    fn drop(&mut self) {
        // The timer task holds a weak reference: wake it to see it is gone.
        self.timer.notify_one();
    }
}

impl Engine {
    /// Starts the engine (and its timer task: needs a tokio runtime).
    pub(crate) fn start(
        core: Core,
        clock: Arc<dyn Clock>,
        connector: Arc<dyn Connector>,
        service: Channel,
        auth: Auth,
        fragments: FragmentOpener,
    ) -> Arc<Self> {
        let engine = Arc::new(Engine {
            state: Mutex::new(State {
                core,
                slots: BTreeMap::new(),
                rpcs: BTreeMap::new(),
                fetches: BTreeMap::new(),
                members: BTreeMap::new(),
                timer_at: None,
            }),
            clock,
            connector,
            service,
            auth,
            fragments,
            timer: Arc::new(Notify::new()),
        });
        tokio::spawn(timer_loop(Arc::downgrade(&engine), engine.timer.clone()));
        engine
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn fragments(&self) -> &FragmentOpener {
        &self.fragments
    }

    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Runs `f` on the core with the current time, then carries out what
    /// it asked for.
    pub(crate) fn call<R>(self: &Arc<Self>, f: impl FnOnce(&mut Core, Instant) -> R) -> R {
        let mut state = self.lock();
        let now = self.clock.now();
        let out = f(&mut state.core, now);
        self.drain(&mut state);
        out
    }

    /// Starts an operation with `f` and gives it a slot.
    pub(crate) fn start_op<E>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Core, Instant) -> Result<OpId, E>,
    ) -> Result<OpId, E> {
        let mut state = self.lock();
        let now = self.clock.now();
        let out = f(&mut state.core, now);
        if let Ok(op) = &out {
            state.slots.insert(*op, Slot::default());
        }
        self.drain(&mut state);
        out
    }

    /// Forgets an operation whose handle went away.
    pub(crate) fn close(self: &Arc<Self>, op: OpId) {
        let mut state = self.lock();
        state.core.close(op);
        state.slots.remove(&op);
        self.drain(&mut state);
    }

    /// The next event of `op`, or Pending (woken on the next one).
    pub(crate) fn poll_event(&self, op: OpId, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut state = self.lock();
        let Some(slot) = state.slots.get_mut(&op) else {
            return Poll::Ready(None);
        };
        match slot.events.pop_front() {
            Some(event) => {
                if let Event::Read {
                    event: ReadEvent::Content { content, .. },
                    ..
                } = &event
                {
                    slot.buffered -= content.len();
                    if slot.buffered <= READ_BUFFER {
                        slot.space.notify_one();
                    }
                }
                Poll::Ready(Some(event))
            }
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Takes the content events at the front of `op`'s queue, without
    /// waiting (a seek counts them as delivered content).
    pub(crate) fn take_content(&self, op: OpId) -> Vec<(i64, Bytes)> {
        let mut state = self.lock();
        let Some(slot) = state.slots.get_mut(&op) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Some(Event::Read {
            event: ReadEvent::Content { .. },
            ..
        }) = slot.events.front()
        {
            if let Some(Event::Read {
                event: ReadEvent::Content { offset, content },
                ..
            }) = slot.events.pop_front()
            {
                slot.buffered -= content.len();
                out.push((offset, content));
            }
        }
        if slot.buffered <= READ_BUFFER {
            slot.space.notify_one();
        }
        out
    }

    /// Direct fragment fetches `op` started.
    pub(crate) fn fragments_opened(&self, op: OpId) -> u64 {
        self.lock().slots.get(&op).map_or(0, |s| s.fetches)
    }

    /// Seeks a read (`Client::seek_read`); a seek that restarts the read
    /// drops the events queued from before it.
    pub(crate) fn seek(
        self: &Arc<Self>,
        op: OpId,
        target: i64,
        buffered: u64,
    ) -> Result<Seek, SeekError> {
        let mut state = self.lock();
        let now = self.clock.now();
        let seek = state.core.seek_read(op, target, buffered, now);
        if let (Ok(Seek::Reset(_)), Some(slot)) = (&seek, state.slots.get_mut(&op)) {
            slot.events
                .retain(|e| !matches!(e, Event::Read { .. } | Event::ReadStopped { .. }));
            slot.buffered = 0;
            slot.space.notify_one();
        }
        self.drain(&mut state);
        seek
    }

    /// The next event of `op` (`None` once it finished and was taken).
    pub(crate) async fn next_event(&self, op: OpId) -> Option<Event> {
        std::future::poll_fn(|cx| self.poll_event(op, cx)).await
    }

    /// Waits for the end of `op` and forgets it: its outcome, or its
    /// failure as the driver's error. An operation closed meanwhile ends
    /// as cancelled.
    pub(crate) async fn finished(self: &Arc<Self>, op: OpId) -> Result<Outcome, Error> {
        let guard = CloseOnDrop { engine: self, op };
        loop {
            match self.next_event(op).await {
                Some(Event::Finished { result, .. }) => {
                    drop(guard);
                    return result.map_err(crate::error::op_error);
                }
                Some(_) => {}
                None => {
                    return Err(crate::error::op_error(OpError::Append(
                        gazette_core::append::AppendError::Transport(
                            gazette_core::TransportError::Cancelled,
                        ),
                    )));
                }
            }
        }
    }

    /// Waits while `op` holds more than [`READ_BUFFER`] undelivered bytes.
    async fn wait_space(&self, op: OpId) {
        loop {
            let space = {
                let state = self.lock();
                match state.slots.get(&op) {
                    Some(slot) if slot.buffered > READ_BUFFER => slot.space.clone(),
                    _ => return,
                }
            };
            space.notified().await;
        }
    }

    fn drain(self: &Arc<Self>, state: &mut State) {
        loop {
            let mut progressed = false;
            while let Some(command) = state.core.poll_rpc() {
                progressed = true;
                self.execute(state, command);
            }
            while let Some(event) = state.core.poll_event() {
                progressed = true;
                deliver(state, event);
            }
            if !progressed {
                break;
            }
        }
        let at = state.core.poll_timeout();
        if at != state.timer_at {
            state.timer_at = at;
            self.timer.notify_one();
        }
    }

    fn channel(&self, state: &mut State, target: &Target) -> Result<Channel, Error> {
        match target {
            Target::Service => Ok(self.service.clone()),
            Target::Member(endpoint) => {
                if let Some(channel) = state.members.get(endpoint) {
                    return Ok(channel.clone());
                }
                let channel = self.connector.channel(endpoint)?;
                state.members.insert(endpoint.clone(), channel.clone());
                Ok(channel)
            }
        }
    }

    /// Reports `outcome` as the end of `rpc` once this drain is over: the
    /// core expects the end of an RPC it opened as a later input.
    fn fail_later(self: &Arc<Self>, state: &mut State, rpc: RpcId, outcome: RpcEnd) {
        let engine = Arc::downgrade(self);
        let task = tokio::spawn(async move { end(&engine, rpc, outcome) });
        state.rpcs.insert(
            rpc,
            RpcTask {
                sender: None,
                task: Some(task),
            },
        );
    }

    fn execute(self: &Arc<Self>, state: &mut State, command: RpcCommand) {
        match command {
            RpcCommand::Open {
                rpc,
                op,
                target,
                call,
                claims,
            } => {
                let name = crate::client::op_name(call.operation());
                crate::telemetry::rpc_started(name);
                let channel = match self.channel(state, &target) {
                    Ok(channel) => channel,
                    Err(err) => {
                        let end = RpcEnd::status(RpcCode::InvalidArgument, err.to_string());
                        return self.fail_later(state, rpc, end);
                    }
                };
                let auth = match self.auth.header(&claims) {
                    Ok(auth) => auth,
                    Err(err) => {
                        let end = RpcEnd::status(RpcCode::Unauthenticated, err.to_string());
                        return self.fail_later(state, rpc, end);
                    }
                };
                let mut client =
                    JournalClient::new(channel).max_decoding_message_size(MAX_DECODE_SIZE);
                let engine = Arc::downgrade(self);

                let mut sender = None;
                let task = match call {
                    Call::Read(message) => {
                        let request = authorized(message, &auth);
                        tokio::spawn(async move {
                            match client.read(request).await {
                                Ok(response) => {
                                    input(&engine, |c, now| c.handle_rpc_opened(rpc, now));
                                    let stream = response.into_inner();
                                    pump(&engine, (rpc, op, name), stream, RpcMessage::Read).await;
                                }
                                Err(status) => end(&engine, rpc, rpc_end(&status, name)),
                            }
                        })
                    }
                    Call::List(message) => {
                        let request = authorized(message, &auth);
                        tokio::spawn(async move {
                            match client.list(request).await {
                                Ok(response) => {
                                    input(&engine, |c, now| c.handle_rpc_opened(rpc, now));
                                    let stream = response.into_inner();
                                    pump(&engine, (rpc, op, name), stream, RpcMessage::List).await;
                                }
                                Err(status) => end(&engine, rpc, rpc_end(&status, name)),
                            }
                        })
                    }
                    Call::Append { .. } => {
                        let (tx, rx) = mpsc::unbounded_channel();
                        sender = Some(tx);
                        let stream = SentStream {
                            rx,
                            rpc,
                            engine: engine.clone(),
                        };
                        let request = authorized(stream, &auth);
                        tokio::spawn(async move {
                            let result = client.append(request).await;
                            unary_end(&engine, (rpc, name), result, RpcMessage::Append);
                        })
                    }
                    Call::Apply(message) => {
                        let request = authorized(message, &auth);
                        tokio::spawn(async move {
                            let result = client.apply(request).await;
                            unary_end(&engine, (rpc, name), result, RpcMessage::Apply);
                        })
                    }
                    Call::ListFragments(message) => {
                        let request = authorized(message, &auth);
                        tokio::spawn(async move {
                            let result = client.list_fragments(request).await;
                            unary_end(&engine, (rpc, name), result, RpcMessage::ListFragments);
                        })
                    }
                    Call::FragmentStoreHealth(message) => {
                        let request = authorized(message, &auth);
                        tokio::spawn(async move {
                            let result = client.fragment_store_health(request).await;
                            unary_end(
                                &engine,
                                (rpc, name),
                                result,
                                RpcMessage::FragmentStoreHealth,
                            );
                        })
                    }
                    other => {
                        let message = format!("{other:?}: not supported by this driver");
                        tokio::spawn(async move {
                            end(
                                &engine,
                                rpc,
                                RpcEnd::status(RpcCode::Unimplemented, message),
                            );
                        })
                    }
                };
                state.rpcs.insert(
                    rpc,
                    RpcTask {
                        sender,
                        task: Some(task),
                    },
                );
            }
            RpcCommand::Send { rpc, message } => {
                if let Some(sender) = state.rpcs.get(&rpc).and_then(|r| r.sender.as_ref()) {
                    // A closed stream fails the RPC, which reports its end.
                    let _ = sender.send(message);
                }
            }
            RpcCommand::HalfClose { rpc } => {
                if let Some(task) = state.rpcs.get_mut(&rpc) {
                    task.sender = None;
                }
            }
            RpcCommand::Cancel { rpc } => {
                if let Some(mut task) = state.rpcs.remove(&rpc)
                    && let Some(task) = task.task.take()
                {
                    task.abort();
                }
            }
            command @ RpcCommand::Fetch { .. } => {
                let RpcCommand::Fetch { fetch, op, .. } = &command else {
                    unreachable!()
                };
                let (fetch, op) = (*fetch, *op);
                let adapter = command.fetch_adapter().expect("a Fetch command");
                if let Some(slot) = state.slots.get_mut(&op) {
                    slot.fetches += 1;
                }
                let engine = Arc::downgrade(self);
                let opener = self.fragments.clone();
                let task = tokio::spawn(run_direct_fetch(engine, opener, adapter, fetch, op));
                state.fetches.insert(fetch, task);
            }
            RpcCommand::CancelFetch { fetch } => {
                if let Some(task) = state.fetches.remove(&fetch) {
                    task.abort();
                }
            }
            RpcCommand::Disconnect { endpoint } => {
                state.members.remove(&endpoint);
            }
            other => tracing::warn!(?other, "unknown core command"),
        }
    }
}

/// `message` as a request carrying the `authorization` metadata, if any.
fn authorized<T>(
    message: T,
    auth: &Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = auth.clone() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Closes an operation when the future waiting on it is dropped.
struct CloseOnDrop<'e> {
    engine: &'e Arc<Engine>,
    op: OpId,
}

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.engine.close(self.op);
    }
}

/// Queues `event` for its operation's handle.
fn deliver(state: &mut State, event: Event) {
    let op = match &event {
        Event::Read { op, .. }
        | Event::ReadStopped { op, .. }
        | Event::Writable { op }
        | Event::Snapshot { op, .. }
        | Event::WatchSignal { op, .. }
        | Event::AppendRefused { op, .. }
        | Event::Finished { op, .. } => *op,
        Event::OutcomeUnknown { op } => {
            tracing::warn!(%op, "append cancelled after its commit marker: it may be written twice");
            crate::telemetry::append_outcome_unknown();
            return;
        }
        Event::Retrying {
            op,
            operation,
            attempt,
            delay,
            cause,
            log,
        } => {
            if *log {
                tracing::warn!(%op, ?operation, attempt, ?delay, %cause, "retrying");
            } else {
                tracing::debug!(%op, ?operation, attempt, ?delay, %cause, "retrying");
            }
            if *operation == gazette_core::status::Operation::Read {
                crate::telemetry::read_retry();
            }
            return;
        }
        other => {
            tracing::debug!(?other, "unknown core event");
            return;
        }
    };
    let Some(slot) = state.slots.get_mut(&op) else {
        return;
    };
    if let Event::Read {
        event: ReadEvent::Content { content, .. },
        ..
    } = &event
    {
        crate::telemetry::read_bytes(content.len());
        slot.buffered += content.len();
    }
    slot.events.push_back(event);
    if let Some(waker) = slot.waker.take() {
        waker.wake();
    }
}

/// Feeds the engine an input, if it still exists.
fn input(engine: &Weak<Engine>, f: impl FnOnce(&mut Core, Instant)) {
    if let Some(engine) = engine.upgrade() {
        engine.call(f);
    }
}

fn end(engine: &Weak<Engine>, rpc: RpcId, outcome: RpcEnd) {
    if let Some(engine) = engine.upgrade() {
        let mut state = engine.lock();
        state.rpcs.remove(&rpc);
        let now = engine.clock.now();
        state.core.handle_rpc_end(rpc, outcome, now);
        engine.drain(&mut state);
    }
}

/// Moves the messages of a server stream into the core until it ends,
/// pausing while the operation's handle is behind.
async fn pump<M>(
    engine: &Weak<Engine>,
    (rpc, op, name): (RpcId, OpId, &'static str),
    mut stream: tonic::Streaming<M>,
    wrap: fn(M) -> RpcMessage,
) {
    loop {
        if let Some(e) = engine.upgrade() {
            e.wait_space(op).await;
        }
        match stream.message().await {
            Ok(Some(message)) => input(engine, |c, now| {
                c.handle_rpc_message(rpc, wrap(message), now)
            }),
            Ok(None) => return end(engine, rpc, RpcEnd::Ok),
            Err(status) => return end(engine, rpc, rpc_end(&status, name)),
        }
    }
}

fn unary_end<M>(
    engine: &Weak<Engine>,
    (rpc, name): (RpcId, &'static str),
    result: Result<tonic::Response<M>, tonic::Status>,
    wrap: fn(M) -> RpcMessage,
) {
    match result {
        Ok(response) => {
            let message = wrap(response.into_inner());
            input(engine, |c, now| c.handle_rpc_message(rpc, message, now));
            end(engine, rpc, RpcEnd::Ok);
        }
        Err(status) => end(engine, rpc, rpc_end(&status, name)),
    }
}

/// What a tonic status says happened: its code and message, and whether
/// the transport itself failed (an IO, hyper or tonic transport error as
/// its source) rather than a peer sending the status.
pub(crate) fn rpc_end(status: &tonic::Status, name: &'static str) -> RpcEnd {
    use std::error::Error as _;
    crate::telemetry::rpc_failed(name, status.code());
    let mut transport = false;
    let mut source = status.source();
    while let Some(err) = source {
        if err.is::<tonic::transport::Error>()
            || err.is::<hyper::Error>()
            || err.is::<std::io::Error>()
        {
            transport = true;
            break;
        }
        source = err.source();
    }
    let mut message = status.message().to_string();
    if transport && let Some(source) = status.source() {
        message = format!("{message}: {source}");
    }
    RpcEnd::Failed {
        code: RpcCode::from_i32(status.code() as i32),
        message,
        transport,
    }
}

/// The request stream of an Append RPC: reports each message the
/// transport takes, so the core can release write-buffer space.
struct SentStream {
    rx: mpsc::UnboundedReceiver<AppendRequest>,
    rpc: RpcId,
    engine: Weak<Engine>,
}

impl Stream for SentStream {
    type Item = AppendRequest;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(_)) = &next {
            let rpc = self.rpc;
            input(&self.engine, |c, now| c.handle_rpc_sent(rpc, now));
        }
        next
    }
}

/// The timer task: sleeps until the core's next timeout (or a re-arm),
/// then feeds `handle_timeout`. Ends with the engine.
async fn timer_loop(engine: Weak<Engine>, timer: Arc<Notify>) {
    loop {
        let at = match engine.upgrade() {
            Some(e) => e.lock().timer_at,
            None => return,
        };
        let rearmed = timer.notified();
        match at {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {
                        input(&engine, |c, now| c.handle_timeout(now));
                    }
                    () = rearmed => {}
                }
            }
            None => rearmed.await,
        }
    }
}

/// Carries out one direct fragment read: the IO of the core's
/// [`DirectFetch`] adapter (HTTP GET or local file, then body chunks),
/// feeding the reader inputs it yields to the core.
async fn run_direct_fetch(
    engine: Weak<Engine>,
    opener: FragmentOpener,
    mut fetch: DirectFetch,
    id: FetchId,
    op: OpId,
) {
    let feed = |input: ReadInput| {
        let engine = engine.clone();
        async move {
            if let Some(e) = engine.upgrade() {
                e.wait_space(op).await;
                e.call(|c, now| c.handle_fetch(id, input, now));
                true
            } else {
                false
            }
        }
    };
    let mut body = None;
    match fetch.target(opener.file_root()) {
        Err(err) => fetch.open_failed_with(err),
        Ok(FetchTarget::Http { url }) => match opener.get(&url, fetch.accept_encoding()).await {
            Ok(response) => {
                fetch.http_response(
                    response.status.as_u16(),
                    response.status.canonical_reason(),
                    response.content_encoding.as_deref(),
                );
                body = Some(response.body);
            }
            Err(err) => fetch.open_failed(err.to_string()),
        },
        Ok(FetchTarget::File { path }) => match opener.open_file(&path).await {
            Ok(Some(file)) => {
                fetch.file_opened();
                body = Some(crate::fragment::RawBody::File(file));
            }
            Ok(None) => fetch.file_not_found(),
            Err(err) => fetch.open_failed(err.to_string()),
        },
    }
    loop {
        while let Some(input) = fetch.poll_input() {
            if !feed(input).await {
                return;
            }
        }
        if fetch.is_done() {
            return;
        }
        if !fetch.wants_input() {
            // Checking for a want may decode and queue more input.
            match fetch.poll_input() {
                Some(input) => {
                    if !feed(input).await {
                        return;
                    }
                }
                // Neither input nor a want: the adapter's contract rules
                // this out; end the read rather than spin.
                None => fetch.fail("fragment fetch stalled"),
            }
            continue;
        }
        let Some(raw) = body.as_mut() else {
            fetch.fail("fragment body missing");
            continue;
        };
        match raw.next_chunk().await {
            Ok(Some(chunk)) => fetch.feed(chunk),
            Ok(None) => fetch.feed_end(),
            Err(err) => fetch.fail(format!("reading fragment body: {err}")),
        }
    }
}

/// Bytes of content, for handles that buffer it.
pub(crate) fn content_len(chunks: &VecDeque<Bytes>) -> u64 {
    chunks.iter().map(|b| b.len() as u64).sum()
}
