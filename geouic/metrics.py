"""Accuracy metrics: pure functions on a confusion matrix or a contingency table.

Rows are the map, columns the reference. Plain metrics (:func:`overall_accuracy`,
:func:`kappa`, :func:`users_accuracy`, :func:`producers_accuracy`, :func:`f1_scores`), the
stratified area-adjusted estimates of Olofsson et al. (2014), and the agreement of unlabelled
clusters with classes (:func:`cluster_metrics`: NMI, ARI, Hungarian-matched and majority
accuracy). This is the one matched-accuracy and the one NMI of geouic: benchmarks and tests
score with :func:`matched_accuracy` and :func:`nmi` (on :func:`contingency` tables).

Area-adjusted estimates follow Olofsson et al. (2014), "Good practices for estimating area and
assessing accuracy of land change", Remote Sensing of Environment 148: 42-57: with ``W_i`` the
mapped area proportion of map class (stratum) ``i`` and ``n_ij`` the sample counts,
``p_ij = W_i n_ij / n_i.`` (eq. 4); overall, user's and producer's accuracies and their standard
errors come from eqs. 1-3 and 5-7, class areas from ``p_.j`` times the mapped total (eqs. 9-11);
intervals are ``1.96`` standard errors. The file pass that builds these from a map and a
reference is :func:`geouic.accuracy.assess`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from geouic.errors import ParameterError

__all__ = [
    "AreaAdjusted",
    "ClusterMetrics",
    "Estimate",
    "Z95",
    "cluster_metrics",
    "confusion_matrix",
    "contingency",
    "f1_scores",
    "kappa",
    "matched_accuracy",
    "matched_confusion",
    "nmi",
    "olofsson",
    "overall_accuracy",
    "producers_accuracy",
    "users_accuracy",
]

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

    Examples
    --------
    >>> confusion_matrix([1, 1, 2, 2, 9], [1, 2, 2, 2, 1], labels=[1, 2]).tolist()
    [[1, 1], [0, 2]]
    """
    codes = np.asarray(labels, dtype=np.int64)
    m = np.asarray(map_codes, dtype=np.int64).ravel()
    r = np.asarray(ref_codes, dtype=np.int64).ravel()
    if m.shape != r.shape:
        raise ParameterError(f"map_codes ({m.size} values) and ref_codes ({r.size}) differ in length.")
    k = len(codes)
    mi, ri = _index_of(codes, m), _index_of(codes, r)
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
    """Proportion of samples on the diagonal (NaN for an empty matrix).

    >>> overall_accuracy([[8, 2], [1, 9]])
    0.85
    """
    cm = _check_matrix(counts)
    return float(_ratio(np.trace(cm), cm.sum()))


def kappa(counts: np.ndarray) -> float:
    """Cohen's kappa: ``(p_o - p_e) / (1 - p_e)``; 1.0 when both are 1, NaN when empty.

    >>> round(kappa([[8, 2], [1, 9]]), 3)
    0.7
    """
    cm = _check_matrix(counts)
    total = cm.sum()
    if total == 0:
        return float("nan")
    po = np.trace(cm) / total
    pe = float(np.sum(cm.sum(0) * cm.sum(1))) / total**2
    return 1.0 if pe == 1.0 else float((po - pe) / (1.0 - pe))


def users_accuracy(counts: np.ndarray) -> np.ndarray:
    """Per map class (row): diagonal / row total; NaN for a class never mapped in the sample.

    >>> users_accuracy([[8, 2], [1, 9]]).tolist()
    [0.8, 0.9]
    """
    cm = _check_matrix(counts)
    return _ratio(np.diag(cm), cm.sum(1))


def producers_accuracy(counts: np.ndarray) -> np.ndarray:
    """Per reference class (column): diagonal / column total; NaN for a class absent from the reference.

    >>> producers_accuracy([[8, 2], [1, 9]]).round(3).tolist()
    [0.889, 0.818]
    """
    cm = _check_matrix(counts)
    return _ratio(np.diag(cm), cm.sum(0))


def f1_scores(counts: np.ndarray) -> np.ndarray:
    """Per class: harmonic mean of user's and producer's accuracy (``2 n_ii / (n_i. + n_.i)``).

    >>> f1_scores([[8, 2], [1, 9]]).round(3).tolist()
    [0.842, 0.857]
    """
    cm = _check_matrix(counts)
    return _ratio(2 * np.diag(cm), cm.sum(0) + cm.sum(1))


# ------------------------------------------------------------------------ Olofsson et al.
@dataclass(frozen=True)
class Estimate:
    """An estimate with the half-width of its 95 % confidence interval."""

    estimate: float
    ci95: float

    def to_dict(self) -> dict[str, float | None]:
        """The estimate and its half-width as JSON numbers (None where not finite)."""
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
        """Area of the whole map in hectares (sum of the mapped areas)."""
        return float(self.mapped_area_ha.sum())


def olofsson(counts: np.ndarray, mapped_pixels: ArrayLike, pixel_area_ha: ArrayLike,
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

    Examples
    --------
    Two clusters that are the two classes swapped:

    >>> m = cluster_metrics([[0, 5], [5, 0]])
    >>> m.nmi, m.matched_overall_accuracy, m.matching
    (1.0, 1.0, [(1, 2, 5), (2, 1, 5)])
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


def contingency(clusters: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, list[int], list[int]]:
    """Cluster x class counts of two label arrays (0 or negative = unlabelled on either side).

    Returns
    -------
    table : ndarray of shape (n_clusters, n_classes), int64
    cluster_labels, class_labels : list of int

    Examples
    --------
    >>> contingency([1, 1, 2, 0], [3, 4, 4, 4])[0].tolist()
    [[1, 1], [0, 1]]
    """
    a = np.asarray(clusters, np.int64).ravel()
    b = np.asarray(classes, np.int64).ravel()
    if a.shape != b.shape:
        raise ParameterError(f"clusters ({a.size} values) and classes ({b.size}) differ in length.")
    keep = (a > 0) & (b > 0)
    rows, ri = np.unique(a[keep], return_inverse=True)
    cols, ci = np.unique(b[keep], return_inverse=True)
    table = np.bincount(ri * len(cols) + ci, minlength=len(rows) * len(cols)).reshape(len(rows), len(cols))
    return table.astype(np.int64), rows.tolist(), cols.tolist()


def nmi(contingency: np.ndarray) -> float:
    """Normalised mutual information of a contingency table (arithmetic normalisation, as scikit-learn).

    >>> nmi([[5, 0], [0, 5]]), nmi([[5, 5], [5, 5]])
    (1.0, 0.0)
    """
    c = np.asarray(contingency, dtype=np.float64)
    if c.ndim != 2 or np.any(c < 0):
        raise ParameterError(f"a contingency table must be 2-D with counts >= 0; got shape {c.shape}.")
    return _nmi(c)


def matched_accuracy(contingency: np.ndarray) -> float:
    """Overall accuracy after matching clusters (rows) one-to-one to classes (columns), Hungarian method.

    >>> matched_accuracy([[1, 9], [8, 2]])
    0.85
    """
    return cluster_metrics(contingency).matched_overall_accuracy


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


def _num(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
