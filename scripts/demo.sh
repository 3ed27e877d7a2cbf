#!/usr/bin/env bash
# Brings up a local 3-broker Gazette cluster and runs the demo: apply a
# journal, append to it, read it back and list journals. Installs
# gazette/gazctl/etcd on first use; the cluster is stopped afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

GAZETTE_BIN_DIR="$(scripts/install-deps.sh | tail -n 1)"
export GAZETTE_BIN_DIR
cargo build -q -p gazette-tests --example demo
exec scripts/with-cluster.sh cargo run -q -p gazette-tests --example demo -- "$@"
