# Sourced by the bench scripts.

# The first of $BENCH_TMPDIR, /tmp, /var/tmp, /run that other users may traverse: the test user
# must reach sockets and binaries below it (a test run that leaves /tmp at 0700 must not break
# the benchmark). Prints it; fails when none is.
traversable_tmp_base() {
    local d
    for d in ${BENCH_TMPDIR:-} /tmp /var/tmp /run; do
        if [ -d "$d" ] && [ "$(( 0$(stat -c %a "$d") & 01 ))" != 0 ]; then
            echo "$d"
            return 0
        fi
    done
    return 1
}

# Processes a bench started: STARTED (declared by the sourcing script) holds "PID:STARTTIME", so
# clean-up never signals a pid that was reused by someone else.
starttime() { awk '{sub(/.*\) /, ""); print $20}' "/proc/$1/stat" 2>/dev/null || true; }
track() { local p; for p in "$@"; do STARTED+=("$p:$(starttime "$p")"); done; }

proc_alive() {   # alive and not a zombie
    local st
    st=$(awk '{sub(/.*\) /, ""); print $1}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

descendants() {  # all descendants of $1, children before grandchildren
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { kids[$2] = kids[$2] " " $1 }
        END { q[0] = root; n = 1
              for (i = 0; i < n; i++) { split(kids[q[i]], a, " ")
                  for (j in a) if (a[j] != "") { q[n++] = a[j]; print a[j] } } }'
}

stop_pids() {    # stop_pids TIMEOUT_S PID... : SIGTERM the first, then SIGKILL whatever is left
    local timeout=$1; shift
    local main=$1 p all=("$@") i
    for p in $(descendants "$main"); do all+=("$p"); done
    kill -TERM "$main" 2>/dev/null || true
    for ((i = 0; i < timeout * 50; i++)); do
        proc_alive "$main" || break
        sleep 0.02
    done
    for p in "${all[@]}"; do
        if proc_alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
    done
    for p in "${all[@]}"; do wait "$p" 2>/dev/null || true; done
}

# podman_pause: the pid of Podman's rootless pause process (catatonit, which holds its user
# namespace) for the user $TUID whose XDG_RUNTIME_DIR is $XDG; nothing when there is none.
podman_pause() {   # podman's rootless pause process (catatonit) holds its user namespace
    local f=$XDG/libpod/tmp/pause.pid p
    [ -s "$f" ] || return 0
    p=$(cat "$f")
    if proc_alive "$p" && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = catatonit ] &&
       [ "$(stat -c %u "/proc/$p")" = "$TUID" ]; then echo "$p"; fi
}
