//! Property test of the sans-IO `Client`: arbitrary sequences of user
//! commands (every kind of operation, cancel, close, deadlines, seeks,
//! resumes), driver reports aimed at the RPCs and fetches the client opened
//! (valid broker answers, garbage, ends of every kind, reports about RPCs
//! already gone) and time steps keep the client's contract; the checks
//! are listed in `client_support/model.rs`. Each case also runs twice and
//! must give the same transcript.

// Tests need an arbitrary base `Instant`; the core itself never reads the clock.
#![allow(clippy::disallowed_methods)]

mod client_support;

use std::time::Instant;

use client_support::model::{Model, Step};
use proptest::prelude::*;

fn step() -> impl Strategy<Value = Step> {
    (any::<u8>(), any::<u8>(), any::<u8>(), any::<u16>())
        .prop_map(|(kind, a, b, c)| Step::from_parts(kind, a, b, c))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn the_client_keeps_its_contract_under_any_inputs(
        steps in proptest::collection::vec(step(), 1..120)
    ) {
        let start = Instant::now();
        let first = Model::new(start).run(&steps);
        let second = Model::new(start).run(&steps);
        prop_assert_eq!(first, second, "the same steps gave different outputs");
    }
}
