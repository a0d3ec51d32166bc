"""`geouic stats` and `geouic merge` through click's CliRunner, checking the written files."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geouic.cli import main
from tests.conftest import write_raster

MEANS = np.array([[100, 200, 300], [110, 205, 310], [900, 100, 500], [880, 90, 520]], dtype=float)


def run(*args, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result


@pytest.fixture
def files(tmp_path) -> dict:
    classes = np.empty((64, 64), np.uint8)
    classes[:8], classes[8:24], classes[24:40], classes[40:] = 1, 2, 3, 4
    classes[:, :4] = 0  # nodata column
    rng = np.random.default_rng(0)
    scene = (MEANS[np.maximum(classes, 1) - 1].transpose(2, 0, 1) + rng.normal(0, 5, (3, 64, 64))).astype(np.uint16)
    return {"map": write_raster(tmp_path / "classes.tif", classes, nodata=0),
            "scene": write_raster(tmp_path / "scene.tif", scene, nodata=0, descriptions=["blue", "green", "red"]),
            "classes": classes, "scene_data": scene, "dir": tmp_path}


def test_stats_writes_tables_and_plots(files):
    out = files["dir"] / "stats"
    result = run("stats", files["map"], files["scene"], "-o", out)
    assert "4 classes" in result.output
    rows = list(csv.DictReader((out / "stats.csv").open()))
    assert [r["code"] for r in rows] == ["1", "2", "3", "4"]
    sel = files["classes"] == 3
    assert int(rows[2]["pixels"]) == sel.sum()
    assert float(rows[2]["area_ha"]) == pytest.approx(sel.sum() * 0.09)
    assert float(rows[2]["mean_red"]) == pytest.approx(files["scene_data"][2][sel].mean(), rel=1e-5)
    assert float(rows[2]["std_red"]) == pytest.approx(files["scene_data"][2][sel].std(), rel=1e-4)
    doc = json.loads((out / "stats.json").read_text())
    assert doc["bands"] == ["blue", "green", "red"] and len(doc["classes"]) == 4
    for name in ("signatures.png", "dendrogram.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a second run needs --overwrite
    assert "--overwrite" in run("stats", files["map"], files["scene"], "-o", out, code=2).output
    run("stats", files["map"], files["scene"], "-o", out, "--overwrite")


def test_merge_listed(files):
    out = files["dir"] / "merged.tif"
    run("merge", files["map"], "--merge", "1,2", "--merge", "3,4", "-o", out)
    with rasterio.open(out) as ds, rasterio.open(files["map"]) as src:
        assert ds.crs == src.crs and ds.transform == src.transform
        assert ds.dtypes[0] == "uint8" and ds.nodata == 0
        data, cmap = ds.read(1), ds.colormap(1)
    np.testing.assert_array_equal(data, np.array([0, 1, 1, 2, 2])[files["classes"]])
    cats = [c.text for c in ET.parse(str(out) + ".aux.xml").getroot().iter("Category")]
    assert cats[:3] == ["nodata", "class 1+2", "class 3+4"]
    assert cmap[1][3] == 255 and cmap[1][:3] != cmap[2][:3]
    assert out.with_suffix(".qml").exists()
    lines = (files["dir"] / "merged.merge.csv").read_text().splitlines()
    assert lines[0] == "old_code,old_name,pixels,new_code,new_name" and len(lines) == 5


def test_merge_to_with_scene_and_stats_agree(files):
    a, b, st = files["dir"] / "a.tif", files["dir"] / "b.tif", files["dir"] / "st"
    run("merge", files["map"], "--to", 2, "--scene", files["scene"], "-o", a)
    run("stats", files["map"], files["scene"], "-o", st, "--no-plots")
    assert not (st / "signatures.png").exists()
    run("merge", files["map"], "--to", 2, "--stats", st / "stats.json", "--keep-codes", "-o", b)
    with rasterio.open(a) as da, rasterio.open(b) as db:
        ma, mb = da.read(1), db.read(1)
    np.testing.assert_array_equal(ma, np.array([0, 1, 1, 2, 2])[files["classes"]])
    np.testing.assert_array_equal(mb, np.array([0, 2, 2, 4, 4])[files["classes"]])  # largest members' codes


@pytest.mark.parametrize("args, expect", [
    (["merge", "{map}", "--merge", "1,x", "-o", "{out}"], "comma"),
    (["merge", "{map}", "--merge", "1,9", "-o", "{out}"], "class 9 is not in the map"),
    (["merge", "{map}", "--to", "2", "-o", "{out}"], "--scene"),
    (["merge", "{map}", "--to", "0", "--scene", "{scene}", "-o", "{out}"], "out of range"),
    (["merge", "{map}", "--to", "2", "--stats", "{scene}", "-o", "{out}"], "not a readable JSON"),
    (["merge", "{map}", "-o", "{out}"], "neither"),
    (["merge", "{scene}", "--merge", "1,2", "-o", "{out}"], "class map"),
    (["stats", "{map}", "{other}", "-o", "{outdir}"], "not on the same grid"),
    (["stats", "{scene}", "-o", "{outdir}"], "class map"),
])
def test_bad_inputs(files, args, expect):
    d = files["dir"]
    other = write_raster(d / "other.tif", np.ones((3, 32, 32), np.uint16))
    subst = {"map": files["map"], "scene": files["scene"], "other": other, "out": d / "m.tif", "outdir": d / "st"}
    result = run(*[a.format(**subst) for a in args], code=2)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "Traceback" not in result.output
    assert expect.lower() in result.output.lower(), result.output
    assert not list(d.glob("m.*")) and not list(d.glob(".m.*")) and not (d / "st").exists()


def test_help_does_not_import_matplotlib():
    code = ("import sys; from click.testing import CliRunner; from geouic.cli import main; "
            "[CliRunner().invoke(main, [c, '--help']) for c in ('stats', 'merge', 'assign-schema')]; "
            "import geouic.classstats, geouic.assign, geouic.schema; "
            "assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)
