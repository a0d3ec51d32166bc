#!/usr/bin/env bash
# Every check CI runs, in order: lint and docstrings (ruff), types (mypy), then the test suite.
# Run after scripts/setup.sh, which installs the pinned ruff and mypy with the test extras.
# Usage: bash scripts/check.sh [extra pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
echo "ruff: $(.venv/bin/ruff --version)"
.venv/bin/ruff check .
echo "mypy: $(.venv/bin/mypy --version)"
.venv/bin/mypy
.venv/bin/python -m pytest -m "not slow" -q "$@"
