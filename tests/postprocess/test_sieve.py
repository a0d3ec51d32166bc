"""Sieve: known answers, the longest-border rule, nodata, exactness across strips, legend kept."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

from geouic.errors import ParameterError
from geouic.postprocess import dissolve_small, label_patches, parse_mmu, sieve
from tests.postprocess.helpers import noisy_map, patch_sizes, read, write_map


def test_three_pixel_patch_removed_at_4px_kept_at_3px(tmp_path):
    m = np.ones((12, 12), np.uint8)
    m[5, 4:7] = 2
    src = write_map(tmp_path / "map.tif", m)
    sieve(src, tmp_path / "s4.tif", mmu="4px")
    sieve(src, tmp_path / "s3.tif", mmu="3px")
    assert (read(tmp_path / "s4.tif") == 1).all()
    np.testing.assert_array_equal(read(tmp_path / "s3.tif"), m)


def test_hectares_from_pixel_area(tmp_path):
    m = np.ones((12, 12), np.uint8)
    m[5, 4:7] = 2  # 3 pixels of 30 m = 0.27 ha
    src = write_map(tmp_path / "map.tif", m)
    sieve(src, tmp_path / "keep.tif", mmu="0.27ha")
    sieve(src, tmp_path / "drop.tif", mmu="0.28ha")
    np.testing.assert_array_equal(read(tmp_path / "keep.tif"), m)
    assert (read(tmp_path / "drop.tif") == 1).all()


def test_hectares_on_the_ellipsoid_for_geographic_maps(tmp_path):
    m = np.ones((12, 12), np.uint8)
    m[5, 4:7] = 2
    # 0.001 degree pixels at 60 N: about 111.4 m x 55.8 m = 0.62 ha each, so 3 pixels = 1.87 ha
    src = write_map(tmp_path / "geo.tif", m, crs="EPSG:4326", transform=from_origin(10.0, 60.006, 0.001, 0.001))
    sieve(src, tmp_path / "keep.tif", mmu="1.8ha")
    sieve(src, tmp_path / "drop.tif", mmu="1.95ha")
    np.testing.assert_array_equal(read(tmp_path / "keep.tif"), m)
    assert (read(tmp_path / "drop.tif") == 1).all()


def test_longest_border_not_largest_neighbour(tmp_path):
    m = np.full((10, 10), 3, np.uint8)
    m[:, :3] = 1  # class 1: 30 pixels; class 3: 70 pixels
    m[4, 1:3] = 2  # 2-pixel patch: border 5 with class 1, 1 with class 3
    src = write_map(tmp_path / "map.tif", m)
    sieve(src, tmp_path / "s.tif", mmu="3px")
    out = read(tmp_path / "s.tif")
    assert out[4, 1] == out[4, 2] == 1
    # GDAL's sieve takes the largest neighbour instead (documented difference)
    from rasterio.features import sieve as gdal_sieve

    assert gdal_sieve(m, 3, connectivity=4)[4, 1] == 3


def test_nodata_never_grows_and_is_never_filled(tmp_path):
    m = np.ones((16, 16), np.uint8)
    m[:, :4] = 0          # nodata collar
    m[8, 8] = 0           # a one-pixel nodata hole in the field
    m[3, 4] = 2           # small patch touching nodata and class 1
    m[10:12, 0:2] = 3     # small patch inside nodata only: kept
    src = write_map(tmp_path / "map.tif", m)
    r = sieve(src, tmp_path / "s.tif", mmu="10px")
    out = read(tmp_path / "s.tif")
    np.testing.assert_array_equal(out == 0, m == 0)
    assert out[3, 4] == 1
    assert (out[10:12, 0:2] == 3).all()
    assert r.patches_kept_small == 1


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("mmu", ["3px", "7px", "0.5ha"])
def test_no_patch_below_the_unit_independent_count(tmp_path, connectivity, mmu):
    m = noisy_map(64, seed=1)
    src = write_map(tmp_path / "map.tif", m)
    sieve(src, tmp_path / "s.tif", mmu=mmu, connectivity=connectivity)
    out = read(tmp_path / "s.tif")
    limit = {"3px": 3, "7px": 7, "0.5ha": 0.5 / 0.09}[mmu]
    small = [p for p in patch_sizes(out, connectivity) if p[1] < limit]
    assert small == []
    assert (out > 0).all()


@pytest.mark.parametrize("connectivity", [4, 8])
def test_same_result_in_one_strip_or_many(tmp_path, connectivity):
    m = noisy_map(96, seed=2, noise=0.35)
    m[40:50, 10:30] = 0
    src = write_map(tmp_path / "map.tif", m)
    one = sieve(src, tmp_path / "one.tif", mmu="9px", connectivity=connectivity, mem_limit_mb=100)
    many = sieve(src, tmp_path / "many.tif", mmu="9px", connectivity=connectivity, mem_limit_mb=0.0005)
    np.testing.assert_array_equal(read(tmp_path / "one.tif"), read(tmp_path / "many.tif"))
    assert one.pixels_changed == many.pixels_changed > 0


def _sequential_reference(m: np.ndarray, mmu: int, connectivity: int) -> np.ndarray:
    """Brute force: dissolve the smallest small patch (ties: first pixel), recompute, repeat."""
    m = m.copy()
    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    while True:
        labels, cls = label_patches(m, connectivity)
        sizes = np.bincount(labels.ravel())
        best = None
        for k in range(1, len(cls)):
            if sizes[k] >= mmu:
                continue
            mask = labels == k
            ring = ndimage.binary_dilation(mask, structure) & ~mask & (m > 0)
            if not ring.any():
                continue
            key = (sizes[k], int(np.flatnonzero(mask.ravel())[0]))
            if best is None or key < best[0]:
                best = (key, k)
        if best is None:
            return m
        mask = labels == best[1]
        border: dict[int, int] = {}
        rows, cols = m.shape
        offsets = [(0, 1), (1, 0), (0, -1), (-1, 0)]
        if connectivity == 8:
            offsets += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
        for r, c in zip(*np.nonzero(mask)):
            for dr, dc in offsets:
                rr, cc = r + dr, c + dc
                if 0 <= rr < rows and 0 <= cc < cols and not mask[rr, cc] and m[rr, cc] > 0:
                    border[int(m[rr, cc])] = border.get(int(m[rr, cc]), 0) + 1
        m[mask] = min(border, key=lambda code: (-border[code], code))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("connectivity", [4, 8])
def test_parallel_rounds_equal_sequential_smallest_first(tmp_path, seed, connectivity):
    m = noisy_map(24, seed=seed, noise=0.5, block=6)
    m[0:3, 0:5] = 0
    src = write_map(tmp_path / "map.tif", m)
    sieve(src, tmp_path / "s.tif", mmu="6px", connectivity=connectivity, mem_limit_mb=0.0005)
    np.testing.assert_array_equal(read(tmp_path / "s.tif"), _sequential_reference(m, 6, connectivity))


def test_legend_style_and_provenance_kept(tmp_path):
    m = noisy_map(32, seed=3)
    src = write_map(tmp_path / "map.tif", m)
    sieve(src, tmp_path / "s.tif", mmu="4px", connectivity=8)
    with rasterio.open(src) as a, rasterio.open(tmp_path / "s.tif") as b:
        assert a.colormap(1) == b.colormap(1)
        assert b.crs == a.crs and b.transform == a.transform and b.nodata == 0
        tags = b.tags()
    assert (tmp_path / "s.tif.aux.xml").read_text() == (tmp_path / "map.tif.aux.xml").read_text()
    assert (tmp_path / "s.qml").read_text() == (tmp_path / "map.qml").read_text()
    assert tags["GEOUIC_METHOD"] == "kmeans" and tags["GEOUIC_INPUT"] == "scene.tif"
    steps = json.loads(tags["GEOUIC_STEPS"])
    assert steps[-1]["step"] == "sieve"
    assert steps[-1]["parameters"]["mmu"] == "4px" and steps[-1]["parameters"]["connectivity"] == 8
    sieve(tmp_path / "s.tif", tmp_path / "s2.tif", mmu="8px")
    with rasterio.open(tmp_path / "s2.tif") as ds:
        assert [s["step"] for s in json.loads(ds.tags()["GEOUIC_STEPS"])] == ["sieve", "sieve"]


@pytest.mark.parametrize("text", ["3", "0px", "-2ha", "5 acres", "px"])
def test_bad_mmu(text):
    with pytest.raises(ParameterError, match="mmu="):
        parse_mmu(text)


def test_parse_mmu():
    assert parse_mmu("20px") == (20.0, "px")
    assert parse_mmu("0.5 ha") == (0.5, "ha")
    assert parse_mmu("12 pixels") == (12.0, "px")


@pytest.mark.parametrize("connectivity", [4, 8])
def test_batches_of_clusters_give_the_same_result(connectivity):
    from geouic.postprocess import PatchTable

    m = noisy_map(64, seed=11, noise=0.4)
    table = PatchTable(64, connectivity, small_below=8, height=64)
    for r in range(0, 64, 16):
        table.add(r, m[r:r + 16])
    p = table.finish()
    args = (p.cls, p.pixels.astype(float), p.first, p.edge_u, p.edge_v, p.edge_w, 8)
    whole, kept = dissolve_small(*args)
    tiny, kept_tiny = dissolve_small(*args, batch_edges=10)
    np.testing.assert_array_equal(whole, tiny)
    assert kept == kept_tiny


def test_dissolve_small_chain():
    # patches 0 (class 1, 1 px) - 1 (class 2, 2 px) - 2 (class 3, 10 px): 0 joins 1 (only neighbour),
    # the 3-pixel union is still small and joins 2.
    cls = np.array([1, 2, 3])
    new, kept = dissolve_small(cls, np.array([1.0, 2.0, 10.0]), np.array([0, 1, 5]), np.array([0, 1]),
                               np.array([1, 2]), np.array([1, 1]), 4.0)
    assert new.tolist() == [3, 3, 3] and kept == 0
