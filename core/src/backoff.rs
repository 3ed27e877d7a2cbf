//! The Go client's retry backoff schedule, with optional seeded jitter.
//!
//! Go waits 50, 50, 100, 100, 1000, 1000 ms and then 5 s for every further
//! consecutive failure; attempt −1 waits nothing. Go adds no jitter. A caller
//! that wants to spread retries of many clients may ask for jitter, drawn
//! from [`SplitMix64`] seeded by the caller, so runs stay reproducible
//! (docs/go-differences.md#d38).

use std::time::Duration;

/// The Go backoff for `attempt` (docs/behaviour.md#backoff).
pub fn backoff(attempt: i32) -> Duration {
    match attempt {
        -1 => Duration::ZERO,
        0 | 1 => Duration::from_millis(50),
        2 | 3 => Duration::from_millis(100),
        4 | 5 => Duration::from_secs(1),
        _ => Duration::from_secs(5),
    }
}

/// A backoff policy: Go's schedule, optionally with proportional jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    jitter_permille: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// Exactly Go's schedule, no jitter.
    pub fn go() -> Self {
        Backoff {
            jitter_permille: 0,
            rng: SplitMix64::new(0),
        }
    }

    /// Go's schedule with up to `jitter_permille`/1000 of each delay added,
    /// drawn from a generator seeded with `seed`.
    pub fn with_jitter(seed: u64, jitter_permille: u32) -> Self {
        Backoff {
            jitter_permille: jitter_permille.min(1000),
            rng: SplitMix64::new(seed),
        }
    }

    /// The delay before retry number `attempt`.
    pub fn delay(&mut self, attempt: i32) -> Duration {
        let base = backoff(attempt);
        if self.jitter_permille == 0 || base.is_zero() {
            return base;
        }
        let max_extra = base.as_nanos() as u64 * self.jitter_permille as u64 / 1000;
        let extra = if max_extra == 0 {
            0
        } else {
            self.rng.next_u64() % (max_extra + 1)
        };
        base + Duration::from_nanos(extra)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::go()
    }
}

/// A tiny, fast, seedable pseudo-random generator (SplitMix64). Randomness
/// enters the core only through seeds, so simulations replay exactly.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_schedule() {
        let ms: Vec<u128> = (-1..8).map(|a| backoff(a).as_millis()).collect();
        assert_eq!(ms, vec![0, 50, 50, 100, 100, 1000, 1000, 5000, 5000]);
        assert_eq!(backoff(-7), Duration::from_secs(5));
    }

    #[test]
    fn jitter_is_bounded_and_reproducible() {
        let mut a = Backoff::with_jitter(7, 200);
        let mut b = Backoff::with_jitter(7, 200);
        for attempt in 0..10 {
            let (da, db) = (a.delay(attempt), b.delay(attempt));
            assert_eq!(da, db);
            assert!(da >= backoff(attempt) && da <= backoff(attempt) * 6 / 5);
        }
        assert_eq!(Backoff::go().delay(3), backoff(3));
    }
}
