"""Raster-wide classification: fit an engine, then predict it over the scene's window pass.

:func:`apply_engine` predicts a fitted engine window by window (block-aligned windows sized
from a memory budget, read with the engine's halo, only the core written) and writes the
thematic map and any per-pixel extras atomically. :func:`classify_raster` fits and applies.
"""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geouic._threads import single_threaded_blas, usable_cores
from geouic.engine import Engine
from geouic.errors import ParameterError
from geouic.output import FloatWriter, Legend, ThematicProfile, ThematicWriter, check_output
from geouic.provenance import provenance_tags
from geouic.raster import RasterSource, in_gdal_env
from geouic.windows import DEFAULT_MEM_LIMIT_MB, ProgressCallback, WindowPair, WindowPass, per_thread

__all__ = ["ClassifyResult", "apply_engine", "classify_raster", "default_workers", "fit_engine", "prediction_windows"]

logger = logging.getLogger(__name__)

@dataclass
class ClassifyResult:
    """What a classification run produced.

    Attributes
    ----------
    path : pathlib.Path
        The class map.
    n_classes : int
    counts : ndarray of shape (n_classes + 1,)
        Pixels per label (index 0: nodata or unclassified).
    fit_seconds, predict_seconds : float
    extras : dict of str to Path
        Extra rasters written (confidence, entropy, memberships).
    """

    path: Path
    n_classes: int
    counts: np.ndarray
    fit_seconds: float = 0.0
    predict_seconds: float = 0.0
    extras: dict[str, Path] = field(default_factory=dict)

    @property
    def n_classified(self) -> int:
        """Pixels given a class (``counts[0]``, nodata and unclassified, left out)."""
        return int(self.counts[1:].sum())

    @property
    def n_used_classes(self) -> int:
        """Classes that hold at least one pixel."""
        return int((self.counts[1:] > 0).sum())

    def summary(self) -> str:
        """One line for a person."""
        return (
            f"{self.n_used_classes}/{self.n_classes} classes, {self.n_classified:,} pixels classified "
            f"({int(self.counts[0]):,} nodata/unclassified), fit {self.fit_seconds:.1f} s, "
            f"predict {self.predict_seconds:.1f} s -> {self.path}"
        )


def default_workers() -> int:
    """Threads for window prediction: the cores this process may use, at most 4."""
    return usable_cores(4)


def _provenance(engine: Engine, sources: Sequence[RasterSource], extra: Mapping[str, Any] | None) -> dict:
    desc = engine.describe()
    return provenance_tags(desc.get("method", engine.method), [s.path for s in sources], extra=extra,
                           parameters=desc, seed=desc.get("seed"), bands=",".join(sources[0].band_names))


@in_gdal_env
def apply_engine(source: RasterSource, engine: Engine, output: str | os.PathLike, *,
                 extras: Mapping[str, str | os.PathLike] | None = None,
                 legend: Legend | None = None, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB,
                 overwrite: bool = False, profile: ThematicProfile | None = None,
                 workers: int | None = None, progress: ProgressCallback | None = None,
                 tags: Mapping[str, Any] | None = None) -> ClassifyResult:
    """Predict a fitted engine over a whole scene and write the class map.

    Parameters
    ----------
    source : RasterSource
    engine : Engine
        Fitted engine; its band count must match ``source``.
    output : str or path-like
        Class map GeoTIFF (uint8, or uint16 beyond 255 classes; 0 = nodata/unclassified).
    extras : dict, optional
        Extra outputs by name (``"confidence"``, ``"entropy"``, ``"memberships"``) to paths.
    legend : Legend, optional
        Names and colours; by default generated distinct colours and the engine's names.
    mem_limit_mb : float, default=64
        Working-memory budget of the prediction pass, shared by all windows in flight
        (each worker holds up to two); peak memory grows with it, not with the scene.
    overwrite : bool, default=False
    profile : ThematicProfile, optional
    workers : int, optional
        Threads predicting windows in parallel (default: free cores, at most 4).
    progress : callable, optional
        ``progress(advance, total)`` after each window predicted (see
        :class:`geouic.windows.ProgressCallback`).
    tags : dict, optional
        More provenance tags.

    Returns
    -------
    ClassifyResult
    """
    extras = check_outputs(source, engine, output, extras, overwrite)
    windows = prediction_windows(source, engine, mem_limit_mb, workers or default_workers())

    def blocks(wanted: frozenset[str], n_classes: int) -> Iterator[tuple[Any, Mapping[str, np.ndarray]]]:
        with single_threaded_blas():
            for pair, result in _predict_windows(source, engine, windows, wanted, progress):
                yield pair.core, result

    return write_prediction(source, engine, output, blocks, extras=extras, legend=legend, overwrite=overwrite,
                            profile=profile, tags=tags)


def check_outputs(source: RasterSource, engine: Engine, output: str | os.PathLike,
                  extras: Mapping[str, str | os.PathLike] | None, overwrite: bool) -> dict[str, Path]:
    """Check a prediction's bands and outputs before any work; returns ``extras`` as paths."""
    engine.check_bands(source)
    paths = {k: Path(v) for k, v in (extras or {}).items()}
    unknown = set(paths) - set(engine.extra_outputs)
    if unknown:
        raise ParameterError(
            f"method {engine.method!r} cannot write {', '.join(sorted(unknown))}; "
            f"it offers: {', '.join(sorted(engine.extra_outputs)) or 'no extra outputs'}."
        )
    check_output(output, overwrite=overwrite)
    for p in paths.values():
        check_output(p, overwrite=overwrite)
    return paths


#: ``blocks(wanted, n_classes)``: the predicted blocks of a scene as ``(core window, result)``,
#: each result holding ``"labels"`` and the extras in ``wanted``, all cropped to the core.
BlockSource = Callable[[frozenset[str], int], Iterator[tuple[Any, Mapping[str, np.ndarray]]]]


def write_prediction(source: RasterSource, engine: Engine, output: str | os.PathLike, blocks: BlockSource, *,
                     extras: Mapping[str, Path], legend: Legend | None = None, overwrite: bool = False,
                     profile: ThematicProfile | None = None,
                     tags: Mapping[str, Any] | None = None) -> ClassifyResult:
    """Write the class map (and extras) from predicted blocks: the one writing pass of a prediction.

    Used by :func:`apply_engine` (blocks predicted here) and by
    :func:`geouic.distributed.predict.apply_engine_dask` (blocks predicted on a cluster), so
    both write the same files. Outputs are atomic: on any error every writer is aborted.
    """
    legend = legend or Legend.default(engine.n_classes_, getattr(engine, "class_names_", None))
    n_classes = max([engine.n_classes_, *legend.codes]) if legend.codes else engine.n_classes_
    grid = dict(crs=source.crs, transform=source.transform, width=source.width, height=source.height)
    profile = profile or ThematicProfile()
    writers: dict[str, Any] = {}
    t0 = time.perf_counter()
    try:
        writers["labels"] = ThematicWriter(output, legend=legend, n_classes=n_classes,
                                           overwrite=overwrite, profile=profile, **grid)
        for name, path in extras.items():
            count = engine.n_classes_ if name == "memberships" else 1
            band_names = [legend.names.get(k, f"class {k}") for k in range(1, count + 1)] if count > 1 else [name]
            writers[name] = FloatWriter(path, count=count, band_names=band_names, overwrite=overwrite,
                                        profile=profile, **grid)
        counts = np.zeros(n_classes + 1, dtype=np.int64)
        for core, result in blocks(frozenset(extras), n_classes):
            for name, writer in writers.items():
                writer.write(core, result[name])
            counts += np.bincount(result["labels"].ravel(), minlength=n_classes + 1)[: n_classes + 1]
        predict_seconds = time.perf_counter() - t0
        all_tags = _provenance(engine, [source], tags)
        written = {name: w.close(tags=all_tags) for name, w in writers.items()}
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    return ClassifyResult(path=written.pop("labels"), n_classes=n_classes, counts=counts,
                          predict_seconds=predict_seconds, extras=written)


def prediction_windows(source: RasterSource, engine: Engine, mem_limit_mb: float,
                       workers: int) -> WindowPass:
    """The prediction pass: the budget is shared by the windows in flight (two per worker)."""
    return source.windows(mem_limit_mb=mem_limit_mb, halo=engine.halo,
                          bytes_per_pixel=engine.bytes_per_pixel(source.count), workers=workers)


def _predict_windows(source: RasterSource, engine: Engine, windows: WindowPass, outputs: frozenset[str],
                     progress: ProgressCallback | None) -> Iterator[tuple[WindowPair, dict[str, np.ndarray]]]:
    """Yield ``(pair, cropped result)`` in order; each worker thread reads through its own handle."""
    reader, close_all = per_thread(source.reopen) if windows.workers > 1 else (lambda: source, lambda: None)
    try:
        yield from windows.map(lambda pair: _predict_one(reader(), engine, pair, outputs), progress=progress)
    finally:
        close_all()


def _predict_one(source: RasterSource, engine: Engine, pair: WindowPair,
                 outputs: frozenset[str]) -> dict[str, np.ndarray]:
    data, valid = source.read(pair.read)
    result = engine.predict_block(data, valid, outputs=outputs)
    return {k: pair.crop(v) for k, v in result.items()}


def fit_engine(engine: Engine, sources: Sequence[RasterSource], *, training: Any = None,
               progress: Callable[..., None] | None = None, mem_limit_mb: float | None = None) -> Engine:
    """``engine.fit(sources, ...)``, with the memory budget for engines whose ``fit`` takes it.

    ``mem_limit_mb`` (``--mem-limit``) is passed as ``fit(..., mem_limit_mb=...)`` when the
    engine's ``fit`` has that keyword (or ``**kwargs``); an engine written before it is fitted
    as before.
    """
    kwargs: dict[str, Any] = {"training": training, "progress": progress}
    if mem_limit_mb is not None and _takes_keyword(engine.fit, "mem_limit_mb"):
        kwargs["mem_limit_mb"] = mem_limit_mb
    return engine.fit(sources, **kwargs)


def _takes_keyword(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def classify_raster(source: RasterSource, engine: Engine,
                    output: str | os.PathLike, *, training: Any = None,
                    fit_progress: Callable[..., None] | None = None, **kwargs: Any) -> ClassifyResult:
    """Fit an engine on a scene and write its class map.

    Parameters
    ----------
    source : RasterSource
        The scene to classify (the engine is fitted on it).
    engine : Engine
        Unfitted engine (see :func:`geouic.engine.make_engine`).
    output : str or path-like
    training : ReferenceData, optional
        Training labels for supervised engines.
    fit_progress : callable, optional
        ``fit_progress(advance, total, note)`` during fitting (see :meth:`Engine.fit`).
    **kwargs
        Passed to :func:`apply_engine`; its ``mem_limit_mb`` (default 64) also bounds the fit
        (see :func:`fit_engine`).

    Returns
    -------
    ClassifyResult
    """
    check_output(output, overwrite=kwargs.get("overwrite", False))
    for p in (kwargs.get("extras") or {}).values():
        check_output(p, overwrite=kwargs.get("overwrite", False))
    t0 = time.perf_counter()
    fit_engine(engine, [source], training=training, progress=fit_progress,
               mem_limit_mb=kwargs.get("mem_limit_mb", DEFAULT_MEM_LIMIT_MB))
    fit_seconds = time.perf_counter() - t0
    logger.info("fitted %s in %.1f s", engine.method, fit_seconds)
    result = apply_engine(source, engine, output, **kwargs)
    result.fit_seconds = fit_seconds
    return result
