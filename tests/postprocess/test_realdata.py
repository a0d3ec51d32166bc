"""Sieve, majority and polygonize on a real land-cover map (NC Landsat 7 land classes, 28.5 m)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio

from geouic.classstats import class_areas
from geouic.postprocess import majority_filter, polygonize, sieve
from tests.conftest import shared_data
from tests.postprocess.helpers import patch_sizes

pytestmark = pytest.mark.realdata


def test_nc_landclass_sieve_and_polygonize(tmp_path):
    ref = shared_data("nc_landsat7_landclass96", "reference.tif")
    r = sieve(ref, tmp_path / "mmu.tif", mmu="0.5ha", mem_limit_mb=0.05)  # many strips
    one = sieve(ref, tmp_path / "mmu1.tif", mmu="0.5ha", mem_limit_mb=500)
    with rasterio.open(tmp_path / "mmu.tif") as a, rasterio.open(tmp_path / "mmu1.tif") as b, \
            rasterio.open(ref) as src:
        out, raw = a.read(1), src.read(1)
        np.testing.assert_array_equal(out, b.read(1))
        assert a.crs == src.crs and a.transform == src.transform
    pixel_ha = 28.5 * 28.5 / 1e4
    assert r.patches_removed > 100 and r.pixels_changed == one.pixels_changed
    np.testing.assert_array_equal(out == 0, raw == 0)
    small = [p for p in patch_sizes(out) if p[1] * pixel_ha < 0.5 and p[2]]
    assert small == []
    majority_filter(tmp_path / "mmu.tif", tmp_path / "smooth.tif", size=3)
    res = polygonize(tmp_path / "mmu.tif", tmp_path / "mmu.gpkg", batch_size=50)
    df = gpd.read_file(tmp_path / "mmu.gpkg")
    areas = class_areas(tmp_path / "mmu.tif")
    for code, (_pixels, ha) in areas.items():
        got = df.area[df.code == code].sum() / 1e4
        assert got == pytest.approx(ha, rel=1e-3)
        assert res.class_area_ha[code] == pytest.approx(ha, rel=1e-9)
    assert df.is_valid.all() and df.crs == rasterio.open(ref).crs
