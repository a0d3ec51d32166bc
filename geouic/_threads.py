"""Thread policy: parallelism across windows, one BLAS/OpenMP thread inside each.

Nested thread pools (several window workers, each running a multi-threaded BLAS product)
oversubscribe the cores, and OpenBLAS/OpenMP threads busy-wait when the cores are shared:
measured here, a k-means fit took 3.4 s with 2 BLAS threads against 0.87 s with 1 on a busy
2-core machine. geouic therefore limits BLAS and OpenMP to one thread while it computes and
parallelises over windows, one worker per core (measured: on a busy 2-core machine two
window workers with single-threaded BLAS still beat one).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["single_threaded_blas", "usable_cores"]


def usable_cores(limit: int = 4) -> int:
    """Cores this process may run on (its CPU affinity), between 1 and ``limit``."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(limit, n))


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
