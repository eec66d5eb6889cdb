#!/usr/bin/env bash
# bench/files.sh — the files part of `make bench` (issue 13): `docker cp` of a directory into and
# out of a running container, Skiff vs Podman vs Docker, each through its own unix socket.
#
# Peers, image and set-up are bench/containers.sh's (Skiff rootless as the test user, Podman
# rootless with --runtime runc --cgroup-manager=cgroupfs, Docker rootful in a temp dir; the
# busybox image from Tests/integration/images.py loaded into each). Measures, for each peer, with
# one `sleep` container (--network none) running:
#   cp in:  `docker cp <dir> C:/tmp/inN` of a BENCH_FILES_MB MB directory (BENCH_FILES_MB files
#           of 1 MB of random data in 10 subdirectories), wall time of the CLI process;
#   cp out: `docker cp C:/tmp/inN <local dir>` of the same directory back.
# BENCH_FILES_RUNS runs each after one unmeasured, round-robin over the peers. The copies are
# checked (file count and bytes) once per peer. Target: Skiff at least as fast as the faster peer
# (median cp in and cp out <= 1.0x). Table in bench/out/files-<time>.txt (and files-last.txt).
#
# Knobs: those of bench/containers.sh that pick peers and binaries (SKIFF_BIN, BENCH_PEERS,
# BENCH_PODMAN_DRIVER, BENCH_DOCKER_CLI, BENCH_NO_INSTALL, BENCH_STRICT, BENCH_TMPDIR,
# SKIFF_TEST_USER), and
#   BENCH_FILES_MB=100          size of the copied directory
#   BENCH_FILES_RUNS=5          measured copies each way per peer
BENCH_NAME=files
# shellcheck source=bench/prelude.sh
. "$(dirname "${BASH_SOURCE[0]}")/prelude.sh"

BENCH_TAG=fl BENCH_PART=files
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"

FILES_MB=${BENCH_FILES_MB:-100}
FILES_RUNS=${BENCH_FILES_RUNS:-5}
[[ $FILES_MB =~ ^[1-9][0-9]*$ ]] || die "BENCH_FILES_MB must be a positive integer"
[[ $FILES_RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_FILES_RUNS must be a positive integer"

# ---------------------------------------------------------------- the directory copied
SRC=$T/files-src/tree
for ((i = 0; i < FILES_MB; i++)); do
    mkdir -p "$SRC/d$((i % 10))"
    head -c 1048576 /dev/urandom >"$SRC/d$((i % 10))/f$i"
done
SRC_BYTES=$(du -sb --apparent-size "$SRC/" | awk '{print $1}')
log "copying a directory of $FILES_MB files, $SRC_BYTES bytes"
chmod -R a+rX "$T/files-src"

# ---------------------------------------------------------------- cp in and out
for peer in "${peers[@]}"; do
    dk "$peer" run -d --name filesbench --network none busybox sleep 3600 >/dev/null || die "$peer: docker run -d failed"
done
for ((i = 0; i <= FILES_RUNS; i++)); do
    for peer in "${peers[@]}"; do
        t0=$(now); dk "$peer" cp "$SRC" "filesbench:/tmp/in$i" || die "$peer: docker cp in failed"
        tin=$(since "$t0")
        rm -rf "$T/files-out"; mkdir -p "$T/files-out"
        t0=$(now); dk "$peer" cp "filesbench:/tmp/in$i" "$T/files-out/tree" || die "$peer: docker cp out failed"
        tout=$(since "$t0")
        if [ "$i" = 0 ]; then
            got=$(du -sb --apparent-size "$T/files-out/tree/" | awk '{print $1}')
            n=$(find "$T/files-out/tree" -type f | wc -l)
            [ "$n" = "$FILES_MB" ] && [ "$got" = "$SRC_BYTES" ] ||
                die "$peer: the copy out has $n files, $got bytes (want $FILES_MB, $SRC_BYTES)"
            continue
        fi
        V[$peer.cp_in]="${V[$peer.cp_in]:-} $tin"
        V[$peer.cp_out]="${V[$peer.cp_out]:-} $tout"
    done
done
rm -rf "$T/files-out"
for peer in "${peers[@]}"; do dk "$peer" rm -f filesbench >/dev/null 2>&1 || true; done

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
    for m in cp_in cp_out; do
        # shellcheck disable=SC2086
        [ -n "${V[$peer.$m]:-}" ] && R[$peer.$m]=$(stats ${V[$peer.$m]})
    done
done

TS=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
RAW=$OUT/files-$TS.raw
{
    echo "# bench/files.sh raw figures, $TS: PEER METRIC VALUES (seconds)"
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

TABLE=$OUT/files-$TS.txt
{
    echo
    echo "Skiff files benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
    if has_peer skiff; then echo "  Skiff:  ${R[skiff.version]}, rootless as $USER_NAME"
    elif [ -n "$SKIFF_SKIPPED" ]; then echo "  Skiff:  not measured: $SKIFF_SKIPPED"; fi
    has_peer podman && echo "  Podman: ${R[podman.version]}, rootless as $USER_NAME, --runtime runc --cgroup-manager=cgroupfs, storage driver $PODMAN_DRIVER"
    has_peer docker && echo "  Docker: ${R[docker.version]}, rootful, overlay2"
    echo "  client: docker CLI $("$DOCKER_CLI" --version | awk '{print $3}' | tr -d ,) ($DOCKER_CLI); a directory of $FILES_MB files of 1 MB ($SRC_BYTES bytes)"
    echo "  load average at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: compare within one run)"
    echo
    printf '%-46s' "metric: median (min-max)"
    for p in "${peers[@]}"; do printf '%-30s' "${LABEL[$p]}"; done
    has_peer skiff && [ ${#others[@]} -gt 0 ] && printf '%s' "Skiff vs the faster peer"
    printf '\n'
    row "docker cp $FILES_MB MB dir in (ms), n=$FILES_RUNS"  cp_in  low "%.0f"
    row "docker cp $FILES_MB MB dir out (ms), n=$FILES_RUNS" cp_out low "%.0f"
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
    ratio_target "docker cp in <= 1.0x the faster peer" cp_in 1.0
    ratio_target "docker cp out <= 1.0x the faster peer" cp_out 1.0
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        echo "notes:"
        for n in "${NOTES[@]}"; do echo "  - $n"; done
    fi
    echo
    echo "raw figures: $RAW"
} | tee "$TABLE"
cp "$TABLE" "$OUT/files-last.txt"
log "table saved to $TABLE"

if [ "${BENCH_STRICT:-0}" = 1 ] && grep -Eq ' (FAIL|SKIP)$' "$TABLE"; then
    die "a target was missed or not measured (BENCH_STRICT=1)"
fi
