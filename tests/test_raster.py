"""Validity mask, band selection, windows, and the raster <-> samples conversion."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from geouic.errors import ParameterError, RasterInputError
from geouic.raster import block_windows, from_samples, open_raster, to_samples
from tests.conftest import make_scene, quadrant_labels, write_raster


def test_nodata_value_masks_pixels(quadrants_nodata):
    path, labels = quadrants_nodata
    with open_raster(path) as src:
        data, valid = src.read()
    np.testing.assert_array_equal(valid, labels > 0)
    assert data.dtype == np.float32 and data.shape == (4, 64, 64)


def test_nan_and_inf_are_invalid(tmp_path):
    data = np.ones((2, 32, 32), np.float32)
    data[0, 3, 4] = np.nan
    data[1, 5, 6] = np.inf
    with open_raster(write_raster(tmp_path / "f.tif", data)) as src:
        values, valid = src.read()
    assert not valid[3, 4] and not valid[5, 6] and valid.sum() == 32 * 32 - 2
    assert np.isfinite(values).all()


def test_one_band_nodata_invalidates_pixel(tmp_path):
    data = make_scene(quadrant_labels(32), n_bands=3)
    data[1, 0, 0] = 0
    with open_raster(write_raster(tmp_path / "a.tif", data, nodata=0)) as src:
        _, valid = src.read()
    assert not valid[0, 0] and valid.sum() == 32 * 32 - 1


def test_internal_mask(tmp_path):
    data = make_scene(quadrant_labels(32), n_bands=2)
    path = write_raster(tmp_path / "m.tif", data)
    mask = np.full((32, 32), 255, np.uint8)
    mask[:4] = 0
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(path, "r+") as ds:
            ds.write_mask(mask)
    with open_raster(path) as src:
        _, valid = src.read()
    assert not valid[:4].any() and valid[4:].all()


def test_alpha_band_is_mask_not_feature(tmp_path):
    data = make_scene(quadrant_labels(32), n_bands=4, dtype="uint8")
    data[3] = 255
    data[3, :, :10] = 0
    path = write_raster(tmp_path / "rgba.tif", data, photometric="RGB", alpha="YES")
    with rasterio.open(path) as ds:
        assert ds.colorinterp[3] == ColorInterp.alpha
    with open_raster(path) as src:
        assert src.indexes == [1, 2, 3]
        _, valid = src.read()
    assert not valid[:, :10].any() and valid[:, 10:].all()


def test_band_selection_by_index_and_name(quadrants):
    path, _ = quadrants
    with open_raster(path, bands=["nir", "2"]) as src:
        assert src.indexes == [4, 2] and src.band_names == ["nir", "green"]
    with pytest.raises(RasterInputError, match="band 5 is out of range"):
        open_raster(path, bands=[5])
    with pytest.raises(RasterInputError, match="twice"):
        open_raster(path, bands=[1, "blue"])


def test_no_crs_raster_opens(tmp_path):
    path = write_raster(tmp_path / "cube.tif", make_scene(quadrant_labels(32)), crs=None,
                        transform=rasterio.Affine.identity())
    with open_raster(path) as src:
        assert src.crs is None


@pytest.mark.parametrize("halo", [0, 3])
def test_windows_cover_scene_once(halo):
    pairs = block_windows(100, 70, (16, 16), mem_limit_mb=0.01, halo=halo, bytes_per_pixel=16)
    cover = np.zeros((70, 100), int)
    for p in pairs:
        c = p.core
        cover[c.row_off:c.row_off + c.height, c.col_off:c.col_off + c.width] += 1
        r = p.read
        assert r.row_off <= c.row_off and r.col_off <= c.col_off
        assert r.row_off + r.height <= 70 and r.col_off + r.width <= 100
        if halo and c.row_off > 0:
            assert c.row_off - r.row_off == halo
        assert c.col_off % 16 == 0 and c.row_off % 16 == 0  # block aligned
    assert (cover == 1).all() and len(pairs) > 1


def test_windows_respect_budget():
    pairs = block_windows(10000, 10000, (256, 256), mem_limit_mb=16, bytes_per_pixel=112)
    biggest = max(int(p.read.width * p.read.height) for p in pairs)
    assert biggest * 112 <= 16 * 1024 * 1024
    with pytest.raises(ParameterError):
        block_windows(10, 10, (1, 10), mem_limit_mb=0, bytes_per_pixel=4)


def test_window_crop_returns_core():
    pairs = block_windows(64, 64, (16, 16), mem_limit_mb=0.001, halo=2, bytes_per_pixel=16)
    full = np.arange(64 * 64).reshape(64, 64)
    for p in pairs:
        r, c = p.read, p.core
        block = full[r.row_off:r.row_off + r.height, r.col_off:r.col_off + r.width]
        np.testing.assert_array_equal(
            p.crop(block), full[c.row_off:c.row_off + c.height, c.col_off:c.col_off + c.width])


def test_samples_round_trip():
    rng = np.random.default_rng(0)
    data = rng.random((3, 5, 7)).astype(np.float32)
    valid = rng.random((5, 7)) > 0.3
    X = to_samples(data, valid)
    assert X.shape == (valid.sum(), 3)
    back = from_samples(X, valid)
    np.testing.assert_array_equal(back[:, valid], data[:, valid])
    assert (back[:, ~valid] == 0).all()
    np.testing.assert_array_equal(from_samples(X[:, 0], valid)[valid], data[0][valid])


def test_read_window_matches_full(quadrants):
    path, _ = quadrants
    with open_raster(path) as src:
        full, _ = src.read()
        part, _ = src.read(Window(16, 32, 16, 16))
    np.testing.assert_array_equal(part, full[:, 32:48, 16:32])
