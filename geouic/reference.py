"""Reference and training data (polygons, points or a label raster) read onto a scene's grid.

:func:`open_reference` opens a vector file (any OGR format) or a label raster and returns a
:class:`ReferenceData` whose :meth:`~ReferenceData.read` gives the class codes of one window of
the scene grid (0 = unlabelled), so training, schema assignment and accuracy assessment all
iterate windows with memory bounded by the window, never by the scene.

Vector features are reprojected to the grid's CRS once, kept in memory with a spatial index, and
only those intersecting a window are rasterised for it: polygons by the pixel-centre rule (as
``gdal_rasterize``), points and lines with ``all_touched``; where features overlap, the later one
in the file wins. A label raster on another grid is read through a nearest-neighbour
:class:`~rasterio.vrt.WarpedVRT`. A :class:`ReferenceData` holds no open file, so it pickles to
worker processes.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geouic.errors import ParameterError, ReferenceDataError
from geouic.windows import BYTES_PER_PIXEL, DEFAULT_MEM_LIMIT_MB, WindowPair, WindowPass, tile_windows

__all__ = ["Grid", "ReferenceData", "open_reference", "category_names"]

logger = logging.getLogger(__name__)

#: Stand-in CRS for warping between two grids that both lack one (coordinates taken as-is).
_NO_CRS = CRS.from_wkt('LOCAL_CS["geouic: no CRS",UNIT["metre",1]]')
_INT32_MAX = int(np.iinfo(np.int32).max)
_TILE = 1024


@dataclass(frozen=True)
class Grid:
    """The pixel grid of a scene: CRS, affine transform and size.

    Parameters
    ----------
    crs : rasterio.crs.CRS or None
        Coordinate reference system; ``None`` when the scene has none. Strings such as
        ``"EPSG:32622"`` are converted.
    transform : affine.Affine
        Pixel-to-map transform of the top-left corner.
    width, height : int
        Columns and rows, both >= 1.
    """

    crs: CRS | None
    transform: Affine
    width: int
    height: int

    def __post_init__(self) -> None:
        if self.crs is not None and not isinstance(self.crs, CRS):
            object.__setattr__(self, "crs", CRS.from_user_input(self.crs))
        if not isinstance(self.transform, Affine):
            raise ParameterError(f"transform={self.transform!r} must be an affine.Affine.")
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or value < 1:
                raise ParameterError(f"{name}={value!r} is out of range; use an integer >= 1.")

    @classmethod
    def from_dataset(cls, dataset: Any) -> Grid:
        """The grid of an open rasterio dataset (or anything with crs, transform, width, height)."""
        return cls(dataset.crs or None, dataset.transform, int(dataset.width), int(dataset.height))

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)``."""
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the whole grid in its CRS."""
        return tuple(self.footprint().bounds)

    def footprint(self, window: Window | None = None) -> shapely.Polygon:
        """The outline of the grid (or of ``window``) as a polygon in the grid's coordinates."""
        window = self.check_window(window)
        t = self.window_transform(window)
        w, h = window.width, window.height
        return shapely.Polygon([t @ (0, 0), t @ (w, 0), t @ (w, h), t @ (0, h)])

    def window_transform(self, window: Window) -> Affine:
        """The affine transform of ``window``'s top-left pixel."""
        return self.transform @ Affine.translation(window.col_off, window.row_off)

    def check_window(self, window: Window | None) -> Window:
        """Return ``window`` with integer offsets and sizes (the whole grid for ``None``).

        Raises
        ------
        ParameterError
            The window is empty or reaches outside the grid.
        """
        if window is None:
            return Window(0, 0, self.width, self.height)
        w = Window(*(int(round(v)) for v in window.flatten()))
        if w.width < 1 or w.height < 1 or w.col_off < 0 or w.row_off < 0 or (
            w.col_off + w.width > self.width or w.row_off + w.height > self.height
        ):
            raise ParameterError(
                f"window={window!r} is out of range; it must be non-empty and lie within the "
                f"grid of {self.width} x {self.height} pixels."
            )
        return w

    def tiles(self, size: int = _TILE) -> Iterator[Window]:
        """Windows of at most ``size`` x ``size`` pixels covering the grid, row by row."""
        return iter(self.tile_pass(size).cores)

    def tile_pass(self, size: int = _TILE) -> WindowPass:
        """The tiles of :meth:`tiles` as a window pass (see :func:`geouic.windows.tile_windows`)."""
        return WindowPass(tile_windows(self.width, self.height, size))


class ReferenceData:
    """Class codes of reference data on a grid; made by :func:`open_reference`.

    Attributes
    ----------
    codes : ndarray of int
        Sorted class codes (all >= 1). For vectors, every code of the file (stable across
        scenes, even where a class has no feature in this scene); for rasters, the codes present
        on the grid.
    names : dict of int to str
        Class name of each code.
    kind : {"polygons", "points", "raster"}
        ``"points"`` when every feature is a point; other vectors (lines included) are "polygons".
    path : str
    field : str or None
        The class field of a vector file; ``None`` for a raster.
    grid : Grid
    band : int
        The band holding the codes (raster references only).
    """

    kind: str

    def __init__(
        self, path: str, grid: Grid, field: str | None, codes: np.ndarray, names: dict[int, str]
    ) -> None:
        self.path = path
        self.grid = grid
        self.field = field
        self.codes = np.asarray(codes, dtype=np.int64)
        self.names = names

    def __repr__(self) -> str:
        return (
            f"ReferenceData(path={self.path!r}, kind={self.kind!r}, field={self.field!r}, "
            f"codes={self.codes.tolist()})"
        )

    def read(self, window: Window | None = None) -> np.ndarray:
        """Class codes of ``window`` of the grid (the whole grid for ``None``).

        Parameters
        ----------
        window : rasterio.windows.Window, optional
            Must lie within the grid.

        Returns
        -------
        ndarray of shape (window.height, window.width), int32
            0 where unlabelled.
        """
        raise NotImplementedError

    def point_samples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid row, column and code of every reference point (point references only).

        Raises
        ------
        ReferenceDataError
            The reference is not made of points: use :meth:`read` or :meth:`iter_labelled`.
        """
        raise ReferenceDataError(
            f"point_samples() needs a point reference, but {_name(self.path)} holds {self.kind}; "
            "use read(window) or iter_labelled(windows) for its labelled pixels."
        )

    def iter_labelled(
        self, windows: Iterable[Window] | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(rows, cols, codes)`` of the labelled pixels of each window.

        Parameters
        ----------
        windows : iterable of Window, optional
            Default: tiles of 1024 x 1024 pixels covering the grid.

        Yields
        ------
        rows, cols : ndarray of int64
            Grid (not window) coordinates; empty for a window without labels.
        codes : ndarray of int32
        """
        tiles = self.grid.tile_pass() if windows is None else WindowPass(WindowPair(w, w) for w in windows)
        for _, found in tiles.map(self._labelled):
            yield found

    def count_outside(self, *, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB) -> int:
        """Labelled reference points (or approximate pixels) that lie beyond the grid.

        Points are counted exactly, polygons as their area outside the grid divided by the
        pixel area; a label raster on another grid is scanned on its own grid over a window
        pass within ``mem_limit_mb``.
        """
        raise NotImplementedError  # each kind below counts its own

    def _labelled(self, pair: WindowPair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        window = self.grid.check_window(pair.core)
        labels = self.read(window)
        rows, cols = np.nonzero(labels)
        return rows + window.row_off, cols + window.col_off, labels[rows, cols]


def open_reference(
    path: str | os.PathLike[str],
    grid: Grid,
    *,
    field: str | None = None,
    band: int = 1,
    layer: str | int | None = None,
) -> ReferenceData:
    """Open reference data (vector file or label raster) onto ``grid``.

    Parameters
    ----------
    path : str or path-like
        A vector file in any OGR format (GeoPackage, shapefile, GeoJSON, ...) or a label raster.
    grid : Grid
        The scene grid the codes are read on.
    field : str, optional
        The class field of a vector file (required there; ignored with a warning for rasters).
        Integer values >= 1 are used as codes, named ``str(code)``; text values, and integers
        that include values < 1, get codes 1..n in sorted order, named by their value.
    band : int, default=1
        Band of a label raster holding the codes; its nodata value and 0 mean "no label".
    layer : str or int, optional
        Layer of a multi-layer vector file (default: the first).

    Returns
    -------
    ReferenceData

    Raises
    ------
    ReferenceDataError
        File missing or unreadable, field missing (the message lists the fields), no usable
        feature or label, or the data do not overlap the grid.
    ParameterError
        ``grid`` or ``band`` is invalid.
    """
    path = os.fspath(path)
    if not isinstance(grid, Grid):
        raise ParameterError(f"grid={grid!r} must be a geouic.reference.Grid (Grid.from_dataset).")
    if not path.startswith("/vsi") and not os.path.exists(path):
        raise ReferenceDataError(f"reference file not found: {path}")
    if _is_vector(path):
        return _open_vector(path, grid, field, layer)
    if field is not None:
        warnings.warn(f"field={field!r} is ignored: {_name(path)} is a label raster.", stacklevel=2)
    return _RasterReference(path, grid, band)


# ---------------------------------------------------------------------------------- vectors
class _VectorReference(ReferenceData):
    """Polygons (and lines) rasterised window by window through a spatial index."""

    kind = "polygons"

    def __init__(self, path: str, grid: Grid, field: str, codes: np.ndarray, names: dict[int, str],
                 geoms: np.ndarray, feature_codes: np.ndarray) -> None:
        super().__init__(path, grid, field, codes, names)
        self._geoms = geoms
        self._feature_codes = feature_codes
        self._areal = np.isin(shapely.get_type_id(geoms), [3, 6, 7])  # (multi)polygons, collections
        self._tree: shapely.STRtree | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_tree": None}  # the STR-tree does not pickle; rebuilt lazily

    def read(self, window: Window | None = None) -> np.ndarray:
        window = self.grid.check_window(window)
        out = np.zeros((window.height, window.width), dtype=np.int32)
        if self._tree is None:
            self._tree = shapely.STRtree(self._geoms)
        hits = np.sort(self._tree.query(self.grid.footprint(window), predicate="intersects"))
        transform = self.grid.window_transform(window)
        areal = self._areal[hits]
        for subset, all_touched in ((hits[areal], False), (hits[~areal], True)):
            if len(subset):
                shapes = zip(self._geoms[subset], self._feature_codes[subset].tolist())
                rasterize(shapes, out=out, transform=transform, all_touched=all_touched)
        return out


def _labelled_geometries(ref: _VectorReference) -> np.ndarray:
    """Geometries of every labelled feature of the file (not only those on the grid), in the grid's CRS."""
    gdf = pyogrio.read_dataframe(ref.path, columns=[ref.field])
    gdf = gdf[gdf[ref.field].notna() & gdf.geometry.notna()]
    crs = ref.grid.crs
    if gdf.crs is not None and crs is not None and not gdf.crs.equals(crs.to_wkt()):
        gdf = gdf.to_crs(crs.to_wkt())
    return gdf.geometry.to_numpy()


def _polygons_outside(ref: _VectorReference, *, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB) -> int:
    outside = shapely.area(shapely.difference(_labelled_geometries(ref), shapely.box(*ref.grid.bounds))).sum()
    return int(round(outside / abs(ref.grid.transform.determinant)))


def _points_outside(ref: _VectorReference, *, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB) -> int:
    coords = shapely.get_coordinates(_labelled_geometries(ref))
    col, row = ~ref.grid.transform @ (coords[:, 0], coords[:, 1])
    g = ref.grid
    return int(((row < 0) | (row >= g.height) | (col < 0) | (col >= g.width)).sum())


_VectorReference.count_outside = _polygons_outside  # type: ignore[method-assign]


class _PointReference(_VectorReference):
    """Points: each labels the pixel it falls in (as GDAL burns points)."""

    kind = "points"

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        coords, index = shapely.get_coordinates(self._geoms, return_index=True)
        cols, rows = ~self.grid.transform @ (coords[:, 0], coords[:, 1])
        with np.errstate(invalid="ignore"):  # NaN/inf coordinates are simply outside
            inside = (rows >= 0) & (rows < self.grid.height) & (cols >= 0) & (cols < self.grid.width)
        self._inside = inside
        self._rows = np.where(inside, np.floor(rows), -1).astype(np.int64)
        self._cols = np.where(inside, np.floor(cols), -1).astype(np.int64)
        self._codes = self._feature_codes[index].astype(np.int32)

    def read(self, window: Window | None = None) -> np.ndarray:
        window = self.grid.check_window(window)
        out = np.zeros((window.height, window.width), dtype=np.int32)
        r = self._rows - window.row_off
        c = self._cols - window.col_off
        keep = (r >= 0) & (r < window.height) & (c >= 0) & (c < window.width)
        out[r[keep], c[keep]] = self._codes[keep]
        return out

    def point_samples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid row, column and code of every point inside the grid.

        Points outside the grid are dropped with a warning naming their count; several points
        in one pixel are all returned.

        Returns
        -------
        rows, cols : ndarray of int64
        codes : ndarray of int32
        """
        outside = int((~self._inside).sum())
        if outside:
            warnings.warn(
                f"{outside} of {len(self._inside)} points of {_name(self.path)} fall outside the "
                "scene grid and are dropped.", stacklevel=2,
            )
        keep = self._inside
        return self._rows[keep], self._cols[keep], self._codes[keep]

    count_outside = _points_outside  # type: ignore[assignment]


def _is_vector(path: str) -> bool:
    try:
        return len(pyogrio.list_layers(path)) > 0
    except pyogrio.errors.DataSourceError:
        return False


def _open_vector(
    path: str, grid: Grid, field: str | None, layer: str | int | None
) -> ReferenceData:
    fields = pyogrio.read_info(path, layer=layer)["fields"].tolist()
    if field is None or field not in fields:
        what = "pass field= with the class column" if field is None else f"has no field {field!r}"
        raise ReferenceDataError(
            f"{_name(path)} {what}; available fields: {', '.join(fields) or '(none)'}."
        )
    gdf = pyogrio.read_dataframe(path, layer=layer, columns=[field])
    gdf = _drop_unusable(gdf, field, path)
    feature_codes, codes, names = _encode(gdf[field], field, path)
    geoms = _to_grid_crs(gdf, grid, path)
    keep = _overlapping(geoms, grid, path)
    _warn_absent_classes(codes, names, feature_codes[keep], path)
    if set(shapely.get_type_id(geoms).tolist()) <= {0, 4}:  # all kept: point_samples warns
        ref: ReferenceData = _PointReference(path, grid, field, codes, names, geoms, feature_codes)
    else:
        ref = _VectorReference(path, grid, field, codes, names, geoms[keep], feature_codes[keep])
    logger.info("%s: %d %s features, codes %s", _name(path), len(keep), ref.kind, codes.tolist())
    return ref


def _drop_unusable(gdf: pd.DataFrame, field: str, path: str) -> pd.DataFrame:
    """Skip features with null or empty geometry (logged) or a null class value (warned)."""
    no_geom = gdf.geometry.isna().to_numpy() | shapely.is_empty(gdf.geometry.to_numpy())
    no_value = gdf[field].isna().to_numpy()
    if no_geom.any():
        logger.info("%s: skipping %d features with empty geometry", _name(path), no_geom.sum())
    if (no_value & ~no_geom).any():
        warnings.warn(
            f"{int((no_value & ~no_geom).sum())} features of {_name(path)} have no value in field "
            f"{field!r} and are skipped.", stacklevel=4,
        )
    gdf = gdf[~(no_geom | no_value)]
    if not len(gdf):
        raise ReferenceDataError(
            f"{_name(path)} has no feature with both a geometry and a {field!r} value."
        )
    return gdf


def _encode(
    values: pd.Series, field: str, path: str
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Codes per feature, sorted distinct codes and their names."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        keys = _integer_values(values, field, path)
        if keys.min() >= 1:
            codes = np.unique(keys)
            return keys, codes, {int(c): str(c) for c in codes}
        distinct = np.unique(keys)
        warnings.warn(
            f"field {field!r} of {_name(path)} has values < 1 ({distinct[distinct < 1].tolist()}); "
            "0 means unlabelled, so its values are mapped to codes 1..n in sorted order: "
            + ", ".join(f"{v}->{i + 1}" for i, v in enumerate(distinct.tolist())) + ".",
            stacklevel=4,
        )
    else:
        keys = values.astype(str).to_numpy()
        distinct = np.unique(keys)
    codes = np.arange(1, len(distinct) + 1)
    names = {int(c): str(v) for c, v in zip(codes, distinct.tolist())}
    return np.searchsorted(distinct, keys) + 1, codes, names


def _integer_values(values: pd.Series, field: str, path: str) -> np.ndarray:
    numbers_ = values.to_numpy(dtype=np.float64)
    fractional = numbers_ != np.round(numbers_)
    if fractional.any():
        raise ReferenceDataError(
            f"field {field!r} of {_name(path)} holds non-integer numbers (e.g. "
            f"{numbers_[fractional][0]}); use an integer or text class field."
        )
    if np.abs(numbers_).max() > _INT32_MAX:
        raise ReferenceDataError(f"field {field!r} of {_name(path)} has codes beyond {_INT32_MAX}.")
    return numbers_.astype(np.int64)


def _to_grid_crs(gdf: Any, grid: Grid, path: str) -> np.ndarray:
    """Geometries in the grid's CRS (reprojected when both have one and they differ)."""
    if gdf.crs is None and grid.crs is None:
        return gdf.geometry.to_numpy()
    if gdf.crs is None or grid.crs is None:
        _warn_one_crs(path, reference_has_crs=gdf.crs is not None)
        return gdf.geometry.to_numpy()
    target = grid.crs.to_wkt()
    if gdf.crs.equals(target, ignore_axis_order=True):
        return gdf.geometry.to_numpy()
    logger.info("%s: reprojecting from %s to the scene CRS", _name(path), gdf.crs.to_string())
    return gdf.geometry.to_crs(target).to_numpy()


def _overlapping(geoms: np.ndarray, grid: Grid, path: str) -> np.ndarray:
    """Indices of the features that intersect the grid; error if none, warning if some do not."""
    inside = np.sort(shapely.STRtree(geoms).query(grid.footprint(), predicate="intersects"))
    if not len(inside):
        subject = f"the {len(geoms)} features of {_name(path)} do not"
        raise _no_overlap(subject, grid, shapely.total_bounds(geoms))
    if len(inside) < len(geoms):
        warnings.warn(
            f"{len(geoms) - len(inside)} of {len(geoms)} features of {_name(path)} lie outside the "
            "scene and are ignored.", stacklevel=4,
        )
    return inside


def _warn_absent_classes(
    codes: np.ndarray, names: dict[int, str], present: np.ndarray, path: str
) -> None:
    absent = [names[int(c)] for c in np.setdiff1d(codes, present)]
    if absent:
        message = f"classes {absent} of {_name(path)} have no feature in the scene."
        warnings.warn(message, stacklevel=4)


def _warn_one_crs(path: str, *, reference_has_crs: bool) -> None:
    has, lacks = (_name(path), "scene") if reference_has_crs else ("scene", _name(path))
    warnings.warn(
        f"the {has} has a CRS but the {lacks} has none; assuming both use the same coordinates.",
        stacklevel=5,
    )


def _no_overlap(subject: str, grid: Grid, ref_bounds: Iterable[float]) -> ReferenceDataError:
    crs = grid.crs.to_string() if grid.crs is not None else "the scene's coordinates (no CRS)"
    return ReferenceDataError(
        f"{subject} overlap the scene (scene bounds {_fmt(grid.bounds)}, "
        f"reference bounds {_fmt(ref_bounds)}, both in {crs}); check the CRS."
    )


# ---------------------------------------------------------------------------------- rasters
class _RasterReference(ReferenceData):
    """A label raster, read directly when on the grid, else through a nearest WarpedVRT."""

    kind = "raster"

    def __init__(self, path: str, grid: Grid, band: int) -> None:
        with _open_raster(path) as src:
            if not (isinstance(band, numbers.Integral) and 1 <= band <= src.count):
                raise ParameterError(
                    f"band={band!r} is out of range; {_name(path)} has bands 1..{src.count}."
                )
            self.band = int(band)
            self._nodata = src.nodata
            self._warp = _warp_options(src, grid, path)
            _check_raster_overlap(src, grid, path, self._warp)
        super().__init__(path, grid, None, np.zeros(0, np.int64), {})
        self.codes = self._scan_codes()
        categories = category_names(path, self.band)
        self.names = {int(c): categories.get(int(c)) or str(c) for c in self.codes}

    def read(self, window: Window | None = None) -> np.ndarray:
        window = self.grid.check_window(window)
        with rasterio.open(self.path) as src:
            if self._warp is None:
                values = src.read(self.band, window=window)
            else:
                with WarpedVRT(src, **self._warp) as vrt:
                    values = vrt.read(self.band, window=window)
        return self._to_codes(values)

    def count_outside(self, *, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB) -> int:
        """Labelled pixels of the label raster whose centres fall outside the grid (native grid)."""
        from rasterio.warp import transform as warp_transform

        g = self.grid
        with rasterio.open(self.path) as ds:
            if ds.crs == g.crs and ds.transform.almost_equals(g.transform) and ds.shape == g.shape:
                return 0
            windows = WindowPass.over(ds, mem_limit_mb=mem_limit_mb, bytes_per_pixel=BYTES_PER_PIXEL["label_raster"])

            def one(pair: WindowPair) -> int:
                w = pair.core
                values = ds.read(self.band, window=w)
                labelled = values > 0
                if ds.nodata is not None and not math.isnan(ds.nodata):
                    labelled &= values != ds.nodata
                rr, cc = np.nonzero(labelled)
                if not len(rr):
                    return 0
                x, y = ds.window_transform(w) @ (cc + 0.5, rr + 0.5)
                if ds.crs and g.crs and ds.crs != g.crs:
                    x, y = (np.asarray(v) for v in warp_transform(ds.crs, g.crs, x, y))
                col, row = ~g.transform @ (np.asarray(x), np.asarray(y))
                return int(((row < 0) | (row >= g.height) | (col < 0) | (col >= g.width)).sum())

            return windows.reduce(one, lambda total, n: total + n, 0)

    def _to_codes(self, values: np.ndarray) -> np.ndarray:
        labelled = values > 0  # also False for NaN; negative values count as unlabelled
        if self._nodata is not None and not math.isnan(self._nodata):
            labelled &= values != self._nodata
        out = np.where(labelled, values, 0)
        if out.dtype.kind == "f" and not np.all(out == np.round(out)):
            raise ReferenceDataError(
                f"label raster {_name(self.path)} holds non-integer values; codes must be integers."
            )
        if out.size and out.max() > _INT32_MAX:
            raise ReferenceDataError(
                f"label raster {_name(self.path)} has code {out.max()} > {_INT32_MAX}."
            )
        return out.astype(np.int32)

    def _scan_codes(self) -> np.ndarray:
        """Distinct codes on the grid, one tile at a time."""
        seen: set[int] = set()
        for _, _, codes in self.iter_labelled():
            if len(codes) and codes.max() < 1 << 16:
                seen.update(np.flatnonzero(np.bincount(codes)).tolist())
            else:
                seen.update(np.unique(codes).tolist())
        if not seen:
            raise ReferenceDataError(
                f"label raster {_name(self.path)} has no labelled pixel (value > 0, not nodata) "
                "within the scene; check the band and the CRS."
            )
        return np.array(sorted(seen), dtype=np.int64)


def _open_raster(path: str) -> Any:
    try:
        return rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise ReferenceDataError(
            f"{_name(path)} is neither a vector file nor a raster that GDAL can read ({exc})."
        ) from None


def _warp_options(src: Any, grid: Grid, path: str) -> dict[str, Any] | None:
    """WarpedVRT keywords that put ``src`` on ``grid``, or None when it is already on it."""
    src_crs, dst_crs = src.crs or None, grid.crs
    if (src_crs is None) != (dst_crs is None):
        _warn_one_crs(path, reference_has_crs=src_crs is not None)
        src_crs = dst_crs = src_crs or dst_crs
    same_crs = src_crs is None or src_crs == dst_crs
    if same_crs and src.shape == grid.shape and src.transform.almost_equals(grid.transform):
        return None
    src_crs = src_crs or _NO_CRS
    logger.info("%s: warping the label raster onto the scene grid (nearest)", _name(path))
    return {
        "src_crs": src_crs, "crs": dst_crs or src_crs, "transform": grid.transform,
        "width": grid.width, "height": grid.height, "resampling": Resampling.nearest, "nodata": 0,
    }


def _check_raster_overlap(src: Any, grid: Grid, path: str, warp: dict[str, Any] | None) -> None:
    if warp is None:
        return
    bounds = tuple(src.bounds)
    if warp["src_crs"] != warp["crs"]:
        bounds = transform_bounds(warp["src_crs"], warp["crs"], *bounds)
    if not shapely.box(*bounds).intersects(grid.footprint()):
        raise _no_overlap(f"the label raster {_name(path)} does not", grid, bounds)


def category_names(path: str | os.PathLike, band: int = 1) -> dict[int, str]:
    """GDAL category names of ``band`` from the PAM side-car ``<path>.aux.xml``, if any.

    Returns
    -------
    dict of int to str
        Pixel value -> name, for the non-empty names.
    """
    path = str(path)
    aux = path + ".aux.xml"
    if not os.path.exists(aux):
        return {}
    try:
        root = ET.parse(aux).getroot()
    except ET.ParseError:
        logger.warning("%s: unreadable %s; using codes as names", _name(path), aux)
        return {}
    for element in root.iter("PAMRasterBand"):
        if element.get("band", "1") == str(band):
            texts = [(c.text or "").strip() for c in element.findall("CategoryNames/Category")]
            return {i: text for i, text in enumerate(texts) if text}
    return {}


# ---------------------------------------------------------------------------------- helpers
def _name(path: str) -> str:
    return os.path.basename(path) or path


def _fmt(bounds: Iterable[float]) -> str:
    return "(" + ", ".join(f"{b:.6g}" for b in bounds) + ")"
