"""Every figure geouic draws: accuracy reports and class statistics (matplotlib, imported lazily).

Accuracy (:mod:`geouic.report` writes them): :func:`plot_confusion`, :func:`plot_contingency`,
:func:`plot_class_accuracy`, :func:`plot_area` and :func:`plot_map_preview` return
:class:`matplotlib.figure.Figure` objects. Class statistics (:func:`geouic.classstats.write_stats`
writes them): :func:`plot_signatures` and :func:`plot_dendrogram` save PNG files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geouic.colors import to_hex
from geouic.errors import ParameterError

if TYPE_CHECKING:
    from geouic.accuracy import AccuracyAssessment
    from geouic.classstats import ClassStatistics

__all__ = [
    "plot_area",
    "plot_class_accuracy",
    "plot_confusion",
    "plot_contingency",
    "plot_dendrogram",
    "plot_map_preview",
    "plot_signatures",
]

_MAX_LEGEND = 30


# ---------------------------------------------------------------------------- accuracy
def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _short(text: str, n: int = 18) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def plot_confusion(a: AccuracyAssessment) -> Any:
    """A heatmap of the confusion matrix, counts written in the cells (up to 25 classes).

    Returns
    -------
    matplotlib.figure.Figure
    """
    ticks = [_short(a.label(c), 24) for c in a.labels]
    title = f"Confusion matrix, n = {a.n_samples:,}, OA = {a.overall_accuracy:.3f}"
    return _heatmap(a.counts, ticks, ticks, title, "map")


def plot_contingency(a: AccuracyAssessment) -> Any:
    """A heatmap of the cluster x reference-class contingency table (cluster mode)."""
    c = a.clusters
    if c is None:
        raise ParameterError("plot_contingency needs an assessment made with clusters=True.", params=("clusters",))
    title = f"Clusters x reference classes, NMI = {c.nmi:.3f}, ARI = {c.ari:.3f}"
    return _heatmap(c.contingency, [str(k) for k in c.cluster_labels],
                    [_short(a.label(k)) for k in c.class_labels], title, "map cluster")


def _heatmap(counts: np.ndarray, row_ticks: list[str], col_ticks: list[str], title: str, ylabel: str) -> Any:
    rows_n, cols_n = counts.shape
    side = min(12.0, 3.0 + 0.55 * max(rows_n, cols_n))
    fig = _figure(min(14.0, 4.5 + 0.55 * cols_n), side)
    ax = fig.add_subplot()
    totals = counts.sum(1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the row's samples")
    ax.set_xticks(range(cols_n), col_ticks, rotation=45, ha="right")
    ax.set_yticks(range(rows_n), row_ticks)
    ax.set_xlabel("reference")
    ax.set_ylabel(ylabel)
    if max(rows_n, cols_n) <= 25:
        size = 9 if max(rows_n, cols_n) <= 10 else 7
        for i in range(rows_n):
            for j in range(cols_n):
                ax.text(j, i, f"{counts[i, j]:,}", ha="center", va="center", fontsize=size,
                        color="white" if share[i, j] > 0.6 else "black")
    ax.set_title(title)
    return fig


def plot_class_accuracy(a: AccuracyAssessment) -> Any:
    """Grouped bars of user's and producer's accuracy and F1 per class.

    With area-adjusted estimates a second panel shows the adjusted user's and producer's
    accuracies with their 95 % intervals.
    """
    per = a.per_class()
    k = len(a.labels)
    x = np.arange(k)
    panels = 2 if a.area_adjusted is not None else 1
    fig = _figure(min(16.0, 4.0 + 0.8 * k), 3.6 * panels)
    axes = fig.subplots(panels, 1, squeeze=False)[:, 0]
    ticks = [_short(a.name(c)) for c in a.labels]
    for i, (key, label) in enumerate((("users_accuracy", "user's"), ("producers_accuracy", "producer's"),
                                      ("f1", "F1"))):
        values = [per[key][c] for c in a.labels]
        axes[0].bar(x + (i - 1) * 0.27, np.nan_to_num(values), width=0.27, label=label)
    axes[0].set_title("Sample accuracy per class")
    if a.area_adjusted is not None:
        aa = a.area_adjusted
        for i, (key, label) in enumerate((("users_accuracy", "user's"), ("producers_accuracy", "producer's"))):
            value = np.nan_to_num([e.estimate for e in getattr(aa, key)])
            half = np.nan_to_num([e.ci95 for e in getattr(aa, key)])
            yerr = [np.minimum(half, value), np.minimum(half, 1 - value)]  # the interval within [0, 1]
            axes[1].bar(x + (i - 0.5) * 0.36, value, width=0.36, yerr=yerr, capsize=3, label=label)
        axes[1].set_title("Area-adjusted accuracy (Olofsson et al. 2014), 95 % CI")
    for ax in axes:
        ax.set_xticks(x, ticks, rotation=30 if k > 6 else 0, ha="right" if k > 6 else "center")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("accuracy")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    return fig


def plot_area(a: AccuracyAssessment) -> Any:
    """Mapped area and area-adjusted estimate (95 % CI) per class, in hectares."""
    aa = a.area_adjusted
    if aa is None:
        raise ValueError("plot_area needs an assessment with area-adjusted estimates.")
    k = len(a.labels)
    x = np.arange(k)
    fig = _figure(min(16.0, 4.0 + 0.8 * k), 3.6)
    ax = fig.add_subplot()
    ax.bar(x - 0.2, aa.mapped_area_ha, width=0.4, label="mapped", color="#9ecae1")
    ax.bar(x + 0.2, [e.estimate for e in aa.area_ha], width=0.4, yerr=np.nan_to_num([e.ci95 for e in aa.area_ha]),
           capsize=3, label="area-adjusted", color="#3182bd")
    ax.set_xticks(x, [_short(a.name(c)) for c in a.labels], rotation=30 if k > 6 else 0,
                  ha="right" if k > 6 else "center")
    ax.set_ylabel("area (ha)")
    ax.yaxis.set_major_formatter("{x:,.0f}")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    ax.set_title("Class area")
    return fig


def plot_map_preview(path: str | os.PathLike, *, max_size: int = 900,
                     assessment: AccuracyAssessment | None = None) -> Any:
    """The class map, decimated by GDAL to at most ``max_size`` pixels a side, with a legend.

    Value 0 and nodata are drawn transparent (a legend entry says so); every other code, the
    "unassigned" class of ``assign-schema`` included, in its own colour. With an assessment in
    cluster mode, legend entries name the reference class each cluster was matched to.
    """
    import rasterio
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from geouic.classmap import read_legend

    with rasterio.open(path) as ds:
        scale = max(1.0, max(ds.width, ds.height) / max_size)
        shape = (max(1, round(ds.height / scale)), max(1, round(ds.width / scale)))
        values = ds.read(1, out_shape=shape, masked=True)
    codes_arr = np.asarray(values.filled(0)).astype(np.int64)
    valid = ~np.ma.getmaskarray(values) & (codes_arr > 0)
    codes = np.unique(codes_arr[valid]).tolist()
    legend = read_legend(path, codes)
    colors, names = legend.colors, legend.names
    if assessment is not None:
        names = _preview_names(assessment, codes, names)
    index = np.searchsorted(codes, codes_arr) if codes else np.zeros_like(codes_arr)
    image = np.ma.masked_array(index, ~valid)
    cmap = ListedColormap([np.array(colors[c]) / 255 for c in codes] or ["white"])
    fig = _figure(9.5, 9.5 * shape[0] / shape[1] * 0.75 + 1.0)
    ax = fig.add_subplot()
    ax.imshow(image, cmap=cmap, vmin=-0.5, vmax=max(len(codes), 1) - 0.5, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{Path(path).name} ({values.shape[1]}x{values.shape[0]} preview)")
    handles = [Patch(facecolor=to_hex(colors[c]), edgecolor="0.3", label=_short(f"{c}: {names[c]}", 28))
               for c in codes[:_MAX_LEGEND]]
    if len(codes) > _MAX_LEGEND:
        handles.append(Patch(facecolor="white", label=f"... {len(codes) - _MAX_LEGEND} more"))
    if not valid.all():  # nodata is left blank; name it so it is not taken for a class
        handles.append(Patch(facecolor="none", edgecolor="0.3", hatch="//", label="0: nodata (blank)"))
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def _preview_names(a: AccuracyAssessment, codes: list[int], names: dict[int, str]) -> dict[int, str]:
    if a.clusters is None:
        return {c: a.names[c] if names[c] == f"class {c}" and c in a.names else names[c] for c in codes}
    matched = {cl: ref for cl, ref, _ in a.clusters.matching}
    return {c: f"cluster -> {a.name(ref)}" if (ref := matched.get(c)) is not None else "unmatched cluster"
            for c in codes}


# ------------------------------------------------------------------------ class statistics
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
        ax.plot(x, m, marker="o", color=colour, label=_stats_label(code, stats.names[i]), markeredgecolor="0.25",
                markeredgewidth=0.5)
    ax.set_xticks(x, stats.band_names, rotation=45 if len(x) > 8 else 0)
    ax.set_xlabel("band")
    ax.set_ylabel("value (mean \u00b1 std)")
    ax.set_title("Spectral signatures per class")
    ax.legend(fontsize="small", ncol=max(1, len(stats.codes) // 12), loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, format="png")


def _stats_label(code: int, name: str) -> str:
    return name if name == f"class {code}" else f"{code} {name}"


def plot_dendrogram(stats: ClassStatistics, path: str | os.PathLike) -> None:
    """Ward dendrogram of the z-scored class means, leaf labels in the class colours (PNG)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from scipy.cluster.hierarchy import dendrogram

    from geouic.classstats import class_linkage

    fig = Figure(figsize=(6.5, max(3.0, 0.3 * len(stats.codes) + 1.5)), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ok = stats.count > 0
    labels = [_stats_label(c, n) for c, n, k in zip(stats.codes.tolist(), stats.names, ok) if k]
    if ok.sum() >= 2:
        dendrogram(class_linkage(stats), labels=labels, orientation="right", ax=ax,
                   link_color_func=lambda _: "0.3")
        colour = dict(zip(labels, [c for c, k in zip(stats.colors, ok) if k]))
        for tick in ax.get_yticklabels():
            tick.set_color(to_hex(colour[tick.get_text()]))
            tick.set_fontweight("bold")
    else:
        ax.text(0.5, 0.5, "fewer than two classes with band statistics", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel("Ward distance (z-scored band means)")
    ax.set_title("Class similarity")
    fig.tight_layout()
    fig.savefig(path, format="png")
