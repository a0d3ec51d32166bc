"""``geouic polygonize`` through click: GeoPackage with code, name, area_ha; bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from click.testing import CliRunner

from geouic.cli import main
from tests.cli.test_bad_input import assert_clean_failure
from tests.cli.test_progress_cli import FakeBar, bars  # noqa: F401  (bars: fixture)
from tests.postprocess.helpers import noisy_map, write_map


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_polygonize_cli(tmp_path):
    m = noisy_map(40, noise=0.05)
    src = write_map(tmp_path / "map.tif", m)
    r = run(["polygonize", src, "-o", tmp_path / "p.gpkg"])
    assert r.exit_code == 0, r.output
    info = pyogrio.read_info(tmp_path / "p.gpkg")
    assert list(info["fields"]) == ["code", "name", "area_ha", "pixels"]
    assert info["geometry_type"] == "Polygon"
    r = run(["polygonize", src, "--dissolve", "--simplify", "15", "-o", tmp_path / "d.gpkg"])
    assert r.exit_code == 0, r.output
    df = gpd.read_file(tmp_path / "d.gpkg")
    assert len(df) == len(np.unique(m)) and df.is_valid.all()
    assert df.area_ha.sum() == pytest.approx(m.size * 0.09)


def test_polygonize_bad_input(tmp_path):
    src = write_map(tmp_path / "map.tif", noisy_map(16))
    out = tmp_path / "p.gpkg"
    assert_clean_failure(run(["polygonize", src, "-o", tmp_path / "p.txt"]), expect="unknown vector format",
                         outputs=[tmp_path / "p.txt"])
    assert_clean_failure(run(["polygonize", src, "--simplify", "0", "-o", out]), expect="--simplify", outputs=[out])
    assert_clean_failure(run(["polygonize", tmp_path / "x.tif", "-o", out]), expect="no such file", outputs=[out])


@pytest.mark.usefixtures("bars")
def test_polygonize_bar_counts_the_map_rows(tmp_path):
    src = write_map(tmp_path / "map.tif", noisy_map(40))
    r = run(["polygonize", src, "-o", tmp_path / "p.gpkg"])
    assert r.exit_code == 0, r.output
    (bar,) = FakeBar.bars  # the rows traced, then the traced polygons read back (as rows)
    assert bar.label == "Polygonizing" and bar.length == 80 and sum(n for n, _ in bar.updates) == 80
