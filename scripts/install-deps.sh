#!/usr/bin/env bash
# Installs what Skiff needs on Debian 12: build and run (default), or also what the tests need
# (--test). Installs only what is missing, so a second run is quick. Needs root (or sudo).
set -euo pipefail

mode=${1:-run}
packages=(libseccomp-dev libcap-dev libselinux1-dev libsqlite3-dev zlib1g-dev libssl-dev libzstd-dev pkg-config uidmap)
if [ "$mode" = "--test" ]; then
    # systemd: systemd-socket-activate and systemd-analyze; busybox-static: the test images.
    # docker-registry, skopeo, apache2-utils (htpasswd), openssl, zstd: the image tests' registries
    # (their own instances on free 127.0.0.1 ports; they never use the package's :5000 service).
    # tmux: the interactive container tests drive `docker run -it` in a tmux pane; catatonit: --init.
    # strace: test_boundaries.py watches what the service's own threads open.
    packages+=(systemd busybox-static python3 sqlite3 util-linux procps iproute2 runc
               docker-registry skopeo apache2-utils openssl zstd tmux catatonit strace)
fi

bash "$(dirname "$0")/apt-install-missing.sh" "${packages[@]}"

if ! command -v swift >/dev/null; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "install-deps: swift is at /opt/swift/usr/bin; add it to PATH" >&2
    else
        echo "install-deps: a Swift 6 toolchain is needed (swift on PATH)" >&2
    fi
    exit 1
fi

if [ "$mode" = "--test" ]; then
    # Python clients for the end-to-end tests: pytest, docker-py, openapi-spec-validator.
    py=python3
    if ! $py -c 'import pytest, docker, openapi_spec_validator' 2>/dev/null; then
        echo "install-deps: installing pytest docker openapi-spec-validator"
        $py -m pip install -q pytest 'docker>=7.1' openapi-spec-validator
    fi
    command -v docker >/dev/null || { echo "install-deps: the docker CLI (28.x) is expected at /usr/local/bin/docker" >&2; exit 1; }
fi
