"""Polygons from a class map: one feature per patch (or per class), with code, name and area.

GDAL's polygonizer (``GDALPolygonize``) traces the whole map in one scanline pass: it reads the
raster line by line (memory of a few lines, not of the raster) and gives one polygon per
connected region of one value, i.e. per patch, with the connectivity asked for. It writes them
straight to a temporary GeoPackage, as ``gdal_polygonize.py`` writes to its output
(:mod:`geouic.postprocess._trace`; :func:`rasterio.features.shapes` would collect them all in an
OGR memory layer first), and they are read back, converted and written in batches of
``batch_size`` features (GeoPackage and Shapefile are appended batch by batch), so memory does
not grow with the output, except with ``dissolve`` or ``simplify``, which need every polygon at
once.

Taken back to pixel coordinates, polygons are exact: ``pixels`` is the polygon's area in pixels and
``area_ha`` is the raster area, pixel count x pixel area, or on the ellipsoid for geographic maps
(:func:`_row_weighted_areas`: the shoelace sum over vertical edges with the cumulative area of the
rows they span), so per-class totals equal the map's class areas. The affine transform is applied
when a batch is written.

Simplification (``simplify``, in map units) uses :func:`shapely.coverage_simplify` on all
polygons at once: each edge shared by two polygons is simplified once, so neighbours keep a
common border (no gaps, no overlaps) and polygons stay valid; the outer edges of the coverage
(map edge, nodata) are kept as traced (``simplify_boundary=False``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geouic.classmap import class_names, open_class_map
from geouic.errors import OutputError, ParameterError
from geouic.paths import check_distinct
from geouic.postprocess import _io
from geouic.postprocess._trace import read_traced, trace_to_file
from geouic.postprocess.patches import check_connectivity
from geouic.windows import ProgressCallback, RunProgress

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
        """One line for the CLI and the log."""
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


@contextlib.contextmanager
def _atomic_vector(output: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary file of the same format beside ``output``, renamed (with sidecars) on success."""
    from geouic.output import check_output, raise_if_disk_full

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
    except BaseException as exc:
        raise_if_disk_full(output, exc)  # before the partial files are removed
        raise
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


def _row_weighted_areas(geoms: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Area of pixel-aligned polygons (pixel coordinates) in the units of ``cum``.

    ``cum[r]`` is the area of rows 0..r-1: the shoelace integral of x dy taken over the vertical
    edges only (horizontal ones add nothing), each weighted by the cumulative area of the rows it
    spans; the shell counts positive, holes negative.
    """
    import shapely

    rings, owner = shapely.get_rings(geoms, return_index=True)
    shell = np.r_[True, owner[1:] != owner[:-1]] if len(owner) else np.zeros(0, bool)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    vertical = (ring[1:] == ring[:-1]) & (xy[:-1, 0] == xy[1:, 0])
    r0, r1 = xy[:-1, 1][vertical].astype(np.int64), xy[1:, 1][vertical].astype(np.int64)
    per_ring = np.abs(np.bincount(ring[:-1][vertical], weights=xy[:-1, 0][vertical] * (cum[r1] - cum[r0]),
                                  minlength=len(rings)))
    return np.bincount(owner, weights=np.where(shell, per_ring, -per_ring), minlength=len(geoms))


def _patches(wkbs: list[bytes], codes: np.ndarray, transform: Any, cum: np.ndarray | None,
             nodata: set[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Polygons in pixel coordinates, codes, pixel counts and (geographic maps) areas of a traced batch.

    GDAL traces in map coordinates: they go back to pixel corners (exact integers), where the
    area of a polygon is its pixel count.
    """
    import shapely

    keep = (codes > 0) & ~np.isin(codes, np.asarray(sorted(nodata), np.float64))
    geoms = shapely.from_wkb(np.asarray(wkbs, dtype=object)[keep])
    inv = ~transform
    ia, ib, ic, id_, ie, if_ = inv.a, inv.b, inv.c, inv.d, inv.e, inv.f

    def to_pixels(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        return np.round(np.column_stack([ia * x + ib * y + ic, id_ * x + ie * y + if_]))

    geoms = shapely.transform(geoms, to_pixels)
    pixels = np.rint(shapely.area(geoms)).astype(np.int64)
    return geoms, codes[keep], pixels, (None if cum is None else _row_weighted_areas(geoms, cum))


def polygonize(map_path: str | os.PathLike, output: str | os.PathLike, *, dissolve: bool = False,
               simplify: float | None = None, connectivity: int = 4, batch_size: int = 20_000,
               overwrite: bool = False, nodata: float | None = None,
               progress: ProgressCallback | None = None) -> PolygonizeResult:
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
    batch_size : int, default=20000
        Features converted and written at a time.
    overwrite : bool, default=False
    nodata : float, optional
        Declare the map's "no class" value when the file has no nodata tag: like 0 and the
        file's own nodata, it gets no polygon.
    progress : callable, optional
        ``progress(advance, total)`` in map rows, ``total`` twice the map's height: the rows GDAL's
        polygonizer has traced (it reports each scanline; one call over the band, not windows),
        then the share of the traced polygons read back and written, as rows.

    Returns
    -------
    PolygonizeResult
    """
    import json

    t0 = time.perf_counter()
    connectivity = check_connectivity(connectivity)
    if simplify is not None and not (isinstance(simplify, (int, float)) and simplify > 0):
        raise ParameterError(f"simplify={simplify!r} is invalid; give a tolerance > 0 in map units (e.g. 15).",
                             params=("simplify",))
    output = Path(output)
    driver = _driver(output)
    check_distinct({"output": output}, {"map_path": map_path})  # an input is never replaced, whatever overwrite says
    with open_class_map(map_path, warn_crs=False, nodata=nodata) as source:
        row_area, pixel_area = _io.pixel_area_rows(source)
        cum = None if row_area is None else np.r_[0.0, np.cumsum(row_area)]
        names = class_names(source.path)
        tracker = RunProgress(progress, total=2 * source.height)  # tracing, then reading back
        rows_done = 0
        tol = None if simplify is None else float(simplify) / float(np.sqrt(abs(source.transform.determinant)))
        params = {"dissolve": dissolve, "simplify": simplify, "connectivity": connectivity}
        tags = {k: v if isinstance(v, str) else json.dumps(v, default=str)
                for k, v in _io.step_tags(source, "polygonize", params).items()}
        gtype = "MultiPolygon" if dissolve or connectivity == 8 else "Polygon"
        writer = _Batches(names, source.transform, pixel_area, tol, dissolve, connectivity)
        with _atomic_vector(output, overwrite) as tmp:
            sink = _Sink(tmp, driver, layer=output.stem, crs=source.crs.to_wkt() if source.crs else None,
                         geometry_type=gtype, metadata=tags, dissolved=dissolve)
            traced = tmp.with_name(tmp.stem + ".traced.gpkg")  # removed with the other temporary files

            def rows(fraction: float) -> None:  # GDAL reports once per scanline
                nonlocal rows_done
                reached = min(2 * source.height, int(fraction * source.height))
                if reached > rows_done:
                    tracker.advance(reached - rows_done)
                    rows_done = reached

            trace_to_file(source.path, traced, connectivity=connectivity,
                          mask_is_band=source.dataset.dtypes[0] == "uint8", progress=rows, output=output)
            rows(1.0)
            empty = {v for v in (source.dataset.nodata, source.nodata) if v is not None}
            read = 0
            for wkbs, codes, total in read_traced(traced, batch_size):
                writer.add(*_patches(wkbs, codes, source.transform, cum, empty), sink)
                read += len(wkbs)
                rows(1.0 + read / max(total, 1))
            writer.finish(sink)
            sink.close()
            rows(2.0)
    result = PolygonizeResult(output, sink.count, dissolve, writer.class_area, time.perf_counter() - t0)
    logger.info("%s", result.summary())
    return result


class _Batches:
    """Turns traced patches into feature batches: areas, names, map coordinates.

    Holds them all when the whole coverage is needed (simplification, dissolving).
    """

    def __init__(self, names: dict[int, str], transform: Any, pixel_area: float, tol: float | None,
                 dissolve: bool, connectivity: int) -> None:
        self.names, self.transform, self.pixel_area = names, transform, pixel_area
        self.tol, self.dissolve, self.connectivity = tol, dissolve, connectivity
        self.held: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.class_area: dict[int, float] = {}

    @property
    def hold(self) -> bool:
        return self.tol is not None or self.dissolve

    def add(self, geoms: np.ndarray, codes: np.ndarray, pixels: np.ndarray, area: np.ndarray | None,
            sink: _Sink) -> None:
        """Take one batch of patches (pixel coordinates; ``area`` None: pixels x pixel area)."""
        import shapely

        if not len(geoms):
            return
        if area is None:
            area = pixels * self.pixel_area
        if self.connectivity == 8:
            bad = ~shapely.is_valid(geoms)  # corner-touching rings of 8-connected patches
            geoms[bad] = shapely.make_valid(geoms[bad])
        sums = np.bincount(codes, weights=area)
        for c in np.flatnonzero(sums):
            self.class_area[int(c)] = self.class_area.get(int(c), 0.0) + float(sums[c])
        if self.hold:
            self.held.append((geoms, codes, pixels, area))
        else:
            self._write(sink, geoms, codes, pixels, area)

    def _write(self, sink: _Sink, geoms: np.ndarray, codes: np.ndarray, pixels: np.ndarray, area: np.ndarray,
               extra: list[np.ndarray] | None = None) -> None:
        names = np.asarray([self.names.get(int(c), f"class {c}") for c in codes], dtype=object)
        sink.add(_to_map(geoms, self.transform), [codes, names, area, pixels, *(extra or [])])

    def finish(self, sink: _Sink) -> None:
        import shapely

        if not self.held:
            return
        geoms, codes, pixels, area = (np.concatenate(x) for x in zip(*self.held))
        self.held = []
        if self.tol is not None:
            geoms = shapely.coverage_simplify(geoms, self.tol, simplify_boundary=False)
        if not self.dissolve:
            self._write(sink, geoms, codes, pixels, area)
            return
        order = np.argsort(codes, kind="stable")
        codes, geoms, pixels, area = codes[order], geoms[order], pixels[order], area[order]
        heads = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        ends = np.r_[heads[1:], len(codes)]
        merged = np.asarray([_union_disjoint(geoms[a:b]) for a, b in zip(heads, ends)], dtype=object)
        self._write(sink, merged, codes[heads], np.add.reduceat(pixels, heads), np.add.reduceat(area, heads),
                    [(ends - heads).astype(np.int64)])


def _union_disjoint(parts: np.ndarray) -> Any:
    """Union of patches of one class (they touch at most at corners): fast coverage union first."""
    import shapely

    try:
        return shapely.coverage_union_all(parts)
    except shapely.errors.GEOSException:
        return shapely.union_all(parts)
