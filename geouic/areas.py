"""Ground areas: of pixels (exact for projected grids, on the ellipsoid for geographic ones) and of classes.

:func:`pixel_areas_ha` gives the area of pixels, exactly for projected grids and on the
ellipsoid for geographic ones (where pixel area shrinks with latitude); :func:`class_areas`
counts pixels and hectares per class of a class map over its window pass.

Examples
--------
A 30 m pixel of a projected grid covers 0.09 ha:

>>> from affine import Affine
>>> float(pixel_areas_ha(Affine(30, 0, 0, 0, -30, 0), "EPSG:32633", [0], 1)[0, 0])
0.09
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from geouic.classmap import open_class_map, read_classes
from geouic.counts import ClassCounts
from geouic.errors import ParameterError
from geouic.windows import BYTES_PER_PIXEL, DEFAULT_MEM_LIMIT_MB, ProgressCallback, RunProgress, WindowPair, WindowPass

__all__ = ["area_counts", "class_areas", "pixel_areas_ha", "window_areas"]


def pixel_areas_ha(transform: Any, crs: Any, rows: Sequence[int] | np.ndarray, width: int) -> np.ndarray:
    """Ground area of pixels in hectares.

    Parameters
    ----------
    transform : affine.Affine
        Transform of the grid (or of a window: rows and columns count from its corner).
    crs : rasterio CRS, pyproj CRS, str or None
        Projected CRS: area from the transform and the linear unit. Geographic CRS: area on the
        CRS's ellipsoid (exact band formula for north-up grids, local area element at the pixel
        centre for rotated ones). None: map units are taken as metres, with a warning.
    rows : sequence of int
        Row indexes.
    width : int
        Columns 0..width-1.

    Returns
    -------
    ndarray of shape (len(rows), width), float64
    """
    rows = np.asarray(rows, dtype=np.float64)
    det = abs(transform.a * transform.e - transform.b * transform.d)
    if crs is None:
        warnings.warn("the map has no CRS; areas assume map units of metres.", stacklevel=2)
        return np.full((len(rows), width), det / 1e4)
    import pyproj

    pcrs = pyproj.CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    factor = pcrs.axis_info[0].unit_conversion_factor if pcrs.axis_info else 1.0
    if not pcrs.is_geographic:
        return np.full((len(rows), width), det * factor**2 / 1e4)
    ellipsoid = pcrs.ellipsoid
    if ellipsoid is None:
        raise ParameterError(f"crs={pcrs.name!r} is geographic but defines no ellipsoid; give the map a "
                             "complete CRS (e.g. EPSG:4326).", params=("crs",))
    a, b = ellipsoid.semi_major_metre, ellipsoid.semi_minor_metre
    if transform.b == 0 and transform.d == 0:
        lat0 = (transform.f + transform.e * rows) * factor
        lat1 = (transform.f + transform.e * (rows + 1)) * factor
        band = np.abs(_authalic_q(lat0, a, b) - _authalic_q(lat1, a, b)) * b**2 / 2
        return np.repeat((band * abs(transform.a) * factor / 1e4)[:, None], width, axis=1)
    cols = np.arange(width) + 0.5
    lat = (transform.d * cols[None, :] + transform.e * (rows[:, None] + 0.5) + transform.f) * factor
    e2 = 1 - (b / a) ** 2
    w = np.sqrt(1 - e2 * np.sin(lat) ** 2)
    m, n = a * (1 - e2) / w**3, a / w  # meridional and prime-vertical radii of curvature
    return det * factor**2 * m * n * np.cos(lat) / 1e4


def _authalic_q(lat: np.ndarray, a: float, b: float) -> np.ndarray:
    """``q(phi)`` of the ellipsoidal band area ``b^2 dlon / 2 * (q(phi2) - q(phi1))``."""
    s = np.sin(lat)
    e = math.sqrt(max(0.0, 1 - (b / a) ** 2))
    if e < 1e-12:
        return 2 * s
    return s / (1 - e**2 * s**2) + np.log((1 + e * s) / (1 - e * s)) / (2 * e)


def window_areas(source: Any, window: Any) -> np.ndarray:
    """Ground area (ha) of every pixel of a window of ``source`` (no CRS: metres, no warning)."""
    from affine import Affine

    t = source.transform @ Affine.translation(int(window.col_off), int(window.row_off))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warned once per map by the caller
        return pixel_areas_ha(t, source.crs, np.arange(int(window.height)), int(window.width))


def area_counts(source: Any, windows: WindowPass, *,
                progress: ProgressCallback | RunProgress | None = None) -> ClassCounts:
    """Pixels and hectares per class of a checked class map over a window pass."""
    def one(pair: WindowPair) -> tuple[np.ndarray, np.ndarray]:
        return read_classes(source, pair.core), window_areas(source, pair.core)

    return windows.reduce(one, lambda acc, r: acc.add(r[0], weights=r[1]), ClassCounts(), progress=progress)


def class_areas(map_path: str | os.PathLike, *, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB,
                progress: ProgressCallback | RunProgress | None = None,
                nodata: float | None = None) -> dict[int, tuple[int, float]]:
    """Pixels and area (ha) of every class of a class map, window by window.

    Parameters
    ----------
    map_path : str or path-like
        Single-band integer class map (0 and the nodata value = no class).
    mem_limit_mb : float, default=64
    progress : callable, optional
        ``progress(advance, total)`` per window.
    nodata : float, optional
        A declared "no class" value for maps without a nodata tag (see ``open_class_map``).

    Returns
    -------
    dict of int to (int, float)
        ``{code: (pixels, area_ha)}`` for the classes present, sorted by code.
    """
    with open_class_map(map_path, nodata=nodata) as source:
        windows = source.windows(mem_limit_mb=mem_limit_mb, bytes_per_pixel=BYTES_PER_PIXEL["class_map"])
        acc = area_counts(source, windows, progress=progress)
    return {int(c): (int(acc.pixels[c]), float(acc.weights[c])) for c in acc.classes}
