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
