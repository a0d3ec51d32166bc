"""Result objects of the Python API: what a call wrote, with reprs and conversions for notebooks."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["AccuracyReport", "MapResult"]


@dataclass
class MapResult:
    """A class map written to a file by classify, predict, assign_schema, sieve or majority.

    Attributes
    ----------
    path : pathlib.Path
        The map (GeoTIFF; 0 = nodata or unclassified).
    step : str
        The call that wrote it (``"classify"``, ``"predict"``, ``"assign_schema"``, ...).
    model : Engine or None
        The fitted engine (``classify``; save it with :func:`geouic.model.save_model`).
    extras : dict of str to Path
        Other files written (confidence, entropy, memberships rasters; mapping tables).
    details : dict
        What the step reports (class counts, timings, mapping, patches removed, ...).

    Examples
    --------
    >>> r = MapResult(Path("classes.tif"), "classify", details={"n_classes": 3})
    >>> r
    MapResult(step='classify', path='classes.tif', n_classes=3)
    """

    path: Path
    step: str
    model: Any = None
    extras: dict[str, Path] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.details.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)}
        inner = ", ".join(f"{k}={v!r}" for k, v in list(shown.items())[:4])
        return f"MapResult(step={self.step!r}, path={str(self.path)!r}{', ' + inner if inner else ''})"

    def summary(self) -> str:
        """One line for a person (the CLI prints it)."""
        return str(self.details.get("summary") or f"{self.step} -> {self.path}")

    def classes(self) -> list[dict[str, Any]]:
        """One row per class present in the map: ``code``, ``name``, ``color``, ``pixels``, ``area_ha``.

        Read from the file window by window (its legend and :func:`geouic.areas.class_areas`).
        """
        from geouic.areas import class_areas
        from geouic.classmap import read_legend
        from geouic.colors import to_hex

        areas = class_areas(self.path)
        legend = read_legend(self.path, list(areas))
        return [{"code": c, "name": legend.names[c], "color": to_hex(legend.colors[c]), "pixels": px,
                 "area_ha": round(ha, 4)} for c, (px, ha) in areas.items()]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: step, paths, details and the class table."""
        return {"step": self.step, "path": str(self.path), "extras": {k: str(v) for k, v in self.extras.items()},
                "details": _jsonable(self.details), "classes": self.classes()}

    def to_dataframe(self) -> Any:
        """The class table (:meth:`classes`) as a pandas DataFrame indexed by code."""
        import pandas as pd

        return pd.DataFrame(self.classes()).set_index("code")

    def read(self) -> np.ndarray:
        """The map as an array (rows, cols): small maps only."""
        import rasterio

        with rasterio.open(self.path) as ds:
            return ds.read(1)

    def to_xarray(self, **kwargs: Any) -> Any:
        """The map as a DataArray (y, x), opened lazily with ``rioxarray.open_rasterio`` (``kwargs`` passed on)."""
        import rioxarray

        da: Any = rioxarray.open_rasterio(self.path, **kwargs)
        return da.squeeze("band", drop=True)

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{r['code']}</td><td><span style='background:{r['color']};display:inline-block;"
                       f"width:1em;height:1em'></span> {html.escape(str(r['name']))}</td><td>{r['pixels']:,}</td>"
                       f"<td>{r['area_ha']:,.2f}</td></tr>" for r in self.classes())
        return (f"<p><b>{html.escape(self.step)}</b> &rarr; <code>{html.escape(str(self.path))}</code></p>"
                "<table><tr><th>code</th><th>class</th><th>pixels</th><th>ha</th></tr>" + rows + "</table>")


class AccuracyReport:
    """An accuracy assessment (:class:`geouic.accuracy.AccuracyAssessment`) for notebooks.

    Every attribute of the assessment is available (``overall_accuracy``, ``kappa``,
    ``counts``, ``area_adjusted``, ``clusters``, ``warnings`` ...); this adds a repr, a
    per-class table and an HTML view.

    Parameters
    ----------
    assessment : AccuracyAssessment
    folder : pathlib.Path, optional
        The report folder written (report.json, report.html, ...), if any.
    """

    def __init__(self, assessment: Any, folder: Path | None = None) -> None:
        self.assessment = assessment
        self.folder = folder

    def __getattr__(self, name: str) -> Any:
        if name == "assessment":  # not yet set (unpickling)
            raise AttributeError(name)
        return getattr(self.assessment, name)

    def __repr__(self) -> str:
        a = self.assessment
        text = f"AccuracyReport(n={a.n_samples}, overall_accuracy={a.overall_accuracy:.3f}, kappa={a.kappa:.3f}"
        if a.area_adjusted is not None:
            text += f", area_adjusted_oa={a.area_adjusted.overall_accuracy.estimate:.3f}"
        if a.clusters is not None:
            text += f", nmi={a.clusters.nmi:.3f}"
        return text + ")"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict of ``report.json``."""
        return self.assessment.to_dict()

    def per_class_rows(self) -> list[dict[str, Any]]:
        """One row per class: user's and producer's accuracy, F1, and area-adjusted estimates when computed."""
        a = self.assessment
        per = a.per_class()
        rows = []
        for i, code in enumerate(a.labels):
            row: dict[str, Any] = {"code": code, "name": a.name(code), "map_samples": int(a.counts[i].sum()),
                                   "reference_samples": int(a.counts[:, i].sum()),
                                   **{k: per[k][code] for k in ("users_accuracy", "producers_accuracy", "f1")}}
            if a.area_adjusted is not None:
                aa = a.area_adjusted
                row.update(users_accuracy_adj=aa.users_accuracy[i].estimate,
                           producers_accuracy_adj=aa.producers_accuracy[i].estimate,
                           area_ha=aa.area_ha[i].estimate, area_ha_ci95=aa.area_ha[i].ci95,
                           mapped_area_ha=float(aa.mapped_area_ha[i]))
            rows.append(row)
        return rows

    def to_dataframe(self) -> Any:
        """The per-class table (:meth:`per_class_rows`) as a pandas DataFrame indexed by code."""
        import pandas as pd

        return pd.DataFrame(self.per_class_rows()).set_index("code")

    def confusion_dataframe(self) -> Any:
        """The confusion matrix as a DataFrame (rows = map, columns = reference, labelled by class)."""
        import pandas as pd

        a = self.assessment
        labels = [a.label(c) for c in a.labels]
        return pd.DataFrame(a.counts, index=pd.Index(labels, name="map"), columns=pd.Index(labels, name="reference"))

    def _repr_html_(self) -> str:
        """The report's page (:func:`geouic.report.render_html`) in an iframe: its styles stay out of the notebook."""
        from geouic.report import render_html

        page = render_html(self.assessment)
        return (f'<iframe srcdoc="{html.escape(page, quote=True)}" style="width:100%;height:640px;border:0" '
                'title="accuracy report"></iframe>')


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
