"""The UIC training loop on raster patches.

One *member* is one network trained from one seed:

1. initial labels: k-means on the pool's 3x3-smoothed channels (``init="kmeans"``), random
   labels, or the untrained network's argmax (``init="network"``, which the prototype found
   does not work; kept for comparison);
2. every epoch, pseudo-labels are the argmax of the network's softmax on one augmented view of
   the pool (``teacher="epoch"``: the network as it was at the end of the previous epoch, as in
   the reference code) or, batch by batch, of an exponential moving average of the network
   (``teacher="ema"``);
3. a class that is empty or vanishing is repaired by splitting the largest class in two with
   2-means on the network's last hidden features, and the classifier is split the same way;
4. the loss is the cross-entropy of a second, independently augmented view (crop, flip,
   rotation, spectral jitter) against the aligned pseudo-labels, nodata pixels ignored, plus
   the chosen balancing (a weak entropy-of-mean term by default);
5. the NMI between consecutive epochs' labels and the class-size histogram are logged, and
   training stops when both plateau or at the epoch budget.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import normalized_mutual_info_score

from geouic.errors import ParameterError
from geouic.uic.augment import SpectralJitter, apply_geometry, invert_geometry, random_geometry
from geouic.uic.data import PatchPool
from geouic.uic.model import UICNet, build_net, forward_tiled, init_weights

__all__ = ["TrainConfig", "MemberResult", "train_member", "uic_loss", "repair_empty", "predict_pool",
           "BALANCES", "TEACHERS", "INITS", "initial_labels"]

logger = logging.getLogger(__name__)

BALANCES = ("entropy", "none", "invfreq", "sinkhorn")
TEACHERS = ("epoch", "ema")
INITS = ("gmm", "kmeans", "random", "network")
COVARIANCES = ("full", "diag", "tied", "spherical")
#: Spectral jitter of the trained view.
STRONG_AUGMENT = {"gain": 0.05, "offset": 0.05, "noise": 0.03, "blur": 0.25, "dropout": 0.0}
#: Spectral jitter of the view that gives the pseudo-labels (the trained view gets the default).
WEAK_AUGMENT = {"gain": 0.02, "offset": 0.02, "noise": 0.02, "blur": 0.0, "dropout": 0.0}
#: Pixels of the pool used for the NMI between epochs (a fixed random subset).
MONITOR_PIXELS = 100_000


@dataclass
class TrainConfig:
    """Parameters of one UIC training run (see :class:`geouic.uic.UICEngine` for their meaning)."""

    epochs: int = 20
    steps_per_epoch: int | None = None
    patch_size: int = 32
    batch_size: int = 16
    lr: float = 3e-3
    crop: int = 4
    teacher: str = "epoch"
    ema_decay: float = 0.99
    balance: str = "entropy"
    balance_weight: float = 0.1
    init: str = "gmm"
    init_n: int = 4
    init_covariance: str = "diag"
    warmup_epochs: int = 8
    warmup_agreement: float = 0.95
    min_class_fraction: float = 0.002
    min_epochs: int = 6
    patience: int = 3
    nmi_plateau: float = 0.98
    hist_plateau: float = 0.01
    augment: dict[str, float] = field(default_factory=lambda: dict(STRONG_AUGMENT))
    label_augment: dict[str, float] = field(default_factory=lambda: dict(WEAK_AUGMENT))
    self_lr: float = 1.0

    def validate(self) -> None:
        """Raise :class:`ParameterError` naming the first invalid parameter."""
        for name, low in (("epochs", 1), ("patch_size", 8), ("batch_size", 1), ("crop", 0), ("init_n", 1),
                          ("min_epochs", 1), ("patience", 1), ("warmup_epochs", 0)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ParameterError(f"{name}={value!r} is invalid: must be an integer >= {low}.")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise ParameterError(f"steps_per_epoch={self.steps_per_epoch!r} is invalid: must be >= 1.")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 1):
            raise ParameterError(f"lr={self.lr!r} is invalid: must be in (0, 1).")
        for name, allowed in (("teacher", TEACHERS), ("balance", BALANCES), ("init", INITS),
                              ("init_covariance", COVARIANCES)):
            if getattr(self, name) not in allowed:
                raise ParameterError(f"{name}={getattr(self, name)!r} is invalid: choose one of {', '.join(allowed)}.")
        if not 0 <= self.ema_decay < 1:
            raise ParameterError(f"ema_decay={self.ema_decay!r} is invalid: must be in [0, 1).")
        if self.balance_weight < 0:
            raise ParameterError(f"balance_weight={self.balance_weight!r} is invalid: must be >= 0.")


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


def sinkhorn_labels(logp: np.ndarray, n_iter: int = 3) -> np.ndarray:
    """Labels under an equal-size constraint: Sinkhorn-Knopp on ``exp(logp)`` (n, K)."""
    q = np.exp(logp - logp.max(axis=1, keepdims=True)).astype(np.float64)
    n, k = q.shape
    for _ in range(n_iter):
        q /= np.maximum(q.sum(axis=0, keepdims=True), 1e-12) * k
        q /= np.maximum(q.sum(axis=1, keepdims=True), 1e-12) * n
    return q.argmax(axis=1)


def inverse_frequency(labels: np.ndarray, k: int) -> np.ndarray:
    """Class weights proportional to 1/size (empty classes 0), mean weight 1 over used classes."""
    counts = np.bincount(labels[labels >= 0], minlength=k).astype(np.float64)
    w = np.where(counts > 0, 1.0 / np.maximum(counts, 1), 0.0)
    used = counts > 0
    return (w / w[used].mean()).astype(np.float32)


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


def initial_labels(pool: PatchPool, k: int, seed: int, *, method: str = "gmm", n_init: int = 4,
                   covariance: str = "diag", max_fit: int = 20_000) -> np.ndarray:
    """Cluster the pool's 3x3-median-smoothed channels (fitted on a subsample).

    ``method="gmm"``: a diagonal-covariance Gaussian mixture (k-means-started), which lets a
    compact class and a widely spread one coexist where k-means splits the spread one; the
    best of ``n_init`` starts by likelihood is kept. ``method="kmeans"``: k-means++.
    """
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    X = pool.smoothed_features(pool.geometry)
    rng = np.random.default_rng(seed)
    fit = X[rng.choice(len(X), max_fit, replace=False)] if len(X) > max_fit else X
    seeds = rng.integers(0, 2**31 - 1, size=n_init)
    if method == "kmeans":
        return KMeans(n_clusters=k, n_init=n_init, random_state=int(seeds[0])).fit(fit).predict(X).astype(np.int64)
    best, best_bound = None, -np.inf
    for s in seeds:
        gmm = GaussianMixture(k, covariance_type=covariance, random_state=int(s), reg_covar=1e-4).fit(fit)
        if gmm.lower_bound_ > best_bound:
            best, best_bound = gmm, gmm.lower_bound_
    return best.predict(X).astype(np.int64)


# -- empty-class repair -----------------------------------------------------------------------
def repair_empty(net: UICNet, labels: np.ndarray, embeddings: np.ndarray | Callable[[], np.ndarray], *,
                 min_count: int, seed: int, extra: list[UICNet] | None = None) -> tuple[np.ndarray, list[int]]:
    """Give every class with fewer than ``min_count`` pixels half of the largest class.

    The largest class is split with 2-means on the network's last hidden features
    ``embeddings`` (n, hidden), not halved at random; the pixels nearer the second centre take
    the empty class, and the classifier rows of both classes are moved apart along the line
    between the two centres, so the network predicts the split too.

    Parameters
    ----------
    net : UICNet
        Its head is edited in place (and that of every network in ``extra``, e.g. a teacher).
    labels : ndarray (n,) int
        Per-pixel labels 0..K-1 (-1 ignored); a repaired copy is returned.
    embeddings : ndarray (n, hidden), or a callable returning it
        The callable is only called when a class needs repair.
    min_count : int
    seed : int

    Returns
    -------
    labels : ndarray (n,)
    repaired : list of int
        Classes that were refilled.
    """
    from sklearn.cluster import KMeans

    k = net.head.out_channels
    labels = labels.copy()
    counts = np.bincount(labels[labels >= 0], minlength=k)
    repaired: list[int] = []
    if counts.min() >= min_count:
        return labels, repaired
    if callable(embeddings):
        embeddings = embeddings()
    for empty in np.flatnonzero(counts < min_count):
        big = int(counts.argmax())
        idx = np.flatnonzero(labels == big)
        if len(idx) < 2 * max(min_count, 1):
            break
        rng = np.random.default_rng(seed + int(empty))
        fit = embeddings[rng.choice(idx, min(len(idx), 4000), replace=False)].astype(np.float64)
        km = KMeans(n_clusters=2, n_init=3, random_state=seed).fit(fit)
        c0, c1 = km.cluster_centers_
        if np.allclose(c0, c1):
            continue
        side = km.predict(embeddings[idx].astype(np.float64))
        moved = idx[side == 1]
        if len(moved) < min_count or len(moved) == len(idx):
            continue
        labels[moved] = empty
        counts[big] -= len(moved)
        counts[empty] += len(moved)
        for n in [net, *(extra or [])]:
            _split_head(n, big, int(empty), c0, c1)
        repaired.append(int(empty))
    return labels, repaired


@torch.no_grad()
def _split_head(net: UICNet, big: int, empty: int, c0: np.ndarray, c1: np.ndarray) -> None:
    """Classifier rows for ``big`` and ``empty`` that separate 2-means centres ``c0``/``c1``."""
    w, b = net.head.weight, net.head.bias  # (K, hidden, 1, 1), (K,)
    d = torch.as_tensor(c1 - c0, dtype=w.dtype, device=w.device)
    m = torch.as_tensor((c0 + c1) / 2, dtype=w.dtype, device=w.device)
    alpha = 2.0 / float((d * d).sum())
    wb = w[big, :, 0, 0].clone()
    bb = b[big].clone()
    w[empty, :, 0, 0] = wb + alpha * d
    b[empty] = bb - alpha * (d @ m)
    w[big, :, 0, 0] = wb - alpha * d
    b[big] = bb + alpha * (d @ m)


# -- the loop -----------------------------------------------------------------------------------
def _to_labels(logits: np.ndarray, balance: str) -> np.ndarray:
    if balance == "sinkhorn":
        return sinkhorn_labels(F.log_softmax(torch.from_numpy(logits), dim=1).numpy())
    return logits.argmax(axis=1).astype(np.int64)


def _nmi(a: np.ndarray, b: np.ndarray) -> float:
    return float(normalized_mutual_info_score(a, b))


def default_steps(pool: PatchPool, cfg: TrainConfig) -> int:
    """Steps per epoch: about one pass over the pool's valid pixels, between 8 and 32."""
    per_step = cfg.batch_size * cfg.patch_size ** 2
    return int(min(32, max(8, math.ceil(pool.n_valid / per_step))))


def train_member(pool: PatchPool, n_classes: int, cfg: TrainConfig, *, seed: int,
                 arch: dict[str, int], device: torch.device,
                 callback: Callable[[int, np.ndarray], None] | None = None) -> MemberResult:
    """Train one UIC network on the pool; see the module docstring for the loop.

    callback : callable, optional
        Called as ``callback(epoch, labels)`` with the pool labels after each epoch (epoch 0:
        the initial labels), e.g. to score them against a reference while tuning.

    Returns
    -------
    MemberResult
        The network (moved to the CPU), its final unaugmented labels of the valid pool pixels,
        and one history entry per epoch (loss, NMI with the previous epoch, class sizes).
    """
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(seed)
    net = build_net(pool.n_channels, n_classes, arch)
    init_weights(net, gen)
    net.to(device).train()
    teacher = copy.deepcopy(net).eval() if cfg.teacher == "ema" else None
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    jitter = SpectralJitter(**cfg.augment)
    label_jitter = SpectralJitter(**cfg.label_augment)
    steps = cfg.steps_per_epoch or default_steps(pool, cfg)
    min_count = max(1, int(cfg.min_class_fraction * pool.n_valid))
    monitor = rng.permutation(pool.n_valid)[:MONITOR_PIXELS]

    if cfg.init in ("kmeans", "gmm"):
        labels = initial_labels(pool, n_classes, seed, method=cfg.init, n_init=cfg.init_n,
                                covariance=cfg.init_covariance)
    elif cfg.init == "random":
        labels = rng.integers(0, n_classes, pool.n_valid)
    else:
        labels = predict_pool(net, pool, device).argmax(1)
    prev = labels[monitor]
    if callback is not None:
        callback(0, labels)
    history: list[dict[str, Any]] = []
    stable = 0
    self_labelled = cfg.warmup_epochs == 0
    for epoch in range(cfg.epochs):
        if self_labelled and cfg.teacher == "epoch":
            logits = predict_pool(net, pool, device, jitter=label_jitter, gen=gen, rng=rng)
            labels = _to_labels(logits, cfg.balance)
        if cfg.teacher == "epoch" or not self_labelled:
            emb = functools.partial(predict_pool, net, pool, device, what="embed")
            labels, repaired = repair_empty(net, labels, emb, min_count=min_count, seed=seed + epoch,
                                            extra=[teacher] if teacher is not None else None)
        else:
            repaired = []
        weight = None
        if cfg.balance == "invfreq":
            weight = torch.from_numpy(inverse_frequency(labels, n_classes)).to(device)
        maps = pool.split(labels)
        use_teacher = self_labelled and cfg.teacher == "ema"
        loss_sum = 0.0
        for _ in range(steps):
            loss = _step(net, teacher if use_teacher else None, opt, pool, maps, cfg, jitter,
                         label_jitter, weight, rng, gen, device)
            loss_sum += loss
            if teacher is not None:
                _ema_update(teacher, net, cfg.ema_decay if self_labelled else 0.0)
        # monitoring: unaugmented labels of a fixed pixel subset
        current = predict_pool(teacher or net, pool, device)
        cur_labels = current.argmax(1)
        agreement = float(np.mean(cur_labels[monitor] == labels[monitor]))
        if cfg.teacher == "ema" and self_labelled:
            emb = functools.partial(predict_pool, teacher, pool, device, what="embed")
            cur_labels, rep2 = repair_empty(teacher, cur_labels, emb, min_count=min_count,
                                            seed=seed + epoch, extra=[net])
            repaired += rep2
            labels = cur_labels
        nmi = _nmi(prev, cur_labels[monitor])
        hist = np.bincount(cur_labels[monitor], minlength=n_classes) / len(monitor)
        prev_hist = np.bincount(prev, minlength=n_classes) / len(monitor)
        change = float(np.abs(hist - prev_hist).sum() / 2)
        prev = cur_labels[monitor]
        if callback is not None:
            callback(epoch + 1, cur_labels)
        history.append({"epoch": epoch + 1, "phase": "self" if self_labelled else "warmup",
                        "loss": loss_sum / steps, "nmi": nmi, "agreement": agreement, "hist_change": change,
                        "repaired": repaired, "sizes": np.round(hist, 4).tolist()})
        logger.info("epoch %d (%s): loss %.3f, NMI with previous epoch %.4f, agreement with its labels %.3f, "
                    "class sizes %s%s", epoch + 1, "self-labelled" if self_labelled else "warm-up",
                    loss_sum / steps, nmi, agreement, " ".join(f"{h:.3f}" for h in hist),
                    f", repaired classes {repaired}" if repaired else "")
        if self_labelled and nmi >= cfg.nmi_plateau and change <= cfg.hist_plateau:
            stable += 1
        else:
            stable = 0
        if not self_labelled and (agreement >= cfg.warmup_agreement or epoch + 1 >= cfg.warmup_epochs):
            self_labelled = True
            if cfg.self_lr != 1.0:
                for group in opt.param_groups:
                    group["lr"] = cfg.lr * cfg.self_lr
        if epoch + 1 >= cfg.min_epochs and stable >= cfg.patience:
            logger.info("labels plateaued after %d epochs; stopping", epoch + 1)
            break
    final = teacher if teacher is not None else net
    final_labels = predict_pool(final, pool, device).argmax(1)
    emb = functools.partial(predict_pool, final, pool, device, what="embed")
    final_labels, _ = repair_empty(final, final_labels, emb, min_count=min_count, seed=seed)
    final = final.cpu().eval()
    return MemberResult(final, final_labels, history, time.perf_counter() - t0)


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
