# The peers' shared set-up, sourced by bench/containers.sh, exec.sh, health.sh, resources.sh
# and files.sh after their own options: a private temp tree, the cleanup trap (services, containers,
# cgroups, the failure dump to $OUT/$BENCH_PART-failed-*), the busybox image loaded into each peer,
# and Skiff, Podman and Docker started on private sockets. The caller sets BENCH_TAG (names of the
# temp tree and Docker's cgroup parent) and BENCH_PART (the failure dump's name) and the variables
# its own head defines (ROOT, OUT, peers, TUID, TGID, log, die, note...).
# ---------------------------------------------------------------- bookkeeping, cleanup
TMP_BASE=$(traversable_tmp_base) || die "no temp directory the test user can traverse (tried ${BENCH_TMPDIR:-} /tmp /var/tmp /run)"
T=$(mktemp -d "$TMP_BASE/skiff-bench-$BENCH_TAG.XXXXXX")
chmod 0755 "$T"
mkdir -p "$T/bin" "$T/home" "$T/config" "$T/xdg" "$T/logs" "$T/store" "$T/image" "$T/out" "$T/dockercfg" "$T/docker"
chown "$TUID:$TGID" "$T/home" "$T/config" "$T/xdg" "$T/store"
chmod 0700 "$T/xdg" "$T/dockercfg"
XDG=$T/xdg
D=$T/docker
CGPARENT=skiff-bench-$BENCH_TAG-$$       # dockerd's --cgroup-parent: its containers' cgroups, removed at the end

ETC_DOCKER_KEY_EXISTED=0; [ -e /etc/docker/key.json ] && ETC_DOCKER_KEY_EXISTED=1
RUN_DOCKER_EXISTED=0; [ -e /run/docker ] && RUN_DOCKER_EXISTED=1

declare -a STARTED=()      # "PID:STARTTIME" of every process we started
declare -A SOCK=()         # SOCK[peer]: the peer's API socket
declare -A SVC=()          # SVC[peer]: the service's pid (docker: dockerd)

# monitors PEER : pids of that peer's per-container monitors started by this run: the executable
# is the monitor's and the command line names this run's temp dir
monitors() {
    local exe p cmdline
    case $1 in
        skiff) exe=$T/bin/skiff-monitor ;;  # or skiff-relay, below
        podman) exe=${CONMON:-/usr/bin/conmon} ;;
        docker) exe=${SHIM:-/usr/bin/containerd-shim-runc-v2} ;;
    esac
    for p in /proc/[0-9]*; do
        case $(readlink "$p/exe" 2>/dev/null) in
            "$exe") ;;
            "$T/bin/skiff-relay") [ "$1" = skiff ] || continue ;;
            *) continue ;;
        esac
        cmdline=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null)
        [[ $cmdline == *"$T/"* ]] || continue
        # skiff-relay --keep-userns holds the rootless containers' shared user namespace: one
        # for all of them, not a monitor (Podman's pause process is not counted either).
        [[ $cmdline == *" --keep-userns "* ]] && continue
        # skiff-monitor --warm waits for the next container (one per service): counted once it
        # has one, which it holds open (its log).
        if [[ $cmdline == *" --warm "* ]] && ! ls -l "$p/fd" 2>/dev/null | grep -qF "$T/"; then continue; fi
        proc_alive "${p#/proc/}" && echo "${p#/proc/}"
    done
    return 0
}

cleanup() {
    local rc=$? p peer m
    trap - EXIT INT TERM
    if [ "$rc" != 0 ] && [ -n "${T:-}" ] && [ -d "$T/logs" ]; then
        # on a failure: the services' logs are kept, and the end of each printed
        m=$OUT/$BENCH_PART-failed-$(date -u +%Y%m%dT%H%M%SZ)
        mkdir -p "$m" && cp -r "$T/logs/." "$m/" 2>/dev/null && log "the services' logs are kept in $m"
        for peer in "${!SVC[@]}"; do
            proc_alive "${SVC[$peer]}" || log "$peer: the service (pid ${SVC[$peer]}) is not running"
            p=$T/logs/$peer.log; [ "$peer" = docker ] && p=$T/logs/dockerd.log
            [ -s "$p" ] || continue
            log "$peer: the end of $(basename "$p"):"
            tail -n 15 "$p" >&2 || true
        done
    fi
    # running containers first, through their engines, while the engines are up (bounded; the
    # others have no process and go with the temp dir)
    for peer in "${!SOCK[@]}"; do
        if [ -S "${SOCK[$peer]}" ] && proc_alive "${SVC[$peer]:-0}"; then
            timeout 120 python3 "$ROOT/bench/ctclient.py" "${SOCK[$peer]}" rmrunning >/dev/null 2>&1 ||
                log "cleanup: removing $peer's containers failed; stopping their monitors"
        fi
    done
    for p in "${STARTED[@]}"; do   # only if it is still the process we started (no pid reuse)
        if proc_alive "${p%%:*}" && [ "$(starttime "${p%%:*}")" = "${p#*:}" ]; then stop_pids 10 "${p%%:*}"; fi
    done
    # monitors (and so their containers) that outlived their engine
    for peer in skiff podman docker; do
        for m in $(monitors "$peer"); do stop_pids 5 "$m"; done
    done
    if [ -n "${XDG:-}" ]; then
        p=$(podman_pause)
        if [ -n "$p" ]; then stop_pids 5 "$p"; fi
    fi
    if [ -n "${T:-}" ] && [ -d "$T" ]; then
        # mounts left below the temp dir (dockerd's overlay2, shm), deepest first
        findmnt -rn -o TARGET | awk -v t="$T/" 'index($0, t) == 1' | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
        # Podman's and Skiff's rootless storage holds files owned by sub-uids: remove as root
        rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T" || log "could not remove $T"; }
    fi
    find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d -name "$CGPARENT" 2>/dev/null | while read -r m; do
        find "$m" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    if [ "$ETC_DOCKER_KEY_EXISTED" = 0 ]; then rm -f /etc/docker/key.json; fi
    if [ "$RUN_DOCKER_EXISTED" = 0 ]; then rm -rf /run/docker 2>/dev/null || true; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# a command as the test user with a clean environment: "${AS_USER[@]}" [VAR=VALUE...] CMD ...
# (an array, not a function, so that `... &` gives the service's own pid in $!)
AS_USER=(setpriv --reuid="$TUID" --regid="$TGID" --init-groups
         env -i PATH="$SYS_PATH" HOME="$T/home" USER="$USER_NAME" LOGNAME="$USER_NAME" XDG_RUNTIME_DIR="$XDG"
         XDG_CONFIG_HOME="$T/config")

# dk PEER ARGS... : the docker CLI against that peer's socket, with a config dir of its own
dk() {
    local peer=$1; shift
    env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" DOCKER_HOST="unix://${SOCK[$peer]}" \
        "$DOCKER_CLI" "$@"
}
api() { local peer=$1; shift; python3 "$ROOT/bench/ctclient.py" "${SOCK[$peer]}" "$@"; }
# peer_net PEER CMD... : CMD in the network namespace where PEER's published ports are (the
# host's, but Docker's own with DOCKER_OWN_NETNS=1)
peer_net() {
    local peer=$1; shift
    if [ "$peer" = docker ] && [ -n "${DOCKER_NETNS:-}" ]; then nsenter --net="$DOCKER_NETNS" "$@"; else "$@"; fi
}

# stats VALUE_S... : seconds in, "median min max p90" in milliseconds out
stats() {
    printf '%s\n' "$@" | sort -g | awk '
        {v[NR] = $1}
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              k = int(0.9 * NR); if (k < 0.9 * NR) k++
              printf "%.3f %.3f %.3f %.3f", m * 1000, v[1] * 1000, v[NR] * 1000, v[k] * 1000 }'
}
field() { awk -v s="$1" -v i="$2" 'BEGIN{split(s, a, " "); print a[i]}'; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.6f", b - a}'; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- the image
log "building the busybox image (Tests/integration/images.py, from /bin/busybox)"
IMAGE_ARCHIVE=$(python3 - "$ROOT/Tests/integration" "$T/image" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import images
print(images.build_busybox(sys.argv[2]).archive)
EOF
) || die "building the busybox image failed"
chmod -R a+rX "$T/image"

# ---------------------------------------------------------------- services
wait_ping() {   # wait_ping PEER LOG : until the socket answers /_ping (60 s)
    local peer=$1 lg=$2 i
    for ((i = 0; i < 3000; i++)); do
        if [ -S "${SOCK[$peer]}" ] && python3 - "${SOCK[$peer]}" <<'EOF' 2>/dev/null; then return 0; fi
import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n")
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)
EOF
        proc_alive "${SVC[$peer]}" || { tail -n 30 "$lg" >&2; die "$peer: the service exited"; }
        sleep 0.02
    done
    tail -n 30 "$lg" >&2; die "$peer: no /_ping after 60 s"
}

start_skiff() {
    install -m 0755 "$SKIFF_DIR/skiff" "$SKIFF_DIR/skiff-image" "$SKIFF_DIR/skiff-monitor" "$T/bin/"
    # Without skiff-relay (an older tree) the Swift monitor relays itself.
    if [ -x "$SKIFF_DIR/skiff-relay" ]; then install -m 0755 "$SKIFF_DIR/skiff-relay" "$T/bin/"; fi
    local tree="built from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    git -C "$ROOT" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || tree+=" + uncommitted changes under Sources/"
    [ -n "${SKIFF_BIN_GIVEN:-}" ] && tree="SKIFF_BIN=$SKIFF_BIN"
    R[skiff.version]="$(timeout 5 "$T/bin/skiff" --version 2>/dev/null | head -1 || true) ($tree)"
    mkdir -p "$T/store/skiff"; chown "$TUID:$TGID" "$T/store/skiff"
    SOCK[skiff]=$XDG/skiff.sock
    "${AS_USER[@]}" XDG_DATA_HOME="$T/store/skiff" "$T/bin/skiff" service --socket "${SOCK[skiff]}" --time 0 \
        >"$T/logs/skiff.log" 2>&1 &
    SVC[skiff]=$!; track "${SVC[skiff]}"
    wait_ping skiff "$T/logs/skiff.log"
}

start_podman() {
    R[podman.version]=$(podman --version | awk '{print $3}')
    mkdir -p "$T/store/podman"; chown "$TUID:$TGID" "$T/store/podman"
    SOCK[podman]=$XDG/podman.sock
    # Podman keeps its container locks in shared memory across runs; stores deleted by earlier
    # (interrupted) runs leave them taken until "exceeded num_locks (2048)". With no Podman of
    # this user running, nothing holds them.
    if ! pgrep -u "$TUID" -x podman >/dev/null; then rm -f "/dev/shm/libpod_rootless_lock_$TUID"; fi
    "${AS_USER[@]}" podman --runtime runc --cgroup-manager=cgroupfs --storage-driver "$PODMAN_DRIVER" \
        --root "$T/store/podman/root" --runroot "$XDG/podman-run" \
        system service --time 0 "unix://${SOCK[podman]}" >"$T/logs/podman.log" 2>&1 &
    SVC[podman]=$!; track "${SVC[podman]}"
    wait_ping podman "$T/logs/podman.log"
}

start_docker() {
    R[docker.version]="$(dockerd --version | sed -n 's/^Docker version \([^,+]*\).*/\1/p') + containerd $(containerd --version | awk '{print $3}')"
    mkdir -p "$D/containerd"
    cat >"$D/containerd/config.toml" <<EOF
version = 2
root = "$D/containerd/root"
state = "$D/containerd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$D/containerd/containerd.sock"
[debug]
  address = "$D/containerd/debug.sock"
  level = "warn"
EOF
    env -i PATH="$SYS_PATH" containerd --config "$D/containerd/config.toml" >"$T/logs/containerd.log" 2>&1 &
    CTD_PID=$!; track "$CTD_PID"
    local i
    for ((i = 0; i < 3000; i++)); do
        [ -S "$D/containerd/containerd.sock" ] && break
        proc_alive "$CTD_PID" || { tail "$T/logs/containerd.log" >&2; die "containerd exited"; }
        sleep 0.02
    done
    SOCK[docker]=$D/docker.sock
    # Without a network namespace of its own dockerd must not touch the host's network: no
    # bridge, no iptables. With DOCKER_OWN_NETNS=1 (bench/network.sh) it runs in a network
    # namespace this run makes, held by a sleeping process, with Docker's defaults there (the
    # docker0 bridge, iptables NAT, docker-proxy): Docker as its users have it, and nothing of
    # it on the host. Clients of its published ports run in that namespace (peer_net).
    local wrap=() net=(--iptables=false --ip-forward=false --ip-masq=false --bridge=none)
    if [ "${DOCKER_OWN_NETNS:-0}" = 1 ]; then
        unshare --net sleep infinity &
        local holder=$!; track "$holder"
        for ((i = 0; i < 500; i++)); do
            [ "$(readlink "/proc/$holder/ns/net")" != "$(readlink /proc/self/ns/net)" ] && break
            sleep 0.01
        done
        DOCKER_NETNS=/proc/$holder/ns/net
        nsenter --net="$DOCKER_NETNS" ip link set lo up || die "docker: lo up in its network namespace failed"
        wrap=(nsenter --net="$DOCKER_NETNS")
        net=()
    fi
    env -i PATH="$SYS_PATH" "${wrap[@]}" dockerd --containerd "$D/containerd/containerd.sock" \
        --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/dockerd.pid" \
        -H "unix://${SOCK[docker]}" "${net[@]}" --cgroup-parent "/$CGPARENT" >"$T/logs/dockerd.log" 2>&1 &
    SVC[docker]=$!; track "${SVC[docker]}"
    wait_ping docker "$T/logs/dockerd.log"
}

for peer in "${peers[@]}"; do
    log "$peer: starting the service, loading busybox"
    "start_$peer"
    dk "$peer" load -i "$IMAGE_ARCHIVE" >"$T/logs/$peer-load.log" 2>&1 ||
        { cat "$T/logs/$peer-load.log" >&2; die "$peer: docker load failed"; }
done

# a first `docker run --rm` per peer: Skiff is dropped (with the reason) when it cannot run it yet
for peer in "${peers[@]}"; do
    if out=$(timeout 60 env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" \
             DOCKER_HOST="unix://${SOCK[$peer]}" "$DOCKER_CLI" run --rm --network none busybox echo ok 2>&1) &&
       [ "$out" = ok ]; then
        continue
    fi
    out=$(tr '\n' ' ' <<<"$out" | cut -c1-300)
    if [ "$peer" = skiff ]; then
        SKIFF_SKIPPED="its first \`docker run --rm --network none busybox echo ok\` failed: ${out:-no output (timeout?)}"
        note "Skiff skipped: $SKIFF_SKIPPED"
        tail -n 20 "$T/logs/skiff.log" >&2 || true
        timeout 60 python3 "$ROOT/bench/ctclient.py" "${SOCK[skiff]}" rmall >/dev/null 2>&1 || true
        stop_pids 10 "${SVC[skiff]}"
        for m in $(monitors skiff); do stop_pids 5 "$m"; done
        unset 'SOCK[skiff]'
        drop_peer skiff
    else
        die "$peer: \`docker run --rm --network none busybox echo ok\` failed: $out"
    fi
done
[ ${#peers[@]} -gt 0 ] || die "no peer left to measure"

