#!/usr/bin/env bash
# bench/build.sh — the build part of `make bench` (issue 17): `docker build` with the classic
# builder (DOCKER_BUILDKIT=0: the docker CLI here has no buildx), Skiff vs Podman (buildah
# behind its compat API, --runtime runc --cgroup-manager=cgroupfs) vs Docker 20.10's classic
# builder, each through its own unix socket with the same docker CLI.
#
# The Dockerfile has 10 steps: FROM busybox, ENV, LABEL, WORKDIR, COPY of a directory of
# BENCH_BUILD_FILES small files, three RUNs, ENV, CMD. Measured, wall time of the CLI:
#   cold:    --no-cache (every step runs);
#   cached:  the same context again (every step from the cache);
#   changed: one of the small files changed (the COPY and the steps after it run again).
# BENCH_BUILD_RUNS runs of each after one unmeasured, round-robin over the peers. Target: Skiff
# at most 0.5x the faster peer on each. Table in bench/out/build-<time>.txt (and build-last.txt).
#
# Knobs: those of bench/containers.sh that pick peers and binaries (SKIFF_BIN, BENCH_PEERS,
# BENCH_PODMAN_DRIVER, BENCH_DOCKER_CLI, BENCH_NO_INSTALL, BENCH_STRICT, BENCH_TMPDIR,
# SKIFF_TEST_USER), and
#   BENCH_BUILD_FILES=1000      small files in the copied directory
#   BENCH_BUILD_RUNS=5          measured builds of each kind per peer
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
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

log() { printf '[bench-build %s] %s\n' "$(date +%T)" "$*" >&2; }
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

BENCH_TAG=bd BENCH_PART=build
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"

BUILD_FILES=${BENCH_BUILD_FILES:-1000}
BUILD_RUNS=${BENCH_BUILD_RUNS:-5}
for v in BUILD_FILES BUILD_RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v (BENCH_BUILD_*) must be a positive integer, not '${!v}'"
done

# ---------------------------------------------------------------- the context
CTX=$T/buildctx
mkdir -p "$CTX/files"
(cd "$CTX/files" && for ((i = 0; i < BUILD_FILES; i++)); do echo "file $i" >"f$i"; done)
cat >"$CTX/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV APP=/app
LABEL bench=build
WORKDIR /app
COPY files/ /app/files/
RUN ls /app/files | wc -l > /app/count
RUN echo built > /app/built
RUN cat /app/files/f0 > /app/first
ENV DONE=1
CMD ["cat", "/app/count"]
DOCKERFILE
chmod -R a+rX "$CTX"
bk() { local peer=$1; shift; DOCKER_BUILDKIT=0 dk_env "$peer" build -q "$@" "$CTX"; }
dk_env() {
    local peer=$1; shift
    env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" DOCKER_HOST="unix://${SOCK[$peer]}" \
        DOCKER_BUILDKIT=0 "$DOCKER_CLI" "$@"
}
for peer in "${peers[@]}"; do
    log "$peer: first build (checked)"
    id=$(bk "$peer" -t benchbuild --no-cache) || die "$peer: docker build failed"
    n=$(dk "$peer" run --rm --network none benchbuild) || die "$peer: running the built image failed"
    [ "$(echo "$n" | tr -d ' ')" = "$BUILD_FILES" ] || die "$peer: the image counts $n files, not $BUILD_FILES"
done

# ---------------------------------------------------------------- cold, cached, one changed file
for ((i = 0; i <= BUILD_RUNS; i++)); do
    for peer in "${peers[@]}"; do
        t0=$(now); bk "$peer" --no-cache >/dev/null || die "$peer: cold build failed"
        tcold=$(since "$t0")
        t0=$(now); bk "$peer" >/dev/null || die "$peer: cached build failed"
        tcached=$(since "$t0")
        echo "change $i $peer" >"$CTX/files/f$((BUILD_FILES / 2))"
        t0=$(now); bk "$peer" >/dev/null || die "$peer: build after a change failed"
        tchanged=$(since "$t0")
        [ "$i" = 0 ] && continue
        V[$peer.cold]="${V[$peer.cold]:-} $tcold"
        V[$peer.cached]="${V[$peer.cached]:-} $tcached"
        V[$peer.changed]="${V[$peer.changed]:-} $tchanged"
    done
done

# ---------------------------------------------------------------- stop the services
for peer in "${peers[@]}"; do
    stop_pids 20 "${SVC[$peer]}"
done
if has_peer docker; then stop_pids 10 "$CTD_PID"; fi
p=$(podman_pause); if [ -n "$p" ]; then stop_pids 5 "$p"; fi
for peer in "${peers[@]}"; do
    left=$(monitors "$peer" | tr '\n' ' ')
    [ -z "$left" ] || note "$peer: monitor processes left after the service stopped: $left (stopped by the clean-up)"
done

# ---------------------------------------------------------------- figures
for peer in "${peers[@]}"; do
    for m in cold cached changed; do
        # shellcheck disable=SC2086
        [ -n "${V[$peer.$m]:-}" ] && R[$peer.$m]=$(stats ${V[$peer.$m]})
    done
done

TS=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
RAW=$OUT/build-$TS.raw
{
    echo "# bench/build.sh raw figures, $TS: PEER METRIC VALUES (seconds)"
    for peer in "${peers[@]}"; do
        for k in $(printf '%s\n' "${!V[@]}" | grep "^$peer\." | sort); do echo "$peer ${k#*.} ${V[$k]}"; done
    done
} >"$RAW"

# ---------------------------------------------------------------- report
declare -A LABEL=([skiff]="Skiff" [podman]="Podman ${R[podman.version]:-}" [docker]="Docker ${R[docker.version]:-}")
LABEL[docker]=${LABEL[docker]%% + *}
others=()
for p in "${peers[@]}"; do [ "$p" = skiff ] || others+=("$p"); done

# shellcheck source=bench/table.sh
source "$ROOT/bench/table.sh"

TABLE=$OUT/build-$TS.txt
{
    echo
    echo "Skiff build benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
    if has_peer skiff; then echo "  Skiff:  ${R[skiff.version]}, rootless as $USER_NAME"
    elif [ -n "$SKIFF_SKIPPED" ]; then echo "  Skiff:  not measured: $SKIFF_SKIPPED"; fi
    has_peer podman && echo "  Podman: ${R[podman.version]}, rootless as $USER_NAME, --runtime runc --cgroup-manager=cgroupfs, storage driver $PODMAN_DRIVER"
    has_peer docker && echo "  Docker: ${R[docker.version]}, rootful, overlay2"
    echo "  client: docker CLI $("$DOCKER_CLI" --version | awk '{print $3}' | tr -d ,) ($DOCKER_CLI); a 10-step Dockerfile with a COPY of $BUILD_FILES small files; DOCKER_BUILDKIT=0"
    echo "  load average at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: compare within one run)"
    echo
    printf '%-46s' "metric: median (min-max)"
    for p in "${peers[@]}"; do printf '%-30s' "${LABEL[$p]}"; done
    has_peer skiff && [ ${#others[@]} -gt 0 ] && printf '%s' "Skiff vs the faster peer"
    printf '\n'
    row "build, cold --no-cache (ms), n=$BUILD_RUNS"       cold    low "%.0f"
    row "build, fully cached (ms), n=$BUILD_RUNS"          cached  low "%.0f"
    row "build, one file changed (ms), n=$BUILD_RUNS"      changed low "%.0f"
    echo
    echo "targets (Skiff):"
    target() { printf '  %-50s %-52s %s\n' "$1" "$3" "$2"; }
    ratio_target() {
        local text=$1 m=$2 limit=$3 b s o
        if ! has_peer skiff || [ -z "${R[skiff.$m]:-}" ]; then target "$text" SKIP "Skiff not measured"; return; fi
        b=$(best_of "$m" low "${others[@]}")
        if [ -z "$b" ]; then target "$text" SKIP "no other peer measured"; return; fi
        s=$(field "${R[skiff.$m]}" 1); o=$(field "${R[$b.$m]}" 1)
        target "$text" "$(awk -v s="$s" -v o="$o" -v l="$limit" 'BEGIN{print (s <= l * o) ? "PASS" : "FAIL"}')" \
            "$(awk -v s="$s" -v o="$o" -v n="${LABEL[$b]%% *}" 'BEGIN{printf "%.1f vs %.1f ms (%s) = %.3fx", s, o, n, s / o}')"
    }
    ratio_target "cold build <= 0.5x the faster peer" cold 0.5
    ratio_target "cached build <= 0.5x the faster peer" cached 0.5
    ratio_target "one-file-changed build <= 0.5x the faster peer" changed 0.5
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        echo "notes:"
        for n in "${NOTES[@]}"; do echo "  - $n"; done
    fi
    echo
    echo "raw figures: $RAW"
} | tee "$TABLE"
cp "$TABLE" "$OUT/build-last.txt"
log "table saved to $TABLE"

if [ "${BENCH_STRICT:-0}" = 1 ] && grep -Eq ' (FAIL|SKIP)$' "$TABLE"; then
    die "a target was missed or not measured (BENCH_STRICT=1)"
fi
