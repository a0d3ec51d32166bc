"""The one provenance-tag builder: what every map geouic writes says about how it was made.

Every output map carries ``GEOUIC_*`` tags (STYLE.md, "Outputs"): the version, the method, the
inputs, the time of creation, and what the method needs to be reproduced (parameters, seed,
bands, reference, schema, merged groups...). Values that are None are left out; the writer
turns lists and dicts into JSON text.

Examples
--------
>>> tags = provenance_tags("merge", "classes.tif", merge=[[3, 7]], merge_to=None)
>>> sorted(tags)
['GEOUIC_CREATED', 'GEOUIC_INPUT', 'GEOUIC_MERGE', 'GEOUIC_METHOD', 'GEOUIC_VERSION']

A map made from another geouic map (``assign-schema`` and ``merge`` from ``classify``'s class
map) chains the input's tags in ``GEOUIC_SOURCE_PROVENANCE``, so the land-cover map still says
which method, parameters and seed made its classes; :func:`provenance_chain` unrolls the chain.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["provenance_chain", "provenance_tags", "read_provenance"]

#: Tag holding the provenance of the map a map was made from.
SOURCE_TAG = "GEOUIC_SOURCE_PROVENANCE"


def provenance_tags(method: str, inputs: str | os.PathLike | Sequence[str | os.PathLike], *,
                    extra: Mapping[str, Any] | None = None, source: str | os.PathLike | None = None,
                    **fields: Any) -> dict[str, Any]:
    """``GEOUIC_*`` tags for an output map.

    Parameters
    ----------
    method : str
        What made the map (``"kmeans"``, ``"assign-schema"``, ``"merge"``...).
    inputs : str, path-like or sequence of them
        The input files (joined with ``;``).
    extra : mapping, optional
        Tags given with their full names; they override the others.
    source : str or path-like, optional
        The geouic map this one is made from: its ``GEOUIC_*`` tags are kept, as JSON, in
        ``GEOUIC_SOURCE_PROVENANCE`` (with their own source's, and so on).
    **fields
        More tags: ``seed=0`` becomes ``GEOUIC_SEED``. None values are left out.

    Returns
    -------
    dict of str to object
    """
    from geouic import __version__

    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    tags: dict[str, Any] = {
        "GEOUIC_VERSION": __version__,
        "GEOUIC_METHOD": method,
        "GEOUIC_INPUT": ";".join(str(p) for p in paths),
        **{f"GEOUIC_{name.upper()}": value for name, value in fields.items()},
        "GEOUIC_CREATED": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if source is not None:
        parent = read_provenance(source)
        tags[SOURCE_TAG] = parent or None
    tags.update(extra or {})
    return {k: v for k, v in tags.items() if v is not None}


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """The ``GEOUIC_*`` tags of a raster, JSON values decoded (empty when it has none or cannot be read)."""
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as ds:
            tags = ds.tags()
    except (RasterioIOError, OSError):
        return {}
    out: dict[str, Any] = {}
    for key, value in tags.items():
        if key.startswith("GEOUIC_"):
            out[key] = _decode(value) if key in (SOURCE_TAG, "GEOUIC_PARAMETERS", "GEOUIC_MERGE") else value
    return out


def provenance_chain(tags: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The steps that made a map, latest first: each step's tags without the ``GEOUIC_`` prefix, lower case."""
    steps: list[dict[str, Any]] = []
    current: Any = tags
    while isinstance(current, Mapping) and current and len(steps) < 32:
        steps.append({k[len("GEOUIC_"):].lower(): v for k, v in current.items()
                      if k.startswith("GEOUIC_") and k != SOURCE_TAG})
        nxt = current.get(SOURCE_TAG)
        current = _decode(nxt) if isinstance(nxt, str) else nxt
    return steps
