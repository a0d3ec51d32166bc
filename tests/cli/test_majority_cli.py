"""``geouic majority`` through click."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geouic.cli import main
from geouic.postprocess.majority import majority_array
from tests.cli.test_bad_input import assert_clean_failure
from tests.cli.test_progress_cli import FakeBar, bars  # noqa: F401  (bars: fixture)
from tests.postprocess.helpers import noisy_map, write_map


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_majority_cli(tmp_path):
    m = noisy_map(40)
    src = write_map(tmp_path / "map.tif", m)
    r = run(["majority", src, "--size", "3", "--threshold", "half", "-o", tmp_path / "s.tif", "--mem-limit", "1"])
    assert r.exit_code == 0, r.output
    with rasterio.open(tmp_path / "s.tif") as ds, rasterio.open(src) as s:
        assert ds.colormap(1) == s.colormap(1)
        np.testing.assert_array_equal(ds.read(1), majority_array(m, size=3, threshold="half"))
    r = run(["majority", src, "--neighbors", "4", "-o", tmp_path / "n.tif"])
    assert r.exit_code == 0 and "4 neighbours" in r.output
    r = run(["majority", src, "-o", tmp_path / "d.tif"])  # default: 3x3 window
    assert r.exit_code == 0 and "3x3 window" in r.output


def test_majority_bad_input(tmp_path):
    src = write_map(tmp_path / "map.tif", noisy_map(16))
    out = tmp_path / "s.tif"
    assert_clean_failure(run(["majority", src, "--size", "4", "-o", out]), expect="odd window", outputs=[out])
    assert_clean_failure(run(["majority", src, "--size", "3", "--neighbors", "8", "-o", out]), expect="not both",
                         outputs=[out])
    assert_clean_failure(run(["majority", tmp_path / "x.tif", "-o", out]), expect="no such file", outputs=[out])


@pytest.mark.usefixtures("bars")
def test_majority_bar_is_sized_by_the_library(tmp_path):
    src = write_map(tmp_path / "map.tif", noisy_map(512))
    r = run(["majority", src, "--size", "3", "--mem-limit", "1", "-o", tmp_path / "s.tif"])
    assert r.exit_code == 0, r.output
    (bar,) = FakeBar.bars
    assert bar.label == "Filtering" and bar.length > 2
    assert sum(n for n, _ in bar.updates) == bar.length and {t for _, t in bar.updates} == {bar.length}
