"""The UIC training loop on raster patches: one *member* distils the regularised mixture.

One member is one network trained from one seed on the starting labels that the engine computed
once (:func:`geouic.uic.labels.initial_labels`: a Gaussian mixture of the pool's smoothed
channels regularised by a Potts field). Each epoch:

1. a class of the labels that is empty or vanishing is repaired by splitting the largest class
   in two with 2-means on the network's last hidden features (the classifier is split the
   same way);
2. ``steps`` optimisation steps: the cross-entropy of an augmented view (crop, flip, rotation,
   spectral jitter) against the aligned labels, nodata pixels ignored, plus a weak
   entropy-of-mean term (``balance_weight``); a moving average of the weights (half-life
   :data:`EMA_HALFLIFE` epochs) is updated every step and is the network kept;
3. the averaged network's labels of the pool are compared with the targets; the member stops
   once they agree on ``agreement`` of the pixels, or after ``epochs``.

This is the one pseudo-label strategy: measured on four dev scenes, 20 epochs of UIC
self-labelling after the distillation moved the map by about one point, in either direction,
so the self-labelling phase, its teachers (previous epoch, moving average) and its balancing
variants (Sinkhorn equal sizes, inverse-frequency weights) were removed (see
:mod:`geouic.uic.engine`).
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from geouic.errors import GeouicError
from geouic.metrics import nmi as _nmi_table
from geouic.uic.augment import SpectralJitter, apply_geometry, random_geometry
from geouic.uic.budget import label_dtype
from geouic.uic.config import STRONG_AUGMENT, UICConfig
from geouic.uic.data import PatchPool
from geouic.uic.labels import repair_empty
from geouic.uic.model import UICNet, build_net, forward_tiled, init_weights

__all__ = ["MemberResult", "PoolEmbeddings", "TrainingStopped", "train_member", "uic_loss", "predict_pool", "label_nmi",
           "EMA_HALFLIFE"]

logger = logging.getLogger(__name__)

#: Half-life, in epochs, of the moving average of the weights that is the kept network.
EMA_HALFLIFE = 1.0
#: Pixels of the pool used for the NMI between epochs (a fixed random subset).
MONITOR_PIXELS = 100_000


class TrainingStopped(GeouicError):
    """Training was asked to stop (the stop flag was set, e.g. by Ctrl-C)."""


@dataclass
class MemberResult:
    """A trained member: its network (on the CPU), its final pool labels and its history."""

    net: UICNet
    labels: np.ndarray
    history: list[dict[str, Any]]
    seconds: float


# -- losses and label assignment -------------------------------------------------------------
def uic_loss(logits: torch.Tensor, labels: torch.Tensor, *, balance_weight: float = 0.0) -> torch.Tensor:
    """Cross-entropy of ``logits`` (B, K, H, W) against ``labels`` (B, H, W), -1 = ignored.

    Pixels labelled -1 (nodata, outside the patch, no pseudo-label) take no part in the loss,
    its gradient or the balancing term. ``balance_weight > 0`` adds
    ``balance_weight * (log K - H(mean softmax over labelled pixels))``, which is 0 when the
    batch uses every class equally.
    """
    k = logits.shape[1]
    flat = logits.permute(0, 2, 3, 1).reshape(-1, k)
    y = labels.reshape(-1)
    keep = y >= 0
    if not bool(keep.any()):
        return logits.sum() * 0.0
    flat, y = flat[keep], y[keep]
    loss = F.cross_entropy(flat, y)
    if balance_weight > 0:
        p = F.softmax(flat, dim=1).mean(dim=0)
        loss = loss + balance_weight * (math.log(k) + (p * torch.log(p.clamp_min(1e-12))).sum())
    return loss


# -- pool-wide forward passes -----------------------------------------------------------------
@torch.no_grad()
def predict_pool(net: UICNet, pool: PatchPool, device: torch.device, *, what: str = "logits",
                 stop: threading.Event | None = None) -> np.ndarray:
    """Logits (n_valid, K), embeddings (n_valid, hidden) or labels (n_valid,) of every valid pool pixel.

    ``what="labels"`` is the argmax of the logits taken tile by tile, so only the labels
    (int16, int32 beyond 32767 classes) of the pool are held, not its K logits per pixel.
    Raises :class:`TrainingStopped` between regions once ``stop`` is set.
    """
    net.eval()
    fn: Callable[[torch.Tensor], torch.Tensor] = net if what == "logits" else net.embed
    if what == "labels":
        def fn(t: torch.Tensor) -> torch.Tensor:
            return net(t).argmax(1, keepdim=True)
    out = []
    for reg in pool.regions:
        _check(stop)
        y = forward_tiled(fn, torch.from_numpy(reg.x).to(device), net.radius)
        picked = y[:, torch.from_numpy(reg.valid).to(device)]
        if what == "labels":
            out.append(picked[0].cpu().numpy().astype(label_dtype(net.head.out_channels)))
        else:
            out.append(picked.T.float().cpu().numpy())
        del y, picked
    net.train()
    return np.concatenate(out)


class PoolEmbeddings:
    """The network's last hidden features of valid pool pixels, computed only where they are asked for.

    ``emb[rows]`` (pool-order indexes, as :meth:`PatchPool.valid_features`) is
    ``(len(rows), hidden)`` float32, equal to ``predict_pool(net, pool, device, what="embed")[rows]``:
    the same tiles as :func:`geouic.uic.model.forward_tiled`, but only those holding asked-for
    pixels are computed and only those pixels kept, so memory follows the rows asked for
    (:func:`geouic.uic.labels.repair_empty` asks in parts), not the pool's ``hidden`` floats per pixel.
    """

    def __init__(self, net: UICNet, pool: PatchPool, device: torch.device, *,
                 stop: threading.Event | None = None, tile: int = 256):
        self.net, self.pool, self.device, self.stop, self.tile = net, pool, device, stop, tile
        self._flat = [np.flatnonzero(r.valid.ravel()) for r in pool.regions]
        self._start = np.concatenate([[0], np.cumsum([len(f) for f in self._flat])])
        self.shape = (int(self._start[-1]), int(net.head.in_channels))

    def __len__(self) -> int:
        return self.shape[0]

    @torch.no_grad()
    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.shape[1]), np.float32)
        region = np.searchsorted(self._start, rows, side="right") - 1
        self.net.eval()
        for i in np.unique(region):
            sel = np.flatnonzero(region == i)
            reg = self.pool.regions[int(i)]
            height, width = reg.valid.shape
            r, c = np.divmod(self._flat[int(i)][rows[sel] - self._start[i]], width)
            key = (r // self.tile) * (-(-width // self.tile)) + c // self.tile
            x = torch.from_numpy(reg.x).to(self.device)
            for t in np.unique(key):
                _check(self.stop)
                here = np.flatnonzero(key == t)
                r0, c0 = int(r[here[0]] // self.tile * self.tile), int(c[here[0]] // self.tile * self.tile)
                a, b = max(0, r0 - self.net.radius), min(height, r0 + self.tile + self.net.radius)
                lo, hi = max(0, c0 - self.net.radius), min(width, c0 + self.tile + self.net.radius)
                part = x[None, :, a:b, lo:hi].contiguous(memory_format=torch.channels_last)
                y = self.net.embed(part)[0]
                at = (torch.from_numpy(r[here] - a), torch.from_numpy(c[here] - lo))
                out[sel[here]] = y[:, at[0], at[1]].T.float().cpu().numpy()
        self.net.train()
        return out


# -- the loop -----------------------------------------------------------------------------------
def _check(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise TrainingStopped("training was stopped.")


def label_nmi(a: np.ndarray, b: np.ndarray) -> float:
    """NMI of two labellings of the same pixels (:func:`geouic.metrics.nmi` of their crosstab)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if len(a) == 0:
        return 1.0
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    table = np.bincount(a * kb + b, minlength=ka * kb).reshape(ka, kb)
    return float(_nmi_table(table))


def default_steps(pool: PatchPool, cfg: UICConfig) -> int:
    """Steps per epoch: about one pass over the pool's valid pixels, between 8 and 32."""
    per_step = cfg.batch_size * cfg.patch_size ** 2
    return int(min(32, max(8, math.ceil(pool.n_valid / per_step))))


def train_member(pool: PatchPool, initial: np.ndarray, cfg: UICConfig, *, seed: int, arch: dict[str, int],
                 device: torch.device, stop: threading.Event | None = None, name: str = "member",
                 on_epoch: Callable[[dict[str, Any]], None] | None = None) -> MemberResult:
    """Train one UIC network on the pool; see the module docstring for the loop.

    Parameters
    ----------
    pool : PatchPool
    initial : ndarray of shape (pool.n_valid,), int
        Starting labels 0..K-1 of the valid pool pixels (see
        :func:`geouic.uic.labels.initial_labels`); K is ``cfg.n_classes``.
    cfg : UICConfig
    seed : int
        Seeds the network's initialisation, patches and augmentations.
    arch : dict
        Architecture (see :data:`geouic.uic.model.DEFAULT_ARCH`).
    device : torch.device
    stop : threading.Event, optional
        Checked before every optimisation step and every pool region of a forward pass; once
        set, training ends at once.
    name : str, default="member"
        How the log lines name this run (e.g. ``"member 1/2"``), so lines of members trained
        side by side can be told apart.
    on_epoch : callable, optional
        Called with each epoch's history entry (``epoch``, ``nmi``, ``agreement``, ...).

    Returns
    -------
    MemberResult
        The network (moved to the CPU), its final unaugmented labels of the valid pool pixels,
        and one history entry per epoch (loss, NMI with the previous epoch, class sizes).

    Raises
    ------
    TrainingStopped
        ``stop`` was set.
    """
    t0 = time.perf_counter()
    run = _Member(pool, cfg, seed, arch, device, stop, name)
    labels = np.asarray(initial, dtype=label_dtype(int(cfg.n_classes)))  # compact: see geouic.uic.budget
    prev = labels[run.monitor]
    for epoch in range(cfg.epochs):
        labels, repaired = run.repair(labels, epoch)
        loss = run.train_epoch(labels)
        cur = predict_pool(run.teacher, pool, device, what="labels", stop=stop)
        agreement = float(np.mean(cur[run.monitor] == labels[run.monitor]))
        entry = run.log_epoch(epoch, prev, cur, loss, agreement, repaired)
        if on_epoch is not None:
            on_epoch(entry)
        prev = cur[run.monitor]
        if agreement >= cfg.agreement:
            logger.info("%s: distillation done after %d epochs (agreement with its labels %.3f)", name, epoch + 1,
                        agreement)
            break
    net, final_labels = run.finish()
    return MemberResult(net, final_labels, run.history, time.perf_counter() - t0)


class _Member:
    """The state of one training run: network, its moving average, optimiser, random streams."""

    def __init__(self, pool: PatchPool, cfg: UICConfig, seed: int, arch: dict[str, int],
                 device: torch.device, stop: threading.Event | None, name: str = "member"):
        self.name = name
        self.pool, self.k, self.cfg, self.seed, self.device = pool, int(cfg.n_classes), cfg, int(seed), device
        self.stop = stop
        self.gen = torch.Generator().manual_seed(int(seed))
        self.rng = np.random.default_rng(seed)
        self.net = build_net(pool.n_channels, self.k, arch)
        init_weights(self.net, self.gen)
        self.net.to(device).train()
        self.teacher = copy.deepcopy(self.net).eval()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.jitter = SpectralJitter(**{**STRONG_AUGMENT, **cfg.augment})
        self.steps = cfg.steps_per_epoch or default_steps(pool, cfg)
        # the average's memory is counted in epochs, so it does not depend on the steps per epoch
        self.ema_decay = 0.5 ** (1 / (EMA_HALFLIFE * self.steps))
        self.min_count = max(1, int(cfg.min_class_fraction * pool.n_valid))
        self.monitor = self.rng.permutation(pool.n_valid)[:MONITOR_PIXELS].copy()  # not a view of n_valid ints
        self.history: list[dict[str, Any]] = []

    def repair(self, labels: np.ndarray, epoch: int) -> tuple[np.ndarray, list[int]]:
        """Return this epoch's targets: ``labels`` with empty or vanishing classes repaired."""
        emb = functools.partial(PoolEmbeddings, self.net, self.pool, self.device, stop=self.stop)
        return repair_empty(self.net, labels, emb, min_count=self.min_count, seed=self.seed + epoch,
                            extra=[self.teacher])

    def train_epoch(self, labels: np.ndarray) -> float:
        """``steps`` optimisation steps, each followed by the moving-average update; the mean loss."""
        maps = self.pool.split(labels)
        total = 0.0
        for _ in range(self.steps):
            _check(self.stop)
            total += _step(self.net, self.opt, self.pool, maps, self.cfg, self.jitter, self.rng, self.gen,
                           self.device)
            _ema_update(self.teacher, self.net, self.ema_decay)
        return total / self.steps

    def log_epoch(self, epoch: int, prev: np.ndarray, cur: np.ndarray, loss: float, agreement: float,
                  repaired: list[int]) -> dict[str, Any]:
        """NMI with the previous epoch and the class-size histogram, logged and kept."""
        now = cur[self.monitor]
        hist = np.bincount(now, minlength=self.k) / len(now)
        change = float(np.abs(hist - np.bincount(prev, minlength=self.k) / len(prev)).sum() / 2)
        entry = {"epoch": epoch + 1, "loss": loss, "lr": float(self.opt.param_groups[0]["lr"]),
                 "nmi": label_nmi(prev, now), "agreement": agreement, "hist_change": change,
                 "repaired": repaired, "sizes": np.round(hist, 4).tolist()}
        self.history.append(entry)
        logger.info("%s, epoch %d/%d: loss %.3f, NMI with previous epoch %.4f, agreement with its labels %.3f, "
                    "class sizes %s%s", self.name, epoch + 1, self.cfg.epochs, loss, entry["nmi"], agreement,
                    " ".join(f"{h:.3f}" for h in hist),
                    f", repaired classes {repaired}" if repaired else "")
        return entry

    def finish(self) -> tuple[UICNet, np.ndarray]:
        """The final (averaged) network on the CPU and its labels, any class still empty repaired."""
        final = self.teacher
        labels = predict_pool(final, self.pool, self.device, what="labels", stop=self.stop)
        emb = functools.partial(PoolEmbeddings, final, self.pool, self.device, stop=self.stop)
        labels, _ = repair_empty(final, labels, emb, min_count=self.min_count, seed=self.seed)
        return final.cpu().eval(), labels


def _step(net: UICNet, opt: torch.optim.Optimizer, pool: PatchPool, maps: list[np.ndarray], cfg: UICConfig,
          jitter: SpectralJitter, rng: np.random.Generator, gen: torch.Generator, device: torch.device) -> float:
    """One optimisation step on a batch of patches against their labels."""
    size = cfg.patch_size + 2 * cfg.crop
    x, valid, y = pool.sample(cfg.batch_size, size, rng, maps)
    assert y is not None  # labels were passed
    x_t, v_t = torch.from_numpy(x).to(device), torch.from_numpy(valid).to(device)
    y_t = torch.from_numpy(y).to(device)
    # a random crop, flip/rotation and spectral jitter; labels follow the geometry
    r0, c0 = (int(v) for v in rng.integers(0, 2 * cfg.crop + 1, size=2))
    sl = (slice(r0, r0 + cfg.patch_size), slice(c0, c0 + cfg.patch_size))
    codes = random_geometry(len(x), rng)
    xb = apply_geometry(x_t[:, :, sl[0], sl[1]], codes)
    vb = apply_geometry(v_t[:, sl[0], sl[1]], codes)
    yb = apply_geometry(y_t[:, sl[0], sl[1]], codes)
    xb = jitter(xb, vb, gen)
    yb = torch.where(vb, yb, torch.full_like(yb, -1))
    loss = uic_loss(net(xb), yb, balance_weight=cfg.balance_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


@torch.no_grad()
def _ema_update(teacher: UICNet, net: UICNet, decay: float) -> None:
    for pt, ps in zip(teacher.parameters(), net.parameters()):
        pt.mul_(decay).add_(ps.detach(), alpha=1 - decay)
