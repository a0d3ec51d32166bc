"""The sixth round's first-stage tools (benchmarks/uic_features.py): MNF, its noise estimate, windows."""

from __future__ import annotations

import numpy as np

from benchmarks.uic_features import _masked_window, mnf, noise_covariance
from geouic.uic.data import _masked_median3


def _scene(rng: np.random.Generator, rows: int = 60, cols: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4 bands: a smooth signal along ``u`` (small variance), iid noise along ``w`` (large variance)."""
    r, c = np.mgrid[:rows, :cols]
    signal = np.sin(r / 9.0) + np.cos(c / 7.0)  # spatially smooth, variance about 1
    u = np.array([1.0, 1.0, 0.0, 0.0]) / np.sqrt(2)
    w = np.array([0.0, 0.0, 1.0, -1.0]) / np.sqrt(2)
    z = (signal[None] * u[:, None, None] + 3.0 * rng.normal(size=(rows, cols))[None] * w[:, None, None]
         + 0.05 * rng.normal(size=(4, rows, cols)))
    return z, u, w


def test_mnf_ranks_the_smooth_signal_first_where_pca_ranks_the_noise_first() -> None:
    z, u, w = _scene(np.random.default_rng(0))
    valid = np.ones(z.shape[1:], bool)
    zs = z[:, valid].T
    evals, vecs = np.linalg.eigh(np.cov(zs, rowvar=False))
    assert abs(vecs[:, -1] @ w) > 0.99  # PCA's first component is the noise
    _, v, ev = mnf(zs, z, valid)
    first = v[:, 0] / np.linalg.norm(v[:, 0])
    assert abs(first @ u) > 0.99  # MNF's first component is the signal
    assert ev[0] > 10 * ev[1]
    noise = noise_covariance(z, valid)
    assert np.allclose(v.T @ noise @ v, np.eye(4), atol=1e-6)


def test_noise_covariance_of_white_noise_and_the_edge_trim() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(2, 80, 80))
    valid = np.ones((80, 80), bool)
    assert np.allclose(noise_covariance(noise, valid), np.eye(2), atol=0.05)
    step = noise.copy()
    step[0, :, 40:] += 20.0  # a field edge: 80 horizontal pairs with a difference of 20
    raw = noise_covariance(step, valid)
    trimmed = noise_covariance(step, valid, trim=0.9)
    assert raw[0, 0] / raw[1, 1] > 2.0  # the edge inflates the noise estimate of band 0
    assert trimmed[0, 0] / trimmed[1, 1] < 1.25  # the pairs across it are left out


def test_masked_window_median_3_equals_the_engines_median() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 17, 23)).astype(np.float32)
    valid = rng.random((17, 23)) > 0.2
    x[:, ~valid] = 0.0
    assert np.array_equal(_masked_window(x, valid, 3, "med"), _masked_median3(x, valid))
    mean = _masked_window(x.astype(np.float64), valid, 3, "mean")
    i, j = 5, 7
    win = valid[i - 1 : i + 2, j - 1 : j + 2]
    if valid[i, j]:
        assert np.isclose(mean[0, i, j], x[0, i - 1 : i + 2, j - 1 : j + 2][win].mean())
    assert np.all(mean[:, ~valid] == 0.0)
