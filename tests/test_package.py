"""The top-level package: small, and quiet unless the application configures logging."""

from __future__ import annotations

import logging
import subprocess
import sys

import geouic


def test_geouic_logger_has_a_null_handler():
    handlers = logging.getLogger("geouic").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


def test_warnings_are_not_printed_without_logging_configured():
    code = ("import logging, geouic; logging.getLogger('geouic.engine').warning('should stay silent'); "
            "logging.getLogger('other').warning('printed by the last-resort handler')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "should stay silent" not in proc.stderr and "last-resort" in proc.stderr


def test_top_level_api():
    # the Python API of issue 14, loaded on first use (tests/test_api.py checks it stays lazy)
    assert set(geouic.__all__) == {"GeouicError", "__version__", "classify", "train", "predict", "assign_schema",
                                   "accuracy", "load_model", "sieve", "majority", "polygonize", "MapResult",
                                   "AccuracyReport", "RasterClassifier"}
