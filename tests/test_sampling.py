"""Bounded, reproducible pixel samples and normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from geouic.errors import ParameterError, RasterInputError
from geouic.raster import open_raster
from geouic.sampling import Normalizer, sample_labelled, sample_pixels, sampling_units
from tests.conftest import write_raster


def test_sample_only_valid_and_reproducible(quadrants_nodata):
    path, labels = quadrants_nodata
    with open_raster(path) as src:
        a = sample_pixels(src, 500, seed=3)
        b = sample_pixels(src, 500, seed=3)
        c = sample_pixels(src, 500, seed=4)
    assert a.shape == (500, 4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a > 0).all()  # no nodata (0) pixel sampled


def test_sample_capped_by_valid_pixels(quadrants_nodata):
    path, labels = quadrants_nodata
    with open_raster(path) as src:
        X = sample_pixels(src, 10**6, seed=0)
    assert len(X) == (labels > 0).sum()


def test_sample_is_uniform_over_scene(tmp_path):
    # left half value 1, right half value 2: a uniform sample takes about half of each.
    data = np.ones((1, 512, 512), np.float32)
    data[:, :, 256:] = 2
    with open_raster(write_raster(tmp_path / "h.tif", data, block=32)) as src:
        assert len(sampling_units(src)) > 1
        X = sample_pixels(src, 2000, seed=1)
    share = (X[:, 0] == 2).mean()
    assert 0.4 < share < 0.6


def test_all_nodata_raises(tmp_path):
    with open_raster(write_raster(tmp_path / "z.tif", np.zeros((2, 32, 32), np.uint16), nodata=0)) as src:
        with pytest.raises(RasterInputError, match="every pixel is nodata"):
            sample_pixels(src, 10)
    with pytest.raises(ParameterError):
        sample_pixels([], 0)


def test_sample_labelled_caps_per_class(quadrants):
    path, labels = quadrants
    with open_raster(path) as src:
        X, y = sample_labelled(src, lambda w: labels[w.row_off:w.row_off + w.height, w.col_off:w.col_off + w.width],
                               max_per_class=100, seed=0)
    assert np.bincount(y).tolist() == [0, 100, 100, 100, 100]
    assert X.shape == (400, 4)


@pytest.mark.parametrize("method", ["zscore", "robust", "none"])
def test_normalizer_state_round_trip(method):
    X = np.random.default_rng(0).normal(5, 3, (1000, 3)).astype(np.float32)
    norm = Normalizer(method).fit(X)
    again = Normalizer.from_state(*norm.get_state())
    np.testing.assert_allclose(norm.transform(X), again.transform(X))
    if method == "zscore":
        np.testing.assert_allclose(norm.transform(X).mean(0), 0, atol=1e-4)
        np.testing.assert_allclose(norm.transform(X).std(0), 1, atol=1e-3)
    block = X[:12].T.reshape(3, 3, 4)
    np.testing.assert_allclose(norm.transform_block(block).reshape(3, -1).T, norm.transform(X[:12]), rtol=1e-6)


def test_normalizer_bad_method():
    with pytest.raises(ParameterError, match="normalize"):
        Normalizer("minmax").fit(np.ones((3, 2)))
