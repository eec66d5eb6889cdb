# bench/prelude.sh — the head that bench/containers.sh, files.sh, build.sh and volumes.sh share,
# sourced first: strict mode, bench/common.sh, the BENCH_CT_* knobs and their checks, the peers
# list (BENCH_PEERS), the result arrays (R, V, NOTES), the packages and tools the peers need, the
# test user, and Skiff's binaries (SKIFF_BIN, or a release build of this tree). The sourcing
# script sets BENCH_NAME (its log prefix) before; bench/peers.sh (the services) comes after.
: "${BENCH_NAME:?set BENCH_NAME before sourcing bench/prelude.sh}"
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)   # this file is bench/prelude.sh
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
PEERS=${BENCH_PEERS:-skiff podman docker}
RUNS=${BENCH_CT_RUNS:-10}
WARMUPS=${BENCH_CT_WARMUPS:-2}
LIFECYCLE=${BENCH_CT_LIFECYCLE:-50}
LIST_N=${BENCH_CT_LIST_CONTAINERS:-500}
LIST_REQS=${BENCH_CT_LIST_REQS:-10}
LIST_RPS_SECONDS=${BENCH_CT_LIST_RPS_SECONDS:-3}
SMALL_N=${BENCH_CT_SMALL_LIST:-5}
LOG_BYTES=${BENCH_CT_LOG_BYTES:-100000000}
LOG_LINE=${BENCH_CT_LOG_LINE:-10}
LOGS_RUNS=${BENCH_CT_LOGS_RUNS:-3}
LOGS_TIMEOUT=${BENCH_CT_LOGS_TIMEOUT:-120}
MEM_COUNTS=${BENCH_CT_MEM_COUNTS:-10 50}
PODMAN_DRIVER=${BENCH_PODMAN_DRIVER:-overlay}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/opt/swift/usr/bin:$SYS_PATH

log() { printf '[bench-%s %s] %s\n' "$BENCH_NAME" "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts a rootful dockerd)"
for v in RUNS LIFECYCLE LIST_N LIST_REQS LIST_RPS_SECONDS SMALL_N LOG_BYTES LOGS_RUNS LOGS_TIMEOUT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v (BENCH_CT_*) must be a positive integer, not '${!v}'"
done
[[ $WARMUPS =~ ^[0-9]+$ ]] || die "BENCH_CT_WARMUPS must be an integer >= 0"
[[ $LOG_LINE =~ ^[0-9]+$ ]] && [ "$LOG_LINE" -ge 2 ] && [ "$LOG_LINE" -le 4096 ] || die "BENCH_CT_LOG_LINE must be 2..4096"
prev=0
for c in $MEM_COUNTS; do
    [[ $c =~ ^[1-9][0-9]*$ ]] && [ "$c" -gt "$prev" ] || die "BENCH_CT_MEM_COUNTS must be increasing positive integers"
    prev=$c
done
peers=()
for p in $PEERS; do
    case $p in skiff|podman|docker) peers+=("$p") ;; *) die "unknown peer '$p' in BENCH_PEERS" ;; esac
done
[ ${#peers[@]} -gt 0 ] || { log "BENCH_PEERS is empty: nothing to do"; exit 0; }
has_peer() { [[ " ${peers[*]} " == *" $1 "* ]]; }
drop_peer() { local p keep=(); for p in "${peers[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; peers=("${keep[@]}"); }

declare -A R=()            # R[peer.metric]: figures for the table
declare -A V=()            # V[peer.metric]: raw measured values, space-separated
declare -a NOTES=()
note() { NOTES+=("$*"); log "note: $*"; }
SKIFF_SKIPPED=""           # why Skiff was not measured

# ---------------------------------------------------------------- set-up
PKGS=(podman docker.io containerd runc conmon uidmap slirp4netns fuse-overlayfs busybox-static
      python3 python3-pytest procps util-linux gcc)
if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    bash "$ROOT/scripts/apt-install-missing.sh" "${PKGS[@]}" || die "apt-get install of ${PKGS[*]} failed"
fi
for t in setpriv python3 ps timeout findmnt gcc; do
    command -v "$t" >/dev/null || die "$t not found"
done
[ -x /bin/busybox ] || die "/bin/busybox not found (Debian package busybox-static)"
if has_peer podman; then
    command -v podman >/dev/null || die "podman not found"
    CONMON=$(command -v conmon) || die "conmon not found"
fi
if has_peer docker; then
    for t in dockerd containerd containerd-shim-runc-v2; do command -v "$t" >/dev/null || die "$t not found"; done
    SHIM=$(command -v containerd-shim-runc-v2)
fi
DOCKER_CLI=${BENCH_DOCKER_CLI:-/usr/local/bin/docker}
if [ ! -x "$DOCKER_CLI" ]; then
    DOCKER_CLI=$(command -v docker) || die "no docker CLI ($BENCH_DOCKER_CLI missing and none on PATH)"
    note "the docker CLI ${BENCH_DOCKER_CLI:-/usr/local/bin/docker} is missing; using $DOCKER_CLI"
fi

SKIFF_TEST_USER=$USER_NAME bash "$ROOT/scripts/setup-test-user.sh"
TUID=$(id -u "$USER_NAME")
TGID=$(id -g "$USER_NAME")

if has_peer skiff; then
    if [ -n "${SKIFF_BIN:-}" ]; then
        [ -x "$SKIFF_BIN" ] || die "SKIFF_BIN=$SKIFF_BIN is not an executable"
        SKIFF_BIN_GIVEN=1
        [ -x "$(dirname "$SKIFF_BIN")/skiff-monitor" ] ||
            SKIFF_SKIPPED="no skiff-monitor beside SKIFF_BIN=$SKIFF_BIN"
    elif ! grep -q '\.executable(name: "skiff-monitor"' "$ROOT/Package.swift"; then
        SKIFF_SKIPPED="this tree ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')) has no skiff-monitor product yet: containers are not merged"
    else
        for product in skiff skiff-image skiff-monitor skiff-relay; do
            log "building $product (release, static Swift stdlib)"
            (cd "$ROOT" && swift build -c release --static-swift-stdlib --product "$product") >&2 ||
                die "swift build of $product failed"
        done
        SKIFF_BIN=$ROOT/.build/release/skiff
    fi
    if [ -z "$SKIFF_SKIPPED" ]; then
        SKIFF_DIR=$(dirname "$SKIFF_BIN")
        for b in skiff skiff-image skiff-monitor; do [ -x "$SKIFF_DIR/$b" ] || die "$SKIFF_DIR/$b missing"; done
    else
        drop_peer skiff
        note "Skiff skipped: $SKIFF_SKIPPED"
    fi
fi

mkdir -p "$OUT"
