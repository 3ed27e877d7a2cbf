#!/usr/bin/env bash
# Runs a command against a fresh local Gazette cluster and always tears the
# cluster down afterwards, exiting with the command's status:
#
#   scripts/with-cluster.sh cargo test -p gazette-tests
#
# The cluster (etcd + GAZETTE_CLUSTER_SIZE brokers, default 3) gets its own
# free ports and its own temporary state directory, so several can run side
# by side. The command sees the cluster's environment (GAZETTE_BROKERS,
# GAZETTE_BROKER, ETCD_ENDPOINT, GAZETTE_ZONES, ...; see scripts/cluster.sh)
# and finds gazette, gazctl, etcd and etcdctl on its PATH. On failure the
# tail of every cluster log is printed. Set KEEP_CLUSTER_DIR=1 to keep the
# state directory (logs, fragment stores) for inspection.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 <command> [args...]" >&2
    exit 2
fi

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GAZETTE_CLUSTER_DIR="$(mktemp -d "${TMPDIR:-/tmp}/gazette-cluster.XXXXXX")"
export GAZETTE_CLUSTER_DIR

# Defines cmd_start / cmd_stop / cmd_logs. The cluster's processes become
# children of this shell, so they are reaped here when stopped.
# shellcheck source=cluster.sh
source "$REPO/scripts/cluster.sh"

CMD_PID=
teardown() {
    local rc=$?
    trap - EXIT INT TERM
    # Interrupted: stop the command's whole process group first.
    if [[ -n "$CMD_PID" ]] && kill -0 "$CMD_PID" 2>/dev/null; then
        kill -TERM -- "-$CMD_PID" 2>/dev/null || true
        wait "$CMD_PID" 2>/dev/null || true
    fi
    if ((rc != 0)) && [[ -d "$GAZETTE_CLUSTER_DIR/logs" ]]; then
        echo "with-cluster: command failed (exit $rc); cluster logs:" >&2
        LOG_LINES=20 cmd_logs >&2 || true
    fi
    cmd_stop || true
    [[ "${KEEP_CLUSTER_DIR:-0}" == 1 ]] && echo "with-cluster: kept $GAZETTE_CLUSTER_DIR" >&2
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cmd_start
# shellcheck source=/dev/null
source "$GAZETTE_CLUSTER_DIR/env"
export PATH="$GAZETTE_BIN_DIR:$PATH"

# Run the command as its own process group (monitor mode), so a signal to
# this script (Ctrl-C, a CI timeout's TERM) runs the teardown at once and the
# teardown can stop the command with everything it spawned.
set -m
"$@" <&0 &
CMD_PID=$!
set +m
rc=0
wait "$CMD_PID" || rc=$?
CMD_PID=
exit "$rc"
