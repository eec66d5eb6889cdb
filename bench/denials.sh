#!/usr/bin/env bash
# bench/denials.sh — the denials part of `make bench` (BENCH_PARTS=denials): what explaining
# refused syscalls costs (docs/denials.md). Skiff rootless only, with containers.conf
# `explain_denials = true` and `= false` (the service restarted between the two), round-robin:
#   1. `docker run --rm busybox true`: wall time of the CLI (the filter of every container carries
#      the listener when explanation is on);
#   2. a syscall-heavy workload, `find / >/dev/null` in a larger image (busybox and
#      BENCH_DENIAL_TREE_FILES files in 100-file directories, imported from a tarball): allowed
#      syscalls only, so on and off must not differ beyond noise. Timed inside the container
#      (bench/findloop.c, ms per pass, neither a container's start nor an exec's counted), in
#      three long-running containers created in the first round (explanation on, off, and
#      learning a profile), `docker exec`ed in turn, interleaved (on off learn, then learn off on,
#      ...), after the rounds and a warm-up exec each: BENCH_DENIAL_FIND_EXECS execs per
#      container, BENCH_DENIAL_FINDS passes each; the table gives every pass's figures and the
#      ratios paired by exec (exec i of one container against exec i of the other);
#   3. bench/denyloop.c inside a container without CAP_SYS_CHROOT (default_capabilities without
#      SYS_CHROOT): ns per refused chroot(2) (explained: a round trip to the supervisor; not
#      explained: the kernel's errno) and ns per allowed getppid(2), and the errno seen (the same
#      both ways).
#   4. the same workload as 2 in the container created with `--security-opt seccomp-learn=FILE`
#      (every syscall a round trip to the supervisor) against the one without (explanation off);
#   5. healthcheck probes that are refused nothing (`--health-cmd true`, every second, in two
#      containers created in the first round): the duration of each (End - Start of
#      State.Health.Log, collected after every mode of every round), explanation on (the probe
#      hands its listener to the container's supervisor) and off.
# Peers' set-up is bench/peers.sh's (temp tree, image, cleanup). Raw numbers go to
# bench/out/denials-<time>.raw, the table to bench/out/denials-<time>.txt (and denials-last.txt).
#
# Knobs (environment): SKIFF_BIN, BENCH_NO_INSTALL, BENCH_TMPDIR, BENCH_DOCKER_CLI, SKIFF_TEST_USER
# (as bench/containers.sh), and
#   BENCH_DENIAL_ROUNDS=3       on/off rounds
#   BENCH_DENIAL_RUNS=10        `docker run --rm busybox true` per mode and round
#   BENCH_DENIAL_FINDS=3        `find /` passes per exec of the workload
#   BENCH_DENIAL_FIND_EXECS=12  execs of the workload per container
#   BENCH_DENIAL_TREE_FILES=50000  files in the workload's image
#   BENCH_DENIAL_CALLS=20000    syscalls per kind in denyloop
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
ROUNDS=${BENCH_DENIAL_ROUNDS:-3}
RUNS=${BENCH_DENIAL_RUNS:-10}
FINDS=${BENCH_DENIAL_FINDS:-3}
FIND_EXECS=${BENCH_DENIAL_FIND_EXECS:-12}
TREE_FILES=${BENCH_DENIAL_TREE_FILES:-50000}
CALLS=${BENCH_DENIAL_CALLS:-20000}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/opt/swift/usr/bin:$SYS_PATH

log() { printf '[bench-denials %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it creates the test user and runs Skiff as it)"
for v in ROUNDS RUNS FINDS FIND_EXECS CALLS TREE_FILES; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v (BENCH_DENIAL_*) must be a positive integer, not '${!v}'"
done
peers=(skiff)
has_peer() { [ "$1" = skiff ]; }
declare -A R=()
declare -A V=()
declare -a NOTES=()
note() { NOTES+=("$*"); log "note: $*"; }

if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    bash "$ROOT/scripts/apt-install-missing.sh" busybox-static python3 procps util-linux gcc ||
        die "apt-get install failed"
fi
for t in setpriv python3 timeout findmnt gcc; do command -v "$t" >/dev/null || die "$t not found"; done
DOCKER_CLI=${BENCH_DOCKER_CLI:-/usr/local/bin/docker}
[ -x "$DOCKER_CLI" ] || DOCKER_CLI=$(command -v docker) || die "no docker CLI"

SKIFF_TEST_USER=$USER_NAME bash "$ROOT/scripts/setup-test-user.sh"
TUID=$(id -u "$USER_NAME")
TGID=$(id -g "$USER_NAME")
if [ -n "${SKIFF_BIN:-}" ]; then
    [ -x "$SKIFF_BIN" ] || die "SKIFF_BIN=$SKIFF_BIN is not an executable"
    SKIFF_BIN_GIVEN=1
else
    for product in skiff skiff-image skiff-monitor skiff-relay; do
        log "building $product (release, static Swift stdlib)"
        (cd "$ROOT" && swift build -c release --static-swift-stdlib --product "$product") >&2 ||
            die "swift build of $product failed"
    done
    SKIFF_BIN=$ROOT/.build/release/skiff
fi
SKIFF_DIR=$(dirname "$SKIFF_BIN")
mkdir -p "$OUT"

BENCH_TAG=denials BENCH_PART=denials
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"

gcc -O2 -static -o "$T/bin/denyloop" "$ROOT/bench/denyloop.c" || die "building bench/denyloop.c failed"
chmod 0755 "$T/bin/denyloop"
gcc -O2 -static -o "$T/bin/findloop" "$ROOT/bench/findloop.c" || die "building bench/findloop.c failed"
chmod 0755 "$T/bin/findloop"

# bigtree: a static busybox and TREE_FILES small files under /tree (100 a directory), imported
# from a tarball: what `find /` walks.
SRC=$T/bigtree/rootfs
mkdir -p "$SRC/bin" "$SRC/tree"
cp /bin/busybox "$SRC/bin/busybox"
for tool in sh true find wc sleep; do ln -s busybox "$SRC/bin/$tool"; done
(cd "$SRC/tree" && for ((i = 0; i < TREE_FILES; i++)); do
    d=d$((i / 100)); [ -d "$d" ] || mkdir "$d"; echo "$i" >"$d/f$i"
done)
tar -C "$SRC" -cf "$T/bigtree/bigtree.tar" .
chmod -R a+rX "$T/bigtree"

# containers.conf for a mode: Podman's capabilities without SYS_CHROOT (the seed's), explanation on or off
configure() {
    mkdir -p "$T/config/containers"
    cat >"$T/config/containers/containers.conf" <<CONF
[containers]
default_capabilities = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID"]
explain_denials = $1
CONF
    chown -R "$TUID:$TGID" "$T/config"
}

restart_skiff() {
    if [ -n "${SVC[skiff]:-}" ]; then stop_pids 10 "${SVC[skiff]}"; fi
    rm -f "${SOCK[skiff]:-/nonexistent}"
    start_skiff
}

timed() { local t0; t0=$(now); "$@" >/dev/null 2>&1 || true; since "$t0"; }

# The probes' results so far (State.Health.Log keeps the last 5): `START SECONDS` per successful
# probe, each once, in $T/probes-MODE.
collect_probes() {
    local mode health
    for mode in on off; do
        touch "$T/probes-$mode"
        # (probe-off is not there yet in the first round's first mode)
        health=$(dk skiff inspect --format '{{json .State.Health.Log}}' "probe-$mode" 2>/dev/null) || continue
        python3 -c '
import json, sys, datetime
def t(s):
    head, _, frac = s.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc).timestamp() + float("0." + (frac or "0"))
seen = {line.split()[0] for line in open(sys.argv[1]) if line.strip()}
with open(sys.argv[1], "a") as out:
    for e in json.load(sys.stdin) or []:
        if e["ExitCode"] == 0 and e["Start"] not in seen:
            out.write("%s %.6f\n" % (e["Start"], t(e["End"]) - t(e["Start"])))' "$T/probes-$mode" <<<"$health"
    done
}

first=1
for ((round = 1; round <= ROUNDS; round++)); do
    for mode in on off; do
        configure "$([ $mode = on ] && echo true || echo false)"
        restart_skiff
        if [ $first = 1 ]; then
            dk skiff load -i "$IMAGE_ARCHIVE" >/dev/null
            dk skiff import "$T/bigtree/bigtree.tar" bigtree >/dev/null || die "docker import of bigtree failed"
            n=$(dk skiff run --rm --network none bigtree sh -c 'find /tree -type f | wc -l' 2>/dev/null | tr -d ' ')
            [ "$n" = "$TREE_FILES" ] || die "bigtree has $n files under /tree, not $TREE_FILES"
            first=0
        fi
        if [ $round = 1 ]; then
            # The workload's containers (and the probes'): created now, with this mode's filter,
            # measured after the rounds.
            dk skiff run -d --name "walk-$mode" --network none -v "$T/bin/findloop:/findloop:ro" \
                bigtree sleep 100000 >/dev/null || die "starting walk-$mode failed"
            dk skiff run -d --name "probe-$mode" --network none --health-cmd true --health-interval 1s \
                busybox sleep 100000 >/dev/null || die "starting probe-$mode failed"
            if [ $mode = on ]; then
                dk skiff run -d --name walk-learn --network none -v "$T/bin/findloop:/findloop:ro" \
                    --security-opt "seccomp-learn=$T/home/learned.json" bigtree sleep 100000 >/dev/null ||
                    die "starting walk-learn failed"
            fi
        fi
        log "round $round, explanation $mode"
        dk skiff run --rm busybox true >/dev/null 2>&1 || true   # warm-up
        for ((i = 0; i < RUNS; i++)); do
            V[$mode.run]+=" $(timed dk skiff run --rm --network none busybox true)"
        done
        line=$(dk skiff run --rm --network none -v "$T/bin/denyloop:/denyloop:ro" busybox /denyloop "$CALLS")
        log "  denyloop: $line"
        V[$mode.refused]+=" $(sed -n 's/.*refused_ns=\([0-9.]*\).*/\1/p' <<<"$line")"
        V[$mode.allowed]+=" $(sed -n 's/.*allowed_ns=\([0-9.]*\).*/\1/p' <<<"$line")"
        V[$mode.errno]+=" $(sed -n 's/.*errno=\([0-9]*\).*/\1/p' <<<"$line")"
        collect_probes
    done
done

collect_probes
for mode in on off; do
    V[$mode.probe]=$(awk '{printf " %s", $2}' "$T/probes-$mode")
    [ -n "${V[$mode.probe]}" ] || die "probe-$mode recorded no successful probe"
    dk skiff rm -f "probe-$mode" >/dev/null
done

# The workload, interleaved: each exec's passes (ms) as seconds, and per exec the mean of its
# passes (for the paired ratios: on and off measured next to each other). One warm-up exec each
# first (the first walk of a container's tree reads the image's directories cold).
for mode in on off learn; do dk skiff exec "walk-$mode" /findloop 1 >/dev/null || die "findloop in walk-$mode failed"; done
for ((i = 1; i <= FIND_EXECS; i++)); do
    order="on off learn"; [ $((i % 2)) = 0 ] && order="learn off on"
    for mode in $order; do
        line=$(dk skiff exec "walk-$mode" /findloop "$FINDS") || die "findloop in walk-$mode failed: $line"
        V[$mode.find]+=" $(sed -n 's/^pass_ms=//p' <<<"$line" | tr ',' '\n' | awk '{printf " %.6f", $1 / 1000}')"
        V[$mode.findexec]+=" $(sed -n 's/^pass_ms=//p' <<<"$line" | tr ',' '\n' | awk '{t += $1} END{printf "%.3f", t / NR}')"
    done
    log "workload exec $i/$FIND_EXECS done"
done
dk skiff kill walk-learn >/dev/null
for _ in $(seq 100); do [ -s "$T/home/learned.json" ] && break; sleep 0.1; done
[ -s "$T/home/learned.json" ] || note "the learning container wrote no profile"

med() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
TS=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$OUT/denials-$TS.raw
{
    echo "# bench/denials.sh raw figures, $TS: MODE METRIC VALUES (run, find: seconds; refused, allowed: ns per call)"
    for k in $(printf '%s\n' "${!V[@]}" | sort); do echo "${k%%.*} ${k#*.} ${V[$k]}"; done
} >"$RAW"

TABLE=$OUT/denials-$TS.txt
{
    echo
    echo "Skiff denials benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
    echo "  Skiff: ${R[skiff.version]}, rootless as $USER_NAME; $ROUNDS rounds of explanation on/off"
    echo "  load average at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    printf '%-58s %-22s %-22s %s\n' "metric: median (min-max)" "explanation on" "explanation off" "on / off"
    for m in run find probe; do
        # shellcheck disable=SC2086
        on=$(stats ${V[on.$m]}); off=$(stats ${V[off.$m]})
        label="docker run --rm busybox true (ms), n=$((ROUNDS * RUNS))"
        [ $m = find ] && label="find / of $TREE_FILES files, one pass (ms), n=$((FIND_EXECS * FINDS))"
        [ $m = probe ] && label="healthcheck probe 'true', End - Start (ms), n=$(wc -w <<<"${V[on.$m]}")/$(wc -w <<<"${V[off.$m]}")"
        printf '%-58s %-22s %-22s %s\n' "$label" \
            "$(awk -v s="$on" 'BEGIN{split(s,a," "); printf "%.0f (%.0f-%.0f)", a[1], a[2], a[3]}')" \
            "$(awk -v s="$off" 'BEGIN{split(s,a," "); printf "%.0f (%.0f-%.0f)", a[1], a[2], a[3]}')" \
            "$(awk -v a="$on" -v b="$off" 'BEGIN{split(a,x," "); split(b,y," "); printf "%.3f", x[1] / y[1]}')"
    done
    # Paired: exec i of one container against exec i of the other (interleaved, next to each other).
    paired() {
        # shellcheck disable=SC2086
        paste <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '{print $1 / $2}' | sort -g |
            awk '{v[NR]=$1} END{m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%.3f (%.3f-%.3f)", m, v[1], v[NR]}'
    }
    printf '%-58s %s\n' "find / on / off, paired by exec: median (min-max), n=$FIND_EXECS" \
        "$(paired "${V[on.findexec]}" "${V[off.findexec]}")"
    printf '%-58s %s\n' "find / learning / off, paired by exec: median (min-max)" \
        "$(paired "${V[learn.findexec]}" "${V[off.findexec]}")"
    for m in allowed refused; do
        # shellcheck disable=SC2086
        on=$(med ${V[on.$m]}); off=$(med ${V[off.$m]})
        label="ns per allowed getppid(2), n=$CALLS x $ROUNDS"
        [ $m = refused ] && label="ns per refused chroot(2), n=$CALLS x $ROUNDS"
        printf '%-58s %-22s %-22s %s\n' "$label" "$on" "$off" "$(awk -v a="$on" -v b="$off" 'BEGIN{printf "%.3f", a / b}')"
    done
    printf '%-58s %-22s %-22s\n' "errno of the refused call" "$(med ${V[on.errno]})" "$(med ${V[off.errno]})"
    printf '%-58s %s\n' "cost of one explained refusal (ns, on - off)" \
        "$(awk -v a="$(med ${V[on.refused]})" -v b="$(med ${V[off.refused]})" 'BEGIN{printf "%.0f", a - b}')"
    # shellcheck disable=SC2086
    learn=$(stats ${V[learn.find]}); plain=$(stats ${V[off.find]})
    printf '%-58s %-22s %-22s %s\n' "find / one pass, learning vs explanation off (ms)" \
        "$(awk -v s="$learn" 'BEGIN{split(s,a," "); printf "%.0f (%.0f-%.0f)", a[1], a[2], a[3]}')" \
        "$(awk -v s="$plain" 'BEGIN{split(s,a," "); printf "%.0f (%.0f-%.0f)", a[1], a[2], a[3]}')" \
        "$(awk -v a="$learn" -v b="$plain" 'BEGIN{split(a,x," "); split(b,y," "); printf "%.2f", x[1] / y[1]}')"
    if [ ${#NOTES[@]} -gt 0 ]; then echo; echo "notes:"; for n in "${NOTES[@]}"; do echo "  - $n"; done; fi
    echo
    echo "raw figures: $RAW"
} | tee "$TABLE"
cp "$TABLE" "$OUT/denials-last.txt"
log "table saved to $TABLE"
