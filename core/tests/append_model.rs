//! Reference-model property test of the AppendService: any interleaving of
//! start, write, require, release, dispatch, RPC success and failure,
//! dependency resolution, spool failures and cancellation keeps per-journal
//! FIFO, never dispatches before dependencies, merges only compatible
//! appends, rolls back exactly the right bytes, resolves no future OK while
//! anything it stands for failed, and never lets a driver sleep (poll
//! `None`, then wait on the documented wake-ups) while a batch can progress
//! (see `append_support/model.rs`).

// Tests need an arbitrary base `Instant`; the core itself never reads the clock.
#![allow(clippy::disallowed_methods)]

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

fn appender_input() -> impl Strategy<Value = gazette_core::append::AppenderInput> {
    use append_support::*;
    use gazette_core::append::{AppenderInput, TransportError};
    use gazette_core::proto::Status;
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..40)
            .prop_map(|v| AppenderInput::Write(bytes::Bytes::from(v))),
        1 => Just(AppenderInput::Commit),
        1 => Just(AppenderInput::Abort),
        1 => Just(AppenderInput::SendFailed),
        1 => (0i32..17).prop_map(|s| {
            let mut r = status_response(Status::Ok);
            r.status = s;
            if s == 0 {
                r = ok_response("a/journal", 0, 1);
            }
            AppenderInput::Response(r)
        }),
        1 => Just(AppenderInput::StreamFailed(TransportError::Unavailable("down".into()))),
        1 => Just(AppenderInput::StreamFailed(TransportError::Cancelled)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Framing invariants of the Appender under any input sequence: the
    /// preamble first and once, bounded non-empty chunks carrying exactly the
    /// written bytes, nothing after the commit marker, at most one result
    /// and nothing after it, success only after a commit.
    #[test]
    fn appender_framing_invariants(
        chunk in 1usize..9,
        inputs in proptest::collection::vec(appender_input(), 0..30),
    ) {
        use gazette_core::append::*;
        let req = append_support::request("a/journal");
        let mut a = Appender::new(req.clone()).unwrap().with_chunk_size(chunk);
        let (mut sent, mut finished, mut committed, mut aborted) = (Vec::new(), false, false, false);
        let mut written = Vec::new();
        for input in inputs {
            if let AppenderInput::Write(b) = &input
                && a.accepts_content() {
                    written.extend_from_slice(b);
                }
            a.handle(input);
            while let Some(out) = a.poll_output() {
                prop_assert!(!finished, "output after Finished: {:?}", out);
                match out {
                    AppenderOutput::Send(m) => {
                        prop_assert!(!committed && !aborted);
                        if sent.is_empty() {
                            prop_assert_eq!(&m, &req);
                        } else {
                            prop_assert!(m.journal.is_empty() && m.content.len() <= chunk);
                            committed = m.content.is_empty();
                        }
                        sent.push(m);
                    }
                    AppenderOutput::Abort => aborted = true,
                    AppenderOutput::Finished(r) => {
                        finished = true;
                        prop_assert!(r.is_err() || committed);
                    }
                    _ => {}
                }
            }
        }
        let content: Vec<u8> = sent.iter().skip(1).flat_map(|m| m.content.to_vec()).collect();
        prop_assert_eq!(content, written);
    }
}
