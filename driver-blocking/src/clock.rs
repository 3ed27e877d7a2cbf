//! The driver's one reading of time: everything below the sans-IO machines
//! takes `now` from here, so a test or a simulation has one place to
//! replace it.

use std::time::Instant;

/// The current instant.
pub(crate) fn now() -> Instant {
    Instant::now()
}
