"""``geouic sieve`` through click: the written file, and bad input (one line, exit 2, nothing left)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from geouic.cli import main
from tests.cli.test_bad_input import assert_clean_failure
from tests.cli.test_progress_cli import FakeBar, bars  # noqa: F401  (bars: fixture)
from tests.conftest import make_scene, quadrant_labels, write_raster
from tests.postprocess.helpers import noisy_map, patch_sizes, write_map


def run(args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_sieve_writes_a_styled_map(tmp_path):
    src = write_map(tmp_path / "map.tif", noisy_map(48))
    out = tmp_path / "mmu.tif"
    r = run(["sieve", src, "--mmu", "0.5ha", "--connectivity", "8", "-o", out])
    assert r.exit_code == 0, r.output
    assert "patches dissolved" in r.output
    with rasterio.open(out) as ds, rasterio.open(src) as s:
        assert ds.colormap(1) == s.colormap(1) and ds.crs == s.crs and ds.transform == s.transform
        assert ds.dtypes[0] == "uint8" and ds.nodata == 0
        m = ds.read(1)
    assert (tmp_path / "mmu.qml").exists() and (tmp_path / "mmu.tif.aux.xml").exists()
    assert all(n >= 0.5 / 0.09 for _, n, _ in patch_sizes(m, 8))


def test_sieve_bad_input(tmp_path):
    out = tmp_path / "mmu.tif"
    src = write_map(tmp_path / "map.tif", noisy_map(16))
    assert_clean_failure(run(["sieve", src, "--mmu", "20", "-o", out]), expect="with its unit", outputs=[out])
    assert_clean_failure(run(["sieve", tmp_path / "none.tif", "--mmu", "2px", "-o", out]), expect="no such file",
                         outputs=[out])
    scene = write_raster(tmp_path / "scene.tif", make_scene(quadrant_labels(32), dtype="float32"))
    assert_clean_failure(run(["sieve", scene, "--mmu", "2px", "-o", out]), expect="class map", outputs=[out])
    blank = write_map(tmp_path / "blank.tif", np.zeros((16, 16), np.uint8))
    assert_clean_failure(run(["sieve", blank, "--mmu", "2px", "-o", out]), expect="no classified pixel",
                         outputs=[out])
    out.write_bytes(b"x")
    r = run(["sieve", src, "--mmu", "2px", "-o", out])
    assert r.exit_code == 2 and "already exists" in r.output and out.read_bytes() == b"x"


@pytest.mark.usefixtures("bars")
def test_sieve_bar_is_sized_by_the_library(tmp_path):
    src = write_map(tmp_path / "map.tif", noisy_map(512))
    r = run(["sieve", src, "--mmu", "4px", "--mem-limit", "1", "-o", tmp_path / "s.tif"])
    assert r.exit_code == 0, r.output
    (bar,) = FakeBar.bars
    assert bar.label == "Sieving" and bar.length > 2
    assert sum(n for n, _ in bar.updates) == bar.length and {t for _, t in bar.updates} == {bar.length}
