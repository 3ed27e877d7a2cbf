//! Retry policies of the append path: the one-shot `append` of re-readable
//! content (docs/behaviour.md#one-shot-append) and the AppendService's classification of
//! a batch's failed attempt (docs/behaviour.md#serve-loop).

use std::time::Duration;

use gazette_proto::{AppendRequest, AppendResponse, Status};

use super::error::{AppendError, TransportError};
use crate::backoff::Backoff;

/// What the driver of a one-shot append does after an attempt finished.
#[derive(Debug, Clone, PartialEq)]
// One value per RPC: boxing the response would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum AppendStep {
    /// The append committed: return the response.
    Done(AppendResponse),
    /// Rewind every content source to its start and run a new attempt
    /// (a fresh [`super::Appender`]) after `delay`, unless the caller's
    /// context ends first (then surface the context error).
    Retry {
        /// How long to wait before the next attempt.
        delay: Duration,
        /// The attempt number that failed (0 for the first). Go logs
        /// routing errors only when this is not 0.
        attempt: u32,
    },
    /// Give up and surface this error (with the last response, if any).
    Fail(AppendError),
}

/// The retry loop of one-shot `append(request, sources…)` (docs/behaviour.md#one-shot-append): retries
/// only transport unavailability and the routing statuses
/// NOT_JOURNAL_PRIMARY_BROKER, NO_JOURNAL_PRIMARY_BROKER and
/// INSUFFICIENT_JOURNAL_BROKERS (by plain equality, as Go), waiting Go's
/// backoff; everything else — including a failing source, context errors,
/// other statuses and validation failures — is surfaced.
#[derive(Debug, Clone)]
pub struct OneShotAppend {
    request: AppendRequest,
    attempt: u32,
    backoff: Backoff,
}

impl OneShotAppend {
    /// A one-shot append of `request` with Go's exact backoff.
    pub fn new(request: AppendRequest) -> Self {
        Self::with_backoff(request, Backoff::go())
    }

    /// A one-shot append with a custom backoff (e.g. seeded jitter).
    pub fn with_backoff(request: AppendRequest, backoff: Backoff) -> Self {
        OneShotAppend {
            request,
            attempt: 0,
            backoff,
        }
    }

    /// The request every attempt sends.
    pub fn request(&self) -> &AppendRequest {
        &self.request
    }

    /// The number of the attempt about to run (or running), from 0.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Reports the outcome of the current attempt and returns what to do.
    pub fn on_attempt_finished(
        &mut self,
        result: Result<AppendResponse, AppendError>,
    ) -> AppendStep {
        let err = match result {
            Ok(response) => return AppendStep::Done(response),
            Err(err) => err,
        };
        if !is_one_shot_retryable(&err) {
            return AppendStep::Fail(err);
        }
        let attempt = self.attempt;
        let delay = self.backoff.delay(attempt.min(i32::MAX as u32) as i32);
        self.attempt += 1;
        AppendStep::Retry { delay, attempt }
    }
}

/// True for the errors `append` (docs/behaviour.md#one-shot-append) retries.
pub fn is_one_shot_retryable(err: &AppendError) -> bool {
    matches!(err, AppendError::Transport(TransportError::Unavailable(_)))
        || err.is_named_status(Status::NotJournalPrimaryBroker)
        || err.is_named_status(Status::NoJournalPrimaryBroker)
        || err.is_named_status(Status::InsufficientJournalBrokers)
}

/// How the AppendService treats a batch's failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchDecision {
    /// Resend the whole batch after a backoff.
    Retry,
    /// Fail the batch, and poison its journal, with this error.
    Fail,
}

/// Options of the AppendService retry classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRetryPolicy {
    /// Retry FRAGMENT_STORE_UNHEALTHY with backoff instead of failing the
    /// batch and poisoning the journal forever (gazette/core issue 462).
    /// Go fails it; default `true` (docs/go-differences.md#d20).
    pub retry_store_unhealthy: bool,
    /// Go retries every non-context error of a request with
    /// `check_registers` set (quirk 16, a TODO in Go). Default `true` (Go).
    pub retry_all_with_check_registers: bool,
}

impl Default for BatchRetryPolicy {
    fn default() -> Self {
        BatchRetryPolicy {
            retry_store_unhealthy: true,
            retry_all_with_check_registers: true,
        }
    }
}

impl BatchRetryPolicy {
    /// Exactly Go's classification (FRAGMENT_STORE_UNHEALTHY is terminal).
    pub fn go() -> Self {
        BatchRetryPolicy {
            retry_store_unhealthy: false,
            retry_all_with_check_registers: true,
        }
    }

    /// Classifies a failed attempt of a batch sending `request` (docs/behaviour.md#serve-loop):
    /// context errors always fail; FRAGMENT_STORE_UNHEALTHY (unless
    /// configured to retry), INDEX_HAS_GREATER_OFFSET, JOURNAL_NOT_FOUND,
    /// NOT_ALLOWED, REGISTER_MISMATCH and WRONG_APPEND_OFFSET (unwrap-aware)
    /// fail unless the request checks registers; everything else retries.
    pub fn classify(&self, request: &AppendRequest, err: &AppendError) -> BatchDecision {
        if err.is_context_error() {
            return BatchDecision::Fail;
        }
        let terminal = [
            Status::IndexHasGreaterOffset,
            Status::JournalNotFound,
            Status::NotAllowed,
            Status::RegisterMismatch,
            Status::WrongAppendOffset,
        ]
        .into_iter()
        .any(|s| err.is_status(s))
            || (!self.retry_store_unhealthy && err.is_status(Status::FragmentStoreUnhealthy));
        if terminal && !(self.retry_all_with_check_registers && request.check_registers.is_some()) {
            BatchDecision::Fail
        } else {
            BatchDecision::Retry
        }
    }
}
