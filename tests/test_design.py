"""Stratified sample designs: allocation, Cochran sizing, windowed drawing, GeoPackage output."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyogrio
import pytest
import rasterio

from geouic.design import allocate, cochran_sample_size, stratified_sample, write_sample
from geouic.errors import OutputError, ParameterError, RasterInputError
from tests.conftest import write_raster

PIXELS = np.array([200_000, 150_000, 3_200_000, 6_450_000])  # Olofsson et al. (2014) strata


@pytest.fixture
def strata_map(tmp_path):
    """A 96x96 map: class 1 in 4 rows (384 px), class 2 in 12 rows, class 3 the rest; a nodata collar."""
    labels = np.full((96, 96), 3, np.uint8)
    labels[:4] = 1
    labels[4:16] = 2
    labels[:, :3] = 0
    return write_raster(tmp_path / "map.tif", labels, nodata=0), labels


def test_cochran_sample_size():
    W = PIXELS / PIXELS.sum()
    expected = (np.sum(W * np.sqrt(0.8 * 0.2)) / 0.01) ** 2
    assert cochran_sample_size(W, 0.8, 0.01) == math.ceil(expected) == 1600
    # Olofsson et al. (2014) section 5.1: U = 0.7, 0.6, 0.9, 0.95 and S(O) = 0.01 give n of about 641
    assert cochran_sample_size(PIXELS, [0.7, 0.6, 0.9, 0.95], 0.01) == 641
    with pytest.raises(ParameterError, match="target_se"):
        cochran_sample_size(W, 0.8, 0)
    with pytest.raises(ParameterError, match="user's accuracies"):
        cochran_sample_size(W, 1.2, 0.01)


def test_allocations():
    prop = allocate(PIXELS, 600, "proportional")
    assert prop.sum() == 600 and prop.tolist() == [12, 9, 192, 387]
    assert allocate(PIXELS, 600, "equal").tolist() == [150, 150, 150, 150]
    olof = allocate(PIXELS, 640, "olofsson", min_per_class=75)
    assert olof.sum() == 640 and olof[:2].tolist() == [75, 75]
    stable = 490 * PIXELS[2:] / PIXELS[2:].sum()  # the remainder, proportional among the large strata
    assert np.abs(olof[2:] - stable).max() <= 1
    # caps: a stratum never gets more points than pixels; its excess goes to the others
    assert allocate([3, 1000, 1000], 300, "equal").tolist() == [3, 149, 148]


def test_allocation_warnings():
    with pytest.warns(UserWarning, match="fewer than 2 points"):
        allocate(PIXELS, 50, "proportional")
    with pytest.warns(UserWarning, match="allocating equally"):
        assert allocate(PIXELS, 100, "olofsson", min_per_class=50).tolist() == [25, 25, 25, 25]
    with pytest.raises(ParameterError, match="allocation='best'"):
        allocate(PIXELS, 100, "best")
    with pytest.raises(ParameterError, match="n=0"):
        allocate(PIXELS, 0)


@pytest.mark.parametrize("method", ["proportional", "equal", "olofsson"])
def test_stratified_sample_counts_and_validity(strata_map, method):
    path, labels = strata_map
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = stratified_sample(path, n=120, allocation=method, min_per_class=20, mem_limit_mb=0.01)
    pixels = [int((labels == c).sum()) for c in (1, 2, 3)]
    assert s.design.strata == [1, 2, 3] and s.design.pixels.tolist() == pixels
    assert s.design.allocation.tolist() == allocate(pixels, 120, method, min_per_class=20).tolist()
    assert [int((s.strata == c).sum()) for c in (1, 2, 3)] == s.design.allocation.tolist()
    assert np.all(labels[s.rows, s.cols] == s.strata)  # every point on a valid pixel of its class
    assert len({(r, c) for r, c in zip(s.rows, s.cols)}) == len(s.rows)  # no pixel twice
    with rasterio.open(path) as ds:
        x, y = ds.xy(s.rows, s.cols)  # pixel centres
    np.testing.assert_allclose(s.x, x)
    np.testing.assert_allclose(s.y, y)


def test_seed_reproducible_and_windows_bounded(strata_map):
    path, _ = strata_map
    a = stratified_sample(path, n=60, seed=3, min_per_class=10, mem_limit_mb=0.01)
    b = stratified_sample(path, n=60, seed=3, min_per_class=10, mem_limit_mb=0.01)
    c = stratified_sample(path, n=60, seed=4, min_per_class=10, mem_limit_mb=0.01)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.cols, b.cols)
    assert not (np.array_equal(a.rows, c.rows) and np.array_equal(a.cols, c.cols))


def test_sample_sized_by_target_se(strata_map):
    path, labels = strata_map
    s = stratified_sample(path, target_se=0.05, expected_ua={1: 0.6, 3: 0.9}, allocation="proportional")
    pixels = np.array([(labels == c).sum() for c in (1, 2, 3)])
    assert s.design.n == cochran_sample_size(pixels, [0.6, 0.8, 0.9], 0.05)
    assert s.design.expected_ua.tolist() == [0.6, 0.8, 0.9]
    with pytest.raises(ParameterError, match="either n"):
        stratified_sample(path)
    with pytest.raises(ParameterError, match="classes \\[7\\]"):
        stratified_sample(path, target_se=0.05, expected_ua={7: 0.5})


def test_write_sample(strata_map, tmp_path):
    path, _ = strata_map
    s = stratified_sample(path, n=30, min_per_class=5)
    out = write_sample(s, tmp_path / "points.gpkg")
    info = pyogrio.read_info(out)
    assert info["features"] == 30 and info["geometry_type"] == "Point"
    assert list(info["fields"]) == ["stratum", "ref"] and list(info["dtypes"]) == ["int32", "int32"]
    assert "32633" in info["crs"]
    frame = pyogrio.read_dataframe(out)
    assert frame["ref"].isna().all() and frame["stratum"].tolist() == s.strata.tolist()
    with pytest.raises(OutputError, match="already exists"):
        write_sample(s, out)
    assert not list(tmp_path.glob(".points.gpkg*"))


def test_empty_map(tmp_path):
    path = write_raster(tmp_path / "empty.tif", np.zeros((32, 32), np.uint8), nodata=0)
    with pytest.raises(RasterInputError, match="no classified pixel"):
        stratified_sample(path, n=10)


def test_progress_over_both_passes(strata_map):
    path, _ = strata_map
    seen = []
    a = stratified_sample(path, n=60, mem_limit_mb=0.005, progress=lambda adv, total: seen.append((adv, total)))
    b = stratified_sample(path, n=60, mem_limit_mb=0.005)
    np.testing.assert_array_equal(a.rows, b.rows)  # reporting progress changes nothing
    totals = [t for _, t in seen]
    assert sum(adv for adv, _ in seen) == totals[-1] == len(seen) and totals == sorted(totals)
    assert len(seen) > 2
