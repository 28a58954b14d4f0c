#!/usr/bin/env bash
# The whole test suite on a fresh machine: install what it needs, lint and type-check, then run
# every test.
# Under CI=true the real-kernel and real-apiserver tests fail instead of skipping when a
# prerequisite is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
# Lint and types (configured in pyproject.toml), then the tests: the run fails if any of them
# fails, and a lint or type error does not hide the test results.
lint=0
python3 -m ruff check . || lint=1
python3 -m mypy || lint=1
tests=0
python3 -m pytest "$@" || tests=$?
if [ "$lint" -ne 0 ]; then
  echo "run-all.sh: ruff or mypy found errors (above)" >&2
fi
if [ "$tests" -ne 0 ]; then
  exit "$tests"
fi
exit "$lint"
