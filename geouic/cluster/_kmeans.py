"""k-means: scikit-learn's k-means++ fit on a sample, vectorised nearest-centre prediction."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans as _SkKMeans

from geouic.errors import NotFittedError, ParameterError

__all__ = ["KMeans", "nearest_center", "CHUNK_ROWS"]

#: Rows per chunk in prediction: bounds the (rows, k) distance matrix.
CHUNK_ROWS = 65536


def nearest_center(X: np.ndarray, centers: np.ndarray, *, return_distance: bool = False):
    """Index of the nearest centre for each row, computed in chunks.

    Squared distances are ``||x||² - 2x·c + ||c||²`` with one matrix product per chunk;
    ``||x||²`` is constant per row so it is skipped unless distances are asked for.

    Parameters
    ----------
    X : ndarray of shape (n, features)
    centers : ndarray of shape (k, features)
    return_distance : bool, default=False
        Also return the squared distance to the nearest centre.
    """
    dtype = np.float32 if X.dtype == np.float32 else np.float64
    X = np.asarray(X, dtype=dtype)
    c = np.asarray(centers, dtype=dtype)
    c_sq = (c * c).sum(axis=1)
    labels = np.empty(len(X), dtype=np.intp)
    dist = np.empty(len(X), dtype=dtype) if return_distance else None
    for start in range(0, len(X), CHUNK_ROWS):
        chunk = X[start : start + CHUNK_ROWS]
        d = c_sq - 2.0 * (chunk @ c.T)
        lab = d.argmin(axis=1)
        labels[start : start + len(chunk)] = lab
        if dist is not None:
            best = d[np.arange(len(chunk)), lab] + (chunk * chunk).sum(axis=1)
            dist[start : start + len(chunk)] = np.maximum(best, 0)
    return (labels, dist) if return_distance else labels


class KMeans(ClusterMixin, BaseEstimator):
    """k-means clustering for pixel samples.

    The fit is scikit-learn's Lloyd k-means with k-means++ seeding and several
    initialisations; prediction is a chunked nearest-centre search in the input's float
    precision, so a float32 window is labelled without a float64 copy.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of classes K.
    n_init : int, default=4
        k-means++ initialisations; the run with the lowest inertia is kept.
    max_iter : int, default=300
    tol : float, default=1e-4
        Relative centre movement that stops an initialisation.
    random_state : int, optional

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
    labels_ : ndarray of shape (n_samples,)
    inertia_ : float
    n_iter_ : int
    """

    _state_attrs = ("cluster_centers_",)

    def __init__(self, n_clusters: int = 8, *, n_init: int = 4, max_iter: int = 300,
                 tol: float = 1e-4, random_state: int | None = None):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _validate(self, n_samples: int) -> None:
        for name, value, low in (("n_clusters", self.n_clusters, 2), ("n_init", self.n_init, 1),
                                 ("max_iter", self.max_iter, 1)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"{name}={value!r} is invalid: must be an integer >= {low}.")
        if n_samples < self.n_clusters:
            raise ParameterError(
                f"n_clusters={self.n_clusters} is larger than the {n_samples} samples; lower it."
            )

    def fit(self, X: np.ndarray, y: None = None) -> KMeans:
        """Cluster samples ``(n, features)``; return self."""
        X = np.asarray(X)
        self._validate(len(X))
        km = _SkKMeans(n_clusters=self.n_clusters, n_init=self.n_init, max_iter=self.max_iter,
                       tol=self.tol, random_state=self.random_state).fit(X)
        self.cluster_centers_ = km.cluster_centers_.astype(np.float64)
        self.labels_ = km.labels_
        self.inertia_ = float(km.inertia_)
        self.n_iter_ = int(km.n_iter_)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Nearest-centre labels 0..K-1 for samples ``(n, features)``."""
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError("this KMeans is not fitted yet; call fit() first.")
        return nearest_center(np.asarray(X), self.cluster_centers_)
