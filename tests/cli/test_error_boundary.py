"""The CLI's error boundary: out-of-range options, full disks and memory errors give one line, never a traceback."""

from __future__ import annotations

import errno

import click
import pytest
from click.testing import CliRunner

from geouic.cli import main
from geouic.cli.options import _disk_full, handle_errors, output_opt
from tests.conftest import make_scene, quadrant_labels, write_raster


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("bounds")
    labels = quadrant_labels(64)
    write_raster(d / "map.tif", labels, nodata=0)
    return write_raster(d / "scene.tif", make_scene(labels), nodata=0)


def _refused(args, option):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and option in errors[0], result.output
    return errors[0]


@pytest.mark.parametrize("method", ["uic", "kmeans", "isodata", "fcm", "mlc"])
@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_seed_out_of_range_every_method(scene, tmp_path, method, seed):
    line = _refused(["classify", scene, "--method", method, "--seed", seed, "-o", tmp_path / "o.tif"], "--seed")
    assert "0<=x<=4294967295" in line
    assert not (tmp_path / "o.tif").exists()


def test_seed_out_of_range_train_and_sample_design(scene, tmp_path):
    _refused(["train", scene, "--method", "kmeans", "-k", "3", "--seed", "-1", "-o", tmp_path / "m.geouic"], "--seed")
    _refused(["sample-design", scene.with_name("map.tif"), "--n", "10", "--seed", "-1", "-o", tmp_path / "p.gpkg"],
             "--seed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option, value", [("--patch-size", 100000), ("--patch-size", 4), ("--batch-size", 10**6),
                                           ("--epochs", 0)])
def test_uic_sizes_are_bounded(scene, tmp_path, option, value):
    _refused(["classify", scene, "--method", "uic", option, value, "-o", tmp_path / "o.tif"], option)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_is_recognised_through_the_exception_chain():
    assert _disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert _disk_full(RuntimeError("sqlite3_exec(...) failed: database or disk is full"))
    try:
        try:
            raise OSError(errno.EDQUOT, "quota")
        except OSError as inner:
            raise RuntimeError("write failed") from inner
    except RuntimeError as outer:
        assert _disk_full(outer)
    assert not _disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not _disk_full(ValueError("bad value"))


@click.command()
@output_opt
@click.option("--fail", type=click.Choice(["memory", "enospc", "gdal", "bug"]))
@handle_errors
def _fails(output, fail):
    if fail == "memory":
        raise MemoryError("Unable to allocate 3.49 TiB")
    if fail == "enospc":
        raise OSError(errno.ENOSPC, "No space left on device")
    if fail == "gdal":
        raise type("CPLE_AppDefinedError", (Exception,), {"__module__": "rasterio._err"})("TIFFWrite failed\nmore")
    raise ZeroDivisionError("a bug")


@pytest.mark.parametrize("fail, expect", [
    ("memory", "Error: out of memory; lower --mem-limit"),
    ("enospc", "Error: no space left on the device to write out.tif; free some space there"),
    ("gdal", "Error: CPLE_AppDefinedError: TIFFWrite failed"),
])
def test_error_boundary(fail, expect):
    result = CliRunner().invoke(_fails, ["-o", "out.tif", "--fail", fail])
    assert result.exit_code == 2
    assert result.output.strip() == expect or result.output.startswith(expect), result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_bug_still_shows_its_traceback():
    result = CliRunner().invoke(_fails, ["-o", "out.tif", "--fail", "bug"])
    assert isinstance(result.exception, ZeroDivisionError)


@pytest.mark.parametrize("option, value", [("--lr", 5), ("--lr", 0)])
def test_uic_rate_is_bounded(scene, tmp_path, option, value):
    _refused(["classify", scene, "--method", "uic", option, value, "-o", tmp_path / "o.tif"], option)


def test_reject_probability_is_bounded_without_python_words(scene, tmp_path):
    line = _refused(["classify", scene, "--method", "mlc", "--training", scene.with_name("map.tif"),
                     "--reject", 2, "-o", tmp_path / "o.tif"], "--reject")
    assert "None" not in line


@pytest.mark.parametrize("sidecar", ["o.qml", "o.tif.aux.xml"])
@pytest.mark.parametrize("command", ["classify", "merge"])
def test_existing_sidecar_needs_overwrite(scene, tmp_path, sidecar, command):
    (tmp_path / sidecar).write_text("mine")
    args = (["classify", scene, "--method", "kmeans", "-k", "3"] if command == "classify"
            else ["merge", scene.with_name("map.tif"), "--merge", "1,2"])
    line = _refused([*args, "-o", tmp_path / "o.tif"], sidecar)
    assert "already exists; pass --overwrite" in line
    assert (tmp_path / sidecar).read_text() == "mine" and not (tmp_path / "o.tif").exists()
    result = CliRunner().invoke(main, [str(a) for a in [*args, "-o", tmp_path / "o.tif", "--overwrite", "-q"]])
    assert result.exit_code == 0, result.output
    assert (tmp_path / sidecar).read_text() != "mine"


def test_sample_design_says_when_n_is_capped(scene, tmp_path):
    result = CliRunner().invoke(main, ["sample-design", str(scene.with_name("map.tif")), "--n", "5000",
                                       "-o", str(tmp_path / "p.gpkg")])
    assert result.exit_code == 0, result.output
    assert "Warning: --n 5,000 asks for more points than" in result.output
    assert "mapped pixels (4,096); drew 4,096, every pixel." in result.output
    quiet = CliRunner().invoke(main, ["sample-design", str(scene.with_name("map.tif")), "--n", "400",
                                      "-o", str(tmp_path / "q.gpkg")])
    assert quiet.exit_code == 0 and "Warning" not in quiet.output, quiet.output


def test_library_warnings_name_the_flags(scene, tmp_path):
    result = CliRunner().invoke(main, ["sample-design", str(scene.with_name("map.tif")), "--n", "100",
                                       "-o", str(tmp_path / "q.gpkg")])
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.output.splitlines() if line.startswith("Warning"))
    assert warning.startswith("Warning: --n 100 cannot give 50 points"), warning
    assert "n=100" not in warning
