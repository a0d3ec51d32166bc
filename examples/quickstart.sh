#!/usr/bin/env bash
# The main job on the bundled sample scene, as an analyst runs it:
#   1. classify the scene into spectral classes with the default engine (model saved),
#   2. name the classes from reference polygons with a legend (schema),
#   3. assess the land-cover map against independent validation points (area-adjusted),
#   4. class statistics and signatures.
# Results go to out/ (open out/report/report.html in a browser; *.tif open styled in QGIS).
# Run after `bash scripts/setup.sh` (uses .venv when present). Extra arguments go to step 1,
# e.g. `bash examples/quickstart.sh --method kmeans`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/geouic ] && export PATH="$PWD/.venv/bin:$PATH"
mkdir -p out
SCENE=data_samples/scene.tif

geouic info "$SCENE" --no-stats
geouic classify "$SCENE" --classes 15 --confidence out/confidence.tif \
    --save-model out/scene.geouic -o out/classes.tif --overwrite "$@"
geouic assign-schema out/classes.tif --reference data_samples/training.gpkg --field class \
    --schema examples/sample_schema.yaml -o out/landcover.tif --overwrite
geouic accuracy out/landcover.tif --reference data_samples/validation.gpkg --field ref \
    --area-adjusted -o out/report --overwrite
geouic stats out/landcover.tif "$SCENE" -o out/stats --overwrite
echo "Done: out/landcover.tif (map), out/report/report.html (accuracy), out/stats/ (class statistics)"
