"""What ``--confidence`` means, engine by engine: values in [0, 1], higher on class centres than on boundaries.

The scene has two classes with a spectral transition between them (mixed pixels, as along a
real field border): pure pixels left and right, a linear mix over 17 columns in the middle whose
centre column is an exact 50/50 mixture. Confidence of every engine must be in [0, 1] on valid
pixels, 0 on nodata, and clearly higher on the pure pixels (class centres) than on the 50/50
column (the boundary). The README's table of confidence definitions is what these check.
"""

from __future__ import annotations

import numpy as np
import pytest

from geouic.engine import make_engine
from geouic.raster import open_raster
from tests.conftest import write_raster

SIZE = 64
MIX0, MIX1 = 24, 40  # transition columns 24..40; column 32 is 50/50


def mixed_scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = np.array([300.0, 500.0, 700.0, 900.0])
    b = np.array([700.0, 650.0, 400.0, 1300.0])
    frac = np.clip((np.arange(SIZE) - MIX0) / (MIX1 - MIX0), 0, 1)  # share of class b per column
    data = a[:, None, None] * (1 - frac)[None, None, :] + b[:, None, None] * frac[None, None, :]
    data = np.broadcast_to(data, (4, SIZE, SIZE)) + rng.normal(0, 40, (4, SIZE, SIZE))
    data = np.clip(np.round(data), 1, None).astype(np.uint16)
    data[:, :2, :] = 0  # two nodata rows
    labels = np.zeros((SIZE, SIZE), np.uint16)
    labels[2:, : MIX0 - 4] = 1
    labels[2:, MIX1 + 4:] = 2
    return data, labels


class Training:
    """Labels on the scene grid, read window by window (what ``--training classes.tif`` gives)."""

    names = {1: "a", 2: "b"}

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels

    def read(self, window) -> np.ndarray:
        r, c = int(window.row_off), int(window.col_off)
        return self.labels[r: r + int(window.height), c: c + int(window.width)]


#: How much lower the boundary must be. Posterior-type confidences (MLC's class posterior, UIC's
#: softmax) saturate near 1 for well-separated classes and dip only on the 50/50 pixels
#: (measured: 1.00 on centres, 0.97 / 0.96 on the boundary); distance and membership based
#: ones fall steeply (k-means 0.84 -> 0.21).
MARGIN = {"kmeans": 0.3, "isodata": 0.3, "fcm": 0.2, "mlc": 0.01, "uic": 0.3}

FAST_UIC = dict(members=1, epochs=3, steps_per_epoch=6, patch_size=16, batch_size=8)


@pytest.mark.parametrize("method", ["kmeans", "isodata", "fcm", "mlc", "uic"])
def test_confidence_in_unit_range_and_higher_on_centres(tmp_path, method):
    data, labels = mixed_scene()
    path = write_raster(tmp_path / "scene.tif", data, nodata=0)
    params = {"uic": FAST_UIC, "isodata": {"min_clusters": 2, "max_clusters": 2}}.get(method, {})
    engine = make_engine(method, n_classes=None if method == "mlc" else 2, seed=0, **params)
    with open_raster(path) as src:
        engine.fit([src], training=Training(labels)) if method == "mlc" else engine.fit([src])
        block, valid = src.read()
    conf = engine.predict_block(block, valid, outputs=frozenset({"confidence"}))["confidence"]
    assert conf.shape == valid.shape
    assert np.isfinite(conf[valid]).all()
    assert conf[valid].min() >= 0.0 and conf[valid].max() <= 1.0
    assert (conf[~valid] == 0).all()
    rows = slice(4, SIZE - 2)
    centre = np.r_[conf[rows, 4: MIX0 - 4].ravel(), conf[rows, MIX1 + 4: SIZE - 4].ravel()].mean()
    boundary = conf[rows, (MIX0 + MIX1) // 2].mean()
    assert centre > boundary + MARGIN[method], (method, centre, boundary)
