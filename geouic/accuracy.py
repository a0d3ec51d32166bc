"""Accuracy assessment of thematic maps against reference data.

Two layers: pure functions on a confusion matrix (rows = map, columns = reference), and
:func:`assess`, which reads a map and a reference (points, polygons or a label raster) window by
window and returns an :class:`AccuracyAssessment` that :func:`geouic.report.write_report` turns
into a report folder.

Area-adjusted estimates follow Olofsson et al. (2014), "Good practices for estimating area and
assessing accuracy of land change", Remote Sensing of Environment 148: 42-57: with ``W_i`` the
mapped area proportion of map class (stratum) ``i`` and ``n_ij`` the sample counts,
``p_ij = W_i n_ij / n_i.`` (eq. 4); overall, user's and producer's accuracies and their standard
errors come from eqs. 1-3 and 5-7, class areas from ``p_.j`` times the mapped total (eqs. 9-11);
intervals are ``1.96`` standard errors.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from geouic.classstats import check_class_map, read_classes
from geouic.errors import ParameterError, ReferenceDataError

__all__ = [
    "AccuracyAssessment",
    "AreaAdjusted",
    "ClusterMetrics",
    "Estimate",
    "assess",
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

#: z value of a two-sided 95 % normal interval.
Z95 = 1.96


# ---------------------------------------------------------------------------- plain metrics
def confusion_matrix(map_codes: np.ndarray, ref_codes: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Count map/reference code pairs.

    Parameters
    ----------
    map_codes, ref_codes : array-like of int, same shape
        Map and reference code of each sample (pixel or point).
    labels : sequence of int
        Codes of the rows and columns, in order. Pairs with a code outside ``labels`` are ignored.

    Returns
    -------
    ndarray of shape (len(labels), len(labels)), int64
        ``counts[i, j]``: samples mapped as ``labels[i]`` whose reference is ``labels[j]``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    m = np.asarray(map_codes, dtype=np.int64).ravel()
    r = np.asarray(ref_codes, dtype=np.int64).ravel()
    if m.shape != r.shape:
        raise ParameterError(f"map_codes ({m.size} values) and ref_codes ({r.size}) differ in length.")
    k = len(labels)
    mi, ri = _index_of(labels, m), _index_of(labels, r)
    keep = (mi >= 0) & (ri >= 0)
    return np.bincount(mi[keep] * k + ri[keep], minlength=k * k).reshape(k, k).astype(np.int64)


def _index_of(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in ``labels``, -1 where absent."""
    if not len(labels):
        return np.full(values.shape, -1, np.int64)
    order = np.argsort(labels)
    ordered = labels[order]
    pos = np.clip(np.searchsorted(ordered, values), 0, len(labels) - 1)
    return np.where(ordered[pos] == values, order[pos], -1)


def _check_matrix(counts: np.ndarray) -> np.ndarray:
    cm = np.asarray(counts, dtype=np.float64)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ParameterError(f"a confusion matrix must be square; got shape {cm.shape}.")
    if np.any(cm < 0) or not np.all(np.isfinite(cm)):
        raise ParameterError("a confusion matrix must hold finite counts >= 0.")
    return cm


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.asarray(num, np.float64), np.asarray(den, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def overall_accuracy(counts: np.ndarray) -> float:
    """Proportion of samples on the diagonal (NaN for an empty matrix)."""
    cm = _check_matrix(counts)
    return float(_ratio(np.trace(cm), cm.sum()))


def kappa(counts: np.ndarray) -> float:
    """Cohen's kappa: ``(p_o - p_e) / (1 - p_e)``; 1.0 when both are 1, NaN when empty."""
    cm = _check_matrix(counts)
    total = cm.sum()
    if total == 0:
        return float("nan")
    po = np.trace(cm) / total
    pe = float(np.sum(cm.sum(0) * cm.sum(1))) / total**2
    return 1.0 if pe == 1.0 else float((po - pe) / (1.0 - pe))


def users_accuracy(counts: np.ndarray) -> np.ndarray:
    """Per map class (row): diagonal / row total; NaN for a class never mapped in the sample."""
    cm = _check_matrix(counts)
    return _ratio(np.diag(cm), cm.sum(1))


def producers_accuracy(counts: np.ndarray) -> np.ndarray:
    """Per reference class (column): diagonal / column total; NaN for a class absent from the reference."""
    cm = _check_matrix(counts)
    return _ratio(np.diag(cm), cm.sum(0))


def f1_scores(counts: np.ndarray) -> np.ndarray:
    """Per class: harmonic mean of user's and producer's accuracy (``2 n_ii / (n_i. + n_.i)``)."""
    cm = _check_matrix(counts)
    return _ratio(2 * np.diag(cm), cm.sum(0) + cm.sum(1))


# ------------------------------------------------------------------------ Olofsson et al.
@dataclass(frozen=True)
class Estimate:
    """An estimate with the half-width of its 95 % confidence interval."""

    estimate: float
    ci95: float

    def to_dict(self) -> dict[str, float | None]:
        return {"estimate": _num(self.estimate), "ci95": _num(self.ci95)}


@dataclass(frozen=True)
class AreaAdjusted:
    """Stratified estimates of Olofsson et al. (2014); per-class arrays follow the matrix labels.

    Attributes
    ----------
    overall_accuracy : Estimate
    users_accuracy, producers_accuracy, area_ha : list of Estimate
        Per class; NaN where the sample cannot estimate it (no sample in the stratum, or one
        sample only for the interval).
    proportions : ndarray of shape (k, k)
        Estimated area proportions ``p_ij``.
    mapped_area_ha : ndarray of shape (k,)
    """

    overall_accuracy: Estimate
    users_accuracy: list[Estimate]
    producers_accuracy: list[Estimate]
    area_ha: list[Estimate]
    proportions: np.ndarray
    mapped_area_ha: np.ndarray

    @property
    def total_area_ha(self) -> float:
        return float(self.mapped_area_ha.sum())


def olofsson(counts: np.ndarray, mapped_pixels: Sequence[float], pixel_area_ha: float | Sequence[float],
             *, z: float = Z95) -> AreaAdjusted:
    """Area-adjusted accuracy and area estimates from a stratified random sample.

    Parameters
    ----------
    counts : array-like of shape (k, k)
        Sample counts ``n_ij``, rows = map class (stratum), columns = reference class.
    mapped_pixels : array-like of shape (k,)
        Pixels mapped as each class in the whole map.
    pixel_area_ha : float or array-like of shape (k,)
        Area of one pixel in hectares; per class for maps whose pixel area varies (geographic
        CRS), where it is the class's mean pixel area.
    z : float, default=1.96
        Normal quantile of the interval.

    Returns
    -------
    AreaAdjusted

    Raises
    ------
    ParameterError
        Shapes differ, or a class has mapped area but no sample (its stratum cannot be estimated).

    Examples
    --------
    The worked example of Olofsson et al. (2014), 30 m pixels:

    >>> counts = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
    >>> r = olofsson(counts, [200_000, 150_000, 3_200_000, 6_450_000], 0.09)
    >>> round(r.overall_accuracy.estimate, 3), round(r.area_ha[0].estimate), round(r.area_ha[0].ci95)
    (0.947, 21158, 6158)
    """
    n = _check_matrix(counts)
    k = n.shape[0]
    pixels = np.asarray(mapped_pixels, np.float64)
    area_px = np.broadcast_to(np.asarray(pixel_area_ha, np.float64), (k,))
    if pixels.shape != (k,):
        raise ParameterError(f"mapped_pixels has {pixels.size} values for a {k}x{k} matrix; give one per class.")
    if np.any(pixels < 0) or np.any((area_px <= 0) & (pixels > 0)):
        raise ParameterError("mapped_pixels must be >= 0 and pixel_area_ha > 0.")
    area = pixels * np.where(pixels > 0, area_px, 0.0)
    ni = n.sum(1)
    unsampled = (area > 0) & (ni == 0)
    if unsampled.any():
        raise ParameterError(
            f"classes at rows {np.flatnonzero(unsampled).tolist()} have mapped area but no sample; "
            "every stratum needs samples (drop those strata or add samples)."
        )
    total = area.sum()
    if total <= 0:
        raise ParameterError("the mapped area is 0; nothing to estimate.")
    W = area / total
    share = np.nan_to_num(_ratio(n, ni[:, None]))         # n_ij / n_i.
    p = W[:, None] * share                                # eq. 4
    # n_i. - 1: infinite for empty (zero-weight) strata, which add nothing; NaN for one sample,
    # whose variance is undefined and spreads to every estimate that uses it.
    dof = np.where(ni == 0, np.inf, np.where(ni > 1, ni - 1, np.nan))
    U = _ratio(np.diag(n), ni)
    P = _ratio(np.diag(p), p.sum(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        u_var = U * (1 - U) / dof                                             # eq. 6
        oa_var = float(np.sum(np.where(W > 0, W**2 * U * (1 - U) / dof, 0.0)))  # eq. 5
        pa_var = _producers_variance(share, ni, area, U, P, dof)              # eq. 7
        area_var = np.sum((W[:, None] * p - p**2) / dof[:, None], axis=0)     # eq. 10
    oa = float(np.trace(p))
    col = p.sum(0)
    return AreaAdjusted(
        overall_accuracy=Estimate(oa, z * math.sqrt(oa_var) if math.isfinite(oa_var) else math.nan),
        users_accuracy=[Estimate(float(u), float(z * np.sqrt(v))) for u, v in zip(U, u_var)],
        producers_accuracy=[Estimate(float(a), float(z * np.sqrt(v))) for a, v in zip(P, pa_var)],
        area_ha=[Estimate(float(c * total), float(z * np.sqrt(v) * total)) for c, v in zip(col, area_var)],
        proportions=p,
        mapped_area_ha=area,
    )


def _producers_variance(share: np.ndarray, ni: np.ndarray, area: np.ndarray, U: np.ndarray, P: np.ndarray,
                        dof: np.ndarray) -> np.ndarray:
    """Eq. 7 of Olofsson et al. (2014), with mapped areas in place of pixel counts."""
    est_ref = (area[:, None] * share).sum(0)             # N_.j estimated
    out = np.empty(len(ni))
    for j in range(len(ni)):
        own = area[j] ** 2 * (1 - P[j]) ** 2 * U[j] * (1 - U[j]) / dof[j] if ni[j] else 0.0
        others = [area[i] ** 2 * share[i, j] * (1 - share[i, j]) / dof[i]
                  for i in range(len(ni)) if i != j and area[i] > 0]
        out[j] = (own + P[j] ** 2 * sum(others)) / est_ref[j] ** 2 if est_ref[j] > 0 else np.nan
    return out


# --------------------------------------------------------------------------- cluster maps
@dataclass(frozen=True)
class ClusterMetrics:
    """Agreement of an unlabelled class map (clusters) with reference classes.

    Attributes
    ----------
    nmi : float
        Normalised mutual information (arithmetic mean of the entropies, as scikit-learn).
    ari : float
        Adjusted Rand index.
    matched_overall_accuracy : float
        Overall accuracy after matching clusters one-to-one to classes (Hungarian method);
        with more clusters than classes the unmatched clusters count as errors.
    majority_overall_accuracy : float
        Overall accuracy when every cluster takes its majority class (many-to-one), the fair
        score of an over-clustered map.
    matching : list of (int, int or None, int)
        ``(cluster, reference class or None when unmatched, pixels of the cluster)``.
    contingency : ndarray of shape (n_clusters, n_classes)
    cluster_labels, class_labels : list of int
    """

    nmi: float
    ari: float
    matched_overall_accuracy: float
    majority_overall_accuracy: float
    matching: list[tuple[int, int | None, int]]
    contingency: np.ndarray
    cluster_labels: list[int]
    class_labels: list[int]


def cluster_metrics(contingency: np.ndarray, cluster_labels: Sequence[int] | None = None,
                    class_labels: Sequence[int] | None = None) -> ClusterMetrics:
    """NMI, ARI, Hungarian-matched and majority overall accuracy from a contingency table.

    Parameters
    ----------
    contingency : array-like of shape (n_clusters, n_classes)
        Pixel counts, rows = map clusters, columns = reference classes.
    cluster_labels, class_labels : sequence of int, optional
        Codes of the rows and columns (default 1..n).

    Returns
    -------
    ClusterMetrics
    """
    from scipy.optimize import linear_sum_assignment

    c = np.asarray(contingency, dtype=np.float64)
    if c.ndim != 2 or np.any(c < 0):
        raise ParameterError(f"a contingency table must be 2-D with counts >= 0; got shape {c.shape}.")
    rows = list(cluster_labels) if cluster_labels is not None else list(range(1, c.shape[0] + 1))
    cols = list(class_labels) if class_labels is not None else list(range(1, c.shape[1] + 1))
    total = c.sum()
    r_idx, c_idx = linear_sum_assignment(c, maximize=True)
    matched = dict(zip(r_idx.tolist(), c_idx.tolist()))
    matching = [(int(rows[i]), int(cols[matched[i]]) if i in matched else None, int(c[i].sum()))
                for i in range(c.shape[0])]
    matched_oa = float(c[r_idx, c_idx].sum() / total) if total else float("nan")
    majority_oa = float(c.max(axis=1, initial=0).sum() / total) if total else float("nan")
    return ClusterMetrics(_nmi(c), _ari(c), matched_oa, majority_oa, matching, c.astype(np.int64), rows, cols)


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _nmi(c: np.ndarray) -> float:
    total = c.sum()
    a, b = c.sum(1), c.sum(0)
    if total == 0:
        return float("nan")
    if (a > 0).sum() == (b > 0).sum() <= 1:
        return 1.0
    nz = c > 0
    mi = float((c[nz] / total * np.log(c[nz] * total / np.outer(a, b)[nz])).sum())
    if mi <= 0:
        return 0.0
    return mi / max((_entropy(a) + _entropy(b)) / 2, np.finfo(np.float64).eps)


def _ari(c: np.ndarray) -> float:
    total = c.sum()
    pairs = (c * (c - 1)).sum() / 2
    rows = (c.sum(1) * (c.sum(1) - 1)).sum() / 2
    cols = (c.sum(0) * (c.sum(0) - 1)).sum() / 2
    all_pairs = total * (total - 1) / 2
    if all_pairs == 0:
        return 1.0
    expected = rows * cols / all_pairs
    best = (rows + cols) / 2
    return 1.0 if best == expected else float((pairs - expected) / (best - expected))


def matched_confusion(metrics: ClusterMetrics) -> tuple[list[int], np.ndarray]:
    """Confusion matrix after renaming each matched cluster to its class.

    Pixels of unmatched clusters go to a row labelled 0 ("unmatched"), appended only when there
    are any, with an all-zero column so the matrix stays square.
    """
    classes = metrics.class_labels
    k = len(classes)
    cm = np.zeros((k + 1, k + 1), np.int64)
    pos = {c: i for i, c in enumerate(classes)}
    for row, (_, cls, _) in enumerate(metrics.matching):
        cm[pos[cls] if cls is not None else k, :k] += metrics.contingency[row]
    if cm[k].sum() == 0:
        return list(classes), cm[:k, :k]
    return [*classes, 0], cm


# ------------------------------------------------------------------------ the assessment
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
    """

    map_path: str
    reference_path: str
    reference_kind: str
    field: str | None
    labels: list[int]
    counts: np.ndarray
    names: dict[int, str] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    area_adjusted: AreaAdjusted | None = None
    clusters: ClusterMetrics | None = None
    mapped: dict[int, tuple[int, float]] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        return int(self.counts.sum())

    @property
    def overall_accuracy(self) -> float:
        return overall_accuracy(self.counts)

    @property
    def kappa(self) -> float:
        return kappa(self.counts)

    def per_class(self) -> dict[str, dict[int, float]]:
        """User's and producer's accuracy and F1 keyed by class code."""
        ua, pa, f1 = users_accuracy(self.counts), producers_accuracy(self.counts), f1_scores(self.counts)
        return {name: dict(zip(self.labels, map(float, values)))
                for name, values in (("users_accuracy", ua), ("producers_accuracy", pa), ("f1", f1))}

    def name(self, code: int) -> str:
        return self.names.get(code) or ("unmatched clusters" if code == 0 and self.clusters else str(code))

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


def _num(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def assess(map_path: str | os.PathLike, reference_path: str | os.PathLike, *, field: str | None = None,
           area_adjusted: bool = False, clusters: bool = False,
           mem_limit_mb: float = 64) -> AccuracyAssessment:
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
        Memory budget of one window.

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
    from geouic.raster import open_raster
    from geouic.reference import Grid, open_reference

    if area_adjusted and clusters:
        raise ParameterError("area_adjusted and clusters exclude each other: area estimates need a "
                             "map legend that matches the reference classes.")
    with _recorded_warnings() as log, open_raster(map_path) as src:
        _check_class_map(src)
        ref = open_reference(reference_path, Grid.from_dataset(src.dataset), field=field)
        map_names = _map_category_names(src.path)
        to_map = _align_codes(ref.names, map_names, clusters)
        pairs, excluded = (_point_pairs(src, ref) if ref.kind == "points"
                           else _window_pairs(src, ref, mem_limit_mb))
        pairs = [(m, int(to_map.get(r, r)), c) for m, r, c in pairs]
        names = {to_map.get(c, c): n for c, n in ref.names.items()}
        if not clusters:
            names.update(map_names)
        excluded["outside_map"] = _outside_map(ref, src)
        if not sum(c for _, _, c in pairs):
            raise _no_samples(ref, src, excluded)
        result = _build(src, ref, pairs, names, excluded, area_adjusted, clusters, mem_limit_mb)
        _warn_about_sample(result, area_adjusted)
    result.warnings = log
    return result


def _build(src: Any, ref: Any, pairs: list[tuple[int, int, int]], names: dict[int, str],
           excluded: dict[str, int], area_adjusted: bool, clusters: bool, mem_limit_mb: float) -> AccuracyAssessment:
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
        warnings.warn(
            f"the map's codes {map_codes[:12]} and the reference codes {ref_codes[:12]} share no class; "
            "if the map holds unnamed clusters, use clusters=True (--clusters).", stacklevel=3)
    mapped = None
    if area_adjusted:
        from geouic.classstats import class_areas  # pixel areas on the ellipsoid for geographic maps

        mapped = class_areas(src.path, mem_limit_mb=mem_limit_mb)
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


def _check_class_map(src: Any) -> None:
    """One band of integer codes (classstats' check), without its no-CRS note on areas: that one
    comes from :func:`~geouic.classstats.class_areas` when areas are computed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check_class_map(src)


def _pairs_from(m: np.ndarray, r: np.ndarray) -> list[tuple[int, int, int]]:
    if not m.size:
        return []
    keys = (m.astype(np.int64) << 32) | (r.astype(np.int64) & 0xFFFFFFFF)
    u, c = np.unique(keys, return_counts=True)
    return [(int(k >> 32), int(k & 0xFFFFFFFF), int(n)) for k, n in zip(u, c)]


def _merge(acc: dict[tuple[int, int], int], pairs: list[tuple[int, int, int]]) -> None:
    for m, r, c in pairs:
        acc[(m, r)] = acc.get((m, r), 0) + c


def _point_pairs(src: Any, ref: Any) -> tuple[list[tuple[int, int, int]], dict[str, int]]:
    """Map code at each point's pixel, reading only the windows that hold points."""
    rows, cols, codes = ref.point_samples()
    acc: dict[tuple[int, int], int] = {}
    nodata = 0
    for pair in src.windows(mem_limit_mb=8, bytes_per_pixel=16):
        w = pair.core
        inside = ((rows >= w.row_off) & (rows < w.row_off + w.height)
                  & (cols >= w.col_off) & (cols < w.col_off + w.width))
        if not inside.any():
            continue
        values = read_classes(src, w)[rows[inside] - w.row_off, cols[inside] - w.col_off]
        classified = values > 0
        nodata += int((~classified).sum())
        _merge(acc, _pairs_from(values[classified], codes[inside][classified]))
    return [(m, r, c) for (m, r), c in acc.items()], {"map_nodata": nodata}


def _window_pairs(src: Any, ref: Any, mem_limit_mb: float) -> tuple[list[tuple[int, int, int]], dict[str, int]]:
    """Accumulate map/reference pairs over labelled pixels, window by window."""
    acc: dict[tuple[int, int], int] = {}
    nodata = 0
    for pair in src.windows(mem_limit_mb=mem_limit_mb, bytes_per_pixel=48):
        r = ref.read(pair.core)
        labelled = r > 0
        if not labelled.any():
            continue
        m = read_classes(src, pair.core)
        both = labelled & (m > 0)
        nodata += int(labelled.sum() - both.sum())
        _merge(acc, _pairs_from(m[both], r[both]))
    return [(m, r, c) for (m, r), c in acc.items()], {"map_nodata": nodata}


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


def _map_category_names(path: str) -> dict[int, str]:
    """Category names of band 1 of the map (GDAL PAM side-car), without 'nodata' at 0."""
    from geouic.reference import category_names

    return {c: n for c, n in category_names(path, 1).items() if c > 0}


def _outside_map(ref: Any, src: Any) -> int:
    """Labelled reference points (or approximate pixels) that lie beyond the map's extent."""
    import shapely

    grid_poly = shapely.box(*src.dataset.bounds)
    if ref.kind == "raster":
        return _raster_outside(ref, src)
    geoms = _reference_geometries(ref, src)
    if ref.kind == "points":
        coords = shapely.get_coordinates(geoms)
        col, row = ~src.transform @ (coords[:, 0], coords[:, 1])
        return int(((row < 0) | (row >= src.height) | (col < 0) | (col >= src.width)).sum())
    outside = shapely.area(shapely.difference(geoms, grid_poly)).sum()
    return int(round(outside / abs(src.transform.determinant)))


def _reference_geometries(ref: Any, src: Any) -> np.ndarray:
    """Geometries of the labelled features of a vector reference in the map's CRS."""
    import pyogrio

    gdf = pyogrio.read_dataframe(ref.path, columns=[ref.field])
    gdf = gdf[gdf[ref.field].notna() & gdf.geometry.notna()]
    if gdf.crs is not None and src.crs is not None and not gdf.crs.equals(src.crs.to_wkt()):
        gdf = gdf.to_crs(src.crs.to_wkt())
    return gdf.geometry.to_numpy()


def _raster_outside(ref: Any, src: Any) -> int:
    """Labelled pixels of a label raster whose centres fall outside the map (native grid)."""
    import rasterio
    from rasterio.warp import transform as warp_transform

    from geouic.raster import block_windows

    count = 0
    with rasterio.open(ref.path) as ds:
        same_grid = ds.crs == src.crs and ds.transform.almost_equals(src.transform) and ds.shape == src.shape
        if same_grid:
            return 0
        for pair in block_windows(ds.width, ds.height, ds.block_shapes[0], mem_limit_mb=16, bytes_per_pixel=40):
            w = pair.core
            values = ds.read(ref.band, window=w)
            labelled = values > 0
            if ds.nodata is not None and not math.isnan(ds.nodata):
                labelled &= values != ds.nodata
            rr, cc = np.nonzero(labelled)
            if not len(rr):
                continue
            x, y = ds.window_transform(w) @ (cc + 0.5, rr + 0.5)
            if ds.crs and src.crs and ds.crs != src.crs:
                x, y = (np.asarray(v) for v in warp_transform(ds.crs, src.crs, x, y))
            col, row = ~src.transform @ (np.asarray(x), np.asarray(y))
            count += int(((row < 0) | (row >= src.height) | (col < 0) | (col >= src.width)).sum())
    return count
