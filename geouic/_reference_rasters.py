"""Label-raster reference data read onto a grid (directly, or through a nearest WarpedVRT).

Private room of :mod:`geouic.reference` (use :func:`geouic.reference.open_reference`).
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import Any

import numpy as np
import rasterio
import shapely
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geouic.errors import ParameterError, ReferenceDataError
from geouic.reference import _INT32_MAX, Grid, ReferenceData, _name, _no_overlap, _warn_one_crs, category_names
from geouic.windows import BYTES_PER_PIXEL, DEFAULT_MEM_LIMIT_MB, WindowPair, WindowPass

logger = logging.getLogger("geouic.reference")

#: Stand-in CRS for warping between two grids that both lack one (coordinates taken as-is).
_NO_CRS = CRS.from_wkt('LOCAL_CS["geouic: no CRS",UNIT["metre",1]]')


class _RasterReference(ReferenceData):
    """A label raster, read directly when on the grid, else through a nearest WarpedVRT."""

    kind = "raster"
    band: int
    _nodata: float | None
    _warp: dict[str, Any] | None

    def __init__(self, path: str, grid: Grid, band: int) -> None:
        with _open_raster(path) as src:
            if not (isinstance(band, numbers.Integral) and 1 <= band <= src.count):
                raise ParameterError(
                    f"band={band!r} is out of range; {_name(path)} has bands 1..{src.count}.", params=("band",)
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
