"""From spectral classes to land cover: learn or read a class -> schema mapping and apply it.

:class:`SchemaMapper` learns the mapping from a cross-tabulation of spectral classes (rows)
against reference classes (columns): ``"majority"`` gives each spectral class the reference
class most of its labelled pixels carry (many-to-one); ``"hungarian"`` matches classes one to
one (:func:`scipy.optimize.linear_sum_assignment`, maximising agreeing pixels) and leaves the
classes left over unassigned. A class whose purity (share of its labelled pixels in the chosen
reference class) is below ``min_purity``, or that has no labelled pixel, is unassigned too.

:func:`assign_schema` runs the whole chain on files, window by window: cross-tabulate a class
map against references (polygons, points or a label raster, via :mod:`geouic.reference`) or
read a mapping file, then write the land-cover GeoTIFF with the schema's colours and names, the
mapping table (``<stem>.mapping.csv`` / ``.json``) and, for learned mappings, the re-usable
mapping file ``<stem>.mapping.yaml``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from geouic.classmap import open_class_map, read_classes
from geouic.counts import ClassCounts
from geouic.errors import NotFittedError, ParameterError, SchemaError
from geouic.provenance import provenance_tags
from geouic.recode import write_lut_map
from geouic.schema import LandCoverSchema, load_schema
from geouic.windows import BYTES_PER_PIXEL, DEFAULT_MEM_LIMIT_MB, ProgressCallback, RunProgress, WindowPair, WindowPass

__all__ = [
    "METHODS",
    "SchemaMapper",
    "CrossTab",
    "AssignResult",
    "assign_schema",
    "read_mapping",
    "MappingFile",
    "sidecar_paths",
]

logger = logging.getLogger(__name__)

#: Methods of :class:`SchemaMapper`.
METHODS = ("majority", "hungarian")
_UNASSIGNED_WORDS = {"", "0", "none", "null", "unassigned", "-"}


# ------------------------------------------------------------------------------- estimator
class SchemaMapper:
    """Map spectral classes to schema classes from their cross-tabulation with references.

    Parameters
    ----------
    method : {"majority", "hungarian"}, default="majority"
        Many-to-one majority vote, or one-to-one matching maximising agreeing pixels.
    min_purity : float, default=0.0
        0..1. A class whose chosen reference class holds a smaller share of its labelled
        pixels is unassigned.
    unassigned : int, default=0
        Code given to unassigned classes (0 = nodata).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Spectral class codes (rows of the cross-tabulation).
    labels_ : ndarray of shape (n_labels,)
        Reference/schema codes (columns).
    crosstab_ : ndarray of shape (n_classes, n_labels), int64
        Labelled pixels per class and reference class.
    labelled_ : ndarray of shape (n_classes,)
        Labelled pixels per class.
    purity_ : ndarray of shape (n_classes,), float
        Share of each class's labelled pixels in its candidate reference class (NaN without
        labelled pixels).
    mapping_ : dict of int to int
        Code per spectral class (``unassigned`` where unassigned).
    status_ : dict of int to str
        ``"assigned"``, ``"impure"``, ``"no reference"`` or ``"unmatched"`` (Hungarian leftover).
    """

    def __init__(self, *, method: str = "majority", min_purity: float = 0.0, unassigned: int = 0) -> None:
        self.method = method
        self.min_purity = min_purity
        self.unassigned = unassigned

    def _validate(self) -> None:
        if self.method not in METHODS:
            raise ParameterError(f"method={self.method!r} is invalid; use one of {', '.join(METHODS)}.")
        if not (isinstance(self.min_purity, (int, float)) and 0.0 <= self.min_purity <= 1.0):
            raise ParameterError(f"min_purity={self.min_purity!r} is out of range; use a number in 0..1.")
        if isinstance(self.unassigned, bool) or not isinstance(self.unassigned, (int, np.integer)) or self.unassigned < 0:
            raise ParameterError(f"unassigned={self.unassigned!r} is invalid; use a class code >= 0.")

    def fit(self, X: Any, y: Any = None, *, classes: Sequence[int] | None = None,
            labels: Sequence[int] | None = None) -> SchemaMapper:
        """Learn the mapping.

        Parameters
        ----------
        X : ndarray
            Either a cross-tabulation of shape (n_classes, n_labels) (with ``y`` omitted), or
            a class map of any shape (with ``y``).
        y : ndarray, optional
            Reference codes on the same pixels as ``X`` (0 = unlabelled).
        classes : sequence of int, optional
            Spectral class code of each row of a cross-tabulation (default 1..n_classes).
        labels : sequence of int, optional
            Code of each column (default 1..n_labels; for arrays, the codes in ``y``).

        Returns
        -------
        self
        """
        self._validate()
        if y is None:
            ct = np.asarray(X)
            if ct.ndim != 2:
                raise ParameterError(f"a cross-tabulation must be 2-D (classes x labels); got shape {ct.shape}.")
            classes = np.arange(1, ct.shape[0] + 1) if classes is None else np.asarray(classes, dtype=np.int64)
            labels = np.arange(1, ct.shape[1] + 1) if labels is None else np.asarray(labels, dtype=np.int64)
            if ct.shape != (len(classes), len(labels)):
                raise ParameterError(f"crosstab shape {ct.shape} does not match {len(classes)} classes x "
                                     f"{len(labels)} labels.")
            if (ct < 0).any():
                raise ParameterError("a cross-tabulation cannot hold negative counts.")
        else:
            classes, labels, ct = _crosstab_arrays(X, y, labels)
        self.classes_, self.labels_ = np.asarray(classes, np.int64), np.asarray(labels, np.int64)
        self.crosstab_ = np.asarray(ct, dtype=np.int64)
        self.labelled_ = self.crosstab_.sum(axis=1)
        choice = self._choose()
        self._finish(choice)
        return self

    def _choose(self) -> np.ndarray:
        """Column index chosen per class (-1: none)."""
        ct, has = self.crosstab_, self.labelled_ > 0
        choice = np.full(len(ct), -1, dtype=np.int64)
        if not has.any() or ct.shape[1] == 0:
            return choice
        if self.method == "majority":
            choice[has] = ct[has].argmax(axis=1)
            return choice
        from scipy.optimize import linear_sum_assignment

        rows = np.flatnonzero(has)
        r, c = linear_sum_assignment(ct[rows], maximize=True)
        keep = ct[rows[r], c] > 0
        choice[rows[r[keep]]] = c[keep]
        return choice

    def _finish(self, choice: np.ndarray) -> None:
        ct, labelled = self.crosstab_, self.labelled_
        with np.errstate(invalid="ignore", divide="ignore"):
            best = np.where(choice >= 0, ct[np.arange(len(ct)), np.maximum(choice, 0)], ct.max(axis=1, initial=0))
            self.purity_ = np.where(labelled > 0, best / np.maximum(labelled, 1), np.nan)
        self.mapping_: dict[int, int] = {}
        self.status_: dict[int, str] = {}
        for i, cls in enumerate(self.classes_.tolist()):
            if labelled[i] == 0:
                status = "no reference"
            elif choice[i] < 0:
                status = "unmatched"
            elif self.purity_[i] < self.min_purity:
                status = "impure"
            else:
                status = "assigned"
            self.status_[cls] = status
            self.mapping_[cls] = int(self.labels_[choice[i]]) if status == "assigned" else int(self.unassigned)

    @classmethod
    def from_mapping(cls, mapping: Mapping[int, int], *, unassigned: int = 0) -> SchemaMapper:
        """A fitted mapper that applies a given ``{class: code}`` mapping (e.g. from a file)."""
        self = cls(method="mapping", unassigned=unassigned)
        self.classes_ = np.array(sorted(mapping), dtype=np.int64)
        self.labels_ = np.unique([v for v in mapping.values() if v])
        self.crosstab_ = np.zeros((len(self.classes_), len(self.labels_)), np.int64)
        self.labelled_ = np.zeros(len(self.classes_), np.int64)
        self.purity_ = np.full(len(self.classes_), np.nan)
        self.mapping_ = {int(k): int(v) for k, v in mapping.items()}
        self.status_ = {k: ("assigned" if v and v != unassigned else "unassigned") for k, v in self.mapping_.items()}
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "mapping_"):
            raise NotFittedError("this SchemaMapper is not fitted yet; call fit() first.")

    def lookup_table(self, size: int | None = None) -> np.ndarray:
        """Code per class value, index = class value (0 -> 0; unknown classes -> ``unassigned``).

        Parameters
        ----------
        size : int, optional
            Table length (default: largest class + 1).
        """
        self._check_fitted()
        top = max([0, *self.mapping_])
        size = top + 1 if size is None else max(size, top + 1)
        lut = np.full(size, self.unassigned, dtype=np.uint16)
        lut[0] = 0
        for cls, code in self.mapping_.items():
            lut[cls] = code
        return lut

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Apply the mapping to a class map of any shape (0 stays 0), as uint16."""
        self._check_fitted()
        X = np.asarray(X)
        if X.size == 0:
            return X.astype(np.uint16)
        lut = self.lookup_table(int(X.max()) + 1)
        return lut[np.clip(X, 0, None)]


def _crosstab_arrays(X: Any, y: Any, labels: Sequence[int] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    if X.shape != y.shape:
        raise ParameterError(f"the class map {X.shape} and the reference {y.shape} must have the same shape.")
    X, y = X.ravel().astype(np.int64), y.ravel().astype(np.int64)
    classes = np.unique(X[X > 0])
    both = (X > 0) & (y > 0)
    labels = np.unique(y[y > 0]) if labels is None else np.unique(np.asarray(labels, dtype=np.int64))
    ci = np.searchsorted(labels, y[both])
    ci = np.minimum(ci, max(len(labels) - 1, 0))
    if both.any() and (len(labels) == 0 or not np.array_equal(labels[ci], y[both])):
        raise ParameterError(f"the reference holds codes not in labels={labels.tolist()}.")
    ri = np.searchsorted(classes, X[both])
    ct = np.bincount(ri * len(labels) + ci, minlength=len(classes) * len(labels))
    return classes, labels, ct.reshape(len(classes), len(labels))


# ------------------------------------------------------------------------------ accumulator
class CrossTab(ClassCounts):
    """Class x label pixel counts and per-class totals, accumulated window by window.

    A :class:`geouic.counts.ClassCounts` with the historical ``update`` name.

    Parameters
    ----------
    n_labels : int
        Number of label columns; windows give label indexes 0..n_labels-1 (-1 = unlabelled).
    """

    def update(self, classes: np.ndarray, label_index: np.ndarray | None = None) -> None:
        """Add a window: class values (0 = nodata) and label column indexes (-1 = unlabelled)."""
        self.add(classes, labels=label_index)


# ------------------------------------------------------------------------------ mapping files
@dataclass
class MappingFile:
    """A class mapping read from YAML or CSV.

    Attributes
    ----------
    path : str
    targets : dict of int to (int, str or None)
        Raw target (code, name, or None for unassigned) per spectral class.
    schema : LandCoverSchema or None
        The schema embedded in a YAML mapping written by geouic.
    """

    path: str
    targets: dict[int, Any]
    schema: LandCoverSchema | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def resolve(self, schema: LandCoverSchema, unassigned: int = 0) -> dict[int, int]:
        """``{class: code}`` with targets looked up in ``schema`` (raises SchemaError on a miss)."""
        out = {}
        for cls, target in self.targets.items():
            if target is None or (str(target).strip().lower() in _UNASSIGNED_WORDS and target not in schema):
                out[cls] = unassigned
            else:
                out[cls] = schema.lookup(target, what=f"{self.path}: class {cls} maps to").code
        return out


def read_mapping(path: str | os.PathLike) -> MappingFile:
    """Read a class mapping: YAML (``mapping: {class: code or name}``) or CSV (class + code/name columns).

    Raises
    ------
    SchemaError
        Missing, unreadable or malformed file.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise SchemaError(f"{path}: no such mapping file; check the path.")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{path}: cannot read the mapping file ({exc}).") from None
    if path.lower().endswith(".csv"):
        return _read_mapping_csv(path, text)
    return _read_mapping_yaml(path, text)


def _read_mapping_yaml(path: str, text: str) -> MappingFile:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise SchemaError(f"{path}: not valid YAML{at}; a mapping file holds 'mapping: {{1: forest, 2: water}}'.") from None
    if not isinstance(data, dict):
        raise SchemaError(f"{path}: expected 'mapping: {{class: code or name}}', got {type(data).__name__}.")
    schema = None
    if isinstance(data.get("schema"), (dict, list)):
        schema = LandCoverSchema.from_dict(data["schema"], source=f"{path} (schema)")
    raw = data.get("mapping", data if "schema" not in data else None)
    if not isinstance(raw, dict) or not raw:
        raise SchemaError(f"{path}: no 'mapping:' entries; write one line per class, e.g. 'mapping: {{1: forest}}'.")
    meta = {k: v for k, v in data.items() if k not in ("mapping", "schema")} if "mapping" in data else {}
    return MappingFile(path, {_class_key(k, path): v for k, v in raw.items()}, schema, meta)


def _read_mapping_csv(path: str, text: str) -> MappingFile:
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    cls_col = next((fields[k] for k in ("class", "spectral_class", "cluster", "from") if k in fields), None)
    tgt_col = next((fields[k] for k in ("code", "name", "target", "landcover", "to") if k in fields), None)
    if cls_col is None or tgt_col is None:
        raise SchemaError(f"{path}: a CSV mapping needs a header with a 'class' column and a 'code' or 'name' "
                          f"column; found {', '.join(reader.fieldnames or []) or 'no header'}.")
    targets = {}
    for row in reader:
        value = (row.get(tgt_col) or "").strip()
        targets[_class_key(row[cls_col], path)] = value or None
    if not targets:
        raise SchemaError(f"{path}: the CSV mapping has no rows.")
    return MappingFile(path, targets)


def _class_key(key: Any, path: str) -> int:
    try:
        value = int(str(key).strip())
    except ValueError:
        value = -1
    if value < 1:
        raise SchemaError(f"{path}: {key!r} is not a spectral class; classes are integers >= 1.")
    return value


def _mapping_yaml(mapping: Mapping[int, int], schema: LandCoverSchema, meta: Mapping[str, Any]) -> str:
    lines = ["# geouic class mapping (spectral class -> land-cover class). Re-apply it to other scenes",
             "# classified with the same model: geouic assign-schema other.tif --mapping THIS_FILE -o out.tif"]
    lines += [f"{k}: {json.dumps(v)}" for k, v in meta.items()]
    lines += ["schema:"] + ["  " + line for line in schema.to_yaml().splitlines()]
    lines.append("mapping:")
    for cls in sorted(mapping):
        hit = schema.find(mapping[cls]) if mapping[cls] else None
        lines.append(f"  {cls}: {json.dumps(hit.name) if hit else 'null'}")
    return "\n".join(lines) + "\n"


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
                  progress: ProgressCallback | None = None) -> AssignResult:
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
        Schema class given to unassigned classes (default: 0, nodata).
    mem_limit_mb : float, default=64
        Memory budget of one window.
    overwrite : bool, default=False
    progress : callable, optional
        ``progress(advance, total)`` per window (two passes with references).

    Returns
    -------
    AssignResult

    Raises
    ------
    ParameterError, SchemaError, ReferenceDataError, RasterInputError, OutputError
    """
    from geouic.output import check_output

    t0 = time.perf_counter()
    if (reference is None) == (mapping is None):
        raise ParameterError("give either reference data (--reference) or a mapping file (--mapping), not "
                             f"{'both' if reference is not None else 'neither'}.")
    SchemaMapper(method=method, min_purity=min_purity)._validate()
    sidecars = sidecar_paths(output)
    written = [sidecars["csv"], sidecars["json"]] + ([sidecars["yaml"]] if reference is not None else [])
    for p in [output, *written]:
        check_output(p, overwrite=overwrite)
    if mapping is not None and Path(mapping).resolve() in {p.resolve() for p in [Path(output), *written]}:
        raise ParameterError(f"the mapping file {mapping} would be overwritten by the outputs; choose another -o.")
    with open_class_map(map_path) as source:
        windows = source.windows(mem_limit_mb=mem_limit_mb, bytes_per_pixel=BYTES_PER_PIXEL["class_map"])
        tracker = RunProgress(progress, (2 if reference is not None else 1) * len(windows))
        if reference is not None:
            mapper, schema_obj = _learn(source, windows, reference, schema, field, method, min_purity,
                                        unassigned_class, tracker)
        else:
            mapper, schema_obj = _from_file(mapping, schema, unassigned_class)
        rows = _write_map(source, windows, output, mapper, schema_obj, written, overwrite, tracker,
                          tags=_tags(source.path, reference, mapping, field, method, min_purity, schema_obj),
                          meta=_meta(source.path, reference, mapping, field, method, min_purity))
    result = AssignResult(Path(output), dict(mapper.mapping_), rows, schema_obj, written,
                          time.perf_counter() - t0)
    logger.info("%s", result.summary())
    return result


def _learn(source: Any, windows: WindowPass, reference: Any, schema: Any, field: str | None, method: str,
           min_purity: float, unassigned_class: Any, progress: RunProgress
           ) -> tuple[SchemaMapper, LandCoverSchema]:
    from geouic.reference import Grid, open_reference

    ref = open_reference(reference, Grid.from_dataset(source.dataset), field=field)
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
        warnings.warn(f"{len(lonely)} spectral classes of {Path(source.path).name} have no reference pixel and are "
                      f"left unassigned: {', '.join(map(str, lonely))}; add references over them or map them "
                      "by hand with --mapping.", stacklevel=3)
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


def _unassigned_code(schema: LandCoverSchema, unassigned_class: Any) -> int:
    if unassigned_class is None:
        return 0
    return schema.lookup(unassigned_class, what="--unassigned-class").code


def _from_file(mapping: Any, schema: Any, unassigned_class: Any) -> tuple[SchemaMapper, LandCoverSchema]:
    mf = read_mapping(mapping)
    if schema is not None:
        schema_obj = load_schema(schema)
    elif mf.schema is not None:
        schema_obj = mf.schema
    else:
        raise SchemaError(f"{mapping} does not embed a schema; pass --schema (a file or a preset).")
    unassigned = _unassigned_code(schema_obj, unassigned_class)
    return SchemaMapper.from_mapping(mf.resolve(schema_obj, unassigned), unassigned=unassigned), schema_obj


def _write_map(source: Any, windows: WindowPass, output: Any, mapper: SchemaMapper, schema: LandCoverSchema,
               sidecars: list[Path], overwrite: bool, progress: RunProgress, *,
               tags: dict[str, Any], meta: dict[str, Any]) -> list[dict]:
    """Apply the lookup table window by window; the map and its sidecars appear together or not at all."""
    from contextlib import ExitStack

    from geouic.output import atomic_path

    with write_lut_map(source, output, mapper.lookup_table(), fill=mapper.unassigned, legend=schema.to_legend(),
                       n_classes=schema.max_code, overwrite=overwrite, windows=windows,
                       progress=progress) as (writer, counts):
        unknown = sorted(set(counts.classes.tolist()) - set(mapper.mapping_))
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
        seen = {}
        if i is not None and mapper.crosstab_.shape[1]:
            for j in np.flatnonzero(mapper.crosstab_[i]):
                seen[schema.find(int(mapper.labels_[j])).name] = int(mapper.crosstab_[i, j])
        purity = None if i is None or np.isnan(mapper.purity_[i]) else round(float(mapper.purity_[i]), 4)
        rows.append({
            "class": cls, "pixels": int(counts.pixels[cls]),
            "labelled": int(mapper.labelled_[i]) if i is not None else 0, "purity": purity,
            "code": int(code), "name": hit.name if hit else None,
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
        out.append((paths[2], _mapping_yaml(mapper.mapping_, schema, meta)))
    return out


def _meta(map_path: str, reference: Any, mapping: Any, field: str | None, method: str,
          min_purity: float) -> dict[str, Any]:
    from geouic import __version__

    meta = {"source": str(map_path), "geouic_version": __version__}
    if reference is not None:
        meta.update(reference=str(reference), field=field, method=method, min_purity=float(min_purity))
    else:
        meta.update(mapping=str(mapping), method="mapping")
    return {k: v for k, v in meta.items() if v is not None}


def _tags(map_path: str, reference: Any, mapping: Any, field: str | None, method: str, min_purity: float,
          schema: LandCoverSchema) -> dict[str, Any]:
    if reference is not None:
        return provenance_tags("assign-schema", map_path, schema=schema.name, reference=str(reference), field=field,
                               assign_method=method, min_purity=str(float(min_purity)))
    return provenance_tags("assign-schema", map_path, schema=schema.name, mapping=str(mapping),
                           assign_method="mapping")
