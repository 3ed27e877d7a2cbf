#!/usr/bin/env bash
# A throw-away local Gazette cluster: one etcd plus N brokers, all bound to
# 127.0.0.1 on free ports, each broker in its own zone, with all state
# (etcd data, fragment stores, logs, PIDs) under one cluster directory.
#
#   scripts/cluster.sh start    start the cluster, wait until it is ready,
#                               write $GAZETTE_CLUSTER_DIR/env
#   scripts/cluster.sh stop     stop every process `start` recorded, remove
#                               the directory (unless KEEP_CLUSTER_DIR=1)
#   scripts/cluster.sh status   show the processes and the published env
#   scripts/cluster.sh env      print the env file (to `source` it)
#   scripts/cluster.sh logs     print the tail of every log
#
# Most callers want scripts/with-cluster.sh, which wraps start/stop around a
# command. Environment:
#
#   GAZETTE_CLUSTER_DIR   state directory (default: <repo>/.cluster); use a
#                         fresh one per cluster to run clusters side by side
#   GAZETTE_CLUSTER_SIZE  number of brokers (default 3)
#   GAZETTE_AUTH_KEYS     if set, passed to every broker as --broker.auth-keys
#                         (and published as BROKER_AUTH_KEYS for gazctl)
#   GAZETTE_ETCD_LEASE    if set, every broker's --etcd.lease (e.g. 3s: a killed
#                         broker's assignments move after seconds, not 20 s)
#   GAZETTE_FILE_ROOT_MODE "shared" (default): every broker gets the same
#                         --broker.file-root, like a shared bucket;
#                         "per-broker": each broker its own file root
#   GAZETTE_TLS           "" (default): plaintext h2c on http:// endpoints;
#                         "server": brokers serve TLS with a throw-away CA's
#                         certificate for 127.0.0.1/localhost (generated with
#                         openssl into $GAZETTE_CLUSTER_DIR/tls) and advertise
#                         https:// endpoints; "mutual": as "server", and
#                         brokers require client certificates from that CA
#   GAZETTE_BIN_DIR       where gazette/gazctl live (default: install them
#                         with scripts/install-deps.sh)
#   CLUSTER_READY_TIMEOUT seconds to wait for readiness (default 60)
#
# The env file (shell syntax, also exported by with-cluster.sh) holds:
#   GAZETTE_BROKERS        comma-separated broker endpoints (http://127.0.0.1:port)
#   GAZETTE_BROKER         the first of them
#   GAZETTE_ZONES          comma-separated zones, in broker order
#   GAZETTE_BROKER_IDS     comma-separated broker ID suffixes, in broker order
#   ETCD_ENDPOINT          etcd client URL
#   GAZETTE_ETCD_PREFIX    Etcd prefix of the cluster (/gazette/cluster)
#   GAZETTE_FILE_ROOT      file root of the first broker (all of them if shared)
#   GAZETTE_FILE_ROOTS     comma-separated file roots, in broker order
#   GAZETTE_FRAGMENT_STORE a ready-to-use store URL (file:///fragments/)
#   GAZETTE_AUTH_KEYS, BROKER_AUTH_KEYS   when auth is enabled
#   GAZETTE_TLS, GAZETTE_TLS_CA (CA certificate, PEM), BROKER_TRUSTED_CA_FILE
#                          (the same, for gazctl)   when TLS is enabled
#   GAZETTE_TLS_CLIENT_CERT, GAZETTE_TLS_CLIENT_KEY, BROKER_CERT_FILE,
#   BROKER_CERT_KEY_FILE   a client certificate the brokers accept (mutual TLS)
#   GAZCTL, GAZETTE_BIN_DIR, BROKER_ADDRESS (gazctl's default broker)
#   GAZETTE_CLUSTER_DIR
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${GAZETTE_CLUSTER_DIR:-$REPO/.cluster}"
SIZE="${GAZETTE_CLUSTER_SIZE:-3}"
READY_TIMEOUT="${CLUSTER_READY_TIMEOUT:-60}"
ETCD_PREFIX=/gazette/cluster
ZONES=(zone-a zone-b zone-c zone-d zone-e zone-f zone-g zone-h zone-i)

log() { echo "cluster: $*" >&2; }
die() {
    log "$*"
    exit 1
}

# Sets PORT to a TCP port on 127.0.0.1 that nothing listens on and that this
# run has not handed out yet. Drawn below Linux's ephemeral range so outgoing
# connections don't take it between our check and the server's bind.
USED_PORTS=" "
free_port() {
    local p
    for _ in $(seq 1 200); do
        p=$((20000 + RANDOM % 12000))
        [[ "$USED_PORTS" == *" $p "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            USED_PORTS+="$p "
            PORT="$p"
            return
        fi
    done
    die "no free port found"
}

# Single-quotes a value for the env file (readable by shells and by humans).
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# Records a started process: "<pid> <name> <binary>" in $DIR/pids.
record() { echo "$1 $2 $(readlink -f "$3")" >>"$DIR/pids"; }

# True if the PID is alive and still runs the binary we started (guards
# against signalling a recycled PID).
alive() {
    local pid="$1" bin="$2" exe
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
    [[ "$exe" == "$bin" ]]
}

# Waits until "$@" succeeds or the deadline passes; checks recorded processes
# are still alive in between so a crash fails fast.
wait_for() {
    local what="$1"
    shift
    local deadline=$((SECONDS + READY_TIMEOUT))
    until "$@" >/dev/null 2>&1; do
        check_processes
        ((SECONDS < deadline)) || die "timed out after ${READY_TIMEOUT}s waiting for $what (logs: $DIR/logs)"
        sleep 0.2
    done
}

check_processes() {
    local pid name bin
    while read -r pid name bin; do
        alive "$pid" "$bin" || {
            log "$name (pid $pid) exited; last log lines:"
            tail -n 30 "$DIR/logs/$name.log" >&2 || true
            exit 1
        }
    done <"$DIR/pids"
}

# Writes a throw-away CA and, signed by it, a certificate for 127.0.0.1 and
# localhost (brokers serve it, and present it to each other in mutual mode)
# and a client certificate, all as PEM under $DIR/tls. ECDSA P-256 keys,
# valid for two days.
make_tls_certs() {
    command -v openssl >/dev/null 2>&1 || die "GAZETTE_TLS needs openssl"
    local tls="$DIR/tls"
    mkdir -p "$tls"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -keyout "$tls/ca.key" -out "$tls/ca.pem" -days 2 \
        -subj "/CN=gazette-rs throw-away test CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null ||
        die "openssl could not create the CA"
    local name
    for name in server client; do
        openssl req -new "${ec[@]}" -keyout "$tls/$name.key" -out "$tls/$name.csr" \
            -subj "/CN=gazette-rs $name" 2>/dev/null ||
            die "openssl could not create the $name key"
        printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature" \
            "extendedKeyUsage=serverAuth,clientAuth" >"$tls/$name.ext"
        openssl x509 -req -in "$tls/$name.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
            -CAcreateserial -days 2 -extfile "$tls/$name.ext" -out "$tls/$name.pem" 2>/dev/null ||
            die "openssl could not sign the $name certificate"
    done
}

cmd_start() {
    if [[ -f "$DIR/pids" ]]; then
        die "$DIR/pids exists: a cluster may be running (scripts/cluster.sh stop first)"
    fi
    ((SIZE >= 1 && SIZE <= ${#ZONES[@]})) || die "GAZETTE_CLUSTER_SIZE must be 1..${#ZONES[@]}"
    local bindir="${GAZETTE_BIN_DIR:-}"
    if [[ -z "$bindir" ]]; then
        bindir="$("$REPO/scripts/install-deps.sh" | tail -n 1)"
    fi
    local gazette="$bindir/gazette" gazctl="$bindir/gazctl"
    ETCD="$bindir/etcd"
    ETCDCTL="$bindir/etcdctl"
    local b
    for b in "$gazette" "$gazctl" "$ETCD" "$ETCDCTL"; do
        [[ -x "$b" ]] || die "$b missing: run scripts/install-deps.sh"
    done

    local tls_mode="${GAZETTE_TLS:-}" scheme=http
    case "$tls_mode" in
        "" | 0) tls_mode="" ;;
        1 | server) tls_mode=server ;;
        mutual) ;;
        *) die "GAZETTE_TLS must be empty, server or mutual (got $tls_mode)" ;;
    esac

    mkdir -p "$DIR/logs"
    : >"$DIR/pids"

    # Clusters starting at the same time on this machine could pick the same
    # free port; serialize port choice and binding with a machine-wide lock,
    # held until our processes listen. (Started processes get fd 9 closed so
    # they don't keep holding it.)
    if command -v flock >/dev/null 2>&1; then
        exec 9>"${TMPDIR:-/tmp}/gazette-rs-cluster-ports.lock"
        flock -w 120 9 || die "could not take the port lock"
    fi

    # --- etcd ---
    local etcd_client etcd_peer
    free_port
    etcd_client="$PORT"
    free_port
    etcd_peer="$PORT"
    ETCD_ENDPOINT="http://127.0.0.1:$etcd_client"
    "$ETCD" --name gazette-rs --data-dir "$DIR/etcd" \
        --listen-client-urls "$ETCD_ENDPOINT" --advertise-client-urls "$ETCD_ENDPOINT" \
        --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
        --initial-cluster "gazette-rs=http://127.0.0.1:$etcd_peer" \
        --initial-cluster-state new --logger zap --log-level warn \
        </dev/null >"$DIR/logs/etcd.log" 2>&1 9>&- &
    record $! etcd "$ETCD"
    disown $! # no job-status noise from the shell; it still reaps the child
    wait_for "etcd at $ETCD_ENDPOINT" "$ETCDCTL" --endpoints="$ETCD_ENDPOINT" \
        --dial-timeout=1s endpoint health

    # --- brokers ---
    local endpoints=() zones=() ids=() roots=() i port root
    local extra=()
    if [[ -n "${GAZETTE_AUTH_KEYS:-}" ]]; then
        extra+=(--broker.auth-keys "$GAZETTE_AUTH_KEYS")
    fi
    if [[ -n "${GAZETTE_ETCD_LEASE:-}" ]]; then
        extra+=(--etcd.lease "$GAZETTE_ETCD_LEASE")
    fi
    # gazctl's view of the brokers (readiness checks), as environment.
    local client_env=()
    if [[ -n "${GAZETTE_AUTH_KEYS:-}" ]]; then
        client_env+=(BROKER_AUTH_KEYS="$GAZETTE_AUTH_KEYS")
    fi
    if [[ -n "$tls_mode" ]]; then
        make_tls_certs
        scheme=https
        # Brokers proxy to each other over TLS too: peers trust the same CA.
        extra+=(--broker.server-cert-file "$DIR/tls/server.pem"
            --broker.server-cert-key-file "$DIR/tls/server.key"
            --broker.peer-ca-file "$DIR/tls/ca.pem")
        client_env+=(BROKER_TRUSTED_CA_FILE="$DIR/tls/ca.pem")
        if [[ "$tls_mode" == mutual ]]; then
            extra+=(--broker.server-ca-file "$DIR/tls/ca.pem"
                --broker.peer-cert-file "$DIR/tls/server.pem"
                --broker.peer-cert-key-file "$DIR/tls/server.key")
            client_env+=(BROKER_CERT_FILE="$DIR/tls/client.pem"
                BROKER_CERT_KEY_FILE="$DIR/tls/client.key")
        fi
    fi
    for ((i = 1; i <= SIZE; i++)); do
        free_port
        port="$PORT"
        if [[ "${GAZETTE_FILE_ROOT_MODE:-shared}" == per-broker ]]; then
            root="$DIR/stores/broker-$i"
        else
            root="$DIR/stores/shared"
        fi
        # file:// stores need their directory to exist under the file root.
        mkdir -p "$root/fragments"
        endpoints+=("$scheme://127.0.0.1:$port")
        zones+=("${ZONES[i - 1]}")
        ids+=("broker-$i")
        roots+=("$root")
        "$gazette" serve \
            --broker.zone "${ZONES[i - 1]}" --broker.id "broker-$i" \
            --broker.host 127.0.0.1 --broker.port "$port" \
            --broker.file-root "$root" \
            --etcd.address "$ETCD_ENDPOINT" --etcd.prefix "$ETCD_PREFIX" \
            --log.level warn --log.format text \
            "${extra[@]}" \
            </dev/null >"$DIR/logs/broker-$i.log" 2>&1 9>&- &
        record $! "broker-$i" "$gazette"
        disown $!
    done

    for ep in "${endpoints[@]}"; do
        wait_for "broker $ep to answer gazctl" env "${client_env[@]}" \
            timeout 5 "$gazctl" journals list --broker.address "$ep" --format json
    done
    wait_for "$SIZE brokers to announce themselves in etcd" \
        bash -c "[[ \$($ETCDCTL --endpoints=$ETCD_ENDPOINT get --prefix --keys-only $ETCD_PREFIX/members/ | grep -c .) -ge $SIZE ]]"

    # Every broker listens and is registered: release the port lock.
    exec 9>&-

    local joined_endpoints joined_zones joined_ids joined_roots
    joined_endpoints="$(IFS=,; echo "${endpoints[*]}")"
    joined_zones="$(IFS=,; echo "${zones[*]}")"
    joined_ids="$(IFS=,; echo "${ids[*]}")"
    joined_roots="$(IFS=,; echo "${roots[*]}")"
    {
        echo "# Written by scripts/cluster.sh start; source it to talk to the cluster."
        echo "export GAZETTE_CLUSTER_DIR=$(q "$DIR")"
        echo "export GAZETTE_BROKERS=$joined_endpoints"
        echo "export GAZETTE_BROKER=${endpoints[0]}"
        echo "export BROKER_ADDRESS=${endpoints[0]}"
        echo "export GAZETTE_ZONES=$joined_zones"
        echo "export GAZETTE_BROKER_IDS=$joined_ids"
        echo "export ETCD_ENDPOINT=$ETCD_ENDPOINT"
        echo "export GAZETTE_ETCD_PREFIX=$ETCD_PREFIX"
        echo "export GAZETTE_FILE_ROOT=$(q "${roots[0]}")"
        echo "export GAZETTE_FILE_ROOTS=$(q "$joined_roots")"
        echo "export GAZETTE_FRAGMENT_STORE=file:///fragments/"
        echo "export GAZETTE_BIN_DIR=$(q "$bindir")"
        echo "export GAZCTL=$(q "$gazctl")"
        if [[ -n "${GAZETTE_AUTH_KEYS:-}" ]]; then
            echo "export GAZETTE_AUTH_KEYS=$(q "$GAZETTE_AUTH_KEYS")"
            echo "export BROKER_AUTH_KEYS=$(q "$GAZETTE_AUTH_KEYS")"
        fi
        if [[ -n "$tls_mode" ]]; then
            echo "export GAZETTE_TLS=$tls_mode"
            echo "export GAZETTE_TLS_CA=$(q "$DIR/tls/ca.pem")"
            echo "export BROKER_TRUSTED_CA_FILE=$(q "$DIR/tls/ca.pem")"
        fi
        if [[ "$tls_mode" == mutual ]]; then
            echo "export GAZETTE_TLS_CLIENT_CERT=$(q "$DIR/tls/client.pem")"
            echo "export GAZETTE_TLS_CLIENT_KEY=$(q "$DIR/tls/client.key")"
            echo "export BROKER_CERT_FILE=$(q "$DIR/tls/client.pem")"
            echo "export BROKER_CERT_KEY_FILE=$(q "$DIR/tls/client.key")"
        fi
    } >"$DIR/env"
    log "ready: $SIZE brokers at $joined_endpoints (etcd $ETCD_ENDPOINT, state in $DIR)"
}

# Stops every recorded process: brokers first (TERM, then KILL after a grace
# period: a test cluster has nothing worth handing off), etcd last.
cmd_stop_processes() {
    [[ -f "$DIR/pids" ]] || return 0
    local pid name bin
    local -a brokers=() others=()
    while read -r pid name bin; do
        [[ -n "$pid" ]] || continue
        if [[ "$name" == etcd ]]; then others+=("$pid:$bin"); else brokers+=("$pid:$bin"); fi
    done <"$DIR/pids"
    stop_group "${brokers[@]}"
    stop_group "${others[@]}"
    rm -f "$DIR/pids"
}

stop_group() {
    local entry pid bin
    local -a live=()
    for entry in "$@"; do
        pid="${entry%%:*}"
        bin="${entry#*:}"
        if alive "$pid" "$bin"; then
            kill -TERM "$pid" 2>/dev/null || true
            live+=("$entry")
        fi
    done
    local deadline=$((SECONDS + 3))
    for entry in "${live[@]}"; do
        pid="${entry%%:*}"
        bin="${entry#*:}"
        while alive "$pid" "$bin" && ((SECONDS < deadline)); do sleep 0.1; done
        if alive "$pid" "$bin"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        while alive "$pid" "$bin"; do sleep 0.05; done
        # Reap it if it is our child (with-cluster.sh); a no-op otherwise.
        wait "$pid" 2>/dev/null || true
    done
}

cmd_stop() {
    cmd_stop_processes
    if [[ "${KEEP_CLUSTER_DIR:-0}" != 1 && -d "$DIR" ]]; then
        rm -rf "$DIR"
    fi
}

cmd_status() {
    [[ -f "$DIR/pids" ]] || {
        echo "no cluster in $DIR"
        return 1
    }
    local pid name bin rc=0
    while read -r pid name bin; do
        if alive "$pid" "$bin"; then echo "$name: running (pid $pid)"; else
            echo "$name: NOT running (pid $pid)"
            rc=1
        fi
    done <"$DIR/pids"
    [[ -f "$DIR/env" ]] && grep '^export' "$DIR/env"
    return $rc
}

cmd_logs() {
    local f
    for f in "$DIR"/logs/*.log; do
        [[ -f "$f" ]] || continue
        echo "== $f"
        tail -n "${LOG_LINES:-40}" "$f"
    done
}

# Sourced (by with-cluster.sh): define the functions only, so the cluster's
# processes become children of the sourcing shell, which reaps them.
if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
    return 0
fi

case "${1:-}" in
    start)
        # Undo a half-started cluster on failure or interruption.
        trap 'exit 130' INT
        trap 'exit 143' TERM
        trap 'rc=$?; if ((rc != 0)); then log "start failed; stopping what was started"; cmd_stop_processes; fi' EXIT
        cmd_start
        trap - INT TERM EXIT
        ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cat "$DIR/env" ;;
    logs) cmd_logs ;;
    *)
        echo "usage: $0 start|stop|status|env|logs" >&2
        exit 2
        ;;
esac
