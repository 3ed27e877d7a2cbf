//! Drives the sans-IO `Client` with arbitrary user commands, driver
//! reports (valid broker answers, garbage, ends of every kind, reports
//! about RPCs already gone) and time steps, decoded structure-aware from
//! the input, and checks the client's contract after every step (see
//! `core/tests/client_support/model.rs`): one Finished per operation and
//! none after close, commands only about RPCs and fetches still open, no
//! RPC outliving its operation, timers that settle, and the same outputs
//! for the same inputs.
#![no_main]

use std::time::Instant;

use arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

#[path = "../../core/tests/client_support/model.rs"]
mod model;

fn steps(u: &mut Unstructured) -> Result<Vec<model::Step>> {
    let mut steps = Vec::new();
    while !u.is_empty() && steps.len() < 400 {
        let kind: u8 = u.arbitrary()?;
        let a: u8 = u.arbitrary()?;
        let b: u8 = u.arbitrary()?;
        let c: u16 = u.arbitrary()?;
        steps.push(model::Step::from_parts(kind, a, b, c));
    }
    Ok(steps)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(steps) = steps(&mut u) else { return };
    let start = Instant::now();
    let first = model::Model::new(start).run(&steps);
    let second = model::Model::new(start).run(&steps);
    assert_eq!(first, second, "the same steps gave different outputs");
});
