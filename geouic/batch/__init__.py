"""Batch work: jobs files of geouic commands, validated up front, run N at once, resumable.

A jobs file (YAML, or CSV for one step per row) lists jobs; each job is a sequence of steps,
and each step is a geouic command with the options named as on the command line. Globs
(``foreach``) make one job per scene, ``{stem}``-style templates name the outputs, and
``{classify.output}`` passes one step's output to the next.

>>> from geouic.batch import load_jobs, run_batch          # doctest: +SKIP
>>> result = run_batch(load_jobs("jobs.yaml"), jobs=2)     # doctest: +SKIP
>>> result.exit_code                                       # doctest: +SKIP
0
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from geouic.batch.errors import BatchFileError
from geouic.batch.expand import Job, JobsFile, Step, expand_jobs, output_paths
from geouic.batch.jobsfile import read_jobs_file
from geouic.batch.manifest import Manifest, sha256_file
from geouic.batch.runner import BatchResult, JobResult, geouic_command, run_batch, share_out
from geouic.batch.spec import ParamSpec, StepSpec, specs_from_commands

__all__ = [
    "BatchFileError",
    "BatchResult",
    "Job",
    "JobResult",
    "JobsFile",
    "Manifest",
    "ParamSpec",
    "Step",
    "StepSpec",
    "cli_specs",
    "expand_jobs",
    "geouic_command",
    "load_jobs",
    "output_paths",
    "read_jobs_file",
    "run_batch",
    "sha256_file",
    "share_out",
    "specs_from_commands",
]

#: commands that cannot be steps of a batch (they would start batches or touch QGIS).
NOT_STEPS = frozenset({"batch", "qgis"})


def cli_specs() -> dict[str, StepSpec]:
    """Step specs of every command of the ``geouic`` CLI (imports the command modules, not torch)."""
    import click

    from geouic.cli import main

    ctx = click.Context(main)
    names = [n for n in main.list_commands(ctx) if n not in NOT_STEPS]
    return specs_from_commands({n: main.get_command(ctx, n) for n in names})


def load_jobs(path: str | os.PathLike, specs: Mapping[str, StepSpec] | None = None) -> JobsFile:
    """Read, expand and validate a jobs file.

    Parameters
    ----------
    path : path-like
        A YAML (``.yaml``, ``.yml``, ``.json``) or CSV jobs file.
    specs : mapping of str to StepSpec, optional
        The commands steps may use (default: every command of the ``geouic`` CLI).

    Returns
    -------
    JobsFile

    Raises
    ------
    BatchFileError
        One message naming the job and line of the first problem; nothing has run.
    """
    return expand_jobs(read_jobs_file(path), specs if specs is not None else cli_specs())
