"""Writing thematic GeoTIFFs (and per-pixel float outputs) atomically.

A thematic map is written window by window to a temporary file beside the target, then given
its colour table, category names (GDAL PAM ``.aux.xml``), a QGIS ``.qml`` style and provenance
tags, optionally converted to a Cloud Optimized GeoTIFF, and only then renamed into place. A
failure at any point leaves no output behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from geouic.colors import Color, distinct_colors, to_hex
from geouic.creation import quiet_libtiff
from geouic.errors import OutputError
from geouic.raster import gdal_env

__all__ = [
    "ThematicProfile",
    "ThematicWriter",
    "FloatWriter",
    "Legend",
    "check_output",
    "atomic_path",
    "atomic_folder",
    "remove_stale_temps",
    "raise_if_disk_full",
    "write_qml",
    "category_names_xml",
]

logger = logging.getLogger(__name__)


def check_output(path: str | os.PathLike, *, overwrite: bool = False, folder: bool = False) -> Path:
    """Check that an output can be written before any work is done.

    Parameters
    ----------
    path : str or path-like
    overwrite : bool, default=False
        Allow replacing an existing output.
    folder : bool, default=False
        The output is a folder (a report), not a file.

    Raises
    ------
    OutputError
        The output exists and ``overwrite`` is false, a file output names a folder, its
        parent folder is missing, or the parent is not writable.
    """
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputError(f"{p}: already exists; pass overwrite=True to replace it or choose another name.",
                          params=("overwrite",))
    if p.is_dir() and not folder:
        raise OutputError(f"{p}: is a folder; give a file name for the output.")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{p}: the folder {parent} does not exist; create it first.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"{p}: the folder {parent} is not writable; choose another output folder.")
    return p


def _tmp_tag(path: Path) -> str:
    """``.{name}.geouic-{pid}-{hex}``: the hidden prefix of this process's temporary files for ``path``.

    The process id lets a later run tell a file left by a killed process (SIGKILL, power loss)
    from one still being written; :func:`remove_stale_temps` removes the former.
    """
    remove_stale_temps(path)
    return f".{path.name}.geouic-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _tmp_name(path: Path, suffix: str = "") -> Path:
    return path.with_name(f"{_tmp_tag(path)}.tmp{suffix or path.suffix}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or unknowable: keep its files
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and folders for ``path`` left by geouic processes that are gone.

    Temporary names are ``.{name}.geouic-{pid}-{hex}.tmp{suffix}`` (and ``.old`` for a replaced
    report folder); those whose process no longer exists (``os.kill(pid, 0)`` raises
    ProcessLookupError) are deleted. Files of running processes are left alone.

    Returns
    -------
    list of Path
        What was removed.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.geouic-(\d+)-[0-9a-f]+\.(tmp|old)")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    if removed:
        logger.info("removed %d temporary file(s) of %s left by an interrupted run", len(removed), path)
    return removed


#: Free space below which a failed write is put down to a full disk. Not a few kB: a failed
#: GeoPackage commit gives back its journal before the error reaches us (measured: 68 kB free).
LOW_SPACE_BYTES = 1024 * 1024


def raise_if_disk_full(path: str | os.PathLike, exc: BaseException) -> None:
    """Raise :class:`OutputError` "no space left" when ``exc`` came while ``path``'s disk is full.

    Called by the atomic writers *before* they remove their partial file: then the disk is still
    as full as when the write failed. Libraries do not always say why a write failed (OGR's
    GeoPackage driver: "Failed to commit transaction"); the free space does.
    """
    from geouic.errors import GeouicError

    if isinstance(exc, (GeouicError, KeyboardInterrupt, MemoryError)) or not isinstance(exc, Exception):
        return
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    except (OSError, AttributeError):  # no statvfs (Windows) or the folder is gone
        return
    if st.f_bavail * st.f_frsize < LOW_SPACE_BYTES:
        raise OutputError(f"no space left on the device to write {path}; free some space there or choose an "
                          "output on another disk (no partial output was kept).") from exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` when the block succeeds.

    On an exception the temporary file is removed and ``path`` is left as it was; a failure on
    a full disk is raised as :class:`OutputError` (see :func:`raise_if_disk_full`).
    """
    path = Path(path)
    tmp = _tmp_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        raise_if_disk_full(path, exc)
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; move it to ``path`` when the block succeeds.

    An existing ``path`` (only with ``overwrite``) is replaced after the new folder is complete.
    On an exception the temporary folder is removed and ``path`` is left as it was.
    """
    path = check_output(path, overwrite=overwrite, folder=True)
    tag = _tmp_tag(path)
    tmp = path.with_name(f"{tag}.tmp")
    tmp.mkdir()
    try:
        yield tmp
        old = path.with_name(f"{tag}.old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        elif old.exists():
            old.unlink()
    except BaseException as exc:
        raise_if_disk_full(path, exc)
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Legend:
    """Codes, names and colours of the classes of a map.

    Attributes
    ----------
    names : dict of int to str
        Name per class code (codes >= 1).
    colors : dict of int to (r, g, b)
    """

    names: dict[int, str] = field(default_factory=dict)
    colors: dict[int, Color] = field(default_factory=dict)

    @classmethod
    def default(cls, n_classes: int, names: Mapping[int, str] | None = None) -> Legend:
        """Classes 1..n with generated distinct colours and ``class <k>`` names."""
        names = dict(names or {})
        palette = distinct_colors(n_classes)
        return cls(
            names={k: names.get(k, f"class {k}") for k in range(1, n_classes + 1)},
            colors={k: palette[k - 1] for k in range(1, n_classes + 1)},
        )

    @property
    def codes(self) -> list[int]:
        """Codes that have a name or a colour, ascending."""
        return sorted(set(self.names) | set(self.colors))


@dataclass(frozen=True)
class ThematicProfile:
    """Creation options of thematic maps (defaults live here, not in call sites).

    Attributes
    ----------
    blocksize : int
        Tile size (pixels); smaller scenes get a smaller multiple of 16.
    compress : str
    overviews : bool
        Build internal overviews (mode resampling) when the map is larger than 1024 px.
    cog : bool
        Write a Cloud Optimized GeoTIFF.
    options : tuple of (str, str)
        GDAL creation options given by the user (``--co``), upper-case names; they override the
        defaults above (for ``cog``, they go to the COG driver). Set them with :meth:`with_options`,
        which checks them against the driver.
    """

    blocksize: int = 256
    compress: str = "deflate"
    overviews: bool = True
    cog: bool = False
    options: tuple[tuple[str, str], ...] = ()

    def with_options(self, options: Mapping[str, object] | Iterable[str] | None) -> ThematicProfile:
        """A copy of the profile with creation options, validated against GTiff's (or COG's) option list.

        Raises
        ------
        ParameterError
            An option the driver does not have, or a value it does not accept.
        """
        from geouic.creation import validate_creation_options

        checked = validate_creation_options(options, driver="COG" if self.cog else "GTiff")
        return dataclasses.replace(self, options=tuple(checked.items()))

    def creation_options(self, width: int, height: int, dtype: str, count: int = 1) -> dict[str, Any]:
        """The rasterio profile entries for a ``width`` x ``height`` map."""
        size = max(16, min(self.blocksize, (max(width, height) + 15) // 16 * 16))
        opts: dict[str, Any] = {
            "driver": "GTiff", "dtype": dtype, "count": count, "width": width, "height": height,
            "compress": self.compress, "BIGTIFF": "IF_SAFER",
        }
        if width >= 16 and height >= 16:
            opts.update(tiled=True, blockxsize=size, blockysize=size)
        if dtype in ("uint8", "uint16"):
            opts["predictor"] = 2
        elif dtype == "float32":
            opts["predictor"] = 3
        if not self.cog:
            for key, value in self.options:
                for old in [k for k in opts if k.upper() == key]:
                    del opts[old]
                opts[key] = value
        return opts


def map_dtype(n_classes: int) -> str:
    """``uint8`` up to 255 classes, ``uint16`` beyond."""
    return "uint8" if n_classes <= 255 else "uint16"


class _AtomicRaster:
    """Shared machinery: a temporary GeoTIFF beside the target, renamed on success."""

    #: Resampling of the overviews (each writer sets its own).
    _overview_resampling: rasterio.enums.Resampling

    def __init__(self, path: str | os.PathLike, *, crs: Any, transform: Any, width: int, height: int,
                 dtype: str, count: int, nodata: float, overwrite: bool, profile: ThematicProfile):
        self.path = check_output(path, overwrite=overwrite)
        self.profile = profile
        self.tmp = _tmp_name(self.path, ".tif")
        opts = profile.creation_options(width, height, dtype, count)
        if crs is None and transform is not None and transform.is_identity:
            transform = None  # a raster without georeferencing stays without it
        opts.update(crs=crs, transform=transform, nodata=nodata)
        self._extra_files: list[tuple[Path, Path]] = []
        # libtiff prints I/O errors (a full disk) on stderr itself; geouic reports them in one line.
        self._quiet = contextlib.ExitStack()
        self._quiet.enter_context(quiet_libtiff())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self.ds = rasterio.open(self.tmp, "w", **opts)
        except BaseException:
            self._quiet.close()
            raise

    def write(self, window: Window, array: np.ndarray) -> None:
        """Write one window: ``(rows, cols)`` or ``(bands, rows, cols)``."""
        if array.ndim == 2:
            self.ds.write(array.astype(self.ds.dtypes[0], copy=False), 1, window=window)
        else:
            self.ds.write(array.astype(self.ds.dtypes[0], copy=False), window=window)

    def _finish_dataset(self) -> None:
        """Hook: colour tables, tags; the dataset is still open."""

    def _sidecars(self) -> list[tuple[Path, str]]:
        """Hook: (path, text) pairs written beside the final file."""
        return []

    def close(self, *, tags: Mapping[str, Any] | None = None) -> Path:
        """Finish the file and move it into place; return the final path."""
        try:
            if tags:
                self.ds.update_tags(**{k: _tag_text(v) for k, v in tags.items()})
            self._finish_dataset()
            if self.profile.overviews and max(self.ds.width, self.ds.height) > 1024:
                factors = [f for f in (2, 4, 8, 16, 32, 64) if max(self.ds.width, self.ds.height) / f >= 256]
                with gdal_env(), _quiet_rasterio():
                    # Levels past the first are made from the previous level, which reports
                    # no palette; GDAL then warns, needlessly for mode/average resampling.
                    self.ds.build_overviews(factors, self._overview_resampling)
            self.ds.close()
            final_tmp = self.tmp
            if self.profile.cog:
                final_tmp = _tmp_name(self.path, ".cog.tif")
                cog_opts = {"COMPRESS": self.profile.compress.upper(),
                            "OVERVIEW_RESAMPLING": self._overview_resampling.name.upper(),
                            **dict(self.profile.options)}
                rasterio.shutil.copy(self.tmp, final_tmp, driver="COG", **cog_opts)
                self.tmp.unlink()
                self.tmp = final_tmp
            for target, text in self._sidecars():
                side_tmp = _tmp_name(target, ".txt")
                self._extra_files.append((side_tmp, target))  # before writing: abort() removes a partial one
                side_tmp.write_text(text, encoding="utf-8")
            for src, dst in self._extra_files:
                os.replace(src, dst)
            os.replace(final_tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._quiet.close()
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        with contextlib.suppress(Exception):
            if not self.ds.closed:
                self.ds.close()
        for p in [self.tmp, *(src for src, _ in self._extra_files)]:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        with contextlib.suppress(FileNotFoundError):
            Path(str(self.tmp) + ".aux.xml").unlink()
        self._quiet.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        elif not self.ds.closed:
            self.close()


class ThematicWriter(_AtomicRaster):
    """Write a class map window by window; colour table, names, style and tags on close.

    Parameters
    ----------
    path : str or path-like
        Target GeoTIFF.
    crs, transform, width, height
        Grid of the map (same as the input scene).
    legend : Legend
        Class names and colours; ``0`` is always nodata/unclassified.
    n_classes : int
        Largest class code (decides uint8 or uint16).
    overwrite : bool, default=False
    profile : ThematicProfile, optional
    """

    _overview_resampling = rasterio.enums.Resampling.mode

    def __init__(self, path: str | os.PathLike, *, crs: Any, transform: Any, width: int, height: int,
                 legend: Legend, n_classes: int, overwrite: bool = False,
                 profile: ThematicProfile | None = None):
        self.legend = legend
        self.n_classes = n_classes
        for sidecar in (Path(str(path) + ".aux.xml"), Path(path).with_suffix(".qml")):
            check_output(sidecar, overwrite=overwrite)  # a map's names and style follow its --overwrite rule
        super().__init__(path, crs=crs, transform=transform, width=width, height=height,
                         dtype=map_dtype(n_classes), count=1, nodata=0, overwrite=overwrite,
                         profile=profile or ThematicProfile())
        # The colour table must be set before any pixel is written (TIFF photometric tag).
        cmap = {0: (0, 0, 0, 0)}
        for code, rgb in self.legend.colors.items():
            cmap[int(code)] = (*rgb, 255)
        self.ds.write_colormap(1, cmap)

    def _sidecars(self) -> list[tuple[Path, str]]:
        return [
            (Path(str(self.path) + ".aux.xml"), category_names_xml(self.legend.names, self.n_classes)),
            (self.path.with_suffix(".qml"), write_qml(self.legend)),
        ]


class FloatWriter(_AtomicRaster):
    """Write a float32 per-pixel raster (confidence, entropy, memberships), NaN = nodata."""

    _overview_resampling = rasterio.enums.Resampling.average

    def __init__(self, path: str | os.PathLike, *, crs: Any, transform: Any, width: int, height: int,
                 count: int = 1, band_names: list[str] | None = None, overwrite: bool = False,
                 profile: ThematicProfile | None = None):
        super().__init__(path, crs=crs, transform=transform, width=width, height=height, dtype="float32",
                         count=count, nodata=float("nan"), overwrite=overwrite,
                         profile=profile or ThematicProfile())
        for i, name in enumerate(band_names or [], 1):
            self.ds.set_band_description(i, name)


@contextlib.contextmanager
def _quiet_rasterio() -> Iterator[None]:
    """Hide GDAL warnings relayed through rasterio's logger inside the block."""
    log = logging.getLogger("rasterio._env")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _tag_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def category_names_xml(names: Mapping[int, str], n_classes: int) -> str:
    """GDAL PAM ``.aux.xml`` text holding category names (index = pixel value)."""
    top = max([n_classes, *names]) if names else n_classes
    cats = ["nodata"] + [names.get(k, "") for k in range(1, top + 1)]
    body = "".join(f"        <Category>{escape(c)}</Category>\n" for c in cats)
    return (
        "<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n"
        f"{body}    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n"
    )


def write_qml(legend: Legend) -> str:
    """A QGIS paletted-renderer style (``.qml``) text for the legend."""
    entries = "".join(
        f"        <paletteEntry value=\"{code}\" color=\"{to_hex(legend.colors[code])}\" "
        f"label={quoteattr(legend.names.get(code, str(code)))} alpha=\"255\"/>\n"
        for code in sorted(legend.colors)
    )
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        "<qgis version=\"3.28\" styleCategories=\"AllStyleCategories\">\n  <pipe>\n"
        "    <rasterrenderer type=\"paletted\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" nodataColor=\"\">\n"
        "      <rasterTransparency/>\n      <colorPalette>\n"
        f"{entries}      </colorPalette>\n    </rasterrenderer>\n  </pipe>\n</qgis>\n"
    )
