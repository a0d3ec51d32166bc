"""Inputs are sacred: no command writes over one of its inputs or over another of its outputs.

Every case runs through the CLI with ``--overwrite`` (which must not matter), and checks exit
code 2, one error line, no traceback, and every file of the folder byte-identical afterwards
(sha256), with nothing added.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import box

from geouic.cli import main
from tests.conftest import make_scene, quadrant_labels, write_raster


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sacred")
    labels = quadrant_labels(64)
    write_raster(d / "scene.tif", make_scene(labels), nodata=0, descriptions=["blue", "green", "red", "nir"])
    write_raster(d / "map.tif", labels, nodata=0)
    h = 32 * 30
    x0, y0 = 500000, 4600000
    polys = [box(x0 + 30, y0 - h + 30, x0 + h - 30, y0 - 30), box(x0 + h + 30, y0 - h + 30, x0 + 2 * h - 30, y0 - 30)]
    gpd.GeoDataFrame({"class": [1, 2]}, geometry=polys, crs="EPSG:32633").to_file(d / "training.gpkg")
    rows, cols = np.array([5, 5, 40, 40]), np.array([10, 40, 10, 40])
    pts = shapely.points(x0 + 30 * (cols + 0.5), y0 - 30 * (rows + 0.5))
    gpd.GeoDataFrame({"ref": [1, 2, 3, 4]}, geometry=pts, crs="EPSG:32633").to_file(d / "points.gpkg")
    (d / "out.mapping.csv").write_text("class,code\n1,1\n2,2\n3,3\n4,4\n")
    result = CliRunner().invoke(main, ["train", str(d / "scene.tif"), "--method", "kmeans", "-k", "4",
                                       "-o", str(d / "model.geouic"), "-q"])
    assert result.exit_code == 0, result.output
    (d / "link.tif").symlink_to(d / "scene.tif")
    (d / "sub").mkdir()
    return d


CASES = {
    "classify -o scene": ["classify", "scene.tif", "--method", "kmeans", "-k", "4", "-o", "scene.tif"],
    "classify -o symlink to scene": ["classify", "scene.tif", "--method", "kmeans", "-k", "4", "-o", "link.tif"],
    "classify -o through a folder path": ["classify", "scene.tif", "--method", "kmeans", "-k", "4",
                                          "-o", "sub/../scene.tif"],
    "classify --confidence scene": ["classify", "scene.tif", "--method", "kmeans", "-k", "4", "-o", "new.tif",
                                    "--confidence", "scene.tif"],
    "classify --confidence = -o": ["classify", "scene.tif", "--method", "kmeans", "-k", "4", "-o", "new.tif",
                                   "--confidence", "new.tif"],
    "classify --memberships = --confidence": ["classify", "scene.tif", "--method", "fcm", "-k", "4", "-o", "new.tif",
                                              "--confidence", "c.tif", "--memberships", "c.tif"],
    "classify --save-model training": ["classify", "scene.tif", "--method", "mlc", "--training", "training.gpkg",
                                       "--field", "class", "-o", "new.tif", "--save-model", "training.gpkg"],
    "classify --save-model = -o": ["classify", "scene.tif", "--method", "kmeans", "-k", "4", "-o", "new.tif",
                                   "--save-model", "new.tif"],
    "predict -o scene": ["predict", "model.geouic", "scene.tif", "-o", "scene.tif"],
    "predict -o model": ["predict", "model.geouic", "scene.tif", "-o", "model.geouic"],
    "train -o scene": ["train", "scene.tif", "--method", "kmeans", "-k", "4", "-o", "scene.tif"],
    "train -o training": ["train", "scene.tif", "--method", "mlc", "--training", "training.gpkg", "--field",
                          "class", "-o", "training.gpkg"],
    "assign-schema -o map": ["assign-schema", "map.tif", "--reference", "points.gpkg", "--field", "ref",
                             "-o", "map.tif"],
    "assign-schema -o reference": ["assign-schema", "map.tif", "--reference", "points.gpkg", "--field", "ref",
                                   "-o", "points.gpkg"],
    "assign-schema mapping table = --mapping": ["assign-schema", "map.tif", "--mapping", "out.mapping.csv",
                                                "-o", "out.tif"],
    "merge -o map": ["merge", "map.tif", "--merge", "1,2", "-o", "map.tif"],
    "merge -o scene": ["merge", "map.tif", "--to", "2", "--scene", "scene.tif", "-o", "scene.tif"],
    "stats -o folder of the map": ["stats", "map.tif", "scene.tif", "-o", "."],
    "accuracy -o folder of the map": ["accuracy", "map.tif", "-r", "points.gpkg", "--field", "ref", "-o", "."],
    "sample-design -o map": ["sample-design", "map.tif", "--n", "10", "-o", "map.tif"],
    "sieve -o map": ["sieve", "map.tif", "--mmu", "4px", "-o", "map.tif"],
    "sieve -o symlink to map": ["sieve", "link.tif", "--mmu", "4px", "-o", "sub/../scene.tif"],
    "majority -o map": ["majority", "map.tif", "--size", "3", "-o", "map.tif"],
    "polygonize -o map": ["polygonize", "map.tif", "-o", "map.tif"],
}


@pytest.mark.parametrize("args", CASES.values(), ids=CASES.keys())
def test_refused_and_inputs_untouched(folder, monkeypatch, args):
    monkeypatch.chdir(folder)
    before = digest(folder)
    result = CliRunner().invoke(main, [*args, "--overwrite"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    assert "same file" in lines[0] or "would replace" in lines[0] or "holds the input" in lines[0], lines[0]
    assert "--overwrite" in lines[0] or "same file" in lines[0], lines[0]
    assert digest(folder) == before


def test_message_names_flags_and_arguments(folder, monkeypatch):
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(main, CASES["classify --confidence scene"])
    assert result.output.strip() == ("Error: --confidence scene.tif would replace the input SCENE (scene.tif); "
                                     "an input is never overwritten, even with --overwrite: choose another name.")


def test_distinct_outputs_still_work(folder, monkeypatch, tmp_path):
    monkeypatch.chdir(folder)
    out = tmp_path / "classes.tif"
    result = CliRunner().invoke(main, ["classify", "scene.tif", "--method", "kmeans", "-k", "4", "-o", str(out),
                                       "--confidence", str(tmp_path / "conf.tif"), "-q"])
    assert result.exit_code == 0, result.output
    assert out.exists() and (tmp_path / "conf.tif").exists()
