#!/usr/bin/env bash
# bench/volumes.sh — the volumes part of `make bench` (issue 14, docs/volumes.md): Skiff vs Podman
# vs Docker, each through its own unix socket, with the docker CLI as the client.
#
# Peers, image and set-up are bench/containers.sh's (Skiff rootless as the test user, Podman
# rootless with --runtime runc --cgroup-manager=cgroupfs, Docker rootful in a temp dir; the
# busybox image from Tests/integration/images.py loaded into each). Measures, for each peer:
#   vol_ls:      `docker volume ls` with BENCH_VOL_N volumes, wall time of the CLI process; and
#                the same against bench/instant_engine.py serving the first peer's answer (the
#                client's own cost, the floor under every engine's figure);
#   df:          `GET /system/df` (`docker system df`) with BENCH_DF_IMAGES images (each imported
#                from a tarball of its own), BENCH_DF_CONTAINERS created containers and
#                BENCH_DF_VOLUMES volumes (measured before the rest of the BENCH_VOL_N are made);
#   first_mount: `docker run --rm -v NEW:/data volsrc true`, a new volume each time, whose first
#                container copies the image's /data (BENCH_VOL_FILES small files) into it.
# BENCH_VOL_RUNS runs each after one unmeasured, round-robin over the peers. The copy is checked
# once per peer (the file count seen in the volume). Target: Skiff at most 0.5x the faster peer.
# Table in bench/out/volumes-<time>.txt (and volumes-last.txt).
#
# Knobs: those of bench/containers.sh that pick peers and binaries (SKIFF_BIN, BENCH_PEERS,
# BENCH_PODMAN_DRIVER, BENCH_DOCKER_CLI, BENCH_NO_INSTALL, BENCH_STRICT, BENCH_TMPDIR,
# SKIFF_TEST_USER), and
#   BENCH_VOL_N=1000            volumes listed
#   BENCH_VOL_FILES=10000       files in the image directory copied into a new volume
#   BENCH_VOL_RUNS=5            measured runs of each
#   BENCH_DF_IMAGES=200         images, BENCH_DF_CONTAINERS=500 containers and
#   BENCH_DF_VOLUMES=200        volumes of the system df measure
BENCH_NAME=volumes
# shellcheck source=bench/prelude.sh
. "$(dirname "${BASH_SOURCE[0]}")/prelude.sh"

BENCH_TAG=vl BENCH_PART=volumes
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"

VOL_N=${BENCH_VOL_N:-1000}
VOL_FILES=${BENCH_VOL_FILES:-10000}
VOL_RUNS=${BENCH_VOL_RUNS:-5}
DF_IMAGES=${BENCH_DF_IMAGES:-200}
DF_CONTAINERS=${BENCH_DF_CONTAINERS:-500}
DF_VOLUMES=${BENCH_DF_VOLUMES:-200}
for v in VOL_N VOL_FILES VOL_RUNS DF_IMAGES DF_CONTAINERS DF_VOLUMES; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v (BENCH_VOL_*) must be a positive integer, not '${!v}'"
done

# ---------------------------------------------------------------- the volumes and the image
# volsrc: a static busybox and /data with VOL_FILES small files, imported from a tarball (the
# same bytes for every peer; Podman 4.3's compat commit refuses the docker CLI's empty body).
SRC=$T/volsrc/rootfs
mkdir -p "$SRC/bin" "$SRC/data"
cp /bin/busybox "$SRC/bin/busybox"
for tool in sh true ls wc; do ln -s busybox "$SRC/bin/$tool"; done
(cd "$SRC/data" && for ((i = 0; i < VOL_FILES; i++)); do echo "$i" >"f$i"; done)
tar -C "$SRC" -cf "$T/volsrc/volsrc.tar" .
chmod -R a+rX "$T/volsrc"
# dfimg<i>: one small file of its own (distinct layers, as distinct images have)
mkdir -p "$T/dfimg"
for ((i = 1; i <= DF_IMAGES; i++)); do
    mkdir -p "$T/dfimg/r"; echo "image $i" >"$T/dfimg/r/id"
    tar -C "$T/dfimg/r" -cf "$T/dfimg/$i.tar" .
done
chmod -R a+rX "$T/dfimg"
for peer in "${peers[@]}"; do
    log "$peer: $DF_VOLUMES volumes, $DF_IMAGES images, $DF_CONTAINERS containers for system df"
    for ((i = 1; i <= DF_VOLUMES; i++)); do
        dk "$peer" volume create "benchvol$i" >/dev/null || die "$peer: volume create benchvol$i failed"
    done
    for ((i = 1; i <= DF_IMAGES; i++)); do
        dk "$peer" import "$T/dfimg/$i.tar" "dfimg$i" >/dev/null || die "$peer: docker import of dfimg$i failed"
    done
    api "$peer" create "$DF_CONTAINERS" busybox "bench-df" >/dev/null || die "$peer: creating $DF_CONTAINERS containers failed"
done

# ---------------------------------------------------------------- system df
for ((i = 0; i <= VOL_RUNS; i++)); do
    for peer in "${peers[@]}"; do
        t0=$(now); dk "$peer" system df >/dev/null || die "$peer: docker system df failed"
        tdf=$(since "$t0")
        [ "$i" = 0 ] && continue
        V[$peer.df]="${V[$peer.df]:-} $tdf"
    done
done

for peer in "${peers[@]}"; do
    log "$peer: creating the rest of $VOL_N volumes and importing volsrc ($VOL_FILES files in /data)"
    for ((i = DF_VOLUMES + 1; i <= VOL_N; i++)); do
        dk "$peer" volume create "benchvol$i" >/dev/null || die "$peer: volume create benchvol$i failed"
    done
    dk "$peer" import "$T/volsrc/volsrc.tar" volsrc >/dev/null || die "$peer: docker import of volsrc failed"
    n=$(dk "$peer" run --rm -v benchcheck:/data --network none volsrc sh -c 'ls /data | wc -l') || die "$peer: run -v failed"
    [ "$(echo "$n" | tr -d ' ')" = "$VOL_FILES" ] || die "$peer: the new volume has $n files, not $VOL_FILES"
done

# ---------------------------------------------------------------- volume ls, first mount
# The client alone: the docker CLI against bench/instant_engine.py answering `GET /volumes` at
# once with the body the first peer gave (the same VOL_N volumes), timed in the same rounds.
INSTANT_SOCK=$T/instant.sock
python3 - "${SOCK[${peers[0]}]}" "$T/volumes.json" <<'PY' || die "GET /volumes from ${peers[0]} for the instant engine failed"
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"GET /v1.41/volumes HTTP/1.0\r\nHost: d\r\n\r\n")
data = b""
while chunk := s.recv(1 << 20):
    data += chunk
head, _, body = data.partition(b"\r\n\r\n")
if b" 200 " not in head.split(b"\r\n")[0]:
    sys.exit(head.decode(errors="replace"))
open(sys.argv[2], "wb").write(body)
PY
python3 "$ROOT/bench/instant_engine.py" "$INSTANT_SOCK" --get "/volumes=$T/volumes.json" &
INSTANT_PID=$!; track "$INSTANT_PID"
for ((i = 0; i < 100; i++)); do [ -S "$INSTANT_SOCK" ] && break; sleep 0.05; done
[ -S "$INSTANT_SOCK" ] || die "bench/instant_engine.py did not listen"
INSTANT=()
for ((i = 0; i <= VOL_RUNS; i++)); do
    t0=$(now)
    env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" DOCKER_HOST="unix://$INSTANT_SOCK" \
        "$DOCKER_CLI" volume ls >/dev/null || die "docker volume ls against the instant engine failed"
    [ "$i" = 0 ] || INSTANT+=("$(since "$t0")")
    for peer in "${peers[@]}"; do
        t0=$(now); dk "$peer" volume ls >/dev/null || die "$peer: docker volume ls failed"
        tls=$(since "$t0")
        t0=$(now); dk "$peer" run --rm --network none -v "benchfirst$i:/data" volsrc true || die "$peer: run -v benchfirst$i failed"
        tfirst=$(since "$t0")
        [ "$i" = 0 ] && continue
        V[$peer.vol_ls]="${V[$peer.vol_ls]:-} $tls"
        V[$peer.first_mount]="${V[$peer.first_mount]:-} $tfirst"
    done
done
stop_pids 2 "$INSTANT_PID"
for peer in "${peers[@]}"; do
    api "$peer" rmall >/dev/null 2>&1 || true
    dk "$peer" volume prune -af >/dev/null 2>&1 || true
done

# ---------------------------------------------------------------- stop the services, report
# shellcheck source=bench/report.sh
source "$ROOT/bench/report.sh"
report_stop
report_figures vol_ls df first_mount
{
    report_head "$VOL_N volumes; an image directory of $VOL_FILES files"
    row "docker volume ls, $VOL_N volumes (ms), n=$VOL_RUNS" vol_ls low "%.0f"
    INSTANT_MS=$(stats "${INSTANT[@]}")
    printf '%-46s%s\n' "  the client alone, an instant engine (ms)" \
        "$(awk -v r="$INSTANT_MS" 'BEGIN{split(r, a, " "); printf "%.0f (%.0f-%.0f)", a[1], a[2], a[3]}')"
    row "GET /system/df, $DF_IMAGES img/$DF_CONTAINERS ctr/$DF_VOLUMES vol (ms), n=$VOL_RUNS" df low "%.0f"
    row "run -v NEW:/data, copy $VOL_FILES files (ms), n=$VOL_RUNS" first_mount low "%.0f"
    echo
    echo "targets (Skiff):"
    ratio_target "docker volume ls <= 0.5x the faster peer" vol_ls 0.5
    b=$(best_of vol_ls low "${others[@]}")
    if [ -n "$b" ]; then
        printf '  %-50s %s\n' "  (the client alone, an instant engine:" \
            "$(awk -v f="$(field "$INSTANT_MS" 1)" -v o="$(field "${R[$b.vol_ls]}" 1)" 'BEGIN{printf "%.1f ms = %.3fx of the faster peer: %s)", f, f / o, (f <= 0.5 * o) ? "the target is within reach" : "no engine can meet the target through this CLI on this machine"}')"
    fi
    ratio_target "GET /system/df <= 0.5x the faster peer" df 0.5
    ratio_target "first mount copy-up <= 0.5x the faster peer" first_mount 0.5
    report_tail
} | tee "$TABLE"
report_saved
