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
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["provenance_tags"]


def provenance_tags(method: str, inputs: str | os.PathLike | Sequence[str | os.PathLike], *,
                    extra: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """``GEOUIC_*`` tags for an output map.

    Parameters
    ----------
    method : str
        What made the map (``"kmeans"``, ``"assign-schema"``, ``"merge"``...).
    inputs : str, path-like or sequence of them
        The input files (joined with ``;``).
    extra : mapping, optional
        Tags given with their full names; they override the others.
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
    tags.update(extra or {})
    return {k: v for k, v in tags.items() if v is not None}
