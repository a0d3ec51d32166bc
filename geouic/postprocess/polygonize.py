"""Polygons from a class map: one feature per patch (or per class), with code, name and area.

Per strip, :func:`rasterio.features.shapes` (GDAL ``Polygonize``) traces the patch labels of
:class:`~geouic.postprocess.patches.PatchTable` in pixel coordinates. A patch inside one strip is
written at once; the parts of a patch that crosses strip seams are kept until its last strip
and joined with :func:`shapely.union_all`. Pixel coordinates are integers, so parts
meet exactly; the affine transform is applied when a feature is written. Memory: one strip, the
patch table and the parts of the patches still open (dissolved output: the features themselves).

``area_ha`` is the patch's area on the raster (pixel count x pixel area; on the ellipsoid for
geographic maps), so per-class totals equal the map's class areas.

Simplification (``simplify``, in map units) uses :func:`shapely.coverage_simplify`, which
simplifies each edge shared by two polygons once, so neighbours keep a common border (no gaps,
no overlaps) and polygons stay valid. It runs per batch of finished patches with
``simplify_boundary=False``: a batch's outer edges (shared with patches of other batches, with
nodata and the map edge) stay as traced, so batches also fit together exactly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geouic.errors import OutputError, ParameterError
from geouic.postprocess import _io
from geouic.postprocess.patches import PatchTable, check_connectivity, label_patches

__all__ = ["polygonize", "PolygonizeResult"]

logger = logging.getLogger(__name__)

#: Formats written feature batch by feature batch; others are written once at the end.
_STREAMED = {".gpkg": "GPKG", ".shp": "ESRI Shapefile"}
_DRIVERS = {**_STREAMED, ".geojson": "GeoJSON", ".json": "GeoJSON", ".fgb": "FlatGeobuf", ".sqlite": "SQLite",
            ".gml": "GML", ".kml": "KML"}
_SHP_SIDECARS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


@dataclass
class PolygonizeResult:
    """What :func:`polygonize` wrote.

    Attributes
    ----------
    path : Path
    features : int
    class_area_ha : dict of int to float
        Area per class code summed over the features (raster areas).
    """

    path: Path
    features: int
    dissolved: bool
    class_area_ha: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        what = "classes" if self.dissolved else "patches"
        return (f"{self.path}: {self.features} features ({what}), "
                f"{sum(self.class_area_ha.values()):.2f} ha [{self.seconds:.1f} s]")


def _driver(output: Path) -> str:
    driver = _DRIVERS.get(output.suffix.lower())
    if driver is None:
        raise OutputError(f"{output}: unknown vector format {output.suffix!r}; use .gpkg (GeoPackage), .shp, "
                          ".geojson or .fgb.")
    return driver


def _to_map(geoms: np.ndarray, transform: Any) -> np.ndarray:
    """Pixel (col, row) coordinates -> map coordinates."""
    import shapely

    t = transform

    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack([t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f])

    return shapely.transform(geoms, apply)


def _trace(labels: np.ndarray, row_off: int, connectivity: int) -> tuple[np.ndarray, np.ndarray]:
    """Polygons (pixel coordinates of the map) and local label of every patch part of a strip."""
    import shapely
    from affine import Affine
    from rasterio.features import shapes

    geoms, values = [], []
    for geom, value in shapes(labels, mask=labels > 0, connectivity=connectivity,
                              transform=Affine.translation(0, row_off)):
        # numpy rings: about twice as fast as shapely.geometry.shape on GeoJSON-like dicts
        rings = [np.asarray(r, dtype=np.float64) for r in geom["coordinates"]]
        geoms.append(shapely.Polygon(rings[0], rings[1:] or None))
        values.append(int(value))
    geoms = np.asarray(geoms, dtype=object)
    if connectivity == 8 and len(geoms):
        bad = ~shapely.is_valid(geoms)  # corner-touching rings of 8-connected patches
        geoms[bad] = shapely.make_valid(geoms[bad])
    return geoms, np.asarray(values, np.int64)


@contextlib.contextmanager
def _atomic_vector(output: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary file of the same format beside ``output``, renamed (with sidecars) on success."""
    from geouic.output import check_output

    check_output(output, overwrite=overwrite)
    stem = f".{output.stem}.{uuid.uuid4().hex[:8]}.tmp"
    tmp = output.with_name(stem + output.suffix)
    sidecars = _SHP_SIDECARS if output.suffix.lower() == ".shp" else (output.suffix,)
    try:
        yield tmp
        for ext in sidecars:
            src = tmp.with_suffix(ext)
            if src.exists():
                os.replace(src, output.with_suffix(ext) if ext != output.suffix else output)
    finally:
        for p in output.parent.glob(stem + "*"):
            p.unlink()


class _Sink:
    """Feature batches to an OGR file: appended for streamable formats, else written at close."""

    def __init__(self, path: Path, driver: str, *, layer: str, crs: Any, geometry_type: str,
                 metadata: dict[str, str], dissolved: bool) -> None:
        self.path, self.driver, self.crs, self.geometry_type = path, driver, crs, geometry_type
        self.layer = layer
        self.metadata = metadata
        self.fields = ["code", "name", "area_ha", "pixels"] + (["patches"] if dissolved else [])
        self.started = False
        self.held: list[tuple[np.ndarray, list[np.ndarray]]] = []
        self.count = 0

    def add(self, geoms: np.ndarray, columns: list[np.ndarray]) -> None:
        if not len(geoms):
            return
        self.count += len(geoms)
        if self.driver in _STREAMED.values():
            self._write(geoms, columns)
        else:
            self.held.append((geoms, columns))

    def _write(self, geoms: np.ndarray, columns: list[np.ndarray]) -> None:
        import shapely
        from pyogrio.raw import write

        if self.geometry_type == "MultiPolygon":
            single = shapely.get_type_id(geoms) == 3
            geoms = geoms.copy()
            geoms[single] = shapely.multipolygons(geoms[single][:, None].tolist()) if single.any() else geoms[single]
        meta = {"layer_metadata": self.metadata} if self.driver == "GPKG" else {}
        write(str(self.path), shapely.to_wkb(geoms), columns, self.fields, driver=self.driver, layer=self.layer,
              geometry_type=self.geometry_type, crs=self.crs, append=self.started,
              **({} if self.started else meta))
        self.started = True

    def close(self) -> None:
        if self.held:
            geoms = np.concatenate([g for g, _ in self.held])
            columns = [np.concatenate([c[i] for _, c in self.held]) for i in range(len(self.fields))]
            self._write(geoms, columns)
        elif not self.started:
            raise ParameterError(f"{self.path}: the map has no classified pixel; no polygon to write.")


def polygonize(map_path: str | os.PathLike, output: str | os.PathLike, *, dissolve: bool = False,
               simplify: float | None = None, connectivity: int = 4, mem_limit_mb: float = 64,
               overwrite: bool = False, progress: Callable[[int], None] | None = None) -> PolygonizeResult:
    """Write the patches (or the classes) of a class map as polygons with code, name and area.

    Parameters
    ----------
    map_path : str or path-like
        Single-band integer class map.
    output : str or path-like
        Vector file; the format follows the extension (``.gpkg``, ``.shp``, ``.geojson``, ``.fgb``).
        GeoPackages carry the map's provenance tags and this step in their layer metadata.
    dissolve : bool, default=False
        One (multi)polygon per class instead of one polygon per patch.
    simplify : float, optional
        Simplification tolerance in map units (topology kept between neighbours).
    connectivity : {4, 8}, default=4
        How pixels join into patches (8: corner contacts too; features are MultiPolygons).
    mem_limit_mb : float, default=64
    overwrite : bool, default=False
    progress : callable, optional
        Called with 1 after each strip of each pass.

    Returns
    -------
    PolygonizeResult
    """
    import json

    t0 = time.perf_counter()
    connectivity = check_connectivity(connectivity)
    if simplify is not None and not (isinstance(simplify, (int, float)) and simplify > 0):
        raise ParameterError(f"--simplify {simplify!r} is invalid; give a tolerance > 0 in map units (e.g. 15).")
    output = Path(output)
    driver = _driver(output)
    with _io.open_class_map(map_path) as source:
        row_area, pixel_area = _io.pixel_area_rows(source)
        # labels (int32), classes and the mask: fewer bytes per pixel than the sieve, so taller
        # strips and fewer patches cut by seams
        windows = _io.strips(source, mem_limit_mb=mem_limit_mb, bytes_per_pixel=12)
        table = PatchTable(source.width, connectivity, row_area=row_area, height=source.height)
        for pair in windows:
            table.add(int(pair.core.row_off), _io.read_strip(source, pair.core))
            if progress is not None:
                progress(1)
        patches = table.finish()
        area = patches.area if patches.area is not None else patches.pixels * pixel_area
        legend = _io.class_legend(source, np.flatnonzero(np.bincount(patches.cls)))
        tol = None if simplify is None else float(simplify) / float(np.sqrt(abs(source.transform.determinant)))
        params = {"dissolve": dissolve, "simplify": simplify, "connectivity": connectivity}
        tags = {k: v if isinstance(v, str) else json.dumps(v, default=str)
                for k, v in _io.step_tags(source, "polygonize", params).items()}
        gtype = "MultiPolygon" if dissolve or connectivity == 8 else "Polygon"
        with _atomic_vector(output, overwrite) as tmp:
            sink = _Sink(tmp, driver, layer=output.stem, crs=source.crs.to_wkt() if source.crs else None, geometry_type=gtype,
                         metadata=tags, dissolved=dissolve)
            writer = _PatchWriter(sink, patches, area, legend.names, source.transform, tol, dissolve,
                                  _strip_span(table, patches))
            for i, (pair, off) in enumerate(zip(windows, table.offsets)):
                labels, _ = label_patches(_io.read_strip(source, pair.core), connectivity)
                geoms, values = _trace(labels, int(pair.core.row_off), connectivity)
                writer.add_strip(i, geoms, patches.key_patch[values + off])
                if progress is not None:
                    progress(1)
            writer.finish()
            sink.close()
    result = PolygonizeResult(output, sink.count, dissolve, writer.class_area, time.perf_counter() - t0)
    logger.info("%s", result.summary())
    return result


def _strip_span(table: PatchTable, patches: Any) -> tuple[np.ndarray, np.ndarray]:
    """First and last strip of every patch."""
    sizes = np.diff(np.r_[table.offsets, len(patches.key_patch) - 1])
    key_strip = np.repeat(np.arange(len(sizes)), sizes)
    lo = np.full(patches.n, len(sizes), np.int64)
    hi = np.full(patches.n, -1, np.int64)
    np.minimum.at(lo, patches.key_patch[1:], key_strip)
    np.maximum.at(hi, patches.key_patch[1:], key_strip)
    return lo, hi


def _union_disjoint(parts: np.ndarray) -> Any:
    """Union of patches of one class (they touch at most at corners): fast coverage union first."""
    import shapely

    try:
        return shapely.coverage_union_all(parts)
    except shapely.errors.GEOSException:
        return shapely.union_all(parts)


class _PatchWriter:
    """Joins the parts of patches across strips, simplifies finished batches and sends them on."""

    def __init__(self, sink: _Sink, patches: Any, area: np.ndarray, names: dict[int, str], transform: Any,
                 tol: float | None, dissolve: bool, span: tuple[np.ndarray, np.ndarray]) -> None:
        self.sink, self.patches, self.area, self.names = sink, patches, area, names
        self.transform, self.tol, self.dissolve = transform, tol, dissolve
        self.first_strip, self.last_strip = span
        self.open: dict[int, list[Any]] = {}
        self.by_class: dict[int, list[np.ndarray]] = {}
        self.class_area: dict[int, float] = {}

    def add_strip(self, i: int, geoms: np.ndarray, patch: np.ndarray) -> None:
        import shapely

        whole = (self.first_strip[patch] == i) & (self.last_strip[patch] == i)
        done_geoms, done_ids = [geoms[whole]], [patch[whole]]
        for g, p in zip(geoms[~whole], patch[~whole]):
            self.open.setdefault(int(p), []).append(g)
        closing = [p for p in np.unique(patch[~whole]) if self.last_strip[p] == i]
        if closing:
            # Full overlay union, not coverage_union: the parts' seam edges are noded differently.
            done_geoms.append(np.asarray([shapely.union_all(self.open.pop(int(p))) for p in closing], dtype=object))
            done_ids.append(np.asarray(closing, np.int64))
        self._emit(np.concatenate(done_geoms), np.concatenate(done_ids))

    def _emit(self, geoms: np.ndarray, ids: np.ndarray) -> None:
        import shapely

        if not len(geoms):
            return
        if self.tol is not None:
            geoms = shapely.coverage_simplify(geoms, self.tol, simplify_boundary=False)
        geoms = _to_map(geoms, self.transform)
        codes = self.patches.cls[ids].astype(np.int64)
        area = self.area[ids]
        np_area = np.bincount(codes, weights=area)
        for c in np.flatnonzero(np_area):
            self.class_area[int(c)] = self.class_area.get(int(c), 0.0) + float(np_area[c])
        if self.dissolve:
            for c in np.unique(codes):
                self.by_class.setdefault(int(c), []).append((geoms[codes == c], self.patches.pixels[ids[codes == c]]))
            return
        names = np.asarray([self.names.get(int(c), f"class {c}") for c in codes], dtype=object)
        self.sink.add(geoms, [codes, names, area, self.patches.pixels[ids].astype(np.int64)])

    def finish(self) -> None:
        import shapely

        if self.open:
            raise RuntimeError(f"{len(self.open)} patches were never closed")  # a bug, not bad input
        if not self.dissolve:
            return
        codes = sorted(self.by_class)
        geoms, pixels, counts = [], [], []
        for c in codes:
            parts = np.concatenate([g for g, _ in self.by_class[c]])
            geoms.append(_union_disjoint(parts))
            pixels.append(int(sum(int(p.sum()) for _, p in self.by_class[c])))
            counts.append(len(parts))
        geoms = np.asarray(geoms, dtype=object)
        names = np.asarray([self.names.get(c, f"class {c}") for c in codes], dtype=object)
        self.sink.add(geoms, [np.asarray(codes, np.int64), names,
                              np.asarray([self.class_area[c] for c in codes]), np.asarray(pixels, np.int64),
                              np.asarray(counts, np.int64)])
