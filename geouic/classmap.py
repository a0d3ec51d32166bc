"""The one class-map reader: check a class map, read a window of codes, its legend and its grid.

A class map is a single-band integer raster of class codes (the output of ``geouic classify``,
``assign-schema`` or ``merge``): 0 and the nodata value mean "no class", codes go up to 65535.
``assign-schema``, ``accuracy``, ``sample-design``, ``stats``, ``merge`` and ``info`` all read
class maps through this module, so they agree on what counts as a class and what its name and
colour are (the colour table and the GDAL category names of the PAM side-car).
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from geouic.colors import Color, distinct_colors
from geouic.errors import RasterInputError

__all__ = [
    "check_class_map",
    "class_map_grid",
    "class_names",
    "colour_table",
    "open_class_map",
    "read_classes",
    "read_legend",
]

logger = logging.getLogger(__name__)

#: Largest class code a class map may hold (uint16).
MAX_CODE = 65535


def check_class_map(source: Any, *, warn_crs: bool = True) -> None:
    """Raise RasterInputError unless ``source`` (a RasterSource) is a single-band integer map.

    Parameters
    ----------
    source : RasterSource
    warn_crs : bool, default=True
        Warn when the map has no CRS (areas then assume map units of metres).
    """
    ds = source.dataset
    if ds.count != 1 or not np.issubdtype(np.dtype(ds.dtypes[0]), np.integer):
        raise RasterInputError(f"{source.path}: has {ds.count} band(s) of {ds.dtypes[0]}; a class map has one band "
                               "of integer class codes (the output of `geouic classify`).")
    if warn_crs and source.crs is None:
        warnings.warn(f"{source.path} has no CRS; areas assume map units of metres.", stacklevel=3)


@contextlib.contextmanager
def open_class_map(path: str | os.PathLike, *, warn_crs: bool = True, nodata: float | None = None) -> Iterator[Any]:
    """Open and check a class map; yields a :class:`~geouic.raster.RasterSource`.

    ``nodata`` declares a value of "no class" for a map without a nodata tag (``--nodata``):
    :func:`read_classes` reads it as 0, as it does the file's own nodata value.
    """
    from geouic.raster import open_raster

    with open_raster(path, nodata=nodata) as source:
        check_class_map(source, warn_crs=warn_crs)
        yield source


def read_classes(source: Any, window: Any, *, compact: bool = False) -> np.ndarray:
    """Class values of a window of a class map; nodata and negative values become 0.

    Parameters
    ----------
    source : RasterSource
        A checked class map.
    window : rasterio.windows.Window
    compact : bool, default=False
        Keep the codes small: uint8 and uint16 maps are returned as read (no copy), other
        integer maps as uint16 (every code fits). Otherwise int64, safe for any arithmetic.
        Callers that only index, compare or count (``np.bincount``) should pass True: a
        uint8 window takes an eighth of the memory.

    Returns
    -------
    ndarray of int64 (or uint8 / uint16 with ``compact``), shape (rows, cols)

    Raises
    ------
    RasterInputError
        A value above 65535 (not a class map).
    """
    values = source.dataset.read(1, window=window)
    # The file's nodata and a declared one (``open_class_map(nodata=...)``: ``source.nodata``).
    empty = {int(v) for v in (source.dataset.nodata, getattr(source, "nodata", None))
             if v is not None and v == v and v != 0 and float(v).is_integer()}
    if compact and values.dtype in (np.uint8, np.uint16):
        for nodata in empty:
            values[values == nodata] = 0
        return values
    values = values.astype(np.int64)
    values[values < 0] = 0
    for nodata in empty:
        values[values == nodata] = 0
    if values.size and values.max() > MAX_CODE:
        raise RasterInputError(f"{source.path}: holds class {values.max()} > {MAX_CODE}; is it really a class map?")
    return values.astype(np.uint16) if compact else values


def class_map_grid(source: Any) -> Any:
    """The pixel grid (:class:`geouic.reference.Grid`) of an open class map, to read references onto."""
    from geouic.reference import Grid

    return Grid.from_dataset(source.dataset)


def colour_table(dataset: Any) -> dict[int, tuple[int, ...]]:
    """The colour table of band 1 of an open dataset (``{code: (r, g, b, a)}``; empty without one)."""
    try:
        return dict(dataset.colormap(1))
    except ValueError:  # no colour table
        return {}


def class_names(path: str | os.PathLike) -> dict[int, str]:
    """Category names of the classes (codes > 0) of a class map, from its PAM side-car."""
    from geouic.reference import category_names

    return {c: n for c, n in category_names(path, 1).items() if c > 0}


def read_legend(path: str | os.PathLike, codes: Sequence[int]) -> Any:
    """Names and colours of ``codes`` in a class map: its colour table and category names.

    Classes without a colour or a name get a generated colour and ``class <code>``.

    Returns
    -------
    geouic.output.Legend
    """
    import rasterio

    from geouic.output import Legend
    from geouic.reference import category_names

    with rasterio.open(path) as ds:
        cmap = colour_table(ds)
    names = category_names(path, 1)
    palette = distinct_colors(len(codes))

    def colour(i: int, c: int) -> Color:
        if c in cmap and cmap[c][3] > 0:
            r, g, b = cmap[c][:3]
            return (int(r), int(g), int(b))
        return palette[i]

    return Legend(names={c: names.get(c) or f"class {c}" for c in codes},
                  colors={c: colour(i, c) for i, c in enumerate(codes)})
