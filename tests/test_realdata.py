"""Acceptance runs of the classic engines on the real scenes in ../shared/data (skipped when absent)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from scipy.optimize import linear_sum_assignment

from geouic.cli import main
from tests.conftest import shared_data

pytestmark = pytest.mark.realdata


def matched_oa(pred: np.ndarray, ref: np.ndarray) -> float:
    """Hungarian-matched overall accuracy on labelled pixels (ref > 0)."""
    keep = ref > 0
    p, r = pred[keep], ref[keep]
    _, pi = np.unique(p, return_inverse=True)
    _, ri = np.unique(r, return_inverse=True)
    table = np.zeros((pi.max() + 1, ri.max() + 1), np.int64)
    np.add.at(table, (pi, ri), 1)
    rows, cols = linear_sum_assignment(-table)
    return table[rows, cols].sum() / keep.sum()


def classify(tmp_path, scene, *args) -> np.ndarray:
    out = tmp_path / "classes.tif"
    result = CliRunner().invoke(main, ["classify", str(scene), "-o", str(out), "-q", *map(str, args)])
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as ds, rasterio.open(scene) as src:
        assert ds.crs == src.crs and ds.transform == src.transform and ds.dtypes[0] == "uint8" and ds.nodata == 0
        return ds.read(1)


def read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read(1)


def test_kmeans_landsat5_amazon(tmp_path):
    folder = shared_data("landsat5_amazon")
    labels = classify(tmp_path, folder / "image.tif", "--method", "kmeans", "-k", 4)
    oa = matched_oa(labels, read(folder / "training_polygons_rasterized.tif"))
    assert oa >= 0.80, oa
    with rasterio.open(tmp_path / "classes.tif") as ds:
        assert len({ds.colormap(1)[k][:3] for k in range(1, 5)}) == 4


def test_isodata_salinas_150(tmp_path):
    folder = shared_data("salinas_150")
    labels = classify(tmp_path, folder / "image.tif", "--method", "isodata", "-k", 8)
    with rasterio.open(folder / "image.tif") as src:
        valid = src.read(1) != src.nodata
    assert (labels[~valid] == 0).all() and (labels[valid] > 0).all()
    oa = matched_oa(labels, read(folder / "reference.tif"))
    assert oa >= 0.72, oa


@pytest.mark.parametrize("training", ["training_polygons.gpkg", "training_polygons_rasterized.tif"])
def test_mlc_landsat5_amazon(tmp_path, training):
    folder = shared_data("landsat5_amazon")
    field = ["--field", "class"] if training.endswith(".gpkg") else []
    labels = classify(tmp_path, folder / "image.tif", "--method", "mlc", "--training", folder / training, *field)
    ref = read(folder / "training_polygons_rasterized.tif")
    keep = ref > 0
    if field:  # string classes get codes in sorted name order, as the rasterised codes do
        oa = matched_oa(labels, ref)
    else:
        oa = (labels[keep] == ref[keep]).mean()
    assert oa >= 0.95, oa
