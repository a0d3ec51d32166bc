"""Sieve a class map to a minimum mapping unit (MMU), exactly, strip by strip.

Rule (the one GRASS ``r.reclass.area method=rmarea`` / ``v.clean rmarea`` uses: the longest
common boundary, not GDAL's "largest neighbour"): patches smaller than the MMU are dissolved
smallest first; a patch takes the class it shares the longest border with (touching pixel pairs
under the chosen connectivity, summed over all neighbouring patches of that class; ties go to
the lowest class code), and joins every neighbour of that class into one patch, which may itself
still be small and is then dissolved in turn. Patches at or above the MMU (*anchors*) never change.
Nodata (0) is not a patch: it never grows into data and is never filled, and a small patch
touching only nodata is kept. Every other code, "unassigned" included, is an ordinary class.

Why not ``rasterio.features.sieve``: GDAL's sieve merges into the largest neighbour and needs the
whole band; neither the longest-border rule nor an exact windowed result is available from it.

How memory stays bounded: two passes over full-width strips. Pass 1 only reads the codes present
(the output's colour table must be written before any pixel). Pass 2 labels each strip once, joins
parts across seams and keeps the adjacency of small parts only; after each strip, every cluster of
small patches that the strip has closed is dissolved on that graph (not on pixels) and dropped
(:class:`~geouic.postprocess.clusters.ClusterSieve`), so what is kept between strips is bounded
by the patches still open, not by all patches of the map. A strip is written as soon as all its
patches are decided (usually once the next strip is in); until then its classes and labels wait,
the two newest in memory and older ones in a temporary file
(:class:`~geouic.postprocess._pending.PendingStrips`), so a chain of small patches that holds many
strips open costs disk, not memory. The result is the same in one strip or many (same patches,
same borders, same tiling-independent order), and the same as dissolving the whole map's graph
at once, which the tests check.

Speed: the per-pixel and per-patch loops (label statistics, borders, the dissolution) are
compiled with numba (:mod:`geouic.postprocess._kernels`); without numba the numpy forms give the
same result, more slowly. The dissolution then goes one patch at a time: a small patch is
dissolved as soon as it comes before all its small neighbours (any such order gives the result of
the global smallest-first order, see :func:`dissolve_small`).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geouic.classmap import open_class_map
from geouic.errors import ParameterError
from geouic.postprocess import _io
from geouic.postprocess._kernels import kernels
from geouic.postprocess._pending import PendingStrips
from geouic.postprocess.clusters import ClusterSieve
from geouic.postprocess.patches import check_connectivity, group_sum
from geouic.windows import DEFAULT_MEM_LIMIT_MB, ProgressCallback, RunProgress

__all__ = ["sieve", "parse_mmu", "dissolve_small", "SieveResult"]

logger = logging.getLogger(__name__)

_MMU = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(px|pixels?|ha)\s*$", re.IGNORECASE)


def parse_mmu(text: str | float) -> tuple[float, str]:
    """``"20px"`` -> ``(20.0, "px")``, ``"0.5ha"`` -> ``(0.5, "ha")``.

    Raises
    ------
    ParameterError
        No unit, an unknown unit, or a value <= 0.
    """
    m = _MMU.match(str(text))
    if not m:
        raise ParameterError(f"mmu={text!r} is invalid; give a size with its unit, e.g. 20px or 0.5ha.",
                             params=("mmu",))
    value, unit = float(m.group(1)), m.group(2).lower()
    if not value > 0:
        raise ParameterError(f"mmu={text!r} is invalid; the minimum mapping unit must be > 0.", params=("mmu",))
    return value, "px" if unit.startswith("pix") else unit


def dissolve_small(cls: np.ndarray, size: np.ndarray, first: np.ndarray, eu: np.ndarray, ev: np.ndarray,
                   ew: np.ndarray, threshold: float, *, batch_edges: int = 1_000_000) -> tuple[np.ndarray, int]:
    """The class of every patch after dissolving those below ``threshold`` (see module notes).

    Parameters
    ----------
    cls, size, first : ndarray, shape (n,)
        Class, size and tiling-independent order key (first pixel) of each patch.
    eu, ev, ew : ndarray, shape (n_edges,)
        Touching patches and border lengths (every edge with a small patch must be present).
    threshold : float
        Patches with ``size < threshold`` are dissolved.
    batch_edges : int, default=1_000_000
        About how many edges the numpy form dissolves at once (whole clusters of small patches
        per batch); the compiled kernel needs memory linear in the edges and takes them all.

    Returns
    -------
    new_class : ndarray of shape (n,)
        New class per patch.
    kept_small : int
        Patches still below ``threshold`` afterwards (they touch no other class).

    Notes
    -----
    A small patch may be dissolved as soon as it comes before all its small neighbours in
    (size, first pixel) order: such patches never touch each other, and a merge only grows its
    neighbours and leaves their classes, so any order that respects this gives the result of the
    sequential smallest-first order. The compiled kernel (numba) takes the patches one at a time,
    putting a patch aside while a smaller small neighbour is dissolved first; the numpy form
    dissolves all such patches of a round at once (rounds in parallel), in batches of whole
    clusters. The tests check both against the brute-force sequential order, and each other.
    Sizes that are areas (geographic maps) are float sums, added in merge order by the kernel and
    in index order by the rounds: two patches whose areas agree to the last bit could then be
    ordered differently; pixel counts are exact.
    """
    k = kernels()
    if k is not None:  # compiled: one patch at a time (the same result, see Notes)
        new, still = k.dissolve(cls, size, first, eu, ev, ew, threshold)
        small = size < threshold
        touched = np.zeros(len(cls), bool)
        touched[eu] = True
        touched[ev] = True
        return new.astype(cls.dtype, copy=False), int(np.count_nonzero(small & ~touched)) + int(still)
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    out = cls.copy()
    small = size < threshold
    touched = np.zeros(len(cls), bool)
    touched[eu] = True
    touched[ev] = True
    kept = int(np.count_nonzero(small & ~touched))  # small patches touching no other patch
    if not len(eu):
        return out, kept
    # Clusters of touching small patches are independent (anchors never change), so they are
    # dissolved in batches of about ``batch_edges`` edges: memory of one batch, not of the map.
    ss = small[eu] & small[ev]
    graph = sparse.coo_matrix((np.ones(int(ss.sum()), np.int8), (eu[ss], ev[ss])), shape=(len(cls), len(cls)))
    _, comp = connected_components(graph, directed=False)
    del graph, ss
    cluster = np.where(small[eu], comp[eu], comp[ev])
    del comp
    order = np.argsort(cluster, kind="stable")
    cluster = cluster[order]
    heads = np.flatnonzero(np.r_[True, cluster[1:] != cluster[:-1]])
    del cluster
    cuts = np.unique(np.r_[heads[np.searchsorted(heads, np.arange(0, len(order), batch_edges))], len(order)])
    for a, b in zip(cuts[:-1], cuts[1:]):
        idx = order[a:b]
        nodes, new, still_small = _dissolve_batch(cls, size, first, eu[idx], ev[idx], ew[idx], threshold)
        out[nodes] = new
        kept += still_small
    return out, kept


def _dissolve_batch(cls: np.ndarray, size: np.ndarray, first: np.ndarray, eu: np.ndarray, ev: np.ndarray,
                    ew: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Dissolve one batch of whole clusters (the numpy form).

    Returns its patches, their new classes, and how many of its small patches are still small
    (none unless they touch nothing).
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    both = np.sort(np.concatenate([eu, ev]))
    nodes = both[np.r_[True, both[1:] != both[:-1]]]
    idx = np.int32 if len(nodes) < 2**31 else np.int64
    c, s, f = cls[nodes].astype(np.int64), size[nodes].astype(np.float64), first[nodes].copy()
    node = np.arange(len(nodes), dtype=idx)
    lu, lv = np.searchsorted(nodes, eu).astype(idx), np.searchsorted(nodes, ev).astype(idx)
    src, dst = np.concatenate([lu, lv]), np.concatenate([lv, lu])
    del lu, lv, both
    w = np.concatenate([ew, ew]).astype(np.int32)
    n_code = int(c.max()) + 1
    rounds = 0
    while True:
        small = s < threshold
        keep = small[src] & (src != dst)
        if not keep.any():
            break
        rounds += 1
        src_s, dst_s, w_s = src[keep], dst[keep], w[keep]
        before = small[dst_s] & ((s[dst_s] < s[src_s]) | ((s[dst_s] == s[src_s]) & (f[dst_s] < f[src_s])))
        lmin = np.zeros(len(c), bool)
        lmin[src_s] = True
        lmin[src_s[before]] = False
        e = lmin[src_s]
        a, b, wb = src_s[e], dst_s[e], w_s[e]
        cb = c[b]
        keys, border = group_sum(a.astype(np.int64) * n_code + cb, wb)
        ka, kc = keys // n_code, keys % n_code
        order = np.lexsort((kc, -border, ka))  # per patch: longest border, then lowest code
        ka, kc = ka[order], kc[order]
        head = np.r_[True, ka[1:] != ka[:-1]]
        choice = np.full(len(c), -1, np.int64)
        choice[ka[head]] = kc[head]
        c[ka[head]] = kc[head]
        join = choice[a] == cb
        graph = sparse.coo_matrix((np.ones(int(join.sum()), np.int8), (a[join], b[join])), shape=(len(c), len(c)))
        n_new, lab = connected_components(graph, directed=False)
        lab = lab.astype(idx, copy=False)
        s = np.bincount(lab, weights=s, minlength=n_new)
        new_c = np.zeros(n_new, np.int64)
        new_c[lab] = c
        new_f = np.full(n_new, np.iinfo(np.int64).max, np.int64)
        np.minimum.at(new_f, lab, f)
        c, f = new_c, new_f
        node = lab[node]
        src, dst = lab[src], lab[dst]
        live = (src != dst) & ((s[src] < threshold) | (s[dst] < threshold))
        src, dst, w = src[live], dst[live], w[live]
    logger.debug("sieve: %d patches touching small ones, dissolved in %d rounds", len(nodes), rounds)
    return nodes, c[node], int(np.count_nonzero(s < threshold))




@dataclass
class SieveResult:
    """What :func:`sieve` wrote.

    Attributes
    ----------
    path : Path
    mmu : float
        The unit as given (pixels or hectares, see ``unit``).
    unit : str
    patches_before : int
        Patches of the input.
    patches_removed : int
        Patches that took a neighbour's class.
    pixels_changed : int
    patches_kept_small : int
        Patches below the unit left as they were because they touch no other class.
    """

    path: Path
    mmu: float
    unit: str
    connectivity: int
    patches_before: int
    patches_removed: int
    pixels_changed: int
    patches_kept_small: int
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the CLI and the log."""
        kept = f"; {self.patches_kept_small} small patches touch no other class and were kept" \
            if self.patches_kept_small else ""
        return (f"{self.path}: sieved to {self.mmu:g} {self.unit} ({self.connectivity}-connectivity): "
                f"{self.patches_removed} of {self.patches_before} patches dissolved, "
                f"{self.pixels_changed} pixels changed{kept} [{self.seconds:.1f} s]")


def sieve(map_path: str | os.PathLike, output: str | os.PathLike, *, mmu: str | float,
          connectivity: int = 4, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, overviews: bool = True,
          overwrite: bool = False, nodata: float | None = None, creation_options: Any = None,
          progress: ProgressCallback | None = None) -> SieveResult:
    """Dissolve patches smaller than a minimum mapping unit into their longest-border neighbour.

    Parameters
    ----------
    map_path : str or path-like
        Single-band integer class map (0 / nodata = no class).
    output : str or path-like
        Sieved map (GeoTIFF) with the input's colours, names, ``.qml`` and provenance tags.
    mmu : str or float
        ``"20px"`` (pixels) or ``"0.5ha"`` (hectares; on the ellipsoid for geographic maps).
    connectivity : {4, 8}, default=4
        Pixels touching by an edge (4) or also by a corner (8) belong to one patch.
    mem_limit_mb : float, default=64
        Budget of one strip; a strip is at least one row of file blocks.
    overviews : bool, default=True
        Build internal overviews (mode resampling), as `geouic classify` does.
    overwrite : bool, default=False
    nodata : float, optional
        Declare the map's "no class" value when the file has no nodata tag (read as 0, like
        the file's own nodata; written as 0).
    creation_options : mapping or sequence of "KEY=VALUE", optional
        GDAL creation options of the output GeoTIFF, checked against the driver's option list
        (see :meth:`geouic.output.ThematicProfile.with_options`).
    progress : callable, optional
        ``progress(advance, total)`` after each strip of each pass: ``total`` is both passes'
        strips (two passes over the same :class:`~geouic.windows.WindowPass`).

    Returns
    -------
    SieveResult
    """
    from geouic.output import ThematicProfile, ThematicWriter
    from geouic.paths import check_map_output

    t0 = time.perf_counter()
    value, unit = parse_mmu(mmu)
    connectivity = check_connectivity(connectivity)
    profile = ThematicProfile(overviews=overviews).with_options(creation_options)
    check_map_output(output, {"map_path": map_path}, overwrite=overwrite)
    with open_class_map(map_path, warn_crs=False, nodata=nodata) as source:
        row_area, pixel_area = _io.pixel_area_rows(source)
        if unit == "ha":
            threshold = value if row_area is not None else value / pixel_area
        else:
            threshold, row_area = value, None
        threshold *= 1 - 1e-9  # a patch of exactly the unit is kept despite float sums
        windows = _io.strips(source, mem_limit_mb=mem_limit_mb)
        tracker = RunProgress(progress, total=2 * len(windows))  # both passes, known before the first
        # Pass 1 only finds the codes present: the legend (colour table) is written before any pixel.
        legend = _io.class_legend(source, _codes_present(source, windows, tracker))
        params = {"mmu": f"{value:g}{unit}", "mmu_threshold": threshold, "connectivity": connectivity,
                  "rule": "longest border, smallest first"}
        changed = 0
        # Strips waiting for their table are spilled beside the output beyond the two newest.
        with tempfile.TemporaryFile(dir=Path(output).resolve().parent, prefix=".geouic-sieve-") as spill, \
                ThematicWriter(output, crs=source.crs, transform=source.transform, width=source.width,
                               height=source.height, legend=legend, n_classes=max(legend.names),
                               overwrite=overwrite, profile=profile) as writer:
            table = ClusterSieve(source.width, connectivity, threshold=threshold, row_area=row_area,
                                 height=source.height)
            pending = PendingStrips(spill)
            k = kernels()

            def write_decided() -> None:
                nonlocal changed
                for index, lut in table.take_decided():
                    window, classes, labels = pending.take(index)
                    if k is not None:
                        result, n = k.apply_lut(labels, lut, classes)
                        changed += int(n)
                    else:
                        result = lut[labels]
                        changed += int(np.count_nonzero(result != classes))
                    writer.write(window, result)

            # Pass 2 labels each strip once (the table carries the last row across each seam),
            # dissolves each cluster of small patches once the strips have closed it, and writes
            # every strip as soon as all its patches are decided.
            for i, (pair, classes) in enumerate(windows.map(lambda pair: _io.read_strip(source, pair.core),
                                                            progress=tracker)):
                pending.put(i, pair.core, classes, table.add(int(pair.core.row_off), classes))
                write_decided()
            table.close()
            write_decided()
            logger.debug("sieve: at most %d patches, parts and borders carried between strips; %d strips "
                         "spilled while waiting", table.peak_carried, pending.spilled)
            writer.close(tags=_io.step_tags(source, "sieve", params))
    result = SieveResult(Path(output), value, unit, connectivity, table.patches, table.removed, changed,
                         table.kept_small, time.perf_counter() - t0)
    logger.info("%s", result.summary())
    return result


def _codes_present(source: Any, windows: Any, tracker: RunProgress) -> np.ndarray:
    """Class codes (> 0) in the map: one read of every strip (compiled when numba is there)."""
    k = kernels()
    if k is None:
        return np.asarray(_io.codes_present(source, windows, progress=tracker), np.int64)
    seen = np.zeros(2**16, bool)
    for _, classes in windows.map(lambda pair: _io.read_strip(source, pair.core), progress=tracker):
        k.mark_codes(classes.ravel(), seen)
    seen[0] = False
    return np.flatnonzero(seen)
