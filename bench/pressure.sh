#!/usr/bin/env bash
# bench/pressure.sh — the pressure part of `make bench` (BENCH_PARTS=pressure): the API socket
# under connection load, Skiff vs Podman, each rootless as the test user on its own unix socket
# (issue 12, items 4 and 6). Measures, one peer at a time:
#   1. /_ping latency from a new client (connect, send, whole response) while BENCH_PR_HELD
#      connections (1000) are held that each sent half a request head and wait: BENCH_PR_PINGS
#      pings one after the other (bench/pressureclient.py ping-held); median, min-max, and how
#      many failed or took the 10 s client timeout.
#   2. the service's RSS (VmRSS, /proc/PID/status) after BENCH_PR_STREAMS (600)
#      `GET /containers/ID/logs?follow=1` streams of one running container are open and have
#      settled 3 s (bench/pressureclient.py follow-rss), and its RSS before them.
# Skiff: `skiff service --time 0` (default limits: --header-timeout 30, --keepalive-timeout 120,
# --max-connections half the descriptor limit); Podman: `podman system service --time 0`, as in
# bench/containers.sh. The table goes to bench/out/pressure-<time>.txt (and pressure-last.txt).
#
# Must run as root on Debian 12 (see bench/run.sh). Knobs (environment):
#   SKIFF_BIN=PATH          use this skiff (skiff-image, skiff-monitor, skiff-relay beside it), do not build
#   BENCH_PEERS="skiff podman"   which peers (docker is not measured here)
#   BENCH_PR_HELD=1000      half-sent connections held during the pings
#   BENCH_PR_PINGS=20       pings measured
#   BENCH_PR_STREAMS=600    logs -f streams for the RSS
#   BENCH_PODMAN_DRIVER=overlay, BENCH_NO_INSTALL=1, BENCH_TMPDIR=DIR, SKIFF_TEST_USER=skiff-test
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
HELD=${BENCH_PR_HELD:-1000}
PINGS=${BENCH_PR_PINGS:-20}
STREAMS=${BENCH_PR_STREAMS:-600}
PODMAN_DRIVER=${BENCH_PODMAN_DRIVER:-overlay}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/opt/swift/usr/bin:$SYS_PATH

log() { printf '[bench-pressure %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"
for v in HELD PINGS STREAMS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v (BENCH_PR_*) must be a positive integer, not '${!v}'"
done
peers=()
for p in ${BENCH_PEERS:-skiff podman}; do
    case $p in skiff|podman) peers+=("$p") ;; docker) log "docker is not measured in the pressure part" ;;
               *) die "unknown peer '$p' in BENCH_PEERS" ;; esac
done
[ ${#peers[@]} -gt 0 ] || { log "no peer to measure"; exit 0; }

if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    bash "$ROOT/scripts/apt-install-missing.sh" podman runc conmon uidmap slirp4netns fuse-overlayfs \
        busybox-static python3 procps util-linux || die "apt-get install failed"
fi
DOCKER_CLI=${BENCH_DOCKER_CLI:-/usr/local/bin/docker}
[ -x "$DOCKER_CLI" ] || DOCKER_CLI=$(command -v docker) || die "no docker CLI"
SKIFF_TEST_USER=$USER_NAME bash "$ROOT/scripts/setup-test-user.sh"
TUID=$(id -u "$USER_NAME")
TGID=$(id -g "$USER_NAME")

if [[ " ${peers[*]} " == *" skiff "* ]]; then
    if [ -z "${SKIFF_BIN:-}" ]; then
        for product in skiff skiff-image skiff-monitor skiff-relay; do
            log "building $product (release, static Swift stdlib)"
            (cd "$ROOT" && swift build -c release --static-swift-stdlib --product "$product") >&2 ||
                die "swift build of $product failed"
        done
        SKIFF_BIN=$ROOT/.build/release/skiff
    fi
    SKIFF_DIR=$(dirname "$SKIFF_BIN")
    for b in skiff skiff-image skiff-monitor skiff-relay; do [ -x "$SKIFF_DIR/$b" ] || die "$SKIFF_DIR/$b missing"; done
fi

TMP_BASE=$(traversable_tmp_base) || die "no temp directory the test user can traverse"
T=$(mktemp -d "$TMP_BASE/skiff-bench-pr.XXXXXX")
chmod 0755 "$T"
mkdir -p "$T/bin" "$T/home" "$T/config" "$T/xdg" "$T/logs" "$T/store" "$T/image" "$T/dockercfg"
chown "$TUID:$TGID" "$T/home" "$T/config" "$T/xdg" "$T/store"
chmod 0700 "$T/xdg" "$T/dockercfg"
XDG=$T/xdg
declare -a STARTED=()
declare -A SOCK=() SVC=() R=()

cleanup() {
    local rc=$? p peer
    trap - EXIT INT TERM
    for peer in "${!SOCK[@]}"; do
        if [ -S "${SOCK[$peer]}" ] && proc_alive "${SVC[$peer]:-0}"; then
            timeout 120 python3 "$ROOT/bench/ctclient.py" "${SOCK[$peer]}" rmrunning >/dev/null 2>&1 || true
        fi
    done
    for p in "${STARTED[@]}"; do
        if proc_alive "${p%%:*}" && [ "$(starttime "${p%%:*}")" = "${p#*:}" ]; then stop_pids 10 "${p%%:*}"; fi
    done
    p=$(podman_pause)
    if [ -n "$p" ]; then stop_pids 5 "$p"; fi
    findmnt -rn -o TARGET | awk -v t="$T/" 'index($0, t) == 1' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T" || log "could not remove $T"; }
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

AS_USER=(setpriv --reuid="$TUID" --regid="$TGID" --init-groups
         env -i PATH="$SYS_PATH" HOME="$T/home" USER="$USER_NAME" LOGNAME="$USER_NAME" XDG_RUNTIME_DIR="$XDG"
         XDG_CONFIG_HOME="$T/config")
dk() {
    local peer=$1; shift
    env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" DOCKER_HOST="unix://${SOCK[$peer]}" \
        "$DOCKER_CLI" "$@"
}
client() { local peer=$1; shift; python3 "$ROOT/bench/pressureclient.py" "${SOCK[$peer]}" "$@"; }

wait_ping() {
    local peer=$1 i
    for ((i = 0; i < 3000; i++)); do
        if [ -S "${SOCK[$peer]}" ] && client "$peer" ping-held 0 1 2>/dev/null | grep -qv failed; then return 0; fi
        proc_alive "${SVC[$peer]}" || { tail -n 30 "$T/logs/$peer.log" >&2; die "$peer: the service exited"; }
        sleep 0.02
    done
    die "$peer: no /_ping after 60 s"
}

start_skiff() {
    install -m 0755 "$SKIFF_DIR/skiff" "$SKIFF_DIR/skiff-image" "$SKIFF_DIR/skiff-monitor" "$SKIFF_DIR/skiff-relay" "$T/bin/"
    R[skiff.version]="$("$T/bin/skiff" --version | head -1) (built from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
    mkdir -p "$T/store/skiff"; chown "$TUID:$TGID" "$T/store/skiff"
    SOCK[skiff]=$XDG/skiff.sock
    "${AS_USER[@]}" XDG_DATA_HOME="$T/store/skiff" "$T/bin/skiff" service --socket "${SOCK[skiff]}" --time 0 \
        >"$T/logs/skiff.log" 2>&1 &
    SVC[skiff]=$!; track "${SVC[skiff]}"
    wait_ping skiff
}

start_podman() {
    R[podman.version]="Podman $(podman --version | awk '{print $3}')"
    mkdir -p "$T/store/podman"; chown "$TUID:$TGID" "$T/store/podman"
    SOCK[podman]=$XDG/podman.sock
    if ! pgrep -u "$TUID" -x podman >/dev/null; then rm -f "/dev/shm/libpod_rootless_lock_$TUID"; fi
    "${AS_USER[@]}" podman --runtime runc --cgroup-manager=cgroupfs --storage-driver "$PODMAN_DRIVER" \
        --root "$T/store/podman/root" --runroot "$XDG/podman-run" \
        system service --time 0 "unix://${SOCK[podman]}" >"$T/logs/podman.log" 2>&1 &
    SVC[podman]=$!; track "${SVC[podman]}"
    wait_ping podman
}

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

log "building the busybox image"
IMAGE_ARCHIVE=$(python3 - "$ROOT/Tests/integration" "$T/image" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import images
print(images.build_busybox(sys.argv[2]).archive)
EOF
) || die "building the busybox image failed"
chmod -R a+rX "$T/image"

for peer in "${peers[@]}"; do
    log "$peer: starting"
    "start_$peer"
    dk "$peer" load -i "$IMAGE_ARCHIVE" >/dev/null || die "$peer: docker load failed"
    # the service's own pid (setpriv execs env, which execs the service)
    pid=${SVC[$peer]}

    log "$peer: /_ping from a new client with $HELD half-sent connections held"
    out=$(client "$peer" ping-held "$HELD" "$PINGS")
    R[$peer.held]=$(sed -n 's/^held=//p' <<<"$out")
    R[$peer.failed]=$(grep -c failed <<<"$out" || true)
    R[$peer.ping]=$(grep -v '^held=' <<<"$out" | awk '{print $1}' | sort -g | awk '
        {v[NR] = $1} END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
                           printf "%.2f (%.2f-%.2f)", m * 1000, v[1] * 1000, v[NR] * 1000 }')

    log "$peer: RSS with $STREAMS logs -f streams"
    id=$(dk "$peer" run -d --network none busybox sh -c 'while true; do echo tick; sleep 1; done') ||
        die "$peer: docker run -d failed"
    sleep 1
    R[$peer.rss0]=$(rss "$pid")
    out=$(client "$peer" follow-rss "$id" "$STREAMS" 3 "$pid")
    R[$peer.streams]=$(sed -n 's/^streams=//p' <<<"$out")
    R[$peer.rss]=$(sed -n 's/^rss=\([0-9]*\).*/\1/p' <<<"$out")
    dk "$peer" rm -f "$id" >/dev/null || true
done

mkdir -p "$OUT"
TS=$(date -u +%Y%m%dT%H%M%SZ)
TABLE=$OUT/pressure-$TS.txt
{
    echo
    echo "Skiff pressure benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
    for peer in "${peers[@]}"; do echo "  $peer: ${R[$peer.version]}, rootless as $USER_NAME"; done
    echo
    printf '%-58s' "metric"
    for peer in "${peers[@]}"; do printf '%-28s' "$peer"; done
    printf '\n'
    printf '%-58s' "/_ping from a new client, $HELD half-sent held (ms)"
    for peer in "${peers[@]}"; do printf '%-28s' "${R[$peer.ping]}"; done
    printf '\n'
    printf '%-58s' "  connections held / pings failed of $PINGS"
    for peer in "${peers[@]}"; do printf '%-28s' "${R[$peer.held]} / ${R[$peer.failed]}"; done
    printf '\n'
    printf '%-58s' "service RSS after $STREAMS logs -f streams (MiB)"
    for peer in "${peers[@]}"; do
        printf '%-28s' "$(awk -v a="${R[$peer.rss]:-0}" -v b="${R[$peer.rss0]:-0}" 'BEGIN{printf "%.1f (before: %.1f)", a / 1024, b / 1024}')"
    done
    printf '\n'
    printf '%-58s' "  streams answered 200"
    for peer in "${peers[@]}"; do printf '%-28s' "${R[$peer.streams]}"; done
    printf '\n'
} | tee "$TABLE"
cp "$TABLE" "$OUT/pressure-last.txt"
log "table saved to $TABLE"
