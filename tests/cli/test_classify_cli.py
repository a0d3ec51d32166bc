"""`geouic classify`, `predict` and `info` through click's CliRunner, checking the written files."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from sklearn.metrics import v_measure_score

from geouic.cli import main


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("method,extra", [
    ("kmeans", []),
    ("isodata", ["--min-class-size", 5, "--max-iterations", 10]),
    ("fcm", ["--fuzziness", 2.0]),
])
def test_classify_writes_a_proper_map(quadrants_nodata, tmp_path, method, extra):
    scene, labels = quadrants_nodata
    out = tmp_path / "classes.tif"
    result = run("classify", scene, "-k", 4, "--method", method, "-o", out, *extra)
    assert "pixels classified" in result.output and str(out) in result.output
    with rasterio.open(scene) as src, rasterio.open(out) as ds:
        assert ds.crs == src.crs and ds.transform == src.transform and ds.shape == src.shape
        assert ds.dtypes[0] == "uint8" and ds.nodata == 0
        cmap = ds.colormap(1)
        colours = {cmap[k][:3] for k in range(1, 5)}
        assert len(colours) == 4 and cmap[0][3] == 0
        tags = ds.tags()
        assert tags["GEOUIC_METHOD"] == method and tags["GEOUIC_SEED"] == "0"
        assert str(scene) in tags["GEOUIC_INPUT"]
        data = ds.read(1)
    assert (data[labels == 0] == 0).all()
    assert v_measure_score(labels[labels > 0], data[labels > 0]) > 0.99
    assert out.with_suffix(".qml").exists() and (tmp_path / "classes.tif.aux.xml").exists()


def test_save_model_predict_and_info(quadrants, tmp_path):
    scene, _ = quadrants
    run("classify", scene, "--method", "kmeans", "-k", 4, "-o", tmp_path / "a.tif", "--save-model", tmp_path / "m.geouic", "--cog")
    run("predict", tmp_path / "m.geouic", scene, "-o", tmp_path / "b.tif", "--confidence", tmp_path / "conf.tif")
    with rasterio.open(tmp_path / "a.tif") as a, rasterio.open(tmp_path / "b.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
        assert a.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    info = json.loads(run("info", tmp_path / "m.geouic", "--json").output)
    assert info["method"] == "kmeans" and info["n_classes"] == 4 and info["band_names"][3] == "nir"
    info = json.loads(run("info", tmp_path / "a.tif", "--json").output)
    assert info["geouic"]["method"] == "kmeans" and len(info["legend"]) == 4
    text = run("info", scene).output
    assert "4 bands" in text and "nir" in text


def test_band_selection(quadrants, tmp_path):
    scene, _ = quadrants
    run("classify", scene, "--method", "kmeans", "-k", 3, "--bands", "red,nir", "-o", tmp_path / "c.tif", "--save-model", tmp_path / "m.geouic")
    info = json.loads(run("info", tmp_path / "m.geouic", "--json").output)
    assert info["band_names"] == ["red", "nir"]
    run("predict", tmp_path / "m.geouic", scene, "--bands", "3,4", "-o", tmp_path / "p.tif")


def test_quiet_and_verbose(quadrants, tmp_path):
    scene, _ = quadrants
    assert "Fitting" not in run("classify", scene, "--method", "kmeans", "-k", 3, "-q", "-o", tmp_path / "q.tif").output
    run("classify", scene, "--method", "kmeans", "-k", 3, "-v", "-o", tmp_path / "v.tif")


def test_import_and_help_stay_light():
    code = ("import sys, geouic, geouic.cli, geouic.pipeline, geouic.raster, geouic.engine;"
            "from click.testing import CliRunner; r = CliRunner().invoke(geouic.cli.main, ['--help']);"
            "assert r.exit_code == 0, r.output;"
            "[CliRunner().invoke(geouic.cli.main, [c, '--help']) for c in geouic.cli.main.list_commands(None)];"
            "bad = [m for m in ('torch', 'matplotlib') if m in sys.modules]; print(bad); assert not bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_crs_input_gives_no_crs_output(tmp_path):
    from affine import Affine

    from tests.conftest import make_scene, quadrant_labels, write_raster

    scene = write_raster(tmp_path / "cube.tif", make_scene(quadrant_labels(32)), crs=None, transform=Affine.identity())
    run("classify", scene, "--method", "kmeans", "-k", 4, "-o", tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as ds:
        assert ds.crs is None and ds.transform.is_identity and ds.read(1).min() >= 1


@pytest.mark.parametrize("driver", ["ENVI", "VRT"])
def test_other_gdal_formats(quadrants, tmp_path, driver):
    scene, labels = quadrants
    if driver == "ENVI":
        with rasterio.open(scene) as src:
            profile = dict(src.profile, driver="ENVI")
            for key in ("tiled", "blockxsize", "blockysize", "compress"):
                profile.pop(key, None)
            other = tmp_path / "scene.img"
            with rasterio.open(other, "w", **profile) as dst:
                dst.write(src.read())
    else:
        from rasterio.vrt import WarpedVRT
        from rasterio.shutil import copy as rio_copy

        other = tmp_path / "scene.vrt"
        with rasterio.open(scene) as src, WarpedVRT(src) as vrt:
            rio_copy(vrt, other, driver="VRT")
    run("classify", other, "--method", "kmeans", "-k", 4, "-o", tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as ds:
        out = ds.read(1)
        assert ds.crs.to_epsg() == 32633
    assert v_measure_score(labels.ravel(), out.ravel()) > 0.99
