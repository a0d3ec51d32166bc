"""Augmentation: geometry is equivariant (labels stay aligned), spectral jitter respects nodata."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from geouic.uic.augment import SpectralJitter, apply_geometry, invert_geometry, random_geometry  # noqa: E402


def test_geometry_round_trip_all_eight():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5).repeat(4, 1, 1, 1)
    codes = np.arange(8)
    y = apply_geometry(x, codes)
    assert len({tuple(t.flatten().tolist()) for t in y}) == 8  # eight distinct transforms
    assert torch.equal(invert_geometry(y, codes), x)


def test_labels_follow_the_pixels():
    """A per-pixel function commutes with the transforms: labels of a view are the view of labels."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 4, 6, 6, generator=gen)
    labels = x.argmax(1)
    codes = random_geometry(8, np.random.default_rng(0))
    assert torch.equal(apply_geometry(x, codes).argmax(1), apply_geometry(labels, codes))
    assert torch.equal(invert_geometry(apply_geometry(labels, codes), codes), labels)


def test_jitter_keeps_nodata_zero_and_is_reproducible():
    x = torch.randn(3, 6, 8, 8, generator=torch.Generator().manual_seed(1))
    valid = torch.ones(3, 8, 8, dtype=torch.bool)
    valid[:, :2] = False
    x = x * valid[:, None]
    jit = SpectralJitter(blur=1.0, dropout=0.3)
    a = jit(x, valid, torch.Generator().manual_seed(5))
    b = jit(x, valid, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert torch.all(a[:, :, :2] == 0)
    assert not torch.allclose(a, x)
    # at least one channel survives dropout in every sample
    assert torch.all((a[:, :, 2:].abs().sum(dim=(2, 3)) > 0).sum(1) >= 1)


def test_blur_ignores_nodata():
    """The masked blur of a constant field next to nodata stays constant."""
    x = torch.full((1, 2, 6, 6), 3.0)
    valid = torch.ones(1, 6, 6, dtype=torch.bool)
    valid[:, :, :3] = False
    jit = SpectralJitter(gain=0, offset=0, noise=0, blur=1.0, dropout=0)
    out = jit(x * valid[:, None], valid, torch.Generator().manual_seed(0))
    assert torch.allclose(out[:, :, :, 3:], torch.full((1, 2, 6, 3), 3.0))
