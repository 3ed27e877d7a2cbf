#!/usr/bin/env bash
# A chaos soak (issue 13): a private 3-broker cluster on loopback, a seeded
# schedule of broker kills, restarts, freezes and resumes, and sustained
# load through both drivers; every invariant is checked at the end and
# printed as one table (tests/tests/soak.rs). Bounded in time.
#
#   scripts/soak.sh                     300 s, seed 1
#   SOAK_SECONDS=60 SOAK_SEED=7 scripts/soak.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export SOAK_SECONDS="${SOAK_SECONDS:-300}"
export SOAK_SEED="${SOAK_SEED:-1}"
GAZETTE_BIN_DIR="$(scripts/install-deps.sh | tail -n 1)"
export GAZETTE_BIN_DIR
cargo test --no-run -p gazette-tests --test soak
exec scripts/with-cluster.sh cargo test -p gazette-tests --test soak -- --nocapture
