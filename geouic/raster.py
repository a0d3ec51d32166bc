"""Opening, validating and reading rasters window by window.

This is the one module that converts between the raster layout ``(bands, rows, cols)`` and
the sample layout ``(n_samples, n_features)``; it also owns the validity mask, which is the
union of every way a GDAL raster can say "no data": the declared nodata value, NaN and
infinities, internal (per-dataset or per-band) masks and alpha bands.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import ColorInterp
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from geouic.errors import ParameterError, RasterInputError
from geouic.windows import DEFAULT_MEM_LIMIT_MB, WindowPair, WindowPass, block_windows, scene_bytes_per_pixel

__all__ = [
    "RasterSource",
    "WindowPair",
    "open_raster",
    "block_windows",
    "to_samples",
    "from_samples",
    "DEFAULT_MEM_LIMIT_MB",
    "gdal_env",
    "in_gdal_env",
]

logger = logging.getLogger(__name__)

#: GDAL block cache (MB) while geouic reads and writes: every block is decoded once, so a
#: small cache suffices; GDAL's default (5 % of RAM) made peak memory grow with the scene.
GDAL_CACHE_MB = 16


def gdal_env(**options) -> rasterio.Env:
    """The GDAL settings of geouic's raster passes (a small block cache); use as ``with``."""
    return rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB * 1024 * 1024, **options)


def in_gdal_env(func):
    """Run ``func`` inside :func:`gdal_env` (decorator for whole-scene passes)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with gdal_env():
            return func(*args, **kwargs)

    return wrapper


class RasterSource:
    """An open raster with a band selection and a validity mask, read window by window.

    Use :func:`open_raster` to create one; it validates the file and the band selection.

    Attributes
    ----------
    path : str
        The file opened.
    indexes : list of int
        1-based band indexes used as features (alpha bands are never features).
    band_names : list of str
        A name per selected band: the band description, or ``"band<i>"``.
    width, height : int
        Scene size in pixels.
    crs, transform
        Georeferencing (``crs`` is ``None`` for rasters without one).
    """

    def __init__(self, dataset: rasterio.io.DatasetReader, indexes: list[int], alpha: int | None,
                 nodata: float | None = None):
        self._ds = dataset
        self._declared_nodata = nodata
        self.path: str = dataset.name
        self.indexes = indexes
        self.alpha_index = alpha
        self.width: int = dataset.width
        self.height: int = dataset.height
        self.crs = dataset.crs
        self.transform = dataset.transform
        self.dtype: str = dataset.dtypes[indexes[0] - 1]
        self.nodata = dataset.nodata if nodata is None else nodata
        self.band_names = [
            dataset.descriptions[i - 1] or f"band{i}" for i in indexes
        ]
        self.block_shape: tuple[int, int] = dataset.block_shapes[indexes[0] - 1]

    # -- context management -------------------------------------------------------------
    def __enter__(self) -> RasterSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying dataset."""
        self._ds.close()

    def reopen(self) -> RasterSource:
        """Return an independent handle on the same file and band selection (for threads)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return RasterSource(rasterio.open(self.path), list(self.indexes), self.alpha_index,
                                self._declared_nodata)

    @property
    def dataset(self) -> rasterio.io.DatasetReader:
        """The underlying rasterio dataset (read-only use)."""
        return self._ds

    @property
    def count(self) -> int:
        """Number of selected feature bands."""
        return len(self.indexes)

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the scene."""
        return (self.height, self.width)

    @property
    def profile(self) -> dict:
        """The dataset's rasterio profile."""
        return dict(self._ds.profile)

    # -- reading ------------------------------------------------------------------------
    def read(self, window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Read the selected bands and the validity mask of a window.

        Parameters
        ----------
        window : rasterio.windows.Window, optional
            Part of the scene to read; the whole scene when omitted (small scenes only).

        Returns
        -------
        data : ndarray of shape (bands, rows, cols), float32
            Band values; invalid pixels hold 0.
        valid : ndarray of shape (rows, cols), bool
            True where every selected band holds a finite, non-nodata value, the internal
            masks say valid and the alpha band (if any) is non-zero.
        """
        try:
            raw = self._ds.read(self.indexes, window=window)
            masks = self._ds.read_masks(self.indexes, window=window)
        except RasterioIOError as exc:
            raise RasterInputError(
                f"{self.path}: cannot read pixels ({exc}); the file may be truncated or corrupt."
            ) from None
        valid = np.all(masks > 0, axis=0)
        data = raw.astype(np.float32, copy=False)
        if np.issubdtype(raw.dtype, np.floating):
            valid &= np.all(np.isfinite(raw), axis=0)
            if self.nodata is not None and not math.isnan(self.nodata):
                valid &= np.all(raw != self.nodata, axis=0)
        elif self._declared_nodata is not None:  # GDAL's masks know only the file's own nodata tag
            valid &= np.all(raw != self._declared_nodata, axis=0)
        if self.alpha_index is not None:
            valid &= self._ds.read(self.alpha_index, window=window) > 0
        if not valid.all():
            data = np.where(valid[None], data, np.float32(0))
        return data, valid

    def empty_bands(self) -> list[int]:
        """Indexes (1-based, in the file) of selected bands without a valid value (all NaN, nodata or masked).

        Reads the scene window by window (the shared window pass, stopping once every band has
        shown a valid value): meant for explaining an error.
        """
        seen = np.zeros(self.count, bool)
        for pair in self.windows():
            window = pair.core
            raw = self._ds.read(self.indexes, window=window)
            ok = self._ds.read_masks(self.indexes, window=window) > 0
            if np.issubdtype(raw.dtype, np.floating):
                ok &= np.isfinite(raw)
            for value in {self.nodata, self._declared_nodata} - {None}:
                if value is not None and not math.isnan(value):
                    ok &= raw != value
            seen |= ok.reshape(self.count, -1).any(axis=1)
            if seen.all():
                break
        return [i for i, s in zip(self.indexes, seen) if not s]

    def windows(self, *, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, halo: int = 0,
                bytes_per_pixel: int | None = None, workers: int = 1) -> WindowPass:
        """The window pass over this scene: block-aligned windows sized from a memory budget.

        See :meth:`geouic.windows.WindowPass.over`; ``bytes_per_pixel`` defaults to what one
        float32 read of the selected bands and its masks take
        (:func:`~geouic.windows.scene_bytes_per_pixel`).
        """
        if bytes_per_pixel is None:
            bytes_per_pixel = scene_bytes_per_pixel(self.count)
        return WindowPass.over(self, mem_limit_mb=mem_limit_mb, halo=halo, bytes_per_pixel=bytes_per_pixel,
                               workers=workers)


def _check_path(path: str | os.PathLike) -> str:
    p = Path(path)
    text = str(path)
    if "://" in text or text.startswith("/vsi"):
        return text
    if not p.exists():
        raise RasterInputError(f"{text}: no such file; check the path.")
    if p.is_dir():
        raise RasterInputError(f"{text}: is a folder, not a raster file.")
    if p.stat().st_size == 0:
        raise RasterInputError(f"{text}: the file is empty (0 bytes); re-export or re-download it.")
    return text


def _resolve_bands(ds: rasterio.io.DatasetReader, bands: Sequence[int | str] | None,
                   alpha: int | None) -> list[int]:
    if not bands:
        return [i for i in range(1, ds.count + 1) if i != alpha]
    descriptions = {d.lower(): i for i, d in enumerate(ds.descriptions, 1) if d}
    out = []
    for b in bands:
        key = str(b).strip()
        if key.lstrip("-").isdigit():
            idx = int(key)
            if not 1 <= idx <= ds.count:
                raise RasterInputError(
                    f"{ds.name}: band {idx} is out of range for this {ds.count}-band raster "
                    f"(valid indexes 1-{ds.count}); fix bands.", params=("bands",)
                )
        elif key.lower() in descriptions:
            idx = descriptions[key.lower()]
        else:
            names = ", ".join(d for d in ds.descriptions if d) or "none"
            raise RasterInputError(
                f"{ds.name}: no band is named {key!r} (band descriptions: {names}); "
                "give bands as 1-based band indexes or as those names.", params=("bands",)
            )
        out.append(idx)
    if len(set(out)) != len(out):
        raise RasterInputError(f"{ds.name}: bands lists a band twice ({list(bands)}).", params=("bands",))
    return out


def open_raster(path: str | os.PathLike, *, bands: Sequence[int | str] | None = None,
                nodata: float | None = None) -> RasterSource:
    """Open and validate a raster for classification.

    Parameters
    ----------
    path : str or path-like
        Any raster GDAL reads (GeoTIFF, ENVI, VRT, ...).
    bands : sequence of int or str, optional
        1-based band indexes or band descriptions to use as features. Default: every band
        except alpha bands.
    nodata : float, optional
        Declare the value of pixels without data (``--nodata``), for files that lack the tag;
        it is masked in addition to any nodata the file declares, on integer and float bands,
        and kept by :meth:`RasterSource.reopen`.

    Returns
    -------
    RasterSource

    Raises
    ------
    RasterInputError
        The file is missing, empty, not a raster, truncated, or a band selection is invalid.
    """
    text = _check_path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            ds = rasterio.open(text)
    except RasterioIOError as exc:
        raise RasterInputError(
            f"{text}: not a readable raster ({str(exc).splitlines()[0][:160]}); "
            "check that it is a GDAL raster format and not truncated."
        ) from None
    try:
        if ds.count == 0 or ds.width == 0 or ds.height == 0:
            raise RasterInputError(f"{text}: the raster has no bands or no pixels.")
        alpha = next((i for i, ci in enumerate(ds.colorinterp, 1) if ci == ColorInterp.alpha), None)
        if alpha is not None and ds.count == 1:
            alpha = None
        indexes = _resolve_bands(ds, bands, alpha)
        dtypes = {ds.dtypes[i - 1] for i in indexes}
        if any(np.issubdtype(np.dtype(d), np.complexfloating) for d in dtypes):
            raise RasterInputError(f"{text}: complex-valued bands are not supported; convert to amplitude first.")
        _probe(ds, indexes)
        if nodata is not None:
            nodata = _check_nodata(text, nodata, ds.dtypes[indexes[0] - 1])
    except BaseException:
        ds.close()
        raise
    return RasterSource(ds, indexes, alpha, nodata)


def _check_nodata(path: str, value: Any, dtype: str) -> float:
    """``--nodata`` as a value the bands of ``dtype`` can hold."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RasterInputError(f"nodata={value!r} is not a number; give the value of {path}'s empty pixels, "
                               "e.g. nodata=0.", params=("nodata",)) from None
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(np.dtype(dtype))
        if not number.is_integer() or not info.min <= number <= info.max:
            raise RasterInputError(f"nodata={value} cannot occur in the {dtype} bands of {path}; use an integer "
                                   f"{info.min}..{info.max}.", params=("nodata",))
    return number


def _probe(ds: rasterio.io.DatasetReader, indexes: list[int]) -> None:
    """Read the last block so a truncated file fails now, not halfway through the output."""
    h, w = ds.block_shapes[indexes[0] - 1]
    h, w = min(h, ds.height), min(w, ds.width)
    win = Window(ds.width - w, ds.height - h, w, h)
    try:
        ds.read(indexes[0], window=win)
    except RasterioIOError as exc:
        raise RasterInputError(
            f"{ds.name}: cannot read pixels ({str(exc).splitlines()[0][:160]}); "
            "the file is probably truncated or corrupt: re-export or re-download it."
        ) from None


def to_samples(data: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Convert a raster block to samples.

    Parameters
    ----------
    data : ndarray of shape (bands, rows, cols)
    valid : ndarray of shape (rows, cols), bool, optional
        Keep only these pixels (in row-major order).

    Returns
    -------
    ndarray of shape (n_samples, bands)
    """
    if data.ndim != 3:
        raise ParameterError(f"data must be (bands, rows, cols); got shape {data.shape}.")
    flat = data.reshape(data.shape[0], -1)
    if valid is not None:
        flat = flat[:, valid.ravel()]
    return np.ascontiguousarray(flat.T)


def from_samples(values: np.ndarray, valid: np.ndarray, fill: float | int = 0) -> np.ndarray:
    """Scatter per-sample values back onto a block.

    Parameters
    ----------
    values : ndarray of shape (n_valid,) or (n_valid, k)
        One value (or k values) per valid pixel, in row-major order.
    valid : ndarray of shape (rows, cols), bool
    fill : scalar, default=0
        Value for invalid pixels.

    Returns
    -------
    ndarray of shape (rows, cols) or (k, rows, cols)
    """
    rows, cols = valid.shape
    if values.ndim == 1:
        out = np.full(rows * cols, fill, dtype=values.dtype)
        out[valid.ravel()] = values
        return out.reshape(rows, cols)
    out = np.full((values.shape[1], rows * cols), fill, dtype=values.dtype)
    out[:, valid.ravel()] = values.T
    return out.reshape(values.shape[1], rows, cols)
