"""Model files: a fitted engine saved so it loads without executing code.

A ``.geouic`` file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file: named
arrays (centroids, class statistics, normalisation, network weights) and one JSON metadata
entry (engine, method, parameters, band names, K, versions). Loading it never unpickles, so
a model from an untrusted source cannot run code.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from geouic.engine import Engine, engine_from_state
from geouic.errors import ModelError
from geouic.output import atomic_path, check_output

__all__ = ["save_model", "load_model", "FORMAT_VERSION"]

#: Version of the model file layout; bumped when a change breaks old readers.
FORMAT_VERSION = 1


def save_model(engine: Engine, path: str | os.PathLike, *, overwrite: bool = False,
               extra: dict[str, Any] | None = None) -> Path:
    """Write a fitted engine to a model file, atomically.

    Parameters
    ----------
    engine : Engine
        A fitted engine.
    path : str or path-like
    overwrite : bool, default=False
        Replace an existing file.
    extra : dict, optional
        More JSON-able metadata (e.g. the training scenes).

    Returns
    -------
    pathlib.Path
    """
    from safetensors.numpy import save_file

    import geouic

    path = check_output(path, overwrite=overwrite)
    meta, arrays = engine.get_state()
    meta = {**meta, "format_version": FORMAT_VERSION, "geouic_version": geouic.__version__,
            "python": platform.python_version(), **(extra or {})}
    tensors = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"geouic": json.dumps(meta)})
    return path


def load_model(path: str | os.PathLike) -> Engine:
    """Load a model file written by :func:`save_model`.

    Raises
    ------
    ModelError
        The file is missing, not a geouic model, corrupt, or from a newer format.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import safe_open

    text = str(path)
    if not Path(text).is_file():
        raise ModelError(f"{text}: no such model file; check the path.")
    try:
        with safe_open(text, framework="np") as f:
            meta_text = (f.metadata() or {}).get("geouic")
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"{text}: not a readable geouic model file ({str(exc).splitlines()[0][:120]}); "
            "it may be corrupt or truncated: save the model again."
        ) from None
    if not meta_text:
        raise ModelError(f"{text}: a safetensors file without geouic metadata; not a geouic model.")
    try:
        meta = json.loads(meta_text)
    except json.JSONDecodeError:
        raise ModelError(f"{text}: the model metadata is corrupt; save the model again.") from None
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelError(
            f"{text}: model format {meta['format_version']} is newer than this geouic reads "
            f"({FORMAT_VERSION}); upgrade geouic."
        )
    try:
        return engine_from_state(meta, arrays)
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{text}: the model file misses an entry ({exc}); save the model again.") from None
