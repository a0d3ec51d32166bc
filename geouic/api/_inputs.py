"""The one adapter between what a notebook holds and the library's file passes.

A scene (the input of classify, train and predict) may be a path, an open rasterio dataset, a
numpy array with its transform and CRS, or an xarray DataArray (rioxarray's ``.rio`` accessor
gives CRS, transform and nodata). Paths and datasets are opened with
:func:`geouic.raster.open_raster`; arrays and DataArrays become an :class:`ArraySource`, a
:class:`~geouic.raster.RasterSource` that reads its windows from the array, so the sampling,
normalisation, dark-to-bright class order, UIC engine and window pass are the library's own. A
dask-backed DataArray is computed one window at a time, never loaded whole.

Class maps (the input of assign_schema, accuracy and the post-processing steps) go to the
library's file passes as files: an in-memory class map is written once, window by window, to a
GeoTIFF in a temporary folder with its legend (:func:`class_map_file`). A class map holds one
byte or two per pixel, and those passes need a file (GDAL's polygoniser, the PAM names, the
reference reader's grid).
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from geouic.errors import ParameterError, RasterInputError
from geouic.raster import RasterSource, open_raster

__all__ = ["ArraySource", "InputKind", "as_scene", "class_map_file", "input_kind", "is_dataarray",
           "read_map", "temporary_folder"]

#: Block shape of an array without one (the usual GeoTIFF tile, and geouic's own output tiles).
DEFAULT_BLOCK = 256


def is_dataarray(obj: object) -> bool:
    """Whether ``obj`` is an ``xarray.DataArray`` (checked without importing xarray)."""
    return any(c.__name__ == "DataArray" and c.__module__.startswith("xarray") for c in type(obj).__mro__)


def _is_dataset(obj: object) -> bool:
    return any(c.__module__.startswith("rasterio") and c.__name__ in ("DatasetReader", "DatasetBase")
               for c in type(obj).__mro__)


class InputKind:
    """What a caller passed, so results come back as the same kind.

    Attributes
    ----------
    kind : {"path", "dataset", "ndarray", "dataarray"}
    template : object
        The DataArray given (its coordinates and attributes shape the output), else None.
    """

    def __init__(self, kind: str, template: Any = None) -> None:
        self.kind = kind
        self.template = template

    @property
    def in_memory(self) -> bool:
        """True for arrays and DataArrays (the result is returned, not only written)."""
        return self.kind in ("ndarray", "dataarray")


def input_kind(obj: object) -> InputKind:
    """Classify an input as a path, a rasterio dataset, a numpy array or a DataArray.

    Raises
    ------
    ParameterError
        Anything else.
    """
    if isinstance(obj, (str, os.PathLike)):
        return InputKind("path")
    if _is_dataset(obj):
        return InputKind("dataset")
    if is_dataarray(obj):
        return InputKind("dataarray", obj)
    if isinstance(obj, np.ndarray):
        return InputKind("ndarray")
    raise ParameterError(f"a {type(obj).__name__} is not a raster input; give a path, an open rasterio dataset, "
                         "a numpy array (bands, rows, cols) with transform/crs, or an xarray DataArray.")


class ArraySource(RasterSource):
    """A :class:`~geouic.raster.RasterSource` over an in-memory or dask array of shape (bands, rows, cols).

    Reads return what :meth:`RasterSource.read` returns for a file: float32 band values (0 where
    invalid) and the validity mask (every band finite and not ``nodata``). Windows of a dask
    array are computed one at a time.

    Parameters
    ----------
    data : array-like of shape (bands, rows, cols) or (rows, cols)
        numpy or dask array (a 2-D array is one band).
    transform : affine.Affine, optional
        Pixel-to-map transform (default: the identity, no georeferencing).
    crs : str or rasterio.crs.CRS, optional
    nodata : float, optional
        Value of empty pixels (NaN and infinities are always empty).
    band_names : sequence of str, optional
        Default ``band1``, ``band2``, ...
    name : str, default="<array>"
        What messages and provenance tags call the input.
    block_shape : (int, int), optional
        ``(rows, cols)`` the window pass aligns to (default: the dask chunks, else 256 x 256).

    Examples
    --------
    >>> src = ArraySource(np.arange(8, dtype=np.uint16).reshape(2, 2, 2), nodata=0)
    >>> data, valid = src.read()
    >>> valid.tolist()
    [[False, True], [True, True]]
    """

    def __init__(self, data: Any, *, transform: Affine | None = None, crs: Any = None, nodata: float | None = None,
                 band_names: Sequence[str] | None = None, name: str = "<array>",
                 block_shape: tuple[int, int] | None = None) -> None:
        if getattr(data, "ndim", 0) == 2:
            data = data[None]
        if getattr(data, "ndim", 0) != 3 or 0 in data.shape:
            raise RasterInputError(f"{name}: an array of shape {getattr(data, 'shape', None)} is not a raster; "
                                   "give (bands, rows, cols) or (rows, cols).")
        if np.issubdtype(np.dtype(data.dtype), np.complexfloating) or not np.issubdtype(np.dtype(data.dtype),
                                                                                        np.number):
            raise RasterInputError(f"{name}: dtype {data.dtype} is not supported; give real-valued bands.")
        self._array = data
        self._declared_nodata = None if nodata is None else float(nodata)
        self.path = name
        self.indexes = list(range(1, data.shape[0] + 1))
        self.alpha_index = None
        self.height, self.width = int(data.shape[1]), int(data.shape[2])
        self.crs = CRS.from_user_input(crs) if crs is not None else None
        self.transform = transform if transform is not None else Affine.identity()
        if not isinstance(self.transform, Affine):
            raise ParameterError(f"transform={transform!r} must be an affine.Affine.", params=("transform",))
        self.dtype = str(np.dtype(data.dtype))
        self.nodata = self._declared_nodata
        names = [str(b) for b in band_names] if band_names is not None else []
        if len(names) != data.shape[0]:
            names = [f"band{i}" for i in self.indexes]
        self.band_names = names
        self.block_shape = block_shape or _chunk_shape(data) or (min(DEFAULT_BLOCK, self.height),
                                                                  min(DEFAULT_BLOCK, self.width))

    def close(self) -> None:
        """Nothing to close (the array belongs to the caller)."""

    def reopen(self) -> ArraySource:
        """The same source: slicing an array is thread-safe."""
        return self

    @property
    def dataset(self) -> ArraySource:
        """The source itself: it has the ``crs``, ``transform``, ``width`` and ``height`` of a dataset."""
        return self

    @property
    def profile(self) -> dict:
        """A rasterio-style profile of the array."""
        return {"driver": "MEM", "dtype": self.dtype, "count": self.count, "width": self.width,
                "height": self.height, "crs": self.crs, "transform": self.transform, "nodata": self.nodata}

    def read(self, window: Window | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Band values (float32, 0 where invalid) and validity mask of a window (see :meth:`RasterSource.read`)."""
        if window is None:
            window = Window(0, 0, self.width, self.height)
        r0, c0 = int(window.row_off), int(window.col_off)
        block = self._array[:, r0 : r0 + int(window.height), c0 : c0 + int(window.width)]
        if hasattr(block, "compute"):  # dask: this window only
            block = block.compute()
        raw = np.asarray(block)
        valid = np.ones(raw.shape[1:], bool)
        if np.issubdtype(raw.dtype, np.floating):
            valid &= np.all(np.isfinite(raw), axis=0)
        if self.nodata is not None and not math.isnan(self.nodata):
            valid &= np.all(raw != self.nodata, axis=0)
        data = raw.astype(np.float32, copy=False)
        if not valid.all():
            data = np.where(valid[None], data, np.float32(0))
        return data, valid

    def empty_bands(self) -> list[int]:
        """Indexes (1-based) of bands without any valid value (read window by window)."""
        seen = np.zeros(self.count, bool)
        for pair in self.windows():
            raw = self._array[:, int(pair.core.row_off) : int(pair.core.row_off + pair.core.height),
                              int(pair.core.col_off) : int(pair.core.col_off + pair.core.width)]
            raw = np.asarray(raw.compute() if hasattr(raw, "compute") else raw)
            ok = np.isfinite(raw) if np.issubdtype(raw.dtype, np.floating) else np.ones(raw.shape, bool)
            if self.nodata is not None and not math.isnan(self.nodata):
                ok &= raw != self.nodata
            seen |= ok.reshape(self.count, -1).any(axis=1)
            if seen.all():
                break
        return [i for i, s in zip(self.indexes, seen) if not s]


def _chunk_shape(data: Any) -> tuple[int, int] | None:
    chunks = getattr(data, "chunks", None)
    if not chunks or not isinstance(chunks[0], tuple):
        return None
    return int(chunks[1][0]), int(chunks[2][0])


def _dataarray_source(da: Any, bands: Sequence[int | str] | None, nodata: float | None) -> ArraySource:
    """An :class:`ArraySource` over a DataArray (band, y, x) or (y, x), with rioxarray's metadata."""
    if da.ndim == 2:
        da = da.expand_dims("band")
    if da.ndim != 3:
        raise RasterInputError(f"a DataArray with dims {da.dims} is not a raster; give (band, y, x) or (y, x).")
    rio = _rio(da)
    y_dim, x_dim = (rio.y_dim, rio.x_dim) if rio is not None else da.dims[1:]
    band_dim = next(d for d in da.dims if d not in (y_dim, x_dim))
    da = da.transpose(band_dim, y_dim, x_dim)
    names = _band_names(da, band_dim)
    if bands:
        index = _select(names, bands, da.name)
        da, names = da.isel({band_dim: index}), [names[i] for i in index]
    if nodata is None and rio is not None:
        nodata = rio.nodata if rio.nodata is not None else rio.encoded_nodata
    preferred = (da.encoding or {}).get("preferred_chunks") or {}
    block = (int(preferred[y_dim]), int(preferred[x_dim])) if y_dim in preferred and x_dim in preferred else None
    return ArraySource(da.data, transform=rio.transform(recalc=True) if rio is not None else None,
                       crs=rio.crs if rio is not None else None, nodata=nodata, band_names=names,
                       name=f"<DataArray {da.name or ''} {tuple(da.shape)}>".replace("  ", " "), block_shape=block)


def _rio(da: Any) -> Any:
    try:
        import rioxarray  # noqa: F401  (registers the .rio accessor)
    except ImportError:
        return None
    rio = da.rio
    try:
        rio.x_dim, rio.y_dim  # noqa: B018  (raises when the spatial dims are unknown)
    except Exception:
        return None
    return rio


def _band_names(da: Any, band_dim: str) -> list[str]:
    long_name = da.attrs.get("long_name")
    if isinstance(long_name, (tuple, list)) and len(long_name) == da.shape[0]:
        return [str(n) for n in long_name]
    if band_dim in da.coords and da.coords[band_dim].dtype.kind in "OUS":
        return [str(v) for v in da.coords[band_dim].values]
    return [f"band{i}" for i in range(1, da.shape[0] + 1)]


def _select(names: list[str], bands: Sequence[int | str], label: Any) -> list[int]:
    """0-based positions of ``bands`` (1-based indexes or names) among ``names``."""
    lower = {n.lower(): i for i, n in enumerate(names)}
    out = []
    for b in bands:
        key = str(b).strip()
        if key.lstrip("-").isdigit() and 1 <= int(key) <= len(names):
            out.append(int(key) - 1)
        elif key.lower() in lower:
            out.append(lower[key.lower()])
        else:
            raise RasterInputError(f"{label or 'the array'}: no band {key!r} (bands: {', '.join(names)}, or 1-"
                                   f"{len(names)}); fix bands.", params=("bands",))
    return out


@contextlib.contextmanager
def as_scene(obj: Any, *, bands: Sequence[int | str] | None = None, nodata: float | None = None,
             transform: Affine | None = None, crs: Any = None) -> Iterator[RasterSource]:
    """Open any scene input as a :class:`~geouic.raster.RasterSource` (a context manager).

    ``transform`` and ``crs`` georeference a numpy array; a DataArray brings its own.
    """
    kind = input_kind(obj)
    if kind.kind == "path":
        source = open_raster(obj, bands=bands, nodata=nodata)
    elif kind.kind == "dataset":
        source = open_raster(obj.name, bands=bands, nodata=nodata)
    elif kind.kind == "dataarray":
        source = _dataarray_source(obj, bands, nodata)
    else:
        data = obj if obj.ndim == 3 else obj[None]
        names = [f"band{i}" for i in range(1, data.shape[0] + 1)]
        if bands:
            data = data[_select(names, bands, None)]
        source = ArraySource(data, transform=transform, crs=crs, nodata=nodata)
    with source:
        yield source


@contextlib.contextmanager
def temporary_folder() -> Iterator[Path]:
    """A temporary folder for the files an in-memory call passes through (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="geouic-") as folder:
        yield Path(folder)


@contextlib.contextmanager
def class_map_file(obj: Any, *, transform: Affine | None = None, crs: Any = None) -> Iterator[str]:
    """A path to read a class map from: the path itself, or a GeoTIFF written from an array.

    An array or DataArray (integer codes, 0 = nodata) is written window by window with its
    legend (the ``class_names`` and ``class_colors`` attributes a geouic DataArray carries).
    """
    kind = input_kind(obj)
    if kind.kind == "path":
        yield str(obj)
        return
    if kind.kind == "dataset":
        yield str(obj.name)
        return
    from geouic.output import Legend, ThematicWriter

    with as_scene(obj, transform=transform, crs=crs) as source, temporary_folder() as folder, \
            warnings.catch_warnings():
        if source.crs is None and source.transform.is_identity:  # the caller gave no georeferencing
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
        if source.count != 1:
            raise RasterInputError(f"{source.path}: a class map has one band, not {source.count}.")
        if not np.issubdtype(np.dtype(source.dtype), np.integer):
            raise RasterInputError(f"{source.path}: a class map holds integer codes, not {source.dtype} values.")
        attrs = dict(getattr(obj, "attrs", {}) or {})
        names = {int(k): str(v) for k, v in (attrs.get("class_names") or {}).items()}
        colors = {int(k): _rgb(v) for k, v in (attrs.get("class_colors") or {}).items()}
        top = max([*names, *colors, 1])
        for pair in source.windows():
            top = max(top, int(source.read(pair.core)[0].max(initial=0)))
        default = Legend.default(top, names)
        legend = Legend(names=default.names, colors={**default.colors, **colors})
        path = folder / "in_memory_class_map.tif"
        writer = ThematicWriter(path, crs=source.crs, transform=source.transform, width=source.width,
                                height=source.height, legend=legend, n_classes=top)
        try:
            for pair in source.windows():
                data, valid = source.read(pair.core)
                writer.write(pair.core, np.where(valid, data[0], 0).astype(np.uint16))
            writer.close()
        except BaseException:
            writer.abort()
            raise
        yield str(path)


def _rgb(value: Any) -> tuple[int, int, int]:
    from geouic.colors import parse_color

    return parse_color(value)


def read_map(path: str | os.PathLike, kind: InputKind, *, attrs: Mapping[str, Any] | None = None) -> Any:
    """Read a written class map back as the kind the caller gave: an ndarray or a DataArray (y, x).

    The DataArray keeps the template's ``y``/``x`` coordinates, carries the map's CRS,
    transform and nodata (0) through rioxarray, and its legend as attributes (``class_names``,
    ``class_colors``, codes as keys) plus ``attrs``.
    """
    import rasterio

    from geouic.classmap import read_legend
    from geouic.colors import to_hex

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path) as ds:
            labels = ds.read(1)
            transform, crs = ds.transform, ds.crs
    if kind.kind != "dataarray":
        return labels
    codes = sorted(int(c) for c in np.unique(labels) if c > 0)
    legend = read_legend(path, codes)
    info = {"class_names": {c: legend.names[c] for c in codes},
            "class_colors": {c: to_hex(legend.colors[c]) for c in codes}, **dict(attrs or {})}
    return _to_dataarray(labels, kind.template, transform, crs, info)


def _to_dataarray(labels: np.ndarray, template: Any, transform: Affine, crs: Any, attrs: dict[str, Any]) -> Any:
    import xarray as xr

    rio = _rio(template)
    y_dim, x_dim = (rio.y_dim, rio.x_dim) if rio is not None else template.dims[-2:]
    coords = {d: template.coords[d] for d in (y_dim, x_dim) if d in template.coords}
    out = xr.DataArray(labels, dims=(y_dim, x_dim), coords=coords, name="classes", attrs=attrs)
    if _rio(out) is not None:
        out = out.rio.write_transform(transform)
        if crs is not None:
            out = out.rio.write_crs(crs)
        out = out.rio.write_nodata(0, encoded=False)
    return out
