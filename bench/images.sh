#!/usr/bin/env bash
# bench/images.sh — the images part of `make bench`: Skiff vs Podman pulling, loading and listing
# images through the Docker Engine API, both rootless, both against the same local registry.
#
# The image is the integration tests' `bench` image (Tests/integration/images.py: busybox + 4 gzip
# layers of this machine's /usr/lib and /usr/share files, ~112 MB uncompressed, ~47 MB gzip), built
# here, plus `bench-sibling`: the same 5 layers under another config (Cmd ["true"]). Both are copied
# once with skopeo (digests preserved) into Debian's docker-registry on 127.0.0.1:<free port>,
# plain HTTP, marked insecure in a registries.conf that both services get as
# CONTAINERS_REGISTRIES_CONF. Every request goes through the same client, curl over the service's
# unix socket; a time is curl's time_total of that request (connect to the last byte of the
# response, which for pull and load is when the engine is done). A request counts only if it
# answers 2xx and its stream carries no error. Measures, per peer:
#   1. pull, cold: POST /images/create?fromImage=bench into an empty store (a new storage
#      directory and a new service process per run; the service has answered /_ping and
#      GET /images/json before the clock starts),
#   2. pull, layers present: then bench-sibling (all 5 layers stored, config and manifest new),
#   3. pull, image present under another name: then bench is tagged bench-keep, untagged
#      (DELETE /images/<registry>/bench:latest, which only removes the name), and pulled again,
#   4. load: POST /images/load of bench's docker-archive (Docker 20.10 layout, uncompressed
#      layers, ~112 MB) into an empty store (again a new storage directory and service),
#   5. import: POST /images/create?fromSrc=- of BENCH_IMG_LIST_IMAGES tiny distinct rootfs tarballs
#      (one file each, different content) into one store, then
#   6. GET /images/json with those images present: BENCH_IMG_LIST_REQS sequential requests on one
#      keep-alive connection after 10 unmeasured ones; median and p90.
# 1-4 run BENCH_IMG_RUNS times per peer after one unmeasured warm-up run, round-robin over the
# peers (so load from elsewhere falls on both alike). Prints one table (median, min-max, the
# ratio Skiff/Podman of the medians) and the targets (pull and load at least as fast as Podman).
#
# Must run as root on Debian 12. Installs what is missing, creates the unprivileged user
# (scripts/setup-test-user.sh), builds skiff and skiff-image (release, static Swift stdlib) unless
# SKIFF_BIN names a skiff with skiff-image beside it, runs Skiff and Podman rootless as that user
# (Podman: --runtime runc --cgroup-manager=cgroupfs --storage-driver $BENCH_PODMAN_DRIVER). Everything it
# starts or creates is removed at the end, also on failure.
#
# Knobs (environment):
#   SKIFF_BIN=PATH            use this skiff binary (skiff-image must be beside it), do not build
#   BENCH_PEERS="skiff podman" which peers to run (docker is not part of this benchmark)
#   BENCH_IMG_RUNS=5          measured runs of 1-4 per peer (after one warm-up run)
#   BENCH_IMG_LIST_IMAGES=200 images made for the list benchmark
#   BENCH_IMG_LIST_REQS=100   measured GET /images/json requests (Podman 4.3 takes ~0.3 s each with 200 images)
#   BENCH_PODMAN_DRIVER=overlay  Podman's --storage-driver (without a storage.conf, Podman 4.3 on
#                             Debian 12 falls back to vfs, which copies every parent layer; native
#                             rootless overlay works on this kernel and is what Podman is set up with)
#   BENCH_NO_INSTALL=1        do not check/install Debian packages
#   BENCH_STRICT=1            exit 1 when a target is missed (default: report only)
#   BENCH_TMPDIR=DIR          base for the temp dir (default /tmp, else /var/tmp or /run)
#   SKIFF_TEST_USER=skiff-test
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/bench/common.sh"
OUT=$ROOT/bench/out
USER_NAME=${SKIFF_TEST_USER:-skiff-test}
PEERS=${BENCH_PEERS:-skiff podman}
RUNS=${BENCH_IMG_RUNS:-5}
LIST_IMAGES=${BENCH_IMG_LIST_IMAGES:-200}
LIST_REQS=${BENCH_IMG_LIST_REQS:-100}
PODMAN_DRIVER=${BENCH_PODMAN_DRIVER:-overlay}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=/opt/swift/usr/bin:$SYS_PATH

log() { printf '[bench-images %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts the registry)"
[[ $RUNS =~ ^[1-9][0-9]*$ && $LIST_IMAGES =~ ^[1-9][0-9]*$ && $LIST_REQS =~ ^[1-9][0-9]*$ ]] ||
    die "BENCH_IMG_RUNS, BENCH_IMG_LIST_IMAGES, BENCH_IMG_LIST_REQS must be positive integers"
peers=()
for p in $PEERS; do
    case $p in
        skiff|podman) peers+=("$p") ;;
        docker) log "note: docker is not part of the images benchmark; skipped" ;;
        *) die "unknown peer '$p' in BENCH_PEERS" ;;
    esac
done
[ ${#peers[@]} -gt 0 ] || { log "neither skiff nor podman in BENCH_PEERS: nothing to do"; exit 0; }
has_peer() { [[ " ${peers[*]} " == *" $1 "* ]]; }

# ---------------------------------------------------------------- set-up
PKGS=(podman runc conmon uidmap slirp4netns fuse-overlayfs docker-registry skopeo curl python3
      python3-pytest busybox-static procps util-linux)
if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    bash "$ROOT/scripts/apt-install-missing.sh" "${PKGS[@]}" || die "apt-get install of ${PKGS[*]} failed"
fi
for t in setpriv curl skopeo python3 docker-registry ps; do
    command -v "$t" >/dev/null || die "$t not found"
done
if has_peer podman; then command -v podman >/dev/null || die "podman not found"; fi

SKIFF_TEST_USER=$USER_NAME bash "$ROOT/scripts/setup-test-user.sh"
TUID=$(id -u "$USER_NAME")
TGID=$(id -g "$USER_NAME")

if has_peer skiff; then
    if [ -n "${SKIFF_BIN:-}" ]; then
        [ -x "$SKIFF_BIN" ] || die "SKIFF_BIN=$SKIFF_BIN is not an executable"
        SKIFF_BIN_GIVEN=1
    else
        for product in skiff skiff-image; do
            log "building $product (release, static Swift stdlib)"
            (cd "$ROOT" && swift build -c release --static-swift-stdlib --product "$product") >&2 ||
                die "swift build failed"
        done
        SKIFF_BIN=$ROOT/.build/release/skiff
    fi
    SKIFF_IMAGE_BIN=$(dirname "$SKIFF_BIN")/skiff-image
    [ -x "$SKIFF_BIN" ] || die "$SKIFF_BIN missing"
    [ -x "$SKIFF_IMAGE_BIN" ] || die "$SKIFF_IMAGE_BIN missing (skiff-image must be beside skiff)"
fi

# ---------------------------------------------------------------- bookkeeping, cleanup
TMP_BASE=$(traversable_tmp_base) || die "no temp directory the test user can traverse (tried ${BENCH_TMPDIR:-} /tmp /var/tmp /run)"
T=$(mktemp -d "$TMP_BASE/skiff-bench-img.XXXXXX")
chmod 0755 "$T"
mkdir -p "$T/bin" "$T/home" "$T/config" "$T/xdg" "$T/logs" "$T/store" "$T/images" "$T/registry" "$T/list" "$T/out"
chown "$TUID:$TGID" "$T/home" "$T/config" "$T/xdg" "$T/store"
chmod 0700 "$T/xdg"
XDG=$T/xdg

declare -a STARTED=()      # "PID:STARTTIME" of every process we started

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${STARTED[@]}"; do   # only if it is still the process we started (no pid reuse)
        if proc_alive "${p%%:*}" && [ "$(starttime "${p%%:*}")" = "${p#*:}" ]; then stop_pids 5 "${p%%:*}"; fi
    done
    if [ -n "${XDG:-}" ]; then
        p=$(podman_pause)
        if [ -n "$p" ]; then stop_pids 5 "$p"; fi
    fi
    if [ -n "${T:-}" ] && [ -d "$T" ]; then
        # Podman's rootless storage holds files owned by sub-uids: remove as root
        rm -rf "$T" 2>/dev/null || { sleep 1; rm -rf "$T" || log "could not remove $T"; }
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

declare -A R=()            # R[peer.metric]: "median min max" (ms) ; R[peer.version]
declare -a NOTES=()
note() { NOTES+=("$*"); }

# stats VALUE_S... : seconds in, "median min max p90" in milliseconds out
stats() {
    printf '%s\n' "$@" | sort -g | awk '
        {v[NR] = $1}
        END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
              k = int(0.9 * NR); if (k < 0.9 * NR) k++
              printf "%.3f %.3f %.3f %.3f", m * 1000, v[1] * 1000, v[NR] * 1000, v[k] * 1000 }'
}

# ---------------------------------------------------------------- the images and the registry
log "building the bench image and its sibling (Tests/integration/images.py)"
python3 - "$ROOT/Tests/integration" "$T/images" >"$T/images/info" <<'EOF' || die "building the images failed"
import copy, os, sys
sys.path.insert(0, sys.argv[1])
import images, imagewriter as w
top = sys.argv[2]
os.makedirs(top + "/bench")
bench = images.build_bench(top + "/bench")
sibling = w.Image("bench-sibling", top + "/sibling")
config = copy.deepcopy(bench.config)
config["config"]["Cmd"] = ["true"]
config["history"][-1]["created_by"] = '/bin/sh -c #(nop)  CMD ["true"]'
w.write_single(sibling, bench.layers, config, archives=False)
print(bench.oci, sibling.oci, bench.archive, len(bench.layers), bench.size,
      sum(l.size for l in bench.layers), os.path.getsize(bench.archive))
EOF
read -r BENCH_OCI SIBLING_OCI BENCH_ARCHIVE N_LAYERS SIZE_TAR SIZE_GZ SIZE_ARCHIVE <"$T/images/info"
IMG_LINE="bench: $N_LAYERS layers, $(awk -v a="$SIZE_TAR" -v b="$SIZE_GZ" -v c="$SIZE_ARCHIVE" 'BEGIN{printf "%.1f MB uncompressed, %.1f MB gzip; docker-archive %.1f MB", a/1e6, b/1e6, c/1e6}')"
log "$IMG_LINE"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
cat >"$T/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $T/registry/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $REG
  secret: skiff-bench-registry-secret
EOF
docker-registry serve "$T/registry/config.yml" >"$T/logs/registry.log" 2>&1 &
REG_PID=$!; track "$REG_PID"
for ((i = 0; i < 500; i++)); do
    curl -fsS -o /dev/null "http://$REG/v2/" 2>/dev/null && break
    proc_alive "$REG_PID" || { cat "$T/logs/registry.log" >&2; die "docker-registry exited"; }
    sleep 0.02
done
curl -fsS -o /dev/null "http://$REG/v2/" || { cat "$T/logs/registry.log" >&2; die "docker-registry did not answer /v2/"; }
for pair in "$BENCH_OCI bench" "$SIBLING_OCI bench-sibling"; do
    read -r dir repo <<<"$pair"
    skopeo --insecure-policy copy --quiet --retry-times 0 --dest-tls-verify=false --preserve-digests \
        "oci:$dir:latest" "docker://$REG/$repo:latest" >&2 || die "skopeo copy of $repo to $REG failed"
done
log "registry $REG holds bench and bench-sibling"

cat >"$T/registries.conf" <<EOF
unqualified-search-registries = []

[[registry]]
location = "$REG"
insecure = true
EOF
chmod 0644 "$T/registries.conf"

# the tiny rootfs tarballs for the list benchmark: one file each, different content
python3 - "$T/list" "$LIST_IMAGES" <<'EOF' || die "writing the list tarballs failed"
import io, sys, tarfile
top, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    data = f"skiff bench list image {i}\n".encode()
    with tarfile.open(f"{top}/{i}.tar", "w") as tar:
        info = tarfile.TarInfo("id")
        info.size, info.mode, info.mtime = len(data), 0o644, 1704067200
        tar.addfile(info, io.BytesIO(data))
EOF

if has_peer skiff; then
    install -m 0755 "$SKIFF_BIN" "$T/bin/skiff"
    install -m 0755 "$SKIFF_IMAGE_BIN" "$T/bin/skiff-image"
    tree="built from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
    git -C "$ROOT" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || tree+=" + uncommitted changes under Sources/"
    [ -n "${SKIFF_BIN_GIVEN:-}" ] && tree="SKIFF_BIN=$SKIFF_BIN"
    R[skiff.version]="$(timeout 5 "$T/bin/skiff" --version 2>/dev/null | head -1 || true) ($tree)"
fi
if has_peer podman; then R[podman.version]=$(podman --version | awk '{print $3}'); fi

# ---------------------------------------------------------------- services
as_user() {
    setpriv --reuid="$TUID" --regid="$TGID" --init-groups \
        env -i PATH="$SYS_PATH" HOME="$T/home" USER="$USER_NAME" LOGNAME="$USER_NAME" XDG_RUNTIME_DIR="$XDG" \
        XDG_CONFIG_HOME="$T/config" CONTAINERS_REGISTRIES_CONF="$T/registries.conf" "$@"
}

# svc_start PEER NAME : a service on a new, empty store $T/store/PEER-NAME; sets SVC_PID, SVC_SOCK.
# Returns once it has answered /_ping and GET /images/json (its store is open).
svc_start() {
    local peer=$1 name=$2 store=$T/store/$1-$2 lg=$T/logs/$1-$2.log i
    SVC_SOCK=$XDG/$peer-$name.sock
    mkdir -p "$store"; chown "$TUID:$TGID" "$store"
    case $peer in
        skiff)
            as_user XDG_DATA_HOME="$store" "$T/bin/skiff" service --socket "$SVC_SOCK" --time 0 >"$lg" 2>&1 & ;;
        podman)
            as_user podman --runtime runc --cgroup-manager=cgroupfs --storage-driver "$PODMAN_DRIVER" --root "$store/root" \
                --runroot "$XDG/podman-run-$name" system service --time 0 "unix://$SVC_SOCK" >"$lg" 2>&1 & ;;
    esac
    SVC_PID=$!; track "$SVC_PID"
    for ((i = 0; i < 1500; i++)); do
        curl -fsS -o /dev/null --unix-socket "$SVC_SOCK" http://d/_ping 2>/dev/null && break
        proc_alive "$SVC_PID" || { cat "$lg" >&2; die "$peer: the service exited"; }
        sleep 0.02
    done
    curl -fsS -o /dev/null --unix-socket "$SVC_SOCK" http://d/_ping || { cat "$lg" >&2; die "$peer: no /_ping after 30 s"; }
    curl -fsS -o /dev/null --unix-socket "$SVC_SOCK" http://d/images/json || { cat "$lg" >&2; die "$peer: GET /images/json failed"; }
}

svc_stop() {   # svc_stop PEER NAME : stops the service and removes its store
    stop_pids 10 "$SVC_PID"
    rm -rf "$T/store/$1-$2" "$XDG/podman-run-$2" 2>/dev/null || true
}

# req PEER WHAT ARGS... : one request through curl on $SVC_SOCK; prints curl's time_total (s).
# Fails (the whole benchmark) on a non-2xx status or a streamed error.
req() {
    local peer=$1 what=$2 body=$T/out/body line code time; shift 2
    line=$(curl -sS --unix-socket "$SVC_SOCK" -o "$body" -w '%{http_code} %{time_total}' "$@") ||
        die "$peer: $what: curl failed"
    read -r code time <<<"$line"
    if [[ $code != 2?? ]] || grep -q '"error"' "$body"; then
        log "$peer: $what: status $code: $(head -c 600 "$body")"
        tail -n 20 "$T/logs/$peer-"*.log >&2 2>/dev/null || true
        die "$peer: $what failed"
    fi
    echo "$time"
}

pull() { req "$1" "pull $2" -X POST "http://d/images/create?fromImage=$REG/$2&tag=latest"; }
exists() {   # exists PEER REF : the image answers GET /images/REF/json
    curl -fsS -o /dev/null --unix-socket "$SVC_SOCK" "http://d/images/$2/json" || die "$1: $2 missing after the pull"
}

declare -A V=()            # V[peer.metric]: the measured seconds, space-separated

# one_run PEER I : one run of 1-4 on new stores; I = 0 is the warm-up (not counted)
one_run() {
    local peer=$1 i=$2 t
    add() { [ "$i" -gt 0 ] && V[$peer.$1]+=" $2"; return 0; }
    svc_start "$peer" "pull$i"
    t=$(pull "$peer" bench); add pull_cold "$t"; exists "$peer" "$REG/bench:latest"
    t=$(pull "$peer" bench-sibling); add pull_layers "$t"; exists "$peer" "$REG/bench-sibling:latest"
    req "$peer" tag -X POST "http://d/images/$REG/bench:latest/tag?repo=$REG/bench-keep&tag=latest" >/dev/null
    req "$peer" untag -X DELETE "http://d/images/$REG/bench:latest" >/dev/null
    t=$(pull "$peer" bench); add pull_present "$t"; exists "$peer" "$REG/bench:latest"
    svc_stop "$peer" "pull$i"
    svc_start "$peer" "load$i"
    t=$(req "$peer" load -X POST -T "$BENCH_ARCHIVE" -H 'Content-Type: application/x-tar' -H 'Expect:' "http://d/images/load")
    add load "$t"; exists "$peer" bench:latest
    svc_stop "$peer" "load$i"
}

for ((i = 0; i <= RUNS; i++)); do
    for peer in "${peers[@]}"; do
        log "$peer: run $i of $RUNS$([ "$i" = 0 ] && echo ' (warm-up, not counted)'): pull cold, pull with layers present, pull again, load"
        one_run "$peer" "$i"
    done
done

for peer in "${peers[@]}"; do
    log "$peer: import $LIST_IMAGES tiny rootfs tarballs, then $LIST_REQS x GET /images/json"
    svc_start "$peer" list
    times=()
    for ((n = 0; n < LIST_IMAGES; n++)); do
        times+=("$(req "$peer" "import $n" -X POST -T "$T/list/$n.tar" -H 'Content-Type: application/x-tar' -H 'Expect:' \
            "http://d/images/create?fromSrc=-&repo=bench-list-$n&tag=latest")")
    done
    V[$peer.import]="${times[*]}"
    count=$(curl -fsS --unix-socket "$SVC_SOCK" http://d/images/json | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
    [ "$count" = "$LIST_IMAGES" ] || die "$peer: GET /images/json lists $count images, not $LIST_IMAGES"
    R[$peer.list_bytes]=$(curl -fsS --unix-socket "$SVC_SOCK" http://d/images/json | wc -c)
    R[$peer.driver]=$(curl -fsS --unix-socket "$SVC_SOCK" http://d/info | python3 -c 'import json, sys; print(json.load(sys.stdin).get("Driver", "?"))')
    # one curl, one keep-alive connection: 10 unmeasured requests, then LIST_REQS measured ones
    args=()
    for ((n = 0; n < LIST_REQS + 10; n++)); do args+=(-o /dev/null http://d/images/json); done
    curl -sS --unix-socket "$SVC_SOCK" -w '%{http_code} %{time_total} %{num_connects}\n' "${args[@]}" >"$T/out/list-$peer" ||
        die "$peer: the GET /images/json run failed"
    awk '$1 != 200 {bad++} END {exit bad > 0}' "$T/out/list-$peer" || die "$peer: a GET /images/json did not answer 200"
    conns=$(awk '{c += $3} END {print c}' "$T/out/list-$peer")
    [ "$conns" = 1 ] || note "$peer: the GET /images/json run used $conns connections (keep-alive not kept)"
    V[$peer.list]=$(awk 'NR > 10 {print $2}' "$T/out/list-$peer" | tr '\n' ' ')
    svc_stop "$peer" list
done

for peer in "${peers[@]}"; do
    for m in pull_cold pull_layers pull_present load import list; do
        # shellcheck disable=SC2086
        R[$peer.$m]=$(stats ${V[$peer.$m]})
    done
done
p=$(podman_pause); if [ -n "$p" ]; then stop_pids 5 "$p"; fi

# ---------------------------------------------------------------- report
declare -A LABEL=([skiff]="Skiff" [podman]="Podman ${R[podman.version]:-}")
field() { awk -v s="$1" -v i="$2" 'BEGIN{split(s, a, " "); print a[i]}'; }
cell() {   # cell PEER METRIC FMT: "median (min-max)"
    local v=${R[$1.$2]:-}
    [ -n "$v" ] || { echo n/a; return; }
    awk -v s="$v" -v f="$3" 'BEGIN{split(s, a, " "); printf (f " (" f "-" f ")"), a[1], a[2], a[3]}'
}
row() {    # row TITLE METRIC FMT
    local title=$1 m=$2 fmt=$3 p ratio=n/a
    printf '%-44s' "$title"
    for p in "${peers[@]}"; do printf '%-28s' "$(cell "$p" "$m" "$fmt")"; done
    if has_peer skiff && has_peer podman; then
        ratio=$(awk -v a="$(field "${R[skiff.$m]}" 1)" -v b="$(field "${R[podman.$m]}" 1)" 'BEGIN{printf "%.2fx", a / b}')
        printf '%s' "$ratio"
    fi
    printf '\n'
}
p90row() {
    local title=$1 m=$2 p
    printf '%-44s' "$title"
    for p in "${peers[@]}"; do printf '%-28s' "$(awk -v s="${R[$p.$m]}" 'BEGIN{split(s, a, " "); printf "%.2f", a[4]}')"; done
    if has_peer skiff && has_peer podman; then
        awk -v a="$(field "${R[skiff.$m]}" 4)" -v b="$(field "${R[podman.$m]}" 4)" 'BEGIN{printf "%.2fx", a / b}'
    fi
    printf '\n'
}

TABLE=$OUT/images-$(date -u +%Y%m%dT%H%M%SZ).txt
mkdir -p "$OUT"
{
    echo
    echo "Skiff images benchmark — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r)"
    echo "  $IMG_LINE; registry: docker-registry $(dpkg-query -W -f='${Version}' docker-registry 2>/dev/null) on $REG, plain HTTP, insecure in registries.conf"
    has_peer skiff && echo "  Skiff:  ${R[skiff.version]}, rootless as $USER_NAME"
    has_peer podman && echo "  Podman: ${R[podman.version]}, rootless as $USER_NAME, --runtime runc --cgroup-manager=cgroupfs, storage driver ${R[podman.driver]}"
    echo "  stores on $(stat -f -c %T "$T/store") under $T; client: curl $(curl --version | awk 'NR == 1 {print $2}') over the unix socket, time_total of each request"
    echo "  pull and load: $RUNS runs per peer after 1 warm-up, round-robin; each run on new, empty stores and new service processes"
    echo "  list: $LIST_IMAGES imported images, $LIST_REQS sequential GET /images/json on one keep-alive connection after 10 unmeasured"
    echo
    printf '%-44s' "metric (ms): median (min-max)"
    for p in "${peers[@]}"; do printf '%-28s' "${LABEL[$p]}"; done
    has_peer skiff && has_peer podman && printf '%s' "Skiff/Podman"
    printf '\n'
    printf '%-44s' "------"
    for p in "${peers[@]}"; do printf '%-28s' "------"; done
    has_peer skiff && has_peer podman && printf '%s' "------"
    printf '\n'
    row "pull bench, cold (empty store)"             pull_cold    "%.0f"
    row "pull bench-sibling, its 5 layers present"   pull_layers  "%.0f"
    row "pull bench again, present as bench-keep"     pull_present "%.1f"
    row "load bench's docker-archive, empty store"   load         "%.0f"
    row "import a 1-file rootfs tarball (x$LIST_IMAGES)"   import       "%.1f"
    row "GET /images/json, $LIST_IMAGES images"      list         "%.2f"
    p90row "GET /images/json, $LIST_IMAGES images, p90"   list
    printf '%-44s' "GET /images/json response (bytes)"
    for p in "${peers[@]}"; do printf '%-28s' "${R[$p.list_bytes]}"; done
    printf '\n'
    echo
    echo "Skiff/Podman = ratio of the medians (below 1.00x: Skiff is faster)."
    echo "layers present: bench-sibling shares all 5 layer blobs with bench but has its own config and manifest, so"
    echo "  both engines fetch the manifest and config, find every layer stored and only record a new image."
    echo "present as bench-keep: bench was tagged bench-keep and then untagged; the pull finds the manifest's image stored."
    echo "load: the archive's layers are uncompressed tars; Skiff also keeps them as blobs (for save/push), Podman does not."
    echo
    echo "targets (Skiff):"
    target() {  # target TEXT METRIC
        local s p
        s=$(field "${R[skiff.$2]}" 1); p=$(field "${R[podman.$2]}" 1)
        printf '  %-44s %-40s %s\n' "$1" "$(awk -v a="$s" -v b="$p" 'BEGIN{printf "%.0f ms vs %.0f ms = %.2fx", a, b, a / b}')" \
            "$(awk -v a="$s" -v b="$p" 'BEGIN{print (a <= b) ? "PASS" : "FAIL"}')"
    }
    if has_peer skiff && has_peer podman; then
        target "pull, cold (median) <= Podman's" pull_cold
        target "pull, layers present (median) <= Podman's" pull_layers
        target "load (median) <= Podman's" load
    else
        echo "  (needs both skiff and podman in BENCH_PEERS)"
    fi
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        echo "notes:"
        for n in "${NOTES[@]}"; do echo "  - $n"; done
    fi
} | tee "$TABLE"
cp "$TABLE" "$OUT/images-last.txt"
log "table saved to $TABLE"

if [ "${BENCH_STRICT:-0}" = 1 ] && grep -q ' FAIL$' "$TABLE"; then
    die "a target was missed (BENCH_STRICT=1)"
fi
