//! The driver's metrics, in one place.
//!
//! With the `metrics` feature each function here records through the
//! [`metrics`](https://docs.rs/metrics) facade (into whatever recorder the
//! program installed); without it they are empty and the `metrics` crate is
//! not a dependency. The names are listed in the crate's README (Metrics).

use gazette_core::append::AppendMetrics;

/// Runs `$body` with the `metrics` feature only; without it the listed
/// arguments are merely borrowed, so they do not count as unused.
macro_rules! emit {
    ([$($arg:ident),*] $body:block) => {
        #[cfg(feature = "metrics")]
        $body
        #[cfg(not(feature = "metrics"))]
        {
            $(let _ = &$arg;)*
        }
    };
}

/// An RPC of kind `op` (`read`, `append`, `list`, ...) is being started.
pub(crate) fn rpc_started(op: &'static str) {
    emit!([op] {
        metrics::counter!("gazette_rpc_started_total", "op" => op).increment(1);
    });
}

/// An RPC of kind `op` failed with gRPC `code`.
pub(crate) fn rpc_failed(op: &'static str, code: tonic::Code) {
    emit!([op, code] {
        metrics::counter!("gazette_rpc_failed_total", "op" => op, "code" => format!("{code:?}"))
            .increment(1);
    });
}

/// A `RetryReader` is backing off before retrying.
pub(crate) fn read_retry() {
    emit!([] {
        metrics::counter!("gazette_read_retries_total").increment(1);
    });
}

/// A reader handed out `bytes` bytes of journal content.
pub(crate) fn read_bytes(bytes: usize) {
    emit!([bytes] {
        metrics::counter!("gazette_read_bytes_total").increment(bytes as u64);
    });
}

/// An `Appender` finished: committed after sending `bytes` bytes, or failed.
/// Only committed attempts add to `gazette_append_bytes_total`, unlike Go
/// (quirk 21, docs/go-differences.md#d19).
pub(crate) fn append_finished(committed: bool, bytes: u64) {
    emit!([committed, bytes] {
        if committed {
            metrics::counter!("gazette_append_bytes_total").increment(bytes);
        } else {
            metrics::counter!("gazette_append_failed_total").increment(1);
        }
    });
}

/// An append's RPC was cancelled after its commit marker went out (its
/// broker stalled and the journal moved away): the retry that follows may
/// write its content twice.
pub(crate) fn append_outcome_unknown() {
    emit!([] {
        metrics::counter!("gazette_append_outcome_unknown_total").increment(1);
    });
}

/// A fragment was opened directly from its store (`scheme`: `http` for
/// HTTP(S) fetches, `file` for the local file root).
pub(crate) fn fragment_opened(scheme: &'static str) {
    emit!([scheme] {
        metrics::counter!("gazette_fragment_open_total", "scheme" => scheme).increment(1);
    });
}

/// The AppendService scheduler's counters, as they stand.
pub(crate) fn append_service(m: &AppendMetrics) {
    emit!([m] {
        metrics::counter!("gazette_append_service_appends_started_total")
            .absolute(m.appends_started);
        metrics::counter!("gazette_append_service_appends_released_total")
            .absolute(m.appends_released);
        metrics::counter!("gazette_append_service_appends_rolled_back_total")
            .absolute(m.appends_rolled_back);
        metrics::counter!("gazette_append_service_bytes_released_total")
            .absolute(m.bytes_released);
        metrics::counter!("gazette_append_service_bytes_rolled_back_total")
            .absolute(m.bytes_rolled_back);
        metrics::gauge!("gazette_append_service_spooled_bytes").set(m.spooled_bytes as f64);
        metrics::counter!("gazette_append_service_batches_created_total")
            .absolute(m.batches_created);
        metrics::counter!("gazette_append_service_rpc_attempts_total").absolute(m.rpc_attempts);
        metrics::counter!("gazette_append_service_retries_total").absolute(m.retries);
        metrics::counter!("gazette_append_service_bytes_sent_total").absolute(m.bytes_sent);
        metrics::counter!("gazette_append_service_batches_committed_total")
            .absolute(m.batches_committed);
        metrics::counter!("gazette_append_service_batches_failed_total")
            .absolute(m.batches_failed);
    });
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::sync::{Arc, Mutex};

    use metrics::{
        Counter, CounterFn, Gauge, GaugeFn, Histogram, Key, KeyName, Metadata, Recorder,
        SharedString, Unit,
    };

    use super::*;

    /// Every update as `name{label=value,...} op value`.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    struct Handle {
        key: Key,
        log: Log,
    }

    impl Handle {
        fn push(&self, op: &str, value: String) {
            let labels: Vec<String> = self
                .key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let entry = format!("{}{{{}}} {op} {value}", self.key.name(), labels.join(","));
            self.log.0.lock().unwrap().push(entry);
        }
    }

    impl CounterFn for Handle {
        fn increment(&self, value: u64) {
            self.push("+", value.to_string());
        }
        fn absolute(&self, value: u64) {
            self.push("=", value.to_string());
        }
    }

    impl GaugeFn for Handle {
        fn increment(&self, value: f64) {
            self.push("+", value.to_string());
        }
        fn decrement(&self, value: f64) {
            self.push("-", value.to_string());
        }
        fn set(&self, value: f64) {
            self.push("=", value.to_string());
        }
    }

    impl Recorder for Log {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(Arc::new(Handle {
                key: key.clone(),
                log: self.clone(),
            }))
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::from_arc(Arc::new(Handle {
                key: key.clone(),
                log: self.clone(),
            }))
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    fn recorded(f: impl FnOnce()) -> Vec<String> {
        let log = Log::default();
        metrics::with_local_recorder(&log, f);
        log.0.lock().unwrap().clone()
    }

    #[test]
    fn rpc_reader_appender_and_fragment_events_are_recorded_with_their_labels() {
        let entries = recorded(|| {
            rpc_started("read");
            rpc_failed("append", tonic::Code::Unavailable);
            read_retry();
            read_bytes(42);
            append_finished(true, 7);
            append_finished(false, 7);
            fragment_opened("file");
        });
        assert_eq!(
            entries,
            [
                "gazette_rpc_started_total{op=read} + 1",
                "gazette_rpc_failed_total{op=append,code=Unavailable} + 1",
                "gazette_read_retries_total{} + 1",
                "gazette_read_bytes_total{} + 42",
                "gazette_append_bytes_total{} + 7",
                "gazette_append_failed_total{} + 1",
                "gazette_fragment_open_total{scheme=file} + 1",
            ]
        );
    }

    #[test]
    fn the_append_services_counters_are_exported_as_absolute_values() {
        let m = AppendMetrics {
            appends_started: 3,
            spooled_bytes: 512,
            batches_failed: 1,
            ..Default::default()
        };
        let entries = recorded(|| append_service(&m));
        assert_eq!(entries.len(), 12, "{entries:?}");
        for expected in [
            "gazette_append_service_appends_started_total{} = 3",
            "gazette_append_service_spooled_bytes{} = 512",
            "gazette_append_service_batches_failed_total{} = 1",
            "gazette_append_service_retries_total{} = 0",
        ] {
            assert!(
                entries.iter().any(|e| e == expected),
                "{expected}: {entries:?}"
            );
        }
    }
}
