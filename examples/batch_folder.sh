#!/usr/bin/env bash
# A QGIS-style batch in shell: classify a folder of scenes with one model, name the classes,
# assess each map.
#   1. train one model over every scene of the folder (a class means the same in all of them),
#   2. predict every scene with it,
#   3. learn the class -> land-cover mapping from reference polygons on the first scene and
#      apply the same mapping to every scene,
#   4. assess each land-cover map against validation points.
#
#   bash examples/batch_folder.sh [SCENES_DIR] [OUT_DIR] [options for `geouic train`...]
#   bash examples/batch_folder.sh                                  # data_samples/scene*.tif -> out/batch_folder
#   bash examples/batch_folder.sh scenes/ out/ --method uic --classes 20
#
# Environment: PATTERN (scene files, default *.tif; scene*.tif in data_samples), REFERENCE and
# FIELD (polygons naming the classes), SCHEMA (legend YAML or preset), VALIDATION and
# VALIDATION_FIELD (accuracy points; VALIDATION= skips step 4). Without train options: k-means,
# 15 classes. The same work as a jobs file: examples/jobs.yaml (`geouic batch` adds --jobs,
# --resume and a manifest).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
SCENES=$(abs "${1:-$here/data_samples}")
OUT=$(abs "${2:-$here/out/batch_folder}")
shift $(( $# < 2 ? $# : 2 ))
if [ "$SCENES" = "$here/data_samples" ]; then PATTERN=${PATTERN:-scene*.tif}; else PATTERN=${PATTERN:-*.tif}; fi
REFERENCE=$(abs "${REFERENCE:-$here/data_samples/training.gpkg}")
FIELD=${FIELD:-class}
SCHEMA=${SCHEMA:-$here/examples/sample_schema.yaml}
VALIDATION=${VALIDATION-$here/data_samples/validation.gpkg}
VALIDATION_FIELD=${VALIDATION_FIELD:-ref}
[ $# -gt 0 ] || set -- --method kmeans --classes 15
[ -x "$here/.venv/bin/geouic" ] && export PATH="$here/.venv/bin:$PATH"

shopt -s nullglob
scenes=("$SCENES"/$PATTERN)
if [ ${#scenes[@]} -eq 0 ]; then
  echo "Error: no $PATTERN in $SCENES; pass a folder of scenes (or set PATTERN)." >&2
  exit 2
fi
mkdir -p "$OUT"

echo "== 1. one model over ${#scenes[@]} scene(s)"
geouic train "${scenes[@]}" --save-model "$OUT/region.geouic" --overwrite "$@"

echo "== 2. predict every scene"
for scene in "${scenes[@]}"; do
  stem=$(basename "${scene%.*}")
  geouic predict "$OUT/region.geouic" "$scene" -o "$OUT/${stem}_classes.tif" --overwrite
done

echo "== 3. name the classes (mapping learned on the first scene, applied to all)"
first=$(basename "${scenes[0]%.*}")
geouic assign-schema "$OUT/${first}_classes.tif" --reference "$REFERENCE" --field "$FIELD" \
    --schema "$SCHEMA" -o "$OUT/${first}_landcover.tif" --overwrite
for scene in "${scenes[@]:1}"; do
  stem=$(basename "${scene%.*}")
  geouic assign-schema "$OUT/${stem}_classes.tif" --mapping "$OUT/${first}_landcover.mapping.yaml" \
      -o "$OUT/${stem}_landcover.tif" --overwrite
done

if [ -n "$VALIDATION" ]; then
  echo "== 4. assess each map"
  for scene in "${scenes[@]}"; do
    stem=$(basename "${scene%.*}")
    geouic accuracy "$OUT/${stem}_landcover.tif" --reference "$VALIDATION" --field "$VALIDATION_FIELD" \
        -o "$OUT/${stem}_report" --overwrite
  done
fi
echo "Done: $OUT/*_landcover.tif (maps, styled in QGIS), $OUT/*_report/report.html (accuracy)"
