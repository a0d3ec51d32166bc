"""Unsupervised pixel-wise clustering estimators (scikit-learn contract)."""

from geouic.cluster._kmeans import KMeans

__all__ = ["KMeans"]

try:  # written alongside; exported once present
    from geouic.cluster._isodata import ISODATA  # noqa: F401
    from geouic.cluster._fcm import FuzzyCMeans  # noqa: F401

    __all__ += ["ISODATA", "FuzzyCMeans"]
except ImportError:  # pragma: no cover
    pass
