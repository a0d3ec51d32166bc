"""Issue 12's measure: a jobs file over three scenes (two real, one missing) through `geouic batch`.

Two jobs succeed with outputs identical to the same commands run by hand, the third is reported,
the exit code is non-zero and the manifest complete; `--resume` rewrites nothing done and runs
only the failed job (checked through file times and the manifest's step records; the seconds it
spent are in the manifest and in benchmarks/BATCH.md, never asserted).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap

import numpy as np
import pytest
import rasterio

from geouic.batch.runner import geouic_command
from tests.conftest import shared_data

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

JOBS = """
    vars: {out: out}
    defaults:
      classify: {method: kmeans, classes: 6}
    jobs:
      - foreach: [AMAZON, PERU, MISSING]
        name: "{folder}"
        steps:
          - classify: {scene: "{path}", output: "{out}/{folder}_classes.tif", save-model: "{out}/{folder}.geouic"}
          - predict: {model: "{classify.save-model}", scene: "{path}", output: "{out}/{folder}_predicted.tif"}
"""


def geouic(*args, cwd):
    return subprocess.run([*geouic_command(), *map(str, args)], cwd=cwd, capture_output=True, text=True)


def same_map(a, b):
    with rasterio.open(a) as x, rasterio.open(b) as y:
        tx, ty = x.tags(), y.tags()
        tx.pop("GEOUIC_CREATED"), ty.pop("GEOUIC_CREATED")
        return np.array_equal(x.read(), y.read()) and tx == ty and x.profile == y.profile


def test_three_scenes_two_real_one_missing(tmp_path):
    amazon = shared_data("landsat5_amazon", "image.tif")
    peru = shared_data("landsat8_peru", "image.tif")
    missing = tmp_path / "landsat_missing" / "image.tif"
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(textwrap.dedent(JOBS).replace("AMAZON", str(amazon)).replace("PERU", str(peru))
                    .replace("MISSING", str(missing)))

    first = geouic("batch", jobs, cwd=tmp_path)
    assert first.returncode == 1, first.stderr
    assert f"{missing}: no such file" in first.stdout
    manifest = json.loads((tmp_path / "jobs.manifest.json").read_text())
    jobs_ = {j["name"]: j for j in manifest["jobs"]}
    assert manifest["status"] == "failed" and list(jobs_) == ["landsat5_amazon", "landsat8_peru", "landsat_missing"]
    assert [j["status"] for j in jobs_.values()] == ["ok", "ok", "failed"]
    assert all(s["status"] == "ok" and s["inputs"][0]["sha256"] for j in list(jobs_.values())[:2] for s in j["steps"])

    # the same commands by hand, in the same folder: identical outputs
    for scene, folder in ((amazon, "landsat5_amazon"), (peru, "landsat8_peru")):
        hand = geouic("classify", scene, "--method", "kmeans", "--classes", 6, "--output", f"{folder}_hand.tif",
                      "--save-model", f"{folder}_hand.geouic", cwd=tmp_path)
        assert hand.returncode == 0, hand.stderr
        assert same_map(tmp_path / f"{folder}_hand.tif", tmp_path / "out" / f"{folder}_classes.tif")
        hand = geouic("predict", f"{folder}_hand.geouic", scene, "-o", f"{folder}_hand_predicted.tif", cwd=tmp_path)
        assert hand.returncode == 0, hand.stderr
        assert same_map(tmp_path / f"{folder}_hand_predicted.tif", tmp_path / "out" / f"{folder}_predicted.tif")

    done = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*")}
    again = geouic("batch", jobs, "--resume", cwd=tmp_path)
    assert again.returncode == 1
    assert {p: p.stat().st_mtime_ns for p in done} == done
    resumed = {j["name"]: j for j in json.loads((tmp_path / "jobs.manifest.json").read_text())["jobs"]}
    assert all(s.get("resumed") for n in ("landsat5_amazon", "landsat8_peru") for s in resumed[n]["steps"])
    assert resumed["landsat_missing"]["steps"][0]["status"] == "failed"

    missing.parent.mkdir()
    shutil.copy(peru, missing)
    last = geouic("batch", jobs, "--resume", cwd=tmp_path)
    assert last.returncode == 0, last.stdout + last.stderr
    assert {p: p.stat().st_mtime_ns for p in done} == done
    with rasterio.open(tmp_path / "out" / "landsat_missing_classes.tif") as a, \
            rasterio.open(tmp_path / "out" / "landsat8_peru_classes.tif") as b:
        assert np.array_equal(a.read(), b.read())
