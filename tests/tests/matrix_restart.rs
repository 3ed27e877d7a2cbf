//! Broker kill/restart scenarios, for both drivers. Each starts a cluster
//! of its own (`ScopedCluster`, 3 s etcd leases) and kills and restarts one
//! of its brokers; they run one at a time, in their own test binary as
//! they take a while.
//! Run with `scripts/with-cluster.sh cargo test -p gazette-tests --test matrix_restart`.

gazette_tests::matrix!(
    broker_killed_and_restarted_during_appends_and_tailing,
    tailing_retry_reader_survives_broker_restart,
);
