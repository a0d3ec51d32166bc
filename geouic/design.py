"""Stratified random sample designs for accuracy assessment (Olofsson et al. 2014, section 5).

The strata are the classes of a map. :func:`stratified_sample` counts the pixels of each class
window by window, sizes the sample (given, or from a target standard error of overall accuracy
by Cochran's formula), allocates it to the strata, draws sorted random ranks within each class
and picks those pixels in a second windowed pass, so memory never depends on the map's size.
:func:`write_sample` writes the points (pixel centres, in the map's CRS) to a GeoPackage with
a ``stratum`` field and an empty integer ``ref`` field for the analyst to fill in.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geouic.classmap import class_names, open_class_map, read_classes
from geouic.counts import ClassCounts
from geouic.errors import ParameterError, ParameterWarning, RasterInputError
from geouic.windows import BYTES_PER_PIXEL, DEFAULT_MEM_LIMIT_MB, ProgressCallback, RunProgress, WindowPass

__all__ = [
    "ALLOCATIONS",
    "SampleDesign",
    "StratifiedSample",
    "allocate",
    "cochran_sample_size",
    "stratified_sample",
    "write_sample",
]

logger = logging.getLogger(__name__)

#: Allocation methods of :func:`allocate`.
ALLOCATIONS = ("proportional", "equal", "olofsson")


# ----------------------------------------------------------------------------- sizing
def cochran_sample_size(weights: Any, expected_ua: Any, target_se: float) -> int:
    """Sample size for a target standard error of overall accuracy (Olofsson et al. 2014, eq. 13).

    ``n = (sum_i W_i S_i / S(O))^2`` with ``S_i = sqrt(U_i (1 - U_i))``.

    Parameters
    ----------
    weights : array-like of shape (k,)
        Mapped area proportion of each stratum (normalised to sum to 1).
    expected_ua : float or array-like of shape (k,)
        Expected user's accuracy of each stratum, in (0, 1].
    target_se : float
        Target standard error of overall accuracy, in (0, 1); e.g. 0.01.

    Returns
    -------
    int
        The sample size, rounded up (at least 1).
    """
    W = np.asarray(weights, np.float64)
    if W.ndim != 1 or not len(W) or np.any(W < 0) or W.sum() <= 0:
        raise ParameterError(f"weights={W.tolist()} must be proportions >= 0 with a positive sum.",
                             params=("weights",))
    U = _check_ua(expected_ua, len(W))
    if not 0 < target_se < 1:
        raise ParameterError(f"target_se={target_se} is out of range; use a standard error in (0, 1), e.g. 0.01.",
                             params=("target_se",))
    W = W / W.sum()
    return max(1, math.ceil((np.sum(W * np.sqrt(U * (1 - U))) / target_se) ** 2))


def _check_ua(expected_ua: Any, k: int) -> np.ndarray:
    U = np.broadcast_to(np.asarray(expected_ua, np.float64), (k,)).copy()
    if np.any(~(U > 0) | (U > 1)):
        raise ParameterError(f"expected_ua={U.tolist()} is out of range; use user's accuracies in (0, 1].",
                             params=("expected_ua",))
    return U


def _apportion(n: int, weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Integers summing to ``min(n, caps.sum())``, proportional to ``weights``, each <= its cap.

    Largest-remainder rounding; a stratum that reaches its cap passes its excess on to the others.
    """
    out = np.zeros(len(weights), np.int64)
    n = int(min(n, caps.sum()))
    open_ = caps > 0
    while n > out.sum() and open_.any():
        left = n - out.sum()
        w = np.where(open_, weights, 0.0)
        if w.sum() <= 0:
            w = open_.astype(np.float64)
        raw = left * w / w.sum()
        add = np.floor(raw).astype(np.int64)
        order = np.argsort(-(raw - add), kind="stable")
        add[order[: left - add.sum()]] += 1
        out = np.minimum(out + add, caps)
        open_ = out < caps
    return out


def allocate(pixels: Any, n: int, method: str = "olofsson", *, min_per_class: int = 50) -> np.ndarray:
    """Split a sample of ``n`` points over strata.

    Parameters
    ----------
    pixels : array-like of int, shape (k,)
        Mapped pixels of each stratum (a stratum never gets more points than pixels).
    n : int
        Total sample size, >= 1.
    method : {"proportional", "equal", "olofsson"}, default="olofsson"
        ``proportional`` to mapped area; ``equal`` per stratum; ``olofsson``: every stratum at
        least ``min_per_class`` (the recommendation of Olofsson et al. 2014 is about 50-100 for
        rare classes), the rest proportional to area among the strata above that minimum.
    min_per_class : int, default=50
        Minimum points per stratum of the ``olofsson`` allocation.

    Returns
    -------
    ndarray of int64, shape (k,)
        Points per stratum; sums to ``n`` (or to the number of pixels, if smaller).

    Warns
    -----
    UserWarning
        ``n`` is too small for ``min_per_class`` points in every stratum (equal allocation is
        used), or a stratum gets fewer than 2 points (its variance cannot be estimated).
    """
    px = np.asarray(pixels, np.int64)
    if px.ndim != 1 or not len(px) or np.any(px < 0):
        raise ParameterError("pixels must be a non-empty 1-D array of counts >= 0.")
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"n={n!r} is out of range; the sample size must be an integer >= 1.", params=("n",))
    if method not in ALLOCATIONS:
        raise ParameterError(f"allocation={method!r} is unknown; use one of {', '.join(ALLOCATIONS)}.",
                             params=("allocation",))
    if min_per_class < 1:
        raise ParameterError(f"min_per_class={min_per_class} is out of range; use an integer >= 1.",
                             params=("min_per_class",))
    W = px / max(px.sum(), 1)
    if method == "equal":
        out = _apportion(n, (px > 0).astype(np.float64), px)
    elif method == "proportional":
        out = _apportion(n, W, px)
    else:
        out = _olofsson_allocation(n, W, px, min_per_class)
    thin = (px > 0) & (out < 2)
    if thin.any():
        warnings.warn(ParameterWarning(
            f"{int(thin.sum())} strata get fewer than 2 points with {method} allocation of n={n}; their "
            "accuracy and variance cannot be estimated: increase n or use olofsson allocation.", params=("n",)),
            stacklevel=2)
    return out


def _olofsson_allocation(n: int, W: np.ndarray, px: np.ndarray, min_per_class: int) -> np.ndarray:
    floor = np.minimum(min_per_class, px)
    if floor.sum() > n:
        warnings.warn(
            ParameterWarning(f"n={n} cannot give {min_per_class} points to each of {int((px > 0).sum())} strata; "
                             "allocating equally instead (lower min_per_class or raise n).",
                             params=("n", "min_per_class")), stacklevel=3)
        return _apportion(n, (px > 0).astype(np.float64), px)
    fixed = np.zeros(len(px), bool)
    while True:
        rest = n - floor[fixed].sum()
        share = np.zeros(len(px), np.int64)
        share[~fixed] = _apportion(rest, W[~fixed], px[~fixed])
        below = ~fixed & (share < floor)
        if not below.any():
            return np.where(fixed, floor, share)
        fixed |= below


# -------------------------------------------------------------------------- the design
@dataclass
class SampleDesign:
    """A stratified sample design on a map.

    Attributes
    ----------
    strata : list of int
        Map class codes (strata).
    pixels : ndarray of int64
        Mapped pixels per stratum.
    allocation : ndarray of int64
        Sample points per stratum.
    method : str
        Allocation method.
    expected_ua : ndarray of float
        Expected user's accuracy per stratum (used for sizing and :attr:`expected_se`).
    target_se : float or None
        Target standard error of overall accuracy, when the size came from it.
    names : dict of int to str
    """

    strata: list[int]
    pixels: np.ndarray
    allocation: np.ndarray
    method: str
    expected_ua: np.ndarray
    target_se: float | None = None
    names: dict[int, str] | None = None

    @property
    def n(self) -> int:
        """Total sample size (points over all strata)."""
        return int(self.allocation.sum())

    @property
    def weights(self) -> np.ndarray:
        """Share of the mapped pixels in each stratum (``W_i``)."""
        return self.pixels / self.pixels.sum()

    @property
    def expected_se(self) -> float:
        """Standard error of overall accuracy this allocation gives if the expected accuracies hold (eq. 5)."""
        U, n = self.expected_ua, self.allocation
        if np.any(n < 2):
            return float("nan")
        return float(np.sqrt(np.sum(self.weights**2 * U * (1 - U) / (n - 1))))


@dataclass
class StratifiedSample:
    """Points drawn by :func:`stratified_sample`.

    Attributes
    ----------
    design : SampleDesign
    rows, cols : ndarray of int64
        Pixel of each point.
    strata : ndarray of int64
        Map class at each point.
    x, y : ndarray of float64
        Pixel-centre coordinates in the map's CRS.
    crs : rasterio.crs.CRS or None
    seed : int
    """

    design: SampleDesign
    rows: np.ndarray
    cols: np.ndarray
    strata: np.ndarray
    x: np.ndarray
    y: np.ndarray
    crs: Any
    seed: int


def stratified_sample(map_path: str | os.PathLike, *, n: int | None = None, allocation: str = "olofsson",
                      target_se: float | None = None, expected_ua: float | Mapping[int, float] = 0.8,
                      min_per_class: int = 50, seed: int = 0, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB,
                      nodata: float | None = None, progress: ProgressCallback | None = None) -> StratifiedSample:
    """Draw a stratified random sample of pixels of a class map.

    Parameters
    ----------
    map_path : str or path-like
        Class map; band 1, value 0 and nodata are not sampled.
    n : int, optional
        Sample size. When omitted, it comes from ``target_se`` by Cochran's formula.
    allocation : {"proportional", "equal", "olofsson"}, default="olofsson"
    target_se : float, optional
        Target standard error of overall accuracy (e.g. 0.01); needed when ``n`` is omitted.
    expected_ua : float or mapping of int to float, default=0.8
        Expected user's accuracy, for all strata or per class code (others get 0.8).
    min_per_class : int, default=50
        Minimum points per stratum of the ``olofsson`` allocation.
    seed : int, default=0
        Random seed; the same seed, map and ``mem_limit_mb`` give the same points.
    mem_limit_mb : float, default=64
        Memory budget of one window.
    nodata : float, optional
        Declare the map's "no class" value when the file has no nodata tag: not sampled, like
        0 and the file's own nodata.
    progress : callable, optional
        ``progress(advance, total)`` per window read (the counting pass, then the windows that
        hold sample points).

    Returns
    -------
    StratifiedSample
    """
    if (n is None) == (target_se is None):
        raise ParameterError("give either n (the sample size) or target_se (to size it by Cochran's formula), "
                             "not both and not neither.", params=("n", "target_se"))
    with open_class_map(map_path, warn_crs=False, nodata=nodata) as src:
        windows = src.windows(mem_limit_mb=mem_limit_mb, bytes_per_pixel=BYTES_PER_PIXEL["design"])
        tracker = RunProgress(progress)
        per_window = [counts for _, counts in windows.map(lambda pair: _window_counts(src, pair.core),
                                                          progress=tracker)]
        strata = sorted(set().union(*per_window))
        if not strata:
            raise RasterInputError(f"{src.path}: the map has no classified pixel (all 0 or nodata); nothing to sample.")
        pixels = np.array([sum(c.get(s, 0) for c in per_window) for s in strata], np.int64)
        ua = _ua_per_stratum(expected_ua, strata)
        if n is None:
            assert target_se is not None  # one of n and target_se is given: checked above
            n = cochran_sample_size(pixels, ua, target_se)
            logger.info("Cochran sample size for SE(OA) = %s: n = %d", target_se, n)
        alloc = allocate(pixels, int(n), allocation, min_per_class=min_per_class)
        design = SampleDesign(strata, pixels, alloc, allocation, ua, target_se, class_names(src.path))
        rows, cols, codes = _draw(src, windows, per_window, design, seed, tracker)
        x, y = src.transform @ (cols + 0.5, rows + 0.5)
        return StratifiedSample(design, rows, cols, codes, np.asarray(x, np.float64), np.asarray(y, np.float64),
                                src.crs, seed)


def _ua_per_stratum(expected_ua: float | Mapping[int, float], strata: list[int]) -> np.ndarray:
    if isinstance(expected_ua, Mapping):
        unknown = sorted(set(expected_ua) - set(strata))
        if unknown:
            raise ParameterError(f"expected_ua names classes {unknown} that the map does not have (its classes: "
                                 f"{strata[:20]}).", params=("expected_ua",))
        values = [expected_ua.get(s, 0.8) for s in strata]
    else:
        values = [expected_ua] * len(strata)
    return _check_ua(values, len(strata))


def _window_counts(src: Any, window: Any) -> dict[int, int]:
    return ClassCounts().add(read_classes(src, window)).as_dict()


def _draw(src: Any, windows: WindowPass, per_window: list[dict[int, int]], design: SampleDesign,
          seed: int, progress: RunProgress) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pick the chosen ranks of each stratum as the windows stream by (row-major within a window)."""
    rng = np.random.default_rng(seed)
    ranks = {s: np.sort(rng.choice(int(px), size=int(k), replace=False)) if k else np.zeros(0, np.int64)
             for s, px, k in zip(design.strata, design.pixels, design.allocation)}
    seen = dict.fromkeys(design.strata, 0)
    wanted: list[dict[int, np.ndarray]] = []
    for counts in per_window:  # ranks -> window-local positions, before any pixel is read again
        local = {}
        for s, cnt in counts.items():
            lo, hi = np.searchsorted(ranks[s], [seen[s], seen[s] + cnt])
            if hi > lo:
                local[s] = ranks[s][lo:hi] - seen[s]
            seen[s] += cnt
        wanted.append(local)
    chosen = WindowPass([p for p, w in zip(windows, wanted) if w])
    picks = [w for w in wanted if w]
    out_r, out_c, out_s = [], [], []
    for (pair, codes), local in zip(chosen.map(lambda pair: read_classes(src, pair.core), progress=progress), picks):
        window = pair.core
        for s, positions in local.items():
            flat = np.flatnonzero(codes == s)[positions]
            r, c = np.divmod(flat, codes.shape[1])
            out_r.append(r + window.row_off)
            out_c.append(c + window.col_off)
            out_s.append(np.full(len(flat), s, np.int64))
    rows, cols, strata = _concat(out_r), _concat(out_c), _concat(out_s)
    order = np.lexsort((cols, rows, strata))
    return rows[order], cols[order], strata[order]


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def write_sample(sample: StratifiedSample, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write sample points to a GeoPackage, atomically.

    Fields: ``stratum`` (map class, integer) and ``ref`` (integer, empty: the reference class
    the analyst records); point geometry at pixel centres in the map's CRS; the layer is named
    after the file.

    Raises
    ------
    OutputError
        The file exists and ``overwrite`` is false, or its folder is missing or not writable.
    """
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    import shapely

    from geouic.output import atomic_path, check_output

    target = check_output(path, overwrite=overwrite)
    frame = gpd.GeoDataFrame(
        {"stratum": sample.strata.astype(np.int32), "ref": pd.array([None] * len(sample.strata), dtype="Int32")},
        geometry=shapely.points(sample.x, sample.y),
        crs=sample.crs.to_wkt() if sample.crs else None,
    )
    with atomic_path(target) as tmp:
        pyogrio.write_dataframe(frame, tmp, driver="GPKG", layer=target.stem)
    logger.info("%d sample points written to %s", len(frame), target)
    return target
