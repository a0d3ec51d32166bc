"""Reading a jobs file (YAML, or CSV for one step per row) with the line of every key and item.

The structure of a YAML jobs file::

    workdir: ..                 # optional: folder the steps run in (relative to this file; default: its folder)
    manifest: out/run.json      # optional: the run manifest (relative to workdir; default:
                                #   <file stem>.manifest.json beside the file)
    vars: {out: out/batch}      # optional: values usable as {out} in templates
    defaults:                   # optional: options given to every step of a command ("*": every command having it)
      classify: {method: kmeans, classes: 15}
      "*": {mem-limit: 64}
    jobs:
      - name: "{stem}"          # optional; default "{stem}" with foreach, else job-<n>
        foreach: scenes/*.tif   # optional: a glob, a path or a list of them: one job per file
        needs: [train]          # optional: jobs (names or fnmatch patterns) that must succeed first
        vars: {...}             # optional
        steps:
          - classify: {scene: "{path}", output: "{out}/{stem}_classes.tif"}
          - accuracy: {map: "{classify.output}", reference: ref.gpkg, output: "{out}/{stem}_report"}

A CSV jobs file has a ``step`` column (the command), an optional ``name`` column, and one
column per option; an empty cell leaves the option out. Each row is one job of one step.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geouic.batch.errors import BatchFileError

__all__ = ["RawEntry", "RawFile", "RawStep", "read_jobs_file"]

TOP_KEYS = ("workdir", "manifest", "vars", "defaults", "jobs")
JOB_KEYS = ("name", "foreach", "needs", "vars", "steps")


@dataclass
class RawStep:
    """One step as written: a command and its options (values untemplated)."""

    command: str
    options: dict[str, Any]
    line: int
    option_lines: dict[str, int] = field(default_factory=dict)


@dataclass
class RawEntry:
    """One entry of ``jobs:``; expands to one job, or one job per ``foreach`` item."""

    index: int
    line: int
    name: str | None
    foreach: list[str] | None
    needs: list[str]
    vars: dict[str, Any]
    steps: list[RawStep]


@dataclass
class RawFile:
    """A jobs file as written."""

    path: Path
    workdir: Path
    manifest: Path | None
    vars: dict[str, Any]
    defaults: dict[str, dict[str, Any]]
    entries: list[RawEntry]


class _LineDict(dict):
    line = 0
    lines: dict


class _LineList(list):
    line = 0
    lines: list


def _loader(path: Path):
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        loader.flatten_mapping(node)
        out = _LineDict()
        out.line, out.lines = node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, (str, int, float, bool)):
                raise BatchFileError(f"{path}, line {line}: a key must be a plain word.")
            if key in out:
                raise BatchFileError(f"{path}, line {line}: key {key!r} is given twice (first on line "
                                     f"{out.lines[key]}); keep one.")
            out[key] = loader.construct_object(value_node, deep=True)
            out.lines[key] = line
        return out

    def sequence(loader, node):
        out = _LineList(loader.construct_object(child, deep=True) for child in node.value)
        out.line, out.lines = node.start_mark.line + 1, [c.start_mark.line + 1 for c in node.value]
        return out

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, sequence)
    return Loader


def _line(obj: Any, key: Any = None, default: int = 0) -> int:
    if key is not None and isinstance(obj, (_LineDict, _LineList)):
        try:
            return obj.lines[key]
        except (KeyError, IndexError):
            pass
    return getattr(obj, "line", default)


def read_jobs_file(path: str | os.PathLike) -> RawFile:
    """Read a jobs file (``.yaml``/``.yml``/``.json``, or ``.csv``).

    Raises
    ------
    BatchFileError
        The file is missing, not valid YAML/CSV, or not shaped like a jobs file.
    """
    path = Path(path)
    if not path.is_file():
        raise BatchFileError(f"{path}: no such jobs file; check the path.")
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
        doc = yaml.load(text, Loader=_loader(path))  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise BatchFileError(f"{path}{where}: not valid YAML ({problem}); fix the syntax.") from None
    except UnicodeDecodeError:
        raise BatchFileError(f"{path}: not a text file; a jobs file is YAML or CSV.") from None
    if isinstance(doc, list):
        doc = _LineDict(jobs=doc)
        doc.line, doc.lines = 1, {"jobs": 1}
    if not isinstance(doc, dict) or "jobs" not in doc:
        raise BatchFileError(f"{path}: a jobs file needs a `jobs:` list (see examples/jobs.yaml).")
    _check_keys(path, doc, TOP_KEYS, "the top level")
    workdir = (path.parent / str(doc.get("workdir", "."))).resolve()
    variables = _mapping(path, doc, "vars")
    defaults = _mapping(path, doc, "defaults")
    for cmd, opts in defaults.items():
        if not isinstance(opts, dict):
            raise BatchFileError(f"{path}, line {_line(defaults, cmd)}: defaults for {cmd!r} must be a mapping "
                                 "of options (e.g. `classify: {method: kmeans}`).")
    jobs = doc["jobs"]
    if not isinstance(jobs, list) or not jobs:
        raise BatchFileError(f"{path}, line {_line(doc, 'jobs')}: `jobs:` must be a non-empty list of jobs.")
    entries = [_entry(path, i, job, _line(jobs, i)) for i, job in enumerate(jobs)]
    manifest = workdir / str(doc["manifest"]) if doc.get("manifest") else None
    return RawFile(path=path, workdir=workdir, manifest=manifest, vars=variables, defaults=defaults, entries=entries)


def _check_keys(path: Path, mapping: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise BatchFileError(f"{path}, line {_line(mapping, key)}: unknown key {key!r} at {where}; "
                                 f"allowed: {', '.join(allowed)}.")


def _mapping(path: Path, parent: dict, key: str) -> dict:
    value = parent.get(key) or {}
    if not isinstance(value, dict):
        raise BatchFileError(f"{path}, line {_line(parent, key)}: `{key}:` must be a mapping.")
    return value


def _strings(path: Path, parent: dict, key: str) -> list[str] | None:
    if key not in parent or parent[key] is None:
        return None
    value = parent[key]
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (str, int, float)) for v in values):
        raise BatchFileError(f"{path}, line {_line(parent, key)}: `{key}:` must be a string or a list of strings.")
    return [str(v) for v in values]


def _entry(path: Path, index: int, job: Any, line: int) -> RawEntry:
    where = f"{path}, job {index + 1} (line {line})"
    if not isinstance(job, dict):
        raise BatchFileError(f"{where}: a job must be a mapping with `steps:`.")
    _check_keys(path, job, JOB_KEYS, f"job {index + 1}")
    steps = job.get("steps")
    if not isinstance(steps, list) or not steps:
        raise BatchFileError(f"{where}: `steps:` must be a non-empty list, e.g. `- classify: {{...}}`.")
    raw_steps = []
    for i, step in enumerate(steps):
        sline = _line(steps, i, line)
        if not isinstance(step, dict) or len(step) != 1:
            raise BatchFileError(f"{path}, line {sline}: a step is one command and its options, "
                                 "e.g. `- classify: {scene: a.tif, output: a_classes.tif}`.")
        (command, options), = step.items()
        options = options if options is not None else {}
        if not isinstance(options, dict):
            raise BatchFileError(f"{path}, line {sline}: the options of step {command!r} must be a mapping.")
        raw_steps.append(RawStep(command=str(command), options=dict(options), line=sline,
                                 option_lines={k: _line(options, k, sline) for k in options}))
    name = job.get("name")
    return RawEntry(index=index, line=line, name=None if name is None else str(name),
                    foreach=_strings(path, job, "foreach"), needs=_strings(path, job, "needs") or [],
                    vars=_mapping(path, job, "vars"), steps=raw_steps)


def _read_csv(path: Path) -> RawFile:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchFileError(f"{path}: not a readable CSV file ({exc}).") from None
    if not rows or "step" not in [h.strip() for h in rows[0]]:
        raise BatchFileError(f"{path}, line 1: a CSV jobs file needs a header with a `step` column "
                             "(the command) and one column per option.")
    header = [h.strip() for h in rows[0]]
    entries: list[RawEntry] = []
    for i, row in enumerate(rows[1:]):
        line = i + 2
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            raise BatchFileError(f"{path}, line {line}: {len(row)} cells but the header has {len(header)} columns.")
        cells = {h: c.strip() for h, c in zip(header, row) if c.strip()}
        command = cells.pop("step", "")
        if not command:
            raise BatchFileError(f"{path}, line {line}: the `step` cell is empty; name the command (e.g. classify).")
        name = cells.pop("name", None)
        options = {k: _csv_value(v) for k, v in cells.items()}
        step = RawStep(command=command, options=options, line=line, option_lines={k: line for k in options})
        entries.append(RawEntry(index=len(entries), line=line, name=name, foreach=None, needs=[], vars={},
                                steps=[step]))
    if not entries:
        raise BatchFileError(f"{path}: the CSV holds no job rows.")
    return RawFile(path=path, workdir=path.parent.resolve(), manifest=None, vars={}, defaults={}, entries=entries)


def _csv_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "yes"):
        return True
    if low in ("false", "no"):
        return False
    return text
