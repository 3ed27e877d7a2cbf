//! The seeded simulation sweep (feature `sim`).
#![allow(clippy::disallowed_methods)]
use std::time::Instant;

use gazette_core::sim::workload::{replay, run_case};

#[test]
fn smoke() {
    if let Ok(seed) = std::env::var("GAZETTE_SIM_SEED") {
        let r = replay(seed.parse().unwrap(), Instant::now());
        eprintln!("{r:?}");
        return;
    }
    for seed in 0..20 {
        match run_case(seed, Instant::now()) {
            Ok(r) => eprintln!("{seed}: {} steps {:?} {:?}", r.steps, r.elapsed, r.stats),
            Err(e) => panic!("{e}"),
        }
    }
}
