//! The WatchedList machine (docs/behaviour.md#watchedlist).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use gazette_proto::{ListRequest, ListResponse};

use super::{ListError, SnapshotAssembler};
use crate::backoff::Backoff;

/// What the driver of a [`WatchedList`] must do next.
#[derive(Debug, Clone, PartialEq)]
pub enum WatchAction {
    /// Open a List stream with this request (default dispatch,
    /// wait-for-ready), then report [`WatchedList::on_opened`] or
    /// [`WatchedList::on_open_failed`].
    OpenStream(ListRequest),
    /// Drop the current stream (after an error).
    CloseStream,
    /// Wait this long, then call [`WatchedList::on_timer`].
    Sleep(Duration),
    /// A new snapshot is the latest (also available from
    /// [`WatchedList::list`]).
    Publish(Arc<ListResponse>),
    /// Offer this outcome to update listeners without blocking (a full
    /// channel drops it).
    Signal(Result<(), ListError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Opening,
    Streaming,
    Sleeping,
    Stopped,
}

/// Go's `WatchedList` as a machine: keeps a List watch open, publishes
/// every snapshot, and retries every failure with Go's backoff.
///
/// * The effective request is `{selector, watch: true}`; after each
///   snapshot its header becomes `watch_resume`, so reconnects resume and
///   revisions never go backwards.
/// * Consecutive failures wait 50, 50, 100, 100, 1000, 1000 ms, then 5 s;
///   a snapshot, or a clean end of the stream before a snapshot starts,
///   resets the run.
///
/// Quirk 25 (decided): Go signals an error only after its backoff wait and
/// never signals or closes when stopped. Here the error is signalled as
/// soon as it happens (before [`WatchAction::Sleep`]), and [`WatchedList::stop`]
/// returns, so the driver can close its channel; the retry timing is Go's
/// (docs/go-differences.md#d30).
#[derive(Debug)]
pub struct WatchedList {
    request: ListRequest,
    assembler: Option<SnapshotAssembler>,
    latest: Option<Arc<ListResponse>>,
    attempt: i32,
    backoff: Backoff,
    state: State,
    actions: VecDeque<WatchAction>,
}

impl WatchedList {
    /// A watch of `request.selector` (all other request fields are
    /// dropped), with Go's backoff (no jitter). Call
    /// [`WatchedList::poll_action`] to get the first [`WatchAction::OpenStream`].
    /// An invalid selector opens nothing: the only action is a
    /// [`WatchAction::Signal`] of [`ListError::InvalidRequest`], and the
    /// watch is stopped.
    pub fn new(request: &ListRequest) -> Self {
        Self::with_backoff(request, Backoff::go())
    }

    /// Like [`WatchedList::new`] with a custom backoff (e.g. seeded jitter).
    pub fn with_backoff(request: &ListRequest, backoff: Backoff) -> Self {
        let mut watch = WatchedList {
            request: ListRequest {
                selector: request.selector.clone(),
                watch: true,
                watch_resume: None,
            },
            assembler: None,
            latest: None,
            attempt: 0,
            backoff,
            state: State::Idle,
            actions: VecDeque::new(),
        };
        match super::check_list_request(&watch.request) {
            Ok(()) => watch.open(),
            Err(err) => {
                watch.state = State::Stopped;
                watch.actions.push_back(WatchAction::Signal(Err(err)));
            }
        }
        watch
    }

    /// The latest snapshot, shared and immutable; `None` before the first.
    pub fn list(&self) -> Option<Arc<ListResponse>> {
        self.latest.clone()
    }

    /// The request the next stream will be opened with.
    pub fn request(&self) -> &ListRequest {
        &self.request
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<WatchAction> {
        self.actions.pop_front()
    }

    fn open(&mut self) {
        self.state = State::Opening;
        self.actions
            .push_back(WatchAction::OpenStream(self.request.clone()));
    }

    /// The stream requested by [`WatchAction::OpenStream`] is open.
    pub fn on_opened(&mut self) {
        if self.state == State::Opening {
            self.state = State::Streaming;
            self.assembler = Some(SnapshotAssembler::new(&self.request));
        }
    }

    /// Opening the stream failed (the error is not context-mapped, as in Go).
    pub fn on_open_failed(&mut self, err: ListError) {
        if self.state == State::Opening {
            self.fail(err, false);
        }
    }

    /// A message arrived on the stream.
    pub fn on_message(&mut self, msg: ListResponse) {
        if self.state != State::Streaming {
            return;
        }
        let Some(assembler) = self.assembler.as_mut() else {
            return;
        };
        match assembler.on_message(msg) {
            Ok(None) => {}
            Ok(Some(snapshot)) => {
                self.request.watch_resume = snapshot.header.clone();
                self.attempt = 0;
                let snapshot = Arc::new(snapshot);
                self.latest = Some(snapshot.clone());
                self.actions.push_back(WatchAction::Publish(snapshot));
                self.actions.push_back(WatchAction::Signal(Ok(())));
            }
            Err(err) => self.fail(err, true),
        }
    }

    /// The stream ended cleanly.
    pub fn on_end(&mut self) {
        if self.state != State::Streaming {
            return;
        }
        let err = match self.assembler.as_mut().map(|a| a.on_end()) {
            Some(Err(err)) => err,
            _ => ListError::UnexpectedEof,
        };
        self.fail(err, true);
    }

    /// The stream failed (a server-sent `CANCELLED` should be reported as
    /// [`ListError::Canceled`], quirk 23).
    pub fn on_error(&mut self, err: ListError) {
        if self.state == State::Streaming {
            self.fail(err, true);
        }
    }

    /// The backoff requested by [`WatchAction::Sleep`] elapsed.
    pub fn on_timer(&mut self) {
        if self.state == State::Sleeping {
            self.open();
        }
    }

    /// Stops the watch (the caller's context ended). [`WatchedList::list`]
    /// keeps returning the last snapshot.
    pub fn stop(&mut self) {
        self.state = State::Stopped;
        self.actions.clear();
    }

    /// Whether [`WatchedList::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.state == State::Stopped
    }

    fn fail(&mut self, err: ListError, close: bool) {
        self.assembler = None;
        if close {
            self.actions.push_back(WatchAction::CloseStream);
        }
        if err == ListError::Eof {
            self.attempt = 0;
        }
        let delay = self.backoff.delay(self.attempt);
        self.attempt += 1;
        self.actions.push_back(WatchAction::Signal(Err(err)));
        self.actions.push_back(WatchAction::Sleep(delay));
        self.state = State::Sleeping;
    }
}
