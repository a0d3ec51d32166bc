"""The one protocol every classification engine follows, and the adapter for pixel-wise estimators.

The raster pipeline needs only three things of an engine: ``fit(sources)``, which draws its
own sample through :mod:`geouic.sampling`; ``predict_block(data, valid)``, which labels one
window; and ``halo``, the context pixels a spatial model needs around a window (0 for
pixel-wise engines). Labels are 1..K, with 0 for nodata or unclassified pixels.

Pixel-wise scikit-learn estimators (k-means, ISODATA, fuzzy c-means, maximum likelihood) are
wrapped once by :class:`PixelEngine`; the UIC engine implements the protocol directly.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from geouic._threads import single_threaded_blas
from geouic.errors import ModelError, NotFittedError, ParameterError
from geouic.methods import DEFAULT_SAMPLE_SIZE, MAX_CLASSES, REGISTRY, check_common, get_method
from geouic.raster import RasterSource, from_samples, to_samples
from geouic.sampling import Normalizer, sample_labelled, sample_pixels

__all__ = [
    "Engine",
    "PixelEngine",
    "ESTIMATORS",
    "ENGINES",
    "METHODS",
    "SUPERVISED",
    "make_engine",
    "engine_from_state",
    "MAX_CLASSES",
]

logger = logging.getLogger(__name__)

# Views of the method registry (geouic.methods), kept for code that read these tables.
#: Pixel-wise estimators by method name: "module:Class", imported on use.
ESTIMATORS: dict[str, str] = {n: s.factory for n, s in REGISTRY.items() if s.pixelwise}
#: Engines that implement the protocol themselves (imported on use: they may need torch).
ENGINES: dict[str, str] = {n: s.factory for n, s in REGISTRY.items() if not s.pixelwise}
#: Every method name `geouic classify --method` accepts.
METHODS: tuple[str, ...] = tuple(REGISTRY)
#: Methods that learn from training data instead of clustering.
SUPERVISED = frozenset(n for n, s in REGISTRY.items() if s.supervised)


class Engine(ABC):
    """Base class of classification engines.

    Attributes set by ``fit`` (or loading a model)
    ---------------------------------------------
    n_classes_ : int
        Number of output classes K (labels 1..K).
    band_names_ : list of str
        Names of the bands the engine was trained on.
    class_names_ : dict of int to str
        Optional names per class label (e.g. training class names).
    """

    #: Method name, as in ``--method``.
    method: str = ""
    #: Context pixels needed around each window.
    halo: int = 0
    #: Extra per-pixel outputs the engine can produce.
    extra_outputs: frozenset[str] = frozenset()
    #: Whether ``fit`` needs training labels.
    supervised: bool = False

    # Set by ``fit`` or loading (declared for type checkers; absent until then).
    n_classes_: int
    band_names_: list[str]
    class_names_: dict[int, str]

    @abstractmethod
    def fit(self, sources: Sequence[RasterSource], *, training: Any = None,
            progress: Callable[..., None] | None = None, mem_limit_mb: float | None = None) -> Engine:
        """Learn from one or several scenes; return self.

        ``progress(advance, total, note)``, when given, is told of long fitting work as it goes
        (UIC: one step per training epoch of each member, with a note naming member, epoch and
        NMI); engines that fit in seconds may never call it. ``mem_limit_mb`` is the working
        memory the fit may use (``--mem-limit``; ``None``: the engine's default): UIC sizes its
        training pool and work chunks from it; engines whose fit holds only a bounded pixel
        sample ignore it. :func:`geouic.pipeline.fit_engine` passes it only to engines whose
        ``fit`` takes it, so an engine written without it keeps working.
        """

    @abstractmethod
    def predict_block(self, data: np.ndarray, valid: np.ndarray, *,
                      outputs: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
        """Label one window.

        Parameters
        ----------
        data : ndarray of shape (bands, rows, cols), float32
            Raw band values as read (not normalised).
        valid : ndarray of shape (rows, cols), bool
        outputs : set of str
            Extras wanted among :attr:`extra_outputs` (``"confidence"``, ``"entropy"``,
            ``"memberships"``).

        Returns
        -------
        dict
            ``"labels"``: (rows, cols) uint16, 1..K, 0 where invalid or unclassified; plus one
            entry per requested extra: (rows, cols) float32, or (K, rows, cols) float32.
        """

    @abstractmethod
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able metadata and named arrays that rebuild the fitted engine."""

    @classmethod
    @abstractmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Engine:
        """Rebuild a fitted engine from :meth:`get_state` output."""

    def describe(self) -> dict[str, Any]:
        """Method and parameters, for provenance tags and logs."""
        return {"method": self.method}

    def bytes_per_pixel(self, n_bands: int) -> int:
        """Memory one pixel of a window costs while predicting, temporaries included.

        The default fits pixel-wise engines: the raw read, masks, float32 copies (raw,
        normalised, transposed samples) and labels. Spatial engines override it.
        """
        return 4 * n_bands * 4 + n_bands + 24

    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError` unless the engine was fitted or loaded."""
        if not hasattr(self, "n_classes_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() first.")

    def check_bands(self, source: RasterSource) -> None:
        """Refuse a scene whose band count differs from the training bands."""
        self.check_fitted()
        if source.count != len(self.band_names_):
            raise ModelError(
                f"{source.path} is a {source.count}-band scene ({', '.join(source.band_names)}) but the "
                f"model was trained on {len(self.band_names_)} ({', '.join(self.band_names_)}); "
                "select the matching ones with bands, or retrain.",
                params=("bands",),
            )


class PixelEngine(Engine):
    """Adapter that runs a pixel-wise scikit-learn estimator over rasters.

    Parameters
    ----------
    method : str
        Key of :data:`ESTIMATORS`.
    estimator : estimator
        Unfitted estimator with ``fit(X[, y])`` and ``predict(X)``; ``predict_proba`` is used
        for memberships and confidence when present.
    sample_size : int, default=100_000
        Pixels drawn for fitting an unsupervised estimator.
    max_per_class : int, default=100_000
        Training pixels kept per class for a supervised estimator.
    normalize : {"zscore", "robust", "none"}, default="zscore"
    seed : int, optional
    """

    halo = 0

    def __init__(self, method: str, estimator: Any, *, sample_size: int = DEFAULT_SAMPLE_SIZE,
                 max_per_class: int = 100_000, normalize: str = "zscore", seed: int | None = None):
        self.method = method
        self.estimator = estimator
        self.sample_size = sample_size
        self.max_per_class = max_per_class
        self.normalize = normalize
        self.seed = seed
        self.supervised = get_method(method).supervised
        has_proba = hasattr(estimator, "predict_proba")
        self.extra_outputs = frozenset({"confidence", "entropy", "memberships"} if has_proba else {"confidence"})

    # -- fitting --------------------------------------------------------------------------
    def fit(self, sources: Sequence[RasterSource], *, training: Any = None,
            progress: Callable[..., None] | None = None, mem_limit_mb: float | None = None) -> PixelEngine:
        """Fit the normaliser and the estimator on a bounded sample of the scenes.

        Parameters
        ----------
        sources : sequence of RasterSource
        training : ReferenceData, optional
            Labels on the grid of ``sources[0]`` (required for supervised methods); anything
            with ``read(window) -> (rows, cols) int`` and optional ``names`` works.
        progress : callable, optional
            Not called: a pixel engine fits on a bounded sample in seconds.
        mem_limit_mb : float, optional
            Ignored: the fit holds only the pixel sample (``sample_size`` pixels).
        """
        if isinstance(sources, RasterSource):
            sources = [sources]
        if self.supervised:
            if training is None:
                raise ParameterError(f"method {self.method!r} needs training data (training).",
                                     params=("training",))
            X, y = sample_labelled(sources[0], training.read, max_per_class=self.max_per_class, seed=self.seed)
        else:
            X, y = sample_pixels(sources, self.sample_size, seed=self.seed), None
        self.normalizer_ = Normalizer(self.normalize).fit(X)
        Xn = self.normalizer_.transform(X)
        logger.info("fitting %s on %d pixels x %d bands", self.method, *Xn.shape)
        with single_threaded_blas():
            self._fit_estimator(Xn, y, sources, training)
        self.band_names_ = list(sources[0].band_names)
        return self

    def _fit_estimator(self, Xn: np.ndarray, y: np.ndarray | None, sources: Sequence[RasterSource],
                       training: Any) -> None:
        if self.supervised:
            self.estimator.fit(Xn, y)
            self._finish_supervised(training)
        else:
            n = getattr(self.estimator, "n_clusters", 2)
            if len(Xn) < n:
                raise ParameterError(
                    f"{sources[0].path}: only {len(Xn)} valid pixels for {n} classes; "
                    "lower n_classes or check the nodata value.",
                    params=("n_classes",),
                )
            self.estimator.fit(Xn)
            self._finish_unsupervised()

    def _finish_unsupervised(self) -> None:
        """Number classes 1..K from dark to bright so maps look alike from run to run."""
        centers = np.asarray(self.estimator.cluster_centers_)
        order = np.argsort(centers.mean(axis=1), kind="stable")
        self.lut_ = np.zeros(len(centers), dtype=np.uint16)
        self.lut_[order] = np.arange(1, len(centers) + 1, dtype=np.uint16)
        self.n_classes_ = len(centers)
        self.class_names_ = {}

    def _finish_supervised(self, training: Any) -> None:
        classes = np.asarray(self.estimator.classes_)
        # Classifiers predict class codes themselves (0 = rejected); codes are the labels.
        self.lut_ = np.zeros(0, dtype=np.uint16)
        self.n_classes_ = int(classes.max())
        names = getattr(training, "names", None) or {}
        self.class_names_ = {int(c): str(names.get(int(c), c)) for c in classes}

    # -- prediction ------------------------------------------------------------------------
    def _labels(self, raw: np.ndarray) -> np.ndarray:
        if self.lut_.size:
            return self.lut_[raw]
        return raw.astype(np.uint16)

    def predict_block(self, data: np.ndarray, valid: np.ndarray, *,
                      outputs: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
        """Label the valid pixels of one window (see :meth:`Engine.predict_block`)."""
        self.check_fitted()
        result: dict[str, np.ndarray] = {}
        X = self.normalizer_.transform(to_samples(data, valid))
        if not len(X):
            result["labels"] = np.zeros(valid.shape, np.uint16)
            for name in outputs:
                shape = (self.n_classes_,) + valid.shape if name == "memberships" else valid.shape
                result[name] = np.zeros(shape, np.float32)
            return result
        proba = None
        if outputs and hasattr(self.estimator, "predict_proba"):
            proba = np.asarray(self.estimator.predict_proba(X), dtype=np.float32)
        raw = self.estimator.predict(X)
        result["labels"] = from_samples(self._labels(np.asarray(raw)), valid, 0)
        if "memberships" in outputs and proba is not None:
            result["memberships"] = from_samples(self._ordered_proba(proba), valid, 0)
        if "confidence" in outputs:
            conf = proba.max(axis=1) if proba is not None else self._distance_confidence(X)
            result["confidence"] = from_samples(conf.astype(np.float32), valid, 0)
        if "entropy" in outputs and proba is not None:
            p = np.clip(proba, 1e-12, 1.0)
            result["entropy"] = from_samples((-(p * np.log(p)).sum(axis=1)).astype(np.float32), valid, 0)
        return result

    def _ordered_proba(self, proba: np.ndarray) -> np.ndarray:
        """Columns of ``proba`` in output-class order (band k = class k+1)."""
        if self.lut_.size:
            out = np.empty_like(proba)
            out[:, self.lut_.astype(np.intp) - 1] = proba
            return out
        out = np.zeros((len(proba), self.n_classes_), np.float32)
        out[:, np.asarray(self.estimator.classes_) - 1] = proba
        return out

    def _distance_confidence(self, X: np.ndarray) -> np.ndarray:
        """For hard clusterers: 1 - d1/d2 (0 on a boundary between two centres, 1 on a centre)."""
        c = np.asarray(self.estimator.cluster_centers_, np.float32)
        d = (X * X).sum(1)[:, None] - 2 * X @ c.T + (c * c).sum(1)[None]
        d = np.sqrt(np.maximum(d, 0))
        two = np.partition(d, 1, axis=1)[:, :2] if d.shape[1] > 1 else np.concatenate([d, d + 1], 1)
        return 1.0 - two[:, 0] / np.maximum(two[:, 1], 1e-12)

    # -- state -----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Method, estimator parameters, sampling and seed."""
        return {
            "method": self.method,
            "params": _jsonable(self.estimator.get_params()),
            "sample_size": self.sample_size,
            "normalize": self.normalize,
            "seed": self.seed,
        }

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Method, parameters, normaliser, bands and classes; arrays of the estimator's state."""
        self.check_fitted()
        norm_meta, norm_arrays = self.normalizer_.get_state()
        meta = {
            "engine": "pixel",
            **self.describe(),
            "normalizer": norm_meta,
            "band_names": self.band_names_,
            "n_classes": self.n_classes_,
            "class_names": {str(k): v for k, v in self.class_names_.items()},
        }
        arrays = {f"norm.{k}": v for k, v in norm_arrays.items()}
        arrays["lut"] = self.lut_
        for attr in type(self.estimator)._state_attrs:
            arrays[f"est.{attr}"] = np.asarray(getattr(self.estimator, attr))
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> PixelEngine:
        """Rebuild a fitted pixel engine from :meth:`get_state` output.

        Raises
        ------
        ModelError
            The method is not a registered pixel-wise method.
        """
        method = meta["method"]
        spec = REGISTRY.get(method)
        if spec is None or not spec.pixelwise:
            raise ModelError(f"unknown method {method!r} in the model file; it may come from a newer geouic.")
        est_cls = spec.load()
        estimator = est_cls(**meta["params"])
        for attr in est_cls._state_attrs:
            setattr(estimator, attr, arrays[f"est.{attr}"])
        engine = cls(method, estimator, sample_size=meta.get("sample_size", DEFAULT_SAMPLE_SIZE),
                     normalize=meta["normalizer"]["method"], seed=meta.get("seed"))
        engine.normalizer_ = Normalizer.from_state(
            meta["normalizer"], {"center": arrays["norm.center"], "scale": arrays["norm.scale"]}
        )
        engine.lut_ = np.asarray(arrays["lut"], np.uint16)
        engine.band_names_ = list(meta["band_names"])
        engine.n_classes_ = int(meta["n_classes"])
        engine.class_names_ = {int(k): v for k, v in meta.get("class_names", {}).items()}
        return engine


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def make_engine(method: str, *, n_classes: int | None = None, seed: int | None = None,
                sample_size: int = DEFAULT_SAMPLE_SIZE, normalize: str = "zscore", **params: Any) -> Engine:
    """Build an unfitted engine by method name, from the method registry.

    Every common parameter a method takes reaches it (see :mod:`geouic.methods`); one it does
    not take is an error, never silently dropped.

    Parameters
    ----------
    method : {"uic", "kmeans", "isodata", "fcm", "mlc"}
    n_classes : int, optional
        Number of classes K, 2..65535 (required by the clustering methods and ``uic``; ``mlc``
        takes its classes from the training data and refuses it).
    seed : int, optional
        Seeds sampling and the method's own randomness (``None``: the method's default).
    sample_size : int, default=100_000
        Pixels drawn for fitting (supervised methods keep up to ``max_per_class`` training
        pixels per class instead).
    normalize : {"zscore", "robust", "none"}, default="zscore"
    **params
        The method's own parameters, named as its estimator or engine names them (e.g.
        ``max_iter``, ``min_class_size`` for ISODATA, ``m`` for fuzzy c-means, ``reject`` and
        ``priors`` for maximum likelihood, ``epochs`` for UIC); see
        :data:`geouic.methods.REGISTRY`.

    Returns
    -------
    Engine

    Raises
    ------
    ParameterError
        Unknown method, a common parameter that is invalid or does not apply to the method,
        or a parameter the method does not take.
    """
    spec = get_method(method)
    common = check_common(spec, {"n_classes": n_classes, "seed": seed, "sample_size": sample_size,
                                 "normalize": normalize})
    spec.check_params(params)
    kwargs = {spec.forward[name]: value for name, value in common.items() if name in spec.forward}
    factory = spec.load()
    if not spec.pixelwise:
        return factory(**kwargs, **params)
    return PixelEngine(spec.name, factory(**kwargs, **params), sample_size=common["sample_size"],
                       normalize=common["normalize"], seed=common.get("seed"))


def engine_from_state(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Engine:
    """Rebuild any engine from a model file's metadata and arrays.

    Raises
    ------
    ModelError
        The metadata names an engine this geouic does not know.
    """
    kind = meta.get("engine")
    if kind == "pixel":
        return PixelEngine.from_state(meta, arrays)
    spec = REGISTRY.get(kind) if isinstance(kind, str) else None
    if spec is not None and not spec.pixelwise:
        return spec.load().from_state(meta, arrays)
    raise ModelError(f"unknown engine {kind!r} in the model file; it may come from a newer geouic.")
