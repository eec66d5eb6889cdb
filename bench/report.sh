# bench/report.sh — the end that bench/files.sh, build.sh and volumes.sh share, sourced after
# their measurements (V[PEER.METRIC] holds raw seconds): stop the services, turn the raw values
# into figures, write the raw file, and frame the table. The caller prints its own rows and
# targets between `report_head` and `report_tail`. Reads BENCH_NAME, OUT, peers, V, R, NOTES,
# SVC, CTD_PID, USER_NAME, PODMAN_DRIVER, DOCKER_CLI, LOAD_START, SKIFF_SKIPPED and the helpers
# of bench/common.sh and bench/peers.sh.

# report_stop : the services stop; monitors they leave behind are noted (the clean-up stops them)
report_stop() {
    local peer p left
    for peer in "${peers[@]}"; do
        stop_pids 20 "${SVC[$peer]}"
    done
    if has_peer docker; then stop_pids 10 "$CTD_PID"; fi
    p=$(podman_pause); if [ -n "$p" ]; then stop_pids 5 "$p"; fi
    for peer in "${peers[@]}"; do
        left=$(monitors "$peer" | tr '\n' ' ')
        [ -z "$left" ] || note "$peer: monitor processes left after the service stopped: $left (stopped by the clean-up)"
    done
}

# report_figures METRIC... : R[PEER.METRIC] from V, the raw file (RAW), the table's labels
# (LABEL, others) and cells (bench/table.sh)
report_figures() {
    local peer m k
    for peer in "${peers[@]}"; do
        for m in "$@"; do
            # shellcheck disable=SC2086
            [ -n "${V[$peer.$m]:-}" ] && R[$peer.$m]=$(stats ${V[$peer.$m]})
        done
    done
    TS=$(date -u +%Y%m%dT%H%M%SZ)
    mkdir -p "$OUT"
    RAW=$OUT/$BENCH_NAME-$TS.raw
    TABLE=$OUT/$BENCH_NAME-$TS.txt
    {
        echo "# bench/$BENCH_NAME.sh raw figures, $TS: PEER METRIC VALUES (seconds)"
        for peer in "${peers[@]}"; do
            for k in $(printf '%s\n' "${!V[@]}" | grep "^$peer\." | sort); do echo "$peer ${k#*.} ${V[$k]}"; done
        done
    } >"$RAW"
    declare -gA LABEL=([skiff]="Skiff" [podman]="Podman ${R[podman.version]:-}" [docker]="Docker ${R[docker.version]:-}")
    LABEL[docker]=${LABEL[docker]%% + *}
    others=()
    for p in "${peers[@]}"; do [ "$p" = skiff ] || others+=("$p"); done
    # shellcheck source=bench/table.sh
    source "$ROOT/bench/table.sh"
}

# report_head CLIENT : the table's title, the peers, the client line and the column heads
report_head() {
    echo
    echo "Skiff $BENCH_NAME benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
    if has_peer skiff; then echo "  Skiff:  ${R[skiff.version]}, rootless as $USER_NAME"
    elif [ -n "$SKIFF_SKIPPED" ]; then echo "  Skiff:  not measured: $SKIFF_SKIPPED"; fi
    has_peer podman && echo "  Podman: ${R[podman.version]}, rootless as $USER_NAME, --runtime runc --cgroup-manager=cgroupfs, storage driver $PODMAN_DRIVER"
    has_peer docker && echo "  Docker: ${R[docker.version]}, rootful, overlay2"
    echo "  client: docker CLI $("$DOCKER_CLI" --version | awk '{print $3}' | tr -d ,) ($DOCKER_CLI); $1"
    echo "  load average at the start: $LOAD_START; at the end: $(cut -d' ' -f1-3 /proc/loadavg) (a shared machine: compare within one run)"
    echo
    printf '%-46s' "metric: median (min-max)"
    for p in "${peers[@]}"; do printf '%-30s' "${LABEL[$p]}"; done
    has_peer skiff && [ ${#others[@]} -gt 0 ] && printf '%s' "Skiff vs the faster peer"
    printf '\n'
}

# ratio_target TEXT METRIC LIMIT : PASS when Skiff's median is at most LIMIT times the best other
# peer's (lower is better), else FAIL; SKIP when either is missing
ratio_target() {
    local text=$1 m=$2 limit=$3 b s o
    if ! has_peer skiff || [ -z "${R[skiff.$m]:-}" ]; then report_target "$text" SKIP "Skiff not measured"; return; fi
    b=$(best_of "$m" low "${others[@]}")
    if [ -z "$b" ]; then report_target "$text" SKIP "no other peer measured"; return; fi
    s=$(field "${R[skiff.$m]}" 1); o=$(field "${R[$b.$m]}" 1)
    report_target "$text" "$(awk -v s="$s" -v o="$o" -v l="$limit" 'BEGIN{print (s <= l * o) ? "PASS" : "FAIL"}')" \
        "$(awk -v s="$s" -v o="$o" -v n="${LABEL[$b]%% *}" 'BEGIN{printf "%.1f vs %.1f ms (%s) = %.3fx", s, o, n, s / o}')"
}
report_target() { printf '  %-50s %-52s %s\n' "$1" "$3" "$2"; }

# report_tail : the notes and where the raw figures are
report_tail() {
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        echo "notes:"
        for n in "${NOTES[@]}"; do echo "  - $n"; done
    fi
    echo
    echo "raw figures: $RAW"
}

# report_saved : the table kept as <name>-last.txt; with BENCH_STRICT=1 a missed target fails the run
report_saved() {
    cp "$TABLE" "$OUT/$BENCH_NAME-last.txt"
    log "table saved to $TABLE"
    if [ "${BENCH_STRICT:-0}" = 1 ] && grep -Eq ' (FAIL|SKIP)$' "$TABLE"; then
        die "a target was missed or not measured (BENCH_STRICT=1)"
    fi
}
