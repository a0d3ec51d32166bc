"""geouic batch on a Dask cluster: outputs identical to the serial run, failures as locally, resume."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from geouic.batch import load_jobs, run_batch
from geouic.batch.manifest import sha256_file
from geouic.cli import main
from geouic.distributed.batch import _sent_files, _stage
from tests.distributed.conftest import pixels_sha256, scene

JOBS = """
    vars: {out: out}
    defaults:
      classify: {method: kmeans, classes: 4, seed: 0}
    jobs:
      - foreach: [scenes/a.tif, scenes/b.tif, scenes/missing.tif]
        steps:
          - classify: {scene: "{path}", output: "{out}/{stem}_classes.tif", save-model: "{out}/{stem}.geouic"}
          - predict: {model: "{classify.save-model}", scene: "{path}", output: "{out}/{stem}_again.tif"}
      - name: cross
        needs: a
        steps:
          - predict: {model: out/a.geouic, scene: scenes/b.tif, output: "{out}/b_by_a.tif", confidence: "{out}/b_conf.tif"}
"""
RASTERS = ["a_classes.tif", "a_again.tif", "b_classes.tif", "b_again.tif", "b_by_a.tif", "b_conf.tif"]


def workdir(root):
    (root / "scenes").mkdir(parents=True)
    for seed, stem in enumerate("ab"):
        scene(root / "scenes" / f"{stem}.tif", size=64, seed=seed)
    (root / "jobs.yaml").write_text(textwrap.dedent(JOBS))
    return root


def manifest(root):
    data = json.loads((root / "jobs.manifest.json").read_text())
    return data, {j["name"]: j for j in data["jobs"]}


def test_local_cluster_equals_serial(cluster, tmp_path):
    serial, dask = workdir(tmp_path / "serial"), workdir(tmp_path / "dask")
    one = run_batch(load_jobs(serial / "jobs.yaml"))
    two = run_batch(load_jobs(dask / "jobs.yaml"), client=cluster.client)
    assert [(j.name, j.status) for j in two.jobs] == [(j.name, j.status) for j in one.jobs] == \
        [("a", "ok"), ("b", "ok"), ("missing", "failed"), ("cross", "ok")]
    assert two.exit_code == one.exit_code == 1
    for name in RASTERS:
        assert pixels_sha256(dask / "out" / name) == pixels_sha256(serial / "out" / name), name
    for name in ["a.geouic", "b.geouic"]:
        assert sha256_file(dask / "out" / name) == sha256_file(serial / "out" / name)
    data, jobs = manifest(dask)
    _, serial_jobs = manifest(serial)
    assert data["dask"]["scheduler"] == cluster.address and data["dask"]["workers"] == 2
    workers = set(cluster.client.nthreads())
    assert all(jobs[n]["worker"] in workers for n in ("a", "b", "missing", "cross"))
    assert jobs["missing"]["error"] == serial_jobs["missing"]["error"]
    assert "scenes/missing.tif" in jobs["missing"]["error"]
    cross = jobs["cross"]["steps"][0]
    assert cross["command_line"][:3] == ["geouic", "predict", "out/a.geouic"]  # named as in the file
    model_input = next(i for i in cross["inputs"] if i["path"] == "out/a.geouic")
    assert model_input["sha256"] == sha256_file(dask / "out" / "a.geouic")

    before = {p: p.stat().st_mtime_ns for p in (dask / "out").iterdir()}
    again = run_batch(load_jobs(dask / "jobs.yaml"), client=cluster.client, resume=True)
    assert [(j.name, j.status) for j in again.jobs] == \
        [("a", "skipped"), ("b", "skipped"), ("missing", "failed"), ("cross", "skipped")]
    assert {p: p.stat().st_mtime_ns for p in (dask / "out").iterdir()} == before


def test_sent_files(tmp_path):
    """Models and mapping files that exist when the job is submitted travel as bytes; outputs of
    the job's own earlier steps do not."""
    root = workdir(tmp_path)
    (root / "out").mkdir()
    (root / "out" / "a.geouic").write_bytes(b"model bytes")
    jobs = {j.name: j for j in load_jobs(root / "jobs.yaml").jobs}
    files, where, records = _sent_files(jobs["cross"], root)
    assert files == {"out/a.geouic": b"model bytes"}
    assert list(where.values()) == ["out/a.geouic"]
    assert records["out/a.geouic"]["sha256"] == sha256_file(root / "out" / "a.geouic")
    step_id, index = next(iter(where))
    assert jobs["cross"].steps[0].argv[index] == "out/a.geouic"
    local = _stage(files, where, tmp_path / "stage")
    assert open(local[(step_id, index)], "rb").read() == b"model bytes"
    files, where, _ = _sent_files(jobs["a"], root)  # a.geouic is written by the job's classify step
    assert files == {} and where == {}


def test_cli_local_cluster(tmp_path):
    root = workdir(tmp_path)
    result = CliRunner().invoke(main, ["batch", str(root / "jobs.yaml"), "--dask", "local:2", "--mem-limit", "128"])
    assert result.exit_code == 1, result.output
    assert "on Dask (local:2)" in result.output and "Dask: 2 worker(s)" in result.output
    assert "3 ok, 1 failed" in result.output
    _, jobs = manifest(root)
    words = jobs["a"]["steps"][0]["command_line"]
    assert words[words.index("--mem-limit") + 1] == "128"  # each worker's budget, one thread each


@pytest.mark.parametrize("address", ["nonsense://x"])
def test_cli_bad_address(tmp_path, address):
    root = workdir(tmp_path)
    result = CliRunner().invoke(main, ["batch", str(root / "jobs.yaml"), "--dask", address])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith(f"Error: --dask {address} is not a Dask scheduler")
    assert not (root / "out").exists()


FAKE = Path(__file__).resolve().parents[1] / "batch" / "fake_geouic.py"
CTRL_C = """
import sys
from geouic.batch import load_jobs, run_batch
from geouic.distributed import connect
with connect(sys.argv[1]) as cluster:
    command = ["env", "FAKE_SLEEP=60", sys.executable, sys.argv[3]]
    result = run_batch(load_jobs(sys.argv[2]), client=cluster.client, command=command)
print(result.counts(), flush=True)
sys.exit(result.exit_code)
"""


def test_ctrl_c_reaches_the_steps_on_the_workers(cluster, tmp_path):
    """SIGINT to the client: the running steps on the workers get SIGINT (the stand-in geouic exits
    130 at once instead of sleeping 60 s), the jobs are recorded interrupted, exit code 130."""
    root = workdir(tmp_path)
    (root / "jobs.yaml").write_text(textwrap.dedent("""
        jobs:
          - foreach: [scenes/a.tif, scenes/b.tif, scenes/c.tif]
            steps: [{classify: {scene: "{path}", classes: 4, output: "out/{stem}.tif"}}]
    """))
    client = cluster.client
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C, cluster.address, str(root / "jobs.yaml"), str(FAKE)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while sum(len(k) for k in client.processing().values()) < 2:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        time.sleep(2)  # the steps have started on both workers
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        waited = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert waited < 30  # the 60 s steps were stopped
    data, jobs = manifest(root)
    assert data["status"] == "interrupted"
    states = sorted(j["status"] for j in jobs.values())
    assert states == ["interrupted", "interrupted", "pending"], states
    assert not (root / "out").exists() or not list((root / "out").iterdir())


def test_cli_jobs_with_dask_is_refused(tmp_path):
    root = workdir(tmp_path)
    result = CliRunner().invoke(main, ["batch", str(root / "jobs.yaml"), "--dask", "local:2", "--jobs", "3"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("Error: --jobs 3 sets how many jobs run at once")
    assert not (root / "out").exists()
