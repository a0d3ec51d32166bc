"""``geouic batch``: run the jobs of a jobs file, N at once, resumable, with a manifest."""

from __future__ import annotations

import contextlib
import sys

import click

from geouic.cli._dask import dask_client, dask_opt
from geouic.cli.options import handle_errors, progress_callback, status, verbosity


@click.command(short_help="Run the jobs of a jobs file (YAML or CSV).")
@click.argument("jobs_file", metavar="JOBS_FILE", type=click.Path(dir_okay=False))
@click.option("-j", "--jobs", "n_jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Jobs run at once (each in its own process).")
@click.option("--mem-limit", type=click.FloatRange(min=1), default=None, metavar="MB",
              help="Total working-memory budget: each of the N jobs run at once gets MB/N as its --mem-limit "
                   "(unless a step sets its own); with --dask, each worker's budget, shared by its threads. "
                   "[default: each command's default]")
@click.option("--resume", is_flag=True,
              help="Skip steps the manifest records as done whose inputs and outputs are unchanged; run the rest.")
@click.option("--manifest", type=click.Path(dir_okay=False), default=None,
              help="Run manifest (JSON). [default: the file's `manifest:`, else <JOBS_FILE stem>.manifest.json "
                   "beside JOBS_FILE]")
@click.option("--dry-run", is_flag=True, help="Validate the file and print the commands it would run; run nothing.")
@click.option("--overwrite", is_flag=True, help="Pass --overwrite to every step (replace existing outputs).")
@dask_opt
@verbosity
@handle_errors
def cli(jobs_file, n_jobs, mem_limit, resume, manifest, dry_run, overwrite, dask_address):
    """Run every job of JOBS_FILE; a summary table at the end; exit code 0 only when all succeed.

    Each step is a geouic command with the options named as on the command line, run as the
    same command typed by hand (in the file's `workdir`). The whole file is checked before
    anything runs; a job whose input is missing fails alone, and the others run. The manifest
    records each job's inputs (sha256), commands, times, outputs and errors; `--resume` runs
    only what is not done yet. See examples/jobs.yaml.

    With --dask each job is one task on a Dask cluster: the cluster's worker threads decide how
    many run at once (no --jobs), --mem-limit is each worker's budget, and the manifest records
    the worker of each job. See docs/distributed.md.

    \b
    geouic batch jobs.yaml
    geouic batch jobs.yaml --jobs 2 --mem-limit 512 --resume
    geouic batch jobs.yaml --dry-run
    geouic batch jobs.yaml --dask local:2
    geouic batch jobs.yaml --dask tcp://127.0.0.1:8786
    """
    import signal

    from geouic.batch import load_jobs, run_batch

    if dask_address and n_jobs != 1:
        from geouic.cli.options import CliError

        raise CliError(f"--jobs {n_jobs} sets how many jobs run at once on this machine; with --dask the "
                       "cluster's worker threads decide that: drop --jobs, or start more workers.")
    jobs = load_jobs(jobs_file)
    if dry_run:
        _print_commands(jobs)
        return
    where = f"on Dask ({dask_address})" if dask_address else f"{n_jobs} at once"
    status(f"{len(jobs.jobs)} job(s) from {jobs_file}, {where}, in {jobs.workdir}")

    def terminate(signum, frame):  # a polite kill stops like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    done = [0]
    try:
        with contextlib.ExitStack() as stack, progress_callback("Jobs") as update:
            client = stack.enter_context(dask_client(dask_address, mem_limit=mem_limit)).client \
                if dask_address else None

            def progress(res):
                done[0] += 1
                update(1, len(jobs.jobs))
                if not sys.stderr.isatty():
                    detail = f": {res.error}" if res.error else ""
                    status(f"[{done[0]}/{len(jobs.jobs)}] {res.name}: {res.status} ({res.seconds:.1f} s){detail}")

            result = run_batch(jobs, jobs=n_jobs, mem_limit=mem_limit, resume=resume, overwrite=overwrite,
                               manifest=manifest, progress=progress, client=client)
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo(summary_table(result))
    if result.interrupted:
        click.echo("Interrupted: run the same command with --resume to carry on.", err=True)
    if result.exit_code:
        sys.exit(result.exit_code)


def summary_table(result) -> str:
    """The table printed at the end of a batch: one row per job, then the counts."""
    rows = [("job", "status", "time", "outputs / error")]
    for j in result.jobs:
        detail = j.error or ", ".join(j.outputs[:3]) + (" ..." if len(j.outputs) > 3 else "")
        rows.append((j.name, j.status, f"{j.seconds:.1f} s", detail))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in rows]
    counts = ", ".join(f"{v} {k}" for k, v in result.counts().items())
    lines.append(f"{len(result.jobs)} job(s): {counts}; manifest -> {result.manifest}")
    return "\n".join(lines)


def _print_commands(jobs) -> None:
    import shlex

    click.echo(f"cd {shlex.quote(str(jobs.workdir))}")
    for job in jobs.jobs:
        needs = f" (after {', '.join(job.needs)})" if job.needs else ""
        click.echo(f"# job {job.name}{needs}")
        for step in job.steps:
            click.echo(shlex.join(["geouic", step.command, *step.argv]))
