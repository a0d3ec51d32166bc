"""Thread policy: parallelism across windows, one BLAS/OpenMP thread inside each.

Nested thread pools (several window workers, each running a multi-threaded BLAS product)
oversubscribe the cores, and OpenBLAS/OpenMP threads busy-wait when the cores are shared:
measured here, a k-means fit took 3.4 s with 2 BLAS threads against 0.87 s with 1 on a busy
2-core machine. geouic therefore limits BLAS and OpenMP to one thread while it computes and
parallelises over windows, with as many workers as the machine has free cores.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["single_threaded_blas", "free_cores"]


def free_cores(limit: int = 4) -> int:
    """Cores this process may use that are not busy (by the 1-minute load), 1..limit."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except OSError:  # pragma: no cover
        busy = 0
    return max(1, min(limit, n - busy, n))


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS and OpenMP pools to one thread inside the block."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpool_limits(limits=1):
        yield
