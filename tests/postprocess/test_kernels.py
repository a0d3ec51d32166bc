"""The compiled sieve loops (numba) give what their numpy forms give; strips that wait are spilled exactly."""

from __future__ import annotations

import importlib
import tempfile

import numpy as np
import pytest

from geouic.postprocess import PatchTable, dissolve_small, sieve
from geouic.postprocess._kernels import kernels
from geouic.postprocess._pending import PendingStrips
from tests.postprocess.helpers import noisy_map, read, write_map

pytest.importorskip("numba")


@pytest.fixture
def no_numba(monkeypatch):
    """Run the numpy forms (what a machine without numba runs)."""
    def use(flag: bool) -> None:
        if flag:
            monkeypatch.setenv("GEOUIC_NO_NUMBA", "1")
        else:
            monkeypatch.delenv("GEOUIC_NO_NUMBA", raising=False)
    return use


def _table(classes, connectivity, threshold, rows, row_area=None):
    table = PatchTable(classes.shape[1], connectivity, small_below=threshold, row_area=row_area,
                       height=classes.shape[0])
    for r in range(0, classes.shape[0], rows):
        table.add(r, classes[r:r + rows])
    return table.finish()


def _edges(p):
    """Border length per patch pair (order-free: the kernels file pairs by part, numpy sorts them)."""
    lo, hi = np.minimum(p.edge_u, p.edge_v).astype(np.int64), np.maximum(p.edge_u, p.edge_v).astype(np.int64)
    out: dict[tuple[int, int], int] = {}
    for a, b, w in zip(lo.tolist(), hi.tolist(), p.edge_w.tolist()):
        out[(a, b)] = out.get((a, b), 0) + w
    return out


def test_kernels_are_used_when_numba_is_there(no_numba):
    no_numba(False)
    assert kernels() is not None
    no_numba(True)
    assert kernels() is None


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("geographic", [False, True])
def test_strip_statistics_and_borders_match_numpy(no_numba, connectivity, geographic):
    classes = noisy_map(80, seed=5, noise=0.4)
    classes[30:33, 10:60] = 0
    row_area = np.linspace(0.07, 0.09, 80) if geographic else None
    threshold = 0.5 if geographic else 6
    got = {}
    for flag in (False, True):
        no_numba(flag)
        got[flag] = _table(classes, connectivity, threshold, 16, row_area)
    a, b = got[False], got[True]
    for field in ("key_patch", "cls", "pixels", "first"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    if geographic:
        np.testing.assert_array_equal(a.area, b.area)
    assert _edges(a) == _edges(b) and len(_edges(a)) > 100


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("seed", range(4))
def test_dissolution_matches_the_numpy_rounds(no_numba, connectivity, seed):
    classes = noisy_map(96, seed=seed, noise=0.45, n_classes=5)
    p = _table(classes, connectivity, 9, 96)
    args = (p.cls, p.pixels.astype(np.float64), p.first, p.edge_u, p.edge_v, p.edge_w, 9)
    no_numba(True)
    rounds, kept_rounds = dissolve_small(*args)
    no_numba(False)
    compiled, kept = dissolve_small(*args)
    np.testing.assert_array_equal(rounds, compiled)
    assert kept == kept_rounds
    assert np.count_nonzero(compiled != p.cls) > 50


def test_dissolution_on_random_graphs_matches_the_numpy_rounds(no_numba):
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(2, 60))
        cls = rng.integers(1, 5, n)
        size = rng.integers(1, 12, n).astype(np.float64)
        first = rng.permutation(n * 3)[:n].astype(np.int64)
        m = int(rng.integers(1, 3 * n))
        u, v = rng.integers(0, n, m), rng.integers(0, n, m)
        keep = (u != v) & (cls[u] != cls[v])
        u, v, w = u[keep], v[keep], rng.integers(1, 6, int(keep.sum())).astype(np.int32)
        no_numba(True)
        expect = dissolve_small(cls, size, first, u, v, w, 8.0)
        no_numba(False)
        got = dissolve_small(cls, size, first, u, v, w, 8.0)
        np.testing.assert_array_equal(expect[0], got[0])
        assert expect[1] == got[1]


@pytest.mark.parametrize("connectivity", [4, 8])
def test_sieve_same_map_with_and_without_numba(tmp_path, no_numba, connectivity):
    m = noisy_map(96, seed=8, noise=0.35)
    src = write_map(tmp_path / "map.tif", m)
    results = []
    for flag in (True, False):
        no_numba(flag)
        out = tmp_path / f"s{int(flag)}.tif"
        results.append(sieve(src, out, mmu="7px", connectivity=connectivity, mem_limit_mb=0.0005))
    np.testing.assert_array_equal(read(tmp_path / "s0.tif"), read(tmp_path / "s1.tif"))
    a, b = results
    assert (a.patches_before, a.patches_removed, a.pixels_changed, a.patches_kept_small) == \
        (b.patches_before, b.patches_removed, b.pixels_changed, b.patches_kept_small)
    assert a.pixels_changed > 0


def test_pending_strips_spill_and_read_back_in_order():
    rng = np.random.default_rng(1)
    strips = [(rng.integers(0, 9, (3 + i, 7)).astype(np.uint8), rng.integers(0, 10**6, (3 + i, 7)).astype(np.int32))
              for i in range(5)]
    with tempfile.TemporaryFile() as f:
        pending = PendingStrips(f, keep=1)
        for i, (c, lab) in enumerate(strips[:4]):
            pending.put(i, f"w{i}", c, lab)
        assert pending.spilled == 3 and len(pending) == 4
        for i in range(3):
            window, c, lab = pending.take(i)
            assert window == f"w{i}" and c.dtype == np.uint8 and lab.dtype == np.int32
            np.testing.assert_array_equal(c, strips[i][0])
            np.testing.assert_array_equal(lab, strips[i][1])
        pending.put(4, "w4", *strips[4])  # the file is reused once nothing spilled is left
        for i in (3, 4):
            _, c, lab = pending.take(i)
            np.testing.assert_array_equal(c, strips[i][0])
            np.testing.assert_array_equal(lab, strips[i][1])
        assert len(pending) == 0


def test_sieve_same_map_when_waiting_strips_are_spilled(tmp_path, monkeypatch):
    # A vertical chain of 1-pixel specks holds every strip open until the chain ends.
    m = noisy_map(96, seed=9, noise=0.2)
    m[:, 40] = np.where(np.arange(96) % 2, 1, 2)
    m[:, 39] = 3
    m[:, 41] = 4
    src = write_map(tmp_path / "map.tif", m)
    sieve(src, tmp_path / "a.tif", mmu="5px", mem_limit_mb=0.0005)
    sieve_module = importlib.import_module("geouic.postprocess.sieve")  # the package's `sieve` is the function

    made: list[PendingStrips] = []

    def spill_all(spill):
        made.append(PendingStrips(spill, keep=1))
        return made[-1]

    monkeypatch.setattr(sieve_module, "PendingStrips", spill_all)
    sieve(src, tmp_path / "b.tif", mmu="5px", mem_limit_mb=0.0005)
    assert made and made[0].spilled > 0
    np.testing.assert_array_equal(read(tmp_path / "a.tif"), read(tmp_path / "b.tif"))


def test_components_numbered_as_scipy_numbers_them(no_numba):
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    no_numba(False)
    k = kernels()
    rng = np.random.default_rng(2)
    for n, m in ((1, 0), (5, 0), (40, 30), (300, 200), (300, 900)):
        a, b = rng.integers(0, n, m), rng.integers(0, n, m)
        count, labels = k.components(n, a, b)
        expect = connected_components(sparse.coo_matrix((np.ones(m, np.int8), (a, b)), shape=(n, n)), directed=False)
        assert count == expect[0]
        np.testing.assert_array_equal(labels, expect[1])
