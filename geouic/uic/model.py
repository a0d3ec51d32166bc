"""The UIC network: a small fully-convolutional classifier with K logits per pixel.

The network sees the scene through a fixed linear first stage (band normalisation followed by
a PCA projection, both learnt from valid pixels and stored in the model), so hundreds of
hyperspectral bands cost one matrix product per pixel; then a learned 1x1 layer, a few 3x3
layers that give every pixel a small neighbourhood of spatial context, and a 1x1 classifier.

There is no batch, group or instance normalisation: a pixel's logits depend only on the
pixels within :func:`receptive_radius` of it, never on the rest of the window, so a scene
predicted in tiles (with a halo of at least that radius) is identical to one predicted whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["UICNet", "DEFAULT_ARCH", "receptive_radius", "init_weights", "build_net", "forward_tiled"]

logger = logging.getLogger(__name__)

#: Default architecture: hidden channels and the number of 3x3 layers.
DEFAULT_ARCH: dict[str, int] = {"hidden": 32, "n_spatial": 2, "kernel": 3}


def receptive_radius(arch: Mapping[str, int]) -> int:
    """Pixels of context on each side that one output pixel depends on."""
    return int(arch["n_spatial"]) * (int(arch["kernel"]) // 2)


class UICNet(nn.Module):
    """Fully-convolutional per-pixel classifier.

    Parameters
    ----------
    in_channels : int
        Channels of the input (bands after the stored projection).
    n_classes : int
        Number of classes K (output channels).
    hidden : int, default=32
        Width of the hidden layers.
    n_spatial : int, default=2
        Number of ``kernel`` x ``kernel`` convolutions (each adds ``kernel // 2`` pixels of
        context on every side).
    kernel : int, default=3
        Odd spatial kernel size.

    Notes
    -----
    Input ``(batch, in_channels, rows, cols)``, output logits ``(batch, n_classes, rows, cols)``
    of the same size (zero padding). :meth:`embed` returns the last hidden layer
    ``(batch, hidden, rows, cols)``, the feature space in which empty classes are repaired.
    """

    def __init__(self, in_channels: int, n_classes: int, *, hidden: int = 32, n_spatial: int = 2,
                 kernel: int = 3):
        super().__init__()
        if kernel % 2 != 1 or kernel < 1:
            raise ValueError(f"kernel={kernel} is invalid: must be an odd integer >= 1.")
        self.arch = {"hidden": int(hidden), "n_spatial": int(n_spatial), "kernel": int(kernel)}
        layers: list[nn.Module] = [nn.Conv2d(in_channels, hidden, 1), nn.ReLU(inplace=True)]
        for _ in range(n_spatial):
            layers += [nn.Conv2d(hidden, hidden, kernel, padding=kernel // 2), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(hidden, n_classes, 1)

    @property
    def radius(self) -> int:
        """Receptive radius in pixels (see :func:`receptive_radius`)."""
        return receptive_radius(self.arch)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden features ``(batch, hidden, rows, cols)``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, n_classes, rows, cols)``."""
        return self.head(self.body(x))


def init_weights(net: nn.Module, generator: torch.Generator) -> None:
    """Initialise every convolution from ``generator`` (reproducible without global seeding)."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_uniform_(m.weight, a=0.0, nonlinearity="relu", generator=generator)
            fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
            bound = 1.0 / max(1.0, fan_in) ** 0.5
            assert m.bias is not None  # every layer of the network has a bias
            with torch.no_grad():
                m.bias.uniform_(-bound, bound, generator=generator)


def build_net(in_channels: int, n_classes: int, arch: Mapping[str, Any]) -> UICNet:
    """A :class:`UICNet` from an architecture dictionary (as stored in model files)."""
    return UICNet(in_channels, n_classes, hidden=int(arch["hidden"]),
                  n_spatial=int(arch["n_spatial"]), kernel=int(arch["kernel"]))


def forward_tiled(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, radius: int, *,
                  tile: int = 256) -> torch.Tensor:
    """Apply a per-pixel convolutional ``fn`` to ``x`` (channels, rows, cols) tile by tile.

    Each ``tile`` x ``tile`` tile is computed with ``radius`` pixels of context on every side
    and only its core is kept, so the result equals ``fn`` on the whole array while peak
    memory is bounded by the tile (and small tiles stay in the CPU caches). Tiles are passed
    in channels-last layout, the fastest for these small convolutions on CPU.

    Returns
    -------
    Tensor of shape (out_channels, rows, cols)
    """
    rows, cols = x.shape[-2:]
    out = None
    for r0 in range(0, rows, tile):
        r1 = min(rows, r0 + tile)
        a, b = max(0, r0 - radius), min(rows, r1 + radius)
        for c0 in range(0, cols, tile):
            c1 = min(cols, c0 + tile)
            c, d = max(0, c0 - radius), min(cols, c1 + radius)
            part = x[None, :, a:b, c:d].contiguous(memory_format=torch.channels_last)
            y = fn(part)[0]
            if out is None:
                out = torch.empty((y.shape[0], rows, cols), dtype=y.dtype, device=y.device)
            out[:, r0:r1, c0:c1] = y[:, r0 - a : r0 - a + (r1 - r0), c0 - c : c0 - c + (c1 - c0)]
    assert out is not None  # the grid has at least one tile
    return out
