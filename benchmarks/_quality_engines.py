"""The engines of the quality benchmark: geouic's methods, classical references, UIC's
initialisation alone, and published cluster maps.

Every entry of :data:`ENGINES` turns ``(scene, K, seed)`` into a label map of the whole scene
(1..K on valid pixels, 0 elsewhere) plus fit and predict times:

* ``uic``, ``kmeans``, ``isodata``, ``fcm``: ``geouic.engine.make_engine`` / ``fit`` /
  ``predict_block`` (the public API only);
* ``kmeans-smooth3``: geouic k-means on 3x3-smoothed bands;
* ``gmm``: scikit-learn ``GaussianMixture`` with full covariance on z-scored pixels (PCA-30
  above 30 bands), fitted on the same ``geouic.sampling.sample_pixels`` sample;
* ``uic-init``: the labels a UIC member starts from, on the whole scene, without training
  (see :func:`uic_init_labels`; "not available" when geouic.uic no longer offers them);
* published maps are read, not fitted (:func:`read_published`).

An engine that cannot be built raises :class:`Unavailable`; the benchmark reports it as
"not available" instead of failing.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._quality_lib import Scene, smooth_valid

__all__ = ["ENGINES", "GEOUIC_METHODS", "Unavailable", "GaussianMixtureReference", "run_engine",
           "uic_init_labels", "read_published"]

#: Row order of the tables.
ENGINES = ("uic", "uic-init", "kmeans", "kmeans-smooth3", "isodata", "fcm", "gmm")
GEOUIC_METHODS = ("uic", "kmeans", "isodata", "fcm")


class Unavailable(Exception):
    """The engine cannot be built with this checkout (its module, class or function is missing)."""


# ---------------------------------------------------------------------------- references
class GaussianMixtureReference:
    """scikit-learn's full-covariance GaussianMixture on z-scored pixels, PCA-reduced to
    ``pca`` components when the scene has more bands (all bands otherwise).

    Fitted on a pixel sample drawn by geouic's public ``sample_pixels`` (the same kind of
    sample the geouic pixel engines draw).
    """

    def __init__(self, n_classes: int, seed: int, *, pca: int = 30, sample_size: int = 200_000,
                 reg_covar: float = 1e-4, max_iter: int = 300):
        self.n_classes, self.seed, self.pca = n_classes, seed, pca
        self.sample_size, self.reg_covar, self.max_iter = sample_size, reg_covar, max_iter

    def describe(self) -> dict[str, Any]:
        return {"method": "sklearn GaussianMixture", "covariance_type": "full", "pca": self.pca,
                "zscore": True, "reg_covar": self.reg_covar, "max_iter": self.max_iter,
                "sample_size": self.sample_size, "seed": self.seed}

    def fit(self, sources: list[Any]) -> GaussianMixtureReference:
        from sklearn.decomposition import PCA
        from sklearn.mixture import GaussianMixture

        from geouic.sampling import sample_pixels

        X = sample_pixels(sources, self.sample_size, seed=self.seed).astype(np.float64)
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        self.std_ = np.where(std > 1e-12, std, 1.0)
        Z = (X - self.mean_) / self.std_
        self.pca_ = PCA(n_components=self.pca, random_state=self.seed).fit(Z) if Z.shape[1] > self.pca else None
        if self.pca_ is not None:
            Z = self.pca_.transform(Z)
        self.gmm_ = GaussianMixture(self.n_classes, covariance_type="full", reg_covar=self.reg_covar,
                                    max_iter=self.max_iter, random_state=self.seed).fit(Z)
        self.converged_ = bool(self.gmm_.converged_)
        return self

    def predict_block(self, data: np.ndarray, valid: np.ndarray) -> dict[str, np.ndarray]:
        """``{"labels": ...}``: 1..K on valid pixels, 0 elsewhere (as a geouic engine)."""
        from geouic.raster import from_samples, to_samples

        Z = (to_samples(data, valid).astype(np.float64) - self.mean_) / self.std_
        if self.pca_ is not None:
            Z = self.pca_.transform(Z)
        out = self.gmm_.predict(Z).astype(np.uint16) + 1 if len(Z) else np.zeros(0, np.uint16)
        return {"labels": from_samples(out, valid, 0)}


def uic_init_labels(source: Any, k: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The initial pseudo-labels of UIC's first member, on every pixel of ``source``.

    This is the one place that knows how geouic.uic builds them (today: the engine's default
    first stage, ``geouic.uic.data.Projection``, on its ``sample_size`` sample; the whole scene
    as one ``PatchPool`` region; ``geouic.uic.labels.initial_labels`` with the engine's default
    ``UICConfig`` (covariance, starts, Potts smoothing) and its seed, as ``UICEngine.fit`` calls
    it). Update it when geouic.uic renames them; until then the row reads "not available".

    Returns
    -------
    labels : ndarray of shape (rows, cols), uint16
        1..K on valid pixels, 0 elsewhere.
    describe : dict
    """
    try:
        from geouic.sampling import sample_pixels
        from geouic.uic.data import PatchPool, Projection
        from geouic.uic.engine import UICEngine
        from geouic.uic.labels import initial_labels
    except ImportError as exc:
        raise Unavailable(f"geouic.uic has no initial-label entry ({exc}); update "
                          "benchmarks/_quality_engines.uic_init_labels") from exc
    try:
        cfg = UICEngine(n_classes=k, seed=seed).config
        X = sample_pixels([source], cfg.sample_size, seed=seed)
        proj = Projection(cfg.normalize, cfg.pca_components).fit(X)
        pool = PatchPool.from_sources([source], proj, pool_pixels=source.width * source.height, seed=seed)
        flat = initial_labels(pool, k, seed, covariance=cfg.covariance, n_init=int(cfg.init_n),
                              beta=float(cfg.smoothing))
    except (AttributeError, TypeError) as exc:
        raise Unavailable(f"geouic.uic's initial-label API changed ({type(exc).__name__}: {exc}); "
                          "update benchmarks/_quality_engines.uic_init_labels") from exc
    if len(pool.regions) != 1 or pool.regions[0].valid.shape != (source.height, source.width):
        raise Unavailable("the UIC pool did not read the scene as one region; update uic_init_labels")
    labels = pool.split((flat + 1).astype(np.uint16), fill=0)[0]
    return labels, {"method": "uic initial labels", "init_n": cfg.init_n, "covariance": cfg.covariance,
                    "smoothing": cfg.smoothing, "pca_components": cfg.pca_components, "seed": seed}


# -------------------------------------------------------------------------------- running
def _make_geouic(method: str, k: int, seed: int, sample_size: int) -> Any:
    from geouic.engine import make_engine

    try:
        return make_engine(method, n_classes=k, seed=seed, sample_size=sample_size)
    except (ImportError, AttributeError) as exc:
        raise Unavailable(f"{type(exc).__name__}: {exc}") from exc


def _write_float(path: Path, data: np.ndarray, valid: np.ndarray) -> None:
    import rasterio

    arr = np.where(valid[None], data, np.float32(np.nan)).astype(np.float32)
    profile = dict(driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0],
                   dtype="float32", nodata=float("nan"), tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(arr)


def _describe(engine: Any) -> Any:
    try:
        return json.loads(json.dumps(engine.describe(), default=str))
    except Exception as exc:  # describe is informative only
        return f"describe() failed: {type(exc).__name__}: {exc}"


def run_engine(name: str, scene: Scene, k: int, seed: int, sample_size: int) -> dict[str, Any]:
    """Fit one engine on the whole scene and label it; return labels, times and description."""
    from geouic.raster import open_raster

    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}: choose among {', '.join(ENGINES)}")
    with tempfile.TemporaryDirectory(prefix="geouic-quality-") as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        if name == "uic-init":
            with open_raster(scene.image) as src:
                labels, describe = uic_init_labels(src, k, seed)
            fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
            return {"labels": labels, "fit_s": fit_s, "fit_cpu_s": fit_cpu, "predict_s": 0.0,
                    "predict_cpu_s": 0.0, "describe": describe, "n_classes_engine": k}
        if name == "gmm":
            engine = GaussianMixtureReference(k, seed, sample_size=sample_size)
        else:
            engine = _make_geouic("kmeans" if name == "kmeans-smooth3" else name, k, seed, sample_size)
        path = scene.image
        if name == "kmeans-smooth3":
            path = Path(tmp) / "smooth3.tif"
            _write_float(path, smooth_valid(scene.data, scene.valid, 3), scene.valid)
        with open_raster(path) as src:
            engine.fit([src])
        fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
        t0, c0 = time.perf_counter(), time.process_time()
        data = smooth_valid(scene.data, scene.valid, 3) if name == "kmeans-smooth3" else scene.data
        labels = np.asarray(engine.predict_block(data, scene.valid)["labels"])
        predict_s, predict_cpu = time.perf_counter() - t0, time.process_time() - c0
    if labels.shape != scene.valid.shape:
        raise ValueError(f"labels shape {labels.shape} != scene {scene.valid.shape}")
    return {"labels": labels, "fit_s": fit_s, "fit_cpu_s": fit_cpu, "predict_s": predict_s,
            "predict_cpu_s": predict_cpu, "describe": _describe(engine),
            "n_classes_engine": getattr(engine, "n_classes_", None)}


def read_published(path: Path, scene: Scene) -> np.ndarray:
    """A published cluster map on the scene's grid (cluster ids as stored, 0 = none)."""
    import rasterio

    with rasterio.open(path) as ds:
        labels = ds.read(1).astype(np.int64)
    if labels.shape != scene.valid.shape:
        raise ValueError(f"{path}: grid {labels.shape} differs from the scene's {scene.valid.shape}")
    return labels
