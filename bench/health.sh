#!/usr/bin/env bash
# bench/health.sh — the healthcheck part of `make bench` (issue 13): the supervisor memory of a
# running container with a healthcheck every second, over time, Skiff vs Podman vs Docker.
#
# Peers and set-up are bench/containers.sh's (its set-up is repeated here: services rootless for
# Skiff and Podman, a rootful dockerd in a temp dir, the same busybox image, the docker CLI):
#   Skiff   the checks run from the container's supervisor: skiff-relay (skiff-monitor's steady
#           state) starts `skiff-monitor --health-probe` every interval; measured: skiff-relay.
#           A second container without a healthcheck gives the relay's memory without one.
#   Podman  schedules checks with systemd timers; there is no systemd user instance here, so this
#           script runs `podman healthcheck run ID` every BENCH_HC_INTERVAL itself (what the timer
#           does); measured: the container's conmon.
#   Docker  dockerd runs the checks; measured: the container's containerd-shim-runc-v2, and
#           dockerd's own RSS beside it (the checks' state lives there).
# Each peer runs `docker run -d --network none --health-cmd true --health-interval 1s busybox sleep`;
# every BENCH_HC_SAMPLE seconds for BENCH_HC_SECONDS the PSS and RSS (/proc/PID/smaps_rollup) of
# each supervisor are read. The table gives the first and last sample, the largest PSS, and the
# PSS growth (last - first); a supervisor whose RSS grows by more than 64 KiB over the run is
# flagged (PSS moves with the number of processes sharing its pages: the RSS is its own size). The probes
# recorded (State.Health's log and FailingStreak, and the health_status events) are checked once
# at the end: each peer must be healthy.
#
# Knobs (environment): BENCH_PEERS, SKIFF_BIN, BENCH_NO_INSTALL, BENCH_TMPDIR, SKIFF_TEST_USER,
# BENCH_PODMAN_DRIVER, BENCH_DOCKER_CLI as in bench/containers.sh, and
#   BENCH_HC_SECONDS=600   how long the containers are measured (the issue's 10 minutes)
#   BENCH_HC_SAMPLE=10     seconds between samples
# Raw samples go to bench/out/health-<time>.raw, the table to bench/out/health-<time>.txt (and
# health-last.txt).
set -euo pipefail

export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
PEERS=${BENCH_PEERS:-skiff podman docker}
HC_SECONDS=${BENCH_HC_SECONDS:-600}
HC_SAMPLE=${BENCH_HC_SAMPLE:-10}
PODMAN_DRIVER=${BENCH_PODMAN_DRIVER:-overlay}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/opt/swift/usr/bin:$SYS_PATH

log() { printf '[bench-health %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts a rootful dockerd)"
for v in HC_SECONDS HC_SAMPLE; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v (BENCH_HC_*) must be a positive integer, not '${!v}'"
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

# ---------------------------------------------------------------- bookkeeping, cleanup
TMP_BASE=$(traversable_tmp_base) || die "no temp directory the test user can traverse (tried ${BENCH_TMPDIR:-} /tmp /var/tmp /run)"
T=$(mktemp -d "$TMP_BASE/skiff-bench-hc.XXXXXX")
chmod 0755 "$T"
mkdir -p "$T/bin" "$T/home" "$T/config" "$T/xdg" "$T/logs" "$T/store" "$T/image" "$T/out" "$T/dockercfg" "$T/docker"
chown "$TUID:$TGID" "$T/home" "$T/config" "$T/xdg" "$T/store"
chmod 0700 "$T/xdg" "$T/dockercfg"
XDG=$T/xdg
D=$T/docker
CGPARENT=skiff-bench-hc-$$       # dockerd's --cgroup-parent: its containers' cgroups, removed at the end

ETC_DOCKER_KEY_EXISTED=0; [ -e /etc/docker/key.json ] && ETC_DOCKER_KEY_EXISTED=1
RUN_DOCKER_EXISTED=0; [ -e /run/docker ] && RUN_DOCKER_EXISTED=1

declare -a STARTED=()      # "PID:STARTTIME" of every process we started
declare -A SOCK=()         # SOCK[peer]: the peer's API socket
declare -A SVC=()          # SVC[peer]: the service's pid (docker: dockerd)

# monitors PEER : pids of that peer's per-container monitors started by this run: the executable
# is the monitor's and the command line names this run's temp dir
monitors() {
    local exe p cmdline
    case $1 in
        skiff) exe=$T/bin/skiff-monitor ;;  # or skiff-relay, below
        podman) exe=${CONMON:-/usr/bin/conmon} ;;
        docker) exe=${SHIM:-/usr/bin/containerd-shim-runc-v2} ;;
    esac
    for p in /proc/[0-9]*; do
        case $(readlink "$p/exe" 2>/dev/null) in
            "$exe") ;;
            "$T/bin/skiff-relay") [ "$1" = skiff ] || continue ;;
            *) continue ;;
        esac
        cmdline=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)
        [[ $cmdline == *"$T/"* ]] || continue
        # skiff-relay --keep-userns holds the rootless containers' shared user namespace: one
        # for all of them, not a monitor (Podman's pause process is not counted either).
        [[ $cmdline == *" --keep-userns "* ]] && continue
        # skiff-monitor --warm waits for the next container (one per service): counted once it
        # has one, which it holds open (its log).
        if [[ $cmdline == *" --warm "* ]] && ! ls -l "$p/fd" 2>/dev/null | grep -qF "$T/"; then continue; fi
        proc_alive "${p#/proc/}" && echo "${p#/proc/}"
    done
    return 0
}

cleanup() {
    local rc=$? p peer m
    trap - EXIT INT TERM
    if [ "$rc" != 0 ] && [ -n "${T:-}" ] && [ -d "$T/logs" ]; then
        # on a failure: the services' logs are kept, and the end of each printed
        m=$OUT/health-failed-$(date -u +%Y%m%dT%H%M%SZ)
        mkdir -p "$m" && cp -r "$T/logs/." "$m/" 2>/dev/null && log "the services' logs are kept in $m"
        for peer in "${!SVC[@]}"; do
            proc_alive "${SVC[$peer]}" || log "$peer: the service (pid ${SVC[$peer]}) is not running"
            p=$T/logs/$peer.log; [ "$peer" = docker ] && p=$T/logs/dockerd.log
            [ -s "$p" ] || continue
            log "$peer: the end of $(basename "$p"):"
            tail -n 15 "$p" >&2 || true
        done
    fi
    # running containers first, through their engines, while the engines are up (bounded; the
    # others have no process and go with the temp dir)
    for peer in "${!SOCK[@]}"; do
        if [ -S "${SOCK[$peer]}" ] && proc_alive "${SVC[$peer]:-0}"; then
            timeout 120 python3 "$ROOT/bench/ctclient.py" "${SOCK[$peer]}" rmrunning >/dev/null 2>&1 ||
                log "cleanup: removing $peer's containers failed; stopping their monitors"
        fi
    done
    for p in "${STARTED[@]}"; do   # only if it is still the process we started (no pid reuse)
        if proc_alive "${p%%:*}" && [ "$(starttime "${p%%:*}")" = "${p#*:}" ]; then stop_pids 10 "${p%%:*}"; fi
    done
    # monitors (and so their containers) that outlived their engine
    for peer in skiff podman docker; do
        for m in $(monitors "$peer"); do stop_pids 5 "$m"; done
    done
    if [ -n "${XDG:-}" ]; then
        p=$(podman_pause)
        if [ -n "$p" ]; then stop_pids 5 "$p"; fi
    fi
    if [ -n "${T:-}" ] && [ -d "$T" ]; then
        # mounts left below the temp dir (dockerd's overlay2, shm), deepest first
        findmnt -rn -o TARGET | awk -v t="$T/" 'index($0, t) == 1' | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
        # Podman's and Skiff's rootless storage holds files owned by sub-uids: remove as root
        rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T" || log "could not remove $T"; }
    fi
    find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name "$CGPARENT" 2>/dev/null | while read -r m; do
        find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    if [ "$ETC_DOCKER_KEY_EXISTED" = 0 ]; then rm -f /etc/docker/key.json; fi
    if [ "$RUN_DOCKER_EXISTED" = 0 ]; then rm -rf /run/docker 2>/dev/null || true; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# a command as the test user with a clean environment: "${AS_USER[@]}" [VAR=VALUE...] CMD ...
# (an array, not a function, so that `... &` gives the service's own pid in $!)
AS_USER=(setpriv --reuid="$TUID" --regid="$TGID" --init-groups
         env -i PATH="$SYS_PATH" HOME="$T/home" USER="$USER_NAME" LOGNAME="$USER_NAME" XDG_RUNTIME_DIR="$XDG"
         XDG_CONFIG_HOME="$T/config")

# dk PEER ARGS... : the docker CLI against that peer's socket, with a config dir of its own
dk() {
    local peer=$1; shift
    env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" DOCKER_HOST="unix://${SOCK[$peer]}" \
        "$DOCKER_CLI" "$@"
}
api() { local peer=$1; shift; python3 "$ROOT/bench/ctclient.py" "${SOCK[$peer]}" "$@"; }

# stats VALUE_S... : seconds in, "median min max p90" in milliseconds out
stats() {
    printf '%s\n' "$@" | sort -g | awk '
        {v[NR] = $1}
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              k = int(0.9 * NR); if (k < 0.9 * NR) k++
              printf "%.3f %.3f %.3f %.3f", m * 1000, v[1] * 1000, v[NR] * 1000, v[k] * 1000 }'
}
field() { awk -v s="$1" -v i="$2" 'BEGIN{split(s, a, " "); print a[i]}'; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.6f", b - a}'; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- the image
log "building the busybox image (Tests/integration/images.py, from /bin/busybox)"
IMAGE_ARCHIVE=$(python3 - "$ROOT/Tests/integration" "$T/image" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import images
print(images.build_busybox(sys.argv[2]).archive)
EOF
) || die "building the busybox image failed"
chmod -R a+rX "$T/image"

# ---------------------------------------------------------------- services
wait_ping() {   # wait_ping PEER LOG : until the socket answers /_ping (60 s)
    local peer=$1 lg=$2 i
    for ((i = 0; i < 3000; i++)); do
        if [ -S "${SOCK[$peer]}" ] && python3 - "${SOCK[$peer]}" <<'EOF' 2>/dev/null; then return 0; fi
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)
EOF
        proc_alive "${SVC[$peer]}" || { tail -n 30 "$lg" >&2; die "$peer: the service exited"; }
        sleep 0.02
    done
    tail -n 30 "$lg" >&2; die "$peer: no /_ping after 60 s"
}

start_skiff() {
    install -m 0755 "$SKIFF_DIR/skiff" "$SKIFF_DIR/skiff-image" "$SKIFF_DIR/skiff-monitor" "$T/bin/"
    # Without skiff-relay (an older tree) the Swift monitor relays itself.
    if [ -x "$SKIFF_DIR/skiff-relay" ]; then install -m 0755 "$SKIFF_DIR/skiff-relay" "$T/bin/"; fi
    local tree="built from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    git -C "$ROOT" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || tree+=" + uncommitted changes under Sources/"
    [ -n "${SKIFF_BIN_GIVEN:-}" ] && tree="SKIFF_BIN=$SKIFF_BIN"
    R[skiff.version]="$(timeout 5 "$T/bin/skiff" --version 2>/dev/null | head -1 || true) ($tree)"
    mkdir -p "$T/store/skiff"; chown "$TUID:$TGID" "$T/store/skiff"
    SOCK[skiff]=$XDG/skiff.sock
    "${AS_USER[@]}" XDG_DATA_HOME="$T/store/skiff" "$T/bin/skiff" service --socket "${SOCK[skiff]}" --time 0 \
        >"$T/logs/skiff.log" 2>&1 &
    SVC[skiff]=$!; track "${SVC[skiff]}"
    wait_ping skiff "$T/logs/skiff.log"
}

start_podman() {
    R[podman.version]=$(podman --version | awk '{print $3}')
    mkdir -p "$T/store/podman"; chown "$TUID:$TGID" "$T/store/podman"
    SOCK[podman]=$XDG/podman.sock
    # Podman keeps its container locks in shared memory across runs; stores deleted by earlier
    # (interrupted) runs leave them taken until "exceeded num_locks (2048)". With no Podman of
    # this user running, nothing holds them.
    if ! pgrep -u "$TUID" -x podman >/dev/null; then rm -f "/dev/shm/libpod_rootless_lock_$TUID"; fi
    "${AS_USER[@]}" podman --runtime runc --cgroup-manager=cgroupfs --storage-driver "$PODMAN_DRIVER" \
        --root "$T/store/podman/root" --runroot "$XDG/podman-run" \
        system service --time 0 "unix://${SOCK[podman]}" >"$T/logs/podman.log" 2>&1 &
    SVC[podman]=$!; track "${SVC[podman]}"
    wait_ping podman "$T/logs/podman.log"
}

start_docker() {
    R[docker.version]="$(dockerd --version | sed -n 's/^Docker version \([^,+]*\).*/\1/p') + containerd $(containerd --version | awk '{print $3}')"
    mkdir -p "$D/containerd"
    cat >"$D/containerd/config.toml" <<EOF
version = 2
root = "$D/containerd/root"
state = "$D/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$D/containerd/containerd.sock"
[debug]
  address = "$D/containerd/debug.sock"
  level = "warn"
EOF
    env -i PATH="$SYS_PATH" containerd --config "$D/containerd/config.toml" >"$T/logs/containerd.log" 2>&1 &
    CTD_PID=$!; track "$CTD_PID"
    local i
    for ((i = 0; i < 3000; i++)); do
        [ -S "$D/containerd/containerd.sock" ] && break
        proc_alive "$CTD_PID" || { tail "$T/logs/containerd.log" >&2; die "containerd exited"; }
        sleep 0.02
    done
    SOCK[docker]=$D/docker.sock
    env -i PATH="$SYS_PATH" dockerd --containerd "$D/containerd/containerd.sock" \
        --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/dockerd.pid" \
        -H "unix://${SOCK[docker]}" --iptables=false --ip-forward=false --ip-masq=false \
        --bridge=none --cgroup-parent "/$CGPARENT" >"$T/logs/dockerd.log" 2>&1 &
    SVC[docker]=$!; track "${SVC[docker]}"
    wait_ping docker "$T/logs/dockerd.log"
}

for peer in "${peers[@]}"; do
    log "$peer: starting the service, loading busybox"
    "start_$peer"
    dk "$peer" load -i "$IMAGE_ARCHIVE" >"$T/logs/$peer-load.log" 2>&1 ||
        { cat "$T/logs/$peer-load.log" >&2; die "$peer: docker load failed"; }
done

# a first `docker run --rm` per peer: Skiff is dropped (with the reason) when it cannot run it yet
for peer in "${peers[@]}"; do
    if out=$(timeout 60 env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" \
             DOCKER_HOST="unix://${SOCK[$peer]}" "$DOCKER_CLI" run --rm --network none busybox echo ok 2>&1) &&
       [ "$out" = ok ]; then
        continue
    fi
    out=$(tr '\n' ' ' <<<"$out" | cut -c1-300)
    if [ "$peer" = skiff ]; then
        SKIFF_SKIPPED="its first \`docker run --rm --network none busybox echo ok\` failed: ${out:-no output (timeout?)}"
        note "Skiff skipped: $SKIFF_SKIPPED"
        tail -n 20 "$T/logs/skiff.log" >&2 || true
        timeout 60 python3 "$ROOT/bench/ctclient.py" "${SOCK[skiff]}" rmall >/dev/null 2>&1 || true
        stop_pids 10 "${SVC[skiff]}"
        for m in $(monitors skiff); do stop_pids 5 "$m"; done
        unset 'SOCK[skiff]'
        drop_peer skiff
    else
        die "$peer: \`docker run --rm --network none busybox echo ok\` failed: $out"
    fi
done
[ ${#peers[@]} -gt 0 ] || die "no peer left to measure"

# ---------------------------------------------------------------- the containers
# mem PID : "PSS RSS" in KiB (0 0 when gone)
mem() {
    awk '/^Pss:/ {p = $2} /^Rss:/ {r = $2} END {printf "%d %d\n", p, r}' "/proc/$1/smaps_rollup" 2>/dev/null || echo "0 0"
}
# supervisor PEER ID : the pid of that container's monitor (its command line names the id)
supervisor() {
    local m cmdline
    for m in $(monitors "$1"); do
        cmdline=$(tr '\0' ' ' <"/proc/$m/cmdline" 2>/dev/null)
        # a probe (skiff-monitor --health-probe, short-lived) names the container too
        [[ $cmdline == *" --health-probe "* ]] && continue
        if [[ $cmdline == *"$2"* ]]; then echo "$m"; return 0; fi
    done
    return 1
}

declare -A CID=() SUP=() FIRST=() LAST=() MAXP=() SVC_FIRST=() SVC_LAST=()
for peer in "${peers[@]}"; do
    CID[$peer]=$(dk "$peer" run -d --network none --health-cmd true --health-interval 1s --health-retries 1 \
                 busybox sleep 86400) || die "$peer: docker run with a healthcheck failed"
done
if has_peer skiff; then
    CID[skiff.none]=$(dk skiff run -d --network none busybox sleep 86400) || die "skiff: docker run failed"
fi
sleep 2
for key in "${!CID[@]}"; do
    SUP[$key]=$(supervisor "${key%%.*}" "${CID[$key]}") || die "$key: no supervisor found for ${CID[$key]}"
done

# Podman without systemd: what its timer would run, every second, as the test user.
PODMAN_DRIVER_PID=""
if has_peer podman; then
    ( while :; do
          "${AS_USER[@]}" podman --runtime runc --cgroup-manager=cgroupfs --storage-driver "$PODMAN_DRIVER" \
              --root "$T/store/podman/root" --runroot "$XDG/podman-run" healthcheck run "${CID[podman]}" \
              >/dev/null 2>&1 || true
          sleep 1
      done ) &
    PODMAN_DRIVER_PID=$!; track "$PODMAN_DRIVER_PID"
fi

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$OUT/health-$STAMP.raw
: >"$RAW"
log "measuring ${!SUP[*]} for $HC_SECONDS s (a sample every $HC_SAMPLE s)"
end=$((SECONDS + HC_SECONDS))
while :; do
    for key in "${!SUP[@]}"; do
        read -r pss rss < <(mem "${SUP[$key]}")
        [ "$pss" -gt 0 ] || die "$key: the supervisor (pid ${SUP[$key]}) is gone"
        echo "$SECONDS $key $pss $rss" >>"$RAW"
        [ -n "${FIRST[$key]:-}" ] || FIRST[$key]="$pss $rss"
        LAST[$key]="$pss $rss"
        [ "$pss" -gt "${MAXP[$key]:-0}" ] && MAXP[$key]=$pss
    done
    for peer in "${peers[@]}"; do
        read -r pss rss < <(mem "${SVC[$peer]}")
        [ -n "${SVC_FIRST[$peer]:-}" ] || SVC_FIRST[$peer]="$pss $rss"
        SVC_LAST[$peer]="$pss $rss"
        echo "$SECONDS $peer.service $pss $rss" >>"$RAW"
    done
    [ "$SECONDS" -lt "$end" ] || break
    sleep "$HC_SAMPLE"
done
if [ -n "$PODMAN_DRIVER_PID" ]; then stop_pids 5 "$PODMAN_DRIVER_PID"; fi

declare -A STATUS=() RESULTS=()
for peer in "${peers[@]}"; do
    STATUS[$peer]=$(dk "$peer" inspect --format '{{.State.Health.Status}}' "${CID[$peer]}" 2>/dev/null || echo "?")
    RESULTS[$peer]=$(dk "$peer" inspect --format '{{len .State.Health.Log}}' "${CID[$peer]}" 2>/dev/null || echo "?")
done

# ---------------------------------------------------------------- the table
TXT=$OUT/health-$STAMP.txt
{
    echo "Supervisor memory with a healthcheck every second, over $HC_SECONDS s (KiB; sampled every $HC_SAMPLE s)"
    echo "load average at the start: $LOAD_START; peers: ${peers[*]}"
    for peer in "${peers[@]}"; do echo "  $peer: ${R[$peer.version]:-?}"; done
    printf '%-22s %-26s %9s %9s %9s %9s %9s %9s  %s\n' peer supervisor "PSS first" "PSS last" "PSS max" growth \
        "RSS first" "RSS last" "health (log)"
    for key in $(printf '%s\n' "${!SUP[@]}" | sort); do
        peer=${key%%.*}
        case $key in
            skiff) what="skiff-relay" ;;
            skiff.none) what="skiff-relay, no healthcheck" ;;
            podman) what="conmon (checks: podman healthcheck run)" ;;
            docker) what="containerd-shim-runc-v2" ;;
        esac
        read -r p0 r0 <<<"${FIRST[$key]}"; read -r p1 r1 <<<"${LAST[$key]}"
        flag=""; [ $((r1 - r0)) -gt 64 ] && flag=" GROWS"
        health="-"; [ "$key" = "$peer" ] && health="${STATUS[$peer]} (${RESULTS[$peer]})"
        printf '%-22s %-26s %9d %9d %9d %+9d %9d %9d  %s%s\n' "$key" "$what" "$p0" "$p1" "${MAXP[$key]}" \
            $((p1 - p0)) "$r0" "$r1" "$health" "$flag"
    done
    echo "services (the daemon runs Docker's checks):"
    for peer in "${peers[@]}"; do
        read -r p0 r0 <<<"${SVC_FIRST[$peer]}"; read -r p1 r1 <<<"${SVC_LAST[$peer]}"
        printf '  %-8s PSS %d -> %d, RSS %d -> %d\n' "$peer" "$p0" "$p1" "$r0" "$r1"
    done
    echo "target: no growth of the supervisor's RSS over the run (issue 13); Skiff's relay with a healthcheck as small as without"
    for n in "${NOTES[@]}"; do echo "note: $n"; done
} | tee "$TXT"
cp "$TXT" "$OUT/health-last.txt"
