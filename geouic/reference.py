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
import numbers
import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from geouic.errors import ParameterError, ReferenceDataError
from geouic.windows import DEFAULT_MEM_LIMIT_MB, WindowPair, WindowPass, tile_windows

__all__ = ["Grid", "ReferenceData", "open_reference", "category_names"]

logger = logging.getLogger(__name__)

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
            raise ParameterError(f"transform={self.transform!r} must be an affine.Affine.", params=("transform",))
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
                f"grid of {self.width} x {self.height} pixels.", params=("window",)
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
        raise ParameterError(f"grid={grid!r} must be a geouic.reference.Grid (Grid.from_dataset).", params=("grid",))
    if not path.startswith("/vsi") and not os.path.exists(path):
        raise ReferenceDataError(f"reference file not found: {path}")
    from geouic._reference_rasters import _RasterReference
    from geouic._reference_vectors import _is_vector, _open_vector

    if _is_vector(path):
        return _open_vector(path, grid, field, layer)
    if field is not None:
        warnings.warn(f"field={field!r} is ignored: {_name(path)} is a label raster.", stacklevel=2)
    return _RasterReference(path, grid, band)


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


def _name(path: str) -> str:
    return os.path.basename(path) or path


def _fmt(bounds: Iterable[float]) -> str:
    return "(" + ", ".join(f"{b:.6g}" for b in bounds) + ")"
