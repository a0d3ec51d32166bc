"""SIGTERM is handled like Ctrl-C: temporary files removed, nothing written, exit 143 (SIGINT: 130)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_raster

GEOUIC = Path(sys.executable).with_name("geouic")


@pytest.fixture(scope="module")
def big_scene(tmp_path_factory) -> Path:
    """A scene whose prediction takes a few seconds with 1 MB windows."""
    rng = np.random.default_rng(0)
    data = (100 + 800 * rng.random((4, 1536, 1536))).astype(np.uint16)
    return write_raster(tmp_path_factory.mktemp("sig") / "scene.tif", data, nodata=0, block=64)


@pytest.mark.skipif(not GEOUIC.exists(), reason="the geouic script is not installed beside this Python")
@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "Terminated"),
                                                (signal.SIGINT, 130, "Interrupted")])
def test_signal_mid_write_leaves_nothing(big_scene, tmp_path, signum, code, word):
    out = tmp_path / "classes.tif"
    proc = subprocess.Popen([str(GEOUIC), "classify", str(big_scene), "--method", "kmeans", "-k", "4",
                             "--mem-limit", "1", "--workers", "1", "--confidence", str(tmp_path / "conf.tif"),
                             "-o", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*tmp*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.skip(f"classify ended before a temporary file was seen (rc {proc.returncode})")
    time.sleep(0.2)  # well inside the window pass
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines()[-1] == f"{word}; no output was written.", err
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())


@pytest.mark.skipif(not GEOUIC.exists(), reason="the geouic script is not installed beside this Python")
def test_temp_files_left_by_sigkill_are_removed_by_the_next_run(big_scene, tmp_path):
    out = tmp_path / "classes.tif"
    args = [str(GEOUIC), "classify", str(big_scene), "--method", "kmeans", "-k", "4", "--mem-limit", "1",
            "--workers", "1", "-o", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".*tmp*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.skip(f"classify ended before a temporary file was seen (rc {proc.returncode})")
    time.sleep(0.2)
    proc.kill()  # SIGKILL: no handler runs, the temporary file stays
    proc.communicate(timeout=60)
    left = list(tmp_path.glob(".*tmp*"))
    assert left and all(p.name.startswith(f".classes.tif.geouic-{proc.pid}-") for p in left), left
    # a temporary file of a live process (this one) for the same output is not touched
    alive = tmp_path / f".classes.tif.geouic-{os.getpid()}-0123abcd.tmp.tif"
    alive.write_bytes(b"in progress")
    done = subprocess.run([*args[:2], str(big_scene), "--method", "kmeans", "-k", "2", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, "classes.tif", "classes.tif.aux.xml", "classes.qml"])


@pytest.mark.parametrize("code, fast", [(130, True), (143, True), (0, False), (1, False), (2, False)])
def test_run_leaves_at_once_only_when_interrupted(monkeypatch, code, fast):
    """The executable's entry skips the interpreter's teardown (os._exit) after an interrupt only."""
    import geouic.cli as cli

    def fake_main(**kwargs):
        raise SystemExit(code)

    class Left(Exception):
        pass

    left = []

    def fake_exit(c):
        left.append(c)
        raise Left

    monkeypatch.setattr(cli, "main", fake_main)
    monkeypatch.setattr(cli.os, "_exit", fake_exit)
    if fast:
        with pytest.raises(Left):
            cli.run()
        assert left == [code]
    else:
        with pytest.raises(SystemExit) as exc:
            cli.run()
        assert exc.value.code == code and left == []
