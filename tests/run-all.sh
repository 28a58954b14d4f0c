#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what it needs, then run every test.
# Under CI=true the real-kernel and real-apiserver tests fail instead of skipping when a
# prerequisite is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
exec python3 -m pytest "$@"
