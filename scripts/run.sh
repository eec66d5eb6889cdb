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
if [ "$(id -u)" != 0 ] && [ -z "${XDG_RUNTIME_DIR:-}" ]; then
    export XDG_RUNTIME_DIR=/run/user/$(id -u)
fi
echo "skiff: serving until Ctrl-C; in another shell:"
if [ "$(id -u)" = 0 ]; then
    echo "  export DOCKER_HOST=unix:///run/skiff/skiff.sock"
else
    echo "  export DOCKER_HOST=unix://$XDG_RUNTIME_DIR/skiff/skiff.sock"
fi
exec .build/release/skiff service --time 0
