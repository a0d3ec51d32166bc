"""``fit``/``predict`` on rasters held in memory: a thin estimator over any engine (UIC by default).

:class:`RasterClassifier` takes ``(bands, rows, cols)`` arrays and DataArrays (or lists of them
for ``fit``) where the scikit-learn estimators take pixel tables: spatial engines such as UIC
need the image, not a shuffled table of its pixels. It builds the engine through the registry,
fits it with :func:`geouic.api.train` and predicts with :func:`geouic.api.predict`, so
normalisation, class order, halo and windows are those of the CLI. The UIC engine itself is
:class:`geouic.uic.UICEngine`; this module imports torch only when a UIC engine is fitted.
"""

from __future__ import annotations

import os
from typing import Any

from sklearn.base import BaseEstimator, ClusterMixin

from geouic.api._scenes import DEFAULT_N_CLASSES, make, predict, train
from geouic.engine import Engine
from geouic.errors import NotFittedError

__all__ = ["RasterClassifier"]


class RasterClassifier(ClusterMixin, BaseEstimator):
    """An engine (default: UIC) with ``fit(X)`` / ``predict(X)`` on images, not pixel tables.

    Parameters
    ----------
    method : {"uic", "kmeans", "isodata", "fcm"}, default="uic"
        The unsupervised method.
    n_classes : int, default=12
    seed : int, default=0
    params : dict, optional
        The method's own parameters (for UIC the fields of :class:`geouic.uic.UICConfig`:
        ``epochs``, ``members``, ``device``, ...).

    Attributes
    ----------
    engine_ : Engine
        The fitted engine (save it with :func:`geouic.model.save_model`).
    n_classes_ : int
    labels_ : ndarray or DataArray
        The classes of the (first) image given to ``fit`` (from :meth:`fit_predict` or ``fit``).

    Examples
    --------
    >>> import numpy as np
    >>> image = np.stack([np.repeat([[10.0, 10, 90, 90]], 4, axis=0)] * 2)   # (bands, rows, cols)
    >>> RasterClassifier("kmeans", n_classes=2).fit(image).predict(image).tolist()[0]
    [1, 1, 2, 2]
    """

    def __init__(self, method: str = "uic", n_classes: int = DEFAULT_N_CLASSES, *, seed: int | None = 0,
                 params: dict[str, Any] | None = None) -> None:
        self.method = method
        self.n_classes = n_classes
        self.seed = seed
        self.params = params

    def fit(self, X: Any, y: None = None, **kwargs: Any) -> RasterClassifier:
        """Fit on one image or a list of images with the same bands.

        Parameters
        ----------
        X : ndarray (bands, rows, cols), DataArray (band, y, x), path, or a list of them
        y : None
            Ignored (unsupervised).
        **kwargs
            Passed to :func:`geouic.api.train` (``bands``, ``nodata``, ``transform``, ``crs``, ``progress``).

        Returns
        -------
        RasterClassifier
        """
        engine: Engine = make(self.method, n_classes=self.n_classes, seed=self.seed, **(self.params or {}))
        self.engine_ = train(X, engine=engine, **kwargs)
        self.n_classes_ = self.engine_.n_classes_
        return self

    def predict(self, X: Any, **kwargs: Any) -> Any:
        """Classes of an image: 0 = nodata, 1..K.

        Parameters
        ----------
        X : ndarray (bands, rows, cols), DataArray (band, y, x) or path
            With the bands of ``fit``.
        **kwargs
            Passed to :func:`geouic.api.predict` (``output`` is required for a path).

        Returns
        -------
        ndarray (rows, cols), DataArray (y, x) or MapResult
            The kind of ``X``.
        """
        if not hasattr(self, "engine_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first.")
        return predict(self.engine_, X, **kwargs)

    def fit_predict(self, X: Any, y: None = None, **kwargs: Any) -> Any:
        """Fit on ``X`` (one image) and return its classes (see :meth:`predict`)."""
        self.labels_ = self.fit(X, **kwargs).predict(X)
        return self.labels_

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Any:
        """Write the fitted engine to a ``.geouic`` model file (:func:`geouic.model.save_model`)."""
        from geouic.model import save_model

        if not hasattr(self, "engine_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first.")
        return save_model(self.engine_, path, overwrite=overwrite)
