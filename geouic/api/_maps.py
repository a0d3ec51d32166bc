"""The class-map functions of the Python API: assign_schema, accuracy, sieve, majority, polygonize.

Each takes a class map as a path, an open rasterio dataset, a numpy array (rows, cols) with
``transform``/``crs``, or a DataArray (y, x), and returns the kind it was given (see
:mod:`geouic.api._scenes`). An in-memory map reaches the library's file pass
(:mod:`geouic.assign`, :mod:`geouic.accuracy`, :mod:`geouic.postprocess`) as a temporary GeoTIFF
written once (:func:`geouic.api._inputs.class_map_file`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geouic.api._inputs import class_map_file, input_kind, temporary_folder
from geouic.api._results import AccuracyReport
from geouic.api._scenes import _map_result, _target
from geouic.errors import ParameterError
from geouic.windows import DEFAULT_MEM_LIMIT_MB, ProgressCallback

__all__ = ["accuracy", "assign_schema", "majority", "polygonize", "sieve"]


def assign_schema(class_map: Any, *, reference: Any = None, mapping: str | os.PathLike | None = None,
                  schema: Any = None, field: str | None = None, method: str = "majority", min_purity: float = 0.0,
                  unassigned_class: str | int | None = None, output: str | os.PathLike | None = None,
                  transform: Any = None, crs: Any = None, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB,
                  overwrite: bool = False, progress: ProgressCallback | None = None,
                  creation_options: Any = None, nodata: float | None = None) -> Any:
    """Name spectral classes with the classes of a schema (``geouic assign-schema``).

    Parameters
    ----------
    class_map : path, rasterio dataset, ndarray (rows, cols) or DataArray (y, x)
        Integer classes, 0 = nodata (e.g. from :func:`classify`).
    reference : path or label raster, optional
        Reference polygons/points (any OGR vector) or a label raster (a path, an array or a DataArray).
    mapping : str or path-like, optional
        A mapping file (``.mapping.yaml``) instead of ``reference``.
    schema : str, path-like or LandCoverSchema, optional
        Schema file or preset (``nlcd``, ``worldcover``, ``corine1``).
    field : str, optional
        Class field of a vector reference.
    method : {"majority", "hungarian"}, default="majority"
    min_purity : float, default=0.0
    unassigned_class : str or int, optional
    output : str or path-like, optional
        The land-cover map (its mapping table and file go beside it); required for a file input.
    transform, crs : optional
        Georeferencing of a numpy array.
    mem_limit_mb, overwrite, progress, creation_options
        As in :func:`classify`.
    nodata : float, optional
        A "no class" value of a map without a nodata tag: read as 0 (nodata).

    Returns
    -------
    MapResult, ndarray or DataArray
        Same kind as ``class_map``; a DataArray carries ``mapping`` (spectral class -> code) in its attrs.

    Examples
    --------
    >>> import numpy as np
    >>> classes = np.array([[1, 1, 2, 2]] * 4)
    >>> assign_schema(classes, reference=np.array([[5, 5, 7, 7]] * 4)).tolist()[0]
    [5, 5, 7, 7]
    """
    from geouic.assign import assign_schema as _assign

    kind = input_kind(class_map)
    with _target(kind, output, "landcover.tif") as path, contextlib.ExitStack() as stack:
        map_path = stack.enter_context(class_map_file(class_map, transform=transform, crs=crs))
        ref = stack.enter_context(class_map_file(reference)) if reference is not None else None
        result = _assign(map_path, path, reference=ref, mapping=mapping, schema=schema, field=field, method=method,
                         min_purity=min_purity, unassigned_class=unassigned_class, mem_limit_mb=mem_limit_mb,
                         overwrite=overwrite, progress=progress, creation_options=creation_options,
                         nodata=nodata)
        details = {"schema": result.schema.name, "mapping": dict(result.mapping), "rows": result.rows,
                   "seconds": round(result.seconds, 3), "summary": result.summary()}
        sidecars = {Path(f).suffixes[-2].lstrip(".") + Path(f).suffix: Path(f) for f in result.files}
        return _map_result(kind, result.path, "assign_schema", details, extras=sidecars,
                           attrs={"schema": result.schema.name, "mapping": dict(result.mapping)})


def accuracy(class_map: Any, *, reference: Any, field: str | None = None, area_adjusted: bool = False,
             clusters: bool = False, output: str | os.PathLike | None = None, figures: bool = True,
             transform: Any = None, crs: Any = None, overwrite: bool = False,
             mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, progress: ProgressCallback | None = None,
             nodata: float | None = None) -> AccuracyReport:
    """Assess a map against reference data (``geouic accuracy``).

    Parameters
    ----------
    class_map : path, rasterio dataset, ndarray or DataArray
        The map (0 = unclassified).
    reference : path or label raster
        Points or polygons (any OGR vector, with ``field``) or a label raster (path, array or DataArray).
    field : str, optional
    area_adjusted : bool, default=False
        Olofsson et al. (2014) area-adjusted estimates (needs a stratified random sample).
    clusters : bool, default=False
        The map holds clusters without a legend: NMI, ARI, Hungarian-matched accuracy.
    output : str or path-like, optional
        A report folder to write (report.json, confusion.csv, report.html, report.md, figures).
    figures : bool, default=True
        PNG figures in the report folder.
    transform, crs : optional
        Georeferencing of a numpy array.
    overwrite : bool, default=False
    mem_limit_mb, progress
        As in :func:`classify`.
    nodata : float, optional
        A "no class" value of a map without a nodata tag: read as 0, left out like nodata.

    Returns
    -------
    AccuracyReport
        ``overall_accuracy``, ``kappa``, ``to_dataframe()`` (per class), ``to_dict()``, an HTML view.

    Examples
    --------
    >>> import numpy as np
    >>> report = accuracy(np.array([[1, 1, 2, 2]] * 4), reference=np.array([[1, 1, 2, 1]] * 4))
    >>> round(report.overall_accuracy, 2)
    0.75
    """
    from geouic.accuracy import assess

    if area_adjusted and clusters:
        raise ParameterError("area_adjusted and clusters exclude each other: area estimates need a map legend "
                             "that matches the reference classes.", params=("area_adjusted", "clusters"))
    if output is not None:
        from geouic.output import check_output

        check_output(output, overwrite=overwrite, folder=True)
    with contextlib.ExitStack() as stack:
        map_path = stack.enter_context(class_map_file(class_map, transform=transform, crs=crs))
        ref = stack.enter_context(class_map_file(reference))
        result = assess(map_path, ref, field=field, area_adjusted=area_adjusted, clusters=clusters,
                        mem_limit_mb=mem_limit_mb, progress=progress, nodata=nodata)
        folder = None
        if output is not None:
            from geouic.report import write_report

            folder = Path(write_report(result, output, overwrite=overwrite, figures=figures) or output)
    return AccuracyReport(result, folder)


def sieve(class_map: Any, *, mmu: str | float, connectivity: int = 4, output: str | os.PathLike | None = None,
          transform: Any = None, crs: Any = None, mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB,
          overwrite: bool = False, progress: ProgressCallback | None = None) -> Any:
    """Dissolve patches smaller than a minimum mapping unit (``geouic sieve``).

    Parameters
    ----------
    class_map : path, rasterio dataset, ndarray or DataArray
    mmu : str or float
        ``"20px"`` or ``"0.5ha"``.
    connectivity : {4, 8}, default=4
    output : str or path-like, optional
        Required for a file input.
    transform, crs, mem_limit_mb, overwrite, progress
        As in :func:`classify`.

    Returns
    -------
    MapResult, ndarray or DataArray

    Examples
    --------
    >>> import numpy as np
    >>> m = np.ones((5, 5), np.uint8); m[2, 2] = 2
    >>> int(sieve(m, mmu="2px").max())
    1
    """
    from geouic.postprocess import sieve as _sieve

    return _post(_sieve, "sieve", class_map, output, transform, crs, mmu=mmu, connectivity=connectivity,
                 mem_limit_mb=mem_limit_mb, overwrite=overwrite, progress=progress)


def majority(class_map: Any, *, size: int | None = None, neighbors: int | None = None, threshold: str = "majority",
             output: str | os.PathLike | None = None, transform: Any = None, crs: Any = None,
             mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, overwrite: bool = False,
             progress: ProgressCallback | None = None) -> Any:
    """Majority filter (``geouic majority``).

    Parameters
    ----------
    class_map : path, rasterio dataset, ndarray or DataArray
    size : int, optional
        Odd square window including the pixel (default 3).
    neighbors : {4, 8}, optional
        The pixel's neighbours instead of a window.
    threshold : {"majority", "half"}, default="majority"
    output : str or path-like, optional
        Required for a file input.
    transform, crs, mem_limit_mb, overwrite, progress
        As in :func:`classify`.

    Returns
    -------
    MapResult, ndarray or DataArray

    Examples
    --------
    >>> import numpy as np
    >>> m = np.ones((5, 5), np.uint8); m[2, 2] = 2
    >>> int(majority(m, size=3)[2, 2])
    1
    """
    from geouic.postprocess import majority_filter

    return _post(majority_filter, "majority", class_map, output, transform, crs, size=size, neighbors=neighbors,
                 threshold=threshold, mem_limit_mb=mem_limit_mb, overwrite=overwrite, progress=progress)


def _post(func: Callable[..., Any], step: str, class_map: Any, output: str | os.PathLike | None, transform: Any,
          crs: Any, **kwargs: Any) -> Any:
    kind = input_kind(class_map)
    with _target(kind, output, f"{step}.tif") as path, \
            class_map_file(class_map, transform=transform, crs=crs) as map_path:
        result = func(map_path, path, **kwargs)
        details = {k: v for k, v in dataclasses.asdict(result).items() if k != "path"}
        return _map_result(kind, Path(result.path), step, details, attrs={"step": step})


def polygonize(class_map: Any, *, output: str | os.PathLike | None = None, dissolve: bool = False,
               simplify: float | None = None, connectivity: int = 4, transform: Any = None, crs: Any = None,
               overwrite: bool = False, progress: ProgressCallback | None = None) -> Any:
    """Polygons of the patches (or of whole classes) of a class map (``geouic polygonize``).

    Parameters
    ----------
    class_map : path, rasterio dataset, ndarray or DataArray
    output : str or path-like, optional
        Vector file (``.gpkg``, ``.shp``, ``.geojson``, ``.fgb``). Without it the polygons come back
        as a GeoDataFrame.
    dissolve : bool, default=False
        One (multi)polygon per class.
    simplify : float, optional
        Coverage simplification tolerance in map units.
    connectivity : {4, 8}, default=4
    transform, crs, overwrite, progress
        As in :func:`classify`.

    Returns
    -------
    PolygonizeResult or geopandas.GeoDataFrame
        The result of the written file, or the features (``code``, ``name``, ``area_ha``, ``pixels``).

    Examples
    --------
    >>> import numpy as np
    >>> sorted(polygonize(np.array([[1, 1, 2, 2]] * 4, np.uint8))["code"].tolist())
    [1, 2]
    """
    from geouic.postprocess import polygonize as _polygonize

    with contextlib.ExitStack() as stack:
        map_path = stack.enter_context(class_map_file(class_map, transform=transform, crs=crs))
        if output is not None:
            return _polygonize(map_path, output, dissolve=dissolve, simplify=simplify, connectivity=connectivity,
                               overwrite=overwrite, progress=progress)
        import geopandas as gpd

        folder = stack.enter_context(temporary_folder())
        result = _polygonize(map_path, folder / "polygons.gpkg", dissolve=dissolve, simplify=simplify,
                             connectivity=connectivity, progress=progress)
        return gpd.read_file(result.path)
