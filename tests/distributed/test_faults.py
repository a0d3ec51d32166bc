"""A real `dask scheduler` and two `dask worker` processes on 127.0.0.1; one is SIGKILLed mid-run.

The processes are started by the fixture and always stopped afterwards. Workers run without a
nanny (``--no-nanny``), so a killed worker stays dead: its tasks must be re-run on the other.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from geouic.batch import load_jobs, run_batch
from geouic.distributed import apply_engine_dask, connect
from geouic.model import load_model
from geouic.pipeline import apply_engine, prediction_windows
from geouic.raster import open_raster
from tests.distributed.conftest import fit_model, pixels_sha256, scene

DASK = [sys.executable, "-m", "dask"]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def tcp_cluster(tmp_path):
    """(address, {pid: Popen}) of a scheduler and two one-thread workers started here; stopped after."""
    logs = tmp_path / "logs"
    logs.mkdir()
    procs: list[subprocess.Popen] = []
    file = tmp_path / "scheduler.json"

    def start(args, name):
        out = open(logs / f"{name}.log", "w")
        procs.append(subprocess.Popen([*DASK, *args], stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path))
        out.close()
        return procs[-1]

    try:
        start(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
               str(file)], "scheduler")
        _wait_for(lambda: file.exists() and file.stat().st_size > 0, 120, "the scheduler file")
        address = json.loads(file.read_text())["address"]
        workers = {}
        for i in range(2):
            (tmp_path / f"w{i}").mkdir()
            p = start(["worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{i}",
                       "--memory-limit", "0", "--local-directory", str(tmp_path / f"w{i}")], f"worker{i}")
            workers[p.pid] = p
        yield address, workers
    finally:
        for p in reversed(procs):  # workers first, then the scheduler
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # what Ctrl-C does: dask closes at once
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _kill_busy_worker(client, workers) -> str:
    """SIGKILL a worker that is processing a task now; its address."""
    pids = client.run(os.getpid)  # worker address -> its process id
    busy = [a for a, keys in client.processing().items() if keys and a in pids]
    address = (busy or sorted(pids))[0]
    pid = pids[address]
    os.kill(pid, signal.SIGKILL)
    workers[pid].wait(timeout=20)
    return address


def test_predict_survives_a_killed_worker(tcp_cluster, tmp_path):
    address, workers = tcp_cluster
    path = scene(tmp_path / "scene.tif", size=256)
    model = fit_model(path, tmp_path / "model.geouic")
    engine = load_model(model)
    with open_raster(path) as src:
        local = apply_engine(src, engine, tmp_path / "local.tif", mem_limit_mb=1, workers=2,
                             extras={"confidence": tmp_path / "local_conf.tif"})
    killed: list[str] = []
    done = [0]
    with connect(address, timeout=60) as cluster:
        cluster.wait_for_workers(2, timeout=120)

        def progress(advance, total):
            done[0] += advance
            if not killed and done[0] >= total // 2:  # halfway through the windows
                killed.append(_kill_busy_worker(cluster.client, workers))

        with open_raster(path) as src:
            total = len(prediction_windows(src, engine, 1, 2))
            dask = apply_engine_dask(cluster.client, src, engine, tmp_path / "dask.tif", model=model,
                                     mem_limit_mb=1, workers=2, task_pixels=1024, in_flight=4, progress=progress,
                                     extras={"confidence": tmp_path / "dask_conf.tif"})
        assert killed and killed[0] not in cluster.client.nthreads()  # the scheduler lost that worker
        assert len(cluster.client.nthreads()) == 1
    assert done[0] == total  # every window written once
    assert pixels_sha256(dask.path) == pixels_sha256(local.path)
    assert pixels_sha256(dask.extras["confidence"]) == pixels_sha256(local.extras["confidence"])
    assert (dask.counts == local.counts).all()


JOBS = """
    jobs:
      - name: long
        steps:
          - classify: {scene: scene.tif, method: kmeans, classes: 4, seed: 0, output: out/first.tif,
                       save-model: out/model.geouic}
          - predict: {model: out/model.geouic, scene: scene.tif, output: out/second.tif}
"""


def test_batch_job_resumes_on_another_worker(tcp_cluster, tmp_path):
    """A worker killed during a job's second step: the job is re-run on the other worker, after
    the step the lost attempt finished, and the outputs equal the serial run's."""
    address, workers = tcp_cluster
    for root in (tmp_path / "serial", tmp_path / "dask"):
        root.mkdir()
        scene(root / "scene.tif", size=64)
        (root / "jobs.yaml").write_text(textwrap.dedent(JOBS))
    serial = run_batch(load_jobs(tmp_path / "serial" / "jobs.yaml"))
    assert serial.exit_code == 0
    with connect(address, timeout=60) as cluster:
        cluster.wait_for_workers(2, timeout=120)
        client = cluster.client
        box: dict = {}
        runner = threading.Thread(target=lambda: box.update(
            result=run_batch(load_jobs(tmp_path / "dask" / "jobs.yaml"), client=client)))
        runner.start()
        try:
            _wait_for(lambda: any(str(n).endswith("-long") for n in client.list_datasets()), 180,
                      "the first step to finish")
            killed = _kill_busy_worker(client, workers)
        finally:
            runner.join(timeout=300)
        result = box["result"]
    assert [(j.name, j.status) for j in result.jobs] == [("long", "ok")]
    data = json.loads((tmp_path / "dask" / "jobs.manifest.json").read_text())
    job = data["jobs"][0]
    assert job["worker"] != killed
    assert job["steps"][0].get("resumed") is True and "resumed" not in job["steps"][1]
    for name in ("first.tif", "second.tif"):
        assert pixels_sha256(tmp_path / "dask" / "out" / name) == pixels_sha256(tmp_path / "serial" / "out" / name)
    assert not list((tmp_path / "dask" / "out").glob(".*.tmp*"))  # the killed step left no temporary file
