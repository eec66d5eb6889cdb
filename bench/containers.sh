#!/usr/bin/env bash
# bench/containers.sh — the containers part of `make bench`: Skiff vs Podman vs Docker running,
# listing, logging and monitoring containers, each through its own unix socket.
#
# Peers (one service each, all three up for the whole part, used one at a time):
#   Skiff   `skiff service --time 0`, rootless as the test user (skiff-image, skiff-monitor and
#           skiff-relay installed beside it),
#   Podman  `podman system service --time 0`, rootless as the test user, --runtime runc
#           --cgroup-manager=cgroupfs --storage-driver $BENCH_PODMAN_DRIVER (crun refuses this
#           kind of VM's hybrid cgroup layout),
#   Docker  dockerd + containerd from Debian, rootful, in a temp dir (--bridge=none, no iptables,
#           --cgroup-parent of its own).
# The same busybox image (Tests/integration/images.py: Debian's busybox-static, one layer, built
# here, nothing pulled) is loaded into each with `docker load`. Clients: the docker CLI
# ($BENCH_DOCKER_CLI, default /usr/local/bin/docker) with DOCKER_HOST=unix://<peer socket>, and for
# the API steps bench/ctclient.py (Python, one keep-alive connection, API /v1.41). Every container
# has --network none. Measures:
#   0. the list's fixed cost: GET /v1.41/containers/json?all=1 requests per second with bench/pingload
#      (C, keep-alive, one request in flight per connection) at 1 and 8 connections, for
#      BENCH_CT_LIST_RPS_SECONDS each after a warm-up, first with no container, then with
#      BENCH_CT_SMALL_LIST containers created (never started), which are removed after.
#   1. `docker run --rm --network none busybox true`: wall time of the CLI process, BENCH_CT_RUNS
#      runs after BENCH_CT_WARMUPS, round-robin over the peers; median and min-max. The CLI floor
#      (`docker image inspect busybox`: the CLI's start plus two requests) is given beside it.
#   2. BENCH_CT_LIFECYCLE containers, sequential, through the API (ctclient.py lifecycle):
#      POST /containers/create (Cmd true), POST /start, POST /wait, DELETE, one after the other on
#      one connection; containers/s = count / wall time; per-step medians too. One unmeasured
#      cycle of 2 first.
#   3. BENCH_CT_LIST_CONTAINERS containers created through the API and never started (state
#      "created"), then GET /containers/json?all=1: BENCH_CT_LIST_REQS measured requests after 2.
#      Run last, so the created containers are in no other step.
#   4. logs: `docker run -d` of a container writing BENCH_CT_LOG_BYTES bytes to stdout as lines of
#      BENCH_CT_LOG_LINE bytes (`yes <line> | head -c BYTES`), waited to completion (that time is
#      reported too, "write"), then `docker logs <id> > /dev/null` timed: up to BENCH_CT_LOGS_RUNS
#      runs while a peer's runs total under 30 s, each capped at BENCH_CT_LOGS_TIMEOUT (reported
#      as "> N s"). Unless the runs were slow, an untimed `docker logs <id> | wc -c` checks the
#      byte count. 10-byte lines (10M of them) are the shape that costs Podman about a minute.
#   5. monitor memory: BENCH_CT_MEM_COUNTS (10, then 50 in all) containers running `sleep 3600`
#      (created and started through the API); 2 s later the PSS (/proc/PID/smaps_rollup) of every
#      monitor process of that peer: skiff-monitor (skiff-relay while the container runs: the
#      monitor execs it), conmon, containerd-shim-runc-v2 (found by
#      executable and by this run's paths in their command lines); average per monitor, and
#      min-max over the monitors. Then all are force-removed.
# Prints one table (median, min-max, ratio against the faster peer of each row) and Skiff's
# targets: run <= 0.15x the faster peer, lifecycle >= 8x, list <= 0.2x, logs <= 1 s, monitor PSS
# <= conmon's, the empty and small lists' req/s >= Docker's. Raw numbers go to bench/out/containers-<time>.raw, the table to
# bench/out/containers-<time>.txt (and containers-last.txt).
#
# Skiff is skipped with a note, the others still measured, when the tree has no skiff-monitor
# product or when a first `docker run --rm` against it fails (containers not merged yet).
#
# Must run as root on Debian 12. Installs what is missing, creates the unprivileged user
# (scripts/setup-test-user.sh), builds skiff, skiff-image and skiff-monitor (release, static Swift
# stdlib) unless SKIFF_BIN names a skiff with the others beside it. Everything it starts or creates
# (services, containers, monitors, shims, mounts, cgroups, the temp dir) is removed at the end, also
# on failure. About 5 minutes with all three peers here (the logs step is most of Podman's and Docker's).
#
# Knobs (environment):
#   SKIFF_BIN=PATH              use this skiff (skiff-image, skiff-monitor beside it), do not build
#   BENCH_PEERS="skiff podman docker"  which peers to run
#   BENCH_CT_RUNS=10            measured `docker run --rm` per peer
#   BENCH_CT_WARMUPS=2          unmeasured ones first
#   BENCH_CT_LIFECYCLE=50       containers in the create+start+wait+rm run
#   BENCH_CT_LIST_CONTAINERS=500  containers present for the list
#   BENCH_CT_LIST_REQS=10       measured GET /containers/json?all=1
#   BENCH_CT_LIST_RPS_SECONDS=3 duration of each req/s measurement of the empty and small lists
#   BENCH_CT_SMALL_LIST=5       containers in the small list
#   BENCH_CT_LOG_BYTES=100000000  bytes the logging container writes
#   BENCH_CT_LOG_LINE=10        bytes per line, newline included (2..4096)
#   BENCH_CT_LOGS_RUNS=3        most `docker logs` runs per peer
#   BENCH_CT_LOGS_TIMEOUT=120   seconds before one `docker logs` is stopped
#   BENCH_CT_MEM_COUNTS="10 50" running containers at each memory measurement (increasing)
#   BENCH_PODMAN_DRIVER=overlay Podman's storage driver (native rootless overlay)
#   BENCH_DOCKER_CLI=/usr/local/bin/docker   the client (falls back to `docker` on PATH)
#   BENCH_NO_INSTALL=1          do not check/install Debian packages
#   BENCH_STRICT=1              exit 1 when a target is missed or Skiff could not be measured
#   BENCH_TMPDIR=DIR            base for the temp dir (default /tmp, else /var/tmp or /run)
#   SKIFF_TEST_USER=skiff-test
BENCH_NAME=containers
# shellcheck source=bench/prelude.sh
. "$(dirname "${BASH_SOURCE[0]}")/prelude.sh"
gcc -O2 -Wall -o "$OUT/pingload" "$ROOT/bench/pingload.c" || die "building bench/pingload.c failed"
PINGLOAD=$OUT/pingload

BENCH_TAG=ct BENCH_PART=containers
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"

# ---------------------------------------------------------------- 0. the CLI floor
for peer in "${peers[@]}"; do
    ts=()
    for i in 0 1 2 3 4 5; do
        t0=$(now); dk "$peer" image inspect -f . busybox >/dev/null || die "$peer: docker image inspect failed"
        [ "$i" -gt 0 ] && ts+=("$(since "$t0")")
    done
    V[$peer.floor]="${ts[*]}"
done

# ---------------------------------------------------------------- 0b. the list's fixed cost
# list_rps PEER KEY : GET /containers/json?all=1 req/s at 1 and 8 connections -> R[PEER.KEY_c1], R[PEER.KEY_c8]
list_rps() {
    local peer=$1 key=$2 c line
    for c in 1 8; do
        line=$("$PINGLOAD" -s "${SOCK[$peer]}" -p "/v1.41/containers/json?all=1" -c "$c" -w 500 -n 5000000 \
               -d "$LIST_RPS_SECONDS") || die "$peer: pingload of GET /containers/json failed: $line"
        R[$peer.${key}_c$c]=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$line")
    done
}
log "0. GET /containers/json?all=1 req/s at 1 and 8 connections: no container, then $SMALL_N created"
for peer in "${peers[@]}"; do
    n=$(api "$peer" list 1 0 0 | awk '{print $2}')
    [ "$n" = 0 ] || die "$peer: $n containers before the empty list's measurement"
    list_rps "$peer" lrps0
    api "$peer" create "$SMALL_N" busybox "bench-small" >/dev/null || die "$peer: creating $SMALL_N containers failed"
    n=$(api "$peer" list 1 0 "$SMALL_N" | awk '{print $2}')
    [ "$n" = "$SMALL_N" ] || die "$peer: $n containers listed, not $SMALL_N"
    list_rps "$peer" lrps5
    api "$peer" rmall || die "$peer: removing the $SMALL_N containers failed"
    log "$peer: empty list ${R[$peer.lrps0_c1]}/${R[$peer.lrps0_c8]} req/s (c=1/c=8), $SMALL_N ctrs ${R[$peer.lrps5_c1]}/${R[$peer.lrps5_c8]}"
done

# ---------------------------------------------------------------- 1. docker run --rm latency
log "1. docker run --rm --network none busybox true: $WARMUPS warm-up + $RUNS runs per peer, round-robin"
for ((i = 0; i < WARMUPS + RUNS; i++)); do
    for peer in "${peers[@]}"; do
        t0=$(now)
        out=$(timeout 60 env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" \
              DOCKER_HOST="unix://${SOCK[$peer]}" "$DOCKER_CLI" run --rm --network none busybox true 2>&1) ||
            die "$peer: docker run --rm failed (run $i): $out"
        t=$(since "$t0")
        [ -z "$out" ] || note "$peer: docker run --rm printed: $(head -c 200 <<<"$out")"
        [ "$i" -ge "$WARMUPS" ] && V[$peer.run]+=" $t"
    done
done

# ---------------------------------------------------------------- 2. create+start+wait+rm
log "2. create+start+wait+delete of $LIFECYCLE containers through the API, sequential"
for peer in "${peers[@]}"; do
    api "$peer" lifecycle 2 busybox >/dev/null || die "$peer: the warm-up lifecycle failed"
    api "$peer" lifecycle "$LIFECYCLE" busybox >"$T/out/$peer-lifecycle" || die "$peer: the lifecycle run failed"
    wall=$(awk '$1 == "wall" {print $2}' "$T/out/$peer-lifecycle")
    R[$peer.rate]=$(awk -v n="$LIFECYCLE" -v w="$wall" 'BEGIN{printf "%.3f", n / w}')
    for k in 1:create 2:start 3:wait 4:delete 5:cycle; do
        V[$peer.lc_${k#*:}]=$(awk -v c="${k%%:*}" '$1 != "wall" {print $c}' "$T/out/$peer-lifecycle" | tr '\n' ' ')
    done
    log "$peer: $(printf '%.2f' "${R[$peer.rate]}") containers/s"
done

# svc_hwm PEER : the largest peak RSS (VmHWM, MiB) among the service's processes (docker: dockerd)
svc_hwm() {
    local p best=0 v
    for p in "${SVC[$1]}" $(descendants "${SVC[$1]}"); do
        v=$(awk '/^VmHWM:/{print $2}' "/proc/$p/status" 2>/dev/null) || continue
        [ -n "$v" ] && [ "$v" -gt "$best" ] && best=$v
    done
    awk -v k="$best" 'BEGIN{printf "%.1f", k / 1024}'
}

# ---------------------------------------------------------------- 4. logs
LOG_TEXT=$(printf "%0$((LOG_LINE - 1))d" 0 | tr 0 x)
log "4. logs: a container writes $LOG_BYTES bytes in $LOG_LINE-byte lines; then docker logs > /dev/null"
for peer in "${peers[@]}"; do
    R[$peer.hwm_before]=$(svc_hwm "$peer")
    t0=$(now)
    cid=$(dk "$peer" run -d --network none busybox sh -c 'yes "$0" | head -c "$1"' "$LOG_TEXT" "$LOG_BYTES") ||
        die "$peer: docker run -d of the logging container failed"
    code=$(timeout 600 env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" \
           DOCKER_HOST="unix://${SOCK[$peer]}" "$DOCKER_CLI" wait "$cid") || die "$peer: docker wait of the logging container failed"
    [ "$code" = 0 ] || die "$peer: the logging container exited with $code"
    V[$peer.logwrite]=$(since "$t0")
    total=0 n=0
    while [ "$n" -lt "$LOGS_RUNS" ] && awk -v t="$total" 'BEGIN{exit !(t < 30)}'; do
        t0=$(now)
        if timeout "$LOGS_TIMEOUT" env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" \
           DOCKER_HOST="unix://${SOCK[$peer]}" "$DOCKER_CLI" logs "$cid" >/dev/null 2>"$T/out/$peer-logs.err"; then
            t=$(since "$t0")
            V[$peer.logs]+=" $t"
            total=$(awk -v a="$total" -v b="$t" 'BEGIN{print a + b}')
        else
            rc=$?
            if [ "$rc" = 124 ]; then
                R[$peer.logs_timeout]=$LOGS_TIMEOUT
                note "$peer: docker logs was stopped after ${LOGS_TIMEOUT}s (BENCH_CT_LOGS_TIMEOUT)"
                break
            fi
            die "$peer: docker logs failed ($rc): $(head -c 300 "$T/out/$peer-logs.err")"
        fi
        n=$((n + 1))
    done
    if [ -z "${R[$peer.logs_timeout]:-}" ] && awk -v t="$total" -v n="$n" 'BEGIN{exit !(t / n < 15)}'; then
        bytes=$(timeout "$LOGS_TIMEOUT" env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" \
                DOCKER_HOST="unix://${SOCK[$peer]}" "$DOCKER_CLI" logs "$cid" 2>/dev/null | wc -c) || true
        R[$peer.logs_bytes]=$bytes
        [ "$bytes" = "$LOG_BYTES" ] || note "$peer: docker logs gave $bytes bytes, not $LOG_BYTES"
    fi
    R[$peer.hwm]=$(svc_hwm "$peer")
    dk "$peer" rm -f "$cid" >/dev/null || die "$peer: docker rm -f of the logging container failed"
    log "$peer: write $(printf '%.1f' "${V[$peer.logwrite]}") s, logs${V[$peer.logs]:- -}${R[$peer.logs_timeout]:+ (stopped at ${LOGS_TIMEOUT}s)}"
done

# ---------------------------------------------------------------- 5. monitor memory
log "5. monitor memory with $MEM_COUNTS containers running sleep"
for peer in "${peers[@]}"; do
    running=0
    for c in $MEM_COUNTS; do
        api "$peer" sleepers $((c - running)) busybox >>"$T/out/$peer-sleepers" || die "$peer: starting sleep containers failed"
        running=$c
        sleep 2
        pss=() rss=()
        mons=($(monitors "$peer"))
        for m in "${mons[@]}"; do
            read -r a b < <(awk '/^Pss:/{p=$2} /^Rss:/{r=$2} END{print p+0, r+0}' "/proc/$m/smaps_rollup" 2>/dev/null || echo "0 0")
            pss+=("$a"); rss+=("$b")
        done
        R[$peer.mon$c]=${#pss[@]}
        [ "${#pss[@]}" = "$c" ] || note "$peer: ${#pss[@]} monitor processes for $c running containers"
        if [ "${#pss[@]}" -gt 0 ]; then
            V[$peer.pss$c]="${pss[*]}"
            R[$peer.rss$c]=$(printf '%s\n' "${rss[@]}" | awk '{s += $1} END{printf "%.2f", s / NR / 1024}')
        fi
        if [ "$peer" = skiff ] && [ "${#pss[@]}" -gt 0 ]; then
            m=${mons[0]}
            note "skiff: one monitor ($(basename "$(readlink "/proc/$m/exe")")) at $c containers: $(awk '/^Pss_Anon:/{a=$2} /^Pss_File:/{f=$2} /^Rss:/{r=$2}
                END{printf "Pss_Anon %.2f MiB, Pss_File %.2f MiB, Rss %.2f MiB", a/1024, f/1024, r/1024}' "/proc/$m/smaps_rollup" 2>/dev/null)"
        fi
    done
    api "$peer" rmall || die "$peer: removing the sleep containers failed"
    for ((i = 0; i < 100; i++)); do [ -z "$(monitors "$peer")" ] && break; sleep 0.1; done
    [ -z "$(monitors "$peer")" ] || note "$peer: monitors still running 10 s after the containers were removed: $(monitors "$peer" | tr '\n' ' ')"
done

# ---------------------------------------------------------------- 3. list with many containers
log "3. $LIST_N created containers, then GET /containers/json?all=1"
for peer in "${peers[@]}"; do
    api "$peer" create "$LIST_N" busybox "bench-list" >"$T/out/$peer-create" || die "$peer: creating $LIST_N containers failed"
    V[$peer.create]=$(awk '$1 != "wall" {print $1}' "$T/out/$peer-create" | tr '\n' ' ')
    api "$peer" list "$LIST_REQS" 2 "$LIST_N" >"$T/out/$peer-list" || die "$peer: the list run failed"
    V[$peer.list]=$(awk '{print $1}' "$T/out/$peer-list" | tr '\n' ' ')
    R[$peer.list_bytes]=$(awk 'END{print $3}' "$T/out/$peer-list")
    R[$peer.list_count]=$(awk 'END{print $2}' "$T/out/$peer-list")
    log "$peer: list median $(stats ${V[$peer.list]} | awk '{printf "%.1f ms", $1}')"
done

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
    for m in floor run lc_create lc_start lc_wait lc_delete lc_cycle create list logwrite logs; do
        # shellcheck disable=SC2086
        [ -n "${V[$peer.$m]:-}" ] && R[$peer.$m]=$(stats ${V[$peer.$m]})
    done
    # a peer whose docker logs hit the time bound is reported as "> N s", not by its faster runs
    if [ -n "${R[$peer.logs_timeout]:-}" ]; then unset "R[$peer.logs]"; fi
    for c in $MEM_COUNTS; do
        [ -n "${V[$peer.pss$c]:-}" ] &&
            R[$peer.pss$c]=$(printf '%s\n' ${V[$peer.pss$c]} | sort -n | awk '{v[NR] = $1; s += $1}
                END{printf "%.3f %.3f %.3f", s / NR / 1024, v[1] / 1024, v[NR] / 1024}')
    done
done

TS=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
RAW=$OUT/containers-$TS.raw
{
    echo "# bench/containers.sh raw figures, $TS: PEER METRIC VALUES (seconds unless named otherwise)"
    for peer in "${peers[@]}"; do
        for k in $(printf '%s\n' "${!V[@]}" | grep "^$peer\." | sort); do echo "$peer ${k#*.} ${V[$k]}"; done
        for k in $(printf '%s\n' "${!R[@]}" | grep "^$peer\." | sort); do echo "$peer ${k#*.}(table) ${R[$k]}"; done
    done
} >"$RAW"

# ---------------------------------------------------------------- report
declare -A LABEL=([skiff]="Skiff" [podman]="Podman ${R[podman.version]:-}" [docker]="Docker ${R[docker.version]:-}")
LABEL[docker]=${LABEL[docker]%% + *}
others=()
for p in "${peers[@]}"; do [ "$p" = skiff ] || others+=("$p"); done

# shellcheck source=bench/table.sh
source "$ROOT/bench/table.sh"

TABLE=$OUT/containers-$TS.txt
{
    echo
    echo "Skiff containers benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
    if has_peer skiff; then echo "  Skiff:  ${R[skiff.version]}, rootless as $USER_NAME"
    elif [ -n "$SKIFF_SKIPPED" ]; then echo "  Skiff:  not measured: $SKIFF_SKIPPED"; fi
    has_peer podman && echo "  Podman: ${R[podman.version]}, rootless as $USER_NAME, system service, --runtime runc --cgroup-manager=cgroupfs, storage driver $PODMAN_DRIVER, conmon $(conmon --version 2>/dev/null | awk 'NR == 1 {print $3}')"
    has_peer docker && echo "  Docker: ${R[docker.version]}, rootful, runc, --bridge=none, json-file logs"
    echo "  client: docker CLI $("$DOCKER_CLI" --version | awk '{print $3}' | tr -d ,) ($DOCKER_CLI) for run/logs; bench/ctclient.py (Python, one keep-alive connection, API 1.41) for the API steps"
    echo "  busybox image built from Debian's busybox-static, loaded with docker load; every container --network none"
    echo "  load average at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: compare within one run)"
    echo
    printf '%-46s' "metric: median (min-max)"
    for p in "${peers[@]}"; do printf '%-30s' "${LABEL[$p]}"; done
    has_peer skiff && [ ${#others[@]} -gt 0 ] && printf '%s' "Skiff vs the faster peer"
    printf '\n'
    printf '%-46s' "------"
    for p in "${peers[@]}"; do printf '%-30s' "------"; done
    has_peer skiff && [ ${#others[@]} -gt 0 ] && printf '%s' "------"
    printf '\n'
    row "docker run --rm busybox true (ms), n=$RUNS"   run       low  "%.0f"
    row "  CLI floor: docker image inspect (ms)"         floor     low  "%.0f"
    row "create+start+wait+rm x$LIFECYCLE (containers/s)"     rate      high "%.2f"
    row "  per container, API (ms)"                      lc_cycle  low  "%.1f"
    row "  POST /containers/create (ms)"                 lc_create low  "%.1f"
    row "  POST /containers/{id}/start (ms)"             lc_start  low  "%.1f"
    row "  POST /containers/{id}/wait (ms)"              lc_wait   low  "%.1f"
    row "  DELETE /containers/{id} (ms)"                 lc_delete low  "%.1f"
    row "GET /containers/json, 0 ctrs, req/s c=1"      lrps0_c1  high "%.0f"
    row "GET /containers/json, 0 ctrs, req/s c=8"      lrps0_c8  high "%.0f"
    row "GET /containers/json, $SMALL_N ctrs, req/s c=1"      lrps5_c1  high "%.0f"
    row "GET /containers/json, $SMALL_N ctrs, req/s c=8"      lrps5_c8  high "%.0f"
    row "GET /containers/json?all=1, $LIST_N ctrs (ms)"    list      low  "%.1f"
    row "  create of those $LIST_N (ms each)"             create    low  "%.1f"
    row "write $((LOG_BYTES / 1000000)) MB of log, run -d to exit (s)"  logwrite  low  "%.2f" 1000
    row "docker logs > /dev/null, $((LOG_BYTES / 1000000)) MB (s)"      logs      low  "%.2f" 1000
    row "  service peak RSS after docker logs (MiB)"   hwm       low  "%.0f"
    for c in $MEM_COUNTS; do
        row "monitor PSS, $c running, avg (MiB)"          "pss$c"   low  "%.2f"
    done
    echo
    echo "* = the best peer of that row. Times are medians with min-max; monitor PSS is the average per monitor"
    echo "process with min-max over the processes. Skiff vs the faster peer: the ratio of the medians against"
    echo "the better of the other peers (for containers/s, Skiff's rate over theirs)."
    echo "Monitors: Skiff skiff-monitor (skiff-relay while running), Podman conmon, Docker containerd-shim-runc-v2; count at each step:"
    for c in $MEM_COUNTS; do
        printf '  %s running:' "$c"
        for p in "${peers[@]}"; do printf ' %s %s monitors (RSS avg %s MiB);' "${LABEL[$p]%% *}" "${R[$p.mon$c]:-?}" "${R[$p.rss$c]:-?}"; done
        printf '\n'
    done
    echo "Logs: $((LOG_BYTES / LOG_LINE)) lines of $LOG_LINE bytes; the write row is docker run -d until docker wait returns."
    printf '  service peak RSS: the largest VmHWM of the service'"'"'s processes (Docker: dockerd) after the logs runs; before them:'
    for p in "${peers[@]}"; do printf ' %s %s MiB;' "${LABEL[$p]%% *}" "${R[$p.hwm_before]:-?}"; done
    printf '\n'

    for p in "${peers[@]}"; do
        [ -n "${R[$p.logs_bytes]:-}" ] && echo "  $p: docker logs | wc -c = ${R[$p.logs_bytes]}"
    done
    echo "List req/s: bench/pingload, GET /v1.41/containers/json?all=1 on 1 and 8 keep-alive connections, ${LIST_RPS_SECONDS} s"
    echo "each after 500 unmeasured; with no container, then $SMALL_N created (never started)."
    echo "List: the containers were created and never started; GET /containers/json?all=1 listed"
    for p in "${peers[@]}"; do
        [ -n "${R[$p.list_count]:-}" ] && echo "  $p: ${R[$p.list_count]} containers, ${R[$p.list_bytes]} bytes"
    done
    echo
    echo "targets (Skiff):"
    target() {   # target TEXT RESULT(PASS|FAIL|SKIP) DETAIL
        printf '  %-50s %-52s %s\n' "$1" "$3" "$2"
    }
    # ratio_target TEXT METRIC DIR LIMIT : Skiff's median against the best other peer's
    ratio_target() {
        local text=$1 m=$2 dir=$3 limit=$4 b s o
        if ! has_peer skiff || [ -z "${R[skiff.$m]:-}" ]; then target "$text" SKIP "Skiff not measured"; return; fi
        b=$(best_of "$m" "$dir" "${others[@]}")
        if [ -z "$b" ]; then target "$text" SKIP "no other peer measured"; return; fi
        s=$(field "${R[skiff.$m]}" 1); o=$(field "${R[$b.$m]}" 1)
        if [ "$dir" = low ]; then
            target "$text" "$(awk -v s="$s" -v o="$o" -v l="$limit" 'BEGIN{print (s <= l * o) ? "PASS" : "FAIL"}')" \
                "$(awk -v s="$s" -v o="$o" -v n="${LABEL[$b]%% *}" 'BEGIN{printf "%.1f vs %.1f (%s) = %.3fx", s, o, n, s / o}')"
        else
            target "$text" "$(awk -v s="$s" -v o="$o" -v l="$limit" 'BEGIN{print (s >= l * o) ? "PASS" : "FAIL"}')" \
                "$(awk -v s="$s" -v o="$o" -v n="${LABEL[$b]%% *}" 'BEGIN{printf "%.2f vs %.2f/s (%s) = %.2fx", s, o, n, s / o}')"
        fi
    }
    ratio_target "docker run --rm <= 0.15x the faster peer" run low 0.15
    ratio_target "create+start+wait+rm >= 8x the faster peer" rate high 8
    ratio_target "GET /containers/json ($LIST_N) <= 0.2x the faster peer" list low 0.2
    # docker_target TEXT METRIC : Skiff's req/s at least Docker's
    docker_target() {
        local text=$1 m=$2 s o
        if ! has_peer skiff || [ -z "${R[skiff.$m]:-}" ]; then target "$text" SKIP "Skiff not measured"; return; fi
        if ! has_peer docker || [ -z "${R[docker.$m]:-}" ]; then target "$text" SKIP "Docker not measured"; return; fi
        s=${R[skiff.$m]}; o=${R[docker.$m]}
        target "$text" "$(awk -v s="$s" -v o="$o" 'BEGIN{print (s >= o) ? "PASS" : "FAIL"}')" \
            "$(awk -v s="$s" -v o="$o" 'BEGIN{printf "%.0f vs %.0f req/s (Docker) = %.2fx", s, o, s / o}')"
    }
    docker_target "GET /containers/json (0), c=1 >= Docker's req/s" lrps0_c1
    docker_target "GET /containers/json (0), c=8 >= Docker's req/s" lrps0_c8
    docker_target "GET /containers/json ($SMALL_N), c=1 >= Docker's req/s" lrps5_c1
    docker_target "GET /containers/json ($SMALL_N), c=8 >= Docker's req/s" lrps5_c8
    if has_peer skiff && [ -n "${R[skiff.logs]:-}" ] && [ -z "${R[skiff.logs_timeout]:-}" ]; then
        s=$(field "${R[skiff.logs]}" 1)
        target "docker logs of $((LOG_BYTES / 1000000)) MB <= 1 s" "$(awk -v s="$s" 'BEGIN{print (s <= 1000) ? "PASS" : "FAIL"}')" \
            "$(awk -v s="$s" 'BEGIN{printf "%.2f s", s / 1000}')"
    elif has_peer skiff; then target "docker logs of $((LOG_BYTES / 1000000)) MB <= 1 s" FAIL "> ${LOGS_TIMEOUT} s"
    else target "docker logs of $((LOG_BYTES / 1000000)) MB <= 1 s" SKIP "Skiff not measured"; fi
    for c in $MEM_COUNTS; do
        if ! has_peer skiff || [ -z "${R[skiff.pss$c]:-}" ]; then target "monitor PSS ($c running) <= conmon's" SKIP "Skiff not measured"
        elif ! has_peer podman || [ -z "${R[podman.pss$c]:-}" ]; then target "monitor PSS ($c running) <= conmon's" SKIP "Podman not measured"
        else
            s=$(field "${R[skiff.pss$c]}" 1); o=$(field "${R[podman.pss$c]}" 1)
            target "monitor PSS ($c running) <= conmon's" "$(awk -v s="$s" -v o="$o" 'BEGIN{print (s <= o) ? "PASS" : "FAIL"}')" \
                "$(awk -v s="$s" -v o="$o" 'BEGIN{printf "%.2f vs %.2f MiB = %.2fx", s, o, s / o}')"
        fi
    done
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        echo "notes:"
        for n in "${NOTES[@]}"; do echo "  - $n"; done
    fi
    echo
    echo "raw figures: $RAW"
} | tee "$TABLE"
cp "$TABLE" "$OUT/containers-last.txt"
log "table saved to $TABLE"

if [ "${BENCH_STRICT:-0}" = 1 ] && grep -Eq ' (FAIL|SKIP)$' "$TABLE"; then
    die "a target was missed or not measured (BENCH_STRICT=1)"
fi
