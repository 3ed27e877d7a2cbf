//! Reference-model property test of the AppendService: any interleaving of
//! start, write, require, release, dispatch, RPC success and failure,
//! dependency resolution, spool failures and cancellation keeps per-journal
//! FIFO, never dispatches before dependencies, merges only compatible
//! appends, and rolls back exactly the right bytes (see
//! `append_support/model.rs`).

mod append_support;

use append_support::model::{DepChoice, Model, Step};
use proptest::prelude::*;

fn dep_choice() -> impl Strategy<Value = DepChoice> {
    prop_oneof![
        3 => Just(DepChoice::None),
        1 => Just(DepChoice::PendingExcept),
        1 => any::<u8>().prop_map(DepChoice::External),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..3, 0u8..2, dep_choice())
            .prop_map(|(journal, variant, deps)| Step::Start { journal, variant, deps }),
        5 => (0u8..3, 0u8..24).prop_map(|(journal, len)| Step::Write { journal, len }),
        1 => (0u8..3).prop_map(|journal| Step::Require { journal }),
        4 => (0u8..3).prop_map(|journal| Step::Release { journal }),
        4 => Just(Step::Poll),
        3 => any::<u8>().prop_map(|pick| Step::RpcOk { pick }),
        2 => (any::<u8>(), 0u8..4).prop_map(|(pick, kind)| Step::RpcFail { pick, kind }),
        1 => (0u16..6000).prop_map(|ms| Step::Tick { ms }),
        1 => (0u8..2, any::<bool>()).prop_map(|(which, ok)| Step::ResolveExternal { which, ok }),
        1 => proptest::option::of(0u8..32).prop_map(Step::SpoolBudget),
        1 => Just(Step::SpoolBudget(None)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn append_service_matches_reference_model(steps in proptest::collection::vec(step(), 0..120)) {
        let mut model = Model::new();
        model.run(&steps);
    }

    #[test]
    fn append_service_matches_reference_model_with_cancellation(
        steps in proptest::collection::vec(step(), 0..60),
        tail in proptest::collection::vec(step(), 0..60),
    ) {
        let mut model = Model::new();
        model.run(&steps);
        model.step(Step::Cancel);
        model.run(&tail);
        // Drain: after cancellation, nothing new is ever dispatched.
        for _ in 0..4 {
            model.step(Step::Release { journal: 0 });
            model.step(Step::Release { journal: 1 });
            model.step(Step::Release { journal: 2 });
            model.step(Step::Poll);
        }
    }
}
