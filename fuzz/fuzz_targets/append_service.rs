//! Feeds arbitrary event sequences (start, write, require, release,
//! dispatch, RPC outcomes, time, dependency resolution, spool failures,
//! cancellation) into the AppendService and checks the reference model's
//! invariants: per-journal FIFO, no dispatch before dependencies, only
//! compatible appends merged, exact rollback.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../core/tests/append_support/model.rs"]
mod model;

fuzz_target!(|data: &[u8]| {
    let steps = model::Step::decode(data);
    let mut m = model::Model::new();
    m.run(&steps);
});
