"""Inputs are never outputs: the one check every command makes before it writes anything.

An output path that resolves (after symlinks, ``realpath``; hard links by inode) to one of
the command's inputs, or to another of its own outputs, is refused whatever ``overwrite``
says: ``classify in.tif -o in.tif --overwrite`` would otherwise replace the scene with its
class map, and ``-o o.tif --confidence o.tif`` would write the confidence raster where the
map should be. A folder output (a report) is refused when an input lies inside it, since
replacing the folder would delete that input.

Paths are given per role, keyed by the library parameter that names them (``output``,
``save_model``, ``scene``...), so the CLI shows the message with its own flags (see
:meth:`geouic.errors.GeouicError.message_for`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypeAlias

from geouic.errors import OutputError

__all__ = ["PathSpec", "check_distinct", "check_map_output", "resolve", "thematic_files"]

#: One path, several paths (a main file and the sidecars written with it), or None.
PathSpec: TypeAlias = "str | os.PathLike | Iterable[str | os.PathLike] | None"


def resolve(path: str | os.PathLike) -> str:
    """The absolute path with every symlink resolved (also for a file that does not exist yet)."""
    return os.path.realpath(os.fspath(path))


def thematic_files(path: str | os.PathLike) -> list[Path]:
    """A thematic map and the sidecars written with it: ``x.tif``, ``x.tif.aux.xml``, ``x.qml``."""
    p = Path(path)
    return [p, Path(str(p) + ".aux.xml"), p.with_suffix(".qml")]


def _paths(spec: PathSpec) -> list[str]:
    if spec is None:
        return []
    if isinstance(spec, (str, os.PathLike)):
        return [os.fspath(spec)]
    return [os.fspath(p) for p in spec if p is not None]


def _same(a: str, b: str) -> bool:
    """Whether two paths name the same file: same resolved path, or same inode (hard links)."""
    if resolve(a) == resolve(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet), or is not a local file
        return False


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies in ``folder`` or below it (after resolving both)."""
    p, f = resolve(path), resolve(folder)
    return p != f and p.startswith(f.rstrip(os.sep) + os.sep)


def check_distinct(outputs: Mapping[str, PathSpec], inputs: Mapping[str, PathSpec] | None = None, *,
                   folders: Iterable[str] = ()) -> None:
    """Refuse an output that is one of the inputs or another output, whatever ``overwrite`` says.

    Parameters
    ----------
    outputs : mapping of str to path, paths or None
        Output role (the parameter naming it, e.g. ``"output"``, ``"confidence"``) -> the
        file it writes, or the main file followed by the sidecars written with it; None
        (an output not asked for) is skipped.
    inputs : mapping of str to path, paths or None, optional
        Input role (e.g. ``"scene"``, ``"training"``) -> the file(s) it reads. Inputs that
        are not existing local files (URLs, preset names, missing files) are skipped: there
        is nothing of theirs an output could replace.
    folders : iterable of str, default=()
        Output roles that are folders: an input inside one of them is refused too.

    Raises
    ------
    OutputError
        Naming the output, the input (or other output) it would replace and the fix; the
        error's ``params`` list both roles (and ``overwrite``), so a front end can show its
        own option names.
    """
    outs = {role: _paths(spec) for role, spec in outputs.items()}
    ins = {role: [p for p in _paths(spec) if os.path.lexists(p)] for role, spec in (inputs or {}).items()}
    folder_roles = set(folders)
    seen: list[tuple[str, str]] = []  # (role, path) of the outputs checked so far
    for role, paths in outs.items():
        for path in paths:
            for other_role, other in seen:
                if _same(path, other):
                    what = other_role if other_role != role else f"another file of {role}"
                    written = "" if path == paths[0] else f" (with {path})"
                    raise OutputError(
                        f"{role}={paths[0]}{written} is the same file as {what} ({other}); "
                        "give each one its own name.",
                        params=(role, other_role),
                    )
            seen.append((role, path))
    for in_role, sources in ins.items():
        for src in sources:
            for role, path in seen:
                main = outs[role][0]
                if _same(path, src):
                    written = "" if path == main else f" (with {path})"
                    raise OutputError(
                        f"{role}={main} would replace the input {in_role} ({src}){written}; an input is "
                        "never overwritten, even with overwrite=True: choose another name.",
                        params=(role, in_role, "overwrite"),
                    )
                if role in folder_roles and _inside(src, path):
                    raise OutputError(
                        f"{role}={path} is a folder that holds the input {in_role} ({src}); writing there "
                        "would delete it, even with overwrite=True: choose another folder.",
                        params=(role, in_role, "overwrite"),
                    )


def check_map_output(output: str | os.PathLike, inputs: Mapping[str, PathSpec], *, overwrite: bool) -> None:
    """Check a thematic map output before any work: never an input, sidecars following ``overwrite``.

    The map and its sidecars (``.aux.xml``, ``.qml``) are refused when they would replace one
    of ``inputs``, and when they exist and ``overwrite`` is False.

    Raises
    ------
    OutputError
        See :func:`check_distinct` and :func:`geouic.output.check_output`.
    """
    from geouic.output import check_output

    files = thematic_files(output)
    check_distinct({"output": files}, inputs)  # whatever overwrite says
    for path in files:
        check_output(path, overwrite=overwrite)
