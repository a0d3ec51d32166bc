"""Compiled loops of the sieve (numba): label statistics, strip borders, the dissolution, the table.

Why compiled: each of these is one pass with a little state per pixel or per patch, which numpy can
only express as several whole-array passes, sorts and ``ufunc.at`` scatters. Profiled on a
4000 x 4000 bench map (458,616 patches; ``cProfile`` with process time), the numpy forms took
about 0.75 of the sieve's 1.33 CPU s (border pairs and their sort, the per-strip scatters, the
dissolution rounds); GDAL's C sieve cannot be used instead (its rule is the largest neighbour,
not the longest border). The kernels live in :mod:`geouic.postprocess._numba`.

numba is imported on first use (``import geouic`` stays light); when it is missing, or
``GEOUIC_NO_NUMBA=1`` is set, :func:`kernels` returns None and the callers use their numpy forms,
which give the same results (the tests compare both). Functions are compiled with ``cache=True``:
the first run in a fresh environment compiles them (measured in ``benchmarks/RESULTS.md``), later
processes load the cached machine code; importing numba costs every process about 0.5 CPU s and
about 140 MB of resident memory (LLVM), whatever the map size.
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
