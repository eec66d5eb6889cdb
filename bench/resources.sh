#!/usr/bin/env bash
# bench/resources.sh — the resources part of `make bench` (BENCH_PARTS=resources): reading a
# container's resource use, Skiff vs Podman vs Docker, each through its own unix socket.
#
# Peers, image, clients and clean-up as bench/containers.sh (its set-up is repeated here): Skiff
# and Podman rootless as the test user (Podman with --runtime runc --cgroup-manager=cgroupfs),
# Docker rootful (dockerd + containerd in a temp dir). One container per peer runs
# `sleep 3600` (--network none). Measures, round-robin over the peers after BENCH_RS_WARMUPS
# unmeasured rounds:
#   1. `docker stats --no-stream C`: wall time of the CLI process (Docker and Skiff take two
#      readings a second apart for it, so about 1 s is the floor), BENCH_RS_RUNS runs;
#   2. GET /v1.41/containers/C/stats?stream=false: wall time of the request (the same two
#      readings), BENCH_RS_RUNS runs;
#   3. GET /v1.41/containers/C/stats?stream=false&one-shot=true: one reading, BENCH_RS_API_RUNS runs.
# Prints one table (median, min-max, ratio against the faster peer) to bench/out/resources-<time>.txt
# (and resources-last.txt). No target is asserted.
#
# Knobs: SKIFF_BIN (a skiff with skiff-image, skiff-monitor, skiff-relay, skiff-runtime beside it;
# else a release build), BENCH_PEERS, BENCH_RS_RUNS=5, BENCH_RS_API_RUNS=50, BENCH_RS_WARMUPS=1,
# BENCH_NO_INSTALL=1, BENCH_DOCKER_CLI, BENCH_PODMAN_DRIVER=overlay, BENCH_TMPDIR, SKIFF_TEST_USER.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
PEERS=${BENCH_PEERS:-skiff podman docker}
RUNS=${BENCH_RS_RUNS:-5}
API_RUNS=${BENCH_RS_API_RUNS:-50}
WARMUPS=${BENCH_RS_WARMUPS:-1}
PODMAN_DRIVER=${BENCH_PODMAN_DRIVER:-overlay}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/opt/swift/usr/bin:$SYS_PATH

log() { printf '[bench-resources %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts a rootful dockerd)"
for v in RUNS API_RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v (BENCH_RS_*) must be a positive integer, not '${!v}'"
done
[[ $WARMUPS =~ ^[0-9]+$ ]] || die "BENCH_RS_WARMUPS must be an integer >= 0"
peers=()
for p in $PEERS; do
    case $p in skiff|podman|docker) peers+=("$p") ;; *) die "unknown peer '$p' in BENCH_PEERS" ;; esac
done
[ ${#peers[@]} -gt 0 ] || { log "BENCH_PEERS is empty: nothing to do"; exit 0; }
has_peer() { [[ " ${peers[*]} " == *" $1 "* ]]; }
drop_peer() { local p keep=(); for p in "${peers[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; peers=("${keep[@]}"); }

declare -A R=() V=()
declare -a NOTES=()
note() { NOTES+=("$*"); log "note: $*"; }
SKIFF_SKIPPED=""

# ---------------------------------------------------------------- set-up
PKGS=(podman docker.io containerd runc conmon uidmap slirp4netns fuse-overlayfs busybox-static
      python3 procps util-linux)
if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    bash "$ROOT/scripts/apt-install-missing.sh" "${PKGS[@]}" || die "apt-get install of ${PKGS[*]} failed"
fi
for t in setpriv python3 ps timeout findmnt; do command -v "$t" >/dev/null || die "$t not found"; done
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
fi
SKIFF_TEST_USER=$USER_NAME bash "$ROOT/scripts/setup-test-user.sh"
TUID=$(id -u "$USER_NAME")
TGID=$(id -g "$USER_NAME")
if has_peer skiff; then
    if [ -n "${SKIFF_BIN:-}" ]; then
        [ -x "$SKIFF_BIN" ] || die "SKIFF_BIN=$SKIFF_BIN is not an executable"
        SKIFF_BIN_GIVEN=1
    else
        for product in skiff skiff-image skiff-monitor skiff-relay skiff-runtime; do
            log "building $product (release, static Swift stdlib)"
            (cd "$ROOT" && swift build -c release --static-swift-stdlib --product "$product") >&2 ||
                die "swift build of $product failed"
        done
        SKIFF_BIN=$ROOT/.build/release/skiff
    fi
    SKIFF_DIR=$(dirname "$SKIFF_BIN")
    for b in skiff skiff-image skiff-monitor; do [ -x "$SKIFF_DIR/$b" ] || die "$SKIFF_DIR/$b missing"; done
fi
mkdir -p "$OUT"

BENCH_TAG=rs BENCH_PART=resources
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"

# ---------------------------------------------------------------- measures
stats() {   # stats VALUE_S... : seconds in, "median min max" in milliseconds out
    printf '%s\n' "$@" | sort -g | awk '
        {v[NR] = $1}
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              printf "%.1f %.1f %.1f", m * 1000, v[1] * 1000, v[NR] * 1000 }'
}
# apitime SOCKET PATH N : seconds of each of N GET requests (one connection each, as the CLI opens one)
apitime() {
    python3 - "$@" <<'PY'
import json, socket, sys, time
path, target, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for _ in range(n):
    start = time.monotonic()
    s = socket.socket(socket.AF_UNIX); s.settimeout(30); s.connect(path)
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk: break
        data += chunk
    s.close()
    elapsed = time.monotonic() - start
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit(f"{target}: {head[:80]!r}")
    print(f"{elapsed:.6f}")
PY
}

for peer in "${peers[@]}"; do
    dk "$peer" run -d --name bench-stats --network none busybox sleep 3600 >/dev/null ||
        die "$peer: docker run -d of the measured container failed"
    # the CLI must show numbers, not --
    out=$(dk "$peer" stats --no-stream --format '{{.CPUPerc}} {{.MemUsage}} {{.PIDs}}' bench-stats) ||
        die "$peer: docker stats --no-stream failed"
    R[$peer.shown]=$out
    log "$peer: docker stats --no-stream shows: $out"
done

log "1-2. docker stats --no-stream and GET stats?stream=false: $WARMUPS warm-up + $RUNS runs per peer, round-robin"
for ((i = 0; i < WARMUPS + RUNS; i++)); do
    for peer in "${peers[@]}"; do
        t0=$(now); dk "$peer" stats --no-stream bench-stats >/dev/null || die "$peer: docker stats failed"
        t=$(since "$t0")
        [ "$i" -ge "$WARMUPS" ] && V[$peer.cli]+="$t "
        t=$(apitime "${SOCK[$peer]}" "/v1.41/containers/bench-stats/stats?stream=false" 1) || die "$peer: GET stats failed: $t"
        [ "$i" -ge "$WARMUPS" ] && V[$peer.api]+="$t "
    done
done
log "3. GET stats?stream=false&one-shot=true: $API_RUNS runs per peer"
for peer in "${peers[@]}"; do
    apitime "${SOCK[$peer]}" "/v1.41/containers/bench-stats/stats?stream=false&one-shot=true" 2 >/dev/null ||
        die "$peer: one-shot stats failed"
    V[$peer.oneshot]=$(apitime "${SOCK[$peer]}" "/v1.41/containers/bench-stats/stats?stream=false&one-shot=true" "$API_RUNS" | tr '\n' ' ') ||
        die "$peer: one-shot stats failed"
done
for peer in "${peers[@]}"; do
    for m in cli api oneshot; do
        # shellcheck disable=SC2086
        R[$peer.$m]=$(stats ${V[$peer.$m]})
    done
    dk "$peer" rm -f bench-stats >/dev/null 2>&1 || true
done

# ---------------------------------------------------------------- the table
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TABLE=$OUT/resources-$STAMP.txt
{
    echo "bench/resources.sh $STAMP: load at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg)"
    for peer in "${peers[@]}"; do echo "  $peer: ${R[$peer.version]:-?}; docker stats shows: ${R[$peer.shown]}"; done
    echo
    printf '%-48s' "ms: median (min-max)"
    for peer in "${peers[@]}"; do printf '%-26s' "$peer"; done
    printf '%s\n' "skiff vs the faster peer"
    for row in "cli:docker stats --no-stream C" "api:GET stats?stream=false" "oneshot:GET stats?stream=false&one-shot=true"; do
        m=${row%%:*}
        printf '%-48s' "${row#*:}"
        best=""
        for peer in "${peers[@]}"; do
            med=$(field "${R[$peer.$m]}" 1)
            printf '%-26s' "$med ($(field "${R[$peer.$m]}" 2)-$(field "${R[$peer.$m]}" 3))"
            if [ "$peer" != skiff ] && { [ -z "$best" ] || awk -v a="$med" -v b="$best" 'BEGIN{exit !(a < b)}'; }; then best=$med; fi
        done
        if has_peer skiff && [ -n "$best" ]; then
            awk -v a="$(field "${R[skiff.$m]}" 1)" -v b="$best" 'BEGIN{printf "%.2fx", a / b}'
        fi
        echo
    done
    for n in "${NOTES[@]}"; do echo "note: $n"; done
} | tee "$TABLE"
cp "$TABLE" "$OUT/resources-last.txt"
