"""Accuracy report folders: JSON, CSV, PNG figures, a self-contained HTML page and Markdown.

:func:`write_report` turns an :class:`~geouic.accuracy.AccuracyAssessment` into a folder::

    report.json        every number (keys as documented in geouic.accuracy.AccuracyAssessment.to_dict)
    confusion.csv      rows = map, columns = reference
    contingency.csv    clusters x reference classes (cluster mode only)
    confusion.png      heatmap of the confusion matrix
    class_accuracy.png user's / producer's accuracy and F1 per class
    area.png           mapped and area-adjusted class areas with 95 % intervals (area-adjusted only)
    map_preview.png    the map, downsampled, in its own colours, with a legend
    report.html        one file with the figures embedded (base64), for a browser
    report.md          a Markdown summary

The folder is built beside the target under a temporary name and renamed into place at the end,
so a failure leaves no partial report. matplotlib is imported only when figures are drawn.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geouic.accuracy import AccuracyAssessment
from geouic.output import atomic_folder
from geouic.plots import plot_area, plot_class_accuracy, plot_confusion, plot_contingency, plot_map_preview

__all__ = [
    "plot_area",
    "plot_class_accuracy",
    "plot_confusion",
    "plot_contingency",
    "plot_map_preview",
    "header_rows",
    "render_html",
    "render_markdown",
    "write_report",
]

logger = logging.getLogger(__name__)


def write_report(assessment: AccuracyAssessment, folder: str | os.PathLike, *, overwrite: bool = False,
                 figures: bool = True, preview_size: int = 900) -> Path:
    """Write the report folder of an assessment (see the module docstring for its files).

    Parameters
    ----------
    assessment : AccuracyAssessment
    folder : str or path-like
        Target folder; created atomically.
    overwrite : bool, default=False
        Replace an existing folder.
    figures : bool, default=True
        Draw the PNG figures (and embed them in the HTML).
    preview_size : int, default=900
        Longest side of the map preview, in pixels of the map read (decimated by GDAL).

    Returns
    -------
    Path
        The report folder.
    """
    data = assessment.to_dict()
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    data["created"] = created
    data["geouic_version"] = _version()
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        (tmp / "report.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        _write_matrix_csv(tmp / "confusion.csv", assessment.labels, assessment.labels,
                          assessment.counts, assessment.name)
        if assessment.clusters is not None:
            c = assessment.clusters
            _write_matrix_csv(tmp / "contingency.csv", c.cluster_labels, c.class_labels, c.contingency,
                              lambda k: f"cluster {k}")
        images = _write_figures(assessment, tmp, preview_size) if figures else {}
        (tmp / "report.html").write_text(render_html(assessment, images, tmp, created=created), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(assessment, images, created=created), encoding="utf-8")
    logger.info("report written to %s", folder)
    return Path(folder)


def _version() -> str:
    from geouic import __version__

    return __version__


def _write_matrix_csv(path: Path, rows: Sequence[int], cols: Sequence[int], counts: np.ndarray,
                      name: Any) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["map \\ reference", "name", *cols, "total"])
        for code, row in zip(rows, counts):
            w.writerow([code, name(code), *row.tolist(), int(row.sum())])
        w.writerow(["total", "", *counts.sum(0).tolist(), int(counts.sum())])


# ------------------------------------------------------------------------------- figures
def _write_figures(a: AccuracyAssessment, folder: Path, preview_size: int) -> dict[str, str]:
    """Draw every figure into ``folder``; return {file name: caption}."""
    figs: dict[str, tuple[Any, str]] = {
        "confusion.png": (plot_confusion(a), "Confusion matrix (rows = map, columns = reference); "
                          "colour: share of the map class's samples."),
        "class_accuracy.png": (plot_class_accuracy(a), "Per-class accuracy."),
    }
    if a.clusters is not None:
        figs["confusion.png"] = (figs["confusion.png"][0], "Confusion matrix after matching clusters to "
                                 "classes (rows = map, columns = reference).")
        figs["contingency.png"] = (plot_contingency(a), "Clusters x reference classes; colour: share of "
                                   "the cluster's pixels.")
    if a.area_adjusted is not None:
        figs["area.png"] = (plot_area(a), "Mapped and area-adjusted class areas (error bars: 95 % CI).")
    figs["map_preview.png"] = (plot_map_preview(a.map_path, max_size=preview_size, assessment=a),
                               "Map preview (downsampled).")
    out = {}
    for name, (fig, caption) in figs.items():
        fig.savefig(folder / name, dpi=100, bbox_inches="tight")
        out[name] = caption
    return out


# ---------------------------------------------------------------------------- documents
def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _pm(est: Any, digits: int = 3, area: bool = False) -> str:
    if area:
        e = "n/a" if not np.isfinite(est.estimate) else f"{est.estimate:,.0f}"
        ci = "n/a" if not np.isfinite(est.ci95) else f"{est.ci95:,.0f}"
    else:
        e, ci = _f(est.estimate, digits), _f(est.ci95, digits)
    return f"{e} \u00b1 {ci}"


def _step_text(step: dict[str, Any]) -> str:
    """``kmeans (k=15, seed=0) on scene.tif``: one step of a map's provenance."""
    raw = step.get("parameters")
    params: dict[str, Any] = raw if isinstance(raw, dict) else {}
    inner: dict[str, Any] = params["params"] if isinstance(params.get("params"), dict) else {}
    parts = [f"{k}={v}" for k, v in inner.items()]
    parts += [f"{k}={v}" for k, v in params.items() if k not in ("method", "params")]
    for key in ("seed", "schema", "reference", "field", "mapping", "assign_method", "min_purity", "merge"):
        if key in step and not (key == "seed" and isinstance(params, dict) and "seed" in params):
            parts.append(f"{key}={step[key]}")
    text = str(step.get("method", "?")) + (f" ({', '.join(parts)})" if parts else "")
    return text + (f" on {step['input']}" if step.get("input") else "")


def header_rows(a: AccuracyAssessment, created: str | None = None) -> list[list[str]]:
    """What the report assesses: map, how it was made, reference, date, CRS, pixel size, version."""
    from geouic.provenance import provenance_chain

    info = a.map_info
    chain = provenance_chain(info.get("provenance") or {})
    rows = [["map", a.map_path]]
    if chain:
        rows.append(["made by", _step_text(chain[0])])
        rows += [["made from", _step_text(step)] for step in chain[1:]]
        if chain[0].get("created"):
            rows.append(["map created", str(chain[0]["created"])])
    else:
        rows.append(["made by", "unknown (the map has no geouic provenance tags)"])
    rows.append(["reference", f"{a.reference_path} ({a.reference_kind}"
                 + (f", field {a.field})" if a.field else ")")])
    rows.append(["CRS", info.get("crs") or "none"])
    if info.get("pixel_size"):
        x, y = info["pixel_size"]
        rows.append(["pixel size", f"{x:g} x {y:g} {info.get('units') or 'map units'}"])
    created = created or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    rows += [["assessed", created], ["geouic version", _version()]]
    return rows


def _tables(a: AccuracyAssessment) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Every table of the report as (header, rows) of text, shared by HTML and Markdown."""
    per = a.per_class()
    tables: dict[str, tuple[list[str], list[list[str]]]] = {}
    summary = [["overall accuracy", _f(a.overall_accuracy)], ["kappa", _f(a.kappa)],
               ["samples", f"{a.n_samples:,}"], ["reference", f"{a.reference_path} ({a.reference_kind})"]]
    for key, value in a.excluded.items():
        summary.append([f"excluded: {key.replace('_', ' ')}", f"{value:,}"])
    if a.area_adjusted is not None:
        summary.insert(1, ["area-adjusted overall accuracy", _pm(a.area_adjusted.overall_accuracy)])
    if a.clusters is not None:
        c = a.clusters
        summary += [["NMI", _f(c.nmi)], ["ARI", _f(c.ari)],
                    ["matched overall accuracy (one-to-one)", _f(c.matched_overall_accuracy)],
                    ["majority overall accuracy (many-to-one)", _f(c.majority_overall_accuracy)]]
    tables["Summary"] = (["measure", "value"], summary)
    rows = [[str(c), a.name(c), _f(per["users_accuracy"][c]), _f(per["producers_accuracy"][c]), _f(per["f1"][c]),
             f"{int(a.counts[i].sum()):,}", f"{int(a.counts[:, i].sum()):,}"] for i, c in enumerate(a.labels)]
    tables["Per class"] = (["code", "name", "user's", "producer's", "F1", "n map", "n reference"], rows)
    if a.area_adjusted is not None:
        aa = a.area_adjusted
        rows = [[str(c), a.name(c), f"{aa.mapped_area_ha[i]:,.0f}", _pm(aa.area_ha[i], area=True),
                 _pm(aa.users_accuracy[i]), _pm(aa.producers_accuracy[i])] for i, c in enumerate(a.labels)]
        tables["Area-adjusted estimates (95 % CI)"] = (
            ["code", "name", "mapped (ha)", "area (ha)", "user's", "producer's"], rows)
    header = ["map \\ reference", *[str(c) for c in a.labels], "total"]
    rows = [[a.label(c), *[f"{v:,}" for v in a.counts[i]],
             f"{int(a.counts[i].sum()):,}"] for i, c in enumerate(a.labels)]
    rows.append(["total", *[f"{v:,}" for v in a.counts.sum(0)], f"{a.n_samples:,}"])
    tables["Confusion matrix (rows = map, columns = reference)"] = (header, rows)
    if a.clusters is not None:
        rows = [[str(cl), "unmatched" if ref is None else a.label(ref), f"{n:,}"]
                for cl, ref, n in a.clusters.matching]
        tables["Cluster matching (Hungarian)"] = (["cluster", "reference class", "pixels"], rows)
    return tables


def render_markdown(a: AccuracyAssessment, images: dict[str, str] | None = None, *,
                    created: str | None = None) -> str:
    """The report as Markdown (figures linked by file name)."""
    lines = [f"# Accuracy report: {Path(a.map_path).name}", ""]
    lines += ["| | |", "|---|---|"] + [f"| {k} | {v.replace('|', chr(92) + '|')} |"
                                       for k, v in header_rows(a, created)] + [""]
    if a.warnings:
        lines += ["## Warnings", "", *[f"- {w}" for w in a.warnings], ""]
    for title, (header, rows) in _tables(a).items():
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |",
                  "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        lines.append("")
    if images:
        lines += ["## Figures", ""] + [f"![{caption}]({name})" for name, caption in images.items()] + [""]
    return "\n".join(lines)


def _td(cell: str) -> str:
    numeric = cell.replace(",", "").replace(".", "").replace(" \u00b1 ", "").replace("n/a", "0").isdigit()
    return f"<td>{html.escape(cell)}</td>" if numeric else f'<td class="text">{html.escape(cell)}</td>'


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f2f2f2;text-align:left}
td:first-child,th:first-child,td.text{text-align:left}
.warn{background:#fff4ce;border:1px solid #e0b000;padding:.6em 1em;border-radius:4px}
.meta{color:#666;font-size:.85em}figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}
figcaption{color:#555;font-size:.85em}
"""


def render_html(a: AccuracyAssessment, images: dict[str, str] | None = None,
                folder: str | os.PathLike | None = None, *, created: str | None = None) -> str:
    """The report as one HTML file: tables and the PNGs of ``folder`` embedded as data URIs."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Accuracy report: {esc(Path(a.map_path).name)}</title>", f"<style>{_CSS}</style></head><body>",
        f"<h1>Accuracy report: {esc(Path(a.map_path).name)}</h1>",
        '<table class="meta">' + "".join(f'<tr><th>{esc(k)}</th><td class="text">{esc(v)}</td></tr>'
                                         for k, v in header_rows(a, created)) + "</table>",
    ]
    if a.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in a.warnings)
        parts.append(f'<div class="warn"><strong>Warnings</strong><ul>{items}</ul></div>')
    for title, (header, rows) in _tables(a).items():
        parts.append(f"<h2>{esc(title)}</h2><table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(_td(cell) for cell in row) + "</tr>" for row in rows]
        parts.append("</table>")
    if images and folder is not None:
        parts.append("<h2>Figures</h2>")
        for name, caption in images.items():
            data = base64.b64encode((Path(folder) / name).read_bytes()).decode("ascii")
            parts.append(f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
                         f"<figcaption>{esc(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
