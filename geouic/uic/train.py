"""The UIC training loop on raster patches.

One *member* is one network trained from one seed:

1. initial labels, shared by all members: a Gaussian mixture of the pool's smoothed channels
   regularised by a Potts field (:func:`geouic.uic.labels.initial_labels`, computed once by
   the engine); the network is first fitted to them (warm-up, a distillation, until it agrees
   with them on ``warmup_agreement`` of the pixels or for ``warmup_epochs``);
2. then pseudo-labels are the argmax of a teacher's softmax on one weakly augmented view:
   by default (``teacher="ema"``) an exponential moving average of the network's weights,
   updated every step with a half-life of ``ema_halflife`` epochs (and already averaging
   during the warm-up, ``warmup_ema``), batch by batch; or (``teacher="epoch"``) the network
   as it was at the end of the previous epoch, over the whole pool, as in the reference code;
3. a class that is empty or vanishing is repaired by splitting the largest class in two with
   2-means on the network's last hidden features, and the classifier is split the same way;
4. the loss is the cross-entropy of a second, independently augmented view (crop, flip,
   rotation, spectral jitter) against the aligned pseudo-labels, nodata pixels ignored, plus
   the chosen balancing (a weak entropy-of-mean term by default);
5. the learning rate is annealed (cosine) over the self-labelled epochs;
6. the NMI between consecutive epochs' labels and the class-size histogram are logged, and
   training stops when both plateau or at the epoch budget.

With the defaults (``epochs`` = ``warmup_epochs`` = 12) a member is a distillation of the
starting labels, which ends when the network reproduces ``warmup_agreement`` of them; steps
2-6 run only when ``epochs`` is raised above ``warmup_epochs``. Measured on four dev scenes, 20 epochs of
self-labelling moved the map by about one point, in either direction, over its start (see
:mod:`geouic.uic.engine`).

Why an EMA teacher and annealing (measured with ``benchmarks/quality.py``-style runs, 3 seeds x
3 members): with the previous-epoch teacher and a constant rate, consecutive epochs' labels on
the scanned historical map agreed only at NMI 0.87-0.90 and the matched OA of one member
wandered between 0.53 and 0.67 from epoch to epoch, so the epoch a run stopped at decided the
map (seed spread 0.094). The averaged teacher moves slowly (NMI 0.98 between epochs), which
brought the spread to 0.036 there and to <= 0.02 on the AVIRIS and Landsat scenes, with the
same or better mean OA.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from geouic.errors import ParameterError
from geouic.uic.augment import SpectralJitter, apply_geometry, invert_geometry, random_geometry
from geouic.uic.data import PatchPool
from geouic.uic.labels import inverse_frequency, repair_empty, sinkhorn_labels
from geouic.uic.model import UICNet, build_net, forward_tiled, init_weights

__all__ = ["TrainConfig", "MemberResult", "train_member", "uic_loss", "predict_pool", "config_dict",
           "BALANCES", "TEACHERS"]

logger = logging.getLogger(__name__)

BALANCES = ("entropy", "none", "invfreq", "sinkhorn")
TEACHERS = ("epoch", "ema")
SCHEDULES = ("cosine", "constant")
#: Spectral jitter of the trained view.
STRONG_AUGMENT = {"gain": 0.05, "offset": 0.05, "noise": 0.03, "blur": 0.25, "dropout": 0.0}
#: Spectral jitter of the view that gives the pseudo-labels (the trained view gets the default).
WEAK_AUGMENT = {"gain": 0.02, "offset": 0.02, "noise": 0.02, "blur": 0.0, "dropout": 0.0}
#: Pixels of the pool used for the NMI between epochs (a fixed random subset).
MONITOR_PIXELS = 100_000


@dataclass
class TrainConfig:
    """Parameters of one UIC training run (see :class:`geouic.uic.UICEngine` for the main ones).

    The finer ones: ``ema_decay`` (per step; default from ``ema_halflife``, the teacher's
    half-life in epochs), ``warmup_ema`` (the teacher averages during the warm-up too),
    ``self_lr`` (rate factor once self-labelled), ``lr_schedule`` (``"cosine"`` anneals the rate
    over the self-labelled epochs down to ``final_lr`` of it, ``"constant"`` keeps it),
    ``warmup_epochs``/``warmup_agreement``, ``min_class_fraction`` (smaller classes are repaired),
    ``min_epochs``/``patience``/``nmi_plateau``/``hist_plateau`` (early stop), ``augment`` and
    ``label_augment`` (:class:`~geouic.uic.augment.SpectralJitter` settings of the two views).
    """

    epochs: int = 12
    steps_per_epoch: int | None = None
    patch_size: int = 32
    batch_size: int = 16
    lr: float = 3e-3
    crop: int = 4
    teacher: str = "ema"
    ema_decay: float | None = None
    ema_halflife: float = 1.0
    balance: str = "entropy"
    balance_weight: float = 0.1
    warmup_epochs: int = 12
    warmup_agreement: float = 0.95
    min_class_fraction: float = 0.002
    min_epochs: int = 6
    patience: int = 3
    nmi_plateau: float = 0.98
    hist_plateau: float = 0.01
    augment: dict[str, float] = field(default_factory=lambda: dict(STRONG_AUGMENT))
    label_augment: dict[str, float] = field(default_factory=lambda: dict(WEAK_AUGMENT))
    self_lr: float = 1.0
    lr_schedule: str = "cosine"
    warmup_ema: bool = True
    final_lr: float = 0.05

    def validate(self) -> None:
        """Raise :class:`ParameterError` naming the first invalid parameter."""
        for name, low in (("epochs", 1), ("patch_size", 8), ("batch_size", 1), ("crop", 0),
                          ("min_epochs", 1), ("patience", 1), ("warmup_epochs", 0)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"{name}={value!r} is invalid: must be an integer >= {low}.")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ParameterError(f"steps_per_epoch={self.steps_per_epoch!r} is invalid: must be >= 1.")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ParameterError(f"lr={self.lr!r} is invalid: must be in (0, 1).")
        if not 0 < self.final_lr <= 1:
            raise ParameterError(f"final_lr={self.final_lr!r} is invalid: must be in (0, 1].")
        for name, allowed in (("teacher", TEACHERS), ("balance", BALANCES), ("lr_schedule", SCHEDULES)):
            if getattr(self, name) not in allowed:
                raise ParameterError(f"{name}={getattr(self, name)!r} is invalid: choose one of {', '.join(allowed)}.")
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise ParameterError(f"ema_decay={self.ema_decay!r} is invalid: must be in [0, 1).")
        if not self.ema_halflife > 0:
            raise ParameterError(f"ema_halflife={self.ema_halflife!r} is invalid: must be > 0 epochs.")
        if self.balance_weight < 0:
            raise ParameterError(f"balance_weight={self.balance_weight!r} is invalid: must be >= 0.")
        known = set(SpectralJitter.__dataclass_fields__)
        for name in ("augment", "label_augment"):
            unknown = set(getattr(self, name)) - known
            if unknown:
                raise ParameterError(f"{name} has unknown key(s) {', '.join(sorted(unknown))}: "
                                     f"use {', '.join(sorted(known))}.")


@dataclass
class MemberResult:
    """A trained member: its network (on the CPU), its final pool labels and its history."""

    net: UICNet
    labels: np.ndarray
    history: list[dict[str, Any]]
    seconds: float


# -- losses and label assignment -------------------------------------------------------------
def uic_loss(logits: torch.Tensor, labels: torch.Tensor, *, balance: str = "none",
             balance_weight: float = 0.0, class_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of ``logits`` (B, K, H, W) against ``labels`` (B, H, W), -1 = ignored.

    Pixels labelled -1 (nodata, outside the patch, no pseudo-label) take no part in the loss,
    its gradient or the balancing term. ``balance="entropy"`` adds
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
    loss = F.cross_entropy(flat, y, weight=class_weight)
    if balance == "entropy" and balance_weight > 0:
        p = F.softmax(flat, dim=1).mean(dim=0)
        loss = loss + balance_weight * (math.log(k) + (p * torch.log(p.clamp_min(1e-12))).sum())
    return loss


# -- pool-wide forward passes -----------------------------------------------------------------
@torch.no_grad()
def predict_pool(net: UICNet, pool: PatchPool, device: torch.device, *, what: str = "logits",
                 jitter: SpectralJitter | None = None, gen: torch.Generator | None = None,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Logits (n_valid, K) or embeddings (n_valid, hidden) of every valid pool pixel.

    With ``jitter``, each region is seen through a random spectral augmentation and a random
    flip/rotation (undone on the output), i.e. one augmented view.
    """
    net.eval()
    fn = net if what == "logits" else net.embed
    out = []
    for reg in pool.regions:
        x = torch.from_numpy(reg.x).to(device)
        code = None
        if jitter is not None:
            v = torch.from_numpy(reg.valid).to(device)
            x = jitter(x[None], v[None], gen)[0]
            code = random_geometry(1, rng)
            x = apply_geometry(x[None], code)[0]
        y = forward_tiled(fn, x, net.radius)
        if code is not None:
            y = invert_geometry(y[None], code)[0]
        out.append(y[:, torch.from_numpy(reg.valid).to(device)].T.float().cpu().numpy())
    net.train()
    return np.concatenate(out)


# -- the loop -----------------------------------------------------------------------------------
def _to_labels(logits: np.ndarray, balance: str) -> np.ndarray:
    if balance == "sinkhorn":
        return sinkhorn_labels(F.log_softmax(torch.from_numpy(logits), dim=1).numpy())
    return logits.argmax(axis=1).astype(np.int64)


def _nmi(a: np.ndarray, b: np.ndarray) -> float:
    from sklearn.metrics import normalized_mutual_info_score  # only when training: keeps predict light

    return float(normalized_mutual_info_score(a, b))


def default_steps(pool: PatchPool, cfg: TrainConfig) -> int:
    """Steps per epoch: about one pass over the pool's valid pixels, between 8 and 32."""
    per_step = cfg.batch_size * cfg.patch_size ** 2
    return int(min(32, max(8, math.ceil(pool.n_valid / per_step))))


def train_member(pool: PatchPool, initial: np.ndarray, n_classes: int, cfg: TrainConfig, *, seed: int,
                 arch: dict[str, int], device: torch.device) -> MemberResult:
    """Train one UIC network on the pool; see the module docstring for the loop.

    Parameters
    ----------
    pool : PatchPool
    initial : ndarray of shape (pool.n_valid,), int
        Starting labels 0..K-1 of the valid pool pixels (see
        :func:`geouic.uic.labels.initial_labels`).
    n_classes : int
    cfg : TrainConfig
    seed : int
        Seeds the network's initialisation, patches and augmentations.
    arch : dict
        Architecture (see :data:`geouic.uic.model.DEFAULT_ARCH`).
    device : torch.device

    Returns
    -------
    MemberResult
        The network (moved to the CPU), its final unaugmented labels of the valid pool pixels,
        and one history entry per epoch (loss, NMI with the previous epoch, class sizes).
    """
    t0 = time.perf_counter()
    run = _Member(pool, n_classes, cfg, seed, arch, device)
    labels = np.asarray(initial, dtype=np.int64)
    prev = labels[run.monitor]
    stable = 0
    for epoch in range(cfg.epochs):
        run.set_lr(epoch)
        labels, repaired = run.epoch_labels(labels, epoch)
        loss = run.train_epoch(labels)
        cur, agreement, rep2 = run.current_labels(labels, epoch)
        if run.self_labelled and cfg.teacher == "ema":
            labels = cur
        entry = run.log_epoch(epoch, prev, cur, loss, agreement, repaired + rep2)
        prev = cur[run.monitor]
        plateau = run.self_labelled and entry["nmi"] >= cfg.nmi_plateau and entry["hist_change"] <= cfg.hist_plateau
        stable = stable + 1 if plateau else 0
        if not run.self_labelled and (agreement >= cfg.warmup_agreement or epoch + 1 >= cfg.warmup_epochs):
            if cfg.epochs <= cfg.warmup_epochs:
                logger.info("distillation done after %d epochs (agreement with its labels %.3f)", epoch + 1, agreement)
                break
            run.start_self_labelling(epoch)
        if epoch + 1 >= cfg.min_epochs and stable >= cfg.patience:
            logger.info("labels plateaued after %d epochs; stopping", epoch + 1)
            break
    net, final_labels = run.finish()
    return MemberResult(net, final_labels, run.history, time.perf_counter() - t0)


class _Member:
    """The state of one training run: network, teacher, optimiser, random streams, history."""

    def __init__(self, pool: PatchPool, n_classes: int, cfg: TrainConfig, seed: int,
                 arch: dict[str, int], device: torch.device):
        self.pool, self.k, self.cfg, self.seed, self.device = pool, n_classes, cfg, int(seed), device
        self.gen = torch.Generator().manual_seed(int(seed))
        self.rng = np.random.default_rng(seed)
        self.net = build_net(pool.n_channels, n_classes, arch)
        init_weights(self.net, self.gen)
        self.net.to(device).train()
        self.teacher = copy.deepcopy(self.net).eval() if cfg.teacher == "ema" else None
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.jitter = SpectralJitter(**{**STRONG_AUGMENT, **cfg.augment})
        self.label_jitter = SpectralJitter(**{**WEAK_AUGMENT, **cfg.label_augment})
        self.steps = cfg.steps_per_epoch or default_steps(pool, cfg)
        # the teacher's memory is counted in epochs, so it does not depend on the steps per epoch
        self.ema_decay = cfg.ema_decay if cfg.ema_decay is not None else 0.5 ** (1 / (cfg.ema_halflife * self.steps))
        self.min_count = max(1, int(cfg.min_class_fraction * pool.n_valid))
        self.monitor = self.rng.permutation(pool.n_valid)[:MONITOR_PIXELS]
        self.self_labelled = cfg.warmup_epochs == 0
        self.self_start = 0
        self.history: list[dict[str, Any]] = []

    def _repair(self, net: UICNet, labels: np.ndarray, epoch: int, extra: UICNet | None):
        emb = functools.partial(predict_pool, net, self.pool, self.device, what="embed")
        return repair_empty(net, labels, emb, min_count=self.min_count, seed=self.seed + epoch,
                            extra=[extra] if extra is not None else None)

    def epoch_labels(self, labels: np.ndarray, epoch: int) -> tuple[np.ndarray, list[int]]:
        """This epoch's targets: the previous epoch's network on a weakly augmented view, repaired."""
        if self.self_labelled and self.cfg.teacher == "epoch":
            logits = predict_pool(self.net, self.pool, self.device, jitter=self.label_jitter,
                                  gen=self.gen, rng=self.rng)
            labels = _to_labels(logits, self.cfg.balance)
        if self.cfg.teacher == "epoch" or not self.self_labelled:
            return self._repair(self.net, labels, epoch, self.teacher)
        return labels, []

    def train_epoch(self, labels: np.ndarray) -> float:
        """``steps`` optimisation steps; returns the mean loss."""
        weight = None
        if self.cfg.balance == "invfreq":
            weight = torch.from_numpy(inverse_frequency(labels, self.k)).to(self.device)
        maps = self.pool.split(labels)
        use_teacher = self.self_labelled and self.cfg.teacher == "ema"
        total = 0.0
        for _ in range(self.steps):
            total += _step(self.net, self.teacher if use_teacher else None, self.opt, self.pool, maps, self.cfg,
                           self.jitter, self.label_jitter, weight, self.rng, self.gen, self.device)
            if self.teacher is not None:
                _ema_update(self.teacher, self.net, self.ema_decay if (self.self_labelled or self.cfg.warmup_ema) else 0.0)
        return total / self.steps

    def current_labels(self, labels: np.ndarray, epoch: int) -> tuple[np.ndarray, float, list[int]]:
        """Unaugmented labels after the epoch, and their agreement with the epoch's targets."""
        net = self.teacher or self.net
        cur = predict_pool(net, self.pool, self.device).argmax(1)
        agreement = float(np.mean(cur[self.monitor] == labels[self.monitor]))
        repaired: list[int] = []
        if self.cfg.teacher == "ema" and self.self_labelled:
            cur, repaired = self._repair(self.teacher, cur, epoch, self.net)
        return cur, agreement, repaired

    def log_epoch(self, epoch: int, prev: np.ndarray, cur: np.ndarray, loss: float, agreement: float,
                  repaired: list[int]) -> dict[str, Any]:
        """NMI with the previous epoch and the class-size histogram, logged and kept."""
        now = cur[self.monitor]
        hist = np.bincount(now, minlength=self.k) / len(now)
        change = float(np.abs(hist - np.bincount(prev, minlength=self.k) / len(prev)).sum() / 2)
        entry = {"epoch": epoch + 1, "phase": "self" if self.self_labelled else "warmup", "loss": loss,
                 "lr": float(self.opt.param_groups[0]["lr"]),
                 "nmi": _nmi(prev, now), "agreement": agreement, "hist_change": change,
                 "repaired": repaired, "sizes": np.round(hist, 4).tolist()}
        self.history.append(entry)
        logger.info("epoch %d (%s): loss %.3f, NMI with previous epoch %.4f, agreement with its labels %.3f, "
                    "class sizes %s%s", epoch + 1, "self-labelled" if self.self_labelled else "warm-up",
                    loss, entry["nmi"], agreement, " ".join(f"{h:.3f}" for h in hist),
                    f", repaired classes {repaired}" if repaired else "")
        return entry

    def start_self_labelling(self, epoch: int) -> None:
        """From the next epoch on, labels come from the network."""
        self.self_labelled = True
        self.self_start = epoch + 1

    def set_lr(self, epoch: int) -> None:
        """Learning rate of ``epoch``: ``lr`` in the warm-up; in self-labelling ``lr * self_lr``,
        annealed (``lr_schedule="cosine"``) to ``final_lr`` of it by the last budgeted epoch.

        Self-labelled partitions keep moving while the rate stays high (consecutive epochs'
        labels agree at NMI 0.87-0.90 on a scanned map), so the epoch a run stops at would
        decide the map; annealing lets the labels settle.
        """
        cfg = self.cfg
        lr = cfg.lr
        if self.self_labelled:
            lr *= cfg.self_lr
            if cfg.lr_schedule == "cosine":
                span = max(1, cfg.epochs - 1 - self.self_start)
                t = min(1.0, max(0, epoch - self.self_start) / span)
                lr *= cfg.final_lr + (1 - cfg.final_lr) * 0.5 * (1 + math.cos(math.pi * t))
        for group in self.opt.param_groups:
            group["lr"] = lr

    def finish(self) -> tuple[UICNet, np.ndarray]:
        """The final network (CPU) and its labels, with any class still empty repaired."""
        final = self.teacher if self.teacher is not None else self.net
        labels = predict_pool(final, self.pool, self.device).argmax(1)
        emb = functools.partial(predict_pool, final, self.pool, self.device, what="embed")
        labels, _ = repair_empty(final, labels, emb, min_count=self.min_count, seed=self.seed)
        return final.cpu().eval(), labels


def _step(net: UICNet, teacher: UICNet | None, opt: torch.optim.Optimizer, pool: PatchPool,
          maps: list[np.ndarray], cfg: TrainConfig, jitter: SpectralJitter, label_jitter: SpectralJitter,
          weight: torch.Tensor | None,
          rng: np.random.Generator, gen: torch.Generator, device: torch.device) -> float:
    """One optimisation step on a batch of patch pairs."""
    size = cfg.patch_size + 2 * cfg.crop
    x, valid, y = pool.sample(cfg.batch_size, size, rng, maps)
    x_t, v_t = torch.from_numpy(x).to(device), torch.from_numpy(valid).to(device)
    if teacher is not None:  # labels from the EMA network on view A
        with torch.no_grad():
            codes_a = random_geometry(len(x), rng)
            xa = apply_geometry(label_jitter(x_t, v_t, gen), codes_a)
            logits_a = invert_geometry(teacher(xa), codes_a)
            y_t = logits_a.argmax(1)
            if cfg.balance == "sinkhorn":
                flat = logits_a.permute(0, 2, 3, 1)[v_t]
                y_t[v_t] = torch.from_numpy(_to_labels(flat.cpu().numpy(), "sinkhorn")).to(device)
            y_t = torch.where(v_t, y_t, torch.full_like(y_t, -1))
    else:
        y_t = torch.from_numpy(y).to(device)
    # view B: a random crop, flip/rotation and spectral jitter; labels follow the geometry
    r0, c0 = (int(v) for v in rng.integers(0, 2 * cfg.crop + 1, size=2))
    sl = (slice(r0, r0 + cfg.patch_size), slice(c0, c0 + cfg.patch_size))
    codes = random_geometry(len(x), rng)
    xb = apply_geometry(x_t[:, :, sl[0], sl[1]], codes)
    vb = apply_geometry(v_t[:, sl[0], sl[1]], codes)
    yb = apply_geometry(y_t[:, sl[0], sl[1]], codes)
    xb = jitter(xb, vb, gen)
    yb = torch.where(vb, yb, torch.full_like(yb, -1))
    loss = uic_loss(net(xb), yb, balance=cfg.balance, balance_weight=cfg.balance_weight,
                    class_weight=weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


@torch.no_grad()
def _ema_update(teacher: UICNet, net: UICNet, decay: float) -> None:
    for pt, ps in zip(teacher.parameters(), net.parameters()):
        pt.mul_(decay).add_(ps.detach(), alpha=1 - decay)


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The configuration as a JSON-able dictionary (for model metadata)."""
    return asdict(cfg)
