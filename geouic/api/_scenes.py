"""The scene functions of the Python API: make, classify, train, predict, load_model.

Each takes a path, an open rasterio dataset, a numpy array (with ``transform``/``crs``) or an
xarray DataArray and returns the kind it was given: a file input writes ``output`` and returns
a result object (:class:`~geouic.api.MapResult`, :class:`~geouic.api.AccuracyReport`); an array
returns an array and a DataArray a DataArray (y, x) with its coordinates, CRS, nodata (0) and
legend. Underneath they call the library passes the CLI calls (:mod:`geouic.pipeline`,
:mod:`geouic.assign`, :mod:`geouic.accuracy`, :mod:`geouic.postprocess`), through the one input
adapter of :mod:`geouic.api._inputs`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from geouic.api._inputs import InputKind, as_scene, class_map_file, input_kind, read_map, temporary_folder
from geouic.api._results import MapResult
from geouic.engine import Engine, make_engine
from geouic.errors import ParameterError
from geouic.methods import DEFAULT_SAMPLE_SIZE, REGISTRY, get_method
from geouic.raster import RasterSource
from geouic.windows import DEFAULT_MEM_LIMIT_MB, ProgressCallback

__all__ = ["DEFAULT_N_CLASSES", "classify", "load_model", "make", "predict", "train"]

#: Classes of the clustering methods when ``n_classes`` is not given (as ``geouic classify``).
DEFAULT_N_CLASSES = 12

def make(method: str = "uic", *, n_classes: int | None = None, seed: int | None = 0,
         sample_size: int = DEFAULT_SAMPLE_SIZE, normalize: str = "zscore", **params: Any) -> Engine:
    """An unfitted engine by method name (:func:`geouic.engine.make_engine` with the CLI's defaults).

    Parameters
    ----------
    method : {"uic", "kmeans", "isodata", "fcm", "mlc"}, default="uic"
    n_classes : int, optional
        Default 12 for the methods that take it; ``mlc`` takes its classes from the training data.
    seed : int, default=0
    sample_size : int, default=100_000
    normalize : {"zscore", "robust", "none"}, default="zscore"
    **params
        The method's own parameters (see :data:`geouic.methods.REGISTRY`).

    Returns
    -------
    Engine

    Examples
    --------
    >>> make("kmeans", n_classes=3).method
    'kmeans'
    """
    if n_classes is None and get_method(method).takes("n_classes"):
        n_classes = DEFAULT_N_CLASSES
    return make_engine(method, n_classes=n_classes, seed=seed, sample_size=sample_size, normalize=normalize,
                       **params)


@contextlib.contextmanager
def _target(kind: InputKind, output: str | os.PathLike | None, name: str) -> Iterator[Path]:
    """Where a map is written: ``output``, or a temporary file for an in-memory input without one."""
    if output is not None:
        yield Path(output)
    elif kind.in_memory:
        with temporary_folder() as folder:
            yield folder / name
    else:
        raise ParameterError("output is required for a file input (e.g. output='classes.tif'); "
                             "a numpy array or a DataArray input may leave it out to get the result back in memory.",
                             params=("output",))


def _engine(engine: Engine | None, method: str, n_classes: int | None, seed: int | None, sample_size: int,
            normalize: str, params: Mapping[str, Any]) -> Engine:
    """``engine`` itself, or a new one from the method's settings (never both: nothing is silently dropped)."""
    if engine is None:
        return make(method, n_classes=n_classes, seed=seed, sample_size=sample_size, normalize=normalize, **params)
    if n_classes is not None or params:
        given = ", ".join(["n_classes"] * (n_classes is not None) + sorted(params))
        raise ParameterError(f"engine= is already configured; {given} cannot change it: give them to make() or "
                             "leave engine out.", params=("engine",))
    return engine


def _open_training(engine: Engine, training: Any, field: str | None, source: RasterSource,
                   stack: contextlib.ExitStack) -> Any:
    """Reference data of a supervised engine on the scene's grid (None for the others)."""
    supervised = "/".join(n for n, spec in REGISTRY.items() if spec.supervised)
    if not engine.supervised:
        if training is not None or field is not None:
            raise ParameterError(f"training and field apply to method {supervised}, not {engine.method}.",
                                 params=("training", "field", "method"))
        return None
    if training is None:
        raise ParameterError(f"method {engine.method} needs training (polygons, points or a class raster).",
                             params=("method", "training"))
    from geouic.reference import Grid, open_reference

    path = stack.enter_context(class_map_file(training))
    return open_reference(path, Grid.from_dataset(source.dataset), field=field)


def _map_result(kind: InputKind, path: Path, step: str, details: dict[str, Any], *, model: Any = None,
                extras: Mapping[str, Path] | None = None, attrs: Mapping[str, Any] | None = None) -> Any:
    if kind.in_memory:
        return read_map(path, kind, attrs=attrs)
    return MapResult(path, step, model=model, extras=dict(extras or {}), details=details)


def classify(scene: Any, *, n_classes: int | None = None, method: str = "uic",
             output: str | os.PathLike | None = None, engine: Engine | None = None,
             bands: Sequence[int | str] | None = None, nodata: float | None = None, transform: Any = None,
             crs: Any = None, training: Any = None, field: str | None = None, seed: int | None = 0,
             sample_size: int = DEFAULT_SAMPLE_SIZE, normalize: str = "zscore",
             confidence: str | os.PathLike | None = None, entropy: str | os.PathLike | None = None,
             memberships: str | os.PathLike | None = None, save_model: str | os.PathLike | None = None,
             mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, workers: int | None = None, overwrite: bool = False,
             cog: bool = False, creation_options: Any = None, progress: ProgressCallback | None = None,
             fit_progress: Callable[..., None] | None = None,
             on_open: Callable[[RasterSource, Engine], None] | None = None, **params: Any) -> Any:
    """Fit an engine on a scene and classify it (``geouic classify``).

    Parameters
    ----------
    scene : path, rasterio dataset, ndarray (bands, rows, cols) or DataArray (band, y, x)
        A dask-backed DataArray is computed window by window.
    n_classes : int, optional
        Classes K (default 12; ``mlc`` takes its classes from ``training``).
    method : {"uic", "kmeans", "isodata", "fcm", "mlc"}, default="uic"
    output : str or path-like, optional
        The class map GeoTIFF; required for a file input, optional (kept when given) otherwise.
    engine : Engine, optional
        An unfitted engine to use instead of ``method``, ``n_classes`` and ``params``.
    bands : sequence of int or str, optional
        1-based band indexes or band names.
    nodata : float, optional
        Value of empty pixels, besides the file's or DataArray's own.
    transform, crs : optional
        Georeferencing of a numpy array.
    training : path or class raster, optional
        Training polygons, points or a label raster (``mlc``).
    field : str, optional
        Class field of vector training data.
    seed : int, default=0
    sample_size : int, default=100_000
    normalize : {"zscore", "robust", "none"}, default="zscore"
    confidence, entropy, memberships : str or path-like, optional
        Extra rasters to write.
    save_model : str or path-like, optional
        Also save the fitted model (a ``.geouic`` file).
    mem_limit_mb : float, default=64
    workers : int, optional
    overwrite : bool, default=False
    cog : bool, default=False
    creation_options : mapping or sequence of "KEY=VALUE", optional
    progress, fit_progress : callable, optional
        ``progress(advance, total)`` per window; ``fit_progress(advance, total, note)`` while fitting.
    on_open : callable, optional
        ``on_open(source, engine)`` once the scene is open, before fitting.
    **params
        The method's own parameters (``max_iter``, ``min_class_size``, ``m``, ``reject``, ``epochs`` ...).

    Returns
    -------
    MapResult, ndarray (rows, cols) or DataArray (y, x)
        Same kind as ``scene``: 0 = nodata, classes 1..K numbered from dark to bright.

    Examples
    --------
    >>> import numpy as np
    >>> scene = np.stack([np.repeat([[10.0, 10, 90, 90]], 4, axis=0)] * 2)
    >>> classify(scene, n_classes=2, method="kmeans").tolist()[0]
    [1, 1, 2, 2]
    """
    from geouic.output import ThematicProfile
    from geouic.pipeline import classify_raster

    kind = input_kind(scene)
    engine = _engine(engine, method, n_classes, seed, sample_size, normalize, params)
    given = {"confidence": confidence, "entropy": entropy, "memberships": memberships}
    extras = {k: Path(v) for k, v in given.items() if v is not None}
    profile = ThematicProfile(cog=cog).with_options(creation_options)
    with _target(kind, output, "classes.tif") as path, contextlib.ExitStack() as stack:
        source = stack.enter_context(as_scene(scene, bands=bands, nodata=nodata, transform=transform, crs=crs))
        if on_open is not None:
            on_open(source, engine)
        reference = _open_training(engine, training, field, source, stack)
        result = classify_raster(source, engine, path, training=reference, extras=extras, mem_limit_mb=mem_limit_mb,
                                 overwrite=overwrite, profile=profile, workers=workers, progress=progress,
                                 fit_progress=fit_progress)
        if save_model is not None:
            from geouic.model import save_model as _save

            _save(engine, save_model, overwrite=overwrite, extra={"trained_on": [str(source.path)]})
        details = {"n_classes": result.n_classes, "counts": result.counts.tolist(),
                   "fit_seconds": round(result.fit_seconds, 3), "predict_seconds": round(result.predict_seconds, 3),
                   "summary": result.summary()}
        return _map_result(kind, result.path, "classify", details, model=engine, extras=result.extras,
                           attrs={"method": engine.method, "n_classes": result.n_classes})


def train(scenes: Any, *, n_classes: int | None = None, method: str = "uic", engine: Engine | None = None,
          bands: Sequence[int | str] | None = None, nodata: float | None = None, transform: Any = None,
          crs: Any = None, training: Any = None, field: str | None = None, seed: int | None = 0,
          sample_size: int = DEFAULT_SAMPLE_SIZE, normalize: str = "zscore",
          save_model: str | os.PathLike | None = None, overwrite: bool = False,
          progress: Callable[..., None] | None = None,
          on_open: Callable[[Sequence[RasterSource], Engine], None] | None = None,
          mem_limit_mb: float | None = None, **params: Any) -> Engine:
    """Fit one engine on one or several scenes with the same bands (``geouic train``).

    Parameters
    ----------
    scenes : scene or list of scenes
        Paths, rasterio datasets, arrays or DataArrays, mixed as needed.
    n_classes, method, engine, bands, nodata, transform, crs, training, field, seed, sample_size, normalize
        As in :func:`classify` (``training`` lies on the first scene's grid).
    save_model : str or path-like, optional
        Write the fitted model there (apply it with :func:`predict` or ``geouic predict``).
    overwrite : bool, default=False
    progress : callable, optional
        ``progress(advance, total, note)`` while fitting.
    on_open : callable, optional
        ``on_open(sources, engine)`` once every scene is open, before their bands are compared.
    mem_limit_mb : float, optional
        Working-memory budget of the fit (``geouic train --mem-limit``; UIC sizes its training
        pool and work chunks from it, see :func:`geouic.pipeline.fit_engine`). ``None``: the
        engine's default (UIC keeps its whole pool).
    **params
        The method's own parameters.

    Returns
    -------
    Engine
        The fitted engine (``engine.n_classes_``, ``engine.band_names_``; predict with :func:`predict`).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.stack([np.repeat([[10.0, 10, 90, 90]], 4, axis=0)] * 2)
    >>> train([a, a[:, :, ::-1]], n_classes=2, method="kmeans").n_classes_
    2
    """
    items = list(scenes) if isinstance(scenes, (list, tuple)) else [scenes]
    if not items:
        raise ParameterError("scenes is empty; give at least one scene.", params=("scenes",))
    if save_model is not None:
        from geouic.output import check_output

        check_output(save_model, overwrite=overwrite)
    engine = _engine(engine, method, n_classes, seed, sample_size, normalize, params)
    with contextlib.ExitStack() as stack:
        sources = [stack.enter_context(as_scene(s, bands=bands, nodata=nodata, transform=transform, crs=crs))
                   for s in items]
        first = sources[0]
        if on_open is not None:
            on_open(sources, engine)
        for src in sources[1:]:
            if src.count != first.count:
                raise ParameterError(
                    f"{src.path} has {src.count} bands ({', '.join(src.band_names)}) but {first.path} has "
                    f"{first.count} ({', '.join(first.band_names)}); every scene needs the same bands.")
        reference = _open_training(engine, training, field, first, stack)
        from geouic.pipeline import fit_engine

        fit_engine(engine, sources, training=reference, progress=progress, mem_limit_mb=mem_limit_mb)
        if save_model is not None:
            from geouic.model import save_model as _save

            _save(engine, save_model, overwrite=overwrite, extra={"trained_on": [str(s.path) for s in sources]})
    return engine


def predict(model: Engine | str | os.PathLike, scene: Any, *, output: str | os.PathLike | None = None,
            bands: Sequence[int | str] | None = None, nodata: float | None = None, transform: Any = None,
            crs: Any = None, confidence: str | os.PathLike | None = None, entropy: str | os.PathLike | None = None,
            memberships: str | os.PathLike | None = None, device: str | None = None,
            mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, workers: int | None = None, overwrite: bool = False,
            cog: bool = False, creation_options: Any = None, progress: ProgressCallback | None = None) -> Any:
    """Apply a fitted model to a scene (``geouic predict``): the same classes as where it was trained.

    Parameters
    ----------
    model : Engine or path
        A fitted engine (from :func:`train`, :func:`classify`'s ``MapResult.model``) or a ``.geouic`` file.
    scene : path, rasterio dataset, ndarray or DataArray
        With the bands the model was trained on.
    output, bands, nodata, transform, crs, confidence, entropy, memberships
        As in :func:`classify`.
    device : {"auto", "cpu", "cuda"}, optional
        Torch device of a UIC model.
    mem_limit_mb, workers, overwrite, cog, creation_options, progress
        As in :func:`classify`.

    Returns
    -------
    MapResult, ndarray or DataArray
        Same kind as ``scene``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.stack([np.repeat([[10.0, 10, 90, 90]], 4, axis=0)] * 2)
    >>> predict(train(a, n_classes=2, method="kmeans"), a[:, :, ::-1]).tolist()[0]
    [2, 2, 1, 1]
    """
    from geouic.output import ThematicProfile
    from geouic.pipeline import apply_engine

    engine = load_model(model) if isinstance(model, (str, os.PathLike)) else model
    if device is not None and hasattr(engine, "set_device"):
        engine.set_device(device)
    kind = input_kind(scene)
    given = {"confidence": confidence, "entropy": entropy, "memberships": memberships}
    extras = {k: Path(v) for k, v in given.items() if v is not None}
    profile = ThematicProfile(cog=cog).with_options(creation_options)
    with _target(kind, output, "classes.tif") as path, \
            as_scene(scene, bands=bands, nodata=nodata, transform=transform, crs=crs) as source:
        result = apply_engine(source, engine, path, extras=extras, mem_limit_mb=mem_limit_mb, overwrite=overwrite,
                              profile=profile, workers=workers, progress=progress)
        details = {"n_classes": result.n_classes, "counts": result.counts.tolist(),
                   "predict_seconds": round(result.predict_seconds, 3), "summary": result.summary()}
        return _map_result(kind, result.path, "predict", details, model=engine, extras=result.extras,
                           attrs={"method": engine.method, "n_classes": result.n_classes})


def load_model(path: str | os.PathLike) -> Engine:
    """Load a ``.geouic`` model file (:func:`geouic.model.load_model`).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Engine

    Examples
    --------
    >>> load_model("missing.geouic")
    Traceback (most recent call last):
    ...
    geouic.errors.ModelError: missing.geouic: no such model file; check the path.
    """
    from geouic.model import load_model as _load

    return _load(path)
