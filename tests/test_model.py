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
        load_model(_rewrite(model_file, meta=meta, drop="norm.center"))
    with pytest.raises(ModelError, match="no valid class look-up table"):
        load_model(_rewrite(model_file, meta=meta, drop="lut"))
    with pytest.raises(ModelError, match="unknown engine 'forest'"):
        load_model(_rewrite(model_file, meta=json.dumps({**json.loads(meta), "engine": "forest"})))


# ------------------------------------------------------------------ crafted files (issue 10)
def _craft(path, meta_change=None, arrays_change=None, meta=None):
    """Rewrite a model file with its metadata and arrays changed by the given functions."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        old = json.loads(f.metadata()["geouic"])
    arrays = load_file(str(path))
    if meta_change:
        meta_change(old)
    if arrays_change:
        arrays_change(arrays)
    text = json.dumps(old if meta is None else meta)
    save_file(arrays, str(path), metadata={"geouic": text})
    return path


def _set(key, value):
    return lambda d: d.__setitem__(key, value)


@pytest.mark.parametrize("meta_change, arrays_change, match", [
    (None, None, "not an object"),  # metadata is a list
    (_set("format_version", "one"), None, "format_version 'one' is not a number"),
    (_set("format_version", None), None, "is not a number"),
    (_set("n_classes", 10**9), None, "n_classes 1000000000 is out of bounds"),
    (_set("n_classes", 5), None, r"expected \(K=5, B=4\)"),
    (_set("band_names", "b1"), None, "band_names must list"),
    (None, lambda a: a.__setitem__("est.cluster_centers_", np.full((4, 4), np.nan, np.float32)), "NaN or infinite"),
    (None, lambda a: a.__setitem__("norm.scale", np.zeros(4, np.float32)), "scales must be positive"),
    (None, lambda a: a.__setitem__("lut", a["lut"][:2]), r"lut has shape \(2,\), expected \(K=4,\)"),
    (None, lambda a: a.__setitem__("lut", np.array([1, 1, 2, 3], np.uint16)), "number the classes 1..4"),
    (None, lambda a: a.__setitem__("est.cluster_centers_", np.zeros((4, 4), np.complex64)), "not a number"),
])
def test_crafted_model_files_are_refused(model_file, meta_change, arrays_change, match):
    meta = [1, 2] if meta_change is None and arrays_change is None else None
    with pytest.raises(ModelError, match=match):
        load_model(_craft(model_file, meta_change, arrays_change, meta=meta))


def test_supervised_classes_must_match_n_classes(quadrants, tmp_path):
    path, labels = quadrants
    with open_raster(path) as src:
        model = save_model(fitted("mlc", src, labels), tmp_path / "mlc.geouic")
    with pytest.raises(ModelError, match="training classes must be distinct codes 1..9"):
        load_model(_craft(model, _set("n_classes", 9)))


def test_uic_architecture_is_checked_before_the_network_is_built(tmp_path):
    torch = pytest.importorskip("torch")
    from geouic.uic.model import build_net

    net = build_net(5, 4, {"hidden": 32, "n_spatial": 2, "kernel": 3})
    arrays = {f"net.{k}": v.numpy() for k, v in net.state_dict().items()}
    base = {"engine": "uic", "n_classes": 4, "band_names": [f"b{i}" for i in range(5)], "format_version": 1}
    path = tmp_path / "uic.geouic"

    def attempt(arch, n_classes=4):
        save_file(arrays, str(path), metadata={"geouic": json.dumps({**base, "n_classes": n_classes, "arch": arch})})
        return load_model(path)

    with pytest.raises(ModelError, match="arch: hidden 5000 is out of bounds"):
        attempt({"hidden": 5000, "n_spatial": 2, "kernel": 3, "in_channels": 5})
    with pytest.raises(ModelError, match=r"expected \(64, 5, 1, 1\)"):
        attempt({"hidden": 64, "n_spatial": 2, "kernel": 3, "in_channels": 5})
    with pytest.raises(ModelError, match="do not match the stored architecture"):
        attempt({"hidden": 32, "n_spatial": 3, "kernel": 3, "in_channels": 5})
    with pytest.raises(ModelError, match="shape"):
        attempt({"hidden": 32, "n_spatial": 2, "kernel": 3, "in_channels": 5}, n_classes=7)
    with pytest.raises(ModelError, match="architecture is invalid"):
        attempt({"hidden": 32, "n_spatial": 2, "kernel": 4, "in_channels": 5})
    assert torch.get_default_device().type == "cpu"  # the meta device does not leak


def test_model_file_mode_follows_the_umask(model_file, tmp_path):
    import os
    import stat

    old = os.umask(0o027)
    try:
        path = save_model(load_model(model_file), tmp_path / "again.geouic")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
