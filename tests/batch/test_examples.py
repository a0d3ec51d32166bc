"""Every script of examples/ runs as it is, on the sample scene, in a copy of the project tree.

(examples/pyqgis_batch.py needs QGIS: it runs in tests/qgis/.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tree(tmp_path):
    """examples/ and data_samples/ copied, so that out/ lands in tmp_path."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "data_samples", tmp_path / "data_samples")
    return tmp_path


def env():
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def sh(*args, cwd):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env(), capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_every_example_script_is_tested():
    scripts = {p.name for p in (ROOT / "examples").iterdir() if p.suffix in (".sh", ".py", ".yaml")}
    tested = {"quickstart.sh", "batch_folder.sh", "jobs.yaml", "pyqgis_batch.py", "notebook.py",  # tests/test_api_notebook.py
              "sample_schema.yaml", "amazon_schema.yaml"}  # schemas: used by the scripts and tests/test_schema.py
    assert scripts <= tested, f"untested examples: {scripts - tested}"


def test_quickstart(tree):
    out = sh("bash", "examples/quickstart.sh", "--method", "kmeans", cwd=tree).stdout
    assert "Done: out/landcover.tif" in out
    report = json.loads((tree / "out" / "report" / "report.json").read_text())
    assert report["overall_accuracy"] > 0.8


def test_jobs_file_runs_as_it_is(tree):
    geouic = shutil.which("geouic", path=env()["PATH"])
    result = sh(geouic, "batch", tree / "examples" / "jobs.yaml", cwd=tree / "examples")
    assert "3 job(s): 3 ok" in result.stdout
    manifest = json.loads((tree / "out" / "batch" / "jobs.manifest.json").read_text())
    assert [j["status"] for j in manifest["jobs"]] == ["ok"] * 3
    report = json.loads((tree / "out" / "batch" / "scene_report" / "report.json").read_text())
    assert report["overall_accuracy"] > 0.8
    with rasterio.open(tree / "out" / "batch" / "scene_landcover.tif") as a, \
            rasterio.open(tree / "out" / "batch" / "legend_landcover.tif") as b:
        assert np.array_equal(a.read(), b.read())  # the mapping file re-applies the learned mapping
    again = sh(geouic, "batch", "examples/jobs.yaml", "--resume", cwd=tree)
    assert "3 job(s): 3 skipped" in again.stdout


def test_batch_folder_on_two_scenes(tree):
    scenes = tree / "scenes"
    scenes.mkdir()
    shutil.copy(tree / "data_samples" / "scene.tif", scenes / "scene.tif")
    with rasterio.open(scenes / "scene.tif") as src:
        window = Window(128, 128, 256, 256)
        profile = dict(src.profile, width=256, height=256, transform=src.window_transform(window))
        with rasterio.open(scenes / "scene_crop.tif", "w", **profile) as dst:
            dst.write(src.read(window=window))
    out = sh("bash", "examples/batch_folder.sh", scenes, "result", cwd=tree).stdout
    assert "one model over 2 scene(s)" in out
    for stem in ("scene", "scene_crop"):
        assert json.loads((tree / "result" / f"{stem}_report" / "report.json").read_text())["n_samples"] > 0
    with rasterio.open(tree / "result" / "scene_landcover.tif") as a, \
            rasterio.open(tree / "result" / "scene_crop_landcover.tif") as b:
        assert np.array_equal(a.read(1, window=Window(128, 128, 256, 256)), b.read(1))  # one model, one mapping
    assert (tree / "result" / "scene_crop_landcover.qml").exists()


def test_batch_folder_defaults(tree):
    out = sh("bash", "examples/batch_folder.sh", cwd=tree).stdout
    assert "one model over 1 scene(s)" in out and (tree / "out" / "batch_folder" / "scene_report").is_dir()
