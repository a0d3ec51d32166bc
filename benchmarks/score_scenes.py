"""Score one engine with chosen parameters on the real scenes (a tuning harness, not a test).

Hungarian-matched OA, NMI and the largest / smallest cluster share at K = number of reference
classes, on the labelled samples of each scene's first reference (the scenes, references and
scores of :mod:`benchmarks.quality`), for several seeds. Run from the repository root::

    python -m benchmarks.score_scenes --scenes half:A --seeds 0 1 2 --param members=1 --param balance=none
    python -m benchmarks.score_scenes --method kmeans --scenes salinas_a nc_landsat7_landclass96

Each ``--param name=value`` is passed to ``make_engine(method, ...)`` (values parsed as JSON
when they can be). Prints one JSON line per (scene, seed) and a summary line per scene.
"""

from __future__ import annotations

import sys

from benchmarks import _bench

_bench.set_thread_env(_bench.early_threads(sys.argv[1:]))  # before numpy starts its pools

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks import _quality_lib as ql  # noqa: E402


def score(scene: ql.Scene, method: str, seed: int, params: dict[str, Any]) -> dict[str, Any]:
    """Fit ``method`` on the scene, label it whole, score it on the first reference."""
    from geouic.engine import make_engine
    from geouic.raster import open_raster

    k = scene.n_classes
    with open_raster(scene.image) as src:
        engine = make_engine(method, n_classes=k, seed=seed, **params)
        t0 = time.perf_counter()
        engine.fit([src])
        fit_s = time.perf_counter() - t0
    labels = engine.predict_block(scene.data, scene.valid)["labels"]
    ref = scene.primary
    s = ql.matched_scores(labels[ref.rows, ref.cols], ref.codes, k)
    return {"scene": scene.name, "seed": seed, "oa": round(s["oa"], 4), "nmi": round(s["nmi"], 4),
            "cluster_max": round(s["cluster_max"], 3), "cluster_min": round(s["cluster_min"], 3),
            "used": int(len(np.unique(labels[scene.valid]))), "fit_s": round(fit_s, 1)}


def _params(items: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.score_scenes", description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", nargs="*", default=list(ql.SCENES), help="scene names, or half:A / half:B")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--method", default="uic")
    ap.add_argument("--param", action="append", default=[], help="name=value passed to make_engine")
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP and torch threads")
    ap.add_argument("--data", default=str(_bench.DATA))
    ap.add_argument("-v", action="store_true", help="log the engine's progress")
    args = ap.parse_args(argv)
    scenes = ql.expand_scenes(args.scenes)
    unknown = [s for s in scenes if s not in ql.SCENES]
    if unknown:
        ap.error(f"unknown scene(s) {', '.join(unknown)}: choose among {', '.join(ql.SCENES)} (or half:A, half:B)")
    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.INFO if args.v else logging.WARNING, format="%(name)s: %(message)s")
    params = _params(args.param)
    with _bench.thread_limits(args.threads, torch=args.method == "uic"):
        for name in scenes:
            scene = ql.load_scene(name, args.data)
            rows = [score(scene, args.method, s, params) for s in args.seeds]
            for r in rows:
                print(json.dumps(r), flush=True)
            oa = np.array([r["oa"] for r in rows])
            print(f"== {name} {args.method} {params}: OA mean {oa.mean():.3f} spread {np.ptp(oa):.3f} "
                  f"min {oa.min():.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
