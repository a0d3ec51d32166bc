"""What the UIC engine learns from: a stored first stage and a bounded pool of scene regions.

:class:`Projection` is the fixed linear first stage of the network: per-band normalisation
(:class:`geouic.sampling.Normalizer`) followed, when a scene has more bands than
``n_components``, by a PCA projection, both fitted on valid pixels and stored in the model.
Hundreds of hyperspectral bands then cost one small matrix product per pixel.

:class:`PatchPool` holds block-aligned regions of the training scene(s), already projected,
with their validity masks: at most ``pool_pixels`` pixels in all, drawn at random from every
scene in proportion to its size, so memory does not grow with the scene. Training patches are
cut from the pool around random valid pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from geouic.errors import ParameterError, RasterInputError
from geouic.raster import RasterSource
from geouic.sampling import Normalizer, unit_pass

__all__ = ["Projection", "PatchPool", "Region", "SmoothedFeatures"]

logger = logging.getLogger(__name__)


class Projection:
    """Normalisation then (for many bands) PCA: raw band values -> network input channels.

    Parameters
    ----------
    normalize : {"zscore", "robust", "none"}, default="zscore"
    n_components : int, default=16
        PCA is applied when the scene has more bands than this; fewer bands are only
        normalised.
    whiten : bool, default=True
        Scale every principal component to unit variance (the network then learns the small
        components as fast as the first); otherwise one common scale.

    Attributes
    ----------
    normalizer_ : Normalizer
    mean_ : ndarray of shape (bands,)
        Mean of the normalised sample (subtracted before projecting).
    components_ : ndarray of shape (channels, bands)
        Projection rows (the identity when no PCA is applied), divided by ``scale_``.
    explained_ : float
        Fraction of the normalised variance the channels keep.
    geometry_ : ndarray of shape (channels,)
        Factors that turn whitened channels back into the PCA geometry (relative scale of each
        component); ones when not whitened. Clustering uses that geometry.
    lattice_ : ndarray of shape (channels,)
        Each channel's quantisation step: the raw bands' steps (the smallest gap between the
        sample's distinct values, one digital number for integer bands) through the first
        stage, ``sqrt(sum_b W[c, b]^2 step_b^2)``. Clustering floors its variances with it
        (:func:`geouic.uic.labels.quantisation_scale`).
    """

    def __init__(self, normalize: str = "zscore", n_components: int = 16, whiten: bool = True):
        self.normalize = normalize
        self.n_components = n_components
        self.whiten = whiten

    def fit(self, X: np.ndarray) -> Projection:
        """Fit on raw samples ``(n, bands)`` of valid pixels."""
        if self.n_components < 1:
            raise ParameterError(f"pca_components={self.n_components} is invalid: must be >= 1.")
        self.normalizer_ = Normalizer(self.normalize).fit(X)
        Z = self.normalizer_.transform(X).astype(np.float64)
        bands = Z.shape[1]
        self.mean_ = Z.mean(axis=0)
        if bands > self.n_components:
            cov = np.cov(Z - self.mean_, rowvar=False)
            evals, evecs = np.linalg.eigh(cov)
            order = np.argsort(evals)[::-1][: self.n_components]
            comps = evecs[:, order].T
            # Fix each component's sign so the projection does not depend on the LAPACK build.
            comps *= np.where(comps[np.arange(len(comps)), np.abs(comps).argmax(1)] < 0, -1.0, 1.0)[:, None]
            kept = evals[order]
            self.explained_ = float(kept.sum() / max(evals.sum(), 1e-12))
            # One global scale: mean variance 1 per channel, relative variances kept (not whitened).
            # Variances relative to their mean: the un-whitened geometry, for clustering.
            self.geometry_ = np.sqrt(np.maximum(kept, 1e-12) / max(kept.mean(), 1e-12)).astype(np.float32)
            if self.whiten:
                scale = np.sqrt(np.maximum(kept, 1e-12))[:, None]
            else:
                scale = np.sqrt(max(kept.mean(), 1e-12))
                self.geometry_ = np.ones(self.n_components, np.float32)
            self.components_ = (comps / scale).astype(np.float32)
        else:
            self.mean_ = np.zeros(bands)
            self.explained_ = 1.0
            self.geometry_ = np.ones(bands, np.float32)
            self.components_ = np.eye(bands, dtype=np.float32)
        self.mean_ = self.mean_.astype(np.float32)
        W, _ = self.affine()
        self.lattice_ = np.sqrt((W.astype(np.float64) ** 2) @ (_band_steps(X) ** 2))
        logger.info("first stage: %d bands -> %d channels (%.1f %% of the variance)", bands,
                    self.n_channels, 100 * self.explained_)
        return self

    @property
    def n_channels(self) -> int:
        """Network input channels."""
        return int(self.components_.shape[0])

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """``(W, b)`` with ``channels = W @ raw + b``: the whole first stage as one affine map."""
        n = self.normalizer_
        W = self.components_ / n.scale_[None, :]
        b = -self.components_ @ (n.center_ / n.scale_ + self.mean_)
        return W.astype(np.float32), b.astype(np.float32)

    def transform_block(self, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Raw ``(bands, rows, cols)`` -> ``(channels, rows, cols)`` float32, 0 where invalid."""
        W, b = self.affine()
        flat = data.reshape(data.shape[0], -1)
        out = (W @ flat + b[:, None]).reshape(-1, *data.shape[1:])
        out[:, ~valid] = 0.0
        return out.astype(np.float32, copy=False)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Metadata and arrays for the model file."""
        norm_meta, norm_arrays = self.normalizer_.get_state()
        meta = {"normalizer": norm_meta, "n_components": self.n_components, "whiten": self.whiten,
                "channels": self.n_channels, "explained_variance": self.explained_}
        arrays = {f"norm.{k}": v for k, v in norm_arrays.items()}
        arrays["proj.mean"] = self.mean_
        arrays["proj.components"] = self.components_
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Projection:
        """Rebuild from :meth:`get_state` output."""
        obj = cls(meta["normalizer"]["method"], int(meta["n_components"]), bool(meta.get("whiten", False)))
        obj.normalizer_ = Normalizer.from_state(
            meta["normalizer"], {"center": arrays["norm.center"], "scale": arrays["norm.scale"]})
        obj.mean_ = np.asarray(arrays["proj.mean"], np.float32)
        obj.components_ = np.asarray(arrays["proj.components"], np.float32)
        obj.explained_ = float(meta.get("explained_variance", 1.0))
        obj.geometry_ = np.ones(obj.n_channels, np.float32)
        obj.lattice_ = np.zeros(obj.n_channels)  # clustering only: a loaded first stage is not refitted
        return obj


def _band_steps(X: np.ndarray) -> np.ndarray:
    """Each band's smallest gap between distinct sampled values (0 for a constant band)."""
    out = np.zeros(X.shape[1])
    for b in range(X.shape[1]):
        gaps = np.diff(np.unique(X[:, b]))
        out[b] = float(gaps.min()) if len(gaps) else 0.0
    return out


@dataclass
class Region:
    """One block-aligned part of a scene in the pool.

    Attributes
    ----------
    x : ndarray of shape (channels, rows, cols), float32
        Projected values, 0 where invalid.
    valid : ndarray of shape (rows, cols), bool
    """

    x: np.ndarray
    valid: np.ndarray


class PatchPool:
    """Projected regions of the training scenes, bounded in pixels, and patch sampling.

    Parameters
    ----------
    regions : list of Region
    geometry : ndarray of shape (channels,), optional
        Channel factors for clustering (see :attr:`Projection.geometry_`).
    lattice : ndarray of shape (channels,), optional
        Channel quantisation steps (see :attr:`Projection.lattice_`), before ``geometry``.
    """

    def __init__(self, regions: list[Region], geometry: np.ndarray | None = None,
                 lattice: np.ndarray | None = None):
        self.geometry = geometry
        self.lattice = lattice
        self.regions = [r for r in regions if r.valid.any()]
        if not self.regions:
            raise RasterInputError("no valid pixel in the training regions; check the nodata value.")
        counts = np.array([r.valid.sum() for r in self.regions], dtype=np.float64)
        self.n_valid = int(counts.sum())
        self._p = counts / counts.sum()
        self._valid_idx = [np.flatnonzero(r.valid.ravel()) for r in self.regions]

    @classmethod
    def from_sources(cls, sources: Sequence[RasterSource], projection: Projection, *,
                     pool_pixels: int, seed: np.random.Generator | int | None = None) -> PatchPool:
        """Read random block-aligned regions of every scene, up to ``pool_pixels`` in all.

        A scene smaller than its share is one region (read unit by unit, so only one unit's
        raw bands are in memory at once); a larger one is read unit by unit (see
        :func:`geouic.sampling.unit_pass`, a :class:`~geouic.windows.WindowPass`) in random
        order until its share is reached, each unit a region.
        """
        rng = np.random.default_rng(seed)
        sizes = np.array([s.width * s.height for s in sources], dtype=np.float64)
        shares = np.maximum(1, np.floor(pool_pixels * sizes / sizes.sum())).astype(int)
        regions: list[Region] = []
        for source, share in zip(sources, shares):
            if source.width * source.height <= share:
                regions.append(_whole_region(source, projection))
                continue
            units = unit_pass(source)
            units = units.reordered(rng.permutation(len(units)))
            n = 0
            for pair in units:
                win = pair.core
                data, valid = source.read(win)
                if valid.any():
                    regions.append(Region(projection.transform_block(data, valid), valid))
                n += int(win.width * win.height)
                if n >= share:
                    break
        pool = cls(regions, getattr(projection, "geometry_", None), getattr(projection, "lattice_", None))
        logger.info("training pool: %d regions, %d valid pixels", len(pool.regions), pool.n_valid)
        return pool

    @property
    def n_channels(self) -> int:
        """Channels of the projected regions."""
        return int(self.regions[0].x.shape[0])

    def sample(self, n: int, size: int, rng: np.random.Generator,
               labels: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Cut ``n`` square patches of ``size`` pixels centred near random valid pixels.

        Parameters
        ----------
        n, size : int
        rng : numpy Generator
        labels : list of ndarray (rows, cols) int, optional
            Per-region labels cut out alongside (-1 = none).

        Returns
        -------
        x : ndarray (n, channels, size, size) float32
        valid : ndarray (n, size, size) bool
        y : ndarray (n, size, size) int64, or None
            Patches reaching past a region's edge are padded as invalid (label -1).
        """
        c = self.n_channels
        x = np.zeros((n, c, size, size), np.float32)
        valid = np.zeros((n, size, size), bool)
        y = np.full((n, size, size), -1, np.int64) if labels is not None else None
        which = rng.choice(len(self.regions), size=n, p=self._p)
        for i, k in enumerate(which):
            reg = self.regions[k]
            rows, cols = reg.valid.shape
            centre = self._valid_idx[k][rng.integers(len(self._valid_idx[k]))]
            r, q = divmod(int(centre), cols)
            # A random position of the centre inside the patch, then clip the patch to the region.
            r0 = r - int(rng.integers(size))
            c0 = q - int(rng.integers(size))
            r0 = min(max(r0, 0), max(rows - size, 0))
            c0 = min(max(c0, 0), max(cols - size, 0))
            h, w = min(size, rows - r0), min(size, cols - c0)
            x[i, :, :h, :w] = reg.x[:, r0 : r0 + h, c0 : c0 + w]
            valid[i, :h, :w] = reg.valid[r0 : r0 + h, c0 : c0 + w]
            if y is not None and labels is not None:
                y[i, :h, :w] = labels[k][r0 : r0 + h, c0 : c0 + w]
        return x, valid, y

    def valid_features(self) -> np.ndarray:
        """All valid pixels' channels ``(n_valid, channels)``, region by region, row-major."""
        return np.concatenate([r.x[:, r.valid].T for r in self.regions])

    def smoothed_features(self, scale: np.ndarray | None = None) -> np.ndarray:
        """Like :meth:`valid_features`, each channel the median of the pixel's valid 3x3 neighbours.

        A median, unlike a mean, keeps edges: a pixel beside a field boundary takes the values
        of the side that holds most of its neighbours, not a mixture that looks like a third
        class.
        """
        X = np.concatenate([_masked_median3(r.x, r.valid)[:, r.valid].T for r in self.regions])
        return X if scale is None else X * scale[None, :]

    def valid_channel(self, c: int) -> np.ndarray:
        """Channel ``c`` of every valid pixel ``(n_valid,)``, in :meth:`valid_features` order."""
        return np.concatenate([r.x[c][r.valid] for r in self.regions])

    def strips(self, i: int, chunk_pixels: int | None, halo: int = 0) -> list[tuple[int, int, int, int]]:
        """Row strips of region ``i`` of at most ``chunk_pixels`` pixels, halo included.

        Returns ``(r0, r1, a, b)`` per strip: its core rows ``r0:r1`` (the strips' cores cover the
        region in order) and the rows ``a:b`` it reads, ``halo`` more on each side within the
        region. ``None`` or a region that fits: one strip, the whole region.
        """
        rows, cols = self.regions[i].valid.shape
        if chunk_pixels is None or rows * cols <= chunk_pixels:
            return [(0, rows, 0, rows)]
        core = max(1, chunk_pixels // max(cols, 1) - 2 * halo)
        return [(r0, min(rows, r0 + core), max(0, r0 - halo), min(rows, r0 + core + halo))
                for r0 in range(0, rows, core)]

    def smoothed_rows(self, i: int, a: int, b: int, scale: np.ndarray | None = None) -> np.ndarray:
        """:meth:`smoothed_features` of the valid pixels of rows ``a:b`` of region ``i`` only.

        The median reads one more row on each side, so the values equal those of the whole
        region (the median is taken pixel by pixel).
        """
        reg = self.regions[i]
        lo, hi = max(0, a - 1), min(reg.valid.shape[0], b + 1)
        med = _masked_median3(reg.x[:, lo:hi], reg.valid[lo:hi])[:, a - lo : b - lo]
        X = med[:, reg.valid[a:b]].T
        return X if scale is None else X * scale[None, :]

    def split(self, flat: np.ndarray, fill: int = -1) -> list[np.ndarray]:
        """Scatter per-valid-pixel values (in :meth:`valid_features` order) onto the regions."""
        out, start = [], 0
        for r in self.regions:
            m = np.full(r.valid.shape, fill, dtype=flat.dtype)
            k = int(r.valid.sum())
            m[r.valid] = flat[start : start + k]
            out.append(m)
            start += k
        return out


def _whole_region(source: RasterSource, projection: Projection) -> Region:
    """The whole scene as one region, read and projected unit by unit (never all bands at once).

    The projection is pixel by pixel, so the region equals one read of the whole scene while
    the raw bands in memory are one sampling unit's (tested).
    """
    x = np.zeros((projection.n_channels, source.height, source.width), np.float32)
    valid = np.zeros((source.height, source.width), bool)
    for pair in unit_pass(source):
        win = pair.core
        data, ok = source.read(win)
        rows = slice(int(win.row_off), int(win.row_off + win.height))
        cols = slice(int(win.col_off), int(win.col_off + win.width))
        valid[rows, cols] = ok
        if ok.any():
            x[:, rows, cols] = projection.transform_block(data, ok)
    return Region(x, valid)


class SmoothedFeatures:
    """The pool's smoothed features (:meth:`PatchPool.smoothed_features`) without holding them.

    Parameters
    ----------
    pool : PatchPool
    scale : ndarray of shape (channels,), optional
        Channel factors (the pool's geometry).

    Strips of a region (:meth:`strip`) and single pixels (:meth:`rows`) are computed on demand;
    every value equals the corresponding row of ``pool.smoothed_features(scale)`` in float64,
    at the memory of the rows asked for.
    """

    def __init__(self, pool: PatchPool, scale: np.ndarray | None = None):
        self.pool, self.scale = pool, scale
        self._start = np.concatenate([[0], np.cumsum([int(r.valid.sum()) for r in pool.regions])])

    def strip(self, i: int, a: int, b: int) -> np.ndarray:
        """Features ``(n, channels)`` float64 of the valid pixels of rows ``a:b`` of region ``i``."""
        return self.pool.smoothed_rows(i, a, b, self.scale).astype(np.float64)

    def rows(self, pick: np.ndarray | None) -> np.ndarray:
        """Features of the valid pixels ``pick`` (pool order indexes; ``None``: all), in ``pick`` order.

        Each picked pixel's median is taken from its own 3x3 neighbourhood, so a sample costs
        memory and time in proportion to its size, not to the pool's.
        """
        pick = np.arange(int(self._start[-1])) if pick is None else np.asarray(pick, dtype=np.int64)
        out = np.empty((len(pick), self.pool.n_channels), np.float64)
        region = np.searchsorted(self._start, pick, side="right") - 1
        for i in np.unique(region):
            sel = np.flatnonzero(region == i)
            reg = self.pool.regions[int(i)]
            flat = np.flatnonzero(reg.valid.ravel())[pick[sel] - self._start[i]]
            r, c = np.divmod(flat, reg.valid.shape[1])
            X = _masked_median3_at(reg.x, reg.valid, r, c).T
            out[sel] = X if self.scale is None else X * self.scale[None, :]
        return out


def _masked_median3_at(x: np.ndarray, valid: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """:func:`_masked_median3` at the valid pixels ``(r, c)`` only: ``(channels, len(r))``."""
    rows, cols = valid.shape
    out = np.empty((len(x), len(r)), x.dtype)
    shifts = [(i - 1, j - 1) for i in range(3) for j in range(3) if (i, j) != (1, 1)]
    rr = [np.clip(r + di, 0, rows - 1) for di, _ in shifts]
    cc = [np.clip(c + dj, 0, cols - 1) for _, dj in shifts]
    ok = [(r + di >= 0) & (r + di < rows) & (c + dj >= 0) & (c + dj < cols) & valid[a, b]
          for (di, dj), a, b in zip(shifts, rr, cc)]
    n = np.sum(ok, axis=0) + 1  # valid neighbours and the pixel itself
    for ch in range(len(x)):
        xc = x[ch]
        out[ch] = _median_of_stack(np.stack([np.where(m, xc[a, b], np.nan) for m, a, b in zip(ok, rr, cc)]
                                            + [xc[r, c]]), n)
    return out


def _masked_median3(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Median of each pixel's valid 3x3 neighbourhood, channel by channel (0 where invalid)."""
    rows, cols = valid.shape
    out = np.zeros_like(x)
    shifts = [(i, j) for i in range(3) for j in range(3) if (i, j) != (1, 1)]
    padded_valid = np.pad(valid, 1, constant_values=False)
    n = np.sum([padded_valid[i : i + rows, j : j + cols] for i, j in shifts], axis=0) + 1  # with the pixel
    for c in range(len(x)):
        # the centre is never NaN (0 where invalid), so no window is all-NaN; invalid pixels
        # are set to 0 afterwards, valid ones always count themselves
        padded = np.pad(np.where(valid, x[c], np.nan), 1, constant_values=np.nan)
        stack = np.stack([padded[i : i + rows, j : j + cols] for i, j in shifts] + [np.where(valid, x[c], 0.0)])
        out[c] = np.where(valid, _median_of_stack(stack, n), 0.0)
    return out


def _median_of_stack(stack: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``np.nanmedian(stack, axis=0)`` where column ``j`` holds ``n[j] >= 1`` values, the rest NaN.

    One sort instead of numpy's masked-array median (3-4x faster): NaNs sort last, so the
    median is the middle value, or the mean of the two middle values in the stack's dtype, as
    ``np.nanmedian`` computes it (tested equal, ties and even counts included).
    """
    stack = np.sort(stack, axis=0)
    low = np.take_along_axis(stack, ((n - 1) // 2)[None], 0)[0]
    high = np.take_along_axis(stack, (n // 2)[None], 0)[0]
    return np.where(n % 2 == 1, low, (low + high) / np.asarray(2, stack.dtype))
