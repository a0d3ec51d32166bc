"""Majority filter: checkerboard known answers, thresholds, nodata, no seams between strips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from geouic.errors import ParameterError
from geouic.postprocess import majority_filter
from geouic.postprocess.majority import majority_array
from tests.postprocess.helpers import noisy_map, read, write_map


def checkerboard(n: int = 8) -> np.ndarray:
    return (np.indices((n, n)).sum(axis=0) % 2 + 1).astype(np.uint8)


def test_checkerboard_four_neighbours_flips_all_but_corners():
    m = checkerboard()
    out = majority_array(m, neighbors=4, threshold="majority")
    expect = 3 - m  # every pixel's 4 neighbours are the other class: 4 of 4 (3 of 3 on edges)
    for r, c in [(0, 0), (0, 7), (7, 0), (7, 7)]:
        expect[r, c] = m[r, c]  # corners: 2 votes < 3 needed
    np.testing.assert_array_equal(out, expect)
    # with "half", 2 of 4 is enough: corners flip too
    np.testing.assert_array_equal(majority_array(m, neighbors=4, threshold="half"), 3 - m)


def test_checkerboard_square_window_and_eight_neighbours_keep_it():
    m = checkerboard()
    # 3x3 window: the pixel's own class has 5 of 9 cells inside the map: no change
    np.testing.assert_array_equal(majority_array(m, size=3), m)
    # 8 neighbours: 4 against 4 is a tie that includes the own class: kept, whatever the threshold
    np.testing.assert_array_equal(majority_array(m, neighbors=8, threshold="half"), m)
    np.testing.assert_array_equal(majority_array(m, neighbors=8, threshold="majority"), m)


def test_speck_removed_and_ties_go_to_own_class_or_lowest_code():
    m = np.ones((5, 5), np.uint8)
    m[2, 2] = 4
    assert majority_array(m, size=3)[2, 2] == 1
    # a 2-2 tie between classes 3 and 2 around a class-1 pixel: the lower code wins with "half"
    t = np.array([[0, 3, 0], [2, 1, 3], [0, 2, 0]], np.uint8)
    assert majority_array(t, neighbors=4, threshold="half")[1, 1] == 2
    assert majority_array(t, neighbors=4, threshold="majority")[1, 1] == 1


def test_nodata_does_not_vote_and_stays():
    m = np.ones((6, 6), np.uint8)
    m[:, :3] = 0
    m[2, 3] = 2
    out = majority_array(m, size=3)
    np.testing.assert_array_equal(out == 0, m == 0)
    # pixel (2, 3): 5 data cells of class 1 around it, 5 of 9 needed
    assert out[2, 3] == 1
    m[2, 4] = 2  # now only 4 class-1 votes: stays
    assert majority_array(m, size=3)[2, 3] == 2


@pytest.mark.parametrize("kw", [{"size": 3}, {"size": 5}, {"neighbors": 4}, {"neighbors": 8, "threshold": "half"}])
def test_same_result_in_one_strip_or_many(tmp_path, kw):
    m = noisy_map(80, seed=4, noise=0.4)
    m[30:34, :20] = 0
    src = write_map(tmp_path / "map.tif", m)
    majority_filter(src, tmp_path / "one.tif", mem_limit_mb=100, **kw)
    r = majority_filter(src, tmp_path / "many.tif", mem_limit_mb=0.0005, **kw)
    np.testing.assert_array_equal(read(tmp_path / "one.tif"), read(tmp_path / "many.tif"))
    np.testing.assert_array_equal(read(tmp_path / "one.tif"), majority_array(m, **kw))
    assert r.pixels_changed > 0


def test_legend_and_provenance_kept(tmp_path):
    src = write_map(tmp_path / "map.tif", noisy_map(32))
    majority_filter(src, tmp_path / "m.tif", size=3, threshold="half")
    with rasterio.open(src) as a, rasterio.open(tmp_path / "m.tif") as b:
        assert a.colormap(1) == b.colormap(1)
        step = json.loads(b.tags()["GEOUIC_STEPS"])[-1]
    assert step == {**step, "step": "majority", "parameters": {"kernel": "3x3 window", "threshold": "half"}}
    assert (tmp_path / "m.qml").read_text() == (tmp_path / "map.qml").read_text()


@pytest.mark.parametrize("kw, msg", [({"size": 4}, "odd"), ({"size": 1}, "odd"), ({"neighbors": 6}, "4"),
                                     ({"size": 3, "neighbors": 4}, "not both"), ({}, "neither"),
                                     ({"size": 3, "threshold": "most"}, "majority or half")])
def test_bad_parameters(kw, msg):
    with pytest.raises(ParameterError, match=msg):
        majority_array(np.ones((4, 4), np.uint8), **kw)
