"""The exception hierarchy of geouic.

Every error geouic raises on purpose derives from :class:`GeouicError`; each subclass also
inherits the builtin exception it refines, so ``except ValueError`` keeps working for callers
that do not know geouic. The CLI turns any ``GeouicError`` into one line and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "GeouicError",
    "ParameterError",
    "RasterInputError",
    "ReferenceDataError",
    "SchemaError",
    "ModelError",
    "NotFittedError",
    "OutputError",
]


class GeouicError(Exception):
    """Root of all geouic errors."""


class ParameterError(GeouicError, ValueError):
    """A parameter has a value outside its allowed range or set."""


class RasterInputError(GeouicError, ValueError):
    """An input raster is missing, unreadable, empty, or has no usable pixels."""


class ReferenceDataError(GeouicError, ValueError):
    """Reference or training data (polygons, points, label raster) cannot be used.

    Named ``ReferenceDataError`` rather than ``ReferenceError`` so it does not shadow the
    builtin :class:`ReferenceError` (weak references) in modules that import it.
    """


class SchemaError(GeouicError, ValueError):
    """A land-cover schema or class mapping is invalid."""


class ModelError(GeouicError, ValueError):
    """A model file is corrupt, of an unknown version, or does not fit the input."""


class NotFittedError(GeouicError, AttributeError):
    """An estimator or engine was used before it was fitted."""


class OutputError(GeouicError, OSError):
    """An output cannot be written (exists, folder missing or not writable)."""
