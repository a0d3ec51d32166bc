#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv and install geouic into it.
# The pinned CPU build of torch is installed first: a bare `torch` requirement would pull
# several GB of CUDA packages. Usage: bash scripts/setup.sh [extra pip args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
python -m pip install -q -e ".[test]" "$@"
echo "geouic installed in .venv ($(python -c 'import geouic; print(geouic.__version__)'))"
# numba compiles the sieve's kernels on first use (about 10 CPU s); do it now, once, not in the first sieve.
python scripts/warm_kernels.py
