"""The shape shrinkage of benchmarks/uic_shrink.py keeps each component's volume."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.uic_shrink import shape_shrunk


def _covs(rng: np.random.Generator, k: int = 3, d: int = 4) -> np.ndarray:
    a = rng.normal(size=(k, d, d))
    return np.einsum("kij,klj->kil", a, a) + 0.1 * np.eye(d) * np.arange(1, k + 1)[:, None, None]


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_volumes_are_kept(lam: float) -> None:
    covs = _covs(np.random.default_rng(0))
    out = shape_shrunk(covs, np.array([0.5, 0.3, 0.2]), lam)
    np.testing.assert_allclose(np.linalg.slogdet(out)[1], np.linalg.slogdet(covs)[1], atol=1e-9)
    assert np.allclose(out, np.swapaxes(out, 1, 2))


def test_zero_is_identity_and_one_is_the_pooled_shape() -> None:
    covs = _covs(np.random.default_rng(1))
    w = np.array([0.2, 0.2, 0.6])
    np.testing.assert_allclose(shape_shrunk(covs, w, 0.0), covs, rtol=1e-10)
    one = shape_shrunk(covs, w, 1.0)
    pooled = np.einsum("k,kij->ij", w, covs)
    for c in one:  # every component is the pooled covariance up to a scale
        ratio = c / pooled
        np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-8)
    assert not np.allclose(one[0], one[2])  # ... but not the same scale: volumes differ
