"""Polygons from a class map: one feature per patch (or per class), with code, name and area.

GDAL's polygonizer (``GDALPolygonize`` through :func:`rasterio.features.shapes` on the dataset
band) traces the whole map in one scanline pass: it reads the raster line by line (memory of a
few lines, not of the raster) and gives one polygon per connected region of one value, i.e. per
patch, with the connectivity asked for. It keeps the polygons it has produced in an OGR memory
layer until the pass ends, so memory grows with the output's vertices, not with the pixels
(sieve first: a speckled map has a polygon per speck). Features are converted and written in
batches (GeoPackage and Shapefile are appended batch by batch).

Traced in pixel coordinates, polygons are exact: ``pixels`` is the polygon's area in pixels and
``area_ha`` is the raster area, pixel count x pixel area, or on the ellipsoid for geographic maps
(:func:`_row_weighted_area`: the shoelace sum over vertical edges with the cumulative area of the
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


def _ring_area(xy: np.ndarray, cum: np.ndarray | None) -> float:
    """|area| of a pixel-aligned ring in pixel coordinates.

    With ``cum`` (cumulative row areas, ``cum[r]`` = area of rows 0..r-1), its area in those units.
    """
    x0, y0, x1, y1 = xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]
    if cum is None:
        return abs(float(np.dot(x0, y1) - np.dot(x1, y0))) / 2
    vertical = x0 == x1  # horizontal edges add nothing to the integral of x dy
    r0, r1 = y0[vertical].astype(np.int64), y1[vertical].astype(np.int64)
    return abs(float(np.dot(x0[vertical], cum[r1] - cum[r0])))


def _row_weighted_area(rings: list[np.ndarray], cum: np.ndarray | None) -> float:
    """Area of a polygon given as shell and holes (see :func:`_ring_area`)."""
    return _ring_area(rings[0], cum) - sum(_ring_area(r, cum) for r in rings[1:])


def _features(source: Any, connectivity: int, cum: np.ndarray | None, nodata: set[float]) -> Iterator[tuple]:
    """(polygon in pixel coordinates, code, pixels, area in cum units or None, last row + 1) per patch.

    GDAL emits a polygon when the scanline pass leaves it behind, so the last element (the row
    below the patch) grows through the pass: it is how far the pass has got, for progress.
    """
    import rasterio
    import shapely
    from rasterio.features import shapes

    band = rasterio.band(source.dataset, 1)
    inv = ~source.transform  # rasterio traces a dataset band in map coordinates: back to pixel corners
    ia, ib, ic, id_, ie, if_ = inv.a, inv.b, inv.c, inv.d, inv.e, inv.f
    # The band masks itself (0 = no class) only when it is uint8: GDAL's polygonizer takes a
    # bool/uint8 mask. Other maps are traced whole and their 0 / nodata polygons dropped below.
    mask = band if source.dataset.dtypes[0] == "uint8" else None
    for geom, value in shapes(band, mask=mask, connectivity=connectivity):
        if value <= 0 or value in nodata:
            continue
        rings = []
        for ring in geom["coordinates"]:
            # numpy rings: about twice as fast as shapely.geometry.shape on GeoJSON-like dicts
            xy = np.asarray(ring, dtype=np.float64)
            rings.append(np.round(np.column_stack([ia * xy[:, 0] + ib * xy[:, 1] + ic,
                                                   id_ * xy[:, 0] + ie * xy[:, 1] + if_])))
        poly = shapely.Polygon(rings[0], rings[1:] or None)
        pixels = int(round(_row_weighted_area(rings, None)))
        yield (poly, int(value), pixels, (_row_weighted_area(rings, cum) if cum is not None else None),
               int(rings[0][:, 1].max()))


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
        ``progress(advance, total)`` in map rows: after each batch of features, the rows the
        polygonizer has finished (GDAL's pass is one call over the band, not windows), out of
        the map's height; the rest when the file is written.

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
        tracker = RunProgress(progress, total=source.height)
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
            batch: list[tuple] = []
            empty = {v for v in (source.dataset.nodata, source.nodata) if v is not None}
            for feature in _features(source, connectivity, cum, empty):
                batch.append(feature)
                # How far the scanline pass has got: the row below the patch GDAL has just finished.
                if len(batch) >= batch_size or len(batch) % 1024 == 0:
                    reached = min(source.height, max(rows_done, feature[4]))
                    if reached > rows_done:
                        tracker.advance(reached - rows_done)
                        rows_done = reached
                if len(batch) >= batch_size:
                    writer.add(batch, sink)
                    batch = []
            writer.add(batch, sink)
            writer.finish(sink)
            sink.close()
            if source.height > rows_done:
                tracker.advance(source.height - rows_done)
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

    def add(self, batch: list[tuple], sink: _Sink) -> None:
        import shapely

        if not batch:
            return
        geoms = np.asarray([b[0] for b in batch], dtype=object)
        codes = np.asarray([b[1] for b in batch], np.int64)
        pixels = np.asarray([b[2] for b in batch], np.int64)
        area = np.asarray([b[3] for b in batch], np.float64) if batch[0][3] is not None else pixels * self.pixel_area
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
