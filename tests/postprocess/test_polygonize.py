"""Polygonize: one feature per patch, areas = pixels x pixel area, seams joined, topology kept."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from rasterio.transform import from_origin

from geouic.errors import OutputError, ParameterError
from geouic.postprocess import polygonize
from tests.postprocess.helpers import NAMES, noisy_map, patch_sizes, write_map


@pytest.mark.parametrize("connectivity", [4, 8])
def test_one_feature_per_patch_with_exact_areas(tmp_path, connectivity):
    m = noisy_map(64, seed=5, noise=0.3)
    m[20:30, 5:15] = 0
    src = write_map(tmp_path / "map.tif", m)
    r = polygonize(src, tmp_path / "p.gpkg", connectivity=connectivity, batch_size=7)
    df = gpd.read_file(tmp_path / "p.gpkg")
    patches = patch_sizes(m, connectivity)
    assert len(df) == len(patches) == r.features
    assert sorted(zip(df.code, df.pixels)) == sorted((c, n) for c, n, _ in patches)
    assert df.is_valid.all()
    np.testing.assert_allclose(df.area, df.pixels * 900.0)            # geometry: pixels x 30 m x 30 m
    np.testing.assert_allclose(df.area_ha, df.pixels * 0.09)
    for code, total in df.groupby("code").area_ha.sum().items():
        assert total == pytest.approx(np.count_nonzero(m == code) * 0.09, rel=1e-9)
        assert r.class_area_ha[code] == pytest.approx(total)
    assert set(df.name) <= set(NAMES.values())
    assert df.crs.to_epsg() == 32633
    assert df.geometry.union_all().area == pytest.approx(np.count_nonzero(m) * 900.0)


def test_batches_do_not_change_the_features(tmp_path):
    m = noisy_map(64, seed=6, noise=0.1, block=32)
    src = write_map(tmp_path / "map.tif", m)
    polygonize(src, tmp_path / "one.gpkg")
    polygonize(src, tmp_path / "many.gpkg", batch_size=3)
    a = gpd.read_file(tmp_path / "one.gpkg").sort_values(["code", "pixels", "area_ha"]).reset_index(drop=True)
    b = gpd.read_file(tmp_path / "many.gpkg").sort_values(["code", "pixels", "area_ha"]).reset_index(drop=True)
    assert len(a) == len(b)
    big = a.pixels.idxmax()
    assert a.pixels[big] > 16 * 64  # a big patch (it crossed strips in an earlier design)
    matched = sum(any(shapely.equals(ga, gb) for gb in b.geometry[b.pixels == pa])
                  for ga, pa in zip(a.geometry, a.pixels))
    assert matched == len(a)


def test_dissolve_one_feature_per_class(tmp_path):
    m = noisy_map(48, seed=7)
    src = write_map(tmp_path / "map.tif", m)
    polygonize(src, tmp_path / "d.gpkg", dissolve=True, batch_size=5)
    df = gpd.read_file(tmp_path / "d.gpkg")
    assert sorted(df.code) == sorted(np.unique(m).tolist())
    for _, row in df.iterrows():
        assert row.pixels == np.count_nonzero(m == row.code)
        assert row.geometry.area == pytest.approx(row.pixels * 900.0)
        assert row.patches == sum(1 for c, _, _ in patch_sizes(m) if c == row.code)
    assert df.is_valid.all() and (df.geom_type == "MultiPolygon").all()


@pytest.mark.parametrize("dissolve", [False, True])
def test_simplify_keeps_a_valid_coverage(tmp_path, dissolve):
    m = noisy_map(64, seed=8, noise=0.05, block=16)
    src = write_map(tmp_path / "map.tif", m)
    polygonize(src, tmp_path / "raw.gpkg")
    polygonize(src, tmp_path / "s.gpkg", simplify=45.0, dissolve=dissolve, batch_size=5)
    raw = gpd.read_file(tmp_path / "raw.gpkg")
    simple = gpd.read_file(tmp_path / "s.gpkg")
    assert simple.is_valid.all()
    assert shapely.get_num_coordinates(simple.geometry.values).sum() < shapely.get_num_coordinates(
        raw.geometry.values).sum()
    # no gaps, no overlaps: areas add up to the union, which is the map's data area
    total = np.count_nonzero(m) * 900.0
    assert simple.area.sum() == pytest.approx(total, rel=1e-9)
    assert simple.geometry.union_all().area == pytest.approx(total, rel=1e-9)
    # attributes are the raster's
    assert simple.area_ha.sum() == pytest.approx(raw.area_ha.sum())


def test_geographic_area_on_the_ellipsoid(tmp_path):
    m = np.ones((10, 10), np.uint8)
    m[:, 5:] = 2
    src = write_map(tmp_path / "geo.tif", m, crs="EPSG:4326", transform=from_origin(10.0, 60.01, 0.001, 0.001))
    polygonize(src, tmp_path / "p.gpkg")
    df = gpd.read_file(tmp_path / "p.gpkg").sort_values("code")
    utm = df.to_crs("EPSG:32632").area / 1e4
    np.testing.assert_allclose(df.area_ha, utm, rtol=2e-3)  # UTM scale error near its centre is < 0.1 %
    assert df.crs.to_epsg() == 4326


def test_provenance_in_layer_metadata_and_other_formats(tmp_path):
    src = write_map(tmp_path / "map.tif", noisy_map(32))
    polygonize(src, tmp_path / "p.gpkg", dissolve=True)
    meta = pyogrio.read_info(tmp_path / "p.gpkg")["layer_metadata"]
    assert json.loads(meta["GEOUIC_STEPS"])[-1]["parameters"]["dissolve"] is True
    assert meta["GEOUIC_METHOD"] == "kmeans"
    for ext in (".shp", ".geojson", ".fgb"):
        polygonize(src, tmp_path / f"p{ext}")
        assert len(gpd.read_file(tmp_path / f"p{ext}")) > 0
    assert not list(tmp_path.glob(".*tmp*"))


def test_bad_input(tmp_path):
    src = write_map(tmp_path / "map.tif", noisy_map(16))
    with pytest.raises(OutputError, match="unknown vector format"):
        polygonize(src, tmp_path / "p.xyz")
    with pytest.raises(ParameterError, match="simplify="):
        polygonize(src, tmp_path / "p.gpkg", simplify=-1)
    (tmp_path / "p.gpkg").write_text("x")
    with pytest.raises(OutputError, match="already exists"):
        polygonize(src, tmp_path / "p.gpkg")
    assert not list(tmp_path.glob(".*tmp*"))


def test_foreign_map_with_nonzero_nodata(tmp_path):
    from geouic.postprocess import sieve
    from tests.conftest import write_raster

    m = noisy_map(32, seed=12, noise=0.05)
    m[:4, :] = 255
    src = write_raster(tmp_path / "foreign.tif", m, nodata=255)  # no palette, no names
    polygonize(src, tmp_path / "p.gpkg")
    df = gpd.read_file(tmp_path / "p.gpkg")
    assert 255 not in set(df.code) and df.pixels.sum() == np.count_nonzero(m != 255)
    assert set(df.name) == {f"class {c}" for c in np.unique(m[m != 255])}
    sieve(src, tmp_path / "s.tif", mmu="3px")
    import rasterio

    with rasterio.open(tmp_path / "s.tif") as ds:
        out = ds.read(1)
        assert ds.nodata == 0 and len(ds.colormap(1)) > 0
    np.testing.assert_array_equal(out == 0, m == 255)


def test_uint16_map_with_codes_above_255(tmp_path):
    m = noisy_map(32, seed=8, noise=0.1).astype(np.uint16) * 300  # codes 300..1200: a uint16 map
    m[:4, :8] = 0
    src = write_map(tmp_path / "m16.tif", m)
    r = polygonize(src, tmp_path / "p.gpkg")
    df = gpd.read_file(tmp_path / "p.gpkg")
    assert sorted(zip(df.code, df.pixels)) == sorted((c, n) for c, n, _ in patch_sizes(m)) and r.features == len(df)


def test_features_stream_in_batches_and_the_traced_file_goes(tmp_path, monkeypatch):
    import sys

    module = sys.modules["geouic.postprocess.polygonize"]  # the package attribute is the function
    src = write_map(tmp_path / "map.tif", noisy_map(64, seed=2))
    sizes = []
    original = module._Sink._write
    monkeypatch.setattr(module._Sink, "_write", lambda self, g, c: (sizes.append(len(g)), original(self, g, c)))
    result = polygonize(src, tmp_path / "p.gpkg", batch_size=25)
    assert result.features > 100 and max(sizes) <= 25 and sum(sizes) == result.features
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.qml", "map.tif", "map.tif.aux.xml", "p.gpkg"]


def test_interrupt_while_tracing_leaves_nothing(tmp_path):
    src = write_map(tmp_path / "map.tif", noisy_map(64, seed=2))

    def stop(advance, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        polygonize(src, tmp_path / "p.gpkg", progress=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.qml", "map.tif", "map.tif.aux.xml"]


def test_batches_also_end_at_a_byte_budget(tmp_path, monkeypatch):
    import sys

    module = sys.modules["geouic.postprocess.polygonize"]
    monkeypatch.setattr("geouic.postprocess._trace.BATCH_BYTES", 2000)  # a few ragged polygons per batch
    src = write_map(tmp_path / "map.tif", noisy_map(64, seed=2))
    sizes = []
    original = module._Sink._write
    monkeypatch.setattr(module._Sink, "_write", lambda self, g, c: (sizes.append(len(g)), original(self, g, c)))
    result = polygonize(src, tmp_path / "p.gpkg", batch_size=10**6)
    assert len(sizes) > 3 and sum(sizes) == result.features


def test_ctrl_c_while_gdal_traces_stops_it_and_leaves_nothing(tmp_path):
    """A signal arriving while GDAL runs is raised once GDAL has stopped (not lost in its callback)."""
    import os
    import signal

    import threading

    src = write_map(tmp_path / "map.tif", noisy_map(512, seed=2))
    sent = []

    def progress(advance, total):
        if not sent:  # Ctrl-C a moment later, while the main thread is back in GDAL's C code
            sent.append(threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)))
            sent[0].start()

    with pytest.raises(KeyboardInterrupt):
        polygonize(src, tmp_path / "p.gpkg", progress=progress)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.qml", "map.tif", "map.tif.aux.xml"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
