"""Measurements behind issue 14, requirement 4: what stays hand-written in geouic's estimators.

1. k-means: geouic's numpy k-means (geouic.cluster.KMeans) against scikit-learn's KMeans (lloyd,
   same n_clusters, n_init, max_iter, tol) under threadpoolctl limits of 1 and 2 threads: fit time
   and inertia on the z-scored default-size sample (100 000 pixels) of shared scenes, and the
   import time of each (a fresh interpreter, ``-X importtime``-free wall time of the import).
2. MLC: geouic.supervised.MaximumLikelihood against scikit-learn's QuadraticDiscriminantAnalysis
   (equal priors, reg_param=0) trained on the same labelled pixels: label agreement over every
   valid pixel of the scene.

Run: ``nice python -m benchmarks.estimator_choices [--repeats 3]``; prints a Markdown report.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
KMEANS_SCENES = ["landsat5_amazon", "nc_landsat7_landclass96", "landsat8_brazil"]


def _sample(path: Path, n: int = 100_000) -> np.ndarray:
    from geouic.raster import open_raster
    from geouic.sampling import Normalizer, sample_pixels

    with open_raster(path) as src:
        X = sample_pixels(src, n, seed=0)
    return Normalizer("zscore").fit(X).transform(X)


def _import_seconds(module: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip()))
    return float(np.median(times))


def kmeans_rows(repeats: int, k: int = 12) -> list[str]:
    from sklearn.cluster import KMeans as SkKMeans
    from threadpoolctl import threadpool_limits

    from geouic.cluster import KMeans

    rows = ["| scene | pixels x bands | threads | geouic fit s (median) | sklearn fit s (median) | "
            "geouic inertia | sklearn inertia |", "|---|---|---|---|---|---|---|"]
    for name in KMEANS_SCENES:
        path = DATA / name / "image.tif"
        if not path.exists():
            continue
        X = _sample(path)
        for threads in (1, 2):
            g_t, s_t, g_i, s_i = [], [], [], []
            with threadpool_limits(threads):
                for r in range(repeats):
                    t = time.perf_counter()
                    g = KMeans(n_clusters=k, n_init=4, random_state=r).fit(X)
                    g_t.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    s = SkKMeans(n_clusters=k, n_init=4, random_state=r, algorithm="lloyd").fit(X)
                    s_t.append(time.perf_counter() - t)
                    g_i.append(g.inertia_)
                    s_i.append(s.inertia_)
            rows.append(f"| {name} | {X.shape[0]} x {X.shape[1]} | {threads} | {np.median(g_t):.2f} | "
                        f"{np.median(s_t):.2f} | {np.median(g_i):.4g} | {np.median(s_i):.4g} |")
            print(rows[-1], flush=True)
    return rows


def mlc_rows() -> list[str]:
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

    from geouic.raster import open_raster, to_samples
    from geouic.reference import Grid, open_reference
    from geouic.sampling import sample_labelled
    from geouic.supervised import MaximumLikelihood

    cases = [(ROOT / "data_samples" / "scene.tif", ROOT / "data_samples" / "training.gpkg", "class"),
             (DATA / "landsat5_amazon" / "image.tif", DATA / "landsat5_amazon" / "training_polygons.gpkg", None)]
    rows = ["| scene | training pixels | classes | pixels compared | agreement MLC vs QDA |", "|---|---|---|---|---|"]
    for scene, training, field in cases:
        if not scene.exists():
            continue
        with open_raster(scene) as src:
            if field is None:
                import pyogrio

                cols = [c for c in pyogrio.read_info(training)["fields"] if c.lower() not in ("fid", "id")]
                field = cols[0]
            ref = open_reference(training, Grid.from_dataset(src), field=field)
            X, y = sample_labelled(src, ref.read, seed=0)
            mlc = MaximumLikelihood().fit(X, y)
            qda = QuadraticDiscriminantAnalysis(priors=np.full(len(mlc.classes_), 1 / len(mlc.classes_)),
                                                reg_param=0.0).fit(X, y)
            agree = total = 0
            for pair in src.windows():
                data, valid = src.read(pair.core)
                P = to_samples(data, valid).astype(np.float64)
                if len(P):
                    agree += int((mlc.predict(P) == qda.predict(P)).sum())
                    total += len(P)
        rows.append(f"| {scene.parent.name}/{scene.name} | {len(y)} | {len(mlc.classes_)} | {total} | "
                    f"{agree / total:.5f} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    imports = [f"| import geouic.cluster._kmeans | {_import_seconds('geouic.cluster._kmeans', args.repeats):.3f} s |",
               f"| import sklearn.cluster | {_import_seconds('sklearn.cluster', args.repeats):.3f} s |"]
    print("\n".join(["| import | median wall |", "|---|---|", *imports]), flush=True)
    kmeans_rows(args.repeats)
    mlc_rows()


if __name__ == "__main__":
    main()
