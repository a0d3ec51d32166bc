"""Patch labelling: cc3d and the scipy fallback give the same patches, and so the same sieve."""

from __future__ import annotations

import numpy as np
import pytest

from geouic.postprocess import PatchTable, label_patches, patches as patches_module, sieve
from tests.postprocess.helpers import noisy_map, read, write_map


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = np.unique(a.astype(np.int64).ravel() * (int(b.max()) + 1) + b.ravel())
    return len(pairs) == len(np.unique(a)) == len(np.unique(b)) and ((a == 0) == (b == 0)).all()


@pytest.mark.parametrize("connectivity", [4, 8])
def test_cc3d_and_scipy_fallback_agree(tmp_path, monkeypatch, connectivity):
    pytest.importorskip("cc3d")
    m = noisy_map(48, seed=9, noise=0.4)
    m[10:14, :] = 0
    fast, fast_cls = label_patches(m, connectivity)
    src = write_map(tmp_path / "map.tif", m)
    sieve(src, tmp_path / "fast.tif", mmu="5px", connectivity=connectivity, mem_limit_mb=0.0005)
    monkeypatch.setattr(patches_module, "_cc3d", lambda: None)
    slow, slow_cls = label_patches(m, connectivity)
    assert _same_partition(fast, slow)
    np.testing.assert_array_equal(fast_cls[fast], slow_cls[slow])
    sieve(src, tmp_path / "slow.tif", mmu="5px", connectivity=connectivity, mem_limit_mb=0.0005)
    np.testing.assert_array_equal(read(tmp_path / "fast.tif"), read(tmp_path / "slow.tif"))


def test_parts_join_across_seams():
    m = np.ones((8, 5), np.uint8)
    m[:, 2] = 2  # one vertical patch of class 2 crossing every seam
    table = PatchTable(5, 4, small_below=100, height=8)
    for r in range(0, 8, 2):
        table.add(r, m[r:r + 2])
    p = table.finish()
    assert p.n == 3  # left class 1, the class-2 column, right class 1
    assert sorted(p.pixels.tolist()) == [8, 16, 16]
    # the column touches each side along 8 rows (one entry per strip: summed here)
    border: dict[tuple[int, int], int] = {}
    for u, v, w in zip(p.edge_u.tolist(), p.edge_v.tolist(), p.edge_w.tolist()):
        key = (min(u, v), max(u, v))
        border[key] = border.get(key, 0) + w
    assert sorted(border.values()) == [8, 8]
    # first pixels: row-major index of the top-left pixel of each patch
    assert sorted(p.first.tolist()) == [0, 2, 3]


def test_one_column_and_one_row_maps():
    for m in (np.array([[1], [1], [2]], np.uint8), np.array([[1, 2, 2, 1]], np.uint8)):
        for conn in (4, 8):
            labels, cls = label_patches(m, conn)
            assert len(cls) - 1 == 3 if m.shape[0] == 1 else len(cls) - 1 == 2
