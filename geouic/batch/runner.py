"""Running the jobs of a jobs file: N at once, each step as the geouic command run by hand.

Each step runs the ``geouic`` executable in a child process (its own session), with the
argument list the jobs file spells out. A child process rather than an in-process call of the
click command because

- outputs are those of the same command typed by hand, byte for byte (same code path, same
  defaults, same error messages, same exit codes);
- a job's memory (model, windows, torch) is returned to the system when its step ends, and
  one job cannot corrupt another's global state (logging levels, thread pools, GDAL cache);
- ``--jobs N`` really runs N at once (no GIL, no shared torch/BLAS pools);
- Ctrl-C is handled in one place: the runner forwards SIGINT to the running children (each
  writes its outputs atomically, so an interrupted step leaves none), records them as
  ``interrupted`` and writes the manifest; ``--resume`` carries on from there.

A step that fails (missing or unreadable input, bad value found by the command) fails its job;
the other jobs go on. Jobs that ``need`` a failed job are ``blocked``.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from geouic.batch.errors import BatchFileError
from geouic.batch.expand import Job, JobsFile, Step
from geouic.batch.manifest import Manifest, file_record, now, sha256_file, step_is_done

__all__ = ["BatchResult", "JobResult", "geouic_command", "run_batch", "share_out"]

#: job states: done now, done by an earlier run, failed, not run because a needed job failed,
#: stopped by Ctrl-C, or never started (the run was interrupted first).
STATES = ("ok", "skipped", "failed", "blocked", "interrupted", "pending")


@dataclass
class JobResult:
    """How one job ended."""

    name: str
    status: str
    seconds: float = 0.0
    error: str = ""
    outputs: list[str] = field(default_factory=list)


@dataclass
class BatchResult:
    """How a batch run ended; ``exit_code`` is 0 only when every job is ok or was done earlier."""

    jobs: list[JobResult]
    manifest: Path
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        """True when every job succeeded now or earlier."""
        return not self.interrupted and all(j.status in ("ok", "skipped") for j in self.jobs)

    @property
    def exit_code(self) -> int:
        """0 all done, 1 some job failed or was blocked, 130 interrupted."""
        return 130 if self.interrupted else (0 if self.ok else 1)

    def counts(self) -> dict[str, int]:
        """Number of jobs in each state."""
        out = {s: 0 for s in STATES}
        for j in self.jobs:
            out[j.status] += 1
        return {k: v for k, v in out.items() if v}


def geouic_command() -> list[str]:
    """The command line that starts geouic: the executable beside this Python, else on PATH."""
    here = Path(sys.executable).with_name("geouic")
    if here.is_file() and os.access(here, os.X_OK):
        return [str(here)]
    found = shutil.which("geouic")
    if found:
        return [found]
    return [sys.executable, "-c", "from geouic.cli import run; run()"]


def share_out(mem_limit: float | None, jobs: int) -> float | None:
    """The ``--mem-limit`` (MB) of each of ``jobs`` concurrent jobs from a total budget."""
    if mem_limit is None:
        return None
    share = float(mem_limit) / jobs
    if share < 1:
        raise BatchFileError(f"--mem-limit {mem_limit:g} MB shared by --jobs {jobs} leaves {share:.2f} MB per job; "
                             "give at least 1 MB per job.")
    return share


class _Children:
    """The live child processes, so that Ctrl-C can reach all of them.

    With ``die_with_parent`` (a Dask worker's jobs) a child gets SIGTERM when the thread that
    started it dies, on Linux: a worker killed mid-job leaves no step running unseen (SIGTERM
    makes geouic remove its temporary files), and the job's rerun elsewhere is the only writer.
    """

    def __init__(self, die_with_parent: bool = False) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self.stop = threading.Event()
        self.die_with_parent = die_with_parent

    def start(self, argv: list[str], cwd: Path) -> subprocess.Popen:
        with self._lock:
            if self.stop.is_set():
                raise KeyboardInterrupt
            extra: dict[str, Any] = {}
            if self.die_with_parent and sys.platform.startswith("linux"):
                extra["preexec_fn"] = _parent_death_signal
            proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    start_new_session=True, **extra)
            self._procs.add(proc)
            return proc

    def done(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def signal_all(self, sig: int) -> None:
        with self._lock:
            self.stop.set()
            for proc in self._procs:
                try:
                    os.killpg(proc.pid, sig)
                except (ProcessLookupError, PermissionError, AttributeError):
                    proc.send_signal(sig)


def _parent_death_signal() -> None:  # pragma: no cover - runs in the child between fork and exec
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _error_line(stderr: str, returncode: int) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("Error:"):
            return ln[len("Error:"):].strip()
    return lines[-1] if lines else f"exited with code {returncode}"


@dataclass
class _Context:
    jobs_file: JobsFile
    command: list[str]
    manifest: Manifest
    previous: dict[str, dict[str, Any]]
    children: _Children
    extras: dict[str, str]
    overwrite: bool
    #: (step id, argv index) -> the word run instead (a Dask worker's copy of a model or schema file).
    rewrite: dict[tuple[str, int], str] = field(default_factory=dict)
    #: input path -> its record made where the file was read (files sent to a Dask worker as bytes).
    known_inputs: dict[str, dict[str, Any]] = field(default_factory=dict)


def _step_argv(step: Step, ctx: _Context, old: dict[str, Any] | None) -> list[str]:
    argv = list(step.argv)
    for key, value in ctx.extras.items():
        param = step.spec.lookup(key)
        if param is not None and key not in step.options:
            argv += [param.flag, value]
    overwrite = step.spec.lookup("overwrite")
    if overwrite is not None and "overwrite" not in step.options:
        if ctx.overwrite or _own_leftovers(step, old, ctx.jobs_file.workdir):
            argv.append(overwrite.flag)
    return argv


def _own_leftovers(step: Step, old: dict[str, Any] | None, workdir: Path) -> bool:
    """True when every existing output of ``step`` is what an earlier attempt of it left."""
    if not old or old.get("argv") != step.argv:
        return False
    recorded = {o["path"]: o for o in old.get("outputs") or []}
    existing = [o for o in step.outputs if (workdir / o).exists()]
    if not existing:
        return False
    for out in existing:
        rec = recorded.get(out)
        if not rec or not rec.get("exists"):
            return False
        cur = file_record(out, workdir, digest=False)
        now_at, then_at = (cur.get("size"), cur.get("mtime_ns")), (rec.get("size"), rec.get("mtime_ns"))
        if rec.get("kind") == "file" and now_at != then_at:
            return False
    return True


def _run_step(step: Step, argv: list[str], ctx: _Context) -> dict[str, Any]:
    workdir = ctx.jobs_file.workdir
    record: dict[str, Any] = {
        "step": step.id, "command": step.command, "line": step.line, "argv": step.argv,
        "command_line": ["geouic", step.command, *argv], "parameters": step.options,
        "inputs": [ctx.known_inputs.get(p) or file_record(p, workdir) for p in dict.fromkeys(step.inputs)],
        "start": now(),
    }
    for out in step.outputs:  # as Snakemake does: the folders of outputs are made, the outputs not
        (workdir / out).parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    words = [ctx.rewrite.get((step.id, i), w) for i, w in enumerate(argv)]
    proc = ctx.children.start([*ctx.command, step.command, *words], workdir)
    try:
        stdout, stderr = proc.communicate()
    finally:
        ctx.children.done(proc)
    rc = proc.returncode
    record.update(end=now(), seconds=round(time.perf_counter() - t0, 3), returncode=rc, stdout=stdout.strip(),
                  stderr_tail=stderr.splitlines()[-20:],
                  outputs=[file_record(o, workdir) for o in dict.fromkeys(step.outputs)])
    if rc == 0:
        record["status"] = "ok"
    elif ctx.children.stop.is_set() or rc in (130, -signal.SIGINT):
        record.update(status="interrupted", error="interrupted")
    else:
        error = _error_line(stderr, rc)
        for (sid, i), local in ctx.rewrite.items():  # messages name the file as the jobs file does
            if sid == step.id:
                error = error.replace(local, argv[i])
        record.update(status="failed", error=error)
    return record


def _run_job(job: Job, ctx: _Context) -> JobResult:
    old_steps = (ctx.previous.get(job.name) or {}).get("steps") or []
    records: list[dict[str, Any]] = []
    start, t0 = now(), time.perf_counter()
    status, error, ran = "ok", "", False
    ctx.manifest.update_job(job.name, status="running", start=start)
    for i, step in enumerate(job.steps):
        old = old_steps[i] if i < len(old_steps) and old_steps[i].get("step") == step.id else None
        if old is not None and ctx.previous and step_is_done(old, step.argv, ctx.jobs_file.workdir,
                                                             known=ctx.known_inputs):
            records.append({**old, "resumed": True})
            continue
        if ctx.children.stop.is_set():
            status, error = "interrupted", "interrupted"
            break
        ran = True
        try:
            record = _run_step(step, _step_argv(step, ctx, old), ctx)
        except KeyboardInterrupt:
            status, error = "interrupted", "interrupted"
            break
        records.append(record)
        ctx.manifest.update_job(job.name, steps=records)
        if record["status"] != "ok":
            status = record["status"]
            error = record["error"] if status == "interrupted" else \
                f"step {step.id} (line {step.line}): {record['error']}"
            break
    for step in job.steps[len(records):]:  # the manifest lists every step, run or not
        records.append({"step": step.id, "command": step.command, "line": step.line, "argv": step.argv,
                        "status": "not run"})
    seconds = round(time.perf_counter() - t0, 3)
    outputs = [o for s in job.steps for o in s.outputs]
    ctx.manifest.update_job(job.name, status=status, start=start, end=now(), seconds=seconds, steps=records,
                            error=error or None, resumed=not ran and status == "ok", outputs=outputs)
    shown = "skipped" if status == "ok" and not ran else status
    return JobResult(job.name, shown, seconds, error, outputs)


def run_batch(jobs_file: JobsFile, *, jobs: int = 1, mem_limit: float | None = None, resume: bool = False,
              overwrite: bool = False, manifest: str | os.PathLike | None = None, command: list[str] | None = None,
              progress: Callable[[JobResult], None] | None = None, client: Any = None,
              retries: int = 2) -> BatchResult:
    """Run every job of a validated jobs file.

    Parameters
    ----------
    jobs_file : JobsFile
        From :func:`geouic.batch.load_jobs`.
    jobs : int, default 1
        Jobs run at once.
    mem_limit : float, optional
        Total working-memory budget in MB, shared out as ``--mem-limit`` of each concurrent
        job (to the steps that have the option and do not set it themselves).
    resume : bool, default False
        Skip the steps that the previous manifest records as done and that are unchanged.
    overwrite : bool, default False
        Pass ``--overwrite`` to every step that has it.
    manifest : path-like, optional
        The run manifest (default: the file's ``manifest:``, else ``<jobs file stem>.manifest.json``
        beside the jobs file).
    command : list of str, optional
        How to start geouic (default :func:`geouic_command`; with ``client``, found on each
        worker).
    progress : callable, optional
        Called with each :class:`JobResult` as its job ends.
    client : dask.distributed.Client, optional
        Run each job as one task on this Dask cluster (see :mod:`geouic.distributed.batch`)
        instead of ``jobs`` at once here; ``mem_limit`` is then each worker's budget, shared by
        its threads, and the manifest records the worker of each job.
    retries : int, default 2
        With ``client``: times a job task that raised is tried again (a lost worker's jobs are
        re-run by the scheduler in any case).

    Returns
    -------
    BatchResult
    """
    if jobs < 1:
        raise BatchFileError(f"--jobs {jobs} is invalid; run at least 1 job at once.")
    import geouic

    path = Path(manifest) if manifest else (
        jobs_file.manifest or jobs_file.path.with_name(f"{jobs_file.path.stem}.manifest.json"))
    extras: dict[str, str] = {}
    share = share_out(mem_limit, jobs) if client is None else None  # on Dask: shared out on each worker
    if share is not None:
        extras["mem-limit"] = f"{share:g}"
    if jobs > 1 and client is None:
        from geouic._threads import usable_cores

        extras["workers"] = str(max(1, usable_cores(limit=1024) // jobs))
    previous = {}
    if resume:
        old = Manifest.read(path) or {}
        previous = {j["name"]: j for j in old.get("jobs", []) if isinstance(j, dict) and "name" in j}
    header = {"geouic_version": geouic.__version__, "jobs_file": str(jobs_file.path),
              "jobs_file_sha256": sha256_file(jobs_file.path), "workdir": str(jobs_file.workdir),
              "options": {"jobs": jobs, "mem_limit": mem_limit, "resume": resume, "overwrite": overwrite},
              "python": sys.version.split()[0]}
    if client is not None:
        header["dask"] = {"scheduler": client.scheduler.address, "workers": len(client.nthreads()),
                          "threads": sum(client.nthreads().values()), "retries": retries}
    book = Manifest(path, header, [j.name for j in jobs_file.jobs])
    for job in jobs_file.jobs:
        book.data["jobs"][job.name].update(line=job.line, needs=job.needs)
    ctx = _Context(jobs_file, command or geouic_command(), book, previous, _Children(), extras, overwrite)
    if client is None:
        results = _schedule(jobs_file.jobs, ctx, jobs, progress)
    else:
        from geouic.distributed.batch import schedule_on_dask

        results = schedule_on_dask(jobs_file.jobs, ctx, client, progress, mem_limit=mem_limit, retries=retries,
                                   command=command)
    interrupted = ctx.children.stop.is_set()
    ordered = [results.get(j.name) or JobResult(j.name, "pending") for j in jobs_file.jobs]
    result = BatchResult(ordered, path, interrupted)
    book.finish("interrupted" if interrupted else ("ok" if result.ok else "failed"))
    return result


def ready_jobs(waiting: list[Job], results: dict[str, JobResult], ctx: _Context,
               finished: Callable[[JobResult], None], room: int) -> list[Job]:
    """Take from ``waiting`` up to ``room`` jobs whose needs succeeded; block those whose needs did not."""
    ready: list[Job] = []
    for job in list(waiting):
        states = [results[d].status if d in results else None for d in job.needs]
        if any(s not in (None, "ok", "skipped") for s in states):
            waiting.remove(job)
            bad = [d for d, s in zip(job.needs, states) if s not in (None, "ok", "skipped")]
            res = JobResult(job.name, "blocked", error=f"needs {', '.join(bad)}, which did not succeed")
            ctx.manifest.update_job(job.name, status="blocked", error=res.error)
            finished(res)
        elif None not in states and len(ready) < room:
            waiting.remove(job)
            ready.append(job)
    return ready


def _schedule(jobs: list[Job], ctx: _Context, n: int, progress) -> dict[str, JobResult]:
    results: dict[str, JobResult] = {}
    waiting = list(jobs)
    running: dict[cf.Future, Job] = {}

    def finished(res: JobResult) -> None:
        results[res.name] = res
        if progress:
            progress(res)

    with cf.ThreadPoolExecutor(max_workers=n, thread_name_prefix="geouic-batch") as pool:
        try:
            while waiting or running:
                for job in ready_jobs(waiting, results, ctx, finished, n - len(running)):
                    running[pool.submit(_run_job, job, ctx)] = job
                if not running:
                    continue
                done, _ = cf.wait(running, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    running.pop(fut)
                    finished(fut.result())
        except KeyboardInterrupt:
            ctx.children.signal_all(signal.SIGINT)
            deadline = time.monotonic() + 15
            for fut in list(running):
                try:
                    finished(fut.result(timeout=max(0.1, deadline - time.monotonic())))
                except (cf.TimeoutError, KeyboardInterrupt):
                    ctx.children.signal_all(signal.SIGKILL)
                    finished(fut.result())
            for job in waiting:
                ctx.manifest.update_job(job.name, status="pending", error="not started: the run was interrupted")
    return results
