#!/usr/bin/env bash
# bench/build.sh — the build part of `make bench` (issue 17): `docker build` with the classic
# builder (DOCKER_BUILDKIT=0: the docker CLI here has no buildx), Skiff vs Podman (buildah
# behind its compat API, --runtime runc --cgroup-manager=cgroupfs) vs Docker 20.10's classic
# builder, each through its own unix socket with the same docker CLI.
#
# The Dockerfile has 10 steps: FROM busybox, ENV, LABEL, WORKDIR, COPY of a directory of
# BENCH_BUILD_FILES small files, three RUNs, ENV, CMD. Measured, wall time of the CLI:
#   cold:    --no-cache (every step runs);
#   cached:  the same context again (every step from the cache);
#   changed: one of the small files changed (the COPY and the steps after it run again).
# BENCH_BUILD_RUNS runs of each after one unmeasured, round-robin over the peers. Target: Skiff
# at most 0.5x the faster peer on each. In the same rounds, the client alone: the same
# `docker build -q` against bench/instant_engine.py, which reads the context the CLI tars and
# sends and answers an image id at once (the floor under every engine's figure). Table in bench/out/build-<time>.txt (and build-last.txt).
#
# Knobs: those of bench/containers.sh that pick peers and binaries (SKIFF_BIN, BENCH_PEERS,
# BENCH_PODMAN_DRIVER, BENCH_DOCKER_CLI, BENCH_NO_INSTALL, BENCH_STRICT, BENCH_TMPDIR,
# SKIFF_TEST_USER), and
#   BENCH_BUILD_FILES=1000      small files in the copied directory
#   BENCH_BUILD_RUNS=5          measured builds of each kind per peer
#   BENCH_BUILD_STEPS=0         1: before the measured builds, one of each kind per peer through
#                               bench/buildsteps.py, its time per step logged (where it goes)
BENCH_NAME=build
# shellcheck source=bench/prelude.sh
. "$(dirname "${BASH_SOURCE[0]}")/prelude.sh"

BENCH_TAG=bd BENCH_PART=build
# shellcheck source=bench/peers.sh
source "$ROOT/bench/peers.sh"

BUILD_FILES=${BENCH_BUILD_FILES:-1000}
BUILD_RUNS=${BENCH_BUILD_RUNS:-5}
for v in BUILD_FILES BUILD_RUNS; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v (BENCH_BUILD_*) must be a positive integer, not '${!v}'"
done

# ---------------------------------------------------------------- the context
CTX=$T/buildctx
mkdir -p "$CTX/files"
(cd "$CTX/files" && for ((i = 0; i < BUILD_FILES; i++)); do echo "file $i" >"f$i"; done)
cat >"$CTX/Dockerfile" <<'DOCKERFILE'
FROM busybox
ENV APP=/app
LABEL bench=build
WORKDIR /app
COPY files/ /app/files/
RUN ls /app/files | wc -l > /app/count
RUN echo built > /app/built
RUN cat /app/files/f0 > /app/first
ENV DONE=1
CMD ["cat", "/app/count"]
DOCKERFILE
chmod -R a+rX "$CTX"
bk() { local peer=$1; shift; DOCKER_BUILDKIT=0 dk_env "$peer" build -q "$@" "$CTX"; }
dk_env() {
    local peer=$1; shift
    env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" DOCKER_HOST="unix://${SOCK[$peer]}" \
        DOCKER_BUILDKIT=0 "$DOCKER_CLI" "$@"
}
for peer in "${peers[@]}"; do
    log "$peer: first build (checked)"
    id=$(bk "$peer" -t benchbuild --no-cache) || die "$peer: docker build failed"
    n=$(dk "$peer" run --rm --network none benchbuild) || die "$peer: running the built image failed"
    [ "$(echo "$n" | tr -d ' ')" = "$BUILD_FILES" ] || die "$peer: the image counts $n files, not $BUILD_FILES"
done

# ---------------------------------------------------------------- per step (BENCH_BUILD_STEPS=1)
if [ "${BENCH_BUILD_STEPS:-0}" = 1 ]; then
    for peer in "${peers[@]}"; do
        for kind in cold cached changed; do
            [ "$kind" = changed ] && echo "steps $peer" >"$CTX/files/f$((BUILD_FILES / 2))"
            python3 "$ROOT/bench/buildsteps.py" "${SOCK[$peer]}" "$CTX" "$peer $kind" \
                $([ "$kind" = cold ] && echo nocache) >&2 || die "$peer: the $kind build (per step) failed"
        done
    done
fi

# ---------------------------------------------------------------- cold, cached, one changed file
INSTANT_SOCK=$T/instant.sock
python3 "$ROOT/bench/instant_engine.py" "$INSTANT_SOCK" &
INSTANT_PID=$!; track "$INSTANT_PID"
for ((i = 0; i < 100; i++)); do [ -S "$INSTANT_SOCK" ] && break; sleep 0.05; done
[ -S "$INSTANT_SOCK" ] || die "bench/instant_engine.py did not listen"
INSTANT=()
for ((i = 0; i <= BUILD_RUNS; i++)); do
    t0=$(now)
    env -i PATH="$SYS_PATH" HOME="$T/home" DOCKER_CONFIG="$T/dockercfg" DOCKER_HOST="unix://$INSTANT_SOCK" \
        DOCKER_BUILDKIT=0 "$DOCKER_CLI" build -q "$CTX" >/dev/null || die "docker build against the instant engine failed"
    [ "$i" = 0 ] || INSTANT+=("$(since "$t0")")
    for peer in "${peers[@]}"; do
        t0=$(now); bk "$peer" --no-cache >/dev/null || die "$peer: cold build failed"
        tcold=$(since "$t0")
        t0=$(now); bk "$peer" >/dev/null || die "$peer: cached build failed"
        tcached=$(since "$t0")
        echo "change $i $peer" >"$CTX/files/f$((BUILD_FILES / 2))"
        t0=$(now); bk "$peer" >/dev/null || die "$peer: build after a change failed"
        tchanged=$(since "$t0")
        [ "$i" = 0 ] && continue
        V[$peer.cold]="${V[$peer.cold]:-} $tcold"
        V[$peer.cached]="${V[$peer.cached]:-} $tcached"
        V[$peer.changed]="${V[$peer.changed]:-} $tchanged"
    done
done

stop_pids 2 "$INSTANT_PID"

# ---------------------------------------------------------------- stop the services, report
# shellcheck source=bench/report.sh
source "$ROOT/bench/report.sh"
report_stop
report_figures cold cached changed
{
    report_head "a 10-step Dockerfile with a COPY of $BUILD_FILES small files; DOCKER_BUILDKIT=0"
    row "build, cold --no-cache (ms), n=$BUILD_RUNS"       cold    low "%.0f"
    row "build, fully cached (ms), n=$BUILD_RUNS"          cached  low "%.0f"
    INSTANT_MS=$(stats "${INSTANT[@]}")
    printf '%-46s%s\n' "  the client alone, an instant engine (ms)" \
        "$(awk -v r="$INSTANT_MS" 'BEGIN{split(r, a, " "); printf "%.0f (%.0f-%.0f)", a[1], a[2], a[3]}')"
    row "build, one file changed (ms), n=$BUILD_RUNS"      changed low "%.0f"
    echo
    echo "targets (Skiff):"
    ratio_target "cold build <= 0.5x the faster peer" cold 0.5
    ratio_target "cached build <= 0.5x the faster peer" cached 0.5
    b=$(best_of cached low "${others[@]}")
    if [ -n "$b" ]; then
        printf '  %-50s %s\n' "  (the client alone, an instant engine:" \
            "$(awk -v f="$(field "$INSTANT_MS" 1)" -v o="$(field "${R[$b.cached]}" 1)" 'BEGIN{printf "%.0f ms = %.3fx of the faster peer: %s)", f, f / o, (f <= 0.5 * o) ? "the target is within reach" : "no engine can meet the target through this CLI on this machine"}')"
    fi
    ratio_target "one-file-changed build <= 0.5x the faster peer" changed 0.5
    report_tail
} | tee "$TABLE"
report_saved
