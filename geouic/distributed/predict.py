"""One big scene on a Dask cluster: groups of prediction windows are tasks, the client writes.

The client opens the scene (its header only), loads the model and plans exactly the window pass
:func:`geouic.pipeline.apply_engine` plans on this machine for the same ``mem_limit_mb`` and
``workers``; consecutive windows are grouped into tasks of about ``task_pixels`` pixels. The
model file is broadcast to every worker once, as bytes (no shared filesystem is assumed for
it); each worker process loads it once (cached by its sha256), opens the scene itself, reads
each window of a group with the model's halo, predicts it and returns the cropped label block
(and confidence, entropy or memberships when asked). The client writes the blocks into the same
atomic outputs (temporary file renamed on success, colour table, names, style, tags) as the
local run, with at most ``in_flight`` tasks submitted at a time, so its memory stays bounded
whatever the scene's size; the map is pixel-identical to the local run because every window is
the same and is predicted by the same code.

Why the client writes rather than workers writing tiles to assemble: a GeoTIFF cannot be
written by several processes at once, and tiles assembled afterwards cost a second pass over
the map and a shared filesystem for the tiles; returned label blocks cost 1 byte per pixel of
network (uint8 maps), which is small beside the bands the workers read. Its cost: the client's
write bandwidth bounds the throughput (a deflate-compressed uint8 map writes at tens to
hundreds of Mpx/s, far above what prediction gives per worker).

A worker lost mid-run (killed, out of memory, machine gone) loses no window: the scheduler
runs its tasks again on the other workers, and the blocks written are the same.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from geouic.distributed.cluster import ClusterError
from geouic.engine import Engine
from geouic.errors import ParameterError
from geouic.output import Legend, ThematicProfile, map_dtype
from geouic.pipeline import (
    ClassifyResult, check_outputs, default_workers, prediction_windows, write_prediction,
)
from geouic.raster import RasterSource, in_gdal_env
from geouic.windows import DEFAULT_MEM_LIMIT_MB, ProgressCallback, WindowPair

__all__ = ["DEFAULT_TASK_PIXELS", "apply_engine_dask", "group_windows", "predict_group"]

#: Pixels (window cores) per task: large enough that Dask's per-task cost (milliseconds) is
#: nothing beside the prediction, small enough for a few tasks per worker on a big scene.
DEFAULT_TASK_PIXELS = 4_000_000

_MODELS: dict[str, Engine] = {}
_MODELS_LOCK = threading.Lock()


def group_windows(pairs: Sequence[WindowPair], task_pixels: int) -> list[list[int]]:
    """Indexes of consecutive windows, grouped so each group's cores hold about ``task_pixels``."""
    groups: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i, pair in enumerate(pairs):
        current.append(i)
        size += int(pair.core.width) * int(pair.core.height)
        if size >= task_pixels:
            groups.append(current)
            current, size = [], 0
    if current:
        groups.append(current)
    return groups


def _engine_from_bytes(digest: str, model: bytes, device: str | None) -> Engine:
    """The engine of a model file's bytes, loaded once per process (through a temporary file)."""
    key = f"{digest}:{device}"
    with _MODELS_LOCK:
        engine = _MODELS.get(key)
        if engine is not None:
            return engine
        from geouic.model import load_model

        fd, name = tempfile.mkstemp(prefix=".geouic-dask-", suffix=".geouic", dir=_local_directory())
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(model)
            engine = load_model(name)  # the same validation as a model file read from disk
        finally:
            os.unlink(name)
        if device and hasattr(engine, "set_device"):
            engine.set_device(device)
        _MODELS.clear()  # one model at a time per process: a long-lived worker does not pile them up
        _MODELS[key] = engine
        return engine


def _local_directory() -> str | None:
    """The Dask worker's local directory (its scratch space), else the system's temporary one."""
    try:
        from dask.distributed import get_worker

        return str(get_worker().local_directory)
    except (ImportError, ValueError, AttributeError):
        return None


def _as_workers_see_it(path: str) -> str:
    """A local file as an absolute path (workers start elsewhere); URLs and /vsi paths as given."""
    return os.path.abspath(path) if os.path.exists(path) else path


def predict_group(digest: str, model: bytes, device: str | None, path: str, bands: list[int | str] | None,
                  nodata: float | None, pairs: list[WindowPair], outputs: frozenset[str],
                  dtype: str) -> list[dict[str, np.ndarray]]:
    """Predict a group of windows of one scene (runs on a worker; the raster is opened here).

    Parameters
    ----------
    digest : str
        The sha256 of ``model`` (the cache key).
    model : bytes
        The model file's content (broadcast once to every worker).
    device : str or None
        UIC models: the torch device (None: the model's own).
    path : str
        The scene, as the workers reach it (a path on a shared filesystem or a GDAL URL).
    bands, nodata
        As given to :func:`geouic.raster.open_raster`.
    pairs : list of WindowPair
        The windows to predict, in order.
    outputs : frozenset of str
        Extra outputs wanted (``"confidence"``, ``"entropy"``, ``"memberships"``).
    dtype : str
        dtype of the label blocks returned (the map's).

    Returns
    -------
    list of dict
        Per window, ``"labels"`` (cropped to the core, ``dtype``) and each extra (float32).
    """
    from geouic._threads import single_threaded_blas
    from geouic.raster import gdal_env, open_raster

    engine = _engine_from_bytes(digest, model, device)
    blocks: list[dict[str, np.ndarray]] = []
    with gdal_env(), open_raster(path, bands=bands, nodata=nodata) as source, single_threaded_blas():
        engine.check_bands(source)
        for pair in pairs:
            data, valid = source.read(pair.read)
            result = engine.predict_block(data, valid, outputs=outputs)
            block = {k: np.ascontiguousarray(pair.crop(v)) for k, v in result.items()}
            block["labels"] = block["labels"].astype(dtype, copy=False)
            for k in outputs:
                block[k] = block[k].astype(np.float32, copy=False)
            blocks.append(block)
    return blocks


#: How often one group of windows is predicted again after its result was lost with a worker.
LOST_RESUBMITS = 3


def _results(client: Any, submit: Any, n_groups: int, in_flight: int) -> Iterator[tuple[int, Any]]:
    """Yield ``(group, blocks)`` as tasks finish, with at most ``in_flight`` tasks submitted at once."""
    from dask.distributed import as_completed

    futures = [submit(g) for g in range(min(in_flight, n_groups))]
    index = {f.key: g for g, f in enumerate(futures)}
    following = len(futures)
    pending = as_completed(futures, loop=client.loop, with_results=True)
    try:
        received = 0
        resubmitted: dict[int, int] = {}
        for future, blocks in _named_cluster_errors(pending):
            if future.status == "lost" and resubmitted.get(index[future.key], 0) < LOST_RESUBMITS:
                # The task finished, but the worker holding its result died before the client
                # fetched it: predict the same windows again under a new key (deterministic, so the
                # map stays identical). Bounded, so a cluster that keeps losing workers still ends.
                group = index.pop(future.key)
                resubmitted[group] = resubmitted.get(group, 0) + 1
                future.release()
                again = submit(group)
                index[again.key] = group
                pending.add(again)
                continue
            if isinstance(blocks, BaseException) or future.status != "finished":  # a cancelled task
                raise ClusterError(f"the Dask cluster did not finish the prediction (task {future.key} was "
                                   f"{future.status}); no output was kept: run the command again.")
            group = index.pop(future.key)
            received += 1
            future.release()
            if following < n_groups:
                nxt = submit(following)
                index[nxt.key] = following
                pending.add(nxt)
                following += 1
            yield group, blocks
            del blocks
        if received < n_groups:  # as_completed drops cancelled futures: never leave a map with holes
            raise ClusterError(f"the Dask cluster did not finish the prediction ({n_groups - received} of "
                               f"{n_groups} tasks were cancelled); no output was kept: run the command again.")
    finally:
        remaining = list(getattr(pending, "futures", ()))
        if remaining:
            client.cancel(remaining)


def _named_cluster_errors(results: Iterator[Any]) -> Iterator[Any]:
    """``results``, with the cluster's own failures raised as one :class:`ClusterError`.

    Those are a task cancelled or killed on too many workers, or the scheduler gone; errors the
    task itself raised pass as they are.
    """
    import concurrent.futures

    from geouic.errors import GeouicError

    iterator = iter(results)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except GeouicError:
            raise
        except (concurrent.futures.CancelledError, Exception) as exc:
            if not (isinstance(exc, concurrent.futures.CancelledError)
                    or type(exc).__module__.split(".")[0] in ("distributed", "dask", "tornado")):
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise ClusterError(f"the Dask cluster did not finish the prediction ({type(exc).__name__}: {first}); "
                               "no output was kept: check that the scheduler and workers are running (and their "
                               "memory limits), then run the command again.") from None
        yield item


@in_gdal_env
def apply_engine_dask(client: Any, source: RasterSource, engine: Engine, output: str | os.PathLike, *,
                      model: bytes | str | os.PathLike, device: str | None = None,
                      extras: Mapping[str, str | os.PathLike] | None = None,
                      legend: Legend | None = None, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB,
                      overwrite: bool = False, profile: ThematicProfile | None = None, workers: int | None = None,
                      bands: list[int | str] | None = None, nodata: float | None = None,
                      task_pixels: int = DEFAULT_TASK_PIXELS, in_flight: int | None = None, retries: int = 2,
                      progress: ProgressCallback | None = None,
                      tags: Mapping[str, Any] | None = None) -> ClassifyResult:
    """Predict a fitted engine over a whole scene on a Dask cluster; the client writes the map.

    The outputs are those :func:`geouic.pipeline.apply_engine` writes for the same arguments,
    pixel for pixel.

    Parameters
    ----------
    client : dask.distributed.Client
    source : RasterSource
        The scene, opened on the client (for its grid and bands); workers open ``source.path``
        themselves, so it must be a path or URL they reach.
    engine : Engine
        The fitted engine loaded from ``model`` on the client.
    output : str or path-like
    model : bytes or path-like
        The model file (its bytes, or its path on the client), broadcast to the workers.
    device : {"auto", "cpu", "cuda"}, optional
        UIC models: the torch device on the workers (default: the model's own).
    extras, legend, mem_limit_mb, overwrite, profile, tags
        As for :func:`geouic.pipeline.apply_engine`.
    workers : int, optional
        The ``workers`` the window pass is planned for (default as the local run): the windows,
        hence the map, are those of ``geouic predict --workers N`` on this machine.
    bands, nodata
        The band selection and declared nodata ``source`` was opened with (workers reopen it so).
    task_pixels : int, default 4_000_000
        Window-core pixels per task.
    in_flight : int, optional
        Tasks submitted at a time (default: twice the cluster's threads, at least 2): the
        client holds at most this many groups of blocks.
    retries : int, default 2
        Times a task that raised is tried again (a lost worker's tasks are re-run by the
        scheduler in any case).
    progress : callable, optional
        ``progress(advance, total)`` in windows, as each task's blocks are written.

    Returns
    -------
    ClassifyResult
    """
    extras = check_outputs(source, engine, output, extras, overwrite)
    if task_pixels < 1:
        raise ParameterError(f"task_pixels={task_pixels} is invalid: give at least 1.", params=("task_pixels",))
    model_bytes = model if isinstance(model, bytes) else Path(model).read_bytes()
    windows = prediction_windows(source, engine, mem_limit_mb, workers or default_workers())
    groups = group_windows(windows.pairs, task_pixels)
    if in_flight is None:
        in_flight = max(2, 2 * sum(client.nthreads().values()))
    digest = hashlib.sha256(model_bytes).hexdigest()

    def blocks(wanted: frozenset[str], n_classes: int) -> Iterator[tuple[Any, Mapping[str, np.ndarray]]]:
        shared = client.scatter(model_bytes, broadcast=True, hash=False)
        dtype = map_dtype(n_classes)
        scene = _as_workers_see_it(str(source.path))

        def submit(g: int) -> Any:
            pairs = [windows.pairs[i] for i in groups[g]]
            return client.submit(predict_group, digest, shared, device, scene, bands, nodata, pairs, wanted, dtype,
                                 retries=retries, pure=False, key=f"geouic-predict-{g}-{os.urandom(6).hex()}")

        for g, group_blocks in _results(client, submit, len(groups), in_flight):
            for i, block in zip(groups[g], group_blocks):
                yield windows.pairs[i].core, block
            if progress is not None:
                progress(len(groups[g]), len(windows))

    return write_prediction(source, engine, output, blocks, extras=extras, legend=legend, overwrite=overwrite,
                            profile=profile, tags=tags)
