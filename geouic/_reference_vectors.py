"""Vector reference data (polygons, lines, points in any OGR format) rasterised onto a grid.

Private room of :mod:`geouic.reference` (use :func:`geouic.reference.open_reference`). Features
are reprojected to the grid's CRS once, kept in memory with a spatial index, and only those
intersecting a window are rasterised for it: polygons by the pixel-centre rule (as
``gdal_rasterize``), points and lines with ``all_touched``; where features overlap, the later
one in the file wins.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import shapely
from rasterio.features import rasterize
from rasterio.windows import Window

from geouic.errors import ReferenceDataError
from geouic.reference import _INT32_MAX, Grid, ReferenceData, _name, _no_overlap, _warn_one_crs
from geouic.windows import DEFAULT_MEM_LIMIT_MB

logger = logging.getLogger("geouic.reference")


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

    def count_outside(self, *, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB) -> int:
        """Approximate labelled pixels outside the grid: polygon area outside / pixel area."""
        outside = shapely.area(shapely.difference(_labelled_geometries(self), shapely.box(*self.grid.bounds))).sum()
        return int(round(outside / abs(self.grid.transform.determinant)))


def _labelled_geometries(ref: ReferenceData) -> np.ndarray:
    """Geometries of every labelled feature of the file (not only those on the grid), in the grid's CRS."""
    gdf = pyogrio.read_dataframe(ref.path, columns=[ref.field])
    gdf = gdf[gdf[ref.field].notna() & gdf.geometry.notna()]
    crs = ref.grid.crs
    if gdf.crs is not None and crs is not None and not gdf.crs.equals(crs.to_wkt()):
        gdf = gdf.to_crs(crs.to_wkt())
    return _repair(gdf.geometry.to_numpy(), ref.path, warn=False)


def _repair(geoms: np.ndarray, path: str, *, warn: bool = True) -> np.ndarray:
    """Invalid (e.g. self-intersecting) geometries repaired with shapely.make_valid, counted in a warning."""
    bad = ~shapely.is_valid(geoms)
    if not bad.any():
        return geoms
    geoms = geoms.copy()
    geoms[bad] = shapely.make_valid(geoms[bad], method="structure", keep_collapsed=False)
    if warn:
        warnings.warn(f"{int(bad.sum())} of {len(geoms)} features of {_name(path)} have invalid (e.g. "
                      "self-intersecting) geometries; they were repaired with shapely.make_valid. Check them "
                      "in a GIS if the classes look wrong.", stacklevel=4)
    return geoms


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

    def count_outside(self, *, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB) -> int:
        """Labelled points of the file that lie beyond the grid."""
        coords = shapely.get_coordinates(_labelled_geometries(self))
        col, row = ~self.grid.transform @ (coords[:, 0], coords[:, 1])
        g = self.grid
        return int(((row < 0) | (row >= g.height) | (col < 0) | (col >= g.width)).sum())


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
    geoms = _repair(_to_grid_crs(gdf, grid, path), path)
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
