"""GDAL creation options (``--co KEY=VALUE``), checked against the driver's own option list.

GDAL drivers publish the creation options they accept as XML (the ``DMD_CREATIONOPTIONLIST``
metadata item: name, type, allowed values). rasterio does not expose it, so
:func:`driver_options` reads it from the GDAL library rasterio bundles, through ctypes; where that
library cannot be found the names are passed to GDAL unchecked (GDAL then warns about unknown
ones). :func:`validate_creation_options` turns ``KEY=VALUE`` strings or a mapping into a dict of
upper-case names, refusing unknown names and values outside an option's type or choices.

The same ctypes route silences libtiff while geouic writes a GeoTIFF (:func:`quiet_libtiff`):
GDAL routes libtiff's per-file errors to its own CPL handlers (so rasterio raises), but the
errors of the file I/O callbacks (``_tiffWriteProc: No space left on device.``) go to
libtiff's *global* handler, whose default prints to stderr. A CPL handler
(``CPLPushErrorHandler``, ``rasterio.Env``) never sees them; only ``TIFFSetErrorHandler(NULL)``
in the libtiff GDAL uses does. The write still fails (GDAL reports "Write failed"), and the
CLI then prints its one line about the full disk.

Examples
--------
>>> validate_creation_options(["compress=zstd", "ZSTD_LEVEL=9"])
{'COMPRESS': 'ZSTD', 'ZSTD_LEVEL': '9'}
"""

from __future__ import annotations

import ctypes
import functools
import glob
import logging
import os
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from geouic.errors import ParameterError

__all__ = ["DriverOption", "driver_options", "parse_creation_options", "quiet_libtiff",
           "validate_creation_options"]

logger = logging.getLogger(__name__)

_BOOLEAN = {"YES", "NO", "TRUE", "FALSE", "ON", "OFF", "1", "0"}


@dataclass(frozen=True)
class DriverOption:
    """One creation option of a driver.

    Attributes
    ----------
    name : str
        Upper-case option name.
    type : str
        GDAL's type: ``string``, ``string-select``, ``int``, ``float``, ``boolean``.
    values : tuple of str
        Allowed values of a ``string-select`` option (upper case); empty otherwise.
    """

    name: str
    type: str
    values: tuple[str, ...] = ()


@functools.lru_cache(maxsize=8)
def driver_options(driver: str = "GTiff") -> dict[str, DriverOption] | None:
    """The creation options ``driver`` accepts, by upper-case name (None when GDAL cannot be asked)."""
    xml = _option_list_xml(driver)
    if not xml:
        return None
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return None
    out = {}
    for opt in root.iter("Option"):
        name = (opt.get("name") or "").upper()
        if name:
            values = tuple((v.text or "").strip().upper() for v in opt.iter("Value"))
            out[name] = DriverOption(name, (opt.get("type") or "string").lower(), values)
    return out


def _option_list_xml(driver: str) -> str | None:
    import rasterio
    import rasterio._env  # noqa: F401  (loads and registers the GDAL library)

    for path in _bundled("libgdal*") or ["libgdal.so"]:
        try:
            lib = ctypes.CDLL(path)
            lib.GDALGetDriverByName.restype = ctypes.c_void_p
            lib.GDALGetDriverByName.argtypes = [ctypes.c_char_p]
            lib.GDALGetMetadataItem.restype = ctypes.c_char_p
            lib.GDALGetMetadataItem.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
            with rasterio.Env():
                handle = lib.GDALGetDriverByName(driver.encode())
                if not handle:
                    return None
                raw = lib.GDALGetMetadataItem(handle, b"DMD_CREATIONOPTIONLIST", None)
            return raw.decode("utf-8", "replace") if raw else None
        except (OSError, AttributeError):
            continue
    logger.info("cannot read GDAL's creation option list; --co values are passed unchecked")
    return None


def _bundled(pattern: str) -> list[str]:
    """Shared libraries named ``pattern`` in rasterio's wheel (``rasterio.libs`` / ``.dylibs``)."""
    import rasterio

    here = os.path.dirname(rasterio.__file__)
    return (glob.glob(os.path.join(here + ".libs", pattern + ".so*"))
            + glob.glob(os.path.join(here, ".dylibs", pattern + "*.dylib")))


@functools.lru_cache(maxsize=1)
def _libtiff() -> ctypes.CDLL | None:
    """The libtiff GDAL writes with: rasterio's bundled copy, else the system's (already loaded)."""
    import ctypes.util

    import rasterio._env  # noqa: F401  (loads GDAL and its libtiff first)

    system = [n for n in ("libtiff.so.6", "libtiff.so.5", ctypes.util.find_library("tiff")) if n]
    for path in _bundled("libtiff*") + system:
        try:
            lib = ctypes.CDLL(path)
            lib.TIFFSetErrorHandler.restype = ctypes.c_void_p
            lib.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
        except (OSError, AttributeError):
            continue
        return lib
    logger.debug("libtiff not found through ctypes; its own error lines are not silenced")
    return None


_quiet_lock = threading.Lock()
_quiet_state: dict[str, int | None] = {"depth": 0, "saved": None}


@contextmanager
def quiet_libtiff() -> Iterator[None]:
    """Within the block, libtiff's global error handler prints nothing (see the module notes).

    Reentrant and thread-safe (a depth count: the handler is restored when the outermost block
    ends). Errors still reach GDAL, so the failing call still raises.
    """
    lib = _libtiff()
    if lib is None:
        yield
        return
    with _quiet_lock:
        if _quiet_state["depth"] == 0:
            _quiet_state["saved"] = lib.TIFFSetErrorHandler(None)
        _quiet_state["depth"] = int(_quiet_state["depth"] or 0) + 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_state["depth"] = int(_quiet_state["depth"] or 0) - 1
            if _quiet_state["depth"] == 0:
                lib.TIFFSetErrorHandler(_quiet_state["saved"])


def parse_creation_options(items: Iterable[str]) -> dict[str, str]:
    """``["KEY=VALUE", ...]`` as ``{"KEY": "VALUE"}`` (names upper-cased).

    Raises
    ------
    ParameterError
        An item without ``=`` or with an empty name.
    """
    out = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"creation_options {item!r} is not KEY=VALUE; write e.g. COMPRESS=ZSTD.",
                                 params=("creation_options",))
        out[key.strip().upper()] = value.strip()
    return out


def validate_creation_options(options: Mapping[str, object] | Iterable[str] | None, *,
                              driver: str = "GTiff") -> dict[str, str]:
    """Check creation options against ``driver``'s option list.

    Parameters
    ----------
    options : mapping or iterable of ``"KEY=VALUE"``, optional
    driver : str, default="GTiff"

    Returns
    -------
    dict of str to str
        Upper-case names; ``string-select`` and boolean values upper-cased.

    Raises
    ------
    ParameterError
        An unknown option name, or a value that is not of the option's type or among its choices.
    """
    if not options:
        return {}
    if isinstance(options, Mapping):
        given = {str(k).strip().upper(): str(v).strip() for k, v in options.items()}
    else:
        given = parse_creation_options(options)
    known = driver_options(driver)
    if known is None:
        return given
    out = {}
    for key, value in given.items():
        opt = known.get(key)
        if opt is None:
            near = [n for n in known if n.startswith(key[:3])][:6]
            hint = f" (similar: {', '.join(near)})" if near else ""
            raise ParameterError(f"creation_options {key}={value}: {driver} has no creation option {key}{hint}; see "
                                 f"https://gdal.org/drivers/raster/{driver.lower()}.html.",
                                 params=("creation_options",))
        out[key] = _check_value(opt, value, driver)
    return out


def _check_value(opt: DriverOption, value: str, driver: str) -> str:
    flag = f"creation_options {opt.name}={value}"
    if opt.type == "string-select" and opt.values:
        if value.upper() not in opt.values:
            raise ParameterError(f"{flag}: not a value {driver} accepts for {opt.name}; use one of "
                                 f"{', '.join(opt.values)}.", params=("creation_options",))
        return value.upper()
    if opt.type == "boolean":
        if value.upper() not in _BOOLEAN:
            raise ParameterError(f"{flag}: {opt.name} is a yes/no option; use YES or NO.", params=("creation_options",))
        return value.upper()
    if opt.type in ("int", "integer", "unsigned int"):
        try:
            int(value)
        except ValueError:
            raise ParameterError(f"{flag}: {opt.name} takes an integer.", params=("creation_options",)) from None
    elif opt.type == "float":
        try:
            float(value)
        except ValueError:
            raise ParameterError(f"{flag}: {opt.name} takes a number.", params=("creation_options",)) from None
    return value
