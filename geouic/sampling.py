"""Bounded pixel samples drawn window by window, and per-band statistics.

Fitting never reads a whole scene: :func:`sample_pixels` reads randomly chosen blocks (each a
few tens of thousands of pixels, spread over the scene) until it holds enough valid pixels, then
keeps a uniform random subset of them. Memory is bounded by the sample size, not the scene.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from rasterio.windows import Window

from geouic.errors import ParameterError, RasterInputError, ReferenceDataError
from geouic.raster import RasterSource, in_gdal_env, to_samples

__all__ = [
    "sample_pixels",
    "sample_labelled",
    "sampling_units",
    "Normalizer",
]

logger = logging.getLogger(__name__)

#: Pixels a sampling unit aims at (whole blocks are grouped up to about this size).
UNIT_PIXELS = 16384
#: Valid pixels read per sample pixel kept, so the kept sample is spread over many blocks.
OVERSAMPLE = 4
#: Fewest units read (when the scene has them), so even a small sample covers the scene.
MIN_UNITS = 16


def sampling_units(source: RasterSource, unit_pixels: int = UNIT_PIXELS) -> list[Window]:
    """Split a scene into block-aligned units of about ``unit_pixels`` pixels."""
    bh, bw = source.block_shape
    bh, bw = max(1, min(bh, source.height)), max(1, min(bw, source.width))
    if bw >= source.width:  # strips: group rows
        rows = max(bh, (max(1, unit_pixels // source.width) // bh) * bh)
        cols = source.width
    else:
        per = max(1, int(math.sqrt(unit_pixels / (bh * bw))))
        rows, cols = bh * per, bw * per
    return [
        Window(c, r, min(cols, source.width - c), min(rows, source.height - r))
        for r in range(0, source.height, rows)
        for c in range(0, source.width, cols)
    ]


class _Reservoir:
    """Keep the ``n`` items with the smallest random keys: a uniform sample without replacement."""

    def __init__(self, n: int):
        self.n = n
        self.keys = np.empty(0)
        self.items: list[np.ndarray] = []
        self.parts: list[tuple[np.ndarray, list[np.ndarray]]] = []
        self.size = 0

    def add(self, keys: np.ndarray, *items: np.ndarray) -> None:
        if len(keys) > self.n:
            keep = np.argpartition(keys, self.n - 1)[: self.n]
            keys, items = keys[keep], tuple(a[keep] for a in items)
        self.parts.append((keys, list(items)))
        self.size += len(keys)
        if self.size > 2 * self.n:
            self._prune()

    def _prune(self) -> None:
        if not self.parts:
            return
        keys = np.concatenate([k for k, _ in self.parts])
        items = [np.concatenate([p[1][i] for p in self.parts]) for i in range(len(self.parts[0][1]))]
        if len(keys) > self.n:
            keep = np.sort(np.argpartition(keys, self.n - 1)[: self.n])
            keys, items = keys[keep], [a[keep] for a in items]
        self.parts = [(keys, items)]
        self.size = len(keys)

    def result(self) -> list[np.ndarray]:
        self._prune()
        return self.parts[0][1] if self.parts else []


def _allocate(total: int, weights: Sequence[int]) -> list[int]:
    weights = np.asarray(weights, dtype=float)
    share = np.floor(total * weights / weights.sum()).astype(int)
    share[np.argmax(weights)] += total - share.sum()
    return share.tolist()


@in_gdal_env
def sample_pixels(sources: RasterSource | Sequence[RasterSource], n: int, *,
                  seed: int | None = None) -> np.ndarray:
    """Draw a uniform random sample of valid pixels, reading only part of the scene.

    Parameters
    ----------
    sources : RasterSource or sequence of RasterSource
        One or several scenes with the same bands; the sample is split in proportion to
        their sizes.
    n : int
        Number of pixels wanted (fewer are returned when the scenes hold fewer valid ones).
    seed : int, optional
        Makes the sample reproducible.

    Returns
    -------
    ndarray of shape (n_samples, bands), float32

    Raises
    ------
    RasterInputError
        A scene holds no valid pixel.
    """
    if n < 1:
        raise ParameterError(f"sample_size={n} is invalid: must be >= 1.")
    if isinstance(sources, RasterSource):
        sources = [sources]
    rng = np.random.default_rng(seed)
    shares = _allocate(n, [s.width * s.height for s in sources])
    parts = [_sample_one(s, max(1, k), rng) for s, k in zip(sources, shares)]
    return np.concatenate(parts)


def _sample_one(source: RasterSource, n: int, rng: np.random.Generator) -> np.ndarray:
    units = sampling_units(source)
    order = rng.permutation(len(units))
    reservoir = _Reservoir(n)
    n_valid = 0
    for n_read, i in enumerate(order, 1):
        data, valid = source.read(units[i])
        count = int(valid.sum())
        if count:
            reservoir.add(rng.random(count), to_samples(data, valid))
            n_valid += count
        if n_valid >= OVERSAMPLE * n and n_read >= MIN_UNITS:
            break
    if n_valid == 0:
        raise RasterInputError(
            f"{source.path}: every pixel is nodata (nodata={source.nodata}); check the nodata "
            "value, the band selection (--bands) or the file."
        )
    (sample,) = reservoir.result()
    logger.debug("%s: sampled %d of %d valid pixels read", source.path, len(sample), n_valid)
    return sample


@in_gdal_env
def sample_labelled(source: RasterSource, read_labels: Callable[[Window], np.ndarray], *,
                    max_per_class: int = 100_000, seed: int | None = None,
                    mem_limit_mb: float = 64) -> tuple[np.ndarray, np.ndarray]:
    """Collect valid pixels that carry a label, at most ``max_per_class`` per class.

    Parameters
    ----------
    source : RasterSource
    read_labels : callable
        ``read_labels(window) -> (rows, cols) int`` labels on the scene grid, 0 = none
        (for example :meth:`geouic.reference.ReferenceData.read`).
    max_per_class : int, default=100_000
        Uniform random subset kept per class when a class has more labelled pixels.
    seed : int, optional
    mem_limit_mb : float, default=64

    Returns
    -------
    X : ndarray of shape (n, bands), float32
    y : ndarray of shape (n,), int32

    Raises
    ------
    ReferenceDataError
        No valid pixel carries a label.
    """
    rng = np.random.default_rng(seed)
    reservoirs: dict[int, _Reservoir] = {}
    for pair in source.windows(mem_limit_mb=mem_limit_mb):
        labels = np.asarray(read_labels(pair.core))
        if not labels.any():
            continue
        data, valid = source.read(pair.core)
        keep = valid & (labels > 0)
        if not keep.any():
            continue
        X, y = to_samples(data, keep), labels[keep].astype(np.int32)
        for code in np.unique(y):
            sel = y == code
            res = reservoirs.setdefault(int(code), _Reservoir(max_per_class))
            res.add(rng.random(int(sel.sum())), X[sel], y[sel])
    if not reservoirs:
        raise ReferenceDataError(
            f"{source.path}: no valid pixel of the scene falls in the training data; check that "
            "the training data overlaps the scene and is not all on nodata."
        )
    parts = [reservoirs[c].result() for c in sorted(reservoirs)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


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
                f"normalize={self.method!r} is invalid: choose one of {', '.join(self.METHODS)}."
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
