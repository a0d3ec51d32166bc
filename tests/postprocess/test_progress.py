"""Progress of the post-processing passes: ``progress(advance, total)``, the total known up front."""

from __future__ import annotations

import numpy as np
import pytest

from geouic.classmap import open_class_map
from geouic.postprocess import _io, majority_filter, polygonize, sieve
from tests.postprocess.helpers import noisy_map, write_map


def record():
    calls: list[tuple[int, int]] = []
    return calls, lambda advance, total: calls.append((advance, total))


@pytest.fixture
def class_map(tmp_path):
    return write_map(tmp_path / "map.tif", noisy_map(96, seed=4))


def test_sieve_reports_both_passes_over_the_same_strips(class_map, tmp_path):
    calls, progress = record()
    sieve(class_map, tmp_path / "s.tif", mmu="5px", mem_limit_mb=0.05, progress=progress)
    with open_class_map(class_map) as src:
        n = len(_io.strips(src, mem_limit_mb=0.05))
    assert n > 2
    assert calls == [(1, 2 * n)] * (2 * n)


def test_majority_reports_the_codes_pass_and_the_filter(class_map, tmp_path):
    calls, progress = record()
    majority_filter(class_map, tmp_path / "m.tif", size=5, mem_limit_mb=0.02, progress=progress)
    with open_class_map(class_map) as src:
        n = len(_io.strips(src, mem_limit_mb=0.02, halo=2, bytes_per_pixel=12))
    assert n > 2
    assert calls == [(1, 2 * n)] * (2 * n)


def test_polygonize_reports_rows_traced_then_read_back(class_map, tmp_path):
    calls, progress = record()
    polygonize(class_map, tmp_path / "p.gpkg", batch_size=20, progress=progress)
    assert {total for _, total in calls} == {2 * 96}  # the map's rows traced, then read back as rows
    assert all(advance > 0 for advance, _ in calls) and sum(a for a, _ in calls) == 2 * 96
    done = np.cumsum([a for a, _ in calls])
    assert (done < 96).sum() > 2 and (done > 96).sum() > 2  # both halves advance step by step


def test_compact_codes_are_the_int64_codes(tmp_path):
    from rasterio.windows import Window

    from geouic.classmap import read_classes
    from tests.conftest import write_raster

    m = noisy_map(32, seed=5).astype(np.int16)
    m[0, :4] = -3
    cases = (("u8", m.clip(0).astype(np.uint8), 3), ("i16", m, 2), ("u16", m.clip(0).astype(np.uint16) * 200, 600))
    for name, arr, nodata in cases:
        path = write_raster(tmp_path / f"{name}.tif", arr, nodata=nodata)
        with open_class_map(path) as src:
            w = Window(0, 0, 32, 32)
            wide, small = read_classes(src, w), read_classes(src, w, compact=True)
        assert wide.dtype == np.int64 and small.dtype == (np.uint8 if name == "u8" else np.uint16)
        np.testing.assert_array_equal(wide, small)
        assert (small >= 0).all() and not (small == nodata).any() and (small > 0).any()
