"""Thematic writer: colour table, names, style, tags, COG, atomicity."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from geouic.colors import distinct_colors, parse_color, to_hex
from geouic.errors import OutputError, ParameterError
from geouic.output import Legend, ThematicProfile, ThematicWriter, atomic_path, check_output, remove_stale_temps

GRID = dict(crs="EPSG:32633", transform=rasterio.transform.from_origin(0, 64 * 30, 30, 30), width=64, height=64)


def _write(path, n_classes=4, profile=None, names=None):
    legend = Legend.default(n_classes, names)
    with ThematicWriter(path, legend=legend, n_classes=n_classes, profile=profile, **GRID) as w:
        w.write(Window(0, 0, 64, 32), np.ones((32, 64), np.uint16))
        w.write(Window(0, 32, 64, 32), np.full((32, 64), n_classes, np.uint16))
        w.close(tags={"GEOUIC_METHOD": "kmeans", "GEOUIC_PARAMETERS": {"k": n_classes}})
    return legend


def test_writer_metadata(tmp_path):
    path = tmp_path / "map.tif"
    legend = _write(path, names={2: "forest"})
    with rasterio.open(path) as ds:
        assert ds.dtypes[0] == "uint8" and ds.nodata == 0 and ds.crs.to_epsg() == 32633
        assert ds.block_shapes[0] == (64, 64) and ds.compression.name.lower() == "deflate"
        cmap = ds.colormap(1)
        assert cmap[0][3] == 0
        for code, rgb in legend.colors.items():
            assert cmap[code][:3] == rgb
        assert ds.tags()["GEOUIC_METHOD"] == "kmeans"
        assert json.loads(ds.tags()["GEOUIC_PARAMETERS"]) == {"k": 4}
        assert ds.read(1)[0, 0] == 1 and ds.read(1)[-1, -1] == 4
    cats = [c.text for c in ET.parse(str(path) + ".aux.xml").getroot().iter("Category")]
    assert cats[:3] == ["nodata", "class 1", "forest"]
    qml = ET.parse(path.with_suffix(".qml")).getroot()
    entries = qml.findall(".//paletteEntry")
    assert [e.get("label") for e in entries][1] == "forest"
    assert entries[0].get("color") == to_hex(legend.colors[1])
    assert not list(tmp_path.glob(".*tmp*")), "temporary files left"


def test_uint16_beyond_255_classes(tmp_path):
    _write(tmp_path / "big.tif", n_classes=300)
    with rasterio.open(tmp_path / "big.tif") as ds:
        assert ds.dtypes[0] == "uint16" and ds.read(1).max() == 300


def test_cog(tmp_path):
    _write(tmp_path / "cog.tif", profile=ThematicProfile(cog=True))
    with rasterio.open(tmp_path / "cog.tif") as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert ds.colormap(1)[1][:3] == distinct_colors(4)[0]
    assert not list(tmp_path.glob(".*tmp*"))


def test_failure_leaves_nothing(tmp_path):
    path = tmp_path / "fail.tif"
    with pytest.raises(RuntimeError):
        with ThematicWriter(path, legend=Legend.default(3), n_classes=3, **GRID) as w:
            w.write(Window(0, 0, 64, 32), np.ones((32, 64), np.uint8))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_check_output(tmp_path):
    (tmp_path / "x.tif").write_text("x")
    with pytest.raises(OutputError, match="overwrite=True") as err:
        check_output(tmp_path / "x.tif")
    assert err.value.params == ("overwrite",)
    assert check_output(tmp_path / "x.tif", overwrite=True)
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "nope" / "x.tif")


def test_atomic_path(tmp_path):
    target = tmp_path / "a.txt"
    with pytest.raises(ValueError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise ValueError
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"


def test_colors():
    cols = distinct_colors(300)
    assert len(set(cols)) == 300
    assert parse_color("#01665e") == (1, 102, 94) and parse_color("1,2,3") == (1, 2, 3)
    with pytest.raises(ParameterError):
        parse_color("#12345")
    with pytest.raises(ParameterError):
        parse_color("300,0,0")


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path):
    import subprocess
    import sys

    from geouic.output import atomic_folder, atomic_path

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    pid = int(dead.stdout)  # that process is gone
    stale_file = tmp_path / f".pts.gpkg.geouic-{pid}-0123abcd.tmp.gpkg"
    stale_aux = tmp_path / f".map.tif.geouic-{pid}-0123abcd.tmp.tif.aux.xml"
    stale_dir = tmp_path / f".report.geouic-{pid}-0123abcd.tmp"
    other = tmp_path / f".other.gpkg.geouic-{pid}-0123abcd.tmp.gpkg"  # another output: not this run's business
    live = tmp_path / f".pts.gpkg.geouic-{os.getpid()}-4567cdef.tmp.gpkg"
    for p in (stale_file, stale_aux, other, live):
        p.write_text("x")
    stale_dir.mkdir()
    (stale_dir / "report.json").write_text("{}")
    with atomic_path(tmp_path / "pts.gpkg") as tmp:
        assert tmp.name.startswith(f".pts.gpkg.geouic-{os.getpid()}-") and tmp.name.endswith(".tmp.gpkg")
        tmp.write_text("points")
    with atomic_folder(tmp_path / "report") as folder:
        (folder / "report.json").write_text("{}")
    assert remove_stale_temps(tmp_path / "map.tif") == [stale_aux]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["pts.gpkg", "report", other.name, live.name])


def test_creation_options_override_the_profile(tmp_path):
    profile = ThematicProfile().with_options(["compress=zstd", "ZSTD_LEVEL=9", "BLOCKXSIZE=32", "BLOCKYSIZE=32"])
    assert profile.options == (("COMPRESS", "ZSTD"), ("ZSTD_LEVEL", "9"), ("BLOCKXSIZE", "32"), ("BLOCKYSIZE", "32"))
    _write(tmp_path / "m.tif", profile=profile)
    with rasterio.open(tmp_path / "m.tif") as ds:
        assert ds.compression.name == "zstd" and ds.block_shapes[0] == (32, 32)
    with pytest.raises(ParameterError, match="GTiff has no creation option FOO"):
        ThematicProfile().with_options(["FOO=1"])
    with pytest.raises(ParameterError, match="COMPRESS=bogus.*use one of NONE, LZW"):
        ThematicProfile().with_options({"compress": "bogus"})
    with pytest.raises(ParameterError, match="not KEY=VALUE"):
        ThematicProfile().with_options(["ZSTD"])
    cog = ThematicProfile(cog=True).with_options(["BLOCKSIZE=512"])  # a COG driver option
    assert cog.options == (("BLOCKSIZE", "512"),)
