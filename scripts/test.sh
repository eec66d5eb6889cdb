#!/usr/bin/env bash
# Everything the tests need, then every test: `make test` runs this, and so does CI.
#  1. apt packages, the Python clients in a virtual environment (.venv), the docker CLI, and the
#     unprivileged test user (with /etc/subuid ranges)
#  2. a debug build, the Swift unit tests (Swift Testing)
#  3. the end-to-end tests (pytest) against the built binary, as the test user and as root
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test: run as root (the tests switch to an unprivileged user)" >&2; exit 1; }

export PATH="/opt/swift/usr/bin:$PATH"
bash scripts/install-deps.sh --test
bash scripts/setup-test-user.sh

swift build --build-tests
# --skip-build: the line above built everything; a second look costs ~6 s (planning, no work).
swift test --skip-build
"${SKIFF_TEST_VENV:-$PWD/.venv}/bin/python" -m pytest Tests/integration -v -p no:cacheprovider --durations=30
