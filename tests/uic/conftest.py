"""Fixtures of the UIC tests: tiny scenes with spatially coherent classes and fast settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import write_raster

torch = pytest.importorskip("torch")

#: Settings that train a tiny scene in about a second (one member, few short epochs).
FAST: dict[str, Any] = dict(members=1, epochs=6, agreement=0.99, steps_per_epoch=6, patch_size=16, batch_size=8)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests share the machine: one torch thread, restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def blob_labels(size: int = 48, k: int = 4, seed: int = 0) -> np.ndarray:
    """Voronoi cells of 3k random sites, cell i labelled i % k + 1: coherent, irregular fields."""
    rng = np.random.default_rng(seed)
    sites = rng.uniform(0, size, (3 * k, 2))
    rr, cc = np.mgrid[0:size, 0:size]
    d = (rr[..., None] - sites[:, 0]) ** 2 + (cc[..., None] - sites[:, 1]) ** 2
    return (d.argmin(-1) % k + 1).astype(np.uint8)


def blob_scene(labels: np.ndarray, n_bands: int = 5, noise: float = 25.0, seed: int = 0) -> np.ndarray:
    """uint16 bands: one mean spectrum per class, Gaussian noise (noisy enough that context helps)."""
    rng = np.random.default_rng(seed)
    k = int(labels.max())
    means = 300 + 100 * np.arange(k + 1)[:, None] * (1 + 0.3 * rng.random((k + 1, n_bands)))
    data = means[labels].transpose(2, 0, 1) + rng.normal(0, noise, (n_bands, *labels.shape))
    return np.clip(np.round(data), 1, 65535).astype(np.uint16)


@pytest.fixture(scope="session")
def blobs(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """A 48x48, 5-band scene of 4 classes in irregular fields, 16x16 tiles, and its labels."""
    labels = blob_labels()
    path = tmp_path_factory.mktemp("uic") / "blobs.tif"
    write_raster(path, blob_scene(labels), nodata=0, descriptions=[f"b{i}" for i in range(1, 6)])
    return path, labels


@pytest.fixture(scope="session")
def blobs_nodata(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """Like ``blobs`` with a nodata collar (label 0) and a nodata hole."""
    labels = blob_labels()
    labels[:, :4] = 0
    labels[20:26, 20:30] = 0
    data = blob_scene(np.where(labels == 0, 1, labels))
    data[:, labels == 0] = 0
    path = tmp_path_factory.mktemp("uic") / "blobs_nodata.tif"
    write_raster(path, data, nodata=0)
    return path, labels


@pytest.fixture(scope="session")
def fitted(blobs):
    """A UIC engine fitted on ``blobs`` with the fast settings."""
    from geouic.engine import make_engine
    from geouic.raster import open_raster

    torch.set_num_threads(1)
    with open_raster(blobs[0]) as src:
        return make_engine("uic", n_classes=4, seed=0, **FAST).fit([src])


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``slow`` unless they are selected with ``-m slow`` or GEOUIC_SLOW=1."""
    import os

    if "slow" in (config.getoption("-m") or "") or os.environ.get("GEOUIC_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow real-data run: use -m slow or GEOUIC_SLOW=1")
    for item in items:
        if "slow" in item.keywords and "tests/uic" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)
