"""The sample-scene generator ``data_samples/make_sample.py``, run at a tiny size."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.features import geometry_mask

SCRIPT = Path(__file__).resolve().parents[1] / "data_samples" / "make_sample.py"
SIZE = 96


@pytest.fixture(scope="module")
def make_sample():
    spec = importlib.util.spec_from_file_location("make_sample", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def sample_dir(make_sample, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    make_sample.main(["--out", str(out), "--size", str(SIZE)])
    return out


@pytest.fixture(scope="module")
def truth(sample_dir) -> np.ndarray:
    with rasterio.open(sample_dir / "truth.tif") as src:
        return src.read(1)


def test_scene_layout(sample_dir):
    with rasterio.open(sample_dir / "scene.tif") as src:
        assert (src.count, src.height, src.width) == (6, SIZE, SIZE)
        assert src.dtypes == ("uint16",) * 6
        assert src.descriptions == ("blue", "green", "red", "nir", "swir1", "swir2")
        assert src.crs.to_epsg() == 32633 and src.res == (30.0, 30.0)
        assert src.nodata == 0 and src.profile["tiled"]
        assert src.block_shapes[0][0] < SIZE  # several blocks: the window loop really ran
        data = src.read()
    assert data.max() <= 10000


def test_collar_is_nodata_in_all_bands(sample_dir, truth):
    with rasterio.open(sample_dir / "scene.tif") as src:
        zero = src.read() == 0
    collar = zero.all(axis=0)
    assert 0.02 < collar.mean() < 0.3
    assert not (zero.any(axis=0) & ~collar).any(), "a valid pixel has a zero band"
    np.testing.assert_array_equal(collar, truth == 0)


def test_truth_has_all_classes_and_a_colour_table(sample_dir, truth):
    assert truth.dtype == np.uint8
    assert set(np.unique(truth)) == {0, 1, 2, 3, 4, 5}
    with rasterio.open(sample_dir / "truth.tif") as src:
        assert src.colormap(1)[1][:3] == (31, 120, 180)


def test_training_polygons_lie_inside_their_class(sample_dir, truth):
    polys = gpd.read_file(sample_dir / "training.gpkg")
    assert polys.crs.to_epsg() == 32633
    assert set(polys["class_code"]) == {1, 2, 3, 4, 5}
    names = {1: "water", 2: "forest", 3: "cropland", 4: "bare_soil", 5: "built_up"}
    assert (polys["class"] == polys["class_code"].map(names)).all()
    with rasterio.open(sample_dir / "truth.tif") as src:
        transform = src.transform
    for geom, code in zip(polys.geometry, polys["class_code"]):
        inside = ~geometry_mask([geom], truth.shape, transform)
        assert inside.any() and (truth[inside] == code).all()


def test_validation_points_match_truth_away_from_training(sample_dir, truth):
    pts = gpd.read_file(sample_dir / "validation.gpkg")
    polys = gpd.read_file(sample_dir / "training.gpkg")
    assert len(pts) > 200 and set(pts["ref"]) == {1, 2, 3, 4, 5}
    with rasterio.open(sample_dir / "truth.tif") as src:
        rows, cols = rasterio.transform.rowcol(src.transform, pts.geometry.x, pts.geometry.y)
    np.testing.assert_array_equal(truth[rows, cols], pts["ref"])
    assert not pts.geometry.intersects(polys.union_all()).any()


def test_rendering_is_deterministic(make_sample, sample_dir, tmp_path):
    make_sample.write_rasters(make_sample.SceneModel(SIZE), tmp_path)
    for name in ("scene.tif", "truth.tif"):
        with rasterio.open(sample_dir / name) as a, rasterio.open(tmp_path / name) as b:
            np.testing.assert_array_equal(a.read(), b.read())


def test_too_small_size_is_refused(make_sample, tmp_path):
    with pytest.raises(ValueError, match="size=8"):
        make_sample.make_sample(tmp_path, 8)
