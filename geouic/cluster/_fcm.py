"""Fuzzy c-means clustering (Dunn 1973; Bezdek 1981).

Every pixel gets a membership in each class instead of one label; the memberships can be written
as a multi-band output next to the hard class map (their argmax, which is the nearest centre).
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from geouic.cluster._base import (
    CentroidPredictMixin,
    check_data,
    check_float,
    check_int,
    check_seed,
    iter_chunks,
    kmeans_plusplus,
    nearest_center,
    sq_distances,
)
from geouic.errors import ParameterError

__all__ = ["FuzzyCMeans", "fuzzy_memberships"]

logger = logging.getLogger(__name__)


def fuzzy_memberships(d2: np.ndarray, m: float) -> np.ndarray:
    """Fuzzy c-means memberships from squared distances.

    ``u_ik = 1 / sum_j (d2_ik / d2_ij) ** (1 / (m - 1))``, computed as ratios to the row's
    smallest distance so nothing overflows. A sample lying exactly on one or more centres gets
    its whole membership shared equally among those centres, never NaN.

    Parameters
    ----------
    d2 : numpy.ndarray of shape (n_samples, n_clusters)
        Squared distances to the centres, >= 0; float32 or float64.
    m : float
        Fuzziness exponent, > 1.

    Returns
    -------
    numpy.ndarray of shape (n_samples, n_clusters)
        Memberships in [0, 1], each row summing to 1, in ``d2.dtype``.
    """
    d_min = d2.min(axis=1, keepdims=True)
    u = np.divide(d_min, d2, out=np.ones_like(d2), where=d2 > 0)
    if m != 2.0:
        np.power(u, 1.0 / (m - 1.0), out=u)
    u /= u.sum(axis=1, keepdims=True)
    return u


class FuzzyCMeans(CentroidPredictMixin, ClusterMixin, BaseEstimator):
    """Fuzzy c-means clustering with k-means++ seeding.

    Alternates memberships ``u_ik`` (see :func:`fuzzy_memberships`) and centres
    ``c_k = sum_i u_ik^m x_i / sum_i u_ik^m`` until no centre moves by ``tol`` or more, which
    minimises ``J_m = sum_ik u_ik^m ||x_i - c_k||²``.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of classes (>= 2).
    m : float, default=2.0
        Fuzziness exponent (> 1): near 1 the memberships become hard (k-means), larger values
        make them more even. 2.0 is the usual choice (Bezdek 1981).
    max_iter : int, default=100
        Maximum iterations per run (>= 1).
    tol : float, default=1e-4
        Stop once the largest Euclidean displacement of any centre in one iteration is below
        this (>= 0, in the normalised units of ``X``).
    n_init : int, default=1
        Number of runs from different k-means++ seeds (>= 1); the run with the lowest
        objective ``J_m`` is kept.
    random_state : int or None, default=None
        Seed of the k-means++ seeding; an int makes ``fit`` reproducible.

    Attributes
    ----------
    cluster_centers_ : numpy.ndarray of shape (n_clusters, n_features), float64
        Class centres; the only state :meth:`predict` and :meth:`predict_proba` need.
    labels_ : numpy.ndarray of shape (n_samples,), int32
        Hard label (largest membership, i.e. nearest centre) of each row of ``X`` in ``fit``.
    n_clusters_ : int
        Number of classes (``n_clusters``).
    n_iter_ : int
        Iterations of the kept run.
    objective_ : float
        ``J_m`` of the kept run at its final centres.
    n_features_in_ : int
        Number of features seen in ``fit``.

    References
    ----------
    Bezdek, J. C. (1981). Pattern Recognition with Fuzzy Objective Function Algorithms.
    Plenum Press.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(c, 0.1, (100, 2)) for c in (-1, 1)])
    >>> fcm = FuzzyCMeans(n_clusters=2, random_state=0).fit(X)
    >>> fcm.predict_proba(X).shape
    (200, 2)
    """

    _state_attrs: tuple[str, ...] = ("cluster_centers_",)

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        m: float = 2.0,
        max_iter: int = 100,
        tol: float = 1e-4,
        n_init: int = 1,
        random_state: int | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.m = m
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: object = None) -> FuzzyCMeans:
        """Cluster ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Normalised (z-scored) pixels, float32 or float64; float32 is kept in the products.
        y : None
            Ignored.

        Returns
        -------
        FuzzyCMeans
            The fitted estimator.
        """
        k = check_int("n_clusters", self.n_clusters, low=1)
        m = check_float("m", self.m, low=1.0, low_open=True)
        max_iter = check_int("max_iter", self.max_iter, low=1)
        tol = check_float("tol", self.tol, low=0.0)
        n_init = check_int("n_init", self.n_init, low=1)
        rng = check_seed(self.random_state)
        X = check_data(X, who="FuzzyCMeans.fit", estimator=self)
        if X.shape[0] < k:
            raise ParameterError(
                f"FuzzyCMeans.fit: {X.shape[0]} samples are fewer than n_clusters={k}; "
                "pass more pixels or lower n_clusters.",
                params=("n_clusters",),
            )
        x_sq = np.einsum("ij,ij->i", X, X)

        def one_run() -> tuple[float, np.ndarray, int]:
            centers, n_iter = _run(X, x_sq, kmeans_plusplus(X, k, rng), m, max_iter, tol)
            return _objective(X, x_sq, centers, m), centers, n_iter

        # The first run with the lowest objective wins (runs are drawn in order from rng).
        self.objective_, self.cluster_centers_, self.n_iter_ = min(
            (one_run() for _ in range(n_init)), key=lambda run: run[0])
        self.labels_ = nearest_center(X, self.cluster_centers_)
        self.n_clusters_ = k
        self.n_features_in_ = X.shape[1]
        logger.info("FuzzyCMeans: J_m=%.6g after %d iterations", self.objective_, self.n_iter_)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Fuzzy memberships of each sample in each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Normalised pixels; float32 stays float32 in the distance product.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_clusters_), float32
            Memberships in [0, 1]; each row sums to 1.
        """
        centers = self._fitted_centers()
        X = check_data(X, who="FuzzyCMeans.predict_proba", estimator=self, reset=False,
                       n_features=centers.shape[1])
        m = float(self.m)
        out = np.empty((X.shape[0], centers.shape[0]), dtype=np.float32)
        for rows in iter_chunks(X.shape[0]):
            out[rows] = fuzzy_memberships(sq_distances(X[rows], centers), m)
        return out


def _run(
    X: np.ndarray,
    x_sq: np.ndarray,
    centers: np.ndarray,
    m: float,
    max_iter: int,
    tol: float,
) -> tuple[np.ndarray, int]:
    """One fuzzy c-means run from ``centers``; returns the final centres and iterations."""
    for it in range(1, max_iter + 1):
        u = fuzzy_memberships(sq_distances(X, centers, x_sq).astype(np.float64), m)
        weights = np.square(u) if m == 2.0 else np.power(u, m)
        mass = weights.sum(axis=0)[:, None]
        sums = weights.T.astype(X.dtype) @ X
        # a class whose weights all underflow (m close to 1, far class) keeps its centre
        new = np.where(mass > 0, sums / np.where(mass > 0, mass, 1.0), centers)
        shift = float(np.sqrt(np.max(np.sum((new - centers) ** 2, axis=1))))
        centers = new
        if shift < tol:
            return centers, it
    logger.debug("FuzzyCMeans: run stopped at max_iter=%d (last shift %.3g)", max_iter, shift)
    return centers, max_iter


def _objective(X: np.ndarray, x_sq: np.ndarray, centers: np.ndarray, m: float) -> float:
    d2 = sq_distances(X, centers, x_sq).astype(np.float64)
    u = fuzzy_memberships(d2, m)
    return float(np.sum(np.power(u, m) * d2))
