"""The method registry: every classification method by name, and the parameters it takes.

One :class:`MethodSpec` per method says what builds it (an :class:`~geouic.engine.Engine`
subclass, or a pixel-wise scikit-learn estimator that :class:`~geouic.engine.PixelEngine`
wraps), whether it learns from training labels, its own parameter names, and which of the
*common* parameters (:data:`COMMON_PARAMS`) it takes and under which keyword its factory
receives them. :func:`geouic.engine.make_engine` validates and forwards parameters from it,
and the CLI builds its per-method option checks from it, so adding a method is one entry.

Factories are named ``"module:Class"`` and imported only when a method is built: listing
methods (``geouic --help``) never imports torch.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from geouic.errors import ParameterError

__all__ = [
    "COMMON_PARAMS",
    "DEFAULT_SAMPLE_SIZE",
    "MAX_CLASSES",
    "MethodSpec",
    "NORMALIZATIONS",
    "REGISTRY",
    "check_common",
    "get_method",
    "methods_taking",
]

#: Largest number of classes a uint16 map holds (0 is nodata).
MAX_CLASSES = 65535
#: Pixels drawn to fit a method when ``sample_size`` is not given.
DEFAULT_SAMPLE_SIZE = 100_000
#: Per-band normalisations (see :class:`geouic.sampling.Normalizer`).
NORMALIZATIONS: tuple[str, ...] = ("zscore", "robust", "none")
#: Parameters every method is offered by :func:`geouic.engine.make_engine`.
COMMON_PARAMS: tuple[str, ...] = ("n_classes", "seed", "sample_size", "normalize")


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class MethodSpec:
    """What one classification method is and which parameters it takes.

    Parameters
    ----------
    name : str
        Method name, as in ``make_engine(name)`` and ``--method``.
    factory : str
        ``"module:Class"`` of the engine or estimator, imported on use.
    summary : str
        One line for help texts.
    pixelwise : bool
        True: ``factory`` is a pixel-wise scikit-learn estimator, wrapped by
        :class:`~geouic.engine.PixelEngine` (which holds ``seed``, ``sample_size`` and
        ``normalize``); False: ``factory`` is an :class:`~geouic.engine.Engine` itself.
    supervised : bool, default=False
        Whether fitting needs training labels.
    params : tuple of str, default=()
        The method's own keyword parameters, forwarded to ``factory`` unchanged.
    common : frozenset of str, default=all of :data:`COMMON_PARAMS`
        The common parameters the method takes; any other common parameter given to it is
        an error (never silently dropped).
    forward : mapping of str to str, default={}
        Common parameter -> keyword of ``factory`` that receives it (e.g. ``n_classes`` ->
        ``n_clusters``). A pixel-wise method's wrapper receives ``seed``, ``sample_size`` and
        ``normalize`` whatever this says.
    open_params : bool, default=False
        ``factory`` takes further keyword parameters and checks them itself.
    not_common : str, default=""
        Why the method does not take the common parameters it lacks (for the error message).
    """

    name: str
    factory: str
    summary: str
    pixelwise: bool
    supervised: bool = False
    params: tuple[str, ...] = ()
    common: frozenset[str] = frozenset(COMMON_PARAMS)
    forward: Mapping[str, str] = field(default_factory=dict)
    open_params: bool = False
    not_common: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "forward", _frozen(self.forward))
        unknown = (set(self.common) | set(self.forward)) - set(COMMON_PARAMS)
        if unknown:
            raise ValueError(f"{self.name}: not common parameters: {', '.join(sorted(unknown))}")

    def load(self) -> Any:
        """The engine or estimator class (imports its module)."""
        module, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module), attr)

    def takes(self, param: str) -> bool:
        """Whether ``param`` (a common or an own parameter) applies to this method."""
        return param in self.common or param in self.params

    def check_params(self, params: Mapping[str, Any]) -> None:
        """Refuse own parameters the method does not take (unless it checks them itself).

        Raises
        ------
        ParameterError
            Naming the first unknown parameter, the methods that take it and the valid ones.
        """
        if self.open_params:
            return
        for name in params:
            if name in self.params:
                continue
            others = methods_taking(name)
            where = f"it applies to method {'/'.join(others)}" if others else "no method takes it"
            raise ParameterError(
                f"{name} does not apply to method {self.name!r} ({where}); "
                f"{self.name!r} takes: {', '.join(self.params) or 'no method parameters'}.",
                params=(name,),
            )


REGISTRY: Mapping[str, MethodSpec] = MappingProxyType({spec.name: spec for spec in (
    MethodSpec(
        "uic", "geouic.uic:UICEngine", pixelwise=False,
        summary="a small fully-convolutional CNN trained on the scene itself (Unsupervised Image Classification)",
        # the fields of geouic.uic.UICConfig other than the common ones (tests/test_engine.py checks)
        params=("epochs", "patch_size", "batch_size", "lr", "device", "members", "hidden", "n_spatial",
                "pca_components", "pool_pixels", "covariance", "smoothing", "init_n", "threads", "agreement",
                "balance_weight", "steps_per_epoch", "crop", "min_class_fraction", "augment"),
        forward={p: p for p in COMMON_PARAMS},
    ),
    MethodSpec(
        "kmeans", "geouic.cluster:KMeans", pixelwise=True,
        summary="k-means++ with several initialisations on a pixel sample",
        params=("n_init", "max_iter", "tol"),
        forward={"n_classes": "n_clusters", "seed": "random_state"},
    ),
    MethodSpec(
        "isodata", "geouic.cluster:ISODATA", pixelwise=True,
        summary="classic ISODATA with splits and merges (ERDAS, ArcGIS ISO Cluster, GRASS i.cluster)",
        params=("min_clusters", "max_clusters", "max_iter", "convergence", "min_class_size", "max_std",
                "min_distance", "max_merges", "sample_interval", "split_factor", "init"),
        forward={"n_classes": "n_clusters", "seed": "random_state"},
    ),
    MethodSpec(
        "fcm", "geouic.cluster:FuzzyCMeans", pixelwise=True,
        summary="fuzzy c-means",
        params=("m", "max_iter", "tol", "n_init"),
        forward={"n_classes": "n_clusters", "seed": "random_state"},
    ),
    MethodSpec(
        "mlc", "geouic.supervised:MaximumLikelihood", pixelwise=True, supervised=True,
        summary="Gaussian maximum likelihood trained on labelled pixels",
        params=("priors", "reject", "reg", "min_samples_factor"),
        common=frozenset({"seed", "sample_size", "normalize"}),
        not_common="its classes are the training classes",
    ),
)})


def get_method(name: object) -> MethodSpec:
    """The registry entry of a method.

    Raises
    ------
    ParameterError
        ``name`` is not a registered method.
    """
    spec = REGISTRY.get(name) if isinstance(name, str) else None
    if spec is None:
        raise ParameterError(f"method={name!r} is unknown: choose one of {', '.join(REGISTRY)}.",
                             params=("method",))
    return spec


def methods_taking(param: str) -> list[str]:
    """Names of the methods that take ``param``, in registry order."""
    return [name for name, spec in REGISTRY.items() if spec.takes(param)]


def check_common(spec: MethodSpec, given: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the common parameters given to a method; return the ones it takes.

    Parameters
    ----------
    spec : MethodSpec
    given : mapping
        Common parameter -> value; ``None`` means "not given" (the method's default).

    Returns
    -------
    dict
        The given parameters the method takes, validated (``n_classes`` and ``sample_size``
        as int).

    Raises
    ------
    ParameterError
        A parameter is invalid, missing (``n_classes`` for a clustering method) or does not
        apply to the method.
    """
    unknown = set(given) - set(COMMON_PARAMS)
    if unknown:
        raise ValueError(f"not common parameters: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for name, value in given.items():
        if value is None:
            continue
        if name not in spec.common:
            why = f": {spec.not_common}" if spec.not_common else ""
            raise ParameterError(f"{name} does not apply to method {spec.name!r}{why}; leave it out.",
                                 params=(name,))
        out[name] = _CHECKS[name](value)
    if "n_classes" in spec.common and "n_classes" not in out:
        raise ParameterError(f"method {spec.name!r} needs n_classes, the number of classes.", params=("n_classes",))
    return out


def _as_int(value: object) -> int | None:
    """``value`` as an int if it is an integer (not a bool), else None."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return None


def _check_n_classes(value: object) -> int:
    k = _as_int(value)
    if k is not None and 2 <= k <= MAX_CLASSES:
        return k
    raise ParameterError(f"n_classes={value!r} is invalid: must be between 2 and {MAX_CLASSES}.",
                         params=("n_classes",))


def _check_seed(value: object) -> int:
    seed = _as_int(value)
    if seed is not None and 0 <= seed < 2**32:
        return seed
    raise ParameterError(f"seed={value!r} is invalid: must be an integer between 0 and {2**32 - 1}.",
                         params=("seed",))


def _check_sample_size(value: object) -> int:
    n = _as_int(value)
    if n is not None and n >= 1:
        return n
    raise ParameterError(f"sample_size={value!r} is invalid: must be an integer >= 1.", params=("sample_size",))


def _check_normalize(value: object) -> str:
    if isinstance(value, str) and value in NORMALIZATIONS:
        return value
    raise ParameterError(f"normalize={value!r} is invalid: choose one of {', '.join(NORMALIZATIONS)}.",
                         params=("normalize",))


_CHECKS = {"n_classes": _check_n_classes, "seed": _check_seed, "sample_size": _check_sample_size,
           "normalize": _check_normalize}
