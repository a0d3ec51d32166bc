"""The UIC engine: fit on scenes, predict windows, save and load (the Engine protocol).

``fit`` learns the first stage (normalisation and PCA) from a pixel sample and reads a bounded
pool of scene regions; it fits ONE full-covariance Gaussian mixture to the pool's
3x3-median-smoothed channels (tied where a tied and a diagonal mixture agree against it,
:func:`geouic.uic.labels.choose_mixture`) and regularises its posteriors over space with a Potts random
field, whose class distributions then re-estimate the mixture (two rounds of spatially
regularised EM, :func:`geouic.uic.labels.initial_labels`); then ``members`` short networks learn those
labels (a distillation: the network is what predicts other scenes, tiles seamlessly and gives
confidence and entropy), and the *medoid* non-degenerate member is kept (when every member is
degenerate, one spare is trained with the next seed, so the default single member is not left
without a fallback). Only that network is
stored and used, so prediction costs one network, followed by the same Potts field on the
network's log-probabilities (:func:`geouic.uic.labels.potts_field`, a finite number of mean-field
iterations: the halo is the network's radius plus those iterations, so tiling stays exact).

Why this shape (measured 2026-12-01, seed 0, Hungarian-matched OA at K = number of classes;
``benchmarks/_work`` scripts on the labelled scenes of ``../shared/data``): the starting labels
decide the map. One member trained 20 epochs from them ended within about one point of where
it started (salinas_a 0.849 -> 0.841, indian_pines_roi70 0.689 -> 0.677, landsat5_amazon
0.924 -> 0.922, nc_landsat7 0.514 -> 0.522), so the self-labelling epochs were dropped from the
defaults and training is a short distillation. Full covariance on the median-smoothed channels
beat the diagonal mixture on the scenes where the old engine lost (nc_landsat7 0.509 vs 0.435,
rsgislib_aber_s2 0.961 vs 0.809, historical_map 0.616 vs 0.608) and the Potts field added
+0.1 to +4 points on every scene (beta 4 best of 0, 1, 2, 4 on both halves of the protocol).
The distilled network alone ended 0.005-0.02 below the labels it learnt on 6 of 10 scenes; the
same field applied to its log-probabilities on the map (third round, seeds 0-2) recovered that
and more on both halves (indian_pines_roi70 0.701 -> 0.737, salinas_150 0.883 -> 0.901), beta 4
again best of 1, 2, 4 (benchmarks/RESULTS.md, "Third round").
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import numpy as np
import torch

from geouic.engine import Engine
from geouic._memory import release_freed_memory
from geouic._threads import single_threaded_blas
from geouic.errors import ModelError, ParameterError
from geouic.raster import RasterSource
from geouic.sampling import sample_pixels
from geouic.uic.budget import label_dtype, plan_fit
from geouic.uic.config import DEVICES, OBSOLETE, UICConfig
from geouic.uic.data import PatchPool, Projection
from geouic.uic.labels import FIELD_ITERATIONS, count_distinct, initial_labels, potts_field
from geouic.uic.model import DEFAULT_ARCH, UICNet, build_net, forward_tiled, receptive_radius
from geouic.uic.train import MemberResult, label_nmi, train_member

__all__ = ["UICEngine", "UICConfig", "resolve_device", "DEVICES"]

logger = logging.getLogger(__name__)

#: Side of the tiles of one forward pass in prediction (bounds activation memory, fits caches).
PREDICT_TILE = 256
#: Members trained, one at a time, only when every member's map is degenerate.
SPARE_MEMBERS = 1
_D = UICConfig()


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    if device not in DEVICES:
        raise ParameterError(f"device={device!r} is invalid: choose one of {', '.join(DEVICES)}.")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device='cuda' was asked for but torch sees no CUDA device; use device cpu or auto.",
                             params=("device",))
    return torch.device(device)


class UICEngine(Engine):
    """Unsupervised Image Classification (UIC) with a small fully-convolutional network.

    Every parameter is a field of the engine's one configuration, :class:`UICConfig`
    (``engine.config``), validated in :meth:`fit`.

    Parameters
    ----------
    n_classes : int, default=12
        Number of classes K.
    seed : int, optional
        Seeds sampling, clustering, initialisation, augmentation and batch order. ``None`` is 0.
        The same seed gives the same map on the CPU.
    normalize : {"zscore", "robust", "none"}, default="zscore"
        Per-band normalisation (statistics of valid pixels, stored in the model).
    sample_size : int, default=100000
        Pixels sampled to fit the normalisation and the PCA.
    epochs : int, default=12
        Most distillation epochs per member; a member stops once its network reproduces
        ``agreement`` of its labels.
    patch_size : int, default=32
        Side of the trained view in pixels (patches are read ``2 * crop`` larger).
    batch_size : int, default=16
        Patches per optimisation step.
    lr : float, default=3e-3
        Adam learning rate.
    device : {"auto", "cpu", "cuda"}, default="auto"
        ``auto`` uses CUDA when torch sees a GPU, else the CPU.
    members : int, default=1
        Networks trained from different seeds on the same starting labels; the medoid
        (highest mean NMI with the others' maps) among the non-degenerate ones (see
        :func:`degenerate`) is kept. When every member is degenerate, one spare member is
        trained with the next seed. Needs no labels. (With two members the medoid is a tie
        that keeps the first unless it is degenerate, so the old default of 2 gave the same
        maps as 1 with the spare, at twice the training CPU: benchmarks/RESULTS.md, fifth round.)
    hidden : int, default=32
        Width of the hidden layers.
    n_spatial : int, default=2
        Number of 3x3 layers; the receptive radius, hence the halo, is ``n_spatial`` pixels.
    pca_components : int, default=16
        Scenes with more bands are reduced by a stored PCA to this many (whitened) channels.
    pool_pixels : int, default=1048576
        Most pixels of the training scenes held in memory for cutting patches and labelling.
        Scenes up to this size are used whole. ``fit(..., mem_limit_mb=)`` takes fewer when
        the budget cannot hold them (see :mod:`geouic.uic.budget`).
    covariance : {"auto", "full", "diag", "tied", "spherical"}, default="auto"
        Covariance of the Gaussian mixture that gives the starting labels (fitted once, on the
        3x3-median-smoothed channels; see :func:`geouic.uic.labels.initial_labels`). ``"auto"``
        is full, or tied where the tied and diagonal mixtures agree with each other much better
        than with the full one (:func:`geouic.uic.labels.choose_mixture`).
    smoothing : float, default=4.0
        Strength of the Potts random field that regularises the mixture's posteriors over
        space before the networks learn them, and the network's log-probabilities on the map
        (:data:`~geouic.uic.labels.FIELD_ITERATIONS` mean-field iterations, which add as many
        pixels to the halo; 0: no field, the network's own argmax).
    init_n : int, default=4
        Mixture starts; the most likely non-degenerate one is kept.
    threads : int, optional
        CPU only: members trained side by side, each on one torch thread (default: the cores
        this process may use, at most ``members``). torch's thread count is restored after
        ``fit``. The first stage and the starting labels run with one BLAS thread (see
        :mod:`geouic._threads`), so the map does not depend on the BLAS thread count.
    agreement : float, default=0.95
        Share of its labels a member must reproduce to stop before ``epochs``.
    balance_weight : float, default=0.1
        Weight of the weak entropy-of-mean term of the loss.
    steps_per_epoch : int, optional
        Optimisation steps per epoch (default: about one pass over the pool, 8-32).
    crop : int, default=4
        Random crop margin of the trained view.
    min_class_fraction : float, default=0.002
        Classes smaller than this share of the pool are repaired.
    augment : dict, optional
        :class:`~geouic.uic.augment.SpectralJitter` settings of the trained view.

    Attributes
    ----------
    config : UICConfig
    n_classes_ : int
    band_names_ : list of str
    projection_ : Projection
        The stored first stage (normalisation and PCA).
    net_ : UICNet
        The kept member's network.
    history_ : list of dict
        Per-epoch log of the kept member (loss, NMI with the previous epoch, class sizes).
    member_nmi_ : list of list of float
        Pairwise NMI between the members' maps.
    chosen_member_ : int
        Index of the kept member.
    field_ : dict
        The map's Potts field, ``{"beta", "iterations"}`` (stored in the model file as
        ``map_field``; a file written before it had one predicts without it).
    halo : int
        The network's receptive radius plus the field's iterations.
    """

    method = "uic"
    extra_outputs = frozenset({"confidence", "entropy", "memberships"})

    def __init__(self, n_classes: int = _D.n_classes, *, seed: int | None = _D.seed, normalize: str = _D.normalize,
                 sample_size: int = _D.sample_size, epochs: int = _D.epochs, patch_size: int = _D.patch_size,
                 batch_size: int = _D.batch_size, lr: float = _D.lr, device: str = _D.device,
                 members: int = _D.members, hidden: int = _D.hidden, n_spatial: int = _D.n_spatial,
                 pca_components: int = _D.pca_components, pool_pixels: int = _D.pool_pixels,
                 covariance: str = _D.covariance, smoothing: float = _D.smoothing, init_n: int = _D.init_n,
                 threads: int | None = _D.threads, agreement: float = _D.agreement,
                 balance_weight: float = _D.balance_weight, steps_per_epoch: int | None = _D.steps_per_epoch,
                 crop: int = _D.crop, min_class_fraction: float = _D.min_class_fraction,
                 augment: dict[str, float] | None = None, **obsolete: Any):
        if obsolete:
            UICConfig.from_params(obsolete)  # raises, naming the parameters and why they went
        self.config = UICConfig(
            n_classes=n_classes, seed=seed, normalize=normalize, sample_size=sample_size, epochs=epochs,
            patch_size=patch_size, batch_size=batch_size, lr=lr, device=device, members=members, hidden=hidden,
            n_spatial=n_spatial, pca_components=pca_components, pool_pixels=pool_pixels, covariance=covariance,
            smoothing=smoothing, init_n=init_n, threads=threads, agreement=agreement,
            balance_weight=balance_weight, steps_per_epoch=steps_per_epoch, crop=crop,
            min_class_fraction=min_class_fraction, augment=dict(_D.augment if augment is None else augment))
        self.training_meta_: dict[str, Any] = {}  # what a loaded model file says about its training
        #: The Potts field on the map: interaction and mean-field iterations (beta 0: none).
        self.field_: dict[str, float] = _field(float(smoothing))
        self.halo = receptive_radius({**DEFAULT_ARCH, "n_spatial": n_spatial}) + int(self.field_["iterations"])

    # the common parameters, read as every engine holds them (see geouic.methods.COMMON_PARAMS)
    @property
    def n_classes(self) -> int:
        """Number of classes asked for (``config.n_classes``)."""
        return self.config.n_classes

    @property
    def seed(self) -> int | None:
        """``config.seed``."""
        return self.config.seed

    @property
    def sample_size(self) -> int:
        """``config.sample_size``."""
        return self.config.sample_size

    @property
    def normalize(self) -> str:
        """``config.normalize``."""
        return self.config.normalize

    @property
    def arch(self) -> dict[str, int]:
        """The network architecture."""
        return {**DEFAULT_ARCH, "hidden": int(self.config.hidden), "n_spatial": int(self.config.n_spatial)}

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, sources: Sequence[RasterSource], *, training: Any = None,
            progress: Callable[..., None] | None = None, mem_limit_mb: float | None = None) -> UICEngine:
        """Train on one or several scenes with the same bands; return self.

        Patches are drawn from every scene (in proportion to its size), so the classes mean
        the same in all of them. Ctrl-C (KeyboardInterrupt) stops the members within one
        optimisation step. ``progress(advance, total, note)`` is called after every epoch of
        every member (``total`` = members x epochs; a member that stops early advances by its
        epochs left), with a note such as ``"member 1/2, epoch 3/12, NMI 0.981"``.

        ``mem_limit_mb`` (``--mem-limit``) bounds the training's working memory: the pool and
        its label maps, and the strips in which the starting labels are computed (see
        :mod:`geouic.uic.budget`; torch itself is a fixed floor outside it). The pool is
        smaller than ``pool_pixels`` only when the budget cannot hold it (a warning says so);
        ``None`` keeps the whole pool.

        Raises
        ------
        ParameterError
            An invalid configuration field, scenes with different bands, or too few distinct
            valid pixels for the classes asked for.
        """
        if isinstance(sources, RasterSource):
            sources = [sources]
        cfg = self.config.validate()
        k = int(cfg.n_classes)
        device = resolve_device(cfg.device)
        names = list(sources[0].band_names)
        for s in sources[1:]:
            if s.count != len(names):
                raise ParameterError(f"{s.path} has {s.count} bands but {sources[0].path} has {len(names)}; "
                                     "every training scene needs the same bands (select them with bands).",
                                     params=("bands",))
        seed = 0 if cfg.seed is None else int(cfg.seed)
        t0 = time.perf_counter()
        with single_threaded_blas():  # see geouic._threads; the members set torch's threads themselves
            pool, chunk = self._first_stage_and_pool(sources, cfg, k, seed, device, mem_limit_mb)
            #: The starting mixture's covariance (and, for "auto", the agreements that chose it).
            self.mixture_: dict[str, Any] = {}
            initial = initial_labels(pool, k, seed, covariance=cfg.covariance, n_init=int(cfg.init_n),
                                     beta=float(cfg.smoothing), chunk_pixels=chunk,
                                     info=self.mixture_).astype(label_dtype(k))
        logger.info("starting labels: class shares %s", " ".join(
            f"{v:.3f}" for v in np.bincount(initial, minlength=k) / len(initial)))
        n = int(cfg.members)
        # children of one SeedSequence: member i's seed does not depend on how many are spawned
        member_seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n + SPARE_MEMBERS)]
        report = _EpochReport(progress, n, int(cfg.epochs))
        results = self._train_members(pool, initial, member_seeds[:n], device, report)
        for spare in range(n, n + SPARE_MEMBERS):
            if not all(degenerate(r.labels, k) for r in results):
                break
            logger.warning("every member's map is degenerate (one class above 90 %% or one below 0.1 %% of the pool); "
                           "training a spare member with the next seed")
            report.add_member()
            results += self._train_members(pool, initial, [member_seeds[spare]], device, report, first=spare)
        best, nmi = _medoid([r.labels for r in results], k)
        self.member_nmi_ = nmi.tolist()
        self.chosen_member_ = best
        kept = results[best]
        self.history_ = kept.history
        self.net_ = kept.net
        self._order_classes(pool, kept.labels)
        self.field_ = _field(float(cfg.smoothing))
        self.halo = self.net_.radius + int(self.field_["iterations"])
        self.n_classes_ = k
        self.band_names_ = names
        self.class_names_: dict[int, str] = {}
        self.fit_seconds_ = time.perf_counter() - t0
        self._device = device
        _place(self.net_, device)
        logger.info("kept member %d (mean NMI with the others %.3f); fit took %.1f s", best + 1,
                    float(nmi[best].sum() / max(1, len(nmi) - 1)), self.fit_seconds_)
        del pool, initial, results, kept
        release_freed_memory(collect=True)  # the pool's and members' temporaries (see geouic._memory)
        return self

    def _first_stage_and_pool(self, sources: Sequence[RasterSource], cfg: UICConfig, k: int, seed: int,
                              device: torch.device, mem_limit_mb: float | None) -> tuple[PatchPool, int | None]:
        """Fit the first stage on a pixel sample and read the pool; return it and its strip size."""
        X = sample_pixels(sources, cfg.sample_size, seed=seed)
        if len(X) < k:
            raise ParameterError(f"{sources[0].path}: only {len(X)} valid pixels for {k} classes; "
                                 "lower n_classes or check the nodata value.", params=("n_classes",))
        distinct = count_distinct(X)
        if distinct < k:
            where = sources[0].path if len(sources) == 1 else f"{len(sources)} scenes ({sources[0].path}, ...)"
            raise ParameterError(f"{where}: the {len(X)} sampled valid pixels hold only {distinct} distinct "
                                 f"values, fewer than the {k} classes asked for; "
                                 f"lower n_classes to {distinct} or less.", params=("n_classes",))
        self.projection_ = Projection(cfg.normalize, cfg.pca_components).fit(X)
        plan = plan_fit(mem_limit_mb, channels=self.projection_.n_channels, k=k, pool_pixels=cfg.pool_pixels,
                        members_at_once=self._members_at_once(device),
                        scene_pixels=sum(s.width * s.height for s in sources))
        pool = PatchPool.from_sources(sources, self.projection_, pool_pixels=plan.pool_pixels, seed=seed)
        read = sum(int(r.valid.size) for r in pool.regions)
        chunk = plan.chunk_pixels(read)
        #: What the fit's budget gave (also in the model file's training metadata).
        self.fit_memory_: dict[str, Any] = {"mem_limit_mb": mem_limit_mb, "pool_pixels": read,
                                            "asked_pool_pixels": cfg.pool_pixels, "chunk_pixels": chunk}
        return pool, chunk

    def _train_members(self, pool: PatchPool, initial: np.ndarray, seeds: list[int], device: torch.device,
                       report: _EpochReport, *, first: int = 0) -> list[MemberResult]:
        """Train one member per seed: on the CPU each runs on one torch thread, ``threads`` at once.

        One thread per member and members side by side use the cores better than several
        threads on the small convolutions of one member, and they do not stall when another
        process holds a core (OpenMP threads waiting for a descheduled sibling). An interrupt
        (Ctrl-C) sets the members' stop flag and returns without waiting for them: each ends
        within one optimisation step.
        """
        cfg = self.config
        stop = threading.Event()

        def one(i: int) -> MemberResult:
            name = f"member {first + i + 1}/{report.members}"
            logger.info("training %s (seed %d) on %s", name, seeds[i], device)
            res = train_member(pool, initial, cfg, seed=seeds[i], arch=self.arch, device=device, stop=stop,
                               name=name, on_epoch=lambda entry: report.epoch(name, entry))
            report.member_done(len(res.history))
            logger.info("%s: %d epochs in %.1f s", name, len(res.history), res.seconds)
            return res

        parallel = self._members_at_once(device)
        before = torch.get_num_threads()
        if device.type == "cpu":
            torch.set_num_threads(1)
        executor = ThreadPoolExecutor(max_workers=parallel) if parallel > 1 else None
        try:
            if executor is None:
                return [one(i) for i in range(len(seeds))]
            futures = [executor.submit(one, i) for i in range(len(seeds))]
            return [f.result() for f in futures]
        except BaseException:
            stop.set()  # the other members stop at their next step
            raise
        finally:
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
            torch.set_num_threads(before)

    def _members_at_once(self, device: torch.device) -> int:
        """Members trained side by side: one per free core on the CPU (at most ``threads``), one on a GPU."""
        cfg = self.config
        return 1 if device.type != "cpu" else max(1, min(int(cfg.members), cfg.threads or _free_cores()))

    @torch.no_grad()
    def _order_classes(self, pool: PatchPool, labels: np.ndarray) -> None:
        """Number classes by mean brightness of their pixels (empty classes last), as k-means does."""
        k = int(self.config.n_classes)
        bright = pool.valid_channel(0) if pool.n_channels else np.zeros(len(labels))
        # channel 0 is the first principal component or the first band: a proxy for brightness
        counts = np.bincount(labels, minlength=k)
        sums = np.bincount(labels, weights=bright, minlength=k)
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)
        order = np.argsort(mean, kind="stable")
        head = self.net_.head
        assert head.bias is not None  # the classifier has a bias
        head.weight.copy_(head.weight[torch.as_tensor(order)])
        head.bias.copy_(head.bias[torch.as_tensor(order)])

    # -- prediction ------------------------------------------------------------------------------
    def bytes_per_pixel(self, n_bands: int) -> int:
        """Memory of one window pixel in prediction.

        The read, the first stage, K log-probabilities and the field's working copies (its padded
        distributions, neighbour sums, softmax).
        """
        k = int(getattr(self, "n_classes_", self.config.n_classes))
        channels = self.projection_.n_channels if hasattr(self, "projection_") else min(n_bands, 16)
        return super().bytes_per_pixel(n_bands) + 4 * (2 * channels + 8 * k)

    def set_device(self, device: str) -> None:
        """Move the network to ``device`` (``"auto"``, ``"cpu"`` or ``"cuda"``)."""
        self.check_fitted()
        self._device = resolve_device(device)
        _place(self.net_, self._device)

    def _first_stage(self) -> tuple[torch.Tensor, torch.Tensor]:
        cache = getattr(self, "_affine", None)
        if cache is None or cache[0].device != self._device:
            W, b = self.projection_.affine()
            cache = (torch.from_numpy(W).to(self._device), torch.from_numpy(b).to(self._device))
            self._affine = cache
        return cache

    @torch.inference_mode()
    def predict_block(self, data: np.ndarray, valid: np.ndarray, *,
                      outputs: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
        """Label one window read with the halo (see :meth:`geouic.engine.Engine.predict_block`).

        Pixels within ``halo`` of the window's edge lack context unless the window is the
        scene's edge; :func:`geouic.pipeline.apply_engine` reads with the halo and keeps the core.
        """
        self.check_fitted()
        self.net_.eval()
        rows, cols = valid.shape
        result: dict[str, np.ndarray] = {}
        if not valid.any():
            result["labels"] = np.zeros(valid.shape, np.uint16)
            for name in outputs:
                shape = (self.n_classes_, rows, cols) if name == "memberships" else (rows, cols)
                result[name] = np.zeros(shape, np.float32)
            return result
        W, b = self._first_stage()
        v = torch.from_numpy(np.ascontiguousarray(valid)).to(self._device)
        raw = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32)).to(self._device)
        x = torch.einsum("cb,bhw->chw", W, raw) + b[:, None, None]
        x = x * v
        want_proba = bool(outputs & {"confidence", "entropy", "memberships"})
        beta = float(self.field_["beta"])

        def head(t: torch.Tensor) -> torch.Tensor:
            logits = self.net_(t)
            if beta > 0:
                return torch.log_softmax(logits, 1)
            if not want_proba:
                return logits.argmax(1, keepdim=True).to(logits.dtype)
            return torch.cat([logits.argmax(1, keepdim=True).to(logits.dtype), torch.softmax(logits, 1)], 1)

        out = forward_tiled(head, x, self.net_.radius, tile=PREDICT_TILE)
        if beta > 0:  # the map's Potts field (halo: the network's radius + its iterations)
            field = potts_field(out, v, beta=beta, iterations=int(self.field_["iterations"]))
            # The labels and memberships come from the field (labels = argmax of memberships);
            # confidence and entropy from the network's own softmax. The field's posterior
            # saturates (measured 0.98 on a 50/50 mixed pixel, against 0.59 for the network), so
            # it would hide the mixed pixels a confidence map is for; the network's probability of
            # the label the map chose is low both on spectral mixtures and where the field
            # overrode the spectrum.
            net = out.exp() if want_proba else None
            out = torch.cat([field.argmax(0, keepdim=True).to(field.dtype), field], 0) if want_proba \
                else field.argmax(0, keepdim=True).to(field.dtype)
            del field
        else:
            net = out[1:] if want_proba else None
        labels = (out[0].to(torch.int32) + 1) * v
        result["labels"] = labels.cpu().numpy().astype(np.uint16)
        if want_proba:
            assert net is not None
            if "confidence" in outputs:
                chosen = net.gather(0, out[:1].long()).squeeze(0)  # the network's probability of the map's label
                result["confidence"] = (chosen * v).cpu().numpy().astype(np.float32)
            if "entropy" in outputs:
                ent = -(net * torch.log(net.clamp_min(1e-12))).sum(0)
                result["entropy"] = (ent * v).cpu().numpy().astype(np.float32)
            if "memberships" in outputs:
                result["memberships"] = (out[1:] * v).cpu().numpy().astype(np.float32)
        return result

    # -- state ---------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Method and configuration (for provenance tags)."""
        return {"method": self.method, **self.config.to_dict()}

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Metadata (K, bands, normalisation, architecture, versions, training) and arrays."""
        self.check_fitted()
        proj_meta, proj_arrays = self.projection_.get_state()
        meta = {
            "engine": "uic",
            **self.describe(),
            "n_classes": self.n_classes_,
            "band_names": self.band_names_,
            "class_names": {str(k): v for k, v in self.class_names_.items()},
            "first_stage": proj_meta,
            "normalizer": proj_meta["normalizer"],
            "arch": {**self.net_.arch, "in_channels": self.net_.body[0].in_channels,
                     "receptive_radius": self.net_.radius},
            "map_field": dict(self.field_),
            "torch_version": torch.__version__,
            "training": self._training_meta(),
        }
        arrays = dict(proj_arrays)
        for name, t in self.net_.state_dict().items():
            arrays[f"net.{name}"] = t.detach().cpu().numpy().copy()
        return meta, arrays

    def _training_meta(self) -> dict[str, Any]:
        if not hasattr(self, "fit_seconds_"):  # loaded from a file: keep what it said
            return self.training_meta_
        return {
            "config": self.config.to_dict(),
            "fit_seconds": round(self.fit_seconds_, 2),
            "member_nmi": self.member_nmi_,
            "chosen_member": self.chosen_member_,
            "epochs_run": len(self.history_),
            "memory": getattr(self, "fit_memory_", {}),
            "mixture": getattr(self, "mixture_", {}),
            "history": self.history_,
        }

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> UICEngine:
        """Rebuild a fitted engine from :meth:`get_state` output (CPU; see :meth:`set_device`)."""
        arch = meta["arch"]
        fields = set(UICConfig.__dataclass_fields__) - {"n_classes", "seed", "device"}
        params = {k: meta[k] for k in fields if k in meta}
        dropped = sorted((set(meta) | set(meta.get("train") or {})) & OBSOLETE)
        if dropped:  # written before the configuration was folded: prediction does not use them
            logger.info("model file names training parameters this geouic no longer has (%s); ignored",
                        ", ".join(dropped))
        params.update({k: v for k, v in (meta.get("train") or {}).items() if k in fields})
        if params.get("epochs") is None:
            params.pop("epochs", None)
        try:
            engine = cls(n_classes=int(meta["n_classes"]), seed=meta.get("seed"), device="cpu", **params)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"the model file's UIC parameters cannot be read ({exc}); "
                             "re-create it with this geouic (geouic train / classify --save-model).") from None
        engine.projection_ = Projection.from_state(meta["first_stage"], arrays)
        net = build_net(int(arch["in_channels"]), int(meta["n_classes"]), arch)
        state = {k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("net.")}
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelError(f"the network weights do not fit the stored architecture: {str(exc)[:200]}") from None
        engine.net_ = _place(net.eval(), torch.device("cpu"))
        # files written before the map had a field (no "map_field") predict as they were trained
        engine.field_ = _field(float((meta.get("map_field") or {}).get("beta", 0.0)),
                               int((meta.get("map_field") or {}).get("iterations", FIELD_ITERATIONS)))
        engine.halo = net.radius + int(engine.field_["iterations"])
        engine.n_classes_ = int(meta["n_classes"])
        engine.band_names_ = list(meta["band_names"])
        engine.class_names_ = {int(k): v for k, v in meta.get("class_names", {}).items()}
        engine._device = torch.device("cpu")
        engine.training_meta_ = meta.get("training") or {}
        return engine


def _field(beta: float, iterations: int = FIELD_ITERATIONS) -> dict[str, float]:
    """The map's Potts field: ``{"beta", "iterations"}``, no iterations when ``beta`` is 0."""
    return {"beta": beta, "iterations": iterations if beta > 0 else 0}


def _place(net: UICNet, device: torch.device) -> UICNet:
    """Move ``net`` to ``device`` in channels-last layout (torch's stubs lack ``memory_format``)."""
    return cast(UICNet, cast(Any, net).to(device, memory_format=torch.channels_last))


def _free_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def degenerate(labels: np.ndarray, k: int, *, max_share: float = 0.9, min_share: float = 0.001) -> bool:
    """Whether a member's labelling has collapsed.

    That is one class above ``max_share`` of the pixels, or a class below ``min_share`` (empty
    or meaningless). Needs no reference labels.
    """
    share = np.bincount(labels, minlength=k) / max(1, len(labels))
    return bool(share.max() > max_share or share.min() < min_share)


def _medoid(label_sets: list[np.ndarray], k: int) -> tuple[int, np.ndarray]:
    """Index of the labelling with the highest mean NMI to the others, and the NMI matrix.

    Degenerate labellings (see :func:`degenerate`) are never chosen while another is not.
    """
    m = len(label_sets)
    nmi = np.eye(m)
    for i in range(m):
        for j in range(i + 1, m):
            nmi[i, j] = nmi[j, i] = label_nmi(label_sets[i], label_sets[j])
    if m == 1:
        return 0, nmi
    score = (nmi.sum(axis=1) - 1) / (m - 1)
    bad = np.array([degenerate(labels, k) for labels in label_sets])
    if bad.any() and not bad.all():
        logger.info("members %s are degenerate and not chosen", (np.flatnonzero(bad) + 1).tolist())
        score = np.where(bad, -np.inf, score)
    return int(np.argmax(score)), nmi


class _EpochReport:
    """Turns members' epochs (from several threads) into ``progress(advance, total, note)`` calls."""

    def __init__(self, progress: Callable[..., None] | None, members: int, epochs: int) -> None:
        self.progress, self.epochs, self.members = progress, epochs, members
        self.total = members * epochs
        self.lock = threading.Lock()

    def add_member(self) -> None:
        """A spare member will be trained: the bar's total grows by its epochs."""
        with self.lock:
            self.members += 1
            self.total += self.epochs

    def epoch(self, name: str, entry: dict[str, Any]) -> None:
        """One epoch of member ``name`` finished."""
        if self.progress is not None:
            with self.lock:
                self.progress(1, self.total, f"{name}, epoch {entry['epoch']}/{self.epochs}, NMI {entry['nmi']:.3f}")

    def member_done(self, epochs_run: int) -> None:
        """A member ended after ``epochs_run`` epochs: the bar skips the epochs it did not need."""
        if self.progress is not None and epochs_run < self.epochs:
            with self.lock:
                self.progress(self.epochs - epochs_run, self.total, None)
