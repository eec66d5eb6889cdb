#!/usr/bin/env bash
# bench/run.sh — `make bench`: Skiff vs Podman vs Docker on the Docker Engine API's /_ping,
# then (bench/runtime.sh) Skiff's OCI runtime vs crun and runc, then (bench/images.sh) pull, load
# and list of images, Skiff vs Podman, then (bench/containers.sh) containers: `docker run --rm`,
# create+start+wait+rm, list, logs and monitor memory, Skiff vs Podman vs Docker. BENCH_PARTS picks
# the parts.
#
# Measures, in one run and one peer at a time (so they never compete for the CPU):
#   1. cold start to the first /_ping. Skiff and Podman: the listening socket is held by
#      `systemd-socket-activate -l PATH`; timed from the client's connect()+send of
#      GET /_ping to the end of the response (the service is exec'd by that connection).
#      Docker has no socket activation: timed from the exec of containerd + dockerd to
#      the first successful /_ping. One unmeasured warm-up start, then BENCH_COLD_RUNS.
#   2. warm /_ping latency on one keep-alive connection (BENCH_WARM_REQS sequential requests),
#   3. /_ping requests per second at concurrency 1 and 8 (keep-alive, BENCH_RPS_SECONDS each),
#   4. the idle service's memory (PSS and RSS from /proc/PID/smaps_rollup) after a few
#      requests and one second of idling.
# then prints one table with ratios against the best peer of each row, and the targets.
#
# Must run as root on Debian 12. Installs what is missing, creates the unprivileged user
# (scripts/setup-test-user.sh), builds Skiff (release, static Swift stdlib) unless SKIFF_BIN
# names a binary, runs Skiff and Podman rootless as that user, dockerd rootful in a temp dir
# with networking off. Only unix sockets are used. Everything it starts or creates is removed
# at the end, also on failure.
#
# Knobs (environment):
#   BENCH_PARTS="api runtime images containers exec pressure resources health files cgroups denials network volumes build dns"  which parts to run (exec: bench/exec.sh): api (this script's /_ping
#                           benchmark), runtime (bench/runtime.sh: `run` of /bin/true with Skiff's
#                           runtime, crun and runc; see its knobs there), images (bench/images.sh:
#                           pull, load, import and list through the API, Skiff vs Podman, against
#                           one local registry; see its knobs there), containers
#                           (bench/containers.sh: GET /containers/json req/s with 0 and 5
#                           containers, `docker run --rm` latency, create+start+wait+rm of 50
#                           containers, GET /containers/json with 500, `docker logs` of
#                           100 MB, per-container monitor PSS with 10 and 50 running; Skiff, Podman
#                           and Docker through the same docker CLI; see its knobs there), pressure
#                           (bench/pressure.sh: /_ping from a new client while 1000 half-sent
#                           connections are held, and the service's RSS with 600 logs -f streams;
#                           Skiff vs Podman; see its knobs there), resources (bench/resources.sh:
#                           `docker stats --no-stream` and GET /containers/{id}/stats with
#                           stream=false and one-shot; Skiff, Podman and Docker), health
#                           (bench/health.sh: the supervisor's memory with a healthcheck every
#                           second over 10 minutes, Skiff vs Podman vs Docker; see its knobs there),
#                           files (bench/files.sh: `docker cp` of a 100 MB directory into and out
#                           of a container, Skiff, Podman and Docker; see its knobs there), denials
#                           (bench/denials.sh: explained denials on vs off, Skiff only),
#                           cgroups (bench/cgroups.sh: `docker run --rm` with and without
#                           --memory 64m --pids-limit 100, and a cgroup2 cgroup per container), network
#                           (bench/network.sh: `docker run --rm` on the default network against
#                           --network none, TCP through a published port, the helpers' memory;
#                           Skiff vs Podman; see its knobs there), volumes (bench/volumes.sh:
#                           `docker volume ls` with 1000 volumes, /system/df, a new volume's
#                           copy-up of 10k files; see its knobs there), dns (bench/dns.sh: names
#                           between containers, aardvark-dns against the network keeper's responder)
#   SKIFF_BIN=PATH          use this skiff binary, do not build
#   BENCH_PEERS="skiff podman docker"   which peers to run (the table shows those)
#   BENCH_COLD_RUNS=10      measured cold starts per peer (after one warm-up start)
#   BENCH_WARM_REQS=5000    sequential requests for the warm latency
#   BENCH_RPS_SECONDS=5     duration of each throughput level
#   BENCH_NO_INSTALL=1      do not check/install Debian packages
#   BENCH_STRICT=1          exit 1 when a target is missed (default: report only)
#   BENCH_TMPDIR=DIR        base for the temp dir (default /tmp, else /var/tmp or /run
#                           when /tmp is not traversable by the test user)
#   SKIFF_TEST_USER=skiff-test
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
PEERS=${BENCH_PEERS:-skiff podman docker}
COLD_RUNS=${BENCH_COLD_RUNS:-10}
WARM_REQS=${BENCH_WARM_REQS:-5000}
RPS_SECONDS=${BENCH_RPS_SECONDS:-5}
RPS_MAX_REQS=5000000          # count bound for each throughput level
IDLE_TIME=300                 # services' own idle exit (--time), in case cleanup fails
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts a rootful dockerd)"
PARTS=${BENCH_PARTS:-api runtime images containers exec pressure resources health files cgroups denials network volumes build dns}
for p in $PARTS; do
    case $p in api|runtime|images|containers|exec|pressure|resources|health|files|cgroups|denials|network|volumes|build|dns) ;; *) die "unknown part '$p' in BENCH_PARTS (api, runtime, images, containers, exec, pressure, resources, health, files, cgroups, denials, network, volumes, build, dns)" ;; esac
done
has_part() { [[ " $PARTS " == *" $1 "* ]]; }
# the parts in scripts of their own (after the api part): each runs even when another failed
other_parts() {
    local part rc=0
    for part in runtime images containers exec pressure resources health files cgroups denials network volumes build dns; do
        if has_part "$part"; then
            bash "$ROOT/bench/$part.sh" || { rc=$?; log "bench/$part.sh failed (exit status $rc)"; }
        fi
    done
    return "$rc"
}
if ! has_part api; then
    other_parts
    exit $?
fi
for p in $PEERS; do
    case $p in skiff|podman|docker) ;; *) die "unknown peer '$p' in BENCH_PEERS" ;; esac
done
has_peer() { [[ " $PEERS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- set-up
PKGS=(podman docker.io runc crun conmon systemd uidmap slirp4netns fuse-overlayfs gcc procps util-linux)
if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    bash "$ROOT/scripts/apt-install-missing.sh" "${PKGS[@]}" || die "apt-get install of ${PKGS[*]} failed"
fi
for t in gcc setpriv systemd-socket-activate ps; do
    command -v "$t" >/dev/null || die "$t not found"
done
if has_peer podman; then command -v podman >/dev/null || die "podman not found"; fi
if has_peer docker; then
    for t in dockerd containerd; do command -v "$t" >/dev/null || die "$t not found"; done
fi

SKIFF_TEST_USER=$USER_NAME bash "$ROOT/scripts/setup-test-user.sh"
TUID=$(id -u "$USER_NAME")
TGID=$(id -g "$USER_NAME")

mkdir -p "$OUT"
gcc -O2 -Wall -o "$OUT/pingload" "$ROOT/bench/pingload.c" || die "building pingload failed"
gcc -O2 -Wall -o "$OUT/pingserver" "$ROOT/bench/pingserver.c" || die "building pingserver failed"
PINGLOAD=$OUT/pingload

if has_peer skiff; then
    if [ -n "${SKIFF_BIN:-}" ]; then
        [ -x "$SKIFF_BIN" ] || die "SKIFF_BIN=$SKIFF_BIN is not an executable"
    else
        log "building skiff (release, static Swift stdlib)"
        (cd "$ROOT" && swift build -c release --static-swift-stdlib --product skiff) >&2 ||
            die "swift build failed"
        SKIFF_BIN=$ROOT/.build/release/skiff
        [ -x "$SKIFF_BIN" ] || die "$SKIFF_BIN missing after the build"
    fi
fi

# ---------------------------------------------------------------- bookkeeping, cleanup
# the test user must reach its sockets and the skiff binary: use a base directory that
# others may traverse (a test run that leaves /tmp at 0700 must not break the benchmark)
TMP_BASE=$(traversable_tmp_base) || die "no temp directory the test user can traverse (tried ${BENCH_TMPDIR:-} /tmp /var/tmp /run)"
[ "$TMP_BASE" = /tmp ] || [ "$TMP_BASE" = "${BENCH_TMPDIR:-}" ] ||
    log "note: /tmp is not traversable by other users ($(stat -c %a /tmp)); using $TMP_BASE"
T=$(mktemp -d "$TMP_BASE/skiff-bench.XXXXXX")
chmod 0755 "$T"
mkdir -p "$T/bin" "$T/home" "$T/xdg" "$T/logs" "$T/docker"
chown "$TUID:$TGID" "$T/home" "$T/xdg"
chmod 0700 "$T/xdg"
XDG=$T/xdg

ETC_DOCKER_KEY_EXISTED=0; [ -e /etc/docker/key.json ] && ETC_DOCKER_KEY_EXISTED=1
RUN_DOCKER_EXISTED=0; [ -e /run/docker ] && RUN_DOCKER_EXISTED=1

declare -a STARTED=()      # "PID:STARTTIME" of every process we started or a peer left behind

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${STARTED[@]}"; do   # only if it is still the process we started (no pid reuse)
        if proc_alive "${p%%:*}" && [ "$(starttime "${p%%:*}")" = "${p#*:}" ]; then stop_pids 5 "${p%%:*}"; fi
    done
    # podman's rootless pause process, if one of its starts left it behind
    if [ -n "${XDG:-}" ] && [ -s "$XDG/libpod/tmp/pause.pid" ]; then
        p=$(cat "$XDG/libpod/tmp/pause.pid")
        if proc_alive "$p" && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = catatonit ] &&
           [ "$(stat -c %u "/proc/$p")" = "$TUID" ]; then stop_pids 5 "$p"; fi
    fi
    if [ -n "${T:-}" ] && [ -d "$T" ]; then
        # podman's rootless storage contains files owned by sub-uids: remove as root
        rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T" || log "could not remove $T"; }
    fi
    if [ "$ETC_DOCKER_KEY_EXISTED" = 0 ]; then rm -f /etc/docker/key.json; fi
    if [ "$RUN_DOCKER_EXISTED" = 0 ]; then rm -rf /run/docker; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# memory of a set of pids (live ones): prints "PSS_KiB RSS_KiB"
mem_kib() {
    local p pss=0 rss=0 a b
    for p in "$@"; do
        proc_alive "$p" || continue
        read -r a b < <(awk '/^Pss:/{p=$2} /^Rss:/{r=$2} END{print p+0, r+0}' "/proc/$p/smaps_rollup" 2>/dev/null || echo "0 0")
        pss=$((pss + a)); rss=$((rss + b))
    done
    echo "$pss $rss"
}
mem_breakdown() {
    local p out=""
    for p in "$@"; do
        proc_alive "$p" || continue
        out+="$(cat "/proc/$p/comm")[$p] $(awk '/^Pss:/{t=$2} /^Pss_Anon:/{a=$2} /^Pss_File:/{f=$2}
            END{printf "%.1f MiB (anon %.1f, file %.1f)", t/1024, a/1024, f/1024}' "/proc/$p/smaps_rollup"), "
    done
    echo "${out%, }"
}

kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }   # kv KEY "k=v k=v ..."

declare -A R              # results: R[peer.metric]
declare -a NOTES=()
note() { NOTES+=("$*"); }

user_procs() { ps -e -o pid=,uid= | awk -v u="$TUID" '$2 == u {print $1}' | sort -n; }
USER_PROCS_BEFORE=$(user_procs)

# ---------------------------------------------------------------- socket-activated peers
# sa_start NAME I CMD... : starts `systemd-socket-activate -l SOCK CMD...` as the test user,
# waits until it listens; sets SA_PID and SA_SOCK.
sa_start() {
    local name=$1 i=$2; shift 2
    SA_SOCK=$XDG/$name-$i.sock
    local lg=$T/logs/$name-$i.log
    setpriv --reuid="$TUID" --regid="$TGID" --init-groups \
        env -i PATH="$SYS_PATH" HOME="$T/home" USER="$USER_NAME" LOGNAME="$USER_NAME" XDG_RUNTIME_DIR="$XDG" \
        systemd-socket-activate -l "$SA_SOCK" -E XDG_RUNTIME_DIR="$XDG" "$@" >"$lg" 2>&1 &
    SA_PID=$!
    track "$SA_PID"
    local k
    for ((k = 0; k < 1000; k++)); do
        grep -q '^Listening on' "$lg" 2>/dev/null && break
        proc_alive "$SA_PID" || { cat "$lg" >&2; die "$name: systemd-socket-activate exited"; }
        sleep 0.005
    done
    grep -q '^Listening on' "$lg" || { cat "$lg" >&2; die "$name: socket not listening after 5 s"; }
    sleep 0.1   # let it settle in epoll_wait: the service must not be exec'd before we connect
}

# run_sa_peer NAME EXTRA_PIDS_FUNC CMD... : the whole measurement for one socket-activated peer
run_sa_peer() {
    local name=$1 extra_fn=$2; shift 2
    local i line colds=()
    log "$name: $COLD_RUNS cold starts (+1 warm-up) under systemd-socket-activate"
    for ((i = 0; i <= COLD_RUNS; i++)); do
        sa_start "$name" "$i" "$@"
        line=$("$PINGLOAD" -s "$SA_SOCK" --once) ||
            { cat "$T/logs/$name-$i.log" >&2; die "$name: first /_ping failed"; }
        [ "$i" -gt 0 ] && colds+=("$(kv total_us "$line")")
        if [ "$i" -lt "$COLD_RUNS" ]; then stop_pids 10 "$SA_PID"; fi
    done
    R[$name.cold]=$(stats3 "${colds[@]}")
    measure_running "$name" "$SA_SOCK" "$SA_PID" "$extra_fn"
    stop_pids 10 "$SA_PID"
}

# measure_running NAME SOCK MAINPID EXTRA_PIDS_FUNC : idle memory, warm latency, throughput
measure_running() {
    local name=$1 sock=$2 main=$3 extra_fn=$4 line pids
    "$PINGLOAD" -s "$sock" -c 1 -n 20 -d 10 >/dev/null || die "$name: pings before the idle memory failed"
    sleep 1
    pids=("$main" $(descendants "$main") $($extra_fn))
    read -r R[$name.pss] R[$name.rss] < <(mem_kib "${pids[@]}")
    note "$name idle PSS by process: $(mem_breakdown "${pids[@]}")"

    log "$name: warm latency ($WARM_REQS sequential requests, 1 keep-alive connection)"
    line=$("$PINGLOAD" -s "$sock" -c 1 -n "$WARM_REQS" -w 500 -d 60) || die "$name: warm latency run failed: $line"
    R[$name.p50]=$(kv lat_us_p50 "$line"); R[$name.p99]=$(kv lat_us_p99 "$line")
    local c
    for c in 1 8; do
        log "$name: throughput, $c connection(s), ${RPS_SECONDS}s"
        line=$("$PINGLOAD" -s "$sock" -c "$c" -n "$RPS_MAX_REQS" -d "$RPS_SECONDS" -w 2000) ||
            die "$name: throughput run at c=$c failed: $line"
        R[$name.rps$c]=$(kv rps "$line")
        [ "$(kv reconnects "$line")" = 0 ] || note "$name: c=$c: server closed keep-alive connections $(kv reconnects "$line") times"
    done
    sleep 1
    pids=("$main" $(descendants "$main") $($extra_fn))
    read -r R[$name.pss_load] _ < <(mem_kib "${pids[@]}")
}

stats3() {   # microseconds in, "min median max" in milliseconds out
    printf '%s\n' "$@" | sort -g | awk '
        {v[NR]=$1} END {m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
                        printf "%.3f %.3f %.3f", v[1]/1000, m/1000, v[NR]/1000}'
}

no_extra() { :; }

# ---------------------------------------------------------------- calibration
# pingload against a trivial C server: the ceiling of this machine + load generator.
log "calibration: pingload against a trivial C /_ping server"
"$OUT/pingserver" "$T/ref.sock" 60 >"$T/logs/pingserver.log" 2>&1 &
REF_PID=$!; track "$REF_PID"
"$PINGLOAD" -s "$T/ref.sock" --wait-ready 5 >/dev/null || die "pingserver did not come up"
ref1=()
for i in 1 2 3; do
    line=$("$PINGLOAD" -s "$T/ref.sock" -c 1 -d 1 -w 2000 -n "$RPS_MAX_REQS") || die "calibration run failed"
    ref1+=("$(kv rps "$line")")
done
ref8=$("$PINGLOAD" -s "$T/ref.sock" -c 8 -d 2 -w 2000 -n "$RPS_MAX_REQS") || die "calibration run failed"
stop_pids 5 "$REF_PID"
REF_LINE="1 conn ${ref1[0]}, ${ref1[1]}, ${ref1[2]} req/s (3 runs of 1 s); 8 conns $(kv rps "$ref8") req/s"
note "1-connection throughput is bound by wake-up latency, not by the server's work: every request wakes the server and every response wakes the client. On the 2-CPU VM this harness was written on, a wake-up on the other CPU cost ~20 us and the trivial C server dropped from ~100k to ~20k req/s when the scheduler puts it and the client on different CPUs (see the ceiling line); Go's scheduler spins briefly before it sleeps and so pays part of that cost less. Read the 1-conn rows with that in mind; 8 connections measure the server's CPU cost per request."

podman_pause() {   # podman's rootless pause process (catatonit) holds its user namespace
    local f=$XDG/libpod/tmp/pause.pid
    [ -s "$f" ] && cat "$f" || true
}

# ---------------------------------------------------------------- Skiff
if has_peer skiff; then
    install -m 0755 "$SKIFF_BIN" "$T/bin/skiff"
    R[skiff.version]="$(timeout 5 "$T/bin/skiff" --version 2>/dev/null | head -1 || true) (tree at $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
    run_sa_peer skiff no_extra "$T/bin/skiff" service --time "$IDLE_TIME"
fi

# ---------------------------------------------------------------- Podman
if has_peer podman; then
    R[podman.version]=$(podman --version | awk '{print $3}')
    mkdir -p "$T/home/podman-root"; chown "$TUID:$TGID" "$T/home/podman-root"
    run_sa_peer podman podman_pause \
        podman --runtime runc --cgroup-manager=cgroupfs \
        --root "$T/home/podman-root" --runroot "$XDG/podman-runroot" \
        system service --time "$IDLE_TIME"
    p=$(podman_pause)
    if [ -n "$p" ]; then stop_pids 5 "$p"; fi
    # the same cold start with no pause process left from an earlier start: podman then
    # creates its user namespace (and the pause process) before it can answer
    colds=()
    n_nopause=$(( COLD_RUNS < 5 ? COLD_RUNS : 5 ))
    log "podman: $n_nopause cold starts without a pause process"
    for ((i = 0; i < n_nopause; i++)); do
        sa_start podman "np$i" podman --runtime runc --cgroup-manager=cgroupfs \
            --root "$T/home/podman-root" --runroot "$XDG/podman-runroot" system service --time "$IDLE_TIME"
        line=$("$PINGLOAD" -s "$SA_SOCK" --once) || die "podman: first /_ping failed"
        colds+=("$(kv total_us "$line")")
        stop_pids 10 "$SA_PID"
        p=$(podman_pause)
        if [ -n "$p" ]; then stop_pids 5 "$p"; fi
    done
    R[podman.cold_nopause]=$(stats3 "${colds[@]}")
    note "podman: the measured starts join the rootless pause process (catatonit, holding the user namespace) made by the warm-up start, as on a machine where podman has run before; it is counted in Podman's memory. With no pause process left (each start creates the user namespace), $n_nopause starts took min/median/max $(awk -v s="${R[podman.cold_nopause]}" 'BEGIN{split(s,a," "); printf "%.1f / %.1f / %.1f ms", a[1], a[2], a[3]}')"
fi

# ---------------------------------------------------------------- Docker
if has_peer docker; then
    R[docker.version]=$(dockerd --version | sed -n 's/^Docker version \([^,+]*\).*/\1/p')
    R[containerd.version]=$(containerd --version | awk '{print $3}')
    D=$T/docker
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
  level = "info"
EOF
    DOCKER_SOCK=$D/docker.sock
    docker_start() {   # sets CTD_PID DOCKERD_PID DOCKER_COLD_MS
        local lg=$T/logs/docker-$1 t0 line r1
        t0=$EPOCHREALTIME
        env -i PATH="$SYS_PATH" containerd --config "$D/containerd/config.toml" >"$lg.containerd.log" 2>&1 &
        CTD_PID=$!; track "$CTD_PID"
        "$PINGLOAD" -s "$D/containerd/containerd.sock" --wait-connect 30 >/dev/null ||
            { tail "$lg.containerd.log" >&2; die "containerd did not come up"; }
        env -i PATH="$SYS_PATH" dockerd --containerd "$D/containerd/containerd.sock" \
            --data-root "$D/data" --exec-root "$D/exec" --pidfile "$D/dockerd.pid" \
            -H "unix://$DOCKER_SOCK" --iptables=false --ip-forward=false --ip-masq=false \
            --bridge=none >"$lg.dockerd.log" 2>&1 &
        DOCKERD_PID=$!; track "$DOCKERD_PID"
        line=$("$PINGLOAD" -s "$DOCKER_SOCK" --wait-ready 60) ||
            { tail "$lg.dockerd.log" >&2; die "dockerd did not answer /_ping"; }
        r1=$(kv ready_realtime_ns "$line")
        DOCKER_COLD_US=$(awk -v a="$t0" -v b="$r1" 'BEGIN{printf "%.1f", (b/1e9 - a) * 1e6}')
    }
    docker_stop() {
        stop_pids 20 "$DOCKERD_PID"
        stop_pids 10 "$CTD_PID"
    }
    log "docker: $COLD_RUNS cold starts (+1 warm-up) of containerd + dockerd"
    colds=()
    for ((i = 0; i <= COLD_RUNS; i++)); do
        docker_start "$i"
        [ "$i" -gt 0 ] && colds+=("$DOCKER_COLD_US")
        if [ "$i" -lt "$COLD_RUNS" ]; then docker_stop; fi
    done
    R[docker.cold]=$(stats3 "${colds[@]}")
    ctd_pid() { echo "$CTD_PID"; }
    measure_running docker "$DOCKER_SOCK" "$DOCKERD_PID" ctd_pid
    docker_stop
fi

USER_PROCS_AFTER=$(user_procs)
left=$(comm -13 <(echo "$USER_PROCS_BEFORE" | sort) <(echo "$USER_PROCS_AFTER" | sort) | while read -r p; do
    proc_alive "$p" && echo "$p($(cat /proc/$p/comm 2>/dev/null))"; done | tr '\n' ' ')
[ -z "$left" ] || note "processes of $USER_NAME still running that this run did not account for: $left"

# ---------------------------------------------------------------- report
declare -A LABEL=([skiff]="Skiff" [podman]="Podman ${R[podman.version]:-}" [docker]="Docker ${R[docker.version]:-}")
cols=()
for p in skiff podman docker; do has_peer "$p" && cols+=("$p"); done

# row TITLE METRIC_EXPR DIRECTION(low|high) FORMAT
# METRIC_EXPR: key in R, or key:N for the Nth field of a space-separated value
getv() {
    local key=${2%%:*} idx=1
    [[ $2 == *:* ]] && idx=${2##*:}
    local v=${R[$1.$key]:-}
    [ -n "$v" ] && awk -v s="$v" -v i="$idx" 'BEGIN{split(s, a, " "); print a[i]}'
    return 0
}
row() {
    local title=$1 m=$2 dir=$3 fmt=$4 p v best="" cell
    declare -A vals=()
    for p in "${cols[@]}"; do
        v=$(getv "$p" "$m"); vals[$p]=$v
        [ -z "$v" ] && continue
        if [ -z "$best" ] || awk -v a="$v" -v b="$best" -v d="$dir" 'BEGIN{exit !((d=="low") ? a<b : a>b)}'; then best=$v; fi
    done
    printf '%-38s' "$title"
    for p in "${cols[@]}"; do
        v=${vals[$p]}
        if [ -z "$v" ]; then cell="n/a"
        else cell=$(awk -v v="$v" -v b="$best" -v d="$dir" -v f="$fmt" 'BEGIN{
                r = (d == "low") ? (b > 0 ? v / b : 1) : (v > 0 ? b / v : 0)
                printf (f " (%.2fx)"), v, r }')
            [ "$p" = docker ] && [[ $m == cold* ]] && cell+="*"
        fi
        printf '%-24s' "$cell"
    done
    printf '\n'
}

# The unix-socket path against the last run (issue 12: TCP/TLS support must leave its cold start
# and idle memory unchanged): the Skiff column of the previous table, read before it is replaced.
last_value() {   # last_value ROW_TITLE : the Skiff cell's number in the previous bench-last.txt
    [ -s "$OUT/bench-last.txt" ] || return 0
    awk -v t="$1" 'index($0, t) == 1 { split(substr($0, 39), a, " "); print a[1]; exit }' "$OUT/bench-last.txt"
}
LAST_COLD=$(last_value "cold start to 1st /_ping, median (ms)")
LAST_COLD_MAX=$(last_value "cold start to 1st /_ping, max (ms)")
LAST_PSS=$(last_value "idle PSS (MiB)")
LAST_WHEN=""
[ -s "$OUT/bench-last.txt" ] && LAST_WHEN=$(sed -n '/^Skiff \/_ping benchmark — /{s/^Skiff \/_ping benchmark — \(.*\), [0-9]* CPUs.*/\1/p;q}' "$OUT/bench-last.txt")
# What the service binary maps: BoringSSL lives in skiff-tls only (docs/decisions.md).
if has_peer skiff; then
    if grep -qa 'CNIOBoringSSL_SSL_CTX_new' "$SKIFF_BIN"; then
        note "the skiff binary links BoringSSL (CNIOBoringSSL): the unix-socket path is meant not to map it (docs/decisions.md)"
    else
        note "the skiff binary links no BoringSSL: TCP/TLS is served by skiff-tls, started only for a tcp:// listener"
    fi
fi

TABLE=$OUT/bench-$(date -u +%Y%m%dT%H%M%SZ).txt
{
    echo
    echo "Skiff /_ping benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
    has_peer skiff  && echo "  Skiff:  ${R[skiff.version]}, rootless as $USER_NAME, socket-activated (systemd-socket-activate)"
    has_peer podman && echo "  Podman: ${R[podman.version]}, rootless as $USER_NAME, socket-activated, --runtime runc --cgroup-manager=cgroupfs"
    has_peer docker && echo "  Docker: ${R[docker.version]} dockerd + containerd ${R[containerd.version]}, rootful, --iptables=false --ip-forward=false --bridge=none"
    echo "  cold: $COLD_RUNS runs after 1 warm-up; warm latency: $WARM_REQS sequential requests; throughput: ${RPS_SECONDS}s per level, keep-alive, 1 request in flight per connection"
    echo "  ceiling (pingload vs a trivial C epoll server here): $REF_LINE"
    echo
    printf '%-38s' "metric"
    for p in "${cols[@]}"; do printf '%-24s' "${LABEL[$p]}"; done
    printf '\n'
    printf '%-38s' "------"
    for p in "${cols[@]}"; do printf '%-24s' "------"; done
    printf '\n'
    row "cold start to 1st /_ping, min (ms)"    cold:1 low "%.1f"
    row "cold start to 1st /_ping, median (ms)" cold:2 low "%.1f"
    row "cold start to 1st /_ping, max (ms)"    cold:3 low "%.1f"
    row "warm /_ping latency, median (us)"      p50    low "%.0f"
    row "warm /_ping latency, p99 (us)"         p99    low "%.0f"
    row "/_ping throughput, 1 conn (req/s)"     rps1   high "%.0f"
    row "/_ping throughput, 8 conns (req/s)"    rps8   high "%.0f"
    for p in "${cols[@]}"; do
        for k in pss rss pss_load; do [ -n "${R[$p.$k]:-}" ] && R[$p.${k}_mib]=$(awk -v k="${R[$p.$k]}" 'BEGIN{printf "%.2f", k/1024}'); done
    done
    row "idle PSS (MiB)"                        pss_mib  low "%.1f"
    row "idle RSS (MiB)"                        rss_mib  low "%.1f"
    row "PSS after the load runs (MiB)"         pss_load_mib low "%.1f"
    if has_peer skiff && [ -n "$LAST_COLD" ] && [ -n "$LAST_PSS" ]; then
        echo
        echo "unix-socket path vs the last run ($LAST_WHEN):"
        printf '  %-36s %-14s %-14s %s\n' "" "this run" "last run" "ratio"
        printf '  %-36s %-14s %-14s %s\n' "cold start to 1st /_ping, median (ms)" "$(printf '%.1f' "$(getv skiff cold:2)")" \
            "$LAST_COLD" "$(awk -v a="$(getv skiff cold:2)" -v b="$LAST_COLD" 'BEGIN{printf "%.2fx", (b > 0 ? a/b : 0)}')"
        printf '  %-36s %-14s %-14s %s\n' "idle PSS (MiB)" "${R[skiff.pss_mib]}" "$LAST_PSS" \
            "$(awk -v a="${R[skiff.pss_mib]}" -v b="$LAST_PSS" 'BEGIN{printf "%.2fx", (b > 0 ? a/b : 0)}')"
    fi
    echo
    echo "(n.nnx) = times worse than the best peer in that row; 1.00x is the best."
    has_peer docker && echo "* Docker has no socket activation: time from the exec of containerd + dockerd to the first successful /_ping."
    has_peer docker && echo "  Docker's memory is dockerd + containerd; Podman's includes its rootless pause process."
    echo
    echo "targets (Skiff):"
    target() {  # target TEXT OK(0/1) DETAIL
        printf '  %-44s %-40s %s\n' "$1" "$3" "$([ "$2" = 1 ] && echo PASS || echo FAIL)"
    }
    if has_peer skiff; then
        sc=$(getv skiff cold:2)
        target "cold start (median) <= 20 ms" "$(awk -v a="$sc" 'BEGIN{print (a <= 20) ? 1 : 0}')" "$(printf '%.1f ms' "$sc")"
        if has_peer podman; then
            pc=$(getv podman cold:2)
            target "cold start (median) <= 1/5 of Podman's" "$(awk -v a="$sc" -v b="$pc" 'BEGIN{print (a * 5 <= b) ? 1 : 0}')" \
                "$(awk -v a="$sc" -v b="$pc" 'BEGIN{printf "%.1f ms vs %.1f ms = %.3f of Podman", a, b, a/b}')"
        fi
        if has_peer docker; then
            for c in 1 8; do
                s=${R[skiff.rps$c]}; d=${R[docker.rps$c]}
                target "/_ping throughput, $c conn(s) >= 1.2x Docker" "$(awk -v a="$s" -v b="$d" 'BEGIN{print (a >= 1.2 * b) ? 1 : 0}')" \
                    "$(awk -v a="$s" -v b="$d" 'BEGIN{printf "%.0f vs %.0f req/s = %.2fx", a, b, a/b}')"
            done
        fi
        target "idle PSS <= 6 MiB" "$(awk -v a="${R[skiff.pss]}" 'BEGIN{print (a <= 6 * 1024) ? 1 : 0}')" "${R[skiff.pss_mib]} MiB"
        if [ -n "$LAST_COLD_MAX" ] && [ -n "$LAST_PSS" ]; then
            # within noise: the median no slower than the last run's slowest start, PSS within 0.25 MiB
            target "unix path cold start <= last run's max" "$(awk -v a="$sc" -v b="$LAST_COLD_MAX" 'BEGIN{print (a <= b) ? 1 : 0}')" \
                "$(printf '%.1f ms vs %s ms' "$sc" "$LAST_COLD_MAX")"
            target "unix path idle PSS within 0.25 MiB of last" "$(awk -v a="${R[skiff.pss_mib]}" -v b="$LAST_PSS" 'BEGIN{d = a - b; print (d <= 0.25 && d >= -0.25) ? 1 : 0}')" \
                "${R[skiff.pss_mib]} vs $LAST_PSS MiB"
        fi
    else
        echo "  (Skiff not in BENCH_PEERS)"
    fi
    echo
    echo "notes:"
    for n in "${NOTES[@]}"; do echo "  - $n"; done
} | tee "$TABLE"
cp "$TABLE" "$OUT/bench-last.txt"
log "table saved to $TABLE"

# ---------------------------------------------------------------- the runtime, images and containers parts
other_rc=0
other_parts || other_rc=$?

if [ "${BENCH_STRICT:-0}" = 1 ] && grep -q ' FAIL$' "$TABLE"; then
    die "a target was missed (BENCH_STRICT=1)"
fi
[ "$other_rc" = 0 ] || die "a part in its own script failed (exit status $other_rc)"
