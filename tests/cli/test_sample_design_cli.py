"""``geouic sample-design`` through click, and the round trip into ``geouic accuracy``."""

from __future__ import annotations

import json

import numpy as np
import pyogrio
import pytest
import rasterio

from geouic.design import allocate, cochran_sample_size
from tests.cli.test_accuracy_cli import assert_clean_failure, run
from tests.conftest import write_raster


@pytest.fixture
def landcover(tmp_path):
    """96x96: class 1 in 6 rows, class 2 in 10 rows, class 3 the rest, a 3-column nodata strip."""
    labels = np.full((96, 96), 3, np.uint8)
    labels[:6] = 1
    labels[6:16] = 2
    labels[:, :3] = 0
    return write_raster(tmp_path / "lc.tif", labels, nodata=0), labels


@pytest.mark.parametrize("allocation", ["proportional", "equal", "olofsson"])
def test_sample_design_counts(landcover, tmp_path, allocation):
    path, labels = landcover
    out = tmp_path / "points.gpkg"
    result = run(["sample-design", path, "--n", 90, "--allocation", allocation, "--min-per-class", 20,
                  "--seed", 7, "-o", out])
    assert result.exit_code == 0, result.output
    pixels = [int((labels == c).sum()) for c in (1, 2, 3)]
    expected = allocate(pixels, 90, allocation, min_per_class=20)
    frame = pyogrio.read_dataframe(out)
    assert [int((frame["stratum"] == c).sum()) for c in (1, 2, 3)] == expected.tolist()
    assert frame["ref"].isna().all()
    with rasterio.open(path) as ds:
        rows, cols = rasterio.transform.rowcol(ds.transform, frame.geometry.x, frame.geometry.y)
        assert ds.crs.to_epsg() == 32633 and "32633" in pyogrio.read_info(out)["crs"]
    assert np.all(labels[rows, cols] == frame["stratum"].to_numpy())
    assert "90 points" in result.output


def test_same_seed_same_points(landcover, tmp_path):
    path, _ = landcover
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert run(["sample-design", path, "--n", 40, "--min-per-class", 5, "--seed", seed,
                    "-o", tmp_path / f"{name}.gpkg"]).exit_code == 0
    a, b, c = (pyogrio.read_dataframe(tmp_path / f"{n}.gpkg").geometry for n in "abc")
    assert a.geom_equals(b).all() and not a.geom_equals(c).all()


def test_target_se_sizes_the_sample(landcover, tmp_path):
    path, labels = landcover
    out = tmp_path / "points.gpkg"
    result = run(["sample-design", path, "--target-se", 0.03, "--expected-ua", "1:0.6,2:0.7",
                  "--allocation", "proportional", "-o", out])
    assert result.exit_code == 0, result.output
    pixels = [int((labels == c).sum()) for c in (1, 2, 3)]
    assert pyogrio.read_info(out)["features"] == cochran_sample_size(pixels, [0.6, 0.7, 0.8], 0.03)


def test_round_trip_into_accuracy(landcover, tmp_path):
    """Points from sample-design, filled in by an 'analyst', assessed with --area-adjusted."""
    path, labels = landcover
    points = tmp_path / "points.gpkg"
    assert run(["sample-design", path, "--n", 60, "--min-per-class", 15, "-o", points]).exit_code == 0
    frame = pyogrio.read_dataframe(points)
    frame["ref"] = frame["stratum"].to_numpy()
    frame.loc[frame.index[:3], "ref"] = 3  # three errors
    pyogrio.write_dataframe(frame, points, layer="points")
    report = tmp_path / "report"
    result = run(["accuracy", path, "-r", points, "--field", "ref", "--area-adjusted", "--no-figures", "-o", report])
    assert result.exit_code == 0, result.output
    d = json.loads((report / "report.json").read_text())
    assert d["n_samples"] == 60 and d["overall_accuracy"] == pytest.approx(57 / 60)
    assert d["area_adjusted"]["total_area_ha"] == pytest.approx(int((labels > 0).sum()) * 0.09)


@pytest.mark.parametrize("args, expect", [
    ([], "give --n"),
    (["--n", 10, "--target-se", 0.01], "exclude each other"),
    (["--n", 10, "--expected-ua", "x:y"], "--expected-ua"),
    (["--target-se", 0.01, "--expected-ua", "1.5"], "out of range"),
    (["--target-se", 0.01, "--expected-ua", "9:0.5"], "classes [9]"),
])
def test_bad_options(landcover, tmp_path, args, expect):
    path, _ = landcover
    out = tmp_path / "points.gpkg"
    assert_clean_failure(run(["sample-design", path, *args, "-o", out]), expect=expect, outputs=[out])


def test_existing_output_and_missing_map(landcover, tmp_path):
    path, _ = landcover
    out = tmp_path / "points.gpkg"
    out.write_text("keep")
    assert_clean_failure(run(["sample-design", path, "--n", 10, "-o", out]), expect="already exists", outputs=[])
    assert out.read_text() == "keep"
    missing = tmp_path / "p2.gpkg"
    assert_clean_failure(run(["sample-design", tmp_path / "nope.tif", "--n", 10, "-o", missing]),
                         expect="no such file", outputs=[missing])
