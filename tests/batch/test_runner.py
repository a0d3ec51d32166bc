"""Running jobs files: failures isolated, manifest, resume, --jobs with a shared --mem-limit, Ctrl-C.

Most tests run a stand-in for the geouic executable (tests/batch/fake_geouic.py): a real
command takes seconds to start on a busy machine. ``test_real_commands`` runs the real CLI, and
tests/batch/test_done_when.py runs it on real scenes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geouic.batch import load_jobs, run_batch
from geouic.batch.runner import geouic_command
from geouic.cli import main
from tests.conftest import make_scene, quadrant_labels, write_raster

FAKE = [sys.executable, str(Path(__file__).with_name("fake_geouic.py"))]

JOBS = """
    vars: {out: out}
    defaults:
      classify: {method: kmeans, classes: 4}
    jobs:
      - foreach: [scenes/a.tif, scenes/b.tif, scenes/missing.tif]
        steps:
          - classify: {scene: "{path}", output: "{out}/{stem}_classes.tif", save-model: "{out}/{stem}.geouic"}
          - predict: {model: "{classify.save-model}", scene: "{path}", output: "{out}/{stem}_again.tif"}
"""


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "scenes").mkdir()
    labels = quadrant_labels(64)
    for seed, stem in enumerate("ab"):
        write_raster(tmp_path / "scenes" / f"{stem}.tif", make_scene(labels, seed=seed), nodata=0)
    (tmp_path / "jobs.yaml").write_text(textwrap.dedent(JOBS))
    return tmp_path


def run(workdir, command=FAKE, **kw):
    return run_batch(load_jobs(workdir / "jobs.yaml"), command=command, **kw)


def manifest(workdir):
    data = json.loads((workdir / "jobs.manifest.json").read_text())
    return data, {j["name"]: j for j in data["jobs"]}


def same_map(a, b):
    """Same pixels, profile, colours and tags (but the creation time)."""
    with rasterio.open(a) as x, rasterio.open(b) as y:
        tags_x, tags_y = x.tags(), y.tags()
        for t in (tags_x, tags_y):
            t.pop("GEOUIC_CREATED", None)
        return (np.array_equal(x.read(), y.read()) and tags_x == tags_y and x.profile == y.profile
                and x.colormap(1) == y.colormap(1))


def test_failing_job_is_reported_and_the_others_run(workdir):
    result = run(workdir)
    assert result.exit_code == 1
    assert [(j.name, j.status) for j in result.jobs] == [("a", "ok"), ("b", "ok"), ("missing", "failed")]
    data, jobs = manifest(workdir)
    assert data["status"] == "failed" and data["geouic_version"] and len(data["jobs_file_sha256"]) == 64
    assert "step classify (line 8): scenes/missing.tif: no such file" in jobs["missing"]["error"]
    assert [s["status"] for s in jobs["missing"]["steps"]] == ["failed", "not run"]
    step = jobs["a"]["steps"][0]
    assert step["inputs"][0]["path"] == "scenes/a.tif" and len(step["inputs"][0]["sha256"]) == 64
    assert step["parameters"]["classes"] == 4 and step["start"] <= step["end"]
    assert [o["path"] for o in step["outputs"]] == ["out/a_classes.tif", "out/a.geouic"]
    assert all(len(o["sha256"]) == 64 for o in step["outputs"])
    assert (workdir / "out" / "b_again.tif").read_text().startswith("predict out/b.geouic scenes/b.tif")


def test_resume_reruns_only_what_is_not_done(workdir):
    run(workdir)
    done = {p: p.stat().st_mtime_ns for p in (workdir / "out").iterdir()}
    shutil.copy(workdir / "scenes" / "a.tif", workdir / "scenes" / "missing.tif")
    (workdir / "scenes" / "missing.tif").rename(workdir / "scenes" / "found.tif")
    (workdir / "jobs.yaml").write_text((workdir / "jobs.yaml").read_text().replace("missing", "found"))
    result = run(workdir, resume=True)
    assert [(j.name, j.status) for j in result.jobs] == [("a", "skipped"), ("b", "skipped"), ("found", "ok")]
    assert {p: p.stat().st_mtime_ns for p in done} == done  # nothing already done was rewritten
    data, jobs = manifest(workdir)
    assert data["status"] == "ok" and data["options"]["resume"]
    assert jobs["a"]["resumed"] and all(s.get("resumed") for s in jobs["a"]["steps"] + jobs["b"]["steps"])
    assert not any(s.get("resumed") for s in jobs["found"]["steps"])
    # a changed input makes its steps run again (and only those); a deleted output too
    write_raster(workdir / "scenes" / "b.tif", make_scene(quadrant_labels(64), seed=7), nodata=0)
    (workdir / "out" / "a_again.tif").unlink()
    run(workdir, resume=True)
    _, jobs = manifest(workdir)
    assert [s.get("resumed", False) for s in jobs["a"]["steps"]] == [True, False]
    assert not any(s.get("resumed") for s in jobs["b"]["steps"]) and jobs["found"]["resumed"]
    assert "--overwrite" in jobs["b"]["steps"][0]["command_line"]  # its own earlier outputs


def test_existing_outputs_are_replaced_only_with_overwrite(workdir):
    run(workdir)
    result = run(workdir)  # a new run, not --resume: the commands refuse to replace outputs
    assert [j.status for j in result.jobs] == ["failed"] * 3 and "--overwrite" in result.jobs[0].error
    result = run(workdir, overwrite=True)
    _, jobs = manifest(workdir)
    assert [j.status for j in result.jobs] == ["ok", "ok", "failed"]
    assert "--overwrite" in jobs["a"]["steps"][0]["command_line"]


def test_jobs_at_once_share_the_memory_limit(workdir):
    run(workdir, jobs=2, mem_limit=40)
    _, jobs = manifest(workdir)
    step = jobs["a"]["steps"][0]
    line = step["command_line"]
    assert line[line.index("--mem-limit") + 1] == "20" and "--workers" in line
    assert "--mem-limit" not in step["argv"]  # the words of the file are kept apart
    result = CliRunner().invoke(main, ["batch", str(workdir / "jobs.yaml"), "--jobs", "4", "--mem-limit", "2"])
    assert result.exit_code == 2 and "0.50 MB per job" in result.output


def test_needs_wait_and_block(workdir):
    (workdir / "jobs.yaml").write_text(textwrap.dedent("""
        jobs:
          - name: model
            steps: [{train: {scenes: "scenes/[ab].tif", method: kmeans, classes: 4, save-model: region.geouic}}]
          - foreach: "scenes/[ab].tif"
            name: "predict-{stem}"
            needs: model
            steps: [{predict: {model: region.geouic, scene: "{path}", output: "out/{stem}.tif"}}]
          - name: broken
            steps: [{train: {scenes: scenes/missing.tif, method: kmeans, save-model: broken.geouic}}]
          - name: after-broken
            needs: broken
            steps: [{predict: {model: broken.geouic, scene: scenes/a.tif, output: out/x.tif}}]
    """))
    result = run(workdir, jobs=3)
    assert [j.status for j in result.jobs] == ["ok", "ok", "ok", "failed", "blocked"]
    _, jobs = manifest(workdir)
    assert jobs["predict-a"]["start"] >= jobs["model"]["end"]
    assert "needs broken" in jobs["after-broken"]["error"]
    assert (workdir / "region.geouic").read_text().startswith("train scenes/a.tif scenes/b.tif")


DRIVER = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)  # pytest's process may hand down SIGINT ignored
from geouic.batch import load_jobs, run_batch
result = run_batch(load_jobs(sys.argv[1]), jobs=2, command=[sys.executable, sys.argv[2]])
sys.exit(result.exit_code)
"""


def test_ctrl_c_stops_cleanly_and_resume_carries_on(workdir):
    (workdir / "driver.py").write_text(DRIVER)
    env = dict(os.environ, FAKE_SLEEP="60")
    proc = subprocess.Popen([sys.executable, "driver.py", "jobs.yaml", FAKE[1]], cwd=workdir, env=env)
    path = workdir / "jobs.manifest.json"
    for _ in range(300):
        if path.exists() and [j["status"] for j in json.loads(path.read_text())["jobs"]][:2] == ["running"] * 2:
            break
        time.sleep(0.1)
    time.sleep(1.0)  # the children have started
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    data, jobs = manifest(workdir)
    assert data["status"] == "interrupted"
    assert jobs["a"]["status"] == "interrupted" and jobs["b"]["status"] == "interrupted"
    assert jobs["missing"]["status"] == "pending"
    assert not (workdir / "out" / "a_classes.tif").exists()
    result = run(workdir, resume=True)  # a later --resume carries on
    assert [j.status for j in result.jobs] == ["ok", "ok", "failed"]


def test_real_commands(workdir):
    """Through `geouic batch` and the real executable: identical to the command run by hand."""
    (workdir / "jobs.yaml").write_text(textwrap.dedent(JOBS).replace("scenes/a.tif, ", ""))
    result = CliRunner().invoke(main, ["batch", str(workdir / "jobs.yaml")])
    assert result.exit_code == 1, result.output
    assert "scenes/missing.tif: no such file" in result.output
    assert "2 job(s): 1 ok, 1 failed; manifest ->" in result.output
    hand = ["classify", "scenes/b.tif", "--method", "kmeans", "--classes", "4", "-o", "hand.tif"]
    subprocess.run([*geouic_command(), *hand], cwd=workdir, check=True, capture_output=True)
    assert same_map(workdir / "hand.tif", workdir / "out" / "b_classes.tif")
    assert same_map(workdir / "out" / "b_classes.tif", workdir / "out" / "b_again.tif")
