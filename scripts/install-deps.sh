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
    # dbus-daemon: test_cgroups_systemd.py runs a private bus for its systemd stand-in.
    # tmux: the interactive container tests drive `docker run -it` in a tmux pane; catatonit: --init.
    # strace: test_boundaries.py watches what the service's own threads open.
    # docker-compose: the compose projects of the networking, volume and build tests.
    # python3-venv: the Python clients run from a virtual environment of the project's own
    # (Debian's python3 refuses `pip install` into the system).
    packages+=(systemd busybox-static python3 python3-venv sqlite3 util-linux procps iproute2 runc
               docker-registry skopeo apache2-utils openssl zstd tmux strace dbus-daemon docker-compose)
fi
# catatonit: the init `--init` runs (containers.conf `init_path`), for `make run` as for the tests.
# slirp4netns, passt (pasta): the default network's user-mode networking, containers.conf's
# default_rootless_network_cmd chooses (docs/networking.md).
packages+=(catatonit slirp4netns passt)
# nftables: the rules of the user-defined networks' uplink in the keeper's namespace (nft -f -).
packages+=(nftables)

bash "$(dirname "$0")/apt-install-missing.sh" "${packages[@]}"

# slirp4netns opens /dev/net/tun inside the container's user namespace: Debian's udev rules make
# it 0666; a machine without udev (a container) may have it 0600, and then no rootless
# container gets a network.
if [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
    if [ "$(id -u)" = 0 ]; then chmod 0666 /dev/net/tun; else sudo chmod 0666 /dev/net/tun; fi
fi

if ! command -v swift >/dev/null; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "install-deps: swift is at /opt/swift/usr/bin; add it to PATH" >&2
    else
        echo "install-deps: a Swift 6 toolchain is needed (swift on PATH)" >&2
    fi
    exit 1
fi

if [ "$mode" = "--test" ]; then
    # Python clients for the end-to-end tests (pytest, docker-py, openapi-spec-validator, and
    # schemathesis for test_fuzz.py, pinned: its CLI options and config file change between
    # releases), in a virtual environment of the project's own: SKIFF_TEST_VENV, default .venv in
    # the checkout.
    # Made from Debian's python3 where it is installed, so a stock Debian 12 behaves as CI does.
    venv=${SKIFF_TEST_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv}
    base=/usr/bin/python3
    [ -x "$base" ] || base=$(command -v python3)
    if [ ! -x "$venv/bin/python" ]; then
        echo "install-deps: making the test virtual environment $venv"
        "$base" -m venv "$venv"
    fi
    if ! "$venv/bin/python" -c 'import pytest, docker, openapi_spec_validator' 2>/dev/null; then
        echo "install-deps: installing pytest docker openapi-spec-validator into $venv"
        "$venv/bin/python" -m pip install -q pytest 'docker>=7.1' openapi-spec-validator
    fi
    schemathesis=4.32.5
    if [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$schemathesis" ]; then
        echo "install-deps: installing schemathesis $schemathesis into $venv"
        "$venv/bin/python" -m pip install -q "schemathesis==$schemathesis"
    fi

    # The docker CLI the tests drive: the one on the tests' PATH (/usr/local/bin, then /usr/bin),
    # else Debian's (package docker.io, CLI 20.10; its daemon is not started). Tests that depend
    # on the CLI's version ask `docker_cli_version` (Tests/integration/conftest.py).
    if ! PATH=/usr/local/bin:/usr/bin:/bin command -v docker >/dev/null; then
        echo "install-deps: no docker CLI: installing Debian's docker.io for its CLI (dockerd stays stopped)"
        policy=/usr/sbin/policy-rc.d
        made_policy=0
        if [ ! -e "$policy" ]; then
            printf '#!/bin/sh\nexit 101\n' > "$policy"
            chmod 0755 "$policy"
            made_policy=1
        fi
        status=0
        bash "$(dirname "$0")/apt-install-missing.sh" docker.io || status=$?
        if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi
        [ "$status" = 0 ] || exit "$status"
    fi
fi
