"""Preprocessing of band values before an engine sees them: per-band normalisation.

:class:`Normalizer` is fitted on a bounded sample of valid pixels (:mod:`geouic.sampling`) and
stored in every model file, so a model applies the same scaling to every scene. (UIC's PCA first
stage, :class:`geouic.uic.data.Projection`, builds on it.)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from geouic.errors import ParameterError

__all__ = ["Normalizer"]


class Normalizer:
    """Per-band normalisation fitted on valid pixels and stored with every model.

    Parameters
    ----------
    method : {"zscore", "robust", "none"}, default="zscore"
        ``zscore``: subtract the mean, divide by the standard deviation. ``robust``: subtract
        the median, divide by the 2-98 percentile range / 4 (resists clouds and saturation).
        ``none``: leave values as they are.

    Attributes
    ----------
    center_ : ndarray of shape (bands,)
    scale_ : ndarray of shape (bands,)
    """

    METHODS = ("zscore", "robust", "none")

    def __init__(self, method: str = "zscore"):
        self.method = method

    def fit(self, X: np.ndarray) -> Normalizer:
        """Learn the statistics from samples ``(n, bands)``."""
        if self.method not in self.METHODS:
            raise ParameterError(
                f"normalize={self.method!r} is invalid: choose one of {', '.join(self.METHODS)}.",
                params=("normalize",),
            )
        X = np.asarray(X, dtype=np.float64)
        if self.method == "zscore":
            center, scale = X.mean(axis=0), X.std(axis=0)
        elif self.method == "robust":
            lo, med, hi = np.percentile(X, [2, 50, 98], axis=0)
            center, scale = med, (hi - lo) / 4.0
        else:
            center, scale = np.zeros(X.shape[1]), np.ones(X.shape[1])
        scale = np.where(scale > 1e-12, scale, 1.0)
        self.center_, self.scale_ = center.astype(np.float32), scale.astype(np.float32)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Normalise samples ``(n, bands)``."""
        return ((X - self.center_) / self.scale_).astype(np.float32, copy=False)

    def transform_block(self, data: np.ndarray) -> np.ndarray:
        """Normalise a raster block ``(bands, rows, cols)``."""
        return ((data - self.center_[:, None, None]) / self.scale_[:, None, None]).astype(np.float32, copy=False)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Metadata and arrays to store in a model file."""
        return {"method": self.method}, {"center": self.center_, "scale": self.scale_}

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Normalizer:
        """Rebuild from :meth:`get_state` output."""
        obj = cls(meta["method"])
        obj.center_ = np.asarray(arrays["center"], np.float32)
        obj.scale_ = np.asarray(arrays["scale"], np.float32)
        return obj
