"""Scenes, references and scores of the quality benchmark (``benchmarks/quality.py``).

* :data:`SCENES`: every labelled scene of ``../shared/data`` in one table: image, references
  (the first one sets K; later ones are independent second references scored on the same
  maps), sensor kind, published cluster maps, and the half of the generalisation protocol;
* :func:`load_scene`: the image through :func:`geouic.raster.open_raster` and every reference
  through :func:`geouic.reference.open_reference` (polygons by the pixel-centre rule, points
  one sample each, label rasters as stored);
* :func:`matched_scores` and :func:`majority_scores`: scores of a cluster map on the labelled
  samples, computed by :mod:`geouic.accuracy` (``cluster_metrics``, ``matched_confusion``,
  ``confusion_matrix``, ``overall_accuracy``, ``kappa``).

Nothing here imports torch or scikit-learn, so the smoke test stays fast.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geouic.accuracy import cluster_metrics, confusion_matrix, kappa, matched_confusion, overall_accuracy

__all__ = [
    "RefSpec",
    "SceneSpec",
    "SCENES",
    "HALVES",
    "Reference",
    "Scene",
    "load_scene",
    "published_maps",
    "matched_scores",
    "majority_mapping",
    "majority_scores",
    "checkerboard",
    "smooth_valid",
    "fmt_range",
    "ref_name",
]


# ------------------------------------------------------------------------------------ scenes
@dataclass(frozen=True)
class RefSpec:
    """A reference of a scene: file (relative to the data folder), class field for vectors."""

    path: str
    field: str | None = None
    note: str = ""


@dataclass(frozen=True)
class SceneSpec:
    """Where a scene's image and references live, what sensor it is, which half it is in."""

    image: str
    refs: tuple[RefSpec, ...]
    kind: str  # "hyperspectral" or "multispectral"
    half: str  # "A" or "B" (generalisation protocol)
    note: str = ""
    published: str | None = None  # folder of published cluster maps on the same pixels


_H, _M = "hyperspectral", "multispectral"

#: Every labelled scene of ../shared/data, with its half of the generalisation protocol.
#: Overlapping scenes share a half: salinas_a_83x83 is a crop of salinas_a, both indian_pines
#: crops share their top 70 rows, and salinas_a and salinas_150 are parts of the same Salinas
#: cube that overlap (3,409 of salinas_a's spectra occur, bit for bit, in salinas_150).
SCENES: dict[str, SceneSpec] = {
    "salinas_a": SceneSpec("salinas_a/image.tif", (RefSpec("salinas_a/reference.tif"),), _H, "A",
                           "AVIRIS 204 bands, 83x86, 0 = unlabelled"),
    "salinas_a_83x83": SceneSpec("salinas_a_83x83/image.tif", (RefSpec("salinas_a_83x83/reference.tif"),),
                                 _H, "A", "salinas_a's first 83 columns (the papers' crop)",
                                 published="salinas_a_83x83/published"),
    "salinas_150": SceneSpec("salinas_150/image.tif", (RefSpec("salinas_150/reference.tif"),), _H, "A",
                             "AVIRIS 204 bands, 150x150, nodata -32768 off the labels"),
    "landsat5_amazon": SceneSpec("landsat5_amazon/image.tif",
                                 (RefSpec("landsat5_amazon/training_polygons.gpkg", "class_code"),), _M, "A",
                                 "Landsat 5 TM 7 bands, 287x310, 36 sparse polygons"),
    "nc_landsat7_landclass96": SceneSpec("nc_landsat7_landclass96/image.tif",
                                         (RefSpec("nc_landsat7_landclass96/reference.tif"),), _M, "A",
                                         "Landsat 7 ETM+ 6 bands, 489x443, dense land-cover raster"),
    "indian_pines_roi70": SceneSpec("indian_pines_roi70/image.tif", (RefSpec("indian_pines_roi70/reference.tif"),),
                                    _H, "B", "AVIRIS Indian Pines 200 bands, 70x70 (SC-SSC crop)",
                                    published="indian_pines_roi70/published"),
    "indian_pines_85x70": SceneSpec("indian_pines_85x70/image.tif", (RefSpec("indian_pines_85x70/reference.tif"),),
                                    _H, "B", "AVIRIS Indian Pines 200 bands, 85x70 (Huang et al. crop)"),
    "historical_map": SceneSpec("historical_map/map.tif",
                                (RefSpec("historical_map/training_polygons.gpkg", "Class"),), _M, "B",
                                "scanned RGB map, EPSG:4326, 17 polygons"),
    "rsgislib_aber_s2": SceneSpec("rsgislib_aber_s2/image.tif",
                                  (RefSpec("rsgislib_aber_s2/reference.tif", note="training polygons"),
                                   RefSpec("rsgislib_aber_s2/reference_points.tif",
                                           note="28 independent accuracy points")),
                                  _M, "B", "Sentinel-2 10 bands, 931x947, sparse polygons + points"),
    "landsat8_peru": SceneSpec("landsat8_peru/image.tif", (RefSpec("landsat8_peru/points.gpkg", "class"),),
                               _M, "B", "Landsat 8 SR 6 bands, 318x235, 91 points (codes 0-3 -> 1-4)"),
}

def ref_name(spec: RefSpec) -> str:
    """The name a reference goes by in records and tables: its file stem."""
    return Path(spec.path).stem


#: The two halves of the generalisation protocol (derived from :data:`SCENES`).
HALVES: dict[str, tuple[str, ...]] = {
    h: tuple(name for name, spec in SCENES.items() if spec.half == h) for h in ("A", "B")
}


def expand_scenes(names: Iterable[str]) -> list[str]:
    """Scene names with every ``half:A`` / ``half:B`` replaced by the scenes of that half, in order."""
    out: list[str] = []
    for name in names:
        if name.startswith("half:"):
            half = name[5:]
            if half not in HALVES:
                raise ValueError(f"unknown half {name!r}: use {', '.join('half:' + h for h in HALVES)}")
            out.extend(HALVES[half])
        else:
            out.append(name)
    return out


@dataclass
class Reference:
    """Labelled samples of one reference on the scene grid (one per pixel, or per point)."""

    name: str  # file stem, e.g. "reference" or "reference_points"
    kind: str  # "raster", "polygons" or "points"
    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray
    note: str = ""

    @property
    def classes(self) -> np.ndarray:
        return np.unique(self.codes)

    @property
    def n(self) -> int:
        return int(len(self.codes))


@dataclass
class Scene:
    """A scene read whole (they are small), its validity mask and its references."""

    name: str
    image: Path
    data: np.ndarray  # (bands, rows, cols) float32, as RasterSource.read returns it
    valid: np.ndarray  # (rows, cols) bool
    refs: list[Reference]
    spec: SceneSpec
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def primary(self) -> Reference:
        """The reference that sets K (the first of the scene's table entry)."""
        return self.refs[0]

    @property
    def n_classes(self) -> int:
        return int(len(self.primary.classes))


def _read_reference(spec: RefSpec, data_dir: Path, grid: Any) -> Reference:
    from geouic.reference import open_reference

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no CRS" notes of the Salinas / Indian Pines grids
        ref = open_reference(Path(data_dir) / spec.path, grid, field=spec.field)
        if ref.kind == "points":
            rows, cols, codes = ref.point_samples()
        else:
            labels = ref.read()
            rows, cols = np.nonzero(labels > 0)
            codes = labels[rows, cols]
    return Reference(ref_name(spec), ref.kind, rows.astype(np.int64), cols.astype(np.int64),
                     codes.astype(np.int64), spec.note)


def _class_counts(codes: np.ndarray) -> dict[int, int]:
    return {int(c): int(n) for c, n in zip(*np.unique(codes, return_counts=True))}


def load_scene(name: str, data_dir: Path) -> Scene:
    """Read a scene through geouic's ``open_raster`` and its references through ``open_reference``."""
    from geouic.raster import open_raster
    from geouic.reference import Grid

    spec = SCENES[name]
    image = Path(data_dir) / spec.image
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open_raster(image) as src:
            data, valid = src.read()
            grid = Grid.from_dataset(src.dataset)
            info = {"bands": src.count, "rows": src.height, "cols": src.width, "dtype": src.dtype,
                    "nodata": src.nodata}
    refs = [_read_reference(r, data_dir, grid) for r in spec.refs]
    info.update(valid_px=int(valid.sum()), kind=spec.kind, half=spec.half, note=spec.note,
                references={r.name: {"kind": r.kind, "samples": r.n,
                                     "invalid_samples": int((~valid[r.rows, r.cols]).sum()),
                                     "classes": _class_counts(r.codes)}
                            for r in refs})
    return Scene(name, image, data, valid, refs, spec, info)


def published_maps(name: str, data_dir: Path) -> dict[str, Path]:
    """``{method: path}`` of the published cluster maps of a scene (empty when none)."""
    folder = SCENES[name].published
    if not folder or not (Path(data_dir) / folder).is_dir():
        return {}
    return {p.stem: p for p in sorted((Path(data_dir) / folder).glob("*.tif"))}


# ------------------------------------------------------------------------------------ scores
def _contingency(pred: np.ndarray, true: np.ndarray, k: int | None) -> tuple[np.ndarray, list[int], list[int]]:
    """Counts of (cluster >= 1, class) pairs; clusters 1..k always get a row when ``k`` is given."""
    clusters = sorted(set(range(1, k + 1)) | set(np.unique(pred[pred > 0]).tolist())) if k else \
        np.unique(pred[pred > 0]).tolist()
    classes = np.unique(true).tolist()
    ci = np.searchsorted(clusters, pred)
    ti = np.searchsorted(classes, true)
    keep = pred > 0
    table = np.zeros((len(clusters), len(classes)), np.int64)
    np.add.at(table, (ci[keep], ti[keep]), 1)
    return table, [int(c) for c in clusters], [int(c) for c in classes]


def matched_scores(pred: np.ndarray, true: np.ndarray, k: int | None = None) -> dict[str, Any]:
    """Hungarian-matched OA, kappa after matching, NMI and cluster shares of a cluster map.

    Parameters
    ----------
    pred : ndarray of int
        Cluster of each labelled sample; 0 (nodata in the map) counts as an error.
    true : ndarray of int
        Reference class of the same samples.
    k : int, optional
        Number of clusters asked for: the shares cover clusters 1..k even when some have no
        labelled sample (share 0).

    Returns
    -------
    dict
        ``oa``, ``kappa``, ``nmi``, ``ari``, ``n``, ``nodata`` (samples mapped 0), the largest
        and smallest cluster share (``cluster_max``, ``cluster_min``) and class share
        (``class_max``, ``class_min``) on the labelled samples.
    """
    pred, true = np.asarray(pred).ravel(), np.asarray(true).ravel()
    n = len(true)
    table, _, classes = _contingency(pred, true, k)
    m = cluster_metrics(table, None, classes)
    labels, cm = matched_confusion(m)
    nodata = pred <= 0
    if nodata.any():  # map nodata on a labelled sample: an always-wrong extra row
        if 0 not in labels:
            cm = np.pad(cm, ((0, 1), (0, 1)))
            labels = [*labels, 0]
        cm[len(labels) - 1, : len(classes)] += np.bincount(np.searchsorted(classes, true[nodata]),
                                                           minlength=len(classes))
    shares = table.sum(axis=1) / max(n, 1)
    class_shares = np.bincount(np.searchsorted(classes, true), minlength=len(classes)) / max(n, 1)
    return {"oa": overall_accuracy(cm), "kappa": kappa(cm), "nmi": m.nmi, "ari": m.ari, "n": n,
            "nodata": int(nodata.sum()), "cluster_max": float(shares.max()) if shares.size else 0.0,
            "cluster_min": float(shares.min()) if shares.size else 0.0, "class_max": float(class_shares.max()),
            "class_min": float(class_shares.min())}


def majority_mapping(pred: np.ndarray, true: np.ndarray) -> dict[int, int]:
    """Each cluster's majority class among the given samples (clusters without one are absent)."""
    table, clusters, classes = _contingency(np.asarray(pred).ravel(), np.asarray(true).ravel(), None)
    has = table.sum(axis=1) > 0
    return {clusters[i]: classes[int(table[i].argmax())] for i in np.flatnonzero(has)}


def majority_scores(pred: np.ndarray, true: np.ndarray, mapping: dict[int, int]) -> dict[str, Any]:
    """OA and kappa of the class map ``mapping[pred]`` against ``true`` (unassigned = wrong).

    Parameters
    ----------
    pred, true : ndarray of int
        Cluster and reference class of the scored (test) samples.
    mapping : dict of int to int
        Cluster -> class, e.g. from :func:`majority_mapping` on the training samples.

    Returns
    -------
    dict
        ``oa``, ``kappa``, ``n_test`` and ``unassigned`` (fraction of test samples whose cluster
        has no class).
    """
    pred, true = np.asarray(pred).ravel(), np.asarray(true).ravel()
    mapped = np.array([mapping.get(int(c), 0) for c in pred], np.int64) if len(pred) else np.zeros(0, np.int64)
    labels = sorted(set(np.unique(true).tolist()) | set(mapping.values())) + [0]
    cm = confusion_matrix(mapped, true, labels)
    n = len(true)
    return {"oa": overall_accuracy(cm) if n else float("nan"), "kappa": kappa(cm) if n else float("nan"),
            "n_test": n, "unassigned": float((mapped == 0).sum() / n) if n else float("nan")}


def checkerboard(rows: np.ndarray, cols: np.ndarray, block: int = 16) -> np.ndarray:
    """True for samples on the "black" squares of a ``block``-pixel checkerboard (the one
    holding pixel (0, 0)): the training half of the realistic workflow."""
    return (np.asarray(rows) // block + np.asarray(cols) // block) % 2 == 0


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


def fmt_range(values: list[float], digits: int = 3) -> str:
    """``mean (min-max)`` of the finite values, or ``-``."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return "-"
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(vals):.{digits}f}-{max(vals):.{digits}f})"
