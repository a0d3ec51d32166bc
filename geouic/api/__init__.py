"""The Python and notebook API: one entry point per job, paths, arrays and DataArrays in and out.

>>> import geouic
>>> geouic.classify                                                         # doctest: +ELLIPSIS
<function classify at 0x...>

``geouic.classify("scene.tif", n_classes=12, output="classes.tif")`` writes a file and returns a
:class:`MapResult`; ``geouic.classify(da, n_classes=12)`` takes a rioxarray DataArray
``(band, y, x)`` and returns a DataArray ``(y, x)`` with its coordinates, CRS, nodata and legend;
a numpy array gives a numpy array. Every function runs the library pass the CLI runs. The
top-level :mod:`geouic` exposes these names lazily (``import geouic`` stays fast).
"""

from geouic.api._maps import accuracy, assign_schema, majority, polygonize, sieve
from geouic.api._scenes import DEFAULT_N_CLASSES, classify, load_model, make, predict, train
from geouic.api._inputs import ArraySource
from geouic.api._results import AccuracyReport, MapResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from geouic.api._estimator import RasterClassifier

__all__ = [
    "AccuracyReport",
    "ArraySource",
    "DEFAULT_N_CLASSES",
    "MapResult",
    "RasterClassifier",
    "accuracy",
    "assign_schema",
    "classify",
    "load_model",
    "majority",
    "make",
    "polygonize",
    "predict",
    "sieve",
    "train",
]


def __getattr__(name: str) -> object:
    # RasterClassifier derives from scikit-learn's BaseEstimator: importing sklearn costs about 2 s,
    # which classify on a file does not need.
    if name == "RasterClassifier":
        from geouic.api._estimator import RasterClassifier

        return RasterClassifier
    raise AttributeError(f"module 'geouic.api' has no attribute {name!r}")
