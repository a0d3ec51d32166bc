"""A full disk gives one line naming the output and the fix, and leaves nothing behind.

Runs geouic in a subprocess inside a private mount namespace with a 1 MiB tmpfs filled
almost to the brim (``unshare --mount``); skipped where such a mount is not possible.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_raster

GEOUIC = Path(sys.executable).with_name("geouic")
UNSHARE = ["unshare", "--mount"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user", "--mount"]


def _can_mount(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None or not GEOUIC.exists():
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    cmd = [*UNSHARE, "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {probe}"]
    return subprocess.run(cmd, capture_output=True).returncode == 0


@pytest.fixture
def inputs(tmp_path):
    if not _can_mount(tmp_path):
        pytest.skip("cannot mount a tmpfs in a private mount namespace here")
    rng = np.random.default_rng(0)
    scene = write_raster(tmp_path / "scene.tif", (100 + 800 * rng.random((3, 256, 256))).astype(np.uint16),
                         nodata=0, block=64)
    classes = write_raster(tmp_path / "classes.tif", rng.integers(1, 5, (256, 256)).astype(np.uint8), nodata=0,
                           block=64)
    full = tmp_path / "full"
    full.mkdir()
    return scene, classes, full


CASES = {
    "classify": ["classify", "{scene}", "--method", "kmeans", "-k", "4", "-o", "{full}/classes.tif"],
    "sample-design": ["sample-design", "{classes}", "--n", "5000", "-o", "{full}/points.gpkg"],
    "stats": ["stats", "{classes}", "{scene}", "-o", "{full}/stats"],
    "sieve": ["sieve", "{classes}", "--mmu", "4px", "-o", "{full}/sieved.tif"],
    "majority": ["majority", "{classes}", "-o", "{full}/smooth.tif"],
    "polygonize": ["polygonize", "{classes}", "-o", "{full}/patches.gpkg"],
}


#: (tmpfs size, filler bytes): almost nothing left, or room for part of the output (a GeoPackage
#: then fails at its commit, and gives its journal back before the error is seen).
ROOMS = {"4kB-free": ("1m", 1044000), "145kB-free": ("3m", 3000000)}


RUNS = {f"{case}-4kB-free": (CASES[case], ROOMS["4kB-free"]) for case in CASES}
RUNS["sample-design-145kB-free"] = (CASES["sample-design"], ROOMS["145kB-free"])  # the others' outputs fit there


@pytest.mark.parametrize(("args", "room"), RUNS.values(), ids=RUNS.keys())
def test_full_disk(inputs, args, room):
    scene, classes, full = inputs
    size, filler = room
    command = " ".join(f"'{a.format(scene=scene, classes=classes, full=full)}'" for a in args)
    script = (f"mount -t tmpfs -o size={size} tmpfs '{full}' && head -c {filler} /dev/zero > '{full}/filler' && "
              f"'{GEOUIC}' {command}; echo \"rc=$?\"; ls -A '{full}'")
    out = subprocess.run([*UNSHARE, "sh", "-c", script], capture_output=True, text=True, timeout=300)
    lines = out.stdout.strip().splitlines()
    rc_line = next(line for line in lines if line.startswith("rc="))
    left = lines[lines.index(rc_line) + 1:]
    assert rc_line == "rc=2", out.stdout + out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and errors[0].startswith("Error: no space left on the device to write"), out.stderr
    assert str(full) in errors[0] and "free some space" in errors[0]
    # Nothing but geouic's own lines: libtiff's "_tiffWriteProc: No space left on device." is silenced.
    raw = [line for line in out.stderr.splitlines() if "tiff" in line.lower() or "No space left" in line]
    assert raw == [], out.stderr
    assert left == ["filler"], left  # no partial output, no temporary file
