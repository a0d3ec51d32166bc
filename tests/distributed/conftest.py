"""Fixtures of the Dask tests: a LocalCluster shared by a module, a scene and a k-means model.

Every test here needs ``dask.distributed`` and skips cleanly without it (CI installs the
``dask`` extra through the ``test`` extra). Models are fitted in the test with the real engine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.conftest import make_scene, quadrant_labels, write_raster

pytest.importorskip("dask.distributed")


def pixels_sha256(path: Path) -> str:
    """sha256 of every band's pixels (not of the file: its bytes carry the creation time)."""
    with rasterio.open(path) as ds:
        return hashlib.sha256(ds.read().tobytes()).hexdigest()


def scene(path: Path, size: int = 128, block: int = 16, seed: int = 0) -> Path:
    """A size x size, 4-band uint16 scene of four noisy quadrants with a nodata corner."""
    labels = np.kron(quadrant_labels(64), np.ones((size // 64, size // 64), np.uint8))
    labels[: size // 8, : size // 8] = 0
    return write_raster(path, make_scene(labels, seed=seed), nodata=0, block=block)


def fit_model(scene_path: Path, model_path: Path, method: str = "kmeans", classes: int = 4) -> Path:
    """Fit ``method`` on ``scene_path`` with the real engine and save it."""
    from geouic.engine import make_engine
    from geouic.model import save_model
    from geouic.raster import open_raster

    with open_raster(scene_path) as src:
        engine = make_engine(method, n_classes=classes, seed=0)
        engine.fit([src])
    return save_model(engine, model_path)


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two worker processes (one thread each), shared by the module's tests."""
    from geouic.distributed import connect

    with connect("local:2", mem_limit_mb=64) as c:
        c.wait_for_workers(2, timeout=120)
        yield c


@pytest.fixture
def data(tmp_path):
    """(scene, model) in tmp_path: a 128x128 scene of 16x16 tiles and a k-means model fitted on it."""
    path = scene(tmp_path / "scene.tif")
    return path, fit_model(path, tmp_path / "model.geouic")
