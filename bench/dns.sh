#!/usr/bin/env bash
# bench/dns.sh — names between containers (BENCH_PARTS=dns): aardvark-dns 1.4 (Podman's, Debian's
# /usr/lib/podman/aardvark-dns) against the DNS responder of Skiff's network keeper
# (`skiff-relay --keep-netns`, Sources/skiff-relay/netns_dns.c), side by side in namespaces of the
# bench's own (bench/dns.py says what is measured): the memory (PSS) of what answers with no
# container and with BENCH_DNS_CONTAINERS named ones, the cost of a container's join until its
# name answers, one local query. Runs as root (the keeper without a user namespace, as Skiff runs
# it as root; aardvark-dns likewise). The table goes to bench/out/dns-<time>.txt (and dns-last.txt).
#
# Knobs (environment):
#   SKIFF_BIN=PATH              the skiff whose skiff-relay is measured (default: .build/release)
#   BENCH_DNS_CONTAINERS=100    containers named on the network
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RELAY=$(dirname "${SKIFF_BIN:-$ROOT/.build/release/skiff}")/skiff-relay
[ -x "$RELAY" ] || { echo "bench/dns.sh: no skiff-relay at $RELAY (build, or set SKIFF_BIN)" >&2; exit 1; }
[ -x /usr/lib/podman/aardvark-dns ] || { echo "bench/dns.sh: aardvark-dns is not installed (Debian's aardvark-dns)" >&2; exit 1; }
mkdir -p "$ROOT/bench/out"
out=$ROOT/bench/out/dns-$(date -u +%Y%m%dT%H%M%SZ).txt
DNS_BENCH_CONTAINERS=${BENCH_DNS_CONTAINERS:-100} python3 "$ROOT/bench/dns.py" "$RELAY" | tee "$out"
cp "$out" "$ROOT/bench/out/dns-last.txt"
