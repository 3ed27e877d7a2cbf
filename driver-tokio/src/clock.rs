//! The driver's clock: the one place this crate reads the time.

use std::time::Instant;

/// Where the driver reads `now` for the core client. The default,
/// [`TokioClock`], follows tokio's clock, so tests with paused time
/// (`#[tokio::test(start_paused = true)]`) move route TTLs, backoffs and
/// deadlines as they advance time. A custom clock must agree with tokio's
/// timers, which the driver sleeps on until the core's next timeout.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Instant;
}

/// tokio's clock (`tokio::time::Instant::now()`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }
}

/// The wall-clock time, for signing tokens (an `iat` claim).
pub(crate) fn system_now() -> std::time::SystemTime {
    #[allow(clippy::disallowed_methods)]
    std::time::SystemTime::now()
}
