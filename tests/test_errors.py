"""The error hierarchy and the renaming of parameters in messages."""

from __future__ import annotations

import pickle

import pytest

from geouic import errors
from geouic.errors import GeouicError, OutputError, ParameterError, rename_params


def test_every_error_refines_a_builtin_and_carries_its_parameters():
    for name in errors.__all__:
        cls = getattr(errors, name)
        if not isinstance(cls, type) or cls is GeouicError:
            continue
        assert issubclass(cls, GeouicError) and len(cls.__mro__) > 3, name
        exc = cls("x=1 is invalid", params=("x",))
        assert str(exc) == "x=1 is invalid" and exc.params == ("x",)
        assert cls("plain").params == ()


def test_parameters_survive_pickling_and_os_errors_keep_their_message():
    exc = pickle.loads(pickle.dumps(ParameterError("n_classes=1 is invalid", params=["n_classes"])))
    assert exc.params == ("n_classes",) and str(exc) == "n_classes=1 is invalid"
    out = OutputError("c.tif exists; pass overwrite=True", params=("overwrite",))
    assert isinstance(out, OSError) and out.message_for({"overwrite": "--overwrite"}) == (
        "c.tif exists; pass --overwrite True")
    flag = {"overwrite": "--overwrite", "overwrite=True": "--overwrite"}
    assert out.message_for(flag) == "c.tif exists; pass --overwrite"


@pytest.mark.parametrize("message, params, expect", [
    ("n_classes=1 is invalid: must be between 2 and 65535.", ["n_classes"],
     "--classes 1 is invalid: must be between 2 and 65535."),
    ("lower n_classes or check the nodata value.", ["n_classes"], "lower --classes or check the nodata value."),
    ("m=1.0 is invalid: m must exceed 1 (mm, m_x, m2, x.m and -m stay).", ["m"],
     "--fuzziness 1.0 is invalid: --fuzziness must exceed 1 (mm, m_x, m2, x.m and -m stay)."),
    ("stats (a stats.json) or m.", ["stats", "m"], "--stats (a stats.json) or --fuzziness."),
    ("min_clusters=5 > max_clusters=3", ["min_clusters", "max_clusters"], "--min-classes 5 > --max-classes 3"),
    ("n_classes=1 is invalid", [], "n_classes=1 is invalid"),  # not declared: untouched
    ("tol=-1 is invalid", ["tol"], "tol=-1 is invalid"),  # no flag for it: untouched
    (r"path=C:\new\x is missing", ["path"], r"PATH C:\new\x is missing"),  # backslashes stay as they are
])
def test_rename_params(message, params, expect):
    flags = {"n_classes": "--classes", "m": "--fuzziness", "min_clusters": "--min-classes",
             "max_clusters": "--max-classes", "path": "PATH",
             "stats": "--stats"}
    assert rename_params(message, params, flags) == expect


def test_docstring_examples():
    import doctest

    assert doctest.testmod(errors).failed == 0
