"""The window pass: every loop over a raster in geouic goes through this room.

A :class:`WindowPass` is a *sized* sequence of block-aligned windows (``len()`` is known before
the loop, so a caller can size a progress bar without counting windows itself). It is planned
once from a memory budget and the bytes one pixel costs in that pass, stated once, when the
pass is made (as rasterio's ``merge(mem_limit=...)`` turns a budget into ``max_pixels`` and
scikit-learn's ``get_chunk_n_rows(row_bytes, working_memory)`` turns one into rows). On top of
it sit two helpers:

* :meth:`WindowPass.map` yields ``(pair, func(pair))`` in window order, running up to
  ``workers`` windows at once in threads with at most two windows per worker in flight, so the
  memory in use stays within the budget the pass was planned for;
* :meth:`WindowPass.reduce` folds the results into an accumulator (for example a
  :class:`geouic.counts.ClassCounts`).

Both report progress through one callback, ``progress(advance, total)``: ``advance`` windows
just finished out of ``total`` windows of the whole library call as far as it is known (a call
of several passes announces them with :class:`RunProgress`).

The tilers are here too: :func:`block_windows` (windows of whole blocks within a budget,
with a halo), :func:`strip_windows` (full-width strips of whole block rows within a budget, for
passes that carry state from one strip to the next), :func:`unit_windows` (small block-aligned
units for random sampling) and :func:`tile_windows` (fixed-size tiles).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, overload

import numpy as np
from rasterio.windows import Window

from geouic.errors import ParameterError

__all__ = [
    "BYTES_PER_PIXEL",
    "DEFAULT_MEM_LIMIT_MB",
    "ProgressCallback",
    "RunProgress",
    "WindowPair",
    "WindowPass",
    "block_windows",
    "per_thread",
    "scene_bytes_per_pixel",
    "strip_windows",
    "tile_windows",
    "unit_windows",
]

R = TypeVar("R")
A = TypeVar("A")

#: Default working-memory budget of the windows in flight, in megabytes.
DEFAULT_MEM_LIMIT_MB = 64

#: Bytes one pixel of a window costs, temporaries included, for each kind of pass over a class
#: map (a scene pass costs :func:`scene_bytes_per_pixel`; a prediction pass asks its engine).
BYTES_PER_PIXEL: dict[str, int] = {
    "class_map": 32,    # codes as int64, a look-up result and the window written (areas, assign, merge)
    "design": 24,       # codes as int64 and the per-stratum masks of the draw
    "crosstab": 48,     # class codes, rasterised reference codes, masks and the pair keys (accuracy)
    "points": 16,       # class codes as int64 and the inside-window mask of the points
    "label_raster": 40,  # label values, the labelled mask and the pixel-centre coordinates
}


def scene_bytes_per_pixel(n_bands: int) -> int:
    """Bytes one pixel of a scene window costs when read as float32 with its masks (about 4 copies)."""
    return 4 * n_bands * 4 + 16


class ProgressCallback(Protocol):
    """``progress(advance, total)``: ``advance`` windows finished out of ``total`` in the call."""

    def __call__(self, advance: int, total: int, /) -> None:
        """Report ``advance`` more windows finished out of ``total``."""


class RunProgress:
    """Windows done over every pass of one library call, reported to a :class:`ProgressCallback`.

    Parameters
    ----------
    callback : callable or None
        ``callback(advance, total)``; nothing is reported when None.
    total : int, optional
        Windows of the whole call, when the caller knows them before the first pass. Otherwise
        each pass adds its windows when it starts (the total grows as passes are planned).
    """

    def __init__(self, callback: ProgressCallback | None, total: int | None = None) -> None:
        self.callback = callback
        self.fixed = total is not None
        self.total = int(total or 0)
        self.done = 0

    def start_pass(self, n_windows: int) -> None:
        """A pass of ``n_windows`` starts (counted unless the total was given up front)."""
        if not self.fixed:
            self.total += int(n_windows)

    def advance(self, n_windows: int = 1) -> None:
        """Count finished windows and tell the callback."""
        self.done += n_windows
        if self.callback is not None:
            self.callback(n_windows, max(self.total, self.done))


@dataclass(frozen=True)
class WindowPair:
    """A core window to write and the (possibly larger) window to read for it.

    Attributes
    ----------
    core : rasterio.windows.Window
        The part of the scene whose results are kept.
    read : rasterio.windows.Window
        ``core`` grown by the halo on every side, clipped to the scene.
    """

    core: Window
    read: Window

    @property
    def offset(self) -> tuple[int, int]:
        """Row and column of ``core`` inside the array read for ``read``."""
        return (int(self.core.row_off - self.read.row_off), int(self.core.col_off - self.read.col_off))

    def crop(self, array: np.ndarray) -> np.ndarray:
        """Cut the core out of an array shaped like the read window (last two axes)."""
        r0, c0 = self.offset
        return array[..., r0 : r0 + int(self.core.height), c0 : c0 + int(self.core.width)]


# ------------------------------------------------------------------------------- tilers
def _check_budget(mem_limit_mb: float, halo: int) -> None:
    if not mem_limit_mb > 0:
        raise ParameterError(f"mem_limit={mem_limit_mb} MB is invalid: must be > 0.")
    if halo < 0:
        raise ParameterError(f"halo={halo} is invalid: must be >= 0.", params=("halo",))


def _pairs(width: int, height: int, win_w: int, win_h: int, halo: int) -> list[WindowPair]:
    out = []
    for row in range(0, height, win_h):
        for col in range(0, width, win_w):
            core = Window(col, row, min(win_w, width - col), min(win_h, height - row))
            r0, c0 = max(0, row - halo), max(0, col - halo)
            r1 = min(height, row + int(core.height) + halo)
            c1 = min(width, col + int(core.width) + halo)
            out.append(WindowPair(core, Window(c0, r0, c1 - c0, r1 - r0)))
    return out


def block_windows(width: int, height: int, block_shape: tuple[int, int], *,
                  mem_limit_mb: float, halo: int = 0, bytes_per_pixel: int) -> list[WindowPair]:
    """Tile a scene into windows made of whole blocks, each within a memory budget.

    Windows are rectangles of whole file blocks (so each block is decoded once), as tall and
    wide as ``mem_limit_mb`` allows for the read window including its halo: full-width strips
    when a strip of blocks fits, squares of blocks otherwise. A block side longer than the
    square the budget allows is cut into equal parts instead of being exceeded: the rows of a
    wide strip-organised file (blocks of one row by the whole width) become squares over many
    strips, not one-row windows that read their halo fifteen times over, and a 512 x 512 tile
    under an engine that needs a few hundred bytes a pixel becomes four or more windows. GDAL's
    block cache (:data:`geouic.raster.GDAL_CACHE_MB`) saves most re-decoding of the blocks cut.

    Parameters
    ----------
    width, height : int
        Scene size in pixels.
    block_shape : (int, int)
        ``(rows, cols)`` of the file's internal blocks (strips are ``(1..n, width)``).
    mem_limit_mb : float
        Budget for one window, in megabytes.
    halo : int, default=0
        Context pixels added around each core window for reading.
    bytes_per_pixel : int
        Memory one pixel of a read window costs, all temporaries included.

    Returns
    -------
    list of WindowPair
        Row-major order.

    Examples
    --------
    >>> [p.core.width for p in block_windows(100, 10, (10, 10), mem_limit_mb=1, bytes_per_pixel=8)]
    [100]
    """
    _check_budget(mem_limit_mb, halo)
    budget_px = max(1, int(mem_limit_mb * 1024 * 1024 // bytes_per_pixel))
    bh, bw = max(1, min(block_shape[0], height)), max(1, min(block_shape[1], width))
    full_width_rows = budget_px // (width + 2 * halo) - 2 * halo
    if full_width_rows >= bh:
        win_w = width
        win_h = min(height, max(bh, (full_width_rows // bh) * bh))
    else:
        side = max(1, int(math.sqrt(budget_px)) - 2 * halo)
        win_w = min(width, max(bw, (side // bw) * bw))
        win_h = min(height, max(bh, (max(1, budget_px // (win_w + 2 * halo) - 2 * halo) // bh) * bh))
        if min(win_h + 2 * halo, height) * min(win_w + 2 * halo, width) > budget_px:  # a block is too big
            win_w = min(width, _blocks_or_part(bw, side))
            win_h = min(height, _blocks_or_part(bh, max(1, budget_px // (win_w + 2 * halo) - 2 * halo)))
    return _pairs(width, height, win_w, win_h, halo)


def _blocks_or_part(block: int, most: int) -> int:
    """A window side of at most ``most``: whole blocks where one fits, an equal part of one otherwise."""
    return (most // block) * block if block <= most else _equal_part(block, most)


def _equal_part(n: int, most: int) -> int:
    """The size of equal parts of ``n`` of at most ``most``: a divisor of ``n`` when one is near."""
    parts = -(-n // max(1, most))
    for k in range(parts, 2 * parts + 1):
        if n % k == 0:
            return n // k
    return -(-n // parts)


def strip_windows(width: int, height: int, block_rows: int, *, mem_limit_mb: float, halo: int = 0,
                  bytes_per_pixel: int) -> list[WindowPair]:
    """Tile a scene into full-width strips of whole block rows, each within a memory budget.

    For passes that go top to bottom and carry state across strip seams (patch labelling):
    every strip spans the whole width, as many block rows tall as ``mem_limit_mb`` allows for
    the strip and its ``halo`` rows above and below, and at least one block row (a budget below
    one block row is exceeded rather than cutting blocks).

    Parameters
    ----------
    width, height : int
        Scene size in pixels.
    block_rows : int
        Rows of the file's internal blocks (tiles or strips).
    mem_limit_mb : float
        Budget for one strip, read rows included, in megabytes.
    halo : int, default=0
        Context rows added above and below each core strip for reading (clipped to the scene).
    bytes_per_pixel : int
        Memory one pixel of a read strip costs, all temporaries included.

    Returns
    -------
    list of WindowPair
        Top to bottom.

    Examples
    --------
    >>> [(p.core.row_off, p.core.height) for p in strip_windows(100, 40, 16, mem_limit_mb=0.03,
    ...                                                          bytes_per_pixel=8)]
    [(0, 32), (32, 8)]
    """
    _check_budget(mem_limit_mb, halo)
    budget_px = max(1, int(mem_limit_mb * 1024 * 1024 // bytes_per_pixel))
    bh = max(1, min(int(block_rows), height))
    rows = budget_px // max(1, width) - 2 * halo
    win_h = min(height, max(bh, (rows // bh) * bh))
    return _pairs(width, height, width, max(1, win_h), halo)


def unit_windows(width: int, height: int, block_shape: tuple[int, int], unit_pixels: int) -> list[WindowPair]:
    """Block-aligned units of about ``unit_pixels`` pixels (rows of strips, or squares of blocks)."""
    bh, bw = max(1, min(block_shape[0], height)), max(1, min(block_shape[1], width))
    if bw >= width:  # strips: group rows
        rows, cols = max(bh, (max(1, unit_pixels // width) // bh) * bh), width
    else:
        per = max(1, int(math.sqrt(unit_pixels / (bh * bw))))
        rows, cols = bh * per, bw * per
    return _pairs(width, height, cols, rows, 0)


def tile_windows(width: int, height: int, size: int) -> list[WindowPair]:
    """Tiles of at most ``size`` x ``size`` pixels covering the grid, row by row."""
    if size < 1:
        raise ParameterError(f"size={size} is invalid: a tile needs at least 1 pixel.", params=("size",))
    return _pairs(width, height, size, size, 0)


def _grid_of(source: Any) -> tuple[int, int, tuple[int, int]]:
    """Width, height and block shape of a RasterSource or an open rasterio dataset."""
    block = getattr(source, "block_shape", None)
    if block is None:
        block = source.block_shapes[0]
    return int(source.width), int(source.height), (int(block[0]), int(block[1]))


# ------------------------------------------------------------------------------- the pass
class WindowPass(Sequence[WindowPair]):
    """A sized, ordered pass over the windows of a raster.

    Make one with :meth:`over` (from a raster and a memory budget) or from a list of pairs.

    Parameters
    ----------
    pairs : iterable of WindowPair
    bytes_per_pixel : int, default=0
        What one pixel of a read window costs in this pass (0: not budgeted, e.g. fixed tiles).
    mem_limit_mb : float, optional
        The budget the windows were planned for (all windows in flight together).
    workers : int, default=1
        Threads :meth:`map` runs (the windows must have been sized for them, as :meth:`over` does).
    """

    def __init__(self, pairs: Iterable[WindowPair], *, bytes_per_pixel: int = 0,
                 mem_limit_mb: float | None = None, workers: int = 1) -> None:
        self.pairs = list(pairs)
        self.bytes_per_pixel = int(bytes_per_pixel)
        self.mem_limit_mb = mem_limit_mb
        self.workers = max(1, int(workers))

    @classmethod
    def over(cls, source: Any, *, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, bytes_per_pixel: int,
             halo: int = 0, workers: int = 1) -> WindowPass:
        """Plan the pass over ``source`` (a RasterSource or a rasterio dataset).

        With ``workers > 1`` up to two windows per worker are in flight, so each window gets
        ``mem_limit_mb / (2 * workers)``: the budget holds for the whole pass, not per window.
        """
        width, height, block = _grid_of(source)
        in_flight = 2 * workers if workers > 1 else 1
        _check_budget(mem_limit_mb, halo)
        pairs = block_windows(width, height, block, mem_limit_mb=mem_limit_mb / in_flight, halo=halo,
                              bytes_per_pixel=bytes_per_pixel)
        return cls(pairs, bytes_per_pixel=bytes_per_pixel, mem_limit_mb=mem_limit_mb, workers=workers)

    @classmethod
    def strips(cls, source: Any, *, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, bytes_per_pixel: int,
               halo: int = 0) -> WindowPass:
        """Plan a pass of full-width strips over ``source`` (see :func:`strip_windows`), in order."""
        width, height, block = _grid_of(source)
        pairs = strip_windows(width, height, block[0], mem_limit_mb=mem_limit_mb, halo=halo,
                              bytes_per_pixel=bytes_per_pixel)
        return cls(pairs, bytes_per_pixel=bytes_per_pixel, mem_limit_mb=mem_limit_mb)

    # -- sequence protocol -------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.pairs)

    @overload
    def __getitem__(self, index: int) -> WindowPair: ...

    @overload
    def __getitem__(self, index: slice) -> list[WindowPair]: ...

    def __getitem__(self, index: int | slice) -> WindowPair | list[WindowPair]:
        return self.pairs[index]

    def __repr__(self) -> str:
        return (f"WindowPass({len(self)} windows, bytes_per_pixel={self.bytes_per_pixel}, "
                f"mem_limit_mb={self.mem_limit_mb}, workers={self.workers})")

    @property
    def cores(self) -> list[Window]:
        """The core windows, in order."""
        return [p.core for p in self.pairs]

    def reordered(self, order: Sequence[int] | np.ndarray) -> WindowPass:
        """The same windows in another order (e.g. a random permutation for sampling)."""
        return WindowPass([self.pairs[int(i)] for i in order], bytes_per_pixel=self.bytes_per_pixel,
                          mem_limit_mb=self.mem_limit_mb, workers=self.workers)

    # -- map and reduce ----------------------------------------------------------------
    def map(self, func: Callable[[WindowPair], R], *,
            progress: ProgressCallback | RunProgress | None = None) -> Iterator[tuple[WindowPair, R]]:
        """Yield ``(pair, func(pair))`` in window order.

        Parameters
        ----------
        func : callable
            Work on one window. The pass's ``workers`` threads run it (the windows were sized
            for them: at most two windows per worker in flight), so with ``workers > 1`` it must
            be thread-safe (open one dataset handle per thread, see :func:`per_thread`).
            Stopping the loop early stops reading: no window is read beyond those in flight.
        progress : ProgressCallback or RunProgress, optional
            Told after each window is yielded.
        """
        tracker = progress if isinstance(progress, RunProgress) else RunProgress(progress)
        tracker.start_pass(len(self))
        n = self.workers
        results = self._sequential(func) if n <= 1 or len(self) <= 1 else self._threaded(func, n)
        for pair, result in results:
            yield pair, result
            del pair, result  # the next window is computed without this one's arrays alive
            tracker.advance(1)

    def _sequential(self, func: Callable[[WindowPair], R]) -> Iterator[tuple[WindowPair, R]]:
        for pair in self.pairs:
            yield pair, func(pair)

    def _threaded(self, func: Callable[[WindowPair], R], workers: int) -> Iterator[tuple[WindowPair, R]]:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque[tuple[WindowPair, Future[R]]] = deque()
            try:
                for pair in self.pairs:
                    pending.append((pair, pool.submit(func, pair)))
                    if len(pending) >= 2 * workers:
                        done, fut = pending.popleft()
                        yield done, fut.result()
                while pending:
                    done, fut = pending.popleft()
                    yield done, fut.result()
            finally:
                for _, fut in pending:
                    fut.cancel()

    def reduce(self, func: Callable[[WindowPair], R], fold: Callable[[A, R], A | None], initial: A, *,
               progress: ProgressCallback | RunProgress | None = None) -> A:
        """Fold ``func(pair)`` of every window into ``initial`` with ``fold(acc, result)``.

        ``fold`` runs in the caller's thread, in window order; it may update ``acc`` in place
        (returning None) or return a new accumulator.
        """
        acc = initial
        for _, result in self.map(func, progress=progress):
            new = fold(acc, result)
            del result  # one window's arrays alive at a time
            if new is not None:
                acc = new
        return acc


def per_thread(open_handle: Callable[[], Any]) -> tuple[Callable[[], Any], Callable[[], None]]:
    """A thread-local handle factory for :meth:`WindowPass.map` and a function closing them all.

    Returns ``(get, close_all)``: ``get()`` opens one handle per thread on first use;
    ``close_all()`` closes every handle opened.
    """
    local = threading.local()
    handles: list[Any] = []
    lock = threading.Lock()

    def get() -> Any:
        handle = getattr(local, "handle", None)
        if handle is None:
            handle = local.handle = open_handle()
            with lock:
                handles.append(handle)
        return handle

    def close_all() -> None:
        with lock:
            for h in handles:
                h.close()
            handles.clear()

    return get, close_all
