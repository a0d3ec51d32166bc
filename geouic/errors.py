"""The exception hierarchy of geouic, and the naming of parameters in its messages.

Every error geouic raises on purpose derives from :class:`GeouicError`; each subclass also
inherits the builtin exception it refines, so ``except ValueError`` keeps working for callers
that do not know geouic. The CLI turns any ``GeouicError`` into one line and exit code 2.

Library messages name Python parameters (``n_classes=1 is invalid: ...``). An error lists the
parameters its message names in :attr:`GeouicError.params`; :func:`rename_params` rewrites
those names for another audience, as the CLI does with its flags (``--classes 1 is invalid``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = [
    "GeouicError",
    "ParameterError",
    "RasterInputError",
    "ReferenceDataError",
    "SchemaError",
    "ModelError",
    "NotFittedError",
    "OutputError",
    "ParameterWarning",
    "rename_params",
]


class GeouicError(Exception):
    """Root of all geouic errors.

    Parameters
    ----------
    *args
        The message (and whatever the refined builtin takes).
    params : iterable of str, optional
        Python parameter names that the message mentions, written as ``name=value`` or as
        the bare name; a front end may rename them (see :func:`rename_params`).
    """

    def __init__(self, *args: object, params: Iterable[str] = ()) -> None:
        super().__init__(*args)
        self.params: tuple[str, ...] = tuple(params)

    def message_for(self, names: Mapping[str, str]) -> str:
        """The message with the parameters it names renamed by ``names`` (others kept)."""
        return rename_params(str(self), self.params, names)


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


class ParameterWarning(GeouicError, UserWarning):
    """A parameter value works but probably not as meant (a :class:`UserWarning`).

    Its message names parameters as an error's does, so a front end renames them the same way
    (``warnings.warn(ParameterWarning("to=4 keeps all 4 classes.", params=("to",)))``).
    """


def rename_params(message: str, params: Iterable[str], names: Mapping[str, str]) -> str:
    """Rewrite the parameter names a message mentions.

    ``name=value`` becomes ``new value`` and a bare ``name`` becomes ``new``; only whole
    names listed in ``params`` are touched, so a one-letter parameter such as ``m`` leaves
    other words alone. A key ``"name=True"`` in ``names`` renames that form as a whole (an
    on/off flag: ``overwrite=True`` -> ``--overwrite``). A name inside a path or file name
    (``scene.tif``, ``out/output/x.tif``) is not a parameter and is kept.

    Parameters
    ----------
    message : str
    params : iterable of str
        The parameter names the message mentions.
    names : mapping of str to str
        New name per parameter (e.g. ``{"n_classes": "--classes"}``, ``{"overwrite=True":
        "--overwrite"}``); parameters missing from it keep their Python name.

    Returns
    -------
    str

    Examples
    --------
    >>> rename_params("n_classes=1 is invalid: must be between 2 and 65535.", ["n_classes"],
    ...               {"n_classes": "--classes"})
    '--classes 1 is invalid: must be between 2 and 65535.'
    >>> rename_params("m=1.0 is invalid: make m larger.", ["m"], {"m": "--fuzziness"})
    '--fuzziness 1.0 is invalid: make --fuzziness larger.'
    """
    for param in dict.fromkeys(params):
        name = rf"(?<![\w.\-/\\]){re.escape(param)}"
        flag = names.get(f"{param}=True")
        if flag:
            message = re.sub(name + r"=True\b", _literal(flag), message)
        new = names.get(param)
        if new:
            message = re.sub(name + "=", _literal(new + " "), message)
            message = re.sub(name + r"(?![\w=\-/\\]|\.\w)", _literal(new), message)
    return message


def _literal(text: str) -> str:
    """``text`` as a :func:`re.sub` replacement that inserts it as is."""
    return text.replace("\\", "\\\\")
