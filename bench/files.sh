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

# ---------------------------------------------------------------- stop the services, report
# shellcheck source=bench/report.sh
source "$ROOT/bench/report.sh"
report_stop
report_figures cp_in cp_out
{
    report_head "a directory of $FILES_MB files of 1 MB ($SRC_BYTES bytes)"
    row "docker cp $FILES_MB MB dir in (ms), n=$FILES_RUNS"  cp_in  low "%.0f"
    row "docker cp $FILES_MB MB dir out (ms), n=$FILES_RUNS" cp_out low "%.0f"
    echo
    echo "targets (Skiff):"
    ratio_target "docker cp in <= 1.0x the faster peer" cp_in 1.0
    ratio_target "docker cp out <= 1.0x the faster peer" cp_out 1.0
    report_tail
} | tee "$TABLE"
report_saved
