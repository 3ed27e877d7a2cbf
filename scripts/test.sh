#!/usr/bin/env bash
# Runs every test of the workspace: unit, property and snapshot tests, the
# simulation sweep, plus the integration tests against a live local Gazette
# cluster (3 brokers and etcd, started and stopped around the run). Extra arguments go to
# `cargo test`, e.g. `scripts/test.sh -p gazette-tests`.
#
# Installs gazette/gazctl/etcd on first use (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $# -eq 0 ]]; then
    set -- --workspace
fi

GAZETTE_BIN_DIR="$(scripts/install-deps.sh | tail -n 1)"
export GAZETTE_BIN_DIR
if [[ "$*" == "--workspace" ]]; then
    # The deterministic simulation sweep (gazette-core's `sim` feature,
    # which the workspace run does not enable): no cluster needed. Set
    # GAZETTE_SIM_CASES to change its size, GAZETTE_SIM_SEED to replay one.
    cargo test -p gazette-core --features sim --test sim
fi
# Compile first, so the cluster only lives while tests run.
cargo test --no-run "$@"
exec scripts/with-cluster.sh cargo test --no-fail-fast "$@"
