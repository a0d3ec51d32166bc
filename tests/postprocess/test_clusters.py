"""Clusters dissolved as the strip pass closes them: the same classes as the whole-map graph, less kept."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest

from geouic.postprocess import PatchTable, dissolve_small
from geouic.postprocess.clusters import ClusterSieve
from tests.postprocess.helpers import noisy_map


def _strips(height: int, rows: int) -> list[tuple[int, int]]:
    return [(r, min(height, r + rows)) for r in range(0, height, rows)]


def _whole_graph(classes, connectivity, threshold, rows, row_area=None):
    """Per-strip look-up tables from the whole-map patch graph (PatchTable.finish + dissolve_small)."""
    table = PatchTable(classes.shape[1], connectivity, small_below=threshold, row_area=row_area,
                       height=classes.shape[0])
    counts = []
    for a, b in _strips(classes.shape[0], rows):
        counts.append(int(table.add(a, classes[a:b]).max(initial=0)))
    p = table.finish()
    size = p.area if p.area is not None else p.pixels.astype(np.float64)
    new, kept = dissolve_small(p.cls, size, p.first, p.edge_u, p.edge_v, p.edge_w, threshold)
    luts = []
    for off, n in zip(table.offsets, counts):
        lut = np.zeros(n + 1, np.uint16)
        lut[1:] = new[p.key_patch[off + 1: off + n + 1]]
        luts.append(lut)
    return luts, p.n, int(np.count_nonzero(new != p.cls)), kept


def _streamed(classes, connectivity, threshold, rows, row_area=None):
    with tempfile.TemporaryFile() as f:
        table = ClusterSieve(classes.shape[1], connectivity, threshold=threshold, row_area=row_area,
                             height=classes.shape[0], lut_file=f)
        strips = _strips(classes.shape[0], rows)
        for a, b in strips:
            table.add(a, classes[a:b])
        table.close()
        luts = [table.strip_lut(i) for i in range(len(strips))]
    return luts, table


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("rows", [1, 3, 16, 96])
@pytest.mark.parametrize("seed", [0, 1])
def test_same_tables_as_the_whole_graph(connectivity, rows, seed):
    classes = noisy_map(96, seed=seed, noise=0.3)
    classes[40:44, :] = 0  # nodata rows: strips with patches that touch nothing below
    expect, n, removed, kept = _whole_graph(classes, connectivity, 7, rows)
    luts, table = _streamed(classes, connectivity, 7, rows)
    for a, b in zip(expect, luts):
        np.testing.assert_array_equal(a, b)
    assert (table.patches, table.removed, table.kept_small) == (n, removed, kept)


def test_same_tables_with_row_areas():
    classes = noisy_map(64, seed=3, noise=0.25)
    row_area = np.linspace(0.05, 0.09, 64)  # hectares per pixel, growing down the map
    expect, *_ = _whole_graph(classes, 4, 0.5, 5, row_area)
    luts, _ = _streamed(classes, 4, 0.5, 5, row_area)
    for a, b in zip(expect, luts):
        np.testing.assert_array_equal(a, b)


def test_what_is_kept_is_bounded_by_the_open_patches():
    classes = noisy_map(512, seed=0, noise=0.3)  # about 50,000 patches, nearly all small
    luts, table = _streamed(classes, 4, 20, 8)
    assert table.patches > 40_000
    assert table.peak_carried < table.patches / 10, (table.peak_carried, table.patches)


def test_a_strip_without_patches():
    classes = np.zeros((12, 8), np.uint8)
    classes[:4] = 1
    classes[1, 3] = 2
    luts, table = _streamed(classes, 4, 3, 4)
    assert [len(t) for t in luts] == [3, 1, 1]
    assert luts[0].tolist() == [0, 1, 1] and table.removed == 1
