#!/usr/bin/env bash
# Installs what is needed, builds Skiff (release) and runs the service in the foreground on
# the default socket: $XDG_RUNTIME_DIR/skiff/skiff.sock for a user, /run/skiff/skiff.sock for root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
bash scripts/install-deps.sh
swift build -c release --static-swift-stdlib --product skiff
# The image routes run skiff-image (beside skiff) for pull, push, load and import.
swift build -c release --static-swift-stdlib --product skiff-image
# `skiff runtime` and the engine's pause, resume and clean-up run skiff-runtime (beside skiff).
swift build -c release --static-swift-stdlib --product skiff-runtime
# Container start runs skiff-monitor (beside skiff), one per running container; it execs
# skiff-relay (beside it) while the container runs.
swift build -c release --static-swift-stdlib --product skiff-monitor
swift build -c release --static-swift-stdlib --product skiff-relay
# `-H tcp://...` (mutual TLS) runs skiff-tls (beside skiff).
swift build -c release --static-swift-stdlib --product skiff-tls
# Without XDG_RUNTIME_DIR a user's service picks /run/user/UID or a private $TMPDIR/skiff-run-UID
# (README); `skiff config` says which, and where the socket is.
runtime_dir=$(.build/release/skiff config skiff.runtime_dir | cut -f2 | sed -e 's/^skiff.runtime_dir="//' -e 's/"$//')
echo "skiff: serving until Ctrl-C; in another shell:"
echo "  export DOCKER_HOST=unix://$runtime_dir/skiff.sock"
exec .build/release/skiff service --time 0
