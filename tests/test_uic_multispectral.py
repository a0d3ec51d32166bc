"""The seventh round's label-free diagnostics (benchmarks/uic_multispectral.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from benchmarks.uic_multispectral import _from_partition, mean3_features, noise_variance


def _pool(x: np.ndarray, valid: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(regions=[SimpleNamespace(x=x, valid=valid)], geometry=None)


def test_noise_variance_is_half_the_neighbour_difference_variance() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 2.0, size=(3, 60, 60)).astype(np.float32)  # white noise, variance 4
    valid = np.ones((60, 60), bool)
    assert abs(noise_variance(_pool(x, valid)) - 4.0) < 0.2
    # a smooth ramp adds almost nothing: the estimate follows the noise, not the signal
    ramp = x + np.linspace(0, 50, 60, dtype=np.float32)[None, None, :]
    assert abs(noise_variance(_pool(ramp, valid)) - 4.0) < 0.3


def test_mean3_ignores_invalid_neighbours() -> None:
    x = np.zeros((1, 3, 3), np.float32)
    x[0, :, 2] = 100.0  # nodata column with garbage values
    valid = np.ones((3, 3), bool)
    valid[:, 2] = False
    x[0, 1, 0] = 6.0
    feats = mean3_features(_pool(x, valid))
    assert feats.shape == (6, 1)
    assert np.isclose(feats[3, 0], 6.0 / 6)  # pixel (1, 1): six valid neighbours incl. itself, sum 6


def test_partition_start_recovers_two_blobs() -> None:
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(0, 1, (300, 2)), rng.normal(8, 1, (300, 2))])
    lab = np.repeat([0, 1], 300)
    g = _from_partition(X, lab, 2)
    assert (g.predict(X) == lab).mean() > 0.99
    assert sorted(np.round(g.weights_, 1)) == [0.5, 0.5]
