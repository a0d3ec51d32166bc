"""The geouic Processing provider in a real, headless QGIS (skipped where QGIS is absent).

`qgis_process run geouic:classify` and `geouic:assign-schema` give pixel-identical outputs to the
CLI, styled (.qml beside them); `qgis_process list` shows the geouic group; errors are algorithm
errors; progress reaches the Processing feedback; examples/pyqgis_batch.py runs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geouic.batch import geouic_command
from tests.qgis.conftest import ROOT, qgis_process, qgis_python



@pytest.fixture
def samples(tmp_path):
    """A copy of data_samples/: QGIS writes .aux.xml statistics beside the rasters it opens."""
    return Path(shutil.copytree(ROOT / "data_samples", tmp_path / "data_samples"))


def qgis(*args, env, cwd):
    return subprocess.run([qgis_process(), *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def geouic(*args, cwd):
    result = subprocess.run([*geouic_command(), *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


def same_pixels(a, b):
    with rasterio.open(a) as x, rasterio.open(b) as y:
        return np.array_equal(x.read(), y.read()) and x.colormap(1) == y.colormap(1) and x.profile == y.profile


def test_list_shows_the_geouic_group(qgis_env, tmp_path):
    out = qgis("list", env=qgis_env, cwd=tmp_path).stdout
    assert "\ngeouic\n" in out
    for alg in ("classify", "train", "predict", "assign-schema", "accuracy", "stats"):
        assert f"geouic:{alg}\t" in out
    help_text = qgis("help", "geouic:classify", env=qgis_env, cwd=tmp_path).stdout
    assert "Classify SCENE" in help_text and "METHOD" in help_text and "kmeans" in help_text


def test_classify_and_assign_schema_match_the_cli(qgis_env, tmp_path, samples):
    scene = samples / "scene.tif"
    run = qgis("run", "geouic:classify", "--", f"INPUT={scene}", "CLASSES=8", "METHOD=kmeans",
               f"OUTPUT={tmp_path / 'q_classes.tif'}", env=qgis_env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "8/8 classes" in run.stdout
    geouic("classify", scene, "--classes", 8, "--method", "kmeans", "-o", "classes.tif", cwd=tmp_path)
    assert same_pixels(tmp_path / "q_classes.tif", tmp_path / "classes.tif")
    assert (tmp_path / "q_classes.qml").read_text() == (tmp_path / "classes.qml").read_text()

    schema = ROOT / "examples" / "sample_schema.yaml"
    run = qgis("run", "geouic:assign-schema", "--", f"INPUT={tmp_path / 'q_classes.tif'}",
               f"REFERENCE={samples / 'training.gpkg'}", "FIELD=class", f"SCHEMA={schema}",
               f"OUTPUT={tmp_path / 'q_landcover.tif'}", env=qgis_env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    geouic("assign-schema", "classes.tif", "--reference", samples / "training.gpkg", "--field", "class",
           "--schema", schema, "-o", "landcover.tif", cwd=tmp_path)
    assert same_pixels(tmp_path / "q_landcover.tif", tmp_path / "landcover.tif")
    qml = (tmp_path / "q_landcover.qml").read_text()
    assert qml == (tmp_path / "landcover.qml").read_text() and "water" in qml


def test_geouic_errors_are_algorithm_errors(qgis_env, tmp_path, samples):
    run = qgis("run", "geouic:classify", "--", f"INPUT={samples / 'scene.tif'}", "METHOD=mlc",
               f"OUTPUT={tmp_path / 'x.tif'}", env=qgis_env, cwd=tmp_path)
    assert run.returncode != 0
    assert "--method mlc needs --training" in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr and not (tmp_path / "x.tif").exists()


PROGRESS = """
import os, sys
from qgis.core import QgsApplication, QgsProcessingFeedback
app = QgsApplication([], False); app.initQgis()
sys.path.insert(0, sys.argv[1])
from geouic_provider.execution import run_geouic
feedback = QgsProcessingFeedback()
values, infos = [], []
feedback.progressChanged.connect(values.append)
feedback.pushInfo = infos.append
run_geouic(["classify", sys.argv[2], "--method", "kmeans", "--classes", "4", "--mem-limit", "1",
            "-o", "p.tif"], feedback)
print("VALUES", sorted(set(int(v) for v in values)))
print("INFOS", infos)
"""


def test_progress_reaches_the_feedback(qgis_env, tmp_path, samples):
    if qgis_python() is None:
        pytest.skip("no Python with the qgis module")
    (tmp_path / "progress.py").write_text(PROGRESS)
    plugins = Path(qgis_env["QGIS_CUSTOM_CONFIG_PATH"]) / "profiles" / "default" / "python" / "plugins"
    run = subprocess.run([qgis_python(), "progress.py", plugins, samples / "scene.tif"], env=qgis_env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    values = eval(run.stdout.split("VALUES", 1)[1].splitlines()[0])  # noqa: S307 - our own printout
    assert len(values) >= 3 and values[-1] == 100
    assert "Fitting kmeans" in run.stdout and "4/4 classes" in run.stdout


def test_pyqgis_batch_example(qgis_env, tmp_path, samples):
    if qgis_python() is None:
        pytest.skip("no Python with the qgis module")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")  # runs as it is, without arguments, in a copy
    run = subprocess.run([qgis_python(), tmp_path / "examples" / "pyqgis_batch.py"],
                         env=qgis_env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "out" / "pyqgis_batch" / "scene_landcover.qml").exists()
    assert (tmp_path / "out" / "pyqgis_batch" / "scene_report" / "report.json").exists()
