"""Shared helpers of the centroid clusterers: parameter checks, chunked distances, seeding.

Everything here is private to :mod:`geouic.cluster`. The distance kernels follow the
scikit-learn recipe: the squared Euclidean distance ``||x||² - 2x·c + ||c||²`` costs one matrix
product per chunk of at most :data:`CHUNK_ROWS` rows, so memory stays bounded whatever the
number of pixels, and float32 input stays float32 inside the product.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from geouic.errors import GeouicError, ModelError, NotFittedError, ParameterError

__all__ = [
    "CHUNK_ROWS",
    "CentroidPredictMixin",
    "DataTypeError",
    "EstimatorNotFittedError",
    "check_choice",
    "check_data",
    "check_fitted",
    "check_float",
    "check_int",
    "check_seed",
    "iter_chunks",
    "kmeans_plusplus",
    "nearest_center",
    "sq_distances",
]

#: Rows per chunk in predict and in the distance kernels (``65536 x k`` distances at a time).
CHUNK_ROWS = 65536


# ---------------------------------------------------------------------------- parameter checks
def check_int(name: str, value: object, *, low: int, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]`` or raise :class:`ParameterError`."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        v = int(value)
        if low <= v and (high is None or v <= high):
            return v
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
    raise ParameterError(f"{name}={value!r} is invalid: must be an integer {allowed}.", params=(name,))


def check_float(
    name: str,
    value: object,
    *,
    low: float,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    """Return ``value`` as a finite float in ``[low, high]`` (``(low, high]`` if ``low_open``)."""
    is_real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    v = float(value) if isinstance(value, numbers.Real) and is_real else float("nan")
    above = v > low if low_open else v >= low
    if np.isfinite(v) and above and (high is None or v <= high):
        return v
    left = "(" if low_open else "["
    allowed = f"{'>' if low_open else '>='} {low}" if high is None else f"in {left}{low}, {high}]"
    raise ParameterError(f"{name}={value!r} is invalid: must be a number {allowed}.", params=(name,))


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices`` or raise :class:`ParameterError`."""
    if isinstance(value, str) and value in choices:
        return value
    raise ParameterError(f"{name}={value!r} is invalid: must be one of {', '.join(choices)}.", params=(name,))


def check_seed(random_state: object) -> np.random.RandomState:
    """Turn ``random_state`` (None, int >= 0 or a RandomState) into a RandomState."""
    is_int = (isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
              and 0 <= int(random_state) < 2**32)
    if random_state is None or is_int or isinstance(random_state, np.random.RandomState):
        return check_random_state(random_state)
    raise ParameterError(
        f"random_state={random_state!r} is invalid: must be None or an integer in [0, 2**32 - 1].",
        params=("random_state",),
    )


class EstimatorNotFittedError(NotFittedError, SklearnNotFittedError):
    """An estimator used before ``fit``: geouic's :class:`~geouic.errors.NotFittedError` and scikit-learn's.

    Deriving from both lets ``except geouic.errors.NotFittedError`` and scikit-learn's own
    checks (``check_is_fitted``, ``check_estimators_unfitted``) catch it.
    """


class DataTypeError(ParameterError, TypeError):
    """Input data of a type that cannot become numbers (a ``ParameterError`` and a ``TypeError``)."""


def check_fitted(estimator: Any, attributes: str | Sequence[str] | None = None) -> None:
    """Raise :class:`EstimatorNotFittedError` unless ``estimator`` was fitted (or loaded)."""
    try:
        check_is_fitted(estimator, attributes)
    except SklearnNotFittedError:
        name = type(estimator).__name__
        raise EstimatorNotFittedError(f"This {name} is not fitted yet; call fit() before using it.") from None


def check_data(X: object, *, who: str, estimator: Any = None, reset: bool = True,
               n_features: int | None = None) -> np.ndarray:
    """Return ``X`` as a finite 2-D float32/float64 array (other numbers become float64).

    Validation is scikit-learn's (:func:`sklearn.utils.validation.validate_data`, so sparse,
    complex, empty, 1-D and non-numeric input fail with the messages its estimator checks
    expect, and ``n_features_in_`` is set on ``fit`` (``reset=True``) and checked on predict);
    errors are re-raised as :class:`~geouic.errors.ParameterError` (a ``ValueError``) naming
    ``who``. ``n_features`` checks the width against a model loaded from a file, which carries
    no ``n_features_in_``.
    """
    try:
        if estimator is not None:
            arr = validate_data(estimator, X, reset=reset, dtype=[np.float64, np.float32])
        else:
            arr = check_array(X, dtype=[np.float64, np.float32])
    except (TypeError, ValueError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "NaN" in text or "infinity" in text:
            text = "X contains NaN or infinite values; mask nodata pixels before clustering or classifying."
        elif text.startswith("Expected 2D array"):
            text = (f"Expected 2D array, got X of shape {getattr(X, 'shape', '?')}. Reshape your data to (n_samples, "
                    "n_features) pixels (geouic.raster.to_samples turns a (bands, rows, cols) block into them).")
        error: type[GeouicError] = ParameterError
        if isinstance(exc, TypeError):
            error = DataTypeError
        elif "features" in text and "expecting" in text:
            error = ModelError
            text = text.rstrip(".") + _SAME_BANDS
        raise error(f"{who}: {text}") from None
    if n_features is not None and arr.shape[1] != n_features:
        name = type(estimator).__name__ if estimator is not None else "the model"
        raise ModelError(f"{who}: X has {arr.shape[1]} features, but {name} is expecting {n_features} "
                         f"features as input{_SAME_BANDS}")
    return arr


_SAME_BANDS = "; pass the same bands, in the same order, as in fit."


# ------------------------------------------------------------------------------ distance kernels
def iter_chunks(n: int, size: int | None = None) -> Iterator[slice]:
    """Yield consecutive row slices of at most ``size`` (default :data:`CHUNK_ROWS`) rows."""
    size = CHUNK_ROWS if size is None else size
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def sq_distances(
    X: np.ndarray, centers: np.ndarray, x_sq: np.ndarray | None = None
) -> np.ndarray:
    """Squared Euclidean distances ``(n, k)`` in ``X.dtype``, clipped at 0 against round-off.

    Computed as ``||x||² - 2x·c + ||c||²``: one matrix product, no ``(n, k, d)`` temporary.
    ``x_sq`` may pass precomputed row norms ``||x||²``. Call it on one chunk at a time.
    """
    C = centers.astype(X.dtype, copy=False)
    d2 = X @ C.T
    d2 *= -2
    d2 += (np.einsum("ij,ij->i", X, X) if x_sq is None else x_sq)[:, None]
    d2 += np.einsum("ij,ij->i", C, C)[None, :]
    return np.maximum(d2, 0, out=d2)


def nearest_center(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for every row of ``X``, as int32, chunk by chunk.

    ``||x||²`` is the same for every centre, so the argmin only needs ``||c||² - 2x·c``:
    one matrix product per chunk, and no loss of float32 precision to a large common term.
    """
    C = centers.astype(X.dtype, copy=False)
    c_sq = np.einsum("ij,ij->i", C, C)
    labels = np.empty(X.shape[0], dtype=np.int32)
    for rows in iter_chunks(X.shape[0]):
        score = X[rows] @ C.T
        score *= -2
        score += c_sq
        labels[rows] = np.argmin(score, axis=1)
    return labels


def kmeans_plusplus(X: np.ndarray, k: int, rng: np.random.RandomState) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, as in scikit-learn).

    Each new centre is the best, by remaining potential, of ``2 + ln(k)`` candidates drawn with
    probability proportional to the squared distance to the nearest centre so far.

    Returns
    -------
    numpy.ndarray
        ``(k, n_features)`` float64 centres, each a row of ``X``.
    """
    n = X.shape[0]
    n_trials = 2 + int(np.log(k))
    x_sq = np.einsum("ij,ij->i", X, X)
    centers = np.empty((k, X.shape[1]), dtype=np.float64)
    centers[0] = X[rng.randint(n)]
    closest = sq_distances(X, centers[:1], x_sq)[:, 0].astype(np.float64)
    for c in range(1, k):
        potential = closest.sum()
        if potential > 0:
            draws = rng.uniform(size=n_trials) * potential
            cand = np.minimum(np.searchsorted(np.cumsum(closest), draws), n - 1)
        else:  # every sample sits on a centre already: duplicates are unavoidable
            cand = rng.randint(n, size=n_trials)
        d_cand = sq_distances(X, X[cand], x_sq).astype(np.float64)
        np.minimum(d_cand, closest[:, None], out=d_cand)
        best = int(np.argmin(d_cand.sum(axis=0)))
        centers[c] = X[cand[best]]
        closest = d_cand[:, best]
    return centers


# ----------------------------------------------------------------------------- predict mixin
class CentroidPredictMixin:
    """``predict`` by nearest centre for estimators whose only state is ``cluster_centers_``."""

    cluster_centers_: np.ndarray

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "cluster_centers_", None) is not None

    def _fitted_centers(self) -> np.ndarray:
        check_fitted(self, "cluster_centers_")
        return np.asarray(self.cluster_centers_, dtype=np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Label each sample with its nearest cluster centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Normalised pixels; float32 stays float32 in the distance product.

        Returns
        -------
        numpy.ndarray of shape (n_samples,), int32
            Cluster indices ``0 .. n_clusters_ - 1``.
        """
        centers = self._fitted_centers()
        X = check_data(X, who=f"{type(self).__name__}.predict", estimator=self, reset=False,
                       n_features=centers.shape[1])
        return nearest_center(X, centers)
