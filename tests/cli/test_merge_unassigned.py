"""`geouic merge` keeps assign-schema's "unassigned" class: code, name and colour, with or without --keep-codes."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin
from rasterio.windows import Window

from geouic.classmap import class_names
from geouic.cli import main
from geouic.output import Legend, ThematicWriter
from geouic.schema import UNASSIGNED_COLOR, UNASSIGNED_NAME
from tests.conftest import write_raster

MEANS = np.array([[100, 200, 300], [110, 205, 310], [900, 100, 500], [500, 500, 500]], dtype=float)


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def landcover(tmp_path):
    """A land-cover map as assign-schema writes it: classes 1-3 and unassigned land (255)."""
    classes = np.empty((64, 64), np.uint8)
    classes[:12], classes[12:32], classes[32:56], classes[56:] = 1, 2, 3, 255
    legend = Legend(names={1: "water", 2: "wetland", 3: "forest", 255: UNASSIGNED_NAME},
                    colors={1: (0, 0, 255), 2: (0, 128, 128), 3: (0, 128, 0), 255: UNASSIGNED_COLOR})
    path = tmp_path / "lc.tif"
    with ThematicWriter(path, crs="EPSG:32633", transform=from_origin(500000, 4600000, 30, 30), width=64, height=64,
                        legend=legend, n_classes=255) as w:
        w.write(Window(0, 0, 64, 64), classes)
    rng = np.random.default_rng(0)
    scene = (MEANS[np.where(classes == 255, 4, classes) - 1].transpose(2, 0, 1)
             + rng.normal(0, 5, (3, 64, 64))).astype(np.uint16)
    return path, classes, write_raster(tmp_path / "scene.tif", scene, nodata=0)


def _unassigned_kept(path):
    with rasterio.open(path) as ds:
        out, cmap = ds.read(1), ds.colormap(1)
    assert cmap[255][:3] == UNASSIGNED_COLOR
    assert class_names(path)[255] == UNASSIGNED_NAME
    qml = path.with_suffix(".qml").read_text()
    assert 'value="255"' in qml and UNASSIGNED_NAME in qml
    return out


@pytest.mark.parametrize("keep", [[], ["--keep-codes"]])
def test_merge_keeps_unassigned(landcover, tmp_path, keep):
    path, classes, _ = landcover
    out = tmp_path / "m.tif"
    run("merge", path, "--merge", "1,2", *keep, "-o", out)
    merged = _unassigned_kept(out)
    assert (merged[classes == 255] == 255).all()
    expect = {1: 2, 2: 2, 3: 3} if keep else {1: 1, 2: 1, 3: 2}  # 2 is the larger of 1, 2
    for old, new in expect.items():
        assert (merged[classes == old] == new).all(), (old, np.unique(merged[classes == old]))
    with open(out.with_suffix(".merge.csv")) as f:
        rows = {int(r["old_code"]): r for r in csv.DictReader(f)}
    assert rows[255]["new_code"] == "255" and rows[255]["new_name"] == UNASSIGNED_NAME


def test_merge_to_leaves_unassigned_apart(landcover, tmp_path):
    path, classes, scene = landcover
    out = tmp_path / "m.tif"
    run("merge", path, "--to", 1, "--scene", scene, "-o", out)
    merged = _unassigned_kept(out)
    assert (merged[classes == 255] == 255).all() and (merged[classes != 255] == 1).all()
