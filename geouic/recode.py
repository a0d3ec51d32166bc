"""Recoding class maps through a look-up table, and merging classes.

The look-up-table writer is the one that ``assign-schema`` and ``merge`` share.

:func:`write_lut_map` reads a class map over its window pass, writes ``lut[class]`` of every
pixel into a new thematic map with its legend and counts the input classes on the way.
:func:`merge_classes` joins classes (listed, or cut from the Ward dendrogram of the class means
of :func:`geouic.classstats.class_linkage`) into a new map with a mapping table.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import os
import re
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geouic.areas import class_areas
from geouic.classmap import open_class_map, read_classes, read_legend
from geouic.classstats import ClassStatistics, class_linkage, class_statistics
from geouic.counts import ClassCounts
from geouic.errors import ParameterError, ParameterWarning, RasterInputError
from geouic.provenance import provenance_tags
from geouic.windows import BYTES_PER_PIXEL, DEFAULT_MEM_LIMIT_MB, ProgressCallback, RunProgress, WindowPair, WindowPass

__all__ = ["MergeResult", "apply_lut", "merge_classes", "merge_groups", "write_lut_map"]

logger = logging.getLogger(__name__)

_GENERIC = re.compile(r"^\s*(class\s*)?\d+(\+\d+)*\s*$", re.IGNORECASE)


# ------------------------------------------------------------------------- the LUT writer
def apply_lut(classes: np.ndarray, lut: np.ndarray, fill: int = 0) -> np.ndarray:
    """``lut[classes]``, with ``fill`` for classes beyond the table.

    >>> apply_lut(np.array([0, 1, 2, 5]), np.array([0, 7, 8], np.uint16), fill=9).tolist()
    [0, 7, 8, 9]
    """
    inside = classes < len(lut)
    out = lut[np.where(inside, classes, 0)]
    if not inside.all():
        out = np.where(inside, out, np.asarray(fill, dtype=out.dtype))
    return out


@contextlib.contextmanager
def write_lut_map(source: Any, output: str | os.PathLike, lut: np.ndarray, *, legend: Any, n_classes: int,
                  fill: int = 0, overwrite: bool = False, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB,
                  windows: WindowPass | None = None, progress: ProgressCallback | RunProgress | None = None,
                  profile: Any = None) -> Iterator[tuple[Any, ClassCounts]]:
    """Write ``lut[class]`` of a checked class map into a thematic map, window by window.

    Yields ``(writer, counts)`` once every window is written: the open
    :class:`~geouic.output.ThematicWriter` (close it with its tags, after writing any side-car
    files, so everything appears together; leaving the block without closing aborts it) and the
    :class:`~geouic.counts.ClassCounts` of the input classes. ``profile`` is the
    :class:`~geouic.output.ThematicProfile` of the map (creation options: ``--co``).
    """
    from geouic.output import ThematicWriter

    windows = windows if windows is not None else source.windows(
        mem_limit_mb=mem_limit_mb, bytes_per_pixel=BYTES_PER_PIXEL["class_map"])
    counts = ClassCounts()
    with ThematicWriter(output, crs=source.crs, transform=source.transform, width=source.width,
                        height=source.height, legend=legend, n_classes=n_classes, overwrite=overwrite,
                        profile=profile) as writer:
        def read(pair: WindowPair) -> tuple[WindowPair, np.ndarray]:
            return pair, read_classes(source, pair.core)

        def write(acc: ClassCounts, result: tuple[WindowPair, np.ndarray]) -> None:
            pair, classes = result
            acc.add(classes)
            writer.write(pair.core, apply_lut(classes, lut, fill))

        windows.reduce(read, write, counts, progress=progress)
        yield writer, counts


# ---------------------------------------------------------------------------------- merge
@dataclass
class MergeResult:
    """What :func:`merge_classes` wrote.

    Attributes
    ----------
    path : Path
    rows : list of dict
        Old code, old name, pixels, new code, new name per input class.
    n_before, n_after : int
    table : Path
        The ``<stem>.merge.csv`` file.
    """

    path: Path
    rows: list[dict[str, Any]]
    n_before: int
    n_after: int
    table: Path
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the user: the map, classes before and after, the mapping table, the time."""
        return (f"{self.path}: {self.n_before} classes merged into {self.n_after}; "
                f"mapping -> {self.table} [{self.seconds:.1f} s]")


def merge_groups(codes: Sequence[int], *, groups: Sequence[Sequence[int]] | None = None, to: int | None = None,
                 stats: ClassStatistics | None = None) -> list[list[int]]:
    """The classes to join: validated explicit groups, or a Ward dendrogram cut into ``to`` groups.

    Returns
    -------
    list of list of int
        Every class of ``codes`` in exactly one group (singletons included), sorted.
    """
    codes = [int(c) for c in codes]
    if (groups is None) == (to is None):
        raise ParameterError("give either groups (lists of classes that become one) or to=N (the number of "
                             f"classes left), not {'both' if groups is not None else 'neither'}.",
                             params=("groups", "to"))
    if groups is not None:
        seen: dict[int, int] = {}
        for i, g in enumerate(groups):
            g = [int(c) for c in g]
            listed = ",".join(map(str, g))
            if len(set(g)) < 2:
                raise ParameterError(f"groups entry {listed} names fewer than two classes; list two or more, "
                                     "e.g. 3,7.", params=("groups",))
            for c in g:
                if c not in codes:
                    raise ParameterError(f"groups entry {listed}: class {c} is not in the map "
                                         f"(classes: {_ranges(codes)}).", params=("groups",))
                if c in seen and seen[c] != i:
                    joined = ",".join(map(str, sorted(set(groups[seen[c]]) | set(g))))
                    raise ParameterError(f"class {c} is in two groups entries; join them into one, e.g. {joined}.",
                                         params=("groups",))
                seen[c] = i
        out = [sorted(set(int(c) for c in g)) for g in groups] + [[c] for c in codes if c not in seen]
        return sorted(out)
    if not isinstance(to, (int, np.integer)) or isinstance(to, bool) or not 1 <= to <= len(codes):
        raise ParameterError(f"to={to} is out of range; the map has {len(codes)} classes, so use 1..{len(codes)}.",
                             params=("to",))
    if stats is None:
        raise ParameterError(f"to={to} needs class means: give scene (the image) or stats (a stats.json of the map).",
                             params=("to", "scene", "stats"))
    missing = sorted(set(codes) - set(stats.codes.tolist()))
    if missing:
        raise ParameterError(f"the statistics have no entry for classes {_ranges(missing)} of the map; "
                             "recompute them with `geouic stats` on this map.")
    empty = sorted(set(codes) & set(stats.codes[stats.count == 0].tolist()))
    if empty:
        raise ParameterError(f"classes {_ranges(empty)} have no valid pixel in the scene, so no band means to "
                             "compare; merge them with groups instead.", params=("groups",))
    if to == len(codes):
        warnings.warn(ParameterWarning(f"to={to} keeps all {len(codes)} classes; nothing is merged.", params=("to",)),
                      stacklevel=3)
        return [[c] for c in codes]
    from scipy.cluster.hierarchy import fcluster

    sub = _subset(stats, codes)
    labels = fcluster(class_linkage(sub), t=to, criterion="maxclust")
    return sorted(sorted(np.asarray(codes)[labels == k].tolist()) for k in np.unique(labels))


def _subset(stats: ClassStatistics, codes: Sequence[int]) -> ClassStatistics:
    idx = [stats.codes.tolist().index(c) for c in codes]
    pick = lambda a: a[idx]  # noqa: E731
    return ClassStatistics(pick(stats.codes), [stats.names[i] for i in idx], [stats.colors[i] for i in idx],
                           pick(stats.pixels), pick(stats.area_ha), pick(stats.count), pick(stats.mean),
                           pick(stats.std), stats.band_names, stats.sources)


def _ranges(codes: Sequence[int]) -> str:
    codes = sorted(codes)
    return f"{codes[0]}..{codes[-1]}" if codes == list(range(codes[0], codes[-1] + 1)) and len(codes) > 2 else \
        ", ".join(map(str, codes))


def _plan(groups: list[list[int]], pixels: dict[int, int], legend: Any, keep_codes: bool
          ) -> tuple[dict[int, int], Any, list[dict[str, Any]]]:
    """Old -> new code, the new legend and the table rows."""
    from geouic.output import Legend

    kept = []
    for g in groups:
        big = max(g, key=lambda c: (pixels.get(c, 0), -c))
        generic = all(_GENERIC.match(legend.names.get(c, "")) for c in g)
        name = legend.names[big] if len(g) == 1 or not generic else "class " + "+".join(map(str, g))
        kept.append((big, g, name, legend.colors[big]))
    kept.sort()
    # Unassigned land (assign-schema's "unassigned" class) keeps its code whatever keep_codes says:
    # every map and mapping file of a schema uses the same code for it (255 for uint8 schemas).
    reserved = {big for big, *_ in kept if _is_unassigned(legend, big)}
    free = (i for i in range(1, 2**16) if i not in reserved)
    lut, names, colors, rows = {}, {}, {}, []
    for big, g, name, colour in kept:
        new = big if keep_codes or big in reserved else next(free)
        names[new], colors[new] = name, colour
        for c in g:
            lut[c] = new
    for c in sorted(lut):
        rows.append({"old_code": c, "old_name": legend.names[c], "pixels": int(pixels.get(c, 0)),
                     "new_code": lut[c], "new_name": names[lut[c]]})
    return lut, Legend(names=names, colors=colors), rows


def _is_unassigned(legend: Any, code: int) -> bool:
    from geouic.schema import UNASSIGNED_NAME

    return str(legend.names.get(code, "")).strip().lower() == UNASSIGNED_NAME


def merge_classes(map_path: str | os.PathLike, output: str | os.PathLike, *,
                  groups: Sequence[Sequence[int]] | None = None, to: int | None = None,
                  scene: str | os.PathLike | None = None, stats: str | os.PathLike | ClassStatistics | None = None,
                  keep_codes: bool = False, bands: Sequence[int | str] | None = None,
                  mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, overwrite: bool = False,
                  progress: ProgressCallback | RunProgress | None = None,
                  creation_options: Any = None, nodata: float | None = None) -> MergeResult:
    """Join classes of a class map and write the result with its legend and a mapping table.

    Parameters
    ----------
    map_path : str or path-like
        Single-band integer class map.
    output : str or path-like
        Merged map; the old -> new table goes to ``<stem>.merge.csv``.
    groups : sequence of sequence of int, optional
        Classes to join, e.g. ``[[3, 7], [4, 5]]``.
    to : int, optional
        Instead of ``groups``: merge down to this many classes along the Ward dendrogram of the
        class means (needs ``scene`` or ``stats``).
    scene : str or path-like, optional
        Image the class means are computed from.
    stats : str, path-like or ClassStatistics, optional
        A ``stats.json`` (or statistics) of this map instead of ``scene``.
    keep_codes : bool, default=False
        Keep the code of each group's largest member instead of renumbering 1..N.
    bands : sequence of int or str, optional
        Bands of ``scene``.
    mem_limit_mb : float, default=64
    overwrite : bool, default=False
    progress : callable, optional
        ``progress(advance, total)`` per window, over both passes (class pixels, then the map).
    creation_options : mapping or sequence of "KEY=VALUE", optional
        GDAL creation options of the map, checked against the GTiff driver's.
    nodata : float, optional
        Declare the map's "no class" value when the file has no nodata tag (read as 0: not
        merged, written as 0).

    Returns
    -------
    MergeResult

    Notes
    -----
    A merged class keeps the code (with ``keep_codes``), colour and name of its largest member
    (by pixels); when all its members have generic names it is named ``class 3+7``. The
    ``unassigned`` class of assign-schema keeps its code (255 for uint8 schemas), name and colour
    whatever ``keep_codes`` says (the others are numbered 1..N around it); ``to`` never joins it
    to another class (it is not a spectral class), only an explicit group does.
    """
    from geouic.output import atomic_path, check_output

    from geouic.output import ThematicProfile

    t0 = time.perf_counter()
    profile = ThematicProfile().with_options(creation_options)
    tracker = progress if isinstance(progress, RunProgress) else RunProgress(progress)
    table_path = Path(output).with_suffix("").with_name(Path(output).with_suffix("").name + ".merge.csv")
    for p in (output, table_path):
        check_output(p, overwrite=overwrite)
    if to is not None and scene is not None and stats is not None:
        raise ParameterError(f"give either scene or stats with to={to}, not both.", params=("scene", "stats", "to"))
    if groups is not None and (scene is not None or stats is not None):
        warnings.warn(ParameterWarning("scene and stats are only used with to=N; ignored.",
                                       params=("scene", "stats", "to")), stacklevel=2)
    st: ClassStatistics | None
    if to is not None and scene is not None:
        st = class_statistics(map_path, scene, bands=bands, mem_limit_mb=mem_limit_mb, progress=tracker,
                              map_nodata=nodata)
        pixels = dict(zip(st.codes.tolist(), st.pixels.tolist()))
    else:
        st = ClassStatistics.from_json(stats) if isinstance(stats, (str, os.PathLike)) else stats
        pixels = {c: n for c, (n, _) in class_areas(map_path, mem_limit_mb=mem_limit_mb, progress=tracker,
                                                    nodata=nodata).items()}
    if not pixels:
        raise RasterInputError(f"{map_path}: has no classified pixel; nothing to merge.")
    old_legend = read_legend(map_path, sorted(pixels))
    # The dendrogram joins spectral classes; unassigned land is not one and stays apart.
    apart = [c for c in sorted(pixels) if to is not None and _is_unassigned(old_legend, c)]
    plan = merge_groups([c for c in sorted(pixels) if c not in apart], groups=groups, to=to,
                        stats=st if to is not None else None) + [[c] for c in apart]
    lut_map, legend, rows = _plan(plan, pixels, old_legend, keep_codes)
    lut = np.zeros(max(lut_map) + 1, dtype=np.uint16)
    for old, new in lut_map.items():
        lut[old] = new
    tags = provenance_tags("merge", map_path, source=map_path, merge=[g for g in plan if len(g) > 1], merge_to=to)
    with open_class_map(map_path, warn_crs=False, nodata=nodata) as source, write_lut_map(
            source, output, lut, legend=legend, n_classes=max(legend.names), overwrite=overwrite,
            mem_limit_mb=mem_limit_mb, progress=tracker, profile=profile) as (writer, _):
        with atomic_path(table_path) as tmp:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
            tmp.write_text(buf.getvalue(), encoding="utf-8")
            writer.close(tags=tags)
    result = MergeResult(Path(output), rows, len(pixels), len(legend.names), table_path, time.perf_counter() - t0)
    logger.info("%s", result.summary())
    return result
