"""Per-class statistics of a class map, and merging classes.

Everything here runs window by window with memory bounded by the window:

* :func:`pixel_areas_ha` gives the ground area of pixels, exactly for projected grids and on
  the ellipsoid for geographic ones (where pixel area shrinks with latitude);
* :func:`class_areas` counts pixels and hectares per class;
* :func:`class_statistics` adds the mean and standard deviation of every band per class,
  accumulated as counts, sums and sums of squares in float64 (shifted by a per-band offset so
  the variance does not cancel), and :func:`write_stats` writes them as ``stats.csv``,
  ``stats.json``, a spectral-signature plot and a Ward dendrogram of the class means;
* :func:`merge_classes` joins classes (listed, or cut from that dendrogram) into a new map.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import time
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geouic.colors import Color, distinct_colors, parse_color, to_hex
from geouic.errors import OutputError, ParameterError, RasterInputError

__all__ = [
    "pixel_areas_ha",
    "class_areas",
    "ClassStatistics",
    "class_statistics",
    "class_linkage",
    "write_stats",
    "read_legend",
    "merge_classes",
    "merge_groups",
    "MergeResult",
    "STATS_FILES",
    "check_class_map",
    "read_classes",
]

logger = logging.getLogger(__name__)

#: Files :func:`write_stats` writes into its folder.
STATS_FILES = ("stats.csv", "stats.json", "signatures.png", "dendrogram.png")


# ------------------------------------------------------------------------------------ areas
def pixel_areas_ha(transform: Any, crs: Any, rows: Sequence[int] | np.ndarray, width: int) -> np.ndarray:
    """Ground area of pixels in hectares.

    Parameters
    ----------
    transform : affine.Affine
        Transform of the grid (or of a window: rows and columns count from its corner).
    crs : rasterio CRS, pyproj CRS, str or None
        Projected CRS: area from the transform and the linear unit. Geographic CRS: area on the
        CRS's ellipsoid (exact band formula for north-up grids, local area element at the pixel
        centre for rotated ones). None: map units are taken as metres, with a warning.
    rows : sequence of int
        Row indexes.
    width : int
        Columns 0..width-1.

    Returns
    -------
    ndarray of shape (len(rows), width), float64
    """
    rows = np.asarray(rows, dtype=np.float64)
    det = abs(transform.a * transform.e - transform.b * transform.d)
    if crs is None:
        warnings.warn("the map has no CRS; areas assume map units of metres.", stacklevel=2)
        return np.full((len(rows), width), det / 1e4)
    import pyproj

    pcrs = pyproj.CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)
    factor = pcrs.axis_info[0].unit_conversion_factor if pcrs.axis_info else 1.0
    if not pcrs.is_geographic:
        return np.full((len(rows), width), det * factor**2 / 1e4)
    a, b = pcrs.ellipsoid.semi_major_metre, pcrs.ellipsoid.semi_minor_metre
    if transform.b == 0 and transform.d == 0:
        lat0 = (transform.f + transform.e * rows) * factor
        lat1 = (transform.f + transform.e * (rows + 1)) * factor
        band = np.abs(_authalic_q(lat0, a, b) - _authalic_q(lat1, a, b)) * b**2 / 2
        return np.repeat((band * abs(transform.a) * factor / 1e4)[:, None], width, axis=1)
    cols = np.arange(width) + 0.5
    lat = (transform.d * cols[None, :] + transform.e * (rows[:, None] + 0.5) + transform.f) * factor
    e2 = 1 - (b / a) ** 2
    w = np.sqrt(1 - e2 * np.sin(lat) ** 2)
    m, n = a * (1 - e2) / w**3, a / w  # meridional and prime-vertical radii of curvature
    return det * factor**2 * m * n * np.cos(lat) / 1e4


def _authalic_q(lat: np.ndarray, a: float, b: float) -> np.ndarray:
    """``q(phi)`` of the ellipsoidal band area ``b^2 dlon / 2 * (q(phi2) - q(phi1))``."""
    s = np.sin(lat)
    e = math.sqrt(max(0.0, 1 - (b / a) ** 2))
    if e < 1e-12:
        return 2 * s
    return s / (1 - e**2 * s**2) + np.log((1 + e * s) / (1 - e * s)) / (2 * e)


def _window_areas(source: Any, window: Any) -> np.ndarray:
    from affine import Affine

    t = source.transform @ Affine.translation(int(window.col_off), int(window.row_off))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # warned once per map by the caller
        return pixel_areas_ha(t, source.crs, np.arange(int(window.height)), int(window.width))


def class_areas(map_path: str | os.PathLike, *, mem_limit_mb: float = 64) -> dict[int, tuple[int, float]]:
    """Pixels and area (ha) of every class of a class map, window by window.

    Parameters
    ----------
    map_path : str or path-like
        Single-band integer class map (0 and the nodata value = no class).
    mem_limit_mb : float, default=64

    Returns
    -------
    dict of int to (int, float)
        ``{code: (pixels, area_ha)}`` for the classes present, sorted by code.
    """
    from geouic.raster import open_raster

    with open_raster(map_path) as source:
        check_class_map(source)
        acc = _Accumulator(0)
        for pair in source.windows(mem_limit_mb=mem_limit_mb, bytes_per_pixel=32):
            classes = read_classes(source, pair.core)
            acc.add_areas(classes, _window_areas(source, pair.core))
    return {int(c): (int(acc.pixels[c]), float(acc.area[c])) for c in np.flatnonzero(acc.pixels[1:]) + 1}


def check_class_map(source: Any) -> None:
    """Raise RasterInputError unless ``source`` (a RasterSource) is a single-band integer map."""
    ds = source.dataset
    if ds.count != 1 or not np.issubdtype(np.dtype(ds.dtypes[0]), np.integer):
        raise RasterInputError(f"{source.path}: has {ds.count} band(s) of {ds.dtypes[0]}; a class map has one band "
                               "of integer class codes (the output of `geouic classify`).")
    if source.crs is None:
        warnings.warn(f"{source.path} has no CRS; areas assume map units of metres.", stacklevel=3)


def read_classes(source: Any, window: Any) -> np.ndarray:
    """Class values of a window of a class map as int64; nodata and negative values become 0.

    Raises
    ------
    RasterInputError
        A value above 65535 (not a class map).
    """
    values = source.dataset.read(1, window=window).astype(np.int64)
    nodata = source.dataset.nodata
    values[values < 0] = 0
    if nodata is not None and nodata == nodata and nodata != 0:
        values[values == int(nodata)] = 0
    if values.size and values.max() > 65535:
        raise RasterInputError(f"{source.path}: holds class {values.max()} > 65535; is it really a class map?")
    return values


class _Accumulator:
    """Per-class pixels, area and shifted sums / sums of squares of each band (float64)."""

    def __init__(self, n_bands: int) -> None:
        self.n_bands = n_bands
        self.pixels = np.zeros(1, np.int64)
        self.area = np.zeros(1)
        self.count = np.zeros(1, np.int64)
        self.sums = np.zeros((1, n_bands))
        self.squares = np.zeros((1, n_bands))
        self.shift: np.ndarray | None = None

    def _grow(self, top: int) -> None:
        extra = top + 1 - len(self.pixels)
        if extra > 0:
            self.pixels = np.concatenate([self.pixels, np.zeros(extra, np.int64)])
            self.area = np.concatenate([self.area, np.zeros(extra)])
            self.count = np.concatenate([self.count, np.zeros(extra, np.int64)])
            self.sums = np.vstack([self.sums, np.zeros((extra, self.n_bands))])
            self.squares = np.vstack([self.squares, np.zeros((extra, self.n_bands))])

    def add_areas(self, classes: np.ndarray, areas: np.ndarray) -> None:
        self._grow(int(classes.max(initial=0)))
        n = len(self.pixels)
        self.pixels += np.bincount(classes.ravel(), minlength=n)
        self.area += np.bincount(classes.ravel(), weights=areas.ravel(), minlength=n)

    def add_bands(self, classes: np.ndarray, data: np.ndarray, valid: np.ndarray) -> None:
        keep = valid & (classes > 0)
        if not keep.any():
            return
        idx = classes[keep]
        values = data[:, keep].astype(np.float64)
        if self.shift is None:
            self.shift = values.mean(axis=1)
        values -= self.shift[:, None]
        n = len(self.pixels)
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
                     bands: Sequence[int | str] | None = None, mem_limit_mb: float = 64,
                     progress: Callable[[int], None] | None = None) -> ClassStatistics:
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
        Called with the number of windows finished.

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
        cmap = stack.enter_context(open_raster(map_path))
        check_class_map(cmap)
        img = stack.enter_context(open_raster(scene, bands=bands)) if scene is not None else None
        if img is not None:
            _check_same_grid(cmap, img)
        acc = _Accumulator(img.count if img is not None else 0)
        driver = img if img is not None else cmap
        for pair in driver.windows(mem_limit_mb=mem_limit_mb):
            classes = read_classes(cmap, pair.core)
            acc.add_areas(classes, _window_areas(cmap, pair.core))
            if img is not None:
                data, valid = img.read(pair.core)
                acc.add_bands(classes, data, valid)
            if progress is not None:
                progress(1)
        codes = np.flatnonzero(acc.pixels[1:]) + 1
        legend = read_legend(map_path, codes.tolist())
        band_names = list(img.band_names) if img is not None else []
        sources = {"map": str(map_path), **({"scene": str(scene)} if scene is not None else {})}
    n = acc.count[codes].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_s = acc.sums[codes] / n[:, None]
        var = np.maximum(acc.squares[codes] / n[:, None] - mean_s**2, 0.0)
    shift = acc.shift if acc.shift is not None else np.zeros(acc.n_bands)
    return ClassStatistics(codes, [legend.names[c] for c in codes.tolist()], [legend.colors[c] for c in codes.tolist()],
                           acc.pixels[codes], acc.area[codes], acc.count[codes], mean_s + shift, np.sqrt(var),
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
        raise ParameterError("a dendrogram needs the band means of at least two classes; give the scene "
                             "(--scene) or a stats.json computed with one.")
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
        raise OutputError(f"{folder}: is a file; -o takes a folder for the statistics.")
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
                plot_signatures(stats, tmp[2])
                plot_dendrogram(stats, tmp[3])
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    return targets


def plot_signatures(stats: ClassStatistics, path: str | os.PathLike) -> None:
    """Mean +- std per band and class, in the class colours (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(6.0, 0.8 * len(stats.band_names) + 3), 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    x = np.arange(len(stats.band_names))
    for i, code in enumerate(stats.codes.tolist()):
        colour = np.array(stats.colors[i]) / 255
        m, s = stats.mean[i], stats.std[i]
        ax.fill_between(x, m - s, m + s, color=colour, alpha=0.18, linewidth=0)
        ax.plot(x, m, marker="o", color=colour, label=_label(code, stats.names[i]), markeredgecolor="0.25",
                markeredgewidth=0.5)
    ax.set_xticks(x, stats.band_names, rotation=45 if len(x) > 8 else 0)
    ax.set_xlabel("band")
    ax.set_ylabel("value (mean \u00b1 std)")
    ax.set_title("Spectral signatures per class")
    ax.legend(fontsize="small", ncol=max(1, len(stats.codes) // 12), loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, format="png")


def _label(code: int, name: str) -> str:
    return name if name == f"class {code}" else f"{code} {name}"


def plot_dendrogram(stats: ClassStatistics, path: str | os.PathLike) -> None:
    """Ward dendrogram of the z-scored class means, leaf labels in the class colours (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from scipy.cluster.hierarchy import dendrogram

    fig = Figure(figsize=(6.5, max(3.0, 0.3 * len(stats.codes) + 1.5)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ok = stats.count > 0
    labels = [_label(c, n) for c, n, k in zip(stats.codes.tolist(), stats.names, ok) if k]
    if ok.sum() >= 2:
        dendrogram(class_linkage(stats), labels=labels, orientation="right", ax=ax,
                   link_color_func=lambda _: "0.3")
        colour = dict(zip(labels, [c for c, k in zip(stats.colors, ok) if k]))
        for tick in ax.get_yticklabels():
            tick.set_color(np.array(colour[tick.get_text()]) / 255)
            tick.set_fontweight("bold")
    else:
        ax.text(0.5, 0.5, "fewer than two classes with band statistics", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("Ward distance (z-scored band means)")
    ax.set_title("Class similarity")
    fig.tight_layout()
    fig.savefig(path, format="png")


# ---------------------------------------------------------------------------------- legends
_GENERIC = re.compile(r"^\s*(class\s*)?\d+(\+\d+)*\s*$", re.IGNORECASE)


def read_legend(path: str | os.PathLike, codes: Sequence[int]) -> Any:
    """Names and colours of ``codes`` in a class map: its colour table and category names.

    Classes without a colour or a name get a generated colour and ``class <code>``.
    """
    import rasterio

    from geouic.output import Legend

    try:
        with rasterio.open(path) as ds:
            cmap = ds.colormap(1)
    except ValueError:  # no colour table
        cmap = {}
    names: dict[int, str] = {}
    aux = Path(str(path) + ".aux.xml")
    if aux.exists():
        try:
            cats = [c.text or "" for c in ET.parse(aux).getroot().iter("Category")]
            names = {i: t.strip() for i, t in enumerate(cats) if t.strip()}
        except ET.ParseError:
            logger.warning("%s: unreadable; using generic class names", aux)
    palette = distinct_colors(len(codes))
    return Legend(
        names={c: names.get(c) or f"class {c}" for c in codes},
        colors={c: tuple(cmap[c][:3]) if c in cmap and cmap[c][3] > 0 else palette[i] for i, c in enumerate(codes)},
    )


# ------------------------------------------------------------------------------------ merge
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
        raise ParameterError("give either classes to merge (--merge 3,7) or a number of classes (--to N), "
                             f"not {'both' if groups is not None else 'neither'}.")
    if groups is not None:
        seen: dict[int, int] = {}
        for i, g in enumerate(groups):
            g = [int(c) for c in g]
            if len(set(g)) < 2:
                raise ParameterError(f"--merge {','.join(map(str, g))} names fewer than two classes; "
                                     "list two or more, e.g. --merge 3,7.")
            for c in g:
                if c not in codes:
                    raise ParameterError(f"--merge {','.join(map(str, g))}: class {c} is not in the map "
                                         f"(classes: {_ranges(codes)}).")
                if c in seen and seen[c] != i:
                    raise ParameterError(f"class {c} is in two --merge groups; join them into one, e.g. "
                                         f"--merge {','.join(map(str, sorted(set(groups[seen[c]]) | set(g))))}.")
                seen[c] = i
        out = [sorted(set(int(c) for c in g)) for g in groups] + [[c] for c in codes if c not in seen]
        return sorted(out)
    if not isinstance(to, (int, np.integer)) or isinstance(to, bool) or not 1 <= to <= len(codes):
        raise ParameterError(f"--to {to} is out of range; the map has {len(codes)} classes, so use 1..{len(codes)}.")
    if stats is None:
        raise ParameterError("--to needs class means: give the scene (--scene) or a stats.json (--stats).")
    missing = sorted(set(codes) - set(stats.codes.tolist()))
    if missing:
        raise ParameterError(f"the statistics have no entry for classes {_ranges(missing)} of the map; "
                             "recompute them with `geouic stats` on this map.")
    empty = sorted(set(codes) & set(stats.codes[stats.count == 0].tolist()))
    if empty:
        raise ParameterError(f"classes {_ranges(empty)} have no valid pixel in the scene, so no band means to "
                             "compare; merge them with --merge instead.")
    if to == len(codes):
        warnings.warn(f"--to {to} keeps all {len(codes)} classes; nothing is merged.", stacklevel=3)
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
    lut, names, colors, rows = {}, {}, {}, []
    for i, (big, g, name, colour) in enumerate(kept, 1):
        new = big if keep_codes else i
        names[new], colors[new] = name, colour
        for c in g:
            lut[c] = new
    for c in sorted(lut):
        rows.append({"old_code": c, "old_name": legend.names[c], "pixels": int(pixels.get(c, 0)),
                     "new_code": lut[c], "new_name": names[lut[c]]})
    return lut, Legend(names=names, colors=colors), rows


def merge_classes(map_path: str | os.PathLike, output: str | os.PathLike, *,
                  groups: Sequence[Sequence[int]] | None = None, to: int | None = None,
                  scene: str | os.PathLike | None = None, stats: str | os.PathLike | ClassStatistics | None = None,
                  keep_codes: bool = False, bands: Sequence[int | str] | None = None, mem_limit_mb: float = 64,
                  overwrite: bool = False, progress: Callable[[int], None] | None = None) -> MergeResult:
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

    Returns
    -------
    MergeResult

    Notes
    -----
    A merged class keeps the code (with ``keep_codes``), colour and name of its largest member
    (by pixels); when all its members have generic names it is named ``class 3+7``.
    """
    from geouic import __version__
    from geouic.output import ThematicWriter, atomic_path, check_output
    from geouic.raster import open_raster

    t0 = time.perf_counter()
    table_path = Path(output).with_suffix("").with_name(Path(output).with_suffix("").name + ".merge.csv")
    for p in (output, table_path):
        check_output(p, overwrite=overwrite)
    if to is not None and scene is not None and stats is not None:
        raise ParameterError("give either --scene or --stats for --to, not both.")
    if groups is not None and (scene is not None or stats is not None):
        warnings.warn("--scene/--stats are only used with --to; ignored.", stacklevel=2)
    if to is not None and scene is not None:
        st = class_statistics(map_path, scene, bands=bands, mem_limit_mb=mem_limit_mb)
        pixels = dict(zip(st.codes.tolist(), st.pixels.tolist()))
    else:
        st = ClassStatistics.from_json(stats) if isinstance(stats, (str, os.PathLike)) else stats
        pixels = {c: n for c, (n, _) in class_areas(map_path, mem_limit_mb=mem_limit_mb).items()}
    if not pixels:
        raise RasterInputError(f"{map_path}: has no classified pixel; nothing to merge.")
    plan = merge_groups(sorted(pixels), groups=groups, to=to, stats=st if to is not None else None)
    lut_map, legend, rows = _plan(plan, pixels, read_legend(map_path, sorted(pixels)), keep_codes)
    lut = np.zeros(max(lut_map) + 1, dtype=np.uint16)
    for old, new in lut_map.items():
        lut[old] = new
    tags = {"GEOUIC_METHOD": "merge", "GEOUIC_INPUT": str(map_path),
            "GEOUIC_MERGE": [g for g in plan if len(g) > 1], "GEOUIC_MERGE_TO": to,
            "GEOUIC_CREATED": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open_raster(map_path) as source, ThematicWriter(
            output, crs=source.crs, transform=source.transform, width=source.width, height=source.height,
            legend=legend, n_classes=max(legend.names), overwrite=overwrite) as writer:
        for pair in source.windows(mem_limit_mb=mem_limit_mb, bytes_per_pixel=32):
            classes = read_classes(source, pair.core)
            writer.write(pair.core, lut[np.minimum(classes, len(lut) - 1)] * (classes < len(lut)))
            if progress is not None:
                progress(1)
        with atomic_path(table_path) as tmp:
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
            tmp.write_text(buf.getvalue(), encoding="utf-8")
            writer.close(tags={**{k: v for k, v in tags.items() if v is not None}, "GEOUIC_VERSION": __version__})
    result = MergeResult(Path(output), rows, len(pixels), len(legend.names), table_path, time.perf_counter() - t0)
    logger.info("%s", result.summary())
    return result
