"""Augmentation of multi-band patches for UIC training.

Geometric transforms (the 8 flips and 90-degree rotations of a square, and crops) are applied
*equivariantly*: :func:`apply_geometry` transforms a patch and its label map alike, and
:func:`invert_geometry` brings labels computed on a transformed view back, so the pseudo-labels
of one view stay aligned with the pixels of the other. Spectral transforms (per-channel gain and
offset jitter, Gaussian noise, a light masked blur, channel dropout) are drawn independently for
each view. There are no colour transforms that assume RGB (hue, saturation, grey-scale).

Every random draw comes from an explicit ``numpy.random.Generator`` or ``torch.Generator``,
so a seed reproduces the augmentations exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["SpectralJitter", "apply_geometry", "invert_geometry", "random_geometry"]


def random_geometry(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random dihedral transforms, as codes 0..7 (``code % 4`` quarter turns, flip if >= 4)."""
    return rng.integers(0, 8, size=n)


def _one(t: torch.Tensor, code: int, inverse: bool) -> torch.Tensor:
    """Transform one (..., rows, cols) tensor; the flip is applied before the rotation."""
    k, flip = int(code) % 4, int(code) >= 4
    if not inverse:
        if flip:
            t = torch.flip(t, dims=(-1,))
        return torch.rot90(t, k, dims=(-2, -1)) if k else t
    if k:
        t = torch.rot90(t, -k, dims=(-2, -1))
    return torch.flip(t, dims=(-1,)) if flip else t


def apply_geometry(t: torch.Tensor, codes: np.ndarray) -> torch.Tensor:
    """Apply transform ``codes[i]`` to sample ``i`` of ``t`` (batch, ..., rows, cols); square patches."""
    return torch.stack([_one(t[i], c, False) for i, c in enumerate(codes)])


def invert_geometry(t: torch.Tensor, codes: np.ndarray) -> torch.Tensor:
    """Undo :func:`apply_geometry` with the same codes."""
    return torch.stack([_one(t[i], c, True) for i, c in enumerate(codes)])


@dataclass
class SpectralJitter:
    """Random per-view spectral changes of normalised patches.

    Parameters
    ----------
    gain : float, default=0.05
        Standard deviation of the per-channel multiplicative gain around 1.
    offset : float, default=0.05
        Standard deviation of the per-channel additive offset (normalised units).
    noise : float, default=0.03
        Standard deviation of per-pixel Gaussian noise.
    blur : float, default=0.25
        Probability that a patch is blurred by a light 3x3 kernel (over valid pixels only).
    dropout : float, default=0.02
        Probability that each channel is set to 0 (the channel mean); one channel is always kept.
    """

    gain: float = 0.05
    offset: float = 0.05
    noise: float = 0.03
    blur: float = 0.25
    dropout: float = 0.02

    def __call__(self, x: torch.Tensor, valid: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Augment ``x`` (batch, channels, rows, cols); invalid pixels stay 0.

        Random numbers are drawn on the CPU from ``gen`` and moved to ``x``'s device, so the
        result does not depend on the device.
        """
        b, c = x.shape[:2]
        dev = x.device
        m = valid[:, None].to(x.dtype)
        g = 1.0 + self.gain * torch.randn(b, c, 1, 1, generator=gen)
        o = self.offset * torch.randn(b, c, 1, 1, generator=gen)
        keep = (torch.rand(b, c, 1, 1, generator=gen) >= self.dropout).float()
        keep[keep.sum(dim=1).squeeze(-1).squeeze(-1) == 0, 0] = 1.0
        blur = torch.rand(b, generator=gen) < self.blur
        noise = self.noise * torch.randn(x.shape, generator=gen)
        x = x * g.to(dev) + o.to(dev) + noise.to(dev)
        if bool(blur.any()):
            x = torch.where(blur.to(dev)[:, None, None, None], _masked_blur(x, m), x)
        return x * keep.to(dev) * m


def _masked_blur(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """A light 3x3 blur (centre weight 1/2) averaging valid pixels only."""
    k1 = torch.tensor([0.25, 0.5, 0.25], dtype=x.dtype, device=x.device)
    k = (k1[:, None] * k1[None, :])[None, None]
    c = x.shape[1]
    num = F.conv2d(x * m, k.expand(c, 1, 3, 3), padding=1, groups=c)
    den = F.conv2d(m, k, padding=1)
    return num / den.clamp_min(1e-6)
