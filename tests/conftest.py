"""Shared fixtures: tiny tiled GeoTIFFs with a known answer, and the real data folder."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import from_origin

# Outside a terminal the CLI prints a progress line once a pass has run a second: the tests'
# checks of exact output would depend on the machine's load. Tests of those lines set it back
# (tests/cli/test_progress_lines.py).
os.environ.setdefault("GEOUIC_PROGRESS_INTERVAL", "inf")

# A shell starts a background job (`pytest ... &`, a CI step without job control) with SIGINT
# ignored, and an ignored signal stays ignored across exec: the geouic processes the signal tests
# start would then never see Ctrl-C. Restore Python's handler here so children start with the
# default disposition, as they do under a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data; skips the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


def quadrant_labels(size: int = 64) -> np.ndarray:
    """Four quadrants labelled 1..4."""
    lab = np.ones((size, size), np.uint8)
    h = size // 2
    lab[:h, h:] = 2
    lab[h:, :h] = 3
    lab[h:, h:] = 4
    return lab


def write_raster(path: Path, data: np.ndarray, *, nodata=None, crs="EPSG:32633", block: int = 16,
                 descriptions: list[str] | None = None, transform=None, **extra) -> Path:
    """Write ``data`` (bands, rows, cols) as a tiled GeoTIFF with ``block``-sized tiles."""
    if data.ndim == 2:
        data = data[None]
    count, rows, cols = data.shape
    profile = dict(driver="GTiff", width=cols, height=rows, count=count, dtype=data.dtype.name,
                   crs=CRS.from_user_input(crs) if crs else None,
                   transform=transform or from_origin(500000, 4600000, 30, 30),
                   nodata=nodata, tiled=True, blockxsize=block, blockysize=block)
    profile.update(extra)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or [], 1):
            dst.set_band_description(i, d)
    return path


def make_scene(labels: np.ndarray, *, n_bands: int = 4, dtype: str = "uint16", noise: float = 8.0,
               seed: int = 0) -> np.ndarray:
    """Band values per class label with Gaussian noise; label 0 becomes nodata fill later."""
    rng = np.random.default_rng(seed)
    k = int(labels.max())
    lo, span = (20, 200) if dtype == "uint8" else (200, 600)
    means = lo + span * rng.random((k + 1, n_bands))
    data = means[labels].transpose(2, 0, 1) + rng.normal(0, noise, (n_bands, *labels.shape))
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        data = np.clip(np.round(data), max(info.min, 1), info.max)
    return data.astype(dtype)


@pytest.fixture
def quadrants(tmp_path) -> tuple[Path, np.ndarray]:
    """A 64x64, 4-band uint16 scene of four noisy quadrants (16x16 tiles) and its labels."""
    labels = quadrant_labels(64)
    path = write_raster(tmp_path / "quadrants.tif", make_scene(labels), nodata=0,
                        descriptions=["blue", "green", "red", "nir"])
    return path, labels


@pytest.fixture
def quadrants_nodata(tmp_path) -> tuple[Path, np.ndarray]:
    """Like ``quadrants`` with a nodata collar (label 0) along the left and top edges."""
    labels = quadrant_labels(64)
    labels[:, :5] = 0
    labels[:3, :] = 0
    data = make_scene(np.where(labels == 0, 1, labels))
    data[:, labels == 0] = 0
    path = write_raster(tmp_path / "quadrants_nodata.tif", data, nodata=0)
    return path, labels
