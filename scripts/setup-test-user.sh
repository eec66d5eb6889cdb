#!/usr/bin/env bash
# Creates the unprivileged user the tests (and benchmarks) run the service as:
# a normal account with /etc/subuid and /etc/subgid ranges and its own XDG_RUNTIME_DIR.
# Idempotent. Must run as root. Prints nothing on success unless something was created.
set -euo pipefail
user=${SKIFF_TEST_USER:-skiff-test}
[ "$(id -u)" = 0 ] || { echo "setup-test-user: must run as root" >&2; exit 1; }

if ! id -u "$user" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$user"
    echo "setup-test-user: created user $user"
fi
uid=$(id -u "$user")
gid=$(id -g "$user")

# Subordinate id ranges: 65536 ids, placed after every range already handed out.
for f in /etc/subuid /etc/subgid; do
    touch "$f"
    if ! grep -q "^$user:" "$f"; then
        start=$(awk -F: 'BEGIN{m=100000} {e=$2+$3; if (e>m) m=e} END{print m}' "$f")
        echo "$user:$start:65536" >> "$f"
        echo "setup-test-user: $f: $user:$start:65536"
    fi
done

# XDG_RUNTIME_DIR as logind would make it (no login session in CI).
rt=/run/user/$uid
mkdir -p "$rt"
chown "$uid:$gid" "$rt"
chmod 0700 "$rt"

# A second user with no subordinate ranges: the runtime must fall back to a single-id map.
nosub=${SKIFF_TEST_USER_NOSUB:-skiff-nosub}
if ! id -u "$nosub" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/bash "$nosub"
    echo "setup-test-user: created user $nosub (no subordinate ids)"
fi
sed -i "/^$nosub:/d" /etc/subuid /etc/subgid
nuid=$(id -u "$nosub")
mkdir -p "/run/user/$nuid"
chown "$nuid:$(id -g "$nosub")" "/run/user/$nuid"
chmod 0700 "/run/user/$nuid"
