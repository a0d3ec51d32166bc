"""predict on a Dask cluster: pixel-identical to the local predict, bounded in flight, errors named."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geouic.batch import geouic_command
from geouic.cli import main
from geouic.distributed import apply_engine_dask, group_windows
from geouic.errors import RasterInputError
from geouic.model import load_model
from geouic.pipeline import apply_engine, prediction_windows
from geouic.raster import open_raster
from tests.distributed.conftest import fit_model, pixels_sha256, scene


def local_and_dask(cluster, scene_path, model, tmp_path, **kw):
    engine = load_model(model)
    extras_local = {"confidence": tmp_path / "local_conf.tif"}
    extras_dask = {"confidence": tmp_path / "dask_conf.tif"}
    with open_raster(scene_path) as src:
        local = apply_engine(src, engine, tmp_path / "local.tif", extras=extras_local, mem_limit_mb=1, workers=2)
        calls = []
        dask = apply_engine_dask(cluster.client, src, engine, tmp_path / "dask.tif", model=model,
                                 extras=extras_dask, mem_limit_mb=1, workers=2,
                                 progress=lambda a, t: calls.append((a, t)), **kw)
    return local, dask, calls


@pytest.mark.parametrize("task_pixels, in_flight", [(4_000_000, None), (1024, 2)])
def test_identical_to_local(cluster, data, tmp_path, task_pixels, in_flight):
    scene_path, model = data
    local, dask, calls = local_and_dask(cluster, scene_path, model, tmp_path, task_pixels=task_pixels,
                                        in_flight=in_flight)
    assert pixels_sha256(dask.path) == pixels_sha256(local.path)
    assert pixels_sha256(dask.extras["confidence"]) == pixels_sha256(local.extras["confidence"])
    assert np.array_equal(dask.counts, local.counts)
    with rasterio.open(local.path) as a, rasterio.open(dask.path) as b:
        assert (b.crs, b.transform, b.dtypes, b.nodata) == (a.crs, a.transform, a.dtypes, a.nodata)
        assert b.colormap(1) == a.colormap(1)
        skip = {"GEOUIC_CREATED"}
        assert {k: v for k, v in b.tags().items() if k not in skip} == \
            {k: v for k, v in a.tags().items() if k not in skip}
    assert (tmp_path / "dask.qml").read_text() == (tmp_path / "local.qml").read_text()
    with open_raster(scene_path) as src:
        n_windows = len(prediction_windows(src, load_model(model), 1, 2))
    assert sum(a for a, _ in calls) == n_windows and {t for _, t in calls} == {n_windows}
    if task_pixels == 1024:
        assert len(calls) == n_windows  # one window per task: many tasks through 2 in flight


def test_uic_identical_to_local(cluster, tmp_path):
    pytest.importorskip("torch")
    scene_path = scene(tmp_path / "uic_scene.tif", size=64)
    from geouic.engine import make_engine
    from geouic.model import save_model

    with open_raster(scene_path) as src:
        engine = make_engine("uic", n_classes=3, seed=0, epochs=1, members=1)
        engine.fit([src])
    model = save_model(engine, tmp_path / "uic.geouic")
    # The local reference is `geouic predict` in a fresh process, like each worker: in this test
    # process, torch state left by earlier tests can move the float confidence by an ulp.
    local = tmp_path / "cli.tif"
    subprocess.run([*geouic_command(), "predict", str(model), str(scene_path), "-o", str(local), "--mem-limit", "1",
                    "--workers", "2", "--confidence", str(tmp_path / "cli_conf.tif"), "-q"], check=True)
    with open_raster(scene_path) as src:
        dask = apply_engine_dask(cluster.client, src, load_model(model), tmp_path / "dask.tif", model=model,
                                 extras={"confidence": tmp_path / "dask_conf.tif"}, mem_limit_mb=1, workers=2,
                                 task_pixels=512)
    assert pixels_sha256(dask.path) == pixels_sha256(local)
    assert pixels_sha256(dask.extras["confidence"]) == pixels_sha256(tmp_path / "cli_conf.tif")


def test_group_windows():
    with rasterio.Env():
        pass
    from geouic.windows import block_windows

    pairs = block_windows(100, 100, (10, 10), mem_limit_mb=0.002, bytes_per_pixel=10, halo=0)
    groups = group_windows(pairs, 250)
    assert [i for g in groups for i in g] == list(range(len(pairs)))
    assert all(sum(pairs[i].core.width * pairs[i].core.height for i in g) >= 250 for g in groups[:-1])


def test_worker_cannot_read_scene(cluster, data, tmp_path):
    """A scene the workers cannot open is the same one-line error as locally, and no output is left."""
    scene_path, model = data
    engine = load_model(model)
    moved = tmp_path / "moved.tif"
    with open_raster(scene_path) as src:
        scene_path.rename(moved)  # the client has the file open; the workers find nothing at the path
        with pytest.raises(RasterInputError, match="scene.tif"):
            apply_engine_dask(cluster.client, src, engine, tmp_path / "out.tif", model=model, retries=0)
    assert not (tmp_path / "out.tif").exists()
    assert not list(tmp_path.glob(".out.tif*"))


def test_cli_identical_to_local(cluster, data, tmp_path):
    scene_path, model = data
    runner = CliRunner()
    local = runner.invoke(main, ["predict", str(model), str(scene_path), "-o", str(tmp_path / "a.tif"),
                                 "--mem-limit", "1", "--workers", "2"])
    assert local.exit_code == 0, local.output
    dask = runner.invoke(main, ["predict", str(model), str(scene_path), "-o", str(tmp_path / "b.tif"),
                                "--mem-limit", "1", "--workers", "2", "--dask", cluster.address])
    assert dask.exit_code == 0, dask.output
    assert "Dask: 2 worker(s)" in dask.output
    assert pixels_sha256(tmp_path / "b.tif") == pixels_sha256(tmp_path / "a.tif")


def test_cli_local_cluster_several_scenes(tmp_path):
    """--dask local:2 starts and stops its own cluster; several scenes with an output template."""
    a = scene(tmp_path / "a.tif", seed=1)
    b = scene(tmp_path / "b.tif", seed=2)
    model = fit_model(a, tmp_path / "m.geouic")
    runner = CliRunner()
    res = runner.invoke(main, ["predict", str(model), str(a), str(b), "-o", str(tmp_path / "{stem}_local.tif")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["predict", str(model), str(a), str(b), "-o", str(tmp_path / "{stem}_dask.tif"),
                               "--dask", "local:2"])
    assert res.exit_code == 0, res.output
    for stem in "ab":
        assert pixels_sha256(tmp_path / f"{stem}_dask.tif") == pixels_sha256(tmp_path / f"{stem}_local.tif")



def test_cluster_failures_are_one_error():
    """Cancelled or lost tasks become one ClusterError; an error the task raised passes unchanged."""
    import concurrent.futures
    import types

    from distributed.scheduler import KilledWorker

    from geouic.distributed import ClusterError
    from geouic.distributed.predict import _named_cluster_errors

    def failing(exc):
        yield 1
        raise exc

    for exc in (concurrent.futures.CancelledError("x"), KilledWorker("geouic-predict-3", types.SimpleNamespace(address="tcp://w:1"), 3)):
        seen = []
        with pytest.raises(ClusterError, match=r"the Dask cluster did not finish the prediction \((Cancelled|Killed)"):
            seen.extend(_named_cluster_errors(failing(exc)))
        assert seen == [1]
    with pytest.raises(RasterInputError):
        list(_named_cluster_errors(failing(RasterInputError("scene.tif: no such file"))))
    with pytest.raises(ZeroDivisionError):  # a bug in a task stays a bug (a traceback), not a cluster error
        list(_named_cluster_errors(failing(ZeroDivisionError())))


def test_a_cancelled_task_leaves_no_hole(cluster):
    """A task cancelled on the cluster is an error, never a map with a group missing."""
    import time

    from geouic.distributed import ClusterError
    from geouic.distributed.predict import _results

    client = cluster.client

    def submit(g):
        future = client.submit(time.sleep, 2 if g == 1 else 0, pure=False)
        if g == 1:
            client.cancel([future])
        return future

    got = []
    with pytest.raises(ClusterError, match="did not finish the prediction"):
        got.extend(g for g, _ in _results(client, submit, 3, 3))
    assert 1 not in got
