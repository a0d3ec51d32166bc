"""QGIS for the provider tests: skipped cleanly where QGIS (qgis_process, its Python) is absent.

Debian's ``qgis_process`` wrapper passes ``QGIS_OPTS=--noversioncheck`` (from /etc/default/qgis),
which QGIS 3.22 rejects, so the tests call ``qgis_process.bin`` when it exists.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from geouic.batch import geouic_command

ROOT = Path(__file__).resolve().parents[2]


@functools.lru_cache(maxsize=1)
def qgis_process() -> str | None:
    for name in ("qgis_process.bin", "/usr/lib/qgis/qgis_process.bin", "qgis_process"):
        found = shutil.which(name) or (name if os.path.isfile(name) else None)
        if found:
            return found
    return None


@functools.lru_cache(maxsize=1)
def qgis_python() -> str | None:
    """A Python that imports qgis.core (Debian: /usr/bin/python3)."""
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if candidate and os.path.isfile(candidate):
            ok = subprocess.run([candidate, "-c", "import qgis.core"], capture_output=True, timeout=60)
            if ok.returncode == 0:
                return candidate
    return None


@pytest.fixture
def qgis_env(tmp_path):
    """Environment of a headless QGIS whose profile (in tmp_path) has the provider installed."""
    if qgis_process() is None:
        pytest.skip("QGIS is not installed (bash scripts/install_qgis.sh installs it)")
    from geouic.cli.qgis import command_table
    from geouic.qgisplugin import install_plugin

    config = tmp_path / "qgis_config"
    install_plugin(profiles_dir=config / "profiles", executable=geouic_command()[0], commands=command_table())
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    # QGIS's embedded Python finds its home from the python3 on PATH: keep virtual environments off it
    venv = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv)
    return dict(os.environ, QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(config), QGIS_OPTS="",
                XDG_RUNTIME_DIR=str(runtime), PATH=path)
