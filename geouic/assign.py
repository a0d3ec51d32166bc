"""From spectral classes to land cover on files: learn or read a class -> schema mapping and apply it.

:func:`assign_schema` runs the whole chain window by window: cross-tabulate a class map against
references (polygons, points or a label raster, via :mod:`geouic.reference`) into a
:class:`~geouic.counts.ClassCounts` and fit a :class:`~geouic.mapping.SchemaMapper` on it, or
read a mapping file (:func:`~geouic.mapping.read_mapping`); then write the land-cover GeoTIFF
with the schema's colours and names through the look-up-table writer it shares with ``merge``
(:func:`geouic.recode.write_lut_map`), the mapping table (``<stem>.mapping.csv`` / ``.json``)
and, for learned mappings, the re-usable mapping file ``<stem>.mapping.yaml``.

The mapper and the mapping files live in :mod:`geouic.mapping`; their names are re-exported here.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from geouic.classmap import class_map_grid, open_class_map, read_classes
from geouic.counts import ClassCounts
from geouic.errors import ParameterError, ParameterWarning, SchemaError
from geouic.mapping import METHODS, CrossTab, MappingFile, SchemaMapper, mapping_yaml, read_mapping
from geouic.provenance import provenance_tags
from geouic.recode import write_lut_map
from geouic.schema import UNASSIGNED_COLOR, UNASSIGNED_NAME, LandCoverSchema, load_schema
from geouic.windows import BYTES_PER_PIXEL, DEFAULT_MEM_LIMIT_MB, ProgressCallback, RunProgress, WindowPair, WindowPass

__all__ = [
    "AssignResult",
    "assign_schema",
    "sidecar_paths",
    # re-exported from geouic.mapping
    "METHODS",
    "SchemaMapper",
    "CrossTab",
    "read_mapping",
    "MappingFile",
]

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------------------ file pipeline
def sidecar_paths(output: str | os.PathLike) -> dict[str, Path]:
    """Paths of the mapping table and mapping file written beside ``output``."""
    out = Path(output)
    stem = out.with_suffix("")
    return {ext: stem.with_name(f"{stem.name}.mapping.{ext}") for ext in ("csv", "json", "yaml")}


@dataclass
class AssignResult:
    """What :func:`assign_schema` wrote.

    Attributes
    ----------
    path : Path
        The land-cover map.
    mapping : dict of int to int
        Code per spectral class.
    rows : list of dict
        The mapping table (one row per spectral class present in the map).
    schema : LandCoverSchema
    files : list of Path
        Sidecar files written.
    seconds : float
    """

    path: Path
    mapping: dict[int, int]
    rows: list[dict[str, Any]]
    schema: LandCoverSchema
    files: list[Path]
    seconds: float = 0.0

    def summary(self) -> str:
        """One line for the CLI."""
        n_un = sum(1 for r in self.rows if r["status"] != "assigned")
        px = sum(r["pixels"] for r in self.rows)
        px_un = sum(r["pixels"] for r in self.rows if r["status"] != "assigned")
        used = len({r["code"] for r in self.rows if r["status"] == "assigned"})
        share = f" ({100 * px_un / px:.1f}% of pixels)" if px else ""
        return (f"{self.path}: {len(self.rows)} spectral classes -> {used} of {len(self.schema)} classes of "
                f"{self.schema.name!r}; {n_un} unassigned{share}; table -> {self.files[0]} [{self.seconds:.1f} s]")


def assign_schema(map_path: str | os.PathLike, output: str | os.PathLike, *,
                  reference: str | os.PathLike | None = None, mapping: str | os.PathLike | None = None,
                  schema: str | os.PathLike | LandCoverSchema | None = None, field: str | None = None,
                  method: str = "majority", min_purity: float = 0.0, unassigned_class: str | int | None = None,
                  mem_limit_mb: float = DEFAULT_MEM_LIMIT_MB, overwrite: bool = False,
                  progress: ProgressCallback | None = None, creation_options: Any = None,
                  nodata: float | None = None) -> AssignResult:
    """Turn a class map into a land-cover map of a schema.

    Parameters
    ----------
    map_path : str or path-like
        Single-band integer class map (0 = nodata), e.g. from ``geouic classify``.
    output : str or path-like
        Land-cover GeoTIFF; the mapping table goes to ``<stem>.mapping.csv`` and ``.json`` and,
        when the mapping is learned, the mapping file to ``<stem>.mapping.yaml``.
    reference : str or path-like, optional
        Polygons, points (any OGR vector, reprojected to the map's CRS) or a label raster.
    mapping : str or path-like, optional
        A mapping file (YAML or CSV) instead of ``reference``.
    schema : str, path-like or LandCoverSchema, optional
        Schema file or preset name. Default: the schema embedded in ``mapping``, or one made
        of the reference's values with generated colours.
    field : str, optional
        Class field of a vector reference; its values are matched to schema names or codes.
    method : {"majority", "hungarian"}, default="majority"
    min_purity : float, default=0.0
        Classes purer than this (0..1) are assigned; the rest are unassigned.
    unassigned_class : str or int, optional
        Schema class given to unassigned classes (default: a class of its own, "unassigned",
        code 255 in uint8 maps; nodata stays 0).
    mem_limit_mb : float, default=64
        Memory budget of one window.
    overwrite : bool, default=False
    progress : callable, optional
        ``progress(advance, total)`` per window (two passes with references).
    creation_options : mapping or sequence of "KEY=VALUE", optional
        GDAL creation options of the map (``--co``), checked against the GTiff driver's.
    nodata : float, optional
        A "no class" value of a map without a nodata tag (``--nodata``): read as 0, written as nodata.

    Returns
    -------
    AssignResult

    Raises
    ------
    ParameterError, SchemaError, ReferenceDataError, RasterInputError, OutputError
    """
    from geouic.output import ThematicProfile, check_output

    t0 = time.perf_counter()
    profile = ThematicProfile().with_options(creation_options)
    if (reference is None) == (mapping is None):
        raise ParameterError("give either reference (reference data) or mapping (a mapping file), not "
                             f"{'both' if reference is not None else 'neither'}.", params=("reference", "mapping"))
    SchemaMapper(method=method, min_purity=min_purity)._validate()
    sidecars = sidecar_paths(output)
    written = [sidecars["csv"], sidecars["json"]] + ([sidecars["yaml"]] if reference is not None else [])
    for p in [output, *written]:
        check_output(p, overwrite=overwrite)
    if mapping is not None and Path(mapping).resolve() in {p.resolve() for p in [Path(output), *written]}:
        raise ParameterError(f"the mapping file {mapping} would be overwritten by the outputs; choose another output.",
                             params=("output",))
    with open_class_map(map_path, nodata=nodata) as source:
        windows = source.windows(mem_limit_mb=mem_limit_mb, bytes_per_pixel=BYTES_PER_PIXEL["class_map"])
        tracker = RunProgress(progress, (2 if reference is not None else 1) * len(windows))
        if reference is not None:
            mapper, schema_obj = _learn(source, windows, reference, schema, field, method, min_purity,
                                        unassigned_class, tracker)
        else:
            mapper, schema_obj = _from_file(mapping, schema, unassigned_class)
        rows = _write_map(source, windows, output, mapper, schema_obj, written, overwrite, tracker, profile,
                          tags=_tags(source.path, reference, mapping, field, method, min_purity, schema_obj),
                          meta=_meta(source.path, reference, mapping, field, method, min_purity))
    result = AssignResult(Path(output), dict(mapper.mapping_), rows, schema_obj, written,
                          time.perf_counter() - t0)
    logger.info("%s", result.summary())
    return result


def _learn(source: Any, windows: WindowPass, reference: Any, schema: Any, field: str | None, method: str,
           min_purity: float, unassigned_class: Any, progress: RunProgress
           ) -> tuple[SchemaMapper, LandCoverSchema]:
    from geouic.reference import open_reference

    ref = open_reference(reference, class_map_grid(source), field=field)
    schema_obj = load_schema(schema) if schema is not None else LandCoverSchema.from_values(
        ref.codes.tolist(), ref.names, name=f"{Path(str(reference)).stem}:{field or 'codes'}")
    target = _match_reference(ref, schema_obj)  # reference code -> schema column
    lut = np.full(int(ref.codes.max()) + 1 if len(ref.codes) else 1, -1, dtype=np.int64)
    for code, col in target.items():
        lut[code] = col
    def one(pair: WindowPair) -> tuple[np.ndarray, np.ndarray]:
        return read_classes(source, pair.core), lut[np.clip(ref.read(pair.core), 0, len(lut) - 1)]

    table = windows.reduce(one, lambda acc, r: acc.add(r[0], labels=r[1]), ClassCounts(len(schema_obj)),
                           progress=progress)
    unassigned = _unassigned_code(schema_obj, unassigned_class)
    mapper = SchemaMapper(method=method, min_purity=min_purity, unassigned=unassigned)
    mapper.fit(table.table(), classes=table.classes, labels=schema_obj.codes)
    if not mapper.labelled_.any():
        from geouic.errors import ReferenceDataError

        raise ReferenceDataError(f"no reference pixel of {reference} falls on a classified pixel of "
                                 f"{source.path}; check that they cover the same area.")
    lonely = [c for c, s in mapper.status_.items() if s == "no reference"]
    if lonely:
        warnings.warn(ParameterWarning(
            f"{len(lonely)} spectral classes of {Path(source.path).name} have no reference pixel and are left "
            f"unassigned: {', '.join(map(str, lonely))}; add references over them or map them by hand with "
            "mapping=FILE.", params=("mapping",)), stacklevel=3)
    return mapper, schema_obj


def _match_reference(ref: Any, schema: LandCoverSchema) -> dict[int, int]:
    """Schema column index of every reference code, matched by name, then by code."""
    columns = {c: i for i, c in enumerate(schema.codes)}
    out, misses = {}, []
    for code in ref.codes.tolist():
        name = ref.names.get(code, str(code))
        hit = schema.find(name) or (schema.find(int(code)) if ref.kind == "raster" else None)
        if hit is None:
            misses.append(name)
        else:
            out[code] = columns[hit.code]
    if misses:
        where = f"field {ref.field!r} of {Path(ref.path).name}" if ref.field else Path(ref.path).name
        raise SchemaError(f"reference value(s) {', '.join(map(repr, misses))} of {where} match no class of schema "
                          f"{schema.name!r} ({schema.describe()}); rename the values or add the classes to the schema.")
    return out


def _unassigned_code(schema: LandCoverSchema, unassigned_class: Any, recorded: Any = None) -> int:
    """The code of unassigned land: ``unassigned_class``'s, the one a mapping file recorded, or the schema's."""
    if unassigned_class is not None:
        hit = schema.find(unassigned_class)
        if hit is None:
            raise SchemaError(f"unassigned_class={unassigned_class!r} matches no class of schema {schema.name!r} "
                              f"({schema.describe()}); use one of these names or codes.", params=("unassigned_class",))
        return hit.code
    if isinstance(recorded, int) and not isinstance(recorded, bool) and 0 < recorded <= 65535 \
            and schema.find(recorded) is None:
        return recorded
    return schema.unassigned_code


def _legend(schema: LandCoverSchema, unassigned: int) -> Any:
    """The schema's legend, plus the "unassigned" class when it is not one of the schema's."""
    legend = schema.to_legend()
    if schema.find(unassigned) is None:
        legend.names[unassigned] = UNASSIGNED_NAME
        legend.colors[unassigned] = UNASSIGNED_COLOR
    return legend


def _from_file(mapping: Any, schema: Any, unassigned_class: Any) -> tuple[SchemaMapper, LandCoverSchema]:
    mf = read_mapping(mapping)
    if schema is not None:
        schema_obj = load_schema(schema)
    elif mf.schema is not None:
        schema_obj = mf.schema
    else:
        raise SchemaError(f"{mapping} does not embed a schema; pass schema (a file or a preset).", params=("schema",))
    unassigned = _unassigned_code(schema_obj, unassigned_class, mf.meta.get("unassigned_code"))
    return SchemaMapper.from_mapping(mf.resolve(schema_obj, unassigned), unassigned=unassigned), schema_obj


def _write_map(source: Any, windows: WindowPass, output: Any, mapper: SchemaMapper, schema: LandCoverSchema,
               sidecars: list[Path], overwrite: bool, progress: RunProgress, profile: Any, *,
               tags: dict[str, Any], meta: dict[str, Any]) -> list[dict]:
    """Apply the lookup table window by window; the map and its sidecars appear together or not at all."""
    from contextlib import ExitStack

    from geouic.output import atomic_path

    legend = _legend(schema, mapper.unassigned)
    with write_lut_map(source, output, mapper.lookup_table(), fill=mapper.unassigned, legend=legend,
                       n_classes=max(legend.names), overwrite=overwrite, windows=windows,
                       progress=progress, profile=profile) as (writer, counts):
        unknown = sorted(set(counts.classes.tolist()) - set(mapper.mapping_))
        absent = sorted(set(mapper.mapping_) - set(counts.classes.tolist()))
        if absent:
            warnings.warn(f"the mapping names classes {', '.join(map(str, absent))} that {Path(source.path).name} "
                          "does not hold; check that the mapping belongs to this map's model.", stacklevel=3)
        if unknown:
            warnings.warn(f"classes {', '.join(map(str, unknown))} of {Path(source.path).name} are not in the "
                          "mapping and are left unassigned.", stacklevel=3)
        rows = _table_rows(mapper, counts, schema, unknown)
        with ExitStack() as stack:
            for path, text in _sidecar_texts(sidecars, rows, schema, mapper, meta):
                stack.enter_context(atomic_path(path)).write_text(text, encoding="utf-8")
            writer.close(tags=tags)  # sidecars are renamed into place only if this succeeds
    return rows


def _table_rows(mapper: SchemaMapper, counts: ClassCounts, schema: LandCoverSchema, unknown: list[int]) -> list[dict]:
    index = {c: i for i, c in enumerate(mapper.classes_.tolist())}
    rows = []
    for cls in counts.classes.tolist():
        i = index.get(cls)
        code = mapper.mapping_.get(cls, mapper.unassigned)
        hit = schema.find(code) if code else None
        name = hit.name if hit else (UNASSIGNED_NAME if code == mapper.unassigned and code else None)
        seen = {}
        if i is not None and mapper.crosstab_.shape[1]:
            for j in np.flatnonzero(mapper.crosstab_[i]):
                seen[schema.lookup(int(mapper.labels_[j])).name] = int(mapper.crosstab_[i, j])
        purity = None if i is None or np.isnan(mapper.purity_[i]) else round(float(mapper.purity_[i]), 4)
        rows.append({
            "class": cls, "pixels": int(counts.pixels[cls]),
            "labelled": int(mapper.labelled_[i]) if i is not None else 0, "purity": purity,
            "code": int(code), "name": name,
            "status": "not in mapping" if cls in unknown else mapper.status_.get(cls, "unassigned"),
            "reference": dict(sorted(seen.items(), key=lambda kv: -kv[1])),
        })
    return rows


def _sidecar_texts(paths: list[Path], rows: list[dict], schema: LandCoverSchema, mapper: SchemaMapper,
                   meta: dict[str, Any]) -> list[tuple[Path, str]]:
    buf = io.StringIO()
    cols = ["class", "pixels", "labelled", "purity", "code", "name", "status", "reference"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({**r, "purity": "" if r["purity"] is None else r["purity"], "name": r["name"] or "",
                    "reference": "; ".join(f"{k}:{v}" for k, v in r["reference"].items())})
    doc = {**meta, "schema": schema.to_dict(), "unassigned_code": int(mapper.unassigned), "classes": rows}
    out = [(paths[0], buf.getvalue()), (paths[1], json.dumps(doc, indent=2) + "\n")]
    if len(paths) > 2:
        recorded = {**meta, "unassigned_code": int(mapper.unassigned)}
        out.append((paths[2], mapping_yaml(mapper.mapping_, schema, recorded)))
    return out


def _meta(map_path: str, reference: Any, mapping: Any, field: str | None, method: str,
          min_purity: float) -> dict[str, Any]:
    from geouic import __version__

    meta: dict[str, Any] = {"source": str(map_path), "geouic_version": __version__}
    if reference is not None:
        meta.update(reference=str(reference), field=field, method=method, min_purity=float(min_purity))
    else:
        meta.update(mapping=str(mapping), method="mapping")
    return {k: v for k, v in meta.items() if v is not None}


def _tags(map_path: str, reference: Any, mapping: Any, field: str | None, method: str, min_purity: float,
          schema: LandCoverSchema) -> dict[str, Any]:
    if reference is not None:
        return provenance_tags("assign-schema", map_path, source=map_path, schema=schema.name,
                               reference=str(reference), field=field,
                               assign_method=method, min_purity=str(float(min_purity)))
    return provenance_tags("assign-schema", map_path, source=map_path, schema=schema.name, mapping=str(mapping),
                           assign_method="mapping")
