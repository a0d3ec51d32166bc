"""Pixel areas (projected and geographic), windowed class statistics, dendrogram and merging."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.transform import from_origin

from geouic.classstats import (
    ClassStatistics, class_areas, class_linkage, class_statistics, merge_classes, merge_groups, pixel_areas_ha,
    read_legend, write_stats,
)
from geouic.errors import OutputError, ParameterError, RasterInputError
from geouic.output import Legend, ThematicWriter
from tests.conftest import quadrant_labels, write_raster

# Band means of 4 classes: 1 and 2 alike, 3 and 4 alike, the pairs far apart.
MEANS = np.array([[100, 200, 300], [110, 205, 310], [900, 100, 500], [880, 90, 520]], dtype=float)


def strip_classes() -> np.ndarray:
    """64x64 map of classes 1..4 in horizontal strips of 8, 16, 16 and 24 rows."""
    out = np.empty((64, 64), np.uint8)
    out[:8], out[8:24], out[24:40], out[40:] = 1, 2, 3, 4
    return out


@pytest.fixture
def strips(tmp_path) -> dict:
    classes = strip_classes()
    rng = np.random.default_rng(1)
    scene = MEANS[classes - 1].transpose(2, 0, 1) + rng.normal(0, 5, (3, 64, 64))
    return {"map": write_raster(tmp_path / "classes.tif", classes, nodata=0),
            "scene": write_raster(tmp_path / "scene.tif", scene.astype(np.float32), descriptions=["b", "g", "r"]),
            "classes": classes, "data": scene.astype(np.float32), "dir": tmp_path}


# ------------------------------------------------------------------------------------ areas
def test_projected_pixel_area():
    areas = pixel_areas_ha(from_origin(500000, 4600000, 30, 30), rasterio.crs.CRS.from_epsg(32633), [0, 5], 3)
    assert areas.shape == (2, 3)
    np.testing.assert_allclose(areas, 0.09)


def test_projected_area_in_feet():
    areas = pixel_areas_ha(from_origin(0, 0, 100, 100), "EPSG:2263", [0], 1)  # US survey feet
    assert areas[0, 0] == pytest.approx((100 * 1200 / 3937) ** 2 / 1e4)


def test_geographic_area_shrinks_with_cos_latitude():
    one_degree = 1.0
    equator = pixel_areas_ha(from_origin(10, 1, one_degree, one_degree), "EPSG:4326", [0], 1)[0, 0]
    north = pixel_areas_ha(from_origin(10, 61, one_degree, one_degree), "EPSG:4326", [0], 1)[0, 0]
    # ~cos(latitude); the ellipsoid's flattening makes high-latitude cells about 1 % larger than on a sphere
    assert north / equator == pytest.approx(math.cos(math.radians(60.5)) / math.cos(math.radians(0.5)), rel=0.015)
    # the exact ellipsoidal cell area, as pyproj's geodesic polygon area gives it
    import pyproj

    geod = pyproj.Geod(ellps="WGS84")
    exact, _ = geod.polygon_area_perimeter([10, 11, 11, 10], [61, 61, 60, 60])
    assert north == pytest.approx(abs(exact) / 1e4, rel=1e-4)


def test_geographic_rows_and_rotated_grid():
    t = from_origin(-1, 50, 0.01, 0.01)
    rows = pixel_areas_ha(t, "EPSG:4326", np.arange(3), 2)
    assert rows[0, 0] < rows[1, 0] < rows[2, 0]  # going south, pixels grow
    assert rows[0, 0] == rows[0, 1]
    rotated = pixel_areas_ha(t * Affine.rotation(1e-9), "EPSG:4326", np.arange(3), 2)
    np.testing.assert_allclose(rotated, rows, rtol=1e-6)


def test_no_crs_warns():
    with pytest.warns(UserWarning, match="no CRS"):
        assert pixel_areas_ha(from_origin(0, 0, 10, 10), None, [0], 1)[0, 0] == 0.01


def test_class_areas_geographic_map(tmp_path):
    classes = strip_classes()
    t = from_origin(20, 60, 0.001, 0.001)
    path = write_raster(tmp_path / "geo.tif", classes, nodata=0, crs="EPSG:4326", transform=t)
    areas = class_areas(path, mem_limit_mb=0.01)
    per_row = pixel_areas_ha(t, "EPSG:4326", np.arange(64), 1)[:, 0] * 64
    assert areas[1] == (8 * 64, pytest.approx(per_row[:8].sum()))
    assert areas[4] == (24 * 64, pytest.approx(per_row[40:].sum()))


# ------------------------------------------------------------------------------- statistics
@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_means_equal_numpy(tmp_path, dtype):
    classes = quadrant_labels(64)
    rng = np.random.default_rng(3)
    data = (rng.normal(1000, 300, (4, 64, 64)) + 200 * classes).astype(dtype)
    classes[:3] = 0  # unclassified rows
    nodata = None
    if dtype == "float32":
        data[:, 10:12, :] = np.nan  # invalid pixels: excluded from the band statistics only
    else:
        nodata = 0
        data[:, 10:12, :] = 0
    cmap = write_raster(tmp_path / "c.tif", classes, nodata=0)
    scene = write_raster(tmp_path / "s.tif", data, nodata=nodata)
    st = class_statistics(cmap, scene, mem_limit_mb=0.01)  # many windows
    valid = np.ones((64, 64), bool)
    valid[10:12] = False
    for i, c in enumerate(st.codes.tolist()):
        sel = (classes == c) & valid
        x = data[:, sel].astype(np.float64)
        np.testing.assert_allclose(st.mean[i], x.mean(axis=1), rtol=1e-10)
        np.testing.assert_allclose(st.std[i], x.std(axis=1), rtol=1e-7)
        assert st.count[i] == sel.sum() and st.pixels[i] == (classes == c).sum()
    np.testing.assert_allclose(st.area_ha, st.pixels * 0.09)
    assert st.band_names == ["band1", "band2", "band3", "band4"]


def test_pooled_band_moments(strips):
    st = class_statistics(strips["map"], strips["scene"])
    mu, sd = st.band_moments()
    flat = strips["data"].reshape(3, -1).astype(np.float64)
    np.testing.assert_allclose(mu, flat.mean(axis=1), rtol=1e-9)
    np.testing.assert_allclose(sd, flat.std(axis=1), rtol=1e-6)


def test_grids_must_match(strips, tmp_path):
    other = write_raster(tmp_path / "small.tif", np.ones((3, 32, 32), np.uint16))
    with pytest.raises(RasterInputError, match="not on the same grid"):
        class_statistics(strips["map"], other)


def test_write_stats_and_read_back(strips):
    st = class_statistics(strips["map"], strips["scene"])
    folder = strips["dir"] / "out" / "stats"
    files = write_stats(st, folder)
    assert sorted(f.name for f in files) == ["dendrogram.png", "signatures.png", "stats.csv", "stats.json"]
    assert all(f.stat().st_size > 0 for f in files)
    header = (folder / "stats.csv").read_text().splitlines()[0]
    assert header == "code,name,color,pixels,area_ha,stats_pixels,mean_b,mean_g,mean_r,std_b,std_g,std_r"
    back = ClassStatistics.from_json(folder / "stats.json")
    np.testing.assert_allclose(back.mean, st.mean, rtol=1e-6)
    assert back.codes.tolist() == [1, 2, 3, 4] and back.names[0] == "class 1"
    assert "linkage" in json.loads((folder / "stats.json").read_text())
    with pytest.raises(OutputError, match="overwrite=True"):
        write_stats(st, folder)


def test_linkage_joins_similar_classes(strips):
    st = class_statistics(strips["map"], strips["scene"])
    z = class_linkage(st)
    assert z.shape == (3, 4)
    assert merge_groups(st.codes, to=2, stats=st) == [[1, 2], [3, 4]]


# ------------------------------------------------------------------------------------- merge
def read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.colormap(1), ds.dtypes[0], ds.nodata, ds.crs


def categories(path) -> list[str]:
    return [c.text or "" for c in ET.parse(str(path) + ".aux.xml").getroot().iter("Category")]


def test_merge_listed_classes_generic_names(strips):
    out = strips["dir"] / "merged.tif"
    result = merge_classes(strips["map"], out, groups=[[1, 3]])
    data, cmap, dtype, nodata, crs = read(out)
    legend = read_legend(strips["map"], [1, 2, 3, 4])
    # groups: {1,3} (largest member 3), {2}, {4} -> renumbered by kept code: 2->1, 3->2, 4->3
    expected = np.array([0, 2, 1, 2, 3])[strips["classes"]]
    np.testing.assert_array_equal(data, expected)
    assert dtype == "uint8" and nodata == 0 and crs.to_epsg() == 32633
    assert cmap[2][:3] == legend.colors[3]  # the largest member's colour
    assert categories(out)[:4] == ["nodata", "class 2", "class 1+3", "class 4"]
    table = (strips["dir"] / "merged.merge.csv").read_text().splitlines()
    assert table[0] == "old_code,old_name,pixels,new_code,new_name"
    assert table[1] == "1,class 1,512,2,class 1+3"
    assert result.n_before == 4 and result.n_after == 3


def test_merge_named_classes_keeps_largest_name_and_code(strips, tmp_path):
    legend = Legend(names={1: "pasture", 2: "crops", 3: "forest", 4: "water"},
                    colors={1: (1, 1, 1), 2: (2, 2, 2), 3: (3, 3, 3), 4: (4, 4, 4)})
    named = tmp_path / "named.tif"
    with ThematicWriter(named, crs="EPSG:32633", transform=from_origin(500000, 4600000, 30, 30), width=64,
                        height=64, legend=legend, n_classes=4) as w:
        w.write(rasterio.windows.Window(0, 0, 64, 64), strip_classes())
    out = tmp_path / "merged.tif"
    merge_classes(named, out, groups=[[1, 2], [3, 4]], keep_codes=True)
    data, cmap, *_ = read(out)
    assert set(np.unique(data)) == {2, 4}
    assert cmap[2][:3] == (2, 2, 2) and cmap[4][:3] == (4, 4, 4)
    cats = categories(out)
    assert cats[2] == "crops" and cats[4] == "water"


def test_merge_to_with_scene_or_stats(strips):
    a, b = strips["dir"] / "a.tif", strips["dir"] / "b.tif"
    merge_classes(strips["map"], a, to=2, scene=strips["scene"])
    write_stats(class_statistics(strips["map"], strips["scene"]), strips["dir"] / "st", plots=False)
    merge_classes(strips["map"], b, to=2, stats=strips["dir"] / "st" / "stats.json")
    np.testing.assert_array_equal(read(a)[0], read(b)[0])
    np.testing.assert_array_equal(read(a)[0], np.array([0, 1, 1, 2, 2])[strips["classes"]])


@pytest.mark.parametrize("kwargs, match", [
    ({"groups": [[1, 2], [2, 3]]}, "class 2 is in two groups entries.*e.g. 1,2,3"),
    ({"groups": [[3]]}, "fewer than two classes"),
    ({"groups": [[1, 9]]}, "class 9 is not in the map"),
    ({"to": 7, "stats": None}, "to=7 is out of range"),
    ({"to": 2}, "to=2 needs class means"),
    ({}, "not neither"),
])
def test_merge_errors(strips, kwargs, match):
    out = strips["dir"] / "m.tif"
    with pytest.raises(ParameterError, match=match):
        merge_classes(strips["map"], out, **kwargs)
    assert not out.exists() and not (strips["dir"] / "m.merge.csv").exists()


def test_class_without_scene_pixels(strips, tmp_path):
    data = strips["data"].copy()
    data[:, :8] = np.nan  # class 1 has no valid scene pixel
    scene = write_raster(tmp_path / "holes.tif", data)
    st = class_statistics(strips["map"], scene)
    assert st.count[0] == 0 and np.isnan(st.mean[0]).all() and st.pixels[0] == 8 * 64
    assert class_linkage(st).shape == (2, 4)  # classes 2..4 only
    files = write_stats(st, tmp_path / "st")
    assert json.loads(files[1].read_text())["linkage_codes"] == [2, 3, 4]
    with pytest.raises(ParameterError, match="classes 1 have no valid pixel"):
        merge_groups(st.codes, to=2, stats=st)
