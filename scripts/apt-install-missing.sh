#!/usr/bin/env bash
# apt-install-missing.sh PACKAGE...: installs those Debian packages that are not installed yet
# (apt-get update only when something is missing), as root or through sudo. The project's set-up
# scripts and the benchmarks share it.
set -euo pipefail
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "apt-install-missing: run as root or install sudo" >&2; exit 1; }
    sudo=sudo
fi
echo "apt-install-missing: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
