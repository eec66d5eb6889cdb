#!/usr/bin/env bash
# bench/cgroups.sh — the cgroups part of `make bench` (BENCH_PARTS=cgroups): what a cgroup per
# container costs, Skiff vs Podman vs Docker, each through its own unix socket.
#
# Peers, image, clients and clean-up as bench/containers.sh (bench/peers.sh): Skiff and Podman
# rootless as the test user (Podman with --runtime runc --cgroup-manager=cgroupfs), Docker
# rootful. Measures, round-robin over the peers after BENCH_CG_WARMUPS unmeasured rounds,
# BENCH_CG_RUNS runs each, the wall time of the docker CLI process for
#   1. `docker run --rm --network none busybox true`
#   2. `docker run --rm --network none --memory 64m --pids-limit 100 busybox true`
# and their difference (the cost of the limits: what each engine does for them on this host's
# hierarchy). On a host with a cgroup2 mount at /sys/fs/cgroup/unified (a v1/v2 hybrid) a second
# Skiff service ("skiff-cg2") runs in a subtree of it delegated to the test user by chown, so each
# of its containers gets a cgroup v2 cgroup of its own (made, joined, removed); it is measured
# with (1), against plain rootless Skiff (which has no cgroups here): the cost of a cgroup per
# container. (There the unified hierarchy has no controllers, so skiff-cg2 refuses (2).)
# Prints one table to bench/out/cgroups-<time>.txt (and cgroups-last.txt). No target is asserted;
# the issue's aim is a cost under 2 ms.
#
# Knobs: SKIFF_BIN, BENCH_PEERS, BENCH_CG_RUNS=20, BENCH_CG_WARMUPS=2, BENCH_CG_DELEGATED=1 (0:
# no skiff-cg2), BENCH_NO_INSTALL=1, BENCH_DOCKER_CLI, BENCH_PODMAN_DRIVER=overlay, BENCH_TMPDIR,
# SKIFF_TEST_USER.
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
PEERS=${BENCH_PEERS:-skiff podman docker}
RUNS=${BENCH_CG_RUNS:-20}
WARMUPS=${BENCH_CG_WARMUPS:-2}
DELEGATED=${BENCH_CG_DELEGATED:-1}
PODMAN_DRIVER=${BENCH_PODMAN_DRIVER:-overlay}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/opt/swift/usr/bin:$SYS_PATH
UNIFIED=/sys/fs/cgroup/unified

log() { printf '[bench-cgroups %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages, starts a rootful dockerd, delegates a cgroup)"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_CG_RUNS must be a positive integer, not '$RUNS'"
[[ $WARMUPS =~ ^[0-9]+$ ]] || die "BENCH_CG_WARMUPS must be an integer >= 0"
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
fi
if has_peer docker; then
    for t in dockerd containerd containerd-shim-runc-v2; do command -v "$t" >/dev/null || die "$t not found"; done
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
    for b in skiff skiff-image skiff-monitor skiff-runtime; do [ -x "$SKIFF_DIR/$b" ] || die "$SKIFF_DIR/$b missing"; done
fi
mkdir -p "$OUT"

BENCH_TAG=cg BENCH_PART=cgroups
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"
install -m 0755 "$SKIFF_DIR/skiff-runtime" "$T/bin/" 2>/dev/null || true

# ---------------------------------------------------------------- skiff-cg2: a delegated cgroup2 subtree
CG=""
cg_remove() {   # the delegated subtree, bottom-up (its processes are this run's: killed)
    [ -n "$CG" ] && [ -d "$CG" ] || return 0
    local d p i
    for ((i = 0; i < 100; i++)); do
        find "$CG" -depth -type d -exec rmdir {} \; 2>/dev/null || true
        [ -d "$CG" ] || return 0
        for d in $(find "$CG" -type d); do
            for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        done
        sleep 0.05
    done
    log "could not remove $CG"
}
# First the delegated subtree (what runs in it is this run's skiff-cg2 service, its monitors and
# containers: killed there), then peers.sh's cleanup, which exits with the status.
cg_exit() { local rc=$?; set +e; cg_remove; (exit "$rc"); cleanup; }
trap cg_exit EXIT
if has_peer skiff && [ "$DELEGATED" = 1 ]; then
    if [ -f "$UNIFIED/cgroup.procs" ]; then
        CG=$UNIFIED/skiff-bench-cg2-$$   # (dockerd's --cgroup-parent is skiff-bench-cg-PID)
        mkdir "$CG" "$CG/service"
        for d in "$CG" "$CG/service"; do
            chown "$TUID:$TGID" "$d" "$d/cgroup.procs" "$d/cgroup.subtree_control" "$d/cgroup.threads"
        done
        SOCK[skiffcg2]=$XDG/skiff-cg2.sock
        mkdir -p "$T/store/skiff-cg2"; chown "$TUID:$TGID" "$T/store/skiff-cg2"
        sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$CG/service" \
            "${AS_USER[@]}" XDG_DATA_HOME="$T/store/skiff-cg2" "$T/bin/skiff" service --socket "${SOCK[skiffcg2]}" \
            --time 0 >"$T/logs/skiffcg2.log" 2>&1 &
        SVC[skiffcg2]=$!; track "${SVC[skiffcg2]}"
        wait_ping skiffcg2 "$T/logs/skiffcg2.log"
        dk skiffcg2 load -i "$IMAGE_ARCHIVE" >"$T/logs/skiffcg2-load.log" 2>&1 || die "skiff-cg2: docker load failed"
        id=$(dk skiffcg2 run -d --network none busybox sleep 30) || die "skiff-cg2: docker run -d failed"
        [ -d "$CG/skiff/$id" ] || die "skiff-cg2: the container has no cgroup at $CG/skiff/$id"
        dk skiffcg2 rm -f "$id" >/dev/null
        [ ! -d "$CG/skiff/$id" ] || die "skiff-cg2: $CG/skiff/$id left after rm"
        R[skiffcg2.driver]=$(dk skiffcg2 info --format '{{.CgroupDriver}}')
    else
        note "no cgroup2 mount at $UNIFIED: skiff-cg2 not measured"
    fi
fi
for peer in "${peers[@]}"; do R[$peer.driver]=$(dk "$peer" info --format '{{.CgroupDriver}}' 2>/dev/null || echo '?'); done

# ---------------------------------------------------------------- measures
plain=(run --rm --network none busybox true)
limited=(run --rm --network none --memory 64m --pids-limit 100 busybox true)
columns=("${peers[@]}")
[ -n "${SOCK[skiffcg2]:-}" ] && columns+=(skiffcg2)
for c in "${columns[@]}"; do
    if [ "$c" != skiffcg2 ]; then
        err=$(dk "$c" "${limited[@]}" 2>&1) || note "$c: \`docker ${limited[*]}\` failed: $(tr '\n' ' ' <<<"$err" | cut -c1-200)"
    fi
done
log "docker run --rm, without and with --memory 64m --pids-limit 100: $WARMUPS warm-up + $RUNS runs, round-robin"
for ((i = 0; i < WARMUPS + RUNS; i++)); do
    for c in "${columns[@]}"; do
        t0=$(now); dk "$c" "${plain[@]}" >/dev/null || die "$c: docker ${plain[*]} failed"; t=$(since "$t0")
        [ "$i" -ge "$WARMUPS" ] && V[$c.plain]+="$t "
        [ "$c" = skiffcg2 ] && continue
        t0=$(now); dk "$c" "${limited[@]}" >/dev/null 2>&1 || continue; t=$(since "$t0")
        [ "$i" -ge "$WARMUPS" ] && V[$c.limited]+="$t "
    done
done
for c in "${columns[@]}"; do
    for m in plain limited; do
        # shellcheck disable=SC2086
        [ -n "${V[$c.$m]:-}" ] && R[$c.$m]=$(stats ${V[$c.$m]})
    done
done

# ---------------------------------------------------------------- the kernel's part: clone3 into a cgroup vs a move
# bench/cgroup-spawn.c, as root, on an empty cgroup of this run's: what the runtime's two ways of
# putting the container's process into its cgroup cost on this kernel, with a gap between calls
# as between container starts (docs/cgroups.md "Measured").
SPAWN=()
SPAWN_ROUNDS=${BENCH_CG_SPAWN_ROUNDS:-40}
if command -v cc >/dev/null && cc -O2 -o "$T/cgroup-spawn" "$ROOT/bench/cgroup-spawn.c" 2>"$T/logs/cgroup-spawn-cc.log"; then
    for hierarchy in "$UNIFIED" /sys/fs/cgroup/memory /sys/fs/cgroup; do
        [ -f "$hierarchy/cgroup.procs" ] || continue
        d=$hierarchy/skiff-bench-spawn-$$
        mkdir "$d" 2>/dev/null || continue
        while IFS= read -r line; do SPAWN+=("$(findmnt -no FSTYPE -T "$hierarchy") $hierarchy: $line"); done \
            < <("$T/cgroup-spawn" "$d" "$SPAWN_ROUNDS" 50 2>&1)
        rmdir "$d" 2>/dev/null || true
        [ "$hierarchy" = /sys/fs/cgroup/memory ] && break
    done
else
    note "no C compiler (cc): bench/cgroup-spawn.c not run"
fi

# ---------------------------------------------------------------- the table
diffms() { awk -v a="$(field "$1" 1)" -v b="$(field "$2" 1)" 'BEGIN{printf "%+.1f", a - b}'; }
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
TABLE=$OUT/cgroups-$STAMP.txt
{
    echo "bench/cgroups.sh $STAMP: load at start $LOAD_START, at end $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs"
    for c in "${columns[@]}"; do
        v=${R[$c.version]:-${R[skiff.version]:-?}}
        echo "  $c: $v; CgroupDriver ${R[$c.driver]:-?}"
    done
    [ -n "$CG" ] && echo "  skiff-cg2: rootless Skiff in $CG/service (delegated by chown): a cgroup2 cgroup per container"
    echo
    printf '%-52s' "ms: median (min-max)"
    for c in "${columns[@]}"; do printf '%-24s' "$c"; done
    echo
    for m in plain limited; do
        [ "$m" = plain ] && printf '%-52s' "docker ${plain[*]}" || printf '%-52s' "... --memory 64m --pids-limit 100"
        for c in "${columns[@]}"; do
            if [ -n "${R[$c.$m]:-}" ]; then
                printf '%-24s' "$(field "${R[$c.$m]}" 1) ($(field "${R[$c.$m]}" 2)-$(field "${R[$c.$m]}" 3))"
            else
                printf '%-24s' "n/a"
            fi
        done
        echo
    done
    printf '%-52s' "cost of the limits (median difference)"
    for c in "${columns[@]}"; do
        if [ -n "${R[$c.limited]:-}" ]; then printf '%-24s' "$(diffms "${R[$c.limited]}" "${R[$c.plain]}")"; else printf '%-24s' "n/a"; fi
    done
    echo
    if [ -n "${R[skiffcg2.plain]:-}" ] && [ -n "${R[skiff.plain]:-}" ]; then
        echo "cost of a cgroup2 cgroup per container (skiff-cg2 - skiff, run --rm true): $(diffms "${R[skiffcg2.plain]}" "${R[skiff.plain]}") ms"
    fi
    if [ ${#SPAWN[@]} -gt 0 ]; then
        echo
        echo "a new process into a cgroup, this kernel (bench/cgroup-spawn.c, $SPAWN_ROUNDS rounds, 50 ms apart):"
        for line in "${SPAWN[@]}"; do echo "  $line"; done
    fi
    for n in "${NOTES[@]}"; do echo "note: $n"; done
} | tee "$TABLE"
cp "$TABLE" "$OUT/cgroups-last.txt"
