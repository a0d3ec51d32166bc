"""Progress when stderr is not a terminal: plain periodic lines (a log, a pipe, a batch job)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from geouic.cli import main
from geouic.cli.options import ProgressLines
from tests.conftest import write_raster
from tests.postprocess.helpers import noisy_map


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_lines_wait_a_second_then_come_once_per_period():
    clock, lines = Clock(), []
    progress = ProgressLines(["Sieving", "Writing"], interval=10, clock=clock, echo=lines.append)
    sieve, write = progress.update_for(0), progress.update_for(1)
    sieve(1, 20)
    clock.now += 0.5
    sieve(1, 20)
    assert lines == []                             # a pass under a second prints nothing
    clock.now += 0.6
    sieve(1, 20)
    assert lines == ["Sieving: 3/20 (15%)"]
    clock.now += 5
    sieve(5, 20)
    assert len(lines) == 1                         # then one line per period
    clock.now += 5
    sieve(1, 20, "strip 9")
    assert lines[-1] == "Sieving (strip 9): 9/20 (45%)"
    clock.now += 1
    sieve(11, 20)
    assert len(lines) == 2                         # the end of a pass is the closing line's
    clock.now += 0.2
    write(1, 4)                                    # next phase: the first one closes
    assert lines[-1] == "Sieving (strip 9): 20/20 (100%), 12.3 s"
    progress.close()
    assert len(lines) == 3                         # the short phase printed nothing, so no closing line


def test_interval_zero_prints_every_update():
    clock, lines = Clock(), []
    progress = ProgressLines(["Pass"], interval=0, clock=clock, echo=lines.append)
    update = progress.update_for(0)
    for _ in range(3):
        update(1, 3)
    progress.close()
    assert lines == ["Pass: 1/3 (33%)", "Pass: 2/3 (67%)", "Pass: 3/3 (100%), 0.0 s"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A 512 x 512 class map in 16 x 16 tiles (read in several strips at --mem-limit 1), a scene,
    a schema and mapping, reference points."""
    folder = tmp_path_factory.mktemp("progress")
    classes = noisy_map(512, noise=0.02)
    rng = np.random.default_rng(0)
    scene = (100 * classes[None] + rng.normal(0, 5, (3, 512, 512)) + 50).astype(np.uint16)
    (folder / "schema.yaml").write_text("name: s\nclasses:\n  - {code: 1, name: a}\n  - {code: 2, name: b}\n")
    (folder / "map.csv").write_text("class,name\n1,a\n2,b\n3,a\n4,b\n")
    return {"map": write_raster(folder / "map.tif", classes, nodata=0),
            "scene": write_raster(folder / "scene.tif", scene, nodata=0),
            "schema": folder / "schema.yaml", "mapping": folder / "map.csv", "dir": folder}


COMMANDS = {
    "sieve": ("Sieving", ["sieve", "{map}", "--mmu", "4px", "-o", "{out}/s.tif"]),
    "majority": ("Filtering", ["majority", "{map}", "-o", "{out}/m.tif"]),
    "polygonize": ("Polygonizing", ["polygonize", "{map}", "-o", "{out}/p.gpkg"]),
    "merge": ("Merging", ["merge", "{map}", "--merge", "1,2", "-o", "{out}/g.tif"]),
    "stats": ("Statistics", ["stats", "{map}", "{scene}", "--no-plots", "-o", "{out}/stats"]),
    "assign-schema": ("Assigning", ["assign-schema", "{map}", "--mapping", "{mapping}", "--schema", "{schema}",
                                    "-o", "{out}/lc.tif"]),
    "sample-design": ("Sampling", ["sample-design", "{map}", "--n", "200", "-o", "{out}/pts.gpkg"]),
    "accuracy": ("Assessing", ["accuracy", "{map}", "--reference", "{map}", "--no-figures", "-o", "{out}/acc"]),
}


@pytest.mark.parametrize(("label", "args"), COMMANDS.values(), ids=COMMANDS.keys())
def test_commands_print_progress_lines_when_not_a_tty(inputs, tmp_path, label, args):
    def words(out):
        given = [a.format(out=out, **{k: str(v) for k, v in inputs.items()}) for a in args]
        return given + (["--mem-limit", "1"] if given[0] != "polygonize" else [])

    runner = CliRunner()
    result = runner.invoke(main, words(tmp_path), env={"GEOUIC_PROGRESS_INTERVAL": "0"})
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith(label)]
    counts = [tuple(map(int, m.groups())) for line in lines if (m := re.search(r": (\d+)/(\d+) \(", line))]
    assert len(counts) >= 3, result.output         # a line per window (several strips), then the closing line
    assert counts[-1][0] == counts[-1][1] and re.search(r"\(100%\), \d+\.\d s$", lines[-1]), lines
    assert all(a <= b for a, b in counts)
    (tmp_path / "q").mkdir()
    quiet = runner.invoke(main, [*words(tmp_path / "q"), "-q"], env={"GEOUIC_PROGRESS_INTERVAL": "0"})
    assert quiet.exit_code == 0, quiet.output
    assert not [line for line in quiet.output.splitlines() if line.startswith(label)], quiet.output
