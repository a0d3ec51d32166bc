"""The notebook-style example (examples/notebook.py, ``# %%`` cells) runs as a script (issue 14, requirement 6)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rioxarray")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "notebook.py"


def test_notebook_example_runs_and_writes_map_and_report(tmp_path):
    env = {**os.environ, "GEOUIC_EXAMPLE_OUT": str(tmp_path), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "AccuracyReport(n=300" in proc.stdout
    assert (tmp_path / "landcover.png").stat().st_size > 10_000
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["overall_accuracy"] > 0.8 and "area_adjusted" in report
    assert "<iframe srcdoc=" in (tmp_path / "report_view.html").read_text()


def test_notebook_has_cells():
    text = EXAMPLE.read_text()
    assert text.count("# %%") >= 6 and "rioxarray.open_rasterio" in text
