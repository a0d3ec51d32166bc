"""What the post-processing room shares: its window passes, the legend and tags it writes, pixel areas.

The room has no reader and no window loop of its own: class maps are opened and read through
:mod:`geouic.classmap` (``read_classes(..., compact=True)``: uint8 / uint16 maps are used as
read, without an int64 copy), strips are planned by :meth:`geouic.windows.WindowPass.strips`
and run through its ``map`` / ``reduce``, pixel areas come from :mod:`geouic.areas` and the step
record from :mod:`geouic.provenance`. Outputs keep the input's legend (colour table, category
names, ``.qml``) and provenance tags, extended by one entry per step in ``GEOUIC_STEPS``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from geouic.classmap import class_names, read_classes, read_legend
from geouic.counts import ClassCounts
from geouic.errors import RasterInputError
from geouic.windows import ProgressCallback, RunProgress, WindowPair, WindowPass

__all__ = ["STRIP_BYTES_PER_PIXEL", "strips", "read_strip", "codes_present", "class_legend", "step_tags",
           "pixel_area_rows"]

#: Bytes one pixel of a strip costs in the labelling passes (classes, labels, masks, pairs).
STRIP_BYTES_PER_PIXEL = 32


def strips(source: Any, *, mem_limit_mb: float, halo: int = 0,
           bytes_per_pixel: int = STRIP_BYTES_PER_PIXEL) -> WindowPass:
    """The room's pass: full-width strips of whole block rows within ``mem_limit_mb``.

    See :func:`geouic.windows.strip_windows`; each ``read`` window adds ``halo`` rows above and
    below (clipped to the map).
    """
    return WindowPass.strips(source, mem_limit_mb=mem_limit_mb, halo=halo, bytes_per_pixel=bytes_per_pixel)


def read_strip(source: Any, window: Any) -> np.ndarray:
    """Class codes of a window as uint8 or uint16 (nodata and negative values -> 0).

    :func:`geouic.classmap.read_classes` with ``compact=True``.
    """
    return read_classes(source, window, compact=True)


def codes_present(source: Any, windows: WindowPass, *,
                  progress: ProgressCallback | RunProgress | None = None) -> list[int]:
    """Class codes (> 0) present in the map: one cheap pass (the legend is needed before writing)."""
    def one(pair: WindowPair) -> np.ndarray:
        return read_strip(source, pair.core)

    counts = windows.reduce(one, lambda acc, classes: acc.add(classes), ClassCounts(), progress=progress)
    return [int(c) for c in counts.classes]


def pixel_area_rows(source: Any) -> tuple[np.ndarray | None, float]:
    """Per-row pixel area in hectares for geographic maps, else ``(None, constant area)``.

    Projected maps have one pixel area; geographic ones get the exact ellipsoidal area of each
    row (see :func:`geouic.areas.pixel_areas_ha`).
    """
    from geouic.areas import pixel_areas_ha

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = pixel_areas_ha(source.transform, source.crs, [0], 1)[0, 0]
        if source.crs is None or not source.crs.is_geographic:
            return None, float(first)
        rows = pixel_areas_ha(source.transform, source.crs, np.arange(source.height), 1)[:, 0]
    return rows, float(rows.mean())


def class_legend(source: Any, codes: Any) -> Any:
    """The input's legend for the classes present and every named class (colours, names kept)."""
    named = set(class_names(source.path))
    present = {int(c) for c in codes if int(c) > 0}
    all_codes = sorted(present | named)
    if not present:
        raise RasterInputError(f"{source.path}: has no classified pixel (every pixel is 0 or nodata); "
                               "nothing to post-process.")
    return read_legend(source.path, all_codes)


def step_tags(source: Any, step: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The input's tags plus this step appended to ``GEOUIC_STEPS`` (JSON list).

    The step record (version, input, time) comes from :func:`geouic.provenance.provenance_tags`;
    unlike a new map's tags, the input's method and input are kept (the map was made by them).
    """
    from geouic.provenance import provenance_tags

    tags = {k: v for k, v in source.dataset.tags().items() if k.startswith("GEOUIC_")}
    try:
        steps = json.loads(tags.get("GEOUIC_STEPS", "[]"))
        if not isinstance(steps, list):
            steps = []
    except json.JSONDecodeError:
        steps = []
    record = provenance_tags(step, source.path)
    steps.append({"step": step, "input": record["GEOUIC_INPUT"], "parameters": dict(params),
                  "version": record["GEOUIC_VERSION"], "created": record["GEOUIC_CREATED"]})
    tags.update(GEOUIC_STEPS=steps, GEOUIC_STEP=step, GEOUIC_VERSION=record["GEOUIC_VERSION"])
    tags.setdefault("GEOUIC_INPUT", record["GEOUIC_INPUT"])
    return tags
