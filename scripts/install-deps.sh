#!/usr/bin/env bash
# Installs what the integration tests and CI need, reusing whatever is
# already present (safe to run any number of times):
#
#   * gazette + gazctl (Gazette broker and CLI, pinned release), built from
#     source with Go into a fixed cache directory;
#   * etcd + etcdctl >= 3.5: a system install if recent enough, else the
#     distribution package when etcd is missing altogether (Debian
#     `etcd-server`), else built from source with Go into the same directory;
#   * cargo-fuzz.
#
# Prints the directory holding gazette, gazctl, etcd and etcdctl as the last
# line of stdout (logs go to stderr).
#
# Environment:
#   GAZETTE_VERSION    Gazette release to build (default v0.103.0).
#   ETCD_VERSION       etcd release to build when needed (default v3.6.5, the
#                      client version Gazette itself is built against).
#   GAZETTE_RS_CACHE   Cache root (default $HOME/.cache/gazette-rs); the
#                      binaries go to $GAZETTE_RS_CACHE/bin.
#   SKIP_CARGO_FUZZ=1  Do not install cargo-fuzz.
set -euo pipefail

GAZETTE_VERSION="${GAZETTE_VERSION:-v0.103.0}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
CACHE="${GAZETTE_RS_CACHE:-$HOME/.cache/gazette-rs}"
BIN="$CACHE/bin"
# Oldest Go able to build the pinned Gazette (its go.mod says `go 1.25`).
GO_MIN_MINOR=25

log() { echo "install-deps: $*" >&2; }
die() {
    log "$*"
    exit 1
}

SUDO=()
[[ "$(id -u)" -eq 0 ]] || SUDO=(sudo)

# --- Go toolchain ------------------------------------------------------------

go_is_usable() {
    command -v go >/dev/null 2>&1 || return 1
    local v
    v="$(go env GOVERSION 2>/dev/null)" || return 1 # e.g. go1.26.8
    v="${v#go}"
    local major="${v%%.*}" rest="${v#*.}"
    local minor="${rest%%.*}"
    [[ "$major" -gt 1 || ("$major" -eq 1 && "$minor" -ge "$GO_MIN_MINOR") ]]
}

ensure_go() {
    go_is_usable && return
    # Distribution Go packages are usually too old for Gazette; use the
    # official toolchain, unpacked into our cache (not into system dirs).
    local want="go1.${GO_MIN_MINOR}.0"
    local goroot="$CACHE/$want"
    if [[ ! -x "$goroot/bin/go" ]]; then
        log "Go >= 1.$GO_MIN_MINOR not found; fetching the official $want toolchain"
        local arch
        case "$(uname -m)" in
            x86_64) arch=amd64 ;;
            aarch64 | arm64) arch=arm64 ;;
            *) die "unsupported architecture $(uname -m); install Go >= 1.$GO_MIN_MINOR by hand" ;;
        esac
        local tmp
        tmp="$(mktemp -d)"
        curl -fsSL "https://go.dev/dl/$want.linux-$arch.tar.gz" | tar -xz -C "$tmp"
        mkdir -p "$CACHE"
        rm -rf "$goroot"
        mv "$tmp/go" "$goroot"
        rmdir "$tmp"
    fi
    export PATH="$goroot/bin:$PATH"
    go_is_usable || die "Go toolchain at $goroot is not usable"
}

# go_build_tools <out-dir> <require>... -- <package>...
#
# Builds main packages of pinned module releases into <out-dir>, each
# <require> being "module version". `go install pkg@version` would be
# shorter, but it asks the module proxy for the module's version list, which
# some proxies refuse; a throw-away module requiring the releases pins the
# same code without that lookup.
go_build_tools() {
    local out="$1"
    shift
    local requires=() packages=()
    while [[ $# -gt 0 && "$1" != -- ]]; do
        requires+=("$1")
        shift
    done
    shift
    packages=("$@")

    ensure_go
    local mod
    mod="$(mktemp -d)"
    [[ -d "$mod" ]] || die "mktemp failed"
    {
        echo "module gazette-rs/tools"
        echo
        echo "go 1.$GO_MIN_MINOR"
        echo
        for r in "${requires[@]}"; do echo "require $r"; done
    } >"$mod/go.mod"
    {
        echo "//go:build tools"
        echo
        echo "// Package tools pins commands used by gazette-rs tests."
        echo "package tools"
        echo
        for p in "${packages[@]}"; do echo "import _ \"$p\""; done
    } >"$mod/tools.go"
    mkdir -p "$out"
    (
        cd "$mod"
        GOFLAGS=-mod=mod go mod tidy
        GOFLAGS=-mod=mod go build -o "$out/" "${packages[@]}"
    )
    rm -rf "$mod"
}

# --- gazette / gazctl --------------------------------------------------------

# Version of go.gazette.dev/core a binary was built from, or empty.
gazette_version_of() {
    local bin="$1"
    [[ -x "$bin" ]] || return 0
    if [[ -f "$bin.version" ]]; then
        cat "$bin.version"
    elif command -v go >/dev/null 2>&1; then
        go version -m "$bin" 2>/dev/null |
            awk '$1 == "mod" && $2 == "go.gazette.dev/core" { print $3 }'
    fi
}

gazette_installed() {
    [[ "$(gazette_version_of "$BIN/gazette")" == "$GAZETTE_VERSION" &&
        "$(gazette_version_of "$BIN/gazctl")" == "$GAZETTE_VERSION" ]]
}

install_gazette() {
    if gazette_installed; then
        log "gazette and gazctl $GAZETTE_VERSION already in $BIN"
        return
    fi
    log "building gazette and gazctl $GAZETTE_VERSION into $BIN"
    local out="$CACHE/build-gazette"
    rm -rf "$out"
    go_build_tools "$out" "go.gazette.dev/core $GAZETTE_VERSION" -- \
        go.gazette.dev/core/cmd/gazette go.gazette.dev/core/cmd/gazctl
    mkdir -p "$BIN"
    for b in gazette gazctl; do
        install -m 0755 "$out/$b" "$BIN/$b"
        echo "$GAZETTE_VERSION" >"$BIN/$b.version"
    done
    rm -rf "$out"
    gazette_installed || die "built binaries do not report $GAZETTE_VERSION"
}

# --- etcd ----------------------------------------------------------------------

# Gazette's Etcd client (v3.6) refuses clusters older than 3.5 ("etcdclient:
# old cluster version"), which rules out Debian bookworm's etcd-server (3.4).

# "major minor" of an etcd binary, or empty.
etcd_version_of() {
    "$1" --version 2>/dev/null |
        awk '/^etcd Version:/ { split($3, v, "."); print v[1], v[2] }'
}

etcd_is_recent() {
    local major minor
    read -r major minor <<<"$(etcd_version_of "$1")" || return 1
    [[ -n "$major" && -n "$minor" ]] || return 1
    [[ "$major" -gt 3 || ("$major" -eq 3 && "$minor" -ge 5) ]]
}

# Links a system etcd/etcdctl pair into $BIN when it is recent enough.
link_system_etcd() {
    local etcd etcdctl
    etcd="$(command -v etcd 2>/dev/null)" || return 1
    etcdctl="$(command -v etcdctl 2>/dev/null)" || return 1
    etcd_is_recent "$etcd" || {
        log "system etcd ($etcd) is older than 3.5; not usable by Gazette"
        return 1
    }
    mkdir -p "$BIN"
    ln -sf "$etcd" "$BIN/etcd"
    ln -sf "$etcdctl" "$BIN/etcdctl"
    log "using system etcd: $etcd"
}

# Installs the distribution's etcd when there is none at all. Whether it is
# recent enough is checked afterwards.
apt_install_etcd() {
    command -v etcd >/dev/null 2>&1 && return 0
    command -v apt-get >/dev/null 2>&1 || return 0
    log "installing etcd (Debian package etcd-server)"
    "${SUDO[@]}" apt-get update || return 0
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends \
        etcd-server etcd-client || return 0
    # The package may start a system-wide etcd service; ours are private.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
        "${SUDO[@]}" systemctl disable --now etcd || true
    fi
}

build_etcd() {
    log "building etcd and etcdctl $ETCD_VERSION into $BIN"
    local out="$CACHE/build-etcd"
    rm -rf "$out"
    go_build_tools "$out" \
        "go.etcd.io/etcd/server/v3 $ETCD_VERSION" "go.etcd.io/etcd/etcdctl/v3 $ETCD_VERSION" -- \
        go.etcd.io/etcd/server/v3 go.etcd.io/etcd/etcdctl/v3
    mkdir -p "$BIN"
    rm -f "$BIN/etcd" "$BIN/etcdctl"
    # The server's main package is the module root, so its binary is "server".
    install -m 0755 "$out/server" "$BIN/etcd"
    install -m 0755 "$out/etcdctl" "$BIN/etcdctl"
    rm -rf "$out"
}

install_etcd() {
    if [[ -x "$BIN/etcd" && -x "$BIN/etcdctl" ]] && etcd_is_recent "$BIN/etcd"; then
        log "etcd already in $BIN ($(readlink -f "$BIN/etcd"))"
        return
    fi
    link_system_etcd && return
    apt_install_etcd
    link_system_etcd && return
    build_etcd
    etcd_is_recent "$BIN/etcd" || die "etcd in $BIN is not >= 3.5"
}

# --- cargo-fuzz ------------------------------------------------------------------

install_cargo_fuzz() {
    [[ "${SKIP_CARGO_FUZZ:-0}" == 1 ]] && return
    if cargo fuzz --version >/dev/null 2>&1; then
        log "cargo-fuzz already installed"
        return
    fi
    # Another process may be installing it right now; don't race it.
    while pgrep -f 'cargo install cargo-fuzz' >/dev/null 2>&1; do
        log "waiting for a running 'cargo install cargo-fuzz'"
        sleep 10
    done
    cargo fuzz --version >/dev/null 2>&1 && return
    log "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
}

install_etcd
install_gazette
install_cargo_fuzz
echo "$BIN"
