"""The held-out-shaped proxies of benchmarks/heldout_proxy.py: window rule and cut."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.transform import from_origin

from benchmarks.heldout_proxy import _clean, _write, choose_windows


def test_clean_unlabels_classes_under_the_share() -> None:
    lab = np.array([1] * 60 + [2] * 39 + [3] * 1)
    assert sorted(np.unique(_clean(lab, 0.02))) == [0, 1, 2]


def test_windows_hold_enough_classes_and_barely_overlap() -> None:
    lab = np.zeros((60, 60), np.int64)
    lab[:, :20], lab[:, 20:40], lab[:, 40:] = 1, 2, 3  # three vertical bands of classes
    valid = np.ones_like(lab, bool)
    # a 10 x 30 window holds three classes only where it spans columns 10..39 or 11..40 etc.
    picked = choose_windows(lab, valid, (10, 30), 3, 2, step=1)
    assert len(picked) == 2
    for r, c in picked:
        sub = lab[r:r + 10, c:c + 30]
        _, counts = np.unique(sub, return_counts=True)
        assert (counts >= 0.05 * sub.size).sum() >= 3
    (r0, c0), (r1, c1) = picked
    assert max(0, 10 - abs(r0 - r1)) * max(0, 30 - abs(c0 - c1)) <= 0.25 * 300
    assert choose_windows(lab, valid, (10, 10), 3, 2, step=1) == []  # no 10 x 10 window holds 3


def test_write_cuts_bands_window_and_georeferencing(tmp_path) -> None:
    src = tmp_path / "src.tif"
    data = np.arange(3 * 20 * 30, dtype=np.int16).reshape(3, 20, 30)
    with rasterio.open(src, "w", driver="GTiff", width=30, height=20, count=3, dtype="int16",
                       crs="EPSG:32632", transform=from_origin(1000, 2000, 10, 10), nodata=-1) as dst:
        dst.write(data)
    lab = np.ones((5, 8), np.uint8)
    _write(tmp_path / "cut", src, (1, 3), (4, 6, 5, 8), lab)
    with rasterio.open(tmp_path / "cut" / "image.tif") as ds:
        assert (ds.count, ds.height, ds.width, ds.nodata) == (2, 5, 8, -1)
        np.testing.assert_array_equal(ds.read(), data[[0, 2], 4:9, 6:14])
        assert ds.transform.c == 1000 + 6 * 10 and ds.transform.f == 2000 - 4 * 10
    with rasterio.open(tmp_path / "cut" / "reference.tif") as ds:
        assert ds.read(1).shape == (5, 8) and ds.transform == rasterio.open(tmp_path / "cut" / "image.tif").transform
