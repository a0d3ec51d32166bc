"""Shared helpers of the benchmark scripts: threads, machine and code facts, measured
subprocesses, synthetic scenes.

Nothing heavy is imported at module level (numpy, rasterio and torch are imported inside the
functions that need them), so a script can import this module and call
:func:`set_thread_env` before numpy starts its thread pools.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "ROOT",
    "DATA",
    "THREAD_VARS",
    "early_threads",
    "set_thread_env",
    "thread_limits",
    "git_state",
    "machine_info",
    "run_measured",
    "write_synthetic_scene",
]

#: The repository root (the folder holding ``benchmarks/``).
ROOT = Path(__file__).resolve().parents[1]
#: The real scenes beside the repository (``../shared/data``).
DATA = ROOT.parent / "shared" / "data"
#: Environment variables that size the BLAS/OpenMP thread pools.
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def early_threads(argv: Sequence[str]) -> int | None:
    """The value of ``--threads N`` / ``--threads=N`` in ``argv``, read before argparse runs."""
    for i, arg in enumerate(argv):
        if arg.startswith("--threads="):
            value: str | None = arg.split("=", 1)[1]
        elif arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        else:
            continue
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    return None


def set_thread_env(n: int | None, env: dict[str, str] | None = None) -> dict[str, str]:
    """Set the thread-pool variables to ``n`` in ``env`` (default ``os.environ``); return it."""
    target = os.environ if env is None else env
    if n:
        for var in THREAD_VARS:
            target[var] = str(n)
    return target  # type: ignore[return-value]


@contextmanager
def thread_limits(n: int | None, *, torch: bool = False) -> Iterator[None]:
    """Limit BLAS/OpenMP (threadpoolctl) and, with ``torch=True``, torch to ``n`` threads."""
    if not n:
        yield
        return
    if torch:
        try:
            import torch as _torch

            _torch.set_num_threads(n)
            try:
                _torch.set_num_interop_threads(n)
            except RuntimeError:  # already set once in this process
                pass
        except ImportError:
            pass
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n):
        yield


def git_state(paths: Sequence[str] = ("geouic",)) -> dict[str, str]:
    """Short HEAD commit of the repository and ``git status --porcelain`` of ``paths``."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20)
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"git": git("rev-parse", "--short", "HEAD"),
            "dirty": git("status", "--porcelain", "--", *paths).replace("\n", "; ")}


def machine_info(modules: Sequence[str] = ("numpy", "scipy", "sklearn", "rasterio")) -> dict[str, Any]:
    """CPU model, core counts, Python and library versions (torch only when already imported)."""
    import sys

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    versions = {}
    for mod in (*modules, *(("torch",) if "torch" in sys.modules else ())):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = "absent"
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {"cpu_model": model or platform.processor(), "logical_cores": os.cpu_count(),
            "usable_cores": usable, "memory_gb": mem_gb, "python": platform.python_version(),
            "versions": versions}


def run_measured(cmd: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
                 timeout: float | None = None) -> dict[str, Any]:
    """Run ``cmd``; return its wall time, CPU time (user + system) and peak RSS.

    The resource usage is the child's own (``os.wait4``), including the processes it waited for.

    Returns
    -------
    dict
        ``returncode``, ``wall_s``, ``cpu_s``, ``max_rss_mb``, ``load1`` (1-minute load before),
        ``stderr_tail`` (last 2,000 characters) and ``timed_out``.
    """
    load1 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    timed_out = False
    # Read stderr in a thread while waiting with wait4, so the child never blocks on a full pipe.
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    deadline = None if timeout is None else t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if deadline is not None and time.perf_counter() > deadline:
            proc.kill()
            timed_out = True
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=10)
    err = b"".join(chunks)
    return {"returncode": proc.returncode, "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "max_rss_mb": usage.ru_maxrss / 1024.0, "load1": load1, "timed_out": timed_out,
            "stderr_tail": err.decode(errors="replace")[-2000:]}


def write_synthetic_scene(path: Path, *, size: int = 64, n_classes: int = 4, n_bands: int = 5,
                          seed: int = 0, noise: float = 30.0, block: int = 16,
                          nodata_corner: int = 0) -> Any:
    """Write a small tiled uint16 GeoTIFF of ``n_classes`` rectangular fields; return the labels.

    Every class has its own random spectrum (values 500-4500) plus Gaussian noise; the top-left
    ``nodata_corner`` x ``nodata_corner`` pixels are nodata (0, label 0).

    Returns
    -------
    ndarray of shape (size, size), int32
        Class 1..n_classes of every pixel, 0 on nodata.
    """
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(seed)
    rows = np.arange(size)[:, None] * n_classes // size
    cols = np.arange(size)[None, :] * 2 // size
    labels = ((rows + cols * n_classes) % n_classes + 1).astype(np.int32)
    spectra = rng.uniform(500, 4500, size=(n_classes, n_bands))
    data = spectra[labels - 1].transpose(2, 0, 1) + rng.normal(0, noise, (n_bands, size, size))
    data = np.clip(np.rint(data), 1, 65535).astype(np.uint16)
    if nodata_corner:
        data[:, :nodata_corner, :nodata_corner] = 0
        labels[:nodata_corner, :nodata_corner] = 0
    profile = dict(driver="GTiff", width=size, height=size, count=n_bands, dtype="uint16", nodata=0,
                   crs="EPSG:32633", transform=from_origin(500000, 4000000, 30, 30), tiled=True,
                   blockxsize=block, blockysize=block)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return labels


def replace_record(records: list[dict[str, Any]], rec: dict[str, Any], key: dict[str, Any],
                   path: Path | None) -> list[dict[str, Any]]:
    """``records`` without the ones matching ``key`` (field: value), plus ``rec``; written to ``path``.

    The exploration scripts append one record per run and re-run cases in place: a record whose
    fields equal ``key`` (a missing field reads as ``""``) is replaced, and the whole list is
    rewritten after every record, so a stopped run keeps what it measured.
    """
    out = [r for r in records if any(r.get(f, "") != v for f, v in key.items())]
    out.append(rec)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=1))
    return out
