"""Class -> schema mappings: the estimator that learns them and the files that hold them.

:class:`SchemaMapper` learns the mapping from a cross-tabulation of spectral classes (rows)
against reference classes (columns): ``"majority"`` gives each spectral class the reference
class most of its labelled pixels carry (many-to-one); ``"hungarian"`` matches classes one to
one (:func:`scipy.optimize.linear_sum_assignment`, maximising agreeing pixels) and leaves the
classes left over unassigned. A class whose purity (share of its labelled pixels in the chosen
reference class) is below ``min_purity``, or that has no labelled pixel, is unassigned too.

:func:`read_mapping` reads a mapping file (YAML written by ``assign-schema``, or CSV);
:func:`mapping_yaml` writes one. :func:`geouic.assign.assign_schema` runs both on files.

Examples
--------
>>> mapper = SchemaMapper().fit([[9, 1], [2, 8], [0, 0]], labels=[10, 20])
>>> mapper.mapping_, mapper.status_[3]
({1: 10, 2: 20, 3: 0}, 'no reference')
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from geouic.counts import ClassCounts
from geouic.errors import NotFittedError, ParameterError, SchemaError
from geouic.schema import LandCoverSchema

__all__ = ["METHODS", "CrossTab", "MappingFile", "SchemaMapper", "mapping_yaml", "read_mapping"]

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
        Code given to unassigned classes; :func:`geouic.assign.assign_schema` passes the schema's
        :attr:`~geouic.schema.LandCoverSchema.unassigned_code` (0 would make them nodata).

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
            raise ParameterError(f"method={self.method!r} is invalid; use one of {', '.join(METHODS)}.",
                                 params=("method",))
        if not (isinstance(self.min_purity, (int, float)) and 0.0 <= self.min_purity <= 1.0):
            raise ParameterError(f"min_purity={self.min_purity!r} is out of range; use a number in 0..1.",
                                 params=("min_purity",))
        u = self.unassigned
        if isinstance(u, bool) or not isinstance(u, (int, np.integer)) or u < 0:
            raise ParameterError(f"unassigned={self.unassigned!r} is invalid; use a class code >= 0.",
                                 params=("unassigned",))

    def fit(self, X: Any, y: Any = None, *, classes: ArrayLike | None = None,
            labels: ArrayLike | None = None) -> SchemaMapper:
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
            rows = np.arange(1, ct.shape[0] + 1) if classes is None else np.asarray(classes, dtype=np.int64)
            cols = np.arange(1, ct.shape[1] + 1) if labels is None else np.asarray(labels, dtype=np.int64)
            if ct.shape != (len(rows), len(cols)):
                raise ParameterError(f"crosstab shape {ct.shape} does not match {len(rows)} classes x "
                                     f"{len(cols)} labels.")
            if (ct < 0).any():
                raise ParameterError("a cross-tabulation cannot hold negative counts.")
        else:
            rows, cols, ct = _crosstab_arrays(X, y, labels)
        self.classes_, self.labels_ = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
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


def _crosstab_arrays(X: Any, y: Any, labels: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    if X.shape != y.shape:
        raise ParameterError(f"the class map {X.shape} and the reference {y.shape} must have the same shape.")
    X, y = X.ravel().astype(np.int64), y.ravel().astype(np.int64)
    classes = np.unique(X[X > 0])
    both = (X > 0) & (y > 0)
    codes = np.unique(y[y > 0]) if labels is None else np.unique(np.asarray(labels, dtype=np.int64))
    ci = np.searchsorted(codes, y[both])
    ci = np.minimum(ci, max(len(codes) - 1, 0))
    if both.any() and (len(codes) == 0 or not np.array_equal(codes[ci], y[both])):
        raise ParameterError(f"the reference holds codes not in labels={codes.tolist()}.", params=("labels",))
    ri = np.searchsorted(classes, X[both])
    ct = np.bincount(ri * len(codes) + ci, minlength=len(classes) * len(codes))
    return classes, codes, ct.reshape(len(classes), len(codes))


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
    return _readmapping_yaml(path, text)


def _readmapping_yaml(path: str, text: str) -> MappingFile:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise SchemaError(f"{path}: not valid YAML{at}; a mapping file holds "
                          "'mapping: {1: forest, 2: water}'.") from None
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


def mapping_yaml(mapping: Mapping[int, int], schema: LandCoverSchema, meta: Mapping[str, Any]) -> str:
    """The text of a mapping file: provenance ``meta``, the embedded schema and ``class: name`` lines."""
    lines = ["# geouic class mapping (spectral class -> land-cover class). Re-apply it to other scenes",
             "# classified with the same model: geouic assign-schema other.tif --mapping THIS_FILE -o out.tif"]
    lines += [f"{k}: {json.dumps(v)}" for k, v in meta.items()]
    lines += ["schema:"] + ["  " + line for line in schema.to_yaml().splitlines()]
    lines.append("mapping:")
    for cls in sorted(mapping):
        hit = schema.find(mapping[cls]) if mapping[cls] else None
        lines.append(f"  {cls}: {json.dumps(hit.name) if hit else 'null'}")
    return "\n".join(lines) + "\n"
