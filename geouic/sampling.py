"""Bounded pixel samples drawn window by window, and per-band statistics.

Fitting never reads a whole scene: :func:`sample_pixels` reads randomly chosen blocks (each a
few tens of thousands of pixels, spread over the scene) until it holds enough valid pixels, then
keeps a uniform random subset of them. Memory is bounded by the sample size, not the scene.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
from rasterio.windows import Window

from geouic.errors import ParameterError, RasterInputError, ReferenceDataError
from geouic.raster import RasterSource, in_gdal_env, to_samples
from geouic.preprocessing import Normalizer  # re-exported: its old import path (uic, engine) keeps working
from geouic.windows import WindowPair, WindowPass, scene_bytes_per_pixel, unit_windows

__all__ = [
    "sample_pixels",
    "sample_labelled",
    "sampling_units",
    "unit_pass",
    "Normalizer",  # moved to geouic.preprocessing
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
    return unit_pass(source, unit_pixels).cores


def unit_pass(source: RasterSource, unit_pixels: int = UNIT_PIXELS) -> WindowPass:
    """The sampling units of a scene as a window pass (see :func:`geouic.windows.unit_windows`)."""
    return WindowPass(unit_windows(source.width, source.height, source.block_shape, unit_pixels),
                      bytes_per_pixel=scene_bytes_per_pixel(source.count))


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
    w = np.asarray(weights, dtype=float)
    share = np.floor(total * w / w.sum()).astype(int)
    share[np.argmax(w)] += total - share.sum()
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
        raise ParameterError(f"sample_size={n} is invalid: must be >= 1.", params=("sample_size",))
    if isinstance(sources, RasterSource):
        sources = [sources]
    rng = np.random.default_rng(seed)
    shares = _allocate(n, [s.width * s.height for s in sources])
    parts = [_sample_one(s, max(1, k), rng) for s, k in zip(sources, shares)]
    return np.concatenate(parts)


def _sample_one(source: RasterSource, n: int, rng: np.random.Generator) -> np.ndarray:
    units = unit_pass(source)
    units = units.reordered(rng.permutation(len(units)))
    reservoir = _Reservoir(n)
    n_valid = 0
    for n_read, (_, (data, valid)) in enumerate(units.map(lambda pair: source.read(pair.core)), 1):
        count = int(valid.sum())
        if count:
            reservoir.add(rng.random(count), to_samples(data, valid))
            n_valid += count
        if n_valid >= OVERSAMPLE * n and n_read >= MIN_UNITS:
            break
    if n_valid == 0:
        empty = source.empty_bands()
        if empty and len(empty) < source.count:
            names = dict(zip(source.indexes, source.band_names))
            keep = ",".join(str(i) for i in source.indexes if i not in empty)
            one = len(empty) == 1
            raise RasterInputError(f"{source.path}: {', '.join(f'band {i} ({names[i]})' for i in empty)} "
                                   f"{'is' if one else 'are'} entirely NaN or nodata, so no pixel has a value in "
                                   f"every band; leave {'it' if one else 'them'} out with --bands {keep}.")
        raise RasterInputError(
            f"{source.path}: every pixel is nodata (nodata={source.nodata}); check the nodata "
            "value, the band selection (bands) or the file.", params=("bands",)
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
    for _, found in source.windows(mem_limit_mb=mem_limit_mb).map(lambda pair: _labelled(source, read_labels, pair)):
        if found is None:
            continue
        X, y = found
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


def _labelled(source: RasterSource, read_labels: Callable[[Window], np.ndarray],
              pair: WindowPair) -> tuple[np.ndarray, np.ndarray] | None:
    """Samples and labels of the valid labelled pixels of a window (None when there are none)."""
    labels = np.asarray(read_labels(pair.core))
    if not labels.any():
        return None
    data, valid = source.read(pair.core)
    keep = valid & (labels > 0)
    if not keep.any():
        return None
    return to_samples(data, keep), labels[keep].astype(np.int32)
