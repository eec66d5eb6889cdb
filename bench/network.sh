#!/usr/bin/env bash
# bench/network.sh — the network part of `make bench` (BENCH_PARTS=network): the default
# network's cost and published ports, Skiff vs Podman (rootless, its default slirp4netns with
# rootlessport) and Docker (rootful, with its defaults: the docker0 bridge, iptables NAT and
# docker-proxy, all inside a network namespace this run makes, so nothing of it touches the
# host's network; its published ports are reached from inside that namespace).
# Set-up, peers and cleanup are bench/containers.sh's (bench/peers.sh). Measures:
#   1. `docker run --rm busybox true` on the default network against `--network none`, round-robin
#      over peers and modes, BENCH_NET_RUNS runs after BENCH_NET_WARMUPS; median (min-max) and the
#      ratio default/none per peer (the target: <= 1.3x).
#   2. TCP throughput host -> container through a published port (`-p 127.0.0.1:PORT:5001`, the
#      container's `nc -l -p 5001 > /dev/null`): BENCH_NET_BYTES bytes sent by a Python client
#      on the host, MB/s from connect to the end of the container's read (one run per peer).
#   3. the memory (PSS) of the per-container network helpers (slirp4netns and Skiff's port
#      forwarder, Podman's rootlessport, Docker's docker-proxy) of the published container.
#   3. iperf3 (Debian's, in an image the bench builds) host -> container through a published port,
#      and connections per second of short HTTP requests through one.
#   4. `docker network create --subnet` and `network rm` of a user-defined network.
#   5. `docker network connect` and `network disconnect` of a running container.
#   6. iperf3 container -> container on one user-defined network (both containers on it, the
#      client by the server's address), and the PSS of what runs for the network meanwhile
#      (Skiff's network keeper; Podman's rootless-netns slirp4netns and aardvark-dns; Docker none).
#   7. a user-defined network (Skiff's keeper with its slirp4netns uplink, Podman's rootless-netns):
#      `docker run --rm --network NET busybox true` against `--network none`, round-robin, with
#      one container kept on NET (the keeper warm); iperf3 host -> container through `-p` on NET.
# With Skiff among the peers, a second Skiff service ("skiffpasta": the same binaries, a store of
# its own) runs with containers.conf `default_rootless_network_cmd = "pasta"` and is measured as one
# more peer (BENCH_NET_PASTA=0 leaves it out), so slirp4netns and pasta sit side by side.
# The table goes to bench/out/network-<time>.txt (and network-last.txt).
#
# Knobs (environment):
#   SKIFF_BIN=PATH              use this skiff (skiff-image, skiff-monitor, skiff-relay beside it), do not build
#   BENCH_PEERS="skiff podman docker"  which peers to run
#   BENCH_NET_RUNS=10           measured `docker run --rm` per peer and mode
#   BENCH_NET_WARMUPS=2         unmeasured ones first
#   BENCH_NET_BYTES=200000000   bytes pushed through the published port
#   BENCH_PODMAN_DRIVER=overlay Podman's storage driver
#   BENCH_DOCKER_CLI=/usr/local/bin/docker   the client
#   BENCH_NO_INSTALL=1          do not check/install Debian packages
#   BENCH_TMPDIR=DIR            base for the temp dir
#   BENCH_NET_PASTA=1           also measure Skiff with pasta (needs Debian's passt)
#   SKIFF_TEST_USER=skiff-test
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
PEERS=${BENCH_PEERS:-skiff podman docker}
RUNS=${BENCH_NET_RUNS:-10}
WARMUPS=${BENCH_NET_WARMUPS:-2}
BYTES=${BENCH_NET_BYTES:-200000000}
PODMAN_DRIVER=${BENCH_PODMAN_DRIVER:-overlay}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/opt/swift/usr/bin:$SYS_PATH

log() { printf '[bench-network %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts a rootful dockerd)"
for v in RUNS BYTES; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v (BENCH_NET_*) must be a positive integer, not '${!v}'"
done
[[ $WARMUPS =~ ^[0-9]+$ ]] || die "BENCH_NET_WARMUPS must be an integer >= 0"
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
      python3 procps util-linux)
if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    bash "$ROOT/scripts/apt-install-missing.sh" "${PKGS[@]}" || die "apt-get install of ${PKGS[*]} failed"
fi
for t in setpriv python3 ps timeout findmnt; do
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
BENCH_TAG=net BENCH_PART=network
DOCKER_OWN_NETNS=1   # Docker with its bridge, in a network namespace of this run's (bench/peers.sh)
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"


# ---------------------------------------------------------------- Skiff with pasta
if has_peer skiff && [ "${BENCH_NET_PASTA:-1}" = 1 ]; then
    if command -v pasta >/dev/null; then
        # a store and a runtime directory of its own (the two services must not share either)
        mkdir -p "$T/store/skiffpasta" "$XDG/pasta"; chown "$TUID:$TGID" "$T/store/skiffpasta" "$XDG/pasta"
        chmod 0700 "$XDG/pasta"
        printf '[network]\ndefault_rootless_network_cmd = "pasta"\n' >"$T/config/pasta.conf"
        chmod 0644 "$T/config/pasta.conf"
        SOCK[skiffpasta]=$XDG/skiffpasta.sock
        "${AS_USER[@]}" XDG_RUNTIME_DIR="$XDG/pasta" XDG_DATA_HOME="$T/store/skiffpasta" CONTAINERS_CONF_OVERRIDE="$T/config/pasta.conf" \
            "$T/bin/skiff" service --socket "${SOCK[skiffpasta]}" --time 0 >"$T/logs/skiffpasta.log" 2>&1 &
        SVC[skiffpasta]=$!; track "${SVC[skiffpasta]}"
        wait_ping skiffpasta "$T/logs/skiffpasta.log"
        dk skiffpasta load -i "$IMAGE_ARCHIVE" >"$T/logs/skiffpasta-load.log" 2>&1 ||
            { cat "$T/logs/skiffpasta-load.log" >&2; die "skiffpasta: docker load failed"; }
        R[skiffpasta.version]="pasta $(dpkg-query -W -f '${Version}' passt 2>/dev/null || echo '?')"
        peers+=(skiffpasta)
    else
        note "Skiff with pasta skipped: no pasta (Debian package passt)"
    fi
fi

# ---------------------------------------------------------------- 1. run --rm: default vs none
log "1. docker run --rm busybox true, default network and --network none: $WARMUPS warm-up + $RUNS runs each"
for ((i = 0; i < WARMUPS + RUNS; i++)); do
    for peer in "${peers[@]}"; do
        for mode in default none; do
            args=(run --rm); [ "$mode" = none ] && args+=(--network none)
            t0=$(now)
            out=$(timeout 60 env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" \
                  DOCKER_HOST="unix://${SOCK[$peer]}" "$DOCKER_CLI" "${args[@]}" busybox true 2>&1) ||
                die "$peer: docker ${args[*]} failed (run $i): $out"
            t=$(since "$t0")
            [ "$i" -ge "$WARMUPS" ] && V[$peer.run_$mode]+=" $t"
        done
    done
done
for peer in "${peers[@]}"; do
    for mode in default none; do
        # shellcheck disable=SC2086
        R[$peer.run_$mode]=$(stats ${V[$peer.run_$mode]})
    done
done

# ---------------------------------------------------------------- 2. throughput through a port
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
log "2. TCP host -> container through a published port, $BYTES bytes"
for peer in "${peers[@]}"; do
    port=$(free_port)
    cid=$(dk "$peer" run -d -p "127.0.0.1:$port:5001" busybox sh -c 'nc -l -p 5001 > /dev/null; echo done') ||
        die "$peer: the listening container did not start"
    # the helpers' memory while the container runs (before the transfer, which ends it)
    pss=0
    # (pasta runs as passt.avx2 or passt: pasta execs the build for the CPU; only Skiff's with pasta
    # are counted, Podman 4.3 has none)
    pastas=""; [ "$peer" = skiffpasta ] && pastas=$(pgrep -u "$TUID" -x 'passt.avx2|passt|pasta' || true)
    for p in $(pgrep -u "$TUID" -x slirp4netns) $(pgrep -u "$TUID" -x rootlessport) $(pgrep -u "$TUID" -f 'rootlessport-child') \
             $pastas $(pgrep -x docker-proxy || true) $(pgrep -u "$TUID" -f -- ' --forward-ports ' || true); do
        # this run's: the parent (Skiff's monitor, Podman's conmon or podman) names the temp tree
        parent=$(awk '{sub(/.*\) /, ""); print $2}' "/proc/$p/stat" 2>/dev/null) || continue
        case $peer in
            docker) [ "$parent" = "${SVC[docker]}" ] || continue ;;   # docker-proxy, dockerd's child
            podman) [ "$(stat -c %u "/proc/$p")" = "$TUID" ] || continue ;;
            *) [ "$(stat -c %u "/proc/$p")" = "$TUID" ] && grep -q "$T" "/proc/$p/cmdline" "/proc/$parent/cmdline" 2>/dev/null || continue ;;
        esac
        v=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        pss=$((pss + ${v:-0}))
    done
    R[$peer.helper_pss]=$(awk -v k="$pss" 'BEGIN{printf "%.2f", k / 1024}')
    sleep 0.5
    mbps=$(peer_net "$peer" python3 - "$port" "$BYTES" <<'PY'
import socket, sys, time
port, total = int(sys.argv[1]), int(sys.argv[2])
chunk = b"x" * 262144
for _ in range(100):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        break
    except OSError:
        time.sleep(0.05)
t0 = time.monotonic()
sent = 0
while sent < total:
    s.sendall(chunk)
    sent += len(chunk)
s.shutdown(socket.SHUT_WR)
s.settimeout(120)
try:
    while s.recv(65536):
        pass
except OSError:
    pass
print("%.1f" % (sent / (time.monotonic() - t0) / 1e6))
PY
) || die "$peer: the transfer failed"
    R[$peer.tput]=$mbps
    dk "$peer" rm -f "$cid" >/dev/null 2>&1 || true
    log "$peer: ${R[$peer.tput]} MB/s, helpers ${R[$peer.helper_pss]} MiB PSS"
done

# ---------------------------------------------------------------- 3. iperf3, connections per second
# iperf3 (Debian's, copied with its libraries into a busybox image: images.build_iperf3) serving
# in the container behind `-p 127.0.0.1:PORT:5201`, the host's iperf3 as client for
# BENCH_NET_IPERF_SECONDS; then short HTTP/1.0 requests (a new connection each) to busybox httpd
# behind a published port for BENCH_NET_CPS_SECONDS, connections per second. Docker's clients run
# in its network namespace (its docker-proxy serves their loopback connections).
IPERF_SECONDS=${BENCH_NET_IPERF_SECONDS:-5}
CPS_SECONDS=${BENCH_NET_CPS_SECONDS:-3}
if command -v iperf3 >/dev/null; then
    log "3. iperf3 host -> container through a published port (${IPERF_SECONDS}s), connections/s (${CPS_SECONDS}s)"
    IPERF_ARCHIVE=$(python3 - "$ROOT/Tests/integration" "$T/image-iperf3" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import images
print(images.build_iperf3(sys.argv[2]).archive)
PY
) || die "building the iperf3 image failed"
    chmod -R a+rX "$T/image-iperf3"
    for peer in "${peers[@]}"; do
        dk "$peer" load -i "$IPERF_ARCHIVE" >/dev/null 2>&1 || die "$peer: loading the iperf3 image failed"
        port=$(free_port)
        cid=$(dk "$peer" run -d -p "127.0.0.1:$port:5201" iperf3 iperf3 -s -1) || die "$peer: the iperf3 container did not start"
        out=""
        for ((i = 0; i < 50; i++)); do
            out=$(peer_net "$peer" iperf3 -c 127.0.0.1 -p "$port" -t "$IPERF_SECONDS" -J 2>>"$T/logs/iperf3-$peer.log") && break
            sleep 0.1
        done
        R[$peer.iperf]=$(python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e6))' <<<"$out" 2>/dev/null || echo n/a)
        [ "${R[$peer.iperf]}" = n/a ] && note "$peer: iperf3 gave no figure: $(tr '\n' ' ' <<<"$out" | grep -o '"error":[^,}]*' | head -1)"
        dk "$peer" rm -f "$cid" >/dev/null 2>&1 || true
        port=$(free_port)
        cid=$(dk "$peer" run -d -p "127.0.0.1:$port:8080" busybox sh -c 'mkdir /w; echo ok > /w/index.html; exec httpd -f -p 8080 -h /w') ||
            die "$peer: the httpd container did not start"
        R[$peer.cps]=$(peer_net "$peer" python3 - "$port" "$CPS_SECONDS" <<'PY'
import socket, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
def one():
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /index.html HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return b" 200 " in data
for _ in range(100):
    try:
        if one():
            break
    except OSError:
        pass
    time.sleep(0.05)
n, t0 = 0, time.monotonic()
while time.monotonic() - t0 < seconds:
    if one():
        n += 1
print("%.0f" % (n / (time.monotonic() - t0)))
PY
) || R[$peer.cps]=n/a
        dk "$peer" rm -f "$cid" >/dev/null 2>&1 || true
        log "$peer: iperf3 ${R[$peer.iperf]} MB/s, ${R[$peer.cps]} connections/s"
    done
else
    note "iperf3 not installed: step 3 skipped"
fi

# ---------------------------------------------------------------- 4. network create / rm
# A user-defined network: `docker network create --subnet` then `network rm`, BENCH_NET_RUNS
# each after the warm-ups; median (min-max) per peer (Docker's bridge is made in its own
# network namespace).
log "4. docker network create / rm: $WARMUPS warm-up + $RUNS each"
for peer in "${peers[@]}"; do
    [ "$peer" = skiffpasta ] && continue
    for ((i = 0; i < WARMUPS + RUNS; i++)); do
        name=benchnet$i
        t0=$(now)
        dk "$peer" network create --subnet "10.123.$i.0/24" "$name" >/dev/null || die "$peer: network create $name failed"
        t=$(since "$t0")
        [ "$i" -ge "$WARMUPS" ] && V[$peer.net_create]+=" $t"
        t0=$(now)
        dk "$peer" network rm "$name" >/dev/null || die "$peer: network rm $name failed"
        t=$(since "$t0")
        [ "$i" -ge "$WARMUPS" ] && V[$peer.net_rm]+=" $t"
    done
    # shellcheck disable=SC2086
    R[$peer.net_create]=$(stats ${V[$peer.net_create]})
    # shellcheck disable=SC2086
    R[$peer.net_rm]=$(stats ${V[$peer.net_rm]})
done

# ---------------------------------------------------------------- 5. network connect / disconnect
# `docker network connect` then `network disconnect` of a running container (on the default
# network) to a user-defined one, BENCH_NET_RUNS each after the warm-ups; median (min-max). The
# interface is made or removed while the request runs (Skiff: the service asks the per-user
# network keeper; Podman: netavark in its rootless network namespace; Docker: its bridge driver, in
# its own network namespace).
log "5. docker network connect / disconnect of a running container: $WARMUPS warm-up + $RUNS each"
for peer in "${peers[@]}"; do
    [ "$peer" = skiffpasta ] && continue
    dk "$peer" network create --subnet 10.124.0.0/24 benchconn >/dev/null || die "$peer: network create benchconn failed"
    cid=$(dk "$peer" run -d busybox sleep 600) || die "$peer: run -d for connect failed"
    for ((i = 0; i < WARMUPS + RUNS; i++)); do
        t0=$(now)
        if ! dk "$peer" network connect benchconn "$cid" >/dev/null 2>"$T/connect.err"; then
            note "$peer: network connect of a running container failed: $(head -c 300 "$T/connect.err")"
            break
        fi
        t=$(since "$t0")
        [ "$i" -ge "$WARMUPS" ] && V[$peer.net_connect]+=" $t"
        t0=$(now)
        dk "$peer" network disconnect benchconn "$cid" >/dev/null || die "$peer: network disconnect failed"
        t=$(since "$t0")
        [ "$i" -ge "$WARMUPS" ] && V[$peer.net_disconnect]+=" $t"
    done
    dk "$peer" rm -f "$cid" >/dev/null || true
    dk "$peer" network rm benchconn >/dev/null || true
    # shellcheck disable=SC2086
    [ -n "${V[$peer.net_connect]:-}" ] && R[$peer.net_connect]=$(stats ${V[$peer.net_connect]})
    # shellcheck disable=SC2086
    [ -n "${V[$peer.net_disconnect]:-}" ] && R[$peer.net_disconnect]=$(stats ${V[$peer.net_disconnect]})
done

# ---------------------------------------------------------------- 6. container -> container
# iperf3 between two containers on one user-defined network (10.124.0.0/24, the server at
# .10 by --ip; the client a second container on the network) for BENCH_NET_IPERF_SECONDS; while
# the server runs, the PSS of what runs per user or per network for networking: Skiff's network
# keeper (and its uplink, if any), Podman's rootless-netns (slirp4netns) and aardvark-dns;
# Docker's bridge is the kernel's (nothing counted). skiffpasta is left out: user-defined
# networks are the same keeper in both Skiff services.
# (pss_of_user NAMES... : the summed PSS, KiB, of the test user's processes with those names,
# or, for "keep-netns", skiff-relay --keep-netns of this run)
pss_of_user() {
    local total=0 p v name
    for p in /proc/[0-9]*; do
        [ "$(stat -c %u "$p" 2>/dev/null)" = "$TUID" ] || continue
        name=$(cat "$p/comm" 2>/dev/null) || continue
        case " $* " in
            *" $name "*) ;;
            *" keep-netns "*) tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -q -- "--keep-netns" || continue ;;
            *) continue ;;
        esac
        v=$(awk '/^Pss:/{print $2}' "$p/smaps_rollup" 2>/dev/null || echo 0)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
if command -v iperf3 >/dev/null; then
    log "6. iperf3 container -> container on a user-defined network (${IPERF_SECONDS}s)"
    for peer in "${peers[@]}"; do
        [ "$peer" = skiffpasta ] && continue
        dk "$peer" network create --subnet 10.125.0.0/24 benchc2c >/dev/null || die "$peer: network create benchc2c failed"
        sid=$(dk "$peer" run -d --network benchc2c --ip 10.125.0.10 iperf3 iperf3 -s) ||
            die "$peer: the iperf3 server container did not start"
        case $peer in
            skiff) kib=$(pss_of_user keep-netns slirp4netns pasta passt passt.avx2) ;;
            podman) kib=$(pss_of_user slirp4netns aardvark-dns rootlessport) ;;
            *) kib=0 ;;
        esac
        R[$peer.net_pss]=$(awk -v k="$kib" 'BEGIN{printf "%.2f", k / 1024}')
        out=""
        for ((i = 0; i < 20; i++)); do
            out=$(dk "$peer" run --rm --network benchc2c iperf3 iperf3 -c 10.125.0.10 -t "$IPERF_SECONDS" -J 2>>"$T/logs/c2c-$peer.log") && break
            sleep 0.2
        done
        R[$peer.c2c]=$(python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e6))' <<<"$out" 2>/dev/null || echo n/a)
        [ "${R[$peer.c2c]}" = n/a ] && note "$peer: container -> container iperf3 gave no figure: $(tr '\n' ' ' <<<"$out" | cut -c1-200)"
        dk "$peer" rm -f "$sid" >/dev/null 2>&1 || true
        dk "$peer" network rm benchc2c >/dev/null 2>&1 || note "$peer: network rm benchc2c failed"
        log "$peer: container -> container ${R[$peer.c2c]} MB/s, per-network helpers ${R[$peer.net_pss]} MiB PSS"
        sleep 4   # Skiff's keeper ends 3 s after its last container; Podman's rootless-netns likewise
    done
fi

# ---------------------------------------------------------------- 7. a user-defined network
log "7. user-defined network: run --rm --network NET vs none ($WARMUPS warm-up + $RUNS), iperf3 through -p on NET"
for peer in "${peers[@]}"; do
    [ "$peer" = skiffpasta ] && continue
    dk "$peer" network create --subnet 10.124.0.0/24 benchup >/dev/null || die "$peer: network create benchup failed"
    keep=$(dk "$peer" run -d --network benchup busybox sleep 600) || die "$peer: the container kept on benchup did not start"
    for ((i = 0; i < WARMUPS + RUNS; i++)); do
        for mode in net none; do
            args=(run --rm --network); [ "$mode" = none ] && args+=(none) || args+=(benchup)
            t0=$(now)
            dk "$peer" "${args[@]}" busybox true >/dev/null || die "$peer: docker ${args[*]} failed (run $i)"
            t=$(since "$t0")
            [ "$i" -ge "$WARMUPS" ] && V[$peer.unet_$mode]+=" $t"
        done
    done
    # shellcheck disable=SC2086
    R[$peer.unet_net]=$(stats ${V[$peer.unet_net]})
    # shellcheck disable=SC2086
    R[$peer.unet_none]=$(stats ${V[$peer.unet_none]})
    if command -v iperf3 >/dev/null && [ -n "${IPERF_ARCHIVE:-}" ]; then
        port=$(free_port)
        cid=$(dk "$peer" run -d --network benchup -p "127.0.0.1:$port:5201" iperf3 iperf3 -s -1) ||
            die "$peer: the iperf3 container on benchup did not start"
        out=""
        for ((i = 0; i < 50; i++)); do
            out=$(peer_net "$peer" iperf3 -c 127.0.0.1 -p "$port" -t "$IPERF_SECONDS" -J 2>>"$T/logs/iperf3-net-$peer.log") && break
            sleep 0.1
        done
        R[$peer.unet_iperf]=$(python3 -c 'import json,sys; print("%.1f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 8e6))' <<<"$out" 2>/dev/null || echo n/a)
        dk "$peer" rm -f "$cid" >/dev/null 2>&1 || true
    fi
    dk "$peer" rm -f "$keep" >/dev/null 2>&1 || true
    dk "$peer" network rm benchup >/dev/null 2>&1 || true
    log "$peer: run --rm on NET ${R[$peer.unet_net]}, none ${R[$peer.unet_none]}, iperf3 via -p on NET ${R[$peer.unet_iperf]:-n/a} MB/s"
done

# ---------------------------------------------------------------- table
STAMP=$(date +%Y%m%d-%H%M%S)
TABLE=$OUT/network-$STAMP.txt
{
    echo "network: docker run --rm default vs none, published-port throughput (load at start: $LOAD_START)"
    printf '%-44s' ""; for p in "${peers[@]}"; do printf '%-32s' "$p ${R[$p.version]:-}"; done; echo
    for mode in default none; do
        printf '%-44s' "run --rm busybox true, $mode (ms)"
        for p in "${peers[@]}"; do printf '%-32s' "$(awk -v s="${R[$p.run_$mode]}" 'BEGIN{split(s,a," "); printf "%.1f (%.1f-%.1f)", a[1], a[2], a[3]}')"; done; echo
    done
    printf '%-44s' "default / none"
    for p in "${peers[@]}"; do printf '%-32s' "$(awk -v a="$(field "${R[$p.run_default]}" 1)" -v b="$(field "${R[$p.run_none]}" 1)" 'BEGIN{printf "%.2fx", a / b}')"; done; echo
    printf '%-44s' "TCP host->container via -p (MB/s)"
    for p in "${peers[@]}"; do printf '%-32s' "${R[$p.tput]:-n/a}"; done; echo
    printf '%-44s' "iperf3 host->container via -p (MB/s)"
    for p in "${peers[@]}"; do printf '%-32s' "${R[$p.iperf]:-n/a}"; done; echo
    printf '%-44s' "HTTP/1.0 connections/s via -p"
    for p in "${peers[@]}"; do printf '%-32s' "${R[$p.cps]:-n/a}"; done; echo
    for op in create rm connect disconnect; do
        printf '%-44s' "network $op (ms)"
        for p in "${peers[@]}"; do
            if [ -n "${R[$p.net_$op]:-}" ]; then
                printf '%-32s' "$(awk -v s="${R[$p.net_$op]}" 'BEGIN{split(s,a," "); printf "%.1f (%.1f-%.1f)", a[1], a[2], a[3]}')"
            else
                printf '%-32s' "n/a"
            fi
        done; echo
    done
    for mode in net none; do
        printf '%-44s' "user network: run --rm, $mode (ms)"
        for p in "${peers[@]}"; do
            if [ -n "${R[$p.unet_$mode]:-}" ]; then
                printf '%-32s' "$(awk -v s="${R[$p.unet_$mode]}" 'BEGIN{split(s,a," "); printf "%.1f (%.1f-%.1f)", a[1], a[2], a[3]}')"
            else
                printf '%-32s' "n/a"
            fi
        done; echo
    done
    printf '%-44s' "user network: iperf3 via -p (MB/s)"
    for p in "${peers[@]}"; do printf '%-32s' "${R[$p.unet_iperf]:-n/a}"; done; echo
    printf '%-44s' "network helpers' PSS, 1 container (MiB)"
    for p in "${peers[@]}"; do printf '%-32s' "${R[$p.helper_pss]:-n/a}"; done; echo
    printf '%-44s' "iperf3 container->container, user net (MB/s)"
    for p in "${peers[@]}"; do printf '%-32s' "${R[$p.c2c]:-n/a}"; done; echo
    printf '%-44s' "per-network helpers' PSS (MiB)"
    for p in "${peers[@]}"; do printf '%-32s' "${R[$p.net_pss]:-n/a}"; done; echo
    if has_peer skiff; then
        r=$(awk -v a="$(field "${R[skiff.run_default]}" 1)" -v b="$(field "${R[skiff.run_none]}" 1)" 'BEGIN{printf "%.2f", a / b}')
        echo
        echo "target: Skiff run --rm default <= 1.3x none: ${r}x $(awk -v r="$r" 'BEGIN{print (r <= 1.3) ? "PASS" : "FAIL"}')"
    fi
    if [ ${#NOTES[@]} -gt 0 ]; then echo; echo "notes:"; for n in "${NOTES[@]}"; do echo "  - $n"; done; fi
} | tee "$TABLE"
cp "$TABLE" "$OUT/network-last.txt"
log "table saved to $TABLE"
