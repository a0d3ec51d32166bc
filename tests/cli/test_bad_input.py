"""Every bad input named in the foundation issue: exit code 2, one line, no traceback, no output."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from click.testing import CliRunner
from shapely.geometry import box

from geouic.cli import main
from tests.conftest import make_scene, quadrant_labels, write_raster


def run(args: list[str]):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_clean_failure(result, *, expect: str, outputs: list[Path]):
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    text = result.output.strip()
    error_lines = [line for line in text.splitlines() if line.startswith("Error")]
    assert len(error_lines) == 1, text
    assert "Traceback" not in text
    assert expect.lower() in text.lower(), text
    for p in outputs:
        assert not p.exists(), f"{p} was written"
        assert not list(p.parent.glob(f".{p.name}*")), "temporary file left behind"


@pytest.fixture
def out(tmp_path) -> Path:
    return tmp_path / "classes.tif"


def test_not_a_raster(tmp_path, out):
    bad = tmp_path / "notes.tif"
    bad.write_text("this is not a raster\n" * 20)
    assert_clean_failure(run(["classify", bad, "-k", 3, "-o", out]), expect="not a readable raster", outputs=[out])


def test_empty_file(tmp_path, out):
    bad = tmp_path / "empty.tif"
    bad.touch()
    assert_clean_failure(run(["classify", bad, "-k", 3, "-o", out]), expect="empty", outputs=[out])


def test_truncated_file(quadrants, tmp_path, out):
    src, _ = quadrants
    data = src.read_bytes()
    bad = tmp_path / "truncated.tif"
    bad.write_bytes(data[: len(data) // 2])
    assert_clean_failure(run(["classify", bad, "-k", 3, "-o", out]), expect="truncated", outputs=[out])


def test_missing_file(tmp_path, out):
    assert_clean_failure(run(["classify", tmp_path / "nothere.tif", "-k", 3, "-o", out]),
                         expect="no such file", outputs=[out])


def test_all_nodata(tmp_path, out):
    path = write_raster(tmp_path / "blank.tif", np.zeros((3, 32, 32), np.uint16), nodata=0)
    assert_clean_failure(run(["classify", path, "-k", 3, "-o", out]), expect="every pixel is nodata", outputs=[out])


def test_fewer_valid_pixels_than_classes(tmp_path, out):
    data = np.zeros((3, 32, 32), np.uint16)
    data[:, 5, 5:8] = [[100], [200], [300]]
    path = write_raster(tmp_path / "sparse.tif", data, nodata=0)
    assert_clean_failure(run(["classify", path, "-k", 5, "-o", out]), expect="valid pixels for 5 classes", outputs=[out])


@pytest.mark.parametrize("k", [1, 65536])
def test_classes_out_of_range(quadrants, out, k):
    src, _ = quadrants
    assert_clean_failure(run(["classify", src, "-k", k, "-o", out]), expect="between 2 and 65535", outputs=[out])


def test_unknown_method(quadrants, out):
    src, _ = quadrants
    result = run(["classify", src, "--method", "dbscan", "-o", out])
    assert result.exit_code == 2 and "dbscan" in result.output and "Traceback" not in result.output
    assert not out.exists()


def _polygons(tmp_path: Path, name: str, *, offset: float = 0.0, crs: str = "EPSG:32633") -> Path:
    x0, y0 = 500000 + offset, 4600000 + offset
    geoms = [box(x0 + 30, y0 - 900, x0 + 600, y0 - 30), box(x0 + 1200, y0 - 1800, x0 + 1800, y0 - 1200)]
    path = tmp_path / name
    gpd.GeoDataFrame({"class": ["a", "b"]}, geometry=geoms, crs=crs).to_file(path)
    return path


def test_unknown_class_field(quadrants, tmp_path, out):
    src, _ = quadrants
    poly = _polygons(tmp_path, "train.gpkg")
    assert_clean_failure(run(["classify", src, "--method", "mlc", "--training", poly, "--field", "landcover", "-o", out]),
                         expect="landcover", outputs=[out])


def test_references_do_not_overlap(quadrants, tmp_path, out):
    src, _ = quadrants
    poly = _polygons(tmp_path, "far.gpkg", offset=1e6)
    assert_clean_failure(run(["classify", src, "--method", "mlc", "--training", poly, "--field", "class", "-o", out]),
                         expect="overlap", outputs=[out])


@pytest.mark.parametrize("bands", ["1,9", "0", "thermal"])
def test_band_out_of_range(quadrants, out, bands):
    src, _ = quadrants
    assert_clean_failure(run(["classify", src, "-k", 3, "--bands", bands, "-o", out]), expect="band", outputs=[out])


def test_output_folder_missing(quadrants, tmp_path):
    src, _ = quadrants
    target = tmp_path / "no" / "such" / "folder" / "c.tif"
    assert_clean_failure(run(["classify", src, "-k", 3, "-o", target]), expect="does not exist", outputs=[target])


def test_output_folder_not_writable(quadrants, tmp_path, monkeypatch):
    src, _ = quadrants
    folder = tmp_path / "locked"
    folder.mkdir()
    target = folder / "c.tif"
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real_access(p, mode))
    assert_clean_failure(run(["classify", src, "-k", 3, "-o", target]), expect="not writable", outputs=[target])


def test_existing_output_without_overwrite(quadrants, out):
    src, _ = quadrants
    out.write_bytes(b"keep me")
    result = run(["classify", src, "--method", "kmeans", "-k", 3, "-o", out])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert out.read_bytes() == b"keep me"
    assert run(["classify", src, "--method", "kmeans", "-k", 3, "-o", out, "--overwrite"]).exit_code == 0
    assert out.read_bytes() != b"keep me"


def test_corrupt_model(quadrants, tmp_path, out):
    src, _ = quadrants
    model = tmp_path / "model.geouic"
    model.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    assert_clean_failure(run(["predict", model, src, "-o", out]), expect="model", outputs=[out])


def test_truncated_model(quadrants, tmp_path, out):
    src, _ = quadrants
    model = tmp_path / "model.geouic"
    assert run(["classify", src, "--method", "kmeans", "-k", 3, "-o", tmp_path / "c0.tif", "--save-model", model]).exit_code == 0
    data = model.read_bytes()
    model.write_bytes(data[: len(data) - 40])
    assert_clean_failure(run(["predict", model, src, "-o", out]), expect="model", outputs=[out])


def test_model_band_mismatch(quadrants, tmp_path, out):
    src, _ = quadrants
    model = tmp_path / "model.geouic"
    assert run(["classify", src, "--method", "kmeans", "-k", 3, "-o", tmp_path / "c0.tif", "--save-model", model]).exit_code == 0
    three = write_raster(tmp_path / "three.tif", make_scene(quadrant_labels(32), n_bands=3), nodata=0)
    assert_clean_failure(run(["predict", model, three, "-o", out]), expect="trained on 4", outputs=[out])


def test_option_for_other_method(quadrants, out):
    src, _ = quadrants
    assert_clean_failure(run(["classify", src, "-k", 3, "--min-class-size", 5, "-o", out]),
                         expect="--min-class-size applies to", outputs=[out])
