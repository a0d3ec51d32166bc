"""Helpers of ``benchmarks/quality.py``: scores, the checkerboard split, scenes and references.

Scores are computed from a contingency table (rows = map labels, columns = reference classes)
over the labelled pixels only:

* :func:`matched_scores`: clusters matched one-to-one to classes by the Hungarian method
  (``scipy.optimize.linear_sum_assignment`` maximising matched pixels), then overall accuracy,
  Cohen's kappa of the matched map (clusters left unmatched count as an extra, always-wrong
  class) and NMI (arithmetic normalisation, as scikit-learn's default);
* :func:`majority_scores`: the realistic over-clustering workflow: each cluster takes the
  reference class most of its *training* pixels carry; clusters with no training pixel stay
  unassigned (always wrong); OA and kappa on the *test* pixels.

Nothing here imports torch, geouic engines or scikit-learn at import time, so the smoke test
stays fast.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = [
    "SCENES",
    "SceneSpec",
    "Scene",
    "contingency",
    "kappa_from_confusion",
    "nmi_from_contingency",
    "matched_scores",
    "majority_scores",
    "checkerboard",
    "smooth_valid",
    "load_scene",
    "GaussianMixtureReference",
]


# ------------------------------------------------------------------------------------ scores
def contingency(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contingency table of two 1-D label arrays.

    Returns
    -------
    table : ndarray of shape (n_pred_values, n_true_values), int64
    pred_values, true_values : ndarray
        The sorted distinct labels indexing rows and columns.
    """
    pred = np.asarray(pred).ravel()
    true = np.asarray(true).ravel()
    if pred.shape != true.shape:
        raise ValueError(f"pred and true differ in length: {pred.shape} vs {true.shape}")
    pv, pi = np.unique(pred, return_inverse=True)
    tv, ti = np.unique(true, return_inverse=True)
    table = np.bincount(pi * len(tv) + ti, minlength=len(pv) * len(tv)).reshape(len(pv), len(tv))
    return table.astype(np.int64), pv, tv


def kappa_from_confusion(confusion: np.ndarray) -> float:
    """Cohen's kappa of a confusion matrix with rows = map, columns = reference.

    The matrix may have more rows than columns: row ``i < n_cols`` is the map class that
    agrees with column ``i``; extra rows (e.g. "unassigned") never agree with any column.
    """
    m = np.asarray(confusion, dtype=np.float64)
    n_cols = m.shape[1]
    if m.shape[0] < n_cols:
        raise ValueError(f"confusion has fewer rows than columns: {m.shape}")
    n = m.sum()
    if n == 0:
        return float("nan")
    po = np.trace(m[:n_cols]) / n
    pe = float(m[:n_cols].sum(axis=1) @ m.sum(axis=0)) / (n * n)
    if pe >= 1.0:
        return 1.0 if po >= 1.0 else 0.0
    return float((po - pe) / (1.0 - pe))


def nmi_from_contingency(table: np.ndarray) -> float:
    """Normalised mutual information (arithmetic mean of the two entropies)."""
    c = np.asarray(table, dtype=np.float64)
    n = c.sum()
    if n == 0:
        return float("nan")
    p = c / n
    pr, pc = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pr, pc)[nz])).sum())
    hr = float(-(pr[pr > 0] * np.log(pr[pr > 0])).sum())
    hc = float(-(pc[pc > 0] * np.log(pc[pc > 0])).sum())
    if hr == 0.0 and hc == 0.0:
        return 1.0
    return max(mi, 0.0) / max((hr + hc) / 2.0, np.finfo(float).eps)


def matched_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Hungarian-matched OA, kappa after matching, and NMI of a cluster map.

    Parameters
    ----------
    pred, true : ndarray
        Cluster labels and reference classes of the same (labelled) pixels.
    """
    table, _, tv = contingency(pred, true)
    rows, cols = linear_sum_assignment(table, maximize=True)
    n = int(table.sum())
    mapping = np.full(table.shape[0], len(tv))  # unmatched clusters -> extra "wrong" row
    mapping[rows] = cols
    confusion = np.zeros((len(tv) + 1, len(tv)), dtype=np.int64)
    np.add.at(confusion, mapping, table)
    return {
        "oa": float(table[rows, cols].sum() / n),
        "kappa": kappa_from_confusion(confusion),
        "nmi": nmi_from_contingency(table),
        "n": n,
    }


def majority_scores(pred: np.ndarray, true: np.ndarray, train: np.ndarray) -> dict[str, float]:
    """Assign clusters to classes by majority on ``train`` pixels; score the others.

    Parameters
    ----------
    pred, true : ndarray
        Cluster labels and reference classes of the same labelled pixels.
    train : ndarray of bool
        Pixels used to assign clusters; the remaining ones are scored.

    Returns
    -------
    dict
        ``oa``, ``kappa``, ``n_train``, ``n_test`` and ``unassigned`` (fraction of test pixels
        whose cluster had no training pixel; they count as errors).
    """
    pred, true, train = (np.asarray(a).ravel() for a in (pred, true, train))
    train = train.astype(bool)
    pv, pi = np.unique(pred, return_inverse=True)
    tv, ti = np.unique(true, return_inverse=True)
    votes = np.zeros((len(pv), len(tv)), dtype=np.int64)
    np.add.at(votes, (pi[train], ti[train]), 1)
    mapping = np.where(votes.sum(axis=1) > 0, votes.argmax(axis=1), len(tv))
    test = ~train
    confusion = np.zeros((len(tv) + 1, len(tv)), dtype=np.int64)
    np.add.at(confusion, (mapping[pi[test]], ti[test]), 1)
    n_test = int(test.sum())
    return {
        "oa": float(np.trace(confusion[: len(tv)]) / n_test) if n_test else float("nan"),
        "kappa": kappa_from_confusion(confusion),
        "n_train": int(train.sum()),
        "n_test": n_test,
        "unassigned": float(confusion[len(tv)].sum() / n_test) if n_test else float("nan"),
    }


def checkerboard(shape: tuple[int, int], block: int = 16) -> np.ndarray:
    """Boolean checkerboard of ``block`` x ``block`` squares: True on the "black" squares
    (the one holding pixel (0, 0)), used for training; False squares are scored."""
    rows = np.arange(shape[0])[:, None] // block
    cols = np.arange(shape[1])[None, :] // block
    return (rows + cols) % 2 == 0


def smooth_valid(data: np.ndarray, valid: np.ndarray, size: int = 3) -> np.ndarray:
    """Mean of the valid pixels in a ``size`` x ``size`` neighbourhood, band by band.

    Normalised convolution: invalid pixels (and the outside of the scene) neither contribute
    nor dilute; invalid pixels are 0 in the result.
    """
    from scipy.ndimage import uniform_filter

    w = valid.astype(np.float64)
    den = uniform_filter(w, size=size, mode="constant", cval=0.0)
    num = uniform_filter(data.astype(np.float64) * w[None], size=(1, size, size), mode="constant", cval=0.0)
    out = np.where(valid[None], num / np.maximum(den, 1e-12)[None], 0.0)
    return out.astype(np.float32)


# ------------------------------------------------------------------------------------ scenes
@dataclass(frozen=True)
class SceneSpec:
    """Where a scene's image and reference live under the data folder."""

    image: str
    labels: str
    field: str | None = None  # for vector references: the class field to rasterise
    note: str = ""


SCENES: dict[str, SceneSpec] = {
    "salinas_a": SceneSpec("salinas_a/image.tif", "salinas_a/reference.tif",
                           note="AVIRIS 204 bands, 83x86, 0 = unlabelled"),
    "salinas_150": SceneSpec("salinas_150/image.tif", "salinas_150/reference.tif",
                             note="AVIRIS 204 bands, 150x150, nodata -32768 off the labels"),
    "landsat5_amazon": SceneSpec("landsat5_amazon/image.tif",
                                 "landsat5_amazon/training_polygons_rasterized.tif",
                                 note="Landsat 5 TM 7 bands, 287x310, sparse polygon labels"),
    "historical_map": SceneSpec("historical_map/map.tif", "historical_map/training_polygons.gpkg",
                                field="Class",
                                note="scanned RGB map, EPSG:4326, 17 polygons rasterised (pixel centres)"),
}


@dataclass
class Scene:
    """A scene read whole (they are small), its validity mask and reference classes."""

    name: str
    image: Path
    data: np.ndarray  # (bands, rows, cols) float32, as RasterSource.read returns it
    valid: np.ndarray  # (rows, cols) bool
    labels: np.ndarray  # (rows, cols) int32, 0 = unlabelled
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def scored(self) -> np.ndarray:
        """Pixels that are labelled (whether or not valid: invalid ones count as errors)."""
        return self.labels > 0

    @property
    def classes(self) -> np.ndarray:
        return np.unique(self.labels[self.scored])

    @property
    def n_classes(self) -> int:
        return int(len(self.classes))


def _rasterise_vector(path: Path, field_name: str, dataset) -> np.ndarray:
    import geopandas as gpd
    from rasterio.features import rasterize

    gdf = gpd.read_file(path)
    if dataset.crs is not None and gdf.crs is not None and gdf.crs != dataset.crs:
        gdf = gdf.to_crs(dataset.crs)
    shapes = ((geom, int(code)) for geom, code in zip(gdf.geometry, gdf[field_name]) if geom is not None)
    return rasterize(shapes, out_shape=(dataset.height, dataset.width), transform=dataset.transform,
                     fill=0, dtype="int32")


def load_scene(name: str, data_dir: Path) -> Scene:
    """Read a scene through geouic's public ``open_raster`` and its reference onto the grid."""
    import rasterio

    from geouic.raster import open_raster

    spec = SCENES[name]
    image = Path(data_dir) / spec.image
    ref_path = Path(data_dir) / spec.labels
    with open_raster(image) as src:
        data, valid = src.read()
        if spec.field:
            labels = _rasterise_vector(ref_path, spec.field, src.dataset)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
                ref = rasterio.open(ref_path)
            with ref:
                if (ref.height, ref.width) != src.shape:
                    raise ValueError(f"{ref_path}: grid {ref.shape} differs from {image}: {src.shape}")
                labels = ref.read(1).astype(np.int32)
        info = {"bands": src.count, "rows": src.height, "cols": src.width, "dtype": src.dtype,
                "nodata": src.nodata}
    labels = np.where(labels > 0, labels, 0).astype(np.int32)
    info.update(valid_px=int(valid.sum()), labelled_px=int((labels > 0).sum()),
                labelled_invalid_px=int(((labels > 0) & ~valid).sum()),
                classes={int(c): int(n) for c, n in zip(*np.unique(labels[labels > 0], return_counts=True))},
                note=spec.note)
    return Scene(name, image, data, valid, labels, info)


# ---------------------------------------------------------------------------- references
class GaussianMixtureReference:
    """Outside reference: scikit-learn's full-covariance GaussianMixture on z-scored pixels,
    PCA-reduced to ``pca`` components when the scene has more bands (all bands otherwise).

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

    def fit(self, sources) -> GaussianMixtureReference:
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


def fmt_range(values: list[float], digits: int = 3) -> str:
    """``mean (min-max)`` of the finite values, or ``-``."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return "-"
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(vals):.{digits}f}-{max(vals):.{digits}f})"
