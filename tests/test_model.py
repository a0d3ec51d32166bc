"""Model files: a fitted engine round-trips through safetensors, and bad files fail with one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

import geouic
from geouic.engine import make_engine
from geouic.errors import ModelError, NotFittedError, OutputError
from geouic.model import FORMAT_VERSION, load_model, save_model
from geouic.raster import open_raster


class LabelsOnGrid:
    """Training labels for the quadrant scene: a patch of each quadrant, with class names."""

    names = {1: "water", 2: "forest", 3: "crop", 4: "urban"}

    def __init__(self, labels: np.ndarray):
        self.labels = np.zeros_like(labels)
        for rows, cols in [(slice(4, 12), slice(4, 12)), (slice(40, 60), slice(40, 60)),
                           (slice(4, 12), slice(40, 60)), (slice(40, 60), slice(4, 12))]:
            self.labels[rows, cols] = labels[rows, cols]

    def read(self, window=None):
        if window is None:
            return self.labels
        (r0, r1), (c0, c1) = window.toranges()
        return self.labels[r0:r1, c0:c1]


def fitted(method: str, src, labels):
    if method == "mlc":
        return make_engine("mlc", seed=0).fit([src], training=LabelsOnGrid(labels))
    return make_engine(method, n_classes=4, seed=0, sample_size=2000).fit([src])


@pytest.mark.parametrize("method", ["kmeans", "isodata", "fcm", "mlc"])
def test_round_trip_predicts_the_same(quadrants, tmp_path, method):
    path, labels = quadrants
    with open_raster(path) as src:
        engine = fitted(method, src, labels)
        written = save_model(engine, tmp_path / "m.geouic", extra={"trained_on": [str(path)]})
        again = load_model(written)
        data, valid = src.read()
    outputs = frozenset(engine.extra_outputs)
    before, after = (e.predict_block(data, valid, outputs=outputs) for e in (engine, again))
    assert before.keys() == after.keys()
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    assert again.describe() == engine.describe()
    assert (again.n_classes_, again.band_names_, again.class_names_) == (
        engine.n_classes_, engine.band_names_, engine.class_names_)


def test_file_is_safetensors_with_json_metadata(quadrants, tmp_path):
    path, labels = quadrants
    with open_raster(path) as src:
        engine = fitted("kmeans", src, labels)
    written = save_model(engine, tmp_path / "m.geouic", extra={"trained_on": ["a.tif"]})
    arrays = load_file(str(written))
    np.testing.assert_array_equal(arrays["est.cluster_centers_"], engine.estimator.cluster_centers_)
    assert {"lut", "norm.center", "norm.scale"} <= set(arrays)
    from safetensors import safe_open

    with safe_open(str(written), framework="np") as f:
        meta = json.loads(f.metadata()["geouic"])
    assert meta["format_version"] == FORMAT_VERSION and meta["geouic_version"] == geouic.__version__
    assert meta["method"] == "kmeans" and meta["sample_size"] == 2000 and meta["trained_on"] == ["a.tif"]


def test_saving_refuses_unfitted_engines_and_existing_files(quadrants, tmp_path):
    path, labels = quadrants
    with pytest.raises(NotFittedError):
        save_model(make_engine("kmeans", n_classes=3), tmp_path / "u.geouic")
    assert not (tmp_path / "u.geouic").exists()
    with open_raster(path) as src:
        engine = fitted("kmeans", src, labels)
    target = save_model(engine, tmp_path / "m.geouic")
    with pytest.raises(OutputError, match="overwrite"):
        save_model(engine, target)
    assert save_model(engine, target, overwrite=True) == target


def _rewrite(path, meta=None, drop=None):
    """Rewrite a model file with other metadata or without one array."""
    arrays = load_file(str(path))
    if drop:
        arrays.pop(drop)
    save_file(arrays, str(path), metadata=None if meta is None else {"geouic": meta})
    return path


@pytest.fixture
def model_file(quadrants, tmp_path):
    path, labels = quadrants
    with open_raster(path) as src:
        return save_model(fitted("kmeans", src, labels), tmp_path / "m.geouic")


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "none.geouic")
    bad = tmp_path / "bad.geouic"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="not a readable geouic model file"):
        load_model(bad)


def test_metadata_problems(model_file):
    meta = {"engine": "pixel"}
    with pytest.raises(ModelError, match="without geouic metadata"):
        load_model(_rewrite(model_file))
    with pytest.raises(ModelError, match="metadata is corrupt"):
        load_model(_rewrite(model_file, meta="{not json"))
    with pytest.raises(ModelError, match=f"format {FORMAT_VERSION + 1} is newer"):
        load_model(_rewrite(model_file, meta=json.dumps({**meta, "format_version": FORMAT_VERSION + 1})))


def test_missing_entries(model_file, tmp_path):
    from safetensors import safe_open

    with safe_open(str(model_file), framework="np") as f:
        meta = f.metadata()["geouic"]
    with pytest.raises(ModelError, match="misses an entry"):
        load_model(_rewrite(model_file, meta=meta, drop="lut"))
    with pytest.raises(ModelError, match="unknown engine 'forest'"):
        load_model(_rewrite(model_file, meta=json.dumps({**json.loads(meta), "engine": "forest"})))
