//! The scenario matrix: every scenario of `gazette_tests::scenarios`, run
//! against the tokio driver and the blocking driver on the live cluster.
//! Run with `scripts/with-cluster.sh cargo test -p gazette-tests --test matrix`.

gazette_tests::matrix!(
    append_then_gazctl_reads_byte_for_byte,
    gazctl_append_then_reader_reads_byte_for_byte,
    retry_reader_tails_appends,
    tail_past_the_write_head_is_cancelled_at_its_bound,
    retry_reader_seeks_then_reads_lines,
    discovery_lists_watches_gets_and_probes,
    append_service_orders_appends_with_dependencies,
    typed_errors,
    keyed_auth_is_accepted_and_missing_or_foreign_keys_refused,
    tls_client_trusting_the_ca_appends_and_reads,
);
