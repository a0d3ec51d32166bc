"""The window pass: sized, block-aligned, within the budget, ordered under threads, progress."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from geouic.errors import ParameterError
from geouic.raster import open_raster
from geouic.windows import (
    RunProgress,
    WindowPair,
    WindowPass,
    block_windows,
    per_thread,
    strip_windows,
    tile_windows,
    unit_windows,
)
from tests.conftest import write_raster


def covers_once(pairs, width, height):
    hits = np.zeros((height, width), np.int64)
    for p in pairs:
        c = p.core
        hits[c.row_off:c.row_off + c.height, c.col_off:c.col_off + c.width] += 1
    return (hits == 1).all()


@pytest.mark.parametrize("tiler", [
    lambda: block_windows(100, 70, (16, 16), mem_limit_mb=0.01, halo=3, bytes_per_pixel=16),
    lambda: unit_windows(100, 70, (16, 16), 1000),
    lambda: tile_windows(100, 70, 24),
    lambda: strip_windows(100, 70, 16, mem_limit_mb=0.01, halo=3, bytes_per_pixel=16),
])
def test_tilers_cover_the_scene_once(tiler):
    pairs = tiler()
    assert len(pairs) > 1 and covers_once(pairs, 100, 70)


def test_pass_is_sized_and_shares_the_budget_between_windows_in_flight(tmp_path):
    path = write_raster(tmp_path / "s.tif", np.ones((2, 256, 256), np.uint16), block=16)
    with open_raster(path) as src:
        one = WindowPass.over(src, mem_limit_mb=0.1, bytes_per_pixel=40)
        four = WindowPass.over(src, mem_limit_mb=0.1, bytes_per_pixel=40, workers=2)
    assert len(one) == len(list(one)) and len(four) > len(one)
    for wp, windows_in_flight in ((one, 1), (four, 4)):
        biggest = max(p.read.width * p.read.height for p in wp)
        assert windows_in_flight * biggest * 40 <= 0.1 * 1024 * 1024
        assert all(p.core.col_off % 16 == 0 and p.core.row_off % 16 == 0 for p in wp)


def test_bad_budget_names_the_value():
    with pytest.raises(ParameterError, match="mem_limit=0 MB"):
        block_windows(10, 10, (1, 10), mem_limit_mb=0, bytes_per_pixel=4)
    with pytest.raises(ParameterError, match="halo=-1"):
        block_windows(10, 10, (1, 10), mem_limit_mb=1, halo=-1, bytes_per_pixel=4)


def test_threaded_map_keeps_order_and_bounds_windows_in_flight():
    wp = WindowPass(tile_windows(64, 64, 8), workers=3)
    lock = threading.Lock()
    running, peak = [0], [0]

    def work(pair: WindowPair) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.002)
        with lock:
            running[0] -= 1
        return int(pair.core.row_off * 1000 + pair.core.col_off)

    out = list(wp.map(work))
    assert [r for _, r in out] == [int(p.core.row_off * 1000 + p.core.col_off) for p in wp]
    assert 1 < peak[0] <= 3


def test_reduce_and_progress_over_two_passes():
    wp = WindowPass(tile_windows(30, 20, 10))
    seen = []
    tracker = RunProgress(lambda advance, total: seen.append((advance, total)), 2 * len(wp))
    total = wp.reduce(lambda p: int(p.core.width * p.core.height), lambda acc, n: acc + n, 0, progress=tracker)
    wp.reduce(lambda p: 0, lambda acc, n: None, 0, progress=tracker)
    assert total == 600
    assert seen == [(1, 12)] * 12 and tracker.done == 12


def test_progress_total_grows_with_passes_when_not_given():
    seen = []
    tracker = RunProgress(lambda advance, total: seen.append(total))
    list(WindowPass(tile_windows(20, 10, 10)).map(lambda p: 0, progress=tracker))
    list(WindowPass(tile_windows(30, 10, 10)).map(lambda p: 0, progress=tracker))
    assert seen == [2, 2, 5, 5, 5]


def test_per_thread_opens_one_handle_per_thread_and_closes_them():
    opened = []

    class Handle:
        closed = False

        def close(self):
            self.closed = True

    def open_one():
        opened.append(Handle())
        return opened[-1]

    get, close_all = per_thread(open_one)
    list(WindowPass(tile_windows(64, 64, 8), workers=2).map(lambda p: id(get())))
    assert 1 <= len(opened) <= 2
    close_all()
    assert all(h.closed for h in opened)


def test_early_stop_reads_no_further():
    read = []
    wp = WindowPass(tile_windows(100, 100, 10))
    for i, _ in enumerate(wp.map(lambda p: read.append(p))):
        if i == 2:
            break
    assert len(read) == 3


def test_strips_are_full_width_block_rows_within_the_budget(tmp_path):
    pairs = strip_windows(100, 70, 16, mem_limit_mb=0.05, halo=2, bytes_per_pixel=16)
    assert [p.core.row_off for p in pairs] == [0, 16, 32, 48, 64]  # 0.05 MB: 32 rows minus 4 halo rows
    assert all(p.core.width == p.read.width == 100 and p.core.row_off % 16 == 0 for p in pairs)
    assert all(p.read.width * p.read.height * 16 <= 0.05 * 1024 * 1024 for p in pairs)
    assert pairs[1].read.row_off == 14 and pairs[1].read.height == 20 and pairs[0].read.row_off == 0
    tiny = strip_windows(100, 70, 16, mem_limit_mb=1e-6, bytes_per_pixel=16)  # below one block row
    assert [p.core.height for p in tiny] == [16, 16, 16, 16, 6]
    path = write_raster(tmp_path / "s.tif", np.ones((1, 70, 100), np.uint8), block=16)
    with open_raster(path) as src:
        wp = WindowPass.strips(src, mem_limit_mb=0.05, halo=2, bytes_per_pixel=16)
    assert len(wp) == 5 and wp.cores == [p.core for p in pairs]
    with pytest.raises(ParameterError, match="halo=-1"):
        strip_windows(10, 10, 1, mem_limit_mb=1, halo=-1, bytes_per_pixel=4)


@pytest.mark.parametrize(("block", "halo"), [((512, 512), 7), ((256, 256), 0), ((1, 700), 2), ((64, 700), 3)])
def test_blocks_larger_than_the_budget_are_cut_into_pieces_that_fit(block, halo):
    # One block and its halo cost more than the budget (a 512 x 512 block at 430 bytes a pixel: 113 MB).
    bpp, budget_mb = 430, 0.5
    pairs = block_windows(700, 600, block, mem_limit_mb=budget_mb, halo=halo, bytes_per_pixel=bpp)
    assert covers_once(pairs, 700, 600)
    assert max(p.read.width * p.read.height for p in pairs) * bpp <= budget_mb * 1024 * 1024
    bh = min(block[0], 600)
    if bh > 1:
        assert all(p.core.height <= bh for p in pairs)
    if block == (512, 512):  # cut evenly (equal pieces, no sliver at the block's edge)
        inner = [p.core for p in pairs if p.core.row_off + p.core.height <= 512 and p.core.col_off + p.core.width <= 512]
        assert all(512 % c.height == 0 and 512 % c.width == 0 for c in inner)


def test_wide_strips_become_squares_not_one_row_windows():
    # A strip-organised file (one-row blocks across the width): one-row windows would read
    # their halo rows 15 times over; squares over many strips read about 1.2 times the scene.
    pairs = block_windows(10000, 800, (1, 10000), mem_limit_mb=16, halo=7, bytes_per_pixel=430)
    read = sum(p.read.width * p.read.height for p in pairs)
    assert read < 1.3 * 10000 * 800 and covers_once(pairs, 10000, 800)
    assert max(p.read.width * p.read.height for p in pairs) * 430 <= 16 * 1024 * 1024


def test_windows_that_fit_keep_whole_blocks():
    # A short scene of 512-wide blocks: the one-block-wide window fits, so blocks are not cut.
    pairs = block_windows(2041, 70, (512, 512), mem_limit_mb=16, halo=7, bytes_per_pixel=430)
    assert all(p.core.col_off % 512 == 0 for p in pairs)


def test_pass_keeps_its_budget_when_one_block_exceeds_the_share_of_a_worker(tmp_path):
    path = write_raster(tmp_path / "s.tif", np.ones((2, 128, 128), np.uint16), block=64)
    with open_raster(path) as src:
        wp = WindowPass.over(src, mem_limit_mb=0.5, bytes_per_pixel=200, halo=5, workers=2)
    biggest = max(p.read.width * p.read.height for p in wp)
    assert 4 * biggest * 200 <= 0.5 * 1024 * 1024 and covers_once(wp.pairs, 128, 128)
