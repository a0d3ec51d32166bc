"""GDAL's polygonizer writing straight to a file, and the traced polygons read back in batches.

Why not :func:`rasterio.features.shapes`: it runs ``GDALPolygonize`` into an OGR *memory* layer
and yields the polygons only once the whole band is traced, so memory grows with the output
(1.7 GB for 10,604 ragged polygons of a 16000 x 16000 map). ``gdal_polygonize.py`` instead hands
GDAL a layer on disk. rasterio does not expose the OGR side of GDAL, so, as
:mod:`geouic.creation` does for the creation-option list, this module calls the GDAL library
rasterio bundles through ctypes: the band is traced into a temporary GeoPackage (one
transaction, no spatial index; rasterio's GDAL has no FlatGeobuf driver), which is then read back
``batch_size`` features at a time through one SQLite cursor. Memory: GDAL's polygonizer keeps
only the polygons its scanline has not closed yet, and one batch is held at a time. Coordinates
are those of the map's grid, as GDAL writes them.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from geouic.errors import OutputError, RasterInputError

__all__ = ["trace_to_file", "read_traced"]

_OF_RASTER, _OF_VECTOR, _OF_VERBOSE_ERROR = 0x02, 0x04, 0x40
_WKB_POLYGON, _OFT_INTEGER, _WKB_NDR = 3, 0, 1
_PROGRESS = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_double, ctypes.c_char_p, ctypes.c_void_p)
_P = ctypes.c_void_p

_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "GDALOpenEx": (_P, [ctypes.c_char_p, ctypes.c_uint, _P, _P, _P]),
    "GDALGetRasterBand": (_P, [_P, ctypes.c_int]),
    "GDALGetMaskBand": (_P, [_P]),
    "GDALGetDriverByName": (_P, [ctypes.c_char_p]),
    "GDALCreate": (_P, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, _P]),
    "GDALDatasetCreateLayer": (_P, [_P, ctypes.c_char_p, _P, ctypes.c_int, _P]),
    "GDALDatasetGetLayer": (_P, [_P, ctypes.c_int]),
    "GDALClose": (ctypes.c_int, [_P]),
    "GDALDatasetStartTransaction": (ctypes.c_int, [_P, ctypes.c_int]),
    "GDALDatasetCommitTransaction": (ctypes.c_int, [_P]),
    "OGR_Fld_Create": (_P, [ctypes.c_char_p, ctypes.c_int]),
    "OGR_Fld_Destroy": (None, [_P]),
    "OGR_L_CreateField": (ctypes.c_int, [_P, _P, ctypes.c_int]),
    "OGR_L_GetNextFeature": (_P, [_P]),
    "OGR_L_GetFeatureCount": (ctypes.c_longlong, [_P, ctypes.c_int]),
    "OGR_F_GetFieldAsInteger": (ctypes.c_int, [_P, ctypes.c_int]),
    "OGR_F_GetGeometryRef": (_P, [_P]),
    "OGR_F_Destroy": (None, [_P]),
    "OGR_G_WkbSize": (ctypes.c_int, [_P]),
    "OGR_G_ExportToWkb": (ctypes.c_int, [_P, ctypes.c_int, ctypes.c_char_p]),
    "GDALPolygonize": (ctypes.c_int, [_P, _P, _P, ctypes.c_int, _P, _PROGRESS, _P]),
    "CPLGetLastErrorMsg": (ctypes.c_char_p, []),
    "CSLSetNameValue": (_P, [_P, ctypes.c_char_p, ctypes.c_char_p]),
    "CSLDestroy": (None, [_P]),
}


@functools.lru_cache(maxsize=1)
def _gdal() -> Any:
    """The GDAL library rasterio uses, with the signatures above."""
    import rasterio._env  # noqa: F401  (loads GDAL first)

    from geouic.creation import _bundled

    for path in _bundled("libgdal*") or ["libgdal.so"]:
        try:
            lib = ctypes.CDLL(path)
            for name, (restype, argtypes) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = restype, argtypes
        except (OSError, AttributeError):
            continue
        return lib
    raise OutputError("cannot load the GDAL library rasterio uses (needed to polygonize); reinstall rasterio.")


def _options(lib: Any, pairs: dict[str, str]) -> Any:
    opts = None
    for key, value in pairs.items():
        opts = lib.CSLSetNameValue(opts, key.encode(), value.encode())
    return opts


def _last_error(lib: Any) -> str:
    msg = lib.CPLGetLastErrorMsg()
    return msg.decode("utf-8", "replace") if msg else "unknown GDAL error"


def _failed(output: Path, message: str) -> OutputError:
    """The error of a failed write beside ``output``: "no space left" (naming it) when its disk is full."""
    from geouic.output import raise_if_disk_full

    raise_if_disk_full(output, OSError(message))  # before the partial file is removed
    return OutputError(message)


def trace_to_file(map_path: str, target: Path, *, connectivity: int, mask_is_band: bool,
                  progress: Callable[[float], None] | None = None, output: Path | None = None) -> None:
    """Trace band 1 of ``map_path`` into a GeoPackage layer at ``target`` (field ``code``).

    Parameters
    ----------
    map_path : str
        The class map (any path GDAL opens).
    target : Path
        GeoPackage to create.
    connectivity : {4, 8}
    mask_is_band : bool
        Use the band as its own mask (0: not traced; uint8 maps), else GDAL's mask band (nodata).
    progress : callable, optional
        ``progress(fraction)`` as GDAL reports it (once per scanline); an exception in it stops
        GDAL and is raised here (Ctrl-C included).
    output : Path, optional
        The file the user asked for (named when the disk is full); default ``target``.
    """
    import rasterio

    lib = _gdal()
    output = target if output is None else output
    raised: list[BaseException] = []
    signals: list[int] = []

    def report(done: float, message: bytes | None, arg: Any) -> int:
        if signals:
            return 0  # Ctrl-C / SIGTERM: GDAL stops, the signal is handled below
        try:
            if progress is not None:
                progress(float(done))
        except BaseException as exc:  # noqa: BLE001  (re-raised below, after GDAL has stopped)
            raised.append(exc)
            return 0
        return 1

    callback = _PROGRESS(report)
    with _signals_held(signals), rasterio.Env(), contextlib.ExitStack() as stack:
        src = lib.GDALOpenEx(os.fsencode(map_path), _OF_RASTER | _OF_VERBOSE_ERROR, None, None, None)
        if not src:
            raise RasterInputError(f"{map_path}: GDAL cannot open it to polygonize ({_last_error(lib)}).")
        stack.callback(lib.GDALClose, src)
        band = lib.GDALGetRasterBand(src, 1)
        mask = band if mask_is_band else lib.GDALGetMaskBand(band)
        driver = lib.GDALGetDriverByName(b"GPKG")
        out = lib.GDALCreate(driver, os.fsencode(str(target)), 0, 0, 0, 0, None) if driver else None
        if not out:
            raise _failed(output, f"{target}: cannot create the temporary polygon file ({_last_error(lib)}).")
        stack.callback(lib.GDALClose, out)  # closing flushes the file (runs before src's close)
        layer_opts = _options(lib, {"SPATIAL_INDEX": "NO"})
        layer = lib.GDALDatasetCreateLayer(out, b"traced", None, _WKB_POLYGON, layer_opts)
        lib.CSLDestroy(layer_opts)
        field = lib.OGR_Fld_Create(b"code", _OFT_INTEGER)
        ok = layer and lib.OGR_L_CreateField(layer, field, 1) == 0
        lib.OGR_Fld_Destroy(field)
        if not ok:
            raise _failed(output, f"{target}: cannot create the temporary polygon layer ({_last_error(lib)}).")
        opts = _options(lib, {"8CONNECTED": "8"} if connectivity == 8 else {})
        lib.GDALDatasetStartTransaction(out, 0)  # one SQLite transaction, not one per polygon
        err = lib.GDALPolygonize(band, mask, layer, 0, opts, callback, None)
        lib.CSLDestroy(opts)
        if signals:
            return  # the signal's own handler runs when _signals_held ends
        if raised:
            raise raised[0]
        if err != 0 or lib.GDALDatasetCommitTransaction(out) != 0:
            raise _failed(output, f"{map_path}: GDAL's polygonizer failed ({_last_error(lib)}).")


#: A batch also ends once its geometries reach this many bytes of WKB: the polygons of a sieved
#: map are few but ragged (10,604 polygons took 1.7 GB in one batch on a 16000 x 16000 map).
BATCH_BYTES = 16 * 2**20


@contextlib.contextmanager
def _signals_held(caught: list[int]) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are only recorded; their own handlers run at its end.

    A signal handler that raises (Ctrl-C's KeyboardInterrupt) would raise inside GDAL's progress
    callback, where ctypes prints the exception and drops it, and GDAL would go on to the end;
    the callback instead sees the recorded signal and stops GDAL.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    # Signals the process ignores (SIGINT of a background job) stay ignored.
    previous: dict[int, Any] = {int(s): signal.signal(s, lambda signum, frame: caught.append(signum))
                                for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) != signal.SIG_IGN}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if caught:
        handler = previous[caught[0]]
        if callable(handler):
            handler(caught[0], None)  # KeyboardInterrupt, or the CLI's Terminated
        elif handler == signal.SIG_DFL:
            signal.raise_signal(caught[0])


def read_traced(path: Path, batch_size: int, *, batch_bytes: int | None = None
                ) -> Iterator[tuple[list[bytes], np.ndarray, int]]:
    """(WKB geometries, codes, features in the file) of the traced polygons, in batches.

    A batch holds ``batch_size`` features, or fewer when their WKB reaches ``batch_bytes``
    (default :data:`BATCH_BYTES`).
    """
    budget = BATCH_BYTES if batch_bytes is None else batch_bytes
    import rasterio

    lib = _gdal()
    with rasterio.Env():
        ds = lib.GDALOpenEx(os.fsencode(str(path)), _OF_VECTOR | _OF_VERBOSE_ERROR, None, None, None)
        if not ds:
            raise OutputError(f"{path}: cannot read the traced polygons back ({_last_error(lib)}).")
        try:
            layer = lib.GDALDatasetGetLayer(ds, 0)
            total = int(lib.OGR_L_GetFeatureCount(layer, 1))
            wkbs: list[bytes] = []
            codes: list[int] = []
            held = 0
            while True:
                feat = lib.OGR_L_GetNextFeature(layer)
                if not feat:
                    break
                geom = lib.OGR_F_GetGeometryRef(feat)
                size = lib.OGR_G_WkbSize(geom)
                buf = ctypes.create_string_buffer(size)
                lib.OGR_G_ExportToWkb(geom, _WKB_NDR, buf)
                wkbs.append(buf.raw)
                codes.append(lib.OGR_F_GetFieldAsInteger(feat, 0))
                lib.OGR_F_Destroy(feat)
                held += size
                if len(wkbs) >= batch_size or held >= budget:
                    yield wkbs, np.asarray(codes, np.int64), total
                    wkbs, codes, held = [], [], 0
            if wkbs:
                yield wkbs, np.asarray(codes, np.int64), total
        finally:
            lib.GDALClose(ds)
