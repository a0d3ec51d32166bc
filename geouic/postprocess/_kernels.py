"""Compiled loops of the sieve (numba): strip statistics, strip borders, smallest-first dissolution.

Why compiled: each of these is one pass with a little state per pixel or per patch, which numpy can
only express as several whole-array passes, sorts and ``ufunc.at`` scatters. Profiled on a
4000 x 4000 map (458,616 patches), the numpy forms took 0.75 of the sieve's 1.33 CPU s (border
pairs and their sort, the per-strip scatters, the dissolution rounds); GDAL's C sieve cannot be
used instead (its rule is the largest neighbour, not the longest border).

numba is imported lazily (``import geouic`` stays light); when it is missing, :data:`AVAILABLE`
is False and the callers use their numpy forms, which give the same results (the tests run both).
Functions are compiled with ``cache=True``: the first run in a fresh environment compiles them
(a few seconds, once), later processes load the cached machine code.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["kernels"]

_CACHE: dict[str, Any] = {}


def kernels() -> Any | None:
    """The compiled kernels (module :mod:`geouic.postprocess._numba`), or None without numba.

    ``GEOUIC_NO_NUMBA=1`` in the environment also gives None (the numpy forms; used by the tests).
    """
    if os.environ.get("GEOUIC_NO_NUMBA", "") not in ("", "0"):
        return None
    if "k" not in _CACHE:
        try:
            from geouic.postprocess import _numba
        except ImportError:
            _CACHE["k"] = None
        else:
            _CACHE["k"] = _numba
    return _CACHE["k"]
