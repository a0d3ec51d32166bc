"""``--co`` and ``--nodata`` on the commands that read class maps (sieve, majority; --nodata also on
polygonize, sample-design, merge, stats, accuracy, assign-schema)."""

from __future__ import annotations

import numpy as np
import pyogrio
import pytest
import rasterio
from click.testing import CliRunner

from geouic.cli import main
from tests.conftest import write_raster
from tests.postprocess.helpers import noisy_map

COLLAR = 9


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def collar_map(tmp_path):
    """Classes 1 / 2 (left / right) framed by a collar of 9 and no nodata tag; a 2-pixel patch of
    class 2 sits inside the collar, touching nothing else."""
    classes = np.ones((48, 48), np.uint8)
    classes[:, 24:] = 2
    classes[:, :8] = COLLAR
    classes[20:22, 3] = 2
    return write_raster(tmp_path / "collar.tif", classes, nodata=None), classes


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.compression


def test_sieve_nodata_declares_the_collar(collar_map, tmp_path):
    path, classes = collar_map
    r = invoke("sieve", path, "--mmu", "4px", "--nodata", COLLAR, "-o", tmp_path / "a.tif")
    assert r.exit_code == 0, r.output
    out, _ = _read(tmp_path / "a.tif")
    collar = classes == COLLAR
    assert (out[collar] == 0).all()                # nodata: written as 0, never filled
    assert (out[20:22, 3] == 2).all()              # touches only nodata: kept
    assert (out[~collar] == classes[~collar]).all()
    r = invoke("sieve", path, "--mmu", "4px", "-o", tmp_path / "b.tif")
    assert r.exit_code == 0, r.output
    out, _ = _read(tmp_path / "b.tif")
    assert (out[collar] == COLLAR).all()           # without --nodata the collar is a class...
    assert (out[20:22, 3] == COLLAR).all()         # ...and the small patch dissolves into it


def test_majority_nodata_declares_the_collar(collar_map, tmp_path):
    path, classes = collar_map
    r = invoke("majority", path, "--size", 3, "--nodata", COLLAR, "-o", tmp_path / "a.tif")
    assert r.exit_code == 0, r.output
    out, _ = _read(tmp_path / "a.tif")
    collar = classes == COLLAR
    assert (out[collar] == 0).all()
    assert (out[20:22, 3] == 2).all()              # nodata does not vote: the pair keeps its class
    r = invoke("majority", path, "--size", 3, "-o", tmp_path / "b.tif")
    assert r.exit_code == 0, r.output
    out, _ = _read(tmp_path / "b.tif")
    assert (out[collar] == COLLAR).all() and (out[20:22, 3] == COLLAR).all()


def test_polygonize_nodata_gets_no_polygon(collar_map, tmp_path):
    path, _ = collar_map
    for name, extra in (("a.gpkg", ["--nodata", COLLAR]), ("b.gpkg", [])):
        r = invoke("polygonize", path, *extra, "-o", tmp_path / name)
        assert r.exit_code == 0, r.output
    codes_a = set(pyogrio.read_dataframe(tmp_path / "a.gpkg")["code"])
    codes_b = set(pyogrio.read_dataframe(tmp_path / "b.gpkg")["code"])
    assert codes_a == {1, 2} and codes_b == {1, 2, COLLAR}


@pytest.mark.parametrize("command", [["sieve", "--mmu", "4px"], ["majority", "--size", "3"]])
def test_co_reaches_the_output(tmp_path, command):
    path = write_raster(tmp_path / "m.tif", noisy_map(64), nodata=0)
    out = tmp_path / "o.tif"
    r = invoke(command[0], path, *command[1:], "--co", "COMPRESS=ZSTD", "--co", "zstd_level=9",
               "--co", "BLOCKXSIZE=32", "--co", "BLOCKYSIZE=32", "-o", out)
    assert r.exit_code == 0, r.output
    with rasterio.open(out) as ds:
        assert ds.compression.name == "zstd" and ds.block_shapes[0] == (32, 32)
        assert ds.colormap(1)  # the legend is still written


@pytest.mark.parametrize("co, expect", [("FOO=1", "GTiff has no creation option FOO"),
                                        ("COMPRESS=bogus", "use one of NONE, LZW"),
                                        ("ZSTD", "not KEY=VALUE")])
@pytest.mark.parametrize("command", [["sieve", "--mmu", "4px"], ["majority", "--size", "3"]])
def test_bad_co_is_refused_before_any_work(tmp_path, command, co, expect):
    path = write_raster(tmp_path / "m.tif", noisy_map(64), nodata=0)
    out = tmp_path / "o.tif"
    r = invoke(command[0], path, *command[1:], "--co", co, "-o", out)
    errors = [line for line in r.output.splitlines() if line.startswith("Error")]
    assert r.exit_code == 2 and len(errors) == 1 and expect in errors[0] and "--co" in errors[0], r.output
    assert "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]


@pytest.mark.parametrize("command", [["sieve", "--mmu", "4px"], ["majority", "--size", "3"], ["polygonize"]])
def test_nodata_outside_the_map_type(tmp_path, command):
    path = write_raster(tmp_path / "m.tif", noisy_map(64), nodata=None)
    out = tmp_path / ("o.gpkg" if command[0] == "polygonize" else "o.tif")
    r = invoke(command[0], path, *command[1:], "--nodata", 300, "-o", out)
    errors = [line for line in r.output.splitlines() if line.startswith("Error")]
    assert r.exit_code == 2 and len(errors) == 1 and "cannot occur in the uint8" in errors[0] and "--nodata 300" in errors[0], r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]


def test_sample_design_nodata_is_not_sampled(collar_map, tmp_path):
    path, classes = collar_map
    for name, extra in (("a.gpkg", ["--nodata", COLLAR]), ("b.gpkg", [])):
        r = invoke("sample-design", path, "--n", 300, "--allocation", "equal", *extra, "-o", tmp_path / name)
        assert r.exit_code == 0, r.output
    assert set(pyogrio.read_dataframe(tmp_path / "a.gpkg")["stratum"]) == {1, 2}
    assert set(pyogrio.read_dataframe(tmp_path / "b.gpkg")["stratum"]) == {1, 2, COLLAR}


def test_merge_nodata_is_not_a_class(collar_map, tmp_path):
    path, classes = collar_map
    r = invoke("merge", path, "--merge", "1,2", "--nodata", COLLAR, "-o", tmp_path / "a.tif")
    assert r.exit_code == 0, r.output
    out, _ = _read(tmp_path / "a.tif")
    assert (out[classes == COLLAR] == 0).all() and (out[classes != COLLAR] == 1).all()
    r = invoke("merge", path, "--merge", "1,2", "-o", tmp_path / "b.tif")
    assert r.exit_code == 0, r.output
    out, _ = _read(tmp_path / "b.tif")
    assert (out[classes == COLLAR] == 2).all()  # without --nodata the collar is a class, renumbered 2


def test_stats_nodata_is_not_counted(collar_map, tmp_path):
    import json

    path, classes = collar_map
    for name, extra in (("a", ["--nodata", COLLAR]), ("b", [])):
        r = invoke("stats", path, "--no-plots", *extra, "-o", tmp_path / name)
        assert r.exit_code == 0, r.output
    codes = {n: [c["code"] for c in json.loads((tmp_path / n / "stats.json").read_text())["classes"]] for n in "ab"}
    assert codes == {"a": [1, 2], "b": [1, 2, COLLAR]}


def test_accuracy_nodata_leaves_the_collar_out(collar_map, tmp_path):
    import json

    path, classes = collar_map
    reference = np.where(classes == COLLAR, 1, classes).astype(np.uint8)  # the collar labelled as class 1
    ref = write_raster(tmp_path / "ref.tif", reference, nodata=None)
    for name, extra in (("a", ["--nodata", COLLAR]), ("b", [])):
        r = invoke("accuracy", path, "--reference", ref, "--no-figures", *extra, "-o", tmp_path / name)
        assert r.exit_code == 0, r.output
    report = {n: json.loads((tmp_path / n / "report.json").read_text()) for n in "ab"}
    assert report["a"]["overall_accuracy"] == 1.0          # the collar is "no class": left out
    assert report["b"]["overall_accuracy"] < 1.0           # without --nodata it is class 9, an error


def test_assign_schema_nodata_writes_the_collar_as_nodata(collar_map, tmp_path):
    path, classes = collar_map
    reference = np.where(classes == COLLAR, 0, classes + 4).astype(np.uint8)  # classes 1, 2 -> 5, 6
    ref = write_raster(tmp_path / "ref.tif", reference, nodata=None)
    r = invoke("assign-schema", path, "--reference", ref, "--nodata", COLLAR, "-o", tmp_path / "lc.tif")
    assert r.exit_code == 0, r.output
    out, _ = _read(tmp_path / "lc.tif")
    assert (out[classes == COLLAR] == 0).all()
    assert (out[classes == 1] == 5).all() and (out[classes == 2] == 6).all()
