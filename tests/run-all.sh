#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what it needs, lint and type-check, then run
# every test.
# Under CI=true the real-kernel and real-apiserver tests fail instead of skipping when a
# prerequisite is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
# Lint and types first (configured in pyproject.toml): either failing fails the run.
python3 -m ruff check .
python3 -m mypy
exec python3 -m pytest "$@"
