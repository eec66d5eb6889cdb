#!/usr/bin/env bash
# bench/runtime.sh — the OCI runtime part of `make bench`: Skiff's runtime vs crun vs runc.
#
# Measures the wall time of `RUNTIME run --bundle B ID` of /bin/true, from the spawn of the
# runtime to its exit (bench/runloop.c), on the same busybox-static bundle for every runtime
# (Tests/integration/bundle.py: Podman-like defaults, pid/ipc/uts/mount/network namespaces,
# 11 capabilities, masked and read-only paths), in two modes:
#   rootless  as the unprivileged test user (scripts/setup-test-user.sh), XDG_RUNTIME_DIR=/run/user/UID,
#             a user namespace with the same single-id maps for all (container 0 -> the user's
#             uid/gid, size 1); crun with --cgroup-manager=disabled, runc with --rootless true
#             (the bundle has no linux.resources),
#   root      as root, no user namespace.
# Every runtime has its own --root state directory in a temp dir. The floor is a bare
# `unshare` of the same namespaces running /bin/true. Each runtime and mode gets
# BENCH_RT_RUNS measured runs after BENCH_RT_WARMUPS unmeasured ones; the measured runs are
# split into BENCH_RT_ROUNDS rounds that go round-robin over the runtimes, so that load from
# elsewhere on the machine falls on all of them alike. A run counts only if it exits 0.
# Prints one table per mode (median, min, p90, max, ratio of the medians against crun) and the
# target (Skiff's median below crun's).
#
# crun refuses a hybrid cgroup layout (cgroup v1 plus a cgroup2 mount with controllers at
# /sys/fs/cgroup/unified) even with cgroups disabled. Then crun is reported as failed with
# its message, and measured once more in a private mount namespace in which the cgroup2 mount
# is unmounted (so it sees plain cgroup v1, which it accepts); that row is marked.
#
# Must run as root on Debian 12. Installs what is missing, builds skiff-runtime (release,
# static Swift stdlib) when the binary is missing or older than a file under Sources/ (after
# waiting for any other swift-build to finish) unless SKIFF_RUNTIME_BIN names a binary.
# Everything it starts or creates is removed at the end, also on failure.
#
# Knobs (environment):
#   SKIFF_RUNTIME_BIN=PATH     use this skiff-runtime binary, do not build
#   BENCH_RUNTIMES="skiff crun runc unshare"   which rows to measure
#   BENCH_RT_MODES="rootless root"             which modes
#   BENCH_RT_RUNS=100          measured runs per runtime and mode
#   BENCH_RT_WARMUPS=2         unmeasured runs first
#   BENCH_RT_ROUNDS=5          rounds the measured runs are split into (round-robin)
#   BENCH_RT_TIMEOUT=30        seconds before one run is killed and counted as failed
#   BENCH_NO_INSTALL=1         do not check/install Debian packages
#   BENCH_STRICT=1             exit 1 when a target is missed (default: report only)
#   BENCH_TMPDIR=DIR           base for the temp dir (default /tmp, else /var/tmp or /run)
#   SKIFF_TEST_USER=skiff-test
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
RUNTIMES=${BENCH_RUNTIMES:-skiff crun runc unshare}
MODES=${BENCH_RT_MODES:-rootless root}
RUNS=${BENCH_RT_RUNS:-100}
WARMUPS=${BENCH_RT_WARMUPS:-2}
ROUNDS=${BENCH_RT_ROUNDS:-5}
RUN_TIMEOUT=${BENCH_RT_TIMEOUT:-30}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/opt/swift/usr/bin:$SYS_PATH

log() { printf '[bench-runtime %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and runs the runtimes as root too)"
for r in $RUNTIMES; do
    case $r in skiff|crun|runc|unshare) ;; *) die "unknown runtime '$r' in BENCH_RUNTIMES" ;; esac
done
for m in $MODES; do
    case $m in rootless|root) ;; *) die "unknown mode '$m' in BENCH_RT_MODES" ;; esac
done
[[ $RUNS =~ ^[0-9]+$ && $ROUNDS =~ ^[1-9][0-9]*$ && $WARMUPS =~ ^[0-9]+$ && $RUNS -ge 1 ]] ||
    die "BENCH_RT_RUNS, BENCH_RT_ROUNDS must be positive integers, BENCH_RT_WARMUPS >= 0"
[ "$ROUNDS" -le "$RUNS" ] || ROUNDS=$RUNS
has_rt() { [[ " $RUNTIMES " == *" $1 "* ]]; }

# ---------------------------------------------------------------- set-up
PKGS=(crun runc util-linux busybox-static python3 gcc procps)
if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    bash "$ROOT/scripts/apt-install-missing.sh" "${PKGS[@]}" || die "apt-get install of ${PKGS[*]} failed"
fi
for t in gcc setpriv unshare python3 pgrep; do
    command -v "$t" >/dev/null || die "$t not found"
done
[ -x /bin/busybox ] || die "/bin/busybox not found (Debian package busybox-static)"
CRUN=$(command -v crun || true); RUNC=$(command -v runc || true); UNSHARE=$(command -v unshare)
if has_rt crun; then [ -n "$CRUN" ] || die "crun not found"; fi
if has_rt runc; then [ -n "$RUNC" ] || die "runc not found"; fi

SKIFF_TEST_USER=$USER_NAME bash "$ROOT/scripts/setup-test-user.sh"
TUID=$(id -u "$USER_NAME")
TGID=$(id -g "$USER_NAME")
TXDG=/run/user/$TUID
[ -d "$TXDG" ] || die "$TXDG missing after setup-test-user.sh"

mkdir -p "$OUT"
gcc -O2 -Wall -o "$OUT/runloop" "$ROOT/bench/runloop.c" || die "building runloop failed"

# skiff-runtime: built unless SKIFF_RUNTIME_BIN names one, or the binary is newer than every
# file under Sources/ (and Package.swift); never while another swift-build runs.
if has_rt skiff; then
    if [ -n "${SKIFF_RUNTIME_BIN:-}" ]; then
        [ -x "$SKIFF_RUNTIME_BIN" ] || die "SKIFF_RUNTIME_BIN=$SKIFF_RUNTIME_BIN is not an executable"
    else
        SKIFF_RUNTIME_BIN=$ROOT/.build/release/skiff-runtime
        stale() {
            [ -x "$SKIFF_RUNTIME_BIN" ] || return 0
            [ -n "$(find "$ROOT/Sources" "$ROOT/Package.swift" -newer "$SKIFF_RUNTIME_BIN" -type f -print -quit)" ]
        }
        wait_for_other_builds() {
            local waited=0
            while pgrep -f swift-build >/dev/null; do
                [ "$waited" = 0 ] && log "another swift-build is running; waiting for it to finish"
                waited=$((waited + 5))
                [ "$waited" -le 3600 ] || die "another swift-build has been running for an hour"
                sleep 5
            done
        }
        if stale; then
            wait_for_other_builds
            if stale; then   # the other build may have made it
                log "building skiff-runtime (release, static Swift stdlib)"
                (cd "$ROOT" && swift build -c release --static-swift-stdlib --product skiff-runtime) >&2 ||
                    die "swift build failed"
            fi
        fi
        [ -x "$SKIFF_RUNTIME_BIN" ] || die "$SKIFF_RUNTIME_BIN missing after the build"
    fi
fi

# ---------------------------------------------------------------- bookkeeping, cleanup
TMP_BASE=$(traversable_tmp_base) || die "no temp directory the test user can traverse (tried ${BENCH_TMPDIR:-} /tmp /var/tmp /run)"
T=$(mktemp -d "$TMP_BASE/skiff-bench-rt.XXXXXX")
chmod 0755 "$T"
mkdir -p "$T/bin" "$T/state/root" "$T/state/rootless" "$T/logs/root" "$T/logs/rootless" "$T/results" "$T/home"
chown "$TUID:$TGID" "$T/state/rootless" "$T/logs/rootless" "$T/home"
IDP="skb$$-"   # every container id starts with this

# run a command as the test user, with a clean environment
as_user() {
    setpriv --reuid="$TUID" --regid="$TGID" --init-groups \
        env -i PATH="$SYS_PATH" HOME="$T/home" USER="$USER_NAME" LOGNAME="$USER_NAME" XDG_RUNTIME_DIR="$TXDG" "$@"
}

cleanup() {
    local rc=$? mode rt dir id
    trap - EXIT INT TERM
    if [ -n "${T:-}" ] && [ -d "$T/state" ]; then
        # containers a killed or failed run left behind: delete them with their own runtime
        for mode in root rootless; do
            for dir in "$T/state/$mode"/*/*/; do
                [ -d "$dir" ] || continue
                rt=$(basename "$(dirname "$dir")"); id=$(basename "$dir")
                case $rt in
                    skiff) cmd=("$T/bin/skiff-runtime") ;;
                    crun*) cmd=("$CRUN") ;;
                    runc) cmd=("$RUNC") ;;
                    *) continue ;;
                esac
                if [ "$mode" = rootless ]; then
                    as_user "${cmd[@]}" --root "$T/state/$mode/$rt" delete --force "$id" >/dev/null 2>&1 || true
                else
                    "${cmd[@]}" --root "$T/state/$mode/$rt" delete --force "$id" >/dev/null 2>&1 || true
                fi
            done
        done
    fi
    # cgroups runc (as root) made for a container it could not remove
    find /sys/fs/cgroup -mindepth 2 -maxdepth 6 -type d -name "$IDP*" 2>/dev/null | sort -r |
        while read -r dir; do rmdir "$dir" 2>/dev/null || true; done
    if [ -n "${T:-}" ] && [ -d "$T" ]; then
        rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T" || log "could not remove $T"; }
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

install -m 0755 "$OUT/runloop" "$T/bin/runloop"
# a private copy: another session's rebuild must not swap the binary under the benchmark
if has_rt skiff; then install -m 0755 "$SKIFF_RUNTIME_BIN" "$T/bin/skiff-runtime"; fi

# ---------------------------------------------------------------- bundles
# One bundle per mode, used by every runtime; rootless: owned by the user, with a user
# namespace and the single-id maps; root: owned by root, no user namespace.
log "making the busybox bundles"
python3 - "$ROOT/Tests/integration" "$T" "$TUID" "$TGID" <<'EOF' || die "making the bundles failed"
import sys
sys.path.insert(0, sys.argv[1])
import bundle
t, uid, gid = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
cfg = bundle.config(["/bin/true"])
cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": uid, "size": 1}]
cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": gid, "size": 1}]
bundle.write_bundle(t + "/bundle-rootless", cfg, owner=(uid, gid))
cfg = bundle.config(["/bin/true"])
cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "user"]
bundle.write_bundle(t + "/bundle-root", cfg)
EOF

# ---------------------------------------------------------------- the commands
CRUN_VER=$([ -n "$CRUN" ] && "$CRUN" --version | awk 'NR == 1 {print $3}' || true)
RUNC_VER=$([ -n "$RUNC" ] && "$RUNC" --version | awk 'NR == 1 {print $3}' || true)
declare -A LABEL=([skiff]="Skiff" [crun]="crun $CRUN_VER" [crun_nocg2]="crun $CRUN_VER, no cgroup2 (+)"
                  [runc]="runc $RUNC_VER" [unshare]="floor: bare unshare")
declare -A R=()          # R[mode.rt]: "ok" | "failed" ; R[mode.rt.err]: its message
declare -a NOTES=()
note() { NOTES+=("$*"); }

HYBRID=0
if [ "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)" = tmpfs ] &&
   [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then HYBRID=1; fi

# rt_cmd MODE RT: sets CMD (the command, "{}" for the container id) and WRAP (what runs runloop)
rt_cmd() {
    local mode=$1 rt=$2 b=$T/bundle-$1 s=$T/state/$1/$2
    WRAP=()
    [ "$mode" = rootless ] && WRAP=(setpriv --reuid="$TUID" --regid="$TGID" --init-groups
        env -i PATH="$SYS_PATH" HOME="$T/home" USER="$USER_NAME" LOGNAME="$USER_NAME" XDG_RUNTIME_DIR="$TXDG")
    case $rt in
        skiff) CMD=("$T/bin/skiff-runtime" --root "$s" run --bundle "$b" "{}") ;;
        crun|crun_nocg2) CMD=("$CRUN" --root "$s" --cgroup-manager=disabled run --bundle "$b" "{}") ;;
        runc)
            if [ "$mode" = rootless ]; then CMD=("$RUNC" --root "$s" --rootless true run --bundle "$b" "{}")
            else CMD=("$RUNC" --root "$s" run --bundle "$b" "{}"); fi ;;
        unshare)
            if [ "$mode" = rootless ]; then CMD=("$UNSHARE" --user --map-root-user --mount --pid --fork --uts --ipc --net /bin/true)
            else CMD=("$UNSHARE" -m -p -f -u -i -n /bin/true); fi ;;
    esac
    if [ "$rt" = crun_nocg2 ]; then
        # a private mount namespace (made as root, before the user switch) without the cgroup2 mount
        WRAP=("$UNSHARE" --mount --propagation private -- /bin/sh -c 'umount -l /sys/fs/cgroup/unified && exec "$@"' sh "${WRAP[@]}")
    fi
    if [ "$mode" = rootless ]; then mkdir -p "$s" && chown "$TUID:$TGID" "$s"; else mkdir -p "$s"; fi
}

# runloop MODE RT ARGS... : runs runloop for MODE/RT; its output lines go to stdout
runloop() {
    local mode=$1 rt=$2; shift 2
    rt_cmd "$mode" "$rt"
    "${WRAP[@]}" "$T/bin/runloop" -T "$RUN_TIMEOUT" -l "$T/logs/$mode/$rt.log" "$@" -- "${CMD[@]}"
}

last_error() {   # the runtime's last words in its log
    grep -v '^\s*$' "$T/logs/$1/$2.log" 2>/dev/null | tail -n 1 | cut -c1-160
}

# ---------------------------------------------------------------- warm-ups (and who works)
declare -A ACTIVE=()   # ACTIVE[mode]="rt rt ..."
for mode in $MODES; do
    active=""
    for rt in $RUNTIMES; do
        log "$mode: $rt: $WARMUPS warm-up run(s)"
        if runloop "$mode" "$rt" -n 0 -w "$((WARMUPS > 0 ? WARMUPS : 1))" -p "${IDP}w-" >/dev/null 2>"$T/logs/$mode/$rt.runloop"; then
            R[$mode.$rt]=ok; active+=" $rt"
            continue
        fi
        R[$mode.$rt]=failed
        R[$mode.$rt.err]=$(last_error "$mode" "$rt")
        [ -n "${R[$mode.$rt.err]}" ] || R[$mode.$rt.err]=$(tail -n 1 "$T/logs/$mode/$rt.runloop")
        log "$mode: $rt failed: ${R[$mode.$rt.err]}"
        if [ "$rt" = crun ] && [ "$HYBRID" = 1 ]; then
            log "$mode: crun again, in a mount namespace without the cgroup2 mount"
            if runloop "$mode" crun_nocg2 -n 0 -w "$((WARMUPS > 0 ? WARMUPS : 1))" -p "${IDP}w-" >/dev/null 2>"$T/logs/$mode/crun_nocg2.runloop"; then
                R[$mode.crun_nocg2]=ok; active+=" crun_nocg2"
            else
                R[$mode.crun_nocg2]=failed
                R[$mode.crun_nocg2.err]=$(last_error "$mode" crun_nocg2)
                [ -n "${R[$mode.crun_nocg2.err]}" ] || R[$mode.crun_nocg2.err]=$(tail -n 1 "$T/logs/$mode/crun_nocg2.runloop")
            fi
        fi
    done
    ACTIVE[$mode]=${active# }
done

# ---------------------------------------------------------------- measured runs
busy_before=$(pgrep -fa 'swift-build|swift-frontend|cc1|clang' | grep -v pgrep | wc -l || true)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t_start=$EPOCHREALTIME
for ((round = 0; round < ROUNDS; round++)); do
    n=$(( RUNS / ROUNDS + (round < RUNS % ROUNDS ? 1 : 0) ))
    first=$(( round * (RUNS / ROUNDS) + (round < RUNS % ROUNDS ? round : RUNS % ROUNDS) ))
    log "round $((round + 1))/$ROUNDS: $n runs of each"
    for mode in $MODES; do
        for rt in ${ACTIVE[$mode]}; do
            runloop "$mode" "$rt" -n "$n" -w 0 -s "$first" -p "$IDP" >>"$T/results/$mode.$rt" 2>>"$T/logs/$mode/$rt.runloop" ||
                die "$mode: $rt: runloop failed: $(tail -n 1 "$T/logs/$mode/$rt.runloop")"
        done
    done
done
t_total=$(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')
busy_after=$(pgrep -fa 'swift-build|swift-frontend|cc1|clang' | grep -v pgrep | wc -l || true)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# stats MODE RT: "ok failed median min p90 max" (ms) over the runs that exited 0
stats() {
    local f=$T/results/$1.$2 bad
    bad=$(awk '$1 != "ok"' "$f" | wc -l)
    awk '$1 == "ok" {print $2}' "$f" | sort -g | awk -v bad="$bad" '
        {v[NR] = $1}
        END { if (NR == 0) { printf "0 %d - - - -", bad; exit }
              m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              k = int(0.9 * NR); if (k < 0.9 * NR) k++
              printf "%d %d %.2f %.2f %.2f %.2f", NR, bad, m / 1000, v[1] / 1000, v[k] / 1000, v[NR] / 1000 }'
}

for mode in $MODES; do
    for rt in ${ACTIVE[$mode]}; do
        R[$mode.$rt.stats]=$(stats "$mode" "$rt")
        read -r ok bad _ <<<"${R[$mode.$rt.stats]}"
        if [ "$bad" != 0 ]; then
            note "$mode: ${LABEL[$rt]}: $bad of $RUNS runs did not exit 0 (not counted); statuses: $(awk '$1 != "ok" {print $1 ($1 == "fail" ? " " $2 : "")}' "$T/results/$mode.$rt" | sort | uniq -c | awk '{$1 = $1 "x"; print}' | paste -sd, -); last log line: $(last_error "$mode" "$rt")"
        fi
    done
done

# ---------------------------------------------------------------- report
field() { awk -v s="$1" -v i="$2" 'BEGIN{split(s, a, " "); print a[i]}'; }
median_of() { [ "${R[$1.$2]:-}" = ok ] && field "${R[$1.$2.stats]}" 3 || true; }
crun_ref() {   # the crun row the ratios use: crun as is, else the one without cgroup2
    if [ "${R[$1.crun]:-}" = ok ]; then echo crun
    elif [ "${R[$1.crun_nocg2]:-}" = ok ]; then echo crun_nocg2; fi
}
rt_flags() {
    case $2 in
        skiff) echo "run" ;;
        crun|crun_nocg2) echo "--cgroup-manager=disabled run" ;;
        runc) [ "$1" = rootless ] && echo "--rootless true run" || echo "run" ;;
        unshare) [ "$1" = rootless ] && echo "-U -r -m -p -f -u -i -n /bin/true" || echo "-m -p -f -u -i -n /bin/true" ;;
    esac
}

SKIFF_VER=""
if has_rt skiff; then
    SKIFF_VER="$("$T/bin/skiff-runtime" --version 2>/dev/null | head -1 || true)"
    tree=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
    git -C "$ROOT" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || tree+=" + uncommitted changes under Sources/"
    [ -n "${SKIFF_RUNTIME_BIN:-}" ] && [ "$SKIFF_RUNTIME_BIN" != "$ROOT/.build/release/skiff-runtime" ] &&
        tree="SKIFF_RUNTIME_BIN=$SKIFF_RUNTIME_BIN" || tree="built from $tree"
    SKIFF_VER+=" ($tree)"
fi

TABLE=$OUT/runtime-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo
    echo "Skiff OCI runtime benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
    echo "  \`RUNTIME run --bundle B ID\` of /bin/true on one busybox-static bundle per mode (Tests/integration/bundle.py:"
    echo "  pid, ipc, uts, mount, network namespaces, 11 capabilities, 11 masked + 6 read-only paths, no seccomp,"
    echo "  no linux.resources); time from spawning the runtime to its exit; a run counts only when it exits 0."
    echo "  $RUNS runs per row after $WARMUPS warm-up(s), in $ROUNDS round-robin rounds; measuring took ${t_total}s."
    echo "  rootless: as $USER_NAME (uid $TUID), XDG_RUNTIME_DIR=$TXDG, + user namespace, uid/gid maps 0 -> $TUID/$TGID size 1 for all"
    echo "  root:     as root, no user namespace. Each runtime has its own --root state directory."
    has_rt skiff && echo "  Skiff: $SKIFF_VER"
    echo "  crun $CRUN_VER, runc $RUNC_VER, $("$UNSHARE" --version | awk '{print $NF}') unshare (util-linux)"
    echo "  load average before/after: $load_before / $load_after; compiler processes running before/after: $busy_before / $busy_after"
    for mode in $MODES; do
        ref=$(crun_ref "$mode")
        refm=$([ -n "$ref" ] && median_of "$mode" "$ref" || true)
        floor=$(median_of "$mode" unshare)
        echo
        printf '%-34s %7s %8s %8s %8s %8s %9s %10s   %s\n' "$mode" ok "median" min p90 max "vs crun" "over floor" "flags"
        printf '%-34s %7s %8s %8s %8s %8s %9s %10s   %s\n' "------" -- "(ms)" "(ms)" "(ms)" "(ms)" "(median)" "(ms)" "-----"
        for rt in $RUNTIMES; do
            rows=("$rt"); [ "$rt" = crun ] && [ -n "${R[$mode.crun_nocg2]:-}" ] && rows+=(crun_nocg2)
            for r in "${rows[@]}"; do
                if [ "${R[$mode.$r]:-}" != ok ]; then
                    printf '%-34s FAILED: %s\n' "${LABEL[$r]}" "${R[$mode.$r.err]:-not run}"
                    continue
                fi
                read -r ok bad med mn p90 mx <<<"${R[$mode.$r.stats]}"
                ratio=$( [ -n "$refm" ] && [ "$med" != - ] && awk -v a="$med" -v b="$refm" 'BEGIN{printf "%.2fx", a / b}' || echo n/a)
                over=$( [ -n "$floor" ] && [ "$med" != - ] && [ "$r" != unshare ] && awk -v a="$med" -v b="$floor" 'BEGIN{printf "%+.2f", a - b}' || echo "")
                printf '%-34s %7s %8s %8s %8s %8s %9s %10s   %s\n' "${LABEL[$r]}" "$ok/$RUNS" "$med" "$mn" "$p90" "$mx" "$ratio" "$over" "$(rt_flags "$mode" "$r")"
            done
        done
    done
    echo
    echo "vs crun = median / crun's median (below 1.00x is faster than crun); over floor = median - the bare unshare's median."
    if [ -n "${R[rootless.crun_nocg2]:-}${R[root.crun_nocg2]:-}" ]; then
        echo "(+) crun refuses this machine's hybrid cgroup layout (cgroup v1 + cgroup2 with controllers at"
        echo "    /sys/fs/cgroup/unified) even with cgroups disabled; this row runs it in a private mount namespace,"
        echo "    made before the runs, in which the cgroup2 mount is unmounted. The ratios use this row."
    fi
    if has_rt runc && [[ " $MODES " == *" root "* ]]; then
        echo "Cgroups: runc as root makes (and removes) a cgroup per container, which it cannot be told not to do;"
        echo "crun runs with --cgroup-manager=disabled, and Skiff as root makes its cgroup v1 pids, memory and freezer groups for every container (as runc does; rootless it makes none)."
    fi
    echo
    echo "targets (Skiff):"
    for mode in $MODES; do
        has_rt skiff || { echo "  (skiff not in BENCH_RUNTIMES)"; break; }
        has_rt crun || { echo "  (crun not in BENCH_RUNTIMES)"; break; }
        sm=$(median_of "$mode" skiff); ref=$(crun_ref "$mode"); cm=$([ -n "$ref" ] && median_of "$mode" "$ref" || true)
        if [ -z "$sm" ]; then detail="Skiff failed"; ok=0
        elif [ -z "$cm" ]; then detail="crun failed: no reference"; ok=""
        else
            detail=$(awk -v a="$sm" -v b="$cm" 'BEGIN{printf "%.2f ms vs %.2f ms = %.2fx", a, b, a / b}')
            ok=$(awk -v a="$sm" -v b="$cm" 'BEGIN{print (a < b) ? 1 : 0}')
        fi
        printf '  %-44s %-40s %s\n' "$mode: run /bin/true, median < crun's" "$detail" \
            "$([ "$ok" = 1 ] && echo PASS || { [ "$ok" = 0 ] && echo FAIL || echo N/A; })"
    done
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        echo "notes:"
        for n in "${NOTES[@]}"; do echo "  - $n"; done
    fi
} | tee "$TABLE"
cp "$TABLE" "$OUT/runtime-last.txt"
log "table saved to $TABLE"

if [ "${BENCH_STRICT:-0}" = 1 ] && grep -q ' FAIL$' "$TABLE"; then
    die "a target was missed (BENCH_STRICT=1)"
fi
