"""geouic: land-cover classification of multi-band remote-sensing imagery.

The Python API is at the top level: :func:`classify`, :func:`train`, :func:`predict`,
:func:`assign_schema`, :func:`accuracy`, :func:`load_model` and the post-processing steps
:func:`sieve`, :func:`majority` and :func:`polygonize` (see :mod:`geouic.api`). They take paths,
rasterio datasets, numpy arrays and xarray DataArrays.

``import geouic`` stays small: these names are imported on first use (PEP 562), and neither torch
nor matplotlib is imported until a step needs it.

``geouic.accuracy`` is both the module :mod:`geouic.accuracy` (``from geouic.accuracy import
assess``) and the function :func:`geouic.api.accuracy`: importing a submodule sets the package's
attribute of that name, so the module is made callable as the function rather than shadowing it.
"""

from __future__ import annotations

import importlib
import logging
import sys
import types

from geouic.errors import GeouicError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (a few ms of every start)
if TYPE_CHECKING:
    from typing import Any


class _CallableModule(types.ModuleType):
    """A submodule named like an API function that, called, runs that function of :mod:`geouic.api`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from geouic import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


#: Submodules that share their name with an API function (see the module docstring).
_CALLABLE_MODULES = frozenset({"accuracy"})


class _Package(types.ModuleType):
    """The ``geouic`` package: submodules of :data:`_CALLABLE_MODULES` become callable when imported."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CALLABLE_MODULES and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if TYPE_CHECKING:
    from geouic.api import (
        AccuracyReport, MapResult, RasterClassifier, accuracy, assign_schema, classify, load_model, majority,
        polygonize, predict, sieve, train,
    )

# A library leaves logging to the application: with this handler, an application that set up
# no logging does not get geouic's records printed by Python's last-resort handler; one that
# did (or the CLI's -v/-q) sees them as it configured.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__version__ = "0.1.0"

#: Names of the top level imported on first use, from geouic.api.
_LAZY = ("classify", "train", "predict", "assign_schema", "accuracy", "load_model", "sieve", "majority",
         "polygonize", "MapResult", "AccuracyReport", "RasterClassifier")

__all__ = [
    "GeouicError",
    "__version__",
    "classify",
    "train",
    "predict",
    "assign_schema",
    "accuracy",
    "load_model",
    "sieve",
    "majority",
    "polygonize",
    "MapResult",
    "AccuracyReport",
    "RasterClassifier",
]


def __getattr__(name: str) -> Any:
    if name in _CALLABLE_MODULES:
        return importlib.import_module(f"{__name__}.{name}")  # the callable module (see the docstring)
    if name in _LAZY:
        from geouic import api

        value = getattr(api, name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'geouic' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
