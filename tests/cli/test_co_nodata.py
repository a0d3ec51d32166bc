"""``--co KEY=VALUE`` (validated GDAL creation options) and ``--nodata VALUE`` (declared input nodata)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geouic.cli import main
from geouic.raster import open_raster
from tests.conftest import make_scene, quadrant_labels, write_raster


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def collar_scene(tmp_path):
    """Four quadrants with a black (0) collar and no nodata tag, as exported by many tools."""
    labels = quadrant_labels(64)
    labels[:, :6] = 0
    data = make_scene(labels)
    data[:, labels == 0] = 0
    return write_raster(tmp_path / "collar.tif", data, nodata=None), labels


def test_nodata_declares_the_collar(collar_scene, tmp_path):
    scene, labels = collar_scene
    out = tmp_path / "c.tif"
    result = invoke("classify", scene, "--method", "kmeans", "-k", 4, "--nodata", 0, "-o", out)
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds:
        classes = ds.read(1)
    assert (classes[labels == 0] == 0).all() and (classes[labels > 0] > 0).all()
    # without --nodata the collar is classified as land
    result = invoke("classify", scene, "--method", "kmeans", "-k", 4, "-o", tmp_path / "d.tif")
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "d.tif") as ds:
        assert (ds.read(1) > 0).all()


def test_nodata_is_kept_by_reopen_and_applies_to_float_bands(tmp_path):
    data = np.full((2, 32, 32), 5.0, np.float32)
    data[:, :4] = -9999.0
    path = write_raster(tmp_path / "f.tif", data, nodata=None)
    with open_raster(path, nodata=-9999) as src:
        assert src.nodata == -9999
        again = src.reopen()
        _, valid = again.read()
        again.close()
    assert not valid[:4].any() and valid[4:].all()


@pytest.mark.parametrize("value, expect", [("1.5", "--nodata 1.5 cannot occur in the uint16 bands"),
                                           ("70000", "use an integer 0..65535")])
def test_nodata_outside_the_band_type(collar_scene, tmp_path, value, expect):
    out = tmp_path / "c.tif"
    result = invoke("classify", collar_scene[0], "--method", "kmeans", "-k", 4, "--nodata", value, "-o", out)
    assert result.exit_code == 2 and expect in result.output and "Traceback" not in result.output, result.output
    assert not out.exists() and not list(tmp_path.glob(".c.tif*"))


def test_co_on_classify_predict_assign_and_merge(collar_scene, tmp_path):
    scene, _ = collar_scene
    model, classes = tmp_path / "m.geouic", tmp_path / "c.tif"
    r = invoke("classify", scene, "--method", "kmeans", "-k", 4, "--co", "COMPRESS=ZSTD", "--co", "zstd_level=9",
               "--co", "BLOCKXSIZE=32", "--co", "BLOCKYSIZE=32", "--save-model", model, "-o", classes)
    assert r.exit_code == 0, r.output
    with rasterio.open(classes) as ds:
        assert ds.compression.name == "zstd" and ds.block_shapes[0] == (32, 32)
    r = invoke("predict", model, scene, "--co", "COMPRESS=LZW", "-o", tmp_path / "p.tif")
    assert r.exit_code == 0, r.output
    mapping = tmp_path / "map.csv"
    mapping.write_text("class,name\n1,a\n2,b\n3,a\n4,\n")
    schema = tmp_path / "s.yaml"
    schema.write_text("name: s\nclasses:\n  - {code: 1, name: a}\n  - {code: 2, name: b}\n")
    r = invoke("assign-schema", classes, "--mapping", mapping, "--schema", schema, "--co", "COMPRESS=LZW",
               "-o", tmp_path / "lc.tif")
    assert r.exit_code == 0, r.output
    r = invoke("merge", classes, "--merge", "1,2", "--co", "COMPRESS=PACKBITS", "-o", tmp_path / "mg.tif")
    assert r.exit_code == 0, r.output
    for name, comp in (("p.tif", "lzw"), ("lc.tif", "lzw"), ("mg.tif", "packbits")):
        with rasterio.open(tmp_path / name) as ds:
            assert ds.compression.name == comp, name


@pytest.mark.parametrize("co, expect", [("FOO=1", "GTiff has no creation option FOO"),
                                        ("COMPRESS=bogus", "use one of NONE, LZW"),
                                        ("TILED=maybe", "use YES or NO"),
                                        ("ZSTD", "not KEY=VALUE")])
@pytest.mark.parametrize("command", ["classify", "assign-schema", "merge"])
def test_bad_co_is_refused_before_any_work(collar_scene, tmp_path, co, expect, command):
    scene, _ = collar_scene
    out = tmp_path / "o.tif"
    if command == "classify":
        args = ["classify", scene, "--method", "kmeans", "-k", 4]
    else:
        classes = write_raster(tmp_path / "cl.tif", quadrant_labels(64), nodata=0)
        (tmp_path / "m.csv").write_text("class,name\n1,a\n2,a\n3,a\n4,a\n")
        (tmp_path / "s.yaml").write_text("name: s\nclasses:\n  - {code: 1, name: a}\n")
        args = (["assign-schema", classes, "--mapping", tmp_path / "m.csv", "--schema", tmp_path / "s.yaml"]
                if command == "assign-schema" else ["merge", classes, "--merge", "1,2"])
    result = invoke(*args, "--co", co, "-o", out)
    lines = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert result.exit_code == 2 and len(lines) == 1 and expect in lines[0], result.output
    assert not out.exists() and not list(tmp_path.glob(".o.tif*"))


def test_a_band_entirely_nan_is_named(tmp_path):
    data = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    data[1] = np.nan
    path = write_raster(tmp_path / "nan.tif", data, descriptions=["red", "nir", "swir"])
    out = tmp_path / "c.tif"
    result = invoke("classify", path, "--method", "kmeans", "-k", 2, "-o", out)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert "band 2 (nir) is entirely NaN or nodata" in result.output and "--bands 1,3" in result.output
    assert invoke("classify", path, "--method", "kmeans", "-k", 2, "--bands", "1,3", "-o", out).exit_code == 0
