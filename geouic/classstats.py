"""Per-class statistics of a class map: pixels, areas and band means and standard deviations.

:func:`class_statistics` adds to the pixels and hectares of each class the mean and standard
deviation of every band of the scene it was made from, accumulated over the window pass as
counts, sums and sums of squares in float64 (shifted by a per-band offset so the variance does
not cancel); :func:`write_stats` writes them as ``stats.csv``, ``stats.json``, a
spectral-signature plot and a Ward dendrogram of the class means (:mod:`geouic.plots`), which
:func:`geouic.recode.merge_classes` cuts.

The areas (:mod:`geouic.areas`), the class-map reader (:mod:`geouic.classmap`), the plots
(:mod:`geouic.plots`) and class merging (:mod:`geouic.recode`) used to live here; their names
are re-exported so ``from geouic.classstats import ...`` keeps working.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geouic.areas import class_areas, pixel_areas_ha, window_areas
from geouic.classmap import check_class_map, open_class_map, read_classes, read_legend
from geouic.colors import Color, parse_color, to_hex
from geouic.counts import ClassCounts
from geouic.errors import OutputError, ParameterError, RasterInputError
from geouic.windows import DEFAULT_MEM_LIMIT_MB, ProgressCallback, RunProgress, WindowPair

__all__ = [
    "ClassStatistics",
    "class_statistics",
    "class_linkage",
    "write_stats",
    "STATS_FILES",
    # re-exported from the rooms they moved to
    "pixel_areas_ha",
    "class_areas",
    "read_legend",
    "check_class_map",
    "read_classes",
]
# merge_classes, merge_groups, MergeResult (geouic.recode) and plot_signatures, plot_dendrogram
# (geouic.plots) still import from here, lazily (see __getattr__): recode builds on this module.

logger = logging.getLogger(__name__)

#: Files :func:`write_stats` writes into its folder.
STATS_FILES = ("stats.csv", "stats.json", "signatures.png", "dendrogram.png")


class _BandSums:
    """Per-class pixels and area plus shifted sums and sums of squares of each band.

    Pixels and areas are a :class:`~geouic.counts.ClassCounts`; the sums are float64 and
    shifted by a per-band offset so the variance does not cancel.
    """

    def __init__(self, n_bands: int) -> None:
        self.n_bands = n_bands
        self.areas = ClassCounts()
        self.count = np.zeros(1, np.int64)
        self.sums = np.zeros((1, n_bands))
        self.squares = np.zeros((1, n_bands))
        self.shift: np.ndarray | None = None

    def add(self, classes: np.ndarray, areas: np.ndarray, data: np.ndarray | None, valid: np.ndarray | None) -> None:
        self.areas.add(classes, weights=areas)
        extra = len(self.areas.pixels) - len(self.count)
        if extra > 0:
            self.count = np.concatenate([self.count, np.zeros(extra, np.int64)])
            self.sums = np.vstack([self.sums, np.zeros((extra, self.n_bands))])
            self.squares = np.vstack([self.squares, np.zeros((extra, self.n_bands))])
        if data is None or valid is None:
            return
        keep = valid & (classes > 0)
        if not keep.any():
            return
        idx = classes[keep]
        values = data[:, keep].astype(np.float64)
        if self.shift is None:
            self.shift = values.mean(axis=1)
        values -= self.shift[:, None]
        n = len(self.count)
        self.count += np.bincount(idx, minlength=n)
        for b in range(self.n_bands):
            self.sums[:, b] += np.bincount(idx, weights=values[b], minlength=n)
            self.squares[:, b] += np.bincount(idx, weights=values[b] ** 2, minlength=n)


# ------------------------------------------------------------------------------- statistics
@dataclass
class ClassStatistics:
    """Per-class pixel counts, areas and band statistics of a class map.

    Attributes
    ----------
    codes : ndarray of shape (k,)
        Classes present in the map.
    names : list of str
    colors : list of (r, g, b)
    pixels : ndarray of shape (k,)
        Classified pixels per class (whole map).
    area_ha : ndarray of shape (k,)
    count : ndarray of shape (k,)
        Pixels also valid in the scene (those the band statistics use).
    mean, std : ndarray of shape (k, bands)
        Per band (population standard deviation, ``ddof=0``); NaN where ``count`` is 0.
    band_names : list of str
        Empty when no scene was given.
    """

    codes: np.ndarray
    names: list[str]
    colors: list[Color]
    pixels: np.ndarray
    area_ha: np.ndarray
    count: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    band_names: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def band_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of each band over all classified pixels (pooled)."""
        ok = self.count > 0
        n = self.count[ok].astype(np.float64)
        mu = (n[:, None] * self.mean[ok]).sum(axis=0) / n.sum()
        var = (n[:, None] * (self.std[ok] ** 2 + (self.mean[ok] - mu) ** 2)).sum(axis=0) / n.sum()
        return mu, np.sqrt(var)

    def zscored_means(self) -> np.ndarray:
        """Class means in units of each band's overall standard deviation (constant bands -> 0)."""
        mu, sd = self.band_moments()
        return (self.mean - mu) / np.where(sd > 0, sd, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the content of ``stats.json``)."""
        def num(v: float) -> float | None:
            return None if not np.isfinite(v) else round(float(v), 6)

        classes = [{
            "code": int(c), "name": self.names[i], "color": to_hex(self.colors[i]),
            "pixels": int(self.pixels[i]), "area_ha": round(float(self.area_ha[i]), 6),
            "stats_pixels": int(self.count[i]),
            "mean": [num(v) for v in self.mean[i]], "std": [num(v) for v in self.std[i]],
        } for i, c in enumerate(self.codes.tolist())]
        return {"geouic": "class statistics", **self.sources, "bands": list(self.band_names), "classes": classes}

    @classmethod
    def from_dict(cls, doc: Any, *, source: str = "stats") -> ClassStatistics:
        """Read back :meth:`to_dict` output (e.g. a ``stats.json``)."""
        try:
            rows = doc["classes"]
            nb = len(doc["bands"])
            arr = lambda key: np.array([[np.nan if v is None else v for v in r[key]] for r in rows],  # noqa: E731
                                       dtype=np.float64).reshape(len(rows), nb)
            return cls(np.array([int(r["code"]) for r in rows], np.int64), [str(r["name"]) for r in rows],
                       [parse_color(r["color"]) for r in rows], np.array([int(r["pixels"]) for r in rows]),
                       np.array([float(r["area_ha"]) for r in rows]), np.array([int(r["stats_pixels"]) for r in rows]),
                       arr("mean"), arr("std"), list(doc["bands"]),
                       {k: v for k, v in doc.items() if k in ("map", "scene")})
        except (KeyError, TypeError, ValueError, ParameterError) as exc:
            raise ParameterError(f"{source} is not a geouic stats.json ({type(exc).__name__}: {exc}); "
                                 "write one with `geouic stats`.") from None

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> ClassStatistics:
        """Read a ``stats.json`` written by :func:`write_stats`."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ParameterError(f"{path}: no such stats file; write one with `geouic stats`.") from None
        except (OSError, ValueError) as exc:
            raise ParameterError(f"{path}: not a readable JSON stats file ({exc}).") from None
        return cls.from_dict(doc, source=str(path))

    def csv_text(self) -> str:
        """``stats.csv``: code, name, color, pixels, area_ha, stats_pixels, mean_<band>..., std_<band>..."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        bands = bool(self.band_names)
        w.writerow(["code", "name", "color", "pixels", "area_ha", *(["stats_pixels"] if bands else []),
                    *(f"mean_{b}" for b in self.band_names), *(f"std_{b}" for b in self.band_names)])
        for i, c in enumerate(self.codes.tolist()):
            w.writerow([c, self.names[i], to_hex(self.colors[i]), int(self.pixels[i]), f"{self.area_ha[i]:.4f}",
                        *([int(self.count[i])] if bands else []),
                        *(f"{v:.6g}" for v in self.mean[i]), *(f"{v:.6g}" for v in self.std[i])])
        return buf.getvalue()


def class_statistics(map_path: str | os.PathLike, scene: str | os.PathLike | None = None, *,
                     bands: Sequence[int | str] | None = None, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB,
                     progress: ProgressCallback | RunProgress | None = None,
                     map_nodata: float | None = None) -> ClassStatistics:
    """Pixels, area and per-band mean and standard deviation of each class, window by window.

    Parameters
    ----------
    map_path : str or path-like
        Single-band integer class map.
    scene : str or path-like, optional
        The image on the same grid; without it only pixels and areas are computed.
    bands : sequence of int or str, optional
        Bands of ``scene`` (default: all but alpha).
    mem_limit_mb : float, default=64
    progress : callable, optional
        ``progress(advance, total)`` per window.
    map_nodata : float, optional
        A declared "no class" value of ``map_path`` when it has no nodata tag.

    Returns
    -------
    ClassStatistics

    Raises
    ------
    RasterInputError
        Unreadable inputs, not a class map, or the two rasters are not on the same grid.
    """
    from geouic.raster import open_raster

    with ExitStack() as stack:
        cmap = stack.enter_context(open_class_map(map_path, nodata=map_nodata))
        img = stack.enter_context(open_raster(scene, bands=bands)) if scene is not None else None
        if img is not None:
            _check_same_grid(cmap, img)
        acc = _BandSums(img.count if img is not None else 0)
        driver = img if img is not None else cmap

        def one(pair: WindowPair) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
            data, valid = img.read(pair.core) if img is not None else (None, None)
            return read_classes(cmap, pair.core), window_areas(cmap, pair.core), data, valid

        driver.windows(mem_limit_mb=mem_limit_mb).reduce(one, lambda a, r: a.add(*r), acc, progress=progress)
        codes = acc.areas.classes
        legend = read_legend(map_path, codes.tolist())
        band_names = list(img.band_names) if img is not None else []
        sources = {"map": str(map_path), **({"scene": str(scene)} if scene is not None else {})}
    n = acc.count[codes].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_s = acc.sums[codes] / n[:, None]
        var = np.maximum(acc.squares[codes] / n[:, None] - mean_s**2, 0.0)
    shift = acc.shift if acc.shift is not None else np.zeros(acc.n_bands)
    return ClassStatistics(codes, [legend.names[c] for c in codes.tolist()], [legend.colors[c] for c in codes.tolist()],
                           acc.areas.pixels[codes], acc.areas.weights[codes], acc.count[codes], mean_s + shift,
                           np.sqrt(var),
                           band_names, sources)


def _check_same_grid(cmap: Any, img: Any) -> None:
    same = (cmap.width, cmap.height) == (img.width, img.height) and cmap.transform.almost_equals(img.transform)
    if not same or (cmap.crs and img.crs and cmap.crs != img.crs):
        raise RasterInputError(
            f"{cmap.path} ({cmap.width}x{cmap.height}) and {img.path} ({img.width}x{img.height}) are not on the "
            "same grid; give the scene the class map was made from.")


def class_linkage(stats: ClassStatistics) -> np.ndarray:
    """Ward linkage (SciPy format) of the class means in z-scored bands.

    Only classes with band statistics (``count > 0``) take part, in the order of ``codes``;
    the leaves of the linkage are ``stats.codes[stats.count > 0]``.

    Raises
    ------
    ParameterError
        Fewer than two classes with band statistics.
    """
    from scipy.cluster.hierarchy import linkage

    ok = stats.count > 0
    if len(stats.band_names) == 0 or ok.sum() < 2:
        raise ParameterError("a dendrogram needs the band means of at least two classes; compute the statistics "
                             "with scene (the image), or pass stats (a stats.json computed with one).",
                             params=("scene", "stats"))
    return linkage(stats.zscored_means()[ok], method="ward")


# ---------------------------------------------------------------------------------- writing
def write_stats(stats: ClassStatistics, folder: str | os.PathLike, *, overwrite: bool = False,
                plots: bool = True) -> list[Path]:
    """Write ``stats.csv``, ``stats.json`` and (with band statistics) the two plots into ``folder``.

    The folder is created when missing; the files appear together or not at all.

    Returns
    -------
    list of Path
        The files written.
    """
    from geouic.output import atomic_path, check_output

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: is a file; folder takes a directory for the statistics.", params=("folder",))
    plots = plots and len(stats.band_names) > 0 and len(stats.codes) > 0
    names = STATS_FILES if plots else STATS_FILES[:2]
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / n for n in names]
    try:
        for t in targets:
            check_output(t, overwrite=overwrite)
        with ExitStack() as stack:
            tmp = [stack.enter_context(atomic_path(t)) for t in targets]
            tmp[0].write_text(stats.csv_text(), encoding="utf-8")
            doc = stats.to_dict()
            if stats.band_names and (stats.count > 0).sum() >= 2:
                doc["linkage_codes"] = stats.codes[stats.count > 0].tolist()
                doc["linkage"] = class_linkage(stats).round(6).tolist()
            tmp[1].write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
            if plots:
                from geouic.plots import plot_dendrogram, plot_signatures

                plot_signatures(stats, tmp[2])
                plot_dendrogram(stats, tmp[3])
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    return targets


def __getattr__(name: str) -> Any:
    """Old import paths of names that moved to :mod:`geouic.recode` and :mod:`geouic.plots`."""
    if name in ("merge_classes", "merge_groups", "MergeResult"):
        from geouic import recode

        return getattr(recode, name)
    if name in ("plot_signatures", "plot_dendrogram"):
        from geouic import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
