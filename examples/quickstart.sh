#!/usr/bin/env bash
# The main job on the bundled sample scene: classify, name the classes from reference polygons,
# and assess the map against independent validation points. Results go to out/.
# Run after `bash scripts/setup.sh` (uses .venv when present).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/geouic ] && export PATH="$PWD/.venv/bin:$PATH"
mkdir -p out
SCENE=data_samples/scene.tif

geouic info "$SCENE" --no-stats
# 1. Unsupervised classification (15 spectral classes, 3x the 5 land-cover classes), model saved.
geouic classify "$SCENE" --classes 15 --confidence out/confidence.tif \
    --save-model out/scene.geouic -o out/classes.tif --overwrite
