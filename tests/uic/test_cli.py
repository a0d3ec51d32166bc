"""`geouic train`, `classify` (default method uic) and `predict` with UIC models, via CliRunner."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geouic.cli import main
from tests.conftest import write_raster
from tests.uic.conftest import blob_scene

pytest.importorskip("torch")

#: Short training through the CLI options (3 members of 2 short epochs).
QUICK = ["--epochs", "2", "--patch-size", "16", "--batch-size", "4", "--device", "cpu"]


def _run(args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def test_classify_defaults_to_uic(blobs, tmp_path):
    path, _ = blobs
    out = tmp_path / "c.tif"
    model = tmp_path / "c.geouic"
    res = _run(["classify", path, "-k", "4", "-o", out, "--save-model", model, "--confidence",
                tmp_path / "conf.tif", "--entropy", tmp_path / "ent.tif", *QUICK])
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as ds:
        assert ds.tags()["GEOUIC_METHOD"] == "uic"
        classified = ds.read(1)
        assert ds.crs is not None and ds.nodata == 0
    with rasterio.open(tmp_path / "conf.tif") as ds:
        conf = ds.read(1)
        assert conf.dtype == np.float32 and conf.max() <= 1.0 + 1e-6
    # predict with the saved model reproduces the classify map
    again = tmp_path / "p.tif"
    res = _run(["predict", model, path, "-o", again, "--device", "cpu"])
    assert res.exit_code == 0, res.output
    with rasterio.open(again) as ds:
        assert np.mean(ds.read(1) == classified) >= 0.999


def test_train_on_several_scenes_then_predict(blobs, tmp_path):
    path, labels = blobs
    other = write_raster(tmp_path / "other.tif", blob_scene(labels, seed=9), nodata=0,
                         descriptions=[f"b{i}" for i in range(1, 6)])
    model = tmp_path / "region.geouic"
    res = _run(["train", path, other, "--classes", "4", "--save-model", model, "--seed", "1", *QUICK])
    assert res.exit_code == 0, res.output
    assert "4 classes from 2 scene(s)" in res.output
    from geouic.model import load_model

    engine = load_model(model)
    assert engine.n_classes_ == 4 and engine.band_names_ == ["b1", "b2", "b3", "b4", "b5"]
    out = tmp_path / "o.tif"
    assert _run(["predict", model, other, "-o", out]).exit_code == 0


def test_train_refuses_scenes_with_different_bands(blobs, tmp_path):
    three = write_raster(tmp_path / "three.tif", np.ones((3, 16, 16), np.uint16))
    res = _run(["train", blobs[0], three, "-k", "4", "--save-model", tmp_path / "m.geouic", *QUICK])
    assert res.exit_code == 2
    assert "same bands" in res.output


def test_predict_refuses_band_mismatch(fitted, tmp_path):
    from geouic.model import save_model

    model = save_model(fitted, tmp_path / "m.geouic")
    three = write_raster(tmp_path / "three.tif", np.ones((3, 16, 16), np.uint16))
    res = _run(["predict", model, three, "-o", tmp_path / "x.tif"])
    assert res.exit_code == 2
    assert "trained on 5" in res.output and "Traceback" not in res.output


def test_uic_options_are_refused_for_other_methods(blobs, tmp_path):
    res = _run(["classify", blobs[0], "--method", "kmeans", "-k", "3", "--epochs", "3", "-o", tmp_path / "k.tif"])
    assert res.exit_code == 2 and "--epochs" in res.output


def test_torch_is_not_imported_by_geouic_or_help():
    code = ("import sys, geouic, geouic.engine, geouic.pipeline, geouic.model\n"
            "from click.testing import CliRunner\n"
            "from geouic.cli import main\n"
            "for args in ([\"--help\"], [\"classify\", \"--help\"], [\"train\", \"--help\"], [\"predict\", \"--help\"]):\n"
            "    assert CliRunner().invoke(main, args).exit_code == 0, args\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
