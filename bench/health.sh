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

BENCH_TAG=hc BENCH_PART=health
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"

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
