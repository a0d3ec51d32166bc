"""`predict` and `assign-schema --mapping` on several inputs with an output template."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geouic.batch import output_paths
from geouic.cli import main
from geouic.errors import ParameterError
from tests.conftest import make_scene, quadrant_labels, write_raster


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def scenes(tmp_path):
    labels = quadrant_labels(64)
    paths = [write_raster(tmp_path / f"{s}.tif", make_scene(labels, seed=i), nodata=0) for i, s in enumerate("abc")]
    return paths


def test_output_paths():
    assert output_paths("o.tif", ["a.tif"]) == ["o.tif"]
    assert output_paths("out/{stem}_{index:02d}.tif", ["x/a.tif", "y/b.tif"]) == ["out/a_01.tif", "out/b_02.tif"]
    assert output_paths("{folder}.tif", ["x/image.tif", "y/image.tif"]) == ["x.tif", "y.tif"]
    with pytest.raises(ParameterError, match="names one file for 2 scenes"):
        output_paths("o.tif", ["a.tif", "b.tif"])
    with pytest.raises(ParameterError, match="gives image.tif for both"):
        output_paths("{name}", ["x/image.tif", "y/image.tif"])
    with pytest.raises(ParameterError, match="unknown template field {steam}"):
        output_paths("{steam}.tif", ["a.tif", "b.tif"])


def test_predict_many_scenes_equals_one_by_one(tmp_path, scenes):
    model = tmp_path / "m.geouic"
    assert cli("train", *scenes, "--method", "kmeans", "-k", 4, "--save-model", model).exit_code == 0
    (tmp_path / "out").mkdir()
    result = cli("predict", model, *scenes, "-o", tmp_path / "out" / "{stem}_classes.tif",
                 "--confidence", tmp_path / "out" / "{stem}_conf.tif")
    assert result.exit_code == 0, result.output
    for scene in scenes:
        one = tmp_path / f"{scene.stem}_one.tif"
        assert cli("predict", model, scene, "-o", one).exit_code == 0
        with rasterio.open(one) as a, rasterio.open(tmp_path / "out" / f"{scene.stem}_classes.tif") as b:
            assert np.array_equal(a.read(), b.read())
        assert (tmp_path / "out" / f"{scene.stem}_conf.tif").exists()


def test_predict_many_scenes_needs_a_template(tmp_path, scenes):
    result = cli("predict", tmp_path / "m.geouic", *scenes, "-o", tmp_path / "x.tif")
    assert result.exit_code == 2 and "names one file for 3 scenes" in result.output
    assert not (tmp_path / "x.tif").exists()


def test_assign_schema_many_maps_with_a_mapping(tmp_path, scenes):
    maps = []
    for scene in scenes:
        out = tmp_path / f"{scene.stem}_classes.tif"
        assert cli("classify", scene, "--method", "kmeans", "-k", 4, "-o", out).exit_code == 0
        maps.append(out)
    mapping = tmp_path / "m.yaml"
    mapping.write_text("schema:\n  classes:\n    - {code: 1, name: low}\n    - {code: 2, name: high}\n"
                       "mapping: {1: low, 2: low, 3: high, 4: high}\n")
    result = cli("assign-schema", *maps, "--mapping", mapping, "-o", tmp_path / "{stem}_lc.tif")
    assert result.exit_code == 0, result.output
    for m in maps:
        with rasterio.open(m) as a, rasterio.open(tmp_path / f"{m.stem}_lc.tif") as b:
            classes, lc = a.read(1), b.read(1)
            assert np.array_equal(lc, np.select([classes == 0, classes <= 2], [0, 1], 2))
    result = cli("assign-schema", *maps, "--reference", maps[0], "-o", tmp_path / "{stem}_x.tif")
    assert result.exit_code == 2 and "learns a mapping from one class map" in result.output
