#!/usr/bin/env bash
# Throughput of the Rust tokio driver side by side with Gazette's reference Go
# client (benches/go-client) on the same fresh local cluster:
#
#   scripts/bench-vs-go.sh
#
# Builds both programs (release; Go's and Cargo's caches make reruns quick),
# starts a 3-broker cluster with scripts/with-cluster.sh, creates one journal
# per client and round (replication 3, compression $CODEC, one large
# fragment so reads are served from the brokers' spools), runs the clients
# alternately on each workload for $ROUNDS rounds and prints a table of
# median MiB/s per workload. Raw JSON lines go to $OUT (default
# target/bench-vs-go.jsonl). Not part of CI.
#
# Environment: ROUNDS (5), MIB (MiB appended by append_64k, 64), APPEND_SIZE (bytes
# per append_64k append, 65536), SMALL_COUNT (appends of append_small,
# 100000), SMALL_SIZE (100), CODEC (NONE; or SNAPPY, GZIP, ZSTANDARD).
set -euo pipefail
[[ "${BENCH_TRACE:-0}" == 1 ]] && set -x

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-5}"
MIB="${MIB:-64}"
APPEND_SIZE="${APPEND_SIZE:-65536}"
SMALL_COUNT="${SMALL_COUNT:-100000}"
SMALL_SIZE="${SMALL_SIZE:-100}"
CODEC="${CODEC:-NONE}"
OUT="${OUT:-$REPO/target/bench-vs-go.jsonl}"
GO_BIN="$REPO/target/go-client-bench"
RUST_BIN="$REPO/target/release/examples/throughput"
export ROUNDS MIB APPEND_SIZE SMALL_COUNT SMALL_SIZE CODEC OUT GO_BIN RUST_BIN

log() { echo "bench-vs-go: $*" >&2; }

if [[ "${BENCH_VS_GO_INNER:-0}" != 1 ]]; then
    command -v go >/dev/null || {
        log "needs Go >= 1.25 on PATH (scripts/install-deps.sh fetches one)"
        exit 1
    }
    command -v jq >/dev/null || {
        log "needs jq"
        exit 1
    }
    log "building benches/go-client"
    (cd "$REPO/benches/go-client" && GOFLAGS=-mod=mod go build -o "$GO_BIN" .)
    log "building the Rust throughput example (release)"
    (cd "$REPO" && cargo build --quiet --release -p gazette-tokio --example throughput)
    export BENCH_VS_GO_INNER=1
    exec "$REPO/scripts/with-cluster.sh" "$REPO/scripts/bench-vs-go.sh" "$@"
fi

# --- inside the cluster --------------------------------------------------------

stamp="$(date +%s)"
# journal <client> <round>: zero-padded, so names sort like rounds.
journal() { printf 'bench/%s/%s/%03d' "$1" "$stamp" "$2"; }
specs="$(mktemp)"
trap 'rm -f "$specs"' EXIT
{
    echo "name: bench/"
    echo "replication: 3"
    echo "labels:"
    echo "- name: content-type"
    echo "  value: application/octet-stream"
    echo "fragment:"
    echo "  length: 1073741824"
    echo "  compression_codec: $CODEC"
    echo "  refresh_interval: 5m0s"
    echo "children:"
    # gazctl wants children in name order.
    for client in go rust; do
        for ((r = 1; r <= ROUNDS; r++)); do
            echo "- name: $(journal "$client" "$r")"
        done
    done
} >"$specs"
gazctl journals apply --specs "$specs" >&2

# run <client> <journal> <workload> [flags...]: one JSON line per workload.
# Both programs take the same --flags (Go's flag package accepts "--").
run() {
    local client="$1" journal="$2" workload="$3"
    shift 3
    local flags=(--journal "$journal" --workload "$workload" --mib "$MIB" --size "$APPEND_SIZE"
        --small-count "$SMALL_COUNT" --small-size "$SMALL_SIZE" "$@")
    case "$client" in
        go) "$GO_BIN" --broker "$GAZETTE_BROKER" "${flags[@]}" ;;
        rust) BROKER_ADDRESS="$GAZETTE_BROKER" "$RUST_BIN" "${flags[@]}" ;;
    esac
}

# Warm-up: waits out journal assignment; not measured.
for ((r = 1; r <= ROUNDS; r++)); do
    for client in go rust; do
        run "$client" "$(journal "$client" "$r")" append_small --small-count 10 >/dev/null
    done
done

: >"$OUT"
start=$SECONDS
for ((r = 1; r <= ROUNDS; r++)); do
    # Alternate which client goes first, round by round.
    clients=(go rust)
    ((r % 2 == 0)) && clients=(rust go)
    for workload in append_64k append_small read; do
        for client in "${clients[@]}"; do
            run "$client" "$(journal "$client" "$r")" "$workload" | tee -a "$OUT" >&2
        done
    done
done
log "$ROUNDS rounds in $((SECONDS - start))s; raw results in $OUT"

echo
echo "compression $CODEC, replication 3, $ROUNDS rounds, median MiB/s:"
jq -rs '
    def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
    def fmt: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
    group_by(.workload)
    | map({
        workload: .[0].workload,
        go: (map(select(.client == "go") | .mib_per_s) | median),
        rust: (map(select(.client == "rust") | .mib_per_s) | median)
      })
    | (["workload", "go MiB/s", "rust MiB/s", "rust/go"] | @tsv),
      (.[] | [.workload, (.go | fmt), (.rust | fmt),
              (if .go and .rust then (.rust / .go * 100 | round / 100 | tostring) else "-" end)] | @tsv)
' "$OUT" | column -t -s $'\t'
