"""Report folders: files, JSON content, self-contained HTML, atomic replacement."""

from __future__ import annotations

import base64
import json
import re
import sys
import warnings

import numpy as np
import pytest

from geouic.accuracy import AccuracyAssessment, assess, olofsson
from geouic.errors import OutputError
from geouic.output import atomic_folder
from geouic.report import plot_map_preview, render_markdown, write_report
from tests.conftest import quadrant_labels, write_raster

COUNTS = np.array([[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]])


@pytest.fixture(scope="module")
def assessment(tmp_path_factory) -> AccuracyAssessment:
    """The Olofsson example as an assessment of a small map with a colour table and names."""
    import rasterio

    path = write_raster(tmp_path_factory.mktemp("map") / "lc.tif", quadrant_labels(64), nodata=0)
    with rasterio.open(path, "r+") as ds:
        ds.write_colormap(1, {0: (0, 0, 0, 0), 1: (230, 0, 0, 255), 2: (0, 200, 0, 255),
                              3: (0, 100, 0, 255), 4: (240, 240, 160, 255)})
    names = {1: "deforestation", 2: "forest gain", 3: "stable forest", 4: "stable non-forest"}
    aa = olofsson(COUNTS, [200_000, 150_000, 3_200_000, 6_450_000], 0.09)
    return AccuracyAssessment(str(path), "points.gpkg", "points", "ref", [1, 2, 3, 4], COUNTS, names,
                              {"map_nodata": 3, "outside_map": 0}, area_adjusted=aa,
                              warnings=["a <test> warning"])


@pytest.fixture(scope="module")
def report(assessment, tmp_path_factory):
    """One full report (figures included) shared by the tests that read it."""
    return write_report(assessment, tmp_path_factory.mktemp("out") / "report")


def test_write_report_files_and_json(report):
    out = report
    names = sorted(p.name for p in out.iterdir())
    assert names == ["area.png", "class_accuracy.png", "confusion.csv", "confusion.png", "map_preview.png",
                     "report.html", "report.json", "report.md"]
    d = json.loads((out / "report.json").read_text())
    for key in ("overall_accuracy", "kappa", "users_accuracy", "producers_accuracy", "f1", "confusion_matrix",
                "n_samples", "area_adjusted", "warnings"):
        assert key in d
    assert d["n_samples"] == 640 and d["confusion_matrix"]["counts"] == COUNTS.tolist()
    assert set(d["users_accuracy"]) == {"1", "2", "3", "4"}
    aa = d["area_adjusted"]
    assert round(aa["area_ha"]["1"]["estimate"]) == 21158 and round(aa["area_ha"]["1"]["ci95"]) == 6158
    assert set(aa["overall_accuracy"]) == {"estimate", "ci95"}
    csv_lines = (out / "confusion.csv").read_text().splitlines()
    assert csv_lines[1].split(",")[:7] == ["1", "deforestation", "66", "0", "5", "4", "75"]
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_is_self_contained(report):
    out = report
    page = (out / "report.html").read_text()
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) == 4 and all(src.startswith("data:image/png;base64,") for src in images)
    assert base64.b64decode(images[0].split(",", 1)[1])[:4] == b"\x89PNG"
    assert not re.search(r'(src|href)="(https?:)?//', page)   # no external resources
    assert "a &lt;test&gt; warning" in page                   # escaped, shown
    assert "21,158 \u00b1 6,158" in page and "stable non-forest" in page
    md = (out / "report.md").read_text()
    assert "![" in md and "| 1 | deforestation |" in md


def test_existing_folder_needs_overwrite(assessment, tmp_path):
    target = tmp_path / "report"
    target.mkdir()
    (target / "old.txt").write_text("keep me")
    with pytest.raises(OutputError, match="already exists"):
        write_report(assessment, target, figures=False)
    assert (target / "old.txt").exists()
    write_report(assessment, target, overwrite=True, figures=False)
    assert not (target / "old.txt").exists() and (target / "report.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_folder(tmp_path / "report") as tmp:
            (tmp / "report.json").write_text("{}")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="does not exist"):
        with atomic_folder(tmp_path / "missing" / "report"):
            pass


def test_map_preview_uses_colour_table(assessment):
    fig = plot_map_preview(assessment.map_path, max_size=32, assessment=assessment)
    ax = fig.axes[0]
    image = ax.get_images()[0]
    assert image.get_array().shape == (32, 32)   # decimated read
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "1: deforestation"
    colours = [tuple(round(v * 255) for v in p.get_facecolor()[:3]) for p in ax.get_legend().get_patches()]
    assert colours[0] == (230, 0, 0)


def test_cluster_report(tmp_path):
    labels = quadrant_labels(64)
    map_path = write_raster(tmp_path / "clusters.tif", labels, nodata=0)
    ref_path = write_raster(tmp_path / "ref.tif", np.array([0, 2, 1, 2, 1], np.uint8)[labels], nodata=0)
    result = assess(map_path, ref_path, clusters=True)
    out = write_report(result, tmp_path / "report", figures=False)
    d = json.loads((out / "report.json").read_text())
    # clusters 1, 3 -> class 2 and 2, 4 -> class 1: MI = ln 2, entropies ln 2 and ln 4
    assert d["clusters"]["nmi"] == pytest.approx(2 / 3)
    assert d["clusters"]["matched_overall_accuracy"] == pytest.approx(0.5)
    assert len(d["clusters"]["matching"]) == 4
    assert (out / "contingency.csv").exists()
    assert "Cluster matching" in render_markdown(result)


def test_import_geouic_report_does_not_import_matplotlib():
    import subprocess

    code = ("import sys, geouic.report, geouic.accuracy, geouic.design; "
            "print('matplotlib' in sys.modules, 'torch' in sys.modules)")
    with warnings.catch_warnings():
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
