"""Fitting and applying engines over windows; the result does not depend on the tiling."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from sklearn.metrics import v_measure_score

from geouic.engine import make_engine
from geouic.errors import ModelError, NotFittedError, ParameterError
from geouic.model import load_model, save_model
from geouic.pipeline import apply_engine, classify_raster
from geouic.raster import open_raster
from tests.conftest import make_scene, quadrant_labels, write_raster

PIXEL_METHODS = ["kmeans", "isodata", "fcm"]


def _fit(method, src, k=4, **params):
    return make_engine(method, n_classes=k, seed=0, **params).fit([src])


@pytest.mark.parametrize("method", PIXEL_METHODS)
def test_quadrants_recovered(quadrants_nodata, tmp_path, method):
    path, labels = quadrants_nodata
    with open_raster(path) as src:
        res = classify_raster(src, make_engine(method, n_classes=4, seed=0), tmp_path / "c.tif")
    with rasterio.open(res.path) as ds:
        out = ds.read(1)
    assert (out[labels == 0] == 0).all() and (out[labels > 0] > 0).all()
    assert v_measure_score(labels[labels > 0], out[labels > 0]) == pytest.approx(1.0)
    assert res.counts[0] == (labels == 0).sum() and res.n_used_classes == 4


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "float32"])
def test_dtypes(tmp_path, dtype):
    labels = quadrant_labels(48)
    data = make_scene(labels, n_bands=3, dtype="int16" if dtype == "int16" else dtype).astype(dtype)
    nodata = np.nan if dtype == "float32" else 0
    data[:, :2] = nodata
    path = write_raster(tmp_path / f"s_{dtype}.tif", data, nodata=nodata)
    with open_raster(path) as src:
        res = classify_raster(src, make_engine("kmeans", n_classes=4, seed=0), tmp_path / "c.tif")
    with rasterio.open(res.path) as ds:
        out = ds.read(1)
    assert (out[:2] == 0).all()
    assert v_measure_score(labels[2:].ravel(), out[2:].ravel()) == pytest.approx(1.0)


@pytest.mark.parametrize("workers", [1, 3])
def test_tiling_and_threads_do_not_change_labels(quadrants_nodata, tmp_path, workers):
    path, _ = quadrants_nodata
    with open_raster(path) as src:
        engine = _fit("kmeans", src)
        one = apply_engine(src, engine, tmp_path / "one.tif", mem_limit_mb=100)
        many = apply_engine(src, engine, tmp_path / "many.tif", mem_limit_mb=0.005, workers=workers)
        assert len(src.windows(mem_limit_mb=0.005)) > 4
    with rasterio.open(one.path) as a, rasterio.open(many.path) as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_extras_fcm(quadrants, tmp_path):
    path, labels = quadrants
    with open_raster(path) as src:
        engine = _fit("fcm", src)
        res = apply_engine(src, engine, tmp_path / "c.tif", extras={
            "memberships": tmp_path / "m.tif", "confidence": tmp_path / "conf.tif", "entropy": tmp_path / "e.tif"})
    with rasterio.open(res.extras["memberships"]) as m, rasterio.open(res.path) as c:
        mem = m.read()
        assert m.count == 4 and m.dtypes[0] == "float32"
        np.testing.assert_allclose(mem.sum(0), 1, atol=1e-4)
        np.testing.assert_array_equal(mem.argmax(0) + 1, c.read(1))  # band k = class k+1
    with rasterio.open(res.extras["confidence"]) as conf:
        assert 0.25 <= conf.read(1).min() and conf.read(1).max() <= 1.0


def test_kmeans_confidence_only(quadrants, tmp_path):
    path, _ = quadrants
    with open_raster(path) as src:
        engine = _fit("kmeans", src)
        with pytest.raises(ParameterError, match="memberships"):
            apply_engine(src, engine, tmp_path / "c.tif", extras={"memberships": tmp_path / "m.tif"})
        res = apply_engine(src, engine, tmp_path / "c.tif", extras={"confidence": tmp_path / "conf.tif"})
    with rasterio.open(res.extras["confidence"]) as conf:
        v = conf.read(1)
    assert ((v >= 0) & (v <= 1)).all()
    assert not (tmp_path / "m.tif").exists()


@pytest.mark.parametrize("method", PIXEL_METHODS)
def test_model_round_trip(quadrants, tmp_path, method):
    path, _ = quadrants
    with open_raster(path) as src:
        engine = _fit(method, src)
        model = save_model(engine, tmp_path / "m.geouic")
        again = load_model(model)
        data, valid = src.read()
    np.testing.assert_array_equal(engine.predict_block(data, valid)["labels"],
                                  again.predict_block(data, valid)["labels"])
    assert again.band_names_ == ["blue", "green", "red", "nir"]


def test_classes_numbered_dark_to_bright(tmp_path):
    labels = quadrant_labels(32)
    data = (labels.astype(np.uint16) * 100)[None].repeat(2, 0)
    data = data + np.random.default_rng(0).integers(0, 5, data.shape).astype(np.uint16)
    with open_raster(write_raster(tmp_path / "g.tif", data)) as src:
        engine = _fit("kmeans", src)
        out = engine.predict_block(*src.read())["labels"]
    np.testing.assert_array_equal(out, labels)


def test_unfitted_and_band_mismatch(quadrants, tmp_path):
    path, _ = quadrants
    engine = make_engine("kmeans", n_classes=3)
    with open_raster(path) as src:
        with pytest.raises(NotFittedError):
            apply_engine(src, engine, tmp_path / "c.tif")
        engine.fit([src])
    three = write_raster(tmp_path / "three.tif", make_scene(quadrant_labels(32), n_bands=3))
    with open_raster(three) as other, pytest.raises(ModelError, match="trained on 4"):
        apply_engine(other, engine, tmp_path / "c.tif")


def test_mlc_engine_from_label_raster(quadrants, tmp_path):
    from geouic.reference import Grid, open_reference

    path, labels = quadrants
    train = np.zeros_like(labels)
    train[4:12, 4:12] = labels[4:12, 4:12]
    train[40:60, 40:60] = labels[40:60, 40:60]
    train[4:12, 40:60] = labels[4:12, 40:60]
    train[40:60, 4:12] = labels[40:60, 4:12]
    tpath = write_raster(tmp_path / "train.tif", train.astype(np.uint8), nodata=0)
    with open_raster(path) as src:
        ref = open_reference(tpath, Grid.from_dataset(src.dataset))
        res = classify_raster(src, make_engine("mlc"), tmp_path / "c.tif", training=ref)
    with rasterio.open(res.path) as ds:
        np.testing.assert_array_equal(ds.read(1), labels)
