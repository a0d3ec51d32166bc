"""Accuracy assessment of a thematic map against reference data: the file pass.

:func:`assess` reads a class map and a reference (points, polygons or a label raster, through
:mod:`geouic.reference`) over the map's window pass, cross-tabulates map and reference codes
with one :class:`~geouic.counts.ClassCounts`, and returns an :class:`AccuracyAssessment` that
:func:`geouic.report.write_report` turns into a report folder. Every pass honours
``mem_limit_mb``. The metrics themselves are pure functions in :mod:`geouic.metrics`; their
names are re-exported here so ``from geouic.accuracy import kappa`` keeps working.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from geouic.classmap import class_map_grid, class_names, open_class_map, read_classes
from geouic.counts import ClassCounts
from geouic.errors import ParameterError, ParameterWarning, ReferenceDataError
from geouic.metrics import (
    Z95,
    AreaAdjusted,
    ClusterMetrics,
    Estimate,
    _num,
    cluster_metrics,
    confusion_matrix,
    f1_scores,
    kappa,
    matched_confusion,
    olofsson,
    overall_accuracy,
    producers_accuracy,
    users_accuracy,
)
from geouic.windows import BYTES_PER_PIXEL, DEFAULT_MEM_LIMIT_MB, ProgressCallback, RunProgress, WindowPair

__all__ = [
    "AccuracyAssessment",
    "assess",
    # re-exported from geouic.metrics
    "AreaAdjusted",
    "ClusterMetrics",
    "Estimate",
    "cluster_metrics",
    "confusion_matrix",
    "f1_scores",
    "kappa",
    "matched_confusion",
    "olofsson",
    "overall_accuracy",
    "producers_accuracy",
    "users_accuracy",
]

logger = logging.getLogger(__name__)


@dataclass
class AccuracyAssessment:
    """The result of :func:`assess`: a confusion matrix with its metrics and context.

    Attributes
    ----------
    map_path, reference_path : str
    reference_kind : {"points", "polygons", "raster"}
    field : str or None
    labels : list of int
        Codes of the rows (map) and columns (reference) of ``counts``; in cluster mode the
        reference classes, plus 0 for pixels of unmatched clusters.
    counts : ndarray of shape (k, k)
        Rows = map, columns = reference.
    names : dict of int to str
    excluded : dict of str to int
        Reference samples left out: ``map_nodata`` (on map value 0 or nodata) and
        ``outside_map`` (points or approximate pixels beyond the map).
    area_adjusted : AreaAdjusted or None
    clusters : ClusterMetrics or None
    mapped : dict of int to (pixels, hectares) or None
        Mapped area per map class (computed with ``area_adjusted``).
    warnings : list of str
    map_info : dict
        The map's ``crs``, ``pixel_size`` (x, y), ``units`` and ``provenance`` (its ``GEOUIC_*``
        tags, with the chain of the maps it was made from), for the report's header.
    """

    map_path: str
    reference_path: str
    reference_kind: str
    field: str | None
    labels: list[int]
    counts: np.ndarray
    names: dict[int, str] = dataclasses.field(default_factory=dict)
    excluded: dict[str, int] = dataclasses.field(default_factory=dict)
    area_adjusted: AreaAdjusted | None = None
    clusters: ClusterMetrics | None = None
    mapped: dict[int, tuple[int, float]] | None = None
    warnings: list[str] = dataclasses.field(default_factory=list)
    map_info: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        """Reference samples (pixels or points) in the confusion matrix."""
        return int(self.counts.sum())

    @property
    def overall_accuracy(self) -> float:
        """Share of samples on the diagonal (see :func:`geouic.metrics.overall_accuracy`)."""
        return overall_accuracy(self.counts)

    @property
    def kappa(self) -> float:
        """Cohen's kappa of the confusion matrix (see :func:`geouic.metrics.kappa`)."""
        return kappa(self.counts)

    def per_class(self) -> dict[str, dict[int, float]]:
        """User's and producer's accuracy and F1 keyed by class code."""
        ua, pa, f1 = users_accuracy(self.counts), producers_accuracy(self.counts), f1_scores(self.counts)
        return {name: dict(zip(self.labels, map(float, values)))
                for name, values in (("users_accuracy", ua), ("producers_accuracy", pa), ("f1", f1))}

    def name(self, code: int) -> str:
        """The class name of ``code`` (the code itself when the class has no name)."""
        return self.names.get(code) or ("unmatched clusters" if code == 0 and self.clusters else str(code))

    def label(self, code: int) -> str:
        """``"code name"``, or just the code when the class has no other name."""
        name = self.name(code)
        return str(code) if name == str(code) else f"{code} {name}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (class codes as string keys, NaN as None)."""
        per = self.per_class()
        out: dict[str, Any] = {
            "map": self.map_path, "reference": self.reference_path,
            "reference_kind": self.reference_kind, "field": self.field,
            "n_samples": self.n_samples,
            "overall_accuracy": _num(self.overall_accuracy), "kappa": _num(self.kappa),
            **{k: {str(c): _num(v) for c, v in d.items()} for k, d in per.items()},
            "class_names": {str(c): self.name(c) for c in self.labels},
            "confusion_matrix": {"labels": self.labels, "counts": self.counts.tolist(),
                                 "rows": "map", "columns": "reference"},
            "excluded": dict(self.excluded),
        }
        if self.area_adjusted is not None:
            out["area_adjusted"] = _area_dict(self.area_adjusted, self.labels)
        if self.clusters is not None:
            out["clusters"] = _clusters_dict(self.clusters)
        out["warnings"] = list(self.warnings)
        out["map_info"] = dict(self.map_info)
        return out


def _area_dict(aa: AreaAdjusted, labels: list[int]) -> dict[str, Any]:
    return {
        "overall_accuracy": aa.overall_accuracy.to_dict(),
        **{key: {str(c): e.to_dict() for c, e in zip(labels, getattr(aa, key))}
           for key in ("users_accuracy", "producers_accuracy", "area_ha")},
        "mapped_area_ha": {str(c): _num(a) for c, a in zip(labels, aa.mapped_area_ha)},
        "total_area_ha": _num(aa.total_area_ha),
        "z": Z95,
    }


def _clusters_dict(cm: ClusterMetrics) -> dict[str, Any]:
    return {
        "nmi": _num(cm.nmi), "ari": _num(cm.ari),
        "matched_overall_accuracy": _num(cm.matched_overall_accuracy),
        "majority_overall_accuracy": _num(cm.majority_overall_accuracy),
        "matching": [{"cluster": c, "reference": r, "pixels": n} for c, r, n in cm.matching],
        "contingency": {"clusters": cm.cluster_labels, "classes": cm.class_labels,
                        "counts": cm.contingency.tolist()},
    }


def assess(map_path: str | os.PathLike, reference_path: str | os.PathLike, *, field: str | None = None,
           area_adjusted: bool = False, clusters: bool = False,
           mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB,
           progress: ProgressCallback | None = None, nodata: float | None = None) -> AccuracyAssessment:
    """Compare a class map with reference data.

    Parameters
    ----------
    map_path : str or path-like
        Class map (band 1; value 0 and the nodata value are unclassified and left out).
    reference_path : str or path-like
        Points or polygons (any OGR vector, with ``field``) or a label raster (0 = unlabelled).
    field : str, optional
        Class field of a vector reference.
    area_adjusted : bool, default=False
        Add stratified area-adjusted estimates (Olofsson et al. 2014), with the mapped area of
        each class computed from the map.
    clusters : bool, default=False
        The map holds clusters without a legend: add NMI, ARI and Hungarian-matched accuracy,
        and report the matched confusion matrix.
    mem_limit_mb : float, default=64
        Memory budget of every pass (map and reference windows, mapped areas).
    progress : callable, optional
        ``progress(advance, total)`` per window.
    nodata : float, optional
        A "no class" value of a map without a nodata tag (``--nodata``): read as 0, so left out
        like the file's own nodata.

    Returns
    -------
    AccuracyAssessment

    Raises
    ------
    RasterInputError, ReferenceDataError, ParameterError
        Unreadable inputs, no overlap, a missing field, no sample on classified pixels, or
        ``area_adjusted`` together with ``clusters``.

    Warns
    -----
    UserWarning
        Polygon references (pixels are not independent samples), partial overlap, and any
        warning of the reference reader; each is also kept in ``AccuracyAssessment.warnings``.
    """
    from geouic.reference import open_reference

    if area_adjusted and clusters:
        raise ParameterError("area_adjusted and clusters exclude each other: area estimates need a "
                             "map legend that matches the reference classes.")
    tracker = RunProgress(progress)
    # the no-CRS note on areas comes from class_areas, when areas are computed
    with _recorded_warnings() as log, open_class_map(map_path, warn_crs=False, nodata=nodata) as src:
        ref = open_reference(reference_path, class_map_grid(src), field=field)
        map_names = class_names(src.path)
        to_map = _align_codes(ref.names, map_names, clusters)
        pairs, excluded = (_point_pairs(src, ref, mem_limit_mb, tracker) if ref.kind == "points"
                           else _window_pairs(src, ref, mem_limit_mb, tracker))
        pairs = [(m, int(to_map.get(r, r)), c) for m, r, c in pairs]
        names = {to_map.get(c, c): n for c, n in ref.names.items()}
        if not clusters:
            names.update(map_names)
        excluded["outside_map"] = ref.count_outside(mem_limit_mb=mem_limit_mb)
        if not sum(c for _, _, c in pairs):
            raise _no_samples(ref, src, excluded)
        result = _build(src, ref, pairs, names, excluded, area_adjusted, clusters, mem_limit_mb, tracker)
        _warn_about_sample(result, area_adjusted)
        _note_unassigned(result, map_names)
        result.map_info = _map_info(src)
    result.warnings = log
    return result


def _build(src: Any, ref: Any, pairs: list[tuple[int, int, int]], names: dict[int, str],
           excluded: dict[str, int], area_adjusted: bool, clusters: bool, mem_limit_mb: float,
           progress: RunProgress) -> AccuracyAssessment:
    common = dict(map_path=str(src.path), reference_path=str(ref.path), reference_kind=ref.kind,
                  field=ref.field, excluded=excluded)
    map_codes = sorted({m for m, _, _ in pairs})
    ref_codes = sorted({r for _, r, _ in pairs})
    if clusters:
        table = _table(pairs, map_codes, ref_codes)
        metrics = cluster_metrics(table, map_codes, ref_codes)
        labels, counts = matched_confusion(metrics)
        names = {c: n for c, n in names.items() if c in ref_codes}
        return AccuracyAssessment(labels=labels, counts=counts, names=names, clusters=metrics, **common)
    if not set(map_codes) & set(ref_codes):
        warnings.warn(ParameterWarning(
            f"the map's codes {map_codes[:12]} and the reference codes {ref_codes[:12]} share no class; "
            "if the map holds unnamed spectral classes, use clusters=True.", params=("clusters",)), stacklevel=3)
    mapped = None
    if area_adjusted:
        from geouic.areas import class_areas  # pixel areas on the ellipsoid for geographic maps

        mapped = class_areas(src.path, mem_limit_mb=mem_limit_mb, progress=progress, nodata=src.nodata)
    labels = sorted(set(map_codes) | set(ref_codes) | set(mapped or ()))
    counts = _table(pairs, labels, labels)
    aa = _area_adjusted(counts, labels, mapped, names) if mapped is not None else None
    return AccuracyAssessment(labels=labels, counts=counts, names=names, area_adjusted=aa,
                              mapped=mapped, **common)


def _table(pairs: list[tuple[int, int, int]], rows: list[int], cols: list[int]) -> np.ndarray:
    ri = {c: i for i, c in enumerate(rows)}
    ci = {c: i for i, c in enumerate(cols)}
    out = np.zeros((len(rows), len(cols)), np.int64)
    for m, r, c in pairs:
        out[ri[m], ci[r]] += c
    return out


def _area_adjusted(counts: np.ndarray, labels: list[int], mapped: dict[int, tuple[int, float]],
                   names: dict[int, str]) -> AreaAdjusted:
    """Olofsson estimates; strata with mapped area but no sample are dropped with a warning."""
    pixels = np.array([mapped.get(c, (0, 0.0))[0] for c in labels], np.float64)
    hectares = np.array([mapped.get(c, (0, 0.0))[1] for c in labels], np.float64)
    unsampled = (pixels > 0) & (counts.sum(1) == 0)
    if unsampled.any():
        lost = hectares[unsampled].sum()
        warnings.warn(
            f"map classes {[names.get(c, str(c)) for c, u in zip(labels, unsampled) if u]} have no "
            f"reference sample; their {lost:,.1f} ha ({lost / hectares.sum():.1%} of the map) are left "
            "out of the area-adjusted estimates.", stacklevel=4)
        pixels = np.where(unsampled, 0, pixels)
    thin = (counts.sum(1) == 1) & (pixels > 0)
    if thin.any():
        warnings.warn(
            f"map classes {[names.get(c, str(c)) for c, t in zip(labels, thin) if t]} have a single "
            "reference sample; their intervals (and the overall one) cannot be computed.", stacklevel=4)
    per_pixel = np.divide(hectares, pixels, out=np.ones_like(hectares), where=pixels > 0)
    return olofsson(counts, pixels, per_pixel)


def _warn_about_sample(result: AccuracyAssessment, area_adjusted: bool) -> None:
    ex = result.excluded
    unit = "points" if result.reference_kind == "points" else "pixels"
    if ex.get("map_nodata") or ex.get("outside_map"):
        total = result.n_samples + ex.get("map_nodata", 0) + ex.get("outside_map", 0)
        approx = "about " if result.reference_kind == "polygons" else ""  # polygon area / pixel area
        warnings.warn(
            f"reference and map overlap only partly: of {total:,} labelled reference {unit}, "
            f"{ex.get('map_nodata', 0):,} fall on map nodata/unclassified (0) and {approx}"
            f"{ex.get('outside_map', 0):,} outside the map; they are left out.", stacklevel=3)
    if result.reference_kind == "polygons":
        tail = (" Area-adjusted estimates assume a stratified random sample of points, which polygons are not."
                if area_adjusted else "")
        warnings.warn(
            "the reference comes from polygons: pixels within a polygon are not independent samples, "
            "so accuracies are optimistic and confidence intervals too narrow; assess with an "
            "independent point sample (geouic sample-design)." + tail, stacklevel=3)
    elif area_adjusted and result.reference_kind != "points":
        warnings.warn(
            "area-adjusted estimates assume a stratified random sample of points; a label raster's "
            "pixels are not one, so read the intervals as too narrow.", stacklevel=3)


def _map_info(src: Any) -> dict[str, Any]:
    """CRS, pixel size and provenance of the assessed map (the report's header)."""
    from geouic.provenance import read_provenance

    crs, t = src.crs, src.transform
    units = None
    if crs is not None:
        units = "degrees" if crs.is_geographic else (crs.linear_units or "metre")
    return {"crs": crs.to_string() if crs is not None else None, "pixel_size": [abs(t.a), abs(t.e)],
            "units": units, "provenance": read_provenance(src.path)}


def _note_unassigned(result: AccuracyAssessment, map_names: Mapping[int, str]) -> None:
    """Say how reference samples on the map's "unassigned" class (from assign-schema) are counted."""
    from geouic.schema import UNASSIGNED_NAME

    if result.clusters is not None:
        return
    unit = "points" if result.reference_kind == "points" else "pixels"
    for code, name in map_names.items():
        if name.strip().lower() != UNASSIGNED_NAME or code not in result.labels:
            continue
        n = int(result.counts[result.labels.index(code)].sum())
        if n:
            stratum = " and its own stratum of the area-adjusted estimates" if result.area_adjusted else ""
            warnings.warn(f"{n:,} reference {unit} fall on land the map leaves unassigned (class {code} "
                          f"'{name}'); they count as errors of that map class (its row of the confusion "
                          f"matrix{stratum}).", stacklevel=3)


def _no_samples(ref: Any, src: Any, excluded: dict[str, int]) -> ReferenceDataError:
    return ReferenceDataError(
        f"no labelled reference {'point' if ref.kind == 'points' else 'pixel'} of {os.path.basename(ref.path)} "
        f"falls on a classified pixel of {os.path.basename(src.path)} ({excluded['map_nodata']:,} on map "
        f"nodata/0, {excluded['outside_map']:,} outside); check that both cover the same area and the CRS."
    )


# ------------------------------------------------------------------------------- reading
@contextmanager
def _recorded_warnings() -> Iterator[list[str]]:
    """Record user warnings raised inside (messages into the yielded list), then re-issue them."""
    log: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield log
    finally:
        _reissue(caught, log)


def _reissue(caught: list[warnings.WarningMessage], log: list[str]) -> None:
    from rasterio.errors import NotGeoreferencedWarning

    for w in caught:
        if issubclass(w.category, UserWarning) and not issubclass(w.category, NotGeoreferencedWarning):
            if str(w.message) not in log:
                log.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _label_index(codes: np.ndarray, label_codes: np.ndarray) -> np.ndarray:
    """Column of each reference code in ``label_codes`` (-1 for 0 = unlabelled)."""
    pos = np.clip(np.searchsorted(label_codes, codes), 0, max(len(label_codes) - 1, 0))
    hit = (codes > 0) & (label_codes[pos] == codes) if len(label_codes) else np.zeros(codes.shape, bool)
    if np.any((codes > 0) & ~hit):
        raise ReferenceDataError(f"reference code {int(codes[(codes > 0) & ~hit][0])} is not among the codes "
                                 f"{label_codes[:12].tolist()} the reference declared; re-export the reference.")
    return np.where(hit, pos, -1)


def _point_pairs(src: Any, ref: Any, mem_limit_mb: float,
                 progress: RunProgress) -> tuple[list[tuple[int, int, int]], dict[str, int]]:
    """Map code at each point's pixel, reading only the windows that hold points."""
    rows, cols, codes = ref.point_samples()
    label_codes = np.union1d(ref.codes, codes).astype(np.int64)
    windows = src.windows(mem_limit_mb=mem_limit_mb, bytes_per_pixel=BYTES_PER_PIXEL["points"])

    def one(pair: WindowPair) -> tuple[np.ndarray, np.ndarray] | None:
        w = pair.core
        inside = ((rows >= w.row_off) & (rows < w.row_off + w.height)
                  & (cols >= w.col_off) & (cols < w.col_off + w.width))
        if not inside.any():
            return None
        return read_classes(src, w)[rows[inside] - w.row_off, cols[inside] - w.col_off], codes[inside]

    nodata = 0

    def fold(acc: ClassCounts, found: tuple[np.ndarray, np.ndarray] | None) -> None:
        nonlocal nodata
        if found is not None:
            values, refs = found
            nodata += int((values <= 0).sum())
            acc.add(values, labels=np.where(values > 0, _label_index(refs.astype(np.int64), label_codes), -1))

    acc = windows.reduce(one, fold, ClassCounts(len(label_codes)), progress=progress)
    return acc.pairs(label_codes), {"map_nodata": nodata}


def _window_pairs(src: Any, ref: Any, mem_limit_mb: float,
                  progress: RunProgress) -> tuple[list[tuple[int, int, int]], dict[str, int]]:
    """Accumulate map/reference pairs over labelled pixels, window by window."""
    label_codes = np.asarray(ref.codes, np.int64)
    windows = src.windows(mem_limit_mb=mem_limit_mb, bytes_per_pixel=BYTES_PER_PIXEL["crosstab"])

    def one(pair: WindowPair) -> tuple[np.ndarray, np.ndarray] | None:
        r = ref.read(pair.core)
        if not (r > 0).any():
            return None
        return read_classes(src, pair.core), r.astype(np.int64)

    nodata = 0

    def fold(acc: ClassCounts, found: tuple[np.ndarray, np.ndarray] | None) -> None:
        nonlocal nodata
        if found is not None:
            m, r = found
            labelled = r > 0
            both = labelled & (m > 0)
            nodata += int(labelled.sum() - both.sum())
            acc.add(np.where(both, m, 0), labels=np.where(both, _label_index(r, label_codes), -1))

    acc = windows.reduce(one, fold, ClassCounts(len(label_codes)), progress=progress)
    return acc.pairs(label_codes), {"map_nodata": nodata}


def _align_codes(ref_names: Mapping[int, str], map_names: Mapping[int, str], clusters: bool) -> dict[int, int]:
    """Reference code -> map code for text reference classes that the map names too.

    Integer class fields keep their codes. Text classes (codes 1..n in sorted order) are moved to
    the map's code of the same name (case-insensitive) when the map has category names.
    """
    textual = {c: n for c, n in ref_names.items() if n != str(c)}
    if clusters or not textual or not map_names:
        if textual and not clusters:
            logger.info("reference classes are text and the map has no category names; comparing "
                        "codes 1..n of the sorted names with the map's codes")
        return {}
    by_name = {n.strip().lower(): c for c, n in map_names.items() if n}
    out, spare = {}, max([*map_names, *ref_names]) + 1
    for code, name in sorted(textual.items()):
        if name.strip().lower() in by_name:
            out[code] = by_name[name.strip().lower()]
        else:
            out[code], spare = spare, spare + 1
    missing = [n for c, n in textual.items() if n.strip().lower() not in by_name]
    if missing:
        warnings.warn(f"reference classes {missing} are not among the map's class names "
                      f"{sorted(set(map_names.values()))[:12]}; they count as errors.", stacklevel=4)
    return out
