"""Progress bars are sized by the library's window pass, never by the CLI counting windows."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from click.testing import CliRunner

import geouic.pipeline
from geouic.cli import main
from tests.conftest import quadrant_labels, write_raster


class FakeBar:
    """Stands in for click.progressbar: records its length and every update."""

    bars: list[FakeBar] = []

    def __init__(self, *, length: int, label: str, file: object) -> None:
        self.length, self.label, self.updates = length, label, []
        FakeBar.bars.append(self)

    def __enter__(self) -> FakeBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        self.updates.append((n, self.length))


@pytest.fixture
def bars(monkeypatch):
    import click

    FakeBar.bars = []
    monkeypatch.setattr("geouic.cli.options._show_progress", lambda: True)
    monkeypatch.setattr(click, "progressbar", FakeBar)
    return FakeBar.bars


@pytest.fixture(scope="module")
def big_scene(tmp_path_factory):
    """2048 x 2048 x 6 uint16 scene in 256 x 256 blocks: four smooth classes, a little noise."""
    rng = np.random.default_rng(0)
    rows = np.arange(2048)[:, None] // 1024
    cols = np.arange(2048)[None, :] // 1024
    labels = rows * 2 + cols
    means = 500 + 3000 * rng.random((4, 6))
    data = (means[labels].transpose(2, 0, 1) + rng.normal(0, 20, (6, 2048, 2048))).astype(np.uint16)
    return write_raster(tmp_path_factory.mktemp("big") / "scene.tif", data, block=256, compress="deflate")


def test_classify_bar_advances_once_per_predicted_window(big_scene, tmp_path, bars, monkeypatch):
    predicted = []
    lock = threading.Lock()
    original = geouic.pipeline._predict_one

    def counting(*args, **kwargs):
        with lock:
            predicted.append(args[2].core)
        return original(*args, **kwargs)

    monkeypatch.setattr(geouic.pipeline, "_predict_one", counting)
    result = CliRunner().invoke(main, ["classify", str(big_scene), "--method", "kmeans", "-k", "4",
                                       "--sample-size", "2000", "--mem-limit", "64", "--workers", "2",
                                       "-o", str(tmp_path / "classes.tif")])
    assert result.exit_code == 0, result.output
    (bar,) = bars
    # 64 MB shared by 2 workers x 2 windows in flight: 32 windows of 256 x 512 (the bar used to say 8)
    assert len(predicted) == 32
    assert bar.length == len(predicted) and bar.label == "Classifying"
    assert [n for n, _ in bar.updates] == [1] * len(predicted)
    assert {total for _, total in bar.updates} == {len(predicted)}


def test_assign_bar_counts_both_passes(tmp_path, bars):
    labels = np.repeat(np.repeat(quadrant_labels(64), 8, axis=0), 8, axis=1).astype(np.uint8)  # 512 x 512
    classes = write_raster(tmp_path / "classes.tif", labels.astype(np.uint8), nodata=0)
    reference = write_raster(tmp_path / "ref.tif", labels.astype(np.uint8), nodata=0)
    result = CliRunner().invoke(main, ["assign-schema", str(classes), "--reference", str(reference),
                                       "--mem-limit", "1", "-o", str(tmp_path / "lc.tif")])
    assert result.exit_code == 0, result.output
    (bar,) = bars
    from geouic.raster import open_raster
    from geouic.windows import BYTES_PER_PIXEL

    with open_raster(classes) as src:
        n = len(src.windows(mem_limit_mb=1, bytes_per_pixel=BYTES_PER_PIXEL["class_map"]))
    assert n > 1
    assert bar.length == 2 * n and sum(k for k, _ in bar.updates) == 2 * n


def test_classify_shows_a_training_bar_then_a_classifying_bar(tmp_path, bars):
    """Default engine (UIC): one step per member epoch (one member by default) with member, epoch and NMI in the label, then windows."""
    from tests.conftest import make_scene

    scene = write_raster(tmp_path / "s.tif", make_scene(quadrant_labels(48)), nodata=0)
    result = CliRunner().invoke(main, ["classify", str(scene), "-k", "4", "--epochs", "2", "--patch-size", "16",
                                       "--batch-size", "8", "-o", str(tmp_path / "c.tif")])
    assert result.exit_code == 0, result.output
    training, classifying = bars
    assert training.label.startswith("Training (member ") and "epoch " in training.label and "NMI " in training.label
    assert sum(n for n, _ in training.updates) == training.length == 2  # 1 member (the default) x 2 epochs
    assert classifying.label == "Classifying" and sum(n for n, _ in classifying.updates) == classifying.length
