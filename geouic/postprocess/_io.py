"""Reading class maps and writing post-processed maps: the only I/O of the post-processing room.

Everything raster-wide in :mod:`geouic.postprocess` goes through :func:`strips` (the one window
iteration of the room, so it can be swapped for the shared window pass in one place) and
:func:`read_strip`. Outputs keep the input's legend (colour table, category names, ``.qml``) and
provenance tags, extended by one entry per step in ``GEOUIC_STEPS``.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from geouic.errors import RasterInputError

__all__ = ["open_class_map", "strips", "read_strip", "codes_present", "category_names", "class_legend", "step_tags",
           "pixel_area_rows"]

#: Bytes one pixel of a strip costs in the labelling passes (classes, labels, masks, pairs).
STRIP_BYTES_PER_PIXEL = 32


def open_class_map(path: str | os.PathLike) -> Any:
    """Open a single-band integer class map as a :class:`geouic.raster.RasterSource`.

    Raises
    ------
    RasterInputError
        Missing, unreadable, multi-band or non-integer rasters.
    """
    from geouic.classstats import check_class_map
    from geouic.raster import open_raster

    source = open_raster(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no-CRS warning: areas are checked by the caller
            check_class_map(source)
    except BaseException:
        source.close()
        raise
    return source


def strips(source: Any, *, mem_limit_mb: float, halo: int = 0,
           bytes_per_pixel: int = STRIP_BYTES_PER_PIXEL) -> list[Any]:
    """Full-width strips of whole block rows, as many rows as ``mem_limit_mb`` allows (at least one).

    The single window iteration of the room (swap point for the shared window pass). Returns
    :class:`geouic.raster.WindowPair` objects whose ``read`` window adds ``halo`` rows above
    and below (and is clipped to the map).
    """
    from geouic.raster import block_windows

    block_rows = max(1, min(source.block_shape[0], source.height))
    # A block shape as wide as the map makes block_windows cut full-width strips.
    return block_windows(source.width, source.height, (block_rows, source.width), mem_limit_mb=mem_limit_mb,
                         halo=halo, bytes_per_pixel=bytes_per_pixel)


def read_strip(source: Any, window: Any) -> np.ndarray:
    """Class codes of a window as uint8 or uint16 (nodata and negative values -> 0).

    Same rules as :func:`geouic.classstats.read_classes`, without its int64 copy: uint8 and
    uint16 maps are used as read.

    Raises
    ------
    RasterInputError
        A value above 65535 (not a class map).
    """
    values = source.dataset.read(1, window=window)
    nodata = source.dataset.nodata
    if nodata is not None and nodata == nodata and nodata != 0:
        values[values == nodata] = 0
    if values.dtype in (np.uint8, np.uint16):
        return values
    if np.issubdtype(values.dtype, np.signedinteger):
        values[values < 0] = 0
    if values.size and values.max() > 65535:
        raise RasterInputError(f"{source.path}: holds class {values.max()} > 65535; is it really a class map?")
    return values.astype(np.uint16)


def codes_present(source: Any, windows: Any) -> list[int]:
    """Class codes (> 0) present in the map: one cheap pass (the legend is needed before writing)."""
    counts = np.zeros(1, np.int64)
    for pair in windows:
        c = np.bincount(read_strip(source, pair.core).ravel())
        if len(c) > len(counts):
            counts = np.pad(counts, (0, len(c) - len(counts)))
        counts[: len(c)] += c
    return [int(c) for c in np.flatnonzero(counts[1:]) + 1]


def pixel_area_rows(source: Any) -> tuple[np.ndarray | None, float]:
    """Per-row pixel area in hectares for geographic maps, else ``(None, constant area)``.

    Projected maps have one pixel area; geographic ones get the exact ellipsoidal area of each
    row (see :func:`geouic.classstats.pixel_areas_ha`).
    """
    from geouic.classstats import pixel_areas_ha

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = pixel_areas_ha(source.transform, source.crs, [0], 1)[0, 0]
        if source.crs is None or not source.crs.is_geographic:
            return None, float(first)
        rows = pixel_areas_ha(source.transform, source.crs, np.arange(source.height), 1)[:, 0]
    return rows, float(rows.mean())


def category_names(source: Any) -> dict[int, str]:
    """Class names from the map's ``.aux.xml`` category names (empty when there are none)."""
    import xml.etree.ElementTree as ET

    aux = Path(str(source.path) + ".aux.xml")
    if not aux.exists():
        return {}
    try:
        cats = [c.text or "" for c in ET.parse(aux).getroot().iter("Category")]
    except ET.ParseError:
        return {}
    return {i: t.strip() for i, t in enumerate(cats) if i > 0 and t.strip()}


def class_legend(source: Any, codes: Any) -> Any:
    """The input's legend for the classes present and every named class (colours, names kept)."""
    from geouic.classstats import read_legend

    named = set(category_names(source))
    present = {int(c) for c in codes if int(c) > 0}
    all_codes = sorted(present | named)
    if not present:
        raise RasterInputError(f"{source.path}: has no classified pixel (every pixel is 0 or nodata); "
                               "nothing to post-process.")
    return read_legend(source.path, all_codes)


def step_tags(source: Any, step: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The input's tags plus this step appended to ``GEOUIC_STEPS`` (JSON list)."""
    from geouic import __version__

    tags = {k: v for k, v in source.dataset.tags().items() if k.startswith("GEOUIC_")}
    try:
        steps = json.loads(tags.get("GEOUIC_STEPS", "[]"))
        if not isinstance(steps, list):
            steps = []
    except json.JSONDecodeError:
        steps = []
    steps.append({"step": step, "input": str(source.path), "parameters": dict(params), "version": __version__,
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    tags.update(GEOUIC_STEPS=steps, GEOUIC_STEP=step, GEOUIC_VERSION=__version__)
    tags.setdefault("GEOUIC_INPUT", str(source.path))
    return tags
