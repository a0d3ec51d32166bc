"""geouic batch on a Dask cluster: outputs identical to the serial run, failures as locally, resume."""

from __future__ import annotations

import json
import textwrap

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
