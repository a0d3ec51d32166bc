"""Describing rasters, geouic class maps and model files (behind ``geouic info``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from geouic.classmap import class_names, colour_table
from geouic.errors import ModelError
from geouic.raster import open_raster
from geouic.sampling import sample_pixels

__all__ = ["describe", "describe_model", "describe_raster"]


def describe(path: str | os.PathLike, *, stats: bool = True) -> dict[str, Any]:
    """A dict describing a raster, class map or model file (chosen by content)."""
    p = Path(path)
    if p.is_file() and _is_model(p):
        return describe_model(p)
    # keep the text as given: Path() would fold "/vsicurl/https://host" into "https:/host", which
    # GDAL then reads as a list of (unsupported) /vsicurl? options, one warning each
    return describe_raster(os.fspath(path), stats=stats)


def _is_model(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)
    return len(head) == 9 and head[8:9] == b"{"  # safetensors: 8-byte length, then JSON


def describe_model(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of a model file, without building the engine."""
    from safetensors.numpy import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            meta = json.loads((f.metadata() or {}).get("geouic", "{}"))
            shapes = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # noqa: BLE001 - any failure means the file is not a model
        raise ModelError(f"{path}: not a readable geouic model file ({exc}).") from None
    return {"file": str(path), "kind": "geouic model", **meta, "arrays": shapes}


def describe_raster(path: str | os.PathLike, *, stats: bool = True) -> dict[str, Any]:
    """Size, bands, georeferencing, nodata, class-map legend and sampled band statistics."""
    with open_raster(path) as src:
        ds = src.dataset
        res = (abs(src.transform.a), abs(src.transform.e))
        info: dict[str, Any] = {
            "file": src.path,
            "driver": ds.driver,
            "size": f"{src.width} x {src.height} pixels, {ds.count} bands",
            "dtype": ", ".join(sorted(set(ds.dtypes))),
            "nodata": src.nodata,
            "crs": src.crs.to_string() if src.crs else None,
            "resolution": f"{res[0]:g} x {res[1]:g}",
            "bounds": tuple(round(v, 6) for v in ds.bounds),
            "block": f"{src.block_shape[0]} x {src.block_shape[1]}",
            "alpha band": src.alpha_index,
        }
        tags = ds.tags()
        provenance = {k[7:].lower(): v for k, v in tags.items() if k.startswith("GEOUIC_")}
        if provenance:
            info["geouic"] = provenance
        cmap = colour_table(ds)
        if cmap and provenance:
            info["legend"] = _legend(path, cmap, ds.dtypes[0])
        if stats:
            info["bands"] = _band_stats(src)
    return info


def _legend(path: str | os.PathLike, cmap: dict, dtype: str) -> dict[str, dict[str, Any]]:
    names = class_names(path)
    top = 255 if dtype == "uint8" else 65535
    if names:
        used = [k for k in sorted(names) if 0 < k <= top and k in cmap]
    else:
        used = [k for k, v in cmap.items() if 0 < k <= top and v[3] > 0 and tuple(v[:3]) != (0, 0, 0)]
    return {str(k): {"name": names.get(k, ""), "color": "#{:02x}{:02x}{:02x}".format(*cmap[k][:3])}
            for k in sorted(used)}


def _band_stats(src) -> dict[str, dict[str, Any]]:
    try:
        X = sample_pixels(src, 100_000, seed=0)
    except Exception as exc:  # noqa: BLE001 - report, do not fail the description
        return {"error": {"message": str(exc)}}
    out = {}
    for i, name in enumerate(src.band_names):
        col = X[:, i].astype(np.float64)
        p2, p98 = np.percentile(col, [2, 98])
        out[f"{src.indexes[i]} {name}"] = {
            "min": _num(col.min()), "p2": _num(p2), "mean": _num(col.mean()),
            "p98": _num(p98), "max": _num(col.max()), "std": _num(col.std()),
        }
    return out


def _num(v: float) -> float:
    return float(f"{v:.6g}")
