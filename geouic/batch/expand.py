"""From a jobs file as written to the jobs that run: defaults, ``foreach`` globs and templates.

Templates are Python format fields: ``{stem}``, ``{name}`` (file name), ``{parent}`` (its
folder), ``{folder}`` (the folder's own name), ``{ext}``, ``{path}`` (the ``foreach``
item), ``{index}`` (1-based, e.g. ``{index:03d}``), ``{job}`` (the job's name), any variable
of ``vars:``, and ``{<step>.<option>}`` for an option of an earlier step of the same job
(``{classify.output}``; a step is named by its command, or by ``id:`` when a job runs one
command twice). ``{{`` and ``}}`` are literal braces.

Everything is checked here, before anything runs: unknown commands, options and template
fields, malformed templates, missing required options, values of the wrong type, unknown or
circular ``needs``, and two jobs (or steps) writing the same output.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geouic.batch.errors import BatchFileError
from geouic.batch.jobsfile import RawEntry, RawFile, RawStep
from geouic.batch.spec import StepSpec

__all__ = ["Job", "JobsFile", "Step", "expand_jobs", "output_paths"]


@dataclass
class Step:
    """One command of a job, ready to run: ``geouic <command> <argv...>`` in the job's workdir."""

    command: str
    id: str
    argv: list[str]
    options: dict[str, Any]
    inputs: list[str]
    outputs: list[str]
    line: int
    spec: StepSpec = field(repr=False)


@dataclass
class Job:
    """A sequence of steps; independent of other jobs except for ``needs``."""

    name: str
    line: int
    steps: list[Step]
    needs: list[str] = field(default_factory=list)


@dataclass
class JobsFile:
    """A validated jobs file: its jobs in file order and the folder they run in."""

    path: Path
    workdir: Path
    jobs: list[Job]
    manifest: Path | None = None


_FORMATTER = string.Formatter()


def _fields(template: str, where: str) -> list[tuple[str, str]]:
    """The (field, format spec) pairs of ``template``; a malformed template raises."""
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise BatchFileError(f"{where}: malformed template {template!r} ({exc}); "
                             "write fields as {stem} and literal braces as {{ }}.") from None
    fields = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name == "" or conversion:
            raise BatchFileError(f"{where}: malformed template {template!r}: every field needs a name "
                                 "(e.g. {stem}) and no !conversion.")
        if spec and "{" in spec:
            raise BatchFileError(f"{where}: malformed template {template!r}: nested fields are not supported.")
        fields.append((name, spec or ""))
    return fields


def render(template: Any, context: Mapping[str, Any], where: str) -> Any:
    """``template`` with its fields filled from ``context``; non-strings pass through."""
    if isinstance(template, list):
        return [render(t, context, where) for t in template]
    if not isinstance(template, str):
        return template
    fields = _fields(template, where)
    for name, _ in fields:
        if name not in context:
            known = ", ".join(sorted(k for k in context if not k.startswith("_")))
            raise BatchFileError(f"{where}: unknown template field {{{name}}} in {template!r}; known here: {known}.")
    out = []
    for literal, field_name, spec, _ in _FORMATTER.parse(template):
        out.append(literal)
        if field_name is not None:
            name = field_name
            try:
                out.append(format(context[name], spec or ""))
            except (ValueError, TypeError) as exc:
                raise BatchFileError(f"{where}: template {template!r}: {{{name}:{spec}}} cannot format "
                                     f"{context[name]!r} ({exc}).") from None
    return "".join(out)


def _items(raw: RawFile, entry: RawEntry) -> list[str | None]:
    if entry.foreach is None:
        return [None]
    items: list[str | None] = []
    for pattern in entry.foreach:
        pattern = render(pattern, raw.vars, f"{raw.path}, job {entry.index + 1} (line {entry.line})")
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern, root_dir=raw.workdir))
            if not matches:
                raise BatchFileError(f"{raw.path}, line {entry.line}: foreach pattern {pattern!r} matches no file "
                                     f"in {raw.workdir}; check the folder and the pattern.")
            items.extend(matches)
        else:
            items.append(pattern)  # a missing literal path: that job fails when it runs
    return items


def _item_context(item: str | None, index: int) -> dict[str, Any]:
    context: dict[str, Any] = {"index": index}
    if item is not None:
        p = Path(item)
        context.update(path=item, stem=p.stem, name=p.name, parent=str(p.parent), folder=p.parent.name,
                       ext=p.suffix)
    return context


def _step_options(raw: RawFile, step: RawStep, spec: StepSpec) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for scope in ("*", step.command):
        for key, value in (raw.defaults.get(scope) or {}).items():
            if scope == "*" and not spec.has(key):
                continue  # "*" defaults go to the commands that have the option
            options[key] = value
    options.update(step.options)
    return options


def _build_step(raw: RawFile, step: RawStep, spec: StepSpec, context: dict[str, Any], job: str) -> Step:
    options = _step_options(raw, step, spec)
    step_id = str(options.pop("id", step.command))
    argv_opts: list[str] = []
    given: dict[str, Any] = {}
    inputs: list[str] = []
    outputs: list[str] = []
    for key, template in options.items():
        line = step.option_lines.get(key, step.line)
        where = f"{raw.path}, job {job!r}, line {line}"
        param = spec.lookup(str(key))
        if param is None:
            raise BatchFileError(f"{where}: step {step.command!r} has no option {key!r}; "
                                 f"its options: {', '.join(spec.keys)} (see `geouic {step.command} --help`).")
        if param.key in given:
            raise BatchFileError(f"{where}: option {param.key!r} of step {step.command!r} is given twice.")
        value = render(template, context, where)
        if isinstance(value, list) and not (param.multiple or param.variadic):
            raise BatchFileError(f"{where}: option {param.key!r} of step {step.command!r} takes one value, "
                                 f"not a list.")
        problem = param.check(value)
        if problem:
            raise BatchFileError(f"{where}: option {param.key!r} of step {step.command!r}: {problem}")
        given[param.key] = value
        words = param.argv(value, str(raw.workdir))
        if not param.argument:
            argv_opts.extend(words)
        values = [str(v) for v in (value if isinstance(value, list) else [value])]
        if param.role == "output":
            outputs.extend(values)
        elif param.role == "input":
            inputs.extend(words if param.argument else values)  # arguments: globs expanded
    missing = [p.key for p in spec.params if p.required and p.key not in given]
    if missing:
        raise BatchFileError(f"{raw.path}, job {job!r}, line {step.line}: step {step.command!r} needs "
                             f"{', '.join(missing)}.")
    # arguments in the command's own order, then the options as written
    argv_args: list[str] = []
    for p in spec.params:
        if p.argument and p.key in given:
            argv_args.extend(p.argv(given[p.key], str(raw.workdir)))
    return Step(command=step.command, id=step_id, argv=argv_args + argv_opts, options=given, inputs=inputs,
                outputs=outputs, line=step.line, spec=spec)


def _expand_entry(raw: RawFile, entry: RawEntry, specs: Mapping[str, StepSpec]) -> list[Job]:
    jobs = []
    for index, item in enumerate(_items(raw, entry), 1):
        context = dict(raw.vars)
        context.update(_item_context(item, index))
        where = f"{raw.path}, job {entry.index + 1} (line {entry.line})"
        for key, value in entry.vars.items():
            context[str(key)] = render(value, context, where)
        default = "{stem}" if entry.foreach else f"job-{entry.index + 1}"
        name = render(entry.name or default, context, where)
        context["job"] = name
        steps: list[Step] = []
        for raw_step in entry.steps:
            spec = specs.get(raw_step.command)
            if spec is None:
                raise BatchFileError(f"{raw.path}, job {name!r}, line {raw_step.line}: unknown step "
                                     f"{raw_step.command!r}; steps are geouic commands: {', '.join(sorted(specs))}.")
            step = _build_step(raw, raw_step, spec, context, name)
            if any(s.id == step.id for s in steps):
                raise BatchFileError(f"{raw.path}, job {name!r}, line {raw_step.line}: two steps are named "
                                     f"{step.id!r}; give one an `id:` to tell them apart.")
            steps.append(step)
            for key, value in step.options.items():
                context[f"{step.id}.{key}"] = value if not isinstance(value, list) else " ".join(map(str, value))
        jobs.append(Job(name=name, line=entry.line, steps=steps, needs=list(entry.needs)))
    return jobs


def expand_jobs(raw: RawFile, specs: Mapping[str, StepSpec]) -> JobsFile:
    """Expand and validate every job of ``raw`` against the command ``specs``.

    Raises
    ------
    BatchFileError
        Naming the job and line of the first problem; nothing has run.
    """
    jobs: list[Job] = []
    for entry in raw.entries:
        jobs.extend(_expand_entry(raw, entry, specs))
    _check_names(raw, jobs)
    _check_outputs(raw, jobs)
    _check_needs(raw, jobs)
    return JobsFile(path=raw.path, workdir=raw.workdir, jobs=jobs, manifest=raw.manifest)


def _check_names(raw: RawFile, jobs: list[Job]) -> None:
    seen: dict[str, Job] = {}
    for job in jobs:
        if job.name in seen:
            raise BatchFileError(f"{raw.path}, line {job.line}: two jobs are named {job.name!r} (the other on line "
                                 f"{seen[job.name].line}); give them distinct `name:` templates, e.g. \"{{stem}}\".")
        seen[job.name] = job


def _check_outputs(raw: RawFile, jobs: list[Job]) -> None:
    writers: dict[str, tuple[Job, Step]] = {}
    for job in jobs:
        for step in job.steps:
            for out in step.outputs:
                key = os.path.normcase(os.path.normpath(os.path.join(raw.workdir, out)))
                if key in writers:
                    other, other_step = writers[key]
                    raise BatchFileError(
                        f"{raw.path}, job {job.name!r}, line {step.line}: output {out!r} is also written by job "
                        f"{other.name!r} (line {other_step.line}); give each job its own output, e.g. with {{stem}}.")
                writers[key] = (job, step)


def _check_needs(raw: RawFile, jobs: list[Job]) -> None:
    names = [j.name for j in jobs]
    for job in jobs:
        resolved: list[str] = []
        for pattern in job.needs:
            matches = [n for n in names if fnmatch.fnmatchcase(n, pattern) and n != job.name]
            if not matches:
                raise BatchFileError(f"{raw.path}, job {job.name!r}, line {job.line}: `needs: {pattern}` names no "
                                     f"other job; jobs: {', '.join(names)}.")
            resolved.extend(m for m in matches if m not in resolved)
        job.needs = resolved
    by_name = {j.name: j for j in jobs}
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join(path[path.index(name):] + [name])
            raise BatchFileError(f"{raw.path}, line {by_name[name].line}: jobs need each other in a circle "
                                 f"({cycle}); remove one `needs:`.")
        state[name] = 1
        for dep in by_name[name].needs:
            visit(dep, path + [name])
        state[name] = 2

    for job in jobs:
        visit(job.name, [])


def output_paths(template: str, scenes: list[str], *, option: str = "--output") -> list[str]:
    """One output per scene from a template such as ``out/{stem}_classes.tif``.

    Parameters
    ----------
    template : str
        An output path; with several scenes it must hold a field (``{stem}``, ``{name}``,
        ``{folder}``, ``{parent}``, ``{ext}``, ``{index}``).
    scenes : list of str
        The input paths, in order.
    option : str
        The option named in messages.

    Returns
    -------
    list of str

    Raises
    ------
    ParameterError
        A single file name for several scenes, an unknown field, or two scenes named alike.
    """
    from geouic.errors import ParameterError

    where = f"{option} {template!r}"
    try:
        if not _fields(template, where):
            if len(scenes) > 1:
                raise ParameterError(f"{where} names one file for {len(scenes)} scenes; give a template such as "
                                     "out/{stem}_classes.tif.")
            return [template]
        outputs = [render(template, _item_context(scene, i), where) for i, scene in enumerate(scenes, 1)]
    except BatchFileError as exc:  # a template error of the command line, not of a jobs file
        raise ParameterError(str(exc)) from None
    seen: dict[str, str] = {}
    for scene, out in zip(scenes, outputs):
        if out in seen:
            raise ParameterError(f"{where} gives {out} for both {seen[out]} and {scene}; add a field that tells "
                                 "them apart (e.g. {folder} or {index}).")
        seen[out] = scene
    return outputs
