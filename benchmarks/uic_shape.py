"""UIC's starting labels with spectral-shape features (issue 8, seventh round).

The sixth round (:mod:`benchmarks.uic_features`) changed the subspace the starting mixture sees;
this one changes *what* is projected: features that separate a pixel's spectral SHAPE from its
BRIGHTNESS (illumination, topography, canopy density), as subspace-clustering methods do. Every
variant keeps the engine's chain after its transform: z-score per band, PCA to 16 components in
the un-whitened geometry (fewer bands: only the z-score), the 3x3 masked median per channel, the
full-covariance mixture on the same 20k subsample and starts, the Potts field at beta 4
(:func:`benchmarks.uic_features.mixture_labels`); the same two workflows are scored (matched,
K = classes; realistic, K = 3 x classes with checkerboard majority). No variant sees a label.

The *positive shift* (:func:`positive_shift`), label-free, from the engine's 100k pixel sample of
the scene: every value is clipped below at the 0.1 % quantile ``lo`` of all sampled values and
shifted by ``o = max(0, 0.01 * (q99.9 - lo) - lo)``, so every band is at least 1 % of the robust
range above zero (a scene whose values are all positive keeps them; Salinas' -9 and Peru's -2000
outliers do not dominate the norm or the logarithm).

Variants (``--variants``, comma-separated):

* ``base``: the engine's own first stage and ``initial_labels`` (reproduces ``uic-init``);
* ``unorm``: each shifted pixel divided by its L2 norm over bands (spectral-angle geometry);
* ``unlog-W``: ``unorm`` plus the log of the norm as one extra channel after the projection,
  z-scored over the sample and scaled so its variance is W's: ``med`` the median channel's
  variance in the engine's geometry, ``pc1`` the first channel's (on a scene without PCA every
  channel has variance 1, so both are 1);
* ``clr``: centred log-ratio, ``log x - mean over bands of log x`` (shifted x);
* ``dlog`` / ``deriv``: first difference along bands of ``log x`` (ratios of neighbouring bands,
  brightness-free) / of the shifted raw spectrum; hyperspectral scenes only (more than
  ``HYPER_BANDS`` bands, a rule, not a per-scene switch), others keep ``base``'s record;
* ``cat-S-N``: the engine's own channels (its geometry) beside the N first channels of shape
  variant S's projection (S = ``unorm`` or ``clr``), each with the 3x3 median; the shape block
  scaled so its total variance matches the engine block's times N / 16.

Run (one process; ``--json`` is appended to): ``PYTHONPATH=. OMP_NUM_THREADS=1 nice -n 5
.venv/bin/python -m benchmarks.uic_shape --scenes half:A --seeds 0,1,2 --variants base,unorm,clr
--skip-done --json benchmarks/_work/shape_A.json``; ``--report shape_A.json,shape_B.json`` prints the
tables (the report of :mod:`benchmarks.uic_features`).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import _bench
from benchmarks._quality_lib import expand_scenes, load_scene
from benchmarks.uic_features import Stage, _pool_of, report, run_and_record

HYPER_BANDS = 30


def positive_shift(X: np.ndarray) -> tuple[float, float]:
    """``(lo, offset)`` from a raw sample ``(n, bands)``: clip below at ``lo``, then add ``offset``."""
    lo, hi = np.quantile(np.asarray(X, np.float64), [0.001, 0.999])
    return float(lo), float(max(0.0, 0.01 * (hi - lo) - lo))


def shape_transform(kind: str, lo: float, offset: float) -> Callable[[np.ndarray], np.ndarray]:
    """Row-wise transform of raw pixels ``(n, bands)`` -> ``(n, bands')`` for variant ``kind``."""

    def shifted(X: np.ndarray) -> np.ndarray:
        return np.maximum(np.asarray(X, np.float64), lo) + offset

    def unorm(X: np.ndarray) -> np.ndarray:
        s = shifted(X)
        return s / np.linalg.norm(s, axis=1, keepdims=True)

    def clr(X: np.ndarray) -> np.ndarray:
        lx = np.log(shifted(X))
        return lx - lx.mean(axis=1, keepdims=True)

    def dlog(X: np.ndarray) -> np.ndarray:
        return np.diff(np.log(shifted(X)), axis=1)

    def deriv(X: np.ndarray) -> np.ndarray:
        return np.diff(shifted(X), axis=1)

    return {"unorm": unorm, "clr": clr, "dlog": dlog, "deriv": deriv}[kind]


class ShapeStage(Stage):
    """:class:`~benchmarks.uic_features.Stage` with the spectral-shape variants."""

    def __init__(self, scene: Any, seed: int) -> None:
        super().__init__(scene, seed)
        self._raw: np.ndarray | None = None
        self._proj: dict[str, tuple[Any, np.ndarray, np.ndarray]] = {}

    def raw_sample(self) -> np.ndarray:
        """The engine's pixel sample of the scene (raw values, float64)."""
        if self._raw is None:
            from geouic.raster import open_raster
            from geouic.sampling import sample_pixels

            with warnings.catch_warnings(), open_raster(self.scene.image) as src:
                warnings.simplefilter("ignore")
                self._raw = sample_pixels([src], self.cfg.sample_size, seed=self.seed).astype(np.float64)
        return self._raw

    def shape_channels(self, kind: str) -> tuple[Any, np.ndarray, np.ndarray]:
        """``(pool, features (n_valid, d) in the engine's geometry, log-norm of valid pixels)``."""
        if kind in self._proj:
            return self._proj[kind]
        from geouic.uic.data import PatchPool, Projection, Region

        X = self.raw_sample()
        lo, off = positive_shift(X)
        tr = shape_transform(kind, lo, off)
        proj = Projection(self.cfg.normalize, int(self.cfg.pca_components)).fit(tr(X).astype(np.float32))
        data, valid = self.scene.data, self.scene.valid
        flat = tr(data[:, valid].T.astype(np.float64))
        bands_out = flat.shape[1]
        full = np.zeros((bands_out, *valid.shape), np.float32)
        full[:, valid] = flat.T
        ch = proj.transform_block(full, valid)
        pool = PatchPool([Region(ch, valid)], geometry=proj.geometry_)
        feats = pool.smoothed_features(pool.geometry).astype(np.float64)
        s = np.maximum(data[:, valid].T.astype(np.float64), lo) + off
        lognorm = np.log(np.linalg.norm(s, axis=1))
        self._proj[kind] = (pool, feats, lognorm)
        return self._proj[kind]

    def features(self, variant: str) -> tuple[Any, np.ndarray | None, dict[str, Any]]:
        name, _, arg = variant.partition("-")
        bands = int(self.scene.data.shape[0])
        if name in ("dlog", "deriv") and bands <= HYPER_BANDS:
            return self.base_pool, None, {"d": self.base_pool.n_channels}
        if name in ("unorm", "clr", "dlog", "deriv"):
            pool, f, _ = self.shape_channels(name)
            return pool, f, {"d": f.shape[1]}
        if name == "unlog":
            pool, f, lognorm = self.shape_channels("unorm")
            var = np.var(f, axis=0)
            target = float(np.median(var) if arg == "med" else var[0])
            # The log-norm's own 3x3 median, as every other channel gets.
            region = pool.regions[0]
            img = np.zeros((1, *region.valid.shape), np.float32)
            img[0, region.valid] = lognorm
            med = _pool_of(img, region.valid).smoothed_features(None)[:, 0].astype(np.float64)
            ln = (med - med.mean()) / max(med.std(), 1e-12) * np.sqrt(target)
            return pool, np.concatenate([f, ln[:, None]], axis=1), {"d": f.shape[1] + 1, "w2": target}
        if name == "cat":
            kind, n = arg.split("-")
            base = self.base_pool
            f0 = base.smoothed_features(base.geometry).astype(np.float64)
            _, fs, _ = self.shape_channels(kind)
            fs = fs[:, : int(n)]
            scale = np.sqrt(np.var(f0, axis=0).sum() * fs.shape[1] / 16.0 / max(np.var(fs, axis=0).sum(), 1e-12))
            return base, np.concatenate([f0, fs * scale], axis=1), {"d": f0.shape[1] + fs.shape[1]}
        return super().features(variant)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenes", default="half:A")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default="base")
    p.add_argument("--workflows", default="matched,majority")
    p.add_argument("--json", type=Path)
    p.add_argument("--skip-done", action="store_true", help="skip scene x seed x variant x workflow in --json")
    p.add_argument("--report", help="comma-separated JSON files: print the tables and exit")
    a = p.parse_args(argv)
    if a.report:
        report([Path(x) for x in a.report.split(",")], None if a.variants == "base" else a.variants.split(","))
        return 0
    records = json.loads(a.json.read_text()) if a.json and a.json.exists() else []
    import torch

    torch.set_num_threads(1)
    for name in expand_scenes(a.scenes.split(",")):
        scene = load_scene(name, _bench.DATA)
        for seed in [int(s) for s in a.seeds.split(",")]:
            done = {(r["scene"], r["seed"], r["variant"], r["workflow"]) for r in records} if a.skip_done else set()
            todo = [(v, wf) for v in a.variants.split(",") for wf in a.workflows.split(",")
                    if (name, seed, v, wf) not in done]
            if not todo:
                continue
            stage = ShapeStage(scene, seed)
            for v, wf in todo:
                records = run_and_record(records, stage, v, wf, a.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
