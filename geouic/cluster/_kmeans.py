"""k-means: k-means++ seeding and Lloyd iterations in numpy, chunked so memory stays bounded.

Kept hand-written rather than wrapping :class:`sklearn.cluster.KMeans`, by measurement (issue 14,
``python -m benchmarks.estimator_choices``, 2 shared cores, 2026-12-02): on the z-scored default
sample (100 000 pixels, K = 12, ``n_init=4``, lloyd for both) the fit took 0.56 / 0.69 / 0.29 s here
against scikit-learn's 1.25 / 1.08 / 0.49 s under ``threadpool_limits(1)`` (landsat5_amazon,
nc_landsat7_landclass96, landsat8_brazil), and 2.8 / 3.1 / 1.2 s against 5.9 / 5.0 / 3.2 s with 2
threads on the busy machine (scikit-learn's OpenMP loops suffer most from shared cores); inertia
equal to 0.5 % (scikit-learn 0.5 % lower on landsat5_amazon, equal on the others). Importing this
module takes 1.77 s (it needs ``sklearn.base``), ``sklearn.cluster`` 2.16 s. The fit is a small part
of a classify run (prediction of every pixel dominates), so the GRASS wall-time ratio
(``benchmarks/RESULTS.md``, 0.42-0.45) can only get worse with the slower fit; it was not re-run
(GRASS and the 16000 x 16000 scene do not fit the shared 2-core machine's time). Every step here is
a chunked BLAS product (distances, and the class sums as a one-hot product).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from geouic.cluster._base import (
    CentroidPredictMixin, check_data, check_float, check_int, check_seed, iter_chunks,
    kmeans_plusplus, sq_distances,
)
from geouic.errors import ParameterError

__all__ = ["KMeans"]

#: Samples on which the ``n_init`` initialisations compete before the best is refined on all.
INIT_SUBSAMPLE = 20_000


class KMeans(CentroidPredictMixin, ClusterMixin, BaseEstimator):
    """k-means clustering for pixel samples.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of classes K.
    n_init : int, default=4
        k-means++ initialisations; the run with the lowest inertia is kept. Beyond 20,000
        samples they compete on a random subset of 20,000 and only the winner is refined
        on all samples.
    max_iter : int, default=300
        Lloyd iterations per initialisation.
    tol : float, default=1e-4
        Stop when the squared centre movement is below ``tol`` times the mean band variance
        (scikit-learn's convention).
    random_state : int, optional

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
        Sum of squared distances to the nearest centre.
    n_iter_ : int
        Iterations of the kept initialisation.
    """

    _state_attrs = ("cluster_centers_",)

    def __init__(self, n_clusters: int = 8, *, n_init: int = 4, max_iter: int = 300,
                 tol: float = 1e-4, random_state: int | None = None):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: None = None) -> KMeans:
        """Cluster samples ``(n, features)``; return self."""
        k = check_int("n_clusters", self.n_clusters, low=1)
        n_init = check_int("n_init", self.n_init, low=1)
        max_iter = check_int("max_iter", self.max_iter, low=1)
        tol = check_float("tol", self.tol, low=0.0)
        X = check_data(X, who="KMeans.fit", estimator=self)
        if len(X) < k:
            _raise_few(len(X), k)
        rng = check_seed(self.random_state)
        threshold = tol * float(np.mean(np.var(X, axis=0)))
        # The initialisations compete on a subsample; only the winner is refined on all of X.
        sub = X
        if n_init > 1 and len(X) > INIT_SUBSAMPLE:
            sub = X[np.sort(rng.choice(len(X), INIT_SUBSAMPLE, replace=False))]
        # The first run with the lowest inertia wins (runs are drawn in order from rng).
        runs = (_lloyd(sub, kmeans_plusplus(sub, k, rng), max_iter, threshold, rng) for _ in range(n_init))
        best = min(runs, key=lambda run: run[2])
        if sub is not X:
            best = _lloyd(X, best[0], max_iter, threshold, rng)
        self.cluster_centers_, self.labels_, self.inertia_, self.n_iter_ = best
        self.n_features_in_ = X.shape[1]
        return self


def _raise_few(n: int, k: int) -> None:
    """Refuse fewer samples than clusters."""
    raise ParameterError(f"n_clusters={k} is larger than the {n} samples; lower it.", params=("n_clusters",))


def _assign(X: np.ndarray, centers: np.ndarray, x_sq: np.ndarray):
    """Labels, squared distances and per-class sums and counts, chunk by chunk."""
    k, d = centers.shape
    labels = np.empty(len(X), np.int32)
    dist = np.empty(len(X), np.float64)
    sums = np.zeros((k, d), np.float64)
    counts = np.zeros(k, np.int64)
    for rows in iter_chunks(len(X)):
        d2 = sq_distances(X[rows], centers, x_sq[rows])
        lab = d2.argmin(axis=1)
        labels[rows], dist[rows] = lab, d2[np.arange(len(lab)), lab]
        onehot = np.zeros((k, len(lab)), X.dtype)
        onehot[lab, np.arange(len(lab))] = 1
        sums += onehot @ X[rows]
        counts += np.bincount(lab, minlength=k)
    return labels, dist, sums, counts


def _lloyd(X: np.ndarray, centers: np.ndarray, max_iter: int, threshold: float,
           rng: np.random.RandomState):
    """One k-means run from ``centers``: (centres, labels, inertia, iterations)."""
    x_sq = np.einsum("ij,ij->i", X, X)
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        labels, dist, sums, counts = _assign(X, centers, x_sq)
        new = centers.copy()
        filled = counts > 0
        new[filled] = sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if len(empty):  # relocate empty classes to the worst-fitted samples
            far = np.argsort(dist)[::-1][: len(empty)]
            new[empty] = X[far]
        shift = float(((new - centers) ** 2).sum())
        centers = new
        if shift <= threshold and not len(empty):
            break
    labels, dist, _, _ = _assign(X, centers, x_sq)
    return centers, labels, float(dist.sum()), n_iter
