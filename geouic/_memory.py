"""Hand memory the allocator keeps back to the operating system.

glibc's ``malloc`` keeps freed memory in its arenas for reuse, and its threshold for giving large
blocks their own mapping grows with the largest block freed, so after a stage of large
temporaries (a UIC fit: the pool, the mixture's posteriors, the members' batches) the resident
set can stay far above what is in use. :func:`release_freed_memory` (``malloc_trim(0)``) at
the end of the UIC fit hands it back before the prediction pass: measured on a 1600 x 1600 x 6
scene, K = 8 (benchmarks/RESULTS.md, "UIC prediction memory"), the fit ended 73-132 MB above
its start without it and 10 MB with it. Trimming after every prediction window as well saved
another 20-30 MB of peak but cost 10-15 % of the prediction's CPU in page faults, and fixing
the mapping threshold (``MALLOC_MMAP_THRESHOLD_``) cost 50 %: neither is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys

__all__ = ["release_freed_memory"]


@functools.cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory(*, collect: bool = False) -> bool:
    """Return the allocator's free memory to the system; True where that is possible (glibc).

    Parameters
    ----------
    collect : bool, default=False
        Run the garbage collector first (after a stage that built reference cycles).
    """
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
