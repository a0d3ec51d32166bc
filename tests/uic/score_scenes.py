"""Score the UIC engine on the real scenes of ../shared/data (a tuning harness, not a test).

Hungarian-matched overall accuracy and NMI at K = number of reference classes, on labelled
pixels only, for several seeds::

    python tests/uic/score_scenes.py --seeds 0 1 2 --param members=1 --param smoothing=0

Each ``--param name=value`` is passed to ``make_engine("uic", ...)`` (values parsed as JSON
when they can be). ``--method kmeans`` scores the k-means engine instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import normalized_mutual_info_score

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
#: scene -> (image, reference, K)
SCENES = {
    "salinas_150": ("salinas_150/image.tif", "salinas_150/reference.tif", 8),
    "landsat5_amazon": ("landsat5_amazon/image.tif", "landsat5_amazon/training_polygons_rasterized.tif", 4),
    "salinas_a": ("salinas_a/image.tif", "salinas_a/reference.tif", 6),
    "nc_landsat7_landclass96": ("nc_landsat7_landclass96/image.tif", "nc_landsat7_landclass96/reference.tif", 7),
    "indian_pines_roi70": ("indian_pines_roi70/image.tif", "indian_pines_roi70/reference.tif", 4),
}


def matched_oa(pred: np.ndarray, ref: np.ndarray) -> float:
    """Overall accuracy after one-to-one Hungarian matching of clusters to classes."""
    p_ids, p = np.unique(pred, return_inverse=True)
    r_ids, r = np.unique(ref, return_inverse=True)
    cm = np.zeros((len(p_ids), len(r_ids)))
    np.add.at(cm, (p, r), 1)
    rows, cols = linear_sum_assignment(-cm)
    return float(cm[rows, cols].sum() / len(ref))


def score(scene: str, method: str, seed: int, params: dict) -> dict:
    import rasterio

    from geouic.engine import make_engine
    from geouic.raster import open_raster

    img, ref_path, k = SCENES[scene]
    with rasterio.open(SHARED / ref_path) as ds:
        ref = ds.read(1)
    with open_raster(SHARED / img) as src:
        engine = make_engine(method, n_classes=k, seed=seed, **params)
        t0 = time.perf_counter()
        engine.fit([src])
        fit_s = time.perf_counter() - t0
        data, valid = src.read()
        labels = engine.predict_block(data, valid)["labels"]
    keep = (ref > 0) & valid
    return {"scene": scene, "seed": seed, "oa": matched_oa(labels[keep], ref[keep]),
            "nmi": float(normalized_mutual_info_score(ref[keep], labels[keep])),
            "used": int(len(np.unique(labels[valid]))), "fit_s": round(fit_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes", nargs="*", default=list(SCENES))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--method", default="uic")
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.INFO if args.v else logging.WARNING, format="%(name)s: %(message)s")
    import torch

    torch.set_num_threads(args.threads)
    params = {}
    for p in args.param:
        name, _, value = p.partition("=")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    for scene in args.scenes:
        rows = [score(scene, args.method, s, params) for s in args.seeds]
        for r in rows:
            print(json.dumps(r), flush=True)
        oa = np.array([r["oa"] for r in rows])
        print(f"== {scene} {args.method} {params}: OA mean {oa.mean():.3f} spread {oa.max() - oa.min():.3f} "
              f"min {oa.min():.3f}", flush=True)


if __name__ == "__main__":
    main()
