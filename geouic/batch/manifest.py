"""The run manifest: what each job read (with sha256), ran, wrote and said, written atomically.

The manifest is the record ``--resume`` trusts: a step is done when the manifest of the
previous run says it succeeded with the same command line, its outputs are still there as it
left them (size and modification time), and its inputs have not changed (size and time, or,
when those moved, the same sha256).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["Manifest", "file_record", "sha256_file", "now", "step_is_done"]

SCHEMA = "geouic-batch-manifest/1"


def now() -> str:
    """The current time, ISO 8601 with the UTC offset."""
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="milliseconds")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in 1 MB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_record(path: str, workdir: Path, *, digest: bool = True) -> dict[str, Any]:
    """Path, existence, size, mtime and sha256 of a file (a folder: its files and sizes)."""
    full = workdir / path
    record: dict[str, Any] = {"path": path}
    try:
        st = full.stat()
    except OSError:
        record["exists"] = False
        return record
    record["exists"] = True
    if full.is_dir():
        record["kind"] = "folder"
        record["files"] = {str(p.relative_to(full)): p.stat().st_size for p in sorted(full.rglob("*")) if p.is_file()}
        return record
    record.update(kind="file", size=st.st_size, mtime_ns=st.st_mtime_ns)
    if digest:
        try:
            record["sha256"] = sha256_file(full)
        except OSError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
    return record


def _unchanged(old: dict[str, Any], workdir: Path, *, rehash: bool) -> bool:
    """True when the file or folder still matches its record."""
    if not old.get("exists"):
        return not (workdir / old["path"]).exists()
    current = file_record(old["path"], workdir, digest=False)
    if not current.get("exists") or current.get("kind") != old.get("kind"):
        return False
    if old["kind"] == "folder":
        return current["files"] == old["files"]
    if current["size"] == old["size"] and current["mtime_ns"] == old["mtime_ns"]:
        return True
    return rehash and current["size"] == old["size"] and sha256_file(workdir / old["path"]) == old.get("sha256")


def step_is_done(old_step: dict[str, Any] | None, argv: list[str], workdir: Path, *,
                 known: Mapping[str, dict[str, Any]] | None = None) -> bool:
    """True when a step recorded in an earlier manifest need not run again.

    ``known`` holds records of inputs read elsewhere (a model file the client sent a Dask
    worker as bytes): those compare by size and sha256 with the earlier record.
    """
    if not old_step or old_step.get("status") != "ok" or old_step.get("argv") != argv:
        return False
    outputs = old_step.get("outputs") or []
    if not outputs or not all(o.get("exists") and _unchanged(o, workdir, rehash=False) for o in outputs):
        return False
    known = known or {}
    for i in old_step.get("inputs") or []:
        here = known.get(i.get("path"))
        if here is not None:
            if (here.get("size"), here.get("sha256")) != (i.get("size"), i.get("sha256")):
                return False
        elif not _unchanged(i, workdir, rehash=True):
            return False
    return True


class Manifest:
    """The manifest of one batch run, rewritten atomically (temporary file, then rename) on change.

    Parameters
    ----------
    path : path-like
        Where the JSON goes.
    header : dict
        Run-level fields (jobs file, its sha256, options, geouic version).
    job_names : list of str
        Every job of the file, in order: each is in the manifest from the start (``pending``).
    """

    def __init__(self, path: str | os.PathLike, header: dict[str, Any], job_names: list[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.data: dict[str, Any] = {"schema": SCHEMA, **header, "started": now(), "ended": None,
                                     "status": "running",
                                     "jobs": {n: {"name": n, "status": "pending", "steps": []} for n in job_names}}

    @staticmethod
    def read(path: str | os.PathLike) -> dict[str, Any] | None:
        """An earlier manifest, or None when there is none or it cannot be read."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None

    def update_job(self, name: str, **fields: Any) -> None:
        """Set fields of one job and rewrite the file."""
        with self._lock:
            self.data["jobs"][name].update(fields)
            self._write()

    def finish(self, status: str) -> None:
        """Close the run with ``status`` (``ok``, ``failed``, ``interrupted``)."""
        with self._lock:
            self.data["ended"] = now()
            self.data["status"] = status
            self._write()

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        payload = dict(self.data)
        payload["jobs"] = list(self.data["jobs"].values())
        tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
