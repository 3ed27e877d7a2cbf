//! Fault schedules: what goes wrong, and when, in one simulated run.

use std::time::Duration;

use super::rng::SimRng;

/// One fault (or its repair).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The broker crashes.
    Crash(usize),
    /// The crashed broker starts again.
    Restart(usize),
    /// The broker is cut off from the client.
    Partition(usize),
    /// The partition ends.
    Heal(usize),
    /// The broker freezes (connections open, no answers).
    Freeze(usize),
    /// The frozen broker resumes.
    Thaw(usize),
    /// The journal's primary moves to its next replica.
    ReassignPrimary(String),
    /// The fragment store fails its health checks.
    StoreUnhealthy(String),
    /// The fragment store passes its health checks again.
    StoreHealthy(String),
    /// Every journal's spool is persisted now.
    Flush,
    /// Retention removes the journal's persisted fragments ending at or
    /// before the offset, given as a fraction of its head in permille.
    Expire(String, u32),
    /// The network loss rate becomes this permille.
    Loss(u32),
}

/// Faults at times after the start of a run, in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultSchedule {
    /// The faults, each with its time after the start.
    pub faults: Vec<(Duration, Fault)>,
}

impl FaultSchedule {
    /// No faults.
    pub fn none() -> Self {
        FaultSchedule::default()
    }

    /// Adds `fault` at `at` (kept in time order).
    pub fn at(mut self, at: Duration, fault: Fault) -> Self {
        let index = self.faults.partition_point(|(t, _)| *t <= at);
        self.faults.insert(index, (at, fault));
        self
    }

    /// A schedule drawn from `seed` for a cluster of `brokers` brokers with
    /// `journals` and `stores`: a few faults within `horizon`, each
    /// repaired before it ends (a crash restarts, a partition heals, a
    /// frozen broker thaws, an unhealthy store recovers), so work started
    /// in the run can finish.
    pub fn from_seed(
        seed: u64,
        brokers: usize,
        journals: &[String],
        stores: &[String],
        horizon: Duration,
    ) -> Self {
        let mut rng = SimRng::new(seed ^ 0xFA17_5EED);
        let mut schedule = FaultSchedule::none();
        let horizon_ms = horizon.as_millis().max(10) as u64;
        let count = rng.below(5);
        for _ in 0..count {
            let start = Duration::from_millis(rng.below(horizon_ms / 2));
            let length = Duration::from_millis(rng.range(horizon_ms / 20, horizon_ms / 2));
            let end = start + length;
            let b = rng.below(brokers.max(1) as u64) as usize;
            match rng.below(9) {
                0 => {
                    schedule = schedule
                        .at(start, Fault::Crash(b))
                        .at(end, Fault::Restart(b));
                }
                1 => {
                    schedule = schedule
                        .at(start, Fault::Partition(b))
                        .at(end, Fault::Heal(b));
                }
                2 => {
                    schedule = schedule.at(start, Fault::Freeze(b)).at(end, Fault::Thaw(b));
                }
                3 | 4 => {
                    if let Some(j) = rng.pick(journals) {
                        schedule = schedule.at(start, Fault::ReassignPrimary(j.clone()));
                    }
                }
                5 => {
                    if let Some(s) = rng.pick(stores) {
                        schedule = schedule
                            .at(start, Fault::StoreUnhealthy(s.clone()))
                            .at(end, Fault::StoreHealthy(s.clone()));
                    }
                }
                6 => {
                    let j = rng.pick(journals).cloned();
                    schedule = schedule.at(start, Fault::Flush);
                    if let Some(j) = j {
                        let fraction = rng.range(100, 900) as u32;
                        schedule = schedule.at(start, Fault::Expire(j, fraction));
                    }
                }
                _ => {
                    let permille = rng.range(5, 60) as u32;
                    schedule = schedule
                        .at(start, Fault::Loss(permille))
                        .at(end, Fault::Loss(0));
                }
            }
        }
        schedule
    }
}
