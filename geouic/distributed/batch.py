"""Batch jobs on a Dask cluster: each job is one task, run on a worker as the local runner runs it.

The client keeps what the local runner keeps (the jobs file, ``needs`` between jobs, the
manifest, the summary); each job whose needs have succeeded becomes one task
(``client.submit(..., retries=N, pure=False)``). On the worker the task runs the job's steps
exactly as :func:`geouic.batch.run_batch` does here: each step is the ``geouic`` executable in
a child process (memory returned when it ends, signals isolated), in the jobs file's workdir,
with the same resume check, error line and step records. So scenes, references and outputs
must be paths (or GDAL URLs) the workers reach: a shared filesystem, or ``/vsis3/``-style URLs.

Model and schema files (``model``, ``mapping``, ``schema`` of the steps, when they exist on the
client as the job is submitted) are read on the client and sent as bytes; the worker writes
them to a temporary folder under its local directory and runs the step on that copy (the
manifest and messages name them as the jobs file does; their input records are the client's,
sha256 included). A file an earlier step of the same job writes is used in place.

Faults: a worker lost mid-job (killed, out of memory) has its task re-run by the scheduler on
another worker; its running step is stopped with it (the child gets SIGTERM when the worker
dies, on Linux, and removes its temporary files), and the rerun skips the steps the lost attempt
finished, as ``--resume`` would (their records are kept on the scheduler as each step ends). A
job that fails is reported as in the local batch; the task itself succeeds, so ``retries`` only
re-runs tasks that raised (a worker-side bug or a file that could not be staged).
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geouic.batch.expand import Job, JobsFile, Step
from geouic.batch.manifest import file_record, now
from geouic.batch.runner import JobResult, _Children, _Context, _run_job, geouic_command, ready_jobs

__all__ = ["FlagTable", "SENT_PARAMS", "run_job_task", "schedule_on_dask"]

#: Options (click parameter names) whose files are read on the client and sent as bytes.
SENT_PARAMS = frozenset({"model", "mapping", "schema"})
#: Larger files are not sent (the workers must reach them): model and schema files are small.
MAX_SENT_BYTES = 256 * 2**20
#: Keys of the options the runner may add to a step (mem-limit, workers, overwrite).
_ADDED = ("mem-limit", "workers", "overwrite")


@dataclasses.dataclass(frozen=True)
class _Flag:
    flag: str


@dataclasses.dataclass(frozen=True)
class FlagTable:
    """The flags the runner may add to a step: a small, picklable stand-in for its StepSpec."""

    command: str
    flags: dict[str, str]

    def lookup(self, key: str) -> _Flag | None:
        """The flag of option ``key`` (``mem-limit``, ``workers``, ``overwrite``), or None."""
        flag = self.flags.get(key)
        return _Flag(flag) if flag else None


def _portable(step: Step) -> Step:
    flags = {k: p.flag for k in _ADDED if (p := step.spec.lookup(k)) is not None}
    return dataclasses.replace(step, spec=FlagTable(step.command, flags))  # type: ignore[arg-type]


def _sent_files(job: Job, workdir: Path) -> tuple[dict[str, bytes], dict[tuple[str, int], str],
                                                   dict[str, dict[str, Any]]]:
    """What to send with ``job``: file bytes by path, argv positions naming them, their records."""
    files: dict[str, bytes] = {}
    where: dict[tuple[str, int], str] = {}
    records: dict[str, dict[str, Any]] = {}
    written: set[str] = set()
    for step in job.steps:
        for param in step.spec.params:
            if param.name not in SENT_PARAMS:
                continue
            for i, word in enumerate(step.argv):
                if word in written or not (param.argument or (i and step.argv[i - 1] == param.flag)):
                    continue
                if param.argument and not _is_argument_value(step, param, i):
                    continue
                full = workdir / word
                if word not in files:
                    try:
                        if not full.is_file() or full.stat().st_size > MAX_SENT_BYTES:
                            continue
                        files[word] = full.read_bytes()
                    except OSError:
                        continue
                    records[word] = file_record(word, workdir)
                where[(step.id, i)] = word
        written.update(step.outputs)
    return files, where, records


def _is_argument_value(step: Step, param: Any, index: int) -> bool:
    """True when ``step.argv[index]`` is the value of the positional argument ``param``."""
    value = step.options.get(param.key)
    values = value if isinstance(value, list) else [value]
    return step.argv[index] in {str(v) for v in values if v is not None}


def _stage(files: dict[str, bytes], where: dict[tuple[str, int], str], folder: Path) -> dict[tuple[str, int], str]:
    """Write the sent files under ``folder`` (one subfolder each, the file's own name kept)."""
    local: dict[str, str] = {}
    for n, (word, data) in enumerate(files.items()):
        target = folder / str(n) / Path(word).name
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
        local[word] = str(target)
    return {pos: local[word] for pos, word in where.items() if word in local}


class _Recorder:
    """The manifest of a job on a worker: the fields the client will write.

    The records of finished steps are also kept on the scheduler (a published dataset), so that
    a rerun after a lost worker resumes after them.
    """

    def __init__(self, client: Any, key: str) -> None:
        self.fields: dict[str, Any] = {}
        self._client = client
        self._key = key
        self._lock = threading.Lock()

    def update_job(self, name: str, **fields: Any) -> None:
        with self._lock:
            self.fields.update(fields)
            if "steps" in fields:
                done = [r for r in fields["steps"] if r.get("status") == "ok" and not r.get("resumed")]
                try:
                    self._client.publish_dataset(override=True, **{self._key: {"name": name, "steps": done}})
                except Exception:  # the scheduler is busy or gone: a rerun then runs everything again
                    pass


def _worker_share(mem_limit: float | None) -> tuple[dict[str, str], str]:
    """``--mem-limit`` and ``--workers`` of a step on this worker, and the worker's address."""
    from dask.distributed import get_worker

    from geouic._threads import usable_cores

    worker = get_worker()
    nthreads = max(1, int(worker.state.nthreads))
    extras = {"workers": str(max(1, usable_cores(limit=1024) // nthreads))}
    if mem_limit is not None:
        extras["mem-limit"] = f"{max(1.0, float(mem_limit) / nthreads):g}"
    return extras, str(worker.address)


def _watch_stop(event: Any, children: _Children, done: threading.Event) -> None:
    """Forward the client's Ctrl-C (a Dask Event) to the job's running step."""
    import signal

    while not done.is_set():
        try:
            if event.wait(timeout=1):
                children.signal_all(signal.SIGINT)
                return
        except Exception:
            time.sleep(1)


def run_job_task(job: Job, workdir: str, jobs_path: str, previous: dict[str, Any] | None,
                 files: dict[str, bytes], where: dict[tuple[str, int], str], known: dict[str, dict[str, Any]],
                 mem_limit: float | None, overwrite: bool, run_id: str,
                 command: list[str] | None = None) -> dict[str, Any]:
    """Run one job on a Dask worker, as :func:`geouic.batch.run_batch` runs it locally.

    Returns
    -------
    dict
        ``result`` (the :class:`JobResult`), ``fields`` (the job's manifest entry), ``worker``
        (its address) and ``host``.
    """
    from dask.distributed import Event, get_client, get_worker

    extras, address = _worker_share(mem_limit)
    client = get_client()
    key = f"geouic-{run_id}-{job.name}"
    earlier = dict(previous or {})
    try:  # a lost attempt of this job finished these steps: resume after them
        lost = client.get_dataset(key, default=None)
    except Exception:
        lost = None
    if lost and lost.get("steps"):
        earlier = {"name": job.name, "steps": _merge_steps(job, earlier.get("steps") or [], lost["steps"])}
    folder = Path(tempfile.mkdtemp(prefix="geouic-batch-", dir=str(get_worker().local_directory)))
    children = _Children(die_with_parent=True)
    done = threading.Event()
    stop = Event(f"geouic-{run_id}-stop")
    if stop.is_set():  # the client was interrupted before this job reached a worker: start nothing
        children.stop.set()
    watcher = threading.Thread(target=_watch_stop, args=(stop, children, done), daemon=True)
    try:
        rewrite = _stage(files, where, folder)
        recorder = _Recorder(client, key)
        ctx = _Context(JobsFile(Path(jobs_path), Path(workdir), []), command or geouic_command(), recorder,  # type: ignore[arg-type]
                       {job.name: earlier} if earlier.get("steps") else {}, children, extras, overwrite,
                       rewrite, known)
        watcher.start()
        result = _run_job(job, ctx)
    finally:
        done.set()
        shutil.rmtree(folder, ignore_errors=True)
    return {"result": result, "fields": recorder.fields, "worker": address, "host": socket.gethostname()}


def _merge_steps(job: Job, old: list[dict[str, Any]], lost: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per step of ``job``, the record a lost attempt left, else the earlier manifest's."""
    by_id = {r.get("step"): r for r in lost}
    merged = []
    for i, step in enumerate(job.steps):
        rec = by_id.get(step.id) or (old[i] if i < len(old) else None)
        merged.append(rec or {"step": step.id, "status": "not run"})
    return merged


def schedule_on_dask(jobs: list[Job], ctx: _Context, client: Any, progress: Callable[[JobResult], None] | None,
                     *, mem_limit: float | None, retries: int,
                     command: list[str] | None = None) -> dict[str, JobResult]:
    """Submit each job whose needs succeeded as one task; record results as tasks finish.

    ``command`` starts geouic on the workers (default: :func:`geouic_command` there).
    Ctrl-C sets a Dask Event that every running job watches (its step gets SIGINT, as locally),
    waits up to 15 s for them, cancels the queued tasks and marks them pending.
    """
    from dask.distributed import Event, as_completed

    run_id = uuid.uuid4().hex[:12]
    stop = Event(f"geouic-{run_id}-stop", client=client)
    results: dict[str, JobResult] = {}
    waiting = list(jobs)
    running: dict[str, Job] = {}
    workdir = ctx.jobs_file.workdir

    def finished(res: JobResult) -> None:
        results[res.name] = res
        if progress:
            progress(res)

    def submit(job: Job) -> Any:
        files, where, known = _sent_files(job, workdir)
        portable = dataclasses.replace(job, steps=[_portable(s) for s in job.steps])
        ctx.manifest.update_job(job.name, status="submitted", submitted=now())
        future = client.submit(run_job_task, portable, str(workdir), str(ctx.jobs_file.path),
                               ctx.previous.get(job.name), files, where, known, mem_limit, ctx.overwrite, run_id,
                               command, retries=retries, pure=False,
                               key=f"geouic-job-{job.name}-{uuid.uuid4().hex[:8]}")
        running[future.key] = job
        return future

    pending = as_completed([], loop=client.loop)
    try:
        while True:
            for job in ready_jobs(waiting, results, ctx, finished, len(waiting)):
                pending.add(submit(job))
            if not running:  # nothing left, or only jobs that wait on jobs that can no longer succeed
                break
            future = next(pending)
            _collect(future, running.pop(future.key), ctx, finished)
    except KeyboardInterrupt:
        ctx.children.stop.set()
        _interrupt(client, stop, running, ctx, finished)
        for job in waiting:
            ctx.manifest.update_job(job.name, status="pending", error="not started: the run was interrupted")
    finally:
        _forget(client, run_id)
    return results


def _interrupt(client: Any, stop: Any, running: dict[str, Job], ctx: _Context,
               finished: Callable[[JobResult], None]) -> None:
    """Ctrl-C: queued jobs are cancelled (``pending``); running ones are told to stop and waited for."""
    from dask.distributed import Future

    stop.set()
    try:
        started = {key for keys in client.processing().values() for key in keys}
    except Exception:  # the scheduler is gone: treat every job as started
        started = set(running)
    deadline = time.monotonic() + 15
    for key, job in list(running.items()):
        future: Any = Future(key, client)
        if key not in started and not future.done():
            future.cancel()
            ctx.manifest.update_job(job.name, status="pending", error="not started: the run was interrupted")
            finished(JobResult(job.name, "pending", error="not started: the run was interrupted"))
            continue
        try:
            future.result(timeout=max(0.1, deadline - time.monotonic()))
            _collect(future, job, ctx, finished)
        except BaseException:
            future.cancel()
            ctx.manifest.update_job(job.name, status="interrupted", error="interrupted")
            finished(JobResult(job.name, "interrupted", error="interrupted"))
    running.clear()


def _forget(client: Any, run_id: str) -> None:
    """Drop the step records the jobs of this run kept on the scheduler."""
    try:
        for name in client.list_datasets():
            if str(name).startswith(f"geouic-{run_id}-"):
                client.unpublish_dataset(name)
    except Exception:  # the scheduler is gone: nothing is left to drop
        pass


def _collect(future: Any, job: Job, ctx: _Context, finished: Callable[[JobResult], None]) -> None:
    """Record a finished job task (a task that raised is a failed job, named with its error)."""
    try:
        out = future.result()
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        error = f"the Dask task of this job failed: {type(exc).__name__}: {message}"
        ctx.manifest.update_job(job.name, status="failed", error=error, end=now())
        finished(JobResult(job.name, "failed", error=error))
        return
    future.release()
    res: JobResult = out["result"]
    fields = out["fields"]
    steps = fields.get("steps") or []
    if res.status == "interrupted" and all(r.get("status") == "not run" or r.get("resumed") for r in steps):
        # it reached a worker after Ctrl-C and ran nothing: not started, as locally
        res = dataclasses.replace(res, status="pending", error="not started: the run was interrupted")
        fields = {**fields, "status": "pending", "error": res.error}
    ctx.manifest.update_job(job.name, **fields, worker=out["worker"], host=out["host"])
    finished(res)

