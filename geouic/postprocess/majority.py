"""Majority filter of a class map (ArcGIS *Majority Filter*, GRASS ``r.neighbors method=mode``).

Kernels: the 4 or 8 neighbours of a pixel (ArcGIS ``FOUR`` / ``EIGHT``: the pixel itself does
not vote), or a square ``size x size`` window that includes the pixel (GRASS / OTB style). The
most frequent class among the kernel's data pixels replaces the pixel when it holds enough votes:
``"majority"`` more than half of the kernel's cells (3 of 4, 5 of 8, 5 of 9), ``"half"`` at
least half (2 of 4, 4 of 8). Ties between classes keep the pixel's own class when it is one of
them, else the lowest code. Kernel cells outside the map or on nodata do not vote but still count
in the kernel size, so edges are not over-smoothed; nodata pixels stay nodata. Unlike ArcGIS, the
winning cells need not be contiguous within the kernel.

Windowed with a halo of ``size // 2`` rows (1 for the 4/8 kernels): each strip is read with its
halo and only its core is written, so the result is the same in one window or many.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geouic.classmap import open_class_map
from geouic.errors import ParameterError
from geouic.postprocess import _io
from geouic.windows import DEFAULT_MEM_LIMIT_MB, ProgressCallback, RunProgress, WindowPair

__all__ = ["majority_filter", "majority_array", "MajorityResult", "THRESHOLDS"]

logger = logging.getLogger(__name__)

#: Replacement thresholds, as ArcGIS names them.
THRESHOLDS = ("majority", "half")

#: Bytes one pixel of a filtered strip costs (codes, best count and code, own count, one count).
_BYTES_PER_PIXEL = 12


def _kernel(size: int | None, neighbors: int | None) -> np.ndarray:
    if (size is None) == (neighbors is None):
        raise ParameterError("give either a square window (size 3, 5, ...) or a neighbourhood (neighbors 4 or 8), "
                             f"not {'both' if size is not None else 'neither'}.", params=("size", "neighbors"))
    if neighbors is not None:
        if isinstance(neighbors, bool) or neighbors not in (4, 8):
            raise ParameterError(f"neighbors={neighbors!r} is invalid; use 4 (edges) or 8 (edges and corners).",
                                 params=("neighbors",))
        k = np.ones((3, 3), np.uint8)  # 8 neighbours; 4: the edges only
        if neighbors == 4:
            k[0, 0] = k[0, 2] = k[2, 0] = k[2, 2] = 0
        k[1, 1] = 0
        return k
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 3 or size % 2 == 0:
        raise ParameterError(f"size={size!r} is invalid; use an odd window size >= 3 (3, 5, 7, ...).", params=("size",))
    if size > 15:
        raise ParameterError(f"size={size} is too large; use at most 15 (a sieve removes larger specks).",
                             params=("size",))
    return np.ones((size, size), np.uint8)


def majority_array(classes: np.ndarray, *, size: int | None = None, neighbors: int | None = None,
                   threshold: str = "majority") -> np.ndarray:
    """Majority-filter a class array held in memory (see module notes).

    Parameters
    ----------
    classes : ndarray of shape (rows, cols), unsigned int
        0 = nodata.
    size : int, optional
        Odd square window including the pixel.
    neighbors : {4, 8}, optional
        The pixel's 4 or 8 neighbours (the pixel does not vote).
    threshold : {"majority", "half"}, default="majority"

    Returns
    -------
    ndarray like ``classes``
    """
    kernel = _kernel(size, neighbors)
    if threshold not in THRESHOLDS:
        raise ParameterError(f"threshold={threshold!r} is invalid; use majority or half.", params=("threshold",))
    cells = int(kernel.sum())
    need = cells // 2 + 1 if threshold == "majority" else (cells + 1) // 2
    best = np.zeros(classes.shape, np.uint8)
    best_code = np.zeros(classes.shape, classes.dtype)
    own = np.zeros(classes.shape, np.uint8)
    counts = np.empty(classes.shape, np.uint8)
    present = np.flatnonzero(np.bincount(classes.ravel())) if classes.size else np.zeros(0, np.int64)
    from scipy import ndimage  # imported here: `geouic sieve` need not pay for scipy.ndimage

    for code in present[present > 0]:
        mask = classes == code
        ndimage.correlate(mask.view(np.uint8), kernel, output=counts, mode="constant", cval=0)
        better = counts > best  # ascending codes: a tie keeps the lower code
        best[better] = counts[better]
        best_code[better] = code
        own[mask] = counts[mask]
    # A tie that includes the pixel's own class keeps it.
    replace = (classes > 0) & (best >= need) & (own < best)
    return np.where(replace, best_code, classes)


@dataclass
class MajorityResult:
    """What :func:`majority_filter` wrote."""

    path: Path
    kernel: str
    threshold: str
    pixels_changed: int
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the CLI and the log."""
        return (f"{self.path}: majority filter ({self.kernel}, threshold {self.threshold}): "
                f"{self.pixels_changed} pixels changed [{self.seconds:.1f} s]")


def majority_filter(map_path: str | os.PathLike, output: str | os.PathLike, *, size: int | None = None,
                    neighbors: int | None = None, threshold: str = "majority",
                    mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, overviews: bool = True, overwrite: bool = False,
                    nodata: float | None = None, creation_options: Any = None,
                    progress: ProgressCallback | None = None) -> MajorityResult:
    """Majority-filter a class map window by window (halo: no seams) and write it with its legend.

    Parameters
    ----------
    map_path : str or path-like
        Single-band integer class map.
    output : str or path-like
        Filtered GeoTIFF with the input's colours, names, ``.qml`` and provenance tags.
    size : int, optional
        Odd square window (3, 5, ...) including the pixel.
    neighbors : {4, 8}, optional
        The 4 or 8 neighbours, pixel excluded (ArcGIS). Give ``size`` or ``neighbors``.
    threshold : {"majority", "half"}, default="majority"
        Votes the winning class needs: more than half, or at least half, of the kernel's cells.
    mem_limit_mb : float, default=64
    overviews : bool, default=True
        Build internal overviews (mode resampling), as `geouic classify` does.
    overwrite : bool, default=False
    nodata : float, optional
        Declare the map's "no class" value when the file has no nodata tag (read as 0, like
        the file's own nodata: it neither votes nor changes; written as 0).
    creation_options : mapping or sequence of "KEY=VALUE", optional
        GDAL creation options of the output GeoTIFF, checked against the driver's option list
        (see :meth:`geouic.output.ThematicProfile.with_options`).
    progress : callable, optional
        ``progress(advance, total)`` after each strip of the two passes (the codes present,
        for the legend; the filter).

    Returns
    -------
    MajorityResult
    """
    from geouic.output import ThematicProfile, ThematicWriter
    from geouic.paths import check_map_output

    t0 = time.perf_counter()
    kernel = _kernel(size, neighbors)
    majority_array(np.zeros((1, 1), np.uint16), size=size, neighbors=neighbors, threshold=threshold)  # validate
    profile = ThematicProfile(overviews=overviews).with_options(creation_options)
    check_map_output(output, {"map_path": map_path}, overwrite=overwrite)
    halo = kernel.shape[0] // 2
    name = f"{neighbors} neighbours" if neighbors else f"{size}x{size} window"
    with open_class_map(map_path, warn_crs=False, nodata=nodata) as source:
        windows = _io.strips(source, mem_limit_mb=mem_limit_mb, halo=halo, bytes_per_pixel=_BYTES_PER_PIXEL)
        tracker = RunProgress(progress, total=2 * len(windows))  # the codes present (cores only), the filter
        legend = _io.class_legend(source, _io.codes_present(source, windows, progress=tracker))
        changed = 0
        with ThematicWriter(output, crs=source.crs, transform=source.transform, width=source.width,
                            height=source.height, legend=legend, n_classes=max(legend.names),
                            overwrite=overwrite, profile=profile) as writer:

            def one(pair: WindowPair) -> tuple[np.ndarray, np.ndarray]:
                classes = _io.read_strip(source, pair.read)
                filtered = majority_array(classes, size=size, neighbors=neighbors, threshold=threshold)
                return pair.crop(classes), pair.crop(filtered)

            for pair, (before, after) in windows.map(one, progress=tracker):
                changed += int(np.count_nonzero(after != before))
                writer.write(pair.core, after)
            writer.close(tags=_io.step_tags(source, "majority", {"kernel": name, "threshold": threshold}))
    result = MajorityResult(Path(output), name, threshold, changed, time.perf_counter() - t0)
    logger.info("%s", result.summary())
    return result

