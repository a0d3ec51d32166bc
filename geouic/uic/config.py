"""The one configuration of the UIC engine: every knob that changes what it learns or costs.

:class:`UICConfig` is what :class:`geouic.uic.UICEngine` holds and what
:func:`geouic.uic.train.train_member` reads; its field names are the engine's keyword
parameters, the registry's parameter names (:data:`geouic.methods.REGISTRY`) and, for the ones
the CLI offers, the option names (``--epochs``, ``--patch-size``, ``--batch-size``, ``--lr``,
``--device``). It is validated when the engine is fitted (:meth:`UICConfig.validate`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from geouic.errors import ParameterError
from geouic.uic.augment import SpectralJitter
from geouic.uic.labels import COVARIANCES

__all__ = ["UICConfig", "DEVICES", "NORMALIZATIONS", "STRONG_AUGMENT", "OBSOLETE"]

DEVICES = ("auto", "cpu", "cuda")
NORMALIZATIONS = ("zscore", "robust", "none")
#: Spectral jitter of the trained view.
STRONG_AUGMENT = {"gain": 0.05, "offset": 0.05, "noise": 0.03, "blur": 0.25, "dropout": 0.0}
#: Parameters of engines before the configuration was folded (issue 8): the self-labelling
#: phase, its teachers and balancing variants, which the defaults never ran. Model files that
#: name them still load (prediction does not depend on them); an engine asked for them refuses.
OBSOLETE = frozenset({"teacher", "balance", "warmup_epochs", "warmup_agreement", "ema_decay", "ema_halflife",
                      "warmup_ema", "label_augment", "self_lr", "lr_schedule", "final_lr", "min_epochs",
                      "patience", "nmi_plateau", "hist_plateau"})


@dataclass
class UICConfig:
    """Parameters of the UIC engine (see :class:`geouic.uic.UICEngine` for what each does).

    Parameters
    ----------
    n_classes : int, default=12
    seed : int, optional
        ``None`` is 0.
    normalize : {"zscore", "robust", "none"}, default="zscore"
    sample_size : int, default=100000
        Pixels sampled to fit the normalisation and the PCA.
    epochs : int, default=12
        Most distillation epochs per member; a member stops earlier once its network
        reproduces ``agreement`` of its labels.
    patch_size : int, default=32
    batch_size : int, default=16
    lr : float, default=3e-3
    device : {"auto", "cpu", "cuda"}, default="auto"
    members : int, default=1
    hidden : int, default=32
    n_spatial : int, default=2
    pca_components : int, default=16
    pool_pixels : int, default=1048576
    covariance : {"auto", "full", "diag", "tied", "spherical"}, default="auto"
    smoothing : float, default=4.0
        Potts interaction of the starting labels and of the map (0: none).
    init_n : int, default=4
        Mixture starts.
    threads : int, optional
    agreement : float, default=0.95
        Share of its labels a member must reproduce to stop before ``epochs``.
    balance_weight : float, default=0.1
        Weight of the weak entropy-of-mean term of the loss (0: none).
    steps_per_epoch : int, optional
        Default: about one pass over the pool, 8-32 steps.
    crop : int, default=4
        Random crop margin of the trained view.
    min_class_fraction : float, default=0.002
        Classes smaller than this share of the pool are repaired.
    augment : dict, default=STRONG_AUGMENT
        :class:`~geouic.uic.augment.SpectralJitter` settings of the trained view.
    """

    n_classes: int = 12
    seed: int | None = 0
    normalize: str = "zscore"
    sample_size: int = 100_000
    epochs: int = 12
    patch_size: int = 32
    batch_size: int = 16
    lr: float = 3e-3
    device: str = "auto"
    members: int = 1
    hidden: int = 32
    n_spatial: int = 2
    pca_components: int = 16
    pool_pixels: int = 1 << 20
    covariance: str = "auto"
    smoothing: float = 4.0
    init_n: int = 4
    threads: int | None = None
    agreement: float = 0.95
    balance_weight: float = 0.1
    steps_per_epoch: int | None = None
    crop: int = 4
    min_class_fraction: float = 0.002
    augment: dict[str, float] = field(default_factory=lambda: dict(STRONG_AUGMENT))

    def validate(self) -> UICConfig:
        """Return self, or raise :class:`ParameterError` naming the first invalid parameter."""
        k = self.n_classes
        if not _is_int(k) or not 2 <= k <= 65535:
            raise ParameterError(f"n_classes={k!r} is invalid: must be an integer between 2 and 65535.",
                                 params=("n_classes",))
        for name, low in (("epochs", 1), ("patch_size", 8), ("batch_size", 1), ("members", 1), ("hidden", 4),
                          ("n_spatial", 0), ("pca_components", 1), ("pool_pixels", 1024), ("sample_size", 100),
                          ("init_n", 1), ("crop", 0)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise ParameterError(f"{name}={value!r} is invalid: must be an integer >= {low}.", params=(name,))
        for name in ("seed", "threads", "steps_per_epoch"):
            value = getattr(self, name)
            low = 0 if name == "seed" else 1
            if value is not None and (not _is_int(value) or value < low):
                raise ParameterError(f"{name}={value!r} is invalid: must be an integer >= {low} or None.",
                                     params=(name,))
        for name, allowed in (("normalize", NORMALIZATIONS), ("device", DEVICES), ("covariance", COVARIANCES)):
            if getattr(self, name) not in allowed:
                raise ParameterError(f"{name}={getattr(self, name)!r} is invalid: choose one of {', '.join(allowed)}.",
                                     params=(name,))
        bounds: tuple[tuple[str, float, float], ...] = (("lr", 0.0, 1.0), ("agreement", 0.0, 1.0))
        for name, lo, hi in bounds:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not lo < value <= hi or (name == "lr" and value >= 1):
                raise ParameterError(f"{name}={value!r} is invalid: must be in ({lo:g}, {hi:g}"
                                     f"{')' if name == 'lr' else ']'}.", params=(name,))
        limits: tuple[tuple[str, float], ...] = (("smoothing", 20.0), ("balance_weight", 10.0),
                                                 ("min_class_fraction", 0.5))
        for name, high in limits:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= high:
                raise ParameterError(f"{name}={value!r} is invalid: must be a number in [0, {high:g}].",
                                     params=(name,))
        known = set(SpectralJitter.__dataclass_fields__)
        unknown = set(self.augment) - known
        if unknown:
            raise ParameterError(f"augment has unknown key(s) {', '.join(sorted(unknown))}: "
                                 f"use {', '.join(sorted(known))}.", params=("augment",))
        return self

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> UICConfig:
        """A configuration from keyword parameters; unknown or obsolete names are refused."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            gone = [n for n in unknown if n in OBSOLETE]
            why = (f" ({', '.join(gone)}: removed with the self-labelling phase, which the defaults never ran; "
                   "training is a distillation of the regularised mixture)") if gone else ""
            raise ParameterError(f"unknown UIC parameter(s): {', '.join(unknown)}{why}; "
                                 f"UIC takes: {', '.join(sorted(known))}.", params=tuple(unknown))
        return cls(**params)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-able dictionary (for model metadata and provenance)."""
        return asdict(self)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
