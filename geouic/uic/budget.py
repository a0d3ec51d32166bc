"""The UIC fit's memory budget: how many pool pixels it holds and how large its work chunks are.

``geouic classify --mem-limit`` (``mem_limit_mb`` in the library) bounds the fit as well as the
prediction windows. The budget holds, first, what lives as long as the fit: the pool (projected
channels and validity, :class:`geouic.uic.data.PatchPool`) and the label maps of the pool (the
starting labels and, per member trained at once, its targets, their scatter onto the regions
and its own labels), stored as int16 (int32 beyond 32767 classes): at most the budget less one
smallest work strip (:data:`MIN_CHUNK_PIXELS`). What the pool leaves bounds the *work strips*:
the 3x3 median, the mixture's posterior and the Potts field are computed strip by strip of each
pool region (with a halo, so the labels do not depend on the strips; see
:func:`geouic.uic.labels.initial_labels`); the smoothed features of the whole pool are never
held (the mixture's sample takes the median of its own pixels' neighbourhoods), nor the pool's
K logits per pixel (the members' labels of the pool are argmaxes taken tile by tile).

What is *not* in the budget, a fixed floor whatever the limit: the Python process with numpy,
scikit-learn, rasterio and torch imported (about 420 MB resident on Linux), torch's first
training step (its kernels and allocator, about 120 MB, and about 20 MB more per member thread),
the network's 256 x 256 forward tiles (a few MB per member), and the pixel sample of the first
stage (``sample_size`` pixels x bands, float32). See ``benchmarks/RESULTS.md``, "UIC training
memory under --mem-limit".

The pool is shrunk only when the budget cannot hold ``pool_pixels`` (a warning says so); at the
default 64 MB it holds the default 1-Mpx pool up to 11 channels (two members, K up to 12), and
with 16 channels (the most the default PCA gives) the whole of scenes up to about 0.8 Mpx, so the
default maps of those scenes do not change.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from geouic.errors import ParameterError

__all__ = ["FitBudget", "MIN_CHUNK_PIXELS", "label_dtype", "plan_fit", "pool_bytes_per_pixel", "strip_bytes_per_pixel"]

logger = logging.getLogger(__name__)

#: Label maps per member trained at once: its targets, their scatter onto the regions, its labels.
MEMBER_LABEL_MAPS = 3
#: Bytes of work per pixel and channel of a strip (median, smoothed, scaled and float64 features).
STRIP_BYTES_PER_CHANNEL = 16
#: Bytes of work per pixel and class of a strip (posterior in float64, log-probabilities and field).
STRIP_BYTES_PER_CLASS = 88
#: Budget of the work chunks when the fit is given no limit (the CLI's default ``--mem-limit``).
DEFAULT_FIT_MB = 64.0
#: Fewest pixels of a work chunk, whatever the budget (keeps strips from becoming single rows).
MIN_CHUNK_PIXELS = 2048


def label_dtype(k: int) -> np.dtype:
    """The compact signed dtype of label maps of ``k`` classes (-1 = no label)."""
    return np.dtype(np.int16 if k < 2**15 else np.int32)


@dataclass(frozen=True)
class FitBudget:
    """What a UIC fit may hold.

    Attributes
    ----------
    mem_limit_mb : float or None
        The budget (``None``: no limit on the pool; chunks sized as for the default 64 MB).
    pool_pixels : int
        Pixels of the pool: ``asked_pixels``, or fewer when the budget cannot hold them.
    asked_pixels : int
        ``pool_pixels`` of the configuration, or the scenes' pixels when they hold fewer.
    channels, k : int
        Channels of the first stage and classes.
    pool_bytes_per_pixel : int
        What one pool pixel holds throughout the fit (see :func:`pool_bytes_per_pixel`).
    pool_budget_bytes : float
        The part of the budget for the pool (``inf`` without a limit).
    """

    mem_limit_mb: float | None
    pool_pixels: int
    asked_pixels: int
    channels: int
    k: int
    pool_bytes_per_pixel: int
    pool_budget_bytes: float

    @property
    def shrunk(self) -> bool:
        """Whether the pool is smaller than asked for (``asked_pixels`` is at most the scenes' size)."""
        return self.pool_pixels < self.asked_pixels

    def chunk_pixels(self, pool_pixels: int) -> int:
        """Most pixels of a strip of the starting labels' work (median, posterior, field).

        What the pool of ``pool_pixels`` leaves of the budget, at least :data:`MIN_CHUNK_PIXELS`.
        """
        budget = float(DEFAULT_FIT_MB if self.mem_limit_mb is None else self.mem_limit_mb) * 2**20
        free = budget - pool_pixels * self.pool_bytes_per_pixel
        return int(max(MIN_CHUNK_PIXELS, free // strip_bytes_per_pixel(self.channels, self.k)))


def pool_bytes_per_pixel(channels: int, k: int, members_at_once: int) -> int:
    """Bytes one pool pixel holds throughout the fit: channels, validity and label maps."""
    label = label_dtype(k).itemsize
    return 4 * channels + 1 + label * (1 + MEMBER_LABEL_MAPS * members_at_once)


def strip_bytes_per_pixel(channels: int, k: int) -> int:
    """Bytes of work per pixel of a strip of the starting labels (see the module docstring)."""
    return STRIP_BYTES_PER_CHANNEL * channels + STRIP_BYTES_PER_CLASS * k


def plan_fit(mem_limit_mb: float | None, *, channels: int, k: int, pool_pixels: int,
             members_at_once: int, scene_pixels: int | None = None) -> FitBudget:
    """Size the pool and the work chunks of a UIC fit from a memory budget.

    Parameters
    ----------
    mem_limit_mb : float or None
        Budget in MB; ``None`` keeps ``pool_pixels`` and sizes chunks from :data:`DEFAULT_FIT_MB`.
    channels : int
        Channels of the first stage (network input).
    k : int
        Number of classes.
    pool_pixels : int
        Pool size asked for.
    members_at_once : int
        Members trained side by side (each holds its own label maps).
    scene_pixels : int, optional
        Pixels of the training scenes: a pool asked for beyond them is their size.

    Returns
    -------
    FitBudget

    Raises
    ------
    ParameterError
        ``mem_limit_mb`` is not a positive number.
    """
    if mem_limit_mb is not None and not (isinstance(mem_limit_mb, (int, float)) and mem_limit_mb > 0):
        raise ParameterError(f"mem_limit_mb={mem_limit_mb!r} is invalid: must be a number of MB > 0 "
                             "(e.g. --mem-limit 64).", params=("mem_limit_mb",))
    budget = float(DEFAULT_FIT_MB if mem_limit_mb is None else mem_limit_mb) * 2**20
    per_pool = pool_bytes_per_pixel(channels, k, members_at_once)
    if scene_pixels is not None:
        pool_pixels = min(int(pool_pixels), int(scene_pixels))
    smallest_strip = MIN_CHUNK_PIXELS * strip_bytes_per_pixel(channels, k)
    pool_budget = max(0.0, budget - smallest_strip) if mem_limit_mb is not None else float("inf")
    pixels = int(pool_pixels) if mem_limit_mb is None else int(min(pool_pixels, max(1024, pool_budget // per_pool)))
    plan = FitBudget(mem_limit_mb, pixels, int(pool_pixels), int(channels), int(k), per_pool, pool_budget)
    if plan.shrunk:
        logger.warning("the training pool is %d pixels instead of %d: %d channels and %d classes take %d bytes "
                       "per pool pixel and %.1f MB of the --mem-limit of %g MB hold the pool; raise --mem-limit "
                       "to %d MB to keep the whole pool", pixels, pool_pixels, channels, k, per_pool,
                       pool_budget / 2**20, mem_limit_mb,
                       int(np.ceil((pool_pixels * per_pool + smallest_strip) / 2**20)))
    return plan
