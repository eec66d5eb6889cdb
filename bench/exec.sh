#!/usr/bin/env bash
# bench/exec.sh — the exec part of `make bench` (BENCH_PARTS=exec): `docker exec C true` against a
# running container, Skiff vs Podman vs Docker, each through its own unix socket.
#
# Peers and set-up are bench/containers.sh's (its set-up, services, cleanup and helpers are the
# same code): Skiff rootless (`skiff service --time 0`), Podman rootless (--runtime runc
# --cgroup-manager=cgroupfs), Docker rootful (dockerd + containerd in a temp dir). The busybox image
# of Tests/integration/images.py is loaded into each. Measures, one peer at a time:
#   1. `docker exec bench-exec true` on a running `sleep 3600` container (--network none): wall time
#      of the CLI process, BENCH_EXEC_RUNS runs after BENCH_EXEC_WARMUPS, round-robin over the
#      peers; median and min-max. The CLI floor (`docker image inspect busybox`) is given beside it,
#      and the same `docker exec` against bench/instant_engine.py, an engine of canned answers that
#      costs nothing: the client's own share, under every engine's figure.
#   2. the same exec through the API (bench/ctclient.py exec: POST /containers/{id}/exec, POST
#      /exec/{id}/start with Detach=false read to its end, GET /exec/{id}/json), per step medians.
# Prints one table and Skiff's target: `docker exec C true` <= 0.2x the faster peer.
# Raw numbers go to bench/out/exec-<time>.raw, the table to bench/out/exec-<time>.txt (and
# exec-last.txt).
#
# Knobs (environment): SKIFF_BIN, BENCH_PEERS, BENCH_DOCKER_CLI, BENCH_NO_INSTALL, BENCH_STRICT,
# BENCH_TMPDIR, BENCH_PODMAN_DRIVER, SKIFF_TEST_USER (as bench/containers.sh), and
#   BENCH_EXEC_RUNS=20          measured `docker exec` per peer
#   BENCH_EXEC_WARMUPS=3        unmeasured ones first
#   BENCH_EXEC_API=20           measured API exec cycles per peer
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
PEERS=${BENCH_PEERS:-skiff podman docker}
EXEC_RUNS=${BENCH_EXEC_RUNS:-20}
EXEC_WARMUPS=${BENCH_EXEC_WARMUPS:-3}
EXEC_API=${BENCH_EXEC_API:-20}
PODMAN_DRIVER=${BENCH_PODMAN_DRIVER:-overlay}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/opt/swift/usr/bin:$SYS_PATH

log() { printf '[bench-exec %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts a rootful dockerd)"
for v in EXEC_RUNS EXEC_API; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v (BENCH_EXEC_*) must be a positive integer, not '${!v}'"
done
[[ $EXEC_WARMUPS =~ ^[0-9]+$ ]] || die "BENCH_EXEC_WARMUPS must be an integer >= 0"
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

BENCH_TAG=exec BENCH_PART=exec
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"

# ---------------------------------------------------------------- 0. the CLI floor, the container
for peer in "${peers[@]}"; do
    ts=()
    for i in 0 1 2 3 4 5; do
        t0=$(now); dk "$peer" image inspect -f . busybox >/dev/null || die "$peer: docker image inspect failed"
        [ "$i" -gt 0 ] && ts+=("$(since "$t0")")
    done
    V[$peer.floor]="${ts[*]}"
    dk "$peer" run -d --network none --name bench-exec busybox sleep 3600 >/dev/null ||
        die "$peer: docker run -d of the exec target failed"
    out=$(dk "$peer" exec bench-exec echo ok) && [ "$out" = ok ] || die "$peer: a first docker exec failed: $out"
done

# ---------------------------------------------------------------- 1. docker exec C true
log "1. docker exec bench-exec true: $EXEC_WARMUPS warm-up + $EXEC_RUNS runs per peer, round-robin"
for ((i = 0; i < EXEC_WARMUPS + EXEC_RUNS; i++)); do
    for peer in "${peers[@]}"; do
        t0=$(now)
        dk "$peer" exec bench-exec true || die "$peer: docker exec bench-exec true failed"
        [ "$i" -ge "$EXEC_WARMUPS" ] && V[$peer.exec]+="$(since "$t0") "
    done
done

# the client alone: the same command against an engine that answers at once
INSTANT_SOCK=$T/instant.sock
python3 "$ROOT/bench/instant_engine.py" "$INSTANT_SOCK" &
INSTANT_PID=$!; track "$INSTANT_PID"
for ((i = 0; i < 100; i++)); do [ -S "$INSTANT_SOCK" ] && break; sleep 0.05; done
[ -S "$INSTANT_SOCK" ] || die "bench/instant_engine.py did not listen"
INSTANT=()
for ((i = 0; i < EXEC_WARMUPS + EXEC_RUNS; i++)); do
    t0=$(now)
    env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" DOCKER_HOST="unix://$INSTANT_SOCK" \
        "$DOCKER_CLI" exec bench-exec true || die "docker exec against the instant engine failed"
    [ "$i" -ge "$EXEC_WARMUPS" ] && INSTANT+=("$(since "$t0")")
done
stop_pids 2 "$INSTANT_PID"
R[instant.exec]=$(stats "${INSTANT[@]}")

# ---------------------------------------------------------------- 2. the API
log "2. exec through the API: $EXEC_API cycles per peer"
for peer in "${peers[@]}"; do
    line=$(api "$peer" exec bench-exec "$EXEC_API") || die "$peer: ctclient exec failed: $line"
    # "create S... start S... inspect S... cycle S..." (seconds)
    V[$peer.api_create]=$(sed -n 's/.*create=\([^|]*\).*/\1/p' <<<"$line")
    V[$peer.api_start]=$(sed -n 's/.*start=\([^|]*\).*/\1/p' <<<"$line")
    V[$peer.api_inspect]=$(sed -n 's/.*inspect=\([^|]*\).*/\1/p' <<<"$line")
    V[$peer.api_cycle]=$(sed -n 's/.*cycle=\([^|]*\).*/\1/p' <<<"$line")
    dk "$peer" rm -f bench-exec >/dev/null || die "$peer: removing the exec target failed"
done

# ---------------------------------------------------------------- figures
for peer in "${peers[@]}"; do
    for m in floor exec api_create api_start api_inspect api_cycle; do
        # shellcheck disable=SC2086
        [ -n "${V[$peer.$m]:-}" ] && R[$peer.$m]=$(stats ${V[$peer.$m]})
    done
done
TS=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
RAW=$OUT/exec-$TS.raw
{
    echo "# bench/exec.sh raw figures, $TS: PEER METRIC VALUES (seconds)"
    for peer in "${peers[@]}"; do
        for k in $(printf '%s\n' "${!V[@]}" | grep "^$peer\." | sort); do echo "$peer ${k#*.} ${V[$k]}"; done
    done
} >"$RAW"

declare -A LABEL=([skiff]="Skiff" [podman]="Podman ${R[podman.version]:-}" [docker]="Docker ${R[docker.version]:-}")
LABEL[docker]=${LABEL[docker]%% + *}
others=()
for p in "${peers[@]}"; do [ "$p" = skiff ] || others+=("$p"); done
# shellcheck source=bench/table.sh
source "$ROOT/bench/table.sh"

TABLE=$OUT/exec-$TS.txt
{
    echo
    echo "Skiff exec benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
    if has_peer skiff; then echo "  Skiff:  ${R[skiff.version]}, rootless as $USER_NAME"
    elif [ -n "$SKIFF_SKIPPED" ]; then echo "  Skiff:  not measured: $SKIFF_SKIPPED"; fi
    has_peer podman && echo "  Podman: ${R[podman.version]}, rootless as $USER_NAME, --runtime runc --cgroup-manager=cgroupfs"
    has_peer docker && echo "  Docker: ${R[docker.version]}, rootful, runc"
    echo "  client: docker CLI $("$DOCKER_CLI" --version | awk '{print $3}' | tr -d ,) ($DOCKER_CLI); bench/ctclient.py for the API rows"
    echo "  load average at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: compare within one run)"
    echo
    printf '%-46s' "metric: median (min-max)"
    for p in "${peers[@]}"; do printf '%-30s' "${LABEL[$p]}"; done
    has_peer skiff && [ ${#others[@]} -gt 0 ] && printf '%s' "Skiff vs the faster peer"
    printf '\n'
    row "docker exec C true (ms), n=$EXEC_RUNS"       exec        low "%.0f"
    row "  CLI floor: docker image inspect (ms)"       floor       low "%.0f"
    printf '%-46s%s\n' "  the client alone, an instant engine (ms)" \
        "$(awk -v r="${R[instant.exec]}" 'BEGIN{split(r, a, " "); printf "%.0f (%.0f-%.0f)", a[1], a[2], a[3]}')"
    row "API exec cycle (ms), n=$EXEC_API"             api_cycle   low "%.1f"
    row "  POST /containers/{id}/exec (ms)"            api_create  low "%.1f"
    row "  POST /exec/{id}/start, to the end (ms)"     api_start   low "%.1f"
    row "  GET /exec/{id}/json (ms)"                   api_inspect low "%.1f"
    echo
    echo "targets (Skiff):"
    if ! has_peer skiff || [ -z "${R[skiff.exec]:-}" ]; then
        printf '  %-50s %-52s %s\n' "docker exec C true <= 0.2x the faster peer" "Skiff not measured" SKIP
    elif [ ${#others[@]} -eq 0 ]; then
        printf '  %-50s %-52s %s\n' "docker exec C true <= 0.2x the faster peer" "no other peer measured" SKIP
    else
        b=$(best_of exec low "${others[@]}"); s=$(field "${R[skiff.exec]}" 1); o=$(field "${R[$b.exec]}" 1)
        printf '  %-50s %-52s %s\n' "docker exec C true <= 0.2x the faster peer" \
            "$(awk -v s="$s" -v o="$o" -v n="${LABEL[$b]%% *}" 'BEGIN{printf "%.1f vs %.1f ms (%s) = %.3fx", s, o, n, s / o}')" \
            "$(awk -v s="$s" -v o="$o" 'BEGIN{print (s <= 0.2 * o) ? "PASS" : "FAIL"}')"
        f=$(field "${R[instant.exec]}" 1)
        printf '  %-50s %s\n' "  (the client alone, an instant engine:" \
            "$(awk -v f="$f" -v o="$o" 'BEGIN{printf "%.1f ms = %.3fx of the faster peer: %s)", f, f / o, (f <= 0.2 * o) ? "the target is within reach" : "no engine can meet the target through this CLI on this machine"}')"
    fi
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        echo "notes:"
        for n in "${NOTES[@]}"; do echo "  - $n"; done
    fi
    echo
    echo "raw figures: $RAW"
} | tee "$TABLE"
cp "$TABLE" "$OUT/exec-last.txt"
log "table saved to $TABLE"

if [ "${BENCH_STRICT:-0}" = 1 ] && grep -Eq ' (FAIL|SKIP)$' "$TABLE"; then
    die "a target was missed or not measured (BENCH_STRICT=1)"
fi
