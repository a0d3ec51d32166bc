"""Model files: a fitted engine saved so it loads without executing code.

A ``.geouic`` file is a `safetensors <https://huggingface.co/docs/safetensors>`_ file: named
arrays (centroids, class statistics, normalisation, network weights) and one JSON metadata
entry (engine, method, parameters, band names, K, versions). Loading it never unpickles, so
a model from an untrusted source cannot run code.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from geouic.engine import Engine, engine_from_state
from geouic.errors import ModelError
from geouic.methods import MAX_CLASSES
from geouic.output import atomic_path, check_output

__all__ = ["save_model", "load_model", "validate_model", "FORMAT_VERSION", "MAX_BANDS"]

#: Version of the model file layout; bumped when a change breaks old readers.
FORMAT_VERSION = 1
#: Most bands a model may be trained on (hyperspectral sensors have a few hundred).
MAX_BANDS = 4096
#: Bounds of the UIC network architecture a real model reaches (defaults: 32 wide, 2 layers, 3x3).
_ARCH_BOUNDS = {"hidden": (1, 1024), "n_spatial": (0, 32), "kernel": (1, 15), "in_channels": (1, MAX_BANDS)}
#: Arrays of pixel-wise engines and their shapes: B bands, K classes, C training classes.
_PIXEL_SHAPES = {"norm.center": ("B",), "norm.scale": ("B",), "est.cluster_centers_": ("K", "B"),
                 "est.classes_": ("C",), "est.means_": ("C", "B"), "est.priors_": ("C",),
                 "est.inv_chol_": ("C", "B", "B"), "est.log_det_": ("C",)}


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
        os.chmod(tmp, _new_file_mode())  # safetensors writes 0600; maps and sidecars follow the umask
    return path


def _new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the process umask."""
    mask = os.umask(0o022)  # reading the umask means setting it; restored at once
    os.umask(mask)
    return 0o666 & ~mask


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
    validate_model(meta, arrays, name=text)
    try:
        return engine_from_state(meta, arrays)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ModelError(f"{text}: the model file misses an entry ({exc}); save the model again.") from None


def validate_model(meta: Any, arrays: dict[str, np.ndarray], *, name: str = "model") -> None:
    """Check a model file's metadata and arrays before anything is built from them.

    Everything that sizes an allocation (classes, bands, layer widths) must lie within bounds
    a real model reaches and agree with the arrays the file holds, so a small crafted file
    cannot make :func:`load_model` or prediction allocate more than the file itself holds.

    Parameters
    ----------
    meta : object
        The decoded JSON metadata (must be an object).
    arrays : dict of str to ndarray
    name : str, default="model"
        How messages name the file.

    Raises
    ------
    ModelError
        The metadata is not an object, the format version is not a number or is newer than
        :data:`FORMAT_VERSION`, a count is out of bounds, an array has the wrong shape or
        dtype, or holds NaN or infinite values.
    """
    if not isinstance(meta, dict):
        raise ModelError(f"{name}: the model metadata is a JSON {type(meta).__name__}, not an object; "
                         "not a geouic model file: save the model again.")
    version = meta.get("format_version", 0)
    if not _is_number(version):
        raise ModelError(f"{name}: format_version {version!r} is not a number; the model file is corrupt: "
                         "save the model again.")
    if version > FORMAT_VERSION:
        raise ModelError(f"{name}: model format {version} is newer than this geouic reads ({FORMAT_VERSION}); "
                         "upgrade geouic.")
    k = _count(meta, "n_classes", 1, MAX_CLASSES, name)
    bands = meta.get("band_names")
    if not isinstance(bands, list) or not 1 <= len(bands) <= MAX_BANDS or not all(isinstance(b, str) for b in bands):
        raise ModelError(f"{name}: band_names must list 1 to {MAX_BANDS} band names; the model file is corrupt: "
                         "save the model again.")
    for key, a in arrays.items():
        if a.dtype.kind not in "fiub":
            raise ModelError(f"{name}: array {key} has dtype {a.dtype}, not a number; the model file is corrupt.")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ModelError(f"{name}: array {key} holds NaN or infinite values; the model is unusable: "
                             "train it again.")
    if meta.get("engine") == "pixel":
        _check_pixel(meta, arrays, k, len(bands), name)
    elif meta.get("engine") == "uic":
        _check_uic(meta, arrays, k, name)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _count(meta: dict[str, Any], key: str, low: int, high: int, name: str) -> int:
    value = meta.get(key)
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not low <= int(value) <= high:
        raise ModelError(f"{name}: {key} {value!r} is out of bounds (an integer between {low} and {high}); "
                         "the model file is corrupt or not from geouic: save the model again.")
    return int(value)


def _shape_error(name: str, key: str, shape: tuple[int, ...], expected: str) -> ModelError:
    return ModelError(f"{name}: array {key} has shape {shape}, expected {expected}; the model file is corrupt: "
                      "save the model again.")


def _check_pixel(meta: dict[str, Any], arrays: dict[str, np.ndarray], k: int, n_bands: int, name: str) -> None:
    """Shapes of a pixel engine's arrays against its class and band counts."""
    classes = arrays.get("est.classes_")
    dims = {"B": n_bands, "K": k, "C": None if classes is None else len(classes)}
    for key, symbols in _PIXEL_SHAPES.items():
        a = arrays.get(key)
        if a is None:
            continue
        expected = tuple(dims[s] for s in symbols)
        if a.shape != expected:
            text = "(" + ", ".join(f"{s}={dims[s]}" for s in symbols) + ")"
            raise _shape_error(name, key, a.shape, text)
    scale = arrays.get("norm.scale")
    if scale is not None and not (scale > 0).all():
        raise ModelError(f"{name}: the normalisation scales must be positive; the model file is corrupt.")
    lut = arrays.get("lut")
    if lut is None or lut.ndim != 1 or lut.dtype.kind not in "iu":
        raise ModelError(f"{name}: the model file has no valid class look-up table (lut); save the model again.")
    if classes is None:  # unsupervised: one class per centre, numbered 1..K by the table
        if lut.shape != (k,):
            raise _shape_error(name, "lut", lut.shape, f"(K={k},), one entry per class")
        if not np.array_equal(np.sort(lut), np.arange(1, k + 1)):
            raise ModelError(f"{name}: the class look-up table must number the classes 1..{k}; the model file "
                             "is corrupt: save the model again.")
    elif classes.dtype.kind not in "iu" or len(np.unique(classes)) != len(classes) or \
            not (len(classes) and 1 <= classes.min() and classes.max() == k):
        raise ModelError(f"{name}: the training classes must be distinct codes 1..{k} with {k} the largest; "
                         "the model file is corrupt: save the model again.")


def _check_uic(meta: dict[str, Any], arrays: dict[str, np.ndarray], k: int, name: str) -> None:
    """The architecture within bounds, and the stored weights exactly the network it describes.

    The network is built on torch's ``meta`` device, which allocates no memory, and its
    parameter shapes are compared with the arrays before the real network is built.
    """
    arch = meta.get("arch")
    if not isinstance(arch, dict):
        raise ModelError(f"{name}: the model file has no network architecture (arch); save the model again.")
    for key, (low, high) in _ARCH_BOUNDS.items():
        _count(arch, key, low, high, f"{name}: arch")
    import torch

    from geouic.uic.model import build_net

    with torch.device("meta"):
        try:
            net = build_net(int(arch["in_channels"]), k, arch)
        except ValueError as exc:
            raise ModelError(f"{name}: the stored architecture is invalid ({exc}); save the model again.") from None
    expected = {f"net.{key}": tuple(t.shape) for key, t in net.state_dict().items()}
    stored = {key: a.shape for key, a in arrays.items() if key.startswith("net.")}
    if set(stored) != set(expected):
        missing = sorted(set(expected) ^ set(stored))
        raise ModelError(f"{name}: the network weights do not match the stored architecture "
                         f"({', '.join(missing[:3])}); the model file is corrupt: save the model again.")
    for key, shape in expected.items():
        if stored[key] != shape:
            raise _shape_error(name, key, stored[key], str(shape))
