"""Unsupervised pixel-wise clustering estimators (scikit-learn contract)."""

from geouic.cluster._fcm import FuzzyCMeans
from geouic.cluster._isodata import ISODATA
from geouic.cluster._kmeans import KMeans

__all__ = ["KMeans", "ISODATA", "FuzzyCMeans"]
