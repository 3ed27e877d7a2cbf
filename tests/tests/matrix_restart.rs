//! Broker kill/restart scenarios, for both drivers. They kill brokers of
//! the shared cluster, so they live in their own test binary (cargo runs
//! test binaries one after another) and run one at a time.
//! Run with `scripts/with-cluster.sh cargo test -p gazette-tests --test matrix_restart`.

use gazette_tests::scenarios::{self, BlockingDriver, TokioDriver};

macro_rules! matrix {
    ($($scenario:ident),* $(,)?) => {
        mod tokio {
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    scenarios::$scenario::<TokioDriver>();
                }
            )*
        }
        mod blocking {
            use super::*;
            $(
                #[test]
                fn $scenario() {
                    scenarios::$scenario::<BlockingDriver>();
                }
            )*
        }
    };
}

matrix!(
    broker_killed_and_restarted_during_appends_and_tailing,
    tailing_retry_reader_survives_broker_restart,
);
